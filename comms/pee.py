# ETSI ES 202 336-12 "PEE.xml" (Annex C) of the management model, streamed:
#
#   await render(model, write, t0_s, t1_s)
#
# model: comms.model.Model (only its public methods and attributes are used);
# write: the HTTP server's `async def write(chunk)` (str chunks, each awaited
# before the next); [t0_s, t1_s): UTC seconds of the data records and events
# to include.
#
# The document is the stand-alone form of Annex C: the measurement system
# element (its name made a valid XML name, see docs/pee.md) holding the seven
# tables in the order Annex C gives them. Every Annex A mandatory item is in
# it; docs/pee.md maps each item to its element.
#
# Memory does not grow with the response or the range: text goes into a small
# buffer handed to write() whenever it holds CHUNK characters (a chunk is at
# most CHUNK plus one element), the task yields after each chunk, events are
# read by cursor a page at a time and data records are queried PAGE_RECORDS
# record periods at a time (the record store decodes a whole query into a
# list), each page written record by record and dropped before the next.
from core.calendar import civil_from_days, days_from_civil
from comms.commands import CYCLE_OFF_MS, GROUP_STAGGER_MS
from metrology.snapshot import NE, ENERGY_NAMES
from comms.chunks import Chunks

CHUNK = 2048            # characters buffered before each write()
PAGE_RECORDS = 8        # record periods per records query
EVENTS_PAGE = 16        # events per cursor read
READ_RETRIES = 3
ROOT = "power_energy_environment_measurement_system"   # Annex C "Power, energy, environment measurement system"
TABLES = ("description_table", "alarm_table", "event_table", "data_table", "data_record_table",
          "config_table", "control_table")

_E_IMP = ENERGY_NAMES.index("e_imp_wh")
_MJ_PER_KWH = 3600000000

# record field key -> (data name, unit)
_RFIELDS = (("v", "voltage", "V"), ("i", "current", "A"), ("p", "active_power", "W"),
            ("t", "temperature", "degC"), ("h", "humidity", "%RH"))
# event names that clear an alarm, and those that are configuration / parameter changes
_CLEARS = ("device_ok", "derate_end", "rcm_clear", "prot_reset")
_CONFIG_EVENTS = ("config_changed", "config_refused", "cal_changed", "cal_rollback", "time_set")
_ROLE_ORDER = ("input", "sum", "neutral", "branch", "group", "outlet", "sensor", "channel")


def esc(v):
    """XML text/attribute escaping of any value (characters XML 1.0 does not
    allow become U+FFFD)."""
    s = v if type(v) is str else str(v)
    for c in s:
        if c in "&<>\"'" or c < " ":
            break
    else:
        return s
    out = []
    for c in s:
        if c == "&":
            out.append("&amp;")
        elif c == "<":
            out.append("&lt;")
        elif c == ">":
            out.append("&gt;")
        elif c == '"':
            out.append("&quot;")
        elif c == "'":
            out.append("&apos;")
        elif c < " " and c not in "\t\n\r":
            out.append("\ufffd")
        else:
            out.append(c)
    return "".join(out)


def _attrs(pairs):
    parts = []
    for k, v in pairs:
        if v is not None:
            parts.append(' %s="%s"' % (k, esc(_txt(v))))
    return "".join(parts)


def _txt(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if type(v) is float:
        return _num(v)
    return v


def _num(v):
    if v is None or v != v:
        return ""
    return "%.7g" % v


def _kwh(mj):
    """Integer mJ as kWh with 9 decimals (1 uWh = 3.6 mJ, truncated), integer arithmetic."""
    neg = mj < 0
    a, b = divmod(-mj if neg else mj, _MJ_PER_KWH)
    return "%s%d.%09d" % ("-" if neg else "", a, b * 1000000000 // _MJ_PER_KWH)


def iso_utc(utc_s):
    """ISO 8601 UTC to the second: 2026-01-01T00:05:00Z."""
    days = utc_s // 86400
    s = utc_s - days * 86400
    y, m, d = civil_from_days(days)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (y, m, d, s // 3600, (s // 60) % 60, s % 60)


def annex_a_time(utc_s):
    """Annex A's time-date form "yyyy/mm/dd hh:mn:ss" (UTC)."""
    days = utc_s // 86400
    s = utc_s - days * 86400
    y, m, d = civil_from_days(days)
    return "%04d/%02d/%02d %02d:%02d:%02d" % (y, m, d, s // 3600, (s // 60) % 60, s % 60)


def _natkey(ch):
    i = 0
    while i < len(ch) and not ("0" <= ch[i] <= "9"):
        i += 1
    j = i
    while j < len(ch) and "0" <= ch[j] <= "9":
        j += 1
    return (ch[:i], int(ch[i:j]) if j > i else -1, ch[j:])


class _Objects:
    """Model object id and role of a snapshot or record channel name."""

    def __init__(self, model):
        self.model = model
        self.sensors = model.sensor_ids()

    def of(self, name):
        m = self.model
        if name == "INLET":
            return name, "sum"
        if name in m.phase_ids:
            return name, "input"
        if name == "N" or name == "NC":
            return name, "neutral"
        if name in m.branch_ids:
            return name, "branch"
        if name in m.group_ids:
            return name, "group"
        if name in m.outlet_ids:
            return name, "outlet"
        if name + "_air" in self.sensors:
            return name + "_air", "sensor"
        if name in self.sensors:
            return name, "sensor"
        return name, "channel"

    def key(self, name):
        obj, role = self.of(name)
        return (_ROLE_ORDER.index(role),) + _natkey(obj)


# --- reads -------------------------------------------------------------------------------
def _live(model, ids):
    """One consistent read of `ids` from the 1 s frame: (model.read result,
    {id: import energy mJ} from the same frame's integer counters), or None."""
    snap = model.snapshot
    for _ in range(READ_RETRIES):
        r = model.read(ids, "sec")
        if r is None:
            return None
        fr = model.frame("sec")
        if fr is None or fr.seq != r["seq"] or fr.energy is None:
            continue
        en = {}
        for i in ids:
            j = snap.eindex.get(i)
            if j is not None:
                en[i] = fr.energy[NE * j + _E_IMP]
        if fr.seq == r["seq"]:
            return r, en
    return None


def _latest_record(model):
    """The newest stored data record (level 0), or None."""
    now = model.clock.utc_ms() // 1000
    per = model.record_period_s()
    recs = model.records(now - 2 * per - 60, now + 1)
    if not recs:
        return None
    r = recs[-1]
    return r


def _alarms(model, h):
    """[(name, object, severity, set, extra attribute pairs)] of the mandatory
    alarms: sensor failure and partial network failure per device, plus the
    acquisition link (overruns), channels flagged sensor_fault, the fail-safe."""
    out = []
    devs = h["devices"]
    for d in sorted(devs):
        r = devs[d]
        out.append(("sensor_failure", d, "major", not r.get("ok"), (("part", r.get("part")),)))
    for d in sorted(devs):
        errs = devs[d].get("errors")
        if errs is None:
            continue
        n = 0
        extra = []
        for k in sorted(errs):
            if k != "other":
                n += errs[k]
            extra.append(("errors_" + k, errs[k]))
        out.append(("partial_network_failure", d, "minor", n > 0, tuple(extra)))
    out.append(("partial_network_failure", "acquisition", "minor", h["overruns"] > 0,
                (("overruns", h["overruns"]),)))
    snap = model.snapshot
    for ch in snap.channels:
        if snap.flags(ch, "sec") & 4:      # metrology.snapshot.Q_FAULT
            out.append(("sensor_failure", ch, "major", True, (("part", "channel"),)))
    fs = h["failsafe"]
    out.append(("failsafe", "system", "critical", fs is not None,
                (("task", None if fs is None else fs.get("task")), ("error", None if fs is None else fs.get("error")))))
    return out


# --- tables ---------------------------------------------------------------------------------
async def _description(out, model):
    inv = model.inventory()
    rat = getattr(model.desc, "RATINGS", {})
    ac = not rat.get("dc", False)
    conf = "%s %s, %s %s V, %s Hz, inputs %s (sum: inlet total), %d branches, %d outlet groups, %d outlets" % (
        "AC" if ac else "DC", rat.get("wiring", ""), rat.get("v_nom", ""),
        "/ %s" % rat.get("v_ll_nom") if rat.get("v_ll_nom") else "", rat.get("f_nom", ""),
        "+".join(model.phase_ids), len(model.branch_ids), len(model.group_ids), len(model.outlet_ids))
    items = (
        ("site_id", inv["site_id"], "Site identification (operator defined)"),
        ("equipment_id", inv["device_id"], "ICT equipment reference identification (the rack fed by this PDU)"),
        ("equipment_name", inv["name"], None),
        ("location", inv["location"], None),
        ("measurement_equipment", "rack PDU", "Identification of the measurement equipment"),
        ("serial", inv["serial"], None),
        ("board", inv["board"], None),
        ("hw_rev", inv["hw_rev"], None),
        ("fw_version", inv["fw_version"], None),
        ("calibration_version", inv["calibration_version"], None),
        ("equipment_type", "indoor", "High level description of the equipment type"),
        ("measurement_type", "external (type 2)", "PEE measured at the power input of the fed ICT equipment"),
        ("measurement_configuration", conf, "Measurement configuration"),
    )
    await out.put("<description_table>\n")
    i = 0
    for name, v, what in items:
        i += 1
        await out.put("<description%s>%s</description>\n" % (_attrs((("id", i), ("name", name), ("info", what))),
                                                             esc(_txt(v))))
    await out.put("</description_table>\n")


async def _alarm_table(out, alarms):
    await out.put("<alarm_table>\n")
    i = 0
    for name, obj, sev, on, extra in alarms:
        i += 1
        await out.put("<alarm%s/>\n" % _attrs((("id", i), ("name", name), ("object", obj), ("severity", sev),
                                                ("status", "set" if on else "clear")) + extra))
    await out.put("</alarm_table>\n")


def _event_type(e):
    n = e["event"]
    if n in _CONFIG_EVENTS:
        return "config_change"
    if n in _CLEARS:
        return "alarm_clear"
    if e["severity"] in ("warning", "alarm", "critical"):
        return "alarm_set"
    return "event"


async def _event_table(out, model, t0_s, t1_s):
    a_ms, b_ms = t0_s * 1000, t1_s * 1000
    await out.put('<event_table start="%s" end="%s">\n' % (iso_utc(t0_s), iso_utc(t1_s)))
    cur = 0
    while True:
        evs, _missed, nxt = model.events_since(cur, EVENTS_PAGE, since_utc_ms=a_ms)
        if not evs:
            break
        for e in evs:
            t = _ev_utc_ms(e)
            if t >= b_ms:
                continue
            vals = e.get("values") or {}
            head = "<event%s" % _attrs((("id", e["seq"]), ("name", e["event"]), ("type", _event_type(e)),
                                        ("severity", e["severity"]), ("object", e["channel"] or None),
                                        ("action", e["action"]), ("time", e["timestamp_utc"]),
                                        ("time_valid", e["time_valid"])))
            if not vals:
                await out.put(head + "/>\n")
                continue
            await out.put(head + ">")
            for k in sorted(vals):
                await out.put("<value%s>%s</value>" % (_attrs((("name", k),)), esc(_txt(vals[k]))))
            await out.put("</event>\n")
        evs = None
        if nxt == cur:
            break
        cur = nxt
    await out.put("</event_table>\n")


def _ev_utc_ms(e):
    # "2026-01-01T00:00:00.040Z" -> UTC ms (the model's event dicts carry the ISO text)
    t = e["timestamp_utc"]
    d = days_from_civil(int(t[0:4]), int(t[5:7]), int(t[8:10]))
    return ((d * 24 + int(t[11:13])) * 60 + int(t[14:16])) * 60000 + int(t[17:19]) * 1000 + int(t[20:23])


async def _data_table(out, model, objs):
    ids = list(model.phase_ids) + ["INLET"]
    live = _live(model, ids)
    await out.put("<data_table>\n")
    i = 0
    if live is not None:
        r, en = live
        i += 1
        await out.put("<data%s>%s</data>\n" % (_attrs((("id", i), ("name", "time_stamp"),
                                                        ("time_valid", r["time_valid"]))), esc(r["timestamp_utc"])))
        t = r["timestamp_utc"]
        for oid in ids:
            p = r["objects"][oid]["p_w"]["value"]
            role = objs.of(oid)[1]
            i += 1
            await out.put("<data%s>%s</data>\n" % (_attrs((
                ("id", i), ("name", "average_active_power"), ("object", oid), ("role", role), ("unit", "W"),
                ("period_s", 1), ("time", t))), _num(p)))
        for oid in ids:
            if oid not in en:
                continue
            i += 1
            await out.put("<data%s>%s</data>\n" % (_attrs((
                ("id", i), ("name", "active_energy"), ("object", oid), ("role", objs.of(oid)[1]), ("unit", "kWh"),
                ("kind", "index"), ("time", t))), _kwh(en[oid])))
        r = en = live = None
    # min / max (and average) active power over the latest complete record period
    rec = _latest_record(model)
    if rec is not None:
        t = iso_utc(rec["utc_s"])
        for oid in ids:
            d = rec["channels"].get(oid)
            if d is None or "p" not in d:
                continue
            avg, mn, mx = d["p"]
            role = objs.of(oid)[1]
            for name, v in (("min_active_power", mn), ("max_active_power", mx)):
                i += 1
                await out.put("<data%s>%s</data>\n" % (_attrs((
                    ("id", i), ("name", name), ("object", oid), ("role", role), ("unit", "W"),
                    ("period_s", rec["period_s"]), ("time", t))), _num(v)))
    rec = None
    # temperature (and humidity) of the equipment
    env = model.environment()
    for sid in sorted(env):
        for key, name, unit in (("temperature_c", "temperature", "degC"), ("humidity_pct", "humidity", "%RH")):
            v = env[sid].get(key)
            if v is None:
                continue
            i += 1
            await out.put("<data%s>%s</data>\n" % (_attrs((
                ("id", i), ("name", name), ("object", sid), ("role", "sensor"), ("unit", unit))), _num(v)))
    # per outlet (the fed equipment's own inputs): average active power and energy index
    for oid in model.outlet_ids:
        live = _live(model, [oid])
        if live is None:
            continue
        r, en = live
        t = r["timestamp_utc"]
        i += 1
        await out.put("<data%s>%s</data>\n" % (_attrs((
            ("id", i), ("name", "average_active_power"), ("object", oid), ("role", "outlet"), ("unit", "W"),
            ("period_s", 1), ("time", t))), _num(r["objects"][oid]["p_w"]["value"])))
        if oid in en:
            i += 1
            await out.put("<data%s>%s</data>\n" % (_attrs((
                ("id", i), ("name", "active_energy"), ("object", oid), ("role", "outlet"), ("unit", "kWh"),
                ("kind", "index"), ("time", t))), _kwh(en[oid])))
    await out.put("</data_table>\n")


async def _record(out, objs, rid, r):
    await out.put("<data_record%s>\n" % _attrs((
        ("id", rid), ("time", iso_utc(r["utc_s"])), ("period_s", r["period_s"]), ("n_s", r["n_s"]),
        ("time_valid", r["time_valid"]), ("partial", r["partial"]), ("equipment_id", r["equipment"]),
        ("site_id", r["site"]))))
    chans = r["channels"]
    names = [(objs.key(n), n) for n in chans]    # keys computed once (MicroPython's
    names.sort()                                   # sort calls key= per comparison)
    for _k, name in names:
        d = chans[name]
        obj, role = objs.of(name)
        for key, qn, unit in _RFIELDS:
            t = d.get(key)
            if t is None or t[0] != t[0]:
                continue        # not recorded / no data in the period
            await out.put("<data%s/>\n" % _attrs((("name", qn), ("object", obj), ("role", role), ("unit", unit),
                                                  ("avg", _num(t[0])), ("min", _num(t[1])), ("max", _num(t[2])))))
        e = d.get("e_mj")
        if e is not None:
            await out.put("<data%s>%s</data>\n" % (_attrs((("name", "active_energy"), ("object", obj),
                                                            ("role", role), ("unit", "kWh"), ("kind", "period"))),
                                                    _kwh(e)))
    await out.put("</data_record>\n")


async def _data_record_table(out, model, objs, t0_s, t1_s):
    per = model.record_period_s()
    await out.put('<data_record_table start="%s" end="%s" record_period_s="%d">\n'
                  % (iso_utc(t0_s), iso_utc(t1_s), per))
    span = PAGE_RECORDS * per
    a = t0_s
    rid = 0
    while a < t1_s:
        b = a - a % per + span      # pages on the record grid
        if b > t1_s:
            b = t1_s
        recs = model.records(a, b)
        if recs:
            while recs:
                r = recs.pop(0)
                rid += 1
                await _record(out, objs, rid, r)
                r = None
        recs = None
        await model.pace()      # pages without records yield too (a day is ~100 pages)
        a = b
    await out.put("</data_record_table>\n")


async def _config_table(out, model):
    cfg = model.config
    rat = getattr(model.desc, "RATINGS", {})
    await out.put("<config_table>\n")
    i = 0
    ac = "DC" if rat.get("dc") else "AC"
    # hardware configuration relevant to the power consumption: the power inputs
    for ph in model.phase_ids:
        i += 1
        await out.put("<config%s>%s</config>\n" % (_attrs((
            ("id", i), ("name", "power_input"), ("group", "hardware"), ("object", ph), ("type", ac),
            ("wiring", rat.get("wiring")), ("nominal_voltage_v", rat.get("v_nom")),
            ("nominal_frequency_hz", rat.get("f_nom")), ("rating_a", rat.get("inlet_a")))), esc(ph)))
    i += 1
    await out.put("<config%s>%s</config>\n" % (_attrs((("id", i), ("name", "input_configuration"),
                                                        ("group", "hardware"))), esc("+".join(model.phase_ids))))
    # complementary hardware information: branches and outlets
    tree = model.tree()
    for ph in tree["inlet"]["phases"]:
        for br in ph["branches"]:
            i += 1
            await out.put("<config%s>%s</config>\n" % (_attrs((
                ("id", i), ("name", "branch"), ("group", "complementary_hardware"), ("object", br["id"]),
                ("phase", ph["id"]), ("rating_a", br["rating_a"]))), esc(" ".join(br["outlets"]))))
    tree = None
    for n in model.outlet_numbers():
        st = model.outlet_state(n)
        i += 1
        await out.put("<config%s>%s</config>\n" % (_attrs((
            ("id", i), ("name", "outlet"), ("group", "complementary_hardware"), ("object", st["id"]),
            ("phase", st["phase"]), ("branch", st["branch"]), ("outlet_group", st["group"]),
            ("switch", st["switch"]), ("rating_a", st["rating_a"]))), esc(st["name"])))
    # time-date setting
    now = model.clock.utc_ms() // 1000
    i += 1
    await out.put("<config%s>%s</config>\n" % (_attrs((("id", i), ("name", "time_date"), ("group", "time_date"),
                                                        ("time_valid", model.clock.time_valid))),
                                                esc(annex_a_time(now))))
    # measurement parameters: the record period in seconds (record.period_min below too)
    i += 1
    await out.put("<config%s>%d</config>\n" % (_attrs((("id", i), ("name", "record_period"), ("unit", "s"),
                                                        ("group", "measurement_parameters"))),
                                                model.record_period_s()))
    i += 1
    await out.put("<config%s>%s</config>\n" % (_attrs((("id", i), ("name", "transmission_period"),
                                                        ("group", "measurement_parameters"))),
                                                "on request (the NMS fetches PEE.xml at its T_trans)"))
    # every configuration field, grouped by what Annex A calls it
    for path in sorted(cfg.values):
        sec = path[:path.find(".")]
        grp = {"protection": "alarm_parameters", "record": "measurement_parameters", "time": "time_date",
               "system": "identification"}.get(sec, "settings")
        i += 1
        v = cfg.values[path]
        await out.put("<config%s>%s</config>\n" % (_attrs((("id", i), ("name", path), ("group", grp))),
                                                    esc(_txt(v) if type(v) is bool else str(v))))
    await out.put("</config_table>\n")


async def _control_table(out, model):
    await out.put("<control_table>\n")
    i = 0
    for n in model.outlet_numbers():
        st = model.outlet_state(n)
        i += 1
        await out.put("<control%s/>\n" % _attrs((
            ("id", i), ("name", "outlet_switch"), ("object", st["id"]), ("actions", "on off cycle"),
            ("state", st["state"]), ("commanded", st["commanded"]), ("protection", st["protection"]["state"]),
            ("cycle_off_ms", CYCLE_OFF_MS))))
    for gid in list(model.group_ids) + list(model.branch_ids) + ["all"]:
        i += 1
        await out.put("<control%s/>\n" % _attrs((
            ("id", i), ("name", "group_switch"), ("object", gid), ("actions", "on off cycle"),
            ("stagger_ms", GROUP_STAGGER_MS), ("cycle_off_ms", CYCLE_OFF_MS))))
    for name, what in (
            ("protection_reset", "clear a latched or locked-out outlet (per outlet)"),
            ("settings", "change configuration fields of config_table (alarm thresholds, record period, "
                         "identification), validated and audited"),
            ("record_period", "record.period_min: 1 or 5..60 minutes dividing the hour"),
            ("time_date", "SNTP (time.sntp_server, time.sntp_interval_s)")):
        i += 1
        await out.put("<control%s>%s</control>\n" % (_attrs((("id", i), ("name", name), ("status", "supported"))),
                                                      esc(what)))
    i += 1
    await out.put("<control%s>%s</control>\n" % (_attrs((("id", i), ("name", "program_download"),
                                                          ("status", "not_supported"))),
                                                  "firmware download is not offered by this PDU (external "
                                                  "measurement, type 2)"))
    await out.put("</control_table>\n")


async def render(model, write, t0_s, t1_s):
    """Write PEE.xml for records and events in [t0_s, t1_s) through
    `await write(chunk)`. Content type: application/xml; charset=utf-8."""
    out = Chunks(write, model.pace, CHUNK)
    h = model.health()
    alarms = _alarms(model, h)
    status = "normal"
    for a in alarms:
        if a[3]:
            status = "alarm"
    h = None
    objs = _Objects(model)
    await out.put('<?xml version="1.0" encoding="UTF-8"?>\n<%s id="1" status="%s">\n' % (ROOT, status))
    await _description(out, model)
    await _alarm_table(out, alarms)
    alarms = None
    await _event_table(out, model, t0_s, t1_s)
    await _data_table(out, model, objs)
    await _data_record_table(out, model, objs, t0_s, t1_s)
    await _config_table(out, model)
    await _control_table(out, model)
    await out.put("</%s>\n" % ROOT)
    await out.flush()

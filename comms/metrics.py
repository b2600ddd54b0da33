# Prometheus text exposition (format 0.0.4) of the management model, streamed:
#
#   await render(model, write, uplinks)
#
# model: comms.model.Model (only its public methods and attributes are used);
# write: the HTTP server's `async def write(chunk)` (str chunks, each awaited
# before the next); uplinks: {uplink name: {counter name: value}}, e.g.
# {"http": {"requests": 10, "responses_4xx": 2}}.
#
# Memory does not grow with the response: lines go into a small buffer that
# is handed to write() whenever it holds CHUNK characters (so a chunk is at
# most CHUNK plus one line), and the task yields after each chunk. The only
# per-scrape copy is the 1 s frame's value, flag and energy arrays (a few KB,
# fixed by the board), taken in one synchronous step with its seq checked, so
# every measurement of one exposition comes from the same frame.
#
# Names (docs/metrics.md has the full list):
#   pdu_<object kind>_<quantity>_<base unit>{<kind>="<object id>"}
#   kinds: inlet (total, no label), inlet_phase{phase="L1"}, inlet_neutral{neutral="N"|"NC"},
#   branch{branch="B1"}, group{group="G1"}, outlet{outlet="O3"}
# Base units: volts, amperes, watts, vars (reactive power), volt_amperes,
# hertz, ratio (power factors, crest factor and THD: THD as a ratio, 1 = 100 %).
# Energies are counters in JOULES (active) and VAR-SECONDS (reactive), _total:
# the firmware's counters are integer mJ, so J is exact (printed with 3
# decimals) and joules is Prometheus' base unit for energy (1 kWh = 3.6e6 J).
# Values the snapshot holds as NaN (not measured, no signal) and None are
# omitted: the series is absent for that scrape rather than printed as NaN.
from array import array
from metrology.snapshot import NQ, Q, NE, ENERGY_NAMES, FLAG_NAMES
from comms.model import PROT_STATES
from comms.chunks import Chunks

CHUNK = 1024            # characters buffered before each write()
PLAN_SLICE = 50         # points examined between yields while the family plan is made
READ_RETRIES = 3

# quantity -> (metric stem with its base unit, help, scale from the snapshot's unit)
_QMETRIC = {
    "vrms": ("voltage_volts", "RMS voltage", 1.0),
    "irms": ("current_amperes", "RMS current", 1.0),
    "p_w": ("active_power_watts", "Active power", 1.0),
    "q_var": ("reactive_power_vars", "Reactive power", 1.0),
    "s_va": ("apparent_power_volt_amperes", "Apparent power", 1.0),
    "pf": ("power_factor_ratio", "True power factor", 1.0),
    "dpf": ("displacement_power_factor_ratio", "Displacement power factor (cosine of the fundamentals' phase angle)", 1.0),
    "thd_v": ("voltage_thd_ratio", "Total harmonic distortion of the voltage as a ratio (1 = 100 %)", 0.01),
    "thd_i": ("current_thd_ratio", "Total harmonic distortion of the current as a ratio (1 = 100 %)", 0.01),
    "crest_i": ("current_crest_factor_ratio", "Crest factor of the current (peak / RMS)", 1.0),
    "ipeak": ("current_peak_amperes", "Peak current", 1.0),
    "f_hz": ("frequency_hertz", "Frequency", 1.0),
    "v_dc": ("dc_voltage_volts", "DC component of the voltage", 1.0),
    "i_dc": ("dc_current_amperes", "DC component of the current", 1.0),
}
# energy kind -> (metric stem, help); the frame holds mJ (mvar-s), printed as J (var-s)
_EMETRIC = {
    "e_imp_wh": ("active_energy_import_joules_total", "Active energy delivered to the load (import)"),
    "e_exp_wh": ("active_energy_export_joules_total", "Active energy returned by the load (export)"),
    "eq_imp_varh": ("reactive_energy_import_var_seconds_total", "Reactive energy imported"),
    "eq_exp_varh": ("reactive_energy_export_var_seconds_total", "Reactive energy exported"),
}
# a quantity the table above does not know yet: stem from its name and unit
_USUFFIX = {"V": "volts", "A": "amperes", "W": "watts", "var": "vars", "VA": "volt_amperes",
            "Hz": "hertz", "1": "ratio", "%": "percent", "Wh": "watt_hours", "varh": "var_hours"}

# object kinds in exposition order: (prefix, label name or None, what)
_KINDS = (("pdu_inlet_", None, "inlet total"),
          ("pdu_inlet_phase_", "phase", "inlet phase"),
          ("pdu_inlet_neutral_", "neutral", "neutral (N measured, NC computed from the phase currents)"),
          ("pdu_branch_", "branch", "branch"),
          ("pdu_group_", "group", "outlet group (the group's phase voltage)"),
          ("pdu_outlet_", "outlet", "outlet"),
          ("pdu_channel_", "channel", "channel"))
_K_INLET, _K_PHASE, _K_NEUTRAL, _K_BRANCH, _K_GROUP, _K_OUTLET, _K_OTHER = range(7)

_OUTLET_STATES = ("on", "off", "unknown")
_SEVERITIES = ("info", "notice", "warning", "alarm", "critical")


def _esc_label(s):
    s = str(s)
    if "\\" in s:
        s = s.replace("\\", "\\\\")
    if '"' in s:
        s = s.replace('"', '\\"')
    if "\n" in s:
        s = s.replace("\n", "\\n")
    return s


def _esc_help(s):
    return s.replace("\\", "\\\\").replace("\n", "\\n")


def _num(v):
    """Sample value text, or None for a value that is omitted (None, NaN)."""
    if v is None:
        return None
    if type(v) is bool:
        return "1" if v else "0"
    if type(v) is int:
        return "%d" % v
    v = float(v)
    if v != v:
        return None
    if v == _INF:
        return "+Inf"
    if v == -_INF:
        return "-Inf"
    return "%.7g" % v


_INF = float("inf")


def _milli(m):
    """Integer milli-units as an exact decimal of units ("12.345")."""
    neg = m < 0
    a, b = divmod(-m if neg else m, 1000)
    return "%s%d.%03d" % ("-" if neg else "", a, b)


def _name_part(s):
    out = []
    for c in str(s).lower():
        out.append(c if ("a" <= c <= "z" or "0" <= c <= "9") else "_")
    s = "".join(out).strip("_")
    while "__" in s:
        s = s.replace("__", "_")
    if s.endswith("_total"):
        s = s[:-6]
    return s or "value"


def _natkey(ch):
    i = 0
    while i < len(ch) and not ("0" <= ch[i] <= "9"):
        i += 1
    j = i
    while j < len(ch) and "0" <= ch[j] <= "9":
        j += 1
    return (ch[:i], int(ch[i:j]) if j > i else -1, ch[j:])


def _kind(model, ch):
    if ch == "INLET":
        return _K_INLET
    if ch in model.phase_ids:
        return _K_PHASE
    if ch == "N" or ch == "NC":
        return _K_NEUTRAL
    if ch in model.branch_ids:
        return _K_BRANCH
    if ch in model.group_ids:
        return _K_GROUP
    if ch in model.outlet_ids:
        return _K_OUTLET
    return _K_OTHER


def _qorder(qn):
    if qn in Q:
        return Q[qn]
    if qn in ENERGY_NAMES:
        return NQ + ENERGY_NAMES.index(qn)
    return NQ + NE


_PLANS = {}     # id(model) -> its plan: the point table is the board's, fixed after boot


async def _plan(model):
    """The measurement families of the point table: [(kind, order, quantity,
    unit, "gauge"|"counter", [channel ids])], so each family's samples are
    printed together, in kind order then snapshot quantity order. Made once
    per model (hundreds of points: the first scrape builds it in slices,
    yielding between them, so the acquisition task is never held up)."""
    fams = _PLANS.get(id(model))
    if fams is not None:
        return fams
    where = {}
    fams = []
    n = 0
    for _mid, ch, qn, unit, typ in model.points():
        n += 1
        if n % PLAN_SLICE == 0:
            await model.pace()
        key = (_kind(model, ch), qn)
        i = where.get(key)
        if i is None:
            i = where[key] = len(fams)
            fams.append((key[0], _qorder(qn), qn, unit, typ, []))
        fams[i][5].append(ch)
    # sorted on keys computed once: MicroPython's sort calls a key function
    # at every comparison (562 channels by _natkey: 0.26 s on the unix port)
    dec = [((f[0], f[1], f[2]), i) for i, f in enumerate(fams)]
    dec.sort()
    fams = [fams[i] for _k, i in dec]
    for f in fams:
        await model.pace()
        dec = [(_natkey(ch), ch) for ch in f[5]]
        dec.sort()
        f[5][:] = [ch for _k, ch in dec]
    dec = None
    _PLANS[id(model)] = fams
    return fams


def _read_frame(model):
    """(seq, values, flags, energy) copied from the latest 1 s frame, seq
    checked after the copy (read again if the frame was republished), or None."""
    for _ in range(READ_RETRIES):
        fr = model.frame("sec")
        if fr is None:
            return None
        seq = fr.seq
        vals = array("f", bytes(4 * len(fr.values)))
        vals[:] = fr.values
        flags = array("H", bytes(2 * len(fr.flags)))
        flags[:] = fr.flags
        en = None
        if fr.energy is not None:
            en = array("q", bytes(8 * len(fr.energy)))
            en[:] = fr.energy
        if seq and fr.seq == seq:
            return seq, vals, flags, en
    return None


async def _head(out, name, typ, help):
    await out.put("# HELP %s %s\n# TYPE %s %s\n" % (name, _esc_help(help), name, typ))


async def _measurements(out, model, frame):
    snap = model.snapshot
    index = snap.index
    eindex = snap.eindex
    _seq, vals, flags, en = frame
    for k, _o, qn, unit, typ, chans in await _plan(model):
        prefix, label, what = _KINDS[k]
        if typ == "counter":
            if en is None or qn not in ENERGY_NAMES:
                continue
            e = ENERGY_NAMES.index(qn)
            m = _EMETRIC.get(qn)
            stem, help = m if m is not None else (_name_part(qn) + "_total", qn)
            name = prefix + stem
            await _head(out, name, "counter", "%s of the %s, in %s (the energy counter, integer mJ kept in "
                        "FRAM across reboots)" % (help, what, "var-seconds" if "var" in stem else "joules"))
            for ch in chans:
                j = eindex.get(ch)
                if j is None:
                    continue
                v = _milli(en[NE * j + e])
                if label is None:
                    await out.put("%s %s\n" % (name, v))
                else:
                    await out.put('%s{%s="%s"} %s\n' % (name, label, _esc_label(ch), v))
            continue
        q = Q.get(qn)
        if q is None:
            continue
        m = _QMETRIC.get(qn)
        if m is None:
            stem, help, scale = "%s_%s" % (_name_part(qn), _USUFFIX.get(unit, _name_part(unit))), qn, 1.0
        else:
            stem, help, scale = m
        name = prefix + stem
        await _head(out, name, "gauge", "%s of the %s over the last 1 s frame (snapshot unit %s)" % (help, what, unit))
        for ch in chans:
            i = index.get(ch)
            if i is None:
                continue
            v = vals[i * NQ + q]
            if v != v:
                continue
            v = _num(v * scale if scale != 1.0 else v)
            if v is None:
                continue
            if label is None:
                await out.put("%s %s\n" % (name, v))
            else:
                await out.put('%s{%s="%s"} %s\n' % (name, label, _esc_label(ch), v))
    # quality flags of the same frame: one sample per flag that is set
    name = "pdu_channel_quality_flag"
    await _head(out, name, "gauge", "Quality flag set on a channel in the last 1 s frame "
                "(clip, no_zero_crossing, sensor_fault, uncalibrated); only set flags are listed, value 1")
    for ch in snap.channels:
        i = index[ch]
        b = flags[i]
        if not b:
            continue
        for bit, fn in FLAG_NAMES:
            if b & bit:
                await out.put('%s{channel="%s",flag="%s"} 1\n' % (name, _esc_label(ch), fn))


async def _outlets(out, model):
    nums = model.outlet_numbers()
    name = "pdu_outlet_state"
    await _head(out, name, "gauge", "Outlet state from the switch feedback: one sample per state "
                "(on, off, unknown), 1 for the current one")
    for n in nums:
        st = model.outlet_state(n)
        oid = _esc_label(st["id"])
        for s in _OUTLET_STATES:
            await out.put('%s{outlet="%s",state="%s"} %d\n' % (name, oid, s, 1 if st["state"] == s else 0))
    name = "pdu_outlet_commanded_on"
    await _head(out, name, "gauge", "1 if the outlet is commanded on, 0 if commanded off")
    for n in nums:
        st = model.outlet_state(n)
        await out.put('%s{outlet="%s"} %d\n' % (name, _esc_label(st["id"]), 1 if st["commanded"] == "on" else 0))
    name = "pdu_outlet_protection_state"
    await _head(out, name, "gauge", "Outlet protection state: one sample per state (%s), 1 for the current one"
                % ", ".join(PROT_STATES))
    for n in nums:
        ps = model.protection_state(n)
        oid = "O%d" % n
        cur = ps["state"]
        for s in PROT_STATES:
            await out.put('%s{outlet="%s",state="%s"} %d\n' % (name, oid, s, 1 if cur == s else 0))
        if cur not in PROT_STATES:
            await out.put('%s{outlet="%s",state="%s"} 1\n' % (name, oid, _esc_label(cur)))
    name = "pdu_outlet_protection_recent_trips"
    await _head(out, name, "gauge", "Protection trips of the outlet inside the lockout window")
    for n in nums:
        v = _num(model.protection_state(n).get("trips"))
        if v is not None:
            await out.put('%s{outlet="O%d"} %s\n' % (name, n, v))
    name = "pdu_outlet_protection_allowed_current_amperes"
    await _head(out, name, "gauge", "Current the outlet's protection allows now (rating, after thermal derating)")
    for n in nums:
        v = _num(model.protection_state(n).get("allow_a"))
        if v is not None:
            await out.put('%s{outlet="O%d"} %s\n' % (name, n, v))


async def _environment(out, model):
    env = model.environment()
    for key, name, help, scale in (
            ("temperature_c", "pdu_sensor_temperature_celsius", "Temperature (air sensors and relay-board NTCs)", 1.0),
            ("humidity_pct", "pdu_sensor_relative_humidity_ratio", "Relative humidity as a ratio (1 = 100 %RH)", 0.01)):
        await _head(out, name, "gauge", help)
        for sid in sorted(env):
            v = env[sid].get(key)
            v = _num(None if v is None else v * scale)
            if v is not None:
                await out.put('%s{sensor="%s"} %s\n' % (name, _esc_label(sid), v))


async def _system(out, model, h, counts):
    inv = model.inventory()
    name = "pdu_info"
    await _head(out, name, "gauge", "PDU inventory: firmware, board, identity and configuration; value 1")
    labels = []
    for k in ("fw_version", "board", "hw_rev", "serial", "device_id", "site_id", "name", "location",
              "calibration_version", "config_hash"):
        labels.append('%s="%s"' % (k, _esc_label(inv.get(k, ""))))
    await out.put("%s{%s} 1\n" % (name, ",".join(labels)))
    for name, typ, help, v in (
            ("pdu_config_generation", "gauge", "Generation of the stored configuration (0: defaults)",
             inv.get("config_generation")),
            ("pdu_uptime_seconds", "gauge", "Time since the firmware started", model.uptime_s()),
            ("pdu_boots_total", "counter", "Boots of this PDU (persistent boot counter)", model.boot_count),
            ("pdu_acquisition_overruns_total", "counter", "Acquisition frame-ring overruns since boot (samples lost)",
             h["overruns"]),
            ("pdu_acquisition_polls_total", "counter", "Acquisition polls since boot", h["polls"]),
            ("pdu_loop_lateness_worst_seconds", "gauge", "Worst lateness of the acquisition poll since boot",
             h["loop_lateness_us"]["worst"] / 1e6),
            ("pdu_loop_lateness_recent_seconds", "gauge",
             "Worst lateness of the acquisition poll over the recent status period",
             h["loop_lateness_us"]["recent"] / 1e6),
            ("pdu_failsafe", "gauge", "1 while the PDU is in the fail-safe state (switch-on refused, outlets held)",
             0 if h["failsafe"] is None else 1),
            ("pdu_health_ok", "gauge", "1 if every device answers and the PDU is not in the fail-safe state",
             1 if h["ok"] else 0),
            ("pdu_events_missed_total", "counter", "Events that left the event ring before they were counted",
             counts.get("missed", 0))):
        v = _num(v)
        await _head(out, name, typ, help)
        if v is not None:
            await out.put("%s %s\n" % (name, v))
    name = "pdu_events_total"
    await _head(out, name, "counter", "Events logged since boot, by severity")
    for s in _SEVERITIES:
        await out.put('%s{severity="%s"} %d\n' % (name, s, counts.get(s, 0)))
    name = "pdu_task_failures_total"
    await _head(out, name, "counter", "Failures (exceptions) of a supervised firmware task since boot")
    tf = h["task_failures"]
    for t in sorted(tf):
        await out.put('%s{task="%s"} %s\n' % (name, _esc_label(t), _num(tf[t])))
    name = "pdu_device_up"
    await _head(out, name, "gauge", "1 if the device (chip, store) answers and works")
    devs = h["devices"]
    for d in sorted(devs):
        r = devs[d]
        await out.put('%s{device="%s",part="%s"} %d\n' % (name, _esc_label(d), _esc_label(r.get("part", "")),
                                                          1 if r.get("ok") else 0))
    name = "pdu_device_errors_total"
    await _head(out, name, "counter", "Device errors since boot, by kind (crc, timeout, overrun, absent, id, other)")
    for d in sorted(devs):
        errs = devs[d].get("errors")
        if not errs:
            continue
        for kind in sorted(errs):
            v = _num(errs[kind])
            if v is not None:
                await out.put('%s{device="%s",kind="%s"} %s\n' % (name, _esc_label(d), _esc_label(kind), v))


async def _uplinks(out, uplinks):
    if not uplinks:
        return
    names = sorted(uplinks)
    keys = []
    for u in names:
        for k in uplinks[u] or ():
            if k not in keys:
                keys.append(k)
    keys.sort()
    done = []
    for k in keys:
        stem = _name_part(k)
        name = "pdu_uplink_%s_total" % stem
        if name in done:        # two keys that differ only in spelling: the first one wins
            continue
        done.append(name)
        await _head(out, name, "counter", "Uplink counter %s since boot, per uplink" % stem)
        for u in names:
            st = uplinks[u] or {}
            for k2 in st:
                if _name_part(k2) != stem:
                    continue
                v = st[k2]
                if type(v) not in (int, float, bool):
                    continue
                v = _num(v)
                if v is not None:
                    await out.put('%s{uplink="%s"} %s\n' % (name, _esc_label(u), v))
                break


async def render(model, write, uplinks=None):
    """Write the exposition through `await write(chunk)` (str chunks of about
    CHUNK characters). Content type: text/plain; version=0.0.4; charset=utf-8."""
    out = Chunks(write, model.pace, CHUNK)
    h = model.health()
    counts = model.event_counts()
    frame = _read_frame(model)
    if frame is not None:
        await _measurements(out, model, frame)
    frame = None
    await _outlets(out, model)
    await _environment(out, model)
    await _system(out, model, h, counts)
    await _uplinks(out, uplinks)
    await out.flush()

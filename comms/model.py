# The management model: the one view of the PDU every uplink reads through.
#
# Uplinks (HTTP, Modbus, SNMP, MQTT) never touch drivers, metrology internals
# or the Pdu's parts: boot hands this model the parts once, and uplinks ask it
# for objects, measurements, state, events and health. Reads are by frame
# (the snapshot's latest complete window or second, its seq checked after the
# read) and by cursor (events): nothing here hangs work on the acquisition
# task's listeners.
#
# Ids are stable across reboots and updates: "device"; "inlet"; phases
# "L1".."L3" and neutral "N" (measured) / "NC" (computed); branches "B1"..;
# outlets "O1"..; groups "G1"..; air sensors by place ("inlet_air"); NTCs.
# A measurement id is "<object>.<quantity>" (e.g. "O3.p_w"): the point table
# below is the one source every uplink derives its names from.
import gc
import time
from core.calendar import iso_utc_ms
from metrology.snapshot import QUANTITIES, ENERGY_KINDS, NQ, Q, NE, ENERGY_NAMES, MJ_PER_WH, FLAG_NAMES

READ_RETRIES = 3          # a frame republished under a reader is read again
EVENTS_MAX = 200          # events per page
# Pacing (pace()): uplink work runs between acquisition polls, never across
# one. A slice of uplink work starts only when the next poll is at least
# PACE_US away, so a slice must stay shorter than that (~1 ms on the unix
# port; the renderers and handlers cut their work to fit).
PACE_US = 3000
HEAP_READ_US = 5000       # heap(): headroom for gc.mem_alloc() + gc.mem_free()

# protection state names the model reports (outlet, branch, inlet element)
PROT_STATES = ("normal", "pickup", "derate", "tripped", "latched", "cooldown", "lockout", "shed")


class Model:
    def __init__(self, *, desc, clock, snapshot, events, health, acq, outlets, protection, config,
                 cal, records, supervisor, env, boot_count, fw_version, audit=None, serial=None):
        self.desc = desc
        self.clock = clock
        self.snapshot = snapshot
        self.events = events
        self._health = health
        self._acq = acq
        self._outlets = outlets
        self._protection = protection
        self.config = config
        self._cal = cal
        self._records = records
        self._supervisor = supervisor
        self._env = env
        self._audit = audit
        self.boot_count = boot_count
        self.fw_version = fw_version
        self.serial = serial or desc.NAME.upper() + "-0001"
        self.t0_ms = clock.ticks_ms()
        self.outlet_ids = tuple("O%d" % n for n in sorted(desc.OUTLETS))
        self.branch_ids = tuple(sorted(desc.BRANCHES))
        self.group_ids = tuple("G%d" % g for g in sorted(set(o["group"] for o in desc.OUTLETS.values())))
        self.phase_ids = ("L1", "L2", "L3")
        self._hash = None
        self._hash_gen = -1

    # --- pacing -----------------------------------------------------------------------------
    def pace(self):
        """Every uplink awaits this between slices of its work (before each
        request's handler, each write, each renderer chunk, each PBKDF2
        round): at once while the next acquisition poll is more than PACE_US
        away, else after the poll (core/acquisition.Acquisition.pace). The
        loop is then late by at most one slice, never by every ready
        uplink task's slice in turn."""
        return self._acq.pace(PACE_US)

    async def heap(self, collect=False):
        """{"alloc", "free"} bytes of the heap. collect=True (a diagnostic)
        first has the acquisition task run a collection right after a poll.
        The figures walk the allocation table (1.5 ms each on the unix port's
        8 MB heap): read with HEAP_READ_US of headroom."""
        if collect:
            await self._acq.collect()
        await self._acq.pace(HEAP_READ_US)
        return {"alloc": gc.mem_alloc(), "free": gc.mem_free()}

    # --- inventory and tree -------------------------------------------------------------
    def inventory(self):
        cfg = self.config
        return {"device_id": cfg["system.equipment_id"], "name": cfg["system.name"],
                "serial": self.serial, "hw_rev": getattr(self.desc, "HW_REV", "A"),
                "fw_version": self.fw_version, "board": self.desc.NAME,
                "calibration_version": self._cal.version,
                "config_hash": self.config_hash(), "config_generation": cfg.generation,
                "uptime_s": self.uptime_s(),
                "boot_count": self.boot_count, "site_id": cfg["system.site_id"],
                "location": cfg["system.location"]}

    def config_hash(self):
        """CRC-32 of the stored form of the settings (cached per generation)."""
        cfg = self.config
        if self._hash_gen != cfg.generation or self._hash is None:
            import binascii
            self._hash = "%08x" % (binascii.crc32(cfg.serialise(cfg.values).encode()) & 0xFFFFFFFF)
            self._hash_gen = cfg.generation
        return self._hash

    def uptime_s(self):
        return time.ticks_diff(self.clock.ticks_ms(), self.t0_ms) // 1000

    def tree(self):
        """device -> inlet -> phases (and neutral) -> branches -> outlets; sensors."""
        d = self.desc
        phases = []
        for ph in self.phase_ids:
            brs = []
            for b in self.branch_ids:
                if d.BRANCHES[b]["phase"] != ph:
                    continue
                brs.append({"id": b, "rating_a": d.BRANCHES[b].get("rating_a"),
                            "outlets": ["O%d" % n for n in d.BRANCHES[b]["outlets"]]})
            phases.append({"id": ph, "branches": brs})
        return {"id": "device", "inlet": {"id": "inlet", "phases": phases, "neutral": ["N", "NC"]},
                "groups": [{"id": g, "outlets": self.group_outlets(g)} for g in self.group_ids],
                "sensors": self.sensor_ids()}

    def sensor_ids(self):
        return sorted(k + "_air" for k in self.desc.AIR_SENSORS) + sorted(self.desc.NTCS)

    def group_outlets(self, gid):
        if gid not in self.group_ids:
            return None
        g = int(gid[1:])
        return ["O%d" % n for n in sorted(self.desc.OUTLETS) if self.desc.OUTLETS[n]["group"] == g]

    # --- point table ---------------------------------------------------------------------
    def points(self):
        """(measurement id, object id, quantity, unit, kind) of every point, in
        snapshot order: kind "gauge" (a window/second value) or "counter"
        (energy). A generator: nothing is built per call."""
        snap = self.snapshot
        for ch in snap.channels:
            for qn in snap.quantities.get(ch, ()):
                yield ch + "." + qn, ch, qn, _QUNIT[qn], "gauge"
            if ch in snap.eindex:
                for qn, u in ENERGY_KINDS:
                    yield ch + "." + qn, ch, qn, u, "counter"

    def unit(self, mid):
        return self.snapshot.unit(mid)

    # --- measurements ----------------------------------------------------------------------
    def read(self, ids, kind="sec"):
        """A consistent read of objects' measurements from one frame:
        {"seq", "kind", "timestamp_utc", "time_valid", "window_ms", "objects":
        {id: {quantity: {"value", "unit"}, ..., "quality": [...]}}}, or None
        before the first frame. Energies come from the 1 s frame."""
        snap = self.snapshot
        for _ in range(READ_RETRIES):
            fr = snap.latest(kind)
            if fr is None:
                return None
            seq = fr.seq
            sec = snap.latest("sec")
            sec_seq = sec.seq if sec is not None else 0
            objs = {}
            for ch in ids:
                objs[ch] = self._values(fr, sec, ch)
            if fr.seq == seq and seq and (sec is None or sec.seq == sec_seq):
                return {"seq": seq, "kind": kind, "timestamp_utc": _iso(fr.utc_ms), "utc_ms": fr.utc_ms,
                        "time_valid": fr.time_valid, "window_ms": round(fr.len_ms, 1), "objects": objs}
        return None

    def _values(self, fr, sec, ch):
        snap = self.snapshot
        i = snap.index.get(ch)
        if i is None:
            return None
        d = {}
        vals = fr.values
        for qn in snap.quantities.get(ch, ()):
            v = vals[i * NQ + Q[qn]]
            d[qn] = {"value": None if v != v else _r(v), "unit": _QUNIT[qn]}
        if sec is not None and ch in snap.eindex:
            e = NE * snap.eindex[ch]
            for k in range(NE):
                nm, u = ENERGY_KINDS[k]
                d[nm] = {"value": sec.energy[e + k] / MJ_PER_WH, "unit": u}
        d["quality"] = [nm for b, nm in FLAG_NAMES if fr.flags[i] & b]
        return d

    def value(self, mid, kind="sec"):
        """One value by measurement id, None before the first frame."""
        try:
            return self.snapshot.get(mid, kind)
        except (KeyError, ValueError):
            return None

    def frame(self, kind="sec"):
        """The latest frame of `kind` for uplinks that walk the point table
        themselves (Prometheus, SNMP): check frame.seq after reading."""
        return self.snapshot.latest(kind)

    # --- outlets -----------------------------------------------------------------------------
    def outlet_numbers(self):
        return sorted(self.desc.OUTLETS)

    def outlet_number(self, oid):
        """"O3" -> 3, None if no such outlet."""
        if type(oid) is not str or len(oid) < 2 or oid[0] != "O" or not oid[1:].isdigit():
            return None
        n = int(oid[1:])
        return n if n in self.desc.OUTLETS else None

    def outlet_state(self, n):
        sw = self._outlets.switches[n]
        fb = sw.feedback()
        st = "unknown" if fb is None else ("on" if fb else "off")
        d = self.desc.OUTLETS[n]
        return {"id": "O%d" % n, "name": self.config["outlets.%d.name" % n], "state": st,
                "commanded": "on" if sw.commanded else "off", "switch": d.get("switch"),
                "group": "G%d" % d["group"], "branch": d["branch"], "phase": d["phase"],
                "rating_a": d.get("rating_a"), "priority": self.config["outlets.%d.priority" % n],
                "protection": self.protection_state(n)}

    def outlet_on(self, n, commanded=False):
        """Whether outlet n is on by its feedback (commanded=True: by its
        last command); None feedback (unknown) is not on. No allocation: for
        bit reads (Modbus coils and discrete inputs)."""
        sw = self._outlets.switches[n]
        return bool(sw.commanded) if commanded else sw.feedback() is True

    def protection_state(self, n):
        st = self._protection.status(n)
        state = st["state"]
        if state == "tripped":
            state = "latched"
        elif state == "normal" and st.get("derated"):
            state = "derate"
        elif state == "normal" and st.get("pickup"):
            state = "pickup"
        last = st.get("last_trip")
        return {"state": state, "reason": st.get("cause"), "allow_a": _r(st.get("allow_a")),
                "trips": st.get("trips", 0), "last_trip": last}

    def held(self):
        """The fail-safe: why every switch-on is refused, or None."""
        return self._outlets.held

    # --- events ---------------------------------------------------------------------------------
    def events_since(self, seq, limit=EVENTS_MAX, severity=None, channel=None, code=None, since_utc_ms=None):
        """(events, missed, next cursor): events with seq > `seq`, oldest
        first, filtered; `missed` counts events lost to the ring before the
        cursor. The cursor advances over filtered-out events too."""
        if limit > EVENTS_MAX:
            limit = EVENTS_MAX
        out = []
        missed = 0
        cur = seq
        sev_min = None if severity is None else _SEV.index(severity)
        while len(out) < limit:
            evs, m = self.events.since(cur, limit)
            missed += m
            if not evs:
                break
            for e in evs:
                cur = e["seq"]
                if sev_min is not None and _SEV.index(e["severity"]) < sev_min:
                    continue
                if channel is not None and e["channel"] != channel:
                    continue
                if code is not None and e["event"] != code:
                    continue
                if since_utc_ms is not None and e["utc_ms"] < since_utc_ms:
                    continue
                out.append(_event(e))
                if len(out) >= limit:
                    break
        return out, missed, cur

    def audit_since(self, seq, limit=EVENTS_MAX):
        """(entries, missed, next cursor) of the audit log after `seq`."""
        ents, missed = self._audit.since(seq, min(limit, EVENTS_MAX))
        out = [{"seq": a["seq"], "timestamp_utc": _iso(a["utc_ms"]), "time_valid": a["time_valid"],
                "kind": a["kind"], "who": a["who"], "what": a["what"], "result": a["result"]} for a in ents]
        return out, missed, (ents[-1]["seq"] if ents else seq)

    def last_seq(self):
        return self.events.next_seq - 1

    # --- records ----------------------------------------------------------------------------------
    def records(self, t0_s, t1_s, channel=None, level=0):
        if self._records is None:
            return None
        return self._records.query(t0_s, t1_s, channel, level)

    def record_period_s(self):
        return self.config["record.period_min"] * 60

    # --- health -------------------------------------------------------------------------------------
    def health(self):
        acq = self._acq
        fs = self._supervisor.failsafe
        return {"ok": self._health.ok() and fs is None, "devices": self._health.report(),
                "overruns": acq.overruns(), "polls": acq.polls,
                "loop_lateness_us": {"worst": acq.late_max_us, "recent": acq.late_recent_us,
                                     "hist_ms": list(acq.late_hist)},
                "failsafe": fs, "task_failures": dict(self._supervisor.failures),
                "event_seq": self.last_seq(), "uptime_s": self.uptime_s(), "gc": self._health.gc}

    def environment(self):
        out = {}
        for k, v in self._env.items():
            if isinstance(v, tuple):
                out[k + "_air"] = {"temperature_c": _r(v[0]), "humidity_pct": _r(v[1])}
            else:
                out[k] = {"temperature_c": _r(v)}
        return out

    def calibration(self):
        c = self._cal.current
        if c is None:
            return {"version": 0, "calibrated": False, "channels": 0}
        prev = self._cal.previous()
        return {"version": c["version"], "calibrated": True, "timestamp_utc": _iso(c["utc_ms"]),
                "time_valid": c["time_valid"], "fixture": c["fixture"], "channels": len(c["coeffs"]),
                "rollback_of": c["rollback_of"], "previous_version": None if prev is None else prev["version"]}

    # --- event counters ---------------------------------------------------------------------
    def event_counts(self):
        """{"info": n, "notice": n, "warning": n, "alarm": n, "critical": n,
        "missed": m}: events logged since this boot by severity; "missed" counts
        events that left the ring before they were counted. Incremental: a call
        reads only the events after the previous call's cursor (event log cursor
        reads, nothing hung on events.listeners). The first call finds where
        this boot starts: the newest "boot" event, plus the device bring-up
        events logged just before it in the same boot (at most
        BOOT_BRINGUP_MS older by the tick clock, their tick and UTC distances
        to the boot event agreeing within 50 ms)."""
        if getattr(self, "_evc", None) is None:
            self._evc = {"info": 0, "notice": 0, "warning": 0, "alarm": 0, "critical": 0, "missed": 0}
            self._evc_cur = self._boot_cursor()
        c = self._evc
        while True:
            evs, m = self.events.since(self._evc_cur, EVENTS_PAGE)
            c["missed"] += m
            if not evs:
                break
            for e in evs:
                s = e["severity"]
                c[s] = c.get(s, 0) + 1
            self._evc_cur = evs[-1]["seq"]
        return dict(c)

    def _boot_cursor(self):
        # The cursor just before this boot's first event (see event_counts).
        ev = self.events
        top = ev.next_seq - 1
        boot = None
        while top > 0 and boot is None:
            lo = top - EVENTS_PAGE if top > EVENTS_PAGE else 0
            evs, missed = ev.since(lo, top - lo)
            for k in range(len(evs) - 1, -1, -1):
                if evs[k]["event"] == "boot":
                    boot = evs[k]
                    break
            if boot is None:
                if missed or not evs:
                    # this boot's start left the ring: count from the oldest event kept
                    return evs[0]["seq"] - 1 if evs else top
                top = lo
        if boot is None:
            return 0
        b = boot["seq"]
        start = b - 1
        if start < 1:
            return 0
        lo = start - EVENTS_PAGE if start > EVENTS_PAGE else 0
        evs, _ = ev.since(lo, start - lo)
        for k in range(len(evs) - 1, -1, -1):
            e = evs[k]
            dt = time.ticks_diff(boot["ticks_ms"], e["ticks_ms"])
            if not (0 <= dt <= BOOT_BRINGUP_MS and abs(boot["utc_ms"] - e["utc_ms"] - dt) <= 50) \
                    or e["seq"] != start:
                break
            start -= 1
        return start


EVENTS_PAGE = 32          # events per cursor read in event_counts()
BOOT_BRINGUP_MS = 10000   # device bring-up logged before the boot event, at most this much earlier

_QUNIT = dict(QUANTITIES)
_SEV = ("info", "notice", "warning", "alarm", "critical")


def _r(v, nd=4):
    if v is None:
        return None
    if type(v) is float:
        if v != v:
            return None
        return round(v, nd)
    return v


def _event(e):
    return {"seq": e["seq"], "timestamp_utc": _iso(e["utc_ms"]), "time_valid": e["time_valid"],
            "event": e["event"], "severity": e["severity"], "channel": e["channel"],
            "action": e["action"], "values": e["values"]}


def _iso(utc_ms):
    return iso_utc_ms(utc_ms)

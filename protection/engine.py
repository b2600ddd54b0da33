# The protection engine: wires the protection parts together and carries out
# their decisions, running the ladder sense -> classify -> act -> log ->
# uplink -> recover.
#
#   sense     fastpath.FastPath.run() every acquisition poll (10 ms), called
#             from consume(), registered on the acquisition AFTER metrology;
#             never waits for anything (no uplink can delay it)
#   classify  each part decides on its own state:
#               overcurrent.py  OutletElement / ZoneElement (branch, inlet
#                               phase): instantaneous, inverse-time, shed level
#               inrush.py       Inrush: switch-on windows, onto-a-fault check
#               verify.py       Verification: every actuation's verdict
#               residual.py     Residual: alarm / isolate / latch stages
#               shedding.py     Shedding: sustained overload (slow tick), LIMIT
#               thermal.py      Thermal: derating and thermal trips (slow tick)
#               recovery.py     Recovery: cooldown, lockout, retry, reset
#   act       here: TRIP (open at once: the coil is energised inside this
#             poll), zone trips (a branch or inlet phase opens its outlets),
#             ISOLATE (residual current), failed switching (lockout), and the
#             decisions list; SHED and DERATE are the parts' own actions
#   log       every action is an event (EventLog.emit) with the channel, the
#             code, a severity, values {peak, window_ms, value, limit, state,
#             cause, ...} and the action; the log adds sequence id and time
#   uplink    readers follow the log by cursor; status() for live state
#   recover   reset(n, who): audited (recovery.py has the rules)
#
# Outlet states (recovery.py): normal, tripped (latched), cooldown, lockout, shed.
import time
from core import codes
from drivers.ads131m04 import volts_per_code, amps_per_code
from protection.fastpath import E_EN, E_ACC, E_KQ, G_AGE, G_PER, GW, FastPath
from protection.settings import Settings
from protection import switching
from protection.logvalues import rounded
from protection.recovery import NORMAL, TRIPPED, COOLDOWN, LOCKOUT, OutletState, Recovery
from protection.overcurrent import Overcurrent
from protection.shedding import Shedding
from protection.thermal import Thermal
from protection.inrush import Inrush
from protection.verify import Verification
from protection.residual import Residual

SLOW_POLLS = 100          # the slow tick: once a second
DECISIONS_KEPT = 32


class Decision:
    """A recent protection decision (tests, diagnostics)."""

    def __init__(self, t_us, element, kind):
        self.t_us = t_us
        self.element = element    # "O4", "B1", "L1"
        self.kind = kind          # cause: "short", "overload", "shed", "rcm", "welded", ...


def outlet_groups(desc):
    """Switching groups: all, G1.., B1.., L1.. -> sorted outlet numbers."""
    groups = {"all": sorted(desc.OUTLETS)}
    for n, d in desc.OUTLETS.items():
        groups.setdefault("G%d" % d["group"], []).append(n)
        groups.setdefault(d["branch"], []).append(n)
        groups.setdefault(d["phase"], []).append(n)
    for k in groups:
        groups[k].sort()
    return groups


class Protection:
    def __init__(self, desc, outlets, events, clock, *, settings=None, ntcs=None, audit=None):
        self.desc = desc
        self.outlets = outlets
        self.events = events
        self.clock = clock
        self.fs = desc.SAMPLE_RATE
        self.settings = settings if settings is not None else Settings(events=events, audit=audit,
                                                                       n_outlets=len(desc.OUTLETS))
        self.settings.listeners.append(self._on_settings)
        if audit is None:
            from core.audit import AuditLog
            audit = AuditLog(None, clock)
        self.audit = audit
        self.outlet_state = {}    # outlet number -> recovery.OutletState
        for n in sorted(desc.OUTLETS):
            self.outlet_state[n] = OutletState(n, desc.OUTLETS[n])
        self.groups = outlet_groups(desc)
        self.amps_per_code = amps_per_code(desc.AFE_OUTLET_I)        # outlet current codes
        volts = volts_per_code(desc.AFE_GROUP_V)
        self.watts_per_vi = 512.0 * 256.0 * volts * 256.0 * self.amps_per_code   # fast path v*x sums per sample
        self.inlet_amps_per_code = None       # ADE9000 waveform codes (None: no inlet chip)
        self.inlet_volts_per_code = None
        self.acq = None
        self.fastpath = None
        self.overcurrent = None   # built with the fast path (attach)
        self.shedding = None
        self.recovery = Recovery(self)
        self.thermal = Thermal(self, ntcs)
        self.inrush = Inrush(self)
        self.verification = Verification(self)
        self.residual = Residual(self)
        self.sequence = None      # the running power-up sequence (switching.Sequence)
        self.slow_polls = 0       # polls since the last slow tick
        self.frames_us = clock.ticks_us()   # when the newest frames were taken
        self.polls = 0
        self.decisions = []       # [Decision], the last DECISIONS_KEPT
        self.errors = 0
        self.last_error = None
        self.stalled = {}         # group -> its ADC reported stalled

    # --- set-up -----------------------------------------------------------------------------
    def attach(self, acq):
        """Build the fast path for the chips that answered and register as the
        acquisition's consumer (after metrology's)."""
        self.acq = acq
        fp = FastPath(self.desc, acq)
        self.fastpath = fp
        if acq.ade is not None:
            self.inlet_amps_per_code = acq.ade.i_per_sample
            self.inlet_volts_per_code = acq.ade.v_per_sample
        self.overcurrent = Overcurrent(self, fp, self.thermal.derating)
        self.shedding = Shedding(self, self.overcurrent.zones)
        self._configure()
        acq.consumers.insert(0, self._stamp)     # when this poll's frames were taken (before metrology)
        for n in fp.outlets:
            fp.blocks[fp.word(n) + E_EN] = 1
        acq.consumers.append(self.consume)
        self.outlets.attach_protection(self, self.groups)
        for g, ok in fp.group_present.items():
            if not ok:
                self.events.emit(codes.EV_PROT_DEGRADED, codes.SEV_ALARM, "G%d" % g,
                                 {"cause": "no current measurement",
                                  "outlets": len(self.groups.get("G%d" % g, ()))}, "none")
        if acq.ade is None:
            self.events.emit(codes.EV_PROT_DEGRADED, codes.SEV_ALARM, "inlet",
                             {"cause": "no inlet measurement: inlet and residual protection off"}, "none")
        return self

    def _configure(self):
        self.inrush.configure()
        self.thermal.configure()
        self.overcurrent.configure()
        self.inrush.raise_levels()
        if self.inlet_amps_per_code:
            self.residual.configure(self.settings, self.inlet_amps_per_code, self.inlet_volts_per_code,
                                    self.fs, self.fastpath.n_outlets)

    def _on_settings(self, diff):
        if self.fastpath is not None:
            self._configure()

    # --- the consumer: every poll --------------------------------------------------------------
    def _stamp(self, acq):
        # Time of the newest frames (first consumer of the poll): commands are
        # placed on the sample time line relative to it, not to consume()
        # which runs after metrology.
        self.frames_us = self.clock.ticks_us()

    def consume(self, acq):
        self.polls += 1
        fp = self.fastpath
        try:
            if fp.run(acq):
                self.overcurrent.on_news()
            if self.inrush.open_windows or self.verification.open_windows:
                self.inrush.poll(fp.group_frames)
                self.verification.poll(fp.group_frames)
            self.residual.poll(fp.residual)
            self.slow_polls += 1
            if self.slow_polls >= SLOW_POLLS:
                self.slow_polls = 0
                self._slow()
        except Exception as e:
            # A fault in protection must not stop acquisition (or metrology):
            # counted, reported once per kind, and the next poll runs again.
            self.errors += 1
            msg = "%s: %s" % (type(e).__name__, e)
            if msg != self.last_error:
                self.last_error = msg
                self.events.emit(codes.EV_PROT_DEGRADED, codes.SEV_CRITICAL, "protection",
                                 {"cause": msg[:40], "outlets": 0}, "none")

    # --- the slow tick: once a second ---------------------------------------------------------------
    def _slow(self):
        now = self.clock.ticks_ms()
        self.overcurrent.slow_window()
        self.overcurrent.log_timing(now)
        self._stalls()
        self.shedding.sustained(now)
        self.thermal.tick()
        self.recovery.retry(now)

    def _stalls(self):
        """Report groups whose ADC stopped delivering (their outlets are then
        verified by feedback alone and their elements see no data)."""
        acq = self.acq
        for g, k in self.fastpath.chip_index.items():
            st = bool(acq.stalled[k])
            if st != self.stalled.get(g, False):
                self.stalled[g] = st
                self.events.emit(codes.EV_PROT_DEGRADED, codes.SEV_ALARM if st else codes.SEV_NOTICE,
                                 "G%d" % g, {"cause": "no current measurement" if st else "measurement back",
                                             "outlets": len(self.groups.get("G%d" % g, ()))}, "none")

    # --- actions ------------------------------------------------------------------------------
    def _note(self, element, kind):
        d = self.decisions
        d.append(Decision(self.clock.ticks_us(), element, kind))
        if len(d) > DECISIONS_KEPT:
            d.pop(0)

    def open_outlet(self, n, who, why):
        """Open outlet n now (the coil first, then the paperwork)."""
        self.outlets.open_now(n, who)
        self._note("O%d" % n, why)

    def trip(self, n, code, cause, vals, latch):
        """An outlet's own element acts: open it; latched or into cooldown."""
        o = self.outlet_state[n]
        if o.state in (TRIPPED, LOCKOUT, COOLDOWN) and not self.outlets.switches[n].commanded:
            return
        self.open_outlet(n, "protection", cause)
        self.shedding.remember_load(n, 0.0)
        if o.verify is not None:
            o.verify.clearing = code == codes.EV_OC_INSTANT
        fp = self.fastpath
        fp.blocks[fp.word(n) + E_EN] = 0
        s = self.settings
        now = self.clock.ticks_ms()
        k = self.recovery.count_trip(o, now)
        o.cause = cause
        cd = 0
        if latch:
            o.state = TRIPPED
            state = "latched"
        else:
            o.state = COOLDOWN
            cd = self.recovery.cooldown_s(k)
            o.cool_until = time.ticks_add(now, cd * 1000)
            state = "cooldown"
        self.inrush.close(o, False)
        v = rounded(vals, code)
        v["state"] = state
        v["cause"] = cause
        v["trips"] = k
        if cd:
            v["cooldown_s"] = cd
        self.events.emit(code, codes.SEV_CRITICAL if latch else codes.SEV_ALARM, "O%d" % n, v, "trip")
        if k >= s["lockout_trips"] and o.state != LOCKOUT:
            self.recovery.lockout(o, "%d trips" % k, {"trips": k, "window_ms": s["lockout_window_s"] * 1000})
        self.stop_sequence(n, "O%d %s" % (n, cause))

    def zone_trip(self, name, code, cause, vals):
        """A branch or inlet phase acts: open every outlet under it that is closed."""
        zone = self.overcurrent.zones[name]
        zone.trip_off(self.fastpath.blocks)
        latch = code == codes.EV_OC_INSTANT
        opened = []
        s = self.settings
        now = self.clock.ticks_ms()
        for n in zone.outlets:
            sw = self.outlets.switches[n]
            if sw.commanded or sw.feedback():
                self.outlets.open_now(n, "protection")
                o = self.outlet_state[n]
                o.state = TRIPPED if latch else COOLDOWN
                o.cause = "%s %s" % (name, cause)
                o.trip_times.append(now)
                if not latch:
                    o.cool_until = time.ticks_add(now, s["retry_cooldown_s"] * 1000)
                self.inrush.close(o, False)
                o.verify.clearing = latch
                opened.append(n)
        self._note(name, cause)
        v = rounded(vals, code)
        v["state"] = "latched" if latch else "cooldown"
        v["cause"] = cause
        v["outlets"] = ",".join(str(n) for n in opened)
        self.events.emit(code, codes.SEV_CRITICAL, name, v, "trip")
        for n in opened:
            if self.stop_sequence(n, "%s %s" % (name, cause)):
                break

    def isolate(self, n):
        """Residual current localised on outlet n: open and latch it (the
        residual element logs rcm_isolate)."""
        o = self.outlet_state[n]
        self.open_outlet(n, "protection", "rcm")
        o.state = TRIPPED
        o.cause = "residual"
        o.trip_times.append(self.clock.ticks_ms())
        self.inrush.close(o, False)

    def switch_failed(self, o, state, vals):
        """Verification found a failed switching: log it; lockout unless the
        outlet simply did not close."""
        fv = switching.FAILED[state]
        lock = fv.action == "lockout"
        vals["state"] = "lockout" if lock else o.state
        ch = "O%d" % o.n
        self._note(ch, state)
        if lock:
            o.state = LOCKOUT
            o.cause = state
        self.inrush.close(o, False)
        self.events.emit(fv.code, fv.severity, ch, rounded(vals, fv.code), fv.action)
        self.stop_sequence(o.n, "O%d %s" % (o.n, state))

    # --- power-up sequences (protection/switching.py) ---------------------------------------------
    def begin_sequence(self, seq):
        self.sequence = seq

    def end_sequence(self):
        self.sequence = None

    def sequence_involves(self, n):
        seq = self.sequence
        return seq is not None and seq.involves(n)

    def stop_sequence(self, n, reason):
        """Something happened on outlet n: stop the running sequence if n is
        one of its outlets. True when it stopped it."""
        seq = self.sequence
        return seq is not None and seq.stop_for(n, reason)

    def reserve(self, n):
        self.inrush.reserve(n)

    def unreserve(self, n):
        self.inrush.unreserve(n)

    def energising(self):
        return self.inrush.count()

    # --- switching hooks (protection/outlets.py) ----------------------------------------------------
    def permit(self, n, on, who):
        """May this command run? Refusals are logged (at most one event per
        outlet per second; the others are counted into the next one)."""
        if not on:
            return True
        o = self.outlet_state[n]
        now = self.clock.ticks_ms()
        why = None
        act = "refused"
        extra = {}
        if o.state in (TRIPPED, LOCKOUT):
            why = o.state
        elif o.state == COOLDOWN:
            left = time.ticks_diff(o.cool_until, now)
            if left > 0:
                why = "cooldown"
                extra["cooldown_ms"] = left
            elif o.cause == "thermal" and self.thermal.still_hot(o):
                why = "hot"
        if why is None and self.thermal.too_hot(o):
            why = "hot"
        if why is None and not self.outlets.switches[n].commanded:
            # LIMIT: would this outlet's last known load push its branch over the shed level?
            total = self.shedding.limit(o)
            if total is not None:
                why = "limit"
                act = "limit"
                extra["value"] = total
                extra["limit"] = self.shedding.level_a("branch")
        if why is None:
            if o.state != NORMAL:
                o.state = NORMAL
            return True
        return self.recovery.refuse(o, who, why, act, extra, now)

    def switch_delay_us(self, n, on):
        """Wait before energising the coil so the contacts move at the chosen
        point of the voltage wave (latching relays only; 0 = at once)."""
        d = self.desc.OUTLETS[n]
        if d.get("switch") != "latching":
            return 0
        s = self.settings
        ang = s["relay_close_angle_deg"]
        if ang < 0:
            return 0
        fp = self.fastpath
        g = d.get("group")
        if not fp.group_present.get(g):
            return 0
        b = fp.group_idx[g] * GW
        since = time.ticks_diff(self.clock.ticks_us(), self.frames_us)
        d = switching.zero_cross_delay_us(fp.zero_cross[b + G_AGE], fp.zero_cross[b + G_PER], since, self.fs,
                                          ang if on else 0,
                                          s["relay_operate_ms"] if on else s["relay_release_ms"])
        return 0 if d is None else d

    def begin_switch(self, n, on, who, op):
        """The coil is about to be energised (now): open the verification
        window and, for a switch-on, the inrush window."""
        o = self.outlet_state[n]
        fp = self.fastpath
        d = time.ticks_diff(self.clock.ticks_us(), self.frames_us) * self.fs // 1000000
        if d < 0:
            d = 0
        self.verification.open(o, on, who, op, d)
        self.inrush.close(o, False)
        el = self.overcurrent.outlets[n]
        el.pause_timing()
        if not on and who not in ("protection", "shed"):
            self.shedding.remember_load(n, el.rms_now(fp.blocks))     # the load it had (for LIMIT)
        if on:
            if fp.blocks[el.word + E_ACC] > 0:
                el.resume_timing(self.clock.ticks_ms())    # a warm bucket resumes timing now
            fp.blocks[el.word + E_EN] = 1
            self.overcurrent.rearm_zones(o)
            self.inrush.open(o, el, d, who)

    def busy(self, n):
        """A verification is still open for outlet n."""
        return self.verification.busy(self.outlet_state[n])

    def verdict(self, n, op):
        return self.verification.verdict(self.outlet_state[n], op)

    # --- recovery and live state ------------------------------------------------------------------
    def reset(self, n, who, reason=""):
        """Operator reset of a tripped/locked-out/cooled-down/shed outlet: audited.
        Refused while its verification is pending or, for a welded/failed
        switch, while current flows or the contacts read closed. Returns True
        when the outlet may be switched on again."""
        return self.recovery.reset(self.outlet_state[n], who, reason)

    def status(self, n):
        o = self.outlet_state[n]
        d = self.thermal.derating[n]
        el = self.overcurrent.outlets[n]
        blocks = self.fastpath.blocks
        return {"state": o.state, "cause": o.cause, "derated": d.derated, "allow_a": d.allow_a,
                "t_est": d.t_est, "i_rms": el.i_rms, "pickup": el.timing_since is not None,
                "bucket_pct": blocks[el.word + E_ACC] * 100.0 / blocks[el.word + E_KQ],
                "trips": len(o.trip_times), "retries": o.retries}

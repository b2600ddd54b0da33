# The protection engine: per-outlet, per-branch and per-inlet state machines
# running the ladder sense -> classify -> act -> log -> uplink -> recover.
#
#   sense     fastpath.FastPath.run() every acquisition poll (10 ms), called
#             from consume(), registered on the acquisition AFTER metrology;
#             never waits for anything (no uplink can delay it)
#   classify  overcurrent.on_news (instantaneous / inverse-time / shed level),
#             inrush windows, verification windows and the residual-current
#             stages per poll; thermal and sustained-load shedding once a second
#   act       TRIP (open at once: the coil is energised inside this poll),
#             SHED (lowest priority first), DERATE (lower the outlet's
#             pickup), LIMIT (refuse a switch-on that would overload its branch),
#             ISOLATE (residual current)
#   log       every action is an event (EventLog.emit) with the channel, the
#             code, a severity, values {peak, window_ms, value, limit, state,
#             cause, ...} and the action; the log adds sequence id and time
#   uplink    readers follow the log by cursor; status() for live state
#   recover   latched trips (short circuit, residual current, branch short)
#             need reset(n, who): audited; timed and thermal trips allow a
#             switch-on after a cooldown (retry_cooldown_s x retry_backoff^(k-1)
#             for the k-th trip in lockout_window_s) and retry_max automatic
#             re-closes; lockout_trips trips in the window, a weld, a failed open
#             or an unknown switch state lock the outlet out (audited reset,
#             refused while current still flows through an open outlet).
#
# Outlet states: normal, tripped (latched), cooldown, lockout, shed.
import time
import asyncio
from core import codes
from drivers.ads131m04 import volts_per_code, amps_per_code
from core.acquisition import POLL_MS
from protection import fastpath as F
from protection.fastpath import EW, FastPath
from protection.settings import Settings
from protection import overcurrent, thermal, switching
from protection.inrush import classify
from protection.residual import Residual
from protection.curves import bucket_params, trip_time_s

NORMAL = "normal"
TRIPPED = "tripped"
COOLDOWN = "cooldown"
LOCKOUT = "lockout"
SHED = "shed"
SLOW_POLLS = 100          # the slow tick: once a second
ENV_SLOTS = 8             # outlets whose inrush shape is captured at once
REFUSE_EVERY_MS = 1000    # at most one refusal event per outlet per second (the rest counted)


class _Outlet:
    def __init__(self, n, d):
        self.n = n
        self.kind = d.get("switch")
        self.branch = d.get("branch")
        self.phase = d.get("phase")
        self.group = d.get("group")
        self.ntc = d.get("ntc")
        self.v_on = d.get("v_on", 1.1)
        self.rating = d.get("rating_a", 16.0)
        self.state = NORMAL
        self.cause = None
        self.trips = []
        self.cool_until = 0
        self.retries = 0
        self.derated = False
        self.allow_a = self.rating
        self.t_est = None
        self.i_rms = 0.0
        self.last_i = 0.0
        self.pickup_a = self.rating
        self.inst_code = 0
        self.vw = None        # verification window
        self.clearing = False # opened by an instantaneous trip, verification pending
        self.iw = None        # inrush window
        self.verdict = None   # (op, state)
        self.refused_ms = None
        self.suppressed = 0


class _Element:
    def __init__(self, name, outlets, kind):
        self.name = name
        self.outlets = outlets
        self.kind = kind      # "branch" | "inlet"
        self.over_s = 0
        self.last_shed = None
        self.tripped = False
        self.i_rms = 0.0


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
        self.ntcs = ntcs or {}
        if audit is None:
            from core.audit import AuditLog
            audit = AuditLog(None, clock)
        self.audit = audit
        self.o = {}
        for n in sorted(desc.OUTLETS):
            self.o[n] = _Outlet(n, desc.OUTLETS[n])
        self.el = {}
        for br in sorted(desc.BRANCHES):
            self.el[br] = _Element(br, tuple(desc.BRANCHES[br]["outlets"]), "branch")
        for ph in ("L1", "L2", "L3"):
            self.el[ph] = _Element(ph, tuple(n for n in sorted(desc.OUTLETS) if desc.OUTLETS[n]["phase"] == ph),
                                   "inlet")
        self.i_upc = amps_per_code(desc.AFE_OUTLET_I)
        self.v_upc = volts_per_code(desc.AFE_GROUP_V)
        self.w_per_vi = 512.0 * 256.0 * self.v_upc * 256.0 * self.i_upc   # per E_VI unit per sample
        self.ade_ips = None
        self.fp = None
        self.acq = None
        self.rcm = Residual(self)
        self.seq = None
        self.energ = {}
        self.vlist = []
        self.ilist = []
        self.pu = {}          # element name -> ticks_ms when its bucket started filling
        self.pu_ev = {}       # element name -> ticks_ms of its last pickup event
        self.slow_cnt = 0
        self.t_poll = clock.ticks_us()
        self.t_frames = self.t_poll
        self.polls = 0
        self.temps = {}
        self.decisions = []   # (ticks_us, element, kind): recent decisions (tests, diagnostics)
        self.errors = 0
        self.last_error = None
        self.stalled = {}

    # --- set-up -----------------------------------------------------------------------------
    def attach(self, acq):
        """Build the fast path for the chips that answered and register as the
        acquisition's consumer (after metrology's)."""
        self.acq = acq
        self.fp = FastPath(self.desc, acq)
        if acq.ade is not None:
            self.ade_ips = acq.ade.i_per_sample
            self.ade_vps = acq.ade.v_per_sample
        self._configure()
        acq.consumers.insert(0, self._stamp)     # when this poll's frames were taken (before metrology)
        st = self.fp.st
        for n in self.fp.outlets:
            st[self.fp.eidx[n] * EW + F.E_EN] = 1
        acq.consumers.append(self.consume)
        self.outlets.protection = self
        groups = {"all": sorted(self.desc.OUTLETS)}
        for n, d in self.desc.OUTLETS.items():
            groups.setdefault("G%d" % d["group"], []).append(n)
            groups.setdefault(d["branch"], []).append(n)
            groups.setdefault(d["phase"], []).append(n)
        for k in groups:
            groups[k].sort()
        self.outlets.groups = groups
        for g, ok in self.fp.group_present.items():
            if not ok:
                self.events.emit(codes.EV_PROT_DEGRADED, codes.SEV_ALARM, "G%d" % g,
                                 {"cause": "no current measurement", "outlets": len(groups.get("G%d" % g, ()))},
                                 "none")
        if acq.ade is None:
            self.events.emit(codes.EV_PROT_DEGRADED, codes.SEV_ALARM, "inlet",
                             {"cause": "no inlet measurement: inlet and residual protection off"}, "none")
        return self

    def _configure(self):
        s = self.settings
        bins = s["inrush_window_ms"]
        if self.fp.env_bins != bins:
            busy = [sl[0] for sl in self.fp.env_slots if sl[0]]
            for n in busy:
                self._end_inrush(self.o[n], False)
            self.fp.alloc_env(bins, ENV_SLOTS)
        overcurrent.configure(self)
        if self.ade_ips:
            self.rcm.configure(s, self.ade_ips, self.ade_vps, self.fs, self.fp.n_out)

    def _on_settings(self, diff):
        if self.fp is not None:
            self._configure()

    # --- the consumer: every poll --------------------------------------------------------------
    def _stamp(self, acq):
        # Time of the newest frames (first consumer of the poll): commands are
        # placed on the sample time line relative to it, not to consume()
        # which runs after metrology.
        self.t_frames = self.clock.ticks_us()

    def consume(self, acq):
        self.t_poll = self.clock.ticks_us()
        self.polls += 1
        fp = self.fp
        try:
            if fp.run(acq):
                overcurrent.on_news(self)
            if self.vlist or self.ilist:
                self._windows(fp.n_group)
            self.rcm.poll(fp.rs)
            self.slow_cnt += 1
            if self.slow_cnt >= SLOW_POLLS:
                self.slow_cnt = 0
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

    # --- actions ------------------------------------------------------------------------------
    def _note(self, name, kind):
        d = self.decisions
        d.append((self.clock.ticks_us(), name, kind))
        if len(d) > 32:
            d.pop(0)

    def trip(self, n, code, cause, vals, latch):
        o = self.o[n]
        sw = self.outlets.switches[n]
        if o.state in (TRIPPED, LOCKOUT, COOLDOWN) and not sw.commanded:
            return
        self.outlets.open_now(n, "protection")     # the coil first, then the paperwork
        self._note("O%d" % n, cause)
        o.last_i = 0.0
        o.clearing = code == codes.EV_OC_INSTANT
        fp = self.fp
        fp.st[fp.eidx[n] * EW + F.E_EN] = 0
        s = self.settings
        now = self.clock.ticks_ms()
        win = s["lockout_window_s"] * 1000
        o.trips = [t for t in o.trips if time.ticks_diff(now, t) < win]
        o.trips.append(now)
        k = len(o.trips)
        o.cause = cause
        cd = 0
        if latch:
            o.state = TRIPPED
            state = "latched"
        else:
            o.state = COOLDOWN
            cd = s["retry_cooldown_s"] * s["retry_backoff"] ** (k - 1)
            o.cool_until = time.ticks_add(now, cd * 1000)
            state = "cooldown"
        if o.iw is not None:
            self._end_inrush(o, False)
        v = _round(vals, code)
        v["state"] = state
        v["cause"] = cause
        v["trips"] = k
        if cd:
            v["cooldown_s"] = cd
        self.events.emit(code, codes.SEV_CRITICAL if latch else codes.SEV_ALARM, "O%d" % n, v, "trip")
        if k >= s["lockout_trips"] and o.state != LOCKOUT:
            self._lockout(o, "%d trips" % k, {"trips": k, "window_ms": win})
        seq = self.seq
        if seq is not None and n in seq.outlets and not seq.abort:
            seq.abort = "O%d %s" % (n, cause)

    def blocked(self, name):
        """Zone-selective interlocking: an outlet under this branch/phase is
        clearing a short (its relay has been told to open and the samples
        after its opening time have not arrived yet). The branch and inlet
        phase hold their instantaneous elements meanwhile; a fault current
        still there after that (welded contacts, a second fault) is acted on
        at once. Counted on the sample time line, so processing delays
        between a poll and the coil cannot make the next stage act first."""
        for n in self.el[name].outlets:
            o = self.o[n]
            if o.clearing and o.vw is not None and not o.vw[0] and o.vw[1] < o.vw[2]:
                return True
        return False

    def _lockout(self, o, cause, vals):
        o.state = LOCKOUT
        o.cause = cause
        v = dict(vals)
        v["state"] = "lockout"
        v["cause"] = cause
        self.events.emit(codes.EV_LOCKOUT, codes.SEV_ALARM, "O%d" % o.n, v, "lockout")

    def element_trip(self, name, code, cause, vals):
        """A branch or inlet phase acts: open every outlet under it that is closed."""
        el = self.el[name]
        fp = self.fp
        fp.st[fp.eidx[name] * EW + F.E_EN] = 0
        el.tripped = True
        latch = code == codes.EV_OC_INSTANT
        opened = []
        s = self.settings
        now = self.clock.ticks_ms()
        for n in el.outlets:
            sw = self.outlets.switches[n]
            if sw.commanded or sw.feedback():
                self.outlets.open_now(n, "protection")
                o = self.o[n]
                o.state = TRIPPED if latch else COOLDOWN
                o.cause = "%s %s" % (name, cause)
                o.trips.append(now)
                if not latch:
                    o.cool_until = time.ticks_add(now, s["retry_cooldown_s"] * 1000)
                if o.iw is not None:
                    self._end_inrush(o, False)
                o.clearing = latch
                opened.append(n)
        self._note(name, cause)
        v = _round(vals, code)
        v["state"] = "latched" if latch else "cooldown"
        v["cause"] = cause
        v["outlets"] = ",".join(str(n) for n in opened)
        self.events.emit(code, codes.SEV_CRITICAL, name, v, "trip")
        seq = self.seq
        if seq is not None and not seq.abort:
            for n in opened:
                if n in seq.outlets:
                    seq.abort = "%s %s" % (name, cause)
                    break

    def shed(self, name, why, irms, level):
        """Open the lowest-priority closed outlet under a branch/inlet phase."""
        el = self.el[name]
        s = self.settings
        best = None
        st = self.fp.st
        for n in el.outlets:
            o = self.o[n]
            if not self.outlets.switches[n].commanded or o.state != NORMAL:
                continue
            if st[self.fp.eidx[n] * EW + F.E_ACC] > 0:
                continue      # its own element is timing it out: the outlet acts first
            if o.i_rms < self.settings["flow_a"]:
                continue      # shedding an idle outlet relieves nothing
            key = (s.priority(n), -n)
            if best is None or key < best[0]:
                best = (key, n)
        if best is None:
            return None
        n = best[1]
        o = self.o[n]
        o.last_i = overcurrent.rms_now(self, n)
        self.outlets.open_now(n, "shed")
        self._note("O%d" % n, "shed")
        o.state = SHED
        o.cause = "shed %s" % name
        el.last_shed = self.clock.ticks_ms()
        lim = s[("inlet" if el.kind == "inlet" else "branch") + "_pickup_a"]
        pct = s[("inlet" if el.kind == "inlet" else "branch") + "_shed_pct"]
        self.events.emit(codes.EV_SHED, codes.SEV_WARNING, "O%d" % n,
                         _round({"peak": o.i_rms, "window_ms": el.over_s * 1000, "value": irms,
                                 "limit": lim * pct / 100.0, "element": name, "priority": s.priority(n),
                                 "why": why if why != "bucket" else "bucket %d%%" % level,
                                 "state": "shed"}), "shed")
        return n

    def pickup(self, name, n, peak, irms):
        """An inverse-time element started timing (name: outlet number or
        branch/phase name). Logged by the slow tick if it is still timing a
        second later (an inrush filling a bucket for a moment is not news)."""
        self.pu[name] = self.clock.ticks_ms()
        self.pu_ev.pop(name, None)

    def dropoff(self, name):
        self.pu.pop(name, None)
        self.pu_ev.pop(name, None)

    def _pickups(self, now):
        fp = self.fp
        st = fp.st
        s = self.settings
        for name, t0 in self.pu.items():
            if name in self.pu_ev or time.ticks_diff(now, t0) < 1000:
                continue
            b = fp.eidx[name] * EW
            if not (st[b + F.E_FL] & F.F_PICKUP) or not st[b + F.E_EN]:
                continue
            self.pu_ev[name] = now
            irms = overcurrent.rms_now(self, name)
            apc, apx = overcurrent.element_amps(self, name)
            if type(name) is int:
                lim, k = self.o[name].pickup_a, s["outlet_curve_k_s"]
                ch = "O%d" % name
            else:
                pre = "inlet" if name in fp.phases else "branch"
                lim, k = s[pre + "_pickup_a"], s[pre + "_curve_k_s"]
                ch = name
            # expected time to trip from here: the bucket's remainder at this current
            left = (st[b + F.E_KQ] - st[b + F.E_ACC]) / (256.0 * self.fs)
            tt = trip_time_s(irms, lim, 1.0)
            self.events.emit(codes.EV_OC_PICKUP, codes.SEV_WARNING, ch,
                             _round({"peak": st[b + F.E_PEAK] * apc,
                                     "window_ms": int(left * tt * 1000) if tt else 0,
                                     "value": irms, "limit": lim}), "logged")

    def pickup_ms(self, name):
        t = self.pu.get(name)
        return 0 if t is None else time.ticks_diff(self.clock.ticks_ms(), t)

    # --- switching hooks (protection/outlets.py) ----------------------------------------------------
    def permit(self, n, on, who):
        """May this command run? Refusals are logged (at most one event per
        outlet per second; the others are counted into the next one)."""
        if not on:
            return True
        o = self.o[n]
        s = self.settings
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
            elif o.cause == "thermal" and o.t_est is not None and \
                    o.t_est >= thermal.params(s, o.kind)[1] - s["thermal_hyst_c"]:
                why = "hot"
        if why is None and o.t_est is not None and o.t_est >= thermal.params(s, o.kind)[2]:
            why = "hot"
        if why is None and not self.outlets.switches[n].commanded:
            # LIMIT: would this outlet's last known load push its branch over the shed level?
            el = self.el.get(o.branch)
            if el is not None and o.last_i > 0:
                lvl = s["branch_pickup_a"] * s["branch_shed_pct"] / 100.0
                ib = overcurrent.rms_now(self, o.branch)
                if ib + o.last_i > lvl:
                    why = "limit"
                    act = "limit"
                    extra["value"] = ib + o.last_i
                    extra["limit"] = lvl
        if why is None:
            if o.state != NORMAL:
                o.state = NORMAL
            return True
        if o.refused_ms is not None and time.ticks_diff(now, o.refused_ms) < REFUSE_EVERY_MS:
            o.suppressed += 1
            return False
        o.refused_ms = now
        v = {"who": who, "state": o.state, "cause": why if o.cause is None else o.cause}
        v.update(extra)
        if o.suppressed:
            v["suppressed"] = o.suppressed
            o.suppressed = 0
        self.events.emit(codes.EV_COMMAND_REFUSED, codes.SEV_WARNING, "O%d" % n, _round(v, codes.EV_COMMAND_REFUSED), act)
        return False

    def switch_delay_us(self, n, on):
        """Wait before energising the coil so the contacts move at the chosen
        point of the voltage wave (latching relays only; 0 = at once)."""
        o = self.o[n]
        if o.kind != "latching":
            return 0
        s = self.settings
        ang = s["relay_close_angle_deg"]
        if ang < 0:
            return 0
        fp = self.fp
        if not fp.group_present.get(o.group):
            return 0
        b = fp.group_idx[o.group] * F.GW
        since = time.ticks_diff(self.clock.ticks_us(), self.t_frames)
        d = switching.zero_cross_delay_us(fp.gs[b + F.G_AGE], fp.gs[b + F.G_PER], since, self.fs,
                                          ang if on else 0,
                                          s["relay_operate_ms"] if on else s["relay_release_ms"])
        return 0 if d is None else d

    def reserve(self, n):
        self.energ[n] = True

    def unreserve(self, n):
        if n in self.energ and self.o[n].iw is None:
            del self.energ[n]

    def energising(self):
        return len(self.energ)

    def begin_switch(self, n, on, who, op):
        """The coil is about to be energised (now): open the verification
        window and, for a switch-on, the inrush window."""
        o = self.o[n]
        s = self.settings
        fp = self.fp
        fs = self.fs
        d = time.ticks_diff(self.clock.ticks_us(), self.t_frames) * fs // 1000000
        if d < 0:
            d = 0
        if o.kind == "latching":
            act = s["relay_operate_ms"] if on else s["relay_release_ms"]
        else:
            act = 1000.0 / (2 * self.desc.RATINGS.get("f_nom", 50.0))
        # + one poll: the command's place on the sample time line is known to
        # within the time between taking a poll's frames and this call
        settle = int((act + 2.0 + POLL_MS) * fs / 1000)
        end = settle + s["verify_ms"] * fs // 1000
        if o.vw is None:
            self.vlist.append(o)
        # vw: on, samples since the command (at the end of the last poll seen),
        # settle, end, who, op, consecutive flow polls, ticks_ms, peak, poll
        # count at creation (a window opened inside consume() starts counting
        # with the next poll: this poll's frames are older than the command)
        o.vw = [on, -d, settle, end, who, op, 0, self.clock.ticks_ms(), 0, self.polls]
        if on:
            o.clearing = False
        o.verdict = None
        b = fp.eidx[n] * EW
        if o.iw is not None:
            self._end_inrush(o, False)
        self.pu.pop(n, None)
        if not on and who not in ("protection", "shed"):
            o.last_i = overcurrent.rms_now(self, n)     # the load it had (for LIMIT)
        if on:
            if fp.st[b + F.E_ACC] > 0:
                self.pu[n] = self.clock.ticks_ms()    # a warm bucket resumes timing now
            fp.st[b + F.E_EN] = 1
            self._enable_elements(o)
            self.energ[n] = True
            sl = fp.env_start(n, d)
            o.iw = [-d, s["inrush_window_ms"] * fs // 1000, -1, 0, sl, who, self.polls]
            self.ilist.append(o)
            fp.st[b + F.E_INST] = int(s["inrush_max_a"] / self.i_upc)

    def _enable_elements(self, o):
        fp = self.fp
        for name in (o.branch, o.phase):
            el = self.el.get(name)
            if el is not None and el.tripped:
                el.tripped = False
                fp.st[fp.eidx[name] * EW + F.E_EN] = 1

    def busy(self, n):
        """A verification is still open for outlet n."""
        return self.o[n].vw is not None

    def verdict(self, n, op):
        v = self.o[n].verdict
        if v is None or v[0] != op:
            return None
        return v[1]

    # --- windows (per poll while any is open) -----------------------------------------------------
    def _windows(self, nnew):
        fp = self.fp
        st = fp.st
        done = None
        for o in self.ilist:
            iw = o.iw
            if iw is None:
                continue
            b = fp.eidx[o.n] * EW
            if iw[6] == self.polls:
                continue
            iw[0] += nnew
            if nnew and st[b + F.E_N]:
                if iw[2] < 0 and st[b + F.E_FFIRST]:
                    iw[2] = iw[0] - nnew + st[b + F.E_FFIRST] - 1
                iw[3] += st[b + F.E_SQ] >> 7
                # a high current 10 ms after it started is not an inrush
                if iw[2] >= 0 and iw[0] - nnew - iw[2] >= self.fs // 100 and st[b + F.E_PEAK] > o.inst_code:
                    self.trip(o.n, codes.EV_OC_INSTANT, "switch-on fault",
                              {"peak": st[b + F.E_PEAK] * self.i_upc,
                               "window_ms": (iw[0] - iw[2]) * 1000 // self.fs,
                               "value": st[b + F.E_PEAK] * self.i_upc,
                               "limit": o.inst_code * self.i_upc}, latch=True)
                    continue
            if iw[0] >= iw[1]:
                self._end_inrush(o, True)
        if self.ilist:
            self.ilist = [o for o in self.ilist if o.iw is not None]
        for o in self.vlist:
            if o.vw is not None:
                self._verify(o, nnew)
        self.vlist = [o for o in self.vlist if o.vw is not None]

    def _end_inrush(self, o, report):
        iw = o.iw
        if iw is None:
            return
        o.iw = None
        fp = self.fp
        b = fp.eidx[o.n] * EW
        fp.st[b + F.E_INST] = o.inst_code
        if o.n in self.energ:
            del self.energ[o.n]
        sl = iw[4]
        res = None
        if sl is not None:
            if report:
                res = classify(fp.env[sl[4]], fp.env_bins, self.i_upc, fp.st[b + F.E_FLOW])
            sl[0] = 0
        if not report or res is None or not res["inrush"]:
            return
        i2t = iw[3] * 128 * 512.0 * (self.i_upc * 256) ** 2 / self.fs
        v = _round({"peak": res["peak_a"], "window_ms": res["duration_ms"], "value": res["settled_a"],
                    "limit": self.settings["inrush_max_a"], "shape": res["shape"],
                    "start_ms": res["start_ms"], "i2t": i2t, "who": iw[5]})
        if res["normal"]:
            self.events.emit(codes.EV_INRUSH, codes.SEV_INFO, "O%d" % o.n, v, "logged")
        else:
            seq = self.seq
            stop = seq is not None and o.n in seq.outlets and not seq.abort
            self.events.emit(codes.EV_INRUSH_ABNORMAL, codes.SEV_WARNING, "O%d" % o.n, v,
                             "stop" if stop else "logged")
            if stop:
                seq.abort = "O%d inrush %s" % (o.n, res["shape"])

    def _verify(self, o, nnew):
        vw = o.vw
        if vw[9] == self.polls:
            return
        on, el, settle, end, who, op = vw[0], vw[1], vw[2], vw[3], vw[4], vw[5]
        el += nnew
        vw[1] = el
        fp = self.fp
        st = fp.st
        b = fp.eidx[o.n] * EW
        meas = fp.group_present.get(o.group) and nnew > 0 and st[b + F.E_N] > 0
        if meas and st[b + F.E_PEAK] > vw[8]:
            vw[8] = st[b + F.E_PEAK]
        now = self.clock.ticks_ms()
        late = time.ticks_diff(now, vw[7]) > (end * 1000 // self.fs) + 4 * POLL_MS
        if meas and el - nnew < settle and el < end:
            return
        if not meas and not late:
            return
        fb = self.outlets.switches[o.n].feedback()
        at_end = el >= end or late
        flow = meas and st[b + F.E_FLOWN] >= 3
        state = None
        if not meas:
            state = switching.OK if fb == on else switching.UNKNOWN
        elif on:
            if fb:
                state = switching.OK
            elif at_end:
                state = switching.UNKNOWN if flow else switching.CLOSE_FAILED
        else:
            if flow:
                vw[6] += 1
                if vw[6] >= 2:
                    state = switching.WELDED
                elif at_end:
                    state = switching.WELDED
            else:
                vw[6] = 0
                if not fb:
                    state = switching.OK
                elif at_end:
                    state = switching.OPEN_FAILED
        if state is None:
            return
        o.vw = None
        o.clearing = False
        o.verdict = (op, state)
        ms = time.ticks_diff(now, vw[7])
        vals = {"feedback": fb, "who": who, "window_ms": ms}
        if meas:
            vals["current_a"] = vw[8] * self.i_upc
        else:
            vals["evidence"] = "feedback"      # no current measurement
        ch = "O%d" % o.n
        if state == switching.OK:
            c = codes.EV_OUTLET_ON if on else codes.EV_OUTLET_OFF
            self.events.emit(c, codes.SEV_INFO, ch, _round(vals, c), "switched")
            return
        code, sev, act = switching.VERDICT_CODES[state]
        vals["commanded"] = on
        vals["state"] = "lockout" if act == "lockout" else o.state
        self._note(ch, state)
        if act == "lockout":
            o.state = LOCKOUT
            o.cause = state
        if o.iw is not None:
            self._end_inrush(o, False)
        self.events.emit(code, sev, ch, _round(vals, code), act)
        seq = self.seq
        if seq is not None and o.n in seq.outlets and not seq.abort:
            seq.abort = "O%d %s" % (o.n, state)

    # --- residual current (called by protection/residual.py) ------------------------------------------
    def rcm_event(self, kind, r, u):
        ma = r.ma(u)
        pk = r.peak * r.a_per_code * 1000.0
        win = r.dur * 1000 // self.fs
        if kind == "transient":
            self.events.emit(codes.EV_RCM_TRANSIENT, codes.SEV_INFO, "N",
                             _round({"peak": pk, "window_ms": r.above * 1000 // self.fs, "value": r.ma(r.max_u),
                                     "limit": r.alarm_ma, "state": "ignored"}), "none")
        elif kind == "alarm":
            self.events.emit(codes.EV_RCM_ALARM, codes.SEV_ALARM, "N",
                             _round({"peak": pk, "window_ms": r.above * 1000 // self.fs, "value": ma,
                                     "limit": r.alarm_ma, "state": "alarm"}), "alarm")
        elif kind == "unlocalised":
            self.events.emit(codes.EV_RCM_ALARM, codes.SEV_ALARM, "N",
                             _round({"peak": pk, "window_ms": win, "value": ma, "limit": r.trip_ma,
                                     "state": "unlocalised", "tried": len(r.tried)}), "alarm")
        elif kind == "clear":
            self.events.emit(codes.EV_RCM_CLEAR, codes.SEV_NOTICE, "N",
                             _round({"peak": pk, "window_ms": win, "value": ma, "limit": r.alarm_ma,
                                     "state": "clear"}), "none")
        elif kind == "isolate":
            n = r.suspect
            o = self.o[n]
            self.outlets.open_now(n, "protection")
            self._note("O%d" % n, "rcm")
            o.state = TRIPPED
            o.cause = "residual"
            o.trips.append(self.clock.ticks_ms())
            if o.iw is not None:
                self._end_inrush(o, False)
            self.events.emit(codes.EV_RCM_ISOLATE, codes.SEV_CRITICAL, "O%d" % n,
                             _round({"peak": pk, "window_ms": r.above_trip * 1000 // self.fs, "value": ma,
                                     "limit": r.trip_ma, "phase": r.phase, "leak_w": r.p_leak,
                                     "state": "latched"}), "isolate")
        elif kind == "latch":
            n = r.suspect
            self.events.emit(codes.EV_RCM_LATCH, codes.SEV_CRITICAL, "O%d" % n,
                             _round({"peak": pk, "window_ms": win, "value": ma, "limit": r.alarm_ma,
                                     "state": "latched", "cause": "residual"}), "latch")

    # --- the slow tick: once a second ---------------------------------------------------------------
    def _slow(self):
        fp = self.fp
        st = fp.st
        s = self.settings
        now = self.clock.ticks_ms()
        for i in range(fp.ne):
            b = i * EW
            wn = st[b + F.E_WN]
            if i < fp.n_out:
                name = fp.outlets[i]
            elif i < fp.n_out + len(fp.branches):
                name = fp.branches[i - fp.n_out]
            else:
                name = fp.phases[i - fp.n_out - len(fp.branches)]
            if wn:
                apc, apx = overcurrent.element_amps(self, name)
                irms = (st[b + F.E_WSUM] * 128.0 / wn * 512.0) ** 0.5 * apx
            else:
                irms = 0.0
            st[b + F.E_WSUM] = 0
            st[b + F.E_WN] = 0
            st[b + F.E_WPK] = 0
            if type(name) is int:
                self.o[name].i_rms = irms
            else:
                el = self.el[name]
                el.i_rms = irms
                if el.tripped and st[b + F.E_R] < 256 and st[b + F.E_ICNT] == 0:
                    el.tripped = False
                    st[b + F.E_EN] = 1
        self._pickups(now)
        self._stalls()
        self._shedding(now)
        self._thermal()
        self._recover(now)

    def _stalls(self):
        """Report groups whose ADC stopped delivering (their outlets are then
        verified by feedback alone and their elements see no data)."""
        acq = self.acq
        fp = self.fp
        for g, k in fp.chip_index.items():
            st = bool(acq.stalled[k])
            if st != self.stalled.get(g, False):
                self.stalled[g] = st
                self.events.emit(codes.EV_PROT_DEGRADED, codes.SEV_ALARM if st else codes.SEV_NOTICE,
                                 "G%d" % g, {"cause": "no current measurement" if st else "measurement back",
                                             "outlets": len(self.outlets.groups.get("G%d" % g, ()))}, "none")

    def _shedding(self, now):
        s = self.settings
        for name, el in self.el.items():
            if el.kind == "inlet" and not self.ade_ips:
                continue
            pre = "inlet" if el.kind == "inlet" else "branch"
            lvl = s[pre + "_pickup_a"] * s[pre + "_shed_pct"] / 100.0
            if el.i_rms > lvl:
                el.over_s += 1
            else:
                el.over_s = 0
                continue
            if el.over_s < s["shed_delay_s"]:
                continue
            if el.last_shed is not None and time.ticks_diff(now, el.last_shed) < s["shed_settle_s"] * 1000:
                continue
            self.shed(name, "sustained", el.i_rms, 0)

    def _thermal(self):
        s = self.settings
        temps = self.temps
        for name, d in self.ntcs.items():
            try:
                temps[name] = d.temperature_c()
            except Exception:
                temps[name] = None
        if not temps:
            return
        fp = self.fp
        for n, o in self.o.items():
            t = temps.get(o.ntc)
            if t is None:
                continue
            rth, t0, t1, r = thermal.params(s, o.kind)
            te = t + thermal.loss_w(o.kind, o.i_rms, o.v_on, r) * rth
            o.t_est = te
            allow = thermal.allowed_a(o.rating, te, t0, t1)
            on = self.outlets.switches[n].commanded
            if on and te >= t1 and o.state == NORMAL:
                self.trip(n, codes.EV_THERMAL_TRIP, "thermal",
                          {"peak": o.i_rms, "window_ms": 1000, "value": te, "limit": t1}, latch=False)
                continue
            if not o.derated:
                if on and te >= t0:
                    o.derated = True
                    o.allow_a = allow
                    self._repickup(o)
                    self.events.emit(codes.EV_DERATE, codes.SEV_WARNING, "O%d" % n,
                                     _round({"peak": o.i_rms, "window_ms": 1000, "value": te, "limit": allow,
                                             "ntc_c": t, "state": "derated"}), "derate")
            elif te < t0 - s["thermal_hyst_c"]:
                o.derated = False
                o.allow_a = o.rating
                self._repickup(o)
                self.events.emit(codes.EV_DERATE_END, codes.SEV_NOTICE, "O%d" % n,
                                 _round({"peak": o.i_rms, "window_ms": 1000, "value": te, "limit": o.rating,
                                         "state": "normal"}), "none")
            elif abs(allow - o.allow_a) > 0.02 * o.rating:
                o.allow_a = allow
                self._repickup(o)

    def _repickup(self, o):
        s = self.settings
        pick = s["outlet_pickup_a"]
        if o.derated and o.allow_a < pick:
            pick = o.allow_a if o.allow_a > 0.5 else 0.5
        o.pickup_a = pick
        fp = self.fp
        b = fp.eidx[o.n] * EW
        ipu, kq, cool = bucket_params(pick, s["outlet_curve_k_s"], s["outlet_cool_s"], self.i_upc * 256, self.fs)
        fp.st[b + F.E_IPU] = ipu

    def _recover(self, now):
        s = self.settings
        win = s["lockout_window_s"] * 1000
        for n, o in self.o.items():
            if o.trips and time.ticks_diff(now, o.trips[0]) >= win:
                o.trips = [t for t in o.trips if time.ticks_diff(now, t) < win]
                if not o.trips:
                    o.retries = 0
            if o.state != COOLDOWN or o.retries >= s["retry_max"]:
                continue
            if o.cause not in ("overload", "derated", "thermal"):
                continue
            if time.ticks_diff(now, o.cool_until) < 0:
                continue
            if o.cause == "thermal" and o.t_est is not None and \
                    o.t_est >= thermal.params(s, o.kind)[1] - s["thermal_hyst_c"]:
                continue
            o.retries += 1
            self.events.emit(codes.EV_RETRY, codes.SEV_NOTICE, "O%d" % n,
                             {"attempt": o.retries, "limit": s["retry_max"], "cause": o.cause,
                              "state": "cooldown"}, "retry")
            asyncio.create_task(self.outlets.set(n, True, "auto-retry"))

    # --- recovery ------------------------------------------------------------------------------------
    def reset(self, n, who, reason=""):
        """Operator reset of a tripped/locked-out/cooled-down/shed outlet: audited.
        Refused while current flows through an outlet commanded open (welded).
        Returns True when the outlet may be switched on again."""
        o = self.o[n]
        fp = self.fp
        b = fp.eidx[n] * EW
        what = "reset O%d %s (%s)%s" % (n, o.state, o.cause, (": " + reason) if reason else "")
        sw = self.outlets.switches[n]
        if o.state == NORMAL:
            self.audit.log("command", who, what + ": nothing to reset", "ok")
            return True
        why = None
        if o.vw is not None:
            why = "verification pending"
        elif o.state == LOCKOUT and o.cause in (switching.WELDED, switching.OPEN_FAILED, switching.UNKNOWN):
            if fp.st[b + F.E_FLOWN] >= 3 and not sw.commanded:
                why = "current flows"
            elif sw.feedback() and not sw.commanded:
                why = "contacts closed"
        if why is not None:
            self.audit.log("command", who, "%s: refused, %s" % (what, why), "refused")
            self.events.emit(codes.EV_PROT_RESET, codes.SEV_WARNING, "O%d" % n,
                             {"who": who, "state": o.state, "cause": o.cause, "result": "refused: " + why},
                             "refused")
            return False
        aseq = self.audit.log("command", who, what, "ok")
        before = o.state
        o.state = NORMAL
        cause = o.cause
        o.cause = None
        o.trips = []
        o.retries = 0
        o.refused_ms = None
        o.suppressed = 0
        fp.st[b + F.E_ACC] = 0
        self.events.emit(codes.EV_PROT_RESET, codes.SEV_NOTICE, "O%d" % n,
                         {"who": who, "state": before, "cause": cause, "audit": aseq, "result": "ok"}, "reset")
        return True

    def status(self, n):
        o = self.o[n]
        fp = self.fp
        b = fp.eidx[n] * EW
        return {"state": o.state, "cause": o.cause, "derated": o.derated, "allow_a": o.allow_a,
                "t_est": o.t_est, "i_rms": o.i_rms, "bucket_pct": fp.st[b + F.E_ACC] * 100.0 / fp.st[b + F.E_KQ],
                "trips": len(o.trips), "retries": o.retries}


def _round(vals, code=None):
    """Values for the log: floats rounded; values outside the code's numeric
    schema (kept as "k=v" text in the FRAM record) as compact text."""
    nums = codes.EVENT_VALUES.get(code, codes.DEFAULT_VALUES)[0] if code is not None \
        else codes.DEFAULT_VALUES[0]
    named = [k for k, t in nums]
    out = {}
    for k, v in vals.items():
        if type(v) is float:
            v = round(v, 3) if k in named else "%.4g" % v
        out[k] = v
    return out

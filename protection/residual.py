# Residual current monitoring: r = IA + IB + IC - IN sample by sample on the
# inlet ADE9000 (one chip: the four currents are simultaneous), staged
#
#   ALARM    r above rcm_alarm_ma for rcm_alarm_ms             -> event, trend
#   ISOLATE  r above rcm_trip_ma continuously for rcm_trip_ms  -> open the suspect outlet
#   LATCH    r back below the alarm level rcm_verify_ms later  -> the suspect is
#            confirmed and stays latched (audited reset); otherwise the next
#            suspect is isolated (at most 3), then "unlocalised" (alarm only)
#
# Switching edges (capacitive currents of EMI filters, a load's inrush seen
# through CT mismatch) are short: an excursion that ends before rcm_alarm_ms
# is logged as a transient and nothing is done.
#
# Localisation: a leak to earth is in phase with its outlet's voltage and is
# counted in that outlet's CT (phase conductor) but not in N. So (1) the
# leaking phase is the one whose voltage the residual correlates with
# (mean r*v per phase, V x I_leak on the leaking phase, -V I_leak / 2 on the
# others) and (2) the leaking outlet is the one on that phase whose in-phase
# power rose by that same V x I_leak when the residual appeared (the fast path
# keeps a baseline of every outlet's mean v*i; it is frozen when the episode
# starts).
from core import codes
from protection.fastpath import E_VIB, EW, R_SQ, R_N, R_PK, R_P1
from protection.logvalues import rounded

IDLE = 0
EPISODE = 1
VERIFY = 2
MAX_TRIES = 3
PHASES = ("L1", "L2", "L3")


class Residual:
    """The residual-current element: its stages, localisation and events;
    isolating an outlet is the engine's (Protection.isolate)."""

    def __init__(self, eng):
        self.eng = eng
        self.state = IDLE
        self.enabled = False
        self.alarm_units = 0x7FFFFFFF
        self.trip_units = 0x7FFFFFFF
        self.alarm_samples = 0
        self.trip_samples = 0
        self.verify_samples = 0
        self.alarm_ma = 0.0
        self.trip_ma = 0.0
        self.fs = 1
        self.amps_per_code = 1.0  # of the residual's codes
        self.amps_per_rr = 1.0    # of its reduced codes (>> 3)
        self.watts_per_p = 1.0    # of the fast path's r*v sums per sample
        self.vi_baseline = None   # outlets' in-phase power baselines frozen at the episode's start
        self.leak_w = 0.0         # V x I_leak of the suspect phase
        self.phase = None
        self._reset_episode()

    def _reset_episode(self):
        self.samples = 0          # samples since the episode began
        self.above_alarm = 0      # samples above the alarm level (this episode)
        self.above_trip = 0       # consecutive samples above the trip level
        self.below = 0            # consecutive samples below the alarm level
        self.max_units = 0
        self.peak = 0
        self.alarmed = False
        self.unlocalised = False
        self.tried = []           # outlets isolated in this episode
        self.suspect = None
        self.verify_left = 0

    def configure(self, s, i_per_sample, v_per_sample, fs, n_out):
        self.enabled = bool(s["rcm_enable"])
        self.amps_per_rr = 8.0 * i_per_sample
        self.amps_per_code = i_per_sample
        self.watts_per_p = 512.0 * self.amps_per_rr * 4096.0 * v_per_sample
        self.alarm_units = self._units(s["rcm_alarm_ma"])
        self.trip_units = self._units(s["rcm_trip_ma"])
        self.alarm_samples = s["rcm_alarm_ms"] * fs // 1000
        self.trip_samples = s["rcm_trip_ms"] * fs // 1000
        self.verify_samples = s["rcm_verify_ms"] * fs // 1000
        self.alarm_ma = s["rcm_alarm_ma"]
        self.trip_ma = s["rcm_trip_ma"]
        self.fs = fs
        if self.vi_baseline is None:
            from array import array
            self.vi_baseline = array("i", bytes(4 * n_out))

    def _units(self, ma):
        x = ma / 1000.0 / self.amps_per_rr
        u = int(x * x / 512.0)
        return u if u > 0 else 1

    def ma(self, u):
        return (u * 512.0) ** 0.5 * self.amps_per_rr * 1000.0

    def poll(self, rs):
        """Once per poll, integers only until something happens."""
        n = rs[R_N]
        if n == 0 or not self.enabled:
            return
        u = rs[R_SQ] // n
        st = self.state
        if st == IDLE:
            if u < self.alarm_units:
                return
            self._reset_episode()
            self.state = EPISODE
            self._freeze()
            st = EPISODE
        self.samples += n
        if u > self.max_units:
            self.max_units = u
        if rs[R_PK] > self.peak:
            self.peak = rs[R_PK]
        if u >= self.alarm_units:
            self.above_alarm += n
            self.below = 0
        else:
            self.below += n
        if u >= self.trip_units:
            self.above_trip += n
        else:
            self.above_trip = 0
        if st == VERIFY:
            self.verify_left -= n
            if self.verify_left <= 0:
                self._verified(u)
            return
        if not self.alarmed and self.above_alarm >= self.alarm_samples:
            self.alarmed = True
            v = self._vals(self._ms(self.above_alarm), self.ma(u), self.alarm_ma)
            v["state"] = "alarm"
            self._emit(codes.EV_RCM_ALARM, codes.SEV_ALARM, "N", v, "alarm")
        if self.above_trip >= self.trip_samples and not self.unlocalised:
            self._isolate(rs, u)
            return
        if self.below >= 2 * n and u < self.alarm_units:
            # the excursion is over
            if self.alarmed:
                v = self._vals(self._ms(self.samples), self.ma(u), self.alarm_ma)
                v["state"] = "clear"
                self._emit(codes.EV_RCM_CLEAR, codes.SEV_NOTICE, "N", v, "none")
            else:
                v = self._vals(self._ms(self.above_alarm), self.ma(self.max_units), self.alarm_ma)
                v["state"] = "ignored"
                self._emit(codes.EV_RCM_TRANSIENT, codes.SEV_INFO, "N", v, "none")
            self.state = IDLE

    def _ms(self, samples):
        return samples * 1000 // self.fs

    def _vals(self, window_ms, value, limit):
        return {"peak": self.peak * self.amps_per_code * 1000.0, "window_ms": window_ms, "value": value,
                "limit": limit}

    def _emit(self, code, sev, channel, vals, action):
        self.eng.events.emit(code, sev, channel, rounded(vals), action)

    def _unlocalised(self, u):
        self.unlocalised = True
        v = self._vals(self._ms(self.samples), self.ma(u), self.trip_ma)
        v["state"] = "unlocalised"
        v["tried"] = len(self.tried)
        self._emit(codes.EV_RCM_ALARM, codes.SEV_ALARM, "N", v, "alarm")

    def _freeze(self):
        st = self.eng.fastpath.blocks
        v = self.vi_baseline
        for i in range(len(v)):
            v[i] = st[i * EW + E_VIB]

    def _isolate(self, rs, u):
        k = self.localise(rs)
        if k is None:
            self._unlocalised(u)
            return
        self.suspect = k
        self.tried.append(k)
        self.state = VERIFY
        self.verify_left = self.verify_samples
        self.eng.isolate(k)
        v = self._vals(self._ms(self.above_trip), self.ma(u), self.trip_ma)
        v["phase"] = self.phase
        v["leak_w"] = self.leak_w
        v["state"] = "latched"
        self._emit(codes.EV_RCM_ISOLATE, codes.SEV_CRITICAL, "O%d" % k, v, "isolate")

    def _verified(self, u):
        if u < self.alarm_units:
            v = self._vals(self._ms(self.samples), self.ma(u), self.alarm_ma)
            v["state"] = "latched"
            v["cause"] = "residual"
            self._emit(codes.EV_RCM_LATCH, codes.SEV_CRITICAL, "O%d" % self.suspect, v, "latch")
            self.state = IDLE
            return
        # the residual stayed: not (only) this outlet
        self.state = EPISODE
        self.above_trip = 0
        if len(self.tried) >= MAX_TRIES:
            self._unlocalised(u)

    def localise(self, rs):
        """The suspect outlet (number) or None."""
        eng = self.eng
        n = rs[R_N]
        ph = 0
        lp = 0.0
        for p in range(3):
            w = rs[R_P1 + p] / n * self.watts_per_p if n else 0.0
            if p == 0 or w > lp:
                ph = p
                lp = w
        if lp <= 0:
            return None
        pname = PHASES[ph]
        fp = eng.fastpath
        st = fp.blocks
        best = None
        berr = None
        for i in range(fp.n_outlets):
            k = fp.outlets[i]
            if k in self.tried or eng.desc.OUTLETS[k]["phase"] != pname:
                continue
            if not eng.outlets.switches[k].commanded:
                continue
            d = (st[i * EW + E_VIB] - self.vi_baseline[i]) / 16.0 * eng.watts_per_vi
            err = abs(d - lp)
            if err <= 0.5 * lp + 2.0 and (berr is None or err < berr):
                best = k
                berr = err
        self.leak_w = lp
        self.phase = pname
        return best

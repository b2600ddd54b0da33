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
from protection.fastpath import (EW, E_VIB, R_SQ, R_N, R_PK, R_P1)

IDLE = 0
EPISODE = 1
VERIFY = 2
MAX_TRIES = 3


class Residual:
    def __init__(self, eng):
        self.eng = eng
        self.state = IDLE
        self.enabled = False
        self.alarm_u = 0x7FFFFFFF
        self.trip_u = 0x7FFFFFFF
        self.alarm_n = 0
        self.trip_n = 0
        self.verify_n = 0
        self.a_per_rr = 1.0
        self.w_per_p = 1.0
        self.vib0 = None
        self._reset_episode()

    def _reset_episode(self):
        self.dur = 0          # samples since the episode began
        self.above = 0        # samples above the alarm level (this episode)
        self.above_trip = 0   # consecutive samples above the trip level
        self.below = 0        # consecutive samples below the alarm level
        self.max_u = 0
        self.peak = 0
        self.alarmed = False
        self.unlocalised = False
        self.tried = []
        self.suspect = None
        self.vleft = 0

    def configure(self, s, i_per_sample, v_per_sample, fs, n_out):
        self.enabled = bool(s["rcm_enable"])
        self.a_per_rr = 8.0 * i_per_sample
        self.a_per_code = i_per_sample
        self.w_per_p = 512.0 * self.a_per_rr * 4096.0 * v_per_sample
        self.alarm_u = self._units(s["rcm_alarm_ma"])
        self.trip_u = self._units(s["rcm_trip_ma"])
        self.alarm_n = s["rcm_alarm_ms"] * fs // 1000
        self.trip_n = s["rcm_trip_ms"] * fs // 1000
        self.verify_n = s["rcm_verify_ms"] * fs // 1000
        self.alarm_ma = s["rcm_alarm_ma"]
        self.trip_ma = s["rcm_trip_ma"]
        self.fs = fs
        if self.vib0 is None:
            from array import array
            self.vib0 = array("i", bytes(4 * n_out))

    def _units(self, ma):
        x = ma / 1000.0 / self.a_per_rr
        u = int(x * x / 512.0)
        return u if u > 0 else 1

    def ma(self, u):
        return (u * 512.0) ** 0.5 * self.a_per_rr * 1000.0

    def poll(self, rs):
        """Once per poll, integers only until something happens."""
        n = rs[R_N]
        if n == 0 or not self.enabled:
            return
        u = rs[R_SQ] // n
        st = self.state
        if st == IDLE:
            if u < self.alarm_u:
                return
            self._reset_episode()
            self.state = EPISODE
            self.t0 = self.eng.clock.ticks_ms()
            self._freeze()
            st = EPISODE
        self.dur += n
        if u > self.max_u:
            self.max_u = u
        if rs[R_PK] > self.peak:
            self.peak = rs[R_PK]
        if u >= self.alarm_u:
            self.above += n
            self.below = 0
        else:
            self.below += n
        if u >= self.trip_u:
            self.above_trip += n
        else:
            self.above_trip = 0
        if st == VERIFY:
            self.vleft -= n
            if self.vleft <= 0:
                self._verified(u)
            return
        if not self.alarmed and self.above >= self.alarm_n:
            self.alarmed = True
            self.eng.rcm_event("alarm", self, u)
        if self.above_trip >= self.trip_n and not self.unlocalised:
            self._isolate(rs, u)
            return
        if self.below >= 2 * n and u < self.alarm_u:
            # the excursion is over
            self.eng.rcm_event("clear" if self.alarmed else "transient", self, u)
            self.state = IDLE

    def _freeze(self):
        st = self.eng.fp.st
        v = self.vib0
        for i in range(len(v)):
            v[i] = st[i * EW + E_VIB]

    def _isolate(self, rs, u):
        k = self.localise(rs)
        if k is None:
            self.unlocalised = True
            self.eng.rcm_event("unlocalised", self, u)
            return
        self.suspect = k
        self.tried.append(k)
        self.state = VERIFY
        self.vleft = self.verify_n
        self.eng.rcm_event("isolate", self, u)

    def _verified(self, u):
        if u < self.alarm_u:
            self.eng.rcm_event("latch", self, u)
            self.state = IDLE
            return
        # the residual stayed: not (only) this outlet
        self.state = EPISODE
        self.above_trip = 0
        if len(self.tried) >= MAX_TRIES:
            self.unlocalised = True
            self.eng.rcm_event("unlocalised", self, u)

    def leak_by_phase(self, rs):
        n = rs[R_N]
        out = []
        for p in range(3):
            out.append(rs[R_P1 + p] / n * self.w_per_p if n else 0.0)
        return out

    def localise(self, rs):
        """The suspect outlet (number) or None."""
        eng = self.eng
        lp = self.leak_by_phase(rs)
        ph = 0
        for p in (1, 2):
            if lp[p] > lp[ph]:
                ph = p
        p_leak = lp[ph]
        if p_leak <= 0:
            return None
        pname = ("L1", "L2", "L3")[ph]
        fp = eng.fp
        st = fp.st
        best = None
        berr = None
        for i in range(fp.n_out):
            n = fp.outlets[i]
            if n in self.tried or eng.desc.OUTLETS[n]["phase"] != pname:
                continue
            if not eng.outlets.switches[n].commanded:
                continue
            d = (st[i * EW + E_VIB] - self.vib0[i]) / 16.0 * eng.w_per_vi
            err = abs(d - p_leak)
            if err <= 0.5 * p_leak + 2.0 and (berr is None or err < berr):
                best = n
                berr = err
        self.p_leak = p_leak
        self.phase = pname
        return best

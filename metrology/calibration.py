# Factory calibration: gain, phase (sub-sample delay) and offset per channel
# from a known reference applied by the fixture (or the plant).
#
#   cal = Calibrator(metro, reference, fixture="rig-7", windows=10, calstore=cs)
#   cal.start()                  # then keep the acquisition running
#   ... cal.done -> cal.report() # {"version", "utc_ms", "fixture", "coeffs", "crc", ...}
#
# reference: {board channel: value}. AC: a voltage channel -> rms V; a current
# channel -> [rms A, phase_deg], the reference current's lag behind its unit's
# voltage (0 for a resistive reference load). DC: V or A (the level), and
# "_zero": N to start with N windows of zero input (offsets).
# Channels not in the reference keep their present coefficients.
#
# Stages, each averaging `windows` 10/12-cycle windows per unit after
# `settle` windows for the new coefficients to take hold:
#   1 identity coefficients: offset = mean raw code (AC: the mean of whole
#     cycles of a sine is the offset; DC: the "_zero" windows), and each
#     current's phase error = measured lag - reference lag (degrees, scaled
#     to f_nom: it is a delay, stored as degrees at f_nom);
#   2 offsets and delays applied, gain 1: gain = reference / measured (rms;
#     DC: reference / offset-corrected mean). Measuring gains after the delays
#     absorbs the delay filter's tiny attenuation;
#   3 everything applied: residual errors against the reference (report).
# The result is stored through firmware/calstore.CalStore when one is given
# (it adds version, timestamp, fixture id, CRC and keeps the previous set);
# without one the same fields are returned in a dict with a CRC-16/CCITT
# over its canonical text and applied to the metrology directly.
import math
from metrology.windows import KIND_WIN
from metrology import cycle as CY


def canonical(coeffs):
    """Stable text of a coefficient set (sorted, fixed formatting) for the CRC."""
    parts = []
    for nm in sorted(coeffs):
        g, off, ph = coeffs[nm]
        parts.append("%s:%.7g:%.7g:%.7g" % (nm, g, off, ph))
    return ";".join(parts)


def crc16(data):
    from drivers.crc import crc16_ccitt
    b = data.encode() if type(data) is str else data
    return crc16_ccitt(b, 0, len(b))


class _Target:
    """A referenced channel: its unit, channel index and board name, and what a
    stage has summed over its windows (rms, mean, the fundamental relative to
    the unit's voltage phasor, frequency)."""

    def __init__(self, unit, c, name):
        self.unit = unit
        self.c = c
        self.name = name
        self.clear()

    def clear(self):
        self.rms = 0.0
        self.mean = 0.0
        self.re = 0.0           # I * conj(V) / |V|: its angle is the current's lead
        self.im = 0.0
        self.f_hz = 0.0


class Calibrator:
    def __init__(self, metro, reference, *, fixture="", windows=10, settle=2, calstore=None, dc=None,
                 who="factory"):
        self.metro = metro
        self.ref = dict(reference)
        self.zero_windows = int(self.ref.pop("_zero", 0))
        self.fixture = fixture
        self.windows = windows
        self.settle = settle
        self.calstore = calstore
        self.dc = metro.dc if dc is None else dc
        self.who = who
        self.done = False
        self.stage = 0
        self.result = None
        self.version = 0
        self.residual = {}
        self.targets = []              # _Target per referenced channel
        self.units = []
        for u in metro.units:
            used = False
            for c in range(u.nch):
                nm = u.names[c]            # None for derived channels (branch sums, copies)
                if nm is not None and nm in self.ref:
                    self.targets.append(_Target(u, c, nm))
                    used = True
            if used:
                self.units.append(u)
        missing = [nm for nm in self.ref if nm not in [t.name for t in self.targets]]
        if missing:
            raise ValueError("calibration: no such channel measured: %s" % ",".join(missing))

    # --- driving -----------------------------------------------------------------------
    def start(self):
        m = self.metro
        self.saved = dict(m.cal)
        self.saved_version = m.cal_version
        self.offs = {}
        self.phase = {}
        self.gain = {}
        for u in self.units:
            u.listeners.append(self._on_window)
        self._stage(1)

    def _apply(self, with_offsets, with_phases, with_gains):
        coeffs = {}
        for t in self.targets:
            nm = t.name
            coeffs[nm] = (self.gain.get(nm, 1.0) if with_gains else 1.0,
                          self.offs.get(nm, 0.0) if with_offsets else 0.0,
                          self.phase.get(nm, 0.0) if with_phases else 0.0)
        for nm, v in self.saved.items():
            if nm not in coeffs:
                coeffs[nm] = v
        self.metro.set_coefficients(coeffs, mark=False)
        return coeffs

    def _stage(self, k):
        self.stage = k
        for t in self.targets:
            t.clear()
        self.count = {}
        for u in self.units:
            self.count[u] = -self.settle
        if k == 1:
            self._apply(False, False, False)
        elif k == 2:
            self._apply(True, True, False)
        elif k == 3:
            self._apply(True, True, True)

    def _need(self):
        if self.stage == 1 and self.zero_windows:
            return self.zero_windows
        return self.windows

    def _on_window(self, u, kind):
        if kind != KIND_WIN or self.done or u not in self.count:
            return
        n = self.count[u]
        self.count[u] = n + 1
        if n < 0 or n >= self._need():
            return
        res = u.wres
        RN = CY.R_N
        vre = res[CY.R_RE]
        vim = res[CY.R_IM]
        vmag = math.sqrt(vre * vre + vim * vim)
        for t in self.targets:
            if t.unit is not u:
                continue
            o = RN * t.c
            t.rms += res[o + CY.R_RMS]
            t.mean += res[o + CY.R_MEAN]
            if t.c and vmag > 0:
                ire = res[o + CY.R_RE]
                iim = res[o + CY.R_IM]
                t.re += (ire * vre + iim * vim) / vmag
                t.im += (iim * vre - ire * vim) / vmag
            t.f_hz += u.w_f_hz
        if all(self.count[x] >= self._need() for x in self.units):
            self._finish_stage()

    def _finish_stage(self):
        n = float(self._need())
        m = self.metro
        f_nom = m.f_nom
        if self.stage == 1:
            for t in self.targets:
                nm = t.name
                # identity: R_MEAN = mean raw code * units per raw code
                mean_raw = t.mean / n / t.unit.upc(t.c)
                if self.dc:
                    self.offs[nm] = mean_raw if self.zero_windows else 0.0
                else:
                    self.offs[nm] = mean_raw
                    if t.c:
                        f = t.f_hz / n
                        lead = math.atan2(t.im, t.re)
                        ref = self.ref[nm]
                        lag_ref = math.radians(ref[1]) if type(ref) in (list, tuple) else 0.0
                        err = -lead - lag_ref            # measured lag - reference lag (rad at f)
                        while err > math.pi:
                            err -= 2 * math.pi
                        while err < -math.pi:
                            err += 2 * math.pi
                        if f <= 0:
                            f = f_nom
                        self.phase[nm] = math.degrees(err) * f_nom / f
            self._stage(2)
        elif self.stage == 2:
            for t in self.targets:
                rv, meas = self._level(t, n)
                self.gain[t.name] = rv / meas if meas else 1.0
            self._stage(3)
        else:
            for t in self.targets:
                rv, meas = self._level(t, n)
                self.residual[t.name] = (meas - rv) / rv if rv else 0.0
            self._store()

    def _level(self, t, n):
        # the reference level of a target and the stage's mean measurement of
        # it: rms (AC) or offset-corrected mean (DC)
        ref = self.ref[t.name]
        rv = float(ref[0]) if type(ref) in (list, tuple) else float(ref)
        return rv, (t.mean if self.dc else t.rms) / n

    def _store(self):
        coeffs = self._apply(True, True, True)
        cal_only = {}
        for t in self.targets:
            cal_only[t.name] = coeffs[t.name]
        for nm, v in self.saved.items():
            if nm not in cal_only:
                cal_only[nm] = v
        m = self.metro
        clk = m.clock
        utc = clk.utc_ms() if clk is not None else 0
        cs = self.calstore
        if cs is not None:
            self.version = cs.save(cal_only, fixture=self.fixture, who=self.who)
            cur = cs.current
        else:
            self.version = self.saved_version + 1
            cur = {"version": self.version, "utc_ms": utc, "fixture": self.fixture, "coeffs": cal_only,
                   "time_valid": clk.time_valid if clk is not None else False}
        m.load_calibration(cur)
        self.result = cur
        for u in self.units:
            try:
                u.listeners.remove(self._on_window)
            except ValueError:
                pass
        self.done = True

    def report(self):
        r = self.result or {}
        coeffs = r.get("coeffs", {})
        out = {"version": self.version, "fixture": self.fixture, "utc_ms": r.get("utc_ms", 0),
               "coeffs": dict((k, list(v)) for k, v in coeffs.items()),
               "crc": crc16(canonical(coeffs)), "windows": self.windows,
               "residual": self.residual, "stored": self.calstore is not None}
        return out


def verify_set(s):
    """True if a dict produced by Calibrator.report() (or read back) has a matching CRC."""
    coeffs = dict((k, tuple(v)) for k, v in s["coeffs"].items())
    return crc16(canonical(coeffs)) == s["crc"]

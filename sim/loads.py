# Load models for the simulated plant: plain data plus the harmonic content
# the plant turns into wavetables (sample mode) and phasors (cycle mode).
#
# A load's current shape is a list of harmonics (h, a, phi) meaning
#     i(theta) / irms = sum a * sin(h*theta + phi)       (theta: its phase voltage angle)
# normalised to rms 1 (sum a^2/2 == 1), so the plant scales it by the rms current.
# "resistive" has no shape of its own: it follows the voltage waveform (harmonics
# included) and the plant fills it in.
#
# Kinds (JSON: {"kind": ..., "irms": A} or {"kind": ..., "power": W}):
#   resistive  PF 1, current follows voltage (I ~ V), no inrush
#   psu        server PSU with active PFC: PF ~0.998, THD ~4.4 %, 3 deg lead; constant
#              power; capacitor inrush 40 A peak, tau 2 ms
#   smps       capacitor-input rectifier, no PFC: current pulses of ~50 deg around
#              the voltage peaks (cos^2 bump centred 12 deg before the peak) on a
#              10 % in-phase pedestal: crest ~2.98, THD ~98 %, PF ~0.71; constant
#              power; inrush 30 A peak, tau 1.5 ms
#   motor/fan  inductive, PF 0.8 lag, 4 % 3rd + 2 % 5th; I ~ V; start current 5x
#              for 0.2 s then decaying with tau 50 ms
#   idle       a switched-off PSU/appliance: tens of mA, capacitive (70 deg lead)
#              with some 3rd/5th; I ~ V
#   custom     "harmonics": [[h, percent_of_fundamental, phase_deg], ...]
# Optional keys for every kind: inrush_a (peak A, 0 = none), inrush_tau_ms,
# start_factor, start_s, start_tau_ms (motor-style start current), pf (motor: its
# displacement PF), noise (fraction of rms: uniform white load noise, default 0.02 %).
import math

V_NOM = 230.0
H_MAX = 39          # harmonic content is band-limited to h <= 39 (< 2 kHz at 50 Hz)

KINDS = ("resistive", "psu", "smps", "motor", "idle", "custom")
ALIASES = {"fan": "motor", "heater": "resistive", "r": "resistive", "pfc": "psu",
           "server": "psu", "nopfc": "smps", "standby": "idle"}

# voltage scaling laws: the rms current at vr = V/V_nom is irms * scale(vr)
CONST_Z = 0        # I ~ V (resistive, capacitive, motor approximated)
CONST_P = 1        # I ~ 1/V down to 0.7 V_nom, then falling linearly to 0 at 0 V

_cache = {}


def _deg(x):
    return x * math.pi / 180.0


def normalise(harm):
    """Scale a harmonic list [(h, a, phi)] to rms 1."""
    ms = 0.0
    for h, a, p in harm:
        ms += a * a / 2.0
    k = 1.0 / math.sqrt(ms) if ms > 0 else 0.0
    return [(h, a * k, p) for h, a, p in harm]


def from_percent(spec):
    """[(h, percent_of_fundamental, phase_deg)] -> [(h, a, phi)] normalised to rms 1."""
    out = []
    for h, pct, deg in spec:
        out.append((int(h), pct / 100.0, _deg(deg)))
    return normalise(out)


def smps_harmonics(width_deg=50.0, centre_deg=78.0, pedestal=0.10):
    """Fourier series of the capacitor-input rectifier current: a cos^2 pulse of
    width_deg centred at centre_deg (and its negative half-cycle image) plus a
    pedestal * sin(theta). Odd harmonics up to H_MAX, normalised to rms 1."""
    key = ("smps", width_deg, centre_deg, pedestal)
    r = _cache.get(key)
    if r is not None:
        return r
    m = 720
    w = _deg(width_deg)
    c = _deg(centre_deg)
    # one half-cycle is enough: the wave is half-wave antisymmetric (odd harmonics only)
    xs = []
    for j in range(m):
        th = math.pi * j / m
        d = th - c
        y = pedestal * math.sin(th)
        if -w / 2 < d < w / 2:
            y += math.cos(math.pi * d / w) ** 2
        xs.append(y)
    harm = []
    for h in range(1, H_MAX + 1, 2):
        sa = 0.0
        ca = 0.0
        for j in range(m):
            th = math.pi * j / m
            sa += xs[j] * math.sin(h * th)
            ca += xs[j] * math.cos(h * th)
        # (1/pi) * integral over a full cycle = (2/pi) * half-cycle integral (odd h)
        sa *= 2.0 / m
        ca *= 2.0 / m
        harm.append((h, math.sqrt(sa * sa + ca * ca), math.atan2(ca, sa)))
    r = normalise(harm)
    _cache[key] = r
    return r


class Load:
    """One plugged-in load. irms is its rms current at nominal voltage (or give
    power in W and it is derived from the shape's power factor)."""

    def __init__(self, kind, irms=None, power=None, vnom=V_NOM, **p):
        kind = ALIASES.get(kind, kind)
        if kind not in KINDS:
            raise ValueError("load: unknown kind %r" % (kind,))
        self.kind = kind
        self.params = p
        self.inrush_a = 0.0
        self.inrush_tau_s = 0.002
        self.start_factor = 1.0
        self.start_s = 0.0
        self.start_tau_s = 0.05
        self.law = CONST_Z
        self.noise = float(p.get("noise", 0.0002))
        if kind == "resistive":
            self.harm = None
        elif kind == "psu":
            lead = p.get("lead_deg", 3.0)
            self.harm = from_percent([(1, 100, lead), (3, 3.0, 180), (5, 2.5, 0), (7, 1.5, 180),
                                      (9, 1.0, 0), (11, 0.8, 180), (13, 0.5, 0)])
            self.law = CONST_P
            self.inrush_a = 40.0
            self.inrush_tau_s = 0.002
        elif kind == "smps":
            self.harm = smps_harmonics(p.get("width_deg", 50.0), p.get("centre_deg", 78.0),
                                       p.get("pedestal", 0.10))
            self.law = CONST_P
            self.inrush_a = 30.0
            self.inrush_tau_s = 0.0015
        elif kind == "motor":
            pf = p.get("pf", 0.8)
            lag = math.acos(pf) * 180.0 / math.pi
            self.harm = from_percent([(1, 100, -lag), (3, 4.0, -3 * lag), (5, 2.0, -5 * lag)])
            self.start_factor = 5.0
            self.start_s = 0.2
            self.start_tau_s = 0.05
        elif kind == "idle":
            if irms is None and power is None:
                irms = 0.03
            self.harm = from_percent([(1, 100, 70.0), (3, 20.0, 0.0), (5, 8.0, 0.0)])
        else:
            spec = p.get("harmonics")
            if not spec:
                raise ValueError("load: custom needs harmonics [[h, pct, deg], ...]")
            self.harm = from_percent([tuple(x) for x in spec])
        if "inrush_a" in p:
            self.inrush_a = float(p["inrush_a"])
        if "inrush_tau_ms" in p:
            self.inrush_tau_s = p["inrush_tau_ms"] / 1000.0
        if "start_factor" in p:
            self.start_factor = float(p["start_factor"])
        if "start_s" in p:
            self.start_s = float(p["start_s"])
        if "start_tau_ms" in p:
            self.start_tau_s = p["start_tau_ms"] / 1000.0
        if irms is None:
            if power is None:
                raise ValueError("load: %s needs irms or power" % kind)
            irms = float(power) / (vnom * self.pf())
        self.irms = float(irms)
        if self.irms < 0:
            raise ValueError("load: irms must be >= 0")

    def pf(self):
        """True power factor on a sinusoidal nominal voltage."""
        if self.harm is None:
            return 1.0
        for h, a, p in self.harm:
            if h == 1:
                return a * math.cos(p) / math.sqrt(2.0)
        return 0.0

    def scale(self, vr):
        """rms current factor at voltage ratio vr = V / V_nom."""
        if self.law == CONST_Z:
            return vr
        if vr >= 0.7:
            return 1.0 / vr
        return vr / 0.49 if vr > 0 else 0.0

    def to_dict(self):
        d = {"kind": self.kind, "irms": self.irms}
        d.update(self.params)
        return d

    def __repr__(self):
        return "Load(%s, %.3f A)" % (self.kind, self.irms)


def make(spec, vnom=V_NOM):
    """A Load from a Load, or a JSON-style dict {"kind": .., "irms"|"power": ..}."""
    if isinstance(spec, Load):
        return spec
    if isinstance(spec, str):
        raise ValueError("load: give {'kind': %r, 'irms': A}" % spec)
    d = dict(spec)
    kind = d.pop("kind", None)
    if kind is None:
        raise ValueError("load: missing 'kind'")
    return Load(kind, vnom=vnom, **d)

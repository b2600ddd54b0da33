"""Ideal waveforms and their reference measurements (CPython/NumPy), shared by
the metrology tests.

A signal is described analytically -- harmonic phasors, optionally an
amplitude envelope -- so the references come from the IDEAL waveform
(closed forms, or dense numerical integration for modulated ones), never
from the firmware's formulas. Fixtures are the ideal signal sampled at the
board rate and written as COMTRADE (tools/comtrade.py); the board's twins
quantise it like the chips.

Conventions: phases in degrees; a current's phase `phi` is its lag behind
the voltage fundamental (positive = inductive, Q > 0); harmonic phases are
relative to each signal's own fundamental in the sin(h*w*t + ph) sense.
"""
import math

import numpy as np

FS = 8000


class Signal:
    """sqrt(2) * rms * sum_h rel_h * sin(h*(w*t) + ph_h - h*lag) [* envelope],
    plus a DC term. harm: [(h, rel, ph_deg)] with h=1 rel=1 implied unless
    given; lag_deg: shift of the whole waveform behind the voltage reference
    (for a current: its displacement angle phi)."""

    def __init__(self, rms=0.0, f=50.0, lag_deg=0.0, harm=(), dc=0.0, env=None, t0=0.0):
        self.rms = float(rms)
        self.f = float(f)
        self.lag = math.radians(lag_deg)
        comps = {1: (1.0, 0.0)}
        for h, rel, ph in harm:
            comps[int(h)] = (float(rel), math.radians(ph))
        self.comps = comps
        self.dc = float(dc)
        self.env = env          # callable(t) -> multiplier of the AC part, or None
        self.t0 = t0            # time of the voltage reference's positive zero crossing

    def norm(self):
        return math.sqrt(sum(r * r for r, _ in self.comps.values()))

    def __call__(self, t):
        t = np.asarray(t, dtype=np.float64)
        w = 2 * np.pi * self.f * (t - self.t0)
        a = math.sqrt(2.0) * self.rms / self.norm() if self.rms else 0.0
        x = np.zeros_like(t)
        for h, (rel, ph) in self.comps.items():
            x += a * rel * np.sin(h * (w - self.lag) + ph)
        if self.env is not None:
            x = x * self.env(t)
        return x + self.dc

    def phasors(self):
        """{h: complex rms phasor} (angle vs the voltage reference, sin basis)."""
        a = self.rms / self.norm() if self.rms else 0.0
        return {h: a * rel * complex(math.cos(ph - h * self.lag), math.sin(ph - h * self.lag))
                for h, (rel, ph) in self.comps.items()}


def sample(sig, n, fs=FS, start=0):
    return sig((np.arange(n) + start) / fs)


def ref_ac(v, i):
    """Closed-form references of a voltage/current pair without envelopes."""
    V = v.phasors()
    I = i.phasors()
    vr = math.sqrt(sum(abs(x) ** 2 for x in V.values()) + v.dc ** 2)
    ir = math.sqrt(sum(abs(x) ** 2 for x in I.values()) + i.dc ** 2)
    p = sum((V[h] * I[h].conjugate()).real for h in V if h in I) + v.dc * i.dc
    s1 = V[1] * I[1].conjugate()
    thd_v = math.sqrt(sum(abs(x) ** 2 for h, x in V.items() if h > 1)) / abs(V[1]) if abs(V[1]) else 0.0
    thd_i = math.sqrt(sum(abs(x) ** 2 for h, x in I.items() if h > 1)) / abs(I[1]) if abs(I[1]) else 0.0
    tt = np.arange(200000) / (200000 * v.f)
    pk = float(np.max(np.abs(i(tt + v.t0))))
    return {"vrms": vr, "irms": ir, "p_w": p, "q_var": s1.imag, "s_va": vr * ir,
            "pf": p / (vr * ir) if vr * ir else 0.0, "dpf": s1.real / abs(s1) if abs(s1) else 0.0,
            "thd_v": 100 * thd_v, "thd_i": 100 * thd_i, "f_hz": v.f, "ipeak": pk,
            "crest_i": pk / ir if ir else 0.0,
            "harm_i": {h: abs(x) for h, x in I.items()}, "harm_v": {h: abs(x) for h, x in V.items()}}


def ref_numeric(v, i, t0, t1, n=2000000):
    """Mean power and rms by dense integration of the ideal waveforms over [t0, t1)."""
    t = t0 + (np.arange(n) + 0.5) * (t1 - t0) / n
    vv = v(t)
    ii = i(t)
    return {"vrms": float(np.sqrt(np.mean(vv * vv))), "irms": float(np.sqrt(np.mean(ii * ii))),
            "p_w": float(np.mean(vv * ii)), "v_dc": float(np.mean(vv)), "i_dc": float(np.mean(ii))}


def energy_span(n, f=None, fs=FS, margin_s=0.02):
    """(t_a, t_b) in seconds: the part of an n-sample fixture whose energy the
    firmware credits, from the fixture alone (its length n / fs and the
    frequency f of its voltage, a sine starting at phase 0; f None: DC) and
    the documented rules (docs/metrology.md, "Windows, snapshot, energy"): a
    unit starts at its second positive zero crossing (the first one needs the
    voltage to have been negative: a sine from phase 0 has them at 1/f and
    2/f; DC: after its first 20 ms block), then credits whole seconds, each
    closing at the crossing nearest the next multiple of fs samples (DC:
    exactly there); only seconds that close inside the fixture count. The
    firmware's own record of that span is not used."""
    t_end = n / fs
    if f is None:
        t_a = 0.02

        def close(k):
            return t_a + k
    else:
        t_a = 2.0 / f

        def close(k):
            return round((t_a + k) * f) / f
    k = 0
    while close(k + 1) <= t_end:
        k += 1
    # a fixture whose last second ends (or would end) at its very end is ambiguous
    assert t_end - close(k) > margin_s and close(k + 1) - t_end > margin_s, (t_end, close(k))
    return t_a, close(k)


def fast_envelope(lo, hi, f_mod=1000.0):
    """ETSI ES 202 336-12 4.4.3.5 'fast electric waveform': the load swings from
    min to max and back sinusoidally with a 1 ms period: multiplier of the
    max-load waveform, lo..hi (fractions of max load)."""
    return lambda t: lo + (hi - lo) * 0.5 * (1.0 - np.cos(2 * np.pi * f_mod * np.asarray(t)))


def smps_current(irms, f=50.0, width_deg=50.0, centre_deg=-12.0, pedestal=0.10, nh=39):
    """No-PFC SMPS: cos^2 current pulses of `width_deg` centred `centre_deg`
    from each voltage peak (negative: before), plus an in-phase sine pedestal.
    Returned as a harmonic Signal (h <= nh, odd) normalised to irms."""
    m = 4096
    th = 2 * np.pi * np.arange(m) / m
    x = np.zeros(m)
    for pk_deg, sgn in ((90.0, 1.0), (270.0, -1.0)):
        c = math.radians(pk_deg + centre_deg)
        d = np.angle(np.exp(1j * (th - c)))
        half = math.radians(width_deg) / 2
        x += sgn * np.where(np.abs(d) < half, np.cos(np.pi * d / (2 * half)) ** 2, 0.0)
    x += pedestal * np.sin(th)
    X = np.fft.rfft(x) / m
    harm = []
    a1 = X[1]
    # x = sum 2|X_h| cos(h th + arg X_h) = sum 2|X_h| sin(h th + arg X_h + 90deg)
    ph1 = np.angle(a1) + np.pi / 2
    lag = -math.degrees(ph1)          # fundamental angle vs voltage -> lag of the whole
    for h in range(1, nh + 1, 2):
        rel = abs(X[h]) / abs(a1)
        ph = np.angle(X[h]) + np.pi / 2 - h * ph1
        harm.append((h, rel, math.degrees(ph)))
    return Signal(irms, f, lag_deg=lag, harm=harm)


def write_fixture(path_base, channels, fs=FS, fmt="BINARY32"):
    """channels: {board channel name: float samples (V/A)} -> (cfg, dat)."""
    from tools import comtrade
    items = []
    for name, x in channels.items():
        items.append((name, "V" if name.endswith("-V") else "A", np.asarray(x, dtype=np.float64)))
    return comtrade.write(path_base, "metrology-test", items, fs=fs, fmt=fmt)


# --- board-level cases -----------------------------------------------------------
OUTLET_A = 16.0          # outlet rating (sim24 RATINGS outlet_a): "100 % load"
INLET_A = 32.0


def group_of(outlet):
    return (outlet + 2) // 3


def run_meter(cfg, *args, timeout=240):
    """Run tools.meter's MicroPython side on a fixture; returns parsed JSON lines."""
    from tests.mputil import run_mp_json
    return run_mp_json(code=None, script="sim/meter_run.py", args=[cfg, "--compact"] + list(args),
                       timeout=timeout, heap="32M")


def frames(out, kind=None, t_min=0.0):
    return [o for o in out if "kind" in o and (kind is None or o["kind"] == kind) and o["t_s"] >= t_min]


class Checker:
    """Collects deviations; one assertion at the end names every failing case."""

    def __init__(self):
        self.fail = []
        self.n = 0
        self.worst = {}

    def rel(self, what, got, ref, tol):
        self.n += 1
        e = abs(got - ref) / abs(ref) if ref else abs(got)
        k = what.split(".")[-1] + " rel"
        self.worst[k] = max(self.worst.get(k, 0.0), e)
        if not e <= tol:
            self.fail.append("%s: got %.6g ref %.6g (%.4f %% > %.4f %%)" % (what, got, ref, 100 * e, 100 * tol))

    def abs(self, what, got, ref, tol):
        self.n += 1
        e = abs(got - ref)
        k = what.split(".")[-1] + " abs"
        self.worst[k] = max(self.worst.get(k, 0.0), e)
        if not e <= tol:
            self.fail.append("%s: got %.6g ref %.6g (|err| %.4g > %.4g)" % (what, got, ref, e, tol))

    def done(self, min_checks=1):
        import sys
        print("\n%d checks; worst: %s" % (self.n, ", ".join("%s %.3g" % kv for kv in sorted(self.worst.items()))),
              file=sys.stderr)
        assert self.n >= min_checks, self.n
        assert not self.fail, "%d of %d checks failed:\n" % (len(self.fail), self.n) + "\n".join(self.fail[:40])

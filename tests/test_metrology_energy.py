"""Energy that never drifts: one hour of signal through the metrology's sample
path, and one hour of the plant's cycle-level sums, against the reference
integral (within 0.1 %). References come from the ideal waveforms and the
duration of the signal fed in, never from the firmware's time base or from
the sums it was given.

Sample path: a 20 s block of ADS131M04 codes (49.95 Hz, so 999 cycles: the
sampled signal repeats exactly) made here from the ideal waveforms, replayed
for 3600 s through Metrology (kernel -> cycles -> seconds -> integer energy
counters). Reference: P of the ideal waveforms (closed form) x the part of
the 3600 s the firmware credits (refwave.energy_span: from the fed samples
and the documented start and second rules).

Cycle path: the plant's per-cycle analytic sums credited by
Metrology.add_cycle_stats; first the same plant state is metered at sample
level through the whole chain (twins, drivers) and must agree with the
plant's cycle sums within 0.05 %. Reference: the mean power of each load's
ideal waveform (sim/loads.py's definition on the 230 V sine, integrated with
NumPy) x the plant samples stepped / fs.
"""
import json
import math

import numpy as np
import pytest

from sim import loads
from tests.mputil import run_mp_json
from tests.refwave import Signal, smps_current, ref_ac, energy_span

FS = 8000
V_LSB = 1.2 / 2 ** 23 * (2000000.0 + 1500.0) / 1500.0      # sim24 AFE_GROUP_V
I_LSB = 1.2 / 2 ** 23 * 1000.0 / 12.0                       # sim24 AFE_OUTLET_I


def test_one_hour_sample_path(tmp_path):
    f = 49.95
    n = 160000                                   # 20 s = 999 cycles at 49.95 Hz
    t = np.arange(n) / FS
    v = Signal(230.0, f)
    cur = {1: Signal(16.0, f, 0.0), 2: Signal(4.0, f, 60.0), 3: smps_current(1.0, f=f)}
    codes = np.zeros((n, 4), dtype=np.int64)
    codes[:, 0] = np.rint(v(t) / V_LSB)
    for k, s in cur.items():
        codes[:, k] = np.rint(s(t) / I_LSB)
    p = tmp_path / "block.bin"
    codes.astype("<i4").tofile(p)
    out = run_mp_json(script="tests/mp/metro_energy.py", args=["sample", p, n, 3600], timeout=180)
    r = out[-1]
    print(r)
    t_a, t_b = energy_span(3600 * FS, f)
    span = t_b - t_a
    assert 3598.9 < span < 3599.1
    assert abs(r["span_s"] - span) < 1e-3           # the firmware's time base agrees
    assert r["sec_frames"] >= 3598
    for k, s in cur.items():
        pref = ref_ac(v, s)["p_w"]
        e_wh = r["energy"]["O%d" % k][0] / 3.6e6
        ref_wh = pref * span / 3600.0
        assert abs(e_wh - ref_wh) <= 0.001 * ref_wh, (k, e_wh, ref_wh)
        assert r["energy"]["O%d" % k][1] == 0        # no export
        # reactive: imported for the lagging load, exported for the leading SMPS
        q = ref_ac(v, s)["q_var"]
        if q > 10:
            assert abs(r["energy"]["O%d" % k][2] / 3.6e6 - q * span / 3600) <= 0.002 * q * span / 3600
    # the branch counter is the sum of its outlets' (O4..O6 absent: zero)
    tot = sum(r["energy"]["O%d" % k][0] for k in cur)
    assert abs(r["energy"]["B1"][0] - tot) <= 4       # mJ: independent sub-mJ remainders


# the plant's loads for the cycle path (outlets closed), at its nominal 230 V 50 Hz
PLANT_LOADS = {"O1": {"kind": "resistive", "irms": 10.0}, "O2": {"kind": "psu", "irms": 4.0},
               "O3": {"kind": "smps", "irms": 2.0}}


def ideal_load_power(spec, vrms=230.0, m=200000):
    """Mean power of a plant load's ideal waveform (sim/loads.py: its current
    shape sum a sin(h th + phi), rms-normalised, scaled to irms; resistive
    follows the voltage) on a vrms sine, integrated over one cycle (NumPy)."""
    ld = loads.make(spec, vrms)
    th = 2 * np.pi * (np.arange(m) + 0.5) / m
    v = math.sqrt(2.0) * vrms * np.sin(th)
    if ld.harm is None:
        i = math.sqrt(2.0) * ld.irms * np.sin(th)
    else:
        i = ld.irms * sum(a * np.sin(h * th + ph) for h, a, ph in ld.harm)
    return float(np.mean(v * i))


def test_one_hour_cycle_path_matches_sample_level():
    spec = json.dumps(dict((ch[1:], ld) for ch, ld in PLANT_LOADS.items()), separators=(",", ":"))
    out = run_mp_json(script="tests/mp/metro_energy.py", args=["cycle", 3600, spec], timeout=180)
    r = out[-1]
    print(r)
    # cycle sums vs the sample-level chain for the same plant state
    for ch, (sample_p, cycle_p) in r["check"].items():
        assert abs(sample_p - cycle_p) <= 0.0005 * abs(cycle_p), (ch, sample_p, cycle_p)
    # duration: what the plant stepped (whole cycles, 3600 s asked for)
    dur_s = r["samples"] / FS
    assert abs(dur_s - 3600.0) < 0.02
    assert set(r["energy_mj"]) == set(PLANT_LOADS)
    for ch, spec in PLANT_LOADS.items():
        ref_j = ideal_load_power(spec) * dur_s
        mj = r["energy_mj"][ch]
        assert abs(mj / 1000.0 - ref_j) <= 0.001 * ref_j, (ch, mj, ref_j)
    # the resistive load: 10 A at 230 V for one hour = 2.3 kWh, within 0.1 %
    assert ideal_load_power(PLANT_LOADS["O1"]) == pytest.approx(2300.0, rel=1e-9)
    e = r["energy_mj"]["O1"] / 3.6e9
    assert abs(e - 2.3 * dur_s / 3600.0) <= 0.001 * 2.3, e

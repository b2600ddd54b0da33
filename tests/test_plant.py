"""The simulated plant (sim/plant.py, sim/loads.py) checked against NumPy references.

The plant runs in MicroPython (tests/mp/plant_run.py) and dumps its samples;
everything is judged here from the waveforms: crest factor, THD, PF, inrush,
phase angles, frequency, switching instants, Kirchhoff sums, cycle-mode sums.
"""
import json

import numpy as np
import pytest

from mputil import ROOT, run_mp, run_mp_json

FS = 8000
F0 = 50.0
VNOM = 230.0


def run_plant(tmp_path, spec, name="run"):
    sp = tmp_path / ("%s.json" % name)
    ob = tmp_path / ("%s.bin" % name)
    sp.write_text(json.dumps(spec))
    lines = run_mp_json(script=ROOT / "tests/mp/plant_run.py", args=(sp, ob), timeout=120)
    done = [ln for ln in lines if "done" in ln][-1]
    chans, n, blk = done["channels"], done["done"], spec.get("block", 80)
    raw = np.fromfile(ob, dtype="<i4")
    assert raw.size == n * len(chans)
    arr = raw.reshape(n // blk, len(chans), blk).transpose(1, 0, 2).reshape(len(chans), n)
    return {c: arr[i] for i, c in enumerate(chans)}, lines


def si(x):
    return np.asarray(x, dtype=np.float64) * 1e-6


def spectrum(x, f0=F0):
    """Harmonic phasors (peak) h=0..40 of a whole number of cycles."""
    n = len(x)
    cyc = n * f0 / FS
    assert abs(cyc - round(cyc)) < 1e-9
    X = np.fft.rfft(x) / n * 2
    return X[int(round(cyc)) * np.arange(0, 41)]


def shape_figures(v, i):
    v, i = si(v), si(i)
    irms = np.sqrt(np.mean(i ** 2))
    vrms = np.sqrt(np.mean(v ** 2))
    hi = spectrum(i)
    hv = spectrum(v)
    thd = np.sqrt(np.sum(np.abs(hi[2:41]) ** 2)) / np.abs(hi[1])
    return {"irms": irms, "vrms": vrms, "thd": thd, "pf": np.mean(v * i) / (vrms * irms),
            "cf": np.max(np.abs(i)) / irms,
            "disp_deg": np.degrees(np.angle(hi[1] / hv[1]))}


# ------------------------------------------------------------------ load shapes
KINDS = [("resistive", {"irms": 2.0}), ("psu", {"irms": 2.0}), ("smps", {"irms": 1.0}),
         ("fan", {"irms": 3.0}), ("idle", {}), ("psu", {"power": 460.0})]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    calls = [["plug", [k + 1, dict(kind=kind, **p)]] for k, (kind, p) in enumerate(KINDS)]
    chans = ["G1-V", "G2-V"] + ["O%d-I" % (k + 1) for k in range(len(KINDS))]
    data, _ = run_plant(tmp_path_factory.mktemp("shapes"),
                        {"samples": 16000, "calls": calls, "channels": chans})
    out = {}
    for k, (kind, p) in enumerate(KINDS):
        g = "G%d-V" % ((k + 3) // 3)
        out[k] = shape_figures(data[g][12000:], data["O%d-I" % (k + 1)][12000:])
    return out


def test_resistive_shape(shapes):
    s = shapes[0]
    assert s["irms"] == pytest.approx(2.0, rel=1e-3)
    assert s["pf"] > 0.9999 and s["thd"] < 0.002
    assert s["cf"] == pytest.approx(np.sqrt(2), rel=2e-3)


def test_pfc_psu_shape(shapes):
    s = shapes[1]
    assert s["irms"] == pytest.approx(2.0, rel=1e-3)
    assert s["pf"] >= 0.98 and 0.02 < s["thd"] < 0.10
    assert 0.5 < s["disp_deg"] < 6          # small lead


def test_smps_without_pfc_shape(shapes):
    s = shapes[2]
    assert s["irms"] == pytest.approx(1.0, rel=1e-3)
    assert 2.7 <= s["cf"] <= 3.3
    assert 0.8 <= s["thd"] <= 1.2
    assert 0.55 < s["pf"] < 0.8


def test_motor_shape(shapes):
    s = shapes[3]
    assert s["irms"] == pytest.approx(3.0, rel=2e-3)
    assert s["pf"] == pytest.approx(0.8, abs=0.02)
    assert -40 < s["disp_deg"] < -33          # lagging
    assert 0.02 < s["thd"] < 0.08


def test_idle_shape(shapes):
    s = shapes[4]
    assert 0.01 < s["irms"] < 0.08             # tens of mA
    assert s["disp_deg"] > 45                  # capacitive
    assert s["pf"] < 0.5


def test_load_given_by_power(shapes):
    s = shapes[5]
    assert s["irms"] * s["vrms"] * s["pf"] == pytest.approx(460.0, rel=2e-3)


# ------------------------------------------------------------------ inrush and start current
@pytest.fixture(scope="module")
def inrush(tmp_path_factory):
    # 5 ms is the L1 voltage peak (sample 40): worst-case switch-on instant
    ev = [{"t": 0.005, "do": "plug", "outlet": 1, "load": {"kind": "psu", "irms": 2.0}},
          {"t": 0.005, "do": "plug", "outlet": 2, "load": {"kind": "resistive", "irms": 2.0}},
          {"t": 0.1, "do": "plug", "outlet": 4, "load": {"kind": "fan", "irms": 2.0}}]
    data, _ = run_plant(tmp_path_factory.mktemp("inrush"),
                        {"samples": 12000, "scenario": {"events": ev},
                         "channels": ["O1-I", "O2-I", "O4-I", "L1-I", "L2-I"]})
    return {k: si(v) for k, v in data.items()}


def test_psu_inrush_peak_and_decay(inrush):
    i = inrush["O1-I"]
    assert np.all(i[:40] == 0)                              # nothing before the plug instant
    steady = np.tile(i[8000:8160], 75)                      # periodic steady state (160 = 1 cycle)
    extra = i - steady
    assert extra[40:].max() == pytest.approx(40.0, rel=0.10)
    assert 40 <= int(np.argmax(extra)) <= 42
    assert np.abs(extra[40 + 80:]).max() < 0.1 * 40.0       # < 10 % after 10 ms
    assert np.abs(extra[40 + 400:]).max() < 0.01            # gone after 50 ms


def test_resistive_has_no_inrush(inrush):
    i = inrush["O2-I"]
    assert np.abs(i[40:]).max() < 2.0 * np.sqrt(2) * 1.01


def test_motor_start_current(inrush):
    i = inrush["O4-I"]

    def rms(t):
        s = int(t * FS)
        return np.sqrt(np.mean(i[s:s + 160] ** 2))
    assert np.all(i[:800] == 0)
    assert rms(0.12) == pytest.approx(10.0, rel=0.02)      # 5x during the start
    assert rms(0.26) == pytest.approx(10.0, rel=0.02)
    assert rms(1.3) == pytest.approx(2.0, rel=0.01)        # settled


# ------------------------------------------------------------------ grid
@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    d = tmp_path_factory.mktemp("grid")
    nominal, _ = run_plant(d, {"samples": 8000, "channels": ["L1-V", "L2-V", "L3-V", "G4-V", "G8-V"]},
                           "nominal")
    off, lines = run_plant(d, {"samples": 8000, "calls": [["set_frequency", [50.37]],
                                                          ["set_harmonics", [{"3": 2.0, "5": 3.0}]]],
                               "channels": ["L1-V"]}, "off")
    ramp, lr = run_plant(d, {"samples": 16000, "calls": [["set_frequency", [49.5], {"ramp_s": 1.0}]],
                             "channels": ["L1-V"]}, "ramp")
    sag, _ = run_plant(d, {"samples": 4000, "block": 40,
                           "scenario": {"events": [{"t": 0.2, "do": "sag", "depth": 0.3,
                                                    "duration_s": 0.1, "phase": "L2"},
                                                   {"t": 0.35, "do": "set_voltage", "v_rms": 240.0,
                                                    "ramp_s": 0.05}]},
                           "channels": ["L1-V", "L2-V", "G4-V"]}, "sag")
    return {"nominal": nominal, "off": off, "ramp": ramp, "ramp_freq": lr[-1]["freq"], "sag": sag}


def zero_cross_freq(v):
    v = si(v)
    k = np.nonzero((v[:-1] < 0) & (v[1:] >= 0))[0]
    t = k + v[k] / (v[k] - v[k + 1])
    slope = np.polyfit(np.arange(len(t)), t, 1)[0]
    return FS / slope


def test_three_phase_voltages(grid):
    d = grid["nominal"]
    ph = {}
    for c in ("L1-V", "L2-V", "L3-V"):
        v = si(d[c][800:])
        assert np.sqrt(np.mean(v ** 2)) == pytest.approx(VNOM, abs=0.05)
        ph[c] = np.angle(spectrum(v)[1], deg=True)
    assert (ph["L1-V"] - ph["L2-V"]) % 360 == pytest.approx(120.0, abs=0.01)
    assert (ph["L1-V"] - ph["L3-V"]) % 360 == pytest.approx(240.0, abs=0.01)
    # group voltages are their phase's voltage (groups 4-6 on L2, 7-8 on L3)
    assert np.array_equal(d["G4-V"], d["L2-V"]) and np.array_equal(d["G8-V"], d["L3-V"])
    # L1 starts at a positive-going zero crossing
    assert abs(d["L1-V"][0]) < 100000 and d["L1-V"][1] > 0
    assert zero_cross_freq(d["L1-V"]) == pytest.approx(50.0, abs=0.001)


def test_frequency_setpoint_and_voltage_harmonics(grid):
    v = grid["off"]["L1-V"]
    assert zero_cross_freq(v) == pytest.approx(50.37, abs=0.001)
    # 50 cycles at 50.37 Hz is not a whole number of samples: use a long window
    x = si(v)
    n = len(x)
    t = np.arange(n) / FS
    amp = {}
    for h in (1, 3, 5, 7):
        c = np.exp(-2j * np.pi * h * 50.37 * t)
        amp[h] = abs(np.sum(x * c * np.hanning(n))) / np.sum(np.hanning(n)) * 2
    assert amp[1] / np.sqrt(2) == pytest.approx(VNOM, rel=2e-4)
    assert amp[3] / amp[1] == pytest.approx(0.02, abs=0.001)
    assert amp[5] / amp[1] == pytest.approx(0.03, abs=0.001)
    assert amp[7] / amp[1] < 0.001


def test_frequency_ramp(grid):
    v = grid["ramp"]["L1-V"]
    assert zero_cross_freq(v[9000:]) == pytest.approx(49.5, abs=0.001)
    assert grid["ramp_freq"] == pytest.approx(49.5, abs=1e-6)
    # phase-continuous: no jump in the waveform anywhere (|dv| bounded by the slope)
    dv = np.abs(np.diff(si(v)))
    assert dv.max() < 2 * np.pi * 50.5 / FS * VNOM * np.sqrt(2) * 1.01


def test_sag_at_exact_samples_and_voltage_ramp(grid):
    d = grid["sag"]
    n = np.arange(4000)
    ideal = VNOM * np.sqrt(2) * np.sin(2 * np.pi * F0 * n / FS - 2 * np.pi / 3)
    k = np.where((n >= 1600) & (n < 2400), 0.7, 1.0)
    v = si(d["L2-V"])
    assert np.abs(v[:2800] - k[:2800] * ideal[:2800]).max() < 0.1   # noise 20 mV rms
    # L1 untouched by the L2 sag
    ideal1 = VNOM * np.sqrt(2) * np.sin(2 * np.pi * F0 * n / FS)
    assert np.abs(si(d["L1-V"])[:2800] - ideal1[:2800]).max() < 0.1
    # set_voltage 240 V with a 50 ms linear ramp from 0.35 s
    amp = np.interp(n, [2800, 3200], [VNOM, 240.0])
    assert np.abs(v[2800:] - amp[2800:] / VNOM * ideal[2800:]).max() < 0.15
    assert np.array_equal(d["G4-V"], d["L2-V"])


# ------------------------------------------------------------------ switches
@pytest.fixture(scope="module")
def switching(tmp_path_factory):
    spec = {"samples": 4000, "block": 40,
            "switches": {"1": {"type": "relay", "on": False}, "2": {"type": "relay", "on": True},
                         "3": {"type": "relay_noweld", "on": True},
                         "21": {"type": "triac", "on": False}, "22": {"type": "triac", "on": True},
                         "23": {"type": "triac", "on": False}, "4": {"type": "relay", "on": False}},
            "calls": [["plug", [1, {"kind": "psu", "irms": 3}]], ["plug", [2, {"kind": "psu", "irms": 2}]],
                      ["plug", [3, {"kind": "resistive", "irms": 1}]],
                      ["plug", [21, {"kind": "fan", "irms": 2}]], ["plug", [22, {"kind": "smps", "irms": 1}]],
                      ["plug", [23, {"kind": "resistive", "irms": 1}]],
                      ["plug", [4, {"kind": "resistive", "irms": 1}]]],
            "scenario": {"events": [{"t": 0.2, "do": "weld", "outlet": 2},
                                    {"t": 0.2, "do": "weld", "outlet": 3},
                                    {"t": 0.3, "do": "fail_short", "outlet": 23}]},
            "switch_events": [[440, 1, "contacts", True], [1240, 1, "contacts", False],
                              [2000, 2, "contacts", False], [2000, 3, "contacts", False],
                              [520, 21, "gate", True], [1520, 21, "gate", False],
                              [1000, 22, "gate", False],
                              # a twin that knows the exact sample its contacts moved
                              [440, 4, "contacts_since", 455], [440, 4, "contacts", True]],
            "channels": ["G1-V", "G7-V", "G8-V", "O1-I", "O2-I", "O3-I", "O4-I", "O21-I", "O22-I", "O23-I",
                         "L1-I", "L2-I", "L3-I", "N-I"]}
    data, lines = run_plant(tmp_path_factory.mktemp("sw"), spec)
    energised = [ln for ln in lines if "energised" in ln][0]["energised"]
    return data, energised, lines[-1]


def test_relay_contacts_gate_current_at_the_sample(switching):
    d, _, _ = switching
    i = d["O1-I"]
    nz = np.nonzero(i)[0]
    assert nz[0] == 440 and nz[-1] == 1239         # closes/opens at the block the contacts changed
    assert abs(i[440]) > 1_000_000                 # closing at a voltage peak: inrush starts there
    assert np.all(i[1240:] == 0)                   # open relay: exactly zero
    assert np.nonzero(d["O4-I"])[0][0] == 455      # contacts_since inside the block


def test_welded_relay_keeps_drawing(switching):
    d, _, last = switching
    assert np.abs(si(d["O2-I"][2000:])).max() > 2.0   # twin with weld(): contacts stay closed
    assert np.abs(si(d["O3-I"][2000:])).max() > 1.0   # twin without weld(): plant holds it closed
    assert last["ignored"] == 0


def test_ssr_turns_on_at_voltage_zero(switching):
    d, energised, _ = switching
    i = d["O21-I"]
    n = np.arange(len(i))
    v_ideal = np.sin(2 * np.pi * F0 * n / FS - 4 * np.pi / 3)          # group 7 is on L3
    zc = [k for k in range(521, 2000) if np.sign(v_ideal[k]) != np.sign(v_ideal[k - 1])][0]
    nz = np.nonzero(i)[0]
    assert nz[0] == zc
    assert np.all(i[:zc] == 0)
    assert abs(si(d["G7-V"][zc])) < 2 * np.pi * F0 / FS * VNOM * np.sqrt(2)   # within a sample of zero
    # the feedback (energised) reports it from the block where it started
    on = [e for e in energised["21"] if e[1]]
    assert on and on[0][0] == (zc // 40 + 1) * 40


def test_ssr_turns_off_at_current_zero(switching):
    d, energised, _ = switching
    for ch, gate_off, key in (("O21-I", 1520, "21"), ("O22-I", 1000, "22")):
        i = si(d[ch])
        nz = np.nonzero(d[ch])[0]
        last = nz[-1]
        assert last >= gate_off                      # conducts on after the gate drops
        assert np.all(d[ch][last + 1:] == 0)
        # it stopped where the current reached zero: falling towards zero, then zero
        assert abs(i[last]) < abs(i[last - 1])
        peak = np.abs(i[gate_off - 400:gate_off]).max()
        assert abs(i[last]) < 0.2 * peak
        off = [e for e in energised[key] if not e[1]]
        assert off[-1][0] == (last // 40 + 1) * 40
    # an SSR with gate high from the start conducts from sample 0
    assert d["O22-I"][1] != 0


def test_triac_failure_forwarded_to_twin(switching):
    d, energised, _ = switching
    i = d["O23-I"]
    assert np.all(i[:2400] == 0)
    assert np.count_nonzero(i[2400 + 80:]) > 1000    # gate forced high by the twin's fail_short()
    assert energised["23"][-1][1] is True


def test_kirchhoff_inlet_and_neutral(switching):
    d, _, _ = switching
    # inlet phase current = its outlets + the PDU's own supply (50 mA SMPS on L1)
    resid = si(d["L1-I"] - d["O1-I"] - d["O2-I"] - d["O3-I"] - d["O4-I"])
    assert np.sqrt(np.mean(resid ** 2)) == pytest.approx(0.05, rel=0.02)
    assert np.array_equal(d["N-I"], d["L1-I"] + d["L2-I"] + d["L3-I"])


def test_leak_and_short(tmp_path):
    spec = {"samples": 3200,
            "calls": [["plug", [4, {"kind": "resistive", "irms": 2}]], ["plug", [5, {"kind": "psu", "irms": 1}]],
                      ["plug", [10, {"kind": "resistive", "irms": 1}]]],
            "scenario": {"events": [{"t": 0.05, "do": "fault", "outlet": 4, "kind": "leak", "ma": 30},
                                    {"t": 0.15, "do": "fault", "outlet": 10, "kind": "short"},
                                    {"t": 0.25, "do": "clear_fault", "outlet": 10},
                                    {"t": 0.3, "do": "fault", "outlet": 5, "kind": "overload", "factor": 2.0}]},
            "channels": ["L1-V", "L2-V", "G4-V", "O4-I", "O5-I", "O10-I", "L1-I", "L2-I", "L3-I", "N-I"]}
    d, _ = run_plant(tmp_path, spec)
    residual = si(d["L1-I"] + d["L2-I"] + d["L3-I"] - d["N-I"])
    assert np.all(residual[:400] == 0)
    r = residual[480:1120]
    assert np.sqrt(np.mean(r ** 2)) == pytest.approx(0.030, rel=0.01)     # leaks to PE, not N
    v = si(d["L1-V"][480:1120])
    assert np.mean(r * v) / (np.sqrt(np.mean(r ** 2)) * np.sqrt(np.mean(v ** 2))) > 0.999
    # the leak is part of the outlet's own (phase conductor) current
    o4 = si(d["O4-I"][480:1120])
    assert np.sqrt(np.mean(o4 ** 2)) == pytest.approx(2.0 + 0.03, rel=1e-3)   # in phase: adds
    # short on outlet 10 (L2): ~300 A peak, the L2 voltage collapses, then recovers
    s = si(d["O10-I"][1200:2000])
    assert np.abs(s).max() == pytest.approx(300.0, rel=0.03)
    assert np.sqrt(np.mean(si(d["L2-V"][1280:1920]) ** 2)) == pytest.approx(23.0, rel=0.02)
    assert np.sqrt(np.mean(si(d["L2-V"][2080:2400]) ** 2)) == pytest.approx(VNOM, rel=1e-3)
    assert np.sqrt(np.mean(si(d["O10-I"][2080:2400]) ** 2)) == pytest.approx(1.0, rel=2e-3)
    # overload doubles the PSU's current
    o5 = si(d["O5-I"])
    assert np.sqrt(np.mean(o5[2560:3200] ** 2)) == pytest.approx(2 * np.sqrt(np.mean(o5[1600:2240] ** 2)),
                                                                 rel=2e-3)


# ------------------------------------------------------------------ determinism
def test_same_seed_same_samples(tmp_path):
    calls = [["plug", [n, {"kind": ("psu", "smps", "resistive", "fan", "idle")[n % 5], "irms": 1 + 0.1 * n}]]
             for n in range(1, 25)]
    spec = {"samples": 1600, "calls": calls, "seed": 7,
            "scenario": {"events": [{"t": 0.1, "do": "sag", "depth": 0.2, "duration_s": 0.03}]}}
    a, _ = run_plant(tmp_path, spec, "a")
    b, _ = run_plant(tmp_path, spec, "b")
    c, _ = run_plant(tmp_path, dict(spec, seed=8), "c")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["O1-I"], c["O1-I"])
    # only the noise differs between seeds (0.02 % of the load, 20 mV on the voltage)
    assert np.abs(si(a["O24-I"] - c["O24-I"])).max() < 2 * 1.7321 * 0.0002 * 3.4 * 1.25
    assert np.abs(si(a["L1-V"] - c["L1-V"])).max() < 0.08


# ------------------------------------------------------------------ cycle level
def _mixed_calls():
    calls = [["plug", [n, {"kind": ("psu", "smps", "resistive", "fan", "idle")[n % 5], "irms": 1.0 + 0.1 * n}]]
             for n in range(1, 25)]
    return calls + [["fault", [5, "leak"]], ["set_harmonics", [{"3": 2.0, "5": 3.0}]]]


def _voltage_of(ch):
    if ch.startswith("O"):
        return "G%d-V" % ((int(ch[1:-2]) + 2) // 3)
    return ch[:2] + "-V"


@pytest.mark.parametrize("freq", [50.0, 49.9])
def test_cycle_stats_match_sample_sums(tmp_path, freq):
    spec = {"samples": 12000, "calls": _mixed_calls() + [["set_frequency", [freq]]],
            "stats_at": [12000]}
    d, lines = run_plant(tmp_path, spec)
    st = [ln for ln in lines if "stats" in ln][0]["stats"]
    s0, n = st["start"], st["n"]
    assert n in (160, 161) and s0 + n <= 12000
    for ch, x in d.items():
        x = si(x[s0:s0 + n])
        ref = np.sum(x ** 2)
        assert st["sum_x2"][ch] == pytest.approx(ref, rel=5e-4), ch
        assert abs(st["sum_x"][ch] - np.sum(x)) < 1e-3 * np.sqrt(ref * n) + 1e-3, ch
        if ch in st["sum_vi"]:
            vi = np.sum(x * si(d[_voltage_of(ch)][s0:s0 + n]))
            assert st["sum_vi"][ch] == pytest.approx(vi, rel=5e-4, abs=0.05 * n), ch
    assert "N-I" not in st["sum_vi"]


@pytest.mark.parametrize("load,at", [({"kind": "psu", "irms": 2.0}, 960),     # the inrush cycle
                                     ({"kind": "fan", "irms": 2.0}, 2880),    # plateau ends inside
                                     ({"kind": "fan", "irms": 2.0}, 3200)])   # decaying start current
def test_cycle_stats_during_transients(tmp_path, load, at):
    # switched on at a cycle start (0.1 s): the envelope is summed exactly per cycle
    spec = {"samples": at, "stats_at": [at], "channels": ["G1-V", "O1-I", "L1-I", "N-I"],
            "scenario": {"events": [{"t": 0.1, "do": "plug", "outlet": 1, "load": load}]}}
    d, lines = run_plant(tmp_path, spec)
    st = [ln for ln in lines if "stats" in ln][0]["stats"]
    s0, n = st["start"], st["n"]
    assert s0 + n == at
    for ch in ("O1-I", "L1-I", "N-I"):
        x = si(d[ch][s0:s0 + n])
        assert st["sum_x2"][ch] == pytest.approx(np.sum(x ** 2), rel=5e-4), ch
    x = si(d["O1-I"][s0:s0 + n])
    v = si(d["G1-V"][s0:s0 + n])
    assert st["sum_vi"]["O1-I"] == pytest.approx(np.sum(x * v), rel=5e-4)


@pytest.fixture(scope="module")
def cycle_mode(tmp_path_factory):
    d = tmp_path_factory.mktemp("cyc")
    calls = [["plug", [n, {"kind": ("psu", "smps", "resistive", "fan")[n % 4], "irms": 1.0 + 0.5 * (n % 5)}]]
             for n in range(1, 25)]
    spec = {"samples": 16000, "calls": calls, "stats_at": [16000],
            "channels": ["L1-V", "L1-I", "O1-I"],
            "cycles": [[180000], [1, [["plug", [1, {"kind": "fan", "irms": 2.0}]]]], [9],
                       [50 * 600]]}
    data, lines = run_plant(d, spec)
    return data, lines


def test_cycle_mode_hour_is_consistent(cycle_mode):
    # (how fast an hour of mains runs at cycle level: `make bench`)
    data, lines = cycle_mode
    st = [ln for ln in lines if "stats" in ln][0]["stats"]
    hour = [ln for ln in lines if "cycles" in ln][0]
    c = hour["cycles"]
    assert c["cycles"] == 180000 and c["n"] == 3600 * FS
    assert c["start"] == 16000                                  # 16000 is a cycle start at 50 Hz
    # energy over the hour = the per-cycle real power of the sample-mode cycle x time
    p_cycle = st["sum_vi"]["L1-I"] / st["n"]
    assert c["sum_vi"]["L1-I"] / c["n"] == pytest.approx(p_cycle, rel=1e-9)
    x = si(data["L1-I"][st["start"]:st["start"] + st["n"]])
    v = si(data["L1-V"][st["start"]:st["start"] + st["n"]])
    assert p_cycle == pytest.approx(np.mean(x * v), rel=5e-4)
    last = hour["last"]
    assert last["n"] == 160 and last["sum_x2"]["O1-I"] == pytest.approx(st["sum_x2"]["O1-I"], rel=1e-9)


def test_cycle_mode_thermal_steady_state(cycle_mode):
    _, lines = cycle_mode
    hour = [ln for ln in lines if "cycles" in ln][0]
    c = hour["cycles"]
    n = c["n"]
    irms = {k: np.sqrt(c["sum_x2"]["O%d-I" % k] / n) for k in range(1, 25)}
    p = sum(c["sum_vi"]["L%d-I" % k] for k in (1, 2, 3)) / n
    (t_in, rh_in), (t_ex, rh_ex) = hour["air"]
    assert (t_in, rh_in) == (24.0, 40.0)
    # after 1 h (30 time constants of 120 s) the exhaust rise is 1.5 K per kW
    assert t_ex - t_in == pytest.approx(1.5 * p / 1000, rel=1e-3)
    assert rh_ex < rh_in
    # SSR heatsink: I_rms * 1.1 V per outlet, 0.6 K/W; relay boards: I^2 * 5 mOhm, 3 K/W, tau 600 s
    ssr_heat = sum(irms[k] * 1.1 for k in range(21, 25))
    assert hour["ntc"]["ntc4"] - t_ex == pytest.approx(0.6 * ssr_heat, rel=1e-3)
    b1 = sum(irms[k] ** 2 * 0.005 for k in range(1, 9))
    assert hour["ntc"]["ntc1"] - t_ex == pytest.approx(3.0 * b1 * (1 - np.exp(-3600 / 600 - 2)), rel=0.01)


def test_cycle_mode_transient_and_events(cycle_mode):
    _, lines = cycle_mode
    cyc = [ln for ln in lines if "cycles" in ln]
    one = cyc[1]["cycles"]                   # motor plugged at the cycle start: 5x start current
    assert one["n"] == 160
    assert np.sqrt(one["sum_x2"]["O1-I"] / 160) == pytest.approx(10.0, rel=0.01)
    nine = cyc[2]["cycles"]                  # still within the 200 ms plateau
    assert np.sqrt(nine["sum_x2"]["O1-I"] / nine["n"]) == pytest.approx(10.0, rel=0.01)
    ten_min = cyc[3]
    assert np.sqrt(ten_min["last"]["sum_x2"]["O1-I"] / 160) == pytest.approx(2.0, rel=1e-3)
    assert ten_min["n"] == 16000 + 3600 * FS + 10 * 160 + 600 * FS


def test_mixing_modes_keeps_phase(tmp_path):
    # sample mode, then step_cycles, then sample mode again: the waveform continues
    # exactly where pure sample mode would be (only the noise streams differ)
    code = """
import json, boardconfig.sim24 as desc
from sim.plant import Plant
def mk():
    p = Plant(desc, seed=3)
    p.plug(1, {"kind": "smps", "irms": 2.0})
    p.set_frequency(49.93)
    return p
a = mk(); b = mk()
for _ in range(30): a.generate(80); b.generate(80)
st = a.step_cycles(100)
k = a.n - b.n
while k > 0:
    m = 80 if k > 80 else k
    b.generate(m); k -= m
ra = a.generate(80); va = list(ra['L1-V'][:80]); ia = list(ra['O1-I'][:80])
rb = b.generate(80); vb = list(rb['L1-V'][:80]); ib = list(rb['O1-I'][:80])
print(json.dumps({"n": [a.n, b.n], "st": st.n, "va": va, "vb": vb, "ia": ia, "ib": ib, "start": st.start}))
"""
    r = run_mp_json(code=code)[0]
    assert r["n"][0] == r["n"][1]
    assert np.abs(np.subtract(r["va"], r["vb"])).max() < 80000          # 2 x 35 mV noise peaks
    assert np.abs(np.subtract(r["ia"], r["ib"])).max() < 3000            # 2 x 0.02 % x sqrt3 x 2 A
    assert r["st"] == pytest.approx(100 * FS / 49.93, abs=1.0)


# ------------------------------------------------------------------ API, errors, performance
def test_api_errors_and_scenario(tmp_path):
    code = """
import json, boardconfig.sim24 as desc
from sim.plant import Plant
p = Plant(desc)
res = {}
def err(name, f):
    try:
        f()
        res[name] = None
    except ValueError as e:
        res[name] = str(e)
err("kind", lambda: p.plug(1, {"kind": "toaster", "irms": 1}))
err("irms", lambda: p.plug(1, {"kind": "psu"}))
err("outlet", lambda: p.plug(99, {"kind": "psu", "irms": 1}))
err("fault", lambda: p.fault(1, "arc"))
err("cap", lambda: p.generate(401))
err("action", lambda: p.load_scenario({"events": [{"t": 1, "do": "explode"}]}))
err("noT", lambda: p.load_scenario({"events": [{"do": "plug"}]}))
err("sched", lambda: p.schedule(1.0, "_touch"))
p.load_scenario({"seed": 5, "events": [{"t": 0.01, "do": "plug", "outlet": 2, "load": {"kind": "heater", "irms": 4}},
                                       {"t": 0.02, "do": "unplug", "outlet": 2}]})
p.schedule(0.015, "fault", 2, "overload", factor=1.5)
p.generate(130)
res["mid"] = p.outlet_state(2)
p.generate(100)
res["after"] = p.outlet_state(2)
res["t"] = p.t()
res["cycle"] = p.cycle_stats().n
print(json.dumps(res))
"""
    r = run_mp_json(code=code)[0]
    assert "toaster" in r["kind"] and "irms or power" in r["irms"] and "99" in r["outlet"]
    assert "arc" in r["fault"] and "capacity" in r["cap"] and "explode" in r["action"]
    assert "'t' and 'do'" in r["noT"] and r["sched"]
    assert r["mid"]["load"]["kind"] == "resistive" and r["mid"]["faults"] == {"overload": 1.5}
    assert r["after"]["load"] is None and r["after"]["faults"] == {}
    assert r["t"] == pytest.approx(230 / FS) and r["cycle"] == 160



"""Metrology accuracy end to end: ideal waveforms (tests/refwave.py) written as
COMTRADE fixtures, played through the sim24 twins (quantisation), the
production drivers (frames, CRC) and the metrology (tools.meter path), and
compared with references computed from the IDEAL waveforms.

Targets (issue #5): active power/energy <= 0.1 % of reading from 5 % to
120 % of rating at PF 1, <= 0.2 % at PF 0.5 and from 1 % to 5 %; Vrms and
Irms <= 0.1 % (<= 0.2 % below 5 % of rating); PF and DPF +/-0.002;
frequency +/-0.01 Hz; THD +/-0.3 percentage points; each harmonic within
IEC 61000-4-7 Class I (+/-5 % of reading at or above 3 % of nominal, else
+/-0.15 % of nominal). ETSI ES 202 336-12 4.4.3.5 verification points: AC
230 V 50 Hz and DC 54 V / 380 V at 5, 10, 25, 50, 75, 100 % load, min/max
interface voltage at 10 % and 50 %, and the fast waveform (load swinging
min -> max with a 1 ms period).

Tolerances are the targets above, tightened where docs/metrology.md
("Accuracy") claims better: Irms and P within 0.1 % at 1-2 % of rating;
crest factor and peak current within 0.3 %; THD at every load. The
measured figures are in the same section.
"""
import math

import numpy as np
import pytest

from boardconfig.h743_24_layout import BRANCHES
from tests.refwave import (FS, OUTLET_A, INLET_A, Signal, Checker, sample, ref_ac, ref_numeric,
                           fast_envelope, smps_current, write_fixture, run_meter, frames, group_of,
                           energy_span)

T_MIN = 0.45          # ignore frames published before the units settle (s)


def p_tol(load, pf):
    """Active power (and energy) tolerance, fraction of reading, for a load
    (fraction of rating) and true PF: 0.2 % at PF 0.5 and between 2 % and 5 %
    of rating, else 0.1 % (5-120 % at any PF above 0.5; 1-2 % as documented)."""
    if abs(pf) <= 0.5 + 1e-6 or 0.02 < load < 0.05:
        return 0.002
    return 0.001


def i_tol(load):
    """Irms: 0.2 % between 2 % and 5 % of rating, else 0.1 % (1-2 %: documented)."""
    return 0.002 if 0.02 < load < 0.05 else 0.001


def check_vi(ck, fr, ch, ref, load, tag=""):
    v = fr["values"][ch]
    w = "%s %s t=%.2f %s" % (fr["kind"], ch, fr["t_s"], tag)
    ck.rel(w + ".vrms", v["vrms"], ref["vrms"], 0.001)
    ck.rel(w + ".irms", v["irms"], ref["irms"], i_tol(load))
    ck.rel(w + ".p_w", v["p_w"], ref["p_w"], p_tol(load, ref["pf"]))
    ck.rel(w + ".s_va", v["s_va"], ref["s_va"], i_tol(load) + 0.001)
    ck.abs(w + ".pf", v["pf"], ref["pf"], 0.002)
    ck.abs(w + ".dpf", v["dpf"], ref["dpf"], 0.002)
    ck.abs(w + ".q_var", v["q_var"], ref["q_var"], 0.002 * ref["s_va"])
    ck.abs(w + ".f_hz", v["f_hz"], ref["f_hz"], 0.01)
    ck.abs(w + ".thd_i", v["thd_i"], ref["thd_i"], 0.3)
    ck.abs(w + ".thd_v", v["thd_v"], ref["thd_v"], 0.3)


# --- fixture 1: ETSI AC points, PF, 1..120 %, voltage range, 3-phase inlet ------------
ETSI_AC = {
    # outlet: (group voltage, load fraction, lag deg)
    1: (230.0, 0.05, 0.0), 2: (230.0, 0.10, 0.0), 3: (230.0, 0.25, 0.0),
    4: (230.0, 0.50, 0.0), 5: (230.0, 0.75, 0.0), 6: (230.0, 1.00, 0.0),
    7: (207.0, 0.10, 0.0), 8: (207.0, 0.50, 0.0), 9: (207.0, 1.20, 0.0),
    10: (253.0, 0.10, 0.0), 11: (253.0, 0.50, 0.0), 12: (253.0, 0.01, 0.0),
    13: (230.0, 0.05, 60.0), 14: (230.0, 0.50, 60.0), 15: (230.0, 1.00, 60.0),
    16: (230.0, 0.01, -36.87), 17: (230.0, 0.25, -36.87), 18: (230.0, 1.00, -36.87),
    19: (230.0, 0.03, 60.0), 20: (230.0, 0.02, 0.0), 21: (230.0, 1.10, 60.0),
    22: (230.0, 0.15, -36.87), 23: (230.0, 0.40, 25.0), 24: (230.0, 0.90, 0.0),
}
INLET = {"L1": (230.0, 0.0, 1.00, 0.0), "L2": (230.0, 120.0, 0.50, 60.0), "L3": (230.0, 240.0, 0.10, -36.87)}


@pytest.fixture(scope="module")
def etsi_ac(tmp_path_factory):
    d = tmp_path_factory.mktemp("metro_ac")
    n = int(FS * 2.6)
    ch = {}
    sig = {}
    for g in range(1, 9):
        outs = [k for k in ETSI_AC if group_of(k) == g]
        v = Signal(ETSI_AC[outs[0]][0], 50.0)
        sig["G%d" % g] = v
        ch["G%d-V" % g] = sample(v, n)
        for k in outs:
            vv, load, lag = ETSI_AC[k]
            i = Signal(load * OUTLET_A, 50.0, lag)
            sig["O%d" % k] = i
            ch["O%d-I" % k] = sample(i, n)
    nsum = np.zeros(n)
    for ph, (vr, ang, load, lag) in INLET.items():
        v = Signal(vr, 50.0, ang)
        i = Signal(load * INLET_A, 50.0, ang + lag)
        sig[ph + "V"] = v
        sig[ph + "I"] = i
        ch[ph + "-V"] = sample(v, n)
        ch[ph + "-I"] = sample(i, n)
        nsum += ch[ph + "-I"]
    ch["N-I"] = nsum
    cfg, _ = write_fixture(str(d / "etsi_ac"), ch)
    out = run_meter(cfg)
    return sig, ch, out


def test_etsi_ac_points_pf_and_load_range(etsi_ac):
    sig, ch, out = etsi_ac
    ck = Checker()
    frs = frames(out, t_min=T_MIN)
    assert len(frames(out, "sec", T_MIN)) >= 1 and len(frames(out, "win", T_MIN)) >= 8
    for fr in frs:
        for k, (vv, load, lag) in ETSI_AC.items():
            g = group_of(k)
            ref = ref_ac(sig["G%d" % g], sig["O%d" % k])
            check_vi(ck, fr, "O%d" % k, ref, load, "load %g%% lag %g" % (100 * load, lag))
        for g in range(1, 9):
            ck.rel("%s G%d.vrms" % (fr["kind"], g), fr["values"]["G%d" % g]["vrms"], sig["G%d" % g].rms, 0.001)
    ck.done(500)


def test_inlet_neutral_and_branches(etsi_ac):
    sig, ch, out = etsi_ac
    ck = Checker()
    t = np.arange(200000) / 200000 / 50.0
    nref = math.sqrt(np.mean(sum(sig[p + "I"](t) for p in INLET) ** 2))
    bref = {}
    tt = np.arange(400000) / 400000 / 50.0
    for b, bd in BRANCHES.items():
        outs = bd["outlets"]
        isum = sum(sig["O%d" % k](tt) for k in outs)
        bref[b] = (math.sqrt(np.mean(isum ** 2)),
                   sum(ref_ac(sig["G%d" % group_of(k)], sig["O%d" % k])["p_w"] for k in outs),
                   sum(ref_ac(sig["G%d" % group_of(k)], sig["O%d" % k])["q_var"] for k in outs))
    for fr in frames(out, t_min=T_MIN):
        vals = fr["values"]
        tot_p = tot_q = tot_s = 0.0
        for ph, (vr, ang, load, lag) in INLET.items():
            # references against the phase's own voltage: shift both by the phase angle
            v = Signal(vr, 50.0)
            i = Signal(load * INLET_A, 50.0, lag)
            ref = ref_ac(v, i)
            check_vi(ck, fr, ph, ref, load, "inlet")
            tot_p += ref["p_w"]
            tot_q += ref["q_var"]
            tot_s += ref["s_va"]
        ck.rel(fr["kind"] + " INLET.p_w", vals["INLET"]["p_w"], tot_p, 0.001)
        ck.abs(fr["kind"] + " INLET.q_var", vals["INLET"]["q_var"], tot_q, 0.002 * tot_s)
        ck.rel(fr["kind"] + " INLET.s_va", vals["INLET"]["s_va"], tot_s, 0.002)
        # neutral: measured N-I and computed IA+IB+IC, against the ideal sum
        ck.rel(fr["kind"] + " N.irms", vals["N"]["irms"], nref, 0.002)
        ck.rel(fr["kind"] + " NC.irms", vals["NC"]["irms"], nref, 0.002)
        # branches: rms of the sample-wise sum of the outlets' ideal currents; P, Q = sums
        for b, bd in BRANCHES.items():
            outs = bd["outlets"]
            g0 = group_of(outs[0])         # the branch reports its first group's voltage
            iref, pref, qref = bref[b]
            ptol = max(p_tol(ETSI_AC[k][1], ref_ac(sig["G%d" % group_of(k)], sig["O%d" % k])["pf"]) for k in outs)
            vref = sig["G%d" % g0].rms
            w = "%s %s t=%.2f" % (fr["kind"], b, fr["t_s"])
            ck.rel(w + ".irms", vals[b]["irms"], iref, 0.001)
            ck.rel(w + ".vrms", vals[b]["vrms"], vref, 0.001)
            ck.rel(w + ".p_w", vals[b]["p_w"], pref, ptol)
            ck.abs(w + ".q_var", vals[b]["q_var"], qref, 0.002 * vref * iref)
            ck.rel(w + ".s_va", vals[b]["s_va"], vref * iref, 0.002)
            ck.abs(w + ".pf", vals[b]["pf"], pref / (vref * iref), 0.002)
    ck.done(100)


def test_energy_of_the_run_matches_power(etsi_ac):
    """Sample-level energy path: counters after the run = the ideal waveform's
    power x the time the firmware must credit, taken from the fixture (its
    samples / fs and the documented start and second rules: refwave.
    energy_span), not from the firmware's own record of the seconds."""
    sig, ch, out = etsi_ac
    end = out[-1]["end"]
    assert end["overruns"] == 0
    t_a, t_b = energy_span(len(ch["G1-V"]), 50.0)
    span = t_b - t_a
    assert span == pytest.approx(2.0, abs=1e-12)
    ck = Checker()
    for g in range(1, 9):
        # the firmware's time base agrees with the fixture's
        ck.abs("G%d.energy_span_s" % g, end["energy_span_s"]["G%d" % g], span, 1e-4)
    for k, (vv, load, lag) in ETSI_AC.items():
        ref = ref_ac(sig["G%d" % group_of(k)], sig["O%d" % k])
        e = end["energy_wh"]["O%d" % k]
        ck.rel("O%d.e_imp_wh" % k, e[0], ref["p_w"] * span / 3600.0, p_tol(load, ref["pf"]))
        assert e[1] == 0.0                            # nothing exported
        if ref["q_var"] > 1:
            ck.rel("O%d.eq_imp_varh" % k, e[2], ref["q_var"] * span / 3600.0, 0.002)
        elif ref["q_var"] < -1:
            ck.rel("O%d.eq_exp_varh" % k, e[3], -ref["q_var"] * span / 3600.0, 0.002)
    # a branch's energy is the sum of its outlets'
    for b, bd in BRANCHES.items():
        tot = sum(end["energy_wh"]["O%d" % k][0] for k in bd["outlets"])
        ck.rel(b + ".e_imp_wh", end["energy_wh"][b][0], tot, 1e-6)
    ck.done(30)


# --- fixture 2: 45..65 Hz ----------------------------------------------------------------
FREQS = (45.0, 47.5, 49.5, 51.0, 55.0, 58.0, 62.0, 65.0)
MIX = [(3, 0.30, 20.0), (5, 0.15, -40.0), (7, 0.08, 60.0)]


def _freq_cases():
    cases = {}
    for g, f in enumerate(FREQS, 1):
        base = 3 * g - 2
        cases[base] = (f, Signal(0.5 * OUTLET_A, f, 0.0), 0.5)
        cases[base + 1] = (f, Signal(0.25 * OUTLET_A, f, 60.0), 0.25)
        cases[base + 2] = (f, Signal(0.5 * OUTLET_A, f, 10.0, harm=MIX), 0.5)
    return cases


def test_frequency_range_45_to_65_hz(tmp_path):
    n = int(FS * 2.2)
    cases = _freq_cases()
    ch = {}
    for g, f in enumerate(FREQS, 1):
        ch["G%d-V" % g] = sample(Signal(230.0, f), n)
    for k, (f, i, load) in cases.items():
        ch["O%d-I" % k] = sample(i, n)
    inl = {"L1": (45.0, 0.3, 0.0), "L2": (55.0, 0.5, 60.0), "L3": (65.0, 1.0, -36.87)}
    for ph, (f, load, lag) in inl.items():
        ch[ph + "-V"] = sample(Signal(230.0, f), n)
        ch[ph + "-I"] = sample(Signal(load * INLET_A, f, lag), n)
    cfg, _ = write_fixture(str(tmp_path / "freq"), ch)
    out = run_meter(cfg)
    ck = Checker()
    frs = frames(out, t_min=T_MIN)
    assert len(frs) >= 8
    for fr in frs:
        for k, (f, i, load) in cases.items():
            ref = ref_ac(Signal(230.0, f), i)
            check_vi(ck, fr, "O%d" % k, ref, load, "%g Hz" % f)
        for ph, (f, load, lag) in inl.items():
            ref = ref_ac(Signal(230.0, f), Signal(load * INLET_A, f, lag))
            check_vi(ck, fr, ph, ref, load, "%g Hz" % f)
    ck.done(1000)


# --- fixture 3: distorted waveforms, harmonics (IEC 61000-4-7 Class I) ----------------------
V_HARM = [(3, 0.03, 0.0), (5, 0.04, 180.0), (7, 0.02, 90.0)]
DIST = {
    # outlet: (current Signal, load fraction)
    1: (smps_current(2.0), 2.0 / OUTLET_A),
    2: (smps_current(8.0), 0.5),
    3: (smps_current(0.8), 0.05),
    4: (Signal(10.0, 50.0, 0.0, harm=V_HARM), 10 / OUTLET_A),       # resistive on a distorted voltage
    5: (Signal(8.0, 50.0, 0.0, harm=[(3, 0.30, 0.0)]), 0.5),
    6: (Signal(12.0, 50.0, 20.0, harm=[(3, 0.2, 30.0), (5, 0.1, -60.0), (7, 0.05, 120.0)]), 0.75),
    7: (Signal(4.0, 50.0, 0.0, harm=[(5, 0.40, 45.0)]), 0.25),
    8: (Signal(6.0, 50.0, -5.0, harm=[(7, 0.25, 0.0), (11, 0.10, 90.0), (13, 0.05, 0.0)]), 6 / OUTLET_A),
    9: (Signal(10.0, 50.0, -3.0, harm=[(3, .03, 0), (5, .025, 0), (7, .015, 0), (9, .01, 0), (11, .008, 0),
                                        (13, .005, 0)]), 10 / OUTLET_A),
}
VG = {1: Signal(230.0, 50.0), 2: Signal(230.0, 50.0, harm=V_HARM), 3: Signal(230.0, 50.0)}


@pytest.fixture(scope="module")
def distorted(tmp_path_factory):
    d = tmp_path_factory.mktemp("metro_dist")
    n = int(FS * 3.6)
    ch = {}
    for g, v in VG.items():
        ch["G%d-V" % g] = sample(v, n)
    for k, (i, load) in DIST.items():
        ch["O%d-I" % k] = sample(i, n)
    cfg, _ = write_fixture(str(d / "dist"), ch)
    names = ["G2-V"] + ["O%d-I" % k for k in DIST]
    out = run_meter(cfg, "--harm-only", ",".join(names), "--harm-request", "O4-I@2.0")
    return out


def test_distorted_currents_power_pf_thd(distorted):
    ck = Checker()
    frs = frames(distorted, t_min=T_MIN)
    assert len(frs) >= 10
    for fr in frs:
        for k, (i, load) in DIST.items():
            ref = ref_ac(VG[group_of(k)], i)
            check_vi(ck, fr, "O%d" % k, ref, load, "distorted")
            w = "%s O%d t=%.2f" % (fr["kind"], k, fr["t_s"])
            # crest factor and peak from 8 kSPS samples: the sampled peak of a pulse
            # current falls between samples, documented within 0.3 %
            ck.rel(w + ".ipeak", fr["values"]["O%d" % k]["ipeak"], ref["ipeak"], 0.003)
            ck.rel(w + ".crest_i", fr["values"]["O%d" % k]["crest_i"], ref["crest_i"], 0.003)
    ck.done(400)


def test_harmonics_iec_61000_4_7_class_i(distorted):
    res = [o["harmonics"] for o in distorted if "harmonics" in o]
    seen = set()
    ck = Checker()
    for r in res:
        nm = r["channel"]
        if nm == "G2-V":
            ref = ref_ac(VG[2], VG[2])["harm_v"]
            nom = 230.0
            lim = lambda m: 0.05 * m if m >= 0.01 * nom else 0.0005 * nom
        else:
            k = int(nm[1:-2])
            i, load = DIST[k]
            ref = ref_ac(VG[group_of(k)], i)["harm_i"]
            nom = OUTLET_A
            lim = lambda m: 0.05 * m if m >= 0.03 * nom else 0.0015 * nom
        seen.add(nm)
        for h in range(1, 41):
            m = ref.get(h, 0.0)
            ck.abs("%s h%d.harmonic" % (nm, h), r["h"][h - 1], m, lim(m))
        thd_ref = 100.0 * math.sqrt(sum(a * a for hh, a in ref.items() if 2 <= hh <= 40)) / ref[1]
        ck.abs(nm + ".thd", r["thd"], thd_ref, 0.3)
        ck.abs(nm + ".f_hz", r["f_hz"], 50.0, 0.01)
    assert seen == set(["G2-V"] + ["O%d-I" % k for k in DIST]), seen
    ck.done(400)
    # a spectrum on request: served within two windows, ahead of the rotation
    req = [o for o in distorted if "harm_request" in o][0]
    assert req["accepted"] is True
    after = [o for o in distorted if "harmonics" in o and o["t_s"] > req["t_s"]]
    assert after[0]["harmonics"]["channel"] == "O4-I" or after[1]["harmonics"]["channel"] == "O4-I"
    assert after[0]["t_s"] - req["t_s"] < 0.45


# --- fixture 4: ETSI fast waveform, AC --------------------------------------------------------
FAST = {1: (0.05, 1.0, 0.0), 2: (0.10, 1.0, 60.0), 3: (0.50, 0.75, 0.0), 4: (0.25, 1.0, -36.87),
        5: (0.0, 1.0, 0.0), 6: (0.05, 0.25, 0.0)}


def test_etsi_fast_waveform_ac(tmp_path):
    n = int(FS * 2.2)
    v = Signal(230.0, 50.0)
    ch = {"G1-V": sample(v, n), "G2-V": sample(v, n)}
    sigs = {}
    for k, (lo, hi, lag) in FAST.items():
        i = Signal(OUTLET_A, 50.0, lag, env=fast_envelope(lo, hi))
        sigs[k] = i
        ch["O%d-I" % k] = sample(i, n)
    cfg, _ = write_fixture(str(tmp_path / "fast_ac"), ch)
    out = run_meter(cfg, "--channels", ",".join("O%d" % k for k in FAST))
    ck = Checker()
    frs = frames(out, t_min=T_MIN)
    assert len(frs) >= 8
    for k, (lo, hi, lag) in FAST.items():
        ref = ref_numeric(v, sigs[k], 0.0, 0.02)         # the signal repeats every 20 ms
        for fr in frs:
            x = fr["values"]["O%d" % k]
            w = "%s O%d t=%.2f fast %g..%g" % (fr["kind"], k, fr["t_s"], lo, hi)
            ck.rel(w + ".p_w", x["p_w"], ref["p_w"], p_tol(lo, ref["p_w"] / (ref["vrms"] * ref["irms"])))
            ck.rel(w + ".irms", x["irms"], ref["irms"], 0.001)
            ck.rel(w + ".vrms", x["vrms"], ref["vrms"], 0.001)
            ck.abs(w + ".pf", x["pf"], ref["p_w"] / (ref["vrms"] * ref["irms"]), 0.002)
    ck.done(100)


# --- fixture 5: DC (ETSI interfaces A2 54 V and A3 380 V) -----------------------------------
DC = {
    # outlet: (volts, load lo, load hi) -- lo == hi: constant current
    1: (54.0, 0.05, 0.05), 2: (54.0, 0.10, 0.10), 3: (54.0, 0.25, 0.25),
    4: (54.0, 0.50, 0.50), 5: (54.0, 0.75, 0.75), 6: (54.0, 1.00, 1.00),
    7: (40.5, 0.10, 0.10), 8: (40.5, 0.50, 0.50), 9: (40.5, 0.10, 1.00),
    10: (57.0, 0.10, 0.10), 11: (57.0, 0.50, 0.50), 12: (57.0, 0.05, 1.00),
    13: (380.0, 0.05, 0.05), 14: (380.0, 0.10, 0.10), 15: (380.0, 0.25, 0.25),
    16: (380.0, 0.50, 0.50), 17: (380.0, 0.75, 0.75), 18: (380.0, 1.00, 1.00),
    19: (260.0, 0.10, 0.10), 20: (260.0, 0.50, 0.50), 21: (260.0, 0.05, 1.00),
    22: (400.0, 0.10, 0.10), 23: (400.0, 0.50, 0.50), 24: (400.0, 0.01, 0.01),
}


def test_etsi_dc_54v_and_380v(tmp_path):
    n = int(FS * 2.2)
    ch = {}
    refs = {}
    for k, (volts, lo, hi) in DC.items():
        g = group_of(k)
        v = Signal(0.0, 50.0, dc=volts)
        ch["G%d-V" % g] = sample(v, n)
        if lo == hi:
            i = Signal(0.0, 50.0, dc=lo * OUTLET_A)
        else:
            # fast waveform: load swinging lo -> hi -> lo, 1 ms period
            env = fast_envelope(lo, hi)
            i = Signal(0.0, 50.0, dc=0.0, env=None)
            i = _Fn(lambda t, env=env: OUTLET_A * env(t))
        refs[k] = ref_numeric(v, i, 0.0, 0.01, n=200000)
        ch["O%d-I" % k] = sample(i, n)
    cfg, _ = write_fixture(str(tmp_path / "dc"), ch)
    out = run_meter(cfg, "--dc")
    ck = Checker()
    frs = frames(out, t_min=T_MIN)
    assert len(frs) >= 8
    for fr in frs:
        for k, (volts, lo, hi) in DC.items():
            x = fr["values"]["O%d" % k]
            ref = refs[k]
            w = "%s O%d t=%.2f %gV %g..%g" % (fr["kind"], k, fr["t_s"], volts, lo, hi)
            tol = i_tol(lo)
            ck.rel(w + ".p_w", x["p_w"], ref["p_w"], tol)
            ck.rel(w + ".irms", x["irms"], ref["irms"], tol)
            ck.rel(w + ".i_dc", x["i_dc"], ref["i_dc"], tol)
            ck.rel(w + ".vrms", x["vrms"], ref["vrms"], 0.001)
            ck.rel(w + ".v_dc", x["v_dc"], ref["v_dc"], 0.001)
    end = out[-1]["end"]
    t_a, t_b = energy_span(n, None)            # DC: from the first 20 ms block on, whole seconds
    span = t_b - t_a
    assert span == pytest.approx(2.0, abs=1e-12)
    for k, (volts, lo, hi) in DC.items():
        ck.abs("G%d.energy_span_s" % group_of(k), end["energy_span_s"]["G%d" % group_of(k)], span, 1e-4)
        ck.rel("O%d.e_imp_wh" % k, end["energy_wh"]["O%d" % k][0], refs[k]["p_w"] * span / 3600.0,
               p_tol(lo, 1.0))
    ck.done(500)


class _Fn:
    def __init__(self, fn):
        self.fn = fn

    def __call__(self, t):
        return self.fn(np.asarray(t, dtype=np.float64))


# --- fixture 6: a 60 Hz system (12-cycle windows) ------------------------------------------------
def test_60hz_system_12_cycle_windows(tmp_path):
    n = int(FS * 2.2)
    v1 = Signal(120.0, 60.0)
    v2 = Signal(230.0, 59.5)
    cases = {1: (v1, Signal(8.0, 60.0, 0.0), 0.5), 2: (v1, Signal(4.0, 60.0, 60.0), 0.25),
             3: (v1, smps_current(4.0, f=60.0), 0.25),
             4: (v2, Signal(16.0, 59.5, -36.87), 1.0), 5: (v2, Signal(0.8, 59.5, 0.0), 0.05),
             6: (v2, Signal(8.0, 59.5, 0.0, harm=MIX), 0.5)}
    ch = {"G1-V": sample(v1, n), "G2-V": sample(v2, n)}
    for k, (v, i, load) in cases.items():
        ch["O%d-I" % k] = sample(i, n)
    cfg, _ = write_fixture(str(tmp_path / "f60"), ch)
    out = run_meter(cfg, "--f-nom", "60", "--channels", "O1,O2,O3,O4,O5,O6")
    wins = frames(out, "win", T_MIN)
    assert wins and all(w["cycles"] == 12 for w in wins)
    assert all(abs(w["len_ms"] - 200.0) < 2.0 for w in wins)
    ck = Checker()
    for fr in frames(out, t_min=T_MIN):
        for k, (v, i, load) in cases.items():
            check_vi(ck, fr, "O%d" % k, ref_ac(v, i), load, "60 Hz system")
    ck.done(300)

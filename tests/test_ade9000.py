"""ADE9000 driver (drivers/ade9000.py) against its twin (sim/twin_ade9000.py).

MicroPython side: tests/mp/ade9000_cases.py (one case per run). References are
computed here in NumPy from the same signal parameters or from the very input
samples the twin was fed."""
import math

import numpy as np
import pytest
from mputil import run_mp_json

FS = 8000
FS_LPF = 74518668          # TRM Table 8: sinc4 + IIR LPF code at full scale (+/-1 V peak)
V_DIV = 991.0
CT, RB = 2500.0, 15.0
AFE = [RB / CT, 1.0 / V_DIV] * 3 + [RB / CT]
TOL = 0.002                # 0.2 %


def case(*args):
    rows = run_mp_json(script="tests/mp/ade9000_cases.py", args=args, timeout=120)
    assert len(rows) == 1
    return rows[0]


def no_errors(e):
    return all(v == 0 for v in e.values())


def lpf_codes(x, scale_q24):
    """Waveform code of the twin's ADC: 24 bits shifted left 4 (floor), clamped."""
    c = (np.asarray(x, dtype=np.int64) * int(scale_q24)) >> 24
    c = np.clip(c, -(1 << 27), (1 << 27) - 1)
    return c & ~np.int64(15)


def expected_scale(ch, pga):
    return int(round(AFE[ch] * 1e-6 * FS_LPF * pga * (1 << 24)))


# --- bring-up, registers, wire protocol -----------------------------------------------------

def test_begin_configures_and_registers_read_back():
    c = case("begin")
    assert no_errors(c["errors"]) and no_errors(c["errors_end"])
    assert c["irq1_power_on"] == 0 and c["irq0_power_on"] == 1
    assert c["irq1_after"] == 1                      # RSTDONE cleared: IRQ1 released
    assert c["run"] == 1
    assert c["wfb_cfg"] == 0x12F0                    # IN, sinc4+LPF, continuous, fixed rate, capture
    assert c["ep_cfg"] == 0x0001 and c["accmode"] == 0 and c["pga"] == 0
    assert c["w16"] == 0x1234
    assert c["w32"] == 0xFEDCBA98 and c["w32s"] == 0xFEDCBA98 - (1 << 32)
    assert c["part_after_write"] == 0x00100000       # read-only: write ignored
    assert c["unknown"] == 0 and c["unknown2"] == 0  # unmapped address reads 0, write lost
    assert c["last_cmd"] == (0x20D << 4) | 0x08      # CMD_HDR of the AVRMS read
    assert c["cut_write"] == 0x1111                  # CS raised after 16 of 32 bits: no write
    assert c["crc_spi"] == c["crc_calc"]


def test_absent_chip_raises_absent_error():
    c = case("absent")
    for k in ("none", "unpowered"):
        assert c[k] == "AbsentError"
        assert c[k + "_errors"]["absent"] == 1 and c[k + "_errors"]["crc"] == 0


def test_wrong_identity_raises_id_error():
    c = case("identity")
    for k in ("part", "cfg5"):
        assert c[k] == "IdError" and c[k + "_errors"]["id"] == 1


def test_reset_paths_and_timeout():
    c = case("reset")
    assert no_errors(c["slow_boot"])                 # RSTDONE after 5 transactions: polled
    assert no_errors(c["silent_boot"][0]) and c["silent_boot"][1] == 1   # no answer while booting
    assert c["hang"] == "DeviceError"                # never done: bounded polls, then timeout
    assert c["hang_errors"]["timeout"] == 1 and c["hang_polls"] == 20
    before, after, run, errs = c["sw_reset"]         # no RESET pin: CONFIG1.SWRST
    assert before == 0x01000000 and after == 0 and run == 1 and no_errors(errs)
    assert c["hw_reset"] == [0, 1]                   # RESET pin: defaults back, RSTDONE set


def test_crc_error_counted_retried_and_raised():
    c = case("crc")
    assert c["one"] == 0x00123456 and c["one_errors"] == 1      # bad frame, good retry
    assert c["two"] == "CrcError" and c["two_errors"] == 3      # both tries bad
    assert c["r16"] == "CrcError" and c["r16_errors"] == 4      # 16-bit read, no retry
    assert c["after"] == 0x00123456


def test_wrong_spi_mode_fails():
    assert case("wrong_mode")["mode0"] in ("AbsentError", "CrcError", "IdError")


# --- DSP measurements vs NumPy -------------------------------------------------------------

def reference(sig, n0, n1):
    """rms, P, Q, S per phase and neutral rms over samples [n0, n1) of the rig's sines."""
    f = sig["f"]
    k = np.arange(n0, n1, dtype=np.float64)
    w = 2 * np.pi * f / FS

    def wave(rms, deg):
        a = rms * 1e6 * math.sqrt(2)
        return np.round(a * np.sin(w * k + math.radians(deg))) / 1e6

    out = []
    for ph in range(3):
        v = wave(sig["v"][ph], -120.0 * ph)
        vq = wave(sig["v"][ph], -120.0 * ph - 90.0)          # quarter period later
        i = wave(sig["i"][ph], -120.0 * ph - sig["lag"][ph])
        vr, ir = np.sqrt(np.mean(v * v)), np.sqrt(np.mean(i * i))
        out.append({"v": vr, "i": ir, "p": np.mean(v * i), "q": np.mean(vq * i), "s": vr * ir})
    i_n = wave(sig["i_n"], 17.0)
    return out, np.sqrt(np.mean(i_n * i_n))


@pytest.mark.parametrize("f,f_nom", [(50.0, 50), (50.3, 50), (59.7, 60)])
def test_rms_power_frequency_energy_match_numpy(f, f_nom):
    c = case("measure", f, f_nom, 1.5)
    assert no_errors(c["errors"])
    n1 = int(1.5 * FS)
    n0 = n1 - int(round(25 * FS / f))                        # whole cycles
    ref, ref_n = reference(c["sig"], n0, n1)
    for ph in range(3):
        r = ref[ph]
        v, i = c["rms"][ph]
        p, q, s = c["power"][ph]
        assert abs(v / r["v"] - 1) < TOL, (ph, v, r["v"])
        assert abs(i / r["i"] - 1) < TOL, (ph, i, r["i"])
        assert abs(s / r["s"] - 1) < TOL, (ph, s, r["s"])
        assert abs(p - r["p"]) < TOL * r["s"], (ph, p, r["p"])
        assert abs(q - r["q"]) < TOL * r["s"], (ph, q, r["q"])
        assert abs(c["freq"][ph] - f) < 0.01
        # energy over one EGYRDY interval (1 s) in steady state
        wh, varh, vah = c["de"][ph]
        assert abs(wh - r["p"] / 3600) < TOL * r["s"] / 3600, (ph, wh, r["p"] / 3600)
        assert abs(varh - r["q"] / 3600) < TOL * r["s"] / 3600
        assert abs(vah / (r["s"] / 3600) - 1) < TOL
    assert abs(c["in"] / ref_n - 1) < TOL
    # register scaling straight from the TRM's full-scale codes
    vpin = c["sig"]["v"][0] / V_DIV
    assert abs(c["raw"][0] / (vpin / 0.70710678 * 52702092) - 1) < TOL
    assert abs(c["period_reg"] - (FS * 65536 / f - 1)) < 0.0002 * FS * 65536 / f
    assert c["egyrdy"] == 1


def test_no_signal_period_coerced_to_nominal():
    c = case("nosignal")
    assert abs(c["freq"] - 60.0) < 0.001                     # 0x00855554 with SELFREQ = 60 Hz
    assert c["rms"] == [0.0, 0.0]


# --- waveform buffer ----------------------------------------------------------------------

@pytest.mark.parametrize("pga", [1, 2])
def test_waveform_buffer_codes_exact(pga):
    c = case("wfb_exact", pga)
    assert no_errors(c["errors"])
    assert c["scale_q24"] == [expected_scale(ch, pga) for ch in range(7)]
    codes = np.array(c["codes"], dtype=np.int64).reshape(-1, 7)
    assert codes.shape == (800, 7)                           # every set of 0.1 s, in order
    for ch in range(7):
        exp = lpf_codes(c["inputs"][ch], c["scale_q24"][ch])
        assert np.array_equal(codes[:, ch], exp), ch
    assert np.all(codes & 15 == 0)
    # every poll: 80 sets = 5 pages; 5 CS cycles (STATUS0, WFB_TRG_STAT, one burst,
    # WFB_PG_IRQEN, STATUS0), one more when the burst wraps at 0xFFF
    for n, cs in c["per_drain"]:
        assert n == 80 and cs in (5, 6)


def test_late_host_overrun_counted_and_stream_resumes():
    c = case("overrun")
    log = c["log"]
    assert log[0][:3] == [160, 0, 1]
    assert log[1][:3] == [240, 0, 1]                         # 30 ms late: 15 pages, nothing lost
    assert log[2][:3] == [240, 1, 0]                         # 50 ms late: lapped, IRQ0 was low
    assert c["irq0_events"] == 1 and c["irq0_after"] == 1 and c["gap"] is True
    assert log[3][:2] == [80, 1]
    # after the gap: the 15 newest whole pages, i.e. samples [end - 240, end)
    end = c["after_gap_end"]
    exp = lpf_codes(c["va"][end - 240:end], c["scale_q24"][1])
    assert np.array_equal(np.array(c["after_gap"]), exp)


def test_drain_allocates_nothing():
    c = case("heap")
    assert c["drains"] == [[80, None], [240, None], [240, None]]
    assert c["overrun"] == 1


# --- calibration and injected errors --------------------------------------------------------

def phcal_ref(deg, f):
    w = 2 * math.pi * f / FS
    phi = math.radians(deg)
    return round((math.sin(phi - w) + math.sin(w)) / math.sin(2 * w - phi) * 2 ** 27)


def test_calibration_registers_change_twin_output():
    c = case("calibration")
    assert no_errors(c["errors"])
    assert c["regs"] == [round(0.01 * 2 ** 27), round(-0.02 * 2 ** 27), round(0.02 * 2 ** 27),
                         phcal_ref(1.0, 50.0), round(-0.05 * 2 ** 27)]
    assert c["phcal_code"] == phcal_ref(1.0, 50.0)
    (v0, i0, p0, q0, s0), (v1, i1, p1, q1, s1) = c["base"][0], c["cal"][0]
    assert abs(v1 / v0 - 1.01) < 5e-4 and abs(i1 / i0 - 0.98) < 5e-4
    assert abs(p1 / p0 - 1.01 * 0.98 * 1.02) < 1e-3
    # phase B: CT delays the current 1 deg (61 deg seen); PHCAL for 1 deg brings back 60 deg
    _, _, p0, q0, s0 = c["base"][1]
    _, _, p1, q1, s1 = c["cal"][1]
    assert abs(math.degrees(math.atan2(q0, p0)) - 61.0) < 0.05
    assert abs(math.degrees(math.atan2(q1, p1)) - 60.0) < 0.05
    assert abs(s1 / s0 - 1) < 1e-3                           # all-pass: no gain change
    assert abs(c["cal"][2][2] / c["base"][2][2] - 0.95) < 1e-3


def test_injected_errors():
    c = case("inject")
    (va, ia), (vb, ib) = c["rms"]
    assert abs(vb / va - 1.004) < 3e-4                       # gain error on VB
    pb, qb, sb = c["power"][1]
    assert abs(math.degrees(math.atan2(qb, pb)) - 2.0) < 0.05  # IB delayed 2 deg
    assert c["ic_codes"] == [4000]                           # offset only, on an idle channel
    assert abs(c["in_rms"] / 5000 - 1) < 0.03                # noise rms in codes
    assert abs(c["in_mean"]) < 200
    assert abs(c["in_rms_reg"] / 5000 - 1) < 0.03            # the chip's NIRMS sees it too


def test_long_run_twin_and_drain():
    # CPU figures are `make bench`'s business; here only what the run must show
    c = case("perf")
    assert c["errors"]["overrun"] == 1                       # the untimed first second was not drained

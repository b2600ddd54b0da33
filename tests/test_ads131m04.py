"""ADS131M04 driver against its twin: bring-up, register traffic, frames, the
DRDY/FIFO path, simulated DMA, error injection, allocation and throughput.

Expected codes and CRCs are recomputed here (CPython, numpy, binascii) from
the inputs the MicroPython scripts used, independently of the driver."""
import binascii
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mputil import MICROPYTHON, ROOT, run_mp_json

MP = ROOT / "tests" / "mp"
DRIVER = ROOT / "drivers" / "ads131m04.py"
MPY_CROSS = str(Path(MICROPYTHON).parent / "mpy-cross")

DIVIDER = (2000000.0 + 1500.0) / 1500.0
AFE = [1.0 / DIVIDER, 12.0 / 1000.0, 12.0 / 1000.0, 12.0 / 1000.0]
FS_CODE = 1 << 23


def crc16(data):
    """CRC-16-CCITT, seed FFFFh, not reflected (the ADS131M04 default)."""
    return binascii.crc_hqx(bytes(data), 0xFFFF)


def frame(resp, codes=(0, 0, 0, 0), ws=3):
    b = bytearray(resp.to_bytes(2, "big") + bytes(ws - 2))
    for c in codes:
        b += (c & 0xFFFFFF).to_bytes(3, "big") + bytes(ws - 3)
    c = crc16(b)
    return (b + c.to_bytes(2, "big") + bytes(ws - 2)).hex()


def k_fixed(ch, gain=1, gain_err=0.0):
    # Same float expression, in the same order, as the twin's _prepare().
    scale = AFE[ch] * 1e-6 * gain * 8388608 / 1.2 * (1.0 + gain_err)
    return round(scale * (1 << 36))


def expected(x, ch, gain=1, gain_err=0.0, offset=0):
    if x is None:
        x = [0] * 1
    k = k_fixed(ch, gain, gain_err)
    out = []
    for v in x:
        c = ((v * k + (1 << 35)) >> 36) + offset
        out.append(max(-FS_CODE, min(FS_CODE - 1, c)))
    return out


def interleave(chans, n):
    out = []
    for i in range(n):
        for ch in range(4):
            out.append(chans[ch][i] if chans[ch] is not None else 0)
    return out


def by_what(rows):
    res = {}
    for r in rows:
        res.setdefault(r["what"], []).append(r)
    return res


def run(name):
    return by_what(run_mp_json(script=MP / ("ads131m04_%s.py" % name), timeout=120))


@pytest.fixture(scope="module")
def regs():
    return run("regs")


@pytest.fixture(scope="module")
def ident():
    return run("ident")


@pytest.fixture(scope="module")
def dma():
    return run("dma")


@pytest.fixture(scope="module")
def irq():
    return run("irq")


# --- bring-up and registers -------------------------------------------------------
def test_begin_configures_and_verifies(regs):
    b = regs["begin"][0]
    r = b["regs"]
    assert b["ident"] == 0x2400
    assert r[0x00] == 0x2400
    assert r[0x02] == 0x0110           # MODE: 24-bit, TIMEOUT, RESET flag cleared
    assert r[0x03] == 0x0F0A           # CLOCK: all channels, OSR 512 (010b), HR power
    assert r[0x04] == 0x7210           # GAIN1: 1, 2, 4, 128
    assert r[0x09] == 0
    assert r[0x0E] == 100 << 6         # CH1_CFG PHASE1 = +100
    assert r[0x13] == (-100 & 0x3FF) << 6
    assert r[0x18] == 511 << 6
    assert r[0x0C] == 0x8000 and r[0x11] == 0x8000   # GCAL reset values
    assert r[0x01] == 0x0100           # STATUS: no RESET flag, WLENGTH 24, nothing queued
    assert b["status"] == 0x0100
    assert b["ring"] == 0


def test_register_write_readback_and_read_only(regs):
    rw = regs["rw"][0]
    assert rw["got"] == [0x1234, 0xAB00, 0xFF0F]      # unimplemented bits read 0
    assert rw["twin_ocal"] == 0x1234
    assert rw["ro"] == [0x2400, 0x0100, 0]           # ID, STATUS, reserved 05h unchanged


def test_command_responses_in_next_frame(regs):
    c = regs["commands"][0]
    assert c["null"] == frame(0x0100)
    assert c["unknown"] == frame(0x0100)          # an unknown word is a NULL
    assert c["standby"] == frame(0x0022) and c["standby_flag"] is True
    assert c["wakeup"] == frame(0x0033)
    assert c["lock"] == frame(0x0555)
    assert c["locked_wreg"] == frame(0x8100)      # refused while locked: STATUS with LOCK
    assert c["locked_rreg"] == frame(0x0000)      # ...and the register kept its value
    assert c["unlock"] == frame(0x0655)
    assert c["wreg2"] == frame(0x4000 | (7 << 7) | 1)
    assert c["wreg2_regs"] == [0x0102, 0x0304]
    # multi-register RREG: ack 111a aaaa annn nnnn, the registers, CRC, no ADC data
    words = [0xE000 | (2 << 7) | 2, 0x0110, 0x0F0A, 0x7210]
    b = b"".join(w.to_bytes(2, "big") + b"\0" for w in words)
    assert c["rreg3"] == (b + crc16(b).to_bytes(2, "big") + b"\0" + bytes(3)).hex()
    # RESET in a short frame does nothing
    assert c["short_reset"] == frame(0x0100) and c["short_reset_mode"] == 0x0110


def test_input_crc(regs):
    x = regs["rxcrc"][0]
    cmd = bytes([0x63, 0x80, 0, 0x22, 0x33, 0])
    assert x["cmd_crc"] == crc16(cmd)
    bad = bytes.fromhex(x["bad"])
    assert (bad[0] << 8 | bad[1]) & 0x1000        # STATUS.CRC_ERR
    assert crc16(bad[:15]) == bad[15] << 8 | bad[16]
    assert x["badreg"] == 0x0102                  # the WREG with a bad CRC did not execute
    assert x["good"] == 0x2233
    assert regs["rxcrc_off"][0]["mode"] == 0x0110


def test_word_lengths(regs):
    f = {k: bytes.fromhex(v) for k, v in regs["wlength"][0]["frames"].items()}
    f24 = f["1"]
    codes = [int.from_bytes(f24[3 * k:3 * k + 3], "big", signed=True) for k in range(1, 5)]
    assert codes[2] < 0 and codes[0] > 0
    for wl, ws in (("0", 2), ("1", 3), ("2", 4), ("3", 4)):
        b = f[wl]
        assert len(b) == 6 * ws
        assert b[0] << 8 | b[1] == (int(wl) << 8) | 0x000F      # STATUS: WLENGTH, DRDY3..0
        assert crc16(b[:5 * ws]) == b[5 * ws] << 8 | b[5 * ws + 1]
        assert b[5 * ws + 2:6 * ws] == bytes(ws - 2)
        for k in range(4):
            w = b[(k + 1) * ws:(k + 2) * ws]
            c = codes[k] & 0xFFFFFF
            if wl == "0":
                assert w == (c >> 8).to_bytes(2, "big")        # 16 MSBs
            elif wl == "2":
                assert w == c.to_bytes(3, "big") + b"\0"       # zero-padded
            elif wl == "3":
                assert int.from_bytes(w, "big", signed=True) == codes[k]   # sign-extended
            else:
                assert w == c.to_bytes(3, "big")


def test_register_read_crc_error(regs):
    e = regs["rreg_crc"][0]
    assert e["raised"] and e["crc"] == 1 and "CRC" in e["msg"]


def test_standby_stops_conversions(regs):
    s = regs["standby"][0]
    assert s["during"] == 0 and s["after"] == 4


# --- identification ---------------------------------------------------------------
def test_good_part_and_revision(ident):
    assert ident["good"][0]["ok"]
    assert ident["revision"][0]["ok"]
    assert ident["good"][0]["errors"]["id"] == 0


def test_wrong_part_raises_iderror_with_value(ident):
    w = ident["wrong_part"][0]
    assert not w["ok"] and w["ident"] and "0xff28" in w["msg"]
    assert w["errors"]["id"] == 1
    w = ident["wrong_id_reg"][0]
    assert not w["ok"] and w["ident"] and "0x2800" in w["msg"]


def test_absent_chip(ident):
    for tag in ("absent", "unfitted"):
        a = ident[tag][0]
        assert not a["ok"] and a["absent"] and a["errors"]["absent"] == 1
        assert "ffffffff" in a["msg"]


def test_wrong_spi_mode_fails_clearly(ident):
    for tag in ("mode_00", "mode_10", "mode_11"):
        m = ident[tag][0]
        assert not m["ok"] and not m["absent"]
        assert m["crc"] and "SPI mode 1" in m["msg"]


def test_bad_arguments(ident):
    bad = ident["badarg"]
    assert len(bad) == 3 and all(not b["ok"] and b["frames"] == 0 for b in bad)


def test_sync_and_reset_pin(ident):
    s = ident["sync"][0]
    assert s["regs"] == s["before"]                      # SYNC keeps the configuration
    assert s["syncs"] == 1 and s["fifo_before"] == 2 and s["fifo_after"] == 0
    assert s["drdy"] == 1
    p = ident["pin_reset"][0]
    assert p["resets"] == 1 and p["regs"] == [0x0510, 0x0F0E, 0x0000]   # reset values
    assert ident["begin_hw_reset"][0]["ok"]
    assert ident["after_hw_begin"][0]["gain1"] == 0x2222


# --- DMA path ---------------------------------------------------------------------
def test_dma_exact_codes(dma):
    e = dma["exact"][0]
    assert e["afe"] == pytest.approx(AFE, rel=1e-15)
    ins = e["inputs"]
    n = len(ins[0])
    exp = interleave([expected(ins[ch], ch) if ins[ch] is not None else None
                      for ch in range(4)], n)
    assert e["codes"] == exp
    # sanity against plain float scaling, and saturation really exercised
    for ch in (0, 1, 3):
        x = np.array(ins[ch], dtype=float)
        scale = AFE[ch] * 1e-6 * FS_CODE / 1.2
        ref = np.clip(np.round(x * scale), -FS_CODE, FS_CODE - 1)
        assert np.max(np.abs(ref - np.array(exp[ch::4]))) <= 1
    assert FS_CODE - 1 in exp[0::4] and -FS_CODE in exp[1::4]
    assert e["errors"] == {"crc": 0, "overrun": 0, "absent": 0, "id": 0, "timeout": 0,
                           "other": 0}
    assert e["overruns"] == 0 and e["conversions"] == n
    assert e["status"] == 0x010F


def test_dma_frames_bit_exact(dma):
    e = dma["exact"][0]
    for k, h in enumerate(e["raw"]):
        codes = e["codes"][4 * k:4 * k + 4]
        assert h == frame(0x010F, codes)


def test_ring_full_counts_overruns(dma):
    r = dma["ring_full"][0]
    assert r["count"] == 16 and r["overruns"] == 24 and r["drained"] == 16
    e = dma["exact"][0]
    assert r["codes"] == e["codes"][:64]                 # the first 16 conversions
    assert r["errors"]["crc"] == 0


def test_crc_error_counted_and_samples_held(dma):
    c = dma["crc_hold"][0]
    e = dma["exact"][0]["codes"]
    assert c["crc"] == 3
    assert c["a"] == e[:20]
    last = e[16:20]
    assert c["b"][:12] == last * 3                        # three held frames
    assert c["b"][12:] == e[32:60]                        # then the stream continues aligned


def _phase_deg(x, f=50.0, fs=8000):
    x = np.asarray(x, dtype=float)
    n = np.arange(len(x))
    z = np.sum(x * np.exp(-2j * np.pi * f * n / fs))
    return np.degrees(np.angle(z)), np.abs(z) * 2 / len(x)


def test_gain_phase_offset_injection(dma):
    c = np.array(dma["inject"][0]["codes"]).reshape(-1, 4)[8:]    # skip interpolation start
    c = c[:1600 - 8 - (1600 - 8) % 160]                            # whole cycles
    p0, a0 = _phase_deg(c[:, 0])
    p1, a1 = _phase_deg(c[:, 1])
    p2, a2 = _phase_deg(c[:, 2])
    p3, a3 = _phase_deg(c[:, 3])
    assert (p0 - p1) == pytest.approx(1.0, abs=0.01)            # ch1 lags 1 deg
    assert abs(p2 - p3) < 0.01
    assert a2 / a3 == pytest.approx(1.01, abs=2e-4)             # +1 % gain
    assert np.mean(c[:, 3]) == pytest.approx(1000, abs=1)       # +1000 codes offset
    assert np.mean(c[:, 2]) == pytest.approx(0, abs=1)


def test_phase_register_delay(dma):
    c = np.array(dma["phase_reg"][0]["codes"]).reshape(-1, 4)[8:1448]    # 9 cycles
    p = [_phase_deg(c[:, ch])[0] for ch in range(4)]
    step = 360 * 50 / 8000                                       # degrees per sample
    assert (p[0] - p[1]) == pytest.approx(step * 256 / 512, abs=0.01)   # +256 tMOD
    assert (p[0] - p[2]) == pytest.approx(-step * 128 / 512, abs=0.01)  # -128 tMOD: a lead
    assert (p[0] - p[3]) == pytest.approx(-0.5, abs=0.01)               # injected lead


def test_noise_is_seeded_and_sized(dma):
    rows = dma["noise"]
    a, b, c = (np.array(r["codes"]).reshape(-1, 4) for r in rows)
    assert np.array_equal(a, b)                                  # same seed, same noise
    assert not np.array_equal(a[:, 0], c[:, 0])
    assert np.std(a[:, 0]) == pytest.approx(50, rel=0.1)
    assert np.std(a[:, 2]) == pytest.approx(3, rel=0.15)
    assert abs(np.mean(a[:, 0])) < 5
    assert np.all(a[:, 1] == 0) and np.all(a[:, 3] == 0)


def test_pga_gains(dma):
    g = dma["gains"][0]
    c = np.array(g["codes"]).reshape(-1, 4)
    x = dma_small_sine()
    for ch, gain in enumerate((1, 2, 8, 128)):
        assert list(c[:, ch]) == expected(x, ch, gain)
    assert g["lsb"] == pytest.approx([1.2 / gv / 2 ** 23 for gv in (1, 2, 8, 128)])
    assert np.max(c[:, 3]) == FS_CODE - 1                      # 128x saturates at 10 A


def dma_small_sine():
    import math
    return [int(10e6 * math.sin(2 * math.pi * 50.0 * i / 8000)) for i in range(160)]


def test_osr_decimates(dma):
    o = dma["osr"][0]
    got = np.array(o["codes"]).reshape(-1, 4)
    ref = np.array(o["ref"]).reshape(-1, 4)
    assert o["conv"] == 40
    assert np.array_equal(got, ref[0::2])
    assert "16256" in o["odd"]


def test_mux_disable_and_calibration(dma):
    m = dma["mux_cal"][0]
    off = np.array(m["off"]).reshape(-1, 4)
    assert np.all(off[:, 0] == 7)                  # shorted inputs: offset only
    assert np.all(off[:, 1] == 1118481)            # +2/15 FS test signal
    assert np.all(off[:, 2] == 0)                  # channel disabled
    assert np.all(off[:, 3] == -1118481)
    cal = np.array(m["cal"]).reshape(-1, 4)
    raw = expected(m["big"], 2)
    assert list(cal[:, 2]) == [((c - 100) * 0x400000 + 0x400000) >> 23 for c in raw]
    assert list(cal[:, 1]) == expected(m["big"], 1)


def test_extreme_codes_unpack(dma):
    assert dma["extremes"][0]["codes"] == [FS_CODE - 1, -FS_CODE, -1, 1] * 4


# --- DRDY interrupt path ------------------------------------------------------------
def _exact_codes(dma):
    return dma["exact"][0]["codes"]


def test_irq_delivers_every_conversion_in_order(irq, dma):
    o = irq["order"][0]
    assert o["codes"] == _exact_codes(dma)
    assert o["errors"]["overrun"] == 0 and o["errors"]["crc"] == 0
    assert o["lost"] == 0 and o["ring_overruns"] == 0 and o["drdy"] == 1
    assert o["frames"] == o["conversions"]        # one SPI frame per conversion


def test_late_host_counts_overrun(irq, dma):
    late = irq["late"][0]
    e = _exact_codes(dma)
    assert late["drdy_masked"] == 0
    assert late["late1"] == {"overrun": 1, "lost": 0, "drdy": 1, "count": 5}
    assert late["late3"] == {"overrun": 2, "lost": 2, "drdy": 1, "count": 8}
    # conversions 0..5 all arrive; of 6..9 only the two the FIFO kept (8, 9)
    want = e[0:24] + e[32:40] + e[40:48]
    assert late["codes"] == want


def test_drdy_stays_low_while_queued(irq, dma):
    f = irq["fifo_levels"][0]
    e = _exact_codes(dma)
    assert f["levels"] == [0, 0, 1]
    assert f["c1"] == e[0:4] and f["c2"] == e[4:8]
    assert f["status"] == [0x010F, 0x010F, 0x0100]   # last read: nothing new, DRDYn clear
    assert f["c3"] == e[4:8]


def test_irq_ring_full(irq, dma):
    r = irq["irq_ring_full"][0]
    assert r["count"] == 8 and r["overruns"] == 4 and r["lost"] == 0 and r["drdy"] == 1
    assert r["codes"] == _exact_codes(dma)[:32]
    assert r["overrun"] == 0


def test_drdy_formats(irq):
    f = {r["fmt"]: r for r in irq["drdy_format"]}
    assert f[0]["edges"] == 3 and f[0]["level"] == 0     # level: low until read
    assert f[1]["edges"] == 3 and f[1]["level"] == 1     # pulse: back high by itself


def _with_offset(codes, k):
    out = list(codes)
    for i in range(2, len(out), 4):
        out[i] += 10 * k
    return out


def test_group_handler_on_shared_drdy(irq, dma):
    g = irq["group"][0]
    e = _exact_codes(dma)
    assert g["mode"] == [0x0112] * 3                  # DRDY_HiZ for the wired-AND line
    for k in range(3):
        assert g["codes"][k] == _with_offset(e[:20], k)
    assert g["overrun"] == [1, 1, 1] and g["lost"] == [0, 0, 0] and g["drdy"] == 1


def test_per_chip_handlers_on_shared_line(irq, dma):
    p = irq["per_chip_shared"][0]
    e = _exact_codes(dma)
    for k in range(3):
        assert p["codes"][k] == _with_offset(e[:20], k)
    assert p["overrun"] == [0, 0, 0]
    assert p["frames"] == [10, 5 + 5, 5]              # stale extra reads, never counted


# --- allocation, 32-bit safety, build, throughput -------------------------------------
def test_hot_paths_allocate_nothing():
    rows = by_what(run_mp_json(script=MP / "ads131m04_heap.py", timeout=120))
    h = rows["heap"][0]
    assert h["irq"]["count"] == 256 and h["irq"]["overrun"] == 1
    assert h["irq"]["overruns"] == 400 - 256
    assert h["drain"]["n"] == 255 and h["drain"]["crc"] == 2
    assert h["group"]["count"] == [7, 7, 7] and h["group"]["overrun"] == [1, 1, 1]


def _viper_bodies(src):
    return re.findall(r"@micropython\.viper\n(def .*?)(?=\n(?:@|def |class |\S))", src, re.S)


def test_viper_kernels_stay_within_32_bits():
    src = DRIVER.read_text()
    bodies = _viper_bodies(src)
    assert [b.split("(")[0] for b in bodies] == ["def _drain", "def _crc_ok"]
    for body in bodies:
        assert "while" in body
        for lit in re.findall(r"\b(0x[0-9a-fA-F]+|\d+)\b", body):
            assert int(lit, 0) < 1 << 31, lit
        for sh in re.findall(r"<<\s*(\d+)", body):
            assert int(sh) <= 16          # bytes (< 2**8) and CRCs (< 2**16) only
    # The sign extension used for 24-bit words, checked over every word with
    # int32 arithmetic: no intermediate leaves 32 bits, results match.
    v = np.arange(1 << 24, dtype=np.int64)
    t = (v ^ 0x800000) - 0x800000
    assert t.max() < 2 ** 31 and t.min() >= -2 ** 31
    v32 = v.astype(np.int32)
    assert np.array_equal(((v32 ^ np.int32(0x800000)) - np.int32(0x800000)).astype(np.int64),
                          np.where(v >= 1 << 23, v - (1 << 24), v))
    # CRC step: (crc << 8) & 0xFF00 of a 16-bit crc never exceeds 24 bits
    crc = np.arange(1 << 16, dtype=np.int64)
    assert ((crc << 8).max()) < 1 << 24


def test_driver_compiles_for_the_mcu(tmp_path):
    out = tmp_path / "ads131m04.mpy"
    p = subprocess.run([MPY_CROSS, "-march=armv7emsp", str(DRIVER), "-o", str(out)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert out.stat().st_size > 0



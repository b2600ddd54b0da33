"""COMTRADE fixtures: tools/comtrade.py (CPython writer/reader) and
sim/comtrade.py (MicroPython playback with the plant's generate() interface)."""
import json
import math
import re
from fractions import Fraction

import numpy as np
import pytest

from mputil import ROOT, run_mp, run_mp_json
from tools import comtrade

FS = 8000
ADC_LSB_V = 1601.0 / 2 ** 23          # ADS131M04 group voltage: +/-1601 V over 24 bits
ADC_LSB_A = 100.0 / 2 ** 23


def waves(n, seed=1):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    v = 325.27 * np.sin(2 * np.pi * 50 * t)
    i = 12.0 * np.sin(2 * np.pi * 50 * t - 0.4) + rng.normal(0, 0.05, n)
    return v, i


def play(tmp_path, cfg, samples, chans, block=80, loop=False, heap="4M"):
    out = tmp_path / "play.bin"
    lines = run_mp_json(script=ROOT / "tests/mp/comtrade_play.py",
                        args=(cfg, out, samples, block, 1 if loop else 0, ",".join(chans)),
                        heap=heap, timeout=120)
    info = lines[-1]
    if "error" in info:
        return None, info
    raw = np.fromfile(out, dtype="<i4")
    nb = samples // block
    arr = raw.reshape(nb, len(chans), block).transpose(1, 0, 2).reshape(len(chans), -1)
    return {c: arr[k] for k, c in enumerate(chans)}, info


def expected_micro(meta, name, codes):
    """floor((a*x + b) * unit * [primary/secondary] + 1/2), exactly, from the cfg text."""
    ch = [c for c in meta["analog"] if c["id"] == name][0]
    a = Fraction(ch["a_text"])
    b = Fraction(ch["b_text"])
    u = {"V": 10 ** 6, "KV": 10 ** 9, "MV": 10 ** 3, "A": 10 ** 6, "MA": 10 ** 3, "KA": 10 ** 9}[ch["unit"].upper()]
    k = Fraction(u)
    if ch["ps"] == "S":
        k *= Fraction(str(ch["primary"])) / Fraction(str(ch["secondary"]))
    return np.array([math.floor((a * int(x) + b) * k + Fraction(1, 2)) for x in codes], dtype=np.int64)


# ------------------------------------------------------------------ CPython writer/reader
@pytest.mark.parametrize("fmt", ["BINARY32", "ASCII", "BINARY"])
def test_round_trip_bit_exact(tmp_path, fmt):
    n = 2000
    v, i = waves(n)
    f = 1 if fmt != "BINARY" else 256
    av, ai = ADC_LSB_V * f, ADC_LSB_A * f
    cv, ci = np.rint(v / av), np.rint(i / ai)
    chans = [("L1-V", "V", cv * av), ("O1-I", "A", ci * ai + 0.25), ("N-I", "A", np.zeros(n))]
    cfg, dat = comtrade.write(str(tmp_path / "rt"), "lab", chans, FS, fmt=fmt,
                              scale={"L1-V": av, "O1-I": (ai, 0.25), "N-I": 1.0})
    meta, codes = comtrade.read(cfg, raw=True)
    _, vals = comtrade.read(cfg)
    assert meta["ft"] == fmt and meta["samples"] == n and meta["rates"] == [(8000.0, n)]
    assert np.array_equal(codes["L1-V"], cv) and np.array_equal(codes["O1-I"], ci)
    assert np.array_equal(codes["N-I"], np.zeros(n))
    # values are a*x+b with exactly the a and b that were asked for
    assert np.array_equal(vals["L1-V"], av * cv) and np.array_equal(vals["O1-I"], ai * ci + 0.25)
    assert np.array_equal(vals["L1-V"], chans[0][2])


def test_automatic_scale_uses_the_range(tmp_path):
    v, i = waves(1600)
    cfg, _ = comtrade.write(str(tmp_path / "auto"), "lab", [("L1-V", "V", v), ("O2-I", "A", i)], FS)
    meta, codes = comtrade.read(cfg, raw=True)
    _, vals = comtrade.read(cfg)
    assert np.abs(codes["L1-V"]).max() == 2147483647
    assert np.abs(codes["O2-I"]).max() == 2147483647
    a = meta["analog"][0]["a"]
    assert np.abs(vals["L1-V"] - v).max() <= a / 2 * 1.0000001
    assert meta["analog"][0]["b"] == 0.0


def test_cfg_lines_follow_the_standard(tmp_path):
    v, i = waves(800)
    cfg, dat = comtrade.write(str(tmp_path / "std"), "rack 7", [("L1-V", "V", v), ("L1-I", "A", i)], FS,
                              start_time=1767225600.25, fmt="BINARY32", trigger_s=0.05)
    raw = open(cfg, "rb").read()
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    ln = raw.decode().split("\r\n")
    assert ln[0] == "rack 7,pdu-sim,2013"                       # station,rec_dev_id,rev_year
    assert ln[1] == "2,2A,0D"                                   # TT,##A,##D
    f = ln[2].split(",")                                        # An,ch_id,ph,ccbm,uu,a,b,skew,min,max,prim,sec,PS
    assert len(f) == 13 and f[:5] == ["1", "L1-V", "A", "", "V"] and f[7:] == \
        ["0", "-2147483647", "2147483647", "1", "1", "P"]
    assert float(f[5]) > 0 and float(f[6]) == 0.0
    assert ln[4] == "50" and ln[5] == "1" and ln[6] == "8000,800"   # lf, nrates, samp,endsamp
    assert ln[7] == "01/01/2026,00:00:00.250000"                   # dd/mm/yyyy,hh:mm:ss.ssssss
    assert ln[8] == "01/01/2026,00:00:00.300000"                   # trigger
    assert ln[9] == "BINARY32" and float(ln[10]) == 1.0            # ft, timemult
    assert ln[11] == "0,0" and ln[12] == "0,0"                     # time_code,local_code; tmq,leapsec
    # .dat records: uint32 sample number, uint32 timestamp (us), int32 per channel
    rec = np.fromfile(dat, dtype=[("n", "<u4"), ("t", "<u4"), ("a", "<i4", 2)])
    assert len(rec) == 800 and rec["n"][0] == 1 and rec["n"][-1] == 800
    assert rec["t"][1] == 125 and rec["t"][-1] == 799 * 125


def test_writer_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="does not fit"):
        comtrade.write(str(tmp_path / "x"), "s", [("L1-V", "V", [400.0])], FS, fmt="BINARY", scale=[0.001])
    with pytest.raises(ValueError, match="commas"):
        comtrade.write(str(tmp_path / "x"), "a,b", [("L1-V", "V", [1.0])], FS)
    with pytest.raises(ValueError, match="samples"):
        comtrade.write(str(tmp_path / "x"), "s", [("L1-V", "V", [1.0]), ("L2-V", "V", [1.0, 2.0])], FS)


# ------------------------------------------------------------------ MicroPython playback
@pytest.fixture(scope="module")
def fixture_set(tmp_path_factory):
    d = tmp_path_factory.mktemp("fx")
    n = 1000
    v, i = waves(n)
    out = {}
    for fmt in ("BINARY32", "ASCII", "BINARY"):
        f = 1 if fmt != "BINARY" else 512
        chans = [("L1-V", "kV", v / 1000.0), ("O1-I", "mA", i * 1000.0), ("L2-I", "A", i / 2000.0),
                 ("X9", "V", v), ("G2-V", "V", v)]
        scale = {"L1-V": ADC_LSB_V * f / 1000.0, "O1-I": (ADC_LSB_A * f * 1000.0, 12.5),
                 "L2-I": ADC_LSB_A * f / 2000.0, "X9": 1.0, "G2-V": ADC_LSB_V * f}
        cfg, _ = comtrade.write(str(d / ("fx_" + fmt)), "lab", chans, FS, fmt=fmt, scale=scale)
        # L2-I as secondary values: 2000:1 CT -> primary = 2000 x the recorded value
        text = open(cfg, newline="").read().split("\r\n")
        text[4] = text[4].rsplit(",", 3)[0] + ",2000,1,S"
        open(cfg, "w", newline="").write("\r\n".join(text))
        out[fmt] = cfg
    return out


@pytest.mark.parametrize("fmt", ["BINARY32", "ASCII", "BINARY"])
def test_source_returns_exact_micro_units(tmp_path, fixture_set, fmt):
    cfg = fixture_set[fmt]
    meta, codes = comtrade.read(cfg, raw=True)
    chans = ["L1-V", "O1-I", "L2-I", "G2-V", "L3-V", "O24-I"]
    got, info = play(tmp_path, cfg, 1040, chans)
    for c in ("L1-V", "O1-I", "L2-I", "G2-V"):
        exp = expected_micro(meta, c, codes[c])
        assert np.array_equal(got[c][:1000], exp), c
        assert np.all(got[c][1000:] == 0)                    # after the end: silence
    assert np.all(got["L3-V"] == 0) and np.all(got["O24-I"] == 0)   # absent channels read 0
    assert info["ignored"] == ["X9"]
    assert "L3-V" in info["missing"] and "L1-V" not in info["missing"]
    assert info["done"] is True and info["done_at"] == 1040 and info["n"] == 1040
    assert info["ft"] == fmt and info["samples"] == 1000
    # the recorded physics survives: L2-I primary = 2000 x secondary record of i/2000
    v, i = waves(1000)
    assert np.abs(got["L2-I"][:1000] * 1e-6 - i).max() < 2000 * ADC_LSB_A / 2000 * 512 + 1e-6
    assert np.abs(got["L1-V"][:1000] * 1e-6 - v).max() < ADC_LSB_V * 512


def test_source_loops(tmp_path, fixture_set):
    got, info = play(tmp_path, fixture_set["BINARY32"], 2400, ["L1-V", "O1-I"], block=80, loop=True)
    a = got["L1-V"]
    assert np.array_equal(a[1000:2000], a[:1000]) and np.array_equal(a[2000:2400], a[:400])
    assert info["done"] is False and info["n"] == 2400 and info["t"] == pytest.approx(0.3)


def test_source_ascii_real_values(tmp_path):
    cfg = tmp_path / "real.cfg"
    cfg.write_text("lab,dev,1999\r\n1,1A,0D\r\n1,O3-I,,,A,0.001,0.5,0,-99999,99999,1,1,P\r\n50\r\n1\r\n"
                   "8000,4\r\n01/01/2026,00:00:00.000000\r\n01/01/2026,00:00:00.000000\r\nASCII\r\n1\r\n")
    (tmp_path / "real.dat").write_text("1,0,1000\r\n2,125,-2500.5\r\n3,250,\r\n4,375,7\r\n")
    got, info = play(tmp_path, str(cfg), 80, ["O3-I"])
    # a*x+b in A -> uA; a blank (missing) sample reads 0
    assert list(got["O3-I"][:5]) == [1500000, -2000500, 0, 507000, 0]


def test_long_fixture_streams_in_a_small_heap(tmp_path):
    n = 30 * FS                                   # 30 s, 5.8 MB of .dat
    t = np.arange(n) / FS
    v = 325.0 * np.sin(2 * np.pi * 50 * t)
    cfg, dat = comtrade.write(str(tmp_path / "long"), "lab",
                              [("L1-V", "V", v), ("L2-V", "V", -v), ("L3-V", "V", v / 2),
                               ("L1-I", "A", v / 100)], FS, scale=[ADC_LSB_V] * 3 + [ADC_LSB_A])
    got, info = play(tmp_path, cfg, n, ["L1-V", "L1-I"], block=400, heap="512K")
    assert info["n"] == n and info["done"] is False
    assert np.abs(got["L1-V"] * 1e-6 - v).max() <= ADC_LSB_V / 2 + 1e-6
    assert got["L1-V"][-1] == round(round(v[-1] / ADC_LSB_V) * ADC_LSB_V * 1e6)
    print("fixture playback: %.3f s per s of 4-channel signal" % (info["us"] / 1e6 / 30))


def test_plant_recording_plays_back_sample_exact(tmp_path):
    # record the plant (uV/uA), store with a = 1e-6 per count, play back: identical integers
    code = """
import boardconfig.sim24 as desc
from sim.plant import Plant
p = Plant(desc, seed=4)
p.plug(1, {"kind": "smps", "irms": 3.0}); p.plug(20, {"kind": "psu", "irms": 2.0})
f = open(%r, "wb")
for _ in range(20):
    b = p.generate(80)
    for c in ("L1-V", "L3-V", "O1-I", "O20-I", "N-I"):
        f.write(memoryview(b[c])[:80])
f.close()
""" % str(tmp_path / "plant.bin")
    run_mp(code=code)
    chans = ["L1-V", "L3-V", "O1-I", "O20-I", "N-I"]
    raw = np.fromfile(tmp_path / "plant.bin", dtype="<i4").reshape(20, 5, 80).transpose(1, 0, 2).reshape(5, -1)
    rec = [(c, "V" if c.endswith("V") else "A", raw[k] * 1e-6) for k, c in enumerate(chans)]
    cfg, _ = comtrade.write(str(tmp_path / "plant"), "sim", rec, FS, scale=[1e-6] * 5)
    got, info = play(tmp_path, cfg, 1600, chans)
    for k, c in enumerate(chans):
        assert np.array_equal(got[c], raw[k]), c


# ------------------------------------------------------------------ errors
GOOD_CFG = ["lab,dev,2013", "2,2A,0D",
            "1,L1-V,A,,V,0.001,0,0,-2147483647,2147483647,1,1,P",
            "2,O1-I,,,A,0.0001,0,0,-2147483647,2147483647,1,1,P",
            "50", "1", "8000,10", "01/01/2026,00:00:00.000000", "01/01/2026,00:00:00.000000",
            "BINARY32", "1", "0,0", "0,0"]


def _variant(line_no, text):
    ln = list(GOOD_CFG)
    if text is None:
        del ln[line_no - 1:]
    else:
        ln[line_no - 1] = text
    return ln


MALFORMED = [
    (2, "2,2A", "line 2"),
    (2, "3,2A,0D", "line 2"),
    (3, "1,L1-V,A,,V,0.001,0,0,-2147483647,2147483647,1,1", "line 3"),
    (4, "2,O1-I,,,A,abc,0,0,-2147483647,2147483647,1,1,P", "line 4"),
    (10, "FLOAT64", "line 10"),
    (7, "8000", "line 7"),
    (8, None, "missing line 8"),
]


@pytest.mark.parametrize("line_no,text,where", MALFORMED)
def test_malformed_cfg_names_the_line(tmp_path, line_no, text, where):
    lines = _variant(line_no, text)
    cfg = tmp_path / "bad.cfg"
    cfg.write_text("\r\n".join(lines) + "\r\n")
    (tmp_path / "bad.dat").write_bytes(b"\0" * 16 * 10)
    with pytest.raises(ValueError, match=where):
        comtrade.parse_cfg(cfg.read_text())
    _, info = play(tmp_path, str(cfg), 80, ["L1-V"])
    assert where in info["error"], info


@pytest.mark.parametrize("line_no,text,what", [
    (3, "1,L1-V,A,,W,0.001,0,0,-2147483647,2147483647,1,1,P", "unit 'W' unknown"),
    (3, "1,L1-V,A,,A,0.001,0,0,-2147483647,2147483647,1,1,P", "is a voltage channel"),
    (4, "2,O1-I,,,V,0.001,0,0,-2147483647,2147483647,1,1,P", "is a current channel"),
    (7, "4000,10", "sample rate 4000 Hz != board 8000 Hz"),
    (6, "0", "no fixed sample rate"),
])
def test_source_rejects_unusable_fixtures(tmp_path, line_no, text, what):
    cfg = tmp_path / "bad.cfg"
    cfg.write_text("\r\n".join(_variant(line_no, text)) + "\r\n")
    (tmp_path / "bad.dat").write_bytes(b"\0" * 16 * 10)
    _, info = play(tmp_path, str(cfg), 80, ["L1-V"])
    assert what in info["error"] and "line %d" % line_no in info["error"], info


def test_cli_info(tmp_path):
    import subprocess
    import sys
    v, i = waves(800)
    cfg, _ = comtrade.write(str(tmp_path / "cli"), "lab", [("L1-V", "V", v)], FS)
    r = subprocess.run([sys.executable, "-m", "tools.comtrade", "info", cfg], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "800 samples at 8000.0 Hz" in r.stdout
    assert re.search(r"L1-V\s+V\s+a=\S+ b=0.0 rms=230\.0", r.stdout), r.stdout

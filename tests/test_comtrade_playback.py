"""A COMTRADE fixture written by tools/comtrade.py plays back sample-exact
through the ADS131M04 twin and driver (the reference path for accuracy tests)."""
import numpy as np
import pytest

from mputil import run_mp_json
from tools import comtrade

FS = 8000
ADC_FS_V = 1.2
V_DIV = (2000000.0 + 1500.0) / 1500.0           # sim24 AFE_GROUP_V
I_PER_V = 1000.0 / 12.0                          # sim24 AFE_OUTLET_I: ct_ratio / burden
LSB_V = ADC_FS_V / 2 ** 23 * V_DIV               # volts per code, group voltage
LSB_I = ADC_FS_V / 2 ** 23 * I_PER_V             # amps per code, outlet current


@pytest.mark.parametrize("fmt", ["BINARY32", "ASCII"])
def test_fixture_plays_back_sample_exact(tmp_path, fmt):
    n = 1200
    rng = np.random.default_rng(5)
    t = np.arange(n) / FS
    # integer ADC codes: a 230 V sine on G2-V, distorted/random currents on O4..O6,
    # including both rails of the 24-bit range
    v_codes = np.round(325.0 * np.sin(2 * np.pi * 50.0 * t) / LSB_V).astype(np.int64)
    i_codes = [np.round(20.0 * np.sin(2 * np.pi * 50.0 * t - 0.5) ** 3 / LSB_I).astype(np.int64),
               rng.integers(-2 ** 23, 2 ** 23, n),
               rng.integers(-5000, 5000, n)]
    i_codes[1][:4] = [2 ** 23 - 1, -2 ** 23, 0, -1]
    chans = [("G2-V", "V", v_codes * LSB_V)] + [
        ("O%d-I" % (4 + k), "A", i_codes[k] * LSB_I) for k in range(3)]
    scale = {"G2-V": (LSB_V, 0.0), "O4-I": (LSB_I, 0.0), "O5-I": (LSB_I, 0.0), "O6-I": (LSB_I, 0.0)}
    cfg, dat = comtrade.write(str(tmp_path / "fx"), "roundtrip", chans, FS, fmt=fmt, scale=scale)
    out = run_mp_json(script="tests/mp/comtrade_playback.py", args=[cfg, n, "1,2"])
    g1, g2, tail = out[0], out[1], out[2]
    assert tail["overruns"] == 0 and tail["crc"] == 0
    codes = np.array(g2["codes"]).reshape(-1, 4)
    assert codes.shape == (n, 4)
    assert np.array_equal(codes[:, 0], v_codes)
    for k in range(3):
        assert np.array_equal(codes[:, 1 + k], i_codes[k]), k
    # channels absent from the fixture read zero
    assert not np.any(np.array(g1["codes"]))
    assert not np.any(np.array(tail["inlet"]))

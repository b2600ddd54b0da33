"""NTC divider driver (drivers/ntc.py, sim/twin_ntc.py) and RS-485 half duplex (drivers/rs485.py)."""
import math
import pytest
from mputil import run_mp_json

R25, BETA, RF, VREF = 10000.0, 3435.0, 10000.0, 3.3


def code_at(t):
    r = R25 * math.exp(BETA * (1 / (t + 273.15) - 1 / 298.15))
    v = VREF * r / (r + RF)
    return min(65535, max(0, int(v / VREF * 65535 + 0.5)))


def temp_of(code):
    r = RF * code / (65535 - code)
    return 1 / (1 / 298.15 + math.log(r / R25) / BETA) - 273.15


@pytest.fixture(scope="module")
def cases():
    rows = run_mp_json(script="tests/mp/ntc_rs485_cases.py", timeout=120)
    return {r["case"]: r for r in rows}


def test_ntc_sweep(cases):
    c = cases["ntc_sweep"]
    assert c["fault"] is None and c["errors"] == 0
    for t_in, t_out, code in c["rows"]:
        assert code == code_at(t_in)                       # twin: divider + ADC quantisation
        assert t_out == pytest.approx(temp_of(code), abs=1e-6)   # driver: beta equation
        assert abs(t_out - t_in) < 0.02                    # 16-bit ADC resolution, -30..150 C


def test_ntc_open_short(cases):
    c = cases["ntc_faults"]
    assert c["open"] is None and c["open_fault"] == "open"
    assert c["short"] is None and c["short_fault"] == "short"
    assert c["absent"] == 2
    assert c["back"] == pytest.approx(30.0, abs=0.02) and c["fault_after"] is None


def test_ntc_sim_helpers_agree(cases):
    c = cases["ntc_helpers"]
    r = R25 * math.exp(BETA * (1 / (47 + 273.15) - 1 / 298.15))
    v = VREF * r / (r + RF)
    assert c["world"] == pytest.approx(v) and c["twin"] == pytest.approx(v) and c["fn"] == pytest.approx(v)


def test_modbus_gaps(cases):
    c = cases["rs485_timing"]
    ref = [math.ceil(3.5 * 11 / b * 1e6) for b in (9600, 19200)]
    assert c["t35"] == ref + [1750, 1750]
    assert c["t15"] == [math.ceil(1.5 * 11 / b * 1e6) for b in (9600, 19200)] + [750]
    assert c["char"] == math.ceil(11 / 19200 * 1e6) and c["char10"] == math.ceil(10 / 9600 * 1e6)


def test_rs485_de_high_exactly_while_sending(cases):
    c = cases["rs485_async"]
    # DE rises before the first byte reaches the line, falls when the last has gone
    (up, t_up, n_up), (down, t_down, n_down) = c["edges"]
    assert (up, t_up, n_up) == (1, 0, 0)
    assert (down, n_down) == (0, 8) and t_down == 8 * math.ceil(11 / 19200 * 1e6)
    assert c["got"] == list(range(1, 9)) and c["de"] == 0
    assert c["frames"] == 1 and c["bytes"] == 8


def test_rs485_read_passthrough(cases):
    c = cases["rs485_read"]
    assert c["any"] == 3 and c["data"] == [1, 3] and c["rest"] == [2] and c["none"] is None


def test_rs485_blocking(cases):
    c = cases["rs485_blocking"]
    assert c["edges"] == [[1, 0], [0, 3]] and c["got"] == "abc" and c["de"] == 0

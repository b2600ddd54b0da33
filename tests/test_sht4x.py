"""SHT4x driver (drivers/sht4x.py) against its twin (sim/twin_sht4x.py)."""
import pytest
from mputil import run_mp_json


def crc8(data):
    c = 0xFF
    for b in data:
        c ^= b
        for _ in range(8):
            c = ((c << 1) ^ 0x31) & 0xFF if c & 0x80 else (c << 1) & 0xFF
    return c


def conv(t, rh):
    """Datasheet conversion after 16-bit quantisation, RH cropped to 0..100."""
    st = min(65535, max(0, round((t + 45) * 65535 / 175)))
    srh = min(65535, max(0, round((rh + 6) * 65535 / 125)))
    return -45 + 175 * st / 65535, min(100.0, max(0.0, -6 + 125 * srh / 65535))


@pytest.fixture(scope="module")
def cases():
    rows = run_mp_json(script="tests/mp/sht4x_cases.py", timeout=120)
    return {r["case"]: r for r in rows}


def test_crc8_reference():
    assert crc8(b"\xbe\xef") == 0x92   # Sensirion datasheet example


def test_begin(cases):
    c = cases["begin_async"]
    assert c["serial"] == 0x12345678 and c["resets"] == 1 and c["cmd"] == 0x89
    assert c["elapsed_us"] >= 1000       # waited out the soft reset in virtual time
    assert cases["begin_blocking"]["serial"] == 0xCAFEF00D


def test_soft_reset_recovery_is_nacked(cases):
    c = cases["reset_busy"]
    assert c["err"] == "AbsentError" and c["nacks"] == 1


def test_absent(cases):
    c = cases["absent"]
    assert c["err"] == "AbsentError" and c["absent"] == 1 and c["scan"] == []


def test_measure_all_precisions(cases):
    c = cases["measure"]
    t_ref, rh_ref = conv(23.456, 41.25)
    assert [r[0] for r in c["res"]] == ["high", "medium", "low"]
    assert [r[3] for r in c["res"]] == [0xFD, 0xF6, 0xE0]
    for _, t, rh, _ in c["res"]:
        assert t == pytest.approx(t_ref, abs=1e-9) and rh == pytest.approx(rh_ref, abs=1e-9)
        assert abs(t - 23.456) < 175 / 65535 and abs(rh - 41.25) < 125 / 65535
    assert c["measurements"] == 3 and not any(c["errors"].values())


def test_early_read_is_nacked_and_counted(cases):
    c = cases["early_read"]
    assert [(e[0], e[1], e[2]) for e in c["early"]] == [
        ("high", 10, "NotReadyError"), ("medium", 5, "NotReadyError"), ("low", 2, "NotReadyError")]
    assert c["timeout"] == 3 and c["absent"] == 0


def test_command_while_busy(cases):
    c = cases["busy_command"]
    assert c["err"] == "NotReadyError" and c["err2"] == "AbsentError"
    assert c["timeout"] == 4 and c["absent"] == 1
    assert cases["no_pending"]["err"] == "DeviceError"


def test_crc_mismatch(cases):
    c = cases["crc"]
    assert c["err"] == "CrcError" and c["crc"] == 1
    assert c["after"] == pytest.approx(conv(23.456, 41.25)[0])
    assert cases["serial_crc"] == {"case": "serial_crc", "err": "CrcError", "crc": 1}


def test_conversions_and_rh_cropping(cases):
    got = cases["conversions"]["conv"]
    for (t, rh), inp in zip(got, ((-45.0, -10.0), (130.0, 130.0), (0.0, 0.0), (100.0, 100.0), (-40.0, 5.0))):
        rt, rrh = conv(*inp)
        assert t == pytest.approx(rt, abs=1e-9) and rh == pytest.approx(rrh, abs=1e-9)
    assert got[0] == [-45.0, 0.0] and got[1] == [130.0, 100.0]


def test_heater(cases):
    c = cases["heater"]
    assert c["wait"] == 111 and c["early"] == "NotReadyError" and c["cmd"] == 0x32 and c["runs"] == 1
    t, rh = conv(27.0, 50.0)
    assert c["t"] == pytest.approx(t) and c["rh"] == pytest.approx(rh)


def test_serial_frame_on_the_wire(cases):
    c = cases["serial_frame"]
    assert c["frame"] == [0x89, 0xAB, crc8(b"\x89\xab"), 0xCD, 0xEF, crc8(b"\xcd\xef")]
    assert c["crc_ok"] and c["reread"] == "OSError"


def test_blocking_measure_real_time(cases):
    c = cases["blocking"]
    t, rh = conv(21.0, 33.0)
    assert c["t"] == pytest.approx(t) and c["rh"] == pytest.approx(rh)

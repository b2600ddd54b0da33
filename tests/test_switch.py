"""Outlet switch drivers (drivers/switch.py) against relay/SSR twins (sim/twin_switch.py)."""
import pytest
from mputil import run_mp_json


@pytest.fixture(scope="module")
def cases():
    rows = run_mp_json(script="tests/mp/switch_cases.py", timeout=120)
    return {r["case"]: r for r in rows}


def test_close_pulse_and_contact_timing(cases):
    c = cases["close"]
    # set coil high for exactly coil_pulse_ms, contacts latch once the pulse
    # has lasted min_pulse (10 ms > operate 8 ms), aux contact follows
    assert c["log"] == [["S", 1, 0], ["S", 0, 30000]]
    assert c["closed_at_ms"] == 10 and c["pulse_end_ms"] == 30
    assert c["commanded"] is True and c["feedback"] is True and c["actuations"] == 1


def test_open(cases):
    c = cases["open"]
    assert c["feedback"] is False and c["contacts"] is False and c["reset_pin"] == 0
    assert c["actuations"] == 2 and c["operations"] == 2 and c["faults"] == 0


def test_operate_time_longer_than_min_pulse(cases):
    assert cases["operate_time"]["closed_at_ms"] == 15


def test_short_pulse_does_not_switch(cases):
    c = cases["short_pulse"]
    assert c["feedback"] is False and c["contacts"] is False and c["short"] == 1 and not c["busy"]
    assert cases["min_pulse"] == {"case": "min_pulse", "feedback": True, "short": 0}


def test_both_coils_fault(cases):
    c = cases["both_coils"]
    assert c["faults"] == 1 and c["contacts"] is False and c["feedback"] == 0


def test_reverse_request_never_drives_both_coils(cases):
    c = cases["reverse"]
    assert c["both_high"] is False and c["faults"] == 0
    assert c["feedback"] is False and c["commanded"] is False and c["actuations"] == 2


def test_welded_feedback_stays_closed(cases):
    c = cases["welded"]
    assert c["commanded"] is False and c["feedback"] is True and c["contacts"] is True


def test_stuck_open(cases):
    c = cases["stuck_open"]
    assert c["commanded"] is True and c["feedback"] is False and c["contacts"] is False


def test_boot_state_from_feedback(cases):
    assert cases["boot_state"]["commanded"] is True


def test_async_actuate(cases):
    c = cases["actuate"]
    assert c["feedback"] is True and c["busy"] is False
    assert c["pulse_us"] == 30000 and c["elapsed_us"] == 30000


def test_ticks_wrap(cases):
    c = cases["ticks_wrap"]
    assert c["busy_29"] is True and c["busy_30"] is False
    assert c["diff"] == 8 and c["diff_neg"] == -8


def test_triac_ssr(cases):
    c = cases["ssr"]
    r = c["res"]
    assert r["gate_on"] == [1, True, False]      # gate high, not yet conducting
    assert r["fb_on"] is True                     # plant energised it at a zero crossing
    assert r["fb_off"] == [False, False]
    assert r["short"] == [0, True, True] and r["short_after_zc"] is True
    assert r["open"] == [1, False, False]
    assert c["actuations"] == 3 and c["busy"] is False and c["v_on"] == 1.1 and c["gate_changes"] == 3


def test_from_board(cases):
    c = cases["from_board"]
    assert c["n"] == 24 and c["keys"] and c["kinds"] == {"latching": 20, "triac": 4}
    assert c["set_pin"] and c["reset_pin"] and c["fb_pin"] and c["gate"]
    assert c["modes"] == [1, 0] and c["pulse"] == 30
    assert c["busy"] == 1 and c["busy2"] == 0
    assert c["names"] == ["outlet1", "outlet24"]

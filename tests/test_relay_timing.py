"""Relay contacts change at the sample their operate time says, in the plant's current."""
from mputil import run_mp_json


def test_relay_closes_at_its_operate_time_to_the_sample():
    r = run_mp_json(script="tests/mp/relay_timing.py")[0]
    # the twin moves the armature once the pulse has qualified (min pulse) and operated
    expected = (r["t_cmd_us"] + max(r["operate_us"], r["min_pulse_us"])) * 8000 // 1000000
    assert r["since"] == expected
    # current flows from that sample on (the resistive load starts at any phase;
    # allow for a zero-valued first sample at a zero crossing)
    assert expected <= r["first_sample"] <= expected + 1
    assert r["feedback"] is True

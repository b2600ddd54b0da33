"""Calibration store: per-channel (gain, offset, phase) sets with version,
timestamp, fixture id and CRC; previous set kept; rollback audited."""
import pytest
from mputil import run_mp_json


@pytest.fixture(scope="module")
def cases():
    rows = run_mp_json(script="tests/mp/persist_calstore.py", timeout=120)
    return {r["case"]: r for r in rows}


def test_uncalibrated_board_uses_identity(cases):
    c = cases["fresh"]
    assert c["version"] == 0 and c["current"] is None and c["previous"] is None
    assert c["identity"] == [1.0, 0.0, 0.0]
    assert c["max_channels"] >= c["board_channels"] == 39


def test_saved_sets_carry_version_fixture_time_and_keep_the_previous(cases):
    c = cases["saved"]
    assert c["versions"] == [1, 2] and c["n"] == 39
    assert c["current"] == {"version": 2, "fixture": "FIELD-7", "time_valid": True, "rollback_of": 0}
    assert c["previous"] == {"version": 1, "fixture": "FX-001", "time_valid": False}
    assert c["utc_later"]
    assert c["o7"] == pytest.approx([1.02, 1.5, 0.3], rel=1e-6)
    assert c["o7_prev"] == pytest.approx(c["expected_o7_prev"], rel=1e-6)   # float32 storage


def test_sets_survive_reboot(cases):
    c = cases["reload"]
    assert c["version"] == 2 and c["previous"] == 1
    assert c["o7"] == pytest.approx([1.02, 1.5, 0.3], rel=1e-6)


def test_rollback_restores_previous_as_new_version_and_toggles(cases):
    c = cases["rollback"]
    assert c["v"] == [3, 4]
    v, of, o7, fx = c["first"]
    assert (v, of, fx) == (3, 1, "FX-001") and o7 == pytest.approx([1.016, 15.0, -0.2], rel=1e-6)
    v, of, o7 = c["second"]
    assert (v, of) == (4, 2) and o7 == pytest.approx([1.02, 1.5, 0.3], rel=1e-6)


def test_invalid_sets_refused_naming_the_channel(cases):
    c = cases["refused"]
    m = c["msgs"]
    assert "X9-I: not a channel" in m[0]
    assert "gain 2.5 not in 0.5..2.0" in m[1]
    assert "nan is not finite" in m[2]
    assert "phase 45.0" in m[3]
    assert "expected" in m[4] and "expected" in m[5] and "expected" in m[6]
    assert c["same"]


def test_damaged_current_set_falls_back_to_previous_with_an_event(cases):
    c = cases["damaged_current"]
    assert c["version"] == 3 and c["previous"] is None
    assert c["o7"] == pytest.approx([1.016, 15.0, -0.2], rel=1e-6)
    assert c["events"] == [["store_fault", {"store": "calibration", "detail": "v4 lost, v3 in use"}]]


def test_every_change_and_refusal_is_audited(cases):
    assert "no previous" in cases["no_previous"]["msg"]
    log = cases["log"]
    audit = log["audit"]
    assert audit[0] == ["calibration", "factory", "v1: 39 channels, fixture FX-001", "ok"]
    assert audit[2] == ["calibration", "ops:alice", "rollback v2 -> v3 (restores v1)", "ok"]
    assert audit[3] == ["calibration", "ops:alice", "rollback v3 -> v4 (restores v2)", "ok"]
    assert sum(1 for a in audit if a[3] == "refused") == 8
    events = [e[0] for e in log["events"]]
    assert events.count("cal_changed") == 2 and events.count("cal_rollback") == 2

"""Audit log: who, when, what, result for commands, logins, config and
calibration changes and updates; a power-loss-safe FRAM ring read by cursor."""
import pytest
from mputil import run_mp_json


@pytest.fixture(scope="module")
def cases():
    rows = run_mp_json(script="tests/mp/persist_audit.py", timeout=120)
    return {r["case"]: r for r in rows}


def test_entries_record_who_when_what_and_result(cases):
    c = cases["entries"]
    assert c["seqs"] == [1, 2, 3, 4, 5] and c["missed"] == 0
    e = c["entries"]
    assert e[0] == {"seq": 1, "utc_ms": 1767225600000, "time_valid": False, "kind": "login",
                    "result": "ok", "who": "http:admin@10.0.0.7", "what": "login"}
    assert e[1]["result"] == "denied" and e[1]["what"] == "login: bad password"
    assert e[2]["time_valid"] is True and e[2]["utc_ms"] == 1780000000000   # after the clock was set
    assert e[3]["kind"] == "update" and "signature ok" in e[3]["what"]
    # unknown kind/result are stored as other/failed; long fields clipped, not overflowing
    assert e[4]["kind"] == "other" and e[4]["result"] == "failed"
    assert e[4]["who"] == "x" * 24 and e[4]["what"] == "y" * 84
    assert c["kinds"] == ["command", "login", "config", "calibration", "update", "time", "other"]


def test_cursor_reads_across_the_wrap_and_missed_count(cases):
    c = cases["wrap"]
    assert c["next_seq"] == 101
    # ring of 32 holds 31: a reader from 0 is told it missed 69, then reads on
    assert c["chunks"] == [[70, 79, 69], [80, 89, 0], [90, 99, 0], [100, 100, 0]]


def test_entries_and_ids_survive_reboot(cases):
    c = cases["reboot"]
    assert c["next_before"] == 6
    assert c["first"]["who"] == "http:admin@10.0.0.7"
    assert c["s6"]["what"] == "record.period_min: 15 -> 5 (gen 1)" and c["s6"]["kind"] == "config"
    assert c["outside"] is None


def test_listeners_see_each_entry(cases):
    h = cases["listener"]["heard"]
    assert len(h) == 1 and h[0]["kind"] == "time" and h[0]["seq"] == 7


def test_without_fram_the_same_ring_lives_in_ram(cases):
    c = cases["ram"]
    assert (c["count"], c["missed"], c["first"], c["last"]) == (7, 3, "cmd 3", "cmd 9")

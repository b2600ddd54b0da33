"""Supervision: a task that raises is an alarm and restarts; repeated failure of
the sample path is a stated fail-safe (switch-on refused, outlets held); a
stuck acquisition starves the watchdog (tests/mp/supervise.py on sim24)."""
import json

import pytest
from mputil import run_mp

CYCLE = 160   # samples per mains cycle at 50 Hz, 8 kSPS


def _case(name):
    p = run_mp(script="tests/mp/supervise.py", args=[name], timeout=300)
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def restart():
    return _case("restart")


def test_plant_exception_in_acquisition_is_an_alarm_naming_task_and_stage(restart):
    tf = restart["task_failed"]
    assert len(tf) == 1
    e = tf[0]
    assert e["channel"] == "acquisition" and e["severity"] == "alarm" and e["action"] == "restart"
    assert e["values"]["error"] == "board: ValueError: injected plant fault"
    assert e["values"]["restarts"] == 1 and e["values"]["backoff_ms"] == 10
    assert restart["failsafe_events"] == []


def test_acquisition_restarts_and_protection_trips_a_short_within_one_cycle(restart):
    assert restart["polls"] > restart["polls_after"] > 150      # polling went on after the failure
    trips = restart["trips"]
    assert len(trips) == 1 and trips[0]["values"]["cause"] == "short"
    latency = trips[0]["plant_n"] - restart["onset"]
    assert 0 < latency <= CYCLE, latency
    assert restart["overruns"] == 0                              # the restart lost no samples


def test_repeated_failure_enters_the_stated_failsafe():
    d = _case("failsafe")
    assert len(d["task_failed"]) == 4                            # FAIL_LIMIT failures in the window
    assert [e["values"]["backoff_ms"] for e in d["task_failed"]] == [10, 20, 40, 80]
    fs = d["failsafe_events"]
    assert len(fs) == 1 and fs[0]["severity"] == "critical" and fs[0]["action"] == "hold"
    assert fs[0]["channel"] == "acquisition" and fs[0]["values"]["failures"] == 4
    # the state stays raised in health and the status line
    assert d["failsafe"]["task"] == "acquisition" and d["health_failsafe"] == d["failsafe"]
    assert "FAILSAFE(acquisition: board: ValueError: injected plant fault)" in d["status"]
    # outlets held as they were; switch-on refused with the reason, and audited
    assert d["on_before"] is True and d["on_after"] is True
    assert d["switch_on_fb"] is False
    r = d["refused"]
    assert len(r) == 1 and r[0]["values"]["state"] == "held" and r[0]["values"]["who"] == "operator"
    assert ["operator", "outlet 7 on (feedback off)", "refused"] in d["audit"]
    # no further restarts once in fail-safe, and no watchdog reset (it is a held state)
    assert d["polls"] == d["polls_end"]


def test_an_exception_inside_metrology_is_named_as_metrology():
    d = _case("metrology")
    assert d["task_failed"][0]["values"]["error"] == "metrology: ZeroDivisionError: injected"


def test_a_stuck_acquisition_starves_the_watchdog():
    d = _case("starve")
    assert d["reset"] is not None and d["reset"].startswith("watchdog reset: not fed for")
    assert 1.0 + 4.0 < d["t_s"] <= 1.0 + 4.0 + 1.5              # timeout 4 s after the last poll
    fed = _case("fed")
    assert fed["reset"] is None and fed["t_s"] == 20.0 and fed["feeds"] >= 35


def test_boot_after_a_watchdog_reset_logs_it():
    d = _case("wdt_boot")
    assert d["events"] == [["watchdog_reset", "system", "alarm", {"cause": "watchdog", "timeout_ms": 4000}]]

"""Clock abstraction: virtual time is ordered, repeatable and fast; wall time is settable."""
from mputil import run_mp_json


def test_virtual_clock_orders_wakeups_and_runs_an_hour_fast():
    out = run_mp_json(script="tests/mp/clock_virtual.py")
    r = out[0]
    assert r["log"][:5] == [[30000, "a"], [45000, "b"], [60000, "a"], [90000, "b"], [90000, "a"]]  # equal deadlines: first registered wakes first
    assert r["n_c"] == 3600                    # one wake-up per virtual second for an hour
    assert r["now_us"] == 3600 * 1000000
    assert r["utc_ms"] == r["unset"] + 3600 * 1000
    assert "backwards" in out[1]["backwards"]
    assert out[2] == {"step_ms": 5000, "valid": True}
    assert out[3] == {"real_utc_plausible": True, "real_ticks": True}


def test_virtual_runs_repeat_exactly():
    a = run_mp_json(script="tests/mp/clock_virtual.py")[0]
    b = run_mp_json(script="tests/mp/clock_virtual.py")[0]
    for k in ("log", "n_c", "now_us", "utc_ms"):
        assert a[k] == b[k]

"""Protection settings are validated configuration; the fast path allocates
nothing per poll; scenario files (scenarios/prot_*.json) run with protection."""
import json
import subprocess

import pytest

from mputil import MICROPYTHON, ROOT, mp_env, run_mp_json


def test_out_of_range_settings_refused_nothing_applied():
    r = run_mp_json(script="tests/mp/prot_settings.py")[0]
    cases = {json.dumps(c["case"], sort_keys=True): c for c in r["cases"]}
    want = {
        '{"outlet_curve_k_s": 500.0}': (["protection.outlet_curve_k_s"],
                                        "protection.outlet_curve_k_s: 500.0 not in 1.0..250.0"),
        # one bad field refuses the whole set: outlet_pickup_a is not applied either
        '{"outlet_pickup_a": 10.0, "rcm_trip_ma": 2000.0}': (["protection.rcm_trip_ma"],
                                                             "protection.rcm_trip_ma: 2000.0 not in 5.0..1000.0"),
        '{"rcm_trip_ma": 5.0}': (["protection.rcm_trip_ma"],
                                 "protection.rcm_trip_ma: 5.0 must exceed rcm_alarm_ma 10.0"),
        '{"retry_max": "3"}': (["protection.retry_max"], "protection.retry_max: '3' is str, expected int"),
        '{"bogus": 1}': (["bogus"], "bogus: unknown field"),
        '{"outlets.3.priority": 12}': (["outlets.3.priority"], "outlets.3.priority: 12 not in 0..9"),
        '{"branch_curve_k_s": 20.0}': (["protection.branch_curve_k_s"],
                                       "protection.branch_curve_k_s: 20.0 must exceed outlet_curve_k_s 30.0 "
                                       "(outlet acts before its branch)"),
        '{"branch_inst_delay_ms": 20}': (["protection.branch_inst_delay_ms"],
                                         "protection.branch_inst_delay_ms: 20 must be >= relay_release_ms + 20 "
                                         "(the outlet must be able to clear first)"),
        '{"inrush_window_ms": 10}': (["protection.inrush_window_ms"],
                                     "protection.inrush_window_ms: 10 not in 40..1000"),
    }
    assert set(cases) == set(want)
    for k, (fields, msg) in want.items():
        c = cases[k]
        assert c["refused"] and c["fields"] == fields and c["error"] == msg, c
        assert c["values_unchanged"] and c["engine_unchanged"], c
    # a valid set is applied and reaches the engine's integer thresholds
    assert r["applied"] == {"protection.outlet_pickup_a": [16.0, 10.0], "protection.outlet_curve_k_s": [30.0, 45.0]}
    b, a = r["engine_before"], r["engine_after"]
    # pickup^2 scales the bucket's ipu: (10/16)^2; K scales the bucket: 45/30
    assert abs(a[0] / b[0] - (10.0 / 16.0) ** 2) < 0.001 and abs(a[1] / b[1] - 1.5) < 1e-9
    assert a[2:] == b[2:]
    refused = [e for e in r["events"] if e[0] == "config_refused"]
    assert len(refused) == 9 and all(e[1] == "eve" for e in refused)
    assert refused[0][2].startswith("protection.outlet_curve_k_s: 500.0 not i")
    assert [e[2] for e in r["events"] if e[0] == "config_changed"] == \
        ["protection.outlet_curve_k_s", "protection.outlet_pickup_a"]
    assert [a_[2] for a_ in r["audit"]].count("refused") == 9
    # written through the config store (FRAM generation noted by the store)
    who, what, res = r["audit"][-1]
    assert who == "eve" and res == "ok" and what.startswith("protection.outlet_pickup_a: 16.0 -> 10.0")


def test_fast_path_allocates_nothing_per_poll():
    r = run_mp_json(script="tests/mp/prot_heap.py")[0]
    assert r["alloc_errors"] == [] and r["prot_errors"] == 0
    assert r["open_windows"] == 0 and r["n_group"] > 0 and r["n_inlet"] > 0
    assert r["bucket_grew"] and r["flags5"] & 1          # outlet 5 was timing on its curve meanwhile
    assert 0 < r["fastpath_us_per_poll"] < 2000 and 0 < r["consume_us_per_poll"] < 2000
    assert r["overruns"] == 0
    print("fast path %.0f us/poll, consume %.0f us/poll (unix port)" % (r["fastpath_us_per_poll"],
                                                                         r["consume_us_per_poll"]))


def test_scenario_files_with_protection():
    files = ["scenarios/prot_overload.json", "scenarios/prot_leak.json", "scenarios/prot_weld.json"]
    res = {d["file"]: d for d in run_mp_json(script="tests/mp/prot_json.py", args=files)}
    for f in files:
        assert res[f]["overruns"] == 0 and res[f]["prot_errors"] == 0

    def acts(f):
        return [(e[1], e[2], e[3]) for e in res[f]["events"]
                if e[3] in ("trip", "shed", "isolate", "latch", "lockout", "limit", "refused", "none", "alarm")]
    ov = acts("scenarios/prot_overload.json")
    assert ov == [("shed", "O2", "shed"), ("oc_timed", "O16", "trip"), ("oc_instant", "O3", "trip"),
                  ("command_refused", "O3", "refused")]
    t16 = [e for e in res["scenarios/prot_overload.json"]["events"] if e[1] == "oc_timed"][0]
    assert abs(t16[0] - 11000) <= 500          # 2x from t = 1 s: 10 s on the curve
    lk = acts("scenarios/prot_leak.json")
    assert lk == [("rcm_transient", "N", "none"), ("rcm_alarm", "N", "alarm"), ("rcm_isolate", "O12", "isolate"),
                  ("rcm_latch", "O12", "latch"), ("command_refused", "O12", "refused")]
    wd = acts("scenarios/prot_weld.json")
    assert wd == [("welded", "O7", "lockout"), ("welded", "O22", "lockout")]
    cyc = [e for e in res["scenarios/prot_weld.json"]["events"] if e[2] == "O8" and e[1].startswith("outlet_o")]
    assert [e[1] for e in cyc] == ["outlet_on", "outlet_off", "outlet_on"]

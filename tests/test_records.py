"""Data records (ETSI ES 202 336-12 4.4.3.4/4.4.3.7) on littlefs: five days
of minute inputs and three hours of per-second inputs in virtual time,
checked against a reference computed here from the same seeded formula
(tests/mp/persist_synth.py), independently of core/records.py."""
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from mputil import MICROPYTHON, ROOT, mp_env

sys.path.insert(0, str(Path(__file__).resolve().parent / "mp"))
import persist_synth as S  # noqa: E402  (pure Python, shared with the MicroPython side)

T0 = 1772323200            # 2026-03-01T00:00:00Z
REL = 1e-3                 # 0.1 %
STAT_KEYS = {"v": "V", "i": "I", "p": "P", "t": "T", "h": "H"}


def close(a, b, rel=REL):
    return abs(a - b) <= rel * max(abs(b), 1e-9)


def check_stats(got, ref, what):
    for j, name in enumerate(("avg", "min", "max")):
        assert close(got[j], ref[j]), "%s %s: %r vs reference %r" % (what, name, got[j], ref[j])


def _start(mode, heap, stdin=None):
    p = subprocess.Popen([MICROPYTHON, "-X", "heapsize=%s" % heap, "tests/mp/persist_records.py", mode],
                         cwd=ROOT, env=mp_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    return p, stdin or ""


def _rows(pp, timeout=240):
    p, stdin = pp
    out, err = p.communicate(stdin, timeout=timeout)
    assert p.returncode == 0, (out[-3000:], err[-3000:])
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


@pytest.fixture(scope="module")
def runs():
    rng = random.Random(3)
    # minutes from the retained four days (day 1 .. day 4) and the last hour
    samples = sorted(rng.sample(range(1440, 5 * 1440 + 60), 120))
    # both MicroPython runs at once (one per core)
    d = _start("days", "32M", json.dumps({"samples": samples}))
    s = _start("seconds", "8M")
    return samples, _rows(d), _rows(s)


@pytest.fixture(scope="module")
def days(runs):
    samples, rows, _ = runs
    c = {r["case"]: r for r in rows}
    c["samples"] = [r for r in rows if r["case"] == "sample"]
    c["hourly"] = [r["rec"] for r in rows if r["case"] == "hour"]
    return samples, c


@pytest.fixture(scope="module")
def seconds(runs):
    return {r["case"]: r for r in runs[2]}


def channels(c):
    return [tuple(x) for x in c["layout"]["channels"]]


def test_layout_and_storage_budget(days):
    _, c = days
    lay = c["layout"]
    ch = channels(c)
    # sim24: its 39 board channels, plus air sensors and NTCs
    assert len([n for n, k in ch if "T" not in k]) == 39
    assert lay["rec_size"] == 1156 and lay["nf"] == 74 and lay["ne"] == 27
    assert lay["errors"] == 0 and lay["written"] == [5 * 1440 + 60, 5 * 24 + 1, 5]
    # retention: day 0 dropped when day 5 began; days 1-4 and today kept
    assert lay["files"]["0"] == ["20260302", "20260303", "20260304", "20260305", "20260306"]
    assert lay["files"]["1"] == ["202603"] and lay["files"]["2"] == ["2026"]
    assert lay["fs_used"] < 8 * 1024 * 1024


def test_minute_records_cover_the_last_four_days(days):
    _, c = days
    p = c["presence"]
    assert p["contiguous"] and p["first"] == T0 + 86400 and p["count"] == 4 * 1440 + 60
    assert p["last"] == T0 + (5 * 1440 + 59) * 60


def test_minute_records_match_the_reference(days):
    samples, c = days
    ch = channels(c)
    got = c["samples"]
    assert [g["m"] for g in got] == samples
    for g in got:
        m = g["m"]
        assert len(g["recs"]) == 1
        r = g["recs"][0]
        assert r["utc_s"] == T0 + 60 * m and r["period_s"] == 60 and r["n_s"] == 60
        assert not r["partial"] and r["valid"] and r["level"] == 0
        assert (r["equipment"], r["site"]) == ("PDU-0042", "PAR-TH2")
        assert sorted(r["ch"]) == sorted(n for n, _ in ch)
        for k, (name, kinds) in enumerate(ch):
            d = r["ch"][name]
            for key, q in STAT_KEYS.items():
                if q in kinds:
                    check_stats(d[key], S.minute_stats(m, k, q), "minute %d %s %s" % (m, name, q))
                else:
                    assert key not in d
            if "E" in kinds:
                assert d["e_mj"] == S.minute_energy_mj(m, k)


def _agg(minutes, k, q):
    st = [S.minute_stats(m, k, q) for m in minutes]
    return (sum(s[0] for s in st) / len(st), min(s[1] for s in st), max(s[2] for s in st))


def test_hourly_aggregates_match_the_reference(days):
    _, c = days
    ch = channels(c)
    hours = c["hourly"]
    assert [h["utc_s"] for h in hours] == [T0 + 3600 * i for i in range(5 * 24 + 1)]
    for i in range(0, len(hours), 7):          # every 7th hour, all channels
        h = hours[i]
        assert h["period_s"] == 3600 and h["n_s"] == 3600 and not h["partial"] and h["level"] == 1
        mins = range(60 * i, 60 * i + 60)
        for k, (name, kinds) in enumerate(ch):
            for key, q in STAT_KEYS.items():
                if q in kinds:
                    check_stats(h["ch"][name][key], _agg(mins, k, q), "hour %d %s %s" % (i, name, q))
            if "E" in kinds:
                assert h["ch"][name]["e_mj"] == sum(S.minute_energy_mj(m, k) for m in mins)


def test_daily_aggregates_and_energy_sums_match_the_counters(days):
    _, c = days
    ch = channels(c)
    dd = c["daily"]["recs"]
    assert [d["utc_s"] for d in dd] == [T0 + 86400 * i for i in range(5)]
    for i, d in enumerate(dd):
        assert d["n_s"] == 86400 and d["period_s"] == 86400 and d["level"] == 2
        mins = range(1440 * i, 1440 * i + 1440)
        for k, (name, kinds) in enumerate(ch):
            if "V" in kinds or "T" in kinds:
                q = "V" if "V" in kinds else "T"
                check_stats(d["ch"][name][q.lower()], _agg(mins, k, q), "day %d %s" % (i, name))
    counters = c["counters"]["counters"]
    hours = c["hourly"]
    for k, (name, kinds) in enumerate(ch):
        if "E" not in kinds:
            continue
        total = sum(S.minute_energy_mj(m, k) for m in range(5 * 1440 + 60))
        assert counters[name] == total
        assert sum(h["ch"][name]["e_mj"] for h in hours) == total            # every hour
        last_hour = hours[-1]["ch"][name]["e_mj"]
        assert sum(d["ch"][name]["e_mj"] for d in dd) == total - last_hour    # whole days


def test_retrieval_by_channel_and_time_range(days):
    _, c = days
    f = c["channel_filter"]
    assert f["count"] == 10 and f["keys"] == [["O7-I"], ["O7-I"]]
    assert f["utc"] == [T0 + 2 * 86400, T0 + 2 * 86400 + 60, T0 + 2 * 86400 + 120]
    assert c["query_hour"]["n"] == 60


# --- per-second input, record period changed at run time ---------------------------------

def _sec_ref(t0, n, k, q):
    xs = [S.second_value(s, k, q) for s in range(t0, t0 + n)]
    return (sum(xs) / n, min(xs), max(xs))


def test_per_second_records_with_period_change(seconds, days):
    c = seconds
    ch = channels(days[1])
    f = c["feed"]
    assert f["errors"] == 0 and f["period_now"] == 300 and f["written"] == [24, 3, 0]
    l0 = c["level0"]["recs"]
    got = [(r["utc_s"] - T0, r["period_s"], r["n_s"], r["partial"]) for r in l0]
    # 15-minute records, then config sets 5 min at 01:35: the running period
    # closes early (partial), then 5-minute records
    exp = [(i * 900, 900, 900, False) for i in range(6)] + [(5400, 900, 300, True)] + \
          [(5700 + 300 * i, 300, 300, False) for i in range(17)]
    assert got == exp
    for r in l0[::3] + [l0[6]]:
        t0 = r["utc_s"] - T0
        for k, (name, kinds) in enumerate(ch):
            for key, q in STAT_KEYS.items():
                if q in kinds:
                    check_stats(r["ch"][name][key], _sec_ref(t0, r["n_s"], k, q), "rec %d %s %s" % (t0, name, q))
            if "E" in kinds:
                assert r["ch"][name]["e_mj"] == sum(S.second_energy_mj(s, k) for s in range(t0, t0 + r["n_s"]))


def test_per_second_hourly_aggregates_and_counters(seconds, days):
    c = seconds
    ch = channels(days[1])
    l1 = c["level1"]["recs"]
    assert [(r["utc_s"] - T0, r["n_s"]) for r in l1] == [(0, 3600), (3600, 3600), (7200, 3600)]
    for i, r in enumerate(l1):
        for k, (name, kinds) in enumerate(ch):
            for key, q in STAT_KEYS.items():
                if q in kinds:
                    check_stats(r["ch"][name][key], _sec_ref(3600 * i, 3600, k, q), "hour %d %s" % (i, name))
    for k, (name, kinds) in enumerate(ch):
        if "E" in kinds:
            total = sum(S.second_energy_mj(s, k) for s in range(3 * 3600))
            assert c["counters"]["counters"][name] == total == sum(r["ch"][name]["e_mj"] for r in l1)


def test_restart_rebuilds_the_running_day_from_the_store(seconds):
    r = seconds["resume"]
    assert r["day_t0"] == T0 and r["day_n_s"] == 3 * 3600
    assert r["hour_t0"] == T0 + 3 * 3600 and r["hour_n_s"] == 0

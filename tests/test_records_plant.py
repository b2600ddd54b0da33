"""ETSI data records over 5 days of virtual time driven by the plant (cycle-level
fidelity): the last 4 days of 1-minute records and every hourly aggregate are
present, their avg/min/max match a NumPy reference built from the plant's
per-second values within 0.1 %, and their energies match the energy counters."""
import json

import numpy as np

from mputil import run_mp

T0 = 1767225600
DAYS = 5
SECONDS = DAYS * 86400
CH = ("O1", "O2", "O10", "L1")
Q = ("v", "i", "p")


def close(a, b, rel=1e-3, floor=1e-6):
    return abs(a - b) <= rel * max(abs(b), floor)


def test_five_days_of_records_match_the_plant(tmp_path):
    dump, flash = tmp_path / "sec.f32", tmp_path / "flash.bin"
    out = run_mp(script="tests/mp/records_plant.py", args=[SECONDS, dump, flash], timeout=900).stdout
    lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    head, recs = lines[0], lines[1:]
    x = np.fromfile(dump, dtype=np.float32).astype(np.float64).reshape(SECONDS, len(CH), 3)
    minutes = [r for r in recs if r["level"] == 0 and not r["partial"]]
    hours = [r for r in recs if r["level"] == 1 and not r["partial"]]

    # every 1-minute record of the last 4 days (the last minute is still open)
    want = set(range(T0 + 86400, T0 + SECONDS - 60, 60))
    got = {r["utc_s"] for r in minutes}
    assert want <= got, "missing minutes: %d" % len(want - got)
    # every hourly aggregate of all 5 days (the last hour is still open)
    assert {r["utc_s"] for r in hours} >= set(range(T0, T0 + SECONDS - 3600, 3600))

    varied = 0
    for r in minutes + hours:
        s0 = r["utc_s"] - T0
        seg = x[s0:s0 + r["period_s"]]
        assert r["n_s"] == r["period_s"] == len(seg)
        for c, name in enumerate(CH):
            d = r["ch"][name]
            for k, q in enumerate(Q):
                avg, mn, mx = d[q]
                col = seg[:, c, k]
                assert close(avg, col.mean()), (r["utc_s"], name, q, avg, col.mean())
                assert close(mn, col.min()) and close(mx, col.max()), (r["utc_s"], name, q)
                if q == "p" and col.max() > 1.2 * col.min() + 1:
                    varied += 1
            # energy over the period: the integral of P (1 s steps) within 0.1 %
            e_ref_mj = seg[:, c, 2].sum() * 1000.0
            assert close(d["e_mj"], e_ref_mj, floor=1000.0), (r["utc_s"], name, d["e_mj"], e_ref_mj)
    assert varied > 100  # the load schedule really moved inside periods

    # energy sums of the hourly records equal the counters (up to the open hour)
    last_h = max(r["utc_s"] for r in hours)
    for c, name in enumerate(CH):
        total = sum(r["ch"][name]["e_mj"] for r in hours)
        open_part = x[last_h - T0 + 3600:, c, 2].sum() * 1000.0
        counter = head["counters_mj"][name]
        assert close(total + open_part, counter, rel=1e-4), (name, total, open_part, counter)

"""Energy counters: integer accumulation against a CPython reference, float
power integrated without drift, double-buffered CRC-protected copies in FRAM."""
import json
import random

import pytest
from mputil import run_mp_json

NAMES = 27


def _inputs():
    rng = random.Random(42)
    ops = []
    for _ in range(3000):
        ops.append([rng.randrange(NAMES), rng.getrandbits(24), rng.getrandbits(12) if rng.random() < 0.2 else 0,
                    rng.getrandbits(16), 0])
    # deltas beyond one 30-bit step and enough to carry past 2^32 and 2^40
    ops += [[3, (1 << 40) + 12345, 0, 0, 0], [3, (1 << 33) - 1, 0, 0, 0], [4, 0, 0, 0, (1 << 31) + 7]]
    power = []
    for _ in range(20000):
        power.append([0, 0.1, -0.35, 1])              # 0.1 W for 1 ms -> 0.1 mJ each
    for _ in range(3600):
        power.append([1, -1234.5678, 321.25, 1000])   # export, one hour at 1 s steps
    return {"ops": ops, "power": power}


@pytest.fixture(scope="module")
def run():
    data = _inputs()
    rows = run_mp_json(script="tests/mp/persist_energy.py", stdin=json.dumps(data), timeout=120)
    return data, {r["case"]: r for r in rows}


def test_fresh_chip_starts_at_zero_without_a_fault(run):
    _, c = run
    assert c["fresh"]["generation"] == 0 and c["fresh"]["events"] == []


def test_integer_accumulation_matches_reference_exactly(run):
    data, c = run
    ref = [[0, 0, 0, 0] for _ in range(NAMES)]
    for ch, a, b, q, e in data["ops"]:
        for k, v in enumerate((a, b, q, e)):
            ref[ch][k] += v
    assert c["ops"]["counters"] == ref
    assert c["ops"]["counters"][3][0] > 1 << 40          # u64 carries across 16-bit limbs


def test_power_integration_carries_remainders(run):
    _, c = run
    x, y = c["power"]["counters"]
    assert abs(x[0] - 2000) <= 1 and x[1] == 0            # 20000 x 0.1 mJ import
    assert x[2] == 0 and abs(x[3] - 7000) <= 1            # reactive export 20000 x 0.35
    assert y[0] == 0 and abs(y[1] - round(1234.5678 * 1000 * 3600)) <= 1
    assert abs(y[2] - 321250 * 3600) <= 1


def test_refuses_negative_deltas_and_too_many_channels(run):
    _, c = run
    assert "negative" in c["refused"]["negative"]
    assert "1..48" in c["refused"]["too_many"]


def test_save_load_newest_copy_survives_reboot(run):
    _, c = run
    r = c["reload"]
    assert r["gens"] == [1, 2, 3] and r["loaded"] == 3 and r["same"] is True
    assert r["saved_utc_s"] == 1002
    assert r["wh"] == r["mj"] / 3600000


def test_damaged_newest_copy_falls_back_to_the_older_one(run):
    _, c = run
    d = c["damaged_newest"]
    assert d["loaded"] == 2 and d["l1"] == d["l1_before"] - 5000    # one save older
    a = c["after_repair"]
    assert a["saved"] == 4 and a["loaded"] == 4                  # generation never reused


def test_both_copies_damaged_restarts_at_zero_with_a_fault_event(run):
    _, c = run
    b = c["both_damaged"]
    assert b["loaded"] == 0 and b["l1"] == 0
    assert ["store_fault", "energy"] in b["events"]


def test_other_channel_layout_is_not_misread(run):
    _, c = run
    assert c["other_layout"]["loaded"] == 0

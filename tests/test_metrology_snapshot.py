"""The published snapshot and the quality flags.

- reader contract (metrology/snapshot.py): seq monotonic, the latest frame
  swapped in whole, a frame not rewritten before POOL - 1 further publishes,
  measurement ids with units, energies from exact integers;
- through the chain: window and 1 s frames with utc/time_valid from the
  clock; clipping/overrange, no zero crossing (no voltage), sensor fault (an
  ADS131M04 not fitted), uncalibrated; the self-check flags a calibration
  mismatch between the firmware path and the ADE9000's own DSP.
"""
import json

import numpy as np
import pytest

from tests.mputil import run_mp_json
from tests.refwave import FS, Signal, sample, write_fixture, run_meter, frames


def test_snapshot_reader_contract():
    r = run_mp_json(script="tests/mp/metro_snapshot.py")[-1]
    assert r["before"] is None
    u = r["units"]
    assert u["O1.p_w"] == "W" and u["O1.vrms"] == "V" and u["O2.irms"] == "A" and u["INLET.p_w"] == "W"
    assert u["O1.e_imp_wh"] == "Wh" and u["INLET.eq_exp_varh"] == "varh"
    assert "O2.p_w" not in u and "O2.e_imp_wh" not in u
    seqs = r["seqs"]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert r["latest_is_last"] is True
    # O2.irms: channel 1, quantity irms of the last frame (k = POOL + 1)
    nq = 14
    k = len(seqs) - 1
    assert abs(r["get"] - (100.0 * k + 1 * nq + 1)) < 1e-3
    assert r["flags"] == k
    # the pool: frame 0 comes back only after POOL publishes
    reuse = r["reused_after"]
    assert reuse[0] and reuse.index(True, 1) == 3
    assert r["e_o1"] == 5.5 and r["eq_inlet"] == 2.0
    assert r["sec_seq"] == seqs[-1] + 1
    assert r["names"] == ["clip", "uncalibrated"]
    d = r["dict"]["O1"]
    assert set(d) == {"vrms", "irms", "p_w"} and d["p_w"][1] == "W"      # no flags: none set
    assert r["unknown"] == "KeyError"


@pytest.fixture(scope="module")
def flagged(tmp_path_factory):
    d = tmp_path_factory.mktemp("metro_flags")
    n = int(FS * 2.6)
    v = Signal(230.0, 50.0)
    ch = {"G1-V": sample(v, n), "G2-V": sample(v, n),
          "O1-I": sample(Signal(8.0, 50.0), n),
          "O2-I": sample(Signal(80.0, 50.0), n),       # 113 A peak: beyond the 100 A front end
          "O7-I": sample(Signal(5.0, 50.0), n),        # group 3 has no voltage
          "O16-I": sample(Signal(5.0, 50.0), n)}       # group 6: its ADC is not fitted
    cfg, _ = write_fixture(str(d / "flags"), ch)
    cal = d / "cal.json"
    cal.write_text(json.dumps({"G1-V": [1.0, 0.0, 0.0], "O1-I": [1.0, 0.0, 0.0]}))
    return run_meter(cfg, "--absent", "adc6", "--cal", "@%s" % cal)


def test_quality_flags(flagged):
    frs = frames(flagged, t_min=0.45)
    assert frs
    for fr in frs:
        v = fr["values"]
        fl = lambda ch: set(v[ch].get("flags", []))
        # calibrated channels carry no flag; their neighbours are uncalibrated
        assert fl("O1") == set() and fl("G1") == set()
        assert abs(v["O1"]["irms"] - 8.0) < 0.008
        assert "uncalibrated" in fl("O3") and "uncalibrated" in fl("G2")
        # overrange: clipped samples flagged, on the outlet and on its branch
        assert "clip" in fl("O2") and "clip" in fl("B1")
        assert "clip" not in fl("O1")
        assert v["O2"]["ipeak"] < 101.0
        # no voltage on group 3: cycles of nominal length, flagged, no frequency
        assert "no_zero_crossing" in fl("O7") and "no_zero_crossing" in fl("G3")
        assert v["O7"]["f_hz"] == 0.0
        assert abs(v["O7"]["irms"] - 5.0) < 0.005      # fixed 20 ms cycles hold whole 50 Hz cycles
        # ADC 6 not fitted: its channels and its branch are sensor faults
        for c in ("G6", "O16", "O17", "O18", "B4"):
            assert "sensor_fault" in fl(c), c
        assert v["O16"]["irms"] == 0.0
        assert "sensor_fault" not in fl("O1")
    # per-cycle rms (protection's view): plain sample rms of the last cycle
    cyc = flagged[-1]["end"]["cycle_irms"]
    assert abs(cyc["O1"] - 8.0) < 0.04 and abs(cyc["O7"] - 5.0) < 0.025
    assert "O16" not in cyc                         # no unit: the chip is absent
    seqs = [f["seq"] for f in flagged if "seq" in f]
    assert seqs == sorted(seqs)
    wins = frames(flagged, "win", 0.45)
    secs = frames(flagged, "sec", 0.45)
    assert wins and secs
    assert all(w["cycles"] == 10 and abs(w["len_ms"] - 200.0) < 0.5 for w in wins)
    assert all(abs(s["len_ms"] - 1000.0) < 10.0 for s in secs)
    # the clock's wall time: the virtual clock starts at 2026-01-01, time valid
    for f in wins + secs:
        assert f["time_valid"] is True
        assert abs(f["utc_ms"] - (1767225600000 + 1000 * f["t_s"])) <= 10


def test_selfcheck_flags_firmware_chip_mismatch(tmp_path):
    n = int(FS * 6.0)
    ch = {}
    for ph, ang, i, lag in (("L1", 0, 20.0, 0.0), ("L2", 120, 10.0, 30.0), ("L3", 240, 5.0, -20.0)):
        ch[ph + "-V"] = sample(Signal(230.0, 50.0, ang), n)
        ch[ph + "-I"] = sample(Signal(i, 50.0, ang + lag), n)
    cfg, _ = write_fixture(str(tmp_path / "sc"), ch)
    ok = [o["selfcheck"] for o in run_meter(cfg, "--kind", "none", "--selfcheck") if "selfcheck" in o]
    assert len(ok) >= 4
    for r in ok:
        assert r["drift"] == [] and "error" not in r
    last = ok[-1]["phases"]
    for ph in ("L1", "L2", "L3"):
        for q in ("vrms", "irms", "p_w"):
            assert last[ph]["rel"][q] is not None and abs(last[ph]["rel"][q]) < 0.002
    # a firmware coefficient the chip path does not share: L1 current 3 % high
    cal = tmp_path / "cal.json"
    cal.write_text(json.dumps({"L1-I": [1.03, 0.0, 0.0]}))
    bad = [o["selfcheck"] for o in run_meter(cfg, "--kind", "none", "--selfcheck", "--cal", "@%s" % cal)
           if "selfcheck" in o]
    assert bad[0]["drift"] == []                  # not before `persist` consecutive checks
    assert bad[-1]["drift"] == ["L1.irms", "L1.p_w"]
    assert abs(bad[-1]["phases"]["L1"]["rel"]["irms"] - 0.03) < 0.002


def test_selfcheck_drift_is_a_logged_event(tmp_path):
    """Boot's self-check (events = the PDU's log): a firmware-only L1 current
    coefficient 3 % high becomes one meter_drift event per drifting quantity
    (L1 irms and p_w), in the FRAM ring with its values; none before
    `persist` (3) consecutive checks, and nothing for the healthy phases."""
    n = int(FS * 6.0)
    ch = {}
    for ph, ang, i, lag in (("L1", 0, 20.0, 0.0), ("L2", 120, 10.0, 30.0), ("L3", 240, 5.0, -20.0)):
        ch[ph + "-V"] = sample(Signal(230.0, 50.0, ang), n)
        ch[ph + "-I"] = sample(Signal(i, 50.0, ang + lag), n)
    cfg, _ = write_fixture(str(tmp_path / "sc"), ch)
    out = run_mp_json(script="tests/mp/metro_selfcheck.py", args=[cfg, 1.03], timeout=240, heap="32M")
    checks = [o for o in out if "drift" in o]
    end = out[-1]
    assert len(checks) >= 4 and checks[0]["drift"] == [] and checks[-1]["drift"] == ["L1.irms", "L1.p_w"]
    assert end["persistent"] is True and end["missed"] == 0
    evs = end["events"]
    assert [(e["event"], e["code"], e["channel"], e["severity"], e["values"]["quantity"]) for e in evs] == [
        ("meter_drift", end["code"], "L1", "warning", "irms"), ("meter_drift", end["code"], "L1", "warning", "p_w")]
    for e in evs:
        v = e["values"]
        assert abs(v["rel"] - 0.03) < 0.002
        assert abs(v["firmware"] / v["chip"] - 1.0 - v["rel"]) < 1e-5
        assert v["part"] == "ade9000" and v["limit"] == pytest.approx(0.01)
        assert e["action"] == "logged"

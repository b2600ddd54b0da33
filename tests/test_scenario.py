"""tools.scenario: a JSON scenario runs in virtual time and prints the event log."""
import json
import subprocess
import sys

from mputil import ROOT


def run_scenario(path):
    p = subprocess.run([sys.executable, "-m", "tools.scenario", str(path)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return [json.loads(l) for l in p.stdout.splitlines() if l.strip()], p.stderr


def test_weld_scenario_event_log():
    evs, err = run_scenario(ROOT / "scenarios" / "weld.json")
    names = [(e["event"], e["channel"]) for e in evs]
    assert names[:2] == [("fram_formatted", "fram"), ("boot", "system")]
    assert ("outlet_on", "O1") in names and ("outlet_on", "O2") in names and ("outlet_on", "O7") in names
    # outlet 7's relay welded at t=2 s: after the off command at t=3 s current keeps
    # flowing, so protection reports it welded within 200 ms and locks the outlet out
    w = [e for e in evs if e["event"] == "welded"]
    assert len(w) == 1 and w[0]["channel"] == "O7"
    assert w[0]["values"]["commanded"] is False and w[0]["values"]["feedback"] is True
    assert w[0]["values"]["who"] == "scenario" and w[0]["values"]["state"] == "lockout"
    assert w[0]["action"] == "lockout" and w[0]["severity"] == "critical"
    assert 3000 < w[0]["ticks_ms"] <= 3200
    # the PSU's switch-on inrush on outlet 1 is classified and logged, not tripped
    inr = [e for e in evs if e["event"] == "inrush" and e["channel"] == "O1"]
    assert len(inr) == 1 and inr[0]["action"] == "logged"
    assert not [e for e in evs if e["event"] in ("oc_instant", "oc_timed", "inrush_abnormal", "switch_unverified")]
    off1 = [e for e in evs if e["event"] == "outlet_off" and e["channel"] == "O1"]
    assert len(off1) == 1 and 3500 <= off1[0]["ticks_ms"] <= 3600
    seqs = [e["seq"] for e in evs]
    assert seqs == list(range(1, len(evs) + 1))
    for e in evs:
        assert {"seq", "utc_ms", "ticks_ms", "time_valid", "code", "severity", "channel", "values",
                "action"} <= set(e)
    assert "overruns=0" in err


def test_scenario_is_repeatable():
    a, _ = run_scenario(ROOT / "scenarios" / "weld.json")
    b, _ = run_scenario(ROOT / "scenarios" / "weld.json")
    assert a == b


def test_bad_scenario_is_refused_clearly(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"events": [{"do": "plug"}]}')
    p = subprocess.run([sys.executable, "-m", "tools.scenario", str(bad)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode != 0
    assert "events[0] needs 't' and 'do'" in p.stderr
    p = subprocess.run([sys.executable, "-m", "tools.scenario", str(tmp_path / "missing.json")], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "no such scenario file" in p.stderr


def test_readme_example_is_the_real_weld_scenario():
    text = (ROOT / "README.md").read_text()
    i = text.index("(`scenarios/weld.json`):")
    block = text[text.index("```json\n", i) + 8:]
    block = block[:block.index("```")]
    assert json.loads(block) == json.loads((ROOT / "scenarios" / "weld.json").read_text())
    # and what `make run` plays is what the README says it plays
    from tools import run
    assert "`make run` plays `scenarios/demo.json`" in text.replace("\n", " ")
    import inspect
    assert 'ROOT / "scenarios" / "demo.json"' in inspect.getsource(run.main)

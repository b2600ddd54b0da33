"""Scenarios, fixtures and tool arguments are checked before anything runs.

Every bad input a new user ran into is refused by the tool with exit status
non-zero, exactly one line on stderr naming what is wrong (the file, the
event index or JSON position, the field) and no traceback; good inputs still
run; the file `tools.calibrate --out` writes is accepted by `tools.meter
--cal`; fixture channels the board lacks are warned about and the run goes on.
"""
import json
import subprocess
import sys

import numpy as np
import pytest

from mputil import ROOT, run_mp_json

FS = 8000


def tool(mod, *args, timeout=180):
    return subprocess.run([sys.executable, "-m", mod] + [str(a) for a in args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def refused(p, *needles):
    """Non-zero exit, one line on stderr containing every needle, no traceback."""
    assert p.returncode != 0, (p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    assert "Traceback" not in p.stdout + p.stderr, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, p.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


# ------------------------------------------------------------------ scenarios
def scenario(tmp_path, sc, name="bad.json"):
    f = tmp_path / name
    f.write_text(sc if isinstance(sc, str) else json.dumps(sc))
    return f


def run_scenario(path):
    return tool("tools.scenario", path)


BAD_SCENARIOS = {
    # what a new user saw: raised inside the acquisition task at run time
    "plant_outlet_99": ({"events": [{"t": 0.5, "do": "weld", "outlet": 99}]},
                        ["events[0]", "weld", "outlet", "99", "1..24"]),
    "sag_no_duration": ({"events": [{"t": 0.5, "do": "sag", "depth": 0.3}]},
                        ["events[0]", "sag", "duration_s", "missing"]),
    # KeyError in an asyncio task, exit status 0
    "command_outlet_99": ({"events": [{"t": 1.0, "do": "outlet_off", "outlet": 7},
                                      {"t": 1.5, "do": "outlet_off", "outlet": 99}]},
                          ["events[1]", "outlet_off", "outlet", "99"]),
    "command_missing_outlet": ({"events": [{"t": 1.0, "do": "outlet_off"}]},
                               ["events[0]", "outlet_off", "outlet", "missing"]),
    "plant_missing_outlet": ({"events": [{"t": 1.0, "do": "weld"}]},
                             ["events[0]", "weld", "outlet", "missing"]),
    # silently ignored
    "unknown_action": ({"events": [{"t": 0.5, "do": "weld", "outlet": 3},
                                   {"t": 1.0, "do": "explode", "outlet": 3}]},
                       ["events[1]", "do", "unknown action", "explode"]),
    "unknown_action_no_outlet": ({"events": [{"t": 1.0, "do": "explode"}]},
                                 ["events[0]", "unknown action", "explode"]),
    "plant_method_not_action": ({"events": [{"t": 1.0, "do": "generate", "n": 10}]},
                                ["events[0]", "unknown action", "generate"]),
    "twin_action_wrong_switch": ({"events": [{"t": 1.0, "do": "fail_short", "outlet": 3}]},
                                 ["events[0]", "fail_short", "outlet 3", "21..24"]),
    # a traceback
    "unknown_load_kind": ({"loads": {"3": {"kind": "blender", "irms": 1.0}}},
                          ['loads["3"]', "kind", "blender"]),
    "unknown_load_kind_plug": ({"events": [{"t": 1.0, "do": "plug", "outlet": 4,
                                            "load": {"kind": "toaster", "irms": 1.0}}]},
                               ["events[0]", "plug", "load", "kind", "toaster"]),
    "load_outlet_99": ({"loads": {"99": {"kind": "psu", "irms": 1.0}}}, ["loads", "99"]),
    "load_unknown_key": ({"loads": {"3": {"kind": "psu", "irms": 1.0, "volts": 3}}},
                         ['loads["3"]', "volts"]),
    "load_no_current": ({"loads": {"3": {"kind": "psu"}}}, ['loads["3"]', "irms", "power"]),
    "custom_no_harmonics": ({"loads": {"3": {"kind": "custom", "irms": 1.0}}}, ['loads["3"]', "harmonics"]),
    # wrong types and ranges
    "depth_string": ({"events": [{"t": 0.5, "do": "sag", "depth": "0.3", "duration_s": 0.1}]},
                     ["events[0]", "sag", "depth", "number", '"0.3"']),
    "outlet_string": ({"events": [{"t": 0.5, "do": "outlet_on", "outlet": "7"}]},
                      ["events[0]", "outlet_on", "outlet", '"7"']),
    "t_negative": ({"events": [{"t": -1, "do": "outlet_on", "outlet": 7}]}, ["events[0]", "t"]),
    "t_after_end": ({"duration_s": 2, "events": [{"t": 5, "do": "outlet_on", "outlet": 7}]},
                    ["events[0]", "t", "after the end"]),
    "no_t": ({"events": [{"do": "plug"}]}, ["events[0] needs 't' and 'do'"]),
    "unknown_argument": ({"events": [{"t": 1, "do": "outlet_off", "outlet": 7, "delay_ms": 10}]},
                         ["events[0]", "outlet_off", "delay_ms", "unknown argument"]),
    "fault_kind": ({"events": [{"t": 1, "do": "fault", "outlet": 7, "kind": "fire"}]},
                   ["events[0]", "fault", "kind", "fire"]),
    "fault_arg_of_other_kind": ({"events": [{"t": 1, "do": "fault", "outlet": 7, "kind": "leak", "ipk": 10}]},
                                ["events[0]", "fault", "ipk", "leak"]),
    "phase_4": ({"events": [{"t": 1, "do": "sag", "depth": 0.2, "duration_s": 0.1, "phase": 4}]},
                ["events[0]", "sag", "phase", "4"]),
    "harmonic_1": ({"events": [{"t": 1, "do": "set_harmonics", "spec": {"1": 5}}]},
                   ["events[0]", "set_harmonics", "spec"]),
    "frequency_zero": ({"events": [{"t": 1, "do": "set_frequency", "hz": 0}]},
                       ["events[0]", "set_frequency", "hz", "out of range"]),
    "power_on_99": ({"power_on": [1, 99]}, ["power_on[1]", "99"]),
    "power_on_word": ({"power_on": "some"}, ["power_on", '"some"']),
    "duration_string": ({"duration_s": "10"}, ["duration_s", "number"]),
    "seed_float": ({"seed": 1.5}, ["seed", "integer"]),
    "unknown_top_key": ({"duraton_s": 5}, ["duraton_s", "unknown key"]),
    "events_not_list": ({"events": {"t": 1}}, ["events", "list"]),
    "top_not_object": ([1, 2], ["top level"]),
    "board_unknown": ({"board": "sim99"}, ["board", "sim99"]),
    "protection_setting": ({"protection": {"shed_delay_s": -5}}, ["protection", "shed_delay_s"]),
    "priority_range": ({"priorities": {"3": 12}}, ["priorities", "outlets.3.priority", "12"]),
}


@pytest.mark.parametrize("case", sorted(BAD_SCENARIOS))
def test_bad_scenario_refused_in_one_line(tmp_path, case):
    sc, needles = BAD_SCENARIOS[case]
    f = scenario(tmp_path, sc)
    line = refused(run_scenario(f), *needles)
    assert line.startswith("tools.scenario: error: ") and str(f) in line, line


@pytest.mark.parametrize("text", [
    '{"duration_s": 1,\n "events": [{"t": 0.2, "do": "weld" "outlet": 3}]}',
    '{"events": [{"t": 1, "do": "outlet_on", "outlet": 7},]}',
    '{"events": [\n',
    '',
    '{"seed": 01}',
])
def test_malformed_scenario_json_names_the_position(tmp_path, text):
    # the position is where CPython's json puts it
    with pytest.raises(json.JSONDecodeError) as e:
        json.loads(text)
    f = scenario(tmp_path, text)
    line = refused(run_scenario(f), str(f), "invalid JSON", "line %d column %d" % (e.value.lineno, e.value.colno))
    assert "syntax error in JSON" not in line


def test_scenario_file_problems(tmp_path):
    refused(run_scenario(tmp_path / "missing.json"), "no such scenario file", "missing.json")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00{")
    refused(run_scenario(tmp_path / "bin.json"), "bin.json", "not a text file")
    refused(tool("tools.scenario"), "usage")


def test_make_run_refuses_a_bad_scenario_before_booting(tmp_path):
    # make run -> tools.run -> sim/main.py --scenario: the same checks, before the firmware starts
    f = scenario(tmp_path, {"events": [{"t": 1, "do": "outlet_off", "outlet": 99}]})
    p = tool("tools.run", "--scenario", f, "--duration", "1", "--http-port", "18099", timeout=60)
    refused(p, str(f), "events[0]", "outlet", "99")
    assert "status every" not in p.stdout         # the firmware never started
    refused(tool("tools.run", "--scenario", tmp_path / "nope.json", timeout=60), "--scenario", "nope.json")
    refused(tool("tools.run", "--seed", "x", timeout=60), "--seed")


# Every action the plant, the switch twins and the firmware accept, with every
# optional argument, every load kind: a scenario that validates runs cleanly.
EVERYTHING = {
    "seed": 3, "duration_s": 3.2, "power_on": [1, 2, 3, 4, 5, 6, 21, 22], "stagger_ms": 50,
    "comment": "every action once", "protection": {"shed_delay_s": 5}, "priorities": {"1": 9, "2": 0},
    "loads": {"1": {"kind": "psu", "irms": 1.0, "lead_deg": 4.0},
              "2": {"kind": "smps", "power": 150, "width_deg": 40, "centre_deg": 70, "pedestal": 0.1},
              "3": {"kind": "fan", "irms": 0.8, "pf": 0.85, "start_factor": 3, "start_s": 0.1,
                    "start_tau_ms": 30},
              "4": {"kind": "idle"},
              "5": {"kind": "custom", "power": 100, "harmonics": [[1, 100, 10], [3, 30, 0], [5, 10, 45]]},
              "6": {"kind": "resistive", "irms": 2.0, "inrush_a": 10, "inrush_tau_ms": 2, "noise": 0.001},
              "21": {"kind": "heater", "irms": 1.0}, "22": {"kind": "server", "irms": 0.5}},
    "events": [
        {"t": 0.5, "do": "plug", "outlet": 7, "load": {"kind": "resistive", "irms": 1.0}},
        {"t": 0.6, "do": "fault", "outlet": 1, "kind": "overload", "factor": 1.2},
        {"t": 0.7, "do": "clear_fault", "outlet": 1, "kind": "overload"},
        {"t": 0.8, "do": "fault", "outlet": 6, "kind": "leak", "ma": 4},
        {"t": 0.9, "do": "clear_fault", "outlet": 6},
        {"t": 0.95, "do": "fault", "outlet": 8, "kind": "short", "ipk": 100, "residual": 0.2, "angle_deg": -50},
        {"t": 1.0, "do": "set_voltage", "v_rms": 225, "phase": "L2", "ramp_s": 0.2},
        {"t": 1.05, "do": "set_voltage", "v_rms": 230},
        {"t": 1.1, "do": "set_frequency", "hz": 50.1, "ramp_s": 0.5},
        {"t": 1.2, "do": "sag", "depth": 0.1, "duration_s": 0.05, "phase": 1},
        {"t": 1.25, "do": "sag", "depth": -0.05, "duration_s": 0.02},
        {"t": 1.3, "do": "set_harmonics", "spec": {"3": 2, "5": 1}},
        {"t": 1.4, "do": "set_harmonics", "spec": [[7, 0.5, 10], [9, 0.3]]},
        {"t": 1.5, "do": "set_ambient", "temp_c": 30, "rh": 50},
        {"t": 1.6, "do": "weld", "outlet": 2},
        {"t": 1.7, "do": "release", "outlet": 2},
        {"t": 1.8, "do": "stuck_open", "outlet": 3},
        {"t": 1.9, "do": "repair", "outlet": 3},
        {"t": 2.0, "do": "fail_short", "outlet": 21},
        {"t": 2.1, "do": "repair", "outlet": 21},
        {"t": 2.2, "do": "fail_open", "outlet": 22},
        {"t": 2.3, "do": "repair", "outlet": 22},
        {"t": 2.4, "do": "outlet_off", "outlet": 4},
        {"t": 2.5, "do": "outlet_on", "outlet": 4},
        {"t": 2.6, "do": "outlet_cycle", "outlet": 5, "delay_ms": 200},
        {"t": 2.7, "do": "unplug", "outlet": 7},
        {"t": 2.8, "do": "clear_fault", "outlet": 8, "kind": "short"}]}


def test_good_scenario_with_every_action_runs(tmp_path):
    f = scenario(tmp_path, EVERYTHING, "everything.json")
    p = run_scenario(f)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr and "Task exception" not in p.stderr and "error" not in p.stderr, p.stderr
    evs = [json.loads(ln) for ln in p.stdout.splitlines() if ln.strip()]
    names = [(e["event"], e["channel"]) for e in evs]
    assert ("boot", "system") in names and ("outlet_off", "O4") in names
    assert "overruns=0" in p.stderr


def test_validation_covers_every_plant_and_switch_action():
    # a new public Plant method (or twin method) must be classified by the scenario validator
    code = r"""
import json
import boardconfig.sim24 as desc
from sim import plant, scenario, twin_switch
acts = scenario._plant_actions(desc)
pm = [n for n in dir(plant.Plant) if not n.startswith("_")]
tw = [n for c in (twin_switch.LatchingRelayTwin, twin_switch.TriacSSRTwin) for n in dir(c) if not n.startswith("_")]
print(json.dumps({"plant": sorted(n for n in pm if n not in acts and n not in scenario.NOT_ACTIONS),
                  "twin": sorted(set(n for n in tw if n not in scenario.TWIN_ACTIONS and n not in acts
                                     and n not in ("update", "contacts", "gate", "energised"))),
                  "acts": sorted(n for n in acts if n not in pm)}))
"""
    r = run_mp_json(code=code)[0]
    assert r == {"plant": [], "twin": [], "acts": []}, r


def test_shipped_scenarios_validate():
    for f in sorted((ROOT / "scenarios").glob("*.json")):
        code = "from sim.scenario import load\nload(%r)\nprint('{\"ok\": 1}')" % str(f)
        assert run_mp_json(code=code) == [{"ok": 1}], f


# ------------------------------------------------------------------ fixtures and tools.meter
@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    from tools import comtrade
    d = tmp_path_factory.mktemp("fixtures")
    t = np.arange(int(FS * 1.2)) / FS
    v = 230 * np.sqrt(2) * np.sin(2 * np.pi * 50 * t)
    i = 5 * np.sqrt(2) * np.sin(2 * np.pi * 50 * t)
    good, _ = comtrade.write(str(d / "good"), "lab", [("L1-V", "V", v), ("G1-V", "V", v), ("O1-I", "A", i)], fs=FS)
    typo, _ = comtrade.write(str(d / "typo"), "lab", [("L1-V", "V", v), ("G1-V", "V", v), ("O1-I", "A", i),
                                                        ("O99-I", "A", i), ("FOO", "A", i)], fs=FS)
    return {"dir": d, "good": good, "typo": typo}


def meter(*args, timeout=180):
    return tool("tools.meter", *args, timeout=timeout)


def test_meter_missing_fixture(fixtures):
    f = fixtures["dir"] / "nosuch.cfg"
    line = refused(meter(f), str(f), "no such file")
    assert "ENOENT" not in line and "Errno" not in line


def test_meter_given_the_dat(fixtures):
    dat = fixtures["good"][:-4] + ".dat"
    refused(meter(dat), dat, "data file", ".cfg")


def test_meter_unknown_option(fixtures):
    refused(meter(fixtures["good"], "--bogus"), "unknown option --bogus")


def test_meter_unknown_output_channel(fixtures):
    refused(meter(fixtures["good"], "--channels", "O1,O99"), "--channels", "O99", "not an output channel")


def test_meter_unknown_kind(fixtures):
    refused(meter(fixtures["good"], "--kind", "secs"), "--kind", "secs", "win, sec, all")


@pytest.mark.parametrize("args,needles", [
    (["--duration", "abc"], ["--duration", "abc"]),
    (["--duration"], ["--duration", "needs a value"]),
    (["--f-nom", "55"], ["--f-nom", "50 or 60"]),
    (["--absent", "adc9"], ["--absent", "adc9"]),
    (["--inject", '{"adc9": {"gain": {"1": 0.1}}}'], ["--inject", "adc9"]),
    (["--inject", '{"adc1": {"gain": {"7": 0.1}}}'], ["--inject", "adc1.gain", "7"]),
    (["--inject", '{"adc1": {"phase": {"1": 30}}}'], ["--inject", "adc1.phase.1", "supports"]),
    (["--inject", '{"adc1": {"gain": {"1": 0.1},}}'], ["--inject", "invalid JSON", "line 1 column"]),
    (["--cal", '{"O99-I": [1.0, 0, 0]}'], ["--cal", "O99-I"]),
    (["--cal", '{"O1-I": [1.0, 0]}'], ["--cal", "O1-I", "gain"]),
    (["--harm-request", "O1"], ["--harm-request", "O1"]),
])
def test_meter_bad_arguments(fixtures, args, needles):
    refused(meter(fixtures["good"], *args), *needles)


def test_meter_bad_files(fixtures, tmp_path):
    d = fixtures["dir"]
    refused(meter(fixtures["good"], "--cal", tmp_path / "nocal.json"), "--cal", "nocal.json", "no such file")
    bad = tmp_path / "cal.json"
    bad.write_text('{"coeffs": {"O1-I": [1.0, 0, 0]}\n "crc": 1}')
    refused(meter(fixtures["good"], "--cal", bad), str(bad), "invalid JSON", "line 2 column 2")
    # a .cfg that is not text, a cfg without its .dat, a truncated .dat
    (tmp_path / "bin.cfg").write_bytes(bytes(range(256)))
    refused(meter(tmp_path / "bin.cfg"), "bin.cfg", "not a text file")
    cfg = (d / "good.cfg").read_text()
    (tmp_path / "nodat.cfg").write_text(cfg)
    refused(meter(tmp_path / "nodat.cfg"), "nodat.cfg", "no data file")
    (tmp_path / "short.cfg").write_text(cfg)
    (tmp_path / "short.dat").write_bytes((d / "good.dat").read_bytes()[:-7])
    refused(meter(tmp_path / "short.cfg"), "short.cfg", "short.dat", "truncated")
    (tmp_path / "rate.cfg").write_text(cfg.replace("8000,", "4000,"))
    (tmp_path / "rate.dat").write_bytes((d / "good.dat").read_bytes())
    refused(meter(tmp_path / "rate.cfg"), "rate.cfg", "line 8", "4000 Hz")


def test_meter_good_fixture_runs(fixtures):
    p = meter(fixtures["good"], "--kind", "sec", "--compact", "--channels", "O1,L1")
    assert p.returncode == 0 and p.stderr.strip() == "", p.stderr
    out = [json.loads(ln) for ln in p.stdout.splitlines()]
    sec = [o for o in out if o.get("kind") == "sec"]
    assert sec and abs(sec[0]["values"]["O1"]["irms"] - 5.0) < 0.05
    assert "end" in out[-1]


def test_meter_warns_about_unknown_fixture_channels_and_runs(fixtures):
    p = meter(fixtures["typo"], "--kind", "sec", "--compact", "--channels", "O1")
    assert p.returncode == 0, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    assert lines[0].startswith("tools.meter: warning: ") and "typo.cfg" in lines[0]
    assert "O99-I" in lines[0] and "FOO" in lines[0] and "sim24" in lines[0]
    out = [json.loads(ln) for ln in p.stdout.splitlines()]
    sec = [o for o in out if o.get("kind") == "sec"]
    assert sec and abs(sec[0]["values"]["O1"]["irms"] - 5.0) < 0.05


# ------------------------------------------------------------------ tools.calibrate -> tools.meter --cal
def test_calibrate_out_file_is_accepted_by_meter_cal(fixtures, tmp_path):
    out = tmp_path / "set.json"
    inj = tmp_path / "inject.json"
    inj.write_text(json.dumps({"adc1": {"gain": {"1": 0.05}}}))
    p = tool("tools.calibrate", "--windows", "4", "--inject", inj, "--out", out, timeout=300)
    assert p.returncode == 0, p.stderr
    s = json.loads(out.read_text())
    assert abs(s["coeffs"]["O1-I"][0] * 1.05 - 1.0) < 0.002
    # the set takes the injected gain error out again
    args = ["--kind", "sec", "--compact", "--channels", "O1", "--inject", inj]
    raw = meter(fixtures["good"], *args)
    cal = meter(fixtures["good"], *args, "--cal", out)
    assert raw.returncode == 0 and cal.returncode == 0, cal.stderr
    assert cal.stderr.strip() == "", cal.stderr
    i_raw = [json.loads(ln) for ln in raw.stdout.splitlines() if '"sec"' in ln][0]["values"]["O1"]["irms"]
    i_cal = [json.loads(ln) for ln in cal.stdout.splitlines() if '"sec"' in ln][0]["values"]["O1"]["irms"]
    assert abs(i_raw - 5.25) < 0.05 and abs(i_cal - 5.0) < 0.02, (i_raw, i_cal)
    # an edited set (its CRC no longer matches) is refused
    s["coeffs"]["O1-I"][0] = 2.0
    (tmp_path / "edited.json").write_text(json.dumps(s))
    refused(meter(fixtures["good"], "--cal", tmp_path / "edited.json"), "edited.json", "crc")


@pytest.mark.parametrize("args,needles", [
    (["--bogus"], ["--bogus"]),
    (["--windows", "x"], ["--windows"]),
    (["--windows", "0"], ["--windows"]),
    (["--reference", "REF_MISSING"], ["--reference", "no such file"]),
    (["--reference", "REF_BADJSON"], ["--reference", "invalid JSON", "line 1 column"]),
    (["--reference", "REF_BADCHAN"], ["--reference", "O99-I"]),
    (["--inject", "INJ_BADCHIP"], ["inject.json", "adc9"]),
    (["--fixture", "DAT"], ["--fixture", "data file"]),
    (["--fixture-id", "x" * 20], ["--fixture-id", "16 bytes"]),
    (["--out", "/nonexistent-dir/set.json"], ["--out", "no such directory"]),
])
def test_calibrate_bad_arguments(fixtures, tmp_path, args, needles):
    (tmp_path / "badjson.json").write_text('{"L1-V": 230,,}')
    (tmp_path / "badchan.json").write_text('{"O99-I": [10, 0]}')
    (tmp_path / "inject.json").write_text('{"adc9": {"gain": {"1": 0.1}}}')
    sub = {"REF_MISSING": tmp_path / "nope.json", "REF_BADJSON": tmp_path / "badjson.json",
           "REF_BADCHAN": tmp_path / "badchan.json", "INJ_BADCHIP": tmp_path / "inject.json",
           "DAT": fixtures["good"][:-4] + ".dat"}
    p = tool("tools.calibrate", *[sub.get(a, a) for a in args], timeout=120)
    refused(p, "tools.calibrate: error:", *needles)


def test_comtrade_info_refuses_in_one_line(fixtures, tmp_path):
    refused(tool("tools.comtrade", "info", tmp_path / "nope.cfg"), "nope.cfg", "No such file")
    dat = fixtures["good"][:-4] + ".dat"
    refused(tool("tools.comtrade", "info", dat), dat, "data file")
    (tmp_path / "short.cfg").write_text((fixtures["dir"] / "good.cfg").read_text())
    (tmp_path / "short.dat").write_bytes((fixtures["dir"] / "good.dat").read_bytes()[:1000])
    refused(tool("tools.comtrade", "info", tmp_path / "short.cfg"), "short.cfg", "cfg says")
    refused(tool("tools.comtrade"), "usage")
    p = tool("tools.comtrade", "info", fixtures["good"])
    assert p.returncode == 0 and "9600 samples" in p.stdout, p.stderr

"""The Prometheus exposition (comms/metrics.py) of a running sim24, rendered in
chunks while the firmware runs (tests/mp/render_cases.py): promtool accepts it
with no lint finding, every family has HELP and TYPE and its samples together,
counters end in _total, and the values are the model's own reads of the same
moment (the 1 s frame read before and after the render bound each value)."""
import json
import math
import os
import re
import shutil
import subprocess

import pytest

from mputil import run_mp

SECONDS = 6
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
MAX_CHUNK = 4096            # "pieces of at most a few KB"
MAX_HEAP_GROWTH = 48 * 1024  # live heap the renderer may hold at once (the exposition is ~70 KB)

# metric stem -> (snapshot quantity, scale) and energy stems -> energy kind (Wh/varh -> J/var-s)
QMAP = {"voltage_volts": ("vrms", 1.0), "current_amperes": ("irms", 1.0), "active_power_watts": ("p_w", 1.0),
        "reactive_power_vars": ("q_var", 1.0), "apparent_power_volt_amperes": ("s_va", 1.0),
        "power_factor_ratio": ("pf", 1.0), "displacement_power_factor_ratio": ("dpf", 1.0),
        "voltage_thd_ratio": ("thd_v", 0.01), "current_thd_ratio": ("thd_i", 0.01),
        "current_crest_factor_ratio": ("crest_i", 1.0), "current_peak_amperes": ("ipeak", 1.0),
        "frequency_hertz": ("f_hz", 1.0), "dc_voltage_volts": ("v_dc", 1.0), "dc_current_amperes": ("i_dc", 1.0)}
EMAP = {"active_energy_import_joules_total": "e_imp_wh", "active_energy_export_joules_total": "e_exp_wh",
        "reactive_energy_import_var_seconds_total": "eq_imp_varh",
        "reactive_energy_export_var_seconds_total": "eq_exp_varh"}
# metric prefix -> label naming the object (None: the inlet total), longest prefixes first
KINDS = (("pdu_inlet_phase_", "phase"), ("pdu_inlet_neutral_", "neutral"), ("pdu_branch_", "branch"),
         ("pdu_group_", "group"), ("pdu_outlet_", "outlet"), ("pdu_inlet_", None))


def kind_of(ch):
    if ch == "INLET":
        return "pdu_inlet_"
    if ch in ("N", "NC"):
        return "pdu_inlet_neutral_"
    return {"L": "pdu_inlet_phase_", "B": "pdu_branch_", "G": "pdu_group_", "O": "pdu_outlet_"}[ch[0]]


# --- a small parser of the text format 0.0.4 ------------------------------------------
_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(r"^(%s)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$" % _NAME)
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')


def _unescape(s):
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "\\": "\\", '"': '"'}.get(m.group(1), "\\" + m.group(1)), s)


def _labels(text):
    out = {}
    pos = 0
    while pos < len(text):
        m = _LABEL.match(text, pos)
        assert m, "bad label set %r" % text
        out[m.group(1)] = _unescape(m.group(2))
        pos = m.end()
    return out


def parse(text):
    """{family: {"help", "type", "samples": [(name, labels, value)]}}, asserting
    each family's HELP/TYPE come before its samples and its samples are together."""
    fams = {}
    order = []
    cur = None
    for line in text.split("\n"):
        if not line:
            continue
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            _, kw, name, rest = line.split(" ", 3)
            f = fams.setdefault(name, {"help": None, "type": None, "samples": []})
            assert not f["samples"], "%s: %s after its samples" % (name, kw)
            f[kw.lower()] = rest
            if name not in order:
                order.append(name)
            cur = name
            continue
        assert not line.startswith("#"), line
        m = _SAMPLE.match(line)
        assert m, "bad sample line %r" % line
        name, labels, value = m.group(1), _labels(m.group(3) or ""), m.group(4)
        assert name == cur, "sample %s outside its family block (current %s)" % (name, cur)
        fams[name]["samples"].append((name, labels, float(value)))
    return fams


# --- fixture --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def case():
    p = run_mp(script="tests/mp/render_cases.py", args=[SECONDS, 0], timeout=300)
    chunks = []
    d = {}
    for line in p.stdout.splitlines():
        if not line.startswith("{"):
            continue
        j = json.loads(line)
        if j["case"] == "metrics_chunk":
            chunks.append(j["data"])
        else:
            d[j["case"]] = j
    assert "done" in d, p.stdout[-2000:]
    d["chunks"] = chunks
    d["text"] = "".join(chunks)
    return d


def _promtool():
    if not os.path.exists(PROMTOOL):
        msg = ("promtool not found (Debian package `prometheus`; `make test` installs it through "
               "tools/ensure_deps.sh)")
        if os.environ.get("CI") == "true":
            pytest.fail("CI: " + msg)
        pytest.fail(msg + "; install it with: apt-get install -y prometheus")
    return PROMTOOL


def test_promtool_accepts_the_exposition_without_lint_findings(case):
    r = subprocess.run([_promtool(), "check", "metrics"], input=case["text"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    # no lint warnings at all: the output names every problem, so it must be empty
    assert (r.stdout + r.stderr).strip() == "", r.stdout + r.stderr


def test_families_have_help_type_and_counters_end_in_total(case):
    fams = parse(case["text"])
    assert len(fams) > 80
    for name, f in fams.items():
        assert f["help"], name
        assert f["type"] in ("gauge", "counter"), (name, f["type"])
        if f["type"] == "counter":
            assert name.endswith("_total"), name
        else:
            assert not name.endswith("_total"), name
        for _n, labels, v in f["samples"]:
            assert not math.isnan(v), (name, labels)     # NaN is omitted, never printed


def test_chunks_are_bounded_and_the_heap_does_not_grow_with_the_response(case):
    mem = case["metrics"]["mem"]
    assert mem["chunks"] == len(case["chunks"]) > 10
    assert mem["largest_chunk"] <= MAX_CHUNK, mem
    assert max(len(c.encode()) for c in case["chunks"]) == mem["largest_chunk"]
    assert mem["bytes"] == len(case["text"].encode())
    growth = mem["heap_peak"] - mem["heap_before"]
    assert growth < MAX_HEAP_GROWTH and growth < mem["bytes"] / 2, mem
    assert mem["heap_after"] - mem["heap_before"] < 4096, mem    # nothing kept after the render


def _window(case, ch, q):
    vals = []
    for r in (case["metrics"]["before"], case["metrics"]["after"]):
        o = r["measurements"]["objects"][ch]
        vals.append(None if q not in o else o[q]["value"])
    return vals


def _within(v, lo_hi, scale=1.0, rel=2e-6):
    # the model's reads round to 4 decimals (energies are exact), the exposition
    # prints 7 significant digits
    lo, hi = min(lo_hi) * scale, max(lo_hi) * scale
    tol = rel * max(abs(lo), abs(hi)) + 5.1e-5 * scale
    return lo - tol <= v <= hi + tol


def test_every_measurement_is_the_models_value_of_the_same_moment(case):
    fams = parse(case["text"])
    before = case["metrics"]["before"]["measurements"]["objects"]
    seen = set()
    checked = 0
    for name, f in fams.items():
        for prefix, label in KINDS:
            if name.startswith(prefix):
                stem = name[len(prefix):]
                break
        else:
            continue
        if stem in QMAP:
            q, scale = QMAP[stem]
            assert f["type"] == "gauge", name
        elif stem in EMAP:
            q, scale = EMAP[stem], 3600.0          # Wh (varh) -> J (var-s)
            assert f["type"] == "counter", name
        else:
            continue        # outlet state, protection: checked below
        chans = [c for c in before if kind_of(c) == prefix and q in before[c]]
        got = {}
        for _n, labels, v in f["samples"]:
            ch = labels[label] if label else "INLET"
            assert set(labels) == ({label} if label else set()), (name, labels)
            got[ch] = v
        for ch in chans:
            w = _window(case, ch, q)
            if None in w:
                assert ch not in got or _within(got[ch], [x for x in w if x is not None], scale), (name, ch)
                continue
            assert ch in got, "%s: no sample for %s (model has %r)" % (name, ch, w)
            assert _within(got[ch], w, scale), (name, ch, got[ch], w)
            seen.add((ch, q))
            checked += 1
        assert set(got) <= set(chans), (name, set(got) - set(chans))
    # every channel's quantities of the point table are exposed
    for ch, o in before.items():
        for q, x in o.items():
            if q != "quality" and x["value"] is not None and None not in _window(case, ch, q):
                assert (ch, q) in seen, (ch, q)
    assert checked > 400


def test_named_values_outlet_power_phase_voltage_energy(case):
    fams = parse(case["text"])

    def sample(name, **labels):
        vals = [v for _n, l, v in fams[name]["samples"] if l == labels]
        assert len(vals) == 1, (name, labels)
        return vals[0]

    for n in (1, 5, 10, 20):
        p = sample("pdu_outlet_active_power_watts", outlet="O%d" % n)
        assert p > 100, (n, p)                 # loaded and on
        assert _within(p, _window(case, "O%d" % n, "p_w")), n
        e = sample("pdu_outlet_active_energy_import_joules_total", outlet="O%d" % n)
        assert _within(e, _window(case, "O%d" % n, "e_imp_wh"), 3600.0), n
    for ph in ("L1", "L2", "L3"):
        v = sample("pdu_inlet_phase_voltage_volts", phase=ph)
        assert 225 < v < 235 and _within(v, _window(case, ph, "vrms")), ph
    assert _within(sample("pdu_inlet_active_energy_import_joules_total"), _window(case, "INLET", "e_imp_wh"),
                   3600.0)
    assert _within(sample("pdu_group_voltage_volts", group="G1"), _window(case, "G1", "vrms"))
    assert _within(sample("pdu_branch_current_amperes", branch="B1"), _window(case, "B1", "irms"))
    assert _within(sample("pdu_inlet_neutral_current_amperes", neutral="N"), _window(case, "N", "irms"))


def test_outlet_and_protection_state(case):
    fams = parse(case["text"])
    outs = {o["id"]: o for o in case["metrics"]["before"]["outlets"]}
    after = {o["id"]: o for o in case["metrics"]["after"]["outlets"]}
    st, prot = {}, {}
    for _n, l, v in fams["pdu_outlet_state"]["samples"]:
        assert v in (0.0, 1.0)
        st.setdefault(l["outlet"], {})[l["state"]] = v
    for _n, l, v in fams["pdu_outlet_protection_state"]["samples"]:
        prot.setdefault(l["outlet"], {})[l["state"]] = v
    assert set(st) == set(outs) == set(prot)
    for oid, o in outs.items():
        assert set(st[oid]) == {"on", "off", "unknown"}
        cur = [s for s, v in st[oid].items() if v == 1.0]
        assert cur in ([o["state"]], [after[oid]["state"]]), (oid, cur)
        cur = [s for s, v in prot[oid].items() if v == 1.0]
        assert cur in ([o["protection"]["state"]], [after[oid]["protection"]["state"]]), (oid, cur)
    on = [oid for oid in outs if st[oid]["on"] == 1.0]
    assert sorted(on, key=lambda s: int(s[1:])) == ["O1", "O2", "O5", "O7", "O10", "O12", "O20", "O23"]
    cmd = {l["outlet"]: v for _n, l, v in fams["pdu_outlet_commanded_on"]["samples"]}
    assert {o for o, v in cmd.items() if v == 1.0} == set(on)


def test_events_by_severity_health_inventory_and_uplinks(case):
    fams = parse(case["text"])
    m = case["metrics"]
    ev = {l["severity"]: v for _n, l, v in fams["pdu_events_total"]["samples"]}
    assert set(ev) == {"info", "notice", "warning", "alarm", "critical"}
    # since boot: this run's log holds this boot only, so the counts are the log's
    log = {}
    for e in m["events"]:
        log[e["severity"]] = log.get(e["severity"], 0) + 1
    for s, v in ev.items():
        assert m["events_before"][s] <= v <= m["events_after"][s], s
        assert m["events_after"][s] == log.get(s, 0), (s, m["events_after"], log)
    assert ev["info"] >= 8 and ev["notice"] >= 3      # outlet_on x8; boot, config changes
    assert fams["pdu_events_missed_total"]["samples"][0][2] == 0

    h0, h1 = m["before"]["health"], m["after"]["health"]
    one = lambda name: fams[name]["samples"][0][2]
    assert h0["overruns"] <= one("pdu_acquisition_overruns_total") <= h1["overruns"]
    assert one("pdu_acquisition_overruns_total") == 0
    assert h0["polls"] <= one("pdu_acquisition_polls_total") <= h1["polls"]
    assert one("pdu_failsafe") == 0 and one("pdu_health_ok") == 1
    assert h0["uptime_s"] <= one("pdu_uptime_seconds") <= h1["uptime_s"]
    assert one("pdu_uptime_seconds") >= SECONDS - 1
    assert one("pdu_boots_total") == m["before"]["inventory"]["boot_count"] == 1
    for k in ("worst", "recent"):
        v = one("pdu_loop_lateness_%s_seconds" % k)
        assert v >= 0 and v * 1e6 <= max(h0["loop_lateness_us"][k], h1["loop_lateness_us"][k]) + 1
    devs = {l["device"]: v for _n, l, v in fams["pdu_device_up"]["samples"]}
    assert devs == {d: 1.0 for d in h0["devices"]}

    # inventory as an info gauge: label values escaped and read back exactly
    (_n, info, v), = fams["pdu_info"]["samples"]
    inv = m["before"]["inventory"]
    assert v == 1
    setup = case["setup"]
    assert info["location"] == setup["location"] == inv["location"]
    assert info["name"] == setup["name"]
    for k in ("fw_version", "board", "serial", "device_id", "site_id", "config_hash"):
        assert info[k] == str(inv[k]), k
    assert '\\"A\\"' in case["text"] and "\\\\ 7" in case["text"]   # the escapes themselves

    # per-uplink counters
    for name, stats in setup["uplinks"].items():
        for k, val in stats.items():
            fam = "pdu_uplink_%s_total" % k
            assert fams[fam]["type"] == "counter"
            got = [v for _n, l, v in fams[fam]["samples"] if l == {"uplink": name}]
            assert got == [val], (fam, name, got)


def _run(fram, seed):
    p = run_mp(script="tests/mp/render_cases.py", args=[4, 0, seed, fram], timeout=300)
    d = {"chunks": []}
    for line in p.stdout.splitlines():
        if line.startswith("{"):
            j = json.loads(line)
            if j["case"] == "metrics_chunk":
                d["chunks"].append(j["data"])
            else:
                d[j["case"]] = j
    assert "done" in d, p.stdout[-2000:]
    return d


def test_event_counters_start_at_this_boot(tmp_path):
    """With the FRAM kept (a reboot), the log holds both boots' events; the
    counters count only this boot's (from its boot event) and reset with it."""
    fram = tmp_path / "fram.bin"
    first = _run(fram, 5)
    second = _run(fram, 6)
    last1 = max(e["seq"] for e in first["metrics"]["events"])
    evs = second["metrics"]["events"]
    assert min(e["seq"] for e in evs) <= last1 < max(e["seq"] for e in evs)   # both boots in the log
    assert [e["event"] for e in evs].count("boot") == 2
    mine = {}
    for e in evs:
        if e["seq"] > last1:
            mine[e["severity"]] = mine.get(e["severity"], 0) + 1
    fams = parse("".join(second["chunks"]))
    ev = {l["severity"]: v for _n, l, v in fams["pdu_events_total"]["samples"]}
    for s in ("info", "notice", "warning", "alarm", "critical"):
        assert second["metrics"]["events_after"][s] == mine.get(s, 0), (s, second["metrics"]["events_after"], mine)
        assert second["metrics"]["events_before"][s] <= ev[s] <= second["metrics"]["events_after"][s]
    assert fams["pdu_boots_total"]["samples"][0][2] == 2

"""ETSI ES 202 336-12 PEE.xml (comms/pee.py) of a running sim24 with 1-minute
data records, rendered in chunks while the firmware runs
(tests/mp/render_cases.py): the document parses, holds the seven Annex C
tables in order and every Annex A mandatory item, its values are the model's
own reads (live values bounded by the reads before and after the render, the
data records equal to the record store's for the requested range), and text
with <&"' survives the escaping."""
import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

import pytest

from mputil import run_mp

SECONDS = 250               # 1-minute records closed at 60, 120, 180, 240 s
T0_OFFSET = 60              # PEE range starts one minute after boot: the first record is outside
ROOT = "power_energy_environment_measurement_system"
TABLES = ["description_table", "alarm_table", "event_table", "data_table", "data_record_table",
          "config_table", "control_table"]
MAX_CHUNK = 4096
MAX_HEAP_GROWTH = 96 * 1024  # a page of two decoded records (PAGE_RECORDS = 2 in the script) and the rest
MJ_PER_KWH = 3.6e9
RFIELDS = {"v": ("voltage", "V"), "i": ("current", "A"), "p": ("active_power", "W"),
           "t": ("temperature", "degC"), "h": ("humidity", "%RH")}


@pytest.fixture(scope="module")
def case():
    p = run_mp(script="tests/mp/render_cases.py", args=[SECONDS, T0_OFFSET], timeout=600)
    chunks = []
    d = {}
    for line in p.stdout.splitlines():
        if not line.startswith("{"):
            continue
        j = json.loads(line)
        if j["case"] == "pee_chunk":
            chunks.append(j["data"])
        elif not j["case"].endswith("_chunk"):
            d[j["case"]] = j
    assert "done" in d, p.stdout[-2000:]
    d["chunks"] = chunks
    d["text"] = "".join(chunks)
    d["root"] = ET.fromstring(d["text"].encode("utf-8"))
    return d


def iso(utc_s):
    return datetime.fromtimestamp(utc_s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_ms(text):
    """'2026-01-01T00:00:00.040Z' -> UTC ms"""
    dt = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return round(dt.timestamp() * 1000)


def items(table, tag, **attrs):
    return [e for e in table.findall(tag) if all(e.get(k) == v for k, v in attrs.items())]


def one(table, tag, **attrs):
    found = items(table, tag, **attrs)
    assert len(found) == 1, (tag, attrs, len(found))
    return found[0]


def close(a, b, rel=1e-6, absol=1e-9):
    return abs(a - b) <= rel * max(abs(a), abs(b)) + absol


def window(case, oid, q):
    out = []
    for r in (case["pee"]["before"], case["pee"]["after"]):
        out.append(r["measurements"]["objects"][oid][q]["value"])
    return out


def within(v, w, tol):
    return min(w) - tol <= v <= max(w) + tol


def test_document_structure_is_annex_c(case):
    root = case["root"]
    assert root.tag == ROOT
    assert root.get("id") == "1" and root.get("status") in ("normal", "alarm")
    assert [c.tag for c in root] == TABLES
    assert case["text"].startswith('<?xml version="1.0" encoding="UTF-8"?>')


def test_chunks_bounded_and_heap_flat(case):
    mem = case["pee"]["mem"]
    assert mem["chunks"] == len(case["chunks"]) > 10
    assert mem["largest_chunk"] <= MAX_CHUNK
    assert max(len(c.encode()) for c in case["chunks"]) == mem["largest_chunk"]
    assert mem["bytes"] == len(case["text"].encode())
    growth = mem["heap_peak"] - mem["heap_before"]
    assert growth < MAX_HEAP_GROWTH, mem
    assert mem["heap_after"] - mem["heap_before"] < 4096, mem
    # a range of two records (one page) needs as much heap as the whole range: the
    # heap follows the page, not the response
    small = case["pee"]["mem_small"]
    assert small["bytes"] < mem["bytes"] - 10000      # one record fewer
    assert abs(growth - (small["heap_peak"] - small["heap_before"])) < 16 * 1024, (mem, small)


def test_every_annex_a_mandatory_item_is_present(case):
    """Table A.1 row by row -> where docs/pee.md puts it; each must hold a value."""
    root = case["root"]
    t = {c.tag: c for c in root}
    rec = t["data_record_table"].find("data_record")
    checks = {
        # Description
        "site identification": t["description_table"].findall("description[@name='site_id']"),
        "ICT equipment identification": t["description_table"].findall("description[@name='equipment_id']"),
        "measurement equipment identification":
            t["description_table"].findall("description[@name='measurement_equipment']"),
        "equipment type (indoor/outdoor)": t["description_table"].findall("description[@name='equipment_type']"),
        "measurement configuration (AC/DC)":
            t["description_table"].findall("description[@name='measurement_configuration']"),
        # Alarm
        "sensors failure": t["alarm_table"].findall("alarm[@name='sensor_failure']"),
        "partial network failure": t["alarm_table"].findall("alarm[@name='partial_network_failure']"),
        # Event
        "alarm set and clear / datalog": t["event_table"].findall("event"),
        "configuration or parameter change": t["event_table"].findall("event[@type='config_change']"),
        # Data
        "average active power": t["data_table"].findall("data[@name='average_active_power']"),
        "min active power": t["data_table"].findall("data[@name='min_active_power']"),
        "max active power": t["data_table"].findall("data[@name='max_active_power']"),
        "active energy per input": t["data_table"].findall("data[@name='active_energy'][@role='input']"),
        "active energy sum of inputs": t["data_table"].findall("data[@name='active_energy'][@role='sum']"),
        "temperature of the equipment": t["data_table"].findall("data[@name='temperature']"),
        "time stamp of a set of measurements": t["data_table"].findall("data[@name='time_stamp']"),
        # Data record
        "records at T_rec with time stamp": t["data_record_table"].findall("data_record[@time]"),
        "record: equipment and site identifiers": t["data_record_table"].findall(
            "data_record[@equipment_id][@site_id]"),
        "record: average/min/max active power": rec.findall("data[@name='active_power'][@avg][@min][@max]"),
        "record: energy per input": rec.findall("data[@name='active_energy'][@role='input']"),
        "record: energy sum": rec.findall("data[@name='active_energy'][@role='sum']"),
        "record: temperature": rec.findall("data[@name='temperature']"),
        # Config
        "hardware configuration (power inputs)": t["config_table"].findall("config[@name='power_input']"),
        "input configuration (A+B+C)": t["config_table"].findall("config[@name='input_configuration']"),
        "complementary hardware information": t["config_table"].findall(
            "config[@group='complementary_hardware']"),
        "time-date setting": t["config_table"].findall("config[@name='time_date']"),
        "alarm parameters setting": t["config_table"].findall("config[@group='alarm_parameters']"),
        "measurement parameters: record period": t["config_table"].findall("config[@name='record_period']"),
        # Control
        "alarm/event/test/command parameters": t["control_table"].findall("control[@name='outlet_switch']"),
        "program download": t["control_table"].findall("control[@name='program_download']"),
    }
    for what, found in checks.items():
        assert found, what
        for e in found:
            assert (e.text or "").strip() or len(e.attrib) > 2 or len(e), what


def test_identification_and_escaping(case):
    root = case["root"]
    inv = case["pee"]["before"]["inventory"]
    setup = case["setup"]
    d = root.find("description_table")
    assert one(d, "description", name="site_id").text == inv["site_id"] == "SITE-0001"
    assert one(d, "description", name="equipment_id").text == inv["device_id"] == "PDU-0001"
    assert one(d, "description", name="fw_version").text == inv["fw_version"]
    assert one(d, "description", name="serial").text == inv["serial"]
    # <&"' and a backslash round-trip through the escaping
    assert one(d, "description", name="location").text == setup["location"] == inv["location"]
    assert one(d, "description", name="equipment_name").text == setup["name"] == inv["name"]
    c = root.find("config_table")
    assert one(c, "config", name="system.location").text == setup["location"]
    ev = [e for e in root.find("event_table").findall("event") if e.get("name") == "config_changed"
          and e.find("value[@name='field']").text == "system.location"]
    assert len(ev) == 1 and ev[0].find("value[@name='new']").text == setup["location"]
    assert ev[0].get("type") == "config_change"
    assert setup["location"] not in case["text"]            # never raw
    assert "&lt;rack &quot;A&quot;&gt; &amp; &apos;B&apos;" in case["text"]
    for r in root.find("data_record_table"):
        assert r.get("equipment_id") == inv["device_id"] and r.get("site_id") == inv["site_id"]
    conf = one(d, "description", name="measurement_configuration").text
    assert conf.startswith("AC 3P-wye") and "L1+L2+L3" in conf


def test_alarms_follow_device_health(case):
    al = case["root"].find("alarm_table")
    h0, h1 = case["pee"]["before"]["health"], case["pee"]["after"]["health"]
    for dev, r in h0["devices"].items():
        a = one(al, "alarm", name="sensor_failure", object=dev)
        assert a.get("status") == ("clear" if r["ok"] else "set")
        assert a.get("status") == ("clear" if h1["devices"][dev]["ok"] else "set")
        if "errors" in r:
            a = one(al, "alarm", name="partial_network_failure", object=dev)
            assert a.get("status") == "clear" and a.get("errors_crc") == str(r["errors"]["crc"])
    a = one(al, "alarm", name="partial_network_failure", object="acquisition")
    assert a.get("status") == "clear" and a.get("overruns") == "0"
    assert one(al, "alarm", name="failsafe").get("status") == "clear"
    assert case["root"].get("status") == "normal"


def test_event_table_is_the_event_log_of_the_range(case):
    t0, t1 = case["pee"]["t0_s"], case["pee"]["t1_s"]
    et = case["root"].find("event_table")
    assert et.get("start") == iso(t0) and et.get("end") == iso(t1)
    want = [e for e in case["pee"]["events"] if t0 * 1000 <= iso_ms(e["timestamp_utc"]) < t1 * 1000]
    got = et.findall("event")
    assert [int(e.get("id")) for e in got] == [e["seq"] for e in want]
    assert want, "no events in the range"
    for g, w in zip(got, want):
        assert g.get("name") == w["event"] and g.get("severity") == w["severity"]
        assert g.get("time") == w["timestamp_utc"] and (g.get("object") or "") == w["channel"]
        assert {v.get("name"): v.text or "" for v in g.findall("value")} == \
            {k: ("true" if v is True else "false" if v is False else str(v)) for k, v in w["values"].items()}
    # the boot's own events are before t0: outside
    assert all(e["event"] != "boot" for e in want)
    assert any(e["event"] == "boot" for e in case["pee"]["events"])


def test_data_table_is_the_models_live_reads(case):
    dt = case["root"].find("data_table")
    b, a = case["pee"]["before"]["measurements"], case["pee"]["after"]["measurements"]
    ts = one(dt, "data", name="time_stamp").text
    assert ts in (b["timestamp_utc"], a["timestamp_utc"]) or b["timestamp_utc"] <= ts <= a["timestamp_utc"]
    # average active power per input and for the sum, in W, from the same 1 s frames
    for oid, role in (("L1", "input"), ("L2", "input"), ("L3", "input"), ("INLET", "sum")):
        e = one(dt, "data", name="average_active_power", object=oid)
        assert e.get("role") == role and e.get("unit") == "W" and e.get("period_s") == "1"
        assert within(float(e.text), window(case, oid, "p_w"), 1e-4 + 1e-6 * abs(float(e.text))), (oid, e.text)
        assert float(e.text) > 100
    # energy per input and summed, kWh (index since start of operation)
    ins = []
    for oid in ("L1", "L2", "L3"):
        e = one(dt, "data", name="active_energy", object=oid)
        assert e.get("role") == "input" and e.get("unit") == "kWh" and e.get("kind") == "index"
        w = [x / 1000.0 for x in window(case, oid, "e_imp_wh")]
        assert within(float(e.text), w, 2e-9), (oid, e.text, w)
        ins.append(float(e.text))
    s = one(dt, "data", name="active_energy", object="INLET")
    assert s.get("role") == "sum"
    assert within(float(s.text), [x / 1000.0 for x in window(case, "INLET", "e_imp_wh")], 2e-9)
    # the inlet total and the sum of its inputs agree (integer mJ counters, each second rounded)
    assert abs(float(s.text) - sum(ins)) <= 1e-3 * sum(ins) + 1e-6, (s.text, ins)
    # per outlet, too
    for oid in ("O1", "O10", "O20"):
        e = one(dt, "data", name="average_active_power", object=oid)
        assert e.get("role") == "outlet" and within(float(e.text), window(case, oid, "p_w"), 1e-4 + 1e-6 * 1000)
    # min / max active power over the latest complete record period = the store's newest record
    last = case["pee"]["records"][-1]
    for oid in ("L1", "L2", "L3", "INLET"):
        avg, mn, mx = last["channels"][oid]["p"]
        for name, v in (("min_active_power", mn), ("max_active_power", mx)):
            e = one(dt, "data", name=name, object=oid)
            assert e.get("time") == iso(last["utc_s"]) and e.get("period_s") == "60"
            assert close(float(e.text), v, 1e-6), (name, oid, e.text, v)
    # temperature (and humidity) of the equipment, degC
    env0, env1 = case["pee"]["before"]["environment"], case["pee"]["after"]["environment"]
    for sid in ("inlet_air", "exhaust_air", "ntc1"):
        e = one(dt, "data", name="temperature", object=sid)
        assert e.get("unit") == "degC"
        assert within(float(e.text), [env0[sid]["temperature_c"], env1[sid]["temperature_c"]], 1e-3)
    assert one(dt, "data", name="humidity", object="inlet_air").get("unit") == "%RH"


def test_data_record_table_is_the_record_store_for_the_range(case):
    t0, t1 = case["pee"]["t0_s"], case["pee"]["t1_s"]
    drt = case["root"].find("data_record_table")
    assert drt.get("record_period_s") == "60" and drt.get("start") == iso(t0) and drt.get("end") == iso(t1)
    store = case["pee"]["records"]
    got = drt.findall("data_record")
    assert len(store) >= 3 and len(got) == len(store)
    assert case["pee"]["all_records"] > len(store)           # the first minute is outside the range
    for g, r in zip(got, store):
        assert t0 <= r["utc_s"] < t1
        assert g.get("time") == iso(r["utc_s"])
        assert int(g.get("period_s")) == r["period_s"] == 60
        assert int(g.get("n_s")) == r["n_s"]
        assert g.get("time_valid") == ("true" if r["time_valid"] else "false")
        assert g.get("partial") == ("true" if r["partial"] else "false")
        assert g.get("equipment_id") == r["equipment"] and g.get("site_id") == r["site"]
        want = {}
        for ch, d in r["channels"].items():
            obj = ch + "_air" if ch in ("inlet", "exhaust") else ch
            for k, v in d.items():
                if k == "e_mj":
                    want[(obj, "active_energy")] = v
                elif v[0] is not None:
                    want[(obj, RFIELDS[k][0])] = v
        have = {}
        for e in g.findall("data"):
            key = (e.get("object"), e.get("name"))
            assert key not in have, key
            if e.get("name") == "active_energy":
                assert e.get("unit") == "kWh" and e.get("kind") == "period"
                have[key] = float(e.text)
            else:
                assert e.get("unit") == dict(RFIELDS.values())[e.get("name")]
                have[key] = (float(e.get("avg")), float(e.get("min")), float(e.get("max")))
        assert set(have) == set(want), set(have) ^ set(want)
        for key, v in want.items():
            if key[1] == "active_energy":
                assert abs(have[key] - v / MJ_PER_KWH) <= 1.01e-9, (key, have[key], v)
            else:
                for x, y in zip(have[key], v):
                    assert close(x, y, 1e-6, 1e-12), (r["utc_s"], key, have[key], v)
        # roles: the inputs and their sum
        roles = {(e.get("object"), e.get("role")) for e in g.findall("data")}
        assert {("L1", "input"), ("L2", "input"), ("L3", "input"), ("INLET", "sum"), ("O1", "outlet"),
                ("B1", "branch"), ("N", "neutral"), ("inlet_air", "sensor")} <= roles
        # energy of the sum over the period agrees with its inputs
        e_in = sum(have[(p, "active_energy")] for p in ("L1", "L2", "L3"))
        assert abs(have[("INLET", "active_energy")] - e_in) <= 1e-3 * e_in + 1e-6


def test_config_and_control_tables(case):
    c = case["root"].find("config_table")
    assert one(c, "config", name="record_period").text == "60" == str(case["setup"]["record_period_s"])
    assert one(c, "config", name="record.period_min").text == "1"
    td = one(c, "config", name="time_date").text
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}", td), td
    now = case["pee"]["before"]["now_s"]
    assert td == datetime.fromtimestamp(now, timezone.utc).strftime("%Y/%m/%d %H:%M:%S") or \
        td == datetime.fromtimestamp(case["pee"]["after"]["now_s"], timezone.utc).strftime("%Y/%m/%d %H:%M:%S")
    for ph in ("L1", "L2", "L3"):
        e = one(c, "config", name="power_input", object=ph)
        assert e.get("type") == "AC" and e.get("rating_a") == "32" and e.get("nominal_voltage_v") == "230"
    assert one(c, "config", name="input_configuration").text == "L1+L2+L3"
    # every configuration field is listed with the model's value
    cfg = case["pee"]["config"]
    for path, v in cfg.items():
        e = one(c, "config", name=path)
        assert (e.text or "") == ("true" if v is True else "false" if v is False else str(v)), path
    assert one(c, "config", name="protection.outlet_pickup_a").get("group") == "alarm_parameters"
    k = case["root"].find("control_table")
    sw = items(k, "control", name="outlet_switch")
    assert len(sw) == 24
    outs = {o["id"]: o for o in case["pee"]["before"]["outlets"]}
    for e in sw:
        assert e.get("state") == outs[e.get("object")]["state"]
    assert one(k, "control", name="program_download").get("status") == "not_supported"

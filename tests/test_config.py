"""Configuration store: schema with types/ranges/defaults, a change set is
validated as a whole (a bad value refuses it all, with the field named),
atomic A/B writes in FRAM, every change an event and an audit entry."""
import pytest
from mputil import run_mp_json


@pytest.fixture(scope="module")
def cases():
    rows = run_mp_json(script="tests/mp/persist_config.py", timeout=120)
    return {r["case"]: r for r in rows}


def test_schema_sections_and_safe_defaults(cases):
    c = cases["defaults"]
    assert c["generation"] == 0 and c["events"] == 0                # blank chip: defaults, no fault
    assert c["sections"] == ["modbus", "network", "outlets", "protection", "record", "snmp", "system", "time"]
    # remote write switches live in the access store only (off by default: tests/test_access.py)
    assert c["write_keys"] == []
    assert c["record"] == {"period_min": 15, "keep_days": 4, "hourly_months": 6, "daily_years": 2}
    assert c["n_outlets"] == 24
    assert c["outlet7"] == {"name": "", "priority": 5, "power_on_delay_ms": 1500, "power_on": "last"}
    assert "outlet_pickup_a" in c["protection"]
    assert c["network"]["http_port"] == 8080 and c["network"]["modbus_port"] == 5020
    assert c["size"] < c["max_payload"]


def test_valid_change_set_applied_logged_and_audited(cases):
    c = cases["apply"]
    assert c["generation"] == 1 and c["heard"] == 1
    assert c["diff"] == {"record.period_min": [15, 5], "outlets.3.priority": [5, 1],
                         "network.http_port": [8080, 80], "outlets.3.power_on_delay_ms": [500, 2000]}
    evs = {e[1]: e for e in c["events"]}
    assert evs["record.period_min"] == ["config_changed", "record.period_min", "15", "5", "http:admin", "applied"]
    assert evs["outlets.3.power_on_delay_ms"][2:4] == ["500", "2000"]
    assert ["config", "http:admin", "record.period_min: 15 -> 5 (gen 1)", "ok"] in c["audit"]
    assert len(c["audit"]) == 4


EXPECTED_REFUSALS = [
    ("record.period_min", "record.period_min: 7 not in 1 or 5..60"),
    ("record.period_min", "record.period_min: '15' is str, expected int"),
    ("record.period_min", "record.period_min: 15.0 is float, expected int"),
    ("time.sntp_enable", "time.sntp_enable: 1 is int, expected bool"),
    ("protection.outlet_cool_s", "protection.outlet_cool_s: 4000.0 not in 1.0..3600.0"),
    ("protection.outlet_cool_s", "protection.outlet_cool_s: nan is not a finite number"),
    ("network.modbus_port", "network.modbus_port: 80 already used by network.http_port"),
    ("outlets.30.priority", "outlets.30.priority: unknown field"),
    ("system.name", "system.name: 0 characters, expected 1..32"),
    ("system.site_id", "system.site_id: 17 characters, expected 1..16"),
    ("outlets.2.power_on", "outlets.2.power_on: 'sometimes' not in on, off, last"),
    ("network.snmp_port", "network.snmp_port: 0 not in 1..65535"),
    ("nosuch.field", "nosuch.field: unknown field"),
    ("record", "record: unknown field"),
    ("", "changes must be a dict"),
]


def test_bad_values_refused_naming_the_field_and_nothing_applied(cases):
    c = cases["refused"]
    assert len(c["results"]) == len(EXPECTED_REFUSALS)
    for r, (field, msg) in zip(c["results"], EXPECTED_REFUSALS):
        assert "accepted" not in r, r["set"]
        assert r["fields"] == [field], r
        assert r["msg"].startswith(msg), r
    # the running config, its generation and both FRAM copies are untouched
    assert c["unchanged"] and c["generation_same"] and c["fram_same"]
    # refusals are logged too
    assert c["refused_events"] == c["refused_audit"] == len(EXPECTED_REFUSALS)


def test_record_period_choices(cases):
    c = cases["periods"]
    assert c["ok"] == c["table"] == [1, 5, 6, 10, 12, 15, 20, 30, 60]


def test_no_op_change_writes_nothing(cases):
    assert cases["noop"]["diff"] == {} and cases["noop"]["same_gen"]


def test_reload_after_reboot(cases):
    c = cases["reload"]
    assert c == {"case": "reload", "generation": 1, "same": True, "period": 5, "port": 80}


def test_power_cut_while_writing_keeps_the_old_config(cases):
    c = cases["torn"]
    assert c["torn_gen"] == 2 and c["loaded"] == 1 and c["same"]
    # the next write skips the torn generation and lands
    assert c["next_gen"] == 3 and c["reloaded"] == 3 and c["period"] == 20


def test_both_copies_damaged_gives_defaults_and_a_fault(cases):
    c = cases["damaged"]
    assert c["loaded"] == 0 and c["defaults"] and c["events"] == [["store_fault", "config"]]


def test_board_defaults_override_and_are_validated(cases):
    c = cases["board_defaults"]
    assert c["http"] == 80 and c["modbus"] == 502
    assert c["bad"] == "network.http_port: 0 not in 1..65535"
    assert c["outlets_small"] == 4

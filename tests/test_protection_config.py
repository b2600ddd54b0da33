"""Protection settings are part of the persisted, validated config store."""
from mputil import run_mp_json


def test_protection_settings_persist_and_are_validated(tmp_path):
    fram = tmp_path / "prot_config_fram.bin"      # this test's own FRAM image, fresh
    r = run_mp_json(script="tests/mp/prot_config.py", args=[fram])[0]
    assert r["in_store"] is True
    assert r["before"] == 16.0
    assert r["bad"].startswith("protection.outlet_pickup_a: 99.0 not in")
    assert r["after_reboot"] == 10.0 and r["config_value"] == 10.0
    assert r["prio_after_reboot"] == 1
    # a change made directly through the config store cannot break protection's rules
    assert r["grading"].startswith("protection.rcm_trip_ma:") and "rcm_alarm_ma" in r["grading"]

"""Boot of sim24 in virtual time: every device answers, acquisition keeps every
sample, the ADE9000's own DSP reads the plant's inlet, outlets switch on."""
import math

from mputil import run_mp_json


def test_boot_sim24_virtual_time():
    r = run_mp_json(script="tests/mp/boot_virtual.py", args=["5"])[0]
    assert r["ok"], r["health"]
    parts = sorted(d["part"] for d in r["health"].values())
    assert parts.count("ads131m04") == 8 and "ade9000" in parts and "mb85rs" in parts
    assert parts.count("sht4x") == 2
    for name, d in r["health"].items():
        for k, v in d.get("errors", {}).items():
            assert v == 0, (name, k, v)
    assert r["now_us"] == 5000000
    # every conversion of 5 s at 8 kSPS reached the firmware (to within one poll)
    assert 5 * 8000 - 80 <= r["frames"] <= 5 * 8000
    assert 5 * 8000 - 400 <= r["inlet_sets"] <= 5 * 8000
    assert r["overruns"] == 0
    assert r["outlets_on"] == 24
    on = [c for e, c in r["events"] if e == "outlet_on"]
    assert on == ["O%d" % n for n in range(1, 25)]   # staggered, in order
    # a blank FRAM is formatted on first boot, then the boot itself is logged
    assert r["events"][:2] == [["fram_formatted", "fram"], ["boot", "system"]]
    # the firmware's metrology (1 s snapshot of [3, 4) s; the stagger ends at ~2.2 s):
    # 230 V, 50 Hz, P of the resistive/psu/fan loads plus the PDU's own draw
    i = r["inlet"]
    assert abs(i["f_hz"] - 50.0) < 0.01
    for v in i["vrms"]:
        assert abs(v - 230.0) < 0.5
    assert abs(i["outlet_p"]["1"] - 230.0 * 4.0) / 920.0 < 0.005      # resistive 4 A
    assert abs(i["outlet_p"]["23"] - 230.0 * 2.0) / 460.0 < 0.005     # resistive 2 A on an SSR
    p_expected = 230.0 * (4.0 + 3.0 + 2.0) + 230.0 * 2.0 * 0.99 + 230.0 * 1.5 * 0.8
    assert abs(i["p_w"] - p_expected) / p_expected < 0.03, (i["p_w"], p_expected)
    # the ADE9000's own DSP agrees with the firmware (field self-check)
    assert i["selfcheck_ok"] is True
    chip_p = sum(c[2] for c in i["chip"])
    assert abs(chip_p - i["p_w"]) / i["p_w"] < 0.01, (chip_p, i["p_w"])
    assert i["e_inlet_wh"] > 0
    # environment sensors read the plant's air and relay-board temperatures
    assert 15 < r["env"]["inlet"][0] < 35 and 0 < r["env"]["inlet"][1] < 100
    assert r["env"]["exhaust"][0] >= r["env"]["inlet"][0]
    assert all(15 < r["env"]["ntc%d" % k] < 80 for k in range(1, 5))
    assert "overruns=0" in r["status"]


def test_boot_is_repeatable_for_a_seed():
    a = run_mp_json(script="tests/mp/boot_virtual.py", args=["1"])[0]
    b = run_mp_json(script="tests/mp/boot_virtual.py", args=["1"])[0]
    assert a["inlet"] == b["inlet"] and a["events"] == b["events"] and a["env"] == b["env"]


def test_boot_reports_absent_and_wrong_devices_and_keeps_running():
    r = run_mp_json(script="tests/mp/boot_degraded.py")[0]
    h = r["health"]
    assert not r["ok"]
    assert h["fram"]["ok"] is False and h["fram"]["error"].startswith("AbsentError: fram")
    assert h["adc3"]["ok"] is False and h["adc3"]["error"].startswith("IdError") and "FF22" in h["adc3"]["error"].upper()
    assert h["adc6"]["ok"] is False and h["adc6"]["error"].startswith("AbsentError: adc6")
    others = [n for n in h if n not in ("fram", "adc3", "adc6")]
    assert all(h[n]["ok"] for n in others), h
    assert sorted(c for c, _ in r["faults"]) == ["adc3", "adc6", "fram"]
    # the six good groups and the inlet keep sampling without loss
    assert r["adcs"] == 6 and r["overruns"] == 0
    assert 8000 - 80 <= r["frames"] <= 8000

"""MB85RS FRAM driver (drivers/fram.py) against its twin (sim/twin_fram.py).
(Read/write time per call: `make bench`.)"""
import pytest
from mputil import run_mp_json


@pytest.fixture(scope="module")
def cases():
    rows = run_mp_json(script="tests/mp/fram_cases.py", timeout=120)
    return {r["case"]: r for r in rows}


def test_begin_reads_id_and_status(cases):
    c = cases["begin"]
    assert c["id"][:2] == [0x04, 0x7F]          # Fujitsu, continuation code
    assert c["id"][2] & 0x1F == 0x08             # density 2 Mbit
    assert c["status"] == 0 and c["protect_from"] == 262144


def test_absent_chip(cases):
    for k in ("absent", "absent_twin"):
        assert cases[k]["err"] == "AbsentError" and cases[k]["absent"] == 1


def test_wrong_id(cases):
    assert cases["wrong_density"] == {"case": "wrong_density", "err": "IdError", "id": 1}
    assert cases["wrong_maker"]["err"] == "IdError" and cases["wrong_maker"]["id"] == 1


def test_wrong_spi_mode_fails(cases):
    assert cases["wrong_mode"]["err"] in ("AbsentError", "IdError")


def test_small_part_two_byte_addresses(cases):
    c = cases["small_part"]
    assert c["addr_bytes"] == 2 and c["id"][2] & 0x1F == 3
    assert c["data"] == c["twin"] == [0xAB, 0xCD]


def test_roundtrip_and_memoryview_slices(cases):
    c = cases["roundtrip"]
    assert c["first"] and c["last"] and c["twin"] and c["untouched"]
    assert c["writes"] == 2 and c["bytes_written"] == 400


def test_bounds(cases):
    c = cases["bounds"]
    assert c["neg"] == c["over"] == c["wover"] == "ValueError" and c["ok"] is None


def test_write_enable_latch(cases):
    c = cases["wel"]
    assert c["first_ignored"] == 1          # WRITE without WREN ignored
    assert c["wel_set"] == 2 and c["wel_after"] == 0   # WEL cleared by the WRITE
    assert c["ignored"] == 3                # 2nd WRITE without WREN, and after WRDI
    assert c["data"] == [0x66, 0, 0]


def test_address_wrap_and_fast_read(cases):
    c = cases["wrap"]
    assert c["wrap"] == [0x11, 0x22, 0x33, 0x44]
    assert c["fstrd"] == [0x33, 0x44] and c["dontcare"] == [0x33, 0x44]


def test_block_protect(cases):
    c = cases["block_protect"]
    assert c["status"] == 0x04 and c["protect_from"] == 0x30000
    assert c["driver_err"] == "ValueError"
    assert c["protected"] == 2 and c["upper"] == [0, 0]
    assert c["lower"] == [5, 6]
    assert cases["unprotect"]["status"] == 0 and cases["unprotect"]["data"] == 0xAA


def test_wp_pin_locks_status(cases):
    c = cases["wp_lock"]
    assert c["status"] == 0x88 and c["after_raw"] == 0x88 and c["wp"] == 0
    assert c["status_writes"] == 1
    assert cases["wp_unlock"] == {"case": "wp_unlock", "status": 0, "wp": 1}


def test_power_cut_keeps_exactly_the_bytes_before(cases):
    c = cases["power_cut"]
    assert c["stored"] == [0, 1, 2, 3, 4] + [0xEE] * 5
    assert c["dead"] == "AbsentError" and c["dead_read"] == [0xFF] * 4
    assert c["wel"] == 0 and c["cuts"] == 1 and c["bytes_written"] == 15
    c = cases["power_cut_2"]
    assert c["a"] == [1] * 8 and c["b"] == [2] * 4 + [0] * 4
    assert cases["power_cut_0"]["data"] == [0, 0] and cases["power_cut_0"]["cuts"] == 1


def test_backing_file(cases):
    c = cases["file_persist"]
    assert c["data"] == "persist" and c["cut"] == "abc\0\0\0" and c["size"] == 262144
    c = cases["file_sync"]
    assert c["before"] == [0, 0, 0] and c["after"] == "xyz" and c["synced"] == 3


def test_readinto_heap_locked(cases):
    c = cases["heap_lock"]
    assert c["ok"] and c["part"] and c["whole"]

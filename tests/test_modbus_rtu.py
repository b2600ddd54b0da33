"""Modbus RTU against the firmware on the unix port in real time, over a
pseudo-terminal pair (the firmware holds the master side as its RS-485 UART):
raw frames at the default 19200 baud 8E1 (CRC-16, unit id, broadcast, bad
CRC, truncated, oversized and garbage frames dropped and counted); then the
line reconfigured to 38400 baud 8N1 through the settings API and the PDU
rebooted on it, where pymodbus reads the whole map and switches an outlet
when writes are enabled, and pysunspec2 scans every model."""
import struct
import time

import pytest
from pduhttp import ADMIN_PW, Pdu
from mputil import ROOT
from mbutil import Line, frame

BASE = 40000


@pytest.fixture(scope="module")
def line():
    return Line()


@pytest.fixture(scope="module")
def pdu(tmp_path_factory, line):
    d = tmp_path_factory.mktemp("rtu")
    p = Pdu(d, extra=["--uart-fd", str(line.master), "--uart-path", line.path], pass_fds=(line.master,))
    st, _, b = p.req("POST", "/api/v1/setup", body={"password": ADMIN_PW})
    assert st == 201, b
    p.admin = p.login("admin", ADMIN_PW)
    p.dir = d
    yield p
    p.stop()


def _stats(pdu):
    return pdu.req("GET", "/api/v1/health", pdu.admin)[2]["uplinks"]["modbus_rtu"]


def test_default_line_answers_its_unit_with_a_valid_crc(pdu, line):
    assert "Modbus RTU  %s  (unit 1, 19200 baud, 8E1)" % line.path in pdu.output()
    got = line.ask(frame(1, struct.pack(">BHH", 3, BASE, 2)))
    assert got == frame(1, bytes([3, 4]) + b"SunS")


def test_other_units_and_broadcast_reads_get_no_reply(pdu, line):
    s0 = _stats(pdu)
    assert line.ask(frame(7, struct.pack(">BHH", 3, BASE, 2)), timeout=0.5) == b""
    assert line.ask(frame(0, struct.pack(">BHH", 3, BASE, 2)), timeout=0.5) == b""
    s1 = _stats(pdu)
    assert s1["other_unit"] == s0["other_unit"] + 1 and s1["broadcasts"] == s0["broadcasts"] + 1


def test_bad_frames_dropped_counted_and_the_next_answered(pdu, line):
    s0 = _stats(pdu)
    good = frame(1, struct.pack(">BHH", 3, BASE, 2))
    bad_crc = good[:-1] + bytes([good[-1] ^ 0xFF])
    for f in (bad_crc, good[:3], bytes(300), b"\xff\x00\x13\x37\x42"):
        assert line.ask(f, timeout=0.4) == b""
        time.sleep(0.02)      # more than t3.5: each is a frame of its own
    s1 = _stats(pdu)
    assert s1["crc_errors"] - s0["crc_errors"] + s1["bad_frames"] - s0["bad_frames"] == 4, (s0, s1)
    assert line.ask(good) == frame(1, bytes([3, 4]) + b"SunS")
    # exceptions travel as RTU frames too
    assert line.ask(frame(1, struct.pack(">BHH", 3, 30000, 2))) == frame(1, bytes([0x83, 2]))
    assert line.ask(frame(1, bytes([8, 0, 0, 0, 0]))) == frame(1, bytes([0x88, 1]))
    h = pdu.req("GET", "/api/v1/health", pdu.admin)[2]
    assert h["overruns"] == 0


def test_writes_off_refused_then_reconfigured_line_with_pymodbus_and_pysunspec2(pdu, line):
    # writes off: exception 1 and nothing switched
    assert line.ask(frame(1, struct.pack(">BHH", 5, 6, 0x0000))) == frame(1, bytes([0x85, 1]))
    assert pdu.req("GET", "/api/v1/outlets/O7", pdu.admin)[2]["commanded"] == "on"
    # 38400 baud 8N1, unit 9: the settings API, then a reboot on the same FRAM
    st, _, b = pdu.req("PATCH", "/api/v1/settings", pdu.admin,
                       {"modbus": {"rtu_baud": 38400, "rtu_parity": "none", "unit_id": 9}})
    assert st == 200, b
    st, _, b = pdu.req("PATCH", "/api/v1/access/modbus", pdu.admin, {"write_enable": True})
    assert st == 200
    pdu.stop()
    p2 = Pdu(pdu.dir, extra=["--uart-fd", str(line.master), "--uart-path", line.path], pass_fds=(line.master,))
    try:
        assert "(unit 9, 38400 baud, 8N1)" in p2.output()
        admin = p2.login("admin", ADMIN_PW)
        from pymodbus.client import ModbusSerialClient
        c = ModbusSerialClient(port=line.path, baudrate=38400, parity="N", stopbits=1, bytesize=8, timeout=3)
        assert c.connect()
        try:
            regs = []
            a = BASE
            while True:
                r = c.read_holding_registers(a, count=100, device_id=9)
                if r.isError():
                    break
                regs += r.registers
                a += 100
            assert bytes(struct.pack(">HH", *regs[:2])) == b"SunS"
            ids, i = [], 2
            while i < len(regs) and regs[i] != 0xFFFF:
                ids.append(regs[i])
                i += 2 + regs[i + 1]
            assert ids[:3] == [1, 203, 201] and ids.count(201) == 30
            # writes on (the access store's switch survived the reboot): O7 off through the command service
            t_end = time.monotonic() + 20
            while p2.req("GET", "/api/v1/outlets/O7", admin)[2]["state"] != "on" and time.monotonic() < t_end:
                time.sleep(0.5)       # the power-up sequence reaches O7
            r = c.write_coil(6, False, device_id=9)
            assert not r.isError(), r
        finally:
            c.close()
        assert p2.req("GET", "/api/v1/outlets/O7", admin)[2]["state"] == "off"
        # a broadcast write (unit 0) is carried out and never answered
        assert line.ask(frame(0, struct.pack(">BHH", 5, 7, 0x0000)), timeout=0.5) == b""
        t_end = time.monotonic() + 5
        while p2.req("GET", "/api/v1/outlets/O8", admin)[2]["state"] != "off" and time.monotonic() < t_end:
            time.sleep(0.2)
        assert p2.req("GET", "/api/v1/outlets/O8", admin)[2]["state"] == "off"
        st, _, au = p2.req("GET", "/api/v1/audit?limit=200", admin)
        mine = [x for x in au["entries"] if x["what"] == "outlet 7 off"]
        assert mine and mine[-1]["who"] == "modbus-rtu:client@unit9"
        # pysunspec2 over RTU finds every model
        import sunspec2.device as sd
        from sunspec2.modbus.client import SunSpecModbusClientDeviceRTU
        sd.set_model_defs_path([str(ROOT / "docs" / "sunspec"), sd.models_dir])
        dev = SunSpecModbusClientDeviceRTU(slave_id=9, name=line.path, baudrate=38400, parity="N", timeout=3)
        try:
            dev.scan()
            assert len(dev.models[1]) == 1 and len(dev.models[203]) == 1 and len(dev.models[201]) == 30
            assert len(dev.models[64120]) == 1
            assert dev.models[64120][0].outlet[6].St.cvalue == 0      # O7 off
        finally:
            dev.close()
    finally:
        p2.stop()

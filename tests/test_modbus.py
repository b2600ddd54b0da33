"""Modbus TCP against the firmware on the unix port in real time, with real
clients: pymodbus reads the whole SunSpec map, switches outlets when writes
are enabled (refused with exception 1 while they are off) and reads the
device identification; pysunspec2 scans the device, finds every model and its
inlet meter values match the REST API's for the same 1 s frame; illegal
functions, addresses and values get exceptions 1, 2 and 3; malformed MBAP
headers are dropped and counted; an unlisted client is refused."""
import socket
import struct
import time

import pytest
from pduhttp import ADMIN_PW, Pdu, free_port
from mputil import ROOT
from mbutil import mbap_count

from tools import modbus_doc

BASE = 40000


@pytest.fixture(scope="module")
def pdu(tmp_path_factory):
    d = tmp_path_factory.mktemp("modbus")
    port = free_port()
    p = Pdu(d, extra=["--modbus-port", str(port)])
    p.mport = port
    st, _, b = p.req("POST", "/api/v1/setup", body={"password": ADMIN_PW})
    assert st == 201, b
    p.admin = p.login("admin", ADMIN_PW)
    st, _, b = p.req("PATCH", "/api/v1/access/modbus", p.admin, {"allow": ["127.0.0.1"]})
    assert st == 200 and b["modbus"] == {"write_enable": False, "allow": ["127.0.0.1"]}, b
    # the power-up sequence over (24 outlets, 250 ms apart) and 1 s frames published
    t_end = time.monotonic() + 30
    while time.monotonic() < t_end:
        st, _, o = p.req("GET", "/api/v1/outlets", p.admin)
        if st == 200 and all(x["state"] == "on" for x in o["outlets"]):
            break
        time.sleep(0.5)
    yield p
    p.stop()


def _client(pdu):
    from pymodbus.client import ModbusTcpClient
    c = ModbusTcpClient("127.0.0.1", port=pdu.mport, timeout=10)
    assert c.connect()
    return c


def _raw(pdu, frames, want=1, timeout=5):
    """Send raw MBAP frames on one connection; the responses (bytes) or b"" when closed."""
    s = socket.create_connection(("127.0.0.1", pdu.mport), timeout=timeout)
    s.sendall(frames)
    got = b""
    try:
        while True:
            if mbap_count(got) >= want:
                break
            b = s.recv(4096)
            if not b:
                break
            got += b
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    return got


def _mbap(tid, pdu_bytes, unit=1, proto=0):
    return struct.pack(">HHHB", tid, proto, len(pdu_bytes) + 1, unit) + pdu_bytes


def _read_map(c):
    regs = []
    a = BASE
    while True:
        r = c.read_holding_registers(a, count=125)
        if r.isError():
            # the last block: read up to the end of the map
            assert r.exception_code == 2, r
            break
        regs += r.registers
        a += 125
    # the tail, shorter than 125 registers
    n = 124
    while n > 0:
        r = c.read_holding_registers(a, count=n)
        if not r.isError():
            regs += r.registers
            break
        n -= 1
    return regs


def test_pymodbus_reads_the_whole_sunspec_map(pdu):
    c = _client(pdu)
    try:
        regs = _read_map(c)
        r4 = c.read_input_registers(BASE, count=2)
    finally:
        c.close()
    assert bytes(struct.pack(">HH", *regs[:2])) == b"SunS"
    assert r4.registers == regs[:2]          # input registers: the same map
    # walk the model chain to the end marker
    i = 2
    ids = []
    while regs[i] != 0xFFFF:
        ids.append(regs[i])
        i += 2 + regs[i + 1]
    assert regs[i:i + 2] == [0xFFFF, 0] and i + 2 == len(regs)
    assert ids == [1, 203] + [201] * 30 + [64120]
    # the common model: manufacturer and serial
    common = bytes(struct.pack(">%dH" % 66, *regs[4:70]))
    st, _, dev = pdu.req("GET", "/api/v1/device", pdu.admin)
    assert common[:16].rstrip(b"\0") == b"Rack PDU project"
    assert common[96:128].rstrip(b"\0").decode() == dev["serial"]


def test_pysunspec2_scan_finds_every_model_and_inlet_matches_rest(pdu):
    import sunspec2.device as sd
    from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP
    sd.set_model_defs_path([str(ROOT / "docs" / "sunspec"), sd.models_dir])
    dev = SunSpecModbusClientDeviceTCP(slave_id=1, ipaddr="127.0.0.1", ipport=pdu.mport, timeout=10)
    try:
        dev.scan()
        assert len(dev.models[1]) == 1 and len(dev.models[203]) == 1 and len(dev.models[201]) == 30
        assert len(dev.models[64120]) == 1
        common = dev.models[1][0]
        assert common.Mn.cvalue == "Rack PDU project"
        vend = dev.models[64120][0]
        assert vend.N.cvalue == 24 and len(vend.outlet) == 24
        assert all(g.St.cvalue == 1 for g in vend.outlet)       # every outlet on
        # the inlet meter and REST for the same 1 s frame: REST read before and
        # after the Modbus read, both of one seq
        m = dev.models[203][0]
        for _ in range(20):
            st, _, a = pdu.req("GET", "/api/v1/inlet?kind=sec", pdu.admin)
            m.read()
            st, _, b = pdu.req("GET", "/api/v1/inlet?kind=sec", pdu.admin)
            if a["seq"] == b["seq"]:
                break
        else:
            pytest.fail("no Modbus read inside one 1 s frame")
        o = a["objects"]
        for k, ph in enumerate(("L1", "L2", "L3")):
            sfx = "ph" + "ABC"[k]
            assert getattr(m, "A" + sfx).cvalue == pytest.approx(o[ph]["irms"]["value"], abs=0.006)
            assert getattr(m, "PhV" + sfx).cvalue == pytest.approx(o[ph]["vrms"]["value"], abs=0.06)
            assert getattr(m, "W" + sfx).cvalue == pytest.approx(o[ph]["p_w"]["value"], abs=0.6)
            assert getattr(m, "PF" + sfx).cvalue == pytest.approx(100 * o[ph]["pf"]["value"], abs=0.06)
            # acc32 0 is SunSpec's "not implemented": None until the first whole Wh
            assert (getattr(m, "TotWhImp" + sfx.replace("ph", "Ph")).cvalue or 0) == int(o[ph]["e_imp_wh"]["value"])
        assert m.W.cvalue == pytest.approx(o["INLET"]["p_w"]["value"], abs=0.6)
        assert m.A.cvalue == pytest.approx(sum(o[p]["irms"]["value"] for p in ("L1", "L2", "L3")), abs=0.02)
        assert m.Hz.cvalue == pytest.approx(o["L1"]["f_hz"]["value"], abs=0.006)
        # the points the map says it fills are filled, the others not implemented
        served = modbus_doc.served_map()["meter_points"]
        for mid, mod in ((203, m), (201, dev.models[201][6])):     # 201 #7: outlet O1
            mod.read()
            for name, p in mod.points.items():
                if name in ("ID", "L"):
                    continue
                filled = p.value is not None
                if p.pdef["type"] == "acc32" and not filled:
                    continue            # 0 Wh so far reads as "not implemented" too
                assert filled == (name in served[str(mid)]), (mid, name, p.value)
    finally:
        dev.close()


def test_writes_off_by_default_are_refused_and_change_nothing(pdu):
    c = _client(pdu)
    try:
        r = c.write_coil(2, False)
        assert r.isError() and r.exception_code == 1
        r = c.write_register(_ctl_addr(c, 3), 0)
        assert r.isError() and r.exception_code == 1
        r = c.write_coils(0, [False] * 4)
        assert r.isError() and r.exception_code == 1
    finally:
        c.close()
    st, _, o = pdu.req("GET", "/api/v1/outlets/O3", pdu.admin)
    assert o["state"] == "on"


def _ctl_addr(c, n):
    """Address of outlet n's Ctl register in the vendor model (found by walking the chain)."""
    a = BASE + 2
    while True:
        h = c.read_holding_registers(a, count=2).registers
        if h[0] == 64120:
            return a + 2 + 4 + 4 * (n - 1) + 1
        assert h[0] != 0xFFFF
        a += 2 + h[1]


def test_writes_enabled_switch_through_the_command_service_audited(pdu):
    st, _, b = pdu.req("PATCH", "/api/v1/access/modbus", pdu.admin, {"write_enable": True})
    assert st == 200 and b["modbus"]["write_enable"] is True
    c = _client(pdu)
    try:
        r = c.write_coil(4, False)                  # coil 4: outlet O5
        assert not r.isError(), r
        st, _, o = pdu.req("GET", "/api/v1/outlets/O5", pdu.admin)
        assert o["state"] == "off"
        assert c.read_coils(4, count=1).bits[0] is False
        assert c.read_discrete_inputs(4, count=1).bits[0] is False
        ctl = _ctl_addr(c, 5)
        r = c.write_registers(ctl, [1])             # FC 16: Ctl on
        assert not r.isError(), r
        st, _, o = pdu.req("GET", "/api/v1/outlets/O5", pdu.admin)
        assert o["state"] == "on"
        v = c.read_holding_registers(ctl - 1 - 4 * 4 - 3, count=2).registers   # CmdSt, CmdOutlet
        assert v == [1, 5]
        r = c.write_register(ctl, 7)                # not a Ctl value
        assert r.isError() and r.exception_code == 3
        r = c.write_register(ctl + 1, 0)            # Prot: read-only
        assert r.isError() and r.exception_code == 2
        # FC 23: write Ctl off, read the outlet's registers back in one request
        r = c.readwrite_registers(read_address=ctl - 1, read_count=4, write_address=ctl, values=[0])
        assert not r.isError() and r.registers[0] == 0 and r.registers[1] == 0, r
    finally:
        c.close()
        pdu.req("PATCH", "/api/v1/access/modbus", pdu.admin, {"write_enable": False})
    st, _, ev = pdu.req("GET", "/api/v1/events?channel=O5&event=outlet_off", pdu.admin)
    assert ev["events"][-1]["values"]["who"] == "modbus:client@127.0.0.1"
    st, _, au = pdu.req("GET", "/api/v1/audit?limit=200", pdu.admin)
    mine = [a for a in au["entries"] if a["what"] == "outlet 5 on"]
    assert mine and mine[-1]["who"] == "modbus:client@127.0.0.1" and mine[-1]["result"] == "ok"


def test_device_identification(pdu):
    c = _client(pdu)
    try:
        r = c.read_device_information(read_code=2)
    finally:
        c.close()
    assert not r.isError(), r
    st, _, dev = pdu.req("GET", "/api/v1/device", pdu.admin)
    assert r.information[0] == b"Rack PDU project"
    assert r.information[1] == b"PDU-sim24" and r.information[2] == dev["fw_version"].encode()


def test_illegal_function_address_value_get_exceptions_1_2_3(pdu):
    got = _raw(pdu, _mbap(1, bytes([8, 0, 0, 0, 0])) + _mbap(2, struct.pack(">BHH", 3, 30000, 2)) +
               _mbap(3, struct.pack(">BHH", 3, BASE, 0)) + _mbap(4, struct.pack(">BHH", 3, BASE, 126)) +
               _mbap(5, struct.pack(">BHH", 1, 20, 10)) + _mbap(6, struct.pack(">BHH", 3, BASE, 2)), want=6)
    out = []
    i = 0
    while i < len(got):
        tid, _p, ln = struct.unpack(">HHH", got[i:i + 6])
        out.append((tid, got[i + 7:i + 6 + ln]))
        i += 6 + ln
    # pipelined: answered in order
    assert [t for t, _ in out] == [1, 2, 3, 4, 5, 6]
    assert out[0][1] == bytes([0x88, 1])
    assert out[1][1] == bytes([0x83, 2])
    assert out[2][1] == bytes([0x83, 3]) and out[3][1] == bytes([0x83, 3])
    assert out[4][1] == bytes([0x81, 2])          # coils 20..29: only 24 outlets
    assert out[5][1] == bytes([3, 4]) + b"SunS"


def test_malformed_mbap_dropped_counted_and_the_next_request_answered(pdu):
    st, _, h0 = pdu.req("GET", "/api/v1/health", pdu.admin)
    bad0 = h0["uplinks"]["modbus"]["bad_frames"]
    for frame in (_mbap(1, struct.pack(">BHH", 3, BASE, 2), proto=1),
                  struct.pack(">HHHB", 1, 0, 0, 1),                  # length 0
                  struct.pack(">HHHB", 1, 0, 400, 1) + b"\0" * 20):  # longer than any PDU
        assert _raw(pdu, frame) == b""               # dropped: the connection closes, no answer
    st, _, h1 = pdu.req("GET", "/api/v1/health", pdu.admin)
    assert h1["uplinks"]["modbus"]["bad_frames"] == bad0 + 3
    got = _raw(pdu, _mbap(9, struct.pack(">BHH", 3, BASE, 2)))
    assert got[7:] == bytes([3, 4]) + b"SunS"
    assert h1["overruns"] == 0


def test_an_unlisted_client_is_refused(pdu):
    st, _, b = pdu.req("PATCH", "/api/v1/access/modbus", pdu.admin, {"allow": ["10.0.0.0/8"]})
    assert st == 200
    try:
        assert _raw(pdu, _mbap(1, struct.pack(">BHH", 3, BASE, 2))) == b""
    finally:
        pdu.req("PATCH", "/api/v1/access/modbus", pdu.admin, {"allow": ["127.0.0.1"]})
    got = _raw(pdu, _mbap(1, struct.pack(">BHH", 3, BASE, 2)))
    assert got[7:] == bytes([3, 4]) + b"SunS"


def test_connection_cap_refuses_the_ninth_client_and_frees_slots(pdu):
    st, _, h0 = pdu.req("GET", "/api/v1/health", pdu.admin)
    socks = []
    try:
        for i in range(8):
            s = socket.create_connection(("127.0.0.1", pdu.mport), timeout=5)
            s.sendall(_mbap(i, struct.pack(">BHH", 3, BASE, 2)))
            assert s.recv(100)[7:] == bytes([3, 4]) + b"SunS"
            socks.append(s)
        assert _raw(pdu, _mbap(99, struct.pack(">BHH", 3, BASE, 2))) == b""     # over the cap: closed
        st, _, h1 = pdu.req("GET", "/api/v1/health", pdu.admin)
        assert h1["uplinks"]["modbus"]["conns_refused"] == h0["uplinks"]["modbus"]["conns_refused"] + 1
    finally:
        for s in socks:
            s.close()
    time.sleep(0.3)
    assert _raw(pdu, _mbap(100, struct.pack(">BHH", 3, BASE, 2)))[7:] == bytes([3, 4]) + b"SunS"


def test_register_map_document_is_generated_from_the_served_map():
    doc, vendor = modbus_doc.render()
    assert (ROOT / "docs" / "modbus.md").read_text() == doc, "run python -m tools.modbus_doc"
    assert (ROOT / "docs" / "sunspec" / "model_64120.json").read_text() == vendor

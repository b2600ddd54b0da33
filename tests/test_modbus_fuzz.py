"""Modbus under fuzz, against the firmware on the unix port in real time with
both transports running: at least 10,000 random and mutated frames to Modbus
TCP and 10,000 to Modbus RTU (a pseudo-terminal pair). Afterwards the firmware
still answers both, its live heap has not grown, overruns are 0, and the worst
acquisition-poll lateness during each fuzz is printed beside the idle figure
and is at most one poll period."""
import os
import random
import select
import socket
import struct
import time

import pytest
from pduhttp import ADMIN_PW, Pdu, free_port
from mbutil import Line, frame, mbap_count

FRAMES = 10000
BASE = 40000
POLL_MS = 10
GOOD_READ = struct.pack(">BHH", 3, BASE, 2)
# valid requests the mutations start from (reads, writes, 23, 43/14)
SEEDS = [GOOD_READ, struct.pack(">BHH", 4, BASE + 70, 125), struct.pack(">BHH", 1, 0, 24),
         struct.pack(">BHH", 2, 3, 5), struct.pack(">BHH", 5, 3, 0xFF00), struct.pack(">BHH", 6, 43498, 1),
         struct.pack(">BHHB", 15, 0, 8, 1) + b"\xff", struct.pack(">BHHBHH", 16, 43498, 2, 4, 1, 1),
         struct.pack(">BHHHHBH", 23, BASE, 4, 43498, 1, 2, 1), bytes([43, 14, 1, 0])]


def _mutate(rnd, pdu_bytes):
    b = bytearray(pdu_bytes)
    k = rnd.randrange(6)
    if k == 0:
        return bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 260)))   # random
    if k == 1 and b:
        b[rnd.randrange(len(b))] = rnd.randrange(256)                          # one byte changed
    elif k == 2:
        b = b[:rnd.randrange(len(b) + 1)]                                       # truncated
    elif k == 3:
        b += bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 40)))     # trailing bytes
    elif k == 4:
        b[0] = rnd.randrange(256)                                               # any function code
    return bytes(b)


@pytest.fixture(scope="module")
def pdu(tmp_path_factory):
    d = tmp_path_factory.mktemp("mbfuzz")
    line = Line()
    port = free_port()
    p = Pdu(d, extra=["--modbus-port", str(port), "--uart-fd", str(line.master), "--uart-path", line.path],
            pass_fds=(line.master,))
    p.mport = port
    p.line = line
    assert p.req("POST", "/api/v1/setup", body={"password": ADMIN_PW})[0] == 201
    p.admin = p.login("admin", ADMIN_PW)
    # writes on: fuzzed writes reach the command service too (outlets may switch)
    st, _, b = p.req("PATCH", "/api/v1/access/modbus", p.admin, {"allow": ["127.0.0.1"], "write_enable": True})
    assert st == 200, b
    yield p
    p.stop()


def _health(pdu, collect=False):
    return pdu.req("GET", "/api/v1/health" + ("?collect=1" if collect else ""), pdu.admin)[2]


def _idle(pdu):
    time.sleep(5.2)                     # a window clear of what came before
    late = []
    for _ in range(2):
        time.sleep(5.2)
        late.append(_health(pdu)["loop_lateness_us"]["recent"])
    return max(late)


def test_tcp_fuzz(pdu):
    idle = _idle(pdu)
    heap0 = _health(pdu, True)["heap"]["alloc"]
    rnd = random.Random(11)
    late = []
    sent = 0
    closed = 0
    t_sample = t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", pdu.mport), timeout=5)
    while sent < FRAMES:
        # a burst of pipelined frames with valid MBAP headers and fuzzed PDUs
        burst = b""
        tids = []
        for _ in range(20):
            body = _mutate(rnd, rnd.choice(SEEDS))[:253] or b"\x00"
            tid = rnd.randrange(65536)
            burst += struct.pack(">HHHB", tid, 0, len(body) + 1, rnd.choice((1, 1, 1, 0, 255))) + body
            tids.append(tid)
        sent += len(tids)
        s.sendall(burst)
        got = b""
        n = 0
        while n < len(tids):
            b = s.recv(65536)
            assert b, "the server closed a connection of well-formed MBAP frames"
            got += b
            n = mbap_count(got)
        # every request answered, in order, with the same transaction id
        i = 0
        for tid in tids:
            assert struct.unpack(">H", got[i:i + 2])[0] == tid
            i += 6 + struct.unpack(">H", got[i + 4:i + 6])[0]
        # now and then a malformed header: dropped, counted, connection closed
        if rnd.random() < 0.1:
            bad = struct.pack(">HHHB", 1, rnd.randrange(1, 65536), 5, 1) + GOOD_READ
            if rnd.random() < 0.5:
                bad = struct.pack(">HHHB", 1, 0, rnd.choice((0, 1, 300, 65535)), 1) + GOOD_READ
            s.sendall(bad)
            assert s.recv(100) == b""
            s.close()
            closed += 1
            sent += 1
            s = socket.create_connection(("127.0.0.1", pdu.mport), timeout=5)
        if time.monotonic() - t_sample > 4.0:
            late.append(_health(pdu)["loop_lateness_us"]["recent"])
            t_sample = time.monotonic()
    s.close()
    dt = time.monotonic() - t0
    late.append(_health(pdu)["loop_lateness_us"]["recent"])
    time.sleep(1)
    h = _health(pdu, True)
    print("\nModbus TCP fuzz: %d frames in %.1f s (%d malformed headers); lateness idle %.1f ms, fuzz %.1f ms; "
          "live heap %d -> %d; gc %s" % (sent, dt, closed, idle / 1000, max(late) / 1000, heap0, h["heap"]["alloc"],
                                         h.get("gc")))
    st = h["uplinks"]["modbus"]
    assert sent >= FRAMES and st["bad_frames"] >= closed
    assert h["overruns"] == 0 and h["failsafe"] is None
    assert h["heap"]["alloc"] <= heap0 + 16384
    assert max(late) <= POLL_MS * 1000, late
    # still answering
    s = socket.create_connection(("127.0.0.1", pdu.mport), timeout=5)
    s.sendall(struct.pack(">HHHB", 7, 0, 6, 1) + GOOD_READ)
    assert s.recv(100)[7:] == bytes([3, 4]) + b"SunS"
    s.close()


def test_rtu_fuzz(pdu):
    line = pdu.line
    idle = _idle(pdu)
    s0 = _health(pdu)["uplinks"]["modbus_rtu"]
    heap0 = _health(pdu, True)["heap"]["alloc"]
    rnd = random.Random(12)
    late = []
    answered = 0
    t_sample = t0 = time.monotonic()
    for i in range(FRAMES):
        k = rnd.randrange(4)
        if k == 0:          # garbage
            f = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 300)))
        elif k == 1:        # a valid frame with a byte changed (CRC wrong)
            f = bytearray(frame(1, rnd.choice(SEEDS)))
            f[rnd.randrange(len(f))] ^= 1 << rnd.randrange(8)
            f = bytes(f)
        else:               # a fuzzed PDU with a valid CRC, to this unit, another, or broadcast
            f = frame(rnd.choice((1, 1, 1, 0, 2)), _mutate(rnd, rnd.choice(SEEDS))[:252] or b"\x00")
        os.write(line.slave, f)
        # wait out the reply, or the frame gap
        r, _, _ = select.select([line.slave], [], [], 0.008)
        if r:
            answered += 1
            while r:
                os.read(line.slave, 1024)
                r, _, _ = select.select([line.slave], [], [], 0.006)
        if time.monotonic() - t_sample > 4.0:
            late.append(_health(pdu)["loop_lateness_us"]["recent"])
            t_sample = time.monotonic()
    dt = time.monotonic() - t0
    late.append(_health(pdu)["loop_lateness_us"]["recent"])
    line.drain()            # replies still on their way to the last fuzzed frames
    time.sleep(1)
    h = _health(pdu, True)
    s1 = h["uplinks"]["modbus_rtu"]
    seen = sum(s1[k] - s0[k] for k in ("frames", "crc_errors", "bad_frames"))
    print("\nModbus RTU fuzz: %d frames in %.1f s, %d answered, firmware saw %d (%s); lateness idle %.1f ms, "
          "fuzz %.1f ms; live heap %d -> %d; gc %s" % (FRAMES, dt, answered, seen,
                                                        {k: s1[k] - s0[k] for k in s1}, idle / 1000,
                                                        max(late) / 1000, heap0, h["heap"]["alloc"], h.get("gc")))
    # 8 ms apart on a pseudo-terminal (no character timing): while the firmware
    # answers one, the next ones may arrive together and count as one bad frame
    # (a late reply is read with the next one: "answered" may count it once for two)
    assert seen >= FRAMES // 2 and s1["replies"] - s0["replies"] >= answered, (seen, s1)
    assert h["overruns"] == 0 and h["failsafe"] is None
    assert h["heap"]["alloc"] <= heap0 + 16384
    assert max(late) <= POLL_MS * 1000, late
    assert line.ask(frame(1, GOOD_READ)) == frame(1, bytes([3, 4]) + b"SunS")

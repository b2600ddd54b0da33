"""SNTP client (RFC 4330) against tiny SNTP servers run here in CPython on
127.0.0.1 (random ports): the firmware clock is set, the step is an event,
bad replies are refused, and nothing carries a valid time until it is set."""
import json
import socket
import struct
import threading
import time

import pytest
from mputil import run_mp_json

NTP_DELTA = 2208988800
OFFSET_MS = 123456789          # the servers' clock runs this far ahead of the host's


def to_ntp(t_s):
    s = int(t_s)
    return s + NTP_DELTA, int((t_s - s) * (1 << 32)) & 0xFFFFFFFF


def from_ntp(s, f):
    if not s & 0x80000000:
        s += 1 << 32          # RFC 4330 era 1 (2036..2104)
    return (s - NTP_DELTA) * 1000 + (f * 1000 + (1 << 31)) // (1 << 32)


class Server:
    """One SNTP server thread; `mode` decides how it (mis)behaves."""

    def __init__(self, mode):
        self.mode = mode
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.requests = []
        self.replies_t3 = []
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def now(self):
        return time.time() + OFFSET_MS / 1000.0

    def run(self):
        while not self.stop:
            try:
                data, addr = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            t2 = self.now()
            self.requests.append(data)
            m = self.mode
            if m == "silent" or len(data) < 48:
                continue
            if m == "slow":
                time.sleep(0.3)
                t2 = self.now()
            li, stratum, mode = 0, 2, 4
            if m == "kod":
                stratum = 0
            elif m == "unsync":
                li = 3
            elif m == "badmode":
                mode = 3
            rep = bytearray(48)
            rep[0] = (li << 6) | (4 << 3) | mode
            rep[1] = stratum
            rep[2] = 6
            rep[3] = 0xEC
            rep[12:16] = b"RATE" if m == "kod" else b"GPS\x00"
            orig = data[40:48] if m != "wrongorig" else b"\x12\x34\x56\x78\x9a\xbc\xde\xf0"
            rep[24:32] = orig
            rep[32:40] = struct.pack(">II", *to_ntp(t2))
            t3 = self.now() if m != "slow" else t2
            rep[40:48] = struct.pack(">II", *to_ntp(t3))
            self.replies_t3.append(t3)
            self.sock.sendto(bytes(rep[:20]) if m == "short" else bytes(rep), addr)


MODES = ("good", "kod", "unsync", "badmode", "short", "wrongorig", "silent", "slow")
PACKET = {"t1": 1767225600123, "t2": 1767225723456, "t3": 1767225723460, "t4": 1767225600200}


@pytest.fixture(scope="module")
def run():
    servers = {m: Server(m) for m in MODES}
    try:
        rows = run_mp_json(script="tests/mp/persist_timesync.py", timeout=120,
                           stdin=json.dumps({"ports": {m: s.port for m, s in servers.items()},
                                             "offset_ms": OFFSET_MS, "packet": PACKET}))
    finally:
        for s in servers.values():
            s.stop = True
    return servers, {r["case"]: r for r in rows}


def test_request_is_a_48_byte_mode_3_packet_and_offset_arithmetic(run):
    servers, c = run
    a = c["arith"]
    req = bytes(a["request"])
    assert len(req) == 48 and req[0] == 0x23              # LI 0, VN 4, mode 3
    assert from_ntp(*struct.unpack(">II", req[40:48])) == PACKET["t1"]
    t1, t2, t3, t4 = PACKET["t1"], PACKET["t2"], PACKET["t3"], PACKET["t4"]
    offset = ((t2 - t1) + (t3 - t4)) // 2
    delay = (t4 - t1) - (t3 - t2)
    assert a["result"][:3] == [offset, delay, 2] and a["result"][3] == t3
    assert a["roundtrip"] == [0, 1, 999, 1767225600123, 4102444800999]
    # what the server saw on the wire from the firmware
    got = servers["good"].requests[0]
    assert len(got) == 48 and got[0] == 0x23 and got[1:40] == bytes(39)


def test_sync_sets_the_clock_and_logs_the_step(run):
    servers, c = run
    v = c["virtual"]
    assert v["before"] == [v["unset"], False]
    t3_ms = servers["good"].replies_t3[0] * 1000
    assert abs(v["after"][0] - t3_ms) < 50 and v["after"][1] is True
    assert abs(v["step"] - (t3_ms - v["unset"])) < 50
    ev = v["events"]
    # the boot event before the sync is flagged not-valid; the time_set event and later are valid
    assert ev[0][:2] == ["boot", False]
    assert ev[1][0] == "time_set" and ev[1][1] is True and ev[1][2] == v["step"]
    assert ev[1][3] == "sntp:127.0.0.1" and ev[1][4] == 2
    assert ev[2][:2] == ["command", True]
    assert v["last"]["stratum"] == 2 and abs(v["last"]["delay_ms"]) < 50


def test_second_sync_with_a_good_clock_does_not_step(run):
    _, c = run
    assert c["resync"]["step"] == 0 and c["resync"]["new_events"] == 0 and c["resync"]["syncs"] == 2


def test_real_clock_runs_on_from_the_set_time(run):
    _, c = run
    r = c["real"]
    assert r["valid"] is True and abs(r["step"] - OFFSET_MS) < 100
    assert abs(r["err_ms"]) < 100 and 0 <= r["delay"] < 100
    a = c["async"]
    assert a["valid"] is True and abs(a["step"] - OFFSET_MS) < 100 and abs(a["err_ms"]) < 100


def test_records_before_the_time_is_set_carry_the_not_valid_flag(run):
    _, c = run
    # minute before the sync: not valid; minute after: valid; the hour the
    # clock stepped out of closes early, flagged not valid
    assert c["records"]["flags"] == [[0, 0], [0, 1], [1, 0]]


@pytest.mark.parametrize("mode,reason", [
    ("kod", "kiss-o'-death"), ("unsync", "LI 3"), ("badmode", "mode 3"), ("short", "short reply"),
    ("wrongorig", "no reply"), ("silent", "no reply"), ("slow", "round trip"),
])
def test_bad_or_missing_replies_are_refused(run, mode, reason):
    _, c = run
    f = c["failures"]["fails"][mode]
    assert reason in f["error"], f
    assert f["valid"] is False and f["failures"] == 2
    # one time_fault event per failure streak, not one per attempt
    assert f["events"] == [["time_fault", 1]]


def test_boot_counter_and_last_known_time_persist(run):
    _, c = run
    b = c["bootinfo"]
    assert b["first"] == [1, 0, False]
    assert b["second"] == [2, 0, False]
    # the note made before the cut survives; the one cut short does not count
    assert b["third"] == [3, 1780000000000, True]

# SNTP client (core/timesync.py) against small SNTP servers the pytest
# test runs in CPython on 127.0.0.1. stdin: {"ports": {mode: port}, "offset_ms": N,
# "packet": {...fixed timestamps for the offset arithmetic check...}}
import sys
import json
import time
import asyncio
sys.path.append("tests/mp")
from persist_util import out
from core.clock import VirtualClock, RealClock, UNSET_UTC_MS
from core.events import EventLog
from core.timesync import Sntp, SntpError, build_request, parse_reply, ms_to_ntp, ntp_to_ms, BootInfo
from core.records import Records
from core import codes

cfg = json.loads(sys.stdin.read())
ports = cfg["ports"]
OFF = cfg["offset_ms"]

# --- arithmetic on fixed timestamps ----------------------------------------------
p = cfg["packet"]
buf = bytearray(48)
sent = build_request(buf, p["t1"])
req = bytes(buf)
rep = bytearray(48)
rep[0] = (0 << 6) | (4 << 3) | 4
rep[1] = 2
import struct
struct.pack_into(">II", rep, 24, sent[0], sent[1])
s2, f2 = ms_to_ntp(p["t2"])
s3, f3 = ms_to_ntp(p["t3"])
struct.pack_into(">IIII", rep, 32, s2, f2, s3, f3)
res = parse_reply(rep, 48, sent, p["t1"], p["t4"])
rt = [ntp_to_ms(*ms_to_ntp(x)) for x in (0, 1, 999, 1767225600123, 4102444800999)]
out("arith", request=list(req), result=list(res), roundtrip=rt)

# --- good server, virtual clock, not yet valid ---------------------------------------
clock = VirtualClock(utc_valid=False)
ev = EventLog(clock)
ev.emit(codes.EV_BOOT, codes.SEV_NOTICE, "system", {"board": "sim24"})
sn = Sntp(clock, ev, host="127.0.0.1", port=ports["good"], timeout_ms=2000)
before = (clock.utc_ms(), clock.time_valid)
step = sn.sync()
after = (clock.utc_ms(), clock.time_valid)
ev.emit(codes.EV_COMMAND, codes.SEV_INFO, "O1", {"who": "x", "command": "on"})
evs = ev.since(0, 10)[0]
out("virtual", before=before, after=after, step=step, last=sn.last, unset=UNSET_UTC_MS,
    events=[(e["event"], e["time_valid"], e["values"].get("step_ms"), e["values"].get("source"),
             e["values"].get("stratum")) for e in evs])

# a second sync with the clock already right: no step, no event
n_ev = ev.next_seq
step2 = sn.sync()
out("resync", step=step2, new_events=ev.next_seq - n_ev, syncs=sn.syncs)

# --- real clock: the set time then runs on with the host clock ---------------------------
rc = RealClock(utc_valid=False)
ev_r = EventLog(rc)
sr = Sntp(rc, ev_r, host="127.0.0.1", port=ports["good"])
step_r = sr.sync()
host_ms = time.time_ns() // 1000000
err = rc.utc_ms() - (host_ms + OFF)
out("real", step=step_r, err_ms=err, valid=rc.time_valid, delay=sr.last["delay_ms"])

# --- the asyncio task path (non-blocking socket, clock.sleep_ms between polls) -------------
rc2 = RealClock(utc_valid=False)
sa = Sntp(rc2, None, host="127.0.0.1", port=ports["good"])


async def go():
    return await sa.sync_async()
step_a = asyncio.run(go())
out("async", step=step_a, err_ms=rc2.utc_ms() - (time.time_ns() // 1000000 + OFF), valid=rc2.time_valid)

# --- records made before and after the time was set carry the flag ---------------------------
vc = VirtualClock(utc_valid=False)


class NoFS:
    """Swallows record files: this case only looks at the flags."""
    def __init__(self):
        self.flags = []

    def mkdir(self, p):
        pass

    def stat(self, p):
        raise OSError(2)

    def ilistdir(self, p):
        return iter(())

    def remove(self, p):
        pass

    def open(self, p, m):
        fs = self

        class F:
            def write(self, b):
                if len(b) > 48:
                    fs.flags.append((b[13], b[12] & 1))   # (level, time valid)

            def close(self):
                pass
        return F()


fs = NoFS()
rec = Records(fs, [("L1-V", "V")], clock=vc, period_min=1)
t = vc.utc_ms() // 1000
t -= t % 60
for s in range(60):
    rec.add_second(t + s, {"L1-V": (230.0, None, None)})
Sntp(vc, None, host="127.0.0.1", port=ports["good"]).sync()
t = vc.utc_ms() // 1000
t -= t % 60
for s in range(60):
    rec.add_second(t + s, {"L1-V": (230.0, None, None)})
out("records", flags=fs.flags)

# --- failures: each refused with a reason, the clock stays unset ----------------------------
fails = {}
for mode in ("kod", "unsync", "badmode", "short", "wrongorig", "silent", "slow"):
    c = RealClock(utc_valid=False) if mode == "slow" else VirtualClock(utc_valid=False)
    e = EventLog(c)
    sn = Sntp(c, e, host="127.0.0.1", port=ports[mode], timeout_ms=400, max_delay_ms=100)
    try:
        sn.sync()
        r = "accepted"
    except SntpError as x:
        r = str(x)
    try:
        sn.sync()
    except SntpError:
        pass
    fails[mode] = {"error": r, "valid": c.time_valid, "failures": sn.failures,
                   "events": [(x["event"], x["values"].get("failures")) for x in e.since(0, 10)[0]]}
out("failures", fails=fails)

# --- boot counter and last known time in FRAM --------------------------------------------------
from persist_util import Rig
from core import fram_layout as L
rig = Rig()
d = rig.boot()
L.prepare(d)
vc = VirtualClock(utc_valid=False)
b1 = BootInfo(d).boot()
bi = BootInfo(rig.boot())
b2 = bi.boot()
vc.set_utc_ms(1780000000000)
bi.note_time(vc)
rig.twin.cut_after(10)          # a cut while noting the time: the previous note stays
vc.advance_us(60000000)
bi.note_time(vc)
b3 = BootInfo(rig.boot()).boot()
out("bootinfo", first=list(b1), second=list(b2), third=list(b3))

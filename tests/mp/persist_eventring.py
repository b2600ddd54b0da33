# Event ring in FRAM: wrap-around, cursors across the wrap and across a
# reboot, a reader left behind by more than the ring, record contents, the
# RAM fallback and moving RAM events into FRAM, no allocation per event.
import sys
import micropython
sys.path.append("tests/mp")
from persist_util import Rig, out
from core.clock import VirtualClock
from core import fram_layout as L
from core import codes
from core.events import EventLog

rig = Rig()
clock = VirtualClock(utc_valid=False)
drv = rig.boot()
fmt = L.prepare(drv)
log = EventLog(clock, fram=drv)
out("layout", prepare=fmt, again=L.prepare(drv), regions=L.check_regions(), capacity=log.capacity,
    slots=L.EVENT_SLOTS, persistent=log.persistent, next_seq=log.next_seq)


def value_for(i):
    return {"peak": i * 0.5, "window_ms": i % 1000, "value": i * 0.25, "limit": 16.0}


# codes without a schema of their own (codes.DEFAULT_VALUES); 60-62 were
# free when this was written and are supervision's now
UNNAMED = 230


def emit(i):
    return log.emit(UNNAMED + i % 3, i % 5, "O%d-I" % (1 + i % 24), value_for(i),
                    ("trip", "none", None)[i % 3])


# --- reader B follows in small chunks while the writer wraps the ring twice ---
seen_b = []
cur_b = 0
missed_b = 0
for i in range(1, 2501):
    if i == 100:
        clock.set_utc_ms(clock.utc_ms() + 1000)    # time becomes valid part-way
    s = emit(i)
    if i % 150 == 0:
        evs, m = log.since(cur_b, 37)
        while evs:
            missed_b += m
            seen_b.extend(e["seq"] for e in evs)
            cur_b = evs[-1]["seq"]
            evs, m = log.since(cur_b, 37)
        missed_b += m
# content of the stored records (all of the retained window)
evs, missed_a = log.since(0, 5000)
bad = 0
for e in evs:
    i = e["seq"]
    v = value_for(i)
    exp = {"code": UNNAMED + i % 3, "severity": codes.SEVERITY_NAMES[i % 5], "channel": "O%d-I" % (1 + i % 24),
           "action": ("trip", "none", None)[i % 3], "time_valid": i >= 100}
    got = {k: e[k] for k in exp}
    if got != exp or e["values"]["window_ms"] != v["window_ms"] or \
            abs(e["values"]["peak"] - v["peak"]) > 1e-6 * v["peak"] + 1e-9 or e["values"]["limit"] != 16.0:
        bad += 1
out("wrap", next_seq=log.next_seq, b_count=len(seen_b), b_contiguous=seen_b == list(range(1, len(seen_b) + 1)),
    b_missed=missed_b, a_first=evs[0]["seq"], a_last=evs[-1]["seq"], a_count=len(evs), a_missed=missed_a,
    bad=bad, sample=evs[-1])

# --- reboot: a fresh driver and log over the same FRAM ---------------------------
drv = rig.boot()
log = EventLog(clock, fram=drv)
nxt = log.next_seq
evs, m = log.since(cur_b, 1000)   # B resumes where it was, across the reboot
b_after = [e["seq"] for e in evs]
for i in range(2501, 2511):
    emit(i)
evs2, m2 = log.since(b_after[-1] if b_after else cur_b, 100)
out("reboot", next_seq=nxt, b_resumed_first=b_after[0] if b_after else None, b_resumed_last=b_after[-1] if b_after else None,
    b_resumed_missed=m, new_seqs=[e["seq"] for e in evs2], new_missed=m2)

# --- a reader 1500 events behind (more than the ring holds) ------------------------
evs, m = log.since(1000, 3)
out("behind", cursor=1000, first=[e["seq"] for e in evs], missed=m, capacity=log.capacity,
    next_seq=log.next_seq)
evs, m = log.since(log.next_seq - 1, 10)
evs_ahead, m_ahead = log.since(log.next_seq + 50, 10)
out("caught_up", count=len(evs), missed=m, ahead=len(evs_ahead), ahead_missed=m_ahead)

# --- record contents: schemas, types, text, clipping, unknown actions ----------------
s1 = log.emit(codes.EV_DEVICE_FAULT, codes.SEV_ALARM, "adc3",
              {"part": "ads131m04", "error": "no answer to RDID (MISO reads ff) while probing"})
s2 = log.emit(codes.EV_TIME_SET, codes.SEV_NOTICE, "time",
              {"step_ms": 15552000123, "delay_ms": 3, "stratum": 2, "source": "sntp:pool", "extra": 5},
              "latch-special")
s3 = log.emit(codes.EV_OUTLET_ON, codes.SEV_INFO, "O7", {"feedback": True, "who": "http:admin"}, "switched")
s4 = log.emit(99, codes.SEV_WARNING, "th_exhaust_long_name", {"peak": 35.5, "window_ms": 20,
              "value": "n/a", "limit": 16.0})
s5 = log.emit(codes.EV_BOOT, codes.SEV_NOTICE, "system", {"board": "sim24", "fw": "0.1.0",
              "devices_ok": False, "boot_count": 7})
heard = []
log.listeners.append(heard.append)
s6 = log.emit(codes.EV_SWITCH_UNVERIFIED, codes.SEV_WARNING, "O9",
              {"commanded": True, "feedback": False, "who": "modbus:1"}, "none")
got = {}
for s in (s1, s2, s3, s4, s5, s6):
    e, _ = log.since(s - 1, 1)
    got[str(s)] = e[0]
out("contents", seqs=[s1, s2, s3, s4, s5, s6], events=got, heard=heard)
# values outside a code's schema come back with their type (issue: "window_ms": "40" as text)
s7 = log.emit(codes.EV_OUTLET_ON, codes.SEV_INFO, "O8",
              {"feedback": True, "who": "w", "n": 40, "r": 0.25, "ok": False, "label": "40"}, "switched")
out("typed_extras", values=log.since(s7 - 1, 1)[0][0]["values"])

# --- heap per emit --------------------------------------------------------------------
# the firmware's own part of an emit allocates nothing: run it with the heap
# locked over a RAM stand-in of the FRAM (the simulated SPI bus itself
# allocates a receive buffer for writes over 64 bytes; machine.SPI does not)
rl = EventLog(clock, fram=L.RamFram(L.EVENT_BASE, L.EVENT_BASE + 96 * 64), nslots=64)
vals = {"count": 5}
rl.emit(codes.EV_ACQ_OVERRUN, codes.SEV_WARNING, "adc1", vals)


def locked_emits(rl, vals):
    # in a function: a new module-level name would grow the globals dict
    micropython.heap_lock()
    try:
        for i in range(50):
            rl.emit(codes.EV_ACQ_OVERRUN, codes.SEV_WARNING, "adc1", vals)
            rl.emit(codes.EV_OUTLET_OFF, codes.SEV_INFO, "O12", None, "switched")
        return "ok"
    except MemoryError:
        return "allocated"
    finally:
        micropython.heap_unlock()


out("heap", heap_locked_emit=locked_emits(rl, vals), ram_next=rl.next_seq)

# --- RAM fallback and moving RAM events into FRAM ----------------------------------------
ram = EventLog(clock, capacity=16)
for i in range(40):
    ram.emit(codes.EV_ACQ_OVERRUN, codes.SEV_WARNING, "adc1", {"count": i})
evs, m = ram.since(0, 100)
out("ram", persistent=ram.persistent, count=len(evs), missed=m, first=evs[0]["seq"], next_seq=ram.next_seq,
    values=evs[-1]["values"])
ram = EventLog(clock)
for i in range(3):
    ram.emit(codes.EV_DEVICE_FAULT, codes.SEV_ALARM, "adc%d" % i, {"part": "ads131m04", "error": "absent"})
before = log.next_seq
moved = ram.attach_fram(drv)
evs, m = ram.since(before - 1, 10)
try:
    ram.attach_fram(drv)
    again = "accepted"
except ValueError as e:
    again = str(e)
out("attach", moved=moved, before=before, seqs=[e["seq"] for e in evs], channels=[e["channel"] for e in evs],
    persistent=ram.persistent, again=again)

# Calibration store (core/calstore.py): versioned coefficient sets with
# fixture id and timestamp, previous set kept, rollback audited.
import sys
sys.path.append("tests/mp")
from persist_util import Rig, out
from core.clock import VirtualClock
from core import fram_layout as L
from core.events import EventLog
from core.audit import AuditLog
from core.calstore import CalStore, CalError
from boardconfig import h743_24_layout as topo

CH = sorted(topo.CHANNELS)
rig = Rig()
clock = VirtualClock(utc_valid=False)
d = rig.boot()
L.prepare(d)
ev = EventLog(clock, fram=d)
au = AuditLog(d, clock)
cal = CalStore(d, clock, ev, au, channels=CH)
out("fresh", version=cal.load(), current=cal.current, previous=cal.previous(), identity=cal.coeffs("O1-I"),
    max_channels=cal.max_channels, board_channels=len(CH))

full = {}
for i, nm in enumerate(CH):
    full[nm] = (1.0 + (i - 20) * 1e-3, i * 0.5 - 3.0, (i % 7 - 3) * 0.1)
v1 = cal.save(full, "FX-001", "factory")
clock.set_utc_ms(clock.utc_ms() + 86400000)   # time becomes valid
half = dict(full)
half["O7-I"] = (1.02, 1.5, 0.3)
v2 = cal.save(half, "FIELD-7", "field:tech")
cur = cal.current
prev = cal.previous()
out("saved", versions=[v1, v2], current={k: cur[k] for k in ("version", "fixture", "time_valid", "rollback_of")},
    previous={k: prev[k] for k in ("version", "fixture", "time_valid")}, o7=cal.coeffs("O7-I"),
    o7_prev=prev["coeffs"]["O7-I"], n=len(cur["coeffs"]), utc_later=cur["utc_ms"] > prev["utc_ms"],
    expected_o7_prev=full["O7-I"])

# reboot: both sets come back
cal_b = CalStore(rig.boot(), clock, channels=CH)
out("reload", version=cal_b.load(), o7=cal_b.coeffs("O7-I"), previous=cal_b.previous()["version"])

# rollback restores the previous set as a new version; a second one toggles back
v3 = cal.rollback("ops:alice")
r1 = (cal.current["version"], cal.current["rollback_of"], cal.coeffs("O7-I"), cal.current["fixture"])
v4 = cal.rollback("ops:alice")
r2 = (cal.current["version"], cal.current["rollback_of"], cal.coeffs("O7-I"))
out("rollback", first=r1, second=r2, v=[v3, v4])

# refused sets leave everything as it was
bad = [{"X9-I": (1, 0, 0)}, {"O1-I": (2.5, 0, 0)}, {"O1-I": (1.0, float("nan"), 0)},
       {"O1-I": (1.0, 0, 45.0)}, {"O1-I": (1.0, 0)}, {}, {"O1-I": ("a", 0, 0)}]
msgs = []
before = cal.version
for b in bad:
    try:
        cal.save(b, "FX", "x")
        msgs.append("accepted")
    except CalError as e:
        msgs.append(str(e))
out("refused", msgs=msgs, same=cal.version == before)

# damage the current set: the previous one is loaded (and says so by its version)
cur_addr = cal.store.addr[cal.store.cur]
rig.twin.poke(cur_addr + 50, b"\xff\xfe")
d = rig.boot()
ev_c = EventLog(clock, fram=d)
s0 = ev_c.next_seq
cal_c = CalStore(d, clock, ev_c, channels=CH)
out("damaged_current", version=cal_c.load(), o7=cal_c.coeffs("O7-I"), previous=cal_c.previous(),
    events=[(e["event"], e["values"]) for e in ev_c.since(s0 - 1, 5)[0]])
ev = ev_c

# rollback with nothing to go back to is refused and audited
cal_d = CalStore(None, clock, None, au)
cal_d.load()
try:
    cal_d.rollback("x")
    nr = "accepted"
except CalError as e:
    nr = str(e)
out("no_previous", msg=nr)

out("log", events=[(e["event"], e["values"]) for e in ev.since(0, 50)[0]],
    audit=[(a["kind"], a["who"], a["what"], a["result"]) for a in au.since(0, 50)[0]])

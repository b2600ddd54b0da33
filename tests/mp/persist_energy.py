# Energy counters (core/energy.py) against a reference computed in CPython.
# stdin: JSON {"ops": [[channel, imp_p, exp_p, imp_q, exp_q], ...],
#              "power": [[channel, p_w, q_var, dt_ms], ...]}
import sys
import json
import struct
sys.path.append("tests/mp")
from persist_util import Rig, out
from core.clock import VirtualClock
from core import fram_layout as L
from core import codes
from core.events import EventLog
from core.energy import Energy, MJ_PER_WH

data = json.loads(sys.stdin.read())
NAMES = ["O%d" % i for i in range(1, 25)] + ["L1", "L2", "L3"]
rig = Rig()
clock = VirtualClock()
d = rig.boot()
L.prepare(d)
ev = EventLog(clock, fram=d)
en = Energy(d, NAMES, clock, ev)
out("fresh", generation=en.load(), events=[e["event"] for e in ev.since(0, 10)[0]])

# integer accumulation, including deltas beyond 2^30 (chunked) and carries past 2^32
for ch, a, b, c, e in data["ops"]:
    en.add(ch, a, b, c, e)
out("ops", counters=[[en.get(i, k) for k in range(4)] for i in range(len(NAMES))])

# float power integrated with carried remainders
en2 = Energy(L.RamFram(L.ENERGY_A, L.ENERGY_B + L.ENERGY_SLOT), ["x", "y"])
for ch, p, q, dt in data["power"]:
    en2.add_power(ch, p, q, dt)
out("power", counters=[[en2.get(i, k) for k in range(4)] for i in range(2)])

# refused input
try:
    en.add(0, -1)
    neg = "accepted"
except ValueError as e:
    neg = str(e)
try:
    Energy(d, ["c%d" % i for i in range(49)])
    many = "accepted"
except ValueError as e:
    many = str(e)
out("refused", negative=neg, too_many=many)

# save/load: alternating copies, newest wins, survives a reboot
g1 = en.save(1000)
g2 = en.save(1001)
en.add("L1", 5000)
g3 = en.save(1002)
snap = en.snapshot()
d = rig.boot()
en_b = Energy(d, NAMES, clock)
gb = en_b.load()
out("reload", gens=[g1, g2, g3], loaded=gb, same=en_b.snapshot() == snap, saved_utc_s=en_b.saved_utc_s,
    wh=en_b.wh("L1"), mj=en_b.get("L1"))

# damage the newest copy (one bit): the older copy (one save older) is loaded
a = en_b.store.addr[en_b.store.cur]
rig.twin.poke(a + 40, bytes([rig.twin.peek(a + 40, 1)[0] ^ 0x10]))
en_c = Energy(rig.boot(), NAMES, clock)
gc_ = en_c.load()
out("damaged_newest", loaded=gc_, l1=en_c.get("L1"), l1_before=snap["L1"][0])
# next save goes to the damaged copy (the good one is kept) with a new generation
gn = en_c.save(1003)
en_d = Energy(rig.boot(), NAMES, clock)
out("after_repair", saved=gn, loaded=en_d.load())

# both copies damaged: counters restart at 0 with a store-fault event
for a in en_d.store.addr:
    rig.twin.poke(a + 20, b"\xde\xad")
d = rig.boot()
ev2 = EventLog(clock, fram=d)
seq0 = ev2.next_seq
en_e = Energy(d, NAMES, clock, ev2)
out("both_damaged", loaded=en_e.load(), l1=en_e.get("L1"),
    events=[(e["event"], e["values"].get("store")) for e in ev2.since(seq0 - 1, 10)[0]])

# a board with a different channel count does not read another layout's counters
en_f = Energy(rig.boot(), NAMES[:5], clock)
out("other_layout", loaded=en_f.load())

# Audit log (core/audit.py): who/when/what/result entries in a FRAM ring.
import sys
sys.path.append("tests/mp")
from persist_util import Rig, out
from core.clock import VirtualClock
from core import fram_layout as L
from core.audit import AuditLog, KINDS, RESULTS

rig = Rig()
clock = VirtualClock(utc_valid=False)
d = rig.boot()
L.prepare(d)
au = AuditLog(d, clock)
s1 = au.log("login", "http:admin@10.0.0.7", "login", "ok")
s2 = au.log("login", "http:guest@10.0.0.9", "login: bad password", "denied")
clock.set_utc_ms(1780000000000)
s3 = au.log("command", "modbus:3", "outlet 7 off", "ok")
s4 = au.log("update", "http:admin", "firmware 0.1.0 -> 0.2.0 (signature ok)", "ok")
s5 = au.log("mystery", "x" * 40, "y" * 200, "weird")
e = au.since(0, 10)
out("entries", seqs=[s1, s2, s3, s4, s5], entries=e[0], missed=e[1], kinds=list(KINDS), results=list(RESULTS))

# wrap-around in a small ring, cursor reads, a reader left behind
small = AuditLog(d, clock, base=L.AUDIT_BASE + 128 * 400, nslots=32)
for i in range(100):
    small.log("command", "http:op", "outlet %d on" % (i % 24 + 1), "ok")
got = []
cur = 0
while True:
    ents, m = small.since(cur, 10)
    if not ents:
        break
    got.append((ents[0]["seq"], ents[-1]["seq"], m))
    cur = ents[-1]["seq"]
out("wrap", next_seq=small.next_seq, chunks=got)

# reboot: entries and ids persist
d = rig.boot()
au2 = AuditLog(d, clock)
s6 = au2.log("config", "http:admin", "record.period_min: 15 -> 5 (gen 1)", "ok")
out("reboot", next_before=s6, first=au2.get(s1), s6=au2.get(s6), outside=au2.get(9999))

# listeners see each entry as stored
heard = []
au2.listeners.append(heard.append)
au2.log("time", "sntp", "step +15552000123 ms", "ok")
out("listener", heard=heard)

# no FRAM: the same ring in RAM
ram = AuditLog(None, clock, nslots=8)
for i in range(10):
    ram.log("command", "local", "cmd %d" % i)
ents, m = ram.since(0, 100)
out("ram", count=len(ents), missed=m, first=ents[0]["what"], last=ents[-1]["what"])

# Five days of a PDU's life in virtual time at cycle-level fidelity: the plant's
# analytic per-second values feed the energy counters and the ETSI data records
# (1-minute period); every second's values are also dumped (float32) so the test
# can build its reference in NumPy, independently of core/records.py.
import sys, json
from array import array
import vfs
import boardconfig.sim24 as desc
from sim.plant import Plant
from sim.blockdev import BlockDev
from core.clock import VirtualClock
from core.records import Records
from core.energy import Energy

seconds, dump_path, flash_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
T0 = 1767225600                                   # 2026-01-01T00:00:00Z
clock = VirtualClock(start_utc_ms=T0 * 1000)
p = Plant(desc, seed=11)
p.plug(1, {"kind": "resistive", "irms": 4.0})
p.plug(2, {"kind": "psu", "irms": 2.0})
p.plug(10, {"kind": "smps", "irms": 1.0})
# load changes off the minute grid, so minutes see min != max
t = 433
k = 0
while t < seconds:
    p.schedule(t, "plug", 1, {"kind": "resistive", "irms": (3.0, 6.0, 4.5)[k % 3]})
    if k % 4 == 1:
        p.schedule(t + 97, "unplug", 2)
    if k % 4 == 3:
        p.schedule(t + 97, "plug", 2, {"kind": "psu", "irms": 2.0 + 0.25 * (k % 5)})
    t += 433
    k += 1
for h in range(3, seconds // 3600, 3):
    p.schedule(h * 3600 + 17, "set_voltage", (225.0, 235.0, 230.0)[h % 3])

CH = (("O1", "G1-V", "O1-I"), ("O2", "G1-V", "O2-I"), ("O10", "G4-V", "O10-I"), ("L1", "L1-V", "L1-I"))
bdev = BlockDev(4096, 4096, path=flash_path)      # 16 MB file-backed NOR
vfs.VfsLfs2.mkfs(bdev)
fs = vfs.VfsLfs2(bdev)
energy = Energy(None, [c[0] for c in CH], clock)
rec = Records(fs, [(c[0], "VIPE") for c in CH], clock=clock, energy=energy, period_min=1)
out = open(dump_path, "wb")
row = array("f", bytes(4 * 3 * len(CH)))
p.step_cycles(1)                                  # align to a cycle start
for s in range(seconds):
    st = p.step_cycles(50)                        # 50 cycles = 1 s at 50 Hz (8000 samples)
    vals = {}
    j = 0
    for name, vch, ich in CH:
        v = st.rms(vch)
        i = st.rms(ich)
        pw = st.power(ich)
        vals[name] = (v, i, pw)
        energy.add_power(name, pw, 0.0, st.n * 1000 // 8000)
        row[j] = v
        row[j + 1] = i
        row[j + 2] = pw
        j += 3
    clock.advance_us(1000000)
    rec.add_second(T0 + s, vals)
    out.write(row)
out.close()
print(json.dumps({"seconds": seconds, "counters_mj": {c[0]: energy.get(c[0]) for c in CH}}))
import gc
for lvl in (0, 1):
    for d in range(seconds // 86400 + 1):       # a day at a time: bounded RAM
        for r in rec.query(T0 + d * 86400, T0 + (d + 1) * 86400, level=lvl):
            print(json.dumps({"level": lvl, "utc_s": r["utc_s"], "period_s": r["period_s"], "n_s": r["n_s"],
                              "partial": r["partial"], "ch": r["channels"]}))
        gc.collect()

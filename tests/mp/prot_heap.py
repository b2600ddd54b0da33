# Heap discipline and cost of the protection fast path: after a run with
# loads on (one outlet timing out on its inverse-time curve, residual current
# monitored), the per-poll path - FastPath.run() and Protection.consume() on a
# quiet poll (no news, no open switching window, slow tick excluded) - runs
# under micropython.heap_lock(), and its time per poll is measured.
import json
import time
import asyncio
import micropython
from protection.fastpath import E_ACC, E_FL
from tests.mp.prot_rig import Rig

rig = Rig(loads={1: {"kind": "psu", "irms": 2.0}, 5: {"kind": "resistive", "irms": 8.0},
                 12: {"kind": "smps", "irms": 1.0}, 22: {"kind": "resistive", "irms": 3.0}})
prot = rig.prot
fp = prot.fastpath
acq = rig.pdu.acq


async def main():
    for n in (1, 5, 12, 22):
        rig.cmd(n, True)
        await rig.until(rig.t() + 0.3)
    rig.plant.fault(5, "overload", factor=2.5)     # 20 A: timing (bucket filling), no trip yet
    await rig.until(rig.t() + 2.0)
    rig.stop()

asyncio.run(main())
res = {"open_windows": len(prot.verification.open_windows) + len(prot.inrush.open_windows), "n_group": acq.n_group, "n_inlet": acq.n_inlet}
b5 = fp.word(5)
acc0 = fp.blocks[b5 + E_ACC]
N = 200
errs = []
for what in ("fastpath", "consume"):
    micropython.heap_lock()
    try:
        t0 = time.ticks_us()
        for i in range(N):
            if what == "fastpath":
                fp.run(acq)
            else:
                prot.slow_polls = 0
                prot.consume(acq)
        dt = time.ticks_diff(time.ticks_us(), t0)
    except MemoryError as e:
        dt = -1
        errs.append(what)
    micropython.heap_unlock()
    res[what + "_us_per_poll"] = dt / N
res["alloc_errors"] = errs
res["prot_errors"] = prot.errors
res["bucket_grew"] = fp.blocks[b5 + E_ACC] > acc0
res["flags5"] = fp.blocks[b5 + E_FL]
res["overruns"] = acq.overruns()
print(json.dumps(res))

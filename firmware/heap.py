# Heap housekeeping: garbage collection at a time of the firmware's choosing.
#
# MicroPython collects when an allocation finds the heap full, inside whatever
# task allocated: a collection of a busy heap (a few ms on the MCU; 4-9 ms on
# the unix port's larger heap) then lands in the middle of an uplink's slice
# and the 10 ms acquisition poll waits for it. This task collects before that
# happens: when the free heap has fallen below LOW_FRAC of what the last
# collection left free, it hands the collection to the acquisition task
# (Acquisition.collect()), which runs it right after its next poll, in the
# time the poll period leaves; the uplinks see less headroom (headroom_us())
# and pace their work after it.
#
#   keeper = HeapKeeper(acq, health)   # core/acquisition.Acquisition, core/health.Health
#   await keeper.run()                 # a supervisor task (firmware/boot.py)
#   health.gc: {"collects", "last_us", "worst_us",
#               "late": collections not run right after a poll (acquisition not running)}
import gc
import time
import asyncio
from micropython import const

CHECK_MS = const(50)          # how often the free heap is looked at (gc.mem_free()
                              # walks the allocation table: 1.5 ms on the unix
                              # port's 8 MB heap, ~50 us on the MCU's)
CHECK_NEED_US = const(3000)   # headroom asked of the poll for that look
LOW_FRAC_PCT = const(50)      # collect below this share of the last free-after-collect


class HeapKeeper:
    def __init__(self, acq, health):
        self.acq = acq
        self.st = health.gc = {"collects": 0, "last_us": 0, "worst_us": 0, "late": 0}
        self._free_after = 0

    async def _collect(self):
        acq = self.acq
        n = acq.collects_in_place
        d = await acq.collect()
        st = self.st
        if acq.collects_in_place != n:
            st["late"] += 1              # no poll came: collected in place
        st["last_us"] = d
        if d > st["worst_us"]:
            st["worst_us"] = d
        st["collects"] += 1
        self._free_after = gc.mem_free()

    async def run(self):
        await self._collect()
        while True:
            await asyncio.sleep_ms(CHECK_MS)
            await self.acq.pace(CHECK_NEED_US)
            if gc.mem_free() * 100 >= self._free_after * LOW_FRAC_PCT:
                continue
            await self._collect()

# Heap housekeeping: garbage collection at a time of the firmware's choosing.
#
# MicroPython collects when an allocation finds the heap full, inside whatever
# task allocated: a collection of a busy heap (a few ms on the MCU; 4-9 ms on
# the unix port's larger heap) then lands in the middle of an uplink's slice
# and the 10 ms acquisition poll waits for it. This task collects before that
# happens, right after a poll, when the free heap has fallen below LOW_FRAC of
# what the last collection left free, so the collection runs in the time the
# poll does not need.
#
#   keeper = HeapKeeper(acq, health)   # core/acquisition.Acquisition (its pace()), core/health.Health
#   await keeper.run()                 # a supervisor task (firmware/boot.py)
#   health.gc: {"collects", "last_us", "worst_us", "late": collections that found no headroom}
import gc
import time
import asyncio
from micropython import const

CHECK_MS = const(50)          # how often the free heap is looked at (gc.mem_free()
                              # walks the allocation table: 1.5 ms on the unix
                              # port's 8 MB heap, ~50 us on the MCU's)
CHECK_NEED_US = const(3000)   # headroom asked of the poll for that look
LOW_FRAC_PCT = const(50)      # collect below this share of the last free-after-collect
NEED_CAP_US = const(8000)     # headroom asked of the poll (a poll period is 10 ms)
NEED_MIN_US = const(1000)


class HeapKeeper:
    def __init__(self, acq, health):
        self.acq = acq
        self.st = health.gc = {"collects": 0, "last_us": 0, "worst_us": 0, "late": 0}
        self._free_after = 0

    def _collect(self):
        t = time.ticks_us()
        gc.collect()
        d = time.ticks_diff(time.ticks_us(), t)
        st = self.st
        st["last_us"] = d
        if d > st["worst_us"]:
            st["worst_us"] = d
        st["collects"] += 1
        self._free_after = gc.mem_free()

    async def run(self):
        self._collect()
        while True:
            await asyncio.sleep_ms(CHECK_MS)
            await self.acq.pace(CHECK_NEED_US)
            if gc.mem_free() * 100 >= self._free_after * LOW_FRAC_PCT:
                continue
            # ask for the last collection's time plus a margin, so it starts
            # just after a poll; waits=5: up to five polls for such a slot
            last = self.st["last_us"]
            need = last + last // 2 + NEED_MIN_US
            if need > NEED_CAP_US:
                need = NEED_CAP_US
            await self.acq.pace(need, 5)
            h = self.acq.headroom_us()
            if h is not None and h < need:
                self.st["late"] += 1      # five polls without the headroom: collected anyway
            self._collect()

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
#   keeper = HeapKeeper(acq)       # core/acquisition.Acquisition (its pace())
#   await keeper.run()             # a supervisor task (firmware/boot.py)
#   keeper.collects, keeper.last_us, keeper.worst_us   # figures for health/bench
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
    def __init__(self, acq):
        self.acq = acq
        self.collects = 0
        self.last_us = 0          # the last collection's duration
        self.worst_us = 0
        self._free_after = 0

    def _collect(self):
        t = time.ticks_us()
        gc.collect()
        d = time.ticks_diff(time.ticks_us(), t)
        self.last_us = d
        if d > self.worst_us:
            self.worst_us = d
        self.collects += 1
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
            need = self.last_us + self.last_us // 2 + NEED_MIN_US
            await self.acq.pace(NEED_CAP_US if need > NEED_CAP_US else need, 5)
            self._collect()

# The host's own loop-lateness floor: a bare asyncio loop with the
# acquisition task's period and a stand-in for its poll (busy POLL_WORK_US),
# nothing else. Whatever lateness it shows is the host's (the unix port on a
# shared machine wakes a sleeping process late now and then), not the
# firmware's: `make bench` prints it beside the firmware's figures.
#
#   micropython -m sim.loop_floor SECONDS   -> prints one JSON line:
#   {"polls": n, "hist_ms": [16 buckets, as core/acquisition.py's late_hist]}
import asyncio
import json
import sys
import time
from core.acquisition import POLL_MS, LATE_BUCKETS

POLL_WORK_US = 2500         # about the unix port's poll of sim24


async def _run(seconds):
    hist = [0] * LATE_BUCKETS
    t_end = time.ticks_add(time.ticks_ms(), int(seconds * 1000))
    while time.ticks_diff(t_end, time.ticks_ms()) > 0:
        t0 = time.ticks_us()
        while time.ticks_diff(time.ticks_us(), t0) < POLL_WORK_US:
            pass
        t = time.ticks_us()
        await asyncio.sleep_ms(POLL_MS)
        late = time.ticks_diff(time.ticks_us(), t) - POLL_MS * 1000
        k = late // 1000 if late > 0 else 0
        hist[k if k < LATE_BUCKETS else LATE_BUCKETS - 1] += 1
    print(json.dumps({"polls": sum(hist), "hist_ms": hist}))


asyncio.run(_run(float(sys.argv[1]) if len(sys.argv) > 1 else 10.0))

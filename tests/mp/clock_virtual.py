# Virtual clock: tasks wake in deadline order, time only moves when driven,
# and an hour of virtual time takes far less than an hour.
import asyncio, json, time
from core.clock import VirtualClock, RealClock, UNSET_UTC_MS
from firmware.boot import drive_virtual_time

c = VirtualClock()
log = []

async def sleeper(name, ms, times):
    for _ in range(times):
        await c.sleep_ms(ms)
        log.append((c.now_us(), name))

async def main():
    ts = [asyncio.create_task(sleeper("a", 30, 4)), asyncio.create_task(sleeper("b", 45, 3)),
          asyncio.create_task(sleeper("c", 1000, 3600))]
    t0 = time.ticks_ms()
    await drive_virtual_time(c, 3600 * 1000000)
    wall = time.ticks_diff(time.ticks_ms(), t0)
    for t in ts:
        t.cancel()
    return wall

wall = asyncio.run(main())
print(json.dumps({"log": log[:8], "n_c": sum(1 for x in log if x[1] == "c"), "now_us": c.now_us(),
                  "wall_ms": wall, "utc_ms": c.utc_ms(), "ticks_ms": c.ticks_ms(),
                  "unset": UNSET_UTC_MS}))
try:
    c.set_now_us(0)
    print(json.dumps({"backwards": "allowed"}))
except ValueError as e:
    print(json.dumps({"backwards": str(e)}))
step = c.set_utc_ms(UNSET_UTC_MS + 3600 * 1000 + 5000)
print(json.dumps({"step_ms": step, "valid": c.time_valid}))
r = RealClock()
t1 = r.ticks_ms(); u = r.utc_ms()
print(json.dumps({"real_utc_plausible": u > 1.7e12, "real_ticks": t1 >= 0}))

# Load test (real time): protection decisions while the firmware's event loop
# serves many uplink-like requests. A TEST LOAD, not a product server: a small
# asyncio TCP request/response task on 127.0.0.1 answering one line per
# request with a few live protection values.
#
# Phases: idle (no client) then loaded (the pytest side starts a CPython client
# with many concurrent connections after "IDLE_DONE"). In each phase a bolted
# short is scheduled behind outlet 4 at a known plant sample, M times; the
# decision latency is the plant sample at which protection decided (the trip
# event) minus the onset sample, in mains cycles. Also: acquisition poll
# gaps, overruns, requests served, peak concurrent connections.
# Usage: prot_load.py PORT FAULTS
import sys
import json
import time
import asyncio
from tests.mp.prot_rig import Rig

PORT = int(sys.argv[1])
M = int(sys.argv[2]) if len(sys.argv) > 2 else 10

# shedding is not under test: repeated shorts would otherwise count as a
# sustained branch overload (their 1 s rms is ~20 A)
rig = Rig(virtual=False, settings={"shed_delay_s": 600}, loads={4: {"kind": "resistive", "irms": 3.0}, 1: {"kind": "psu", "irms": 2.0},
                                10: {"kind": "psu", "irms": 2.0}, 22: {"kind": "resistive", "irms": 2.0}})
pdu = rig.pdu
plant = rig.plant
prot = rig.prot
stats = {"req": 0, "conns": 0, "max_conns": 0, "accepted": 0}
gap = {"last": None, "max": 0, "sum": 0, "n": 0}


def gap_watch(acq):
    now = time.ticks_us()
    if gap["last"] is not None:
        d = time.ticks_diff(now, gap["last"])
        if d > gap["max"]:
            gap["max"] = d
        gap["sum"] += d
        gap["n"] += 1
    gap["last"] = now


pdu.acq.consumers.append(gap_watch)


async def handle(reader, writer):
    stats["conns"] += 1
    stats["accepted"] += 1
    if stats["conns"] > stats["max_conns"]:
        stats["max_conns"] = stats["conns"]
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            o = prot.outlet_state[4]
            writer.write(b'{"req":%d,"o4":"%s","polls":%d,"energising":%d}\n'
                         % (stats["req"], o.state, prot.polls, prot.energising()))
            await writer.drain()
            stats["req"] += 1
    except Exception:
        pass
    stats["conns"] -= 1
    try:
        writer.close()
        await writer.wait_closed()
    except Exception:
        pass


async def wait_trip(n0, timeout_ms=1500):
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < timeout_ms:
        for e in rig.evs[n0:]:
            if e["event"] == "oc_instant" and e["channel"] == "O4":
                return e
        await asyncio.sleep_ms(5)
    return None


async def phase(tag, k0):
    lat = []
    latb = []
    resets_refused = [0]
    refusals = []
    tr0 = len(prot.decisions)
    gap["last"] = None
    gap["max"] = 0
    gap["sum"] = 0
    gap["n"] = 0
    req0 = stats["req"]
    t0 = time.ticks_ms()
    for k in range(M):
        # an onset at an arbitrary point of the poll and of the mains cycle
        s0 = plant.n + 400 + ((k0 + k) * 37) % 160
        n0 = len(rig.evs)
        plant.schedule(s0 / 8000.0, "fault", 4, "short", ipk=300.0)
        e = await wait_trip(n0)
        lat.append(None if e is None else e["plant_n"] - s0)
        # the board's present at the decision (includes the poll's processing)
        latb.append(None if e is None else e["board_us"] * 8 // 1000 - s0)
        while prot.outlet_state[4].verify is not None:          # the open is verified
            await asyncio.sleep_ms(10)
        plant.clear_fault(4)
        ok = prot.reset(4, "loadtest")
        if not ok:
            resets_refused[0] += 1
            a, _ = pdu.audit.since(pdu.audit.next_seq - 2, 1)
            refusals.append(a[0]["what"] if a else "?")
        await pdu.outlets.set(4, True, "loadtest")
        await asyncio.sleep_ms(150)
    dt = time.ticks_diff(time.ticks_ms(), t0)
    others = [d.element for d in prot.decisions[tr0:] if d.element != "O4"] if len(prot.decisions) > tr0 else []
    return {"phase": tag, "latency_samples": lat, "latency_board_samples": latb,
            "resets_refused": resets_refused[0], "refusals": refusals, "other_decisions": others, "max_gap_us": gap["max"],
            "mean_gap_us": gap["sum"] // gap["n"] if gap["n"] else 0,
            "requests": stats["req"] - req0, "req_per_s": (stats["req"] - req0) * 1000 // dt,
            "max_conns": stats["max_conns"], "overruns": pdu.acq.overruns()}


async def main():
    pdu.start()
    srv = await asyncio.start_server(handle, "127.0.0.1", PORT, backlog=64)
    for n in (1, 4, 10, 22):
        await pdu.outlets.set(n, True, "loadtest")
    await asyncio.sleep_ms(500)
    print("READY")
    idle = await phase("idle", 0)
    print(json.dumps(idle))
    print("IDLE_DONE")
    t0 = time.ticks_ms()
    while stats["max_conns"] < 20 and time.ticks_diff(time.ticks_ms(), t0) < 10000:
        await asyncio.sleep_ms(20)
    stats["max_conns"] = stats["conns"]
    loaded = await phase("loaded", 1000)
    loaded["conns_during"] = stats["conns"]
    print(json.dumps(loaded))
    print(json.dumps({"done": True, "prot_errors": prot.errors, "last_error": prot.last_error, "accepted": stats["accepted"],
                      "overruns": pdu.acq.overruns()}))
    srv.close()
    for t in pdu.tasks:
        t.cancel()

asyncio.run(main())

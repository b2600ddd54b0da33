# Boot sim24 in virtual time, let it run, then render the Prometheus exposition
# (comms/metrics.py) and PEE.xml (comms/pee.py) while the firmware keeps
# running, each into a list of chunks; print the chunks, the largest chunk, the
# live heap before/after/at most during each render, and the model's own reads
# (REST-shaped, before and after each render) the tests check the outputs against.
# Chunks are printed as they arrive ({"case": "metrics_chunk"|"pee_chunk", "data": ...}).
#
# usage: render_cases.py SECONDS PEE_T0_OFFSET_S [SEED [FRAM_FILE]]
#   the record period is set to 1 minute at boot; at SECONDS/2 the location and
#   name change to strings with XML/Prometheus special characters; at SECONDS
#   both renders run; PEE covers [boot + PEE_T0_OFFSET_S, now). With FRAM_FILE the
#   FRAM (event log, config, counters) persists in that file: a second run is a reboot.
# One JSON object per line: {"case": ...}.
import asyncio
import gc
import json
import sys
from sim.pdu import sim_pdu
from firmware.boot import drive_virtual_time, FW_VERSION
from comms.model import Model
from comms import metrics, pee

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 6.0
t0_off = int(sys.argv[2]) if len(sys.argv) > 2 else 0
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 5
fram_file = sys.argv[4] if len(sys.argv) > 4 else None     # FRAM kept across runs: a reboot

LOCATION = "<rack \"A\"> & 'B' \\ 7"      # XML and Prometheus label specials
NAME = "pdu&<1>"
UPLINKS = {"http": {"requests": 10, "responses_4xx": 2, "errors": 1},
           "modbus": {"requests": 5, "exceptions": 0}}
LOADS = {1: ("resistive", 4.0), 2: ("psu", 2.0), 5: ("resistive", 1.5), 10: ("psu", 3.0), 12: ("smps", 1.0),
         20: ("resistive", 3.0), 23: ("fan", 1.2)}
POWER_ON = [1, 2, 5, 7, 10, 12, 20, 23]

pdu = sim_pdu("sim24", virtual=True, seed=seed, power_on=POWER_ON, stagger_ms=50, fram_file=fram_file)
# the model boot built for the uplinks (Pdu.uplinks.model, or Pdu.model)
model = getattr(getattr(pdu, "uplinks", None), "model", None) or getattr(pdu, "model", None)
built = model is None
if built:
    # no model from boot: the model from the Pdu's parts, as Model.__init__ names them
    model = Model(desc=pdu.board.desc, clock=pdu.clock, snapshot=pdu.metro.snapshot, events=pdu.events,
                  health=pdu.health, acq=pdu.acq, outlets=pdu.outlets, protection=pdu.protection,
                  config=pdu.config, cal=pdu.cal, records=pdu.records, supervisor=pdu.supervisor,
                  env=pdu.env, boot_count=pdu.boot_count, fw_version=FW_VERSION)
for n, (kind, irms) in LOADS.items():
    pdu.board.plant.plug(n, {"kind": kind, "irms": irms})
pdu.config.apply({"record.period_min": 1}, "test")
boot_s = pdu.clock.utc_ms() // 1000
pee.PAGE_RECORDS = 2        # page through the records two periods at a time


def out(d):
    print(json.dumps(d))


def clean(v):
    # NaN/inf are not JSON
    if type(v) is float and (v != v or v in (float("inf"), float("-inf"))):
        return None
    if type(v) in (list, tuple):
        return [clean(x) for x in v]
    if type(v) is dict:
        return {k: clean(x) for k, x in v.items()}
    return v


def reads():
    """The model's own reads of everything rendered, in REST shape."""
    return clean({"measurements": model.read(list(model.snapshot.channels), "sec"),
                  "health": model.health(), "inventory": model.inventory(),
                  "environment": model.environment(),
                  "outlets": [model.outlet_state(n) for n in model.outlet_numbers()],
                  "now_s": model.clock.utc_ms() // 1000})


def all_events():
    evs = []
    cur = 0
    while True:
        page, _m, cur = model.events_since(cur, 50)
        if not page:
            return evs
        evs.extend(clean(page))


async def render(name, fn, *args):
    """Render through a write() that prints each chunk at once (one JSON line,
    nothing kept), so the heap figures are the renderer's own."""
    st = {"largest_chunk": 0, "chunks": 0, "bytes": 0, "heap_peak": 0}

    async def write(c):
        n = len(c.encode()) if type(c) is str else len(c)
        st["chunks"] += 1
        st["bytes"] += n
        if n > st["largest_chunk"]:
            st["largest_chunk"] = n
        out({"case": name + "_chunk", "data": c})
        gc.collect()
        a = gc.mem_alloc()
        if a > st["heap_peak"]:
            st["heap_peak"] = a

    if fn is metrics.render:
        await metrics._plan(model)   # resident by design: the board's family plan, made once
    gc.collect()
    st["heap_before"] = gc.mem_alloc()
    await fn(model, write, *args)
    gc.collect()
    st["heap_after"] = gc.mem_alloc()
    return st


async def probe():
    clock = pdu.clock
    await clock.sleep_ms(int(seconds * 500))
    pdu.config.apply({"system.location": LOCATION, "system.name": NAME}, "test")
    await clock.sleep_ms(int(seconds * 1000) - int(seconds * 500))
    out({"case": "setup", "built_model": built, "boot_s": boot_s, "location": LOCATION, "name": NAME,
         "uplinks": UPLINKS, "record_period_s": model.record_period_s(), "seconds": seconds})
    # Prometheus
    r0 = reads()
    ev0 = model.event_counts()
    mem = await render("metrics", metrics.render, UPLINKS)
    r1 = reads()
    ev1 = model.event_counts()
    out({"case": "metrics", "before": r0, "after": r1, "events_before": ev0, "events_after": ev1, "mem": mem,
         "events": all_events()})
    # PEE.xml
    now = clock.utc_ms() // 1000
    t0, t1 = boot_s + t0_off, now
    r0 = reads()
    mem = await render("pee", pee.render, t0, t1)
    r1 = reads()
    # the same with a range of two records (one page): the heap must not depend on the range
    per = model.record_period_s()
    small = await render("pee_small", pee.render, t1 - t1 % per - 2 * per, t1)
    recs = []
    a = t0
    while a < t1:                    # the store's own records of the range, an hour per query
        for r in model.records(a, min(a + 3600, t1)):
            recs.append(clean(r))
        a += 3600
    evs = all_events()
    out({"case": "pee", "t0_s": t0, "t1_s": t1, "before": r0, "after": r1, "mem": mem, "mem_small": small,
         "records": recs, "all_records": len(model.records(0, t1 + 86400)), "events": evs,
         "config": clean(dict(model.config.values))})


async def main():
    pdu.start()
    drv = asyncio.create_task(drive_virtual_time(pdu.clock))
    await probe()
    drv.cancel()
    for t in pdu.tasks:
        t.cancel()
    out({"case": "done"})


asyncio.run(main())

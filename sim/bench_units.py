# Per-call figures for `make bench` (unix port, wall clock): the FRAM driver,
# the event ring, the ETSI data records and the plant's cycle mode. Prints one
# JSON object; tools/bench.py prints each figure beside its goal.
#
#   micropython -m sim.bench_units [BOARD]
import sys
import gc
import json
import time
import vfs
import sim.hw as hw
from sim.twin_fram import Fram
from sim.blockdev import BlockDev
from drivers.fram import FRAM
from core import codes
from core import fram_layout as L
from core.clock import VirtualClock
from core.events import EventLog
from core.energy import Energy
from core.records import Records

T0 = 1772323200            # 2026-03-01T00:00:00Z


def _fram():
    twin = Fram(size=262144)
    bus = hw.SPI(3, polarity=0, phase=0)
    cs = hw.Pin("PC9", hw.Pin.OUT, value=1)
    bus.attach(cs, twin)
    d = FRAM(bus, cs, size=262144)
    d.begin()
    return d


def fram_driver(n=2000):
    """The FRAM driver on its twin: readinto of 256 B, write of 64 B (us per call)."""
    f = _fram()
    mv = memoryview(bytearray(256))
    f.readinto(0, mv)
    t0 = time.ticks_us()
    for _ in range(n):
        f.readinto(0, mv)
    t_read = time.ticks_diff(time.ticks_us(), t0) / n
    wb = memoryview(bytearray(64))
    t0 = time.ticks_us()
    for _ in range(n):
        f.write(0, wb)
    t_write = time.ticks_diff(time.ticks_us(), t0) / n
    return {"fram_read256_us": t_read, "fram_write64_us": t_write}


def event_ring(n=500, boots=20):
    """The event log on the FRAM ring: emit, cursor read per event, and the
    boot scan of a full ring (1024 records)."""
    drv = _fram()
    L.prepare(drv)
    clock = VirtualClock()
    log = EventLog(clock, fram=drv)
    for i in range(L.EVENT_SLOTS + 10):          # a full ring, wrapped
        log.emit(codes.EV_ACQ_OVERRUN, codes.SEV_WARNING, "adc1", {"count": i})
    gc.collect()
    gc.disable()
    t0 = time.ticks_us()
    for i in range(n):
        log.emit(codes.EV_ACQ_OVERRUN, codes.SEV_WARNING, "adc1", {"count": i})
    emit = time.ticks_diff(time.ticks_us(), t0) / n
    gc.enable()
    t0 = time.ticks_us()
    evs, _ = log.since(log.next_seq - 1 - n, n)
    read = time.ticks_diff(time.ticks_us(), t0) / len(evs)
    t0 = time.ticks_us()
    for _ in range(boots):
        EventLog(clock, fram=drv)
    scan = time.ticks_diff(time.ticks_us(), t0) / boots
    return {"event_emit_us": emit, "event_read_us": read, "event_boot_scan_us": scan,
            "event_slots": L.EVENT_SLOTS}


def _record_store(desc, nblocks, period_min):
    # The firmware's record layout (firmware/stores.py) on littlefs over a
    # simulated NOR flash, with energy counters attached.
    from metrology.meter import output_channels
    from firmware.stores import record_channels
    chans, echans = output_channels(desc)
    rch = record_channels(chans, desc)
    bd = BlockDev(4096, nblocks)
    vfs.VfsLfs2.mkfs(bd)
    fs = vfs.VfsLfs2(bd.mount_view())
    en = Energy(None, echans)
    rec = Records(fs, rch, energy=en, period_min=period_min)
    env = {}
    vals = {}
    for k in range(len(rch)):
        name, kinds = rch[k]
        if "T" in kinds:
            env[name] = (25.0 + 0.1 * k, 40.0 if "H" in kinds else None)
        else:
            vals[name] = (230.0 + 0.01 * k if "V" in kinds else None,
                          1.0 + 0.1 * k if "I" in kinds else None,
                          200.0 + k if "P" in kinds else None)
    return rec, en, [en.index[n] for n in echans], vals, env


def records_second(desc, seconds=3600):
    """add_second (once a second, T_rec 15 min; includes the minute closes and
    the record appends they cause), us per call, over an hour."""
    rec, en, eidx, vals, env = _record_store(desc, 256, 15)
    t = 0
    for s in range(seconds):
        for i in eidx:
            en.add(i, 200000)
        t0 = time.ticks_us()
        rec.add_second(T0 + s, vals, env)
        t += time.ticks_diff(time.ticks_us(), t0)
    return {"records_add_second_us": t / seconds, "records_channels": len(rec.layout),
            "records_errors_s": rec.errors}


def records_minute(desc, minutes=360):
    """add_minute at T_rec 1 min: every call appends a record to littlefs (and
    the hourly ones an aggregate), us per call, over 6 hours."""
    rec, en, eidx, vals, env = _record_store(desc, 512, 1)
    stats = {}
    for name, x in vals.items():
        stats[name] = tuple(None if v is None else (v, v * 0.99, v * 1.01) for v in x)
    envs = {}
    for name, x in env.items():
        envs[name] = tuple(None if v is None else (v, v - 0.5, v + 0.5) for v in x)
    t = 0
    for m in range(minutes):
        for i in eidx:
            en.add(i, 12000000)
        t0 = time.ticks_us()
        rec.add_minute(T0 + 60 * m, stats, envs)
        t += time.ticks_diff(time.ticks_us(), t0)
    return {"records_add_minute_us": t / minutes, "records_written_m": rec.written,
            "records_errors_m": rec.errors}


def plant_hour(desc, repeats=3):
    """An hour of mains (180000 cycles at 50 Hz) in the plant's cycle mode,
    24 loaded outlets: best of `repeats` (us)."""
    from sim.plant import Plant
    best = None
    for r in range(repeats):
        p = Plant(desc, seed=1)
        for n in range(1, 25):
            p.plug(n, {"kind": ("psu", "smps", "resistive", "fan")[n % 4], "irms": 1.0 + 0.5 * (n % 5)})
        for _ in range(200):                 # 2 s of samples first, as a run would
            p.generate(80)
        gc.collect()
        t0 = time.ticks_us()
        p.step_cycles(180000)
        dt = time.ticks_diff(time.ticks_us(), t0)
        best = dt if best is None or dt < best else best
    return {"plant_hour_us": best}


def main(argv):
    board = argv[0] if argv else "sim24"
    desc = __import__("boardconfig." + board, None, None, [board])
    res = {"board": board}
    res.update(fram_driver())
    res.update(event_ring())
    gc.collect()
    res.update(records_second(desc))
    gc.collect()
    res.update(records_minute(desc))
    gc.collect()
    res.update(plant_hour(desc))
    print(json.dumps(res))


main(sys.argv[1:])

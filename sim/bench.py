# Acquisition-chain figures for `make bench` (unix port): how much CPU one
# second of sim24 signal costs in each stage, and the heap the firmware holds.
# Prints one JSON object.
import sys
import json
import time
import gc
import micropython


def _cpu():
    with open("/proc/self/stat") as f:
        p = f.read().split(")")[-1].split()
    return (int(p[11]) + int(p[12])) / 100.0


def _drop_sim_caches():
    # sim/hw.SPI keeps class-level dummy transfer buffers, one per transfer
    # size (so drivers can run under micropython.heap_lock() in tests). They
    # are simulation heap, not firmware heap (the FRAM slot reads at boot
    # alone leave ~12 KB there): cleared around every firmware measurement.
    from sim.hw import SPI
    SPI._cache.clear()
    SPI._rx_cache.clear()


def _import_firmware():
    import os
    for pkg in ("drivers", "core", "metrology", "protection", "comms", "firmware"):
        try:
            names = os.listdir(pkg)
        except OSError:
            continue
        for fn in sorted(names):
            if fn.endswith(".py") and fn != "__init__.py":
                __import__(pkg + "." + fn[:-3])


def main(argv):
    board = argv[0] if argv else "sim24"
    seconds = float(argv[1]) if len(argv) > 1 else 5.0
    from firmware.boot import Pdu
    from core.clock import VirtualClock
    from sim.world import open_sim_board
    clock = VirtualClock()
    gc.collect()
    m0 = gc.mem_alloc()
    # Import every firmware module first: on the MCU they are frozen into
    # flash, so their bytecode is not heap. What remains is the firmware's data.
    # (All of them, found on disk: a module boot imports lazily, e.g. the
    # protection layer's, would otherwise count its bytecode as data. Data a
    # module builds at import, e.g. tables, is RAM on the MCU too but counts
    # as bytecode here.)
    _import_firmware()
    gc.collect()
    m_mod = gc.mem_alloc()
    b = open_sim_board(board, clock=clock, realtime=False)
    _drop_sim_caches()
    gc.collect()
    m1 = gc.mem_alloc()
    # Firmware heap = what booting the firmware on an already-built (simulated)
    # board adds: drivers, rings, sample arrays, events, tasks' state.
    pdu = Pdu(b, clock=clock, power_on="none")
    _drop_sim_caches()
    gc.collect()
    heap_fw = gc.mem_alloc() - m1
    heap_sim = m1 - m0
    heap_modules = m_mod - m0
    plant = b.plant
    for n in range(1, 25):
        plant.plug(n, {"kind": ("psu", "smps", "resistive", "fan")[n % 4], "irms": 1.0 + 0.1 * n})
    pdu.acq.start()
    consumers = pdu.acq.consumers
    for sw in pdu.switches.values():
        sw.request(True, 0)
    for _ in range(5):  # let the coil pulses and contacts settle, draining as the firmware does
        clock.advance_us(10000)
        pdu.acq.poll()
    for sw in pdu.switches.values():
        sw.end_pulse()
    fs = b.desc.SAMPLE_RATE
    n = int(seconds * fs)
    step = 80
    # stage 1: plant alone
    t_plant = 0.0
    t_twins = 0.0
    t_drain = 0.0
    analog = b._analog
    pdu.acq.consumers = []  # drivers alone here; metrology has its own bench
    done = 0
    while done < n:
        c0 = time.ticks_us()
        bufs = plant.generate(step)
        c1 = time.ticks_us()
        for twin, names in analog:
            twin.on_samples([bufs[c] if c is not None else None for c in names], step)
        c2 = time.ticks_us()
        pdu.acq.poll()
        c3 = time.ticks_us()
        t_plant += time.ticks_diff(c1, c0)
        t_twins += time.ticks_diff(c2, c1)
        t_drain += time.ticks_diff(c3, c2)
        done += step
    # Heap once the firmware has run (snapshot frames, results and energy
    # filled in): the same signal again with the consumers (metrology) on.
    # The simulation reached its own steady heap in the stage above (load
    # models, relay state), so the growth over this stage is the firmware's.
    _drop_sim_caches()
    gc.collect()
    m2 = gc.mem_alloc()
    pdu.acq.consumers = consumers
    done = 0
    while done < n:
        bufs = plant.generate(step)
        for twin, names in analog:
            twin.on_samples([bufs[c] if c is not None else None for c in names], step)
        pdu.acq.poll()
        done += step
    _drop_sim_caches()
    gc.collect()
    heap_run = heap_fw + gc.mem_alloc() - m2
    res = {
        "board": board, "signal_s": seconds, "fs": fs,
        "samples_per_s": fs * (4 * len(pdu.adcs) + 7),
        "plant_cpu_per_signal_s": t_plant / 1e6 / seconds,
        "twins_cpu_per_signal_s": t_twins / 1e6 / seconds,
        "drivers_drain_cpu_per_signal_s": t_drain / 1e6 / seconds,
        "overruns": pdu.acq.overruns(),
        "frames": pdu.acq.frames_total,
        "firmware_heap_bytes_after_boot": heap_fw,
        "firmware_heap_bytes_running": heap_run,
        "sim_heap_bytes": m1 - m_mod,
        "module_bytecode_bytes": heap_modules,
        "outlets_on": pdu.outlets.count_on(),
    }
    print(json.dumps(res))


main(sys.argv[1:])

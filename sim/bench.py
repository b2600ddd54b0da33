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


def main(argv):
    board = argv[0] if argv else "sim24"
    seconds = float(argv[1]) if len(argv) > 1 else 5.0
    from firmware.boot import Pdu
    from firmware.clock import VirtualClock
    from boardconfig.board import open_board
    clock = VirtualClock()
    gc.collect()
    m0 = gc.mem_alloc()
    # Import every firmware module first: on the MCU they are frozen into
    # flash, so their bytecode is not heap. What remains is the firmware's data.
    import firmware.boot, firmware.config, firmware.records, firmware.energy, firmware.audit
    import firmware.calstore, firmware.timesync, firmware.eventring, metrology.meter, metrology.selfcheck
    import metrology.harmonics, drivers.ads131m04, drivers.ade9000, drivers.fram, drivers.sht4x
    import drivers.ntc, drivers.switch
    gc.collect()
    m_mod = gc.mem_alloc()
    b = open_board(board, clock=clock, realtime=False)
    gc.collect()
    m1 = gc.mem_alloc()
    # Firmware heap = what booting the firmware on an already-built (simulated)
    # board adds: drivers, rings, sample arrays, events, tasks' state.
    pdu = Pdu(b, clock=clock, power_on="none")
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
    gc.collect()
    res = {
        "board": board, "signal_s": seconds, "fs": fs,
        "samples_per_s": fs * (4 * len(pdu.adcs) + 7),
        "plant_cpu_per_signal_s": t_plant / 1e6 / seconds,
        "twins_cpu_per_signal_s": t_twins / 1e6 / seconds,
        "drivers_drain_cpu_per_signal_s": t_drain / 1e6 / seconds,
        "overruns": pdu.acq.overruns(),
        "frames": pdu.acq.frames_total,
        "firmware_heap_bytes_after_boot": heap_fw,
        "sim_heap_bytes": m1 - m_mod,
        "module_bytecode_bytes": heap_modules,
        "outlets_on": pdu.outlets.count_on(),
    }
    print(json.dumps(res))


main(sys.argv[1:])

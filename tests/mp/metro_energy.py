# Energy over one hour of signal, two ways (tests/test_metrology_energy.py):
#   sample   the metrology's sample path (kernel -> cycles -> seconds -> energy)
#            over 3600 s of ADS131M04 codes: a periodic block made in CPython,
#            replayed poll by poll (80 frames) through a minimal acquisition
#            stand-in (the data hand-off only: group buffers and chip names);
#   cycle    the plant's cycle-level sums (sim/plant.py step_cycles) credited
#            through Metrology.add_cycle_stats, checked first against the
#            sample-level chain (plant -> twins -> drivers -> metrology).
#   metro_energy.py sample BLOCK.bin FRAMES SECONDS
#   metro_energy.py cycle SECONDS LOADS   (LOADS: JSON {"outlet": {"kind": .., "irms": ..}})
import sys
import json
import time
from array import array


class Acq:
    """The acquisition's hand-off as metrology sees it (core/acquisition.py)."""

    def __init__(self, names, max_frames=256):
        self.adcs = [type("Adc", (), {"name": nm})() for nm in names]
        self.ade = None
        self.max_frames = max_frames
        self.group = [None for _ in names]
        self.n_group = 0
        self.inlet = array("i")
        self.n_inlet = 0
        self.consumers = []


def sample_run(path, frames, seconds):
    from boardconfig import sim24 as desc
    from core.energy import Energy
    from metrology.meter import Metrology
    blk = array("i", bytes(16 * frames))
    with open(path, "rb") as f:
        f.readinto(blk)
    mv = memoryview(blk)
    acq = Acq(["adc1"])
    m = Metrology(desc, harmonics=False)
    m.attach(acq)
    m.energy = Energy(None, m.energy_channels)
    total = int(seconds * 8000)
    pos = 0
    done = 0
    t0 = time.ticks_ms()
    while done < total:
        n = 80
        if pos + n > frames:
            n = frames - pos
        acq.group[0] = mv[4 * pos:4 * (pos + n)]
        acq.n_group = n
        m.consume(acq)
        pos += n
        if pos >= frames:
            pos = 0
        done += n
    u = m.unit("G1")
    out = {"mode": "sample", "seconds": seconds, "span_s": u.s_total / 8000.0, "wall_s": time.ticks_diff(time.ticks_ms(), t0) / 1000.0,
           "sec_frames": m.sec_seq, "energy": {}}
    for k in ("O1", "O2", "O3", "B1"):
        out["energy"][k] = [m.energy.get(k, i) for i in range(4)]
    out["p_last"] = {}
    for k in ("O1", "O2", "O3"):
        out["p_last"][k] = m.snapshot.get(k + ".p_w", "sec")
    print(json.dumps(out))


def cycle_run(seconds, spec):
    from sim.pdu import sim_pdu
    from core.energy import Energy
    from metrology.meter import Metrology
    pdu = sim_pdu("sim24", virtual=True, power_on="none")
    plant = pdu.board.plant
    loads = dict((int(k), v) for k, v in json.loads(spec).items())
    for k, ld in loads.items():
        plant.plug(k, ld)
        plant.weld(k)              # close the contacts without the power-on sequence
    m = Metrology(pdu.board.desc, clock=pdu.clock, harmonics=False)
    m.attach(pdu.acq)
    m.energy = Energy(None, m.energy_channels)
    pdu.acq.start()
    clock = pdu.clock
    while clock.now_us() < 2300000:
        clock.advance_us(10000)
        pdu.acq.poll()
    # sample level (snapshot) vs the plant's analytic sums of its latest whole cycle
    cs = plant.cycle_stats()
    chk = {}
    for k in loads:
        chk["O%d" % k] = [m.snapshot.get("O%d.p_w" % k, "sec"), cs.power("O%d-I" % k)]
    # one hour (or `seconds`) in cycle mode, credited second by second
    e0 = {}
    for k in loads:
        e0["O%d" % k] = m.energy.get("O%d" % k, 0)
    t_samples = 0
    t0 = time.ticks_ms()
    steps = 0
    while t_samples < seconds * 8000:
        st = plant.step_cycles(50)
        m.add_cycle_stats(st)
        t_samples += st.n
        steps += 1
    out = {"mode": "cycle", "check": chk, "samples": t_samples, "steps": steps,
           "wall_s": time.ticks_diff(time.ticks_ms(), t0) / 1000.0, "energy_mj": {}}
    for k in loads:
        out["energy_mj"]["O%d" % k] = m.energy.get("O%d" % k, 0) - e0["O%d" % k]
    print(json.dumps(out))


a = sys.argv[1:]
if a[0] == "sample":
    sample_run(a[1], int(a[2]), float(a[3]))
else:
    cycle_run(float(a[1]), a[2])

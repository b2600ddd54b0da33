# ADE9000 driver against its twin: one case per run (argv[1]), one JSON line out.
import sys
import json
import math
import time
import micropython
from array import array
from ade9000_rig import Rig, IA, VA, IB, VB, IC, VC, IN
from drivers.errors import AbsentError, IdError, CrcError, DeviceError
from drivers import ade9000 as A

case = sys.argv[1]
res = {"case": case}


def err_name(e):
    return type(e).__name__


def three_phase(r, f=50.0, v=(230.0, 228.0, 232.0), i=(10.0, 5.0, 20.0), lag=(30.0, -15.0, 60.0),
                i_n=3.0):
    for ph in range(3):
        r.set_sig(2 * ph + 1, v[ph], f, -120.0 * ph)
        r.set_sig(2 * ph, i[ph], f, -120.0 * ph - lag[ph])
    r.set_sig(IN, i_n, f, 17.0)
    return {"f": f, "v": v, "i": i, "lag": lag, "i_n": i_n}


if case == "begin":
    r = Rig()
    d = r.drv
    res["irq1_power_on"] = r.irq1.value()          # RSTDONE pending after power-on
    res["irq0_power_on"] = r.irq0.value()
    d.begin(f_nom=50)
    res["errors"] = d.errors.as_dict()
    res["version"] = d.version
    res["irq1_after"] = r.irq1.value()
    res["run"] = d.read_reg16(A.RUN)
    res["wfb_cfg"] = d.read_reg16(A.WFB_CFG)
    res["ep_cfg"] = d.read_reg16(A.EP_CFG)
    res["accmode"] = d.read_reg16(A.ACCMODE)
    res["pga"] = d.read_reg16(A.PGA_GAIN)
    # 16-bit and 32-bit write/readback, sign handling
    d.write_reg16(0x499, 0x1234)                   # ZXTHRSH
    res["w16"] = d.read_reg16(0x499)
    d.write_reg32(A.AIGAIN, 0xFEDCBA98)
    res["w32"] = d.read_reg32(A.AIGAIN)
    res["w32s"] = d.read_s32(A.AIGAIN)
    d.write_reg32(A.AIGAIN, 0)
    # read-only and unknown addresses behave like the chip
    d.write_reg32(A.PART_ID, 0)
    res["part_after_write"] = d.read_reg32(A.PART_ID)
    res["unknown"] = d.read_reg32(0x3F0)
    d.write_reg32(0x3F0, 0x55AA55AA)
    res["unknown2"] = d.read_reg32(0x3F0)
    # command header on the wire: LAST_CMD holds the last CMD_HDR
    d.read_reg32(A.AVRMS)
    res["last_cmd"] = d.read_reg16(A.LAST_CMD)
    # a write cut short by CS is not applied (register written only when complete)
    d.write_reg32(A.AVGAIN, 0x00001111)
    r.cs(0)
    r.spi.write(bytes([(A.AVGAIN << 4) >> 8, (A.AVGAIN << 4) & 0xFF, 0x12, 0x34]))
    r.cs(1)
    res["cut_write"] = d.read_reg32(A.AVGAIN)
    # CRC_SPI register equals the CRC the driver checked on the wire
    v = d.read_reg32(A.AVGAIN)
    from drivers.crc import crc16_ccitt
    res["crc_spi"] = d.read_reg16(A.CRC_SPI)
    res["crc_calc"] = crc16_ccitt(bytes([(v >> 24) & 255, (v >> 16) & 255, (v >> 8) & 255, v & 255]))
    res["errors_end"] = d.errors.as_dict()

elif case == "absent":
    out = {}
    r = Rig(attach=False)
    try:
        r.drv.begin()
        out["none"] = "ok"
    except Exception as e:
        out["none"] = err_name(e)
    out["none_errors"] = r.drv.errors.as_dict()
    r = Rig()
    r.twin.present = False
    try:
        r.drv.begin()
        out["unpowered"] = "ok"
    except Exception as e:
        out["unpowered"] = err_name(e)
    out["unpowered_errors"] = r.drv.errors.as_dict()
    res.update(out)

elif case == "identity":
    for key, kw in (("part", {"part_id": 0x00200000}), ("cfg5", {"config5": 0x0000})):
        r = Rig(twin_kw=kw)
        try:
            r.drv.begin()
            res[key] = "ok"
        except Exception as e:
            res[key] = err_name(e)
        res[key + "_errors"] = r.drv.errors.as_dict()

elif case == "reset":
    # boot that takes a few SPI transactions: polled until RSTDONE
    r = Rig()
    r.twin.rstdone_delay = 5
    r.drv.begin()
    res["slow_boot"] = r.drv.errors.as_dict()
    # boot during which the chip does not answer at all (MISO floats)
    r = Rig()
    r.twin.rstdone_delay = 5
    r.twin.boot_silent = True
    r.drv.begin()
    res["silent_boot"] = [r.drv.errors.as_dict(), r.drv.read_reg16(A.RUN)]
    # chip that never finishes its reset: bounded polls, timeout counted
    r = Rig()
    r.twin.rstdone_delay = -1
    try:
        r.drv.begin(polls=20)
        res["hang"] = "ok"
    except DeviceError as e:
        res["hang"] = err_name(e)
    res["hang_errors"] = r.drv.errors.as_dict()
    res["hang_polls"] = r.twin.transactions
    # no RESET pin: software reset through CONFIG1.SWRST restores defaults
    r = Rig(reset=False)
    d = r.drv
    d.write_reg32(A.AIGAIN, 0x01000000)
    before = d.read_reg32(A.AIGAIN)
    d.begin()
    res["sw_reset"] = [before, d.read_reg32(A.AIGAIN), d.read_reg16(A.RUN), d.errors.as_dict()]
    # hardware reset: RESET low then high restores defaults too
    r = Rig()
    d = r.drv
    d.write_reg32(A.AIGAIN, 0x01000000)
    d.reset()
    res["hw_reset"] = [d.read_reg32(A.AIGAIN), r.twin.reg(A.STATUS1) >> 16 & 1]

elif case == "crc":
    r = Rig()
    d = r.drv
    d.begin()
    d.write_reg32(A.AVGAIN, 0x00123456)
    r.twin.crc_corrupt = 1
    res["one"] = d.read_reg32(A.AVGAIN)
    res["one_errors"] = d.errors.crc
    r.twin.crc_corrupt = 2
    try:
        d.read_reg32(A.AVGAIN)
        res["two"] = "ok"
    except CrcError as e:
        res["two"] = err_name(e)
    res["two_errors"] = d.errors.crc
    d.crc_retries = 0
    r.twin.crc_corrupt = 1
    try:
        d.read_reg16(A.EP_CFG)
        res["r16"] = "ok"
    except CrcError as e:
        res["r16"] = err_name(e)
    res["r16_errors"] = d.errors.crc
    res["after"] = d.read_reg32(A.AVGAIN)

elif case == "wrong_mode":
    r = Rig(polarity=0, phase=0)
    try:
        r.drv.begin()
        res["mode0"] = "ok"
    except DeviceError as e:
        res["mode0"] = err_name(e)

elif case == "measure":
    f = float(sys.argv[2])
    f_nom = int(sys.argv[3])
    secs = float(sys.argv[4])
    r = Rig(f_nom=f_nom)
    r.drv.begin(f_nom=f_nom)
    res["sig"] = three_phase(r, f=f)
    r.run(int(secs * 8000))
    d = r.drv
    res["rms"] = [d.rms(ph) for ph in range(3)]
    res["in"] = d.neutral_rms()
    res["power"] = [d.power(ph) for ph in range(3)]
    res["freq"] = [d.frequency(ph) for ph in range(3)]
    res["period_reg"] = d.read_reg32(A.APERIOD)
    res["raw"] = [d.read_reg32(A.AVRMS), d.read_reg32(A.AIRMS), d.read_s32(A.AWATT)]
    res["errors"] = d.errors.as_dict()
    # energy: two reads one EGYRDY (1 s) apart in steady state
    e1 = [d.energy(ph) for ph in range(3)]
    r.run(8000)
    e2 = [d.energy(ph) for ph in range(3)]
    res["de"] = [[e2[ph][q] - e1[ph][q] for q in range(3)] for ph in range(3)]
    res["egyrdy"] = r.twin.reg(A.STATUS0) & 1

elif case == "nosignal":
    r = Rig()
    r.drv.begin(f_nom=60)
    r.run(4000)
    res["freq"] = r.drv.frequency(0)
    res["rms"] = r.drv.rms(0)

elif case == "wfb_exact":
    pga = int(sys.argv[2])
    r = Rig(pga=pga)
    d = r.drv
    d.begin()
    r.set_sig(IA, 12.0, 50.0, -20.0)
    r.set_sig(VA, 230.0, 50.0, 0.0, harm=(3, 0.05))
    r.set_sig(IB, 3.3, 50.0, -140.0)
    r.set_sig(VB, 231.0, 50.0, -120.0)
    r.set_sig(IC, 0.7, 150.0, 33.0)
    r.set_sig(VC, 229.0, 50.0, 120.0)
    r.set_sig(IN, 1.9, 250.0, 5.0)
    r.record = [[] for _ in range(7)]
    out = array("i", bytes(4 * 7 * 256))
    got = []
    cs_low = [0]

    def on_cs(p, lv):
        if lv == 0:
            cs_low[0] += 1
    r.cs.watch(on_cs)
    per = []

    def each():
        c0 = cs_low[0]
        n = d.drain(out, 256)
        per.append((n, cs_low[0] - c0))
        got.extend(out[:7 * n])
    r.run(800, each)          # 10 ms blocks, 0.1 s
    res["pga"] = pga
    res["scale_q24"] = [r.twin.scale_q24(ch) for ch in range(7)]
    res["inputs"] = r.record
    res["codes"] = got
    res["per_drain"] = per
    res["errors"] = d.errors.as_dict()

elif case == "overrun":
    r = Rig()
    d = r.drv
    d.begin()
    r.set_sig(VA, 230.0, 50.0)
    r.set_sig(IA, 10.0, 50.0, -10.0)
    r.record = [[] for _ in range(7)]
    out = array("i", bytes(4 * 7 * 256))
    log = []
    r.run(160)                        # 20 ms, then drained: nothing lost
    n = d.drain(out, 256)
    log.append([n, d.errors.overrun, r.irq0.value(), out[0], out[1]])
    r.run(240)                        # 30 ms late: 15 pages pending, still intact
    n = d.drain(out, 256)
    log.append([n, d.errors.overrun, r.irq0.value(), out[0], out[1]])
    r.run(400)                        # 50 ms late: the reader was lapped
    irq_low = r.irq0.value()
    ev = d.irq0_events
    t_abs = r.n
    n = d.drain(out, 256)
    log.append([n, d.errors.overrun, irq_low, out[0], out[1]])
    res["after_gap"] = [out[7 * k + 1] for k in range(n)]
    res["after_gap_end"] = t_abs
    res["irq0_events"] = ev
    res["irq0_after"] = r.irq0.value()
    res["gap"] = d.gap
    r.run(80)
    n = d.drain(out, 256)
    log.append([n, d.errors.overrun, r.irq0.value(), out[0], out[1]])
    res["log"] = log
    res["va"] = r.record[VA]
    res["ia"] = r.record[IA]
    res["scale_q24"] = [r.twin.scale_q24(ch) for ch in range(7)]

elif case == "calibration":
    r = Rig()
    d = r.drv
    d.begin()
    three_phase(r, v=(230.0, 230.0, 230.0), i=(10.0, 10.0, 10.0), lag=(0.0, 60.0, 0.0))
    r.twin.set_phase_error(IB, 1.0)         # the CT on phase B delays its current by 1 deg
    r.run(12000)
    base = [d.rms(ph) + d.power(ph) for ph in range(3)]
    d.set_calibration(0, vgain=1.01, igain=0.98, pgain=1.02)
    d.set_calibration(1, phcal_deg=1.0)
    d.set_calibration(2, pgain=0.95)
    regs = [d.read_s32(A.AVGAIN), d.read_s32(A.AIGAIN), d.read_s32(A.APGAIN),
            d.read_s32(A.APHCAL0 + 0x20), d.read_s32(A.APGAIN + 0x40)]
    r.run(12000)
    cal = [d.rms(ph) + d.power(ph) for ph in range(3)]
    res["base"] = base
    res["cal"] = cal
    res["regs"] = regs
    res["phcal_code"] = A.phcal_code(1.0, 50.0)
    res["errors"] = d.errors.as_dict()

elif case == "inject":
    r = Rig()
    d = r.drv
    d.begin()
    r.set_sig(VA, 230.0, 50.0)
    r.set_sig(IA, 10.0, 50.0, 0.0)
    r.set_sig(VB, 230.0, 50.0, -120.0)
    r.set_sig(IB, 10.0, 50.0, -120.0)
    r.twin.set_gain_error(VB, 0.004)
    r.twin.set_phase_error(IB, 2.0)
    r.twin.set_offset(IC, 4000)           # IC has no signal: offset then noise are all it sees
    r.twin.set_noise(IN, 5000.0)
    out = array("i", bytes(4 * 7 * 256))
    acc = {"n": 0, "ic": set(), "s": 0, "ss": 0}

    def each():
        n = d.drain(out, 256)
        for k in range(n):
            acc["ic"].add(out[7 * k + IC])
            x = out[7 * k + IN]
            acc["s"] += x
            acc["ss"] += x * x
        acc["n"] += n
    r.run(12000, each)
    res["rms"] = [d.rms(ph) for ph in range(2)]
    res["power"] = [d.power(ph) for ph in range(2)]
    nsets = acc["n"]
    res["nsets"] = nsets
    res["ic_codes"] = sorted(acc["ic"])
    res["in_mean"] = acc["s"] / nsets
    res["in_rms"] = math.sqrt(acc["ss"] / nsets)
    res["in_rms_reg"] = d.read_reg32(A.NIRMS)

elif case == "facts":
    # The points tests/test_driver_facts.py pins to the ADE9000 data sheet.
    r = Rig(pga=4)
    d = r.drv
    d.begin()
    res["pga_reg"] = d.read_reg16(A.PGA_GAIN)
    res["ep_cfg"] = d.read_reg16(A.EP_CFG)
    res["geometry"] = [A.SET_WORDS, A.BURST_SET_WORDS, A.SETS_PER_PAGE, A.PAGES]
    # stored sets: word k of set s holds s * 16 + k (slot 7 unused: 0x7777)
    tw = r.twin
    for st in range(256):
        for k in range(8):
            tw.wfb[8 * st + k] = 0x7777 if k == 7 else st * 16 + k
    out = array("i", bytes(4 * 7 * 32))
    d._burst(2, 2)                                  # pages 2 and 3: sets 32..63
    from drivers.ade9000 import _unpack
    _unpack(d._brx, 2, 32, out, 0)
    res["burst_pages_2_3"] = list(out)
    # with WF_IN_EN = 0 a burst returns 6 words per set
    d.write_reg16(A.WFB_CFG, d.read_reg16(A.WFB_CFG) & ~A.WFB_CFG_IN_EN)
    buf = bytearray(2 + 4 * 12)
    hdr = ((A.WFB_BASE + 8) << 4) | 0x08            # from set 1
    buf[0], buf[1] = hdr >> 8, hdr & 0xFF
    r.cs(0)
    r.spi.write_readinto(buf, buf)
    r.cs(1)
    res["burst_6"] = [int.from_bytes(buf[2 + 4 * j:6 + 4 * j], "big") for j in range(12)]
    # energy: the 13 LSBs are bits 12:0 of xWATTHR_LO
    tw._r[0x2E7] = 0x12345
    tw._r[0x2E6] = 0x1ABC
    res["energy_raw"] = d._read_energy_raw(0, 0)
    res["egy_time"] = d.read_reg16(A.EGY_TIME)

elif case == "heap":
    r = Rig()
    d = r.drv
    d.begin()
    three_phase(r)
    out = array("i", bytes(4 * 7 * 256))
    r.run(160)
    d.drain(out, 256)                 # warm-up outside the lock
    got = []
    for late in (80, 240, 400):       # normal, 30 ms late, lapped (overrun path)
        r.run(late)
        micropython.heap_lock()
        try:
            n = d.drain(out, 256)
            e = None
        except Exception as ex:
            n = -1
            e = repr(ex)
        micropython.heap_unlock()
        got.append([n, e])
    res["drains"] = got
    res["overrun"] = d.errors.overrun

elif case == "perf":
    r = Rig()
    d = r.drv
    d.begin()
    three_phase(r)
    for ch in range(7):
        r.twin.set_noise(ch, 100.0)
    r.twin.set_phase_error(IA, 0.5)
    # precompute 1 s of inputs so only the twin is timed
    out = array("i", bytes(4 * 7 * 256))
    m = 40                            # sim24's plant block (5 ms)
    sig = []
    for ch in range(7):
        a, w, ph, harm = r.sig[ch]
        x = array("i", bytes(4 * 8000))
        for k in range(8000):
            x[k] = int(a * math.sin(w * k + ph))
        sig.append(memoryview(x))
    blocks = [[sig[ch][n:n + m] for ch in range(7)] for n in range(0, 8000, m)]
    t0 = time.ticks_us()
    for ins in blocks:
        r.twin.on_samples(ins, m)
    t_twin = time.ticks_diff(time.ticks_us(), t0)
    # driver side: 100 drains per second of signal (10 ms poll)
    t_drain = 0
    for k in range(100):
        for ins in blocks[2 * k:2 * k + 2]:
            r.twin.on_samples(ins, m)
        t0 = time.ticks_us()
        d.drain(out, 256)
        t_drain += time.ticks_diff(time.ticks_us(), t0)
    res["twin_s_per_s"] = t_twin / 1e6
    res["drain_s_per_s"] = t_drain / 1e6
    res["errors"] = d.errors.as_dict()

print(json.dumps(res))

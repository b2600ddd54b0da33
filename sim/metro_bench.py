# MicroPython side of tools/bench_metrology.py (unix port): the metrology
# pipeline alone on sim24-shaped acquisition buffers (8 ADS131M04 groups of
# [v, i1, i2, i3] + the ADE9000's 7-channel sets), no plant, twins or drivers.
# Prints one JSON object.
#
#   metro_bench.py full SECONDS      whole-board Metrology.consume() per 10 ms poll
#   metro_bench.py kernel BLOCKS     viper kernel only on one 4-channel block of 80
#                                    frames, BLOCKS times (callgrind runs this twice)
#   metro_bench.py python SECONDS    plain-Python kernel (same per-sample work) on
#                                    one group, for comparison
import sys
import json
import math
import time
import gc
from array import array

FS = 8000
POLL = 80                  # frames per 10 ms poll
BLOCK = 1600               # 0.2 s of frames (10 cycles at 50 Hz), repeated


def _cpu():
    with open("/proc/self/stat") as f:
        p = f.read().split(")")[-1].split()
    return (int(p[11]) + int(p[12])) / 100.0


class _Ade:
    """Scaling the metrology reads from the ADE9000 driver (sim24 front end)."""
    v_per_sample = 991.0 / 74518668
    i_per_sample = 2500.0 / 15.0 / 74518668


class _Acq:
    def __init__(self, ngroups, ade):
        self.adcs = [type("Adc", (), {"name": "adc%d" % (k + 1)})() for k in range(ngroups)]
        self.ade = ade
        self.max_frames = 256
        self.group = [None] * ngroups
        self.n_group = 0
        self.inlet = None
        self.n_inlet = 0
        self.consumers = []


def _signals():
    """One second of codes: group k: 230 V + three loads; inlet: three phases."""
    vk = 1.2 / 8388608 * (2000000.0 + 1500.0) / 1500.0
    ik = 1.2 / 8388608 * 1000.0 / 12.0
    grp = []
    for g in range(8):
        b = array("i", bytes(16 * BLOCK))
        ph = -2 * math.pi / 3 * (g // 3)
        for j in range(BLOCK):
            w = 2 * math.pi * 50.0 * j / FS + ph
            b[4 * j] = int(230 * 1.4142 * math.sin(w) / vk)
            b[4 * j + 1] = int((2.0 + g) * 1.4142 * math.sin(w - 0.3) / ik)
            b[4 * j + 2] = int(4.0 * 1.4142 * (math.sin(w) + 0.3 * math.sin(3 * w)) / ik)
            b[4 * j + 3] = int(1.0 * 1.4142 * math.sin(w + 0.5) / ik)
        grp.append(b)
    inl = array("i", bytes(28 * BLOCK))
    vs = _Ade.v_per_sample
    cs = _Ade.i_per_sample
    for j in range(BLOCK):
        w = 2 * math.pi * 50.0 * j / FS
        for p in range(3):
            a = w - 2 * math.pi / 3 * p
            inl[7 * j + 2 * p + 1] = (int(230 * 1.4142 * math.sin(a) / vs) >> 4) << 4
            inl[7 * j + 2 * p] = (int(20.0 * 1.4142 * math.sin(a - 0.2) / cs) >> 4) << 4
        inl[7 * j + 6] = 0
    return grp, inl


def full(seconds):
    from boardconfig import sim24 as desc
    from metrology.meter import Metrology
    grp, inl = _signals()
    gm = [memoryview(b) for b in grp]
    im = memoryview(inl)
    acq = _Acq(8, _Ade())
    gc.collect()
    h0 = gc.mem_alloc()
    m = Metrology(desc)
    m.attach(acq)
    gc.collect()
    h1 = gc.mem_alloc()
    views = []
    for p in range(0, BLOCK, POLL):
        views.append(([gm[k][4 * p:4 * (p + POLL)] for k in range(8)], im[7 * p:7 * (p + POLL)]))
    polls = int(seconds * FS / POLL)
    t_py = 0
    c0 = _cpu()
    t0 = time.ticks_us()
    for k in range(polls):
        gv, iv = views[k % len(views)]
        acq.group = gv
        acq.n_group = POLL
        acq.inlet = iv
        acq.n_inlet = POLL
        m.consume(acq)
    wall = time.ticks_diff(time.ticks_us(), t0) / 1e6
    cpu = _cpu() - c0
    # live heap after the run, and the garbage made per second of signal
    # (0.2 s with the collector off)
    gc.collect()
    live = gc.mem_alloc() - h0
    gc.disable()
    a0 = gc.mem_alloc()
    for k in range(polls, polls + 20):
        gv, iv = views[k % len(views)]
        acq.group = gv
        acq.n_group = POLL
        acq.inlet = iv
        acq.n_inlet = POLL
        m.consume(acq)
    garbage = (gc.mem_alloc() - a0) * 5
    gc.enable()
    # peak live heap: the high-water mark of what metrology holds, over 2 s of
    # signal (windows, seconds and harmonic analyses all close in that span)
    peak = 0
    for k in range(polls + 20, polls + 220):
        gv, iv = views[k % len(views)]
        acq.group = gv
        acq.n_group = POLL
        acq.inlet = iv
        acq.n_inlet = POLL
        m.consume(acq)
        gc.collect()
        x = gc.mem_alloc() - h0
        if x > peak:
            peak = x
    nch = 0
    for u in m.units:
        nch += u.nch
    print(json.dumps({"mode": "full", "signal_s": polls * POLL / FS, "wall_s": wall, "cpu_s": cpu,
                      "cpu_per_signal_s": wall / (polls * POLL / FS),
                      "units": len(m.units), "unit_channels": nch,
                      "sample_channels_per_s": nch * FS,
                      "heap_metrology_bytes": h1 - h0, "heap_live_after_run_bytes": live,
                      "garbage_bytes_per_signal_s": garbage, "heap_peak_live_bytes": peak,
                      "windows": m.win_seq, "seconds": m.sec_seq,
                      "harmonics": m.harmonics.analyses if m.harmonics else 0}))


def kernel_only(blocks):
    from metrology import kernel as K
    from metrology.windows import Unit, Chan
    grp, inl = _signals()
    vk = 1.2 / 8388608 * (2000000.0 + 1500.0) / 1500.0
    ch = [Chan(c, 24, 8, 8388607, vk) for c in range(4)]
    u = Unit("b", ch, 4)
    mv = memoryview(grp[0])
    st = u.st
    cfg = u.cfg
    tab = K.TAB
    n = 0
    for b in range(blocks):
        p = (b * POLL) % BLOCK
        blk = mv[4 * p:4 * (p + POLL)]
        i = 0
        while i < POLL:
            i = K.kernel(st, cfg, blk, tab, i, POLL, K.SCRATCH)
            if st[K.S_REASON]:
                K.acc_reset(st, 4)
                st[K.S_CNT] = 0
        n += POLL
    print(json.dumps({"mode": "kernel", "frames": n, "channels": 4}))


def python_kernel(buf, start, n, st, v_off, offs):
    """The kernel's per-sample work in plain Python (no delay, no crossing
    logic beyond a sign test): the reference for what viper buys."""
    sx = st["sx"]
    sxx = st["sxx"]
    svi = st["svi"]
    sxc = st["sxc"]
    sxs = st["sxs"]
    ph = st["ph"]
    step = st["step"]
    cosT = st["cos"]
    for i in range(start, n):
        b = 4 * i
        k = (ph >> 22) & 255
        cv = cosT[k]
        sv = cosT[(k + 192) & 255]
        v = (buf[b + v_off] + 128) >> 8
        for c in range(4):
            x = (buf[b + c] + 128) >> 8
            sx[c] += x
            sxx[c] += x * x
            svi[c] += x * v
            sxc[c] += x * cv
            sxs[c] += x * sv
        ph = (ph + step) & 0x3FFFFFFF
    st["ph"] = ph


def python(seconds):
    grp, inl = _signals()
    cosT = [int(32767 * math.cos(2 * math.pi * k / 256)) for k in range(256)]
    st = {"sx": [0] * 4, "sxx": [0] * 4, "svi": [0] * 4, "sxc": [0] * 4, "sxs": [0] * 4, "ph": 0,
          "step": int((1 << 30) / 160), "cos": cosT}
    b = grp[0]
    total = int(seconds * FS)
    t0 = time.ticks_us()
    done = 0
    while done < total:
        python_kernel(b, done % BLOCK, done % BLOCK + POLL, st, 0, None)
        done += POLL
    wall = time.ticks_diff(time.ticks_us(), t0) / 1e6
    print(json.dumps({"mode": "python", "signal_s": seconds, "channels": 4, "wall_s": wall,
                      "cpu_per_signal_s": wall / seconds}))


a = sys.argv[1:]
if a[0] == "full":
    full(float(a[1]))
elif a[0] == "kernel":
    kernel_only(int(a[1]))
else:
    python(float(a[1]))

# Throughput of twin encode (analog model + frames into the ring) and driver
# drain for the whole board: 8 chips x 8000 frames per second of signal.
import time
from array import array
from ads131m04_rig import Rig, emit, sine_array

FS = 8000
BLOCK = 80
r = Rig(n=8)
v = sine_array(FS, 325e6)
i = sine_array(FS, 20e6, phase=0.5)
for d in r.drivers:
    d.begin()
for t in r.twins:
    t.attach_dma(next(d for d in r.drivers if d.name == t.name).ring)
    for ch in range(4):
        t.set_noise(ch, 3.0)
    t.set_phase_error(1, 0.3)
    t.set_gain_error(2, 0.001)
blocks = [[v[s:s + BLOCK], i[s:s + BLOCK], i[s:s + BLOCK], i[s:s + BLOCK]]
          for s in range(0, FS, BLOCK)]
out = array("i", bytes(16 * 256))
best = None
for rep in range(3):
    te = 0
    td = 0
    for blk in blocks:
        a = time.ticks_us()
        for t in r.twins:
            t.on_samples(blk, BLOCK)
        b = time.ticks_us()
        for d in r.drivers:
            d.drain(out, 256)
        c = time.ticks_us()
        te += time.ticks_diff(b, a)
        td += time.ticks_diff(c, b)
    frames = FS * len(r.twins)
    cur = (te / frames, td / frames)
    if best is None or sum(cur) < sum(best):
        best = cur
errs = sum(d.errors.crc + d.errors.overrun + d.ring.overruns for d in r.drivers)
emit(what="perf", encode_us=best[0], drain_us=best[1], total_us=best[0] + best[1],
     frames_per_s=FS * len(r.twins), errors=errs,
     cpu_fraction=(best[0] + best[1]) * FS * len(r.twins) / 1e6)

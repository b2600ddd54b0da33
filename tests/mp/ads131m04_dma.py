# Simulated DMA into the FrameRing + drain(): exact codes for known inputs,
# ring overrun, CRC errors, analog error injection, PGA/OSR/MUX/calibration.
from array import array
from ads131m04_rig import Rig, emit, lcg_array, sine_array, frames_hex

BLOCK = 80


def run(rig, inputs, n, block=BLOCK, drain=True):
    """Feed n samples in blocks; drain after each block. Returns drained codes."""
    d, t = rig.d, rig.t
    out = array("i", bytes(16 * 256))
    got = []
    for s in range(0, n, block):
        m = min(block, n - s)
        t.on_samples([None if x is None else x[s:s + m] for x in inputs], m)
        if drain:
            k = d.drain(out, 256)
            got.extend(out[:4 * k])
    return got


N = 400
ch0 = sine_array(N, 2000e6)                        # +/-2000 V: beyond +/-1601 V full scale
ch1 = lcg_array(N, 7, -150000000, 150000000)      # +/-150 A: beyond +/-100 A
ch3 = sine_array(N, 22.6e6, phase=0.3)
inputs = [ch0, ch1, None, ch3]

r = Rig()
r.d.begin()
r.t.attach_dma(r.d.ring)
first = r.d.ring.wr
r.t.on_samples([x[:3] if x is not None else None for x in inputs], 3)
raw3 = frames_hex(r.d.ring, first, 3)
out = array("i", bytes(16 * 8))
k = r.d.drain(out, 8)
codes = list(out[:4 * k])
codes += run(r, [x[3:] if x is not None else None for x in inputs], N - 3)
emit(what="exact", inputs=[list(x) if x is not None else None for x in inputs], codes=codes,
     raw=raw3, status=r.d.status, errors=r.d.errors.as_dict(), overruns=r.d.ring.overruns,
     afe=[float(a) for a in r.t.afe], conversions=r.t.conversions)

# ring full: 40 conversions into a 16-frame ring nobody drains
r = Rig(ring_frames=16)
r.d.begin()
r.t.attach_dma(r.d.ring)
r.t.on_samples(inputs, 40)
cnt = r.d.ring.count()
out = array("i", bytes(16 * 64))
k = r.d.drain(out, 64)
emit(what="ring_full", count=cnt, overruns=r.d.ring.overruns, drained=k, codes=list(out[:4 * k]),
     twin_conv=r.t.conversions, errors=r.d.errors.as_dict())

# CRC errors: counted, samples held so the stream stays aligned
r = Rig()
r.d.begin()
r.t.attach_dma(r.d.ring)
a = run(r, inputs, 5)
r.t.corrupt_crc(3)
b = run(r, [x[5:] if x is not None else None for x in inputs], 10)
emit(what="crc_hold", a=a, b=b, crc=r.d.errors.crc, expect_from=5)

# error injection on a 50 Hz test signal, 10 cycles
M = 1600
v = sine_array(M, 300e6)                      # 300 V peak
i = sine_array(M, 20e6)                       # 20 A peak
r = Rig(seed=3)
r.d.begin()
r.t.attach_dma(r.d.ring)
r.t.set_phase_error(1, 1.0)                   # ch1 lags 1 deg at 50 Hz
r.t.set_gain_error(2, 0.01)                   # ch2 reads 1 % high
r.t.set_offset(3, 1000)                       # ch3 +1000 codes
got = run(r, [v, i, i, i], M)
emit(what="inject", codes=got)
r = Rig(seed=3)
r.d.begin(phase=(0, 256, -128, 0))            # PHASEn: +256 tMOD = half a sample later
r.t.attach_dma(r.d.ring)
r.t.set_phase_error(3, -0.5)                  # a lead (CT-like)
got = run(r, [v, v, v, v], M)
emit(what="phase_reg", codes=got)
for seed in (5, 5, 6):
    r = Rig(seed=seed)
    r.d.begin()
    r.t.attach_dma(r.d.ring)
    r.t.set_noise(0, 50.0)
    r.t.set_noise(2, 3.0)
    got = run(r, [None, None, None, None], M)
    emit(what="noise", seed=seed, codes=got)

# PGA gains and lsb_volts
r = Rig()
r.d.begin(gains=(1, 2, 8, 128))
r.t.attach_dma(r.d.ring)
small = sine_array(160, 10e6)                  # 10 V / 10 A peak
got = run(r, [small, small, small, small], 160)
emit(what="gains", codes=got, lsb=[r.d.lsb_volts(c) for c in range(4)])

# OSR 1024: 4 kSPS from the 8 kSPS plant (every other sample)
r = Rig()
r.d.begin(osr=1024)
r.t.attach_dma(r.d.ring)
ramp = array("i", [100000 * n for n in range(80)])
got = run(r, [ramp, ramp, ramp, ramp], 80)
r2 = Rig()
r2.d.begin()
r2.t.attach_dma(r2.d.ring)
ref = run(r2, [ramp, ramp, ramp, ramp], 80)
r3 = Rig()
r3.d.begin(osr=16256)
try:
    r3.t.on_samples([ramp, ramp, ramp, ramp], 80)
    odd = None
except ValueError as e:
    odd = str(e)
emit(what="osr", codes=got, ref=ref, conv=r.t.conversions, odd=odd)

# channel disable, MUX (shorted / test signals), OCAL/GCAL
from drivers import ads131m04 as A
r = Rig()
d, t = r.d, r.t
d.begin()
t.attach_dma(d.ring)
d.wreg(A.REG_CLOCK, 0x0B0A)                        # CH2 off
d.wreg(A.REG_CH0_CFG, 1)                           # ch0 inputs shorted
d.wreg(A.REG_CH0_CFG + 5, 2)                       # ch1 positive test signal
d.wreg(A.REG_CH0_CFG + 15, 3)                      # ch3 negative test signal
t.set_offset(0, 7)
got1 = run(r, [small, small, small, small], 4)
d.wreg(A.REG_CLOCK, 0x0F0A)
for c in range(4):
    d.wreg(A.REG_CH0_CFG + 5 * c, 0)
t.set_offset(0, 0)
d.wreg(A.REG_CH0_OCAL_MSB + 10, 0x0000)            # ch2 OCAL = +100 codes
d.wreg(A.REG_CH0_OCAL_LSB + 10, 0x6400)
d.wreg(A.REG_CH0_GCAL_MSB + 10, 0x4000)            # ch2 GCAL = 0.5
big = sine_array(8, 50e6)
got2 = run(r, [big, big, big, big], 8)
emit(what="mux_cal", off=got1, cal=got2, big=list(big))

# extreme codes through the driver's 24-bit unpacking
r = Rig()
r.d.begin()
r.t.attach_dma(r.d.ring)
r.t.set_offset(2, -1)
r.t.set_offset(3, 1)
hi = array("i", [2000000000] * 4)
lo = array("i", [-2000000000] * 4)
got = run(r, [hi, lo, None, None], 4)
emit(what="extremes", codes=got)

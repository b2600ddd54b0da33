# DRDY interrupt path: sim Pin IRQ -> driver.irq_handler -> SPI frames from the
# twin's FIFO into the ring. Late hosts, a full ring, a shared DRDY line.
from array import array
from ads131m04_rig import Rig, Mask, emit, lcg_array, sine_array

N = 400
ch0 = sine_array(N, 2000e6)
ch1 = lcg_array(N, 7, -150000000, 150000000)
ch3 = sine_array(N, 22.6e6, phase=0.3)
inputs = [ch0, ch1, None, ch3]


def sl(a, b):
    return [None if x is None else x[a:b] for x in inputs]


def drain_all(d):
    out = array("i", bytes(16 * 512))
    k = d.drain(out, 512)
    return list(out[:4 * k])


# every conversion, in order
r = Rig(ring_frames=512)
d, t = r.d, r.t
d.begin()
f0 = t.frames
r.drdy.irq(d.irq_handler, r.drdy.IRQ_FALLING)
for s in range(0, N, 80):
    t.on_samples(sl(s, s + 80), 80)
emit(what="order", codes=drain_all(d), errors=d.errors.as_dict(), lost=t.lost,
     ring_overruns=d.ring.overruns, drdy=r.drdy.value(), conversions=t.conversions,
     frames=t.frames - f0)

# a host late by one period: both queued conversions arrive, the lateness is counted
r = Rig(ring_frames=512)
d, t = r.d, r.t
d.begin()
m = Mask(r.drdy, d.irq_handler)
t.on_samples(sl(0, 3), 3)                  # on time
m.mask()
t.on_samples(sl(3, 5), 2)                  # two conversions while IRQs are off
drdy_masked = r.drdy.value()
m.unmask()
late1 = dict(overrun=d.errors.overrun, lost=t.lost, drdy=r.drdy.value(), count=d.ring.count())
t.on_samples(sl(5, 6), 1)
m.mask()
t.on_samples(sl(6, 10), 4)                 # four: the FIFO keeps the last two
m.unmask()
late3 = dict(overrun=d.errors.overrun, lost=t.lost, drdy=r.drdy.value(), count=d.ring.count())
t.on_samples(sl(10, 12), 2)
emit(what="late", drdy_masked=drdy_masked, late1=late1, late3=late3, codes=drain_all(d),
     errors=d.errors.as_dict())

# DRDY stays low after a read while a second conversion is queued
r = Rig()
d, t = r.d, r.t
d.begin()
t.on_samples(sl(0, 2), 2)
levels = [r.drdy.value()]
st1 = d.read_frame()
levels.append(r.drdy.value())
c1 = list(d.codes)
st2 = d.read_frame()
levels.append(r.drdy.value())
c2 = list(d.codes)
st3 = d.read_frame()                        # nothing queued: old data, DRDYn clear
emit(what="fifo_levels", levels=levels, status=[st1, st2, st3], c1=c1, c2=c2,
     c3=list(d.codes))

# ring full on the IRQ path: the chip is still read (DRDY clears), frames are lost
r = Rig(ring_frames=8)
d, t = r.d, r.t
d.begin()
r.drdy.irq(d.irq_handler, r.drdy.IRQ_FALLING)
t.on_samples(sl(0, 12), 12)
emit(what="irq_ring_full", count=d.ring.count(), overruns=d.ring.overruns, lost=t.lost,
     drdy=r.drdy.value(), codes=drain_all(d), overrun=d.errors.overrun)


# three chips on one wired-AND DRDY line, converting together (shared CLKIN)
def together(rig, m, a, b):
    m.mask()
    for k in range(len(rig.twins)):
        x = sl(a, b)
        rig.twins[k].on_samples(x, b - a)
    m.unmask()


from drivers.ads131m04 import ADS131M04
r = Rig(n=3, ring_frames=64)
for k, d in enumerate(r.drivers):
    d.begin(drdy_open_drain=True)
    r.twins[k].set_offset(2, 10 * k)        # tells the chips' frames apart
h = ADS131M04.group_handler(r.drivers, r.drdy)
m = Mask(r.drdy, h)
together(r, m, 0, 1)
together(r, m, 1, 2)
together(r, m, 2, 4)                       # the whole group one period late
together(r, m, 4, 5)
emit(what="group", codes=[drain_all(d) for d in r.drivers],
     overrun=[d.errors.overrun for d in r.drivers], lost=[t.lost for t in r.twins],
     drdy=r.drdy.value(), mode=[t.regs[2] for t in r.twins])

# per-chip handlers on the shared line (the simple board loop): still one frame
# per conversion per chip, paid for with extra reads of chips already read
r = Rig(n=3, ring_frames=64)
for k, d in enumerate(r.drivers):
    d.begin()
    r.twins[k].set_offset(2, 10 * k)
hs = tuple(d.irq_handler for d in r.drivers)


def loop(pin):
    for hh in hs:
        hh(pin)


m = Mask(r.drdy, loop)
f0 = [t.frames for t in r.twins]
for s in range(5):
    together(r, m, s, s + 1)
emit(what="per_chip_shared", codes=[drain_all(d) for d in r.drivers],
     overrun=[d.errors.overrun for d in r.drivers],
     frames=[r.twins[k].frames - f0[k] for k in range(3)])

# DRDY_FMT: level (default) stays low until read, pulse returns high by itself;
# each unread conversion is still a falling edge (the tw(DRH) pulse in level mode)
from drivers import ads131m04 as A
for fmt in (0, 1):
    r = Rig()
    r.d.begin()
    r.d.wreg(A.REG_MODE, 0x0110 | fmt)
    edges = [0]

    def count(pin):
        edges[0] += 1

    r.drdy.irq(count, r.drdy.IRQ_FALLING)
    r.t.on_samples(sl(0, 3), 3)
    emit(what="drdy_format", fmt=fmt, edges=edges[0], level=r.drdy.value())

# Allocation-free hot paths: drain(), irq_handler() (with the late-host catch-up
# and the full-ring path) and the group handler run under micropython.heap_lock(),
# through the real sim SPI bus and twin.
import micropython
from array import array
from ads131m04_rig import Rig, Mask, emit, sine_array
from drivers.ads131m04 import ADS131M04

x = sine_array(600, 20e6)
ins = [x, x, x, x]


def locked(fn):
    def h(pin):
        micropython.heap_lock()
        try:
            fn(pin)
        finally:
            micropython.heap_unlock()
    return h


res = {}
# irq_handler: normal reads, a late host (catch-up) and a full ring (scratch)
r = Rig(ring_frames=256)
d, t = r.d, r.t
d.begin()
m = Mask(r.drdy, locked(d.irq_handler))
t.on_samples([a[0:100] for a in ins], 100)       # warm: first calls may cache
m.mask()
t.on_samples([a[100:102] for a in ins], 2)
m.unmask()                                        # catch-up under the lock
t.on_samples([a[102:400] for a in ins], 298)      # ring fills: scratch reads
res["irq"] = dict(count=d.ring.count(), overruns=d.ring.overruns, overrun=d.errors.overrun)

# drain: a whole ring in one call, with a corrupted frame inside
out = array("i", bytes(16 * 256))
t.attach_dma(d.ring)
d.drain(out, 256)
t.on_samples([a[0:10] for a in ins], 10)
t.corrupt_crc(2)
t.on_samples([a[10:256] for a in ins], 246)
d.drain(out, 1)                                   # warm
micropython.heap_lock()
try:
    n = d.drain(out, 256)
finally:
    micropython.heap_unlock()
res["drain"] = dict(n=n, crc=d.errors.crc)

# group handler on a shared line
r = Rig(n=3, ring_frames=64)
for dd in r.drivers:
    dd.begin(drdy_open_drain=True)
h = locked(ADS131M04.group_handler(r.drivers, r.drdy))
m = Mask(r.drdy, h)
for s in range(6):
    m.mask()
    for tt in r.twins:
        tt.on_samples([a[s:s + 1 + (s == 3)] for a in ins], 1 + (s == 3))
    m.unmask()
res["group"] = dict(count=[dd.ring.count() for dd in r.drivers],
                    overrun=[dd.errors.overrun for dd in r.drivers])
emit(what="heap", **res)

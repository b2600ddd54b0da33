# Shared set-up for the ADS131M04 MicroPython test scripts: one SPI bus in
# mode 1, twins behind chip selects, drivers in front, the board's AFE scaling.
import json
from array import array
from sim import hw
from sim.twin_ads131m04 import Ads131m04Twin
from drivers.ads131m04 import ADS131M04

V = {"gain": 1, "divider": (2000000.0 + 1500.0) / 1500.0}
I = {"gain": 1, "ct_ratio": 1000.0, "burden": 12.0}
AFE = [1.0 / V["divider"]] + [I["burden"] / I["ct_ratio"]] * 3


class Rig:
    def __init__(self, n=1, mode=(0, 1), twin_cls=Ads131m04Twin, ring_frames=256, seed=1,
                 sync_reset=False, shared_drdy=False, attach=True):
        self.spi = hw.SPI(1, polarity=mode[0], phase=mode[1])
        self.drdy = hw.Pin("PG8", hw.Pin.IN)
        self.sr = hw.Pin("PG9", hw.Pin.OUT, value=1) if sync_reset else None
        self.twins = []
        self.drivers = []
        for k in range(n):
            cs = hw.Pin("PG%d" % k, hw.Pin.OUT, value=1)
            t = twin_cls("adc%d" % (k + 1), drdy=self.drdy, sync_reset=self.sr, afe=AFE,
                         fs=8000, seed=seed + k)
            if attach:
                self.spi.attach(cs, t)
            d = ADS131M04(self.spi, cs, self.drdy, self.sr, name="adc%d" % (k + 1),
                          ring_frames=ring_frames, shared_drdy=shared_drdy)
            self.twins.append(t)
            self.drivers.append(d)
        self.t = self.twins[0]
        self.d = self.drivers[0]


class Mask:
    """A DRDY interrupt that can be masked like on the MCU: an edge seen while
    masked stays pending (one flag, however many edges) and fires on unmask."""

    def __init__(self, pin, handler):
        self.pin = pin
        self.handler = handler
        self.masked = False
        self.pending = False
        pin.irq(self._edge, hw.Pin.IRQ_FALLING)

    def _edge(self, pin):
        if self.masked:
            self.pending = True
        else:
            self.handler(pin)

    def mask(self):
        self.masked = True

    def unmask(self):
        self.masked = False
        if self.pending:
            self.pending = False
            self.handler(self.pin)


def lcg_array(n, seed, lo, hi):
    a = array("i", bytes(4 * n))
    s = seed
    span = hi - lo
    for i in range(n):
        s = (s * 1103515245 + 12345) & 0x7FFFFFFF
        a[i] = lo + (s % span)
    return a


def sine_array(n, amp, f=50.0, fs=8000, phase=0.0):
    import math
    a = array("i", bytes(4 * n))
    for i in range(n):
        a[i] = int(amp * math.sin(2 * math.pi * f * i / fs + phase))
    return a


def emit(**kw):
    print(json.dumps(kw))


def frames_hex(ring, first, n):
    fb = ring.frame_bytes
    out = []
    for k in range(n):
        s = (first + k) % ring.nframes
        out.append("".join("%02x" % b for b in ring.buf[s * fb:(s + 1) * fb]))
    return out

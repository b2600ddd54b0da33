# Test rig for the ADE9000 driver and twin: a simulated SPI bus (mode 3), pins,
# the twin wired like sim24 (990k/1k divider, 2500:1 CT into 15 R) and the
# driver. Signals are sines given per chip channel; run() feeds the twin block
# by block as the simulated board would.
import math
from array import array
from sim import hw
from sim.twin_ade9000 import Ade9000Twin
from drivers.ade9000 import ADE9000

V_DIV = 991.0
CT = 2500.0
RB = 15.0
AFE = [RB / CT, 1.0 / V_DIV, RB / CT, 1.0 / V_DIV, RB / CT, 1.0 / V_DIV, RB / CT]
IA, VA, IB, VB, IC, VC, IN = 0, 1, 2, 3, 4, 5, 6


class Rig:
    def __init__(self, pga=1, twin_kw=None, attach=True, reset=True, polarity=1, phase=1,
                 f_nom=50.0, irq=True):
        self.spi = hw.SPI(2, polarity=polarity, phase=phase)
        self.cs = hw.Pin("cs", hw.Pin.OUT, value=1)
        self.irq0 = hw.Pin("irq0", hw.Pin.IN, hw.Pin.PULL_UP) if irq else None
        self.irq1 = hw.Pin("irq1", hw.Pin.IN, hw.Pin.PULL_UP) if irq else None
        self.rst = hw.Pin("rst", hw.Pin.OUT, value=1) if reset else None
        kw = twin_kw or {}
        self.twin = Ade9000Twin("ade", irq0=self.irq0, irq1=self.irq1, reset=self.rst, afe=AFE,
                                f_nom=f_nom, **kw)
        if attach:
            self.spi.attach(self.cs, self.twin)
        self.drv = ADE9000(self.spi, self.cs, irq0=self.irq0, irq1=self.irq1, reset=self.rst,
                           pga_gain=pga, v_divider=V_DIV, ct_ratio=CT, ct_burden=RB)
        self.n = 0
        self.sig = [None] * 7
        self.block = 80
        self._bufs = [array("i", bytes(4 * self.block)) for _ in range(7)]
        self.record = None          # list per channel: every input sample fed, if set

    def set_sig(self, ch, rms, f, deg=0.0, harm=None):
        """ch: chip channel; rms in V or A at the line; deg: phase (current lags: negative)."""
        self.sig[ch] = (rms * 1e6 * math.sqrt(2), 2 * math.pi * f / 8000, deg * math.pi / 180, harm)

    def run(self, nsamp, each=None):
        b = self.block
        while nsamp > 0:
            m = b if nsamp > b else nsamp
            ins = []
            k0 = self.n
            for ch in range(7):
                s = self.sig[ch]
                if s is None:
                    ins.append(None)
                    if self.record is not None:
                        self.record[ch].extend([0] * m)
                    continue
                a, w, ph, harm = s
                buf = self._bufs[ch]
                for j in range(m):
                    x = a * math.sin(w * (k0 + j) + ph)
                    if harm:
                        x += harm[1] * a * math.sin(harm[0] * w * (k0 + j) + ph)
                    buf[j] = int(round(x))
                ins.append(buf)
                if self.record is not None:
                    self.record[ch].extend(buf[:m])
            self.twin.on_samples(ins, m)
            self.n += m
            nsamp -= m
            if each is not None:
                each()

# Harmonics h1..h40 (IEC 61000-4-7 style): rectangular window of 10 cycles
# (50 Hz) / 12 cycles (60 Hz) synchronised to the unit's own cycle
# boundaries, one channel at a time, rotating round-robin over every AC
# channel; request(name) puts a channel first in line.
#
# Capture: the selected channel's samples (reduced to 16 bits like the
# kernel's, without the calibration delay) are copied into a preallocated
# buffer from one window boundary of its unit to the next. Analysis: a viper
# DFT at the exact harmonic frequencies h * f1, f1 = cycles / window length,
# phase from the interpolated Q15 table, split 64-bit accumulators; the
# partial sample cells at both window ends get the same first-order edge
# correction as the rms (the reference is 1 at both ends for every h).
# Results: rms of each harmonic (units), % of the fundamental, and
# THD = sqrt(sum h2..h40 ^2) / h1 (IEC 61000-4-7 THD; harmonic components,
# not groups).
import math
import micropython
from array import array
from metrology import kernel as K
from metrology.windows import KIND_WIN

NH = 40
EVERY = 5       # analyse one window in 5 of the selected unit's (~1 per second): ~0.3 % CPU
CAP = 2304      # samples: 10 cycles at 45 Hz = 1778, 12 cycles at 55 Hz = 1745


@micropython.viper
def capture(src: ptr32, start: int, end: int, stride: int, off: int, m: int, shift: int, dst: ptr16,
            pos: int, cap: int) -> int:
    """Reduce src[i*stride + off] (signed `m`-sign-bit codes) for i in
    [start, end) into dst[pos..] (int16 via ptr16); returns the new pos
    (stops at cap)."""
    rnd = 1 << (shift - 1)
    i = start
    while i < end:
        if pos >= cap:
            break
        raw = ((src[i * stride + off] & (m + m - 1)) ^ m) - m
        dst[pos] = (raw + rnd) >> shift
        pos += 1
        i += 1
    return pos


@micropython.viper
def dft(x: ptr16, n: int, ph0: int, step: int, tab: ptr16, out: ptr32):
    """out = [re hi, re lo, im hi, im lo]: sum x[j] * cos/sin(ph0 + j*step)
    (Q30 phase, Q15 interpolated reference), x int16 (read zero-extended, sign
    restored here). 32-bit safe like the kernel."""
    m16 = 0xFFFF
    m32 = (m16 << 16) | m16
    m30 = 0x3FFFFFFF
    rh = 0
    rl = 0
    ih = 0
    il = 0
    ph = ph0
    j = 0
    while j < n:
        v = ((x[j] & 0xFFFF) ^ 0x8000) - 0x8000
        k = ph >> 22
        fr = (ph >> 7) & 0x7FFF
        c0 = tab[k] - 32768
        cv = c0 + (((tab[k + 1] - 32768 - c0) * fr) >> 15)
        k = (k + 192) & 255
        s0 = tab[k] - 32768
        sv = s0 + (((tab[k + 1] - 32768 - s0) * fr) >> 15)
        p = v * cv
        lo2 = (rl + p) & m32
        rh += p >> 31
        if uint(lo2) < uint(rl):
            rh += 1
        rl = lo2
        p = v * sv
        lo2 = (il + p) & m32
        ih += p >> 31
        if uint(lo2) < uint(il):
            ih += 1
        il = lo2
        ph = (ph + step) & m30
        j += 1
    out[0] = rh
    out[1] = rl
    out[2] = ih
    out[3] = il


def _w64(a, k):
    lo = a[k + 1]
    if lo < 0:
        lo += 4294967296.0
    return a[k] * 4294967296.0 + lo


class Harmonics:
    def __init__(self, metro, nh=NH, every=EVERY):
        self.metro = metro
        self.nh = nh
        self.every = every           # analyse one window in `every` windows of the selected unit
        self.buf = array("h", bytes(2 * CAP))
        self.acc = array("i", bytes(16))
        self.targets = []            # (unit, channel index, output name)
        for u in metro.units:
            if u.dc:
                continue
            for c in range(u.nch):
                role, oi = u.roles[c]
                if c == 0:
                    nm = u.chans[0].name          # board voltage channel (G1-V, L1-V); None if derived
                    if nm is None:
                        continue
                elif role >= 0:
                    nm = metro.snapshot.channels[oi] + "-I"
                else:
                    continue
                self.targets.append((u, c, nm))
            u.listeners.append(self._on_window)
            u.block_listeners.append(self._on_block)
        self.pos = 0
        self.next = 0
        self.cur = None              # target being captured
        self.state = 0               # 0 idle (waiting for a window start), 1 capturing
        self.skip = 0
        self.results = {}            # name -> latest result dict
        self.last = None
        self.pending = []            # requested names, served first
        self.listeners = []          # fn(result)
        self.analyses = 0
        if self.targets:
            self.cur = self.targets[0]

    def restrict(self, names):
        """Rotate over these channels only (e.g. ["O3-I", "G1-V"])."""
        keep = [t for t in self.targets if t[2] in names]
        if not keep:
            raise ValueError("harmonics: none of %r is analysable" % (names,))
        self.targets = keep
        self.next = 0
        self.cur = keep[0]
        self.state = 0

    def names(self):
        return [t[2] for t in self.targets]

    def request(self, name):
        """Analyse `name` next (its result appears in results[name] ~2 windows later)."""
        for t in self.targets:
            if t[2] == name:
                self.pending.append(t)
                self.skip = 0
                return True
        return False

    def spectrum(self, name):
        return self.results.get(name)

    def _pick(self):
        if self.pending:
            self.cur = self.pending.pop(0)
        else:
            self.next = (self.next + 1) % len(self.targets)
            self.cur = self.targets[self.next]
        self.state = 0

    def _copy(self, u, buf, start, end):
        ch = u.chans[self.cur[1]]
        self.pos = capture(buf, start, end, u.cfg[K.C_STRIDE], ch.off, 1 << (ch.bits - 1), ch.shift,
                           self.buf, self.pos, CAP)

    def _on_block(self, u, buf, n):
        t = self.cur
        if t is None or t[0] is not u or self.state != 1:
            return
        self._copy(u, buf, self._from, n)
        self._from = 0

    def _on_window(self, u, kind):
        t = self.cur
        if kind != KIND_WIN or t is None or t[0] is not u:
            return
        buf = self._buf_of(u)
        if self.state == 1:
            self._copy(u, buf, self._from, u.w_end)
            ok = u.w_flags & 2 == 0 and self.pos < CAP
            if ok:
                self._analyse(u, t)
            self._pick()
            if self.cur[0] is not u:
                return
        if self.skip > 0:
            self.skip -= 1
            return
        self.skip = self.every - 1
        # start capturing this unit's next window, from the closing sample on
        self.state = 1
        self.pos = 0
        self._from = u.w_end
        self.w_f = u.w_fb
        self.x_a = u.w_xb[self.cur[1]]

    def _buf_of(self, u):
        if u.buf is not None:
            return u.buf
        acq = self.metro.acq
        if u.kind == "group":
            return acq.group[u.buf_index]
        return acq.inlet

    def _analyse(self, u, t):
        c = t[1]
        n = self.pos
        fa = self.w_f
        fb = u.w_fb
        L = u.w_len
        cyc = u.window_cycles
        if L <= 0 or n < 16:
            return
        nc = L / cyc                       # samples per fundamental cycle
        xa = self.x_a
        xb = u.w_xb[c]
        wa = 0.5 - fa
        wb = 0.5 - fb
        k = u.k[c]                         # units per reduced LSB (gain included)
        acc = self.acc
        tab = K.TAB
        amp = []
        for h in range(1, self.nh + 1):
            step = int(h * 1073741824.0 / nc) & 0x3FFFFFFF
            ph0 = int(h * (1.0 - fa) * 1073741824.0 / nc) & 0x3FFFFFFF
            dft(self.buf, n, ph0, step, tab, acc)
            re = _w64(acc, 0) / 32767.0 + wa * xa - wb * xb
            im = _w64(acc, 2) / 32767.0
            amp.append(math.sqrt(re * re + im * im) * 2.0 / L * 0.7071067811865476 * k)
        h1 = amp[0]
        s = 0.0
        for a in amp[1:]:
            s += a * a
        res = {"channel": t[2], "f_hz": cyc * self.metro.fs / L, "cycles": cyc,
               "h": amp, "pct": [a * 100.0 / h1 if h1 > 0 else 0.0 for a in amp],
               "thd": math.sqrt(s) * 100.0 / h1 if h1 > 0 else 0.0, "seq": self.analyses + 1}
        self.analyses += 1
        self.results[t[2]] = res
        self.last = res
        for fn in self.listeners:
            fn(res)

# Harmonics h1..h40 (IEC 61000-4-7 style): rectangular window of 10 cycles
# (50 Hz) / 12 cycles (60 Hz) synchronised to the unit's own cycle
# boundaries, one channel at a time, rotating round-robin over every AC
# channel; request(name) puts a channel first in line.
#
# Capture: the selected channel's samples (reduced to 16 bits like the
# kernel's, without the calibration delay) are copied into a preallocated
# buffer from one window boundary of its unit to the next (kernel.capture).
# Analysis: a viper DFT (kernel.dft) at the exact harmonic frequencies h * f1,
# f1 = cycles / window length, phase from the kernel's interpolated Q15
# table, split 64-bit accumulators; the
# partial sample cells at both window ends get the same first-order edge
# correction as the rms (the reference is 1 at both ends for every h).
# Results: rms of each harmonic (units), % of the fundamental, and
# THD = sqrt(sum h2..h40 ^2) / h1 (IEC 61000-4-7 THD; harmonic components,
# not groups). Listeners get each result as a dict at full precision; the
# latest result of every channel is kept compactly (16-bit codes relative to
# its largest component, ~1.5e-5 resolution: ~2 KB per 25 channels instead
# of ~4 KB of float objects per channel) and spectrum(name) rebuilds the dict.
import math
from array import array
from metrology import kernel as K
from metrology.kernel import capture, dft, DFT_RE, DFT_IM, DFT_W
from metrology.cycle import w64
from metrology.windows import KIND_WIN, ROLE_NONE, Q_NOZC

# a target: (unit index << TGT_SHIFT) | channel (array 'H')
TGT_SHIFT = 3
TGT_CH = 7
# the latest result per target (array 'f', RS_W floats each)
RS_SCALE = 0        # the largest component (units): codes are relative to it
RS_FHZ = 1          # fundamental frequency of the analysed window
RS_THD = 2          # THD (%)
RS_W = 3

NH = 40
EVERY = 5       # analyse one window in 5 of the selected unit's (~1 per second): ~0.3 % CPU
CAP = 1920      # samples: 10 cycles down to 41.7 Hz (EN 50160 islands: 42.5 Hz), 12 cycles down to 50 Hz


class Harmonics:
    """Targets are numbered in construction order (every AC voltage with a
    board name, every current); target t is unit t >> TGT_SHIFT, channel t & TGT_CH in
    self._tgt (no tuple or name string per target: names are made on demand)."""

    def __init__(self, metro, nh=NH, every=EVERY):
        self.metro = metro
        self.nh = nh
        self.every = every           # analyse one window in `every` windows of the selected unit
        self.buf = array("h", bytes(2 * CAP))
        self.acc = array("i", bytes(4 * DFT_W))
        tg = []
        units = metro.units
        on_window = self._on_window      # one bound method object for all units
        on_block = self._on_block
        for ui in range(len(units)):
            u = units[ui]
            if u.dc:
                continue
            for c in range(u.nch):
                role = u.role(c)
                if c == 0:
                    if u.names[0] is None:        # derived voltage (branch, NC): not a board channel
                        continue
                elif role == ROLE_NONE:
                    continue
                tg.append((ui << TGT_SHIFT) | c)
            u.listeners.append(on_window)
            u.block_listeners.append(on_block)
        nt = len(tg)
        self._tgt = array("H", tg)                   # every target (result storage order)
        self._rot = array("H", range(nt))            # the rotation (restrict() narrows it)
        self.codes = array("H", bytes(2 * nh * nt))     # latest result per target: h / scale * 65535
        self.rfl = array("f", bytes(4 * RS_W * nt))     # per target: RS_SCALE, RS_FHZ, RS_THD
        self.rseq = array("i", bytes(4 * nt))           # per target: analysis number (0: none yet)
        self.pos = 0
        self.next = 0
        self.cur = 0 if nt else -1   # target being captured
        self.state = 0               # 0 idle (waiting for a window start), 1 capturing
        self.skip = 0
        self.last_target = -1        # index of the target analysed last
        self.pending = []            # requested targets, served first
        self.listeners = []          # fn(result)
        self.analyses = 0

    # --- targets ------------------------------------------------------------------------
    def _unit(self, ti):
        return self.metro.units[self._tgt[ti] >> TGT_SHIFT]

    def _name(self, ti):
        v = self._tgt[ti]
        u = self.metro.units[v >> TGT_SHIFT]
        c = v & TGT_CH
        nm = u.names[c]
        if nm is None:                   # branch sums, computed neutral
            nm = self.metro.snapshot.channels[u.out(c)] + "-I"
        return nm

    def _index(self, name):
        for i in range(len(self._tgt)):
            if self._name(i) == name:
                return i
        return -1

    def restrict(self, names):
        """Rotate over these channels only (e.g. ["O3-I", "G1-V"])."""
        keep = [i for i in range(len(self._tgt)) if self._name(i) in names]
        if not keep:
            raise ValueError("harmonics: none of %r is analysable" % (names,))
        self._rot = array("H", keep)
        self.next = 0
        self.cur = keep[0]
        self.state = 0

    def names(self):
        return [self._name(i) for i in self._rot]

    def request(self, name):
        """Analyse `name` next (spectrum(name) has it ~2 windows later)."""
        for i in self._rot:
            if self._name(i) == name:
                self.pending.append(i)
                self.skip = 0
                return True
        return False

    def spectrum(self, name):
        """The latest result for `name` (dict as given to listeners), or None."""
        return self._result(self._index(name))

    @property
    def last(self):
        """The latest result of any channel, or None."""
        return self._result(self.last_target)

    def _result(self, ti):
        if ti < 0 or not self.rseq[ti]:
            return None
        nh = self.nh
        r = RS_W * ti
        sc = self.rfl[r + RS_SCALE] / 65535.0
        b = ti * nh
        amp = [self.codes[b + j] * sc for j in range(nh)]
        return self._dict(self._name(ti), self.rfl[r + RS_FHZ], self._unit(ti).window_cycles, amp,
                          self.rfl[r + RS_THD], self.rseq[ti])

    @staticmethod
    def _dict(name, f_hz, cyc, amp, thd, seq):
        h1 = amp[0]
        return {"channel": name, "f_hz": f_hz, "cycles": cyc, "h": amp,
                "pct": [a * 100.0 / h1 if h1 > 0 else 0.0 for a in amp], "thd": thd, "seq": seq}

    # --- capture ---------------------------------------------------------------------------
    def _pick(self):
        if self.pending:
            self.cur = self.pending.pop(0)
        else:
            self.next = (self.next + 1) % len(self._rot)
            self.cur = self._rot[self.next]
        self.state = 0

    def _copy(self, u, buf, start, end):
        cfg = u.cfg
        q = K.C_CH + K.C_CW * (self._tgt[self.cur] & TGT_CH)
        self.pos = capture(buf, start, end, cfg[K.C_STRIDE], cfg[q + K.CF_OFF], cfg[q + K.CF_SIGN],
                           cfg[q + K.CF_SHIFT], self.buf, self.pos, CAP)

    def _on_block(self, u, buf, n):
        if self.cur < 0 or self.state != 1 or self._unit(self.cur) is not u:
            return
        self._copy(u, buf, self._from, n)
        self._from = 0

    def _on_window(self, u, kind):
        if kind != KIND_WIN or self.cur < 0 or self._unit(self.cur) is not u:
            return
        buf = self._buf_of(u)
        if self.state == 1:
            self._copy(u, buf, self._from, u.w_end)
            ok = u.w_flags & Q_NOZC == 0 and self.pos < CAP
            if ok:
                self._analyse(u, self.cur)
            self._pick()
            if self._unit(self.cur) is not u:
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
        self.x_a = u.w_xb[self._tgt[self.cur] & TGT_CH]

    def _buf_of(self, u):
        if u.buf is not None:
            return u.buf
        acq = self.metro.acq
        if u.kind == "group":
            return acq.group[u.buf_index]
        return acq.inlet

    def _analyse(self, u, ti):
        c = self._tgt[ti] & TGT_CH
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
            re = w64(acc, DFT_RE) / 32767.0 + wa * xa - wb * xb
            im = w64(acc, DFT_IM) / 32767.0
            amp.append(math.sqrt(re * re + im * im) * 2.0 / L * 0.7071067811865476 * k)
        h1 = amp[0]
        s = 0.0
        top = 0.0
        for a in amp:
            if a > top:
                top = a
        for j in range(1, len(amp)):
            s += amp[j] * amp[j]
        thd = math.sqrt(s) * 100.0 / h1 if h1 > 0 else 0.0
        f_hz = cyc * self.metro.fs / L
        self.analyses += 1
        b = ti * self.nh
        q = 65535.0 / top if top > 0 else 0.0
        for j in range(self.nh):
            self.codes[b + j] = int(amp[j] * q + 0.5)
        r = RS_W * ti
        self.rfl[r + RS_SCALE] = top
        self.rfl[r + RS_FHZ] = f_hz
        self.rfl[r + RS_THD] = thd
        self.rseq[ti] = self.analyses
        self.last_target = ti
        if self.listeners:
            res = self._dict(self._name(ti), f_hz, cyc, amp, thd, self.analyses)
            for fn in self.listeners:
                fn(res)

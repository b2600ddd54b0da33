# A metering unit: one kernel stream (a voltage and the channels timed by it)
# with its cycles, its 10/12-cycle windows and its 1 s windows.
#
# Unit.process(buf, n) runs the kernel over a block; every time it stops at a
# cycle end the unit closes the cycle: quick per-cycle rms/power (protection),
# then adds the cycle's sums into the open window and the open second (viper,
# exact), resets the kernel sums and retunes the reference frequency. After
# window_cycles cycles (10 at 50 Hz, 12 at 60 Hz: IEC 61000-4-30) the window
# closes; the second closes at the cycle end nearest each multiple of fs
# samples (the residual carries, so seconds do not drift). Listeners get
# (unit, KIND_WIN | KIND_SEC) with the results in unit.wres / unit.sres.
import math
from array import array
from metrology import kernel as K
from metrology import cycle as CY

KIND_WIN = 0
KIND_SEC = 1
MAX_DELAY = 2.999      # samples: relative phase correction up to 6.7 deg at 50 Hz

# Quality bits of a unit's window/second: the snapshot's per-channel flags
# (defined there, with their names).
from metrology.snapshot import Q_CLIP, Q_NOZC, Q_FAULT, Q_UNCAL   # noqa: F401 (re-exported)

# What a unit channel reports (Chan.role, unit.roles): the metrology maps it
# to an output channel of the snapshot (Chan.out, its index there).
ROLE_NONE = -1      # not reported (a derived voltage that only times a unit's cycles)
ROLE_V = 0          # a voltage channel with its own output channel (Gk)
ROLE_VI = 1         # a current paired with the unit's voltage (outlet, inlet phase)
ROLE_I = 2          # a current reported on its own (branch, neutral)
ROLE_VL = 3         # the voltage of an inlet phase (reported in the phase's channel)
# unit.roles (array 'h'): RL_W words per channel
RL_ROLE = 0         # ROLE_*
RL_OUT = 1          # output channel index (snapshot.index), if reported
RL_W = 2


class Chan:
    """One channel of a unit (static description). off: word offset in a frame;
    bits: width of the signed raw code; shift: reduction to 16 bits; clip: |raw|
    at/above which a sample counts as clipped; unit_per_code: units per raw
    code; name: board channel name (calibration key) or None for a derived
    channel; src: for a derived copy of another unit's voltage, that unit's
    channel (its name is the calibration key); role (ROLE_*) and out (output
    channel index) say where it is reported. A Unit keeps these facts in its
    own arrays (unit.chans rebuilds the objects): no objects per channel."""

    def __init__(self, off, bits, shift, clip, unit_per_code, name=None, src=None, role=ROLE_NONE, out=0):
        self.off = off
        self.bits = bits
        self.shift = shift
        self.clip = clip
        self.upc = unit_per_code
        self.name = name
        self.src = src
        self.role = role
        self.out = out


# Unit int state (array 'i', unit.iv): configuration, cycle/window/second
# bookkeeping and the public counters (read through the properties below)
I_FCYC = 0          # fraction (Q12) of the crossing that opened the cycle
I_ZCPREV = 1        # the last cycle ended at a crossing
I_SYNCED = 2        # windows and seconds running (from the second crossing on)
I_ZCSEEN = 3        # the first crossing was seen
I_LIMZC = 4         # cycle length limit without a crossing (2 nominal periods)
I_LIMFIX = 5        # then nominal-length cycles
I_WCNT = 6          # open window: samples, cycles, cycles without a crossing
I_WCYC = 7
I_WNOZC = 8
I_SCNT = 9          # open second: samples, cycles, cycles without a crossing,
I_SCYC = 10
I_SNOZC = 11
I_SDUE = 12         #   samples to the next second boundary
_SEC = I_SCNT - I_WCNT   # the second's counters sit at the window's + _SEC
I_PERCYC = 13       # per-cycle figures wanted (cycle_ms)
I_STEP0 = 14        # reference phase step at the nominal frequency (Q30 per sample)
I_POWER = 15        # window/second results include active power (R_P)
I_FS = 16           # sample rate
I_DC = 17           # DC mode
I_WINCYC = 18       # cycles per window (10 at 50 Hz, 12 at 60 Hz)
I_CAL = 19          # calibrated: bit c = channel c has coefficients (or is derived)
I_FAULT = 20        # sensor fault (no samples): flagged in the results
I_CYCSEQ = 21       # cycles closed (per-cycle figures for protection)
I_CYCN = 22         # samples in the last cycle
I_CYCNOZC = 23      # the last cycle ended without a crossing
I_CYCLEN = 24       # last crossing-to-crossing cycle length, Q12 samples
I_WSEQ = 25         # windows / seconds closed
I_SSEQ = 26
I_WFLAGS = 27       # quality flags (Q_*) of the last window / second
I_SFLAGS = 28
I_WEND = 29         # block index where the last window ended (in this block)
I_N = 30

# Unit float block (array 'f', unit._fv), per channel (x nch):
_F_GAIN = 0         # calibration gain
_F_OFF = 1          # offset (raw codes)
_F_DLY = 2          # delay (samples, >= 0, relative within the unit)
_F_XEND = 3         # value at the window/second-closing crossing
_F_XW = 4           # ... at the crossing that opened the window
_F_XS = 5           # ... at the crossing that opened the second
_F_UPC = 6          # units per raw code
_F_QN = 7           # rounding noise power per sample (reduced codes^2): the 16-bit
                    # reduction's 1/12, plus the allpass's 1/12 x 1/(1 - a^2) when delayed
_F_RES = 8          # then the window and second results (R_N each)
_F_CH = _F_RES + 2 * CY.R_N   # floats per channel
# then scalars at nch * _F_CH:
F_WF = 0            # fraction of the crossing that opened the window / second
F_SF = 1
F_WFB = 2           # closing crossing of the last window: fraction
F_WLEN = 3          # last closed window / second: length (samples), frequency
F_SLEN = 4
F_WFHZ = 5
F_SFHZ = 6
F_N = 7


def _fprop(i, doc):
    def get(self):
        return self._fv[self.nch * _F_CH + i]
    return property(get, None, None, doc)


def _iprop(i, doc, write=False):
    def get(self):
        return self.iv[i]

    def put(self, v):
        self.iv[i] = v
    return property(get, put if write else None, None, doc)


def _bprop(i, doc, write=False):
    def get(self):
        return self.iv[i] != 0

    def put(self, v):
        self.iv[i] = 1 if v else 0
    return property(get, put if write else None, None, doc)


class Unit:
    """Per channel c: chans[c] (rebuilt on access), names[c], k[c] (units per
    reduced LSB, gain included), kraw[c] (units per raw code, gain included),
    cyc_ms[K.CM_W * c + K.CM_MS / K.CM_VI], roles[RL_W * c + RL_ROLE / RL_OUT]
    (role(c), out(c)), kind, last_poll,
    window/second results wres/sres[R_* + R_N * c] (metrology/cycle.py).

    State lives in a few arrays behind properties rather than in attributes:
    every attribute is a hash-table slot (16 B on the unix port) and every
    float held in one a heap object (32 B); the 15 units of sim24 held ~70
    attributes each."""

    _src0 = None                  # channel 0 copies this channel (branch units)
    buf = None                    # the unit's own sample buffer (derived units)
    buf_index = None              # else its group's index in acq.group

    def __init__(self, name, chans, stride, *, fs=8000, f_nom=50.0, dc=False, window_cycles=None,
                 hyst=None, per_cycle=True, power=True, kind=""):
        nch = len(chans)
        if not 1 <= nch <= K.MAX_CH:
            raise ValueError("unit %s: 1..%d channels" % (name, K.MAX_CH))
        self.name = name
        self.kind = kind              # what the metrology built it for: "group", "branch", "inlet", "nc"
        self.nch = nch
        self.last_poll = 0            # the acquisition poll that last gave it samples (staleness)
        self.roles = array("h", bytes(2 * RL_W * nch))     # per channel: ROLE_*, output channel
        nn = fs / f_nom
        self.cfg = array("i", bytes(4 * K.cfg_words(nch)))
        self.st = array("i", bytes(4 * K.state_words(nch)))
        self.win = array("i", bytes(4 * K.state_words(nch)))
        self.sec = array("i", bytes(4 * K.state_words(nch)))
        self.iv = array("i", bytes(4 * I_N))
        iv = self.iv
        cfg = self.cfg
        cfg[K.C_STRIDE] = stride
        cfg[K.C_NCH] = nch
        cfg[K.C_MINLEN] = int(0.6 * nn)
        cfg[K.C_FLAGS] = K.F_RAW if dc else (K.F_ZC | K.F_PHASOR)
        iv[I_FS] = fs
        iv[I_DC] = 1 if dc else 0
        iv[I_WINCYC] = window_cycles or (12 if f_nom == 60 else 10)
        iv[I_LIMZC] = int(2 * nn + 0.5)          # no crossing for 2 nominal periods
        iv[I_LIMFIX] = int(nn + 0.5)             # then nominal-length cycles
        iv[I_PERCYC] = 1 if per_cycle else 0
        iv[I_STEP0] = int((1 << 30) / nn)
        iv[I_POWER] = 1 if power else 0
        iv[I_CYCLEN] = int(nn * 4096)
        # Floats in one float32 block (the MCU's floats are float32 anyway);
        # k stays a list: read on every cycle and window, and a float read
        # from an array is a new object (garbage) while a list holds it.
        rn = CY.R_N * nch
        self._fv = array("f", bytes(4 * (nch * _F_CH + F_N)))
        fv = self._fv
        mv = memoryview(fv)
        self.k = [0.0] * nch
        self.x_end = mv[_F_XEND * nch:(_F_XEND + 1) * nch]
        self.wres = mv[_F_RES * nch:_F_RES * nch + rn]
        self.sres = mv[_F_RES * nch + rn:_F_RES * nch + 2 * rn]
        self.names = []
        if chans[0].src is not None:
            self._src0 = chans[0].src
        for c in range(nch):
            ch = chans[c]
            self.names.append(ch.name)
            fv[_F_GAIN * nch + c] = 1.0
            fv[_F_UPC * nch + c] = ch.upc
            q = K.C_CH + K.C_CW * c
            cfg[q + K.CF_OFF] = ch.off
            cfg[q + K.CF_SHIFT] = ch.shift
            cfg[q + K.CF_ROUND] = (1 << (ch.shift - 1)) if ch.shift else 0
            cfg[q + K.CF_SIGN] = 1 << (ch.bits - 1)
            cfg[q + K.CF_CLIP] = ch.clip
            self.roles[RL_W * c + RL_ROLE] = ch.role
            self.roles[RL_W * c + RL_OUT] = ch.out
        # hysteresis: 2.5 % of full scale of channel 0 unless given (reduced codes)
        if hyst is None:
            hyst = int(0.025 * (chans[0].clip >> chans[0].shift))
        cfg[K.C_HYST] = hyst
        self.cyc_ms = array("i", bytes(4 * K.CM_W * nch))   # per cycle: K.CM_* per channel (codes^2)
        self.listeners = []           # fn(unit, kind) at window/second close
        self.cycle_listeners = []     # fn(unit) at every cycle close (after cyc_* are set)
        self.block_listeners = []     # fn(unit, buf, n) after each block (harmonics capture)
        self.samples = 0
        self.reset()
        self.apply_calibration()

    # --- state, read through properties --------------------------------------------------------
    fs = _iprop(I_FS, "Sample rate (Hz).")
    dc = _bprop(I_DC, "DC mode (fixed 20 ms cycles, no crossings).")
    window_cycles = _iprop(I_WINCYC, "Cycles per window (10 at 50 Hz, 12 at 60 Hz).")
    calibrated = _iprop(I_CAL, "Bit c: channel c has calibration coefficients (or is derived).", True)
    fault = _bprop(I_FAULT, "Sensor fault (the unit gets no samples): flagged in its results.", True)
    cyc_seq = _iprop(I_CYCSEQ, "Cycles closed so far (per-cycle figures: cyc_ms).")
    cyc_n = _iprop(I_CYCN, "Samples in the last cycle.")
    cyc_nozc = _bprop(I_CYCNOZC, "The last cycle was closed by the length limit (no crossing).")
    cyc_len12 = _iprop(I_CYCLEN, "Last crossing-to-crossing cycle length, Q12 samples.")
    w_seq = _iprop(I_WSEQ, "Windows closed so far.")
    s_seq = _iprop(I_SSEQ, "Seconds closed so far.")
    w_flags = _iprop(I_WFLAGS, "Quality flags (Q_*) of the last window.")
    s_flags = _iprop(I_SFLAGS, "Quality flags (Q_*) of the last second.")
    w_end = _iprop(I_WEND, "Index in the current block of the sample where the last window ended.")
    w_f_hz = _fprop(F_WFHZ, "Frequency over the last closed window (Hz; 0 without crossings).")
    s_f_hz = _fprop(F_SFHZ, "Frequency over the last closed second (Hz).")
    w_len = _fprop(F_WLEN, "Length of the last closed window (samples, crossing to crossing).")
    s_len = _fprop(F_SLEN, "Length of the last closed second (samples).")
    w_fb = _fprop(F_WFB, "Fraction of a sample of the crossing that closed the last window.")

    @property
    def w_xb(self):
        """Channel values at the crossing that closed the last window."""
        return self.x_end

    @property
    def cyc_len(self):
        """Length of the last crossing-to-crossing cycle (samples)."""
        return self.iv[I_CYCLEN] / 4096.0

    def _fview(self, blk):
        n = self.nch
        return memoryview(self._fv)[blk * n:(blk + 1) * n]

    # --- description ----------------------------------------------------------------------
    @property
    def chans(self):
        """The channels as Chan objects (rebuilt on each access: cold paths only)."""
        out = []
        cfg = self.cfg
        nch = self.nch
        for c in range(nch):
            q = K.C_CH + K.C_CW * c
            sign = cfg[q + K.CF_SIGN]
            bits = 0
            while (1 << bits) < sign:
                bits += 1
            out.append(Chan(cfg[q + K.CF_OFF], bits + 1, cfg[q + K.CF_SHIFT], cfg[q + K.CF_CLIP],
                            self._fv[_F_UPC * nch + c], self.names[c], self._src0 if c == 0 else None,
                            self.role(c), self.out(c)))
        return out

    @property
    def kraw(self):
        """Units per raw code of each channel, gain included (DC maths; a new list)."""
        n = self.nch
        fv = self._fv
        return [fv[_F_UPC * n + c] * fv[_F_GAIN * n + c] for c in range(n)]

    def cal_key(self, c):
        """Calibration key of channel c: its board channel name, the copied
        channel's for a derived copy (a branch unit's voltage), else None."""
        if c == 0 and self._src0 is not None:
            return self._src0.name
        return self.names[c]

    def role(self, c):
        """ROLE_* of channel c."""
        return self.roles[RL_W * c + RL_ROLE]

    def out(self, c):
        """Output channel index (snapshot.index) channel c is reported in."""
        return self.roles[RL_W * c + RL_OUT]

    def upc(self, c):
        """Units per raw code of channel c (without calibration gain)."""
        return self._fv[_F_UPC * self.nch + c]

    # --- configuration ----------------------------------------------------------------
    def set_cal(self, c, gain, offset, delay):
        """Channel c's calibration: gain, offset (raw codes), delay (samples,
        >= 0, relative within the unit); takes effect with apply_calibration()."""
        fv = self._fv
        n = self.nch
        fv[_F_GAIN * n + c] = gain
        fv[_F_OFF * n + c] = offset
        fv[_F_DLY * n + c] = delay

    def set_delay(self, c, delay):
        """Channel c's delay alone (samples, >= 0, relative within the unit)."""
        self._fv[_F_DLY * self.nch + c] = delay

    def apply_calibration(self):
        """Push the channels' gain/offset/delay (set_cal) into the kernel and the maths.
        Delays (samples, >= 0, relative within the unit, at most MAX_DELAY)
        become allpass settings: every channel gets 0.5 sample more so each
        fractional part sits in [0.5, 1.5) (see metrology/kernel.py); without
        relative delays the filter is bypassed."""
        cfg = self.cfg
        fv = self._fv
        nch = self.nch
        any_delay = False
        for c in range(nch):
            if fv[_F_DLY * nch + c] > 1e-6:
                any_delay = True
        for c in range(nch):
            g = fv[_F_GAIN * nch + c]
            upc = fv[_F_UPC * nch + c]
            q = K.C_CH + K.C_CW * c
            self.k[c] = upc * (1 << cfg[q + K.CF_SHIFT]) * g
            fv[_F_QN * nch + c] = 1.0 / 12.0
            if not any_delay:
                cfg[q + K.CF_DMODE] = 0
                cfg[q + K.CF_DA] = K.DA_BIAS
                continue
            d = fv[_F_DLY * nch + c]
            if d < 0:
                d = 0.0
            if d > MAX_DELAY:
                d = MAX_DELAY
            k = int(d)
            if k > 2:
                k = 2
            D = d + 0.5 - k
            a = int(round((1.0 - D) / (1.0 + D) * 32768))
            cfg[q + K.CF_DMODE] = 1 + k
            cfg[q + K.CF_DA] = K.DA_BIAS + a
            # the allpass rounds its product down: white noise of 1/12 fed back
            # through 1 / (1 + a z^-1), power gain 1 / (1 - a^2)
            fv[_F_QN * nch + c] = (1.0 + 1.0 / (1.0 - (a / 32768.0) ** 2)) / 12.0

    def reset(self):
        st = self.st
        iv = self.iv
        nch = self.nch
        for i in range(len(st)):
            st[i] = 0
        for c in range(nch):
            s = K.S_CH + K.S_W * c
            for h in (K.H_1, K.H_2, K.H_3, K.H_AY, K.H_Y, K.H_YP):
                st[s + h] = K.BIAS
        K.acc_reset(st, nch)
        K.acc_reset(self.win, nch)
        K.acc_reset(self.sec, nch)
        st[K.S_STEP] = iv[I_STEP0]
        st[K.S_LIMIT] = iv[I_LIMFIX] if iv[I_DC] else iv[I_LIMZC]
        for i in range(I_WCNT, I_SDUE + 1):
            iv[i] = 0
        for i in range(I_WSEQ, I_WEND + 1):
            iv[i] = 0
        iv[I_FCYC] = 2048
        iv[I_ZCPREV] = 0
        iv[I_SYNCED] = 0
        iv[I_ZCSEEN] = 0
        iv[I_SDUE] = iv[I_FS]
        fv = self._fv
        for i in range(_F_XEND * nch, (_F_XS + 1) * nch):
            fv[i] = 0.0
        b = nch * _F_CH
        for i in range(F_N):
            fv[b + i] = 0.0
        fv[b + F_WF] = 0.5
        fv[b + F_SF] = 0.5
        fv[b + F_WFB] = 0.5
        self.s_total = 0.0            # samples covered by closed seconds (energy span)

    # --- samples ------------------------------------------------------------------------
    def process(self, buf, n):
        if n <= 0:
            return
        st = self.st
        cfg = self.cfg
        tab = K.TAB
        kern = K.kernel
        scr = K.SCRATCH
        i = 0
        while i < n:
            i = kern(st, cfg, buf, tab, i, n, scr)
            if st[K.S_REASON] != K.STOP_NONE:
                self._close_cycle(i)
        self.samples += n
        for fn in self.block_listeners:
            fn(self, buf, n)

    def _close_cycle(self, i):
        # Integers only on this per-cycle path (floats allocate on MicroPython):
        # crossing fractions f in Q12 of a sample, cycle length L in Q12.
        st = self.st
        iv = self.iv
        nch = self.nch
        dc = iv[I_DC]
        cnt = st[K.S_CNT]
        zc = st[K.S_REASON] == K.STOP_ZC
        if zc:
            s = K.S_CH
            yp = st[s + K.H_YP] - K.BIAS
            d = st[s + K.H_Y] - K.BIAS - yp
            f = ((-yp) << 12) // d if d > 0 else 4096
        else:
            f = 2048
        fa = iv[I_FCYC]
        L = (cnt << 12) + f - fa
        if zc and iv[I_ZCPREV] and L > 0:
            iv[I_CYCLEN] = L
            st[K.S_STEP] = int(4398046511104.0 / L)        # 2^30 per cycle, L in Q12
        if iv[I_PERCYC]:
            K.cycle_ms(st, nch, cnt, self.cyc_ms)
        K.acc_add(self.win, st, nch)
        K.acc_add(self.sec, st, nch)
        K.acc_reset(st, nch)
        st[K.S_CNT] = 0
        st[K.S_LIMIT] = iv[I_LIMFIX] if (dc or not zc) else iv[I_LIMZC]
        nozc = (not zc) and not dc
        iv[I_ZCPREV] = 1 if zc else 0
        iv[I_FCYC] = f
        if not iv[I_SYNCED]:
            # The first cycle started wherever the stream did, and the cycle
            # after the first crossing ran on the nominal reference frequency:
            # drop both, start windows and seconds at the second crossing (the
            # reference now follows the measured period). Without crossings
            # (no voltage, DC) start at once.
            if zc and not iv[I_ZCSEEN]:
                iv[I_ZCSEEN] = 1
                return
            iv[I_SYNCED] = 1
            K.acc_reset(self.win, nch)
            K.acc_reset(self.sec, nch)
            ff = f / 4096.0
            b = nch * _F_CH
            self._fv[b + F_WF] = ff
            self._fv[b + F_SF] = ff
            self._xvals(zc, ff, self._fview(_F_XW))
            self._xvals(zc, ff, self._fview(_F_XS))
            iv[I_SDUE] = iv[I_FS]
            return
        iv[I_CYCN] = cnt
        iv[I_CYCSEQ] += 1
        iv[I_CYCNOZC] = 1 if nozc else 0
        for fn in self.cycle_listeners:
            fn(self)
        self._count(0, cnt, nozc)
        wclose = iv[I_WCYC] >= iv[I_WINCYC]
        # second: close at the cycle end nearest each multiple of fs samples
        self._count(_SEC, cnt, nozc)
        iv[I_SDUE] -= cnt
        sclose = (iv[I_SDUE] << 12) + 2048 - f <= (L >> 1)
        if wclose or sclose:
            ff = f / 4096.0
            xb = self.x_end
            self._xvals(zc, ff, xb)
            if wclose:
                iv[I_WEND] = i
                self._close_window(ff, xb)
            if sclose:
                iv[I_SDUE] += iv[I_FS]
                self._close_second(ff, xb)

    def _count(self, o, cnt, nozc):
        # the cycle into the open window (o = 0) or second (o = _SEC)
        iv = self.iv
        iv[I_WCNT + o] += cnt
        iv[I_WCYC + o] += 1
        if nozc:
            iv[I_WNOZC + o] += 1

    def _xvals(self, zc, f, out):
        if zc:
            CY.crossing_values(self.st, self.nch, f, out)
        else:
            for c in range(self.nch):
                out[c] = 0.0

    def cycle_rms(self, c):
        """Rms of channel c over the last cycle (units; plain sample rms, DC
        included, no edge correction: for protection, within ~0.5 %)."""
        ms = self.cyc_ms[K.CM_W * c + K.CM_MS]
        return math.sqrt(ms) * self.k[c] if ms > 0 else 0.0

    def cycle_p(self, c):
        """Mean of v*x over the last cycle for channel c >= 1 (W)."""
        return self.cyc_ms[K.CM_W * c + K.CM_VI] * self.k[0] * self.k[c]

    def _values(self, acc, cnt, fa, fb, xa, xb, out):
        if self.iv[I_DC]:
            from metrology.dc import dc_values
            dc_values(acc, self.nch, cnt, self.k, self.kraw, self._fview(_F_OFF), out)
        else:
            CY.window_values(acc, self.nch, cnt, fa, fb, xa, xb, self.k, out, True, self.iv[I_POWER] != 0,
                             self._fview(_F_QN))

    def _flags(self, out, nozc):
        fl = Q_NOZC if nozc else 0
        if self.iv[I_FAULT]:
            fl |= Q_FAULT
        for c in range(self.nch):
            if out[CY.R_N * c + CY.R_CLIP]:
                fl |= Q_CLIP
        return fl

    def _close(self, acc, fb, xb, res, kind):
        # close the window (kind KIND_WIN) or the second: results, length,
        # frequency, flags, listeners; the next one starts at this crossing
        iv = self.iv
        fv = self._fv
        b = self.nch * _F_CH
        sec = kind == KIND_SEC
        o = _SEC if sec else 0
        cnt = iv[I_WCNT + o]
        fa = fv[b + (F_SF if sec else F_WF)]
        xv = self._fview(_F_XS if sec else _F_XW)
        self._values(acc, cnt, fa, fb, xv, xb, res)
        L = cnt + fb - fa
        dc = iv[I_DC]
        # frequency only from crossing-to-crossing spans
        fhz = iv[I_WCYC + o] * iv[I_FS] / L if (iv[I_WNOZC + o] == 0 and not dc and L > 0) else 0.0
        if sec:
            fv[b + F_SLEN] = L
            fv[b + F_SFHZ] = fhz
            self.s_total += L
            iv[I_SFLAGS] = self._flags(res, iv[I_SNOZC])
            iv[I_SSEQ] += 1
        else:
            fv[b + F_WFB] = fb
            fv[b + F_WLEN] = L
            fv[b + F_WFHZ] = fhz
            iv[I_WFLAGS] = self._flags(res, iv[I_WNOZC])
            iv[I_WSEQ] += 1
        for fn in self.listeners:
            fn(self, kind)
        K.acc_reset(acc, self.nch)
        iv[I_WCNT + o] = 0
        iv[I_WCYC + o] = 0
        iv[I_WNOZC + o] = 0
        fv[b + (F_SF if sec else F_WF)] = fb
        for c in range(self.nch):
            xv[c] = xb[c]

    def _close_window(self, fb, xb):
        self._close(self.win, fb, xb, self.wres, KIND_WIN)

    def _close_second(self, fb, xb):
        self._close(self.sec, fb, xb, self.sres, KIND_SEC)

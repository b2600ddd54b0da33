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

# unit quality bits (also used per output channel in the snapshot)
Q_CLIP = 1          # clipping / overrange in the window
Q_NOZC = 2          # no zero crossing (cycles closed by the length limit)
Q_FAULT = 4         # sensor fault (chip absent, no data)
Q_UNCAL = 8         # no calibration coefficients for the channel


class Chan:
    """One channel of a unit. off: word offset in a frame; bits: width of the
    signed raw code; shift: reduction to 16 bits; clip: |raw| at/above which a
    sample counts as clipped; unit_per_code: units per raw code; name: board
    channel name (calibration key) or None for a derived channel."""

    def __init__(self, off, bits, shift, clip, unit_per_code, name=None):
        self.off = off
        self.bits = bits
        self.shift = shift
        self.clip = clip
        self.upc = unit_per_code
        self.name = name
        self.gain = 1.0
        self.offset = 0.0
        self.delay = 0.0          # samples (>= 0) applied in the kernel
        self.calibrated = False


class Unit:
    def __init__(self, name, chans, stride, *, fs=8000, f_nom=50.0, dc=False, window_cycles=None,
                 hyst=None, per_cycle=True):
        nch = len(chans)
        if not 1 <= nch <= K.MAX_CH:
            raise ValueError("unit %s: 1..%d channels" % (name, K.MAX_CH))
        self.name = name
        self.chans = chans
        self.nch = nch
        self.fs = fs
        self.f_nom = f_nom
        self.dc = dc
        self.per_cycle = per_cycle
        nn = fs / f_nom
        self.nn = nn
        self.window_cycles = window_cycles or (12 if f_nom == 60 else 10)
        self.cfg = array("i", bytes(4 * K.cfg_words(nch)))
        self.st = array("i", bytes(4 * K.state_words(nch)))
        self.win = array("i", bytes(4 * K.state_words(nch)))
        self.sec = array("i", bytes(4 * K.state_words(nch)))
        cfg = self.cfg
        cfg[K.C_STRIDE] = stride
        cfg[K.C_NCH] = nch
        cfg[K.C_MINLEN] = int(0.6 * nn)
        cfg[K.C_FLAGS] = K.F_RAW if dc else (K.F_ZC | K.F_PHASOR)
        self.limit_zc = int(2 * nn + 0.5)        # no crossing for 2 nominal periods
        self.limit_fix = int(nn + 0.5)           # then nominal-length cycles
        for c in range(nch):
            ch = chans[c]
            q = K.C_CH + K.C_CW * c
            cfg[q + K.CF_OFF] = ch.off
            cfg[q + K.CF_SHIFT] = ch.shift
            cfg[q + K.CF_ROUND] = (1 << (ch.shift - 1)) if ch.shift else 0
            cfg[q + K.CF_SIGN] = 1 << (ch.bits - 1)
            cfg[q + K.CF_CLIP] = ch.clip
        # hysteresis: 2.5 % of full scale of channel 0 unless given (reduced codes)
        if hyst is None:
            hyst = int(0.025 * (chans[0].clip >> chans[0].shift))
        cfg[K.C_HYST] = hyst
        self.k = [0.0] * nch          # units per reduced LSB, gain included
        self.kraw = [0.0] * nch       # units per raw code, gain included
        self.offs = [0.0] * nch
        self.cyc_ms = array("i", bytes(8 * nch))   # per cycle: [ms, mean v*x] per channel (codes^2)
        self.cyc_seq = 0
        self.cyc_n = 0
        self.cyc_nozc = False
        self.cyc_len12 = int(nn * 4096)   # last cycle length, Q12 samples
        self.wres = [0.0] * (CY.R_N * nch)
        self.sres = [0.0] * (CY.R_N * nch)
        self.listeners = []           # fn(unit, kind) at window/second close
        self.cycle_listeners = []     # fn(unit) at every cycle close (after cyc_* are set)
        self.block_listeners = []     # fn(unit, buf, n) after each block (harmonics capture)
        self.fault = False
        self.samples = 0
        self.reset()
        self.apply_calibration()

    # --- configuration ----------------------------------------------------------------
    def apply_calibration(self):
        """Push the channels' gain/offset/delay into the kernel and the maths.
        Delays (samples, >= 0, relative within the unit, at most MAX_DELAY)
        become allpass settings: every channel gets 0.5 sample more so each
        fractional part sits in [0.5, 1.5) (see metrology/kernel.py); without
        relative delays the filter is bypassed."""
        cfg = self.cfg
        any_delay = False
        for c in range(self.nch):
            if self.chans[c].delay > 1e-6:
                any_delay = True
        for c in range(self.nch):
            ch = self.chans[c]
            self.k[c] = ch.upc * (1 << ch.shift) * ch.gain
            self.kraw[c] = ch.upc * ch.gain
            self.offs[c] = ch.offset
            q = K.C_CH + K.C_CW * c
            if not any_delay:
                cfg[q + K.CF_DMODE] = 0
                cfg[q + K.CF_DA] = 32768
                continue
            d = ch.delay
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
            cfg[q + K.CF_DA] = 32768 + a

    def reset(self):
        st = self.st
        for i in range(len(st)):
            st[i] = 0
        for c in range(self.nch):
            s = K.S_CH + K.S_W * c
            for h in (K.H_1, K.H_2, K.H_3, K.H_AY, K.H_Y, K.H_YP):
                st[s + h] = K.BIAS
        K.acc_reset(st, self.nch)
        K.acc_reset(self.win, self.nch)
        K.acc_reset(self.sec, self.nch)
        st[K.S_STEP] = int((1 << 30) / self.nn)
        st[K.S_LIMIT] = self.limit_fix if self.dc else self.limit_zc
        nch = self.nch
        self.f_cyc = 2048             # fraction (Q12) of the crossing that opened the cycle
        self.x_end = [0.0] * nch      # channel values at a window/second-closing crossing
        self.zc_prev = False          # the last cycle ended at a crossing
        self.w_f = 0.5
        self.w_x = [0.0] * nch
        self.w_cnt = 0
        self.w_cyc = 0
        self.w_nozc = 0
        self.w_seq = 0
        self.s_f = 0.5
        self.s_x = [0.0] * nch
        self.s_cnt = 0
        self.s_cyc = 0
        self.s_nozc = 0
        self.s_seq = 0
        self.s_due = self.fs          # samples to the next second boundary
        self.w_len = 0.0              # last closed window: length (samples), cycles, f
        self.w_f_hz = 0.0
        self.w_flags = 0
        self.s_len = 0.0
        self.s_total = 0.0            # samples covered by closed seconds (energy span)
        self.s_f_hz = 0.0
        self.s_flags = 0
        self.w_end = 0                # block index where the last window ended (in this block)
        self.w_fb = 0.5               # closing crossing of the last window: fraction, values
        self.w_xb = self.x_end
        self.synced = False
        self.zc_seen = False

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
            if st[K.S_REASON]:
                self._close_cycle(i)
        self.samples += n
        for fn in self.block_listeners:
            fn(self, buf, n)

    def _close_cycle(self, i):
        # Integers only on this per-cycle path (floats allocate on MicroPython):
        # crossing fractions f in Q12 of a sample, cycle length L in Q12.
        st = self.st
        nch = self.nch
        cnt = st[K.S_CNT]
        zc = st[K.S_REASON] == 1
        if zc:
            s = K.S_CH
            yp = st[s + K.H_YP] - K.BIAS
            d = st[s + K.H_Y] - K.BIAS - yp
            f = ((-yp) << 12) // d if d > 0 else 4096
        else:
            f = 2048
        fa = self.f_cyc
        L = (cnt << 12) + f - fa
        if zc and self.zc_prev and L > 0:
            self.cyc_len12 = L
            st[K.S_STEP] = int(4398046511104.0 / L)        # 2^30 per cycle, L in Q12
        if self.per_cycle:
            K.cycle_ms(st, nch, cnt, self.cyc_ms)
        K.acc_add(self.win, st, nch)
        K.acc_add(self.sec, st, nch)
        K.acc_reset(st, nch)
        st[K.S_CNT] = 0
        st[K.S_LIMIT] = self.limit_fix if (self.dc or not zc) else self.limit_zc
        nozc = (not zc) and not self.dc
        self.zc_prev = zc
        self.f_cyc = f
        if not self.synced:
            # The first cycle started wherever the stream did, and the cycle
            # after the first crossing ran on the nominal reference frequency:
            # drop both, start windows and seconds at the second crossing (the
            # reference now follows the measured period). Without crossings
            # (no voltage, DC) start at once.
            if zc and not self.zc_seen:
                self.zc_seen = True
                return
            self.synced = True
            K.acc_reset(self.win, nch)
            K.acc_reset(self.sec, nch)
            ff = f / 4096.0
            self.w_f = self.s_f = ff
            self._xvals(zc, ff, self.w_x)
            self._xvals(zc, ff, self.s_x)
            self.s_due = self.fs
            return
        self.cyc_n = cnt
        self.cyc_seq += 1
        self.cyc_nozc = nozc
        for fn in self.cycle_listeners:
            fn(self)
        # window
        self.w_cnt += cnt
        self.w_cyc += 1
        if nozc:
            self.w_nozc += 1
        wclose = self.w_cyc >= self.window_cycles
        # second: close at the cycle end nearest each multiple of fs samples
        self.s_cnt += cnt
        self.s_cyc += 1
        if nozc:
            self.s_nozc += 1
        self.s_due -= cnt
        sclose = (self.s_due << 12) + 2048 - f <= (L >> 1)
        if wclose or sclose:
            ff = f / 4096.0
            xb = self.x_end
            self._xvals(zc, ff, xb)
            if wclose:
                self.w_end = i
                self._close_window(ff, xb)
            if sclose:
                self.s_due += self.fs
                self._close_second(ff, xb)

    @property
    def cyc_len(self):
        """Length of the last crossing-to-crossing cycle (samples)."""
        return self.cyc_len12 / 4096.0

    def _xvals(self, zc, f, out):
        if zc:
            CY.crossing_values(self.st, self.nch, f, out)
        else:
            for c in range(self.nch):
                out[c] = 0.0

    def cycle_rms(self, c):
        """Rms of channel c over the last cycle (units; plain sample rms, DC
        included, no edge correction: for protection, within ~0.5 %)."""
        ms = self.cyc_ms[2 * c]
        return math.sqrt(ms) * self.k[c] if ms > 0 else 0.0

    def cycle_p(self, c):
        """Mean of v*x over the last cycle for channel c >= 1 (W)."""
        return self.cyc_ms[2 * c + 1] * self.k[0] * self.k[c]

    def _values(self, acc, cnt, fa, fb, xa, xb, out):
        if self.dc:
            from metrology.dc import dc_values
            dc_values(acc, self.nch, cnt, self.k, self.kraw, self.offs, out)
        else:
            CY.window_values(acc, self.nch, cnt, fa, fb, xa, xb, self.k, out)

    def _flags(self, out, nozc):
        fl = Q_NOZC if nozc else 0
        if self.fault:
            fl |= Q_FAULT
        for c in range(self.nch):
            if out[CY.R_N * c + CY.R_CLIP]:
                fl |= Q_CLIP
        return fl

    def _close_window(self, fb, xb):
        cnt = self.w_cnt
        self.w_fb = fb
        self.w_xb = xb
        self._values(self.win, cnt, self.w_f, fb, self.w_x, xb, self.wres)
        L = cnt + fb - self.w_f
        self.w_len = L
        # frequency only from crossing-to-crossing spans
        self.w_f_hz = self.w_cyc * self.fs / L if (self.w_nozc == 0 and not self.dc and L > 0) else 0.0
        self.w_flags = self._flags(self.wres, self.w_nozc)
        self.w_seq += 1
        for fn in self.listeners:
            fn(self, KIND_WIN)
        K.acc_reset(self.win, self.nch)
        self.w_cnt = 0
        self.w_cyc = 0
        self.w_nozc = 0
        self.w_f = fb
        wx = self.w_x
        for c in range(self.nch):
            wx[c] = xb[c]

    def _close_second(self, fb, xb):
        cnt = self.s_cnt
        self._values(self.sec, cnt, self.s_f, fb, self.s_x, xb, self.sres)
        L = cnt + fb - self.s_f
        self.s_len = L
        self.s_total += L
        self.s_f_hz = self.s_cyc * self.fs / L if (self.s_nozc == 0 and not self.dc and L > 0) else 0.0
        self.s_flags = self._flags(self.sres, self.s_nozc)
        self.s_seq += 1
        for fn in self.listeners:
            fn(self, KIND_SEC)
        K.acc_reset(self.sec, self.nch)
        self.s_cnt = 0
        self.s_cyc = 0
        self.s_nozc = 0
        self.s_f = fb
        sx = self.s_x
        for c in range(self.nch):
            sx[c] = xb[c]

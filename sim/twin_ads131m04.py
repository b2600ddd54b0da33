# Frame-accurate twin of the TI ADS131M04 (unix port only, never on the MCU).
#
# What the driver sees is what the chip would put on the wire (SBAS890):
#   - register map with datasheet reset values and writable-bit masks; ID and
#     STATUS (and REGMAP_CRC) read-only, reserved addresses read 0, writes to
#     them ignored;
#   - commands NULL/RESET/STANDBY/WAKEUP/LOCK/UNLOCK/RREG/WREG, the response in
#     the next frame (RESET -> FF24h, WREG -> 010a aaaa ammm mmmm, multi-register
#     RREG -> ack word 111a aaaa annn nnnn + registers, no ADC data); unknown
#     words and commands refused by LOCK act as NULL; RESET needs a full frame;
#     optional input CRC (MODE.RX_CRC_EN) with STATUS.CRC_ERR;
#   - output frames: response word, 4 channel words, CRC word (CCITT or ANSI per
#     MODE.CRC_TYPE, seed FFFFh); WLENGTH 16/24/32 (zero-padded or sign-extended);
#   - a 2-deep conversion FIFO ("Collecting data for the first time or after a
#     pause"): a third unread conversion pushes the oldest out (counted in
#     .lost); DRDY falls per conversion (pulsing high first when still low, the
#     tw(DRH) pulse), rises only once every queued conversion has been shifted
#     out, so after a late read it stays low. STATUS.DRDYn is set while a
#     conversion is queued, so a frame read with nothing queued (old data) shows
#     DRDYn = 0. DRDY lines shared between twins are wired-AND;
#   - SYNC/RESET pin: low >= 2048 CLKIN periods (250 us) resets, shorter syncs;
#   - CLOCK (channel enables, OSR/TBM -> data rate), GAIN1 (PGA), CHn_CFG
#     (PHASEn delay in modulator clocks, MUXn shorted/test signals), OCAL/GCAL
#     calibration, STANDBY. Not modelled: the sinc filter response (a conversion
#     is the sample at its instant; OSR > 512 decimates by picking samples), DC
#     block, global chop, current detect, F_RESYNC, REGMAP_CRC (reads 0),
#     DRDY_SEL; DRDY_HiZ does not matter (shared lines are always wired-AND).
#
# DMA (attach_dma) bypasses the FIFO and DRDY: each conversion's frame, as a
# NULL read would clock it out (response word, usually STATUS), goes straight
# into the ring. Counters: conversions, lost, frames (SPI frames), resets
# (including power-on), syncs.
#
# Analog model per channel: code = round(x * scale * (1 + gain_err)) + offset +
# noise, x in uV/uA delayed by (phase error + PHASEn) with linear interpolation,
# scale = afe[ch] [V per V or A] * 1e-6 * PGA gain * 2**23 / 1.2; the modulator
# saturates at +/-2**23; then OCAL is subtracted, GCAL/2**23 applied and the
# result clipped to 0x7FFFFF/0x800000. Scaling is fixed point: K = round(scale
# * (1 + gain_err) * 2**36), code = (x * K + 2**35) >> 36.
import time
import micropython
from array import array
from sim.hw import SpiDevice

_REG_ID = 0x00
_REG_STATUS = 0x01
_REG_MODE = 0x02
_REG_CLOCK = 0x03
_REG_GAIN1 = 0x04
_REG_CH0_CFG = 0x09
_REG_REGMAP_CRC = 0x3E

# address: (reset value, writable bits)
_REGDEF = {
    0x02: (0x0510, 0x3F1F),   # MODE
    0x03: (0x0F0E, 0x0F3F),   # CLOCK
    0x04: (0x0000, 0x7777),   # GAIN1
    0x06: (0x0600, 0x1FFF),   # CFG
    0x07: (0x0000, 0xFFFF),   # THRSHLD_MSB
    0x08: (0x0000, 0xFF0F),   # THRSHLD_LSB
}
for _ch in range(4):
    _b = 0x09 + 5 * _ch
    _REGDEF[_b] = (0x0000, 0xFFC7)       # CHn_CFG
    _REGDEF[_b + 1] = (0x0000, 0xFFFF)   # CHn_OCAL_MSB
    _REGDEF[_b + 2] = (0x0000, 0xFF00)   # CHn_OCAL_LSB
    _REGDEF[_b + 3] = (0x8000, 0xFFFF)   # CHn_GCAL_MSB
    _REGDEF[_b + 4] = (0x0000, 0xFF00)   # CHn_GCAL_LSB
_RESET = array("H", [0] * 64)
_WMASK = array("H", [0] * 64)
for _a, (_r, _m) in _REGDEF.items():
    _RESET[_a] = _r
    _WMASK[_a] = _m

_OSRS = (128, 256, 512, 1024, 2048, 4096, 8192, 16256)
_IN_MAX = 4 * (64 + 2)     # MOSI bytes kept per frame: WREG of every register + CRC
_TEST_SIGNAL = 1118481     # 2/15 of full scale, whatever the gain


def _crc_table(poly):
    t = array("H", [0] * 256)
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ poly) if c & 0x8000 else (c << 1)
        t[i] = c & 0xFFFF
    return t


_TAB_CCITT = _crc_table(0x1021)   # MODE.CRC_TYPE = 0
_TAB_ANSI = _crc_table(0x8005)    # MODE.CRC_TYPE = 1


def _crc(buf, n, tab):
    c = 0xFFFF
    for i in range(n):
        c = ((c << 8) & 0xFFFF) ^ tab[((c >> 8) ^ buf[i]) & 0xFF]
    return c


# One channel of one block: x (uV/uA) -> codes at out[4i + ch]. st (array 'i'):
# [delay q16, offset, noise q16, lcg, x[-1], x[-2], x[-3], ocal, gcal, xlim, cal on].
# 64-bit arithmetic (unix port only).
@micropython.viper
def _convert(x: ptr32, out: ptr32, st: ptr32, n: int, k: int, ch: int) -> int:
    sgn = 1 << 31
    d = (st[0] ^ sgn) - sgn
    off = (st[1] ^ sgn) - sgn
    rq = st[2]
    lcg = st[3]
    x1 = (st[4] ^ sgn) - sgn
    x2 = (st[5] ^ sgn) - sgn
    x3 = (st[6] ^ sgn) - sgn
    ocal = (st[7] ^ sgn) - sgn
    gcal = st[8]
    xlim = st[9]
    cal = st[10]
    half = 1 << 35
    m32 = (1 << 32) - 1
    i = 0
    while i < n:
        x0 = (x[i] ^ sgn) - sgn
        if d < 65536:
            a = x0
            b = x1
            f = d          # negative: linear extrapolation (a lead)
        elif d < 131072:
            a = x1
            b = x2
            f = d - 65536
        else:
            a = x2
            b = x3
            f = d - 131072
        y = a + (((b - a) * f + 32768) >> 16)
        x3 = x2
        x2 = x1
        x1 = x0
        if y > xlim:
            y = xlim
        elif y < 0 - xlim:
            y = 0 - xlim
        c = (y * k + half) >> 36
        c += off
        if rq != 0:
            s = 0
            j = 0
            while j < 4:
                lcg = (lcg * 1664525 + 1013904223) & m32
                s += ((lcg >> 16) & 0xFFFF) - 32768
                j += 1
            c += (s * rq + (1 << 31)) >> 32
        if c > 8388607:
            c = 8388607
        elif c < -8388608:
            c = -8388608
        if cal:
            c = ((c - ocal) * gcal + 0x400000) >> 23
            if c > 8388607:
                c = 8388607
            elif c < -8388608:
                c = -8388608
        out[4 * i + ch] = c
        i += 1
    st[3] = lcg
    st[4] = x1
    st[5] = x2
    st[6] = x3
    return n


# Write conversions codes[4i..4i+3], i = start, start+step, .. < end, as
# complete output frames into consecutive ring slots (or one buffer with N=1).
# c (array 'i'): [N, word bytes, WLENGTH, wr, count, first resp, status, start,
# step, end, written (out), lost (out)].
@micropython.viper
def _frames(codes: ptr32, buf: ptr8, c: ptr32, tab: ptr16) -> int:
    nslots = c[0]
    ws = c[1]
    fmt = c[2]
    wr = c[3]
    cnt = c[4]
    resp = c[5]
    stw = c[6]
    i = c[7]
    step = c[8]
    end = c[9]
    fb = ws * 6
    n2 = nslots + nslots
    written = 0
    lost = 0
    while i < end:
        if cnt >= nslots:
            lost += 1
        else:
            slot = wr
            if slot >= nslots:
                slot = wr - nslots
            p = slot * fb
            buf[p] = (resp >> 8) & 0xFF
            buf[p + 1] = resp & 0xFF
            q = p + 2
            while q < p + ws:
                buf[q] = 0
                q += 1
            q = p + ws
            j = 0
            while j < 4:
                v = codes[4 * i + j] & 0xFFFFFF
                if ws == 3:
                    buf[q] = v >> 16
                    buf[q + 1] = (v >> 8) & 0xFF
                    buf[q + 2] = v & 0xFF
                elif ws == 2:
                    buf[q] = v >> 16
                    buf[q + 1] = (v >> 8) & 0xFF
                elif fmt == 3:
                    buf[q] = 0xFF if v & 0x800000 else 0
                    buf[q + 1] = v >> 16
                    buf[q + 2] = (v >> 8) & 0xFF
                    buf[q + 3] = v & 0xFF
                else:
                    buf[q] = v >> 16
                    buf[q + 1] = (v >> 8) & 0xFF
                    buf[q + 2] = v & 0xFF
                    buf[q + 3] = 0
                q += ws
                j += 1
            crc = 0xFFFF
            r = p
            while r < q:
                crc = ((crc << 8) & 0xFFFF) ^ tab[((crc >> 8) ^ buf[r]) & 0xFF]
                r += 1
            buf[q] = crc >> 8
            buf[q + 1] = crc & 0xFF
            r = q + 2
            while r < q + ws:
                buf[r] = 0
                r += 1
            wr += 1
            if wr >= n2:
                wr = 0
            cnt += 1
            written += 1
        resp = stw
        i += step
    c[3] = wr
    c[4] = cnt
    c[10] = written
    c[11] = lost
    return written


# Shift one transfer: MISO from out[pos..outlen) (zeros beyond), MOSI kept in inb.
@micropython.viper
def _shift(out: ptr8, pos: int, outlen: int, tx: ptr8, rx: ptr8, n: int, inb: ptr8,
           il: int) -> int:
    i = 0
    lim = int(_IN_MAX)
    while i < n:
        p = pos + i
        rx[i] = out[p] if p < outlen else 0
        if il < lim:
            inb[il] = tx[i]
            il += 1
        i += 1
    return il


@micropython.viper
def _fill(buf: ptr8, n: int, v: int):
    i = 0
    while i < n:
        buf[i] = v
        i += 1


@micropython.viper
def _zero(out: ptr32, n: int, ch: int):
    i = 0
    while i < n:
        out[4 * i + ch] = 0
        i += 1


class Ads131m04Twin(SpiDevice):
    SPI_MODE = (0, 1)
    ID = 0x2400            # ID register; a subclass with another value is another part

    def __init__(self, name, *, drdy=None, sync_reset=None, pins=None, afe=None, fs=8000,
                 seed=1, clkin=8192000):
        self.name = name
        if pins:
            drdy = pins.get("drdy", drdy)
            sync_reset = pins.get("sync_reset", sync_reset)
        self.present = True
        self.fs = fs
        self.clkin = clkin
        self.afe = list(afe) if afe is not None else [1.0, 1.0, 1.0, 1.0]
        if len(self.afe) != 4:
            raise ValueError("afe needs 4 entries (input volts per V or A)")
        self.seed = seed
        self.regs = array("H", [0] * 64)
        # injected errors
        self.gain_err = [0.0] * 4
        self.delay_err = [0.0] * 4     # samples at fs
        self.offset = [0] * 4          # codes
        self.noise = [0.0] * 4         # rms codes
        self._corrupt = 0
        # counters for tests and health
        self.conversions = 0
        self.lost = 0                  # conversions pushed out of the FIFO unread
        self.frames = 0                # SPI frames clocked (CS low..high)
        self.resets = 0
        self.syncs = 0
        # per-channel converter state (see _convert)
        self._st = [array("i", [0] * 11) for _ in range(4)]
        for ch in range(4):
            self._st[ch][3] = (seed * 2654435761 + ch * 40503 + 12345) & 0x7FFFFFFF
        self._k = [0] * 4
        self._dirty = True
        self._n = 0
        self._codes = array("i")
        self._zeros = array("i")
        self._const = array("i")
        self._ctl = array("i", [0] * 12)
        self._phase = 0                # input samples until the next conversion
        # FIFO: 2 entries of 4 codes; _last is what a read with nothing queued shows
        self._fifo = array("i", [0] * 8)
        self._last = array("i", [0] * 4)
        self._fhead = 0
        self._fcount = 0
        # SPI frame state
        self._out = bytearray(80)
        self._in = bytearray(_IN_MAX)
        self._outlen = 0
        self._pos = 0
        self._inlen = 0
        self._fws = 3
        self._out_data = False
        self._pending = -1             # response word for the next frame (-1: STATUS)
        self._multi = None             # multi-register RREG response words
        self._crc_err = False
        self._dma = None
        # pins
        self._drdy_out = 1
        self.drdy = drdy
        if drdy is not None:
            # Every twin on one DRDY pin shares this list: the line is low while
            # any of them pulls it low. Kept on the pin so it dies with the board.
            line = getattr(drdy, "_wired_and", None)
            if line is None:
                line = []
                drdy._wired_and = line
            line.append(self)
            self._line = line
        self.sync_reset = sync_reset
        self._sr_t0 = None
        if sync_reset is not None:
            sync_reset.watch(self._on_sync_reset)
        self._reset()
        self._set_drdy(1)

    # --- registers --------------------------------------------------------------------
    def _reset(self):
        r = self.regs
        for a in range(64):
            r[a] = _RESET[a]
        self._standby = False
        self._locked = False
        self._crc_err = False
        self._fcount = 0
        self._fhead = 0
        for i in range(4):
            self._last[i] = 0
        self._multi = None
        # After POR, the pin or RESET the first response is FF00h | ID[15:8].
        self._pending = 0xFF00 | ((self.ID >> 8) & 0xFF)
        self._phase = 0
        self._dirty = True
        self.resets += 1
        if self.drdy is not None:
            self._set_drdy(1)

    def reg(self, addr):
        """Register value as RREG returns it."""
        addr &= 0x3F
        if addr == _REG_ID:
            return self.ID & 0xFFFF
        if addr == _REG_STATUS:
            return self._status()
        if addr == _REG_REGMAP_CRC:
            return 0
        return self.regs[addr]

    def _write(self, addr, v):
        addr &= 0x3F
        m = _WMASK[addr]
        if m:   # read-only and reserved registers ignore writes
            self.regs[addr] = v & m
            self._dirty = True

    def _status(self):
        m = self.regs[_REG_MODE]
        s = m & 0x0F00                 # CRC_TYPE, RESET, WLENGTH mirror MODE
        if self._locked:
            s |= 0x8000
        if self._crc_err:
            s |= 0x1000
        if self._fcount:
            s |= (self.regs[_REG_CLOCK] >> 8) & 0x0F
        return s

    def _ws(self):
        w = (self.regs[_REG_MODE] >> 8) & 3
        return 2 if w == 0 else (3 if w == 1 else 4)

    # --- SPI ---------------------------------------------------------------------------
    def select(self):
        self._pos = 0
        self._inlen = 0
        if not self.present:
            return
        ws = self._ws()
        self._fws = ws
        out = self._out
        tab = _TAB_ANSI if self.regs[_REG_MODE] & 0x0800 else _TAB_CCITT
        if self._multi is not None:
            words = self._multi
            self._multi = None
            if (len(words) + 1) * ws > len(out):
                out = self._out = bytearray((len(words) + 1) * ws)
            p = 0
            for w in words:
                out[p] = w >> 8
                out[p + 1] = w & 0xFF
                for q in range(p + 2, p + ws):
                    out[q] = 0
                p += ws
            crc = _crc(out, p, tab)
            n = len(words)
            self._out_data = False
        else:
            resp = self._pending
            if resp < 0:
                resp = self._status()
                self._crc_err = False      # reading STATUS clears CRC_ERR
            c = self._ctl
            c[0] = 1
            c[1] = ws
            c[2] = (self.regs[_REG_MODE] >> 8) & 3
            c[3] = 0
            c[4] = 0
            c[5] = resp
            c[6] = resp
            if self._fcount:
                c[7] = self._fhead
                c[9] = self._fhead + 1
                src = self._fifo
            else:
                c[7] = 0
                c[9] = 1
                src = self._last
            c[8] = 1
            _frames(src, out, c, tab)
            n = 5
            p = 5 * ws
            crc = (out[p] << 8) | out[p + 1]
            self._out_data = True
        self._pending = -1
        if self._corrupt > 0:
            self._corrupt -= 1
            crc ^= 0x5A5A
        out[n * ws] = crc >> 8
        out[n * ws + 1] = crc & 0xFF
        self._outlen = (n + 1) * ws

    def xfer(self, tx, rx):
        n = len(rx)
        if not self.present:
            _fill(rx, n, 0xFF)        # MISO floats high
            return
        self._inlen = _shift(self._out, self._pos, self._outlen, tx, rx, n, self._in,
                             self._inlen)
        self._pos += n

    def deselect(self):
        if not self.present:
            return
        self.frames += 1
        ws = self._fws
        nin = self._inlen
        if self._out_data and nin >= 5 * ws and self._fcount:
            # All four channel words shifted out: that conversion leaves the FIFO.
            self._fhead ^= 1
            self._fcount -= 1
            if self._fcount == 0 and self.regs[_REG_MODE] & 1 == 0:
                self._set_drdy(1)
        if nin >= ws:
            self._command(nin, ws)

    def _word(self, k, ws):
        p = k * ws
        return (self._in[p] << 8) | self._in[p + 1]

    def _command(self, nin, ws):
        cmd = self._word(0, ws)
        top = cmd & 0xE000
        ndata = 0
        if top == 0x6000:
            ndata = (cmd & 0x7F) + 1
        if self.regs[_REG_MODE] & 0x1000:      # RX_CRC_EN: CRC word after command/data
            at = 1 + ndata
            tab = _TAB_ANSI if self.regs[_REG_MODE] & 0x0800 else _TAB_CCITT
            if nin < (at + 1) * ws or _crc(self._in, at * ws, tab) != self._word(at, ws):
                self._crc_err = True
                return
        if cmd == 0x0000:
            return
        if cmd == 0x0011:
            if nin >= 6 * ws:                  # RESET only acts on a full frame
                self._reset()
            return
        if top == 0xA000:                      # RREG
            addr = (cmd >> 7) & 0x3F
            nn = cmd & 0x7F
            if nn == 0:
                self._pending = self.reg(addr)
            else:
                self._rreg_multi(addr, nn)
            return
        if cmd == 0x0655:
            self._locked = False
            self._pending = cmd
            return
        if self._locked:                       # only NULL, UNLOCK and RREG while locked
            return
        if cmd == 0x0555:
            self._locked = True
            self._pending = cmd
        elif cmd == 0x0022:
            self._standby = True
            self._pending = cmd
        elif cmd == 0x0033:
            self._standby = False
            self._pending = cmd
        elif top == 0x6000:                    # WREG: data words follow the command
            if nin < (1 + ndata) * ws:
                return
            addr = (cmd >> 7) & 0x3F
            for k in range(ndata):
                if addr + k < 64:
                    self._write(addr + k, self._word(1 + k, ws))
            self._pending = 0x4000 | (addr << 7) | (ndata - 1)
        # anything else: not a command, answered like NULL

    def _rreg_multi(self, addr, nn):
        # Kept out of _command: a comprehension there would turn its locals
        # into heap cells on every call.
        words = [0xE000 | (addr << 7) | nn]
        for k in range(nn + 1):
            words.append(self.reg(addr + k) if addr + k < 64 else 0)
        self._multi = words

    # --- pins ---------------------------------------------------------------------------
    def _set_drdy(self, v):
        self._drdy_out = v
        pin = self.drdy
        if pin is None:
            return
        lvl = 1
        for t in self._line:
            if t._drdy_out == 0:
                lvl = 0
        if pin.value() != lvl:
            pin.drive(lvl)

    def _on_sync_reset(self, pin, level):
        if level == 0:
            self._sr_t0 = time.ticks_us()
            return
        if self._sr_t0 is None:
            return
        dt = time.ticks_diff(time.ticks_us(), self._sr_t0)
        self._sr_t0 = None
        if not self.present:
            return
        if dt * self.clkin >= 2048 * 1000000:
            self._reset()
        else:
            # SYNC: the digital filters restart; queued conversions are dropped.
            self.syncs += 1
            self._fcount = 0
            self._phase = 0
            self._set_drdy(1)

    # --- error injection ----------------------------------------------------------------
    def set_gain_error(self, ch, rel):
        self.gain_err[ch] = float(rel)
        self._dirty = True

    def set_phase_error(self, ch, deg, f_nom=50.0):
        """Delay channel ch by deg at f_nom (positive: lags)."""
        d = deg / 360.0 / f_nom * self.fs
        if not -1.0 <= d <= 2.0:
            raise ValueError("phase error %.3f deg is %.3f samples; twin supports -1..2"
                             % (deg, d))
        self.delay_err[ch] = d
        self._dirty = True

    def set_offset(self, ch, codes):
        if not -(1 << 24) <= codes <= 1 << 24:
            raise ValueError("offset beyond +/-2**24 codes")
        self.offset[ch] = int(codes)
        self._dirty = True

    def set_noise(self, ch, rms_codes):
        if not 0 <= rms_codes <= 16384:
            raise ValueError("noise rms must be 0..16384 codes")
        self.noise[ch] = float(rms_codes)
        self._dirty = True

    def corrupt_crc(self, n=1):
        """The next n output frames (SPI or DMA) carry a wrong CRC."""
        self._corrupt += n

    # --- conversions ------------------------------------------------------------------------
    def attach_dma(self, ring):
        """Simulated DMA: every conversion's frame goes straight into ring
        (lost, ring.overruns += 1, when full); DRDY is left to the DMA engine."""
        self._dma = ring

    def detach_dma(self):
        self._dma = None

    def samples_per_conversion(self):
        """Input samples per conversion (OSR and CLKIN against fs)."""
        clock = self.regs[_REG_CLOCK]
        osr = 64 if clock & 0x20 else _OSRS[(clock >> 2) & 7]
        num = self.fs * osr * 2
        if num % self.clkin or num < self.clkin:
            raise ValueError("twin %s: OSR %d gives %.1f SPS; a %d Hz simulation needs an "
                             "integer divisor" % (self.name, osr, self.clkin / 2 / osr, self.fs))
        return num // self.clkin

    def _prepare(self):
        r = self.regs
        gains = r[_REG_GAIN1]
        fmod = self.clkin // 2
        for ch in range(4):
            st = self._st[ch]
            g = 1 << ((gains >> (4 * ch)) & 7)
            cfg = r[_REG_CH0_CFG + 5 * ch]
            phase = cfg >> 6
            if phase & 0x200:
                phase -= 0x400
            d = self.delay_err[ch] + phase * self.fs / fmod
            if d < -1.0:
                d = -1.0
            elif d > 2.99:
                d = 2.99
            scale = self.afe[ch] * 1e-6 * g * 8388608 / 1.2 * (1.0 + self.gain_err[ch])
            self._k[ch] = round(scale * (1 << 36))
            st[0] = round(d * 65536)
            st[1] = self.offset[ch]
            st[2] = round(self.noise[ch] * 1.7320508075688772 * 65536)
            ocal = (r[0x0A + 5 * ch] << 8) | (r[0x0B + 5 * ch] >> 8)
            if ocal & 0x800000:
                ocal -= 0x1000000
            gcal = (r[0x0C + 5 * ch] << 8) | (r[0x0D + 5 * ch] >> 8)
            st[7] = ocal
            st[8] = gcal
            st[10] = 1 if (ocal != 0 or gcal != 0x800000) else 0
            # Inputs beyond this saturate anyway; clamping keeps x * K inside 64 bits.
            xlim = int(16777216 / scale) + 1 if scale > 0 else 0x7FFFFFFF
            st[9] = xlim if xlim < 0x7FFFFFFF else 0x7FFFFFFF
        self._dirty = False

    def _grow(self, n):
        if n > self._n:
            self._codes = array("i", bytes(16 * n))
            self._zeros = array("i", bytes(4 * n))
            self._const = array("i", bytes(4 * n))
            self._n = n

    def on_samples(self, inputs, n):
        """Convert one block: inputs[ch] is an array('i') of >= n samples (uV for
        ch0, uA for ch1..3, scaled by afe) or None (0). Returns conversions made."""
        if n <= 0 or not self.present or self._standby:
            return 0
        en = (self.regs[_REG_CLOCK] >> 8) & 0x0F
        if en == 0:
            return 0
        step = self.samples_per_conversion()
        if self._dirty:
            self._prepare()
        self._grow(n)
        codes = self._codes
        r = self.regs
        for ch in range(4):
            st = self._st[ch]
            mux = r[_REG_CH0_CFG + 5 * ch] & 3
            if not (en >> ch) & 1:
                _zero(codes, n, ch)          # a disabled channel outputs 0
                continue
            k = self._k[ch]
            if mux == 0:
                x = inputs[ch] if inputs[ch] is not None else self._zeros
                if len(x) < n:
                    raise ValueError("input %d holds %d samples, need %d" % (ch, len(x), n))
            elif mux == 1:
                x = self._zeros            # inputs shorted
            else:
                # internal test signal, already in codes
                x = self._const
                v = _TEST_SIGNAL if mux == 2 else -_TEST_SIGNAL
                for i in range(n):
                    x[i] = v
                k = 1 << 36
                xl = st[9]
                st[9] = 0x7FFFFFFF
                _convert(x, codes, st, n, k, ch)
                st[9] = xl
                continue
            _convert(x, codes, st, n, k, ch)
        start = self._phase
        if start >= n:
            self._phase = start - n
            return 0
        made = (n - 1 - start) // step + 1
        self._phase = start + made * step - n
        self.conversions += made
        ring = self._dma
        if ring is not None:
            self._dma_out(ring, codes, start, step, n)
        else:
            for i in range(start, n, step):
                self._push(codes, i)
        return made

    def _dma_out(self, ring, codes, start, step, n):
        ws = self._ws()
        if ring.frame_bytes != 6 * ws:
            raise ValueError("twin %s: ring frames are %d bytes, the chip's are %d (WLENGTH)"
                             % (self.name, ring.frame_bytes, 6 * ws))
        c = self._ctl
        nfr = ring.nframes
        wr0 = ring.wr
        c[0] = nfr
        c[1] = ws
        c[2] = (self.regs[_REG_MODE] >> 8) & 3
        c[3] = wr0
        c[4] = ring.count()
        resp = self._pending
        st = self._status() | ((self.regs[_REG_CLOCK] >> 8) & 0x0F)
        c[5] = resp if resp >= 0 else st
        c[6] = st
        c[7] = start
        c[8] = step
        c[9] = n
        tab = _TAB_ANSI if self.regs[_REG_MODE] & 0x0800 else _TAB_CCITT
        written = _frames(codes, ring.buf, c, tab)
        self._pending = -1
        if self._corrupt and written:
            m = self._corrupt if self._corrupt < written else written
            fb = ring.frame_bytes
            for j in range(m):
                p = ((wr0 + j) % nfr) * fb + 5 * ws
                ring.buf[p] ^= 0x5A
                ring.buf[p + 1] ^= 0x5A
            self._corrupt -= m
        if written:
            ring.commit(written)
        if c[11]:
            ring.overruns += c[11]

    def _push(self, codes, i):
        f = self._fifo
        if self._fcount == 2:
            self._fhead ^= 1            # oldest conversion pushed out unread
            self._fcount = 1
            self.lost += 1
        e = 4 * ((self._fhead + self._fcount) & 1)
        b = 4 * i
        last = self._last
        for j in range(4):
            v = codes[b + j]
            f[e + j] = v
            last[j] = v
        self._fcount += 1
        if self.regs[_REG_MODE] & 1:    # DRDY_FMT: a short low pulse per conversion
            self._set_drdy(0)
            self._set_drdy(1)
        else:
            if self._drdy_out == 0:
                self._set_drdy(1)       # tw(DRH) pulse ahead of the next falling edge
            self._set_drdy(0)

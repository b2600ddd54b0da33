# TI ADS131M04: 4-channel simultaneous-sampling 24-bit delta-sigma ADC (SPI mode 1).
#
# Written from the datasheet (SBAS890): 24-bit words (WLENGTH 01b, the reset
# default). An output frame is the response word (STATUS for NULL), the four
# channel words and the output CRC word (CRC-16-CCITT, seed FFFFh, over every
# byte before it): 6 words = 18 bytes. An input frame is the command word,
# optional data words (WREG) and zeros. The response to a command appears in
# the NEXT frame.
#
# Each chip buffers conversions in a 2-deep FIFO: after a read DRDY stays low
# if a second conversion is still queued (the host was late by at least one
# period; a third conversion would have pushed the oldest out). irq_handler
# detects that and reads the queued conversion too, counting errors.overrun.
#
# Hot paths: irq_handler (hard IRQ, no allocation) moves one raw frame into a
# FrameRing; drain() validates CRCs and unpacks a whole ring in one viper call.
#
# Several chips on one wired-AND DRDY line (the sim24/h743_24 AFE): configure
# them with begin(drdy_open_drain=True) and take DRDY with
# ADS131M04.group_handler(drivers, drdy_pin), which reads every chip and only
# then looks at the line. Per-chip irq_handlers on a shared line still deliver
# each conversion once, but re-read chips whose neighbours hold DRDY low.
import time
import micropython
from array import array
from micropython import const
from drivers.errors import AbsentError, IdError, CrcError, DeviceError, ErrorCounters
from drivers.framering import FrameRing
from drivers.crc import T16  # CRC-16/CCITT table (crc16_ccitt), inlined in the kernels

# --- registers (datasheet Table 8-12) ---------------------------------------------
REG_ID = const(0x00)
REG_STATUS = const(0x01)
REG_MODE = const(0x02)
REG_CLOCK = const(0x03)
REG_GAIN1 = const(0x04)
REG_CFG = const(0x06)
REG_THRSHLD_MSB = const(0x07)
REG_THRSHLD_LSB = const(0x08)
REG_CH0_CFG = const(0x09)        # CHn_CFG = 09h + 5n: PHASEn[9:0] (15:6), DCBLKn_DIS (2), MUXn (1:0)
REG_CH0_OCAL_MSB = const(0x0A)   # CHn_OCAL_MSB/LSB = 0Ah/0Bh + 5n: OCALn[23:0], subtracted
REG_CH0_OCAL_LSB = const(0x0B)
REG_CH0_GCAL_MSB = const(0x0C)   # CHn_GCAL_MSB/LSB = 0Ch/0Dh + 5n: GCALn[23:0], 800000h = 1.0
REG_CH0_GCAL_LSB = const(0x0D)
REG_CH_STRIDE = const(5)
REG_REGMAP_CRC = const(0x3E)

# --- commands (Table 8-11) ------------------------------------------------------------
_CMD_NULL = const(0x0000)
_CMD_RESET = const(0x0011)
_CMD_STANDBY = const(0x0022)
_CMD_WAKEUP = const(0x0033)
_CMD_RREG = const(0xA000)        # 101a aaaa annn nnnn
_CMD_WREG = const(0x6000)        # 011a aaaa annn nnnn
_ACK_RESET = const(0xFF24)       # FF00h | ID[15:8] of a 4-channel part
_ACK_WREG = const(0x4000)        # 010a aaaa ammm mmmm

# --- bit fields ----------------------------------------------------------------------------
ID_MASK = const(0xFF00)
ID_ADS131M04 = const(0x2400)     # 24xxh: CHANCNT = 4
STATUS_LOCK = const(0x8000)
STATUS_F_RESYNC = const(0x4000)
STATUS_REG_MAP = const(0x2000)
STATUS_CRC_ERR = const(0x1000)
STATUS_RESET = const(0x0400)
STATUS_DRDY_MASK = const(0x000F)
MODE_RX_CRC_EN = const(0x1000)
MODE_RESET = const(0x0400)
MODE_WLENGTH_24 = const(0x0100)
MODE_TIMEOUT = const(0x0010)
MODE_DRDY_HIZ = const(0x0002)    # open-drain DRDY: needed when DRDY lines are wired-AND
MODE_DRDY_FMT = const(0x0001)
CLOCK_CH_EN_ALL = const(0x0F00)
CLOCK_PWR_HR = const(0x0002)     # high-resolution power mode
_OSR_SHIFT = const(2)
_PHASE_SHIFT = const(6)

# --- frame geometry (24-bit words) -----------------------------------------------------
_W = const(3)                    # bytes per word
FRAME_BYTES = const(18)          # response + 4 channels + CRC: 6 words
_CRC_AT = const(15)              # the CRC word's offset (its first 2 bytes hold the CRC)

FULL_SCALE_V = 1.2               # +/-1.2 V / PGA gain


def volts_per_code(afe):
    """Volts at the measured node per 24-bit code behind a voltage divider
    (afe: the board's {"gain": PGA gain, "divider": node / pin ratio})."""
    return FULL_SCALE_V / afe["gain"] / (1 << 23) * afe["divider"]


def amps_per_code(afe):
    """Primary amps per 24-bit code of a CT on a burden resistor
    (afe: the board's {"gain": PGA gain, "ct_ratio": turns, "burden": ohms})."""
    return FULL_SCALE_V / afe["gain"] / (1 << 23) * afe["ct_ratio"] / afe["burden"]
_OSRS = (128, 256, 512, 1024, 2048, 4096, 8192, 16256)
_GAINS = (1, 2, 4, 8, 16, 32, 64, 128)


# Unpack n ring frames starting at slot `c[1]` into out[4k+ch]. c: array('i')
# [nframes, first slot, n, hold0..hold3, bad CRCs, last good status].
# 32-bit safe: bytes are assembled into at most 24 bits and sign-extended with
# an XOR/subtract inside +/-2**24 (no shift into bit 31, which would only
# sign-extend on a 32-bit port); CRC intermediates stay below 2**24.
@micropython.viper
def _drain(buf: ptr8, out: ptr32, c: ptr32, tab: ptr8) -> int:
    nfr = c[0]
    slot = c[1]
    n = c[2]
    h0 = c[3]
    h1 = c[4]
    h2 = c[5]
    h3 = c[6]
    bad = 0
    st = c[8]
    k = 0
    while k < n:
        p = slot * FRAME_BYTES
        crc = 0xFFFF
        i = p
        e = p + _CRC_AT
        while i < e:
            j = ((crc >> 8) ^ buf[i]) & 0xFF
            crc = ((crc << 8) & 0xFF00) ^ ((tab[2 * j] << 8) | tab[2 * j + 1])
            i += 1
        o = 4 * k
        if crc == ((buf[e] << 8) | buf[e + 1]):
            st = (buf[p] << 8) | buf[p + 1]
            q = p + _W                  # channel 0's word
            v = (buf[q] << 16) | (buf[q + 1] << 8) | buf[q + 2]
            h0 = (v ^ 0x800000) - 0x800000
            q += _W
            v = (buf[q] << 16) | (buf[q + 1] << 8) | buf[q + 2]
            h1 = (v ^ 0x800000) - 0x800000
            q += _W
            v = (buf[q] << 16) | (buf[q + 1] << 8) | buf[q + 2]
            h2 = (v ^ 0x800000) - 0x800000
            q += _W
            v = (buf[q] << 16) | (buf[q + 1] << 8) | buf[q + 2]
            h3 = (v ^ 0x800000) - 0x800000
        else:
            # Keep the stream aligned: hold the previous good samples.
            bad += 1
        out[o] = h0
        out[o + 1] = h1
        out[o + 2] = h2
        out[o + 3] = h3
        slot += 1
        if slot >= nfr:
            slot = 0
        k += 1
    c[3] = h0
    c[4] = h1
    c[5] = h2
    c[6] = h3
    c[8] = st
    return bad


# Frame CRC check without allocation (IRQ-safe): 1 if the CRC word matches.
@micropython.viper
def _crc_ok(buf: ptr8, tab: ptr8) -> int:
    crc = 0xFFFF
    i = 0
    while i < _CRC_AT:
        j = ((crc >> 8) ^ buf[i]) & 0xFF
        crc = ((crc << 8) & 0xFF00) ^ ((tab[2 * j] << 8) | tab[2 * j + 1])
        i += 1
    return 1 if crc == ((buf[_CRC_AT] << 8) | buf[_CRC_AT + 1]) else 0


class ADS131M04:
    def __init__(self, spi, cs, drdy=None, sync_reset=None, *, name="ads131m04",
                 ring_frames=256, shared_drdy=False):
        self.spi = spi
        self.cs = cs
        self.drdy = drdy
        self.sync_reset = sync_reset
        self.name = name
        cs.init(cs.OUT, value=1)
        if sync_reset is not None:
            sync_reset.init(sync_reset.OUT, value=1)
        # With one DRDY line shared by several chips, "still low after my read"
        # may just mean another chip is unread, so the group handler checks instead.
        self.shared_drdy = shared_drdy
        self.errors = ErrorCounters()
        self.ring = FrameRing(FRAME_BYTES, ring_frames)
        self._tx = bytearray(FRAME_BYTES)          # NULL command frame
        self._cmd = bytearray(FRAME_BYTES)         # command frames
        self._rx = bytearray(FRAME_BYTES)
        self._ctl = array("i", [0] * 9)            # drain kernel state (see _drain)
        self.codes = array("i", [0] * 4)           # last read_frame() codes
        self.status = 0
        self.gains = (1, 1, 1, 1)
        self.osr = 512
        self._drdy_mask = 0x0F
        # Bound once: a bound method made at IRQ time would allocate.
        self.irq_handler = self._irq_handler

    # --- SPI frames ------------------------------------------------------------------
    def _xfer(self, tx):
        cs = self.cs
        cs(0)
        try:
            self.spi.write_readinto(tx, self._rx)
        finally:
            cs(1)
        return self._rx

    def _frame(self, tx, word):
        rx = self._xfer(tx)
        if not _crc_ok(rx, T16):
            self.errors.crc += 1
            raise CrcError(self.name, "output frame fails CRC (command 0x%04x, %s)"
                           % (word, _hex(rx)))
        return (rx[0] << 8) | rx[1]

    def _command(self, word, data=-1):
        c = self._cmd
        c[0] = word >> 8
        c[1] = word & 0xFF
        c[3] = (data >> 8) & 0xFF if data >= 0 else 0
        c[4] = data & 0xFF if data >= 0 else 0
        self._frame(c, word)
        # The response to a command is shifted out in the following frame.
        return self._frame(self._tx, word)

    def rreg(self, addr):
        """Read one register (16 bits). Raises CrcError on a corrupted frame."""
        return self._command(_CMD_RREG | ((addr & 0x3F) << 7))

    def wreg(self, addr, value):
        """Write one register; checks the chip's WREG acknowledgment."""
        ack = self._command(_CMD_WREG | ((addr & 0x3F) << 7), value & 0xFFFF)
        want = _ACK_WREG | ((addr & 0x3F) << 7)
        if ack != want:
            self.errors.other += 1
            raise DeviceError(self.name, "WREG 0x%02x acknowledged with 0x%04x, expected 0x%04x"
                              % (addr, ack, want))

    def standby(self):
        return self._command(_CMD_STANDBY) == _CMD_STANDBY

    def wakeup(self):
        return self._command(_CMD_WAKEUP) == _CMD_WAKEUP

    # --- reset and configuration -------------------------------------------------------
    def hw_reset(self):
        """Hold SYNC/RESET low for >= 2048 CLKIN periods (250 us at 8.192 MHz).
        The pin is shared by every ADS131M04 on the board: reset once, then begin()."""
        p = self.sync_reset
        if p is None:
            raise DeviceError(self.name, "no SYNC/RESET pin")
        p(0)
        time.sleep_us(300)
        p(1)
        time.sleep_us(10)  # tREGACQ before the first frame

    def sync(self):
        """A SYNC pulse (< 2048 CLKIN periods) restarts conversions in step on
        every chip sharing the pin, and empties their FIFOs."""
        p = self.sync_reset
        if p is None:
            raise DeviceError(self.name, "no SYNC/RESET pin")
        p(0)
        p(1)

    def begin(self, osr=512, gains=(1, 1, 1, 1), phase=(0, 0, 0, 0), *, hw_reset=False,
              drdy_open_drain=False):
        """Reset (RESET command, or the SYNC/RESET pin with hw_reset=True), check
        the part, configure and verify. Raises AbsentError, IdError, CrcError,
        DeviceError (configuration not taken), ValueError (bad argument)."""
        if osr not in _OSRS:
            raise ValueError("osr must be one of %r" % (_OSRS,))
        if len(gains) != 4 or len(phase) != 4:
            raise ValueError("gains and phase need 4 entries")
        for g in gains:
            if g not in _GAINS:
                raise ValueError("gain must be one of %r" % (_GAINS,))
        for ph in phase:
            if not -512 <= ph <= 511:
                raise ValueError("phase is a 10-bit modulator-clock count (-512..511)")
        if hw_reset:
            self.hw_reset()
        else:
            # RESET needs a full frame; its acknowledgment comes in the next one.
            c = self._cmd
            for i in range(FRAME_BYTES):
                c[i] = 0
            c[1] = _CMD_RESET
            self._xfer(c)
        rx = self._xfer(self._tx)
        if _floating(rx):
            self.errors.absent += 1
            raise AbsentError(self.name, "no answer on SPI (MISO reads %s)" % _hex(rx))
        if not _crc_ok(rx, T16):
            self.errors.crc += 1
            raise CrcError(self.name, "reset response fails CRC (%s): check SPI mode 1 "
                           "(CPOL 0, CPHA 1), 24-bit words and wiring" % _hex(rx))
        resp = (rx[0] << 8) | rx[1]
        if not hw_reset and resp != _ACK_RESET:
            self.errors.id += 1
            raise IdError(self.name, "RESET acknowledged with 0x%04x, expected 0x%04x "
                          "(ADS131M04)" % (resp, _ACK_RESET))
        ident = self.rreg(REG_ID)
        if ident & ID_MASK != ID_ADS131M04:
            self.errors.id += 1
            raise IdError(self.name, "ID register reads 0x%04x, expected 0x24xx (ADS131M04)"
                          % ident)
        # MODE: 24-bit words, CCITT CRC, no input CRC, SPI timeout, level DRDY,
        # and RESET cleared so a later unexpected reset shows in STATUS.
        mode = MODE_WLENGTH_24 | MODE_TIMEOUT
        if drdy_open_drain:
            mode |= MODE_DRDY_HIZ
        clock = CLOCK_CH_EN_ALL | (_OSRS.index(osr) << _OSR_SHIFT) | CLOCK_PWR_HR
        gain = 0
        for ch in range(4):
            gain |= _GAINS.index(gains[ch]) << (4 * ch)
        want = [(REG_MODE, mode), (REG_CLOCK, clock), (REG_GAIN1, gain)]
        for ch in range(4):
            want.append((REG_CH0_CFG + REG_CH_STRIDE * ch, (phase[ch] & 0x3FF) << _PHASE_SHIFT))
        for addr, v in want:
            self.wreg(addr, v)
        for addr, v in want:
            got = self.rreg(addr)
            if got != v:
                self.errors.other += 1
                raise DeviceError(self.name, "register 0x%02x reads back 0x%04x, wrote 0x%04x"
                                  % (addr, got, v))
        self.gains = tuple(gains)
        self.osr = osr
        self._drdy_mask = (clock >> 8) & 0x0F
        # Collecting data for the first time: read two frames so both FIFO
        # entries are empty and DRDY starts clean.
        self._frame(self._tx, _CMD_NULL)
        self.status = self._frame(self._tx, _CMD_NULL)
        self.ring.reset()
        return ident

    # --- data ------------------------------------------------------------------------------
    def read_frame(self):
        """Read one frame (polled use); codes land in self.codes. Returns the
        status word. Raises CrcError (counted) on a corrupted frame."""
        rx = self._xfer(self._tx)
        if not _crc_ok(rx, T16):
            self.errors.crc += 1
            raise CrcError(self.name, "output frame fails CRC (%s)" % _hex(rx))
        c = self._ctl
        c[0] = 1
        c[1] = 0
        c[2] = 1
        _drain(rx, self.codes, c, T16)
        self.status = c[8]
        return self.status

    def _irq_handler(self, pin):
        # Hard IRQ on DRDY falling: one frame into the ring. When the ring is
        # full the chip is still read (into scratch) so its DRDY clears.
        ring = self.ring
        slot = ring.head_slot()
        cs = self.cs
        if slot is None:
            cs(0)
            self.spi.write_readinto(self._tx, ring.scratch)
            cs(1)
            ring.overruns += 1
        else:
            cs(0)
            self.spi.write_readinto(self._tx, slot)
            cs(1)
            ring.push()
        if not self.shared_drdy:
            d = self.drdy
            if d is not None and d.value() == 0:
                self.catch_up()

    def catch_up(self):
        """Read the conversion still queued in the chip's FIFO, if any (DRDY
        still low after a read: the host was at least one period late). Returns
        1 and counts errors.overrun when a queued conversion was taken; a frame
        without new data (status DRDY bits clear) is dropped. IRQ-safe.

        The family's data sheets (AMC131M01 "DRDY pin behavior", DRDY_FMT = 0):
        DRDY stays low "until ... all conversion data are shifted out", going
        high briefly before the next falling edge when a conversion completes
        unread; ADS131M08 SBAS950B says reading every frame keeps DRDY
        predictable. The ADS131M04's own section on resuming after a pause
        (SBAS890 8.5.1.9.1) was not found. The hand-off does not depend on the
        level: the STATUS DRDYn bits of the frame read here decide whether it
        holds new data (TI precision-adc-examples ads131m0x.h: STATUS_DRDYn_NEW_DATA),
        and a level seen high during that brief pulse is followed by a falling
        edge, whose IRQ reads the queued conversion instead."""
        ring = self.ring
        slot = ring.head_slot()
        full = slot is None
        if full:
            slot = ring.scratch
        cs = self.cs
        cs(0)
        self.spi.write_readinto(self._tx, slot)
        cs(1)
        # A frame that fails its CRC is kept: drain() counts it and holds samples.
        if _crc_ok(slot, T16) and not (slot[1] & self._drdy_mask):
            return 0
        self.errors.overrun += 1
        if full:
            ring.overruns += 1
        else:
            ring.push()
        return 1

    @staticmethod
    def group_handler(drivers, drdy):
        """One DRDY hard-IRQ handler for chips sharing a wired-AND DRDY line:
        read every chip, then, if the line is still low, take each chip's
        queued conversion. Bind once; calling it allocates nothing."""
        drivers = tuple(drivers)
        for d in drivers:
            d.shared_drdy = True
        reads = tuple(d.irq_handler for d in drivers)
        catch = tuple(d.catch_up for d in drivers)

        def handler(pin):
            for r in reads:
                r(pin)
            if drdy.value() == 0:
                for c in catch:
                    c()
        return handler

    def drain(self, out, max_frames):
        """Validate and unpack up to max_frames ring frames into out (array('i'),
        interleaved ch0..ch3 per frame) in one viper call. A frame with a bad CRC
        is counted (errors.crc) and repeats the previous good samples. Returns
        frames consumed."""
        ring = self.ring
        n = ring.count()
        if n > max_frames:
            n = max_frames
        lim = len(out) >> 2
        if n > lim:
            n = lim
        if n <= 0:
            return 0
        c = self._ctl
        c[0] = ring.nframes
        c[1] = ring.tail_index()
        c[2] = n
        bad = _drain(ring.buf, out, c, T16)
        ring.release(n)
        if bad:
            self.errors.crc += bad
        self.status = c[8]
        return n

    def lsb_volts(self, ch):
        """Volts at the input pins per code of channel ch."""
        return FULL_SCALE_V / self.gains[ch] / 8388608


def _floating(buf):
    a = buf[0]
    if a != 0xFF and a != 0x00:
        return False
    for b in buf:
        if b != a:
            return False
    return True


def _hex(buf):
    return "".join("%02x" % b for b in buf)

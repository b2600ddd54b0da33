# Analog Devices ADE9000: polyphase energy metering AFE with its own DSP
# (rms, power, energy, line period) and a 2048-word waveform buffer.
#
# Written from the ADE9000 data sheet and Technical Reference Manual UG-1098:
#   SPI mode 0 or 3, MSB first. Command header CMD_HDR = address[11:0] << 4,
#   bit 3 = 1 for a read. Registers 0x480..0x4FE are 16-bit, all others (and
#   the waveform buffer 0x800..0xFFF) 32-bit, big-endian. After the data of a
#   non-burst register read the chip clocks out CRC_SPI, a CRC-16-CCITT (seed
#   0xFFFF, MSB first) of the data bytes; this driver always reads and checks
#   it. Writes carry no CRC, so configuration is read back after writing.
#   Waveform buffer reads are bursts: one header, the address auto-increments.
#   Full-scale codes (TRM Table 8, 0.707 V rms at the pins, PGA 1): xRMS
#   52,702,092; xWATT/xVAR/xVA 20,694,066; sinc4 + IIR LPF samples 74,518,668.
#   Line frequency f = 8000 * 2^16 / (xPERIOD + 1). Energy: 45-bit signed user
#   accumulators, xHR_HI = 32 MSBs, xHR_LO = 13 LSBs, each LSB one xWATT code
#   for one 8 kSPS sample.
#   The part has no ID register of the usual kind: PART_ID (0x472) bit 20 is
#   ADE9000_ID and CONFIG5 (0x4A4) resets to 0x0063; both are checked. VERSION
#   is read and kept for reporting.
#
# Waveform buffer use: fixed data rate, sinc4 + IIR LPF at 8 kSPS, all seven
# channels, continuous fill. The buffer stores 8 words per sample set: 2048
# words hold 32 ms at 8 kSPS, 256 sets (ADE9000 data sheet Rev. B p. 40,
# "Waveform Buffer"); a 128-word page holds 16 sets, so no set straddles a
# page; 16 pages (WFB_TRG_STAT.WFB_LAST_PAGE is 4 bits, WFB_PG_IRQEN 16). A
# burst read with BURST_CHAN = 0000 ("all channels", Table 7 WFB_CFG) returns
# only the stored channels, packed: 7 words per set [IA, VA, IB, VB, IC, VC,
# IN] with WF_IN_EN = 1 (6 without), while the address advances 8 words per
# set. Linux drivers/iio/adc/ade9000.c reads half the buffer (128 sets) as
# 128 x (active channels) words the same way. The slot order inside the 8
# stored words is not spelled out by the sources: only the burst's order is
# used here. drain() polls WFB_TRG_STAT (last page filled) and burst-reads
# whole pages. Loss
# detection: WFB_PG_IRQEN enables only the page last read; if that page is
# filled again (STATUS0.PAGE_FULL, IRQ0 low) the chip has lapped the reader and
# data were overwritten: errors.overrun counts the gap, reading resumes at the
# 15 newest whole pages and `gap` is set for the consumer.
#
# Hot path: drain() allocates nothing (preallocated buffers and memoryviews,
# status bits tested on the raw bytes, viper unpack kernel, 32-bit safe).
import time
import micropython
from micropython import const
from drivers.errors import AbsentError, IdError, CrcError, DeviceError, ErrorCounters
from drivers.crc import crc16_ccitt

# --- registers --------------------------------------------------------------------
# calibration, phase A; phase B = +0x20, phase C = +0x40
AIGAIN = const(0x000)
APHCAL0 = const(0x006)
AVGAIN = const(0x00B)
AIRMSOS = const(0x00C)
AVRMSOS = const(0x00D)
APGAIN = const(0x00E)
AWATTOS = const(0x00F)
AVAROS = const(0x010)
CONFIG0 = const(0x060)
NIRMSOS = const(0x06B)
NIGAIN = const(0x06D)
NPHCAL = const(0x06E)
DICOEFF = const(0x072)
# measurements, phase A; phase B = +0x20, phase C = +0x40
AI_PCF = const(0x20A)
AV_PCF = const(0x20B)
AIRMS = const(0x20C)
AVRMS = const(0x20D)
AWATT = const(0x210)
AVAR = const(0x211)
AVA = const(0x212)
NI_PCF = const(0x265)
NIRMS = const(0x266)
VERSION2 = const(0x26A)
# energy, phase A; phase B = +0x3C, phase C = +0x78
AWATTHR_LO = const(0x2E6)
AWATTHR_HI = const(0x2E7)
AVARHR_LO = const(0x2F0)
AVARHR_HI = const(0x2F1)
AVAHR_LO = const(0x2FA)
AVAHR_HI = const(0x2FB)
# status, interrupts, levels, period
STATUS0 = const(0x402)
STATUS1 = const(0x403)
EVENT_STATUS = const(0x404)
MASK0 = const(0x405)
MASK1 = const(0x406)
EVENT_MASK = const(0x407)
VLEVEL = const(0x40F)
APERIOD = const(0x418)
BPERIOD = const(0x419)
CPERIOD = const(0x41A)
PART_ID = const(0x472)
# 16-bit configuration registers (0x480..0x4FE)
RUN = const(0x480)
CONFIG1 = const(0x481)
ACCMODE = const(0x492)
CONFIG3 = const(0x493)
ZX_LP_SEL = const(0x49A)
WFB_CFG = const(0x4A0)
WFB_PG_IRQEN = const(0x4A1)
WFB_TRG_CFG = const(0x4A2)
WFB_TRG_STAT = const(0x4A3)
CONFIG5 = const(0x4A4)
CRC_SPI = const(0x4A9)
LAST_CMD = const(0x4AE)
CONFIG2 = const(0x4AF)
EP_CFG = const(0x4B0)
EGY_TIME = const(0x4B2)
PGA_GAIN = const(0x4B9)
VERSION = const(0x4FE)
WFB_BASE = const(0x800)

# --- bit fields -------------------------------------------------------------------------
ST0_EGYRDY = const(0x00000001)
ST0_PAGE_FULL = const(0x00020000)
ST1_RSTDONE = const(0x00010000)
PART_ID_ADE9000 = const(0x00100000)
CONFIG5_RESET = const(0x0063)
CONFIG1_SWRST = const(0x0001)
CONFIG2_HPF_1HZ25 = const(0x0C00)       # HPF_CRN = 6
ACCMODE_SELFREQ_60 = const(0x0100)       # VCONSEL = 0 (4-wire wye), ICONSEL = 0
# EP_CFG: EGY_PWR_EN (bit 0) on, EGY_LD_ACCUM (bit 4) 0: at each EGYRDY the
# internal energy is ADDED to the user registers (data sheet Rev. B Table 7
# p. 76, "If this bit is equal to zero, the internal energy register is added
# to the user accessible energy register"). energy() relies on that: it
# differences successive 45-bit readings, so it must run more often than the
# register wraps (2^44 / (20,694,066 x 8000) = 106.3 s at full scale). no-OS and
# Linux write 0x0011 instead (overwrite: each reading is the last period's energy).
EP_CFG_EGY_PWR_EN = const(0x0001)
PGA_CODE_X2 = const(1)
PGA_CODE_X4 = const(2)
WFB_CFG_IN_EN = const(0x1000)
WFB_CFG_SRC_LPF = const(0x0200)          # sinc4 + IIR LPF, 8 kSPS
WFB_CFG_MODE_STREAM = const(0x00C0)      # continuous fill
WFB_CFG_CAP_SEL_FIXED = const(0x0020)    # fixed data rate (not resampled)
WFB_CFG_CAP_EN = const(0x0010)
_WFB_CONF = const(0x12E0)                # IN_EN | SRC_LPF | MODE 3 | CAP_SEL; BURST_CHAN = all

# --- scaling (TRM Table 8) ---------------------------------------------------------------
RMS_FS = 52702092
WATT_FS = 20694066
WFB_FS = 74518668                        # sinc4 + IIR LPF sample at +/-1 V peak
FS_VRMS_PIN = 0.70710678                 # V rms at the pins for the full-scale codes, PGA 1
FDSP = const(8000)
_VLEVEL_PER_RATIO = 1144084              # VLEVEL = (full scale / nominal) * 1,144,084

# --- waveform buffer geometry ----------------------------------------------------------
CHANNELS = ("IA", "VA", "IB", "VB", "IC", "VC", "IN")
SET_WORDS = const(8)                     # stored words per set (the address step)
BURST_SET_WORDS = const(7)               # words per set a burst returns (WF_IN_EN = 1)
SETS_PER_PAGE = const(16)
PAGES = const(16)
_PAGE_BYTES = const(448)                 # burst bytes per page: 16 sets x 7 words x 4
_BURST_PAGES = const(5)                  # pages per SPI burst (one 2.2 KB buffer): a 10 ms poll's 80 sets


def _is16(addr):
    return 0x480 <= addr <= 0x4FE


@micropython.viper
def _zero(buf: ptr8, start: int, end: int):
    i = start
    while i < end:
        buf[i] = 0
        i += 1


@micropython.viper
def _unpack(src: ptr8, start: int, nsets: int, dst: ptr32, dpos: int):
    # Big-endian words of packed burst sets [IA VA IB VB IC VC IN] -> 7 interleaved int32.
    s = 0
    o = start
    d = dpos
    while s < nsets:
        ch = 0
        while ch < 7:
            dst[d] = (src[o] << 24) | (src[o + 1] << 16) | (src[o + 2] << 8) | src[o + 3]
            o += 4
            d += 1
            ch += 1
        s += 1


def _signed32(v):
    return v - 0x100000000 if v & 0x80000000 else v


def phcal_code(deg, f_line=50.0):
    """xPHCALx for a phase correction of `deg` degrees (positive: current lags
    voltage in the sensor) at f_line, per TRM: (sin(phi - w) + sin w) /
    sin(2w - phi) * 2^27 with w = 2*pi*f_line / 8000."""
    import math
    w = 2 * math.pi * f_line / FDSP
    phi = deg * math.pi / 180.0
    return int(round((math.sin(phi - w) + math.sin(w)) / math.sin(2 * w - phi) * (1 << 27)))


def gain_code(rel):
    """xGAIN register for a gain of `rel` (1.0 = no correction): (rel - 1) * 2^27."""
    return int(round((rel - 1.0) * (1 << 27)))


class ADE9000:
    def __init__(self, spi, cs, *, irq0=None, irq1=None, reset=None, name="ade9000", pga_gain=1,
                 v_scale=None, i_scale=None, v_divider=None, ct_ratio=None, ct_burden=None,
                 crc_retries=1):
        self.spi = spi
        self.cs = cs
        self.irq0 = irq0
        self.irq1 = irq1
        self.reset_pin = reset
        self.name = name
        if pga_gain not in (1, 2, 4):
            raise ValueError("pga_gain must be 1, 2 or 4")
        self.pga_gain = pga_gain
        # Line units per volt at the ADC pins.
        if v_scale is None:
            v_scale = v_divider if v_divider is not None else 1.0
        if i_scale is None:
            i_scale = (ct_ratio / ct_burden) if ct_ratio is not None and ct_burden else 1.0
        self.v_scale = v_scale
        self.i_scale = i_scale
        vfs = FS_VRMS_PIN / pga_gain * v_scale            # line V rms at full-scale code
        ifs = FS_VRMS_PIN / pga_gain * i_scale
        self.v_per_code = vfs / RMS_FS
        self.i_per_code = ifs / RMS_FS
        self.w_per_code = vfs * ifs / WATT_FS
        # waveform codes -> line units (V, A); per chip channel in drain() order
        self.v_per_sample = 1.0 / pga_gain * v_scale / WFB_FS
        self.i_per_sample = 1.0 / pga_gain * i_scale / WFB_FS
        self.sample_scale = (self.i_per_sample, self.v_per_sample) * 3 + (self.i_per_sample,)
        self.crc_retries = crc_retries
        self.errors = ErrorCounters()
        self.version = None
        self.f_nom = 50
        self.irq0_events = 0
        self.gap = False
        # register transactions: header + up to 4 data + 2 CRC bytes
        self._tx = bytearray(8)
        self._rx = bytearray(8)
        txm = memoryview(self._tx)
        rxm = memoryview(self._rx)
        self._txv = [txm[:n] for n in range(9)]
        self._rxv = [rxm[:n] for n in range(9)]
        # waveform bursts: header + whole pages, one buffer for both directions
        # (SPI.write_readinto accepts the same buffer: MOSI sends the header and
        # the zeros written before each burst, MISO overwrites them)
        self._brx = bytearray(2 + _BURST_PAGES * _PAGE_BYTES)
        brm = memoryview(self._brx)
        self._brv = [brm[:2 + k * _PAGE_BYTES] for k in range(_BURST_PAGES + 1)]
        self._last_page = 15
        self._energy = [[0, 0, 0] for _ in range(3)]       # extended accumulations (LSBs)
        self._energy_raw = [[0, 0, 0] for _ in range(3)]   # last 45-bit register values
        cs.init(cs.OUT, value=1)
        if reset is not None:
            reset.init(reset.OUT, value=1)
        if irq0 is not None:
            irq0.irq(handler=self._on_irq0, trigger=irq0.IRQ_FALLING, hard=True)

    def _on_irq0(self, pin):
        # Hard IRQ: only a counter (no SPI, no allocation). IRQ0 falls when the
        # page last read is filled again, i.e. on a waveform buffer overrun.
        self.irq0_events += 1

    # --- SPI primitives -------------------------------------------------------------------
    def _xfer(self, n):
        self.cs(0)
        try:
            self.spi.write_readinto(self._txv[n], self._rxv[n])
        finally:
            self.cs(1)

    def _read_raw(self, addr, size):
        # One read with CRC into self._rx[2:2 + size]; returns nothing (no ints made).
        tx = self._tx
        hdr = (addr << 4) | 0x08
        tries = self.crc_retries + 1
        while True:
            tx[0] = hdr >> 8
            tx[1] = hdr & 0xFF
            for k in range(2, 4 + size):
                tx[k] = 0
            self._xfer(4 + size)
            rx = self._rx
            crc = (rx[2 + size] << 8) | rx[3 + size]
            if crc16_ccitt(rx, 2, size) == crc:
                return
            # MISO stuck high (nothing fitted) or low: absent, not a CRC problem
            b = rx[2]
            same = b == 0xFF or b == 0x00
            for k in range(3, 4 + size):
                if rx[k] != b:
                    same = False
            if same:
                self.errors.absent += 1
                raise AbsentError(self.name, "no answer on SPI (MISO reads 0x%02X)" % b)
            self.errors.crc += 1
            tries -= 1
            if tries <= 0:
                raise CrcError(self.name, "CRC_SPI mismatch reading 0x%03X" % addr)

    def read_reg16(self, addr):
        self._read_raw(addr, 2)
        rx = self._rx
        return (rx[2] << 8) | rx[3]

    def read_reg32(self, addr):
        self._read_raw(addr, 4)
        rx = self._rx
        return (rx[2] << 24) | (rx[3] << 16) | (rx[4] << 8) | rx[5]

    def read_reg(self, addr):
        return self.read_reg16(addr) if _is16(addr) else self.read_reg32(addr)

    def read_s32(self, addr):
        return _signed32(self.read_reg32(addr))

    def _write_raw(self, addr, value, size):
        # Write command (no CRC on writes): header, then `size` bytes of value, MSB first.
        tx = self._tx
        hdr = addr << 4
        tx[0] = hdr >> 8
        tx[1] = hdr & 0xFF
        for k in range(size):
            tx[2 + k] = (value >> (8 * (size - 1 - k))) & 0xFF
        self._xfer(2 + size)

    def write_reg16(self, addr, value):
        self._write_raw(addr, value, 2)

    def write_reg32(self, addr, value):
        self._write_raw(addr, value, 4)

    def write_reg(self, addr, value):
        if _is16(addr):
            self.write_reg16(addr, value)
        else:
            self.write_reg32(addr, value)

    def write_verify(self, addr, value):
        """Write then read back (SPI writes have no CRC); DeviceError on mismatch."""
        mask = 0xFFFF if _is16(addr) else 0xFFFFFFFF
        value &= mask
        self.write_reg(addr, value)
        got = self.read_reg(addr)
        if got != value:
            self.errors.other += 1
            raise DeviceError(self.name, "register 0x%03X reads 0x%X after writing 0x%X" % (addr, got, value))

    # --- bring-up ----------------------------------------------------------------------------
    def reset(self):
        """Hardware reset through RESET if wired, else software reset (CONFIG1.SWRST)."""
        if self.reset_pin is not None:
            self.reset_pin(0)
            time.sleep_us(50)                         # RESET pulse, > 10 us
            self.reset_pin(1)
        else:
            self.write_reg16(CONFIG1, CONFIG1_SWRST)

    def _try_read32(self, addr):
        # One read that neither raises nor counts: None if no valid answer.
        tx = self._tx
        hdr = (addr << 4) | 0x08
        tx[0] = hdr >> 8
        tx[1] = hdr & 0xFF
        for k in range(2, 8):
            tx[k] = 0
        self._xfer(8)
        rx = self._rx
        if crc16_ccitt(rx, 2, 4) != (rx[6] << 8) | rx[7]:
            return None
        return (rx[2] << 24) | (rx[3] << 16) | (rx[4] << 8) | rx[5]

    def wait_reset_done(self, polls=200, sleep_ms=None):
        """Poll STATUS1.RSTDONE (the chip may not answer at all while it boots).
        AbsentError if it never answers, DeviceError (timeout) if RSTDONE never sets."""
        if sleep_ms is None:
            sleep_ms = time.sleep_ms
        answered = False
        for k in range(polls):
            v = self._try_read32(STATUS1)
            if v is not None:
                answered = True
                if v & ST1_RSTDONE:
                    return
            if k + 1 < polls:
                sleep_ms(1)
        if not answered:
            self.errors.absent += 1
            raise AbsentError(self.name, "no answer on SPI after reset")
        self.errors.timeout += 1
        raise DeviceError(self.name, "RSTDONE not set after reset")

    def identify(self):
        part = self.read_reg32(PART_ID)
        cfg5 = self.read_reg16(CONFIG5)
        self.version = self.read_reg16(VERSION)
        if not part & PART_ID_ADE9000 or cfg5 != CONFIG5_RESET:
            self.errors.id += 1
            raise IdError(self.name, "not an ADE9000 (PART_ID 0x%08X, CONFIG5 0x%04X)" % (part, cfg5))

    def begin(self, f_nom=50, v_nom=None, sleep_ms=None, polls=200):
        """Reset, identify and configure the chip, start its DSP and the waveform
        buffer. Blocking (boot only): RSTDONE is polled up to `polls` times, 1 ms
        apart (sleep_ms: the delay function, default time.sleep_ms). v_nom (line
        V rms) sets VLEVEL; default assumes half of full scale."""
        if f_nom not in (50, 60):
            raise ValueError("f_nom must be 50 or 60")
        self.f_nom = f_nom
        self.reset()
        self.wait_reset_done(polls, sleep_ms)
        self.identify()
        self.write_reg32(STATUS1, ST1_RSTDONE)          # releases IRQ1
        ratio = 2.0 if v_nom is None else FS_VRMS_PIN / self.pga_gain * self.v_scale / v_nom
        # PGA_GAIN codes 00 = x1, 01 = x2, 10 = x4, 11 = x4 (data sheet Rev. B
        # Table 7, PGA_GAIN 0x4B9, p. 77; no-OS's enum calls code 2 "gain 3": no)
        g = (0, 0, PGA_CODE_X2, 0, PGA_CODE_X4)[self.pga_gain]
        pga = 0
        for shift in (0, 2, 4, 6, 8, 10, 12):
            pga |= g << shift
        cfg = (
            (PGA_GAIN, pga),
            (CONFIG0, 0),                                # HPF on, no integrators
            (CONFIG1, 0),                                # BURST_EN = 0: every read carries CRC
            (CONFIG2, CONFIG2_HPF_1HZ25),
            (CONFIG3, 0),
            (ACCMODE, ACCMODE_SELFREQ_60 if f_nom == 60 else 0),
            (ZX_LP_SEL, 0),                              # zero crossing / period from VA
            (VLEVEL, int(ratio * _VLEVEL_PER_RATIO)),
            (MASK0, ST0_PAGE_FULL),                      # IRQ0: waveform buffer overrun
            (MASK1, 0),
            (EVENT_MASK, 0),
            (EGY_TIME, FDSP - 1),                        # EGYRDY once a second
            (EP_CFG, EP_CFG_EGY_PWR_EN),
            (WFB_TRG_CFG, 0),
            (WFB_CFG, _WFB_CONF),
            (WFB_PG_IRQEN, 1 << 15),
        )
        for addr, v in cfg:
            self.write_verify(addr, v)
        self.write_verify(RUN, 1)
        self.write_verify(WFB_CFG, _WFB_CONF | WFB_CFG_CAP_EN)   # filling starts at 0x800
        self._last_page = (self.read_reg16(WFB_TRG_STAT) >> 12) & 15
        self.write_verify(WFB_PG_IRQEN, 1 << self._last_page)
        self.write_reg32(STATUS0, 0xFFFFFFFF)
        self.write_reg32(STATUS1, 0xFFFFFFFF)
        self.gap = False
        for ph in range(3):
            for q in range(3):
                self._energy[ph][q] = 0
                self._energy_raw[ph][q] = self._read_energy_raw(ph, q)

    # --- calibration -------------------------------------------------------------------------
    def set_calibration(self, phase, *, vgain=None, igain=None, phcal_deg=None, pgain=None,
                        f_line=None):
        """Per-phase calibration (phase 0/1/2 = A/B/C, 3 = neutral current):
        vgain/igain/pgain are multiplicative corrections (1.0 = none), phcal_deg
        the sensor phase error to cancel (current lagging voltage, degrees at
        f_line, default f_nom). Registers are written and read back."""
        if phase == 3:
            if igain is not None:
                self.write_verify(NIGAIN, gain_code(igain))
            if phcal_deg is not None:
                self.write_verify(NPHCAL, phcal_code(phcal_deg, f_line or self.f_nom))
            return
        off = 0x20 * phase
        if vgain is not None:
            self.write_verify(AVGAIN + off, gain_code(vgain))
        if igain is not None:
            self.write_verify(AIGAIN + off, gain_code(igain))
        if pgain is not None:
            self.write_verify(APGAIN + off, gain_code(pgain))
        if phcal_deg is not None:
            self.write_verify(APHCAL0 + off, phcal_code(phcal_deg, f_line or self.f_nom))

    # --- DSP measurements (slow path: floats) -------------------------------------------------
    def rms(self, phase):
        """(V rms, A rms) of phase 0/1/2 from the chip's filter-based rms."""
        off = 0x20 * phase
        return (self.read_reg32(AVRMS + off) * self.v_per_code,
                self.read_reg32(AIRMS + off) * self.i_per_code)

    def neutral_rms(self):
        return self.read_reg32(NIRMS) * self.i_per_code

    def power(self, phase):
        """(W, var, VA) of phase 0/1/2 (total active, reactive, apparent)."""
        off = 0x20 * phase
        k = self.w_per_code
        return (self.read_s32(AWATT + off) * k, self.read_s32(AVAR + off) * k,
                self.read_s32(AVA + off) * k)

    def frequency(self, phase):
        """Line frequency (Hz) of phase 0/1/2 from xPERIOD."""
        return FDSP * 65536.0 / (self.read_reg32(APERIOD + phase) + 1)

    def _read_energy_raw(self, ph, q):
        hi_a = (AWATTHR_HI, AVARHR_HI, AVAHR_HI)[q] + 0x3C * ph
        hi = self.read_reg32(hi_a)
        # The 13 LSBs are bits 12:0 of xHR_LO (data sheet Rev. B Figure 65;
        # UG-1098 p. 21: "The 13 LSBs ... are stored in the AWATTHR_LO register")
        lo = self.read_reg32(hi_a - 1) & 0x1FFF
        return (hi << 13) | lo                          # 45-bit two's complement

    def energy(self, phase):
        """(Wh, varh, VAh) accumulated since begin(). The chip's 45-bit user
        registers overflow after ~106 s at full scale; call at least that often."""
        out = []
        for q in range(3):
            raw = self._read_energy_raw(phase, q)
            d = (raw - self._energy_raw[phase][q]) & ((1 << 45) - 1)
            if d & (1 << 44):
                d -= 1 << 45
            self._energy_raw[phase][q] = raw
            self._energy[phase][q] += d
            out.append(self._energy[phase][q] * self.w_per_code / (FDSP * 3600.0))
        return tuple(out)

    # --- waveform buffer (hot path: no allocation) --------------------------------------------
    def _burst(self, page, npages):
        buf = self._brx
        hdr = ((WFB_BASE + page * 128) << 4) | 0x08
        buf[0] = hdr >> 8
        buf[1] = hdr & 0xFF
        _zero(buf, 2, 2 + npages * _PAGE_BYTES)
        b = self._brv[npages]
        self.cs(0)
        try:
            self.spi.write_readinto(b, b)
        finally:
            self.cs(1)

    def start(self):
        """Start streaming from the newest whole page: pages filled while the
        host was still booting are not wanted and must not count as a lap."""
        last = (self.read_reg16(WFB_TRG_STAT) >> 12) & 15
        self._last_page = last
        self.write_reg16(WFB_PG_IRQEN, 1 << last)
        self.write_reg32(STATUS0, ST0_PAGE_FULL)
        self.gap = False

    def drain(self, out, max_sets):
        """Append the sample sets filled since the last call to out (array('i'),
        7 interleaved channels [IA, VA, IB, VB, IC, VC, IN] per set, from out[0]),
        at most max_sets (whole pages of 16 sets). Returns the number of sets."""
        if len(out) < 7 * max_sets:
            max_sets = len(out) // 7
        try:
            self._read_raw(STATUS0, 4)
            lapped = self._rx[3] & 0x02                # STATUS0 bit 17: PAGE_FULL
            last = (self.read_reg16(WFB_TRG_STAT) >> 12) & 15
        except DeviceError:
            return 0                                   # counted; the pages stay for the next poll
        if lapped:
            # The page read last was filled again: unread pages were overwritten.
            self.errors.overrun += 1
            self.gap = True
            self._last_page = (last + 1) & 15          # resume at the 15 newest whole pages
        pending = (last - self._last_page) & 15
        npages = max_sets // SETS_PER_PAGE
        if pending < npages:
            npages = pending
        if npages == 0:
            if lapped:
                self.write_reg32(STATUS0, ST0_PAGE_FULL)
            return 0
        page = (self._last_page + 1) & 15
        done = 0
        left = npages
        while left:
            k = left
            if k > PAGES - page:
                k = PAGES - page                       # the buffer wraps at 0xFFF
            if k > _BURST_PAGES:
                k = _BURST_PAGES
            self._burst(page, k)
            _unpack(self._brx, 2, k * SETS_PER_PAGE, out, done * 7)
            done += k * SETS_PER_PAGE
            page = (page + k) & 15
            left -= k
        self._last_page = (page - 1) & 15
        # Arm the overrun sentinel on the page just read, then clear PAGE_FULL.
        self.write_reg16(WFB_PG_IRQEN, 1 << self._last_page)
        self.write_reg32(STATUS0, ST0_PAGE_FULL)
        return done

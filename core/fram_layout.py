# Partition map of the 256 KB MB85RS2MT FRAM and the layout header that
# guards it. Every region is written only by its owner module; see
# docs/persistence.md for the record formats and the power-loss argument.
#
#   0x00000  HEADER    64 B   magic, layout version, size, CRC
#   0x00040  BOOT A/B  2x64   boot counter, last known UTC (core/timesync.BootInfo)
#   0x00100  ENERGY A/B 2x1664 energy counters, 48 channels x 4 x u64 (core/energy)
#   0x01000  CONFIG A/B 2x6 KB serialised configuration (core/config)
#   0x04000  CAL A/B   2x2 KB calibration coefficient sets (core/calstore)
#   0x05000  (spare)   12 KB
#   0x08000  AUDIT     64 KB  512 x 128 B records (core/audit)
#   0x18000  EVENTS    96 KB  1024 x 96 B records (core/eventring)
#   0x30000  (spare)   64 KB  reserved: protection latch state, waveform captures
#
# FRAM writes are byte-immediate and in address order, so every record and
# slot here is laid out with its commit check (tail sequence/generation + CRC)
# in its last bytes: a write cut at any byte leaves a record that fails its
# check, never one that passes with mixed old/new content.
from micropython import const
import struct
from drivers.crc import crc16_ccitt

FRAM_SIZE = const(262144)

HEADER = const(0x00000)
HEADER_SIZE = const(64)
LAYOUT_MAGIC = b"PDUF"
LAYOUT_VERSION = const(1)

BOOT_A = const(0x00040)
BOOT_B = const(0x00080)
BOOT_SLOT = const(64)

ENERGY_A = const(0x00100)
ENERGY_B = const(0x00780)
ENERGY_SLOT = const(1664)      # 16 B header + 48 x 32 B + 8 B tail = 1560, padded
ENERGY_MAX_CHANNELS = const(48)

CONFIG_A = const(0x01000)
CONFIG_B = const(0x02800)
CONFIG_SLOT = const(6144)

CAL_A = const(0x04000)
CAL_B = const(0x04800)
CAL_SLOT = const(2048)

AUDIT_BASE = const(0x08000)
AUDIT_REC = const(128)
AUDIT_SLOTS = const(512)

EVENT_BASE = const(0x18000)
EVENT_REC = const(96)
EVENT_SLOTS = const(1024)

SPARE_BASE = const(0x30000)
SPARE_SIZE = const(0x10000)

# name -> (start, length), for the docs test and the overlap check
REGIONS = {
    "header": (HEADER, HEADER_SIZE),
    "boot": (BOOT_A, 2 * BOOT_SLOT),
    "energy_a": (ENERGY_A, ENERGY_SLOT),
    "energy_b": (ENERGY_B, ENERGY_SLOT),
    "config_a": (CONFIG_A, CONFIG_SLOT),
    "config_b": (CONFIG_B, CONFIG_SLOT),
    "cal_a": (CAL_A, CAL_SLOT),
    "cal_b": (CAL_B, CAL_SLOT),
    "audit": (AUDIT_BASE, AUDIT_REC * AUDIT_SLOTS),
    "events": (EVENT_BASE, EVENT_REC * EVENT_SLOTS),
    "spare": (SPARE_BASE, SPARE_SIZE),
}


def check_regions():
    """Raise ValueError if two regions overlap or one leaves the chip."""
    r = sorted(REGIONS.values())
    for i in range(len(r)):
        a, n = r[i]
        if a + n > FRAM_SIZE:
            raise ValueError("region 0x%x+%d past the end" % (a, n))
        if i and r[i - 1][0] + r[i - 1][1] > a:
            raise ValueError("regions overlap at 0x%x" % a)
    return True


def _header_bytes():
    b = bytearray(HEADER_SIZE)
    b[0:4] = LAYOUT_MAGIC
    struct.pack_into("<HHI", b, 4, LAYOUT_VERSION, 0, FRAM_SIZE)
    struct.pack_into("<H", b, HEADER_SIZE - 2, crc16_ccitt(b, 0, HEADER_SIZE - 2))
    return b


def prepare(fram):
    """Check the layout header at boot. Returns "ok", "formatted" (blank chip
    or another layout version: every region cleared, header written last so
    a cut during formatting formats again) or "repaired" (header damaged but
    the regions, each self-checking, are kept)."""
    b = bytearray(HEADER_SIZE)
    fram.readinto(HEADER, b)
    if b == _header_bytes():
        return "ok"
    blank = b == bytearray(HEADER_SIZE) or b == bytearray(b"\xff" * HEADER_SIZE)
    crc_ok = struct.unpack_from("<H", b, HEADER_SIZE - 2)[0] == crc16_ccitt(b, 0, HEADER_SIZE - 2)
    other_layout = crc_ok and b[0:4] == LAYOUT_MAGIC
    if blank or other_layout:
        zero = bytearray(1024)
        a = HEADER_SIZE
        while a < FRAM_SIZE:
            n = FRAM_SIZE - a
            fram.write(a, zero if n >= 1024 else zero[:n])
            a += 1024
        fram.write(HEADER, _header_bytes())
        return "formatted"
    fram.write(HEADER, _header_bytes())
    return "repaired"


class RamFram:
    """Stand-in for the FRAM driver when a board has none (or it is absent):
    the same readinto/write over RAM covering [lo, hi), lost at reset."""

    def __init__(self, lo=0, hi=FRAM_SIZE):
        self.lo = lo
        self.size = hi
        self.mem = bytearray(hi - lo)
        self._mv = memoryview(self.mem)

    def readinto(self, addr, buf):
        a = addr - self.lo
        buf[:] = self._mv[a:a + len(buf)]

    def write(self, addr, buf):
        a = addr - self.lo
        self._mv[a:a + len(buf)] = buf


class SlotPair:
    """Two fixed-size copies of a variable-length blob (config, calibration,
    energy counters, boot info). Each copy: u32 generation, u32 length,
    payload, zero padding, and in its last 6 bytes u32 generation + u16
    CRC-16 over the rest. The whole copy is written in one go to the copy not
    holding the newest blob, so a cut at any byte leaves the newest intact and
    the written copy failing its check: its tail still holds an older
    generation until every byte before the tail is new. Generations are never
    reused: if load() finds the other copy's header already carrying the next
    generation (a write torn after its first bytes), the next write skips it,
    so bytes left by a torn attempt can never complete a later one's tail."""

    def __init__(self, fram, a, b, slot_size):
        self.fram = fram
        self.addr = (a, b)
        self.size = slot_size
        self.img = bytearray(slot_size)
        self.gen = 0
        self.cur = -1   # index of the copy holding generation self.gen
        self._next = 1

    def max_payload(self):
        return self.size - 14

    def read_slot(self, i):
        """(generation, payload bytes) of copy i, or (0, None) if it fails its check."""
        b = self.img
        self.fram.readinto(self.addr[i], b)
        g, n = struct.unpack_from("<II", b, 0)
        t = self.size - 6
        if g == 0 or n > self.size - 14:
            return 0, None
        if struct.unpack_from("<I", b, t)[0] != g:
            return 0, None
        if struct.unpack_from("<H", b, t + 4)[0] != crc16_ccitt(b, 0, t + 4):
            return 0, None
        return g, bytes(b[8:8 + n])

    def is_blank(self, i):
        b = self.img
        self.fram.readinto(self.addr[i], b)
        v = b[0]
        if v != 0 and v != 0xFF:
            return False
        for x in b:
            if x != v:
                return False
        return True

    def never_written(self):
        """True if no write ever completed: with no valid copy, writes go to
        copy 0 until one completes, so a blank copy means a torn first write
        (or a new chip), not lost data."""
        return self.is_blank(0) or self.is_blank(1)

    def load(self):
        """Newest valid (generation, payload), or (0, None)."""
        best = (0, None)
        self.cur = -1
        for i in (0, 1):
            g, p = self.read_slot(i)
            if g > best[0]:
                best = (g, p)
                self.cur = i
        self.gen = best[0]
        self._next = self.gen + 1
        h = bytearray(4)
        self.fram.readinto(self.addr[0 if self.cur < 0 else 1 - self.cur], h)
        if struct.unpack_from("<I", h, 0)[0] == self._next:
            self._next += 1   # a torn write of that generation: never reuse it
        if self.cur < 0:
            self.fram.readinto(self.addr[1], h)
            if struct.unpack_from("<I", h, 0)[0] == self._next:
                self._next += 1
        return best

    def newer_lost(self):
        """After load(): the other copy carries a newer generation in its
        header but fails its check (a write cut short, or damage)."""
        return self._next > self.gen + 1

    def other(self):
        """(generation, payload) of the copy not holding the newest, if valid and older."""
        if self.cur < 0:
            return 0, None
        g, p = self.read_slot(1 - self.cur)
        if g >= self.gen:
            return 0, None
        return g, p

    def write(self, payload):
        n = len(payload)
        if n > self.size - 14:
            raise ValueError("%d bytes do not fit a %d-byte slot" % (n, self.size))
        g = self._next
        i = 0 if self.cur < 0 else 1 - self.cur
        b = self.img
        struct.pack_into("<II", b, 0, g, n)
        b[8:8 + n] = payload
        t = self.size - 6
        if t > 8 + n:
            b[8 + n:t] = bytes(t - 8 - n)
        struct.pack_into("<I", b, t, g)
        struct.pack_into("<H", b, t + 4, crc16_ccitt(b, 0, t + 4))
        self.fram.write(self.addr[i], b)
        self.gen = g
        self._next = g + 1
        self.cur = i
        return g

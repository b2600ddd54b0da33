# Fujitsu MB85RS serial (SPI) FRAM: MB85RS64V .. MB85RS2MT.
#
# FRAM writes are byte-immediate (no pages, no erase, no busy time), so a
# WRITE is just opcode + address + data in one CS frame. The chip clears its
# write-enable latch (WEL) at the end of every WRITE/WRSR, so each write is
# preceded by its own WREN. SPI mode 0 (mode 3 also works on the chip).
#
# Parts above 64 KB take 3 address bytes, smaller ones 2.
from micropython import const
from drivers.errors import AbsentError, IdError, DeviceError, ErrorCounters

_WREN = const(0x06)   # set write-enable latch
_RDSR = const(0x05)   # read status register
_WRSR = const(0x01)   # write status register
_READ = const(0x03)
_WRITE = const(0x02)
_RDID = const(0x9F)   # manufacturer (0x04), continuation (0x7F), product id x2

_SR_WPEN = const(0x80)  # with WP low, locks the status register
_SR_BP1 = const(0x08)
_SR_BP0 = const(0x04)

_MANUFACTURER_FUJITSU = const(0x04)
_CONTINUATION = const(0x7F)


class FRAM:
    """MB85RS FRAM on a ready SPI bus (mode 0) behind chip-select `cs`.

    size: bytes (262144 for the MB85RS2MT); begin() checks it against the
    density code the chip reports. wp: optional Pin on /WP, driven high
    (status register writable) except after set_block_protect(..., lock=True).
    """

    def __init__(self, spi, cs, *, size=262144, wp=None, name="fram"):
        self.spi = spi
        self.cs = cs
        self.size = size
        self.wp = wp
        self.name = name
        self.errors = ErrorCounters()
        self.addr_bytes = 3 if size > 65536 else 2
        self.device_id = None
        self.status = 0
        self._protect_from = size  # first address covered by block protect
        # Preallocated command buffers: the read path must not allocate.
        self._hdr = bytearray(4)
        self._hdr_mv = memoryview(self._hdr)[:1 + self.addr_bytes]
        self._op = bytearray(1)
        self._sr = bytearray(2)
        cs(1)
        if wp is not None:
            wp(1)

    # --- low level -------------------------------------------------------
    def _opcode(self, op):
        self._op[0] = op
        self.cs(0)
        try:
            self.spi.write(self._op)
        finally:
            self.cs(1)

    def _header(self, op, addr):
        h = self._hdr
        h[0] = op
        if self.addr_bytes == 3:
            h[1] = (addr >> 16) & 0xFF
            h[2] = (addr >> 8) & 0xFF
            h[3] = addr & 0xFF
        else:
            h[1] = (addr >> 8) & 0xFF
            h[2] = addr & 0xFF
        return self._hdr_mv

    def _check(self, addr, n):
        if addr < 0 or addr + n > self.size:
            raise ValueError("%s: range 0x%x+%d outside 0..0x%x" % (self.name, addr, n, self.size))

    # --- identification --------------------------------------------------
    def read_id(self):
        """RDID: 4 bytes (manufacturer, continuation code, product id 1, 2)."""
        buf = bytearray(4)
        self._op[0] = _RDID
        self.cs(0)
        try:
            self.spi.write(self._op)
            self.spi.readinto(buf)
        finally:
            self.cs(1)
        return bytes(buf)

    def begin(self):
        """Identify the chip and read its status. Raises AbsentError when MISO
        floats, IdError for another maker or a density other than `size`."""
        did = self.read_id()
        if did == b"\xff\xff\xff\xff" or did == b"\x00\x00\x00\x00":
            self.errors.absent += 1
            raise AbsentError(self.name, "no answer to RDID (MISO reads %02x)" % did[0])
        if did[0] != _MANUFACTURER_FUJITSU or did[1] != _CONTINUATION:
            self.errors.id += 1
            raise IdError(self.name, "RDID %s: not a Fujitsu FRAM" % _hex(did))
        # Product id byte 1: low 5 bits are the density code d, 2^(d+3) Kbit
        # (0x03 = 64 Kbit MB85RS64V ... 0x08 = 2 Mbit MB85RS2MT).
        density = did[2] & 0x1F
        chip_size = 1 << (density + 10) if density < 20 else 0
        if chip_size != self.size:
            self.errors.id += 1
            raise IdError(self.name, "RDID %s: %d bytes, board says %d"
                          % (_hex(did), chip_size, self.size))
        self.device_id = did
        self.read_status()
        return did

    # --- status register / block protect ---------------------------------
    def read_status(self):
        self._sr[0] = _RDSR
        self.cs(0)
        try:
            self.spi.write_readinto(self._sr, self._sr)
        finally:
            self.cs(1)
        sr = self._sr[1]
        self.status = sr
        bp = (sr >> 2) & 3
        # BP1:BP0 = 01 upper quarter, 10 upper half, 11 everything.
        self._protect_from = (self.size, self.size - (self.size >> 2), self.size >> 1, 0)[bp]
        return sr

    def write_status(self, value):
        """WRSR (WPEN, BP1, BP0 are the writable bits); verified by reading back."""
        if self.wp is not None:
            self.wp(1)
        self._opcode(_WREN)
        self._sr[0] = _WRSR
        self._sr[1] = value & (_SR_WPEN | _SR_BP1 | _SR_BP0)
        self.cs(0)
        try:
            self.spi.write(self._sr)
        finally:
            self.cs(1)
        got = self.read_status() & (_SR_WPEN | _SR_BP1 | _SR_BP0)
        if got != value & (_SR_WPEN | _SR_BP1 | _SR_BP0):
            self.errors.other += 1
            raise DeviceError(self.name, "status register write 0x%02x read back 0x%02x"
                              % (value, got))

    def set_block_protect(self, bp, *, lock=False):
        """bp: 0 none, 1 upper 1/4, 2 upper 1/2, 3 all. lock=True sets WPEN
        and (if the WP pin is wired) pulls WP low so the setting sticks."""
        if not 0 <= bp <= 3:
            raise ValueError("block protect 0..3")
        self.write_status((bp << 2) | (_SR_WPEN if lock else 0))
        if lock and self.wp is not None:
            self.wp(0)

    def protected_from(self):
        return self._protect_from

    # --- data ------------------------------------------------------------
    def readinto(self, addr, buf):
        """Fill buf (bytearray or memoryview slice) from addr. No allocation."""
        n = len(buf)
        self._check(addr, n)
        hdr = self._header(_READ, addr)
        self.cs(0)
        try:
            self.spi.write(hdr)
            self.spi.readinto(buf)
        finally:
            self.cs(1)

    def read(self, addr, n):
        buf = bytearray(n)
        self.readinto(addr, buf)
        return buf

    def write(self, addr, buf):
        """Store buf at addr (WREN + WRITE; byte-immediate, no busy wait).
        ValueError outside the chip or inside the block-protected area, which
        the chip would silently ignore."""
        n = len(buf)
        self._check(addr, n)
        if n and addr + n > self._protect_from:
            raise ValueError("%s: 0x%x+%d is block-protected from 0x%x"
                             % (self.name, addr, n, self._protect_from))
        self._opcode(_WREN)
        hdr = self._header(_WRITE, addr)
        self.cs(0)
        try:
            self.spi.write(hdr)
            if n:
                self.spi.write(buf)
        finally:
            self.cs(1)


def _hex(b):
    return " ".join("%02x" % x for x in b)

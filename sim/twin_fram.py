# Twin of a Fujitsu MB85RS SPI FRAM (default: MB85RS2MT, 256 KB, 3-byte addresses).
#
# Opcode decode as on the chip: WREN/WRDI/RDSR/WRSR/READ/FSTRD/WRITE/RDID/SLEEP.
# WEL semantics: WRITE and WRSR need a preceding WREN and clear WEL when CS
# rises; a WRITE without WEL clocks its bytes into nothing. Block protect
# (BP1:BP0) drops writes to the protected upper part, WPEN + WP low freezes the
# status register. Addresses wrap at the top of the array, upper address bits
# beyond the density are don't-care.
#
# Persistence: with `path`, the array is loaded from that file at construction;
# sync() writes the changed range back; persist=True (the default with a path)
# does so at the end of every WRITE frame, one seek+write, so a killed process
# loses nothing but a frame in flight. Power-cut injector: cut_after(n) lets
# exactly n more data bytes be stored, then the chip loses power: the byte in
# flight and everything after it is lost, MISO floats (0xFF) until power_on().
import micropython
from sim.hw import SpiDevice

WREN = 0x06
WRDI = 0x04
RDSR = 0x05
WRSR = 0x01
READ = 0x03
FSTRD = 0x0B
WRITE = 0x02
RDID = 0x9F
SLEEP = 0xB9

_OPC = 0     # waiting for an opcode
_ADDR = 1    # clocking in address bytes
_DUMMY = 2   # FSTRD dummy byte
_DATA = 3    # data phase of the current opcode
_TAIL = 4    # opcode complete, further bytes are don't-care
_DEAD = 5    # frame ignored (asleep, unknown opcode)

_SR_WRITABLE = 0x8C  # WPEN, BP1, BP0


@micropython.viper
def _copy(dst: ptr8, doff: int, src: ptr8, soff: int, n: int):
    i = 0
    while i < n:
        dst[doff + i] = src[soff + i]
        i += 1


@micropython.viper
def _fill(dst: ptr8, doff: int, n: int, v: int):
    i = 0
    while i < n:
        dst[doff + i] = v
        i += 1


class Fram(SpiDevice):
    SPI_MODE = (0, 0)

    def __init__(self, size=262144, *, path=None, persist=None, wp_pin=None, device_id=None,
                 fill=0x00, name="fram"):
        if size & (size - 1):
            raise ValueError("FRAM size must be a power of two")
        self.name = name
        self.size = size
        self.addr_bytes = 3 if size > 65536 else 2
        self.mem = bytearray(size)
        if fill:
            _fill(self.mem, 0, size, fill)
        if device_id is None:
            # Density code d: 2^(d+3) Kbit; upper 3 bits of byte 1 are proprietary.
            d = 0
            while (1 << (d + 10)) < size:
                d += 1
            device_id = bytes((0x04, 0x7F, 0x20 | d, 0x03))
        self.device_id = bytes(device_id)
        self.wp_pin = wp_pin
        self.present = True
        self.powered = True
        self.status = 0     # WPEN, BP1, BP0 are nonvolatile; WEL (bit 1) is not
        self.wel = False
        self.sleeping = False
        self._st = _OPC
        self._op = 0
        self._addr = 0
        self._nab = 0
        self._idx = 0
        self._wr_en = False
        self._wrsr_val = -1
        self._frame_ignored = False
        self._cut = -1      # data bytes still storable before the power cut, -1 = none
        # dirty range (inclusive lo, exclusive hi) not yet in the backing file
        self._dlo = size
        self._dhi = 0
        self.path = path
        self.persist = (path is not None) if persist is None else persist
        self._f = None
        # statistics for tests
        self.writes = 0           # WRITE frames with WEL set
        self.bytes_written = 0    # data bytes stored
        self.ignored_writes = 0   # WRITE frames without WEL (nothing stored)
        self.protected_bytes = 0  # bytes dropped by block protect
        self.reads = 0
        self.bytes_read = 0
        self.status_writes = 0
        self.power_cuts = 0
        if path is not None:
            self._open_backing()

    # --- backing file ------------------------------------------------------
    def _open_backing(self):
        try:
            f = open(self.path, "r+b")
        except OSError:
            f = open(self.path, "w+b")
            f.write(self.mem)
            f.flush()
        else:
            n = f.readinto(self.mem)
            if n is None or n < self.size:
                # A short (or new) image: extend it to the full array.
                f.seek(0)
                f.write(self.mem)
                f.flush()
        self._f = f

    def sync(self):
        """Write the changed range back to the backing file (cheap: one seek+write)."""
        if self._f is None or self._dhi <= self._dlo:
            return 0
        lo, hi = self._dlo, self._dhi
        self._f.seek(lo)
        # no flush(): the unix port's files are unbuffered, so the bytes are in
        # the host's page cache and survive the process (a kill, a restart);
        # flush() is an fsync there, 1 ms or far more on a busy disk, inside
        # the firmware's event loop
        self._f.write(memoryview(self.mem)[lo:hi])
        self._dlo = self.size
        self._dhi = 0
        return hi - lo

    def close(self):
        self.sync()
        if self._f is not None:
            self._f.close()
            self._f = None

    # --- fault injection -----------------------------------------------------
    def cut_after(self, nbytes):
        """Lose power after exactly nbytes more data bytes are stored by WRITE."""
        self._cut = nbytes

    def power_off(self):
        if self.powered:
            self.powered = False
            self.power_cuts += 1
            self._cut = -1
            self.sync()

    def power_on(self):
        # Power-up: WEL reset, not asleep, no frame in progress; the array and
        # the nonvolatile status bits are kept.
        self.powered = True
        self.wel = False
        self.sleeping = False
        self._st = _OPC
        self._frame_ignored = True  # a frame already under way when power returns is garbage

    # --- test helpers ----------------------------------------------------------
    def peek(self, addr, n):
        return bytes(self.mem[addr:addr + n])

    def poke(self, addr, data):
        self.mem[addr:addr + len(data)] = data
        self._dirty(addr, addr + len(data))

    def stats(self):
        return {"writes": self.writes, "bytes_written": self.bytes_written,
                "ignored_writes": self.ignored_writes, "protected_bytes": self.protected_bytes,
                "reads": self.reads, "bytes_read": self.bytes_read,
                "status_writes": self.status_writes, "power_cuts": self.power_cuts}

    def protect_from(self):
        bp = (self.status >> 2) & 3
        return (self.size, self.size - (self.size >> 2), self.size >> 1, 0)[bp]

    def _dirty(self, lo, hi):
        if lo < self._dlo:
            self._dlo = lo
        if hi > self._dhi:
            self._dhi = hi

    # --- SPI side ----------------------------------------------------------------
    def select(self):
        self._st = _OPC
        self._wrsr_val = -1
        self._frame_ignored = False
        if not self.powered or not self.present:
            return
        if self.sleeping:
            # CS falling edge wakes the chip, but it needs tREC before it
            # accepts a command: this frame is lost.
            self.sleeping = False
            self._frame_ignored = True

    def xfer(self, tx, rx):
        n = len(rx)
        if not self.powered or not self.present or self._frame_ignored:
            _fill(rx, 0, n, 0xFF)
            return
        i = 0
        while i < n:
            st = self._st
            if st == _DATA:
                i += self._data(tx, rx, i, n - i)
                if not self.powered:
                    _fill(rx, i, n - i, 0xFF)
                    return
                continue
            b = tx[i]          # read MOSI before driving MISO (tx may alias rx)
            rx[i] = 0xFF       # SO is high-Z while the chip is being addressed
            i += 1
            if st == _OPC:
                self._op = b
                if b == READ or b == WRITE or b == FSTRD:
                    self._st = _ADDR
                    self._addr = 0
                    self._nab = self.addr_bytes
                elif b == RDSR or b == WRSR:
                    self._st = _DATA
                elif b == RDID:
                    self._st = _DATA
                    self._idx = 0
                elif b == WREN or b == WRDI or b == SLEEP:
                    self._st = _TAIL
                else:
                    self._st = _DEAD
            elif st == _ADDR:
                self._addr = ((self._addr << 8) | b)
                self._nab -= 1
                if self._nab == 0:
                    self._addr &= self.size - 1
                    if self._op == FSTRD:
                        self._st = _DUMMY
                    else:
                        self._st = _DATA
                        if self._op == WRITE:
                            self._wr_en = self.wel
                            if self.wel:
                                self.writes += 1
                            else:
                                self.ignored_writes += 1
                        else:
                            self.reads += 1
            elif st == _DUMMY:
                self._st = _DATA
                self.reads += 1

    def _data(self, tx, rx, i, k):
        """Data phase for k bytes at offset i; returns bytes consumed."""
        op = self._op
        if op == READ or op == FSTRD:
            done = 0
            while done < k:
                seg = self.size - self._addr
                if seg > k - done:
                    seg = k - done
                _copy(rx, i + done, self.mem, self._addr, seg)
                done += seg
                self._addr = (self._addr + seg) & (self.size - 1)
            self.bytes_read += k
            return k
        if op == WRITE:
            _fill(rx, i, k, 0xFF)
            if not self._wr_en:
                return k
            return self._store(tx, i, k)
        if op == RDSR:
            _fill(rx, i, k, self.status | (0x02 if self.wel else 0))
            return k
        if op == RDID:
            for j in range(k):
                rx[i + j] = self.device_id[self._idx] if self._idx < 4 else 0xFF
                self._idx += 1
            return k
        if op == WRSR:
            if self._wrsr_val < 0:
                self._wrsr_val = tx[i]
            _fill(rx, i, k, 0xFF)
            return k
        _fill(rx, i, k, 0xFF)
        return k

    def _store(self, tx, i, k):
        size = self.size
        pfrom = self.protect_from()
        done = 0
        while done < k:
            a = self._addr
            seg = size - a
            if seg > k - done:
                seg = k - done
            if a >= pfrom:
                # Protected: clocked in, not stored (does not count toward a cut).
                self.protected_bytes += seg
                done += seg
                self._addr = (a + seg) & (size - 1)
                continue
            if a + seg > pfrom:
                seg = pfrom - a
            if self._cut >= 0 and seg >= self._cut:
                # Power fails while byte number _cut of this run is in flight.
                m = self._cut
                _copy(self.mem, a, tx, i + done, m)
                self.bytes_written += m
                self._dirty(a, a + m)
                done += m
                self.power_off()
                return done
            _copy(self.mem, a, tx, i + done, seg)
            self.bytes_written += seg
            if self._cut > 0:
                self._cut -= seg
            self._dirty(a, a + seg)
            done += seg
            self._addr = (a + seg) & (size - 1)
        return k

    def deselect(self):
        if not self.powered or not self.present or self._frame_ignored:
            return
        op = self._op
        st = self._st
        if st == _TAIL:
            if op == WREN:
                self.wel = True
            elif op == WRDI:
                self.wel = False
            elif op == SLEEP:
                self.sleeping = True
        elif op == WRSR and st == _DATA:
            if self._wrsr_val >= 0:
                locked = (self.status & 0x80) and self.wp_pin is not None and not self.wp_pin.value()
                if self.wel and not locked:
                    self.status = (self.status & ~_SR_WRITABLE) | (self._wrsr_val & _SR_WRITABLE)
                    self.status_writes += 1
                self.wel = False
        elif op == WRITE and st != _OPC:
            self.wel = False
            if self.persist and self._dhi > self._dlo:
                self.sync()
        self._st = _OPC

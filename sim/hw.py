# Simulated MCU peripherals with the machine.Pin/SPI/I2C/UART/ADC interface.
#
# Production drivers take these exactly as they would take machine objects.
# Simulated chips ("twins") attach to a bus behind a chip-select pin (SPI) or
# an address (I2C) and see the same bytes a real chip would see on the wire.
# This module is simulation only: it is never imported by a real board.
import errno

_UART_CHUNK = 256         # bytes per read of the host descriptor
_UART_RX_MAX = 4096      # the simulated UART's receive buffer


class Pin:
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    ALT = 3
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, id, mode=-1, pull=-1, *, value=None):
        self.id = id
        self.mode = Pin.IN if mode == -1 else mode
        self.pull = pull
        self._level = 1 if pull == Pin.PULL_UP else 0
        self._handler = None
        self._trigger = 0
        self._watchers = []  # sim side: called with (pin, level) when the MCU drives it
        if value is not None:
            self._level = 1 if value else 0

    def init(self, mode=-1, pull=-1, *, value=None):
        if mode != -1:
            self.mode = mode
        if pull != -1:
            self.pull = pull
        if value is not None:
            self.value(value)

    def value(self, v=None):
        if v is None:
            return self._level
        v = 1 if v else 0
        if self.mode == Pin.IN:
            # Writing an input latches the output register only, as on the MCU.
            return None
        old = self._level
        self._level = v
        if v != old:
            for w in self._watchers:
                w(self, v)
        return None

    __call__ = value

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, handler=None, trigger=3, hard=False):
        self._handler = handler
        self._trigger = trigger if handler else 0
        return self

    # --- simulation side -------------------------------------------------
    def drive(self, v):
        """A simulated device drives this (input) pin; fires the IRQ on an edge."""
        v = 1 if v else 0
        old = self._level
        self._level = v
        if v != old and self._handler is not None:
            edge = Pin.IRQ_RISING if v else Pin.IRQ_FALLING
            if self._trigger & edge:
                self._handler(self)

    def watch(self, fn):
        self._watchers.append(fn)


class PinFactory:
    """One Pin object per pin name on the simulated board, like real silicon."""

    def __init__(self):
        self.pins = {}

    def __call__(self, id, mode=-1, pull=-1, *, value=None):
        p = self.pins.get(id)
        if p is None:
            p = Pin(id, mode, pull, value=value)
            self.pins[id] = p
        else:
            p.init(mode, pull, value=value)
        return p


class SpiDevice:
    """Base of simulated SPI chips. The bus calls select(), then xfer() for each
    transfer while CS is low, then deselect(). SPI_MODE is (polarity, phase)."""

    SPI_MODE = (0, 0)

    def select(self):
        pass

    def xfer(self, tx, rx):
        # tx: bytes clocked in on MOSI; rx: memoryview or bytearray to fill from
        # MISO (same length; item or equal-length slice assignment only)
        for i in range(len(rx)):
            rx[i] = 0xFF

    def deselect(self):
        pass


class SPI:
    """A simulated SPI controller. Devices attach behind a chip-select Pin; a
    transfer goes to the device whose CS is low. With no device selected (or
    none fitted), MISO floats high and reads 0xFF."""

    def __init__(self, id, baudrate=1000000, *, polarity=0, phase=0, bits=8, firstbit=0,
                 sck=None, mosi=None, miso=None):
        self.id = id
        self.init(baudrate, polarity=polarity, phase=phase)
        self._devs = []  # (cs_pin, device)
        self._active = None
        self.transfers = 0

    def init(self, baudrate=1000000, *, polarity=0, phase=0, **kw):
        self.baudrate = baudrate
        self.polarity = polarity
        self.phase = phase

    def deinit(self):
        pass

    def attach(self, cs, dev):
        self._devs.append((cs, dev))
        cs.watch(self._cs_changed)

    def detach(self, dev):
        self._devs = [d for d in self._devs if d[1] is not dev]

    def device_at(self, cs):
        for c, d in self._devs:
            if c is cs:
                return d
        return None

    def _cs_changed(self, pin, level):
        dev = None
        for c, d in self._devs:
            if c is pin:
                dev = d
                break
        if dev is None:
            return
        if level == 0:
            self._active = dev
            dev.select()
        else:
            if self._active is dev:
                self._active = None
            dev.deselect()

    def _xfer(self, tx, rx):
        self.transfers += 1
        dev = self._active
        if dev is None:
            for i in range(len(rx)):
                rx[i] = 0xFF
            return
        mode = dev.SPI_MODE  # compared item by item: a tuple here would allocate
        if self.polarity != mode[0] or self.phase != mode[1]:
            # Wrong clock mode: the chip samples on the wrong edge, so both
            # directions arrive shifted by one bit.
            t = bytearray(len(tx))
            for i in range(len(tx)):
                t[i] = ((tx[i] << 1) | ((tx[i + 1] >> 7) if i + 1 < len(tx) else 0)) & 0xFF
            dev.xfer(t, rx)
            for i in range(len(rx) - 1, -1, -1):
                carry = (rx[i - 1] & 1) if i else 1
                rx[i] = (rx[i] >> 1) | (carry << 7)
            return
        dev.xfer(tx, rx)

    # The transfer paths below allocate nothing once warm (cached dummy buffers,
    # int keys, no memoryview wrapping of a memoryview), so drivers can be tested
    # under micropython.heap_lock() as they would run on the MCU.
    def write(self, buf):
        n = len(buf)
        if n <= 64:
            rx = SPI._rx_cache.get(n)
            if rx is None:
                rx = memoryview(bytearray(n))  # discarded MISO bytes
                SPI._rx_cache[n] = rx
        else:
            rx = memoryview(bytearray(n))
        self._xfer(buf, rx)

    def read(self, nbytes, write=0x00):
        rx = bytearray(nbytes)
        self._xfer(bytes([write]) * nbytes, memoryview(rx))
        return bytes(rx)

    def readinto(self, buf, write=0x00):
        n = len(buf)
        tx = self._fill_cache(n, write)
        self._xfer(tx, buf)

    def write_readinto(self, wbuf, rbuf):
        self._xfer(wbuf, rbuf)

    _cache = {}
    _rx_cache = {}

    def _fill_cache(self, n, write):
        key = (write << 32) | n
        b = SPI._cache.get(key)
        if b is None:
            b = bytes([write]) * n
            SPI._cache[key] = b
        return b


class I2CDevice:
    """Base of simulated I2C chips: the bus calls write(buf) and read(n);
    returning False from write() NACKs the data."""

    def write(self, buf):
        return True

    def read(self, n):
        return bytes(n)


class I2C:
    def __init__(self, id=0, *, scl=None, sda=None, freq=400000, timeout=50000):
        self.id = id
        self.freq = freq
        self._devs = {}

    def attach(self, addr, dev):
        self._devs[addr] = dev

    def detach(self, addr):
        self._devs.pop(addr, None)

    def scan(self):
        return sorted(self._devs)

    def _dev(self, addr):
        d = self._devs.get(addr)
        if d is None:
            # Address NACK, as MicroPython reports it on hardware I2C.
            raise OSError(errno.ENODEV)
        return d

    def writeto(self, addr, buf, stop=True):
        d = self._dev(addr)
        if not d.write(bytes(buf)):
            raise OSError(errno.EIO)
        return len(buf)

    def readfrom(self, addr, nbytes, stop=True):
        return bytes(self._dev(addr).read(nbytes))

    def readfrom_into(self, addr, buf, stop=True):
        data = self._dev(addr).read(len(buf))
        for i in range(len(buf)):
            buf[i] = data[i]

    def writeto_mem(self, addr, memaddr, buf, *, addrsize=8):
        self.writeto(addr, bytes([memaddr]) + bytes(buf))

    def readfrom_mem(self, addr, memaddr, nbytes, *, addrsize=8):
        self.writeto(addr, bytes([memaddr]), False)
        return self.readfrom(addr, nbytes)


class ADC:
    """machine.ADC on a simulated analog pin; a source callable returns the
    pin voltage in volts (the board's reference is VREF)."""

    VREF = 3.3

    def __init__(self, pin, source=None):
        self.pin = pin
        self.source = source

    def read_u16(self):
        v = self.source() if self.source else 0.0
        c = int(v / ADC.VREF * 65535 + 0.5)
        return 0 if c < 0 else (65535 if c > 65535 else c)

    def read_uv(self):
        return int((self.source() if self.source else 0.0) * 1000000)


class UART:
    """machine.UART backed by a host file descriptor (a pseudo-terminal the
    launcher made) or, with fd None, by an in-memory loopback pair for tests."""

    def __init__(self, id, baudrate=9600, bits=8, parity=None, stop=1, *, fd=None, peer=None,
                 tx=None, rx=None, timeout=0, rxbuf=256):
        self.id = id
        self.baudrate = baudrate
        self.bits = bits
        self.parity = parity
        self.stop = stop
        self._f = open(fd, "r+b") if fd is not None else None
        self._rx = bytearray()
        self.peer = peer
        if fd is not None:
            self._buf = bytearray(_UART_CHUNK)
            self._bufv = memoryview(self._buf)

    def init(self, baudrate=9600, bits=8, parity=None, stop=1, **kw):
        self.baudrate = baudrate
        self.bits = bits
        self.parity = parity
        self.stop = stop

    def fileno(self):
        return self._f.fileno() if self._f else -1

    def _pump(self):
        # the descriptor is non-blocking (sim/main.py --uart-fd): readinto
        # returns what the line holds, None when it holds nothing
        if self._f is not None:
            while len(self._rx) < _UART_RX_MAX:
                try:
                    n = self._f.readinto(self._buf)
                except OSError:          # the other end closed (EIO on a pseudo-terminal)
                    break
                if not n:
                    break
                self._rx += self._bufv[:n]

    def any(self):
        self._pump()
        return len(self._rx)

    def read(self, n=-1):
        self._pump()
        if not self._rx:
            return None
        if n is None or n < 0 or n > len(self._rx):
            n = len(self._rx)
        out = bytes(self._rx[:n])
        self._rx = self._rx[n:]
        return out

    def readinto(self, buf, n=-1):
        data = self.read(len(buf) if n < 0 else n)
        if not data:
            return None
        buf[:len(data)] = data
        return len(data)

    def write(self, buf):
        if self._f is not None:
            self._f.write(buf)
        elif self.peer is not None:
            self.peer._rx += bytes(buf)
        return len(buf)

    def flush(self):
        pass

    def txdone(self):
        return True

    @staticmethod
    def pair(id_a=0, id_b=1, baudrate=9600):
        a = UART(id_a, baudrate)
        b = UART(id_b, baudrate)
        a.peer = b
        b.peer = a
        return a, b


class WatchdogReset(SystemExit):
    """The simulated MCU reset a starved watchdog causes: it ends the run
    (asyncio.run raises it) as a reset ends the firmware on a board."""


class WDT:
    """machine.WDT stand-in on the firmware's clock (virtual or real). Like
    the hardware, once created it cannot be stopped; not fed for `timeout`
    ms, it resets the simulated MCU (WatchdogReset out of asyncio.run)."""

    def __init__(self, id=0, timeout=5000, *, clock):
        import asyncio
        self.timeout = timeout
        self.clock = clock
        self.fed_ms = clock.ticks_ms()
        self.feeds = 0
        self.fired_after_ms = None
        asyncio.create_task(self._check())

    def feed(self):
        self.fed_ms = self.clock.ticks_ms()
        self.feeds += 1

    async def _check(self):
        import time
        while True:
            await self.clock.sleep_ms(self.timeout // 4)
            starved = time.ticks_diff(self.clock.ticks_ms(), self.fed_ms)
            if starved > self.timeout:
                self.fired_after_ms = starved
                raise WatchdogReset("watchdog reset: not fed for %d ms (timeout %d ms)" % (starved, self.timeout))

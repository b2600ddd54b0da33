# Half-duplex RS-485 on a UART with a driver-enable (DE) pin.
#
# DE goes high just before the first byte and low once the last stop bit has
# left the shift register: early release truncates the frame on the wire,
# late release collides with a fast reply. Modbus RTU frames are delimited by
# silence: t3.5 between frames, t1.5 max inside one (fixed 1750/750 us above
# 19200 baud, as the Modbus serial line spec says).
import time
from micropython import const

_FIXED_T35_US = const(1750)
_FIXED_T15_US = const(750)


def char_time_us(baudrate, char_bits=11):
    """Time of one character (start + data + parity + stop) in us, rounded up."""
    return (char_bits * 1000000 + baudrate - 1) // baudrate


def frame_gap_us(baudrate, char_bits=11):
    """Modbus RTU t3.5: minimum silence between frames."""
    if baudrate > 19200:
        return _FIXED_T35_US
    return (35 * char_bits * 1000000 + 10 * baudrate - 1) // (10 * baudrate)


def char_gap_us(baudrate, char_bits=11):
    """Modbus RTU t1.5: maximum silence between characters of one frame."""
    if baudrate > 19200:
        return _FIXED_T15_US
    return (15 * char_bits * 1000000 + 10 * baudrate - 1) // (10 * baudrate)


class RS485:
    """uart: a ready machine.UART; de_pin: output Pin (high = transmit).
    char_bits: bits per character on the wire (Modbus RTU: 11, e.g. 8E1/8N2)."""

    def __init__(self, uart, de_pin, *, baudrate, char_bits=11):
        self.uart = uart
        self.de = de_pin
        self.baudrate = baudrate
        self.char_bits = char_bits
        self.char_us = char_time_us(baudrate, char_bits)
        self.t35_us = frame_gap_us(baudrate, char_bits)
        self.t15_us = char_gap_us(baudrate, char_bits)
        self.frames_sent = 0
        self.bytes_sent = 0
        de_pin(0)
        self._txdone = getattr(uart, "txdone", None)

    def tx_time_us(self, nbytes):
        return nbytes * self.char_us

    def _wait_txdone(self, limit_us):
        # The UART's own transmission-complete flag, when it has one, bounded
        # by one extra character time so a missing flag cannot hang the loop.
        if self._txdone is None:
            return
        t0 = time.ticks_us()
        while not self._txdone():
            if time.ticks_diff(time.ticks_us(), t0) > limit_us:
                break

    async def write(self, buf, clock):
        """Transmit buf with DE high for exactly its time on the wire."""
        self.de(1)
        try:
            self.uart.write(buf)
            us = self.tx_time_us(len(buf))
            sleep_us = getattr(clock, "sleep_us", None)
            if sleep_us is not None:
                await sleep_us(us)
            else:
                await clock.sleep_ms(us // 1000)
                time.sleep_us(us % 1000)   # sub-ms tail: blocking, < 1 ms
            self._wait_txdone(self.char_us)
        finally:
            self.de(0)
        self.frames_sent += 1
        self.bytes_sent += len(buf)

    def write_blocking(self, buf):
        """Transmit buf, blocking until the last stop bit is out (tools)."""
        self.de(1)
        try:
            self.uart.write(buf)
            if self._txdone is None:
                time.sleep_us(self.tx_time_us(len(buf)))
            else:
                self._wait_txdone(self.tx_time_us(len(buf)) + self.char_us)
        finally:
            self.de(0)
        self.frames_sent += 1
        self.bytes_sent += len(buf)

    def any(self):
        return self.uart.any()

    def read(self, n=-1):
        return self.uart.read(n) if n >= 0 else self.uart.read()

    def readinto(self, buf):
        return self.uart.readinto(buf)

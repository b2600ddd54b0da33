"""Modbus helpers for the tests: MBAP frame counting; CRC-16/MODBUS, RTU frames,
and the client's end of a pseudo-terminal line the firmware holds as its RS-485 UART."""
import os
import select
import struct
import time
import tty


def mbap_count(got):
    """How many complete MBAP frames the bytes `got` begin with."""
    n, i = 0, 0
    while len(got) - i >= 6:
        ln = struct.unpack(">H", got[i + 4:i + 6])[0]
        if len(got) - i < 6 + ln:
            break
        i += 6 + ln
        n += 1
    return n


def crc16(b):
    c = 0xFFFF
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
    return bytes([c & 0xFF, c >> 8])


def frame(unit, pdu_bytes):
    f = bytes([unit]) + pdu_bytes
    return f + crc16(f)


class Line:
    """The client's end of the line (the pseudo-terminal's slave side)."""

    def __init__(self):
        self.master, self.slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)     # the firmware's end (sim/main.py --uart-fd)
        self.path = os.ttyname(self.slave)

    def drain(self, quiet=0.3):
        """Read and drop whatever the line still brings until `quiet` s of silence."""
        while select.select([self.slave], [], [], quiet)[0]:
            os.read(self.slave, 4096)

    def ask(self, data, timeout=1.0, quiet=0.05):
        """Send, then collect the reply until `quiet` s of silence (b"" if none within timeout)."""
        os.write(self.slave, data)
        got = b""
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            r, _, _ = select.select([self.slave], [], [], quiet if got else 0.05)
            if r:
                got += os.read(self.slave, 512)
            elif got:
                break
        return got

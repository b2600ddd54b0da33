# Modbus RTU slave (Modbus over Serial Line V1.02) on the board's RS-485 line,
# over comms/modbus.py's handler.
#
#   srv = ModbusRtuServer(handler, line, unit_id, write_enabled, pace=None)
#   await srv.run()          # a supervisor task; srv.stats: counters
#
# line: a ready drivers/rs485.RS485 (boot makes it from the board's UART and
# DE pin: uplinks never reach the hardware themselves). write_enabled(): the
# access store's Modbus write switch.
#
# Framing by silence: a frame ends when the line has been quiet for t3.5 (the
# driver's t35_us); a gap longer than t1.5 between two characters of one frame
# marks the frame bad (the specification's "incomplete frame"). The line is
# looked at every POLL_MS while a frame is arriving, IDLE_POLL_MS otherwise,
# so gaps are seen at that resolution (on the MCU a UART IRQ would time each
# character; the unix port's pseudo-terminal delivers bursts). The driver
# asserts DE exactly for the reply's time on the wire.
#
# Addressing: a frame for this unit id is answered; unit 0 (broadcast) is
# carried out only for writes, when writes are enabled, and never answered;
# any other unit id is ignored (another slave on the chain). Bad CRC, frames
# shorter than 4 bytes, longer than RTU_MAX and t1.5 gaps are dropped and counted.
import asyncio
import time
from array import array
from micropython import const
from comms.access import Identity, OPERATOR
from comms.modbus import MAX_PDU

RTU_MAX = const(256)              # address + PDU + CRC
POLL_MS = const(1)
IDLE_POLL_MS = const(5)
_WRITES = (5, 6, 15, 16)          # function codes a broadcast may carry


def _crc_table():
    t = array("H", bytes(512))
    for b in range(256):
        c = b
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        t[b] = c
    return t


_CRC_TABLE = _crc_table()         # 512 bytes: one lookup per byte, not eight shifts


def crc16(buf, n):
    """CRC-16/MODBUS of buf[:n] (polynomial 0xA001 reflected, initial 0xFFFF)."""
    t = _CRC_TABLE
    crc = 0xFFFF
    for i in range(n):
        crc = (crc >> 8) ^ t[(crc ^ buf[i]) & 0xFF]
    return crc


class ModbusRtuServer:
    def __init__(self, handler, line, unit_id, write_enabled, pace=None, clock=None, name="modbus-rtu"):
        self.handler = handler
        self.line = line
        self.unit_id = unit_id
        self.write_enabled = write_enabled
        self.pace = pace
        self.clock = clock           # for the driver's transmit timing (real time on a real line)
        self.name = name
        self.stats = {}
        for k in ("frames", "crc_errors", "bad_frames", "other_unit", "broadcasts", "replies"):
            self.stats[k] = 0
        self.rx = bytearray(RTU_MAX + 1)
        self.rxv = memoryview(self.rx)
        self.tx = bytearray(RTU_MAX)
        self.txv = memoryview(self.tx)
        self.ident = Identity("client", OPERATOR, "modbus")

    async def run(self):
        line = self.line
        rx = self.rx
        t35 = line.t35_us
        t15 = line.t15_us
        n = 0
        bad = False
        last = 0
        while True:
            await asyncio.sleep_ms(POLL_MS if n else IDLE_POLL_MS)
            now = time.ticks_us()
            k = line.any()
            if k:
                if n and time.ticks_diff(now, last) > t15 + 1000 * POLL_MS:
                    bad = True         # a gap inside the frame (at the poll's resolution)
                while k and n <= RTU_MAX:
                    got = line.readinto(self.rxv[n:n + min(k, RTU_MAX + 1 - n)])
                    if not got:
                        break
                    n += got
                    k = line.any()
                if n > RTU_MAX:
                    bad = True
                    while line.any():  # drain the rest of an oversized frame
                        line.read(64)
                last = now
                continue
            if n and time.ticks_diff(now, last) >= t35:
                if bad or n < 4:
                    self.stats["bad_frames"] += 1
                else:
                    await self._frame(n)
                n = 0
                bad = False

    async def _frame(self, n):
        rx = self.rx
        st = self.stats
        if crc16(rx, n - 2) != rx[n - 2] | (rx[n - 1] << 8):
            st["crc_errors"] += 1
            return
        st["frames"] += 1
        unit = rx[0]
        if unit != self.unit_id and unit != 0:
            st["other_unit"] += 1
            return
        if self.pace is not None:
            await self.pace()
        w = self.write_enabled()
        if unit == 0:
            st["broadcasts"] += 1
            if rx[1] in _WRITES and w:
                await self.handler.handle(self.rxv[1:n - 2], self.txv[1:1 + MAX_PDU], True, self.ident,
                                          self.name, "unit0")
            return
        k = await self.handler.handle(self.rxv[1:n - 2], self.txv[1:1 + MAX_PDU], w, self.ident, self.name,
                                      "unit%d" % unit)
        if not k:
            return
        tx = self.tx
        tx[0] = unit
        c = crc16(tx, k + 1)
        tx[k + 1] = c & 0xFF
        tx[k + 2] = c >> 8
        st["replies"] += 1
        await self.line.write(self.txv[:k + 3], self.clock)

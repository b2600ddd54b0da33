# Twin of a Sensirion SHT4x on a simulated I2C bus (address 0x44 by default).
#
# Decodes the one-byte commands; a measurement samples `source()` -> (temp_C, rh)
# when it completes, quantises to 16-bit ticks and answers T, CRC, RH, CRC.
# While a measurement (or soft reset) is running the chip NACKs its address
# (OSError ENODEV from the bus, as MicroPython reports it on hardware), and a
# read with no result waiting NACKs too. Durations are the datasheet maxima,
# in simulated time taken from `now_us()`. Soft-reset recovery (max 1 ms) is
# only modelled with reset_us=1000: boot calls the blocking begin(), whose
# real-time wait simulated time cannot see.
import errno
from drivers.crc import crc8_sensirion
from sim.hw import I2CDevice

MEASURE_HIGH = 0xFD
MEASURE_MEDIUM = 0xF6
MEASURE_LOW = 0xE0
READ_SERIAL = 0x89
SOFT_RESET = 0x94
HEATER = {0x39: (200, 1000), 0x32: (200, 100), 0x2F: (110, 1000), 0x24: (110, 100),
          0x1E: (20, 1000), 0x15: (20, 100)}

# data sheet maxima (rev. 6.6 section 3.1 lowered low precision to 1.6 ms: the
# older 1.7 ms is kept, the larger of the two)
DURATION_US = {MEASURE_HIGH: 8300, MEASURE_MEDIUM: 4500, MEASURE_LOW: 1700}
RESET_US = 1000   # datasheet max soft-reset time


def temp_ticks(t):
    s = int((t + 45.0) * 65535.0 / 175.0 + 0.5)
    return 0 if s < 0 else (65535 if s > 65535 else s)


def rh_ticks(rh):
    s = int((rh + 6.0) * 65535.0 / 125.0 + 0.5)
    return 0 if s < 0 else (65535 if s > 65535 else s)


class Sht4x(I2CDevice):
    def __init__(self, source, now_us, *, serial=0x0A1B2C3D, heater_rise_c=0.0, reset_us=0,
                 name="sht4x"):
        self.name = name
        self.source = source
        self.now_us = now_us
        self.serial = serial & 0xFFFFFFFF
        self.heater_rise_c = heater_rise_c  # temperature the heater adds to its measurement
        self.present = True                 # False: NACKs everything (but stays attached)
        self.reset_us = reset_us
        self._busy_until = 0
        self._busy = False
        self._pending = None   # command whose answer is being produced
        self._result = None    # 6 bytes ready to be read
        self._corrupt = 0
        # statistics
        self.measurements = 0
        self.heater_runs = 0
        self.resets = 0
        self.nacks = 0
        self.last_cmd = None

    def corrupt_crc(self, n=1):
        """Flip a bit of the RH (or serial low word) CRC in the next n answers read."""
        self._corrupt += n

    def _nack(self):
        self.nacks += 1
        raise OSError(errno.ENODEV)

    def _tick(self):
        # Finish a running command whose time has come.
        if self._busy and self.now_us() - self._busy_until >= 0:
            self._busy = False
            cmd = self._pending
            self._pending = None
            if cmd in DURATION_US or cmd in HEATER:
                t, rh = self.source()
                if cmd in HEATER:
                    t += self.heater_rise_c
                self._result = self._frame(temp_ticks(t), rh_ticks(rh))
                self.measurements += 1

    def _frame(self, w0, w1):
        b = bytearray(6)
        b[0] = w0 >> 8
        b[1] = w0 & 0xFF
        b[3] = w1 >> 8
        b[4] = w1 & 0xFF
        b[2] = crc8_sensirion(b, 0)
        b[5] = crc8_sensirion(b, 3)
        return bytes(b)

    def write(self, buf):
        self._tick()
        if not self.present or self._busy:
            self._nack()
        if len(buf) != 1:
            return False  # no multi-byte commands on this part: NACK the extra data
        cmd = buf[0]
        self.last_cmd = cmd
        now = self.now_us()
        self._result = None
        if cmd in DURATION_US:
            self._start(cmd, now + DURATION_US[cmd])
        elif cmd in HEATER:
            self.heater_runs += 1
            ms = HEATER[cmd][1]
            self._start(cmd, now + ms * 1100)  # datasheet max 1.1 s / 0.11 s
        elif cmd == SOFT_RESET:
            self.resets += 1
            if self.reset_us:
                self._start(cmd, now + self.reset_us)
        elif cmd == READ_SERIAL:
            s = self.serial
            self._result = self._frame(s >> 16, s & 0xFFFF)
        else:
            return False  # unknown command: data NACK
        return True

    def _start(self, cmd, until):
        self._pending = cmd
        self._busy = True
        self._busy_until = until

    def read(self, n):
        self._tick()
        if not self.present or self._busy or self._result is None:
            self._nack()
        r = self._result
        self._result = None
        if self._corrupt:
            # Damage the answer on the wire (the chip computed a good CRC).
            self._corrupt -= 1
            r = r[:5] + bytes((r[5] ^ 0x01,))
        if n <= 6:
            return r[:n]
        return r + b"\xff" * (n - 6)

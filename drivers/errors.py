# Errors every driver raises, so boot and health reporting treat chips alike.


class DeviceError(Exception):
    """A chip did not behave as its datasheet says. args: (device name, detail)."""


class AbsentError(DeviceError):
    """Nothing answers: MISO/SDA floats (all 0xFF or 0x00) or the address NACKs."""


class IdError(DeviceError):
    """Something answers, but its ID register is not the expected part."""


class CrcError(DeviceError):
    """A frame or a register read failed its CRC check."""


class ErrorCounters:
    """Per-device error counters, read by health reporting. Plain ints, so
    incrementing them allocates nothing (safe in IRQ handlers)."""

    def __init__(self):
        self.crc = 0
        self.overrun = 0
        self.absent = 0
        self.id = 0
        self.timeout = 0
        self.other = 0

    def as_dict(self):
        return {"crc": self.crc, "overrun": self.overrun, "absent": self.absent,
                "id": self.id, "timeout": self.timeout, "other": self.other}

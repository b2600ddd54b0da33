# Shared rig for the persistence tests: the FRAM twin behind the simulated
# SPI bus with the production driver, and a JSON line printer.
import json
import sim.hw as hw
from sim.twin_fram import Fram
from drivers.fram import FRAM


def out(case, **kw):
    kw["case"] = case
    print(json.dumps(kw))


class Rig:
    """One FRAM twin on spi_mem (bus 3, CS PC9). boot() makes a fresh driver
    as a restarted MCU would (power restored first)."""

    def __init__(self, size=262144):
        self.twin = Fram(size=size)
        self.bus = hw.SPI(3, polarity=0, phase=0)
        self.cs = hw.Pin("PC9", hw.Pin.OUT, value=1)
        self.bus.attach(self.cs, self.twin)
        self.size = size

    def wipe(self):
        """A fresh chip again (all zero, powered, no cut armed) without
        allocating another array."""
        z = bytes(4096)
        m = self.twin.mem
        for a in range(0, self.size, 4096):
            m[a:a + 4096] = z
        self.twin.power_on()
        self.twin.cut_after(-1)

    def boot(self):
        if not self.twin.powered:
            self.twin.power_on()
        d = FRAM(self.bus, self.cs, size=self.size)
        d.begin()
        return d

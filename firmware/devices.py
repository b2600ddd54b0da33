# Boot step 1: bring up every device the board names, recording in health
# which answered. A chip that does not answer degrades the PDU (its channels
# read as faulted); it never stops the boot.
from core import codes
from drivers.ads131m04 import ADS131M04
from drivers.ade9000 import ADE9000
from drivers.fram import FRAM
from drivers.sht4x import SHT4x
from drivers.ntc import NTC
from drivers.switch import Switches


class Devices:
    """The drivers of one board after bring-up. Absent chips are left out
    (adcs) or None (ade, fram)."""

    def __init__(self, board, health, events, clock):
        self.board = board
        self.health = health
        self.events = events
        b = board
        desc = b.desc
        self.adcs = []
        for name, s in b.chips("ads131m04"):
            d = self._try(name, "ads131m04", lambda name=name, s=s: _ads131m04(b, name, s))
            if d is not None:
                self.adcs.append(d)
        self.ade = None
        for name, s in b.chips("ade9000"):
            self.ade = self._try(name, "ade9000", lambda name=name, s=s: _ade9000(b, name, s))
        self.fram = None
        for name, s in b.chips("mb85rs"):
            self.fram = self._try(name, "mb85rs", lambda name=name, s=s: _fram(b, name, s))
        self.air = {}   # "inlet"/"exhaust" -> SHT4x
        for where, chip in desc.AIR_SENSORS.items():
            s = desc.CHIPS[chip][1]
            d = self._try(chip, "sht4x", lambda chip=chip, s=s: _sht4x(b, chip, s))
            if d is not None:
                self.air[where] = d
        self.ntcs = {}  # relay-board NTC name -> NTC
        for name, d in desc.NTCS.items():
            self.ntcs[name] = NTC(b.adc(d["pin"]), r25=d["r25"], beta=d["beta"], r_fixed=d["r_fixed"],
                                  vref=d["vref"], name=name)
        self.switches = Switches.from_board(desc.OUTLETS, b.pin, clock=clock)

    def _try(self, name, part, make):
        try:
            drv = make()
        except Exception as e:  # a missing chip degrades the PDU; it must not stop it
            self.health.add(name, part, None, e)
            self.events.emit(codes.EV_DEVICE_FAULT, codes.SEV_ALARM, name,
                             {"part": part, "error": self.health.devices[name]["error"]})
            return None
        self.health.add(name, part, drv)
        return drv


def _ads131m04(b, name, s):
    d = ADS131M04(b.spi(s["bus"]), b.out_pin(s["cs"], 1), b.in_pin(s["drdy"]),
                  b.out_pin(s["sync_reset"], 1), name=name)
    d.begin(osr=b.desc.ADC_OSR, drdy_open_drain=True)  # wired-AND DRDY
    return d


def _ade9000(b, name, s):
    d = ADE9000(b.spi(s["bus"]), b.out_pin(s["cs"], 1), irq0=b.in_pin(s["irq0"]),
                irq1=b.in_pin(s["irq1"]), reset=b.out_pin(s["reset"], 1), name=name,
                pga_gain=s["pga_gain"], v_divider=s["v_divider"], ct_ratio=s["ct_ratio"],
                ct_burden=s["ct_burden"])
    d.begin(f_nom=b.desc.RATINGS["f_nom"])
    return d


def _fram(b, name, s):
    # /WP held high while the firmware runs; the driver drops it only to lock
    # the status register (block protect), the chip's hardware write protect.
    wp = b.out_pin(s["wp"], 1) if s.get("wp") else None
    d = FRAM(b.spi(s["bus"]), b.out_pin(s["cs"], 1), size=s["size"], wp=wp, name=name)
    d.begin()
    return d


def _sht4x(b, chip, s):
    d = SHT4x(b.i2c(s["bus"]), s["addr"], name=chip)
    d.begin()
    return d

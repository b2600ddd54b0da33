# Twin of a relay-board NTC divider: turns a temperature callable into the
# pin voltage a sim.hw.ADC reads (adc.source = NtcTwin(...)).
#
# Same wiring as drivers/ntc.py: r_fixed from vref to the node, NTC to ground.
import math

_T25 = 298.15


def ntc_resistance(temp_c, r25=10000.0, beta=3435.0):
    return r25 * math.exp(beta * (1.0 / (temp_c + 273.15) - 1.0 / _T25))


class NtcTwin:
    def __init__(self, temp_c, *, r25=10000.0, beta=3435.0, r_fixed=10000.0, vref=3.3,
                 name="ntc"):
        self.temp_c = temp_c      # callable -> degrees C
        self.r25 = r25
        self.beta = beta
        self.r_fixed = r_fixed
        self.vref = vref
        self.name = name
        self.fault = None         # None, "open", "short"

    def open_circuit(self):
        self.fault = "open"

    def short_circuit(self):
        self.fault = "short"

    def repair(self):
        self.fault = None

    def __call__(self):
        """Node voltage in volts."""
        if self.fault == "open":
            return self.vref
        if self.fault == "short":
            return 0.0
        r = ntc_resistance(self.temp_c(), self.r25, self.beta)
        return self.vref * r / (r + self.r_fixed)

    @staticmethod
    def from_board(cfg, temp_c, name="ntc"):
        return NtcTwin(temp_c, r25=cfg.get("r25", 10000.0), beta=cfg.get("beta", 3435.0),
                       r_fixed=cfg.get("r_fixed", 10000.0), vref=cfg.get("vref", 3.3), name=name)


def ntc_source(temp_c, **kw):
    """Function form: a source callable for sim.hw.ADC from a temperature callable."""
    return NtcTwin(temp_c, **kw)

# NTC thermistor on an MCU ADC pin.
#
# Wiring: r_fixed from vref to the ADC node, the NTC from the node to ground
# (the NTC is the low side), so V = vref * R / (R + r_fixed). The ADC is taken
# to be ratiometric to vref (same reference), so the reading gives R without
# knowing vref: R = r_fixed * c / (65535 - c). Temperature from the beta
# equation 1/T = 1/T25 + ln(R/R25)/beta.
#
# Faults: an open NTC pulls the node to full scale, a short to 0. Those
# readings make temperature_c() return None (and count errors.absent, with
# .fault = "open" | "short") rather than raise: thermal monitoring polls
# often and treats "no reading" as a condition, not an exception.
import math
from micropython import const
from drivers.errors import ErrorCounters

_FULL = const(65535)
# Beyond these codes the divider is outside any sensible NTC resistance:
# < 1 % of full scale is R < ~1 % of r_fixed (> ~200 C for 10k/3435),
# > 99 % is R > ~100 x r_fixed (< ~-70 C).
_SHORT_MAX = const(655)
_OPEN_MIN = const(64880)
_T25 = 298.15


class NTC:
    def __init__(self, adc, *, r25=10000, beta=3435, r_fixed=10000, vref=3.3, name="ntc"):
        self.adc = adc
        self.r25 = float(r25)
        self.beta = float(beta)
        self.r_fixed = float(r_fixed)
        self.vref = vref
        self.name = name
        self.errors = ErrorCounters()
        self.fault = None
        self.code = 0
        self.temp_c = None

    def read_code(self, samples=1):
        s = 0
        for _ in range(samples):
            s += self.adc.read_u16()
        return (s + samples // 2) // samples

    def resistance(self, code):
        if code <= 0:
            return 0.0
        if code >= _FULL:
            return float("inf")
        return self.r_fixed * code / (_FULL - code)

    def temperature_c(self, samples=4):
        """Temperature in C (average of `samples` ADC reads), None on an open
        or shorted sensor."""
        c = self.read_code(samples)
        self.code = c
        if c >= _OPEN_MIN or c <= _SHORT_MAX:
            self.fault = "open" if c >= _OPEN_MIN else "short"
            self.errors.absent += 1
            self.temp_c = None
            return None
        self.fault = None
        r = self.r_fixed * c / (_FULL - c)
        t = 1.0 / (1.0 / _T25 + math.log(r / self.r25) / self.beta) - 273.15
        self.temp_c = t
        return t

    @staticmethod
    def from_board(cfg, adc, name="ntc"):
        return NTC(adc, r25=cfg.get("r25", 10000), beta=cfg.get("beta", 3435),
                   r_fixed=cfg.get("r_fixed", 10000), vref=cfg.get("vref", 3.3), name=name)

# Synthetic readings for the record tests, from a seeded formula that runs
# identically on MicroPython and CPython (tests/test_records.py computes its
# reference from this same file, independently of core/records.py).
import math

TWO_PI = 2 * math.pi


def h(a, b):
    """Deterministic hash of two ints into [0, 1)."""
    return ((a * 2654435761 + b * 40503 + 12345) % 4294967296) / 4294967296.0


def p_int(t, k):
    """Integer watts of channel k at time index t (minute or second)."""
    return 200 + (t * 37 + k * 101) % 1800


def base(t, k, q, per_day):
    w = TWO_PI * t / per_day
    if q == "V":
        return 230.0 + 3.0 * math.sin(w + k)
    if q == "I":
        return 1.0 + 0.1 * k + 0.8 * math.sin(2 * w + 0.3 * k)
    if q == "P":
        return p_int(t, k) + 0.25 * math.sin(0.01 * t + k)
    if q == "T":
        return 22.0 + 0.3 * k + 2.0 * math.sin(w)
    return 40.0 + 5.0 * math.sin(w + 1.0)          # H


SPREAD = {"V": 0.5, "I": 0.2, "P": 20.0, "T": 0.3, "H": 1.0}


def minute_stats(m, k, q):
    """(avg, min, max) of quantity q of channel k over minute m."""
    b = base(m, k, q, 1440)
    sp = SPREAD[q] * (1.0 + h(m, k))
    return (b, b - sp * (0.4 + 0.6 * h(m, k + 1000)), b + sp * (0.4 + 0.6 * h(m, k + 2000)))


def second_value(s, k, q):
    """Quantity q of channel k in second s."""
    return base(s, k, q, 86400) + SPREAD[q] * (h(s, k) - 0.5)


def minute_energy_mj(m, k):
    return p_int(m, k) * 60000


def second_energy_mj(s, k):
    return p_int(s, k) * 1000

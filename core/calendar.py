# Civil calendar from day numbers and back (H. Hinnant's algorithms): integer
# only, proleptic Gregorian, no dependence on the port's time epoch. Used by
# the record store's file names, the uplinks' UTC time stamps and HTTP dates.


def civil_from_days(z):
    """(year, month, day) of day z since 1970-01-01."""
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (1 if m <= 2 else 0), m, d


def days_from_civil(y, m, d):
    """Days since 1970-01-01 of a civil date."""
    y -= 1 if m <= 2 else 0
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m - 3 if m > 2 else m + 9) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def iso_utc_ms(utc_ms):
    """ISO 8601 UTC with milliseconds, e.g. 2026-12-03T20:13:51.123Z."""
    t = utc_ms // 1000
    days = t // 86400
    s = t - days * 86400
    y, m, d = civil_from_days(days)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (y, m, d, s // 3600, (s // 60) % 60, s % 60, utc_ms % 1000)

"""COMTRADE (IEEE C37.111-1999/2013, IEC 60255-24) writer and reader for fixtures.

Fixtures are recordings the simulated board can play back instead of the plant
(sim/comtrade.py). Channel ids are the board channel names ("L1-V", "O3-I", ...),
analog only, primary values, one fixed sample rate. See docs/fixtures.md.

    from tools import comtrade
    comtrade.write("fixtures/dip", "lab", [("L1-V", "V", v), ("O1-I", "A", i)],
                   fs=8000, start_time=datetime(2026, 1, 1), fmt="BINARY32",
                   scale={"O1-I": 100.0 / 2**23})     # a per channel, or (a, b)
    meta, data = comtrade.read("fixtures/dip.cfg")      # data["L1-V"]: float ndarray

Stored value x is an integer code; the physical value is a*x + b. BINARY32 codes
are int32 (-2147483647..2147483647; -2147483648 marks a missing sample), BINARY
int16, ASCII decimal integers. Without an explicit scale the writer picks
b = 0 and a = max|value| / max code, written with repr() so the reader gets the
identical double back: a round trip of values that are integer multiples of a
is bit-exact.

Command line: python -m tools.comtrade info FILE.cfg
"""
import datetime as _dt
import math
import os
import sys

import numpy as np

REV_YEAR = 2013
FORMATS = ("ASCII", "BINARY", "BINARY32", "FLOAT32")
_RANGE = {"BINARY": 32767, "BINARY32": 2147483647, "ASCII": 2147483647}
_MISSING = {"BINARY": -32768, "BINARY32": -2147483648}
_EPOCH_DEFAULT = _dt.datetime(2026, 1, 1)


def _phase_of(name):
    for pre, ph in (("L1", "A"), ("L2", "B"), ("L3", "C"), ("N-", "N")):
        if name.startswith(pre):
            return ph
    return ""


def _check_field(what, s):
    if "," in s or "\n" in s or "\r" in s:
        raise ValueError("comtrade: %s %r may not contain commas or line breaks" % (what, s))
    return s


def _stamp(t):
    return "%02d/%02d/%04d,%02d:%02d:%02d.%06d" % (t.day, t.month, t.year, t.hour, t.minute,
                                                   t.second, t.microsecond)


def _as_datetime(t):
    if t is None:
        return _EPOCH_DEFAULT
    if isinstance(t, _dt.datetime):
        if t.tzinfo is not None:
            t = t.astimezone(_dt.timezone.utc).replace(tzinfo=None)
        return t
    if isinstance(t, (int, float)):
        return _dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=float(t))
    raise ValueError("comtrade: start_time must be a datetime, UNIX seconds or None")


def _fmt_num(x):
    """Shortest text that reads back as the same double (no exponent surprises)."""
    r = repr(float(x))
    if r in ("nan", "inf", "-inf"):
        raise ValueError("comtrade: scale factor %r is not finite" % x)
    return r


def write(path_base, station, channels, fs, start_time=None, fmt="BINARY32", scale=None,
          rec_dev_id="pdu-sim", lf=50.0, trigger_s=0.0):
    """Write path_base.cfg + path_base.dat. channels: list of (name, unit, values).

    scale: None (automatic), or {name: a} / {name: (a, b)}, or a list aligned with
    channels (entries a, (a, b) or None). Returns (cfg_path, dat_path)."""
    fmt = fmt.upper()
    if fmt not in ("ASCII", "BINARY", "BINARY32"):
        raise ValueError("comtrade: write supports ASCII, BINARY, BINARY32, not %r" % fmt)
    if not channels:
        raise ValueError("comtrade: no channels")
    _check_field("station", station)
    _check_field("rec_dev_id", rec_dev_id)
    n = None
    cols = []
    for idx, (name, unit, values) in enumerate(channels):
        _check_field("channel name", name)
        _check_field("unit", unit)
        v = np.asarray(values, dtype=np.float64)
        if v.ndim != 1:
            raise ValueError("comtrade: channel %s values must be 1-D" % name)
        if n is None:
            n = len(v)
        elif len(v) != n:
            raise ValueError("comtrade: channel %s has %d samples, expected %d" % (name, len(v), n))
        if not np.all(np.isfinite(v)):
            raise ValueError("comtrade: channel %s has non-finite values" % name)
        sc = None
        if isinstance(scale, dict):
            sc = scale.get(name)
        elif scale is not None:
            sc = scale[idx]
        if sc is None:
            b = 0.0
            peak = float(np.max(np.abs(v))) if n else 0.0
            a = peak / _RANGE[fmt] if peak > 0 else 1.0
        elif isinstance(sc, (tuple, list)):
            a, b = float(sc[0]), float(sc[1])
        else:
            a, b = float(sc), 0.0
        if a == 0 or not math.isfinite(a) or not math.isfinite(b):
            raise ValueError("comtrade: channel %s: bad scale a=%r b=%r" % (name, a, b))
        # a and b go through text: use exactly what the reader will parse
        a = float(_fmt_num(a))
        b = float(_fmt_num(b))
        codes = np.rint((v - b) / a)
        lim = _RANGE[fmt]
        if n and (codes.max() > lim or codes.min() < -lim):
            raise ValueError("comtrade: channel %s does not fit %s with a=%r (codes %d..%d)"
                             % (name, fmt, a, codes.min(), codes.max()))
        cols.append((name, unit, a, b, codes.astype(np.int64)))
    t0 = _as_datetime(start_time)
    dur_us = (n - 1) * 1e6 / fs if n else 0.0
    timemult = 1.0
    if dur_us > 4294967294:
        timemult = float(math.ceil(dur_us / 4294967294.0))
    ts = np.rint(np.arange(n) * (1e6 / fs) / timemult).astype(np.int64)
    lim = _RANGE[fmt]
    lines = ["%s,%s,%d" % (station, rec_dev_id, REV_YEAR),
             "%d,%dA,0D" % (len(cols), len(cols))]
    for i, (name, unit, a, b, _c) in enumerate(cols):
        lines.append("%d,%s,%s,,%s,%s,%s,0,%d,%d,1,1,P"
                     % (i + 1, name, _phase_of(name), unit, _fmt_num(a), _fmt_num(b), -lim, lim))
    lines += ["%g" % lf, "1", "%s,%d" % (_fmt_num(fs) if fs != int(fs) else "%d" % fs, n),
              _stamp(t0), _stamp(t0 + _dt.timedelta(seconds=trigger_s)), fmt,
              _fmt_num(timemult), "0,0", "0,0"]
    cfg = path_base + ".cfg"
    dat = path_base + ".dat"
    with open(cfg, "w", newline="") as f:
        f.write("\r\n".join(lines) + "\r\n")
    if fmt == "ASCII":
        with open(dat, "w", newline="") as f:
            for j in range(n):
                f.write("%d,%d,%s\r\n" % (j + 1, ts[j], ",".join(str(int(c[4][j])) for c in cols)))
    else:
        vt = "<i4" if fmt == "BINARY32" else "<i2"
        dt = np.dtype([("n", "<u4"), ("t", "<u4")] + [("a%d" % i, vt) for i in range(len(cols))])
        rec = np.zeros(n, dtype=dt)
        rec["n"] = np.arange(1, n + 1)
        rec["t"] = ts
        for i, c in enumerate(cols):
            rec["a%d" % i] = c[4]
        rec.tofile(dat)
    return cfg, dat


class _Lines:
    def __init__(self, text):
        self.lines = text.splitlines()
        self.i = 0

    def next(self, what):
        if self.i >= len(self.lines):
            raise ValueError("comtrade cfg: missing line %d (%s)" % (self.i + 1, what))
        s = self.lines[self.i]
        self.i += 1
        return s

    def fields(self, what, nmin, nmax=None):
        s = self.next(what)
        f = [x.strip() for x in s.split(",")]
        if len(f) < nmin or (nmax is not None and len(f) > nmax):
            raise ValueError("comtrade cfg line %d (%s): expected %d fields, got %d: %r"
                             % (self.i, what, nmin, len(f), s))
        return f

    def bad(self, what, s, why):
        raise ValueError("comtrade cfg line %d (%s): %s: %r" % (self.i, what, why, s))


def _num(L, what, s, conv=float):
    try:
        return conv(s)
    except ValueError:
        L.bad(what, s, "not a number")


def parse_cfg(text):
    """Parse .cfg text into a dict; ValueError names the offending line."""
    L = _Lines(text)
    f = L.fields("station_name,rec_dev_id,rev_year", 2, 3)
    rev = 1991
    if len(f) > 2 and f[2]:
        rev = _num(L, "rev_year", f[2], int)
        if rev not in (1991, 1999, 2013):
            L.bad("rev_year", f[2], "must be 1991, 1999 or 2013")
    meta = {"station": f[0], "rec_dev_id": f[1], "rev_year": rev}
    f = L.fields("TT,##A,##D", 3, 3)
    tt = _num(L, "TT", f[0], int)
    if not f[1].upper().endswith("A") or not f[2].upper().endswith("D"):
        L.bad("TT,##A,##D", ",".join(f), "channel counts need A and D suffixes")
    na = _num(L, "##A", f[1][:-1], int)
    nd = _num(L, "##D", f[2][:-1], int)
    if na + nd != tt or na < 0 or nd < 0:
        L.bad("TT,##A,##D", ",".join(f), "TT must equal ##A + ##D")
    analog = []
    for k in range(na):
        f = L.fields("analog channel %d" % (k + 1), 10, 13)
        if len(f) not in (10, 13):
            L.bad("analog channel", ",".join(f), "needs 13 fields (10 in 1991 files)")
        ch = {"index": _num(L, "An", f[0], int), "id": f[1], "ph": f[2], "ccbm": f[3],
              "unit": f[4], "a": _num(L, "a", f[5]), "b": _num(L, "b", f[6]),
              "skew": _num(L, "skew", f[7]) if f[7] else 0.0,
              "min": _num(L, "min", f[8]), "max": _num(L, "max", f[9]),
              "primary": 1.0, "secondary": 1.0, "ps": "P", "a_text": f[5], "b_text": f[6]}
        if len(f) == 13:
            ch["primary"] = _num(L, "primary", f[10])
            ch["secondary"] = _num(L, "secondary", f[11])
            ch["ps"] = f[12].upper()
            if ch["ps"] not in ("P", "S"):
                L.bad("PS", f[12], "must be P or S")
        analog.append(ch)
    digital = []
    for k in range(nd):
        f = L.fields("status channel %d" % (k + 1), 3, 5)
        digital.append({"index": _num(L, "Dn", f[0], int), "id": f[1]})
    meta["analog"] = analog
    meta["digital"] = digital
    meta["lf"] = _num(L, "lf", L.next("lf").strip())
    nrates = _num(L, "nrates", L.next("nrates").strip(), int)
    rates = []
    for k in range(max(nrates, 1)):
        f = L.fields("samp,endsamp", 2, 2)
        rates.append((_num(L, "samp", f[0]), _num(L, "endsamp", f[1], int)))
    meta["nrates"] = nrates
    meta["rates"] = rates
    meta["start"] = L.next("first data time").strip()
    meta["trigger"] = L.next("trigger time").strip()
    ft = L.next("ft").strip().upper()
    if ft not in FORMATS:
        L.bad("ft", ft, "file type must be one of %s" % ", ".join(FORMATS))
    meta["ft"] = ft
    meta["timemult"] = 1.0
    if rev >= 1999:
        tm = L.next("timemult").strip()
        meta["timemult"] = _num(L, "timemult", tm) if tm else 1.0
    if rev >= 2013 and L.i < len(L.lines):
        meta["time_code"] = L.fields("time_code,local_code", 2, 2)
        if L.i < len(L.lines):
            meta["tmq"] = L.fields("tmq_code,leapsec", 2, 2)
    meta["samples"] = rates[-1][1]
    return meta


def read(path, raw=False):
    """Read a .cfg/.dat pair (path: the .cfg, or the base name). Returns
    (meta, {channel id: float64 ndarray of a*x+b}); with raw=True the arrays
    are the integer codes (int64) instead."""
    cfg = path if path.lower().endswith(".cfg") else path + ".cfg"
    with open(cfg, "r", newline="") as f:
        meta = parse_cfg(f.read())
    dat = cfg[:-4] + (".dat" if cfg.endswith(".cfg") else ".DAT")
    if not os.path.exists(dat):
        dat = cfg[:-4] + ".dat"
    na = len(meta["analog"])
    nd = len(meta["digital"])
    nw = (nd + 15) // 16
    n = meta["samples"]
    ft = meta["ft"]
    if ft == "ASCII":
        rows = []
        with open(dat, "r") as f:
            for ln, line in enumerate(f, 1):
                line = line.strip()
                if not line or line == "\x1a":
                    continue
                parts = line.split(",")
                if len(parts) != 2 + na + nd:
                    raise ValueError("comtrade dat line %d: %d fields, expected %d"
                                     % (ln, len(parts), 2 + na + nd))
                rows.append([float(p) if p.strip() else np.nan for p in parts[2:2 + na]])
        codes = np.array(rows, dtype=np.float64).reshape(-1, na)
    else:
        vt = {"BINARY": "<i2", "BINARY32": "<i4", "FLOAT32": "<f4"}[ft]
        dt = np.dtype([("n", "<u4"), ("t", "<u4")] + [("a%d" % i, vt) for i in range(na)]
                      + [("d%d" % i, "<u2") for i in range(nw)])
        rec = np.fromfile(dat, dtype=dt)
        codes = np.stack([rec["a%d" % i] for i in range(na)], axis=1) if na else np.zeros((len(rec), 0))
        if ft in _MISSING:
            codes = codes.astype(np.float64)
            codes[codes == _MISSING[ft]] = np.nan
    if len(codes) < n:
        raise ValueError("comtrade dat: %d samples, cfg says %d" % (len(codes), n))
    codes = codes[:n]
    out = {}
    for i, ch in enumerate(meta["analog"]):
        x = codes[:, i]
        if raw:
            out[ch["id"]] = x.astype(np.int64) if ft != "FLOAT32" else x
        else:
            v = ch["a"] * x + ch["b"]
            if ch["ps"] == "S":
                v = v * (ch["primary"] / ch["secondary"])
            out[ch["id"]] = v
    return meta, out


def main(argv):
    if len(argv) == 2 and argv[0] == "info":
        path = argv[1]
        if path.lower().endswith(".dat"):
            print("tools.comtrade: error: %s: this is the data file; give the .cfg" % path, file=sys.stderr)
            return 2
        try:
            meta, data = read(path)
        except OSError as e:
            print("tools.comtrade: error: %s: %s" % (e.filename or path, e.strerror or e), file=sys.stderr)
            return 2
        except UnicodeDecodeError:
            print("tools.comtrade: error: %s: not a text file (a .cfg is text)" % path, file=sys.stderr)
            return 2
        except ValueError as e:
            print("tools.comtrade: error: %s: %s" % (path, e), file=sys.stderr)
            return 2
        print("%s / %s rev %d, %s, %d samples at %s Hz, start %s"
              % (meta["station"], meta["rec_dev_id"], meta["rev_year"], meta["ft"],
                 meta["samples"], meta["rates"][0][0], meta["start"]))
        for ch in meta["analog"]:
            v = data[ch["id"]]
            print("  %-6s %-3s a=%s b=%s rms=%.6g" % (ch["id"], ch["unit"], ch["a_text"], ch["b_text"],
                                                   float(np.sqrt(np.nanmean(v ** 2)))))
        return 0
    print("tools.comtrade: error: usage: python -m tools.comtrade info FILE.cfg", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

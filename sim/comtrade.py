# COMTRADE fixture playback: the plant's generate(n) interface fed from a
# recorded .cfg/.dat pair (IEEE C37.111-1999/2013) instead of the model.
#
# Analog channel ids are board channel names ("L1-V", "O3-I", ...). Each sample
# becomes round((a*x + b) * unit) in microvolts/microamps (unit: V kV mV uV,
# A kA mA uA; PS "S" channels are multiplied by primary/secondary), computed in
# exact integer fixed point from the decimal text of a and b. Channels the
# fixture lacks read 0; fixture channels the board lacks are ignored and listed
# in .ignored. The .dat is read incrementally (BINARY32, BINARY, ASCII), so
# fixtures may be much longer than memory. The fixture's sample rate must equal
# the board's: there is no resampling.
import array
import micropython

_UNITS = {"V": ("V", 1000000), "KV": ("V", 1000000000), "MV": ("V", 1000), "UV": ("V", 1),
          "A": ("I", 1000000), "KA": ("I", 1000000000), "MA": ("I", 1000), "UA": ("I", 1)}
_INT32_MIN = -2147483648


@micropython.viper
def _k_bin(out: ptr32, buf: ptr8, rs: int, off: int, n: int, prm: ptr32, wide: int):
    # one channel of n binary records: x (int32 or int16 LE at off, stride rs) ->
    # (x*M + B) >> S with M = mhi*2^31 + mlo and B = bhi*2^31 + blo (exact floor)
    mhi = prm[0] | (prm[1] << 32)
    mlo = prm[2] | (prm[3] << 32)
    bhi = prm[4] | (prm[5] << 32)
    blo = prm[6] | (prm[7] << 32)
    sh = prm[8]
    b31 = 1
    b31 <<= 31         # built at run time: no big literals in viper
    top = b31 - 1
    o = off
    for i in range(n):
        if wide:
            x = buf[o] | (buf[o + 1] << 8) | (buf[o + 2] << 16) | (buf[o + 3] << 24)
            x = (x ^ b31) - b31
            miss = x == -b31
        else:
            x = buf[o] | (buf[o + 1] << 8)
            x = (x ^ 0x8000) - 0x8000
            miss = x == -32768
        if miss:
            y = 0
        else:
            y = (x * mhi + bhi + ((x * mlo + blo) >> 31)) >> sh
            if y > top:
                y = top
            elif y < -b31:
                y = -b31
        out[i] = y
        o += rs


@micropython.viper
def _k_zero(out: ptr32, i0: int, n: int):
    for i in range(i0, i0 + n):
        out[i] = 0


def _decimal(s, what, line):
    """Exact (num, den) of a decimal/exponent number string."""
    t = s.strip()
    try:
        float(t)
    except ValueError:
        raise ValueError("comtrade cfg line %d: %s %r is not a number" % (line, what, s))
    e = 0
    k = t.upper().find("E")
    if k >= 0:
        e = int(t[k + 1:])
        t = t[:k]
    neg = t.startswith("-")
    if t[:1] in "+-":
        t = t[1:]
    if "." in t:
        ip, fp = t.split(".", 1)
    else:
        ip, fp = t, ""
    num = int((ip or "0") + fp) if (ip or fp) else 0
    e -= len(fp)
    den = 1
    if e >= 0:
        num *= 10 ** e
    else:
        den = 10 ** (-e)
    return (-num if neg else num, den)


def _bitlen(x):
    n = 0
    while x:
        x >>= 1
        n += 1
    return n


def _fixed(fn, fd, bn, bd):
    """Parameters (as array('q')) for y = floor(x*F + B + 1/2), F = fn/fd, B = bn/bd."""
    # S: as many fraction bits as keep |x*M| and |B| well inside 63 bits
    mag = abs(fn) // fd + 1
    bmag = abs(bn) // bd + 2
    s = 61 - _bitlen(mag)
    s2 = 91 - _bitlen(bmag)
    if s2 < s:
        s = s2
    if s > 80:
        s = 80
    if s < 31:
        raise ValueError("comtrade: scale factor too large")
    M = (fn << s) // fd
    B = ((2 * bn + bd) << s) // (2 * bd)      # includes the +1/2 for rounding
    prm = array.array("q", [M >> 31, M & 0x7FFFFFFF, B >> 31, B & 0x7FFFFFFF, s - 31, 0, 0, 0])
    # the kernel reads fields as 32-bit word pairs; field 4 (shift) is word 8
    return prm


class ComtradeSource:
    def __init__(self, desc, cfg_path, *, loop=False, cap=400):
        self.desc = desc
        self.fs = int(desc.SAMPLE_RATE)
        self.loop = loop
        self.cap = cap
        self.n = 0
        self.done = False
        self.switches = {}
        self.ignored = []
        self.missing = []
        self._amb = (24.0, 40.0)
        self.bufs = {}
        for name in desc.CHANNELS:
            self.bufs[name] = array.array("i", bytes(4 * cap))
        with open(cfg_path, "rb") as f:
            text = f.read()
        try:
            text = text.decode()
        except UnicodeError:
            raise ValueError("comtrade cfg: not a text file (a .cfg is text; is this the .dat?)")
        lines = text.split("\n")
        while lines and not lines[-1].strip():
            lines.pop()
        self._parse(lines)
        base = cfg_path[:-4] if cfg_path[-4:].lower() == ".cfg" else cfg_path
        self.dat_path = None
        for ext in (".dat", ".DAT"):
            try:
                self._f = open(base + ext, "rb" if self.ft != "ASCII" else "r")
                self.dat_path = base + ext
                break
            except OSError:
                pass
        if self.dat_path is None:
            raise ValueError("comtrade: no data file %s.dat" % base)
        self._pos = 0           # records read
        if self.ft != "ASCII":
            self._rbuf = bytearray(self.rec_size * cap)
            self._rmv = memoryview(self._rbuf)
        else:
            self._raw = {}
            for ch in self._used:
                self._raw[ch[0]] = array.array("i", bytes(4 * cap))
        present = [ch[0] for ch in self._used]
        self.missing = [c for c in desc.CHANNELS if c not in present]

    # ------------------------------------------------------------------ cfg
    def _parse(self, lines):
        ln = [0]

        def nxt(what):
            while True:
                if ln[0] >= len(lines):
                    raise ValueError("comtrade cfg: missing line %d (%s)" % (ln[0] + 1, what))
                s = lines[ln[0]].rstrip("\r")
                ln[0] += 1
                return s

        def fields(what, lo, hi):
            s = nxt(what)
            f = [x.strip() for x in s.split(",")]
            if len(f) < lo or len(f) > hi:
                raise ValueError("comtrade cfg line %d (%s): expected %d fields, got %d: %r"
                                 % (ln[0], what, lo if lo == hi else hi, len(f), s))
            return f

        def num(s, what, conv=float):
            try:
                return conv(s)
            except ValueError:
                raise ValueError("comtrade cfg line %d (%s): %r is not a number" % (ln[0], what, s))

        f = fields("station_name,rec_dev_id,rev_year", 2, 3)
        self.station = f[0]
        self.rev_year = num(f[2], "rev_year", int) if len(f) > 2 and f[2] else 1991
        if self.rev_year not in (1991, 1999, 2013):
            raise ValueError("comtrade cfg line 1: rev_year %d not 1991/1999/2013" % self.rev_year)
        f = fields("TT,##A,##D", 3, 3)
        if not f[1].upper().endswith("A") or not f[2].upper().endswith("D"):
            raise ValueError("comtrade cfg line %d (TT,##A,##D): counts need A/D suffixes: %r"
                             % (ln[0], ",".join(f)))
        tt = num(f[0], "TT", int)
        na = num(f[1][:-1], "##A", int)
        nd = num(f[2][:-1], "##D", int)
        if na + nd != tt or na < 0 or nd < 0:
            raise ValueError("comtrade cfg line %d (TT,##A,##D): TT != ##A + ##D" % ln[0])
        self.n_analog = na
        self.n_digital = nd
        chans = self.desc.CHANNELS
        used = []
        for k in range(na):
            f = fields("analog channel %d" % (k + 1), 10, 13)
            if len(f) not in (10, 13):
                raise ValueError("comtrade cfg line %d (analog channel %d): needs 13 fields, got %d"
                                 % (ln[0], k + 1, len(f)))
            cid = f[1]
            unit = f[4].upper().replace("\xb5", "U")
            an, ad = _decimal(f[5], "a", ln[0])
            bn, bd = _decimal(f[6], "b", ln[0])
            if len(f) == 13:
                ps = f[12].upper()
                if ps not in ("P", "S"):
                    raise ValueError("comtrade cfg line %d: PS must be P or S, got %r" % (ln[0], f[12]))
                if ps == "S":
                    pn, pd = _decimal(f[10], "primary", ln[0])
                    sn, sd = _decimal(f[11], "secondary", ln[0])
                    if sn == 0:
                        raise ValueError("comtrade cfg line %d: secondary is 0" % ln[0])
                    an, ad = an * pn * sd, ad * pd * sn
                    bn, bd = bn * pn * sd, bd * pd * sn
            if cid not in chans:
                self.ignored.append(cid)
                continue
            q = chans[cid][2]
            u = _UNITS.get(unit)
            if u is None:
                raise ValueError("comtrade cfg line %d: channel %s unit %r unknown (V kV mV uV A kA mA uA)"
                                 % (ln[0], cid, f[4]))
            if u[0] != q:
                raise ValueError("comtrade cfg line %d: channel %s is a %s channel but its unit is %r"
                                 % (ln[0], cid, "voltage" if q == "V" else "current", f[4]))
            if an == 0:
                raise ValueError("comtrade cfg line %d: channel %s has a = 0" % (ln[0], cid))
            for c in used:
                if c[0] == cid:
                    raise ValueError("comtrade cfg line %d: channel %s appears twice" % (ln[0], cid))
            used.append((cid, k, _fixed(an * u[1], ad, bn * u[1], bd),
                         an * u[1] / ad, bn * u[1] / bd))
        for k in range(nd):
            fields("status channel %d" % (k + 1), 3, 5)
        self.lf = num(nxt("lf").strip(), "lf")
        nrates = num(nxt("nrates").strip(), "nrates", int)
        if nrates == 0:
            raise ValueError("comtrade cfg line %d: nrates 0: no fixed sample rate (timestamps only); "
                             "fixtures need %d Hz" % (ln[0], self.fs))
        total = 0
        for k in range(max(nrates, 1)):
            f = fields("samp,endsamp", 2, 2)
            samp = num(f[0], "samp")
            total = num(f[1], "endsamp", int)
            if nrates == 0 or samp == 0:
                raise ValueError("comtrade cfg line %d: no fixed sample rate (nrates/samp 0); "
                                 "fixtures need %d Hz" % (ln[0], self.fs))
            if samp != self.fs:
                raise ValueError("comtrade cfg line %d: fixture sample rate %s Hz != board %d Hz "
                                 "(resample the fixture)" % (ln[0], f[0], self.fs))
        self.samples = total
        self.start = nxt("first data time").strip()
        nxt("trigger time")
        ft = nxt("ft").strip().upper()
        if ft not in ("ASCII", "BINARY", "BINARY32"):
            raise ValueError("comtrade cfg line %d: file type %r unsupported (ASCII, BINARY, BINARY32)"
                             % (ln[0], ft))
        self.ft = ft
        w = 4 if ft == "BINARY32" else 2
        self.rec_size = 8 + w * na + 2 * ((nd + 15) // 16)
        self._used = used

    def check_data(self):
        """Check the .dat before playback: binary files must hold whole records,
        as many as the cfg says; an ASCII file's first record must parse.
        Raises ValueError naming the data file; the position is kept."""
        dat = self.dat_path
        if self.ft != "ASCII":
            import os
            size = os.stat(dat)[6]
            rs = self.rec_size
            if size % rs:
                raise ValueError("comtrade dat %s: %d bytes is not a whole number of %d-byte %s records "
                                 "(truncated, or not %s?)" % (dat, size, rs, self.ft, self.ft))
            if self.samples and size // rs < self.samples:
                raise ValueError("comtrade dat %s: %d records, the cfg says %d" % (dat, size // rs, self.samples))
            return
        f = self._f
        try:
            line = ""
            while not line.strip():
                line = f.readline()
                if not line:
                    raise ValueError("comtrade dat %s: no records" % dat)
        except UnicodeError:
            raise ValueError("comtrade dat %s: not ASCII text (the cfg says ASCII)" % dat)
        finally:
            f.seek(0)
        p = line.strip().split(",")
        if len(p) < 2 + self.n_analog:
            raise ValueError("comtrade dat %s: record 1 has %d fields, expected %d"
                             % (dat, len(p), 2 + self.n_analog + self.n_digital))
        for ch in self._used:
            tok = p[2 + ch[1]].strip()
            try:
                float(tok or "0")
            except ValueError:
                raise ValueError("comtrade dat %s: record 1: %r is not a number" % (dat, tok))

    # ------------------------------------------------------------------ data
    def t(self):
        return self.n / self.fs

    def _read_binary(self, n):
        """Read up to n records into the record buffer; returns records read."""
        got = 0
        rs = self.rec_size
        while got < n:
            want = n - got
            if self.samples and self.samples - self._pos < want:
                want = self.samples - self._pos
            k = 0
            if want > 0:
                k = self._f.readinto(self._rmv[got * rs:(got + want) * rs]) or 0
                if k % rs:
                    raise ValueError("comtrade dat: truncated record %d" % (self._pos + k // rs + 1))
                k //= rs
                got += k
                self._pos += k
                if k == want:
                    continue
            # end of the recording
            if not self.loop or self._pos == 0:
                break
            self._f.seek(0)
            self._pos = 0
        return got

    def _read_ascii(self, n):
        got = 0
        raw = self._raw
        self._floats = []
        while got < n:
            line = None
            if not self.samples or self._pos < self.samples:
                line = self._f.readline()
            if not line:
                if not self.loop or self._pos == 0:
                    break
                self._f.seek(0)
                self._pos = 0
                continue
            line = line.strip()
            if not line or line == "\x1a":
                continue
            p = line.split(",")
            if len(p) < 2 + self.n_analog:
                raise ValueError("comtrade dat: record %d has %d fields, expected %d"
                                 % (self._pos + 1, len(p), 2 + self.n_analog + self.n_digital))
            for ch in self._used:
                tok = p[2 + ch[1]].strip()
                try:
                    x = int(tok)
                except ValueError:
                    x = _INT32_MIN          # blank: missing -> 0
                    if tok:
                        try:
                            v = float(tok)
                        except ValueError:
                            raise ValueError("comtrade dat: record %d: %r is not a number"
                                             % (self._pos + 1, tok))
                        # a real-valued sample: float arithmetic, rounded
                        self._floats.append((ch[0], got, int(round(v * ch[3] + ch[4]))))
                raw[ch[0]][got] = x
            got += 1
            self._pos += 1
        return got

    def generate(self, n):
        """The next n samples of every board channel (uV/uA) as reused array('i')."""
        if n > self.cap:
            raise ValueError("comtrade: generate(%d) > capacity %d" % (n, self.cap))
        bufs = self.bufs
        if self.done:
            got = 0
        elif self.ft == "ASCII":
            got = self._read_ascii(n)
        else:
            got = self._read_binary(n)
        if got < n:
            self.done = True
        wide = 1 if self.ft == "BINARY32" else 0
        w = 4 if wide else 2
        for cid, k, prm, fa, fb in self._used:
            out = bufs[cid]
            if self.ft == "ASCII":
                _k_bin(out, memoryview(self._raw[cid]), 4, 0, got, prm, 1)
            else:
                _k_bin(out, self._rbuf, self.rec_size, 8 + w * k, got, prm, wide)
            if got < n:
                _k_zero(out, got, n - got)
        if self.ft == "ASCII":
            for cid, i, v in self._floats:
                bufs[cid][i] = v
        for name in self.missing:
            _k_zero(bufs[name], 0, n)
        self.n += n
        return bufs

    def close(self):
        self._f.close()

    # the plant's other accessors, so a fixture can stand in for it
    def air(self, where="inlet"):
        return self._amb

    def ntc_temp(self, name):
        return self._amb[0]

    def cycle_stats(self):
        return None

    def report(self):
        return "fixture %s: %d samples %s; ignored %s; absent (read 0) %s" % (
            self.station, self.samples, self.ft, self.ignored or "-", self.missing or "-")

# Data records per ETSI ES 202 336-12 4.4.3.4 and 4.4.3.7: over each record
# period T_rec (1 or 5..60 minutes dividing the hour, default 15, settable at
# run time through config "record.period_min") every channel's average,
# minimum and maximum of V, I, P, temperature and humidity, the energy over
# the period, a timestamp to 1 s and the equipment and site identifiers.
# Stored on flash (littlefs) with progressive aggregation (Annex F):
#   level 0  T_rec records      one file per UTC day    kept keep_days (>= 4) + today
#   level 1  hourly aggregates  one file per UTC month  kept hourly_months (>= 6) + this month
#   level 2  daily aggregates   one file per UTC year   kept daily_years (>= 2) + this year
#
# Input, from the metrology layer once per second:
#   add_second(utc_s, values, env)   values: {channel: (v, i, p)}, env: {sensor: (t_c, rh)}
# (None for anything not measured), or for long virtual-time runs and replays
# pre-aggregated minutes:
#   add_minute(utc_s, stats, env, n_s=60)   stats: {channel: ((v avg, min, max), (i ...), (p ...))},
#                                           env: {sensor: ((t avg, min, max), (rh ...))}
# Energy over a period is the difference of the integer energy counters
# (core/energy.Energy, read at each minute's end; so records and counters
# agree exactly) or, without counters, the integral of P.
#
# Each channel records the quantities in its kind string, letters of "VIPTHE"
# (E = energy); the firmware's channel list is firmware/stores.record_channels().
#
# File: header "PDUR", u8 version, u8 level, u16 record size, u16 header size,
# u16 fields, then the layout as "name:kinds,..." text. Record (fixed size):
#   0 u32 utc_s (period start)  4 u32 period_s  8 u32 n_s (seconds with data)
#  12 u8 flags (bit0 time valid throughout, bit1 partial period)  13 u8 level
#  14 u16 fields  16 16 B equipment id  32 16 B site id
#  48 fields x (avg, min, max) float32 (NaN: no data)  then E channels x u64 mJ
#  last 2 bytes: CRC-16/CCITT over the record.
# A record is appended and the file closed (littlefs commits on close), so a
# power cut loses at most the record being written.
from micropython import const
import micropython
import array
import struct
from core.calendar import civil_from_days, days_from_civil
from drivers.crc import crc16_ccitt
from core import codes

_MAGIC = b"PDUR"
_VERSION = const(1)
_HDR = const(48)
_ELEC = {"V": 0, "I": 1, "P": 2}
_ENV = {"T": 0, "H": 1}
_NAN = float("nan")
LEVELS = (0, 1, 2)
_DIRS = ("r0", "r1", "r2")


_TINDEX = {}


def _tindex(kinds, env):
    # (kinds, reading index of each avg/min/max field: V, I, P -> the (v, i, p)
    # tuple of add_second; T, H -> (t_c, rh)), one pair shared by all channels
    # of the same kinds.
    t = _TINDEX.get(kinds)
    if t is None:
        m = _ENV if env else _ELEC
        t = (kinds, bytes(m[k] for k in kinds if k != "E"))
        _TINDEX[kinds] = t
    return t


@micropython.viper
def _fill32(buf: ptr32, n: int, hi: int):
    # n 32-bit words of buf = hi << 16 (reset without template arrays: zeros,
    # float32 +inf 0x7F800000, -inf 0xFF800000; the word is built here so no
    # argument exceeds the MCU's small ints)
    v = hi << 16
    i = 0
    while i < n:
        buf[i] = v
        i += 1


_F32_INF_HI = const(0x7F80)
_F32_NINF_HI = const(0xFF80)


class _Acc:
    """Running sums for one period: per field sum/count/min/max, energy."""

    def __init__(self, nf, ne):
        self.sum = array.array("d", bytes(8 * nf))
        self.cnt = array.array("I", bytes(4 * nf))
        self.mn = array.array("f", bytes(4 * nf))
        self.mx = array.array("f", bytes(4 * nf))
        self.e = array.array("q", bytes(8 * ne))   # energy over the period (mJ): no big ints on the MCU
        self.t0 = -1
        self.period = 0
        self.n_s = 0
        self.valid = True

    def start(self, t0, period):
        n = len(self.cnt)
        _fill32(self.sum, 2 * n, 0)          # float64 zeros
        _fill32(self.cnt, n, 0)
        _fill32(self.mn, n, _F32_INF_HI)
        _fill32(self.mx, n, _F32_NINF_HI)
        _fill32(self.e, 2 * len(self.e), 0)
        self.t0 = t0
        self.period = period
        self.n_s = 0
        self.valid = True

    @micropython.native
    def merge(self, o):
        s, c, mn, mx = self.sum, self.cnt, self.mn, self.mx
        os_, oc, omn, omx = o.sum, o.cnt, o.mn, o.mx
        for i in range(len(s)):
            k = oc[i]
            if k:
                s[i] += os_[i]
                c[i] += k
                if omn[i] < mn[i]:
                    mn[i] = omn[i]
                if omx[i] > mx[i]:
                    mx[i] = omx[i]
        e, oe = self.e, o.e
        for k in range(len(e)):
            e[k] += oe[k]
        self.n_s += o.n_s
        if not o.valid:
            self.valid = False


class Records:
    def __init__(self, fs, channels, *, clock=None, energy=None, config=None, events=None,
                 period_min=15, equipment_id="PDU-0001", site_id="SITE-0001", keep_days=4,
                 hourly_months=6, daily_years=2):
        self.fs = fs
        self.clock = clock
        self.energy = energy
        self.events = events
        # Per channel: name, kinds, reading index of each field (bytes shared
        # between channels of the same kinds) and (first field << 1) | env: a
        # channel's fields are consecutive, so no object per field or channel.
        self._names = []
        self._kinds = []
        self._tis = []
        self._f0 = array.array("H")
        echans = []
        nf = 0
        for name, kinds in channels:
            kinds = "".join(k for k in "VIPTHE" if k in kinds)
            if not kinds:
                raise ValueError("records: channel %s records nothing" % name)
            env = ("T" in kinds or "H" in kinds)
            if env and any(k in kinds for k in "VIPE"):
                raise ValueError("records: channel %s mixes electrical and environment kinds" % name)
            kinds, ti = _tindex(kinds, env)
            if "E" in kinds:
                echans.append(name)
            self._names.append(name)
            self._kinds.append(kinds)
            self._tis.append(ti)
            self._f0.append((nf << 1) | (1 if env else 0))
            nf += len(ti)
        self.echans = echans
        self.nf = nf
        self.ne = len(echans)
        self._eidx = None
        if energy is not None:
            self._eidx = array.array("B", [energy.index[n] for n in echans])
        self.rec_size = (_HDR + 12 * self.nf + 8 * self.ne + 2 + 3) & ~3
        self._eoff = _HDR + 12 * self.nf
        self._rbuf = bytearray(self.rec_size)
        self._am = _Acc(self.nf, self.ne)                               # current minute
        self._acc = [_Acc(self.nf, self.ne) for _ in LEVELS]           # T_rec, hour, day
        self._esnap = None
        self._snap_energy()   # energy from here on goes into the records
        self.period_s = 60 * period_min
        self.equipment_id = equipment_id
        self.site_id = site_id
        self.keep_days = keep_days
        self.hourly_months = hourly_months
        self.daily_years = daily_years
        self.config = config
        if config is not None:
            self._from_config()
            config.listeners.append(self._config_changed)
        self.written = [0, 0, 0]
        self.errors = 0
        self.bad_records = 0
        self._fault = False
        self.listeners = []   # fn(level, utc_s) after a record is stored
        for d in _DIRS:
            try:
                fs.mkdir(d)
            except OSError:
                pass

    # --- configuration ---------------------------------------------------------------
    def _from_config(self):
        c = self.config
        self.period_s = 60 * c.get("record.period_min")
        self.equipment_id = c.get("system.equipment_id")
        self.site_id = c.get("system.site_id")
        self.keep_days = c.get("record.keep_days")
        self.hourly_months = c.get("record.hourly_months")
        self.daily_years = c.get("record.daily_years")

    def _config_changed(self, diff):
        self._from_config()

    @property
    def layout(self):
        """[(channel, kinds)] in record order."""
        return [(self._names[j], self._kinds[j]) for j in range(len(self._names))]

    @property
    def fields(self):
        """[(channel, kind)] of the avg/min/max fields in record order."""
        out = []
        for name, kinds in self.layout:
            for k in kinds:
                if k != "E":
                    out.append((name, k))
        return out

    def _file_header(self):
        t = ",".join("%s:%s" % nk for nk in self.layout).encode()
        h = bytearray(14 + len(t))
        h[0:4] = _MAGIC
        struct.pack_into("<BBHHH", h, 4, _VERSION, 0, self.rec_size, len(h), self.nf)
        h[14:] = t
        return h

    # --- input ---------------------------------------------------------------------------
    def _time_valid(self, time_valid):
        if time_valid is None:
            return self.clock.time_valid if self.clock is not None else True
        return time_valid

    @micropython.native
    def add_second(self, utc_s, values, env=None, time_valid=None):
        """One second of readings [utc_s, utc_s + 1). Call after that second's
        energy went into the counters."""
        time_valid = self._time_valid(time_valid)
        a = self._am
        m0 = utc_s - utc_s % 60
        if a.t0 != m0:
            if a.t0 >= 0:
                self._close_minute()   # a gap or a clock step: close what we have
            a.start(m0, 60)
        self._fold(a, values, env, 0)
        a.n_s += 1
        if not time_valid:
            a.valid = False
        if utc_s % 60 == 59:
            self._close_minute()

    def add_minute(self, utc_s, stats, env=None, n_s=60, time_valid=None, energy=None):
        """One pre-aggregated minute starting at utc_s (see the module header).
        energy: {channel: mJ} used only when no energy counters are attached."""
        time_valid = self._time_valid(time_valid)
        a = self._am
        m0 = utc_s - utc_s % 60
        if a.t0 >= 0 and a.t0 != m0:
            self._close_minute()
        a.start(m0, 60)
        self._fold(a, stats, env, n_s)
        a.n_s = n_s
        a.valid = bool(time_valid)
        self._close_minute(energy)

    @micropython.native
    def _fold(self, a, values, env, n_s):
        # Each channel's readings into the minute accumulator a: with n_s == 0
        # one second of readings (x per field), else a minute pre-aggregated
        # over n_s seconds ((avg, min, max) per field) into a freshly started a.
        s, c, mn, mx = a.sum, a.cnt, a.mn, a.mx
        names, tisl, f0 = self._names, self._tis, self._f0
        for j in range(len(names)):
            w = f0[j]
            d = env if w & 1 else values
            if d is None:
                continue
            t = d.get(names[j])
            if t is None:
                continue
            fi = w >> 1
            for ti in tisl[j]:
                x = t[ti]
                if x is not None:
                    if n_s:
                        s[fi] = x[0] * n_s
                        c[fi] = n_s
                        mn[fi] = x[1]
                        mx[fi] = x[2]
                    else:
                        s[fi] += x
                        c[fi] += 1
                        if x < mn[fi]:
                            mn[fi] = x
                        if x > mx[fi]:
                            mx[fi] = x
                fi += 1

    # --- aggregation ------------------------------------------------------------------
    def _pfield(self, k):
        """Field index of E channel k's P, or -1 (energy without counters)."""
        name = self.echans[k]
        for j in range(len(self._names)):
            if self._names[j] == name:
                i = self._kinds[j].find("P")
                return -1 if i < 0 else (self._f0[j] >> 1) + i     # V, I, P come first, in that order
        return -1

    def _snap_energy(self):
        if self._eidx is not None:
            en = self.energy
            self._esnap = array.array("q", [en.get(i) for i in self._eidx])
        else:
            self._esnap = []

    def _minute_energy(self, a, given):
        e = a.e
        if self._eidx is not None:
            en = self.energy
            snap = self._esnap
            for k in range(self.ne):
                cur = en.get(self._eidx[k])
                d = cur - snap[k]
                e[k] = d if d > 0 else 0
                snap[k] = cur
            return
        for k in range(self.ne):
            v = None if given is None else given.get(self.echans[k])
            if v is None:
                pf = self._pfield(k)
                v = int(a.sum[pf] * 1000 + 0.5) if pf >= 0 and a.cnt[pf] else 0
                if pf >= 0 and a.cnt[pf] and a.cnt[pf] != a.n_s:
                    # P missing for some seconds: scale its mean to the covered time
                    v = int(a.sum[pf] / a.cnt[pf] * a.n_s * 1000 + 0.5)
            e[k] = v if v > 0 else 0

    def _close_minute(self, given_energy=None):
        a = self._am
        if a.t0 < 0:
            return
        self._minute_energy(a, given_energy)
        m0 = a.t0
        a.t0 = -1
        self._feed(0, a, m0 - m0 % self.period_s, self.period_s)
        end = m0 + 60
        r = self._acc[0]
        if end - r.t0 >= r.period:
            self._close(0)

    def _feed(self, lvl, src, t0, period):
        acc = self._acc[lvl]
        if acc.t0 != t0 or acc.period != period:
            if acc.t0 >= 0:
                self._close(lvl)        # early close: period changed or time stepped
            acc.start(t0, period)
        acc.merge(src)

    def _close(self, lvl):
        acc = self._acc[lvl]
        if acc.t0 < 0:
            return
        self._store(lvl, acc)
        t0 = acc.t0
        acc.t0 = -1
        if lvl == 0:
            h0 = t0 - t0 % 3600
            self._feed(1, acc, h0, 3600)
            if t0 + acc.period >= h0 + 3600:
                self._close(1)
        elif lvl == 1:
            d0 = t0 - t0 % 86400
            self._feed(2, acc, d0, 86400)
            if t0 + 3600 >= d0 + 86400:
                self._close(2)

    def flush(self):
        """Close every running period now (partial records), e.g. before a planned restart."""
        self._close_minute()
        for lvl in LEVELS:
            self._close(lvl)

    # --- storage ---------------------------------------------------------------------------
    @micropython.native
    def _encode(self, lvl, acc):
        b = self._rbuf
        flags = (1 if acc.valid else 0) | (2 if acc.n_s < acc.period else 0)
        struct.pack_into("<IIIBBH", b, 0, acc.t0, acc.period, acc.n_s, flags, lvl, self.nf)
        for off, txt in ((16, self.equipment_id), (32, self.site_id)):
            t = str(txt).encode()[:16]
            b[off:off + len(t)] = t
            for i in range(off + len(t), off + 16):
                b[i] = 0
        s, c, mn, mx = acc.sum, acc.cnt, acc.mn, acc.mx
        o = _HDR
        for i in range(self.nf):
            k = c[i]
            if k:
                struct.pack_into("<fff", b, o, s[i] / k, mn[i], mx[i])
            else:
                struct.pack_into("<fff", b, o, _NAN, _NAN, _NAN)
            o += 12
        for v in acc.e:
            struct.pack_into("<Q", b, o, v)
            o += 8
        n = self.rec_size
        for i in range(o, n - 2):
            b[i] = 0
        struct.pack_into("<H", b, n - 2, crc16_ccitt(b, 0, n - 2))
        return b

    def path(self, lvl, utc_s):
        y, m, d = civil_from_days(utc_s // 86400)
        if lvl == 0:
            return "r0/%04d%02d%02d" % (y, m, d)
        if lvl == 1:
            return "r1/%04d%02d" % (y, m)
        return "r2/%04d" % y

    def _store(self, lvl, acc):
        b = self._encode(lvl, acc)
        p = self.path(lvl, acc.t0)
        try:
            new = False
            try:
                new = self.fs.stat(p)[6] == 0
            except OSError:
                new = True
            if new:
                self._retain(lvl, acc.t0)
            f = self.fs.open(p, "ab")
            try:
                if new:
                    f.write(self._file_header())
                f.write(b)
            finally:
                f.close()
            self.written[lvl] += 1
            self._fault = False
        except OSError as e:
            self.errors += 1
            if not self._fault and self.events is not None:
                self.events.emit(codes.EV_RECORDS_FAULT, codes.SEV_WARNING, "records",
                                 {"detail": "%s: %r" % (p, e)})
            self._fault = True
            return
        for fn in self.listeners:
            fn(lvl, acc.t0)

    def _retain(self, lvl, utc_s):
        # A new file starts: drop the files that fell out of the retention window.
        y, m, d = civil_from_days(utc_s // 86400)
        if lvl == 0:
            limit = "%04d%02d%02d" % civil_from_days(utc_s // 86400 - self.keep_days)
        elif lvl == 1:
            k = y * 12 + (m - 1) - self.hourly_months
            limit = "%04d%02d" % (k // 12, k % 12 + 1)
        else:
            limit = "%04d" % (y - self.daily_years)
        for name in self._files(lvl):
            if name < limit:
                try:
                    self.fs.remove("%s/%s" % (_DIRS[lvl], name))
                except OSError:
                    pass

    def _files(self, lvl):
        out = []
        try:
            for e in self.fs.ilistdir(_DIRS[lvl]):
                out.append(e[0])
        except OSError:
            pass
        out.sort()
        return out

    # --- retrieval ---------------------------------------------------------------------
    def _span(self, lvl, name):
        y = int(name[0:4])
        if lvl == 0:
            a = days_from_civil(y, int(name[4:6]), int(name[6:8])) * 86400
            return a, a + 86400
        if lvl == 1:
            m = int(name[4:6])
            a = days_from_civil(y, m, 1) * 86400
            b = days_from_civil(y + (1 if m == 12 else 0), 1 if m == 12 else m + 1, 1) * 86400
            return a, b
        return days_from_civil(y, 1, 1) * 86400, days_from_civil(y + 1, 1, 1) * 86400

    def query(self, t0, t1, channel=None, level=0):
        """Stored records of `level` with t0 <= utc_s < t1, oldest first; with
        `channel`, only that channel's values. Records failing their CRC are
        skipped (counted in self.bad_records)."""
        out = []
        self.bad_records = 0
        self._scan(level, t0, t1, channel, out.append)
        out.sort(key=lambda r: r["utc_s"])
        return out

    def times(self, t0, t1, level=0):
        """Start times of the stored records in [t0, t1) (nothing decoded)."""
        out = []
        self._scan(level, t0, t1, False, out.append)
        out.sort()
        return out

    def _scan(self, level, t0, t1, channel, sink):
        # sink(record) for each stored record in [t0, t1) (sink(utc_s) when
        # channel is False), in file order
        for name in self._files(level):
            try:
                a, b = self._span(level, name)
            except ValueError:
                continue
            if b <= t0 or a >= t1:
                continue
            self._read_file("%s/%s" % (_DIRS[level], name), t0, t1, channel, sink)

    def _read_file(self, path, t0, t1, channel, sink):
        f = self.fs.open(path, "rb")
        try:
            h = f.read(14)
            if len(h) < 14 or h[0:4] != _MAGIC:
                return
            ver, _lvl, rsz, hsz, nf = struct.unpack_from("<BBHHH", h, 4)
            dec = _Decoder(f.read(hsz - 14).decode(), rsz, nf)
            k = 4096 // rsz or 1
            chunk = bytearray(k * rsz)   # whole records at a time, a few KB of RAM
            mv = memoryview(chunk)
            f.seek(hsz)
            while True:
                n = f.readinto(chunk)
                if not n:
                    break
                for o in range(0, n - rsz + 1, rsz):
                    u = struct.unpack_from("<I", chunk, o)[0]
                    if t0 <= u < t1:
                        if struct.unpack_from("<H", chunk, o + rsz - 2)[0] != crc16_ccitt(chunk, o, rsz - 2):
                            self.bad_records += 1
                        elif channel is False:
                            sink(u)
                        else:
                            sink(dec.decode(mv[o:o + rsz], channel))
                if n < len(chunk):
                    break
        finally:
            f.close()

    # --- restart ----------------------------------------------------------------------------
    def resume(self, now_s):
        """After a reboot: store the hourly/daily aggregates a power cut at
        their boundary kept from being written (from the records below them,
        over the last 48 hours / 7 days), then rebuild this hour's and this
        day's running aggregates from the stored records."""
        h0 = now_s - now_s % 3600
        d0 = now_s - now_s % 86400
        self._catch_up(1, h0, 3600, 48 * 3600)
        self._catch_up(2, d0, 86400, 7 * 86400)
        for lvl, t0, period, src in ((1, h0, 3600, 0), (2, d0, 86400, 1)):
            acc = self._acc[lvl]
            acc.start(t0, period)
            self._merge_stored(acc, src, t0, now_s + 1)
        self._snap_energy()

    def _merge_stored(self, acc, level, t0, t1):
        # Merge the stored records one at a time as they are read (a list of an
        # hour of decoded minute records would be ~1 MB of objects on the MCU).
        def merge(r):
            self._merge_record(acc, r)
        self.bad_records = 0
        self._scan(level, t0, t1, None, merge)

    def _catch_up(self, lvl, end, period, horizon):
        have = self.times(end - horizon, end, lvl)
        lo = end - horizon
        if have and have[-1] + period > lo:
            lo = have[-1] + period    # only what came after the newest aggregate
        missing = []
        for t in self.times(lo, end, lvl - 1):
            t -= t % period
            if t not in have and t not in missing:
                missing.append(t)
        for t in missing:
            acc = _Acc(self.nf, self.ne)
            acc.start(t, period)
            self._merge_stored(acc, lvl - 1, t, t + period)
            self._store(lvl, acc)

    def _merge_record(self, acc, r):
        w = r["n_s"]
        s, c, mn, mx = acc.sum, acc.cnt, acc.mn, acc.mx
        ch = r["channels"]
        for j in range(len(self._names)):
            name, kinds, i = self._names[j], self._kinds[j], self._f0[j] >> 1
            d = ch.get(name, {})
            for k in kinds:
                if k == "E":
                    continue
                v = d.get(k.lower())
                if v is not None and v[0] == v[0]:
                    s[i] += v[0] * w
                    c[i] += w
                    if v[1] < mn[i]:
                        mn[i] = v[1]
                    if v[2] > mx[i]:
                        mx[i] = v[2]
                i += 1
        for k in range(self.ne):
            acc.e[k] += ch.get(self.echans[k], {}).get("e_mj", 0)
        acc.n_s += w
        if not r["time_valid"]:
            acc.valid = False


class _Decoder:
    def __init__(self, layout, rsz, nf):
        self.rsz = rsz
        self.chans = []   # (name, [(key, field index)], energy index or -1)
        fi = 0
        ei = 0
        for item in layout.split(","):
            name, kinds = item.split(":")
            m = []
            e = -1
            for k in kinds:
                if k == "E":
                    e = ei
                    ei += 1
                else:
                    m.append((k.lower(), fi))
                    fi += 1
            self.chans.append((name, m, e))
        self.nf = fi
        self.eoff = _HDR + 12 * fi

    def decode(self, b, channel=None):
        t0, period, n_s, flags, lvl, _nf = struct.unpack_from("<IIIBBH", b, 0)
        ident = []
        for off in (16, 32):
            x = bytes(b[off:off + 16])
            z = x.find(b"\x00")
            ident.append((x if z < 0 else x[:z]).decode())
        chans = {}
        for name, m, e in self.chans:
            if channel is not None and name != channel:
                continue
            d = {}
            for key, fi in m:
                d[key] = struct.unpack_from("<fff", b, _HDR + 12 * fi)
            if e >= 0:
                d["e_mj"] = struct.unpack_from("<Q", b, self.eoff + 8 * e)[0]
            chans[name] = d
        return {"utc_s": t0, "period_s": period, "n_s": n_s, "time_valid": bool(flags & 1),
                "partial": bool(flags & 2), "level": lvl, "equipment": ident[0], "site": ident[1],
                "channels": chans}

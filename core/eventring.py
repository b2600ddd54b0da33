# Power-loss-safe rings of fixed-size records in FRAM (events, audit), and
# the binary event record.
#
# Ring record layout (any size >= 12): u32 sequence id first, then the
# owner's payload, then a 4-byte tail: u16 (seq & 0xFFFF) and u16 CRC-16/CCITT
# over everything before the CRC. Sequence s lives in slot s % nslots.
# The FRAM stores bytes in address order, so a write cut at byte k leaves
# bytes < k new and bytes >= k old: unless the tail sequence is new the
# record fails the check, and once it is new every byte before it is too
# (the old record in the slot had seq s - nslots, a different low half-word),
# so a torn record is never accepted. Only nslots - 1 records are offered to
# readers: the next slot to be written is treated as already free, so a cut
# while writing it cannot take away a record a reader was promised.
#
# At boot the head is the highest valid sequence id and the next id is one
# more. A record torn by a power cut never reached any reader (listeners run
# after the write; nothing reads while it is written), so its id is simply
# used again for the next record: ids of records that were ever readable never
# repeat, and the window keeps every committed record. `torn` says whether
# boot found such a record (the slot after the head carries the next id but
# fails its check), so boot can report the lost event. Boot also overwrites
# the tail of that free slot with a value that cannot match the next id, so
# the leftovers of a torn attempt can never complete a later attempt's check.
from micropython import const
import struct
from drivers.crc import crc16_ccitt
from core import codes

_SCAN_CHUNK = const(16)   # records per FRAM read while scanning at boot


def cursor_start(seq, first):
    """A reader whose cursor is `seq` (the last id it has) reads on from id
    seq + 1, or from `first` (the oldest id still offered) if that is later:
    (first id to read, ids it missed)."""
    start = seq + 1
    if start < first:
        return first, first - start
    return start, 0


def clip_utf8(b, n):
    """b (bytes) cut to at most n bytes without splitting a UTF-8 sequence."""
    if len(b) <= n:
        return b
    k = n
    while k > 0 and (b[k] & 0xC0) == 0x80:
        k -= 1
    return b[:k]


class FramRing:
    def __init__(self, fram, base, rec_size, nslots):
        if nslots < 2 or rec_size < 12:
            raise ValueError("ring needs >= 2 slots of >= 12 bytes")
        self.fram = fram
        self.base = base
        self.rec = rec_size
        self.n = nslots
        self.buf = bytearray(rec_size)    # the record being written (owner fills the payload)
        self.rbuf = bytearray(rec_size)   # read buffer for cursor reads
        self.next_seq = 1
        self.torn = 0                     # 1 if boot found the record after the head torn
        self.scan()

    def capacity(self):
        return self.n - 1

    def first_seq(self):
        f = self.next_seq - (self.n - 1)
        return f if f > 1 else 1

    def check(self, b, off=0):
        """Sequence id of the record at b[off:], or 0 if it fails its check."""
        n = self.rec
        s = struct.unpack_from("<I", b, off)[0]
        if s == 0:
            return 0
        t, c = struct.unpack_from("<HH", b, off + n - 4)
        if t != (s & 0xFFFF) or c != crc16_ccitt(b, off, n - 2):
            return 0
        return s

    def scan(self):
        n = self.n
        rec = self.rec
        chunk = bytearray(rec * _SCAN_CHUNK)
        mv = memoryview(chunk)
        best = 0
        i = 0
        while i < n:
            k = n - i
            if k > _SCAN_CHUNK:
                k = _SCAN_CHUNK
            self.fram.readinto(self.base + i * rec, mv[:k * rec])
            for j in range(k):
                s = self.check(chunk, j * rec)
                if s > best and s % n == i + j:
                    best = s
            i += k
        nxt = best + 1
        b = self.rbuf
        self.fram.readinto(self.base + (nxt % n) * rec, b)
        self.torn = 1 if struct.unpack_from("<I", b, 0)[0] == nxt and not self.check(b) else 0
        # Spoil the free slot's tail (its record is outside the window): bytes
        # left there by a torn attempt at id nxt can then never complete the
        # check of the next attempt at the same id.
        struct.pack_into("<HH", b, rec - 4, (~nxt) & 0xFFFF, 0)
        self.fram.write(self.base + (nxt % n) * rec + rec - 4, memoryview(b)[rec - 4:])
        self.next_seq = nxt
        return nxt

    def append(self):
        """Commit self.buf (payload filled by the owner) as the next record."""
        b = self.buf
        n = self.rec
        s = self.next_seq
        struct.pack_into("<I", b, 0, s)
        struct.pack_into("<H", b, n - 4, s & 0xFFFF)
        struct.pack_into("<H", b, n - 2, crc16_ccitt(b, 0, n - 2))
        self.fram.write(self.base + (s % self.n) * n, b)
        self.next_seq = s + 1
        return s

    def read(self, seq, buf=None):
        """Record `seq` into buf (default the ring's read buffer); None if it
        is outside the window or fails its check."""
        if seq < self.first_seq() or seq >= self.next_seq:
            return None
        b = self.rbuf if buf is None else buf
        self.fram.readinto(self.base + (seq % self.n) * self.rec, b)
        if self.check(b) != seq:
            return None
        return b

    def since(self, seq, limit, decode):
        """Records with id > seq, oldest first, decoded by decode(buf), and
        how many of them the reader can no longer get (overwritten, or
        failing their check)."""
        s, missed = cursor_start(seq, self.first_seq())
        out = []
        while s < self.next_seq and len(out) < limit:
            b = self.read(s)
            if b is None:
                missed += 1
            else:
                out.append(decode(b))
            s += 1
        return out, missed


# --- event record (96 bytes) --------------------------------------------------
#  0 u32 seq           4 u48 utc_ms        10 u32 ticks_ms
# 14 u8 flags: bit0 time valid, bits1-4 numeric slot 0-3 present, bit5 text clipped
# 15 u8 severity      16 u16 code         18 u8 action (codes.ACTIONS index, 255 other)
# 19 u8 text length   20 12 B channel (ASCII, NUL padded)
# 32 4 x 32-bit numeric values (per-code schema, codes.EVENT_VALUES)
# 48 44 B text: schema text values, then extras "k=text" / "k#number" / "k?0|1", separated by 0x1f
# 92 u16 seq & 0xFFFF 94 u16 CRC-16/CCITT over bytes 0..93
# (the size, 96, is fram_layout.EVENT_REC: the map allocates the ring)
_CH = const(20)
_CH_LEN = const(12)
_VAL = const(32)
_TXT = const(48)
_TXT_LEN = const(44)
_SEP = "\x1f"
_NUM_FMT = {"f": "<f", "i": "<i", "u": "<I", "b": "<I"}


def _schema(code):
    return codes.EVENT_VALUES.get(code, codes.DEFAULT_VALUES)


_clipped = [False]   # set by _wpart when a text part did not fit


def _wpart(b, pos, end, s):
    # Write str(s) at b[pos:end], clipped without splitting a UTF-8 sequence;
    # ASCII goes byte by byte without allocating. Returns the new position.
    if type(s) is not str:
        s = str(s)
    start = pos
    for c in s:
        if ord(c) > 127:
            e = s.encode()
            if len(e) > end - start:
                _clipped[0] = True
                e = clip_utf8(e, end - start)
            b[start:start + len(e)] = e
            return start + len(e)
    for c in s:
        if pos >= end:
            _clipped[0] = True
            break
        b[pos] = ord(c)
        pos += 1
    return pos


def _num_index(nums, k):
    for j in range(len(nums)):
        if nums[j][0] == k:
            return j
    return -1


def encode_event(b, code, severity, channel, values, action, utc_ms, ticks_ms, time_valid):
    """Fill the event record buffer b (bytes 4..91; the ring adds seq and
    tail). Allocates nothing for ASCII text and schema values."""
    nums, texts = _schema(code)
    flags = 1 if time_valid else 0
    struct.pack_into("<IHI", b, 4, utc_ms & 0xFFFFFFFF, (utc_ms >> 32) & 0xFFFF, ticks_ms & 0xFFFFFFFF)
    if severity < 0 or severity >= len(codes.SEVERITY_NAMES):
        severity = len(codes.SEVERITY_NAMES) - 1
    act = 0
    if action is not None:
        act = codes.ACT_OTHER
        acts = codes.ACTIONS
        for j in range(1, len(acts)):
            if acts[j] == action:
                act = j
                break
    struct.pack_into("<BHB", b, 15, severity, code, act)
    n = _wpart(b, _CH, _CH + _CH_LEN, channel or "")
    for i in range(n, _CH + _CH_LEN):
        b[i] = 0
    for i in range(_VAL, _VAL + 16):
        b[i] = 0
    stored = 0       # bit j: schema number j is in a slot
    if values:
        slot = 0
        for j in range(len(nums)):
            name, t = nums[j]
            w = 2 if t == "q" else 1
            if slot + w > 4:
                break
            v = values.get(name)
            if v is not None:
                try:
                    if t == "q":
                        struct.pack_into("<q", b, _VAL + 4 * slot, int(v))
                    elif t == "f":
                        struct.pack_into("<f", b, _VAL + 4 * slot, float(v))
                    elif t == "b":
                        struct.pack_into("<I", b, _VAL + 4 * slot, 1 if v else 0)
                    else:
                        v = int(v)
                        if t == "u":
                            v = 0 if v < 0 else (0xFFFFFFFF if v > 0xFFFFFFFF else v)
                        else:
                            v = -0x80000000 if v < -0x80000000 else (0x7FFFFFFF if v > 0x7FFFFFFF else v)
                        struct.pack_into(_NUM_FMT[t], b, _VAL + 4 * slot, v)
                    flags |= ((1 << w) - 1) << (1 + slot)
                    stored |= 1 << j
                except (TypeError, ValueError, OverflowError):
                    pass  # not a number: kept as "k=v" text below
            slot += w
    b[14] = flags
    # text: schema text values in order, then "k=v" extras, 0x1f between;
    # separators are written only before a non-empty part (no trailing ones)
    end = _TXT + _TXT_LEN
    pos = _TXT
    seps = 0
    idx = 0
    _clipped[0] = False
    for name in texts:
        if idx:
            seps += 1
        idx += 1
        v = values.get(name) if values else None
        if v is not None and v != "":
            while seps and pos < end:
                b[pos] = 0x1F
                pos += 1
                seps -= 1
            pos = _wpart(b, pos, end, v)
            seps = 0
    if values:
        for k in values:
            j = _num_index(nums, k)
            if (j >= 0 and (stored >> j) & 1) or k in texts:
                continue
            if idx and pos < end:
                for _ in range(seps + 1):
                    if pos < end:
                        b[pos] = 0x1F
                        pos += 1
            seps = 0
            idx += 1
            pos = _wpart(b, pos, end, k)
            # the separator keeps the value's type: "k=text", "k#number", "k?bool"
            v = values[k]
            tv = type(v)
            if pos < end:
                b[pos] = 0x3F if tv is bool else (0x23 if tv is int or tv is float else 0x3D)
                pos += 1
            pos = _wpart(b, pos, end, (1 if v else 0) if tv is bool else v)
    if act == codes.ACT_OTHER:
        if idx and pos < end:
            for _ in range(seps + 1):
                if pos < end:
                    b[pos] = 0x1F
                    pos += 1
        pos = _wpart(b, pos, end, "action=")
        pos = _wpart(b, pos, end, action)
    b[19] = pos - _TXT
    for i in range(pos, end):
        b[i] = 0
    if _clipped[0]:
        b[14] |= 0x20    # text clipped: the full story is in the audit log / caller


def _extra_sep(p):
    # index of the first "=", "#" or "?" (names never hold them), -1 if none
    for i in range(len(p)):
        c = p[i]
        if c == "=" or c == "#" or c == "?":
            return i
    return -1


def _typed(sep, v):
    """An extra value back with its type: "#" a number, "?" a bool, "=" text
    (a number clipped by the text field's end stays text)."""
    if sep == "?":
        return v == "1"
    if sep == "#":
        try:
            if "." in v or "e" in v or "n" in v:
                return float(v)
            return int(v)
        except ValueError:
            return v
    return v


def decode_event(b):
    seq, lo, hi, ticks = struct.unpack_from("<IIHI", b, 0)
    flags = b[14]
    sev, code, act = struct.unpack_from("<BHB", b, 15)
    nums, texts = _schema(code)
    ch = bytes(b[_CH:_CH + _CH_LEN])
    z = ch.find(b"\x00")
    if z >= 0:
        ch = ch[:z]
    values = {}
    slot = 0
    for name, t in nums:
        w = 2 if t == "q" else 1
        if slot + w > 4:
            break
        if (flags >> (1 + slot)) & 1:
            o = _VAL + 4 * slot
            if t == "q":
                v = struct.unpack_from("<q", b, o)[0]
            elif t == "b":
                v = struct.unpack_from("<I", b, o)[0] != 0
            else:
                v = struct.unpack_from(_NUM_FMT[t], b, o)[0]
            values[name] = v
        slot += w
    action = None
    n = b[19]
    if n:
        parts = bytes(b[_TXT:_TXT + (n if n < _TXT_LEN else _TXT_LEN)]).decode().split(_SEP)
        for i in range(len(parts)):
            p = parts[i]
            if i < len(texts):
                if p:
                    values[texts[i]] = p
            else:
                e = _extra_sep(p)
                if e > 0:
                    k = p[:e]
                    if k == "action" and act == codes.ACT_OTHER:
                        action = p[e + 1:]
                    else:
                        values[k] = _typed(p[e], p[e + 1:])
    if act != codes.ACT_OTHER and act < len(codes.ACTIONS):
        action = codes.ACTIONS[act]
    if flags & 0x20:
        values["truncated"] = True
    return {"seq": seq, "utc_ms": lo | (hi << 32), "ticks_ms": ticks, "time_valid": bool(flags & 1),
            "code": code, "event": codes.EVENT_NAMES.get(code, str(code)),
            "severity": codes.SEVERITY_NAMES[sev] if sev < len(codes.SEVERITY_NAMES) else str(sev),
            "channel": ch.decode(), "values": values, "action": action}


class EventRing:
    """The event log's FRAM ring: emit-side encode into a preallocated record,
    cursor reads decode on demand."""

    def __init__(self, fram, base=None, nslots=None):
        from core import fram_layout as L
        self.ring = FramRing(fram, L.EVENT_BASE if base is None else base, L.EVENT_REC,
                             L.EVENT_SLOTS if nslots is None else nslots)

    @property
    def next_seq(self):
        return self.ring.next_seq

    def put(self, code, severity, channel, values, action, utc_ms, ticks_ms, time_valid):
        encode_event(self.ring.buf, code, severity, channel, values, action, utc_ms, ticks_ms, time_valid)
        return self.ring.append()

    def last(self):
        """The record just written, decoded (what listeners see)."""
        return decode_event(self.ring.buf)

    def get(self, seq):
        b = self.ring.read(seq)
        return None if b is None else decode_event(b)

    def since(self, seq, limit=100):
        return self.ring.since(seq, limit, decode_event)

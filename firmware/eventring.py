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
# At boot the head is the highest valid sequence id. If the slot after it
# holds that id + 1 with a bad check (a cut after the sequence id reached
# the chip), the id is burnt so sequence ids never repeat.
from micropython import const
import struct
from drivers.crc import crc16_ccitt
from firmware import codes

_SCAN_CHUNK = const(16)   # records per FRAM read while scanning at boot


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
        self.burnt = 0                    # ids burnt at boot (torn record carried them)
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
        if struct.unpack_from("<I", b, 0)[0] == nxt and not self.check(b):
            nxt += 1
            self.burnt += 1
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
        how many of them the reader can no longer get (overwritten, or the
        one torn by a power cut)."""
        first = self.first_seq()
        start = seq + 1
        missed = 0
        if start < first:
            missed = first - start
            start = first
        out = []
        s = start
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
# 14 u8 flags: bit0 time valid, bits1-4 numeric slot 0-3 present
# 15 u8 severity      16 u16 code         18 u8 action (codes.ACTIONS index, 255 other)
# 19 u8 text length   20 12 B channel (ASCII, NUL padded)
# 32 4 x 32-bit numeric values (per-code schema, codes.EVENT_VALUES)
# 48 44 B text: schema text values, then "k=v" extras, separated by 0x1f
# 92 u16 seq & 0xFFFF 94 u16 CRC-16/CCITT over bytes 0..93
EVENT_REC = const(96)
_CH = const(20)
_CH_LEN = const(12)
_VAL = const(32)
_TXT = const(48)
_TXT_LEN = const(44)
_SEP = "\x1f"
_NUM_FMT = {"f": "<f", "i": "<i", "u": "<I", "b": "<I"}


def _clip_utf8(b, n):
    # Cut to at most n bytes without splitting a UTF-8 sequence.
    if len(b) <= n:
        return b
    k = n
    while k > 0 and (b[k] & 0xC0) == 0x80:
        k -= 1
    return b[:k]


def _schema(code):
    return codes.EVENT_VALUES.get(code, codes.DEFAULT_VALUES)


def encode_event(b, code, severity, channel, values, action, utc_ms, ticks_ms, time_valid):
    """Fill the event record buffer b (bytes 4..91; the ring adds seq and tail)."""
    nums, texts = _schema(code)
    flags = 1 if time_valid else 0
    struct.pack_into("<IHI", b, 4, utc_ms & 0xFFFFFFFF, (utc_ms >> 32) & 0xFFFF, ticks_ms & 0xFFFFFFFF)
    if severity < 0 or severity >= len(codes.SEVERITY_NAMES):
        severity = len(codes.SEVERITY_NAMES) - 1
    extras = None
    act = 0
    if action is not None:
        try:
            act = codes.ACTIONS.index(action)
        except ValueError:
            act = codes.ACT_OTHER
            extras = ["action=%s" % action]
    struct.pack_into("<BHB", b, 15, severity, code, act)
    ch = (channel or "").encode()
    n = len(ch) if len(ch) < _CH_LEN else _CH_LEN
    b[_CH:_CH + n] = ch[:n]
    for i in range(_CH + n, _CH + _CH_LEN):
        b[i] = 0
    for i in range(_VAL, _VAL + 16):
        b[i] = 0
    used = []
    if values:
        slot = 0
        for name, t in nums:
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
                    used.append(name)
                except (TypeError, ValueError, OverflowError):
                    pass  # not a number: kept as "k=v" text below
            slot += w
    b[14] = flags
    parts = []
    for name in texts:
        v = values.get(name) if values else None
        parts.append("" if v is None else str(v))
    if values:
        for k in values:
            if k not in used and k not in texts:
                parts.append("%s=%s" % (k, values[k]))
    if extras:
        parts.extend(extras)
    while parts and parts[-1] == "":
        parts.pop()
    txt = _clip_utf8(_SEP.join(parts).encode(), _TXT_LEN) if parts else b""
    n = len(txt)
    b[19] = n
    b[_TXT:_TXT + n] = txt
    for i in range(_TXT + n, _TXT + _TXT_LEN):
        b[i] = 0


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
                e = p.find("=")
                if e > 0:
                    k = p[:e]
                    if k == "action" and act == codes.ACT_OTHER:
                        action = p[e + 1:]
                    else:
                        values[k] = p[e + 1:]
    if act != codes.ACT_OTHER and act < len(codes.ACTIONS):
        action = codes.ACTIONS[act]
    return {"seq": seq, "utc_ms": lo | (hi << 32), "ticks_ms": ticks, "time_valid": bool(flags & 1),
            "code": code, "event": codes.EVENT_NAMES.get(code, str(code)),
            "severity": codes.SEVERITY_NAMES[sev] if sev < len(codes.SEVERITY_NAMES) else str(sev),
            "channel": ch.decode(), "values": values, "action": action}


class EventRing:
    """The event log's FRAM ring: emit-side encode into a preallocated record,
    cursor reads decode on demand."""

    def __init__(self, fram, base=None, nslots=None):
        from firmware import fram_layout as L
        self.ring = FramRing(fram, L.EVENT_BASE if base is None else base, EVENT_REC,
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

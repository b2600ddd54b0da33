# BER for SNMP (X.690 as RFC 3416 and RFC 3412 use it): a strict decoder over
# a received datagram and an encoder into a preallocated buffer.
#
#   d = Decoder(buf, n)             # buf: bytes/bytearray/memoryview, n bytes used
#   tag, start, end = d.tlv()       # next TLV at d.pos (the value is buf[start:end])
#   d.enter(TAG_SEQUENCE)           # -> end of that constructed value; d.pos at its content
#   v = d.integer(); o = d.oid(); s = d.octets(limit)
#   e = Encoder(buf)                # writes backwards from the end of buf (no length
#   mark = e.pos; e.integer(5); e.seq(mark)   # prefixes to patch): see the class
#
# Every malformed input raises BerError, which the agent counts as
# snmpInASNParseErrs and drops: the low-tag-number form only (SNMP needs no
# other); definite lengths only (indefinite 0x80 refused, as RFC 3417 asks),
# at most 4 length octets, never past the enclosing value; INTEGER 1..9
# octets; OBJECT IDENTIFIER at most MAX_OID_LEN sub-identifiers of at most
# 32 bits; nesting checked by the caller's expected structure (the decoder
# never recurses on its own, so deep nesting costs nothing).
from micropython import const

# universal tags
TAG_INTEGER = const(0x02)
TAG_OCTETS = const(0x04)
TAG_NULL = const(0x05)
TAG_OID = const(0x06)
TAG_SEQUENCE = const(0x30)
# application tags (RFC 2578 SMI)
TAG_IPADDRESS = const(0x40)
TAG_COUNTER32 = const(0x41)
TAG_GAUGE32 = const(0x42)
TAG_TIMETICKS = const(0x43)
TAG_OPAQUE = const(0x44)
TAG_COUNTER64 = const(0x46)
# varbind exceptions (RFC 3416)
TAG_NO_SUCH_OBJECT = const(0x80)
TAG_NO_SUCH_INSTANCE = const(0x81)
TAG_END_OF_MIB_VIEW = const(0x82)

MAX_OID_LEN = const(128)          # sub-identifiers (RFC 2578: at most 128)
MAX_LEN_OCTETS = const(4)


class BerError(ValueError):
    pass


class Decoder:
    def __init__(self, buf, n=None):
        self.buf = buf
        self.pos = 0
        self.end = len(buf) if n is None else n

    def tlv(self, end=None):
        """The next TLV, which must fit before `end` (default: the buffer's
        end): -> (tag, value start, value end); pos moves past it."""
        b = self.buf
        p = self.pos
        lim = self.end if end is None else end
        if p + 2 > lim:
            raise BerError("truncated")
        tag = b[p]
        if tag & 0x1F == 0x1F:
            raise BerError("high tag number")
        ln = b[p + 1]
        p += 2
        if ln & 0x80:
            k = ln & 0x7F
            if k == 0:
                raise BerError("indefinite length")
            if k > MAX_LEN_OCTETS:
                raise BerError("length of %d octets" % k)
            if p + k > lim:
                raise BerError("truncated")
            ln = 0
            for i in range(k):
                ln = (ln << 8) | b[p + i]
            p += k
        if ln > lim - p:
            raise BerError("length %d past the end" % ln)
        self.pos = p + ln
        return tag, p, p + ln

    def expect(self, tag, end=None):
        """-> (value start, value end) of the next TLV, which must have `tag`."""
        t, s, e = self.tlv(end)
        if t != tag:
            raise BerError("tag 0x%02x, expected 0x%02x" % (t, tag))
        return s, e

    def enter(self, tag, end=None):
        """Into the next constructed TLV: pos at its content; -> its end."""
        s, e = self.expect(tag, end)
        self.pos = s
        return e

    def integer(self, end=None, tag=TAG_INTEGER):
        s, e = self.expect(tag, end)
        return int_value(self.buf, s, e, tag != TAG_INTEGER)

    def octets(self, limit, end=None, tag=TAG_OCTETS):
        """-> (start, end) of an OCTET STRING of at most `limit` octets."""
        s, e = self.expect(tag, end)
        if e - s > limit:
            raise BerError("string of %d octets" % (e - s))
        return s, e

    def null(self, end=None):
        s, e = self.expect(TAG_NULL, end)
        if e != s:
            raise BerError("NULL with content")

    def oid(self, end=None):
        s, e = self.expect(TAG_OID, end)
        return oid_value(self.buf, s, e)


def int_value(b, s, e, unsigned=False):
    n = e - s
    if n < 1 or n > 9:
        raise BerError("integer of %d octets" % n)
    v = b[s]
    if v & 0x80 and not unsigned:
        v -= 256              # two's complement; the unsigned types read as magnitude
    for i in range(s + 1, e):
        v = (v << 8) | b[i]
    return v


def oid_value(b, s, e):
    """The sub-identifiers of an encoded OBJECT IDENTIFIER, as a tuple."""
    if e <= s:
        raise BerError("empty OID")
    out = []
    v = 0
    k = 0
    for i in range(s, e):
        c = b[i]
        if k == 0 and c == 0x80:
            raise BerError("OID sub-identifier with a leading 0x80")
        v = (v << 7) | (c & 0x7F)
        k += 1
        if k > 5 or v > 0xFFFFFFFF:
            raise BerError("OID sub-identifier over 32 bits")
        if not c & 0x80:
            if not out:
                # the first octets hold the first two arcs (X.690 8.19.4)
                if v < 80:
                    out.append(v // 40)
                    out.append(v % 40)
                else:
                    out.append(2)
                    out.append(v - 80)
            else:
                out.append(v)
            if len(out) > MAX_OID_LEN:
                raise BerError("OID of more than %d sub-identifiers" % MAX_OID_LEN)
            v = 0
            k = 0
    if k:
        raise BerError("OID truncated")
    return tuple(out)


class Encoder:
    """Writes TLVs backwards from the end of a preallocated buffer, so a
    constructed value's length is known when its header is written: write
    the content last-first, then `seq(mark)` with the `mark = e.pos` taken
    before the content. The message is buf[e.pos:]. Raises BerError when the
    buffer is full (the agent answers tooBig)."""

    def __init__(self, buf):
        self.buf = buf
        self.pos = len(buf)

    def reset(self):
        self.pos = len(self.buf)

    def _room(self, n):
        if n > self.pos:
            raise BerError("message too big")

    def _header(self, tag, ln):
        if ln < 0x80:
            self._room(2)
            self.pos -= 2
            self.buf[self.pos] = tag
            self.buf[self.pos + 1] = ln
            return
        k = 1 if ln < 0x100 else (2 if ln < 0x10000 else 3)
        self._room(2 + k)
        p = self.pos - k
        for i in range(k):
            self.buf[p + k - 1 - i] = (ln >> (8 * i)) & 0xFF
        self.buf[p - 1] = 0x80 | k
        self.buf[p - 2] = tag
        self.pos = p - 2

    def raw(self, data):
        n = len(data)
        self._room(n)
        self.pos -= n
        self.buf[self.pos:self.pos + n] = data

    def seq(self, mark, tag=TAG_SEQUENCE):
        """Close a constructed value whose content was written since `mark`."""
        self._header(tag, mark - self.pos)

    def integer(self, v, tag=TAG_INTEGER):
        # two's complement, minimal octets; unsigned application types
        # (Counter32, Gauge32, TimeTicks, Counter64) get a leading 0 when
        # their top bit is set
        b = self.buf
        n = 0
        while True:
            self._room(1)
            self.pos -= 1
            b[self.pos] = v & 0xFF
            n += 1
            v >>= 8
            if (v == 0 and not b[self.pos] & 0x80) or (v == -1 and b[self.pos] & 0x80):
                break
        self._header(tag, n)

    def octets(self, data, tag=TAG_OCTETS):
        self.raw(data)
        self._header(tag, len(data))

    def null(self, tag=TAG_NULL):
        self._header(tag, 0)

    def oid(self, arcs):
        mark = self.pos
        for i in range(len(arcs) - 1, 1, -1):
            self._subid(arcs[i])
        self._subid(arcs[0] * 40 + arcs[1] if len(arcs) > 1 else arcs[0] * 40)
        self._header(TAG_OID, mark - self.pos)

    def _subid(self, v):
        b = self.buf
        self._room(1)
        self.pos -= 1
        b[self.pos] = v & 0x7F
        v >>= 7
        while v:
            self._room(1)
            self.pos -= 1
            b[self.pos] = 0x80 | (v & 0x7F)
            v >>= 7

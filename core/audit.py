# Audit log: who did what, when, and with what result, for every command,
# login, configuration change, calibration change and firmware update. A FRAM
# ring of 128-byte records (core/eventring.FramRing: power-loss safe,
# sequence ids monotonic across reboots), read with cursors like the events.
#
# Record: 0 u32 seq, 4 u48 utc_ms, 10 u8 flags (bit0 time valid), 11 u8 kind,
#         12 u8 result, 13 u8 who length, 14 u8 what length, 15 reserved,
#         16 24 B who, 40 84 B what (UTF-8, clipped), 124 u16 seq, 126 u16 CRC.
from micropython import const
import struct
from core.eventring import FramRing, clip_utf8

KINDS = ("command", "login", "config", "calibration", "update", "time", "other")
RESULTS = ("ok", "refused", "failed", "denied")
_WHO = const(16)
_WHO_LEN = const(24)
_WHAT = const(40)
_WHAT_LEN = const(84)


def _decode(b):
    seq, lo, hi, flags, kind, res, nw, nt = struct.unpack_from("<IIHBBBBB", b, 0)
    return {"seq": seq, "utc_ms": lo | (hi << 32), "time_valid": bool(flags & 1),
            "kind": KINDS[kind] if kind < len(KINDS) else str(kind),
            "result": RESULTS[res] if res < len(RESULTS) else str(res),
            "who": bytes(b[_WHO:_WHO + min(nw, _WHO_LEN)]).decode(),
            "what": bytes(b[_WHAT:_WHAT + min(nt, _WHAT_LEN)]).decode()}


class AuditLog:
    def __init__(self, fram, clock, base=None, nslots=None):
        from core import fram_layout as L
        if fram is None:
            b0 = L.AUDIT_BASE if base is None else base
            n0 = L.AUDIT_SLOTS if nslots is None else nslots
            fram = L.RamFram(b0, b0 + n0 * L.AUDIT_REC)  # no FRAM: same ring, lost at reset
        self.clock = clock
        self.ring = FramRing(fram, L.AUDIT_BASE if base is None else base, L.AUDIT_REC,
                             L.AUDIT_SLOTS if nslots is None else nslots)
        self.listeners = []

    @property
    def next_seq(self):
        return self.ring.next_seq

    def log(self, kind, who, what, result="ok"):
        """Append an entry; returns its sequence id. kind in KINDS, result in RESULTS."""
        b = self.ring.buf
        c = self.clock
        utc = c.utc_ms()
        k = KINDS.index(kind) if kind in KINDS else len(KINDS) - 1
        r = RESULTS.index(result) if result in RESULTS else 2
        w = clip_utf8(str(who).encode(), _WHO_LEN)
        t = clip_utf8(str(what).encode(), _WHAT_LEN)
        struct.pack_into("<IHBBBBBB", b, 4, utc & 0xFFFFFFFF, (utc >> 32) & 0xFFFF,
                         1 if c.time_valid else 0, k, r, len(w), len(t), 0)
        b[_WHO:_WHO + len(w)] = w
        for i in range(_WHO + len(w), _WHO + _WHO_LEN):
            b[i] = 0
        b[_WHAT:_WHAT + len(t)] = t
        for i in range(_WHAT + len(t), _WHAT + _WHAT_LEN):
            b[i] = 0
        seq = self.ring.append()
        if self.listeners:
            e = _decode(b)
            for fn in self.listeners:
                fn(e)
        return seq

    def get(self, seq):
        b = self.ring.read(seq)
        return None if b is None else _decode(b)

    def since(self, seq, limit=100):
        """Entries with seq > `seq`, oldest first, and how many the reader missed."""
        return self.ring.since(seq, limit, _decode)

# Calibration store: per board channel (gain, offset, phase) coefficient
# sets with version, timestamp and fixture id, CRC-protected in FRAM, the
# previous set kept for rollback. Every change is an event and an audit entry.
#
# Two copies (fram_layout.SlotPair): a new set goes to the copy not holding
# the current one, so while it is written the current set stays intact, and
# afterwards the other copy is the previous set. rollback() writes the
# previous coefficients again as a new version (so versions only grow), and
# the set rolled back from becomes the previous one. The version is the
# copy's generation number.
#
# Payload: 0 u64 utc_ms, 8 u8 flags (bit0 time valid, bit1 rollback),
#          9 u8 nchan, 10 u16 reserved, 12 u32 restored version (rollback),
#          16 16 B fixture id, 32 nchan x (8 B channel name, f32 gain,
#          f32 offset, f32 phase in degrees).
from micropython import const
import struct
from core import codes

_HDR = const(32)
_CH = const(20)
_NAME = const(8)
GAIN_RANGE = (0.5, 2.0)      # a CT/divider off by more than 2x is a wiring fault, not calibration
OFFSET_LIMIT = 1.0e6         # in the channel's raw units (codes)
PHASE_LIMIT_DEG = 10.0


class CalError(ValueError):
    pass


class CalStore:
    def __init__(self, fram, clock=None, events=None, audit=None, channels=None, slots=None):
        from core import fram_layout as L
        if fram is None:
            fram = L.RamFram(L.CAL_A, L.CAL_B + L.CAL_SLOT)
        if slots is None:
            slots = (L.CAL_A, L.CAL_B, L.CAL_SLOT)
        self.store = L.SlotPair(fram, slots[0], slots[1], slots[2])
        self.max_channels = (slots[2] - 14 - _HDR) // _CH
        self.clock = clock
        self.events = events
        self.audit = audit
        self.channels = None if channels is None else list(channels)
        self.current = None   # dict, see _decode()
        self.listeners = []   # fn(current) after a save or rollback

    @property
    def version(self):
        return 0 if self.current is None else self.current["version"]

    def coeffs(self, name):
        """(gain, offset, phase_deg) for a board channel; identity if uncalibrated."""
        c = self.current
        if c is not None:
            v = c["coeffs"].get(name)
            if v is not None:
                return v
        return (1.0, 0.0, 0.0)

    # --- encoding ------------------------------------------------------------------
    def _encode(self, coeffs, fixture, rollback_of, utc_ms, valid):
        names = sorted(coeffs)
        b = bytearray(_HDR + _CH * len(names))
        struct.pack_into("<QBBHI", b, 0, utc_ms, (1 if valid else 0) | (2 if rollback_of else 0),
                         len(names), 0, rollback_of)
        f = str(fixture).encode()[:16]
        b[16:16 + len(f)] = f
        o = _HDR
        for nm in names:
            e = nm.encode()
            b[o:o + len(e)] = e
            g, off, ph = coeffs[nm]
            struct.pack_into("<fff", b, o + _NAME, g, off, ph)
            o += _CH
        return b

    @staticmethod
    def _decode(gen, p):
        utc, flags, n, _r, rb = struct.unpack_from("<QBBHI", p, 0)
        fx = bytes(p[16:32])
        z = fx.find(b"\x00")
        coeffs = {}
        o = _HDR
        for _ in range(n):
            nm = bytes(p[o:o + _NAME])
            k = nm.find(b"\x00")
            nm = (nm if k < 0 else nm[:k]).decode()
            coeffs[nm] = struct.unpack_from("<fff", p, o + _NAME)
            o += _CH
        return {"version": gen, "utc_ms": utc, "time_valid": bool(flags & 1),
                "rollback_of": rb if flags & 2 else 0,
                "fixture": (fx if z < 0 else fx[:z]).decode(), "coeffs": coeffs}

    def validate(self, coeffs):
        if type(coeffs) is not dict or not coeffs:
            raise CalError("calibration: a dict of channel -> (gain, offset, phase_deg) expected")
        if len(coeffs) > self.max_channels:
            raise CalError("calibration: %d channels, at most %d" % (len(coeffs), self.max_channels))
        out = {}
        for nm, v in coeffs.items():
            if type(nm) is not str or not nm or len(nm.encode()) > _NAME:
                raise CalError("calibration: channel name %r (1..8 characters)" % (nm,))
            if self.channels is not None and nm not in self.channels:
                raise CalError("calibration %s: not a channel of this board" % nm)
            try:
                g, off, ph = (float(x) for x in v)
            except (TypeError, ValueError):
                raise CalError("calibration %s: (gain, offset, phase_deg) expected, got %r" % (nm, v))
            for x in (g, off, ph):
                if x != x or x in (float("inf"), float("-inf")):
                    raise CalError("calibration %s: %r is not finite" % (nm, x))
            if not GAIN_RANGE[0] <= g <= GAIN_RANGE[1]:
                raise CalError("calibration %s: gain %r not in %r..%r" % (nm, g, GAIN_RANGE[0], GAIN_RANGE[1]))
            if abs(off) > OFFSET_LIMIT:
                raise CalError("calibration %s: offset %r beyond +/-%r" % (nm, off, OFFSET_LIMIT))
            if abs(ph) > PHASE_LIMIT_DEG:
                raise CalError("calibration %s: phase %r deg beyond +/-%r" % (nm, ph, PHASE_LIMIT_DEG))
            out[nm] = (g, off, ph)
        return out

    # --- persistence -------------------------------------------------------------------
    def load(self):
        """Load the newest valid set; returns its version (0: uncalibrated)."""
        g, p = self.store.load()
        if p is None:
            self.current = None
            if not self.store.never_written() and self.events is not None:
                self.events.emit(codes.EV_STORE_FAULT, codes.SEV_ALARM, "calibration",
                                 {"store": "calibration", "detail": "no valid set: uncalibrated"})
            return 0
        self.current = self._decode(g, p)
        if self.store.newer_lost() and self.events is not None:
            self.events.emit(codes.EV_STORE_FAULT, codes.SEV_WARNING, "calibration",
                             {"store": "calibration",
                              "detail": "v%d lost, v%d in use" % (g + 1, g)})
        return g

    def previous(self):
        """The set before the current one (what rollback() restores), or None."""
        g, p = self.store.other()
        return None if p is None else self._decode(g, p)

    def _now(self):
        c = self.clock
        if c is None:
            return 0, False
        return c.utc_ms(), c.time_valid

    def save(self, coeffs, fixture="", who="local"):
        """Validate and store a new set; returns its version. CalError if refused."""
        try:
            cf = self.validate(coeffs)
        except CalError as e:
            if self.audit is not None:
                self.audit.log("calibration", who, "refused: %s" % e, "refused")
            raise
        utc, valid = self._now()
        v = self.store.write(self._encode(cf, fixture, 0, utc, valid))
        self.current = self._decode(v, self.store.img[8:8 + self.store.max_payload()])
        if self.events is not None:
            self.events.emit(codes.EV_CAL_CHANGED, codes.SEV_NOTICE, "calibration",
                             {"version": v, "channels": len(cf), "who": who, "fixture": fixture},
                             "applied")
        if self.audit is not None:
            self.audit.log("calibration", who, "v%d: %d channels, fixture %s" % (v, len(cf), fixture), "ok")
        for fn in self.listeners:
            fn(self.current)
        return v

    def rollback(self, who="local"):
        """Restore the previous set as a new version; returns it. CalError if none."""
        prev = self.previous()
        if prev is None or self.current is None:
            if self.audit is not None:
                self.audit.log("calibration", who, "rollback: no previous set", "refused")
            raise CalError("calibration: no previous set to roll back to")
        cur_v = self.current["version"]
        utc, valid = self._now()
        v = self.store.write(self._encode(prev["coeffs"], prev["fixture"], prev["version"], utc, valid))
        self.current = self._decode(v, self.store.img[8:8 + self.store.max_payload()])
        if self.events is not None:
            self.events.emit(codes.EV_CAL_ROLLBACK, codes.SEV_NOTICE, "calibration",
                             {"version": v, "restored": prev["version"], "who": who}, "rollback")
        if self.audit is not None:
            self.audit.log("calibration", who, "rollback v%d -> v%d (restores v%d)"
                           % (cur_v, v, prev["version"]), "ok")
        for fn in self.listeners:
            fn(self.current)
        return v

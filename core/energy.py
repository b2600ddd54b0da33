# Energy counters: per channel import/export active and reactive energy as
# unsigned 64-bit integers in milli-units of "per second" energy:
#     active  mJ   (milliwatt-seconds;   1 Wh   = 3 600 000 mJ)
#     reactive mvarS (millivar-seconds;  1 varh = 3 600 000 mvarS)
# Integers only: the counters are never floats, so they never lose
# resolution as they grow (u64 mJ holds 5e9 kWh). add_power() takes float
# watts from metrology and carries the sub-mJ remainder, so repeated calls
# do not drift.
#
# Persistence: save() (the 1 Hz task calls it) writes the whole counter set to
# the FRAM copy not holding the newest (fram_layout.SlotPair: generation at
# both ends, CRC-16 last); load() takes the newest copy that passes its
# checks. A write cut at any byte leaves the other copy (one second older)
# intact, so a power cut loses at most the energy since the last completed
# save, and counters never go backwards (add() refuses negative deltas).
#
# Payload: 0 u16 nchan, 2 u16 version, 4 u32 utc_s of the save,
#          8 nchan x [imp_p, exp_p, imp_q, exp_q] u64 little-endian.
from micropython import const
import struct
import array
import micropython
from drivers.crc import crc16_ccitt

IMP_P = const(0)
EXP_P = const(1)
IMP_Q = const(2)
EXP_Q = const(3)
KINDS = ("imp_p", "exp_p", "imp_q", "exp_q")
MJ_PER_WH = const(3600000)
_HDR = const(8)
_VERSION = const(1)
_MAX_STEP = const(0x3FFFFFFF)  # largest delta one viper add takes (fits a 32-bit word)


@micropython.viper
def _add64(buf: ptr16, word: int, delta: int):
    # u64 little-endian at 16-bit word index `word` += delta (0 <= delta < 2^30).
    # 16-bit limbs keep every intermediate below 2^17: safe on the 32-bit MCU.
    c = delta
    k = 0
    while k < 4:
        s = buf[word + k] + (c & 0xFFFF)
        buf[word + k] = s & 0xFFFF
        c = (c >> 16) + (s >> 16)
        k += 1


class Energy:
    def __init__(self, fram, names, clock=None, events=None, slots=None):
        from core import fram_layout as L
        n = len(names)
        if n < 1 or n > L.ENERGY_MAX_CHANNELS:
            raise ValueError("energy: 1..%d channels" % L.ENERGY_MAX_CHANNELS)
        if fram is None:
            fram = L.RamFram(L.ENERGY_A, L.ENERGY_B + L.ENERGY_SLOT)
        self.names = list(names)
        self.index = {}
        for i in range(n):
            self.index[self.names[i]] = i
        self.n = n
        self.clock = clock
        self.events = events
        a, b = (L.ENERGY_A, L.ENERGY_B) if slots is None else slots
        self._size = _HDR + 32 * n
        self.store = L.SlotPair(fram, a, b, self._size + 14)
        self._buf = bytearray(self._size)   # the payload: counters live in place
        self._rem = array.array("f", bytes(4 * 4 * n))  # sub-mJ remainders of add_power
        self.generation = 0
        self.saved_utc_s = 0
        self.saves = 0

    # --- accumulation ------------------------------------------------------------
    def add(self, ch, imp_p=0, exp_p=0, imp_q=0, exp_q=0):
        """Add non-negative integer deltas (mJ / mvarS) to channel ch (index or name)."""
        if type(ch) is str:
            ch = self.index[ch]
        w = (_HDR >> 1) + 16 * ch  # 16-bit word index of the channel's first counter
        if imp_p:
            self._add(w, imp_p)
        if exp_p:
            self._add(w + 4, exp_p)
        if imp_q:
            self._add(w + 8, imp_q)
        if exp_q:
            self._add(w + 12, exp_q)

    def _add(self, w, d):
        if d < 0:
            raise ValueError("energy: negative delta")
        while d > _MAX_STEP:
            _add64(self._buf, w, _MAX_STEP)
            d -= _MAX_STEP
        _add64(self._buf, w, d)

    def add_power(self, ch, p_w, q_var, dt_ms):
        """Integrate active power p_w (W, + import / - export) and reactive
        power q_var (var) over dt_ms milliseconds."""
        if type(ch) is str:
            ch = self.index[ch]
        w = (_HDR >> 1) + 16 * ch
        self._integrate(w, 4 * ch + IMP_P, p_w * dt_ms)     # W * ms = mJ
        self._integrate(w, 4 * ch + IMP_Q, q_var * dt_ms)   # var * ms = mvarS

    def _integrate(self, w, k, e):
        # e (float, mJ or mvarS) into remainder/counter k (import) or k + 1
        # (export, e < 0) of the channel whose first counter is word w; the
        # sub-unit remainder is carried to the next call.
        rem = self._rem
        if e < 0:
            k += 1
            e = -e
        e += rem[k]
        i = int(e)
        rem[k] = e - i
        if i:
            self._add(w + 4 * (k & 3), i)

    # --- reading -------------------------------------------------------------------
    def get(self, ch, kind=IMP_P):
        if type(ch) is str:
            ch = self.index[ch]
        return struct.unpack_from("<Q", self._buf, _HDR + 32 * ch + 8 * kind)[0]

    def wh(self, ch, kind=IMP_P):
        return self.get(ch, kind) / MJ_PER_WH

    def snapshot(self):
        """{name: [imp_p, exp_p, imp_q, exp_q]} (integers, mJ / mvarS)."""
        out = {}
        for i in range(self.n):
            out[self.names[i]] = list(struct.unpack_from("<4Q", self._buf, _HDR + 32 * i))
        return out

    # --- persistence -----------------------------------------------------------------
    def save(self, utc_s=None):
        """Write the counters to the copy not holding the newest; returns the generation."""
        if utc_s is None:
            c = self.clock
            utc_s = c.utc_ms() // 1000 if c is not None else 0
        struct.pack_into("<HHI", self._buf, 0, self.n, _VERSION, utc_s & 0xFFFFFFFF)
        g = self.store.write(self._buf)
        self.generation = g
        self.saved_utc_s = utc_s
        self.saves += 1
        return g

    def load(self):
        """Restore the newest valid copy. Returns its generation, 0 if none
        (counters start from zero; a store fault event if a save had ever completed)."""
        g, p = self.store.load()
        ok = p is not None and len(p) == self._size
        if ok:
            n, ver = struct.unpack_from("<HH", p, 0)
            ok = n == self.n and ver == _VERSION
        for i in range(len(self._rem)):
            self._rem[i] = 0.0
        c = self.clock
        ev = self.events
        if not ok:
            self._buf[:] = bytes(self._size)
            self.generation = 0
            if ev is not None and not self.store.never_written():
                from core import codes
                ev.emit(codes.EV_STORE_FAULT, codes.SEV_ALARM, "energy",
                        {"store": "energy", "detail": "no valid copy: counters restart at 0"})
            return 0
        self._buf[:] = p
        self.generation = g
        self.saved_utc_s = struct.unpack_from("<I", p, 4)[0]
        if ev is not None:
            from core import codes
            down = 0
            if c is not None and c.time_valid and self.saved_utc_s:
                down = c.utc_ms() // 1000 - self.saved_utc_s
            ev.emit(codes.EV_ENERGY_RESTORED, codes.SEV_INFO, "energy",
                    {"generation": g, "down_s": down})
        return g

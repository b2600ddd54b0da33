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
# one of two FRAM slots, alternating, with a generation number at both ends
# and a CRC-16 last; load() takes the newest slot that passes its checks. A
# write cut at any byte leaves the other slot (one second older) intact, so a
# power cut loses at most the energy since the last completed save, and
# counters never go backwards (add() refuses negative deltas).
#
# Slot: 0 u32 gen, 4 u16 nchan, 6 u16 version, 8 u32 utc_s, 12 u32 reserved,
#       16 nchan x [imp_p, exp_p, imp_q, exp_q] u64 LE, then u32 gen, u16 CRC.
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
_HDR = const(16)
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
        from firmware import fram_layout as L
        n = len(names)
        if n < 1 or n > L.ENERGY_MAX_CHANNELS:
            raise ValueError("energy: 1..%d channels" % L.ENERGY_MAX_CHANNELS)
        self.fram = fram
        self.names = list(names)
        self.index = {}
        for i in range(n):
            self.index[self.names[i]] = i
        self.n = n
        self.clock = clock
        self.events = events
        self.slots = (L.ENERGY_A, L.ENERGY_B) if slots is None else slots
        self._size = _HDR + 32 * n + 6
        self._buf = bytearray(self._size)   # the slot image: counters live in place
        self._rd = bytearray(self._size)
        self._rem = array.array("f", bytes(4 * 4 * n))  # sub-mJ remainders of add_power
        self.generation = 0
        self.saved_utc_s = 0
        self.saves = 0

    # --- accumulation ------------------------------------------------------------
    def add(self, ch, imp_p=0, exp_p=0, imp_q=0, exp_q=0):
        """Add non-negative integer deltas (mJ / mvarS) to channel ch (index or name)."""
        if type(ch) is str:
            ch = self.index[ch]
        w = 8 + 16 * ch  # 16-bit word index of the channel's first counter
        for d in (imp_p, exp_p, imp_q, exp_q):
            if d:
                if d < 0:
                    raise ValueError("energy: negative delta")
                while d > _MAX_STEP:
                    _add64(self._buf, w, _MAX_STEP)
                    d -= _MAX_STEP
                _add64(self._buf, w, d)
            w += 4

    def add_power(self, ch, p_w, q_var, dt_ms):
        """Integrate active power p_w (W, + import / - export) and reactive
        power q_var over dt_ms milliseconds."""
        if type(ch) is str:
            ch = self.index[ch]
        rem = self._rem
        k = 4 * ch
        e = p_w * dt_ms          # W * ms = mJ
        if e < 0:
            k += 1
            e = -e
        e += rem[k]
        i = int(e)
        rem[k] = e - i
        r = q_var * dt_ms
        kq = 4 * ch + 2
        if r < 0:
            kq += 1
            r = -r
        r += rem[kq]
        j = int(r)
        rem[kq] = r - j
        if k & 1:
            self.add(ch, 0, i, 0, 0)
        else:
            self.add(ch, i, 0, 0, 0)
        if kq & 1:
            self.add(ch, 0, 0, 0, j)
        else:
            self.add(ch, 0, 0, j, 0)

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
        """Write the counters to the older slot; returns the new generation."""
        if utc_s is None:
            c = self.clock
            utc_s = c.utc_ms() // 1000 if c is not None else 0
        g = self.generation + 1
        b = self._buf
        struct.pack_into("<IHHII", b, 0, g, self.n, _VERSION, utc_s & 0xFFFFFFFF, 0)
        t = self._size - 6
        struct.pack_into("<I", b, t, g)
        struct.pack_into("<H", b, t + 4, crc16_ccitt(b, 0, t + 4))
        self.fram.write(self.slots[g & 1], b)
        self.generation = g
        self.saved_utc_s = utc_s
        self.saves += 1
        return g

    def _slot_gen(self, addr):
        b = self._rd
        self.fram.readinto(addr, b)
        g, n, ver = struct.unpack_from("<IHH", b, 0)
        t = self._size - 6
        if g == 0 or n != self.n or ver != _VERSION:
            return 0
        if struct.unpack_from("<I", b, t)[0] != g:
            return 0
        if struct.unpack_from("<H", b, t + 4)[0] != crc16_ccitt(b, 0, t + 4):
            return 0
        return g

    def load(self):
        """Restore the newest valid slot. Returns its generation, 0 if none
        (counters start from zero; a store fault event unless both slots are blank)."""
        best = 0
        addr = None
        for a in self.slots:
            g = self._slot_gen(a)
            if g > best:
                best = g
                addr = a
        if addr is None:
            for i in range(self._size):
                self._buf[i] = 0
            self.generation = 0
            blank = True
            for a in self.slots:
                self.fram.readinto(a, self._rd)
                if self._rd != bytearray(self._size):
                    blank = False
            if not blank and self.events is not None:
                from firmware import codes
                self.events.emit(codes.EV_STORE_FAULT, codes.SEV_ALARM, "energy",
                                 {"store": "energy", "detail": "no valid slot: counters restart at 0"})
            return 0
        self.fram.readinto(addr, self._buf)
        self.generation = best
        self.saved_utc_s = struct.unpack_from("<I", self._buf, 8)[0]
        for i in range(len(self._rem)):
            self._rem[i] = 0.0
        if self.events is not None:
            from firmware import codes
            down = 0
            c = self.clock
            if c is not None and c.time_valid and self.saved_utc_s:
                down = c.utc_ms() // 1000 - self.saved_utc_s
            self.events.emit(codes.EV_ENERGY_RESTORED, codes.SEV_INFO, "energy",
                             {"generation": best, "down_s": down})
        return best

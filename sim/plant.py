# The electrical world the simulated board samples: a 3-phase wye grid, the
# loads plugged into the outlets, the outlet switches as seen by the power
# circuit, faults, and a thermal model of the air and relay boards.
#
# Sample mode: generate(n) returns the next n instantaneous samples of every
# board channel in microvolts / microamps (dict name -> reused array('i')).
# Cycle mode: step_cycles(k) advances k whole mains cycles without making
# samples and returns the per-channel sums a sample kernel would have
# accumulated, computed from the harmonic content (see docs/fixtures.md,
# "Plant fidelity modes"). Both modes share one state and can be mixed.
#
# How the sample path stays cheap (it must run 39 channels at 8 kSPS in real
# time): one shared Q48 phase accumulator (L1 angle) is written per sample as a
# 32-bit phase; every waveform is a 2048-entry wavetable (Q20, built once per
# load shape with an integer kernel) read with linear interpolation at that
# phase plus the phase's offset; all 24 outlets (and the PDU's own supply) are
# computed by ONE viper call per segment from a table of per-outlet parameters,
# adding into the inlet phase currents as they go. Anything that changes the
# circuit (events, switch operations, zero crossings of a triac, ramp ends)
# ends a segment, so state is constant within a segment except linear ramps.
#
# Units inside: Q48 phase (2^48 = one cycle), amplitudes Q16 of microamps /
# microvolts rms of the table's unit shape, envelopes Q30.
import array
import cmath
import math
import micropython
from micropython import const
from sim import loads as _loads

_TBITS = const(11)
_TSIZE = const(2048)
_BIAS = const(0x40000000)      # tables hold value + 2^30 so ptr32 (zero-extending) reads work
_Q = const(20)                 # table scale: unit rms (or unit fundamental rms) = 2^20
_M48 = const(0xFFFFFFFFFFFF)
_ONE48 = const(0x1000000000000)
_ENV1 = const(0x40000000)      # envelope 1.0 in Q30
_ENV_END = const(1074)         # drop a transient below 1e-6 of its start
_RW = const(16)                # fields per parameter row (int64)
_CAP = const(400)

# parameter row fields (array('q'); ptr32 word index = 2 * field)
_F_FLAGS = const(0)   # 1 active, 2 transient, 4 leak, 8 probe (no inlet/leak accumulation)
_F_OUT = const(1)
_F_PH = const(2)
_F_TAB = const(3)
_F_OFF = const(4)
_F_AMP = const(5)
_F_DAMP = const(6)
_F_NAMP = const(7)
_F_LCG = const(8)
_F_TTAB = const(9)
_F_TAMP = const(10)
_F_ENV = const(11)
_F_MUL = const(12)
_F_PLAT = const(13)
_F_LEAK = const(14)
_F_LAST = const(15)

_SSR_OFF = const(0)
_SSR_ARMING = const(1)
_SSR_ON = const(2)
_SSR_STOPPING = const(3)

PHASES = ("L1", "L2", "L3")
TWO_PI = 2.0 * math.pi
SQRT2 = math.sqrt(2.0)

# Thermal constants (documented in docs/fixtures.md).
THERMAL = {
    "relay_r_ohm": 0.005,      # contact + track resistance per relay outlet
    "board_rth": 3.0,          # K/W relay board to air
    "board_tau_s": 600.0,
    "heatsink_rth": 0.6,       # K/W SSR heatsink to air
    "heatsink_tau_s": 300.0,
    "exhaust_k_per_kw": 1.5,   # exhaust rise per kW of rack load
    "exhaust_tau_s": 120.0,
}


# --------------------------------------------------------------------------- kernels
@micropython.viper
def _k_phase(ph: ptr32, i0: int, n: int, p: int, inc: int, dinc: int):
    m = 1
    m <<= 48
    m -= 1             # built at run time: no big literals in viper
    for i in range(i0, i0 + n):
        ph[i] = p >> 16
        p = (p + inc) & m
        inc += dinc


@micropython.viper
def _k_wraps(ph: ptr32, i0: int, n: int, prev: int, idx: ptr32) -> int:
    # cycle starts: samples whose phase is below the previous sample's (wrapped)
    c = 0
    for i in range(i0, i0 + n):
        p = ph[i]
        if p < prev:
            idx[c] = i
            c += 1
        prev = p
    return c


@micropython.viper
def _k_vzc(ph: ptr32, off: int, i0: int, n: int, prev: int) -> int:
    b31 = 1
    b31 <<= 31
    # first sample at which the phase voltage (angle ph+off) crosses zero
    q = (prev + off) & b31
    for i in range(i0, i0 + n):
        r = (ph[i] + off) & b31
        if r != q:
            return i
    return -1


@micropython.viper
def _k_izc(buf: ptr32, i0: int, n: int, last: int) -> int:
    b31 = 1
    b31 <<= 31
    # first sample at which the current is zero or has changed sign since `last`
    if last == 0:
        return i0
    for i in range(i0, i0 + n):
        v = (buf[i] ^ b31) - b31
        if v == 0:
            return i
        if v < 0:
            if last > 0:
                return i
        elif last < 0:
            return i
    return -1


@micropython.viper
def _k_volt(out: ptr32, ph: ptr32, tab: ptr32, prm: ptr32, i0: int, n: int, amp: int, damp: int):
    m32 = 1
    m32 <<= 32
    m32 -= 1
    b30 = 1
    b30 <<= 30
    lcg_a = 16838
    lcg_a = (lcg_a << 16) | 20077   # 1103515245
    m31 = 1
    m31 <<= 31
    m31 -= 1
    # prm: [off, noise amplitude, lcg state]
    off = prm[0]
    namp = prm[1]
    s = prm[2]
    for i in range(i0, i0 + n):
        p = (ph[i] + off) & m32
        j = p >> 21
        u0 = tab[j]
        v = u0 + (((tab[j + 1] - u0) * ((p >> 5) & 0xFFFF)) >> 16) - b30
        s = (s * lcg_a + 12345) & m31
        out[i] = (((amp >> 8) * v) >> 28) + (((((s >> 15) & 0xFFFF) - 32768) * namp) >> 15)
        amp += damp
    prm[2] = s


@micropython.viper
def _k_outlets(rows: ptr32, nrows: int, outs, tabs, inl, leak: ptr32, ph: ptr32, i0: int, n: int):
    m32 = 1
    m32 <<= 32
    m32 -= 1
    b30 = 1
    b30 <<= 30
    lcg_a = 16838
    lcg_a = (lcg_a << 16) | 20077   # 1103515245
    m31 = 1
    m31 <<= 31
    m31 -= 1
    e = i0 + n
    for k in range(nrows):
        r = k * 32
        flags = rows[r]
        out = ptr32(outs[rows[r + 2]])
        if (flags & 1) == 0:
            for i in range(i0, e):
                out[i] = 0
            rows[r + 30] = 0
            continue
        tab = ptr32(tabs[rows[r + 6]])
        off = rows[r + 8]
        amp = rows[r + 10] | (rows[r + 11] << 32)
        damp = rows[r + 12] | (rows[r + 13] << 32)
        namp = rows[r + 14]
        s = rows[r + 16]
        for i in range(i0, e):
            p = (ph[i] + off) & m32
            j = p >> 21
            u0 = tab[j]
            v = u0 + (((tab[j + 1] - u0) * ((p >> 5) & 0xFFFF)) >> 16) - b30
            s = (s * lcg_a + 12345) & m31
            out[i] = (((amp >> 8) * v) >> 28) + (((((s >> 15) & 0xFFFF) - 32768) * namp) >> 15)
            amp += damp
        rows[r + 16] = s
        if flags & 2:
            # transient (inrush / start current): its own shape times an envelope
            # that holds for `plateau` samples then decays by mul (Q30) per sample
            tt = ptr32(tabs[rows[r + 18]])
            tamp = (rows[r + 20] | (rows[r + 21] << 32)) >> 8
            env = rows[r + 22]
            mul = rows[r + 24]
            pl = rows[r + 26]
            for i in range(i0, e):
                p = (ph[i] + off) & m32
                j = p >> 21
                u0 = tt[j]
                v = u0 + (((tt[j + 1] - u0) * ((p >> 5) & 0xFFFF)) >> 16) - b30
                out[i] = out[i] + ((((tamp * v) >> 28) * env) >> 30)
                if pl > 0:
                    pl -= 1
                else:
                    env = (env * mul) >> 30
            rows[r + 22] = env
            rows[r + 26] = pl
        if flags & 4:
            # leak to earth: in phase with the voltage, leaves through PE not N
            st = ptr32(tabs[0])
            lamp = (rows[r + 28] | (rows[r + 29] << 32)) >> 8
            probe = flags & 8
            for i in range(i0, e):
                p = (ph[i] + off) & m32
                j = p >> 21
                u0 = st[j]
                v = u0 + (((st[j + 1] - u0) * ((p >> 5) & 0xFFFF)) >> 16) - b30
                y = (lamp * v) >> 28
                out[i] = out[i] + y
                if probe == 0:
                    leak[i] = leak[i] + y
        rows[r + 30] = out[e - 1]
        if (flags & 8) == 0:
            dst = ptr32(inl[rows[r + 4]])
            for i in range(i0, e):
                dst[i] = dst[i] + out[i]


@micropython.viper
def _k_zero(bufs, nb: int, i0: int, n: int):
    for k in range(nb):
        b = ptr32(bufs[k])
        for i in range(i0, i0 + n):
            b[i] = 0


@micropython.viper
def _k_neutral(nb: ptr32, a: ptr32, b: ptr32, c: ptr32, lk: ptr32, n: int):
    for i in range(n):
        nb[i] = a[i] + b[i] + c[i] - lk[i]


@micropython.viper
def _k_copy(dsts, srcs, ng: int, n: int):
    for k in range(ng):
        d = ptr32(dsts[k])
        s = ptr32(srcs[k])
        for i in range(n):
            d[i] = s[i]


@micropython.viper
def _k_table(out: ptr32, sn: ptr32, hs: ptr32, ca: ptr32, sa: ptr32, nh: int):
    b31 = 1
    b31 <<= 31
    b30 = 1
    b30 <<= 30
    # out[j] = sum_h ca*sin(h*2pi*j/2048) + sa*cos(...), sn: Q30 sine, ca/sa: Q20
    for j in range(2048):
        acc = 0
        for k in range(nh):
            x = (hs[k] * j) & 2047
            s = (sn[x] ^ b31) - b31
            c = (sn[(x + 512) & 2047] ^ b31) - b31
            acc += ((ca[k] ^ b31) - b31) * s + ((sa[k] ^ b31) - b31) * c
        out[j] = ((acc + 0x20000000) >> 30) + b30
    out[2048] = out[0]


_SINE = None


def _sine_q30():
    global _SINE
    if _SINE is None:
        _SINE = array.array("i", [int(round(math.sin(TWO_PI * j / _TSIZE) * 1073741823.0))
                                  for j in range(_TSIZE)])
    return _SINE


def build_table(harm):
    """Wavetable (array('i'), 2049 entries, value*2^20 + 2^30) of sum a*sin(h*theta+phi)."""
    nh = len(harm)
    hs = array.array("i", [h for h, a, p in harm])
    ca = array.array("i", [int(round(a * math.cos(p) * (1 << _Q))) for h, a, p in harm])
    sa = array.array("i", [int(round(a * math.sin(p) * (1 << _Q))) for h, a, p in harm])
    t = array.array("i", bytes(4 * (_TSIZE + 1)))
    _k_table(t, _sine_q30(), hs, ca, sa, nh)
    return t


# --------------------------------------------------------------------------- helpers
class CycleStats:
    """Per-channel sums over `n` samples starting at sample `start` (SI units):
    sum_x, sum_x2 for every channel; sum_vi (current x its voltage channel) for
    every current channel except N-I; `cycles` whole mains cycles."""

    def __init__(self, start, n, cycles, sum_x, sum_x2, sum_vi):
        self.start = start
        self.n = n
        self.cycles = cycles
        self.sum_x = sum_x
        self.sum_x2 = sum_x2
        self.sum_vi = sum_vi

    def rms(self, ch):
        return math.sqrt(self.sum_x2[ch] / self.n) if self.n else 0.0

    def power(self, ch):
        return self.sum_vi[ch] / self.n if self.n else 0.0

    def to_dict(self):
        return {"start": self.start, "n": self.n, "cycles": self.cycles, "sum_x": self.sum_x,
                "sum_x2": self.sum_x2, "sum_vi": self.sum_vi}


class _Outlet:
    def __init__(self, no, phase, row):
        self.no = no
        self.ph = phase          # 0..2
        self.row = row
        self.load = None
        self.faults = {}
        self.closed = True       # conducting (no switch: closed)
        self.sw = None
        self.triac = False
        self.ssr = _SSR_OFF
        self.gate = False
        self.forced = None       # None, True (welded), False (stuck open) when the twin can't
        self.pend = None         # (sample, closed) relay change inside this block
        self.trans = None        # [start, plateau, r, amp_rms_A, tab_idx, harm_key]
        self.v_on = 0.0
        self.ntc = None
        self.zc_at = None
        self.chan = None
        self.triac_desc = False


class Plant:
    def __init__(self, desc, *, fs=None, seed=1, cap=_CAP):
        self.desc = desc
        self.fs = int(fs or desc.SAMPLE_RATE)
        self.vnom = float(desc.RATINGS.get("v_nom", 230.0))
        self.fnom = float(desc.RATINGS.get("f_nom", 50.0))
        self.cap = cap
        self.n = 0
        self.seed = seed
        chans = desc.CHANNELS
        self.bufs = {}
        for name in chans:
            self.bufs[name] = array.array("i", bytes(4 * cap))
        self._ph = array.array("i", bytes(4 * cap))
        self._leak = array.array("i", bytes(4 * cap))
        self._wr = array.array("i", bytes(4 * 8))
        # grid state
        self._P = 0
        self._inc = self._inc_for(self.fnom)
        self._dinc = 0
        self._fr_end = None          # (sample, target inc) of a frequency ramp
        self._vr = [[self.vnom, self.vnom, 0, 0] for _ in range(3)]   # from, to, s_from, s_to
        self._sag = [1.0, 1.0, 1.0]
        self._dip = [1.0, 1.0, 1.0]
        self._vharm = [(1, SQRT2, 0.0)]
        self.vnoise_rms = 0.02       # V rms, white, on the phase voltages
        self._ph_last = ((self._P - self._inc) & _M48) >> 16
        # tables
        self._tabs = []
        self._tabidx = {}
        self._tabharm = []
        self._table(("sine",), [(1, SQRT2, 0.0)])           # index 0: unit sine (leak, inrush)
        self._vtab = self._table(("v",) + self._hkey(self._vharm), self._vharm)
        # outlets
        self._offs = [0, (-((1 << 32) // 3)) & 0xFFFFFFFF, (-((2 << 32) // 3)) & 0xFFFFFFFF]
        self.outlets = {}
        outs = []
        for k in sorted(desc.OUTLETS):
            o = desc.OUTLETS[k]
            p = PHASES.index(o["phase"])
            ol = _Outlet(k, p, len(outs))
            ol.chan = o["current"]
            ol.vchan = o["voltage"]
            ol.triac_desc = o.get("switch") == "triac"
            ol.v_on = float(o.get("v_on", 1.1))
            ol.ntc = o.get("ntc")
            self.outlets[k] = ol
            outs.append(self.bufs[o["current"]])
        # the PDU's own supply: per phase, always on
        self.self_loads = []
        for p, spec in ((0, {"kind": "smps", "irms": 0.05}), (1, {"kind": "idle", "irms": 0.01}),
                        (2, {"kind": "idle", "irms": 0.01})):
            ol = _Outlet(0, p, len(outs))
            ol.load = _loads.make(spec, self.vnom)
            ol.chan = None
            self.self_loads.append(ol)
            outs.append(array.array("i", bytes(4 * cap)))
        self._outs = outs
        self._nrows = len(outs)
        self._rows = array.array("q", bytes(8 * _RW * self._nrows))
        self._prow = array.array("q", bytes(8 * _RW))
        self._pbuf = array.array("i", bytes(4 * cap))
        self._pouts = [self._pbuf]
        self._inl = [self.bufs["L1-I"], self.bufs["L2-I"], self.bufs["L3-I"]]
        self._zero_list = self._inl + [self._leak]
        self._vbufs = [self.bufs["L1-V"], self.bufs["L2-V"], self.bufs["L3-V"]]
        gd, gs = [], []
        for g in sorted(desc.GROUP_PHASE):
            name = "G%d-V" % g
            if name in self.bufs:
                gd.append(self.bufs[name])
                gs.append(self._vbufs[PHASES.index(desc.GROUP_PHASE[g])])
        self._gdst, self._gsrc = gd, gs
        self._vprm = [array.array("i", [self._offs[p], 0, 0]) for p in range(3)]
        self._reseed(seed)
        # events
        self._events = []
        self._seq = 0
        self._switches = {}
        self._dirty = True
        self._static = None
        self._trans_list = []
        self._env_resync = False
        self._uph = {}
        # cycle tracking
        self._cyc_start = None
        self._cyc_P = 0
        self._last_cycle = None      # [start, n, stats or None, phase Q48 at start, inc]
        # thermal
        self._amb_t = 24.0
        self._amb_rh = 40.0
        self._dT_ex = 0.0
        self._th_acc = 0
        self._ntc = {}
        for name in getattr(desc, "NTCS", {}):
            members = [k for k, ol in self.outlets.items() if ol.ntc == name]
            triac = any(self.outlets[k].triac_desc for k in members)
            self._ntc[name] = [0.0, members, triac]
        self.ignored_events = 0

    # ------------------------------------------------------------------ basics
    def t(self):
        return self.n / self.fs

    def _inc_for(self, hz):
        return int(round(hz * _ONE48 / self.fs))

    def frequency(self):
        return self._inc * self.fs / _ONE48

    @staticmethod
    def _mix(seed, k):
        # independent LCG start points per stream: a hash, not consecutive LCG
        # states (shifted copies of one stream add coherently through a smooth signal)
        h = (int(seed) * 0x9E3779B1 + (k + 1) * 0x85EBCA6B) & 0xFFFFFFFF
        h ^= h >> 15
        h = (h * 0x2C1B3C6D) & 0xFFFFFFFF
        h ^= h >> 12
        h = (h * 0x297A2D39) & 0xFFFFFFFF
        h ^= h >> 15
        return h & 0x7FFFFFFF

    def _reseed(self, seed):
        self.seed = seed
        for i in range(self._nrows):
            self._rows[i * _RW + _F_LCG] = self._mix(seed, i)
        for p in range(3):
            self._vprm[p][2] = self._mix(seed, 1000 + p)

    @staticmethod
    def _hkey(harm):
        return tuple((h, round(a, 12), round(p, 12)) for h, a, p in harm)

    def _table(self, key, harm):
        i = self._tabidx.get(key)
        if i is None:
            i = len(self._tabs)
            self._tabs.append(build_table(harm))
            self._tabharm.append(harm)
            self._tabidx[key] = i
        return i

    def _load_tab(self, load):
        if load.harm is None:   # resistive: follows the voltage shape
            h = _loads.normalise(self._vharm)
            return self._table(("r",) + self._hkey(self._vharm), h)
        return self._table(("l",) + self._hkey(load.harm), load.harm)

    def _touch(self):
        self._dirty = True
        self._static = None

    # ------------------------------------------------------------------ switches
    @property
    def switches(self):
        return self._switches

    @switches.setter
    def switches(self, sw):
        self._switches = sw if sw is not None else {}
        for k, ol in self.outlets.items():
            s = self._switches.get(k)
            ol.sw = s
            ol.pend = None
            if s is None:
                ol.triac = False
                ol.closed = ol.forced is not False
            elif hasattr(s, "gate"):
                ol.triac = True
                g = bool(s.gate)
                ol.gate = g
                ol.ssr = _SSR_ON if g else _SSR_OFF
                ol.closed = g
                s.energised = g
            else:
                ol.triac = False
                ol.closed = self._relay_state(ol)
        self._touch()

    def _relay_state(self, ol):
        if ol.forced is not None:
            return ol.forced
        return bool(ol.sw.contacts)

    def _poll_switches(self, n0, n1, immediate=False):
        """Read the switch twins for the block [n0, n1)."""
        for ol in self.outlets.values():
            sw = ol.sw
            if sw is None:
                continue
            if ol.triac:
                g = ol.forced if ol.forced is not None else bool(sw.gate)
                ol.gate = g
                if immediate:
                    if g != ol.closed:
                        self._set_closed(ol, g, n0)
                    ol.ssr = _SSR_ON if g else _SSR_OFF
                    continue
                st = ol.ssr
                if g:
                    if st == _SSR_OFF:
                        ol.ssr = _SSR_ARMING
                    elif st == _SSR_STOPPING:
                        ol.ssr = _SSR_ON
                else:
                    if st == _SSR_ARMING:
                        ol.ssr = _SSR_OFF
                    elif st == _SSR_ON:
                        ol.ssr = _SSR_STOPPING
            else:
                want = self._relay_state(ol)
                if want == ol.closed:
                    ol.pend = None
                    continue
                at = n0
                since = getattr(sw, "contacts_since", None)
                if since is not None and not immediate:
                    at = since if since > n0 else n0
                if immediate or at <= n0:
                    self._set_closed(ol, want, n0)
                    ol.pend = None
                elif at < n1:
                    ol.pend = (at, want)
                else:
                    ol.pend = None

    def _set_closed(self, ol, closed, at):
        if closed == ol.closed:
            return
        ol.closed = closed
        if closed:
            self._start_trans(ol, at)
        else:
            self._end_trans(ol)
        self._touch()

    # ------------------------------------------------------------------ loads and faults
    def plug(self, outlet, load):
        ol = self._outlet(outlet)
        ol.load = _loads.make(load, self.vnom)
        self._end_trans(ol)
        if ol.closed:
            self._start_trans(ol, self.n)
        self._touch()

    def unplug(self, outlet):
        ol = self._outlet(outlet)
        ol.load = None
        ol.faults = {}
        self._end_trans(ol)
        self._touch()

    def fault(self, outlet, kind, factor=1.5, ma=30.0, ipk=300.0, residual=0.1, angle_deg=-60.0):
        """kind "short": a bolted fault behind the outlet: ipk peak amps at nominal
        voltage lagging angle_deg (source X/R), the phase voltage at the PDU
        collapsing to `residual` of its value while it flows; "overload": the
        load's current times factor; "leak": ma milliamps rms to earth, in phase
        with the voltage, counted in the outlet and inlet phase currents but not
        returning in the neutral."""
        ol = self._outlet(outlet)
        if kind == "short":
            if ipk <= 0 or not 0.0 <= residual <= 1.0:
                raise ValueError("fault: short needs ipk > 0 and 0 <= residual <= 1")
            ol.faults["short"] = (float(ipk), float(residual), float(angle_deg))
        elif kind == "overload":
            ol.faults["overload"] = float(factor)
        elif kind == "leak":
            ol.faults["leak"] = float(ma)
        else:
            raise ValueError("fault: unknown kind %r" % (kind,))
        self._touch()

    def clear_fault(self, outlet, kind=None):
        ol = self._outlet(outlet)
        if kind is None:
            ol.faults = {}
        else:
            ol.faults.pop(kind, None)
        self._touch()

    def _outlet(self, k):
        ol = self.outlets.get(int(k))
        if ol is None:
            raise ValueError("plant: no outlet %r" % (k,))
        return ol

    def _switch_do(self, outlet, action, forced):
        ol = self._outlet(outlet)
        sw = ol.sw
        fn = getattr(sw, action, None) if sw is not None else None
        if fn is not None:
            fn()
        else:
            if action in ("release", "repair"):
                ol.forced = None
            else:
                ol.forced = forced
        if sw is None:
            ol.closed = ol.forced is not False
            self._touch()

    def weld(self, outlet):
        """Contacts weld closed (forwarded to the switch twin's weld())."""
        self._switch_do(outlet, "weld", True)

    def release(self, outlet):
        """Undo weld/stuck (switch twin's release() or repair())."""
        ol = self._outlet(outlet)
        sw = ol.sw
        if sw is not None and not hasattr(sw, "release") and hasattr(sw, "repair"):
            self._switch_do(outlet, "repair", None)
        else:
            self._switch_do(outlet, "release", None)

    def stuck_open(self, outlet):
        self._switch_do(outlet, "stuck_open", False)

    # ------------------------------------------------------------------ grid
    def set_voltage(self, v_rms, phase=None, ramp_s=0.0):
        """Fundamental rms phase-to-neutral voltage (all phases, or one of L1/L2/L3),
        stepping at this sample or ramping linearly over ramp_s."""
        n = self.n
        k = int(round(ramp_s * self.fs))
        for p in self._phases(phase):
            cur = self._vset(p, n)
            self._vr[p] = [cur, float(v_rms), n, n + k]
        self._touch()

    def set_frequency(self, hz, ramp_s=0.0):
        target = self._inc_for(hz)
        k = int(round(ramp_s * self.fs))
        if k <= 0:
            self._inc = target
            self._dinc = 0
            self._fr_end = None
        else:
            self._dinc = (target - self._inc) // k
            self._fr_end = (self.n + k, target)
        self._touch()

    def sag(self, depth, duration_s, phase=None):
        """Voltage dip to (1 - depth) of the set voltage for duration_s (depth < 0: swell)."""
        for p in self._phases(phase):
            self._sag[p] = 1.0 - float(depth)
        self._touch()
        end = self.n + int(round(duration_s * self.fs))
        self._push(end, self._sag_end, (phase,), {})

    def _sag_end(self, phase):
        for p in self._phases(phase):
            self._sag[p] = 1.0
        self._touch()

    def set_harmonics(self, spec):
        """Voltage harmonics in percent of the fundamental: {h: pct} or
        [[h, pct, phase_deg], ...] (phase relative to each phase's fundamental)."""
        if isinstance(spec, dict):
            items = [(int(h), float(v), 0.0) for h, v in spec.items()]
        else:
            items = [(int(x[0]), float(x[1]), float(x[2]) if len(x) > 2 else 0.0) for x in spec]
        harm = [(1, SQRT2, 0.0)]
        for h, pct, deg in sorted(items):
            if h < 2 or h > 63:
                raise ValueError("set_harmonics: harmonic %d outside 2..63" % h)
            if pct:
                harm.append((h, SQRT2 * pct / 100.0, deg * math.pi / 180.0))
        self._vharm = harm
        self._vtab = self._table(("v",) + self._hkey(harm), harm)
        self._touch()

    def set_ambient(self, temp_c=None, rh=None):
        if temp_c is not None:
            self._amb_t = float(temp_c)
        if rh is not None:
            self._amb_rh = float(rh)

    def _phases(self, phase):
        if phase is None:
            return (0, 1, 2)
        if isinstance(phase, int):
            return (phase - 1,)
        return (PHASES.index(phase),)

    def _vset(self, p, s):
        f, t, s0, s1 = self._vr[p]
        if s >= s1 or s1 == s0:
            return t
        if s <= s0:
            return f
        return f + (t - f) * (s - s0) / (s1 - s0)

    def _vfund(self, p, s):
        """Fundamental rms at the PDU (sag and fault dip included) at sample s."""
        return self._vset(p, s) * self._sag[p] * self._dip[p]

    def voltage(self, phase="L1"):
        p = self._phases(phase)[0]
        return self._vfund(p, self.n)

    # ------------------------------------------------------------------ events
    def _push(self, sample, fn, args, kw):
        self._seq += 1
        ev = (sample, self._seq, fn, args, kw)
        evs = self._events
        i = len(evs)
        while i > 0 and (evs[i - 1][0], evs[i - 1][1]) > (sample, self._seq):
            i -= 1
        evs.insert(i, ev)

    def schedule(self, t_s, method_name, *args, **kw):
        """Call self.method_name(*args, **kw) at the sample of time t_s."""
        fn = getattr(self, method_name, None)
        if fn is None or method_name.startswith("_"):
            raise ValueError("plant: no action %r" % (method_name,))
        self._push(int(round(t_s * self.fs)), fn, args, kw)

    def load_scenario(self, data):
        """{"seed": s, "events": [{"t": s, "do": name, ...keyword args}]}.
        Switch-twin actions (e.g. "fail_short") are forwarded to the outlet's twin."""
        if "seed" in data and data["seed"] is not None:
            self._reseed(data["seed"])
        for i, e in enumerate(data.get("events", ())):
            if "t" not in e or "do" not in e:
                raise ValueError("scenario: events[%d] needs 't' and 'do'" % i)
            kw = {}
            for k, v in e.items():
                if k not in ("t", "do"):
                    kw[k] = v
            name = e["do"]
            if name.startswith("_"):
                raise ValueError("scenario: events[%d]: bad action %r" % (i, name))
            fn = getattr(self, name, None)
            if fn is None:
                if "outlet" not in kw:
                    raise ValueError("scenario: events[%d]: unknown action %r" % (i, name))
                fn = self._forwarder(name)
            self._push(int(round(float(e["t"]) * self.fs)), fn, (), kw)

    def _forwarder(self, action):
        def f(outlet, **kw):
            ol = self._outlet(outlet)
            fn = getattr(ol.sw, action, None) if ol.sw is not None else None
            if fn is None:
                self.ignored_events += 1
                return
            fn(**kw)
        return f

    def _apply_due(self, s):
        evs = self._events
        while evs and evs[0][0] <= s:
            ev = evs.pop(0)
            ev[2](*ev[3], **ev[4])

    # ------------------------------------------------------------------ transients
    def _start_trans(self, ol, at):
        ld = ol.load
        self._end_trans(ol)
        if ld is None or "short" in ol.faults:
            return
        vr = self._vfund(ol.ph, at) / self.vnom
        if ld.inrush_a > 0:
            amp = ld.inrush_a / SQRT2 * vr
            tab = 0
            key = ("sine",)
            plateau = 0
            tau = ld.inrush_tau_s
        elif ld.start_factor > 1.0:
            amp = (ld.start_factor - 1.0) * self._steady_irms(ol, vr)
            tab = self._load_tab(ld)
            key = None
            plateau = int(ld.start_s * self.fs)
            tau = ld.start_tau_s
        else:
            return
        r = math.exp(-1.0 / (tau * self.fs))
        mul = int(round(r * _ENV1))
        ol.trans = [at, plateau, mul / _ENV1, amp, tab, key, True]
        self._trans_list.append(ol)
        self._touch()

    def _end_trans(self, ol):
        if ol.trans is not None:
            ol.trans = None
            if ol in self._trans_list:
                self._trans_list.remove(ol)
            self._touch()

    @staticmethod
    def _env_at(tr, s):
        j = s - tr[0]
        if j < 0:
            return 0.0
        if j <= tr[1]:
            return 1.0
        return tr[2] ** (j - tr[1])

    # ------------------------------------------------------------------ parameter rows
    def _steady_irms(self, ol, vr):
        ld = ol.load
        if ld is None:
            return 0.0
        i = ld.irms * ld.scale(vr)
        f = ol.faults.get("overload")
        if f is not None:
            i *= f
        return i

    def _active(self, ol):
        return ol.closed and (ol.load is not None or len(ol.faults) > 0)

    def _row_shape(self, ol, s, ds):
        """(table index, rms amplitude A at s, its slope per sample, noise A rms)."""
        sh = ol.faults.get("short")
        p = ol.ph
        if sh is not None:
            ipk, res, ang = sh
            key = ("short", ang)
            tab = self._tabidx.get(key)
            if tab is None:
                tab = self._table(key, [(1, SQRT2, ang * math.pi / 180.0)])
            src = self._vset(p, s) * self._sag[p] / self.vnom
            a = ipk / SQRT2 * src
            src2 = self._vset(p, s + ds) * self._sag[p] / self.vnom
            return tab, a, (ipk / SQRT2 * src2 - a) / ds, 0.0
        ld = ol.load
        if ld is None:
            return 0, 0.0, 0.0, 0.0
        a = self._steady_irms(ol, self._vfund(p, s) / self.vnom)
        a2 = self._steady_irms(ol, self._vfund(p, s + ds) / self.vnom)
        return self._load_tab(ld), a, (a2 - a) / ds, ld.noise * a

    def _ramping(self, p, s):
        return self._vr[p][3] > s

    def _update_rows(self, s, force):
        rows = self._rows
        ds = 80
        for ol in list(self.outlets.values()) + self.self_loads:
            p = ol.ph
            if not (force or self._ramping(p, s)):
                continue
            b = ol.row * _RW
            if not self._active(ol):
                rows[b + _F_FLAGS] = 0
                rows[b + _F_OUT] = ol.row
                continue
            tab, a, da, nrms = self._row_shape(ol, s, ds)
            flags = 1
            rows[b + _F_OUT] = ol.row
            rows[b + _F_PH] = p
            rows[b + _F_TAB] = tab
            rows[b + _F_OFF] = self._offs[p]
            rows[b + _F_AMP] = int(a * 1e6 * 65536.0)
            rows[b + _F_DAMP] = int(da * 1e6 * 65536.0)
            rows[b + _F_NAMP] = int(nrms * 1e6 * 1.7320508)
            tr = ol.trans
            if tr is not None:
                flags |= 2
                rows[b + _F_TTAB] = tr[4]
                rows[b + _F_TAMP] = int(tr[3] * 1e6 * 65536.0)
                rows[b + _F_MUL] = int(round(tr[2] * _ENV1))
                if tr[6] or self._env_resync:
                    # (re)start the integer envelope from the analytic one
                    tr[6] = False
                    j = s - tr[0]
                    if j < 0:
                        j = 0
                    rows[b + _F_ENV] = int(round(self._env_at(tr, tr[0] + j) * _ENV1))
                    rows[b + _F_PLAT] = tr[1] - j if j < tr[1] else 0
            lk = ol.faults.get("leak")
            if lk is not None:
                flags |= 4
                vr = self._vfund(p, s) / self.vnom
                rows[b + _F_LEAK] = int(lk * 1e-3 * vr * 1e6 * 65536.0)
            rows[b + _F_FLAGS] = flags
        self._env_resync = False

    def _update_dips(self):
        dip = [1.0, 1.0, 1.0]
        for ol in self.outlets.values():
            sh = ol.faults.get("short")
            if sh is not None and ol.closed and sh[1] < dip[ol.ph]:
                dip[ol.ph] = sh[1]
        if dip != self._dip:
            self._dip = dip
            self._static = None

    # ------------------------------------------------------------------ sample mode
    def generate(self, n):
        """The next n samples of every channel (uV / uA) as reused array('i') buffers."""
        if n > self.cap:
            raise ValueError("plant: generate(%d) > capacity %d" % (n, self.cap))
        n0 = self.n
        n1 = n0 + n
        if self._switches:
            self._poll_switches(n0, n1)
        a = n0
        ph = self._ph
        while a < n1:
            self._apply_due(a)
            for ol in self.outlets.values():
                pd = ol.pend
                if pd is not None and pd[0] <= a:
                    ol.pend = None
                    self._set_closed(ol, pd[1], a)
            if self._fr_end is not None and self._fr_end[0] <= a:
                self._inc = self._fr_end[1]
                self._dinc = 0
                self._fr_end = None
                self._touch()
            ssr_changed = self._ssr_at(a)
            # segment end: next event, relay change, ramp end
            b = n1
            if self._events and self._events[0][0] < b:
                b = self._events[0][0]
            for ol in self.outlets.values():
                if ol.pend is not None and ol.pend[0] < b:
                    b = ol.pend[0]
            for p in range(3):
                e = self._vr[p][3]
                if a < e < b:
                    b = e
            if self._fr_end is not None and a < self._fr_end[0] < b:
                b = self._fr_end[0]
            i0 = a - n0
            _k_phase(ph, i0, b - a, self._P, self._inc, self._dinc)
            b = self._ssr_scan(a, b, n0)
            k = b - a
            if self._dirty or ssr_changed:
                self._update_dips()
                self._update_rows(a, True)
                self._dirty = False
            elif self._vr[0][3] > a or self._vr[1][3] > a or self._vr[2][3] > a:
                self._update_rows(a, False)
            self._segment(a, b, n0)
            # advance the grid state to b
            prev = self._ph_last
            c = _k_wraps(ph, i0, k, prev, self._wr)
            for j in range(c):
                self._cycle_start(n0 + self._wr[j], ph[self._wr[j]])
            self._ph_last = ph[b - n0 - 1] & 0xFFFFFFFF
            self._P = (self._P + k * self._inc + self._dinc * (k * (k - 1) // 2)) & _M48
            self._inc += k * self._dinc
            self.n = b
            if self._P < self._inc:
                self._cycle_start(b, self._P >> 16)     # the next sample starts a cycle
            if self._trans_list:
                self._trans_check()
            a = b
        _k_neutral(self.bufs["N-I"], self._inl[0], self._inl[1], self._inl[2], self._leak, n)
        _k_copy(self._gdst, self._gsrc, len(self._gdst), n)
        for ol in self.outlets.values():
            if ol.triac and ol.sw is not None:
                e = ol.closed
                if getattr(ol.sw, "energised", None) != e:
                    ol.sw.energised = e
        self._th_acc += n
        if self._th_acc >= self.fs // 10:
            self._thermal(self._th_acc / self.fs)
            self._th_acc = 0
        return self.bufs

    def _segment(self, a, b, n0):
        i0 = a - n0
        k = b - a
        ph = self._ph
        _k_zero(self._zero_list, 4, i0, k)
        vtab = self._tabs[self._vtab]
        for p in range(3):
            v0 = self._vfund(p, a)
            dv = 0.0
            if self._ramping(p, a):
                dv = (self._vfund(p, a + k) - v0) / k
            prm = self._vprm[p]
            prm[1] = int(self.vnoise_rms * 1e6 * 1.7320508)
            _k_volt(self._vbufs[p], ph, vtab, prm, i0, k, int(v0 * 1e6 * 65536.0),
                    int(dv * 1e6 * 65536.0))
        _k_outlets(self._rows, self._nrows, self._outs, self._tabs, self._inl, self._leak,
                   ph, i0, k)

    def _ssr_at(self, a):
        """Apply triac state changes that fall on sample a."""
        changed = False
        for ol in self.outlets.values():
            if not ol.triac:
                continue
            if ol.ssr == _SSR_ARMING and ol.zc_at == a:
                ol.ssr = _SSR_ON
                self._set_closed(ol, True, a)
                changed = True
            elif ol.ssr == _SSR_STOPPING and ol.zc_at == a:
                ol.ssr = _SSR_OFF
                self._set_closed(ol, False, a)
                changed = True
            ol.zc_at = None
        return changed

    def _ssr_scan(self, a, b, n0):
        """Find the zero crossing a triac waits for inside [a, b); end the segment there."""
        for ol in self.outlets.values():
            if not ol.triac:
                continue
            st = ol.ssr
            i0 = a - n0
            if st == _SSR_ARMING:
                i = _k_vzc(self._ph, self._offs[ol.ph], i0, b - a, self._ph_last)
                if i >= 0:
                    z = n0 + i
                    if z == a:
                        ol.ssr = _SSR_ON
                        self._set_closed(ol, True, a)
                        self._dirty = True
                    else:
                        ol.zc_at = z
                        b = z
            elif st == _SSR_STOPPING:
                if not self._active(ol):
                    ol.ssr = _SSR_OFF
                    self._set_closed(ol, False, a)
                    self._dirty = True
                    continue
                # probe: compute this outlet's current alone to find its zero
                if self._dirty:
                    self._update_dips()
                    self._update_rows(a, True)
                    self._dirty = False
                src = self._rows
                pr = self._prow
                base = ol.row * _RW
                for f in range(_RW):
                    pr[f] = src[base + f]
                pr[_F_OUT] = 0
                pr[_F_FLAGS] |= 8
                last = src[base + _F_LAST] & 0xFFFFFFFF
                if last & 0x80000000:
                    last -= 0x100000000
                _k_outlets(pr, 1, self._pouts, self._tabs, self._inl, self._leak, self._ph, i0, b - a)
                i = _k_izc(self._pbuf, i0, b - a, last)
                if i >= 0:
                    z = n0 + i
                    if z == a:
                        ol.ssr = _SSR_OFF
                        self._set_closed(ol, False, a)
                        self._dirty = True
                    else:
                        ol.zc_at = z
                        b = z
        return b

    def _trans_check(self):
        rows = self._rows
        for ol in list(self._trans_list):
            if not self._active(ol):
                continue
            env = rows[ol.row * _RW + _F_ENV]
            if env < _ENV_END and rows[ol.row * _RW + _F_PLAT] == 0:
                self._end_trans(ol)

    def _cycle_start(self, s, ph):
        if self._cyc_start is not None and s > self._cyc_start:
            self._last_cycle = [self._cyc_start, s - self._cyc_start, None, self._cyc_P, self._inc]
        self._cyc_start = s
        self._cyc_P = (ph & 0xFFFFFFFF) << 16

    # ------------------------------------------------------------------ analytic model
    def _unit_phasors(self, tab, p):
        """Harmonic phasors {h: complex} of table `tab` on phase p, L1 frame."""
        key = (tab, p)
        c = self._uph.get(key)
        if c is None:
            c = {}
            psi = p * TWO_PI / 3.0
            for h, a, phi in self._tabharm[tab]:
                c[h] = c.get(h, 0j) + a * complex(math.cos(phi - h * psi), math.sin(phi - h * psi))
            self._uph[key] = c
        return c

    @staticmethod
    def _ms(c):
        s = 0.0
        for z in c.values():
            s += z.real * z.real + z.imag * z.imag
        return s / 2.0

    @staticmethod
    def _dot(v, c):
        s = 0.0
        for h, z in c.items():
            w = v.get(h)
            if w is not None:
                s += w.real * z.real + w.imag * z.imag
        return s / 2.0

    @staticmethod
    def _addto(acc, c, k=1.0):
        for h, z in c.items():
            acc[h] = acc.get(h, 0j) + k * z

    def _model(self, s0, n):
        """Harmonic phasors of every channel over samples [s0, s0+n) (voltages at
        mid-cycle): (steady {name: {h: complex peak, L1 frame}}, transients
        {name: [(trans, {h: complex})]}, noise variance {name}, voltage partner
        {current name: voltage name})."""
        sm = s0 + n // 2
        ph = {}
        trc = {}
        xv = {}
        pair = {}
        vn = self.vnoise_rms ** 2
        for p in range(3):
            vf = self._vfund(p, sm)
            c = {}
            for h, z in self._unit_phasors(self._vtab, p).items():
                c[h] = vf * z
            ph[PHASES[p] + "-V"] = c
            xv[PHASES[p] + "-V"] = vn
        inl = [{}, {}, {}]
        itr = [[], [], []]
        xs = [0.0, 0.0, 0.0]
        leakc = {}
        for ol in list(self.outlets.values()) + self.self_loads:
            p = ol.ph
            if not self._active(ol):
                if ol.chan is not None:
                    ph[ol.chan] = {}
                    trc[ol.chan] = []
                    xv[ol.chan] = 0.0
                continue
            tab, a, da, nrms = self._row_shape(ol, sm, 1)
            c = {}
            for h, z in self._unit_phasors(tab, p).items():
                c[h] = a * z
            lk = ol.faults.get("leak")
            if lk is not None:
                lc = {}
                self._addto(lc, self._unit_phasors(0, p), lk * 1e-3 * self._vfund(p, sm) / self.vnom)
                self._addto(c, lc)
                self._addto(leakc, lc)
            tl = []
            tr = ol.trans
            if tr is not None and tr[0] < s0 + n:
                tc = {}
                self._addto(tc, self._unit_phasors(tr[4], p), tr[3])
                tl.append((tr, tc))
                itr[p].append((tr, tc))
            self._addto(inl[p], c)
            xs[p] += nrms * nrms
            if ol.chan is not None:
                ph[ol.chan] = c
                trc[ol.chan] = tl
                xv[ol.chan] = nrms * nrms
        ntot = {}
        ntr = []
        for p in range(3):
            name = PHASES[p] + "-I"
            ph[name] = inl[p]
            trc[name] = itr[p]
            xv[name] = xs[p]
            pair[name] = PHASES[p] + "-V"
            self._addto(ntot, inl[p])
            ntr += itr[p]
        self._addto(ntot, leakc, -1.0)
        ph["N-I"] = ntot
        trc["N-I"] = ntr
        xv["N-I"] = xs[0] + xs[1] + xs[2]
        for g, phn in self.desc.GROUP_PHASE.items():
            ph["G%d-V" % g] = ph[phn + "-V"]
            xv["G%d-V" % g] = vn
        for ol in self.outlets.values():
            pair[ol.chan] = ol.vchan
        return ph, trc, xv, pair

    def _eval(self, s0, n):
        """Parseval, steady state (transients left out): mean square and mean
        v*i per channel -> (ms, mvi) dicts."""
        ph, trc, xv, pair = self._model(s0, n)
        ms = {}
        mvi = {}
        for name, c in ph.items():
            ms[name] = self._ms(c) + xv[name]
        for name, vname in pair.items():
            mvi[name] = self._dot(ph[vname], ph[name])
        return ms, mvi

    @staticmethod
    def _gsum(m, rho, n, th0, d, cache):
        """sum_{j<n} rho^j exp(i*m*(th0 + j*d))"""
        key = (m, rho)
        g = cache.get(key)
        if g is None:
            q = rho * cmath.exp(1j * m * d)
            den = 1 - q
            if abs(den) < 1e-12:
                g = n * cmath.exp(1j * m * th0)
            else:
                g = cmath.exp(1j * m * th0) * (1 - q ** n) / den
            cache[key] = g
        return g

    def _xsum(self, c, e, rho, n, th0, d, cache):
        """sum_j rho^j x_j y_j for x = Im(sum c_h e^{ih th_j}), y likewise from e."""
        s = 0.0
        g = self._gsum
        for h, ch in c.items():
            for k, ek in e.items():
                s += 0.5 * (ch * complex(ek.real, -ek.imag) * g(h - k, rho, n, th0, d, cache)).real
                s -= 0.5 * (ch * ek * g(h + k, rho, n, th0, d, cache)).real
        return s

    def _exact_stats(self, s0, n, P0, inc):
        """CycleStats of samples [s0, s0+n) whose first phase is P0 (Q48): finite
        sums over the actual sample instants, transient envelopes included
        (piecewise geometric between their start and plateau end)."""
        ph, trc, xv, pair = self._model(s0, n)
        d = TWO_PI * inc / _ONE48
        e = s0 + n
        cuts = [s0, e]
        for lst in trc.values():
            for tr, tc in lst:
                for b in (tr[0], tr[0] + tr[1] + 1):
                    if s0 < b < e and b not in cuts:
                        cuts.append(b)
        cuts.sort()
        sx = {}
        sxx = {}
        svi = {}
        for name in ph:
            sx[name] = 0.0
            sxx[name] = n * xv[name]
        for name in pair:
            svi[name] = 0.0
        for si in range(len(cuts) - 1):
            u = cuts[si]
            L = cuts[si + 1] - u
            th = TWO_PI * ((P0 + (u - s0) * inc) % _ONE48) / _ONE48
            cache = {}
            comps = {}
            for name, c in ph.items():
                cl = [(c, 1.0, 1.0)] if c else []
                for tr, tc in trc.get(name, ()):
                    j = u - tr[0]
                    if j >= 0:
                        cl.append((tc, self._env_at(tr, u), 1.0 if j <= tr[1] else tr[2]))
                comps[name] = cl
            done = {}
            for name, cl in comps.items():
                key = id(ph[name]) if len(cl) <= 1 else name
                r = done.get(key)
                if r is None:
                    s1 = 0.0
                    s2 = 0.0
                    for ca, ea, ra in cl:
                        for h, z in ca.items():
                            s1 += ea * (z * self._gsum(h, ra, L, th, d, cache)).imag
                        for cb, eb, rb in cl:
                            s2 += ea * eb * self._xsum(ca, cb, ra * rb, L, th, d, cache)
                    r = (s1, s2)
                    done[key] = r
                sx[name] += r[0]
                sxx[name] += r[1]
            for name, vname in pair.items():
                vc = ph[vname]
                for cb, eb, rb in comps[name]:
                    svi[name] += eb * self._xsum(vc, cb, rb, L, th, d, cache)
        return CycleStats(s0, n, 1, sx, sxx, svi)

    def _ramp_any(self):
        n = self.n
        vr = self._vr
        return vr[0][3] > n or vr[1][3] > n or vr[2][3] > n

    def _static_means(self):
        st = self._static
        if st is None or st[2]:
            ramp = self._ramp_any()
            self._update_dips()
            ms, mvi = self._eval(self.n, 160)
            st = self._static = (ms, mvi, ramp)
        return st

    def _stats(self, s0, n, cycles, ms, mvi):
        sx = {}
        sxx = {}
        svi = {}
        for k, v in ms.items():
            sx[k] = 0.0
            sxx[k] = v * n
        for k, v in mvi.items():
            svi[k] = v * n
        return CycleStats(s0, n, cycles, sx, sxx, svi)

    def _integral(self, n, inc):
        # does a cycle of n samples hold a whole number of periods (fs/f integer)?
        return abs(n * inc - _ONE48) * 1000000 < inc

    def _cycle_eval(self, s0, n, P0, inc):
        """Stats of one cycle starting at sample s0 whose phase is P0 (Q48)."""
        self._update_dips()
        if self._integral(n, inc) and not self._trans_list:
            if self._ramp_any():
                ms, mvi = self._eval(s0, n)
            else:
                ms, mvi = self._static_means()[:2]
            return self._stats(s0, n, 1, ms, mvi)
        return self._exact_stats(s0, n, P0, inc)

    def cycle_stats(self):
        """Analytic sums of the most recent whole mains cycle (from an L1 positive
        zero crossing to the next): CycleStats, or None before the first one."""
        lc = self._last_cycle
        if lc is None:
            return None
        if lc[2] is None:
            lc[2] = self._cycle_eval(lc[0], lc[1], lc[3], lc[4])
        return lc[2]

    # ------------------------------------------------------------------ cycle mode
    def _cycle_len(self):
        """Samples from the current sample to the next cycle start (>= 1)."""
        P = self._P
        inc = self._inc
        d = self._dinc
        if d == 0:
            return -(-(_ONE48 - P) // inc)
        j = 0
        while True:
            P += inc
            inc += d
            j += 1
            if P >= _ONE48:
                return j

    def _advance(self, k):
        """Move the grid state k samples without generating them."""
        if self._fr_end is not None and self.n + k >= self._fr_end[0]:
            k1 = self._fr_end[0] - self.n
            self._P = (self._P + k1 * self._inc + self._dinc * (k1 * (k1 - 1) // 2)) & _M48
            self._inc = self._fr_end[1]
            self._dinc = 0
            self._fr_end = None
            self._P = (self._P + (k - k1) * self._inc) & _M48
        else:
            self._P = (self._P + k * self._inc + self._dinc * (k * (k - 1) // 2)) & _M48
            self._inc += k * self._dinc
        self.n += k
        self._ph_last = ((self._P - self._inc) & _M48) >> 16
        self._env_resync = True
        self._dirty = True

    def step_cycles(self, k=1):
        """Advance k whole mains cycles (L1 positive zero crossings) without making
        samples; returns CycleStats summed over them. If the plant is mid-cycle,
        it first skips (unreported) to the next cycle start. Switches are read
        once per call; events due inside a cycle apply at its start."""
        if self._switches:
            self._poll_switches(self.n, self.n + 1, immediate=True)
        # to a cycle start
        if self._P >= self._inc:
            j = self._cycle_len()
            self._apply_due(self.n + j - 1)
            self._thermal(j / self.fs)
            self._advance(j)
        s_start = self.n
        tx = {}
        tx2 = {}
        tvi = {}
        total = 0
        done = 0
        while done < k:
            L = self._cycle_len()
            self._apply_due(self.n + L - 1)
            L = self._cycle_len()
            self._update_dips()
            static = not self._trans_list and self._dinc == 0 and not self._ramp_any()
            m = 1
            if static:
                m = k - done
                if self._events:
                    # whole cycles that end before the next event
                    mm = ((self._events[0][0] - self.n) * self._inc + self._P) // _ONE48
                    if mm < m:
                        m = mm if mm > 1 else 1
            if static and (m > 1 or self._integral(L, self._inc)):
                ms, mvi = self._static_means()[:2]
                M = -(-(m * _ONE48 - self._P) // self._inc)
                Mp = -(-((m - 1) * _ONE48 - self._P) // self._inc)
                for kk, v in ms.items():
                    tx2[kk] = tx2.get(kk, 0.0) + v * M
                for kk, v in mvi.items():
                    tvi[kk] = tvi.get(kk, 0.0) + v * M
                last = [self.n + Mp, M - Mp, None, (self._P + Mp * self._inc) & _M48, self._inc]
            else:
                M = L
                st = self._cycle_eval(self.n, L, self._P, self._inc)
                for kk, v in st.sum_x.items():
                    tx[kk] = tx.get(kk, 0.0) + v
                for kk, v in st.sum_x2.items():
                    tx2[kk] = tx2.get(kk, 0.0) + v
                for kk, v in st.sum_vi.items():
                    tvi[kk] = tvi.get(kk, 0.0) + v
                last = [self.n, L, st, self._P, self._inc]
            total += M
            self._thermal(M / self.fs)
            self._advance(M)
            if self._trans_list:
                for ol in list(self._trans_list):
                    if self._env_at(ol.trans, self.n) < 1e-6:
                        self._end_trans(ol)
            done += m
        self._cyc_start = self.n
        self._cyc_P = self._P
        self._last_cycle = last
        for kk in tx2:
            if kk not in tx:
                tx[kk] = 0.0
        return CycleStats(s_start, total, k, tx, tx2, tvi)

    # ------------------------------------------------------------------ thermal
    def _thermal(self, dt):
        if dt <= 0:
            return
        ms, mvi = self._static_means()[:2]
        th = THERMAL
        ptot = mvi.get("L1-I", 0.0) + mvi.get("L2-I", 0.0) + mvi.get("L3-I", 0.0)
        target = ptot / 1000.0 * th["exhaust_k_per_kw"]
        self._dT_ex += (target - self._dT_ex) * (1.0 - math.exp(-dt / th["exhaust_tau_s"]))
        for name, st in self._ntc.items():
            heat = 0.0
            for k in st[1]:
                ol = self.outlets[k]
                i2 = ms.get(ol.chan, 0.0)
                if ol.triac_desc:
                    heat += math.sqrt(i2) * ol.v_on
                else:
                    heat += i2 * th["relay_r_ohm"]
            if st[2]:
                rth, tau = th["heatsink_rth"], th["heatsink_tau_s"]
            else:
                rth, tau = th["board_rth"], th["board_tau_s"]
            st[0] += (heat * rth - st[0]) * (1.0 - math.exp(-dt / tau))

    @staticmethod
    def _esat(t):
        return 6.112 * math.exp(17.62 * t / (243.12 + t))

    def air(self, where="inlet"):
        """(temperature C, relative humidity %) of the inlet or exhaust air."""
        if where == "inlet":
            return (self._amb_t, self._amb_rh)
        if where == "exhaust":
            t = self._amb_t + self._dT_ex
            rh = self._amb_rh * self._esat(self._amb_t) / self._esat(t)
            return (t, rh)
        raise ValueError("plant: no air sensor %r" % (where,))

    def ntc_temp(self, name):
        """Temperature (C) at a relay-board NTC: exhaust air plus its own rise."""
        st = self._ntc.get(name)
        if st is None:
            raise ValueError("plant: no NTC %r" % (name,))
        return self._amb_t + self._dT_ex + st[0]

    # ------------------------------------------------------------------ inspection
    def outlet_state(self, k):
        ol = self._outlet(k)
        return {"closed": ol.closed, "load": ol.load.to_dict() if ol.load else None,
                "faults": dict(ol.faults), "inrush": ol.trans is not None}

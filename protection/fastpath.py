# The per-poll fast path of protection: viper passes over the acquisition's
# new frames (every 10 ms), integers only, no allocation.
#
# Per outlet (ADS131M04 group buffers, interleaved [v, i1, i2, i3] 24-bit codes):
#   peak |i| (codes), sum x^2/512 (x = code >> 8), a baseline of the mean
#   in-phase power v*x/512 (residual-current localisation), samples above the
#   flow level and the first such frame, the first frame above the
#   instantaneous level, and a 1 ms peak envelope for outlets inside a
#   switching window (inrush shape).
# Per group voltage: the age and period of the last positive-going zero
#   crossing in Q8 samples (zero-cross timed relay switching).
# Per branch: the sample-wise sum of its outlets' codes (all groups share CLKIN
#   and SYNC: simultaneous samples), peak and sum of squares.
# Per inlet phase (ADE9000 waveform sets [IA, VA, IB, VB, IC, VC, IN], 28-bit):
#   peak and sum of squares; residual r = IA + IB + IC - IN: peak, sum of
#   squares and its in-phase product with each phase voltage.
# Then step() runs every element's inverse-time bucket (protection/curves.py)
# and instantaneous element and returns how many elements have news; the
# engine (Python) only looks when that is non-zero.
#
# 32-bit rules (the MCU's viper words are 32-bit, the unix port's 64-bit):
# ptr32 loads zero-extend on the unix port, so codes are sign-extended from
# their width with XOR/subtract and all state read back inside viper is kept
# non-negative; every product is of two values within +/-2^15 (< 2^30) and is
# divided by 512 before summing, so a poll of up to 256 frames sums below 2^30.
import micropython
from micropython import const
from array import array

# --- element block (array 'i', EW words per element) -------------------------------
EW = const(21)
E_PEAK = const(0)     # max |code| this poll
E_SQ = const(1)       # sum over the poll of (x*x + 256) >> 9, x = reduced code
E_N = const(2)        # samples this poll (0: no data)
E_FIRST = const(3)    # 1 + first frame above E_INST (0: none)
E_INST = const(4)     # instantaneous level, codes (param)
E_IPU = const(5)      # pickup mean square in E_SQ units per sample (param)
E_KQ = const(6)       # bucket trip level (param)
E_ACC = const(7)      # bucket
E_COOL = const(8)     # bucket decrement per sample below pickup, Q4 (param)
E_R = const(9)        # last 256 * (I/Ip)^2
E_FL = const(10)      # flags of the last poll
E_SHEDQ = const(11)   # bucket level that asks for load shedding (param)
E_WSUM = const(12)    # slow window: sum of E_SQ >> 7
E_WN = const(13)      # slow window: samples
E_ICNT = const(14)    # consecutive polls above E_INST
E_IDLY = const(15)    # polls above E_INST before acting (param)
E_FLOWN = const(16)   # samples above E_FLOW this poll
E_FLOW = const(17)    # flow level, codes (param)
E_FFIRST = const(18)  # 1 + first frame above E_FLOW (0: none)
E_EN = const(19)      # 1: news enabled (param)
E_VIB = const(20)     # in-phase power baseline, Q4 per sample, biased by 2^26 (outlets)

F_PICKUP = const(1)   # above pickup this poll
F_PU_EDGE = const(2)  # bucket started filling
F_TIMED = const(4)    # bucket full: trip
F_INST = const(8)     # instantaneous level for E_IDLY polls
F_SHED = const(16)    # bucket crossed the shed level
F_DROP = const(32)    # bucket emptied
F_NEWS = const(62)

VIB_BIAS = const(0x4000000)

# --- group voltage block ------------------------------------------------------------
GW = const(7)
G_PREV = const(0)     # last reduced voltage + 65536
G_ARM = const(1)
G_AGE = const(2)      # Q8 samples since the last positive-going zero crossing
G_PER = const(3)      # Q8 samples per cycle
G_PLO = const(4)      # accepted period range, Q8 (params)
G_PHI = const(5)
G_HYST = const(6)     # arming level below zero, reduced codes (param)

# --- residual block ----------------------------------------------------------------
RW = const(6)
R_SQ = const(0)       # sum (rr*rr + 256) >> 9, rr = r >> 3 clamped to 16 bits
R_PK = const(1)       # max |r| (ADE codes)
R_N = const(2)
R_P1 = const(3)       # sum rr * (V1 >> 12) / 512 (signed)
R_P2 = const(4)
R_P3 = const(5)

AGE_MAX = const(0x3FFFFFFF)


@micropython.viper
def outlet_pass(buf: ptr32, n: int, nch: int, st: ptr32, b0: int):
    """Outlet channels 1..nch of one group buffer -> elements b0, b0 + EW, ..."""
    c = 0
    while c < nch:
        b = b0 + c * EW
        inst = st[b + E_INST]
        flow = st[b + E_FLOW]
        pk = 0
        sq = 0
        vi = 0
        first = 0
        ffirst = 0
        fn = 0
        j = 0
        f = 0
        while f < n:
            v = ((buf[j] & 0xFFFFFF) ^ 0x800000) - 0x800000
            x = ((buf[j + 1 + c] & 0xFFFFFF) ^ 0x800000) - 0x800000
            j += 4
            f += 1
            a = x
            if a < 0:
                a = 0 - a
            if a > pk:
                pk = a
            if a > flow:
                fn += 1
                if ffirst == 0:
                    ffirst = f
                if a > inst:
                    if first == 0:
                        first = f
            xs = (x + 128) >> 8
            sq += (xs * xs + 256) >> 9
            vi += (((v + 128) >> 8) * xs) >> 9
        st[b + E_PEAK] = pk
        st[b + E_SQ] = sq
        st[b + E_N] = n
        st[b + E_FIRST] = first
        st[b + E_FLOWN] = fn
        st[b + E_FFIRST] = ffirst
        if n > 0:
            # baseline of the mean in-phase power, Q4, time constant 8 polls
            m = (((vi + (n << 22)) // n) - 0x400000) << 4
            bl = st[b + E_VIB] - VIB_BIAS
            bl += (m - bl) >> 3
            st[b + E_VIB] = bl + VIB_BIAS
        c += 1


@micropython.viper
def zc_pass(buf: ptr32, n: int, gs: ptr32, b: int):
    """Positive-going zero crossings of channel 0 (the group voltage)."""
    prev = gs[b + G_PREV] - 65536
    arm = gs[b + G_ARM]
    age = gs[b + G_AGE]
    per = gs[b + G_PER]
    plo = gs[b + G_PLO]
    phi = gs[b + G_PHI]
    hyst = gs[b + G_HYST]
    j = 0
    f = 0
    while f < n:
        v = ((((buf[j] & 0xFFFFFF) ^ 0x800000) - 0x800000) + 128) >> 8
        j += 4
        if v < 0 - hyst:
            arm = 1
        elif arm != 0 and v >= 0 and prev < 0:
            fr = ((0 - prev) << 8) // (v - prev)
            t = ((f - 1) << 8) + fr          # crossing, Q8 samples from this block's sample 0
            p = age + t
            if plo < p and p < phi:
                per = p
            age = 0 - t
            arm = 0
        prev = v
        f += 1
    age += n << 8
    if age > AGE_MAX:
        age = AGE_MAX
    gs[b + G_PREV] = prev + 65536
    gs[b + G_ARM] = arm
    gs[b + G_AGE] = age
    gs[b + G_PER] = per


@micropython.viper
def sum_into(buf: ptr32, n: int, mask: int, dst: ptr32, add: int):
    """dst[f] = (add: dst[f] +) sum of the group's current channels in `mask` (bit c: channel c)."""
    f = 0
    j = 0
    while f < n:
        s = 0
        if add:
            s = ((dst[f] & 0xFFFFFFF) ^ 0x8000000) - 0x8000000
        c = 1
        while c < 4:
            if mask & (1 << c):
                s += ((buf[j + c] & 0xFFFFFF) ^ 0x800000) - 0x800000
            c += 1
        dst[f] = s
        j += 4
        f += 1


@micropython.viper
def chan_pass(buf: ptr32, n: int, stride: int, off: int, st: ptr32, b: int, shift: int):
    """One 28-bit signed channel (branch sums, ADE9000 currents) -> element b."""
    inst = st[b + E_INST]
    rnd = 1 << (shift - 1)
    pk = 0
    sq = 0
    first = 0
    j = off
    f = 0
    while f < n:
        x = ((buf[j] & 0xFFFFFFF) ^ 0x8000000) - 0x8000000
        j += stride
        f += 1
        a = x
        if a < 0:
            a = 0 - a
        if a > pk:
            pk = a
        if a > inst:
            if first == 0:
                first = f
        xs = (x + rnd) >> shift
        if xs > 32768:
            xs = 32768
        elif xs < -32768:
            xs = -32768
        sq += (xs * xs + 256) >> 9
    st[b + E_PEAK] = pk
    st[b + E_SQ] = sq
    st[b + E_N] = n
    st[b + E_FIRST] = first


@micropython.viper
def residual_pass(buf: ptr32, n: int, rs: ptr32):
    """r = IA + IB + IC - IN per ADE9000 set (sample-exact: one chip)."""
    pk = 0
    sq = 0
    p1 = 0
    p2 = 0
    p3 = 0
    j = 0
    f = 0
    while f < n:
        ia = ((buf[j] & 0xFFFFFFF) ^ 0x8000000) - 0x8000000
        va = ((buf[j + 1] & 0xFFFFFFF) ^ 0x8000000) - 0x8000000
        ib = ((buf[j + 2] & 0xFFFFFFF) ^ 0x8000000) - 0x8000000
        vb = ((buf[j + 3] & 0xFFFFFFF) ^ 0x8000000) - 0x8000000
        ic = ((buf[j + 4] & 0xFFFFFFF) ^ 0x8000000) - 0x8000000
        vc = ((buf[j + 5] & 0xFFFFFFF) ^ 0x8000000) - 0x8000000
        inn = ((buf[j + 6] & 0xFFFFFFF) ^ 0x8000000) - 0x8000000
        j += 7
        f += 1
        r = ia + ib + ic - inn
        a = r
        if a < 0:
            a = 0 - a
        if a > pk:
            pk = a
        rr = (r + 4) >> 3
        if rr > 32767:
            rr = 32767
        elif rr < -32767:
            rr = -32767
        sq += (rr * rr + 256) >> 9
        p1 += (rr * ((va + 2048) >> 12)) >> 9
        p2 += (rr * ((vb + 2048) >> 12)) >> 9
        p3 += (rr * ((vc + 2048) >> 12)) >> 9
    rs[R_SQ] = sq
    rs[R_PK] = pk
    rs[R_N] = n
    rs[R_P1] = p1
    rs[R_P2] = p2
    rs[R_P3] = p3


@micropython.viper
def env_pass(buf: ptr32, n: int, ch: int, env: ptr32, start: int, nb: int):
    """1 ms (8-sample) peak envelope of one outlet channel; sample f of this
    block is sample start + f of the window (negative: before it)."""
    f = 0
    j = ch
    while f < n:
        k = (start + f) >> 3
        if k >= nb:
            return
        if k >= 0:
            a = ((buf[j] & 0xFFFFFF) ^ 0x800000) - 0x800000
            if a < 0:
                a = 0 - a
            if a > env[k]:
                env[k] = a
        j += 4
        f += 1


@micropython.viper
def step(st: ptr32, ne: int) -> int:
    """Every element's buckets and instantaneous counters; returns how many
    enabled elements have news (flags in F_NEWS)."""
    news = 0
    e = 0
    while e < ne:
        b = e * EW
        n = st[b + E_N]
        fl = 0
        if n > 0:
            ms = st[b + E_SQ] // n
            r = (ms << 8) // st[b + E_IPU]
            if r > 0x400000:
                r = 0x400000            # 128 x pickup: keeps (r - 256) * n < 2^30
            st[b + E_R] = r
            acc = st[b + E_ACC]
            was = acc
            kq = st[b + E_KQ]
            if r > 256:
                fl |= F_PICKUP
                acc += (r - 256) * n
                if acc > kq:
                    acc = kq
            else:
                acc -= (st[b + E_COOL] * n) >> 4
                if acc < 0:
                    acc = 0
            st[b + E_ACC] = acc
            if was == 0 and acc > 0:
                fl |= F_PU_EDGE
            if was > 0 and acc == 0:
                fl |= F_DROP
            if acc >= kq:
                fl |= F_TIMED
            sh = st[b + E_SHEDQ]
            if acc >= sh and was < sh:
                fl |= F_SHED
            if st[b + E_PEAK] > st[b + E_INST]:
                c = st[b + E_ICNT] + 1
                if c > 1000:
                    c = 1000
                st[b + E_ICNT] = c
                if c >= st[b + E_IDLY]:
                    fl |= F_INST
            else:
                st[b + E_ICNT] = 0
            st[b + E_WSUM] = st[b + E_WSUM] + (st[b + E_SQ] >> 7)
            st[b + E_WN] = st[b + E_WN] + n
        st[b + E_FL] = fl
        if (fl & F_NEWS) != 0 and st[b + E_EN] != 0:
            news += 1
        e += 1
    return news


@micropython.viper
def clear_n(st: ptr32, e0: int, e1: int):
    """No data this poll for elements e0..e1-1."""
    e = e0
    while e < e1:
        st[e * EW + E_N] = 0
        e += 1


class GroupPass:
    """One ADS131M04 group buffer's outlet channels in the poll."""

    def __init__(self, chip, first, channels, zc_word):
        self.chip = chip              # index of the chip in the acquisition
        self.first = first            # element index of its first outlet
        self.channels = channels      # outlets (current channels 1..channels)
        self.zc_word = zc_word        # its voltage's zero-cross block


class BranchTerm:
    """One group's share of a branch sum: channels in `mask` of chip `chip`."""

    def __init__(self, chip, mask, add):
        self.chip = chip
        self.mask = mask
        self.add = add                # 0: the first term (stores), 1: adds


class BranchPass:
    def __init__(self, word, terms, shift):
        self.word = word              # the branch element's first word
        self.terms = terms            # [BranchTerm]
        self.shift = shift            # code reduction of the sum


class EnvCapture:
    """A slot capturing one outlet's 1 ms peak envelope (inrush shape)."""

    def __init__(self, nbins):
        self.outlet = 0               # 0: free
        self.chip = 0
        self.channel = 0
        self.sample = 0               # window sample of the next poll's first frame
        self.env = array("i", bytes(4 * nbins))


class FastPath:
    """Preallocated state and the per-poll call order. Elements: the outlets
    (group order, channel order), then the branches, then the inlet phases.
    `blocks` holds EW words per element, `zero_cross` GW words per group
    voltage, `residual` the RW words of the residual current."""

    def __init__(self, desc, acq):
        self.desc = desc
        fs = desc.SAMPLE_RATE
        names = [a.name for a in acq.adcs]
        outs = []
        self.group_passes = []    # [GroupPass] of the chips present
        self.groups = []          # group numbers in zero_cross order
        self.group_of = {}        # outlet -> group
        self.group_idx = {}       # group -> index in zero_cross (all groups, present or not)
        self.group_present = {}   # group -> bool
        self.chip_index = {}      # group -> acq index
        gnums = sorted(desc.GROUP_PHASE)
        for g in gnums:
            chip = desc.CHANNELS["G%d-V" % g][0]
            by_channel = {}       # current channel -> outlet
            count = 0
            for n in sorted(desc.OUTLETS):
                if desc.OUTLETS[n]["group"] == g:
                    by_channel[desc.CHANNELS["O%d-I" % n][1]] = n
                    count += 1
            for ch in range(1, count + 1):     # each of 1..count once
                if ch not in by_channel:
                    raise ValueError("protection: group %d outlet channels must be 1..%d" % (g, count))
            first = len(outs)
            for ch in range(1, count + 1):
                n = by_channel[ch]
                outs.append(n)
                self.group_of[n] = g
            self.group_idx[g] = len(self.groups)
            self.groups.append(g)
            present = chip in names
            self.group_present[g] = present
            if present:
                k = names.index(chip)
                self.chip_index[g] = k
                self.group_passes.append(GroupPass(k, first, count, self.group_idx[g] * GW))
        self.outlets = outs
        self.n_outlets = len(outs)
        self.index = {}           # element name (outlet number, branch, phase) -> element index
        for i in range(len(outs)):
            self.index[outs[i]] = i
        # branches
        self.branches = sorted(desc.BRANCHES)
        self.branch_passes = []   # [BranchPass] of the branches whose groups are all present
        self.branch_shift = {}
        e = self.n_outlets
        for br in self.branches:
            bo = desc.BRANCHES[br]["outlets"]
            if len(bo) > 15:
                raise ValueError("protection: branch %s has more than 15 outlets" % br)
            sh = 8
            while (1 << (sh - 8)) < len(bo):
                sh += 1
            self.branch_shift[br] = sh
            self.index[br] = e
            terms = []
            ok = True
            for g in gnums:
                mask = 0
                for n in bo:
                    if self.group_of[n] == g:
                        mask |= 1 << desc.CHANNELS["O%d-I" % n][1]
                if mask:
                    if not self.group_present[g]:
                        ok = False
                    else:
                        terms.append(BranchTerm(self.chip_index[g], mask, 1 if terms else 0))
            if ok:
                self.branch_passes.append(BranchPass(e * EW, terms, sh))
            e += 1
        self.phases = ("L1", "L2", "L3")
        for ph in self.phases:
            self.index[ph] = e
            e += 1
        self.n_elements = e
        self.blocks = array("i", bytes(4 * EW * e))
        self.zero_cross = array("i", bytes(4 * GW * len(self.groups)))
        self.residual = array("i", bytes(4 * RW))
        self.scratch = array("i", bytes(4 * acq.max_frames))
        # outlets' in-window envelopes: a small pool of 1 ms bins
        self.env_bins = 1
        self.captures = []        # [EnvCapture]
        st = self.blocks
        for i in range(e):
            b = i * EW
            st[b + E_INST] = 0x7FFFFFFF
            st[b + E_IPU] = 1 << 20
            st[b + E_KQ] = 0x7FFFFFFF
            st[b + E_SHEDQ] = 0x7FFFFFFF
            st[b + E_COOL] = 1
            st[b + E_FLOW] = 0x7FFFFFFF
            st[b + E_IDLY] = 1
            st[b + E_VIB] = VIB_BIAS
        zc = self.zero_cross
        for g in self.groups:
            b = self.group_idx[g] * GW
            zc[b + G_PREV] = 65536
            zc[b + G_AGE] = AGE_MAX
            zc[b + G_PER] = (fs * 256) // 50
            zc[b + G_PLO] = (fs * 256) // 80
            zc[b + G_PHI] = (fs * 256) // 40
            zc[b + G_HYST] = 200          # ~10 V below zero arms the detector
        self.group_frames = 0     # frames per group chip in the last poll
        self.inlet_frames = 0     # ADE9000 sets in the last poll

    def word(self, name):
        """First word of an element's block (outlet number, branch or phase)."""
        return self.index[name] * EW

    def alloc_env(self, nbins, slots):
        self.env_bins = nbins
        self.captures = [EnvCapture(nbins) for _ in range(slots)]

    def env_start(self, outlet, start):
        """Capture outlet's 1 ms envelope from window sample `start` of the
        next poll's first frame (negative: the window opens later). Returns
        the EnvCapture or None when every slot is busy or it has no data."""
        g = self.group_of[outlet]
        if not self.group_present[g]:
            return None
        for cap in self.captures:
            if cap.outlet == 0:
                e = cap.env
                for i in range(len(e)):
                    e[i] = 0
                cap.outlet = outlet
                cap.chip = self.chip_index[g]
                cap.channel = self.desc.CHANNELS["O%d-I" % outlet][1]
                cap.sample = -start
                return cap
        return None

    def run(self, acq):
        """One poll: every pass, then the buckets. Returns the news count."""
        st = self.blocks
        n = acq.n_group
        self.group_frames = n
        if n:
            groups = acq.group
            stalled = acq.stalled
            for gp in self.group_passes:
                if stalled[gp.chip]:
                    clear_n(st, gp.first, gp.first + gp.channels)
                else:
                    buf = groups[gp.chip]
                    outlet_pass(buf, n, gp.channels, st, gp.first * EW)
                    zc_pass(buf, n, self.zero_cross, gp.zc_word)
            for cap in self.captures:
                if cap.outlet > 0:
                    env_pass(groups[cap.chip], n, cap.channel, cap.env, cap.sample, self.env_bins)
                    cap.sample += n
            scratch = self.scratch
            for bp in self.branch_passes:
                for t in bp.terms:
                    sum_into(groups[t.chip], n, t.mask, scratch, t.add)
                chan_pass(scratch, n, 1, 0, st, bp.word, bp.shift)
                for t in bp.terms:
                    if stalled[t.chip]:
                        st[bp.word + E_N] = 0
        else:
            clear_n(st, 0, self.n_outlets + len(self.branches))
        ni = acq.n_inlet
        self.inlet_frames = ni
        e = self.n_outlets + len(self.branches)
        if ni:
            inl = acq.inlet
            chan_pass(inl, ni, 7, 0, st, e * EW, 12)
            chan_pass(inl, ni, 7, 2, st, (e + 1) * EW, 12)
            chan_pass(inl, ni, 7, 4, st, (e + 2) * EW, 12)
            residual_pass(inl, ni, self.residual)
        else:
            clear_n(st, e, e + 3)
            self.residual[R_N] = 0
        return step(st, self.n_elements)

# Per-sample metrology kernels (viper).
#
# kernel() walks a block of interleaved sample frames (any stride) for one
# "unit": channel 0 is the voltage that defines the cycles, channels 1.. are
# currents (or any other channel timed by that voltage). Per sample and channel
# it reduces the raw code to 16 bits with a rounding right shift, applies a
# sub-sample delay (phase calibration, below), and accumulates over the
# current mains cycle:
#   sum x, sum x^2, sum v*x, sum x*cos, sum x*sin, sum raw (DC mode), peak
#   max/min and the number of clipped samples;
# and per unit the Gram sums of the fundamental reference (cos, sin, cos^2,
# sin^2, cos*sin) so the cycle maths can fit DC + fundamental by least squares.
# A positive-going zero crossing of channel 0 (hysteresis, minimum length) or
# a cycle reaching its length limit stops the kernel at that sample; the caller
# reads the sums, closes the cycle (metrology/cycle.py) and calls again.
#
# 32-bit rules (identical results on the 32-bit MCU and the 64-bit unix port):
#   - every product is of two values within +/-2^15 (reduced samples and the
#     Q15 reference), so |p| <= 2^30 fits a signed 32-bit word;
#   - sums of products live in split accumulators (hi, lo): lo is the low 32
#     bits (unsigned), hi the high word; a signed p is added as
#       lo2 = (lo + p) mod 2^32; hi += (p >> 31) + (lo2 <u lo)
#     (mod 2^32 comes from M32 = 0xFFFFFFFF built from 16-bit halves: on the
#     MCU it is -1 and the mask is a no-op, on the unix port it masks);
#   - ptr32 loads zero-extend on the 64-bit port but not on the MCU, so no
#     value read back from an array is used signed: raw codes are sign-extended
#     from their declared width with an XOR/subtract, and stored signed state
#     (history, peaks) is kept biased to be non-negative;
#   - plain 32-bit sums (sum x, sum cos, sum sin, counts) stay far below 2^31
#     (bounds in docs/metrology.md) and are only ever stored back, so a
#     zero-extended load followed by a wrapping add is still exact.
# No allocation anywhere (tested under micropython.heap_lock()).
#
# Phase calibration delay: u = x delayed by k whole samples (k = 0..2), then a
# first-order Thiran allpass of fractional delay D in [0.5, 1.5):
#     y[n] = u[n-1] + a * (u[n] - y[n-1]),  a = (1 - D) / (1 + D) in (-1/5, 1/3]
# Its magnitude is exactly 1 at every frequency, so harmonics keep their
# amplitude (linear interpolation, x - d*(x - x[-1]), is a low-pass: a 0.5
# sample delay loses 7.6 % at 1 kHz, 0.4 % of an SMPS current's rms); its delay
# is D at low frequency, exact to < 1e-4 sample at 50 Hz. D >= 0.5 keeps |a|
# small, so rounding noise is not amplified (gain 1/(1 - a^2) <= 1.125). The
# unit applies the same 0.5 sample base delay to all its channels, so only the
# relative delays (0..3 samples) matter; a unit without relative delays
# bypasses the filter (mode 0). y is clamped to +/-2^15 (the allpass can
# overshoot on full-scale steps), keeping every product within 2^30.
import math
import micropython
from array import array
from micropython import const

# --- cfg words (array 'i', one per unit) ------------------------------------------
C_STRIDE = const(0)     # words per frame in the sample buffer
C_NCH = const(1)        # channels in the unit (channel 0 = voltage reference)
C_HYST = const(2)       # crossing hysteresis (reduced codes): arm below -HYST
C_MINLEN = const(3)     # minimum cycle length (samples) for a crossing to count
C_FLAGS = const(4)      # F_ZC | F_PHASOR | F_RAW
C_CH = const(8)         # first channel block
C_CW = const(8)         # words per channel block:
CF_OFF = const(0)       #   offset of the channel inside a frame
CF_SHIFT = const(1)     #   rounding right shift to 16 bits
CF_ROUND = const(2)     #   1 << (shift - 1)
CF_SIGN = const(3)      #   sign bit of the raw code (1 << (bits - 1))
CF_CLIP = const(4)      #   |raw| >= CLIP counts as clipped
CF_DMODE = const(5)     #   delay: 0 none, 1 + k = allpass after k whole samples (k 0..2)
CF_DA = const(6)        #   allpass coefficient a, Q15, + 32768 (stored non-negative)

F_ZC = const(1)
F_PHASOR = const(2)
F_RAW = const(4)

# --- state words (array 'i', one per unit) --------------------------------------------
S_CNT = const(0)        # samples accumulated in the open cycle
S_PH = const(1)         # reference phase, Q30 of a cycle
S_STEP = const(2)       # phase advance per sample, Q30 (2^30 / samples per cycle)
S_ARMED = const(3)      # channel 0 went below -hyst since the last crossing
S_LIMIT = const(4)      # close the cycle when it reaches this many samples
S_PEND = const(5)       # the sample at the return index is already reduced/delayed
S_REASON = const(6)     # why the kernel returned: 0 block done, 1 crossing, 2 limit
S_SC = const(8)         # sum cos            (plain)
S_SS = const(9)         # sum sin            (plain)
S_CC = const(10)        # sum cos^2          (hi, lo)
S_S2 = const(12)        # sum sin^2          (hi, lo)
S_CS = const(14)        # sum cos*sin        (hi, lo)
S_CH = const(16)        # first channel block
S_W = const(24)         # words per channel block:
A_SX = const(0)         #   sum x              (plain)
A_CLIP = const(1)       #   clipped samples    (plain)
A_MAX = const(2)        #   max x + BIAS
A_MIN = const(3)        #   min x + BIAS
A_XX = const(4)         #   sum x^2            (hi, lo)
A_VI = const(6)         #   sum v*x            (hi, lo) (not for channel 0)
A_XC = const(8)         #   sum x*cos          (hi, lo)
A_XS = const(10)        #   sum x*sin          (hi, lo)
A_RAW = const(12)       #   sum raw codes      (hi, lo) (F_RAW only)
A_N = const(14)         #   words above are sums (added into windows); below: state
H_1 = const(14)         #   reduced x[-1] + BIAS (before delay)
H_2 = const(15)         #   reduced x[-2] + BIAS
H_Y = const(16)         #   delayed value of the current sample + BIAS
H_YP = const(17)        #   delayed value of the previous sample + BIAS
H_CLIPF = const(18)     #   current sample clipped (0/1)
H_RAW = const(19)       #   current raw code + RAW_BIAS
H_3 = const(20)         #   reduced x[-3] + BIAS (allpass after 2 samples)
H_AY = const(21)        #   allpass output y[n-1] + BIAS


# stop reasons (S_REASON)
STOP_NONE = const(0)    # the block is done
STOP_ZC = const(1)      # a positive-going zero crossing of channel 0 ends the cycle
STOP_LIMIT = const(2)   # the cycle reached S_LIMIT samples

BIAS = const(65536)           # signed 16-bit state (history, peaks, scratch) is stored + BIAS
RAW_BIAS = const(0x10000000)  # raw codes are within +/-2^27
Y_MAX = const(32768)          # the allpass output is clamped to +/-Y_MAX
DA_BIAS = const(32768)        # CF_DA: the Q15 coefficient is stored + DA_BIAS
PEAK_EMPTY_MIN = const(0x20000)  # A_MIN of an empty sum: above any sample + BIAS (A_MAX: 0)
PH_MASK = const(0x3FFFFFFF)   # the reference phase is Q30 of a cycle
MAX_CH = const(8)
TAB_BITS = const(8)
TAB_N = const(256)
TAB_MASK = const(255)
TAB_BIAS = const(32768)       # table entries are stored + TAB_BIAS (array 'H')
TAB_SIN = const(192)          # sin(t) = cos(t - 1/4 turn) = table[(k + 3/4 turn) & MASK]
PH_IDX = const(22)            # phase >> PH_IDX: table index (30 - TAB_BITS)
PH_FR = const(7)              # (phase >> PH_FR) & FR_MASK: Q15 fraction between two entries
FR_MASK = const(0x7FFF)

# cycle_ms output (array 'i', CM_W words per channel)
CM_MS = const(0)        # mean square (reduced codes^2)
CM_VI = const(1)        # mean v*x (channels >= 1)
CM_W = const(2)

# sum_pass terms (array 'i', T_W words per term)
T_OFF = const(0)        # offset of the channel in a source frame
T_GAIN = const(1)       # gain, Q12
T_PRE = const(2)        # right shift before the gain
T_POST = const(3)       # right shift after it
T_SIGN = const(4)       # sign bit of the source code (1 << (bits - 1))
T_W = const(5)
SP_WRITE = const(0)     # sum_pass modes: write the sum, add it to dst, copy one channel
SP_ADD = const(1)
SP_COPY = const(2)
SUM_BIAS = const(0x10000000)  # partial sums are kept + SUM_BIAS in dst between terms
CODE24_MAX = const(0x7FFFFF)  # derived codes are clamped to +/-CODE24_MAX


def cfg_words(nch):
    return C_CH + C_CW * nch


def state_words(nch):
    return S_CH + S_W * nch


def make_table():
    """Q15 cosine table, 256 entries + 1 (wrap), stored + TAB_BIAS in array('H')
    (ptr16 loads zero-extend, so the kernel subtracts the bias)."""
    t = array("H", bytes(2 * (TAB_N + 1)))
    for k in range(TAB_N + 1):
        t[k] = TAB_BIAS + int(round(32767 * math.cos(2 * math.pi * k / TAB_N)))
    return t


TAB = make_table()


SCR_N = const(256)      # samples per kernel call; scratch per sample (+ BIAS):
SCR_V = const(0)        #   channel 0 (delayed) at SCR_V + k (written scr[k]: 0 + k is not folded)
SCR_COS = const(256)    #   cos at SCR_COS + k
SCR_SIN = const(512)    #   sin at SCR_SIN + k


def make_scratch():
    return array("i", bytes(4 * 3 * SCR_N))


SCRATCH = make_scratch()


# Register use: the viper emitter keeps a function's first three locals (its
# first three parameters) in machine registers (x64: rbx, r12, r13; Thumb-2:
# r4-r6) and every other local in the stack frame. So each pass takes its
# three hottest locals -- lo, p (the split adds) and y (the reduced,
# delayed sample) -- as leading parameters; the caller passes 0. This cuts
# the kernel's instructions by ~7 % against keeping (st, cfg, buf) there.
@micropython.viper
def _pass_a(lo: int, p: int, y: int, st: ptr32, cfg: ptr32, buf: ptr32, tab: ptr16, start: int, n: int,
            scr: ptr32) -> int:
    """Pass A over the samples [start, n): channel 0 (the voltage that times
    the cycles) and the reference; stops at the cycle's end (S_REASON) and
    leaves v, cos, sin of every sample in the scratch array. Returns stop."""
    m16 = 0xFFFF
    m32 = (m16 << 16) | m16          # 2^32 - 1 here, -1 (a no-op mask) on a 32-bit MCU
    m30 = PH_MASK
    if n > start + SCR_N:
        n = start + SCR_N
    stride = cfg[C_STRIDE]
    hyst = cfg[C_HYST]
    minlen = cfg[C_MINLEN]
    flags = cfg[C_FLAGS]
    zc = flags & F_ZC
    phasor = flags & F_PHASOR
    rawsum = flags & F_RAW
    cnt = st[S_CNT]
    ph = st[S_PH]
    step = st[S_STEP]
    armed = st[S_ARMED]
    limit = st[S_LIMIT]
    pend = st[S_PEND]
    reason = STOP_NONE
    off = cfg[C_CH + CF_OFF]
    shift = cfg[C_CH + CF_SHIFT]
    rnd = cfg[C_CH + CF_ROUND]
    m = cfg[C_CH + CF_SIGN]
    m2 = m + m - 1
    clip = cfg[C_CH + CF_CLIP]
    mode = cfg[C_CH + CF_DMODE]
    ca = cfg[C_CH + CF_DA] - DA_BIAS
    h1 = st[S_CH + H_1] - BIAS
    h2 = st[S_CH + H_2] - BIAS
    h3 = st[S_CH + H_3] - BIAS
    ay = st[S_CH + H_AY] - BIAS
    y = st[S_CH + H_Y] - BIAS
    sx = st[S_CH + A_SX]
    ncl = st[S_CH + A_CLIP]
    mx = st[S_CH + A_MAX]
    mn = st[S_CH + A_MIN]
    xxh = st[S_CH + A_XX]
    xxl = st[S_CH + A_XX + 1]
    xch = st[S_CH + A_XC]
    xcl = st[S_CH + A_XC + 1]
    xsh = st[S_CH + A_XS]
    xsl = st[S_CH + A_XS + 1]
    rwh = st[S_CH + A_RAW]
    rwl = st[S_CH + A_RAW + 1]
    sc = st[S_SC]
    ss = st[S_SS]
    cch = st[S_CC]
    ccl = st[S_CC + 1]
    s2h = st[S_S2]
    s2l = st[S_S2 + 1]
    csh = st[S_CS]
    csl = st[S_CS + 1]
    i = start
    j = start * stride + off
    while i < n:
        if pend:
            # the crossing sample: reduced and delayed already (slow path below)
            raw = st[S_CH + H_RAW] - RAW_BIAS
            clipped = st[S_CH + H_CLIPF]
            y = st[S_CH + H_Y] - BIAS
        else:
            if cnt >= limit:
                reason = STOP_LIMIT
                break
            raw = ((buf[j] & m2) ^ m) - m
            x = (raw + rnd) >> shift
            clipped = 0
            if raw >= clip:
                clipped = 1
            elif 0 - raw >= clip:
                clipped = 1
            if mode == 0:
                yn = x
            else:
                if mode == 1:
                    u = x
                    up = h1
                elif mode == 2:
                    u = h1
                    up = h2
                else:
                    u = h2
                    up = h3
                yn = up + ((ca * (u - ay)) >> 15)
                if yn > Y_MAX:
                    yn = Y_MAX
                elif yn < 0 - Y_MAX:
                    yn = 0 - Y_MAX
            if zc:
                if yn < 0 - hyst:
                    armed = 1
                elif armed != 0:
                    if yn >= 0:
                        armed = 0
                        if cnt >= minlen:
                            reason = STOP_ZC
                            break
            if mode != 0:
                ay = yn
                h3 = h2
                h2 = h1
            h1 = x
            y = yn
        k = i - start
        scr[k] = y + BIAS                     # SCR_V (0) + k; biased: ptr32 loads zero-extend on 64-bit
        cv = 0
        sv = 0
        if phasor:
            t = ph >> PH_IDX
            fr = (ph >> PH_FR) & FR_MASK
            c0 = tab[t] - TAB_BIAS
            cv = c0 + (((tab[t + 1] - TAB_BIAS - c0) * fr) >> 15)
            t = (t + TAB_SIN) & TAB_MASK
            s0 = tab[t] - TAB_BIAS
            sv = s0 + (((tab[t + 1] - TAB_BIAS - s0) * fr) >> 15)
            scr[SCR_COS + k] = cv + BIAS
            scr[SCR_SIN + k] = sv + BIAS
            sc += cv
            ss += sv
            p = cv * cv
            lo = (ccl + p) & m32
            if uint(lo) < uint(ccl):
                cch += 1
            ccl = lo
            p = sv * sv
            lo = (s2l + p) & m32
            if uint(lo) < uint(s2l):
                s2h += 1
            s2l = lo
            p = cv * sv
            lo = (csl + p) & m32
            csh += p >> 31
            if uint(lo) < uint(csl):
                csh += 1
            csl = lo
            p = y * cv
            lo = (xcl + p) & m32
            xch += p >> 31
            if uint(lo) < uint(xcl):
                xch += 1
            xcl = lo
            p = y * sv
            lo = (xsl + p) & m32
            xsh += p >> 31
            if uint(lo) < uint(xsl):
                xsh += 1
            xsl = lo
        sx += y
        ncl += clipped
        yb = y + BIAS
        if yb > mx:
            mx = yb
        if yb < mn:
            mn = yb
        p = y * y
        lo = (xxl + p) & m32
        if uint(lo) < uint(xxl):
            xxh += 1
        xxl = lo
        if rawsum:
            lo = (rwl + raw) & m32
            rwh += raw >> 31
            if uint(lo) < uint(rwl):
                rwh += 1
            rwl = lo
        pend = 0
        cnt += 1
        ph = (ph + step) & m30
        i += 1
        j += stride
    stop = i
    st[S_CH + H_1] = h1 + BIAS
    st[S_CH + H_2] = h2 + BIAS
    st[S_CH + H_3] = h3 + BIAS
    st[S_CH + H_AY] = ay + BIAS
    st[S_CH + H_Y] = y + BIAS
    st[S_CH + A_SX] = sx
    st[S_CH + A_CLIP] = ncl
    st[S_CH + A_MAX] = mx
    st[S_CH + A_MIN] = mn
    st[S_CH + A_XX] = xxh
    st[S_CH + A_XX + 1] = xxl
    st[S_CH + A_XC] = xch
    st[S_CH + A_XC + 1] = xcl
    st[S_CH + A_XS] = xsh
    st[S_CH + A_XS + 1] = xsl
    st[S_CH + A_RAW] = rwh
    st[S_CH + A_RAW + 1] = rwl
    st[S_SC] = sc
    st[S_SS] = ss
    st[S_CC] = cch
    st[S_CC + 1] = ccl
    st[S_S2] = s2h
    st[S_S2 + 1] = s2l
    st[S_CS] = csh
    st[S_CS + 1] = csl
    st[S_CNT] = cnt
    st[S_PH] = ph
    st[S_ARMED] = armed
    st[S_REASON] = reason
    return stop


@micropython.viper
def _pass_b(lo: int, p: int, y: int, st: ptr32, cfg: ptr32, buf: ptr32, start: int, stop: int, scr: ptr32):
    """Pass B over [start, stop): every other channel, its state in locals,
    v, cos and sin from pass A's scratch."""
    m16 = 0xFFFF
    m32 = (m16 << 16) | m16
    sbase = int(st)
    cbase = int(cfg)
    stride = cfg[C_STRIDE]
    nch = cfg[C_NCH]
    phasor = cfg[C_FLAGS] & F_PHASOR
    rawsum = cfg[C_FLAGS] & F_RAW
    pend0 = st[S_PEND]
    c = 1
    while c < nch:
        cp = ptr32(cbase + 4 * C_CH + 4 * C_CW * c)
        sp = ptr32(sbase + 4 * S_CH + 4 * S_W * c)
        off = cp[CF_OFF]
        shift = cp[CF_SHIFT]
        rnd = cp[CF_ROUND]
        m = cp[CF_SIGN]
        m2 = m + m - 1
        clip = cp[CF_CLIP]
        mode = cp[CF_DMODE]
        ca = cp[CF_DA] - DA_BIAS
        h1 = sp[H_1] - BIAS
        h2 = sp[H_2] - BIAS
        h3 = sp[H_3] - BIAS
        ay = sp[H_AY] - BIAS
        y = sp[H_Y] - BIAS
        sx = sp[A_SX]
        ncl = sp[A_CLIP]
        mx = sp[A_MAX]
        mn = sp[A_MIN]
        xxh = sp[A_XX]
        xxl = sp[A_XX + 1]
        vih = sp[A_VI]
        vil = sp[A_VI + 1]
        xch = sp[A_XC]
        xcl = sp[A_XC + 1]
        xsh = sp[A_XS]
        xsl = sp[A_XS + 1]
        rwh = sp[A_RAW]
        rwl = sp[A_RAW + 1]
        pend = pend0
        i = start
        j = start * stride + off
        while i < stop:
            if pend:
                raw = sp[H_RAW] - RAW_BIAS
                clipped = sp[H_CLIPF]
                y = sp[H_Y] - BIAS
                pend = 0
            else:
                raw = ((buf[j] & m2) ^ m) - m
                x = (raw + rnd) >> shift
                clipped = 0
                if raw >= clip:
                    clipped = 1
                elif 0 - raw >= clip:
                    clipped = 1
                if mode == 0:
                    y = x
                else:
                    if mode == 1:
                        u = x
                        up = h1
                    elif mode == 2:
                        u = h1
                        up = h2
                    else:
                        u = h2
                        up = h3
                    y = up + ((ca * (u - ay)) >> 15)
                    if y > Y_MAX:
                        y = Y_MAX
                    elif y < 0 - Y_MAX:
                        y = 0 - Y_MAX
                    ay = y
                    h3 = h2
                    h2 = h1
                h1 = x
            k = i - start
            sx += y
            ncl += clipped
            yb = y + BIAS
            if yb > mx:
                mx = yb
            if yb < mn:
                mn = yb
            p = y * y
            lo = (xxl + p) & m32
            if uint(lo) < uint(xxl):
                xxh += 1
            xxl = lo
            p = y * (scr[k] - BIAS)           # SCR_V (0) + k
            lo = (vil + p) & m32
            vih += p >> 31
            if uint(lo) < uint(vil):
                vih += 1
            vil = lo
            if phasor:
                p = y * (scr[SCR_COS + k] - BIAS)
                lo = (xcl + p) & m32
                xch += p >> 31
                if uint(lo) < uint(xcl):
                    xch += 1
                xcl = lo
                p = y * (scr[SCR_SIN + k] - BIAS)
                lo = (xsl + p) & m32
                xsh += p >> 31
                if uint(lo) < uint(xsl):
                    xsh += 1
                xsl = lo
            if rawsum:
                lo = (rwl + raw) & m32
                rwh += raw >> 31
                if uint(lo) < uint(rwl):
                    rwh += 1
                rwl = lo
            i += 1
            j += stride
        sp[H_1] = h1 + BIAS
        sp[H_2] = h2 + BIAS
        sp[H_3] = h3 + BIAS
        sp[H_AY] = ay + BIAS
        sp[H_Y] = y + BIAS
        sp[A_SX] = sx
        sp[A_CLIP] = ncl
        sp[A_MAX] = mx
        sp[A_MIN] = mn
        sp[A_XX] = xxh
        sp[A_XX + 1] = xxl
        sp[A_VI] = vih
        sp[A_VI + 1] = vil
        sp[A_XC] = xch
        sp[A_XC + 1] = xcl
        sp[A_XS] = xsh
        sp[A_XS + 1] = xsl
        sp[A_RAW] = rwh
        sp[A_RAW + 1] = rwl
        c += 1


@micropython.viper
def _at_crossing(st: ptr32, cfg: ptr32, buf: ptr32, stop: int):
    """Crossing at sample `stop`: reduce/delay every channel of that sample
    once, keep y[stop-1] (H_YP) and y[stop] (H_Y) for the interpolation;
    the next call accumulates it (S_PEND) without reducing it again."""
    sbase = int(st)
    cbase = int(cfg)
    stride = cfg[C_STRIDE]
    nch = cfg[C_NCH]
    base = stop * stride
    c = 0
    while c < nch:
        cp = ptr32(cbase + 4 * C_CH + 4 * C_CW * c)
        sp = ptr32(sbase + 4 * S_CH + 4 * S_W * c)
        m = cp[CF_SIGN]
        raw = ((buf[base + cp[CF_OFF]] & (m + m - 1)) ^ m) - m
        a = raw
        if a < 0:
            a = 0 - a
        sp[H_CLIPF] = 1 if a >= cp[CF_CLIP] else 0
        sp[H_RAW] = raw + RAW_BIAS
        x = (raw + cp[CF_ROUND]) >> cp[CF_SHIFT]
        h1 = sp[H_1] - BIAS
        h2 = sp[H_2] - BIAS
        mode = cp[CF_DMODE]
        if mode == 0:
            y = x
        else:
            if mode == 1:
                u = x
                up = h1
            elif mode == 2:
                u = h1
                up = h2
            else:
                u = h2
                up = sp[H_3] - BIAS
            y = up + (((cp[CF_DA] - DA_BIAS) * (u - sp[H_AY] + BIAS)) >> 15)
            if y > Y_MAX:
                y = Y_MAX
            elif y < 0 - Y_MAX:
                y = 0 - Y_MAX
            sp[H_AY] = y + BIAS
            sp[H_3] = h2 + BIAS
            sp[H_2] = h1 + BIAS
        sp[H_1] = x + BIAS
        sp[H_YP] = sp[H_Y]
        sp[H_Y] = y + BIAS
        c += 1
    st[S_PEND] = 1


@micropython.viper
def kernel(st, cfg, buf, tab, start: int, n: int, scr) -> int:
    """One unit over the samples [start, n) of buf (at most SCR_N): pass A
    (channel 0 and the reference) finds where the cycle ends, pass B runs the
    other channels up to there, and at a crossing every channel's crossing
    sample is reduced once more. Returns the stop index; S_REASON says why.
    st, cfg (array 'i'), buf (array 'i' frames), tab (TAB), scr (SCRATCH)."""
    stop = int(_pass_a(0, 0, 0, st, cfg, buf, tab, start, n, scr))
    _pass_b(0, 0, 0, st, cfg, buf, start, stop, scr)
    s = ptr32(st)
    if s[S_REASON] == STOP_ZC:
        _at_crossing(st, cfg, buf, stop)
    else:
        s[S_PEND] = 0
    return stop


@micropython.viper
def acc_add(dst: ptr32, src: ptr32, nch: int):
    """dst += src over the sum words of a unit (same layout as the state):
    plain words add, peaks combine, (hi, lo) pairs add with carry."""
    m16 = 0xFFFF
    m32 = (m16 << 16) | m16
    dst[S_SC] = dst[S_SC] + src[S_SC]
    dst[S_SS] = dst[S_SS] + src[S_SS]
    k = S_CC
    while k < S_CH:
        lo = dst[k + 1]
        lo2 = (lo + src[k + 1]) & m32
        hi = dst[k] + src[k]
        if uint(lo2) < uint(lo):
            hi += 1
        dst[k] = hi
        dst[k + 1] = lo2
        k += 2
    c = 0
    while c < nch:
        s = S_CH + S_W * c
        dst[s + A_SX] = dst[s + A_SX] + src[s + A_SX]
        dst[s + A_CLIP] = dst[s + A_CLIP] + src[s + A_CLIP]
        if src[s + A_MAX] > dst[s + A_MAX]:
            dst[s + A_MAX] = src[s + A_MAX]
        if src[s + A_MIN] < dst[s + A_MIN]:
            dst[s + A_MIN] = src[s + A_MIN]
        k = s + A_XX
        while k < s + A_N:
            lo = dst[k + 1]
            lo2 = (lo + src[k + 1]) & m32
            hi = dst[k] + src[k]
            if uint(lo2) < uint(lo):
                hi += 1
            dst[k] = hi
            dst[k + 1] = lo2
            k += 2
        c += 1


@micropython.viper
def acc_reset(st: ptr32, nch: int):
    """Zero the sum words of a unit; peaks to their empty values."""
    k = S_SC
    while k < S_CH:
        st[k] = 0
        k += 1
    c = 0
    while c < nch:
        s = S_CH + S_W * c
        k = s
        while k < s + A_N:
            st[k] = 0
            k += 1
        st[s + A_MAX] = 0                  # max + BIAS: below any sample
        st[s + A_MIN] = PEAK_EMPTY_MIN     # min + BIAS: above any sample
        c += 1


@micropython.viper
def sum_pass(src: ptr32, n: int, sstride: int, terms: ptr32, nterms: int, dst: ptr32,
             dstride: int, doff: int, mode: int):
    """Sample-wise weighted sum of channels into dst[i*dstride + doff].
    terms: T_W words per term (T_OFF source offset, T_GAIN gain Q12, T_PRE
    pre shift, T_POST post shift, T_SIGN sign bit); out = sum(((x >> pre) *
    gain) >> post). SP_WRITE writes, SP_ADD adds; both clamp the result to
    +/-CODE24_MAX (24-bit full scale: an overrange sum reads as clipped).
    |x >> pre| < 2^18 and gain < 2^13 keep each product < 2^31.
    SP_COPY copies one channel (the first term's T_OFF) unchanged.
    Term-major (one pass per term, its parameters in locals); sums are kept
    biased by SUM_BIAS in dst between passes (ptr32 loads zero-extend on the
    64-bit port), unbiased and clamped by the last pass."""
    lim = CODE24_MAX
    if mode == SP_COPY:
        i = 0
        j = terms[T_OFF]
        o = doff
        while i < n:
            dst[o] = src[j]
            j += sstride
            o += dstride
            i += 1
        return
    t = 0
    while t < nterms:
        q = T_W * t
        off = terms[q + T_OFF]
        g = terms[q + T_GAIN]
        pre = terms[q + T_PRE]
        post = terms[q + T_POST]
        m = terms[q + T_SIGN]
        m2 = m + m - 1
        first = 1 if (t == 0 and mode == SP_WRITE) else 0
        unbias = SUM_BIAS if (t == 0 and mode == SP_ADD) else 0
        last = 1 if t == nterms - 1 else 0
        i = 0
        j = off
        o = doff
        while i < n:
            x = ((src[j] & m2) ^ m) - m
            v = ((x >> pre) * g) >> post
            if first:
                acc = v
            elif unbias:
                # SP_ADD: dst holds a finished (clamped, 24-bit) earlier sum
                acc = (((dst[o] & 0xFFFFFF) ^ 0x800000) - 0x800000) + v
            else:
                acc = dst[o] - SUM_BIAS + v
            if last:
                if acc > lim:
                    acc = lim
                elif acc < 0 - lim:
                    acc = 0 - lim
                dst[o] = acc
            else:
                dst[o] = acc + SUM_BIAS
            j += sstride
            o += dstride
            i += 1
        t += 1


@micropython.viper
def cycle_ms(st: ptr32, nch: int, cnt: int, out: ptr32):
    """Per-cycle integer figures for protection, no floats: out[CM_W*c + CM_MS]
    = floor(sum x^2 / cnt) (mean square, reduced codes^2) and, for c >= 1,
    out[CM_W*c + CM_VI] = sum v*x / cnt truncated (mean instantaneous power,
    codes^2). Exact long division of the 64-bit sums by 16-bit digits (every
    step < 2^31)."""
    if cnt <= 0:
        return
    m16 = 0xFFFF
    m32 = (m16 << 16) | m16
    c = 0
    while c < nch:
        s = S_CH + S_W * c
        k = 0
        while k < CM_W:
            if k == CM_VI and c == 0:
                out[CM_VI] = 0
                break
            w = s + A_XX if k == CM_MS else s + A_VI
            hi = st[w]
            lo = st[w + 1]
            neg = 0
            if k == CM_VI:
                # sign of the 64-bit value is bit 31 of hi
                if (hi >> 31) & 1:
                    neg = 1
                    lo = ((lo ^ m32) + 1) & m32
                    hi = (hi ^ m32) & m32
                    if lo == 0:
                        hi = (hi + 1) & m32
            r = hi % cnt
            r = (r << 16) | ((lo >> 16) & 0xFFFF)
            q2 = r // cnt
            r = r - q2 * cnt
            r = (r << 16) | (lo & 0xFFFF)
            q1 = r // cnt
            q = (q2 << 16) | q1
            if neg:
                q = 0 - q
            out[CM_W * c + k] = q
            k += 1
        c += 1


# dft output (array 'i', DFT_W words): split accumulators
DFT_RE = const(0)       # sum x cos (hi, lo)
DFT_IM = const(2)       # sum x sin (hi, lo)
DFT_W = const(4)


@micropython.viper
def capture(src: ptr32, start: int, end: int, stride: int, off: int, m: int, shift: int, dst: ptr16,
            pos: int, cap: int) -> int:
    """Harmonics' capture: reduce src[i*stride + off] (signed `m`-sign-bit
    codes) for i in [start, end) into dst[pos..] (int16 via ptr16) as the
    kernel reduces them (no calibration delay); returns the new pos (stops at
    cap)."""
    rnd = 1 << (shift - 1)
    i = start
    while i < end:
        if pos >= cap:
            break
        raw = ((src[i * stride + off] & (m + m - 1)) ^ m) - m
        dst[pos] = (raw + rnd) >> shift
        pos += 1
        i += 1
    return pos


@micropython.viper
def dft(x: ptr16, n: int, ph0: int, step: int, tab: ptr16, out: ptr32):
    """Harmonics (metrology/harmonics.py): out[DFT_RE], out[DFT_IM] (split hi,
    lo) = sum x[j] * cos/sin(ph0 + j*step) (Q30 phase, the kernel's
    interpolated Q15 reference), x int16 (read zero-extended, sign restored
    here). 32-bit safe like the kernel."""
    m16 = 0xFFFF
    m32 = (m16 << 16) | m16
    m30 = PH_MASK
    rh = 0
    rl = 0
    ih = 0
    il = 0
    ph = ph0
    j = 0
    while j < n:
        v = ((x[j] & 0xFFFF) ^ 0x8000) - 0x8000
        k = ph >> PH_IDX
        fr = (ph >> PH_FR) & FR_MASK
        c0 = tab[k] - TAB_BIAS
        cv = c0 + (((tab[k + 1] - TAB_BIAS - c0) * fr) >> 15)
        k = (k + TAB_SIN) & TAB_MASK
        s0 = tab[k] - TAB_BIAS
        sv = s0 + (((tab[k + 1] - TAB_BIAS - s0) * fr) >> 15)
        p = v * cv
        lo2 = (rl + p) & m32
        rh += p >> 31
        if uint(lo2) < uint(rl):
            rh += 1
        rl = lo2
        p = v * sv
        lo2 = (il + p) & m32
        ih += p >> 31
        if uint(lo2) < uint(il):
            ih += 1
        il = lo2
        ph = (ph + step) & m30
        j += 1
    out[DFT_RE] = rh
    out[DFT_RE + 1] = rl
    out[DFT_IM] = ih
    out[DFT_IM + 1] = il

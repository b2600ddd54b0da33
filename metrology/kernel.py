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

BIAS = const(65536)
RAW_BIAS = const(0x10000000)  # raw codes are within +/-2^27
MAX_CH = const(8)
TAB_BITS = const(8)
TAB_N = const(256)


def cfg_words(nch):
    return C_CH + C_CW * nch


def state_words(nch):
    return S_CH + S_W * nch


def make_table():
    """Q15 cosine table, 256 entries + 1 (wrap), stored + 32768 in array('H')
    (ptr16 loads zero-extend, so the kernel subtracts the bias)."""
    t = array("H", bytes(2 * (TAB_N + 1)))
    for k in range(TAB_N + 1):
        t[k] = 32768 + int(round(32767 * math.cos(2 * math.pi * k / TAB_N)))
    return t


TAB = make_table()


SCR_N = const(256)      # samples per kernel call (scratch: v, cos, sin of each)


def make_scratch():
    return array("i", bytes(4 * 3 * SCR_N))


SCRATCH = make_scratch()


@micropython.viper
def kernel(st: ptr32, cfg: ptr32, buf: ptr32, tab: ptr16, start: int, n: int, scr: ptr32) -> int:
    # Two passes over the samples [start, stop): pass A runs channel 0 (the
    # cycle-defining voltage) and the reference, finds where the cycle ends
    # (stop) and leaves v, cos, sin per sample in the scratch array; pass B
    # then runs each other channel over the same samples with its state in
    # local variables (viper keeps locals in registers or the stack: far
    # cheaper than indexed array accesses). The first locals (st, cfg, buf)
    # live in registers.
    m16 = 0xFFFF
    m32 = (m16 << 16) | m16          # 2^32 - 1 here, -1 (a no-op mask) on a 32-bit MCU
    m30 = 0x3FFFFFFF
    if n > start + 256:
        n = start + 256
    sbase = int(st)
    cbase = int(cfg)
    stride = cfg[0]
    nch = cfg[1]
    hyst = cfg[2]
    minlen = cfg[3]
    flags = cfg[4]
    zc = flags & 1
    phasor = flags & 2
    rawsum = flags & 4
    cnt = st[0]
    ph = st[1]
    step = st[2]
    armed = st[3]
    limit = st[4]
    pend = st[5]
    reason = 0
    # ------------------------------------------------------------ pass A
    off = cfg[8]
    shift = cfg[9]
    rnd = cfg[10]
    m = cfg[11]
    m2 = m + m - 1
    clip = cfg[12]
    mode = cfg[13]
    ca = cfg[14] - 32768
    h1 = st[30] - 65536
    h2 = st[31] - 65536
    h3 = st[36] - 65536
    ay = st[37] - 65536
    y = st[32] - 65536
    sx = st[16]
    ncl = st[17]
    mx = st[18]
    mn = st[19]
    xxh = st[20]
    xxl = st[21]
    xch = st[24]
    xcl = st[25]
    xsh = st[26]
    xsl = st[27]
    rwh = st[28]
    rwl = st[29]
    sc = st[8]
    ss = st[9]
    cch = st[10]
    ccl = st[11]
    s2h = st[12]
    s2l = st[13]
    csh = st[14]
    csl = st[15]
    i = start
    j = start * stride + off
    while i < n:
        if pend:
            # the crossing sample: reduced and delayed already (slow path below)
            raw = st[35] - 0x10000000
            clipped = st[34]
            y = st[32] - 65536
        else:
            if cnt >= limit:
                reason = 2
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
                if yn > 32768:
                    yn = 32768
                elif yn < -32768:
                    yn = -32768
            if zc:
                if yn < 0 - hyst:
                    armed = 1
                elif armed != 0:
                    if yn >= 0:
                        armed = 0
                        if cnt >= minlen:
                            reason = 1
                            break
            if mode != 0:
                ay = yn
                h3 = h2
                h2 = h1
            h1 = x
            y = yn
        k = i - start
        scr[k] = y + 65536             # biased: ptr32 loads zero-extend on 64-bit
        cv = 0
        sv = 0
        if phasor:
            t = ph >> 22
            fr = (ph >> 7) & 0x7FFF
            c0 = tab[t] - 32768
            cv = c0 + (((tab[t + 1] - 32768 - c0) * fr) >> 15)
            t = (t + 192) & 255
            s0 = tab[t] - 32768
            sv = s0 + (((tab[t + 1] - 32768 - s0) * fr) >> 15)
            scr[256 + k] = cv + 65536
            scr[512 + k] = sv + 65536
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
        yb = y + 65536
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
    st[30] = h1 + 65536
    st[31] = h2 + 65536
    st[36] = h3 + 65536
    st[37] = ay + 65536
    st[32] = y + 65536
    st[16] = sx
    st[17] = ncl
    st[18] = mx
    st[19] = mn
    st[20] = xxh
    st[21] = xxl
    st[24] = xch
    st[25] = xcl
    st[26] = xsh
    st[27] = xsl
    st[28] = rwh
    st[29] = rwl
    st[8] = sc
    st[9] = ss
    st[10] = cch
    st[11] = ccl
    st[12] = s2h
    st[13] = s2l
    st[14] = csh
    st[15] = csl
    # ------------------------------------------------------------ pass B
    pend0 = st[5]
    c = 1
    while c < nch:
        cp = ptr32(cbase + 32 + 32 * c)
        sp = ptr32(sbase + 64 + 96 * c)
        off = cp[0]
        shift = cp[1]
        rnd = cp[2]
        m = cp[3]
        m2 = m + m - 1
        clip = cp[4]
        mode = cp[5]
        ca = cp[6] - 32768
        h1 = sp[14] - 65536
        h2 = sp[15] - 65536
        h3 = sp[20] - 65536
        ay = sp[21] - 65536
        y = sp[16] - 65536
        sx = sp[0]
        ncl = sp[1]
        mx = sp[2]
        mn = sp[3]
        xxh = sp[4]
        xxl = sp[5]
        vih = sp[6]
        vil = sp[7]
        xch = sp[8]
        xcl = sp[9]
        xsh = sp[10]
        xsl = sp[11]
        rwh = sp[12]
        rwl = sp[13]
        pend = pend0
        i = start
        j = start * stride + off
        while i < stop:
            if pend:
                raw = sp[19] - 0x10000000
                clipped = sp[18]
                y = sp[16] - 65536
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
                    if y > 32768:
                        y = 32768
                    elif y < -32768:
                        y = -32768
                    ay = y
                    h3 = h2
                    h2 = h1
                h1 = x
            k = i - start
            sx += y
            ncl += clipped
            yb = y + 65536
            if yb > mx:
                mx = yb
            if yb < mn:
                mn = yb
            p = y * y
            lo = (xxl + p) & m32
            if uint(lo) < uint(xxl):
                xxh += 1
            xxl = lo
            p = y * (scr[k] - 65536)
            lo = (vil + p) & m32
            vih += p >> 31
            if uint(lo) < uint(vil):
                vih += 1
            vil = lo
            if phasor:
                p = y * (scr[256 + k] - 65536)
                lo = (xcl + p) & m32
                xch += p >> 31
                if uint(lo) < uint(xcl):
                    xch += 1
                xcl = lo
                p = y * (scr[512 + k] - 65536)
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
        sp[14] = h1 + 65536
        sp[15] = h2 + 65536
        sp[20] = h3 + 65536
        sp[21] = ay + 65536
        sp[16] = y + 65536
        sp[0] = sx
        sp[1] = ncl
        sp[2] = mx
        sp[3] = mn
        sp[4] = xxh
        sp[5] = xxl
        sp[6] = vih
        sp[7] = vil
        sp[8] = xch
        sp[9] = xcl
        sp[10] = xsh
        sp[11] = xsl
        sp[12] = rwh
        sp[13] = rwl
        c += 1
    # ------------------------------------------------------------ the stop
    if reason == 1:
        # Crossing at sample `stop`: reduce/delay every channel of that sample
        # once, keep y[stop-1] (H_YP) and y[stop] (H_Y) for the interpolation;
        # the next call accumulates it (pend) without reducing it again.
        base = stop * stride
        c = 0
        while c < nch:
            cp = ptr32(cbase + 32 + 32 * c)
            sp = ptr32(sbase + 64 + 96 * c)
            m = cp[3]
            raw = ((buf[base + cp[0]] & (m + m - 1)) ^ m) - m
            a = raw
            if a < 0:
                a = 0 - a
            sp[18] = 1 if a >= cp[4] else 0
            sp[19] = raw + 0x10000000
            x = (raw + cp[2]) >> cp[1]
            h1 = sp[14] - 65536
            h2 = sp[15] - 65536
            mode = cp[5]
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
                    up = sp[20] - 65536
                y = up + (((cp[6] - 32768) * (u - sp[21] + 65536)) >> 15)
                if y > 32768:
                    y = 32768
                elif y < -32768:
                    y = -32768
                sp[21] = y + 65536
                sp[20] = h2 + 65536
                sp[15] = h1 + 65536
            sp[14] = x + 65536
            sp[17] = sp[16]
            sp[16] = y + 65536
            c += 1
        pend = 1
    else:
        pend = 0
    st[0] = cnt
    st[1] = ph
    st[3] = armed
    st[5] = pend
    st[6] = reason
    return stop


@micropython.viper
def acc_add(dst: ptr32, src: ptr32, nch: int):
    """dst += src over the sum words of a unit (same layout as the state):
    plain words add, peaks combine, (hi, lo) pairs add with carry."""
    m16 = 0xFFFF
    m32 = (m16 << 16) | m16
    dst[8] = dst[8] + src[8]
    dst[9] = dst[9] + src[9]
    k = 10
    while k < 16:
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
        s = 16 + 24 * c
        dst[s] = dst[s] + src[s]
        dst[s + 1] = dst[s + 1] + src[s + 1]
        if src[s + 2] > dst[s + 2]:
            dst[s + 2] = src[s + 2]
        if src[s + 3] < dst[s + 3]:
            dst[s + 3] = src[s + 3]
        k = s + 4
        while k < s + 14:
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
    k = 8
    while k < 16:
        st[k] = 0
        k += 1
    c = 0
    while c < nch:
        s = 16 + 24 * c
        k = s
        while k < s + 14:
            st[k] = 0
            k += 1
        st[s + 2] = 0                  # max + BIAS: below any sample
        st[s + 3] = 0x20000            # min + BIAS: above any sample
        c += 1


@micropython.viper
def sum_pass(src: ptr32, n: int, sstride: int, terms: ptr32, nterms: int, dst: ptr32,
             dstride: int, doff: int, mode: int):
    """Sample-wise weighted sum of channels into dst[i*dstride + doff].
    terms: [src offset, gain Q12, pre shift, post shift, sign bit] per term;
    out = sum(((x >> pre) * gain) >> post). mode 0 writes, 1 adds; both clamp
    the result to +/-(2^23 - 1) (24-bit full scale: an overrange sum reads as
    clipped). |x >> pre| < 2^18 and gain < 2^13 keep each product < 2^31.
    mode 2 copies one channel (terms[0] offset) unchanged.
    Term-major (one pass per term, its parameters in locals); sums are kept
    biased by 2^28 in dst between passes (ptr32 loads zero-extend on the
    64-bit port), unbiased and clamped by the last pass."""
    lim = 0x7FFFFF
    if mode == 2:
        i = 0
        j = terms[0]
        o = doff
        while i < n:
            dst[o] = src[j]
            j += sstride
            o += dstride
            i += 1
        return
    t = 0
    while t < nterms:
        q = 5 * t
        off = terms[q]
        g = terms[q + 1]
        pre = terms[q + 2]
        post = terms[q + 3]
        m = terms[q + 4]
        m2 = m + m - 1
        first = 1 if (t == 0 and mode == 0) else 0
        unbias = 0x10000000 if (t == 0 and mode == 1) else 0
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
                # mode 1: dst holds a finished (clamped, 24-bit) earlier sum
                acc = (((dst[o] & 0xFFFFFF) ^ 0x800000) - 0x800000) + v
            else:
                acc = dst[o] - 0x10000000 + v
            if last:
                if acc > lim:
                    acc = lim
                elif acc < 0 - lim:
                    acc = 0 - lim
                dst[o] = acc
            else:
                dst[o] = acc + 0x10000000
            j += sstride
            o += dstride
            i += 1
        t += 1


@micropython.viper
def cycle_ms(st: ptr32, nch: int, cnt: int, out: ptr32):
    """Per-cycle integer figures for protection, no floats: out[2c] = floor(sum
    x^2 / cnt) (mean square, reduced codes^2) and, for c >= 1, out[2c + 1] =
    sum v*x / cnt truncated (mean instantaneous power, codes^2). Exact long
    division of the 64-bit sums by 16-bit digits (every step < 2^31)."""
    if cnt <= 0:
        return
    m16 = 0xFFFF
    m32 = (m16 << 16) | m16
    c = 0
    while c < nch:
        s = 16 + 24 * c
        k = 0
        while k < 2:
            if k == 1 and c == 0:
                out[1] = 0
                break
            hi = st[s + 4 + 2 * k]
            lo = st[s + 5 + 2 * k]
            neg = 0
            if k == 1:
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
            out[2 * c + k] = q
            k += 1
        c += 1

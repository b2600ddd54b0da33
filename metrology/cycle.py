# Cycle maths: the kernel's integer sums -> physical quantities (floats).
#
# Used per window (10/12-cycle and 1 s: everything). All quantities are
# homogeneous in the raw codes, so calibration gains are multipliers on the
# results (k = units per reduced LSB, gain included) and phase calibration
# lives in the kernel (sub-sample delays).
#
# Exact-cycle integration. The kernel sums samples j_a .. j_b-1 between two
# positive zero crossings at t_a = j_a - 1 + f_a and t_b = j_b - 1 + f_b (f in
# (0, 1], linear interpolation). The sample sum is the midpoint rule over
# [j_a - 1/2, j_b - 1/2]; the partial cells at both ends are corrected with the
# value interpolated at the crossing:
#     Q = S + (1/2 - f_a) q(x_a) - (1/2 - f_b) q(x_b),  N = (j_b - j_a) + f_b - f_a
# so a non-integer number of samples per cycle does not bias rms or power.
# Inside a window the corrections of consecutive cycles cancel, so a window
# only needs the values at its first and last crossing. A cycle closed by the
# length limit (no crossing) ends at j - 1/2 (f = 1/2: no correction).
#
# Fundamental and THD: per unit the kernel sums the Q15 reference cos/sin and
# their products; per channel sum x, x*cos, x*sin. Least squares of
# x ~ b0 + b1*cos + b2*sin over the window's samples gives the fundamental
# phasor and, as the residual, the distortion power, so
#     THD = sqrt(residual power - rounding noise) / fundamental rms
# (the rounding noise of the 16-bit reduction, LSB^2/12 per sample, and of the
# calibration allpass is known: left in, it reads as ~0.55 % THD at 1 % of
# a 16 A rating)
# with no window-edge error and only a second-order sensitivity to the
# reference's own small errors (a DFT magnitude would err to first order, and
# THD = sqrt(rms^2 - h1^2)/h1 magnifies an h1 error e into sqrt(2e)).
import math
from metrology.kernel import (S_SC, S_SS, S_CC, S_S2, S_CS, S_CH, S_W, A_SX, A_CLIP, A_MAX, A_MIN,
                              A_XX, A_VI, A_XC, A_XS, A_RAW, H_Y, H_YP, BIAS)

TWO32 = 4294967296.0
SQRT_HALF = 0.7071067811865476
REF = 32767.0          # Q15 amplitude of the reference
REF_RMS = REF * SQRT_HALF
REF2_HALF = REF * REF * 0.5

# Per-channel window results (a float32 array view per unit: R_* + R_N * channel)
R_RMS = 0       # rms (units)
R_MEAN = 1      # mean (units; DC mode: offset-corrected)
R_P = 2         # active power with channel 0 (W), currents only
R_RE = 3        # fundamental phasor, rms units: real part
R_IM = 4        #   imaginary part
R_THD = 5       # THD (%)
R_PEAK = 6      # peak |x| (units)
R_CREST = 7     # peak / rms
R_CLIP = 8      # clipped samples
R_N = 9


def w64(a, k):
    """Value of the split accumulator (hi, lo) at a[k], a[k+1] as a float."""
    lo = a[k + 1]
    if lo < 0:
        lo += TWO32
    return a[k] * TWO32 + lo


def w64i(a, k):
    """The split accumulator at a[k], a[k+1] as an exact int (no float made:
    a small int on the 64-bit unix port; the float math using it converts once)."""
    return (a[k] << 32) + (a[k + 1] & 0xFFFFFFFF)


def crossing_values(st, nch, f, out):
    """Each channel's value interpolated at the crossing between the previous
    sample (H_YP) and the current one (H_Y), f in (0, 1]."""
    for c in range(nch):
        s = S_CH + S_W * c
        yp = st[s + H_YP] - BIAS
        out[c] = yp + f * (st[s + H_Y] - BIAS - yp)


def peak(acc, s, centre):
    """Largest excursion of the channel at acc[s..] from `centre` (reduced
    codes: the AC mean, or the DC offset), >= 0."""
    pk = acc[s + A_MAX] - BIAS - centre
    mn = centre - (acc[s + A_MIN] - BIAS)
    if mn > pk:
        pk = mn
    return pk if pk > 0 else 0.0


def _inv3(g00, g01, g02, g11, g12, g22):
    """Inverse of a symmetric 3x3 matrix as its 6 distinct entries, or None."""
    c00 = g11 * g22 - g12 * g12
    c01 = g02 * g12 - g01 * g22
    c02 = g01 * g12 - g02 * g11
    det = g00 * c00 + g01 * c01 + g02 * c02
    if det == 0:
        return None
    r = 1.0 / det
    return (c00 * r, c01 * r, c02 * r, (g00 * g22 - g02 * g02) * r, (g01 * g02 - g00 * g12) * r,
            (g00 * g11 - g01 * g01) * r)


def window_values(acc, nch, cnt, fa, fb, xa, xb, k, out, phasor=True, power=True, qn=None):
    """AC window: every channel's R_* results into out (R_N per channel).
    acc: window sums (kernel state layout); cnt: samples; fa/fb: fractions of
    the first and last crossing; xa/xb: channel values there; k: units per
    reduced LSB (calibration gain included); power=False skips R_P (derived
    units: branch sums, computed neutral); qn: per channel the rounding
    noise power per sample (reduced codes^2) the residual holds besides the
    distortion (the 16-bit reduction's 1/12, the allpass's), taken off the THD. Every float operation allocates on
    MicroPython (garbage the GC must collect): the sums stay exact ints until
    their first float use, and per-unit factors are hoisted out of the loop."""
    n = cnt + fb - fa
    if n <= 0:
        return
    wa = 0.5 - fa
    wb = 0.5 - fb
    inv = 1.0 / n
    gi = None
    if phasor and cnt > 8:
        gi = _inv3(float(cnt), float(acc[S_SC]), float(acc[S_SS]), w64(acc, S_CC), w64(acc, S_CS),
                   w64(acc, S_S2))
    if gi is not None:
        g0, g1, g2, g3, g4, g5 = gi
        # THD in %: 100 * sqrt((residual / cnt) / (h1sq * REF^2 / 2))
        tk = 20000.0 / (cnt * REF * REF)
    va = xa[0]
    vb = xb[0]
    mv = 0.0
    k0 = k[0]
    for c in range(nch):
        s = S_CH + S_W * c
        o = R_N * c
        if acc[s + A_XX] == 0 and acc[s + A_XX + 1] == 0:
            # an all-zero channel (unused outlet): nothing to compute
            for r in range(R_N):
                out[o + r] = 0.0
            out[o + R_CLIP] = acc[s + A_CLIP]
            continue
        a = xa[c]
        b = xb[c]
        kc = k[c]
        sx = acc[s + A_SX]
        sxx = w64i(acc, s + A_XX)
        wa_a = wa * a
        wb_b = wb * b
        m = (sx + wa_a - wb_b) * inv
        ms = (sxx + wa_a * a - wb_b * b) * inv - m * m
        rms = math.sqrt(ms) if ms > 0 else 0.0
        out[o + R_RMS] = rms * kc
        out[o + R_MEAN] = m * kc
        if c == 0:
            mv = m
            out[o + R_P] = 0.0
        elif power:
            out[o + R_P] = ((w64i(acc, s + A_VI) + wa_a * va - wb_b * vb) * inv - mv * m) * (k0 * kc)
        else:
            out[o + R_P] = 0.0
        # peak of the AC waveform: from the mean (an ADC offset is not a peak)
        pk = peak(acc, s, m)
        out[o + R_PEAK] = pk * kc
        out[o + R_CREST] = pk / rms if rms > 0 else 0.0
        out[o + R_CLIP] = acc[s + A_CLIP]
        if gi is None:
            out[o + R_RE] = 0.0
            out[o + R_IM] = 0.0
            out[o + R_THD] = 0.0
            continue
        r1 = w64i(acc, s + A_XC)
        r2 = w64i(acc, s + A_XS)
        b0 = g0 * sx + g1 * r1 + g2 * r2
        b1 = g1 * sx + g3 * r1 + g4 * r2
        b2 = g2 * sx + g4 * r1 + g5 * r2
        h1sq = b1 * b1 + b2 * b2
        res = sxx - b0 * sx - b1 * r1 - b2 * r2
        if qn is not None:
            res -= cnt * qn[c]
        # x ~ A cos(th + phi) = A cos(phi) cos(th) - A sin(phi) sin(th): phasor b1 - j b2
        sc = REF_RMS * kc
        out[o + R_RE] = b1 * sc
        out[o + R_IM] = -b2 * sc
        out[o + R_THD] = math.sqrt(res * tk / h1sq) if res > 0 and h1sq > 0 else 0.0

# DC mode (ETSI ES 202 336-12 interfaces A2 -48/54 V and A3 380 V): the same
# kernel with zero-crossing detection and the fundamental reference off, so
# every "cycle" is a fixed nominal-length block (fs / f_nom samples, 20 ms) and
# windows are 10 blocks (200 ms) and 1 s, contiguous: energy covers all time.
# The kernel also sums the raw codes exactly (F_RAW) so constant inputs are
# measured to 24-bit resolution and the offset calibration (raw codes)
# applies to the mean:
#     mean = sum(raw) / n - offset
#     rms^2 = mean^2 + var,   var from the 16-bit sums (ripple, e.g. the
#                             ETSI fast waveform: load swinging at 1 kHz)
#     P = mean_v * mean_i + cov(v, i)
# Reported: vrms/irms (true rms), v_dc/i_dc (means), p_w, ipeak, crest.
import math
from metrology.kernel import S_CH, S_W, A_SX, A_CLIP, A_XX, A_VI, A_RAW
from metrology.cycle import (w64, peak, R_RMS, R_MEAN, R_P, R_RE, R_IM, R_THD, R_PEAK, R_CREST, R_CLIP,
                             R_N)


def dc_values(acc, nch, cnt, k, kraw, offs, out):
    """DC window (fixed length, no crossings): true rms, mean and power with
    offset calibration. The mean comes from the exact raw-code sums (24-bit
    resolution: a constant input does not dither the 16-bit reduction), the
    ripple from the reduced sums:
        rms^2 = mean^2 + var,  P = mean_v * mean_i + cov(v, i).
    kraw: units per raw code; offs: offsets in raw codes."""
    inv = 1.0 / cnt
    mv = 0.0
    mvr = 0.0
    for c in range(nch):
        s = S_CH + S_W * c
        kc = k[c]
        mr = (w64(acc, s + A_RAW) * inv - offs[c]) * kraw[c]
        m = acc[s + A_SX] * inv
        var = w64(acc, s + A_XX) * inv - m * m
        if var < 0:
            var = 0.0
        o = R_N * c
        out[o + R_RMS] = math.sqrt(mr * mr + var * kc * kc)
        out[o + R_MEAN] = mr
        if c == 0:
            mv = m
            mvr = mr
            out[o + R_P] = 0.0
        else:
            cov = w64(acc, s + A_VI) * inv - mv * m
            out[o + R_P] = mvr * mr + cov * k[0] * kc
        orr = offs[c] * kraw[c] / kc if kc else 0.0      # offset in reduced codes
        out[o + R_PEAK] = peak(acc, s, orr) * kc
        rr = out[o + R_RMS]
        out[o + R_CREST] = out[o + R_PEAK] / rr if rr > 0 else 0.0
        out[o + R_CLIP] = acc[s + A_CLIP]
        out[o + R_RE] = 0.0
        out[o + R_IM] = 0.0
        out[o + R_THD] = 0.0

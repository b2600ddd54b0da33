# Inverse-time overcurrent (the thermal part of a breaker) as an I^2t bucket.
#
# Curve: t(I) = K / ((I / Ip)^2 - 1) for I > Ip (IEC 60255 form with
# exponent 2): the bucket integrates (I^2/Ip^2 - 1) dt while I > Ip and trips
# when it holds K seconds; below pickup it empties linearly (a full bucket in
# cool_s), so repeated overloads are remembered like a warm bimetal.
#
# The bucket runs in integers inside the fast path (protection/fastpath.py):
# the per-poll mean square of the samples (reduced codes x = code >> shift,
# squares / 512) is normalised to the pickup in Q8, r = 256 (I/Ip)^2, and the
# bucket adds (r - 256) * n for the n samples of the poll. Integrating the
# samples' squares is exact for any waveform: no rms-per-cycle approximation.
#
# 32-bit bounds (MCU): ms <= 2^21 (|x| <= 2^15), r = (ms << 8) // ipu clamped
# to 2^22 (128 x pickup), so (r - 256) * n < 2^30 for n <= 256 frames;
# K <= 250 s gives kq <= 5.2e8 and acc + step < 2^31;
# the cooling step (Q4) is <= 16 * 256 * K / cool_s <= 2^20, times n <= 2^28.


def trip_time_s(i_a, pickup_a, k_s):
    """Seconds to trip at a constant I (None at or below pickup)."""
    m = (i_a / pickup_a) ** 2 - 1.0
    if m <= 0:
        return None
    return k_s / m


def bucket_params(pickup_a, k_s, cool_s, a_per_x, fs):
    """Integer parameters of one element: (ipu, kq, cool per sample in Q4).
    a_per_x: amps per reduced code (code >> shift)."""
    ipx = pickup_a / a_per_x
    ipu = int(ipx * ipx / 512.0 + 0.5)
    if ipu < 1:
        ipu = 1
    kq = int(k_s * fs * 256.0)
    cool = int(16.0 * kq / (cool_s * fs) + 0.5)     # Q4 per sample
    if cool < 1:
        cool = 1
    return ipu, kq, cool


def pickup_actual(ipu, a_per_x):
    """The pickup the integer ipu really encodes (rounding of ipu), in amps."""
    return (ipu * 512.0) ** 0.5 * a_per_x

# Switch-on inrush: capture and classification.
#
# From the switch-on command the fast path records a 1 ms peak envelope of the
# outlet current (fastpath.env_pass) for inrush_window_ms. While the window is
# open the outlet's instantaneous level is raised to inrush_max_a (a capacitor
# charging is allowed to exceed the normal level) and the engine checks each
# poll that a high current is decaying: a current still above the normal
# instantaneous level 10 ms after it started is fault-like (closing onto a
# short) and trips at once. At the window's end classify() turns the envelope
# into the event's evidence:
#   start    first 1 ms bin with current (ms after the command)
#   peak     largest bin (A)
#   settled  steady peak: largest bin of the last half cycle of the window (A)
#   duration ms from the start to the last bin above 1.25 x settled + flow level
#   shape    half-cycle maxima after the start: "decaying" (each <= the one
#            before, 5 % tolerance), "sustained" (not settled when the window
#            ends: the last two whole half cycles differ by more than 10 %, or
#            the current is still above the threshold) or "rising"
#   normal   decaying and settled inside the window
# A switch-on whose envelope never rises above the settled level has no
# inrush (resistive loads, zero-cross closing of a capacitor load) and is not
# logged as one.


def classify(env, nbins, a_per_code, flow_code, half_bins=10):
    """env: 1 ms peak bins (codes). Returns None (no current) or a dict."""
    start = -1
    for k in range(nbins):
        if env[k] > flow_code:
            start = k
            break
    if start < 0:
        return None
    peak = 0
    pk_bin = start
    for k in range(start, nbins):
        if env[k] > peak:
            peak = env[k]
            pk_bin = k
    tail0 = nbins - half_bins
    if tail0 < start:
        tail0 = start
    settled = 0
    for k in range(tail0, nbins):
        if env[k] > settled:
            settled = env[k]
    thr = settled * 1.25 + flow_code
    last = -1
    for k in range(start, nbins):
        if env[k] > thr:
            last = k
    inrush = last >= 0
    duration = (last - start + 1) if inrush else 0
    # half-cycle maxima from the start
    hmax = []
    k = start
    while k < nbins:
        m = 0
        for j in range(k, min(k + half_bins, nbins)):
            if env[j] > m:
                m = env[j]
        hmax.append(m)
        k += half_bins
    shape = "decaying"
    for j in range(1, len(hmax)):
        if hmax[j] > hmax[j - 1] * 1.05 + flow_code:
            shape = "rising"
            break
    # settled: the last two whole half cycles agree within 10 %
    unsettled = False
    if inrush:
        k = len(hmax) - 1
        if (nbins - start) % half_bins:
            k -= 1          # the last half cycle is incomplete
        if k < 1 or hmax[k - 1] > hmax[k] * 1.1 + flow_code or last >= tail0:
            unsettled = True
    if unsettled:
        shape = "sustained"
    return {"start_ms": start, "peak_a": peak * a_per_code, "peak_ms": pk_bin - start,
            "settled_a": settled * a_per_code, "duration_ms": duration, "shape": shape,
            "inrush": inrush, "normal": not unsettled and shape == "decaying"}

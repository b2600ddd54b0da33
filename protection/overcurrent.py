# Overcurrent elements and their selectivity.
#
# Every outlet, branch and inlet phase is an element of the fast path with an
# instantaneous part (peak |i| above a level for a number of consecutive
# polls) and an inverse-time part (protection/curves.py). Selectivity:
#   instantaneous  outlet: the poll that sees the peak (decision within one
#                  poll of onset, < 1 mains cycle); branch: after
#                  branch_inst_delay_ms of consecutive polls (the outlet's relay
#                  has opened by then if it could clear the fault); inlet: after
#                  inlet_inst_delay_ms (the branch has acted by then). Besides
#                  this time grading, an outlet that trips on a short blocks its
#                  branch and inlet phase until the samples after its relay's
#                  opening time (+ a poll) have been seen (zone-selective
#                  interlocking, engine.blocked): processing delays between a
#                  poll and the coil cannot make the branch act for a fault its
#                  outlet is clearing; a fault that outlives the block (welded
#                  contacts) is acted on by the next stage at once;
#   inverse time   K graded outlet < branch < inlet (validated), so for any
#                  current the outlet's bucket fills first;
#   shedding       a branch/inlet bucket crossing shed_bucket_pct sheds the
#                  lowest-priority outlet at once (the slow tick sheds on a
#                  sustained rms above the shed level, see engine._slow).
# A branch or inlet acts by opening its outlets (it has no switch of its own):
# TRIP opens every closed outlet under it, SHED the lowest-priority ones.
from protection.fastpath import (EW, E_PEAK, E_INST, E_IPU, E_KQ, E_ACC, E_COOL, E_R, E_FL,
                                 E_SHEDQ, E_IDLY, E_FLOW, E_EN, E_FIRST, E_N,
                                 F_PU_EDGE, F_TIMED, F_INST, F_SHED, F_DROP, F_NEWS)
from protection.curves import bucket_params
from core.acquisition import POLL_MS
from core import codes

INST_OFF = 0x7FFFFFFF


def configure(eng):
    """Integer parameters of every element from the settings (and derating)."""
    s = eng.settings
    fp = eng.fp
    st = fp.st
    fs = eng.fs
    iu = eng.i_upc
    for n in fp.outlets:
        o = eng.o[n]
        b = fp.eidx[n] * EW
        pick = s["outlet_pickup_a"]
        if o.derated and o.allow_a < pick:
            pick = o.allow_a if o.allow_a > 0.5 else 0.5
        o.pickup_a = pick
        ipu, kq, cool = bucket_params(pick, s["outlet_curve_k_s"], s["outlet_cool_s"], iu * 256, fs)
        st[b + E_IPU] = ipu
        st[b + E_KQ] = kq
        st[b + E_COOL] = cool
        st[b + E_SHEDQ] = INST_OFF
        st[b + E_IDLY] = 1
        st[b + E_FLOW] = int(s["flow_a"] / iu)
        st[b + E_INST] = int((s["inrush_max_a"] if o.iw is not None else s["outlet_inst_a"]) / iu)
        o.inst_code = int(s["outlet_inst_a"] / iu)
    polls = lambda ms: (ms + POLL_MS - 1) // POLL_MS
    for br in fp.branches:
        b = fp.eidx[br] * EW
        ipu, kq, cool = bucket_params(s["branch_pickup_a"], s["branch_curve_k_s"], s["branch_cool_s"],
                                      iu * (1 << fp.bshift[br]), fs)
        st[b + E_IPU] = ipu
        st[b + E_KQ] = kq
        st[b + E_COOL] = cool
        st[b + E_SHEDQ] = kq * s["shed_bucket_pct"] // 100
        st[b + E_INST] = int(s["branch_inst_a"] / iu)
        st[b + E_IDLY] = polls(s["branch_inst_delay_ms"])
        st[b + E_EN] = 1
    if eng.ade_ips:
        ips = eng.ade_ips
        for ph in fp.phases:
            b = fp.eidx[ph] * EW
            ipu, kq, cool = bucket_params(s["inlet_pickup_a"], s["inlet_curve_k_s"], s["inlet_cool_s"],
                                          ips * 4096, fs)
            st[b + E_IPU] = ipu
            st[b + E_KQ] = kq
            st[b + E_COOL] = cool
            st[b + E_SHEDQ] = kq * s["shed_bucket_pct"] // 100
            st[b + E_INST] = int(s["inlet_inst_a"] / ips)
            st[b + E_IDLY] = polls(s["inlet_inst_delay_ms"])
            st[b + E_EN] = 1


def element_amps(eng, name):
    """(amps per peak code, amps per reduced code) of an element (outlet
    number, branch name or inlet phase name)."""
    fp = eng.fp
    if name in fp.branches:
        return eng.i_upc, eng.i_upc * (1 << fp.bshift[name])
    if name in fp.phases:
        return eng.ade_ips, eng.ade_ips * 4096
    return eng.i_upc, eng.i_upc * 256


def rms_now(eng, name):
    """rms of the last poll (A), from the bucket's ratio."""
    fp = eng.fp
    b = fp.eidx[name] * EW
    apc, apx = element_amps(eng, name)
    ipu = fp.st[b + E_IPU]
    return (fp.st[b + E_R] / 256.0 * ipu * 512.0) ** 0.5 * apx


def on_news(eng):
    """Called when the fast path reports news: outlets first, then branches,
    then the inlet (selectivity inside one poll too)."""
    fp = eng.fp
    st = fp.st
    s = eng.settings
    for i in range(fp.ne):
        b = i * EW
        fl = st[b + E_FL]
        if not (fl & F_NEWS) or not st[b + E_EN]:
            continue
        if i < fp.n_out:
            n = fp.outlets[i]
            name = n
        elif i < fp.n_out + len(fp.branches):
            n = None
            name = fp.branches[i - fp.n_out]
        else:
            n = None
            name = fp.phases[i - fp.n_out - len(fp.branches)]
        apc, apx = element_amps(eng, name)
        peak = st[b + E_PEAK] * apc
        if fl & F_INST:
            first = st[b + E_FIRST]
            nn = st[b + E_N]
            # decision latency inside this poll: onset frame to the poll's end
            lat_ms = (nn - first + 1) * 1000.0 / eng.fs if first else 0.0
            window = lat_ms + (st[b + E_IDLY] - 1) * POLL_MS
            if n is not None:
                eng.trip(n, codes.EV_OC_INSTANT, "short",
                         {"peak": peak, "window_ms": window, "value": peak, "limit": st[b + E_INST] * apc},
                         latch=True)
            elif eng.blocked(name):
                continue            # an outlet under it is clearing the fault
            else:
                eng.element_trip(name, codes.EV_OC_INSTANT, "short",
                                 {"peak": peak, "window_ms": window, "value": peak,
                                  "limit": st[b + E_INST] * apc})
            continue
        if fl & F_TIMED:
            irms = rms_now(eng, name)
            if n is not None:
                o = eng.o[n]
                lim = o.pickup_a
                cause = "derated" if o.derated else "overload"
                eng.trip(n, codes.EV_OC_TIMED, cause,
                         {"peak": peak, "window_ms": eng.pickup_ms(name), "value": irms, "limit": lim},
                         latch=False)
            else:
                lim = s[("inlet" if name in fp.phases else "branch") + "_pickup_a"]
                eng.element_trip(name, codes.EV_OC_TIMED, "overload",
                                 {"peak": peak, "window_ms": eng.pickup_ms(name), "value": irms, "limit": lim})
            continue
        if fl & F_SHED and n is None:
            eng.shed(name, "bucket", rms_now(eng, name), st[b + E_ACC] * 100 // st[b + E_KQ])
        if fl & F_PU_EDGE:
            eng.pickup(name, n, peak, 0.0)
        if fl & F_DROP:
            eng.dropoff(name)

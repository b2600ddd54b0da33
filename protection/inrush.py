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
#
# Inrush (the part) keeps the open windows (InrushWindow, one per outlet
# switching on) and the outlets energising: a power-up sequence starts an
# outlet only while fewer than seq_max_concurrent are (reserve/count).
from core import codes
from protection.fastpath import E_INST, E_FLOW, E_FFIRST, E_N, E_SQ, E_PEAK
from protection.logvalues import rounded

CAPTURES = 8              # outlets whose inrush shape is captured at once


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
    for k in range(start, nbins):
        if env[k] > peak:
            peak = env[k]
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
    return {"start_ms": start, "peak_a": peak * a_per_code, "settled_a": settled * a_per_code, "duration_ms": duration, "shape": shape,
            "inrush": inrush, "normal": not unsettled and shape == "decaying"}


class InrushWindow:
    """One outlet's switch-on being recorded."""

    def __init__(self, element, samples, length, capture, who, poll):
        self.element = element    # overcurrent.OutletElement (its normal instantaneous level)
        self.samples = samples    # window samples seen (negative: the command lies ahead of them)
        self.length = length      # window samples
        self.onset = -1           # window sample where current started (-1: not yet)
        self.sq_sum = 0           # sum of the polls' E_SQ >> 7 (I^2t)
        self.capture = capture    # fastpath.EnvCapture or None (no slot, no data)
        self.who = who
        self.poll = poll          # engine poll count at the opening (counts from the next poll)


class Inrush:
    def __init__(self, eng):
        self.eng = eng
        self.open_windows = []    # outlet states with a window (filtered every poll)
        self.energising = {}      # outlets reserved by a sequence or inside their window

    # --- the sequencer's budget --------------------------------------------------------
    def reserve(self, n):
        self.energising[n] = True

    def unreserve(self, n):
        if n in self.energising and self.eng.outlet_state[n].inrush is None:
            del self.energising[n]

    def count(self):
        return len(self.energising)

    # --- windows ---------------------------------------------------------------------
    def configure(self):
        """(Re)size the envelope captures to inrush_window_ms (1 ms bins)."""
        eng = self.eng
        fp = eng.fastpath
        bins = eng.settings["inrush_window_ms"]
        if fp.env_bins != bins:
            busy = [cap.outlet for cap in fp.captures if cap.outlet]
            for n in busy:
                self.close(eng.outlet_state[n], False)
            fp.alloc_env(bins, CAPTURES)

    def raise_levels(self):
        """Outlets inside their window keep the inrush level after a reconfiguration."""
        eng = self.eng
        code = int(eng.settings["inrush_max_a"] / eng.amps_per_code)
        for o in self.open_windows:
            if o.inrush is not None:
                eng.fastpath.blocks[o.inrush.element.word + E_INST] = code

    def open(self, o, element, d, who):
        """Switch-on of o commanded d samples after the last poll's frames."""
        eng = self.eng
        fp = eng.fastpath
        s = eng.settings
        self.energising[o.n] = True
        cap = fp.env_start(o.n, d)
        o.inrush = InrushWindow(element, -d, s["inrush_window_ms"] * eng.fs // 1000, cap, who, eng.polls)
        self.open_windows.append(o)
        fp.blocks[element.word + E_INST] = int(s["inrush_max_a"] / eng.amps_per_code)

    def poll(self, nnew):
        """Every poll while windows are open: onset, I^2t, a switch-on onto a
        fault, the window's end."""
        eng = self.eng
        blocks = eng.fastpath.blocks
        fs = eng.fs
        for o in self.open_windows:
            w = o.inrush
            if w is None or w.poll == eng.polls:
                continue
            b = w.element.word
            w.samples += nnew
            if nnew and blocks[b + E_N]:
                if w.onset < 0 and blocks[b + E_FFIRST]:
                    w.onset = w.samples - nnew + blocks[b + E_FFIRST] - 1
                w.sq_sum += blocks[b + E_SQ] >> 7
                # a high current 10 ms after it started is not an inrush
                inst = w.element.inst_code
                if w.onset >= 0 and w.samples - nnew - w.onset >= fs // 100 and blocks[b + E_PEAK] > inst:
                    iu = eng.amps_per_code
                    eng.trip(o.n, codes.EV_OC_INSTANT, "switch-on fault",
                             {"peak": blocks[b + E_PEAK] * iu, "window_ms": (w.samples - w.onset) * 1000 // fs,
                              "value": blocks[b + E_PEAK] * iu, "limit": inst * iu}, latch=True)
                    continue
            if w.samples >= w.length:
                self.close(o, True)
        if self.open_windows:
            self.open_windows = [o for o in self.open_windows if o.inrush is not None]

    def close(self, o, report):
        """End o's window; with report, classify and log the inrush."""
        w = o.inrush
        if w is None:
            return
        o.inrush = None
        eng = self.eng
        fp = eng.fastpath
        b = w.element.word
        fp.blocks[b + E_INST] = w.element.inst_code
        if o.n in self.energising:
            del self.energising[o.n]
        cap = w.capture
        res = None
        if cap is not None:
            if report:
                res = classify(cap.env, fp.env_bins, eng.amps_per_code, fp.blocks[b + E_FLOW])
            cap.outlet = 0
        if not report or res is None or not res["inrush"]:
            return
        i2t = w.sq_sum * 128 * 512.0 * (eng.amps_per_code * 256) ** 2 / eng.fs
        v = rounded({"peak": res["peak_a"], "window_ms": res["duration_ms"], "value": res["settled_a"],
                     "limit": eng.settings["inrush_max_a"], "shape": res["shape"],
                     "start_ms": res["start_ms"], "i2t": i2t, "who": w.who})
        if res["normal"]:
            eng.events.emit(codes.EV_INRUSH, codes.SEV_INFO, "O%d" % o.n, v, "logged")
            return
        stop = eng.sequence_involves(o.n)
        eng.events.emit(codes.EV_INRUSH_ABNORMAL, codes.SEV_WARNING, "O%d" % o.n, v,
                        "stop" if stop else "logged")
        if stop:
            eng.stop_sequence(o.n, "O%d inrush %s" % (o.n, res["shape"]))

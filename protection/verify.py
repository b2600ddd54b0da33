# Verification of every actuation, from current and feedback (see the table
# in protection/switching.py's header): a VerifyWindow per outlet from the
# command to its verdict (ok / close_failed / open_failed / welded / unknown).
# outlets.py waits for the verdict of its operation (Protection.verdict).
#
# A window opened by a short-circuit trip is "clearing": until the samples
# after the relay's opening time have been seen, the outlet's branch and
# inlet phase hold their instantaneous elements (zone-selective interlocking).
import time
from core import codes
from core.acquisition import POLL_MS
from protection.fastpath import E_N, E_PEAK, E_FLOWN
from protection.logvalues import rounded
from protection import switching

FLOW_SAMPLES = 3          # samples above the flow level in a poll: current flows
WELD_POLLS = 2            # consecutive polls with current after an open: welded


class VerifyWindow:
    """One actuation under verification."""

    def __init__(self, on, samples, settle, end, who, op, t_ms, poll, clearing):
        self.on = on
        self.samples = samples    # samples since the command, at the end of the last poll seen
        self.settle = settle      # samples before the contacts can have moved
        self.end = end            # samples at the window's end
        self.who = who
        self.op = op              # the outlets module's operation number
        self.flow_polls = 0       # consecutive polls with current (after an open)
        self.t_ms = t_ms          # ticks_ms of the command
        self.peak = 0             # largest current code seen
        self.poll = poll          # engine poll count at the opening: a window opened inside
                                  # consume() counts from the next poll (older frames)
        self.clearing = clearing  # opened by a short-circuit trip
        self.verdict = None       # switching.OK, ... once decided

    def clearing_short(self):
        return self.clearing and not self.on and self.samples < self.settle


class Verification:
    def __init__(self, eng):
        self.eng = eng
        self.open_windows = []    # outlet states with a window (filtered every poll)

    def open(self, o, on, who, op, d):
        """The coil of o is energised now, d samples after the last poll's frames."""
        eng = self.eng
        s = eng.settings
        fs = eng.fs
        if o.desc.get("switch") == "latching":
            act = s["relay_operate_ms"] if on else s["relay_release_ms"]
        else:
            act = 1000.0 / (2 * eng.desc.RATINGS.get("f_nom", 50.0))
        # + one poll: the command's place on the sample time line is known to
        # within the time between taking a poll's frames and this call
        settle = int((act + 2.0 + POLL_MS) * fs / 1000)
        end = settle + s["verify_ms"] * fs // 1000
        old = o.verify
        if old is None:
            self.open_windows.append(o)
        # an open replacing a window keeps its clearing mark
        clearing = (not on) and old is not None and old.clearing
        o.verify = VerifyWindow(on, -d, settle, end, who, op, eng.clock.ticks_ms(), eng.polls, clearing)
        o.verified = None

    def busy(self, o):
        return o.verify is not None

    def verdict(self, o, op):
        w = o.verified
        if w is None or w.op != op:
            return None
        return w.verdict

    def clearing(self, outlets):
        """Is an outlet of these clearing a short (zone-selective interlocking)?
        Counted on the sample time line, so processing delays between a poll
        and the coil cannot make the next stage act first."""
        states = self.eng.outlet_state
        for n in outlets:
            w = states[n].verify
            if w is not None and w.clearing_short():
                return True
        return False

    def poll(self, nnew):
        for o in self.open_windows:
            if o.verify is not None:
                self._check(o, nnew)
        self.open_windows = [o for o in self.open_windows if o.verify is not None]

    def _check(self, o, nnew):
        eng = self.eng
        w = o.verify
        if w.poll == eng.polls:
            return
        w.samples += nnew
        el = w.samples
        fp = eng.fastpath
        blocks = fp.blocks
        b = fp.word(o.n)
        meas = fp.group_present.get(o.desc.get("group")) and nnew > 0 and blocks[b + E_N] > 0
        if meas and blocks[b + E_PEAK] > w.peak:
            w.peak = blocks[b + E_PEAK]
        now = eng.clock.ticks_ms()
        late = time.ticks_diff(now, w.t_ms) > (w.end * 1000 // eng.fs) + 4 * POLL_MS
        if meas and el - nnew < w.settle and el < w.end:
            return
        if not meas and not late:
            return
        on = w.on
        fb = eng.outlets.switches[o.n].feedback()
        at_end = el >= w.end or late
        flow = meas and blocks[b + E_FLOWN] >= FLOW_SAMPLES
        state = None
        if not meas:
            state = switching.OK if fb == on else switching.UNKNOWN
        elif on:
            if fb:
                state = switching.OK
            elif at_end:
                state = switching.UNKNOWN if flow else switching.CLOSE_FAILED
        else:
            if flow:
                w.flow_polls += 1
                if w.flow_polls >= WELD_POLLS or at_end:
                    state = switching.WELDED
            else:
                w.flow_polls = 0
                if not fb:
                    state = switching.OK
                elif at_end:
                    state = switching.OPEN_FAILED
        if state is None:
            return
        o.verify = None
        w.verdict = state
        o.verified = w
        vals = {"feedback": fb, "who": w.who, "window_ms": time.ticks_diff(now, w.t_ms)}
        if meas:
            vals["current_a"] = w.peak * eng.amps_per_code
        else:
            vals["evidence"] = "feedback"      # no current measurement
        if state == switching.OK:
            c = codes.EV_OUTLET_ON if on else codes.EV_OUTLET_OFF
            eng.events.emit(c, codes.SEV_INFO, "O%d" % o.n, rounded(vals, c), "switched")
            return
        vals["commanded"] = on
        eng.switch_failed(o, state, vals)

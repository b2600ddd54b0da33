# Switching: zero-cross timing, the staggered power-up sequencer with an
# inrush budget, and verification of every actuation.
#
# Zero-cross timing (latching relays): the fast path keeps, per group voltage,
# the age and period of its last positive-going zero crossing (sub-sample).
# A close is commanded so that the contacts close relay_close_angle_deg after
# a voltage zero, given the relay's operate time (relay_operate_ms; 0 deg:
# at the zero, least inrush for capacitor-input loads and least contact
# stress; -1: untimed). Operator opens are timed to a voltage zero the same way
# (relay_release_ms); protection trips open at once. Triac SSRs need nothing:
# the zero-cross optotriac starts conduction at a voltage zero and the triac
# stops at a current zero by itself.
#
# Verification: from the switch command a window of settle + verify_ms:
#   settle  relay: operate/release time + 2 ms; triac: a half cycle + 2 ms;
#           plus one poll (the command's place on the sample time line is
#           known to within the processing time of a poll)
#   on      feedback closed (with or without current)        -> ok
#           current flows but feedback open, at window end  -> unknown
#           neither, at window end                          -> close_failed
#   off     no current and feedback open                    -> ok
#           current in two consecutive polls after settle   -> welded
#           no current but feedback closed, at window end   -> open_failed
#   no current measurement (chip absent/stalled): feedback alone, ok or unknown.
# welded, open_failed and unknown lock the outlet out (the state after them is
# uncertain); close_failed is reported and the outlet stays off. The windows
# and verdicts are protection/verify.py's.
import time
import asyncio
from core import codes
from core.acquisition import POLL_MS

OK = "ok"
CLOSE_FAILED = "close_failed"
OPEN_FAILED = "open_failed"
WELDED = "welded"
UNKNOWN = "unknown"



class FailedVerdict:
    """How a failed switching is logged and what it does to the outlet."""

    def __init__(self, code, severity, action):
        self.code = code
        self.severity = severity
        self.action = action      # "lockout" | "none"


FAILED = {CLOSE_FAILED: FailedVerdict(codes.EV_CLOSE_FAILED, codes.SEV_ALARM, "none"),
          OPEN_FAILED: FailedVerdict(codes.EV_OPEN_FAILED, codes.SEV_ALARM, "lockout"),
          WELDED: FailedVerdict(codes.EV_WELDED, codes.SEV_CRITICAL, "lockout"),
          UNKNOWN: FailedVerdict(codes.EV_SWITCH_UNKNOWN, codes.SEV_ALARM, "lockout")}


def zero_cross_delay_us(age_q8, per_q8, since_us, fs, angle_deg, actuation_ms, margin_us=300):
    """Microseconds from now until the coil must be energised so that the
    contacts move angle_deg after a voltage zero. age_q8: Q8 samples from the
    last crossing to the first frame of the next poll (at the last poll's time,
    since_us ago). None when no crossing has been seen."""
    if age_q8 >= 0x3FFFFFFF or per_q8 <= 0:
        return None
    usps = 1000000.0 / fs
    per_us = per_q8 / 256.0 * usps
    t = -since_us - age_q8 / 256.0 * usps + angle_deg / 360.0 * per_us
    op = actuation_ms * 1000.0
    while t < op + margin_us:
        t += per_us
    return int(t - op + 0.5)


class Sequence:
    """A running power-up sequence; the engine stops it on an abnormal inrush,
    a trip or a failed switching of one of its outlets."""

    def __init__(self, outlets):
        self.outlets = list(outlets)
        self.abort = None         # why it stopped (None: running)
        self.started = []

    def involves(self, n):
        """Would something on outlet n stop this (still running) sequence?"""
        return not self.abort and n in self.outlets

    def stop_for(self, n, reason):
        """Stop because of outlet n, if it is one of ours. True when stopped."""
        if self.involves(n):
            self.abort = reason
            return True
        return False


async def power_on_sequence(outs, prot, outlets, stagger_ms, who, delays=None):
    """Staggered switch-on: at most seq_max_concurrent outlets energising
    (inside their inrush window) at once, at least stagger_ms between starts,
    each outlet not before its own power-on delay from the sequence start
    (`delays`: outlet -> ms, or True for the configured
    outlets.N.power_on_delay_ms); stops on an abnormal signature."""
    clock = outs.clock
    ev = outs.events
    budget = prot.settings["seq_max_concurrent"]
    seq = Sequence(outlets)
    prot.begin_sequence(seq)
    ev.emit(codes.EV_SEQ_START, codes.SEV_INFO, "outlets",
            {"count": len(seq.outlets), "stagger_ms": stagger_ms, "budget": budget, "who": who}, "switched")
    if delays is True:          # the configured per-outlet power-on delays
        delays = {n: prot.settings.power_on_delay_ms(n) for n in seq.outlets}
    if delays:
        # each outlet at its own delay from the start: in delay order (stable)
        order = list(range(len(seq.outlets)))
        order.sort(key=lambda i: (delays.get(seq.outlets[i], 0), i))
        seq.outlets = [seq.outlets[i] for i in order]
    t0 = clock.ticks_ms()
    last = None
    tasks = []
    for n in seq.outlets:
        if seq.abort:
            break
        if delays is not None and n in delays:
            w = time.ticks_diff(time.ticks_add(t0, delays[n]), clock.ticks_ms())
            if w > 0:
                await clock.sleep_ms(w)
        if last is not None and stagger_ms > 0:
            w = time.ticks_diff(time.ticks_add(last, stagger_ms), clock.ticks_ms())
            if w > 0:
                await clock.sleep_ms(w)
        while prot.energising() >= budget and not seq.abort:
            await clock.sleep_ms(POLL_MS)
        if seq.abort:
            break
        prot.reserve(n)
        seq.started.append(n)
        tasks.append(asyncio.create_task(outs.set(n, True, who)))
        last = clock.ticks_ms()
        await clock.sleep_ms(0)
    for t in tasks:
        try:
            await t
        except Exception:
            pass
    prot.end_sequence()
    if seq.abort:
        ev.emit(codes.EV_SEQ_ABORT, codes.SEV_WARNING, "outlets",
                {"started": len(seq.started), "count": len(seq.outlets), "reason": seq.abort, "who": who},
                "stop")
    else:
        ev.emit(codes.EV_SEQ_DONE, codes.SEV_INFO, "outlets",
                {"started": len(seq.started), "count": len(seq.outlets), "who": who}, "switched")
    return seq

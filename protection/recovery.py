# Each outlet's place on the protection ladder and the way back from a trip.
#
#   normal    switch-on allowed (unless too hot or LIMIT)
#   tripped   latched (short circuit, residual current, branch/inlet short):
#             switch-on refused until an audited reset(n, who)
#   cooldown  timed, thermal, branch/inlet timed trips: switch-on refused for
#             retry_cooldown_s x retry_backoff^(k-1) (k-th trip inside
#             lockout_window_s), then allowed; retry_max automatic re-closes
#   lockout   lockout_trips trips inside the window, a weld, a failed open, an
#             unknown switch state: refused until reset; the reset itself is
#             refused while current flows / the contacts read closed
#   shed      opened by load shedding: switch-on allowed unless LIMIT
#
# Refusals of a switch-on are logged at most once a second per outlet, the
# others counted into the next event (`suppressed`).
import time
import asyncio
from core import codes
from protection.fastpath import E_ACC, E_FLOWN
from protection.logvalues import rounded
from protection import switching

NORMAL = "normal"
TRIPPED = "tripped"
COOLDOWN = "cooldown"
LOCKOUT = "lockout"
SHED = "shed"
REFUSE_EVERY_MS = 1000    # at most one refusal event per outlet per second (the rest counted)
RETRY_CAUSES = ("overload", "derated", "thermal")
SWITCH_FAULTS = (switching.WELDED, switching.OPEN_FAILED, switching.UNKNOWN)


class OutletState:
    """One outlet's place on the ladder. What it is (switch, group, branch,
    phase, NTC, rating) is the board description's `desc`; its switching
    windows are the verification (protection/verify.py) and inrush
    (protection/inrush.py) parts' records. Kept to 12 fields: a MicroPython
    instance's attribute table grows in steps (one per outlet, 24 of them)."""

    def __init__(self, n, desc):
        self.n = n
        self.desc = desc           # the board's OUTLETS[n]
        self.state = NORMAL
        self.cause = None
        self.trip_times = []       # ticks_ms of its trips inside lockout_window_s
        self.cool_until = 0        # ticks_ms: end of the cooldown
        self.retries = 0           # automatic re-closes since the window emptied
        self.last_refusal_ms = None
        self.suppressed = 0        # refusals counted since the last refusal event
        self.verify = None         # verify.VerifyWindow while an actuation is checked
        self.verified = None       # the last window that reached its verdict
        self.inrush = None         # inrush.InrushWindow while a switch-on is recorded


class Recovery:
    def __init__(self, eng):
        self.eng = eng

    def count_trip(self, o, now):
        """A trip of outlet o now: returns how many trips its window holds."""
        win = self.eng.settings["lockout_window_s"] * 1000
        o.trip_times = [t for t in o.trip_times if time.ticks_diff(now, t) < win]
        o.trip_times.append(now)
        return len(o.trip_times)

    def cooldown_s(self, k):
        """Cooldown after the k-th trip inside the window."""
        s = self.eng.settings
        return s["retry_cooldown_s"] * s["retry_backoff"] ** (k - 1)

    def lockout(self, o, cause, vals):
        o.state = LOCKOUT
        o.cause = cause
        v = dict(vals)
        v["state"] = "lockout"
        v["cause"] = cause
        self.eng.events.emit(codes.EV_LOCKOUT, codes.SEV_ALARM, "O%d" % o.n, v, "lockout")

    def refuse(self, o, who, why, act, extra, now):
        """Log a refused switch-on (rate-limited). Returns False."""
        if o.last_refusal_ms is not None and time.ticks_diff(now, o.last_refusal_ms) < REFUSE_EVERY_MS:
            o.suppressed += 1
            return False
        o.last_refusal_ms = now
        v = {"who": who, "state": o.state, "cause": why if o.cause is None else o.cause}
        v.update(extra)
        if o.suppressed:
            v["suppressed"] = o.suppressed
            o.suppressed = 0
        self.eng.events.emit(codes.EV_COMMAND_REFUSED, codes.SEV_WARNING, "O%d" % o.n,
                             rounded(v, codes.EV_COMMAND_REFUSED), act)
        return False

    def retry(self, now):
        """Slow tick: forget old trips; re-close outlets whose cooldown ended
        (timed and thermal trips, at most retry_max times)."""
        eng = self.eng
        s = eng.settings
        win = s["lockout_window_s"] * 1000
        for n, o in eng.outlet_state.items():
            if o.trip_times and time.ticks_diff(now, o.trip_times[0]) >= win:
                o.trip_times = [t for t in o.trip_times if time.ticks_diff(now, t) < win]
                if not o.trip_times:
                    o.retries = 0
            if o.state != COOLDOWN or o.retries >= s["retry_max"]:
                continue
            if o.cause not in RETRY_CAUSES:
                continue
            if time.ticks_diff(now, o.cool_until) < 0:
                continue
            if o.cause == "thermal" and eng.thermal.still_hot(o):
                continue
            o.retries += 1
            eng.events.emit(codes.EV_RETRY, codes.SEV_NOTICE, "O%d" % n,
                            {"attempt": o.retries, "limit": s["retry_max"], "cause": o.cause,
                             "state": "cooldown"}, "retry")
            asyncio.create_task(eng.outlets.set(n, True, "auto-retry"))

    def reset(self, o, who, reason):
        """Operator reset (audited); see Protection.reset."""
        eng = self.eng
        n = o.n
        blocks = eng.fastpath.blocks
        b = eng.fastpath.word(n)
        what = "reset O%d %s (%s)%s" % (n, o.state, o.cause, (": " + reason) if reason else "")
        sw = eng.outlets.switches[n]
        if o.state == NORMAL:
            eng.audit.log("command", who, what + ": nothing to reset", "ok")
            return True
        why = None
        if o.verify is not None:
            why = "verification pending"
        elif o.state == LOCKOUT and o.cause in SWITCH_FAULTS:
            if blocks[b + E_FLOWN] >= 3 and not sw.commanded:
                why = "current flows"
            elif sw.feedback() and not sw.commanded:
                why = "contacts closed"
        if why is not None:
            eng.audit.log("command", who, "%s: refused, %s" % (what, why), "refused")
            eng.events.emit(codes.EV_PROT_RESET, codes.SEV_WARNING, "O%d" % n,
                            {"who": who, "state": o.state, "cause": o.cause, "result": "refused: " + why},
                            "refused")
            return False
        aseq = eng.audit.log("command", who, what, "ok")
        before = o.state
        o.state = NORMAL
        cause = o.cause
        o.cause = None
        o.trip_times = []
        o.retries = 0
        o.last_refusal_ms = None
        o.suppressed = 0
        blocks[b + E_ACC] = 0
        eng.events.emit(codes.EV_PROT_RESET, codes.SEV_NOTICE, "O%d" % n,
                        {"who": who, "state": before, "cause": cause, "audit": aseq, "result": "ok"}, "reset")
        return True

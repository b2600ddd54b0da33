# Outlet switches with feedback: bistable (latching) relays and zero-cross
# triac SSRs, behind one interface so protection treats them alike:
#
#   sw.request(on, now_ms=None)  start an actuation
#   sw.service(now_ms)           end a coil pulse when it has lasted long enough
#   sw.commanded                 last requested state (bool)
#   sw.feedback()                feedback pin: relay aux contact 1 = closed,
#                                SSR opto 1 = outlet energised
#   sw.busy                      coil pulse in progress
#   sw.actuations, sw.errors     counters
#
# This module only drives and reads pins. Whether the outlet really switched is
# judged by protection from feedback, current and voltage.
import time
from drivers.errors import ErrorCounters

class LatchingRelay:
    """Bistable relay with separate set (close) and reset (open) coils.

    A coil is driven high for coil_pulse_ms; the contacts then stay where they
    are without power. The two coils are never driven together. `clock`
    (anything with ticks_ms()) supplies the start time of a pulse when
    request() is called without now_ms; default time.ticks_ms."""

    kind = "latching"

    def __init__(self, set_pin, reset_pin, feedback_pin, *, coil_pulse_ms=30, name="relay",
                 clock=None):
        self.set_pin = set_pin
        self.reset_pin = reset_pin
        self.feedback_pin = feedback_pin
        self.coil_pulse_ms = coil_pulse_ms
        self.name = name
        self.errors = ErrorCounters()
        self._ticks_ms = clock.ticks_ms if clock is not None else time.ticks_ms
        set_pin(0)
        reset_pin(0)
        self._coil = None       # pin being pulsed, or None
        self._t0 = 0
        self.actuations = 0
        # Contacts keep their state over a reboot: start from what they report.
        self.commanded = bool(feedback_pin())

    @property
    def busy(self):
        return self._coil is not None

    def feedback(self):
        return bool(self.feedback_pin())

    def request(self, on, now_ms=None):
        """Start driving the set (on) or reset (off) coil. A request against a
        pulse in progress ends that pulse first (never both coils at once)."""
        on = bool(on)
        if now_ms is None:
            now_ms = self._ticks_ms()
        coil = self.set_pin if on else self.reset_pin
        if self._coil is not None:
            if self._coil is coil:
                self.commanded = on
                return          # same pulse already running
            self._coil(0)
        self.commanded = on
        self._coil = coil
        self._t0 = now_ms
        self.actuations += 1
        coil(1)

    def service(self, now_ms):
        """End the coil pulse once coil_pulse_ms have passed. Returns busy."""
        if self._coil is not None and time.ticks_diff(now_ms, self._t0) >= self.coil_pulse_ms:
            self.end_pulse()
        return self._coil is not None

    def remaining_ms(self, now_ms):
        if self._coil is None:
            return 0
        r = self.coil_pulse_ms - time.ticks_diff(now_ms, self._t0)
        return r if r > 0 else 0

    def end_pulse(self):
        if self._coil is not None:
            self._coil(0)
            self._coil = None

    def off_all(self):
        """De-energise both coils now (e.g. on a watchdog path)."""
        self.set_pin(0)
        self.reset_pin(0)
        self._coil = None


class TriacSSR:
    """Zero-cross triac SSR: the gate held high conducts from the next zero
    crossing; feedback is an opto across the load that reads 1 when energised.
    v_on is the on-state voltage drop (for dissipation estimates)."""

    kind = "triac"
    coil_pulse_ms = 0
    busy = False

    def __init__(self, gate_pin, feedback_pin, *, v_on=1.1, name="ssr", clock=None):
        self.gate_pin = gate_pin
        self.feedback_pin = feedback_pin
        self.v_on = v_on
        self.name = name
        self.errors = ErrorCounters()
        gate_pin(0)  # a triac does not latch: after a reset the outlet is off
        self.commanded = False
        self.actuations = 0

    def feedback(self):
        return bool(self.feedback_pin())

    def request(self, on, now_ms=None):
        on = bool(on)
        if on != self.commanded:
            self.actuations += 1
        self.commanded = on
        self.gate_pin(1 if on else 0)

    def service(self, now_ms):
        return False

    def remaining_ms(self, now_ms):
        return 0

    def end_pulse(self):
        pass

    def off_all(self):
        self.gate_pin(0)
        self.commanded = False


async def actuate(sw, on, clock):
    """Request on/off, hold the coil for its pulse time on `clock`, end it."""
    sw.request(on, clock.ticks_ms())
    while sw.busy:
        r = sw.remaining_ms(clock.ticks_ms())
        await clock.sleep_ms(r if r > 0 else 1)
        sw.service(clock.ticks_ms())


class Switches(dict):
    """outlet number -> switch, built from a board OUTLETS description."""

    @staticmethod
    def from_board(board_outlets, pin_factory, *, clock=None):
        # pin_factory: machine.Pin or sim.hw.PinFactory; both take
        # (id, mode, pull, value=...). Mode numbers as machine.Pin's.
        OUT = getattr(pin_factory, "OUT", 1)
        IN = getattr(pin_factory, "IN", 0)
        sws = Switches()
        for n in sorted(board_outlets):
            o = board_outlets[n]
            kind = o.get("switch")
            name = "outlet%d" % n
            if kind == "latching":
                sws[n] = LatchingRelay(pin_factory(o["set"], OUT, value=0),
                                       pin_factory(o["reset"], OUT, value=0),
                                       pin_factory(o["feedback"], IN),
                                       coil_pulse_ms=o.get("coil_pulse_ms", 30), name=name,
                                       clock=clock)
            elif kind == "triac":
                sws[n] = TriacSSR(pin_factory(o["gate"], OUT, value=0),
                                  pin_factory(o["feedback"], IN),
                                  v_on=o.get("v_on", 1.1), name=name, clock=clock)
            else:
                raise ValueError("outlet %d: unknown switch %r" % (n, kind))
        return sws

    def service(self, now_ms):
        """Service every switch; returns how many still have a pulse running."""
        busy = 0
        for sw in self.values():
            if sw.service(now_ms):
                busy += 1
        return busy

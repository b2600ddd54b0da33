# Twins of the outlet switches: a bistable relay with an auxiliary contact and a
# zero-cross triac SSR with an opto across the load.
#
# LatchingRelayTwin watches the MCU's coil pins. A coil pulse moves the
# armature if it lasts at least min_pulse_ms; the contacts then change
# operate_ms (close) / release_ms (open) after the coil was energised, but not
# before the pulse has qualified: at max(t_rise + operate|release, t_rise +
# min_pulse). Both coils energised together move nothing and count a coil
# fault. The world calls update(now_us) every block to apply timed changes;
# the auxiliary contact (feedback pin) follows the main contacts, welded ones
# included.
#
# TriacSSRTwin exposes the gate to the plant, which decides conduction at zero
# crossings and sets .energised; that drives the feedback opto.


class LatchingRelayTwin:
    def __init__(self, set_pin, reset_pin, feedback_pin, *, operate_ms=8, release_ms=6,
                 min_pulse_ms=10, now_us, closed=False, name="relay", fs=8000):
        self.name = name
        self.fs = fs
        self.contacts_since = None  # sample index of the last contact change
        self.set_pin = set_pin
        self.reset_pin = reset_pin
        self.feedback_pin = feedback_pin
        self.operate_us = int(operate_ms * 1000)
        self.release_us = int(release_ms * 1000)
        self.min_pulse_us = int(min_pulse_ms * 1000)
        self.now_us = now_us
        self.welded = False
        self.stuck = False          # stuck open
        self._contacts = bool(closed)
        # per coil: rise time (or None when off), pulse voided by a coil fault
        self._rise = [None, None]   # index 0 = set coil, 1 = reset coil
        self._void = [False, False]
        self._qualified = [False, False]
        self._pending = None        # (target state, time_us) of a qualified pulse
        # statistics
        self.coil_fault = 0
        self.short_pulses = 0
        self.operations = 0         # contact state changes
        self.pulses = 0
        set_pin.watch(self._on_set)
        reset_pin.watch(self._on_reset)
        feedback_pin.drive(1 if self._contacts else 0)

    # --- what the plant sees ------------------------------------------------
    @property
    def contacts(self):
        """True when the load contacts are closed."""
        return self._contacts

    # --- fault injection ------------------------------------------------------
    def weld(self):
        """Contacts weld closed (an overload while closing): they stay closed
        whatever the coils do, and so does the auxiliary contact."""
        self.welded = True
        self._set_contacts(True)

    def stuck_open(self):
        """Contacts stay open whatever the coils do (broken armature/coil)."""
        self.stuck = True
        self._set_contacts(False)

    def repair(self):
        self.welded = False
        self.stuck = False

    # --- coil pins ------------------------------------------------------------
    def _on_set(self, pin, level):
        self._coil_edge(0, level)

    def _on_reset(self, pin, level):
        self._coil_edge(1, level)

    def _coil_edge(self, k, level):
        now = self.now_us()
        self.update(now)
        other = 1 - k
        if level:
            self._rise[k] = now
            self._void[k] = False
            self._qualified[k] = False
            self.pulses += 1
            if self._rise[other] is not None:
                # Both coils energised: the fluxes oppose, the armature stays.
                self.coil_fault += 1
                self._void[k] = True
                self._void[other] = True
                if self._pending is not None:
                    self._pending = None
        else:
            t0 = self._rise[k]
            self._rise[k] = None
            if t0 is None:
                return
            if not self._void[k] and not self._qualified[k]:
                if now - t0 >= self.min_pulse_us:
                    self._qualify(k, t0)
                    self.update(now)
                else:
                    self.short_pulses += 1

    def _qualify(self, k, t0):
        self._qualified[k] = True
        t = t0 + (self.operate_us if k == 0 else self.release_us)
        q = t0 + self.min_pulse_us
        self._pending = (k == 0, t if t > q else q)

    def update(self, now_us):
        """Apply timed transitions up to now_us (called by the world each block)."""
        for k in (0, 1):
            t0 = self._rise[k]
            if t0 is not None and not self._void[k] and not self._qualified[k] \
                    and now_us - t0 >= self.min_pulse_us:
                self._qualify(k, t0)
        p = self._pending
        if p is not None and now_us >= p[1]:
            self._pending = None
            self._set_contacts(p[0], p[1])

    def _set_contacts(self, closed, t_us=None):
        if self.welded:
            closed = True
        elif self.stuck:
            closed = False
        if closed != self._contacts:
            self._contacts = closed
            self.operations += 1
            if t_us is not None:
                # sample index of the change, so the plant switches the current
                # at that sample rather than at its block boundary
                self.contacts_since = t_us * self.fs // 1000000
        self.feedback_pin.drive(1 if self._contacts else 0)


class TriacSSRTwin:
    def __init__(self, gate_pin, feedback_pin, *, now_us, name="ssr"):
        self.name = name
        self.gate_pin = gate_pin
        self.feedback_pin = feedback_pin
        self.now_us = now_us
        self.shorted = False
        self.open_failed = False
        self._energised = False
        self.gate_changed_us = now_us()
        self.gate_changes = 0
        gate_pin.watch(self._on_gate)
        feedback_pin.drive(0)

    def update(self, now_us):
        """Nothing timed here: conduction is the plant's decision (world calls
        update() on every switch twin alike)."""

    def _on_gate(self, pin, level):
        self.gate_changed_us = self.now_us()
        self.gate_changes += 1

    @property
    def gate(self):
        """Whether the triac will conduct from the next zero crossing: the
        MCU's gate level, overridden by a failure."""
        if self.shorted:
            return True
        if self.open_failed:
            return False
        return bool(self.gate_pin.value())

    @property
    def energised(self):
        return self._energised

    @energised.setter
    def energised(self, v):
        v = bool(v)
        if self.open_failed:
            v = False
        self._energised = v
        self.feedback_pin.drive(1 if v else 0)

    def fail_short(self):
        """Triac fails short: conducts regardless of the gate."""
        self.shorted = True
        self.open_failed = False
        self.energised = True

    def fail_open(self):
        """Triac fails open: never conducts."""
        self.open_failed = True
        self.shorted = False
        self.energised = False

    def repair(self):
        self.shorted = False
        self.open_failed = False

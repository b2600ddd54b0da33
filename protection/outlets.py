# Outlet switching as the rest of the firmware sees it: commanded state,
# feedback, who asked and when; on, off and cycle per outlet and per group;
# the staggered power-up sequence.
#
# This module owns the switch drivers: every coil pulse runs here (as the
# caller's coroutine, or as an asyncio task for protection's immediate opens).
# With a protection engine attached (attach_protection(), called by
# Protection.attach), every command goes through it:
#   permit(n, on, who)       latched / lockout / cooldown / too hot / branch limit
#   switch_delay_us(n, on)   zero-cross timing of relay contacts
#   begin_switch(...)        opens the verification and inrush windows
#   verdict(n, op)           ok / close_failed / open_failed / welded / unknown,
#                            decided from current, voltage and feedback
# and protection itself opens outlets at once with open_now(). Without one
# (early boot, tools) a command is actuated and checked against feedback only.
import asyncio
from core.codes import (EV_OUTLET_ON, EV_OUTLET_OFF, EV_SWITCH_UNVERIFIED, EV_COMMAND_REFUSED,
                            SEV_INFO, SEV_WARNING)

FEEDBACK_SETTLE_MS = 20  # contact bounce / opto delay before feedback is believed
VERDICT_POLL_MS = 10


class Outlets:
    def __init__(self, switches, events, clock, groups=None, audit=None):
        self.switches = switches  # outlet number -> drivers.switch object
        self.events = events
        self.clock = clock
        self.audit = audit        # operator commands: who, when, what, result
        self.commanded = {n: False for n in switches}
        for n, s in switches.items():
            self.commanded[n] = bool(s.commanded)
        self.protection = None    # the protection engine once attached
        self.groups = groups or {"all": sorted(switches)}   # name -> outlets
        self._op = {n: 0 for n in switches}
        self._refused = False
        self.held = None          # fail-safe: why every switch-on is refused (None: not held)

    def attach_protection(self, protection, groups=None):
        """Every command from now on goes through `protection` (see above);
        `groups`: name -> outlets (all, G1.., B1.., L1..) replacing the default."""
        self.protection = protection
        if groups is not None:
            self.groups = groups

    def hold(self, reason):
        """Refuse every switch-on from now on, leaving outlets as they are (the
        supervisor's fail-safe: protection no longer watches the current)."""
        self.held = reason

    def count_on(self):
        return sum(1 for s in self.switches.values() if s.feedback())

    def _next_op(self, n):
        self._op[n] += 1
        return self._op[n]

    async def set(self, n, on, who="local"):
        """Switch outlet n on/off. Returns the feedback afterwards. Every
        command is audited (who, what, and the result the feedback shows)."""
        self._refused = False
        fb = await self._set(n, on, who)
        if self.audit is not None:
            on = bool(on)
            what = "outlet %d %s" % (n, "on" if on else "off")
            if fb != on:
                what += " (feedback %s)" % ("on" if fb else "off")
            self.audit.log("command", who, what,
                           "refused" if self._refused else ("ok" if fb == on else "failed"))
        return fb

    async def _set(self, n, on, who):
        sw = self.switches[n]
        on = bool(on)
        if on and self.held is not None:
            self._refused = True
            self.events.emit(EV_COMMAND_REFUSED, SEV_WARNING, "O%d" % n,
                             {"who": who, "state": "held", "cause": self.held}, "refused")
            return sw.feedback()
        p = self.protection
        if p is None:
            return await self._set_plain(n, on, who)
        if sw.commanded == on and sw.feedback() == on and not p.busy(n):
            p.unreserve(n)
            return on                  # already there: no pulse, no windows
        if not p.permit(n, on, who):
            p.unreserve(n)
            self._refused = True
            return sw.feedback()
        op = self._next_op(n)
        d = p.switch_delay_us(n, on)
        if d > 0:
            sl = getattr(self.clock, "sleep_us", None)
            if sl is not None:
                await sl(d)
            else:
                await self.clock.sleep_ms((d + 500) // 1000)
            if self._op[n] != op:
                p.unreserve(n)
                return sw.feedback()
        self.commanded[n] = on
        p.begin_switch(n, on, who, op)
        await self._pulse(sw, on)
        while self._op[n] == op and p.verdict(n, op) is None:
            await self.clock.sleep_ms(VERDICT_POLL_MS)
        return sw.feedback()

    async def _pulse(self, sw, on):
        sw.request(on, self.clock.ticks_ms())
        await self._hold(sw)

    async def _hold(self, sw):
        # End the coil pulse on time (a later request may have replaced it).
        while sw.busy:
            r = sw.remaining_ms(self.clock.ticks_ms())
            await self.clock.sleep_ms(r if r > 0 else 1)
            sw.service(self.clock.ticks_ms())

    def open_now(self, n, who="protection"):
        """Open outlet n immediately (protection trips): the coil is energised
        before this returns; its pulse is ended by a task of this module."""
        sw = self.switches[n]
        op = self._next_op(n)
        sw.request(False, self.clock.ticks_ms())
        self.commanded[n] = False
        p = self.protection
        if p is not None:
            p.begin_switch(n, False, who, op)
        if sw.busy:
            asyncio.create_task(self._hold(sw))
        return op

    async def _set_plain(self, n, on, who):
        sw = self.switches[n]
        self._next_op(n)
        await self._pulse(sw, on)
        self.commanded[n] = on
        await self.clock.sleep_ms(FEEDBACK_SETTLE_MS)
        fb = sw.feedback()
        ch = "O%d" % n
        if fb == on:
            self.events.emit(EV_OUTLET_ON if on else EV_OUTLET_OFF, SEV_INFO, ch,
                             {"feedback": fb, "who": who}, "switched")
        else:
            self.events.emit(EV_SWITCH_UNVERIFIED, SEV_WARNING, ch,
                             {"commanded": on, "feedback": fb, "who": who}, "none")
        return fb

    async def power_on_sequence(self, outlets, stagger_ms, who="boot", delays=None):
        """Staggered switch-on. With protection: at most seq_max_concurrent
        outlets energising at once, each not before its power-on delay
        (`delays`: outlet -> ms from the start, or True for the configured
        outlets.N.power_on_delay_ms), stopping on an abnormal signature.
        Without: one outlet at a time, stagger_ms apart."""
        p = self.protection
        if p is not None:
            from protection.switching import power_on_sequence
            return await power_on_sequence(self, p, outlets, stagger_ms, who, delays)
        for n in outlets:
            await self.set(n, True, who)
            await self.clock.sleep_ms(stagger_ms)

    def members(self, group):
        if isinstance(group, (list, tuple)):
            return list(group)
        if isinstance(group, int):
            return [group]
        g = self.groups.get(group)
        if g is None:
            raise ValueError("outlets: no group %r" % (group,))
        return list(g)

    async def set_group(self, group, on, who="local", stagger_ms=0):
        """Switch a group (name, or list of outlets) on (sequenced with the
        inrush budget) or off (all at once)."""
        ns = self.members(group)
        if on:
            return await self.power_on_sequence(ns, stagger_ms, who)
        tasks = [asyncio.create_task(self.set(n, False, who)) for n in ns]
        for t in tasks:
            await t

    async def cycle(self, n, off_ms=5000, who="local"):
        await self.set(n, False, who)
        await self.clock.sleep_ms(off_ms)
        return await self.set(n, True, who)

    async def cycle_group(self, group, off_ms=5000, who="local", stagger_ms=0):
        await self.set_group(group, False, who)
        await self.clock.sleep_ms(off_ms)
        return await self.set_group(group, True, who, stagger_ms)

    async def service(self, period_ms=5):
        # Ends coil pulses on time for switches driven without _pulse().
        while True:
            now = self.clock.ticks_ms()
            for s in self.switches.values():
                s.service(now)
            await self.clock.sleep_ms(period_ms)

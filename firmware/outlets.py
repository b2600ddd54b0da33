# Outlet switching as the rest of the firmware sees it: commanded state,
# feedback, who asked and when. Protection (its own layer) will decide whether
# a command may run and verify it from current/voltage; this module only
# actuates, reads feedback and logs.
from firmware.codes import (EV_OUTLET_ON, EV_OUTLET_OFF, EV_SWITCH_UNVERIFIED,
                            SEV_INFO, SEV_WARNING)

FEEDBACK_SETTLE_MS = 20  # contact bounce / opto delay before feedback is believed


class Outlets:
    def __init__(self, switches, events, clock):
        self.switches = switches  # outlet number -> drivers.switch object
        self.events = events
        self.clock = clock
        self.commanded = {n: False for n in switches}

    def count_on(self):
        return sum(1 for n, s in self.switches.items() if s.feedback())

    async def set(self, n, on, who="local"):
        sw = self.switches[n]
        from drivers.switch import actuate
        await actuate(sw, on, self.clock)
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

    async def power_on_sequence(self, outlets, stagger_ms, who="boot"):
        # Staggered switch-on: one outlet at a time so inrush currents don't add.
        for n in outlets:
            await self.set(n, True, who)
            await self.clock.sleep_ms(stagger_ms)

    async def service(self, period_ms=5):
        # Ends coil pulses on time for switches driven without actuate().
        while True:
            now = self.clock.ticks_ms()
            for s in self.switches.values():
                s.service(now)
            await self.clock.sleep_ms(period_ms)

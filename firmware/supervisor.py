# Task supervision: no firmware task dies silently.
#
# Every task of the task table runs under guard(): an exception is an alarm
# event naming the task, the stage that raised (for the acquisition task:
# the board, the drivers, metrology or protection) and the error; the task is
# restarted after a backoff that doubles with each failure in a row.
#
# The sample path (acquisition with metrology and protection as its
# consumers) is critical: a PDU whose protection sees no current must say so.
# FAIL_LIMIT failures of a critical task within FAIL_WINDOW_MS put the PDU in
# the fail-safe state, which is stated, not silent:
#   * an alarm event (failsafe) that stays raised in health and the status line,
#   * switch-on refused (Outlets.hold): nothing is energised that protection
#     cannot watch,
#   * outlets held as they are: a controller fault must not drop loads, so the
#     supervisor keeps feeding the watchdog in this deliberate state (a reset
#     would release the SSR outlets' gates).
#
# Watchdog (machine.WDT on the MCU, a simulated one on the unix port): fed
# every WDT_FEED_MS only while acquisition polls advance (or in the stated
# fail-safe). A hung event loop, a stuck acquisition task or a dead
# supervisor starve it, and the MCU resets; boot logs watchdog_reset.
import asyncio
import time
from core import codes
from core.health import describe

FAIL_LIMIT = 4            # failures of a critical task within FAIL_WINDOW_MS -> fail-safe
FAIL_WINDOW_MS = 60000
BACKOFF_FIRST_MS = 10     # one acquisition poll: the rings (32 ms and more) absorb it
BACKOFF_MAX_MS = 5000
HEALTHY_MS = 60000        # a task that ran this long without failing starts its backoff afresh
WDT_TIMEOUT_MS = 4000
WDT_FEED_MS = 500


class Supervisor:
    def __init__(self, clock, events, health):
        self.clock = clock
        self.events = events
        self.health = health
        self.failsafe = None      # None, or {"task", "error", "failures", "utc_ms"}
        self.failures = {}        # task name -> failures since boot
        self.on_failsafe = []     # callables(reason): e.g. outlets hold switch-on
        self.wdt = None

    def guard(self, name, factory, *, critical=False, stage=None):
        """A coroutine running factory() until it returns, restarting it when
        it raises. stage: callable naming the part that raised (or None)."""
        return self._guard(name, factory, critical, stage)

    async def _guard(self, name, factory, critical, stage):
        clock = self.clock
        recent = []               # ticks_ms of recent failures (critical tasks)
        backoff = BACKOFF_FIRST_MS
        while self.failsafe is None or not critical:
            t0 = clock.ticks_ms()
            try:
                await factory()
                return
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 -- whatever a task raises must be seen
                where = stage() if stage is not None else None
                err = describe(e) if where is None else "%s: %s" % (where, describe(e))
            now = clock.ticks_ms()
            if time.ticks_diff(now, t0) >= HEALTHY_MS:
                backoff = BACKOFF_FIRST_MS
            n = self.failures.get(name, 0) + 1
            self.failures[name] = n
            self.events.emit(codes.EV_TASK_FAILED, codes.SEV_ALARM, name,
                             {"error": err, "restarts": n, "backoff_ms": backoff}, "restart")
            if critical:
                recent = [t for t in recent if time.ticks_diff(now, t) < FAIL_WINDOW_MS]
                recent.append(now)
                if len(recent) >= FAIL_LIMIT:
                    self._enter_failsafe(name, err, len(recent))
                    return
            await clock.sleep_ms(backoff)
            backoff = min(2 * backoff, BACKOFF_MAX_MS)

    def _enter_failsafe(self, name, err, failures):
        self.failsafe = {"task": name, "error": err, "failures": failures, "utc_ms": self.clock.utc_ms()}
        self.health.failsafe = self.failsafe
        self.events.emit(codes.EV_FAILSAFE, codes.SEV_CRITICAL, name,
                         {"error": err, "failures": failures, "window_ms": FAIL_WINDOW_MS}, "hold")
        for f in self.on_failsafe:
            f("failsafe: %s failed %d times" % (name, failures))

    async def watchdog(self, wdt, alive):
        """Feed wdt every WDT_FEED_MS while alive() changes (acquisition polls)
        or the fail-safe state holds."""
        self.wdt = wdt
        last = alive()
        while True:
            await self.clock.sleep_ms(WDT_FEED_MS)
            now = alive()
            if now != last or self.failsafe is not None:
                wdt.feed()
            last = now


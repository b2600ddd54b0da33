# One time abstraction for the whole firmware, so the same code runs in real
# time (on the MCU and under `make run`) and in virtual time (tests, scenarios),
# where an hour of plant time runs as fast as the CPU allows.
#
# Rules for firmware code:
#   - never call time.sleep*/asyncio.sleep* directly: await clock.sleep_ms();
#   - monotonic time is clock.ticks_ms()/ticks_us() with time.ticks_diff()
#     semantics (they wrap, like the MCU's);
#   - wall time is clock.utc_ms() (UTC, ms since 1970-01-01); clock.time_valid
#     says whether it has been set (RTC/SNTP) since boot.
import time
import asyncio
import heapq

# Virtual ticks wrap exactly like this platform's time.ticks_*() (2**30 on the
# MCU, 2**62 on the 64-bit unix port), so time.ticks_diff() works on either.
_TICKS_MASK = time.ticks_add(0, -1)
# 2026-01-01T00:00:00Z: the epoch an unset RTC reports, so unset time is plausible
# but flagged (time_valid False) rather than 1970.
UNSET_UTC_MS = 1767225600000


class RealClock:
    virtual = False

    def __init__(self, utc_valid=True):
        # On the unix port the host clock is already disciplined, so its time is
        # valid; on the MCU the RTC is unset until SNTP or an operator sets it.
        self.time_valid = utc_valid
        self._utc_off_ms = 0

    def ticks_ms(self):
        return time.ticks_ms()

    def ticks_us(self):
        return time.ticks_us()

    def utc_ms(self):
        if hasattr(time, "time_ns"):
            return time.time_ns() // 1000000 + self._utc_off_ms
        return int(time.time() * 1000) + self._utc_off_ms

    def set_utc_ms(self, utc_ms):
        # Returns the step (ms) so callers can log time steps as events.
        step = utc_ms - self.utc_ms()
        self._utc_off_ms += step
        self.time_valid = True
        return step

    async def sleep_ms(self, ms):
        await asyncio.sleep_ms(ms)


class VirtualClock:
    """Time that moves only when the simulation advances it.

    The simulated board advances it sample block by sample block
    (advance_us); every task sleeping on it wakes in deadline order, so a run
    is repeatable for a given seed."""

    virtual = True

    def __init__(self, start_utc_ms=UNSET_UTC_MS, utc_valid=True):
        self._now_us = 0
        self._utc0_ms = start_utc_ms
        self.time_valid = utc_valid
        self._waiters = []
        self._seq = 0

    def now_us(self):
        # Non-wrapping virtual time since boot (sim and tests only).
        return self._now_us

    def ticks_us(self):
        return self._now_us & _TICKS_MASK

    def ticks_ms(self):
        return (self._now_us // 1000) & _TICKS_MASK

    def utc_ms(self):
        return self._utc0_ms + self._now_us // 1000

    def set_utc_ms(self, utc_ms):
        step = utc_ms - self.utc_ms()
        self._utc0_ms += step
        self.time_valid = True
        return step

    def next_deadline_us(self):
        return self._waiters[0][0] if self._waiters else None

    def advance_us(self, dt_us):
        self.set_now_us(self._now_us + dt_us)

    def set_now_us(self, t_us):
        if t_us < self._now_us:
            raise ValueError("virtual time cannot go backwards")
        self._now_us = t_us
        w = self._waiters
        while w and w[0][0] <= t_us:
            heapq.heappop(w)[2].set()

    async def sleep_ms(self, ms):
        await self.sleep_us(int(ms * 1000))

    async def sleep_us(self, us):
        ev = asyncio.Event()
        self._seq += 1
        heapq.heappush(self._waiters, (self._now_us + us, self._seq, ev))
        await ev.wait()


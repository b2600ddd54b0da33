# Acquisition: moves every conversion from the AFE drivers' frame rings into
# preallocated per-chip sample arrays and hands them to consumers (metrology,
# protection).
#
# Sizing (8 kSPS, 125 us per frame):
#   * poll() runs every POLL_MS (10 ms = 80 frames) from its own task, but the
#     period between two drains is POLL_MS plus the task's own work (metrology
#     ~3 ms on the MCU) plus whatever other tasks hold the CPU.
#   * Each ADS131M04 ring holds RING_FRAMES (256 = 32 ms) raw frames: one
#     poll period and the task's work (~13 ms) leave ~20 ms for an event-loop
#     stall without loss. The ADE9000 buffers 16 pages of 16 sets (32 ms) on
#     the chip itself. A longer stall loses frames and is counted, never
#     hidden: overruns() must stay zero in every test and in `make run`.
#   * The unpacked sample arrays need not hold a whole ring: a poll drains in
#     chunks of at most CHUNK_FRAMES (128 = 16 ms, one nominal period with
#     margin), calling the consumers after each chunk, until the rings are
#     empty. A normal poll is one chunk; only a poll after a stall makes two
#     or three calls. This halves the sample arrays (and every buffer sized
#     from max_frames downstream: branch sums, protection scratch) without
#     shortening the stall the rings absorb.
import asyncio
import gc
import time
from array import array

POLL_MS = 10
LATE_PERIOD_MS = 5000       # loop lateness: the "recent" window
STALE_US = 20000            # pace(): a poll this overdue is not coming (task not running)
COLLECT_WAIT_MS = 100       # collect(): a poll this long in coming is not coming: collect in place
RING_FRAMES = 256           # per ADS131M04 ring (the driver's default)
CHUNK_FRAMES = 128          # frames per consumer call (sample arrays)
LATE_BUCKETS = 16           # lateness histogram: 1 ms buckets, the last one 15 ms and over
INLET_CH = 7  # ADE9000 waveform sets: IA, VA, IB, VB, IC, VC, IN


class Acquisition:
    def __init__(self, board, adcs, ade=None, max_frames=CHUNK_FRAMES):
        self.board = board
        self.adcs = adcs
        self.ade = ade
        self.max_frames = max_frames      # frames per consumer call (array capacity)
        # group[k]: interleaved [v, i1, i2, i3] codes of ADS131M04 k for the last chunk
        self.group = [array("i", bytes(16 * max_frames)) for _ in adcs]
        self.inlet = array("i", bytes(4 * INLET_CH * max_frames))
        self.stalled = [False] * len(adcs)
        self.n_group = 0
        self.n_inlet = 0
        self.frames_total = 0
        self.inlet_total = 0
        self.polls = 0
        self.consumers = []  # callables(acq), called after every chunk (>= once per poll)
        self.consumer_names = []
        self.stage = None    # the part running now (supervision names it when it raises)
        # loop lateness: how much later than POLL_MS after the previous poll a
        # poll starts (us): worst since boot, worst in the current and the
        # previous LATE_PERIOD_MS (the "recent" figure)
        self.late_max_us = 0
        self.late_recent_us = 0
        # polls by lateness since boot: late_hist[k] counts [k, k + 1) ms, the
        # last bucket LATE_BUCKETS - 1 ms and over. The worst figure alone is
        # one poll; the histogram tells a host's rare scheduling hiccup from
        # work that holds many polls up.
        self.late_hist = array("I", bytes(4 * LATE_BUCKETS))
        self._late_cur_us = 0
        self._late_t0 = 0
        # when the next poll is due (clock ticks_us), for uplinks pacing their
        # work around it (headroom_us()); None until the task runs
        self.due_us = None
        self._clock = None
        # garbage collections asked for (collect()) run right after a poll,
        # before the task sleeps: in time the poll does not need, never inside
        # another task's slice
        self._collect_want = False
        self.collects = 0
        self.collects_in_place = 0  # of those, not after a poll (no poll came)
        self.collect_us = 0         # the last collection's duration

    def label_consumers(self, name):
        """Name the consumers added since the last label (one layer's attach())."""
        while len(self.consumer_names) < len(self.consumers):
            self.consumer_names.append(name)

    def stage_name(self):
        s = self.stage
        if type(s) is int:
            return self.consumer_names[s] if s < len(self.consumer_names) else "consumer %d" % s
        return s

    def start(self):
        self.board.start_acquisition(self.adcs)
        if self.ade is not None:
            self.ade.start()

    def poll(self):
        """Drain every ring in chunks of at most max_frames, calling the
        consumers after each chunk (always at least once per poll). Returns
        the group frames drained."""
        self.stage = "board"
        self.board.service()
        self.polls += 1
        total = 0
        mf = self.max_frames
        # a bounded number of chunks: the rings hold RING_FRAMES, plus what
        # arrives while the consumers run
        for it in range(RING_FRAMES // mf + 2):
            self.stage = "drivers"
            n = self._drain_groups()
            ni = 0
            if self.ade is not None:
                ni = self.ade.drain(self.inlet, mf)
            self.n_inlet = ni
            self.inlet_total += ni
            total += n
            if it and not n and not ni:
                break
            k = 0
            for c in self.consumers:
                self.stage = k
                c(self)
                k += 1
            # the ADE9000 drains whole pages of 16 sets: a full chunk less one page may remain
            if n < mf and ni < mf - 16:
                break
        return total

    def _drain_groups(self):
        adcs = self.adcs
        # All ADS131M04s share CLKIN and SYNC: draining the same count from each
        # keeps the groups sample-aligned. A chip that stops delivering must not
        # stall the others: once it is half a ring behind it is marked stalled,
        # its samples read 0 (metrology flags the channels) and it rejoins when
        # frames flow again.
        n = self.max_frames
        hi = 0
        for a in adcs:
            c = a.ring.count()
            if c > hi:
                hi = c
        for k in range(len(adcs)):
            c = adcs[k].ring.count()
            if hi - c > adcs[k].ring.nframes // 2:
                if not self.stalled[k]:
                    self.stalled[k] = True
                    adcs[k].errors.timeout += 1
            elif self.stalled[k] and c >= hi:
                self.stalled[k] = False
            if not self.stalled[k] and c < n:
                n = c
        if n:
            for k in range(len(adcs)):
                if self.stalled[k]:
                    g = self.group[k]
                    for j in range(4 * n):
                        g[j] = 0
                else:
                    adcs[k].drain(self.group[k], n)
        self.n_group = n
        self.frames_total += n
        return n

    def overruns(self):
        o = 0
        for a in self.adcs:
            o += a.ring.overruns + a.errors.overrun
        if self.ade is not None:
            o += self.ade.errors.overrun
        return o

    def headroom_us(self):
        """Time left before the next poll is due (negative: overdue), or None
        while the task is not running."""
        if self.due_us is None:
            return None
        return time.ticks_diff(self.due_us, self._clock.ticks_us())

    async def pace(self, need_us, waits=3):
        """Wait, if need be, until the next poll is at least `need_us` away.
        Other tasks await this before each slice of their work (see
        comms/model.Model.pace): near a poll they sleep until just after its
        deadline; the poll's deadline is older than their wake-up times, so
        asyncio runs the poll first however many of them are ready. At most
        `waits` sleeps: a poll that does not come (the task failed, fail-safe)
        holds nobody for long. In virtual time, a plain yield."""
        clock = self._clock
        if clock is None or clock.virtual:
            await asyncio.sleep_ms(0)
            return
        for _ in range(waits):
            h = self.headroom_us()
            if h is None or h >= need_us or h < -STALE_US:
                return
            # +2 ms, 1 ms when overdue: strictly after the poll's own wake-up time
            await asyncio.sleep_ms(h // 1000 + 2 if h > 0 else 1)

    def _collect_now(self):
        self._collect_want = False
        t = time.ticks_us()
        gc.collect()
        self.collect_us = time.ticks_diff(time.ticks_us(), t)
        self.collects += 1

    async def collect(self):
        """A garbage collection, run by this task right after its next poll;
        -> its duration (us). If no poll comes within COLLECT_WAIT_MS (the task
        is not running, or virtual time), the collection runs here."""
        clock = self._clock
        if clock is not None and not clock.virtual and self.due_us is not None:
            n = self.collects
            self._collect_want = True
            for _ in range(COLLECT_WAIT_MS // POLL_MS):
                await asyncio.sleep_ms(POLL_MS)
                if self.collects != n:
                    return self.collect_us
        self.collects_in_place += 1
        self._collect_now()
        return self.collect_us

    async def run(self, clock):
        self._late_t0 = clock.ticks_ms()
        self._clock = clock
        while True:
            self.poll()
            self.stage = None
            t = clock.ticks_us()
            self.due_us = time.ticks_add(t, POLL_MS * 1000)
            if not self._collect_want:
                await clock.sleep_ms(POLL_MS)
            else:
                self._collect_now()
                d = time.ticks_diff(clock.ticks_us(), t) // 1000
                await clock.sleep_ms(POLL_MS - d if d < POLL_MS else 0)
            self._note_lateness(time.ticks_diff(clock.ticks_us(), t) - POLL_MS * 1000, clock.ticks_ms())

    def _note_lateness(self, late, now_ms):
        if late < 0:
            late = 0
        k = late // 1000
        self.late_hist[k if k < LATE_BUCKETS else LATE_BUCKETS - 1] += 1
        if late > self.late_max_us:
            self.late_max_us = late
        if late > self._late_cur_us:
            self._late_cur_us = late
        if time.ticks_diff(now_ms, self._late_t0) >= LATE_PERIOD_MS:
            self.late_recent_us = self._late_cur_us
            self._late_cur_us = 0
            self._late_t0 = now_ms
        elif self._late_cur_us > self.late_recent_us:
            self.late_recent_us = self._late_cur_us

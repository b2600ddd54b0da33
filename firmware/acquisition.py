# Acquisition: moves every conversion from the AFE drivers' frame rings into
# preallocated per-chip sample arrays and hands them to consumers (metrology).
#
# Timing: poll() runs every POLL_MS from its own task. Each ADS131M04 ring holds
# RING_FRAMES conversions (32 ms at 8 kSPS), so the event loop may stall for up
# to ~20 ms without loss; a longer stall loses frames and is counted, never
# hidden: overruns() must stay zero in every test and in `make run`.
from array import array

POLL_MS = 10
RING_FRAMES = 256
INLET_CH = 7  # ADE9000 waveform sets: IA, VA, IB, VB, IC, VC, IN


class Acquisition:
    def __init__(self, board, adcs, ade=None, max_frames=RING_FRAMES):
        self.board = board
        self.adcs = adcs
        self.ade = ade
        self.max_frames = max_frames
        # group[k]: interleaved [v, i1, i2, i3] codes of ADS131M04 k for the last poll
        self.group = [array("i", bytes(16 * max_frames)) for _ in adcs]
        self.inlet = array("i", bytes(4 * INLET_CH * max_frames))
        self.stalled = [False] * len(adcs)
        self.n_group = 0
        self.n_inlet = 0
        self.frames_total = 0
        self.inlet_total = 0
        self.polls = 0
        self.consumers = []  # callables(acq), called after every poll with new data

    def start(self):
        self.board.start_acquisition(self.adcs)
        if self.ade is not None:
            self.ade.start()

    def poll(self):
        self.board.service()
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
            if hi - c > self.max_frames // 2:
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
        ni = 0
        if self.ade is not None:
            ni = self.ade.drain(self.inlet, self.max_frames)
        self.n_inlet = ni
        self.inlet_total += ni
        self.polls += 1
        for c in self.consumers:
            c(self)
        return n

    def overruns(self):
        o = 0
        for a in self.adcs:
            o += a.ring.overruns + a.errors.overrun
        if self.ade is not None:
            o += self.ade.errors.overrun
        return o

    async def run(self, clock):
        while True:
            self.poll()
            await clock.sleep_ms(POLL_MS)

# A preallocated ring of raw SPI frames: the hand-off between whatever moves
# frames off a chip (a DRDY hard IRQ on the MCU, simulated DMA on the unix port)
# and the task that validates and unpacks them. Nothing here allocates after
# construction, so push() is safe in a hard IRQ handler.
#
# Indices run modulo 2*nframes so "full" and "empty" differ without a flag and
# never grow into heap-allocated big ints.


class FrameRing:
    def __init__(self, frame_bytes, nframes):
        self.frame_bytes = frame_bytes
        self.nframes = nframes
        self.buf = bytearray(frame_bytes * nframes)
        mv = memoryview(self.buf)
        self.slots = [mv[i * frame_bytes:(i + 1) * frame_bytes] for i in range(nframes)]
        self.scratch = bytearray(frame_bytes)  # read target when full (the chip must still be read)
        self.wr = 0
        self.rd = 0
        self.overruns = 0  # frames lost because the ring was full

    def count(self):
        d = self.wr - self.rd
        return d if d >= 0 else d + 2 * self.nframes

    def free(self):
        return self.nframes - self.count()

    def head_slot(self):
        """Slot the next frame goes into, or None when full (IRQ-safe)."""
        if self.count() >= self.nframes:
            return None
        return self.slots[self.wr % self.nframes]

    def commit(self, n=1):
        w = self.wr + n
        m = 2 * self.nframes
        self.wr = w - m if w >= m else w

    def tail_index(self):
        return self.rd % self.nframes

    def release(self, n):
        r = self.rd + n
        m = 2 * self.nframes
        self.rd = r - m if r >= m else r

    def reset(self):
        self.wr = 0
        self.rd = 0

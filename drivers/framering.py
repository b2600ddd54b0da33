# A preallocated ring of raw SPI frames: the hand-off between whatever moves
# frames off a chip (a DRDY hard IRQ on the MCU, simulated DMA on the unix port)
# and the task that validates and unpacks them. Nothing here allocates after
# construction, so push() is safe in a hard IRQ handler.
#
# Indices run modulo 2*nframes so "full" and "empty" differ without a flag and
# never grow into heap-allocated big ints. The IRQ path reads a frame into
# `scratch` and push() copies it in (18 bytes: cheaper in RAM than one
# preallocated memoryview per slot); simulated DMA writes `buf` directly and
# calls commit().
import micropython


@micropython.viper
def _copy(dst: ptr8, off: int, src: ptr8, n: int):
    for i in range(n):
        dst[off + i] = src[i]


class FrameRing:
    def __init__(self, frame_bytes, nframes):
        self.frame_bytes = frame_bytes
        self.nframes = nframes
        self.buf = bytearray(frame_bytes * nframes)
        self.scratch = bytearray(frame_bytes)  # every IRQ read lands here first
        self.wr = 0
        self.rd = 0
        self.overruns = 0  # frames lost because the ring was full

    def count(self):
        d = self.wr - self.rd
        return d if d >= 0 else d + 2 * self.nframes

    def free(self):
        return self.nframes - self.count()

    def head_slot(self):
        """Buffer to read the next frame into, or None when the ring is full
        (IRQ-safe). Follow a successful read with push()."""
        if self.count() >= self.nframes:
            return None
        return self.scratch

    def push(self):
        """Copy `scratch` into the ring and commit it (IRQ-safe, no allocation)."""
        _copy(self.buf, (self.wr % self.nframes) * self.frame_bytes, self.scratch, self.frame_bytes)
        self.commit(1)

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

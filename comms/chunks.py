# Streamed responses of the uplinks' renderers (Prometheus text, PEE XML):
# pieces in, chunks of about `size` characters out through write(). The task
# paces (Model.pace) after each chunk and whenever it has run SLICE_US since
# it last paced, so a long document neither grows memory with its length nor
# holds the acquisition poll up (a 2 KB chunk of PEE XML takes several ms to
# build on the unix port: a chunk is not a slice).
import time
from micropython import const

SLICE_US = const(1000)    # longest run between paces (Model.pace asks the poll for 3 ms)


class Chunks:
    def __init__(self, write, pace, size):
        self.write = write
        self.pace = pace                # Model.pace: awaited between slices
        self.size = size
        self.parts = []
        self.n = 0
        self.t = time.ticks_us()

    async def put(self, s):
        self.parts.append(s)
        self.n += len(s)
        if self.n >= self.size:
            await self.flush()
        elif time.ticks_diff(time.ticks_us(), self.t) > SLICE_US:
            await self.pace()
            self.t = time.ticks_us()

    async def flush(self):
        if self.parts:
            s = "".join(self.parts)
            del self.parts[:]
            self.n = 0
            await self.write(s)
            await self.pace()    # the next chunk is built clear of the acquisition poll
            self.t = time.ticks_us()

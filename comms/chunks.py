# Streamed responses of the uplinks' renderers (Prometheus text, PEE XML):
# pieces in, chunks of about `size` characters out through write(), and the
# task yields after each chunk, so a long document neither grows memory with
# its length nor holds the event loop.


class Chunks:
    def __init__(self, write, clock, size):
        self.write = write
        self.clock = clock
        self.size = size
        self.parts = []
        self.n = 0

    async def put(self, s):
        self.parts.append(s)
        self.n += len(s)
        if self.n >= self.size:
            await self.flush()

    async def flush(self):
        if self.parts:
            s = "".join(self.parts)
            del self.parts[:]
            self.n = 0
            await self.write(s)
            await self.clock.sleep_ms(0)    # let the firmware's tasks run between chunks

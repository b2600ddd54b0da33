# A flash block device for littlefs on the unix port, with power-cut injection.
#
# Implements MicroPython's extended block-device protocol (what vfs.VfsLfs2
# uses): readblocks(n, buf, offset), writeblocks(n, buf, offset) and
# ioctl(op, arg) with 1 init, 2 deinit, 3 sync, 4 block count, 5 block size,
# 6 erase. Backed by RAM (default) or by a file (path=...), so a record store
# can outlive the process like the FRAM twin's image.
#
# NOR flash semantics (nor=True): erase sets a block to 0xFF, programming can
# only clear bits (stored = old & data), so a file system that programs
# without erasing corrupts its data here as on the chip.
#
# Power cut: cut_after(n) lets exactly n more bytes be changed by program or
# erase operations, then power fails: the byte in flight is left half
# programmed (a seeded random subset of its 0 bits), the rest of the
# operation is lost, and every later call fails with -EIO (returned, as the
# protocol allows, not raised: a raise inside a garbage-collector finaliser
# would only print a traceback) until power_on(). Erase counts the block's
# bytes in address order.
#
# mount_view() hands out the object to mount on: it forwards to the device
# but goes dead for good at the next power cut. Without it, a file object of
# the dead mount closed later by the garbage collector (a finaliser runs with
# the heap locked) would write through littlefs state from before the cut,
# which a real MCU, reset by the same power loss, could never do.
# Nothing on the block-device paths allocates (MicroPython may call them with
# the heap locked).
import errno
import micropython

_EIO = errno.EIO


@micropython.viper
def _prog(mem: ptr8, addr: int, src: ptr8, soff: int, n: int, nor: int):
    i = 0
    if nor:
        while i < n:
            mem[addr + i] = mem[addr + i] & src[soff + i]
            i += 1
    else:
        while i < n:
            mem[addr + i] = src[soff + i]
            i += 1


@micropython.viper
def _fill(mem: ptr8, addr: int, n: int, v: int):
    i = 0
    while i < n:
        mem[addr + i] = v
        i += 1


@micropython.viper
def _copy(dst: ptr8, doff: int, src: ptr8, soff: int, n: int):
    i = 0
    while i < n:
        dst[doff + i] = src[soff + i]
        i += 1


class BlockDev:
    def __init__(self, block_size=4096, nblocks=256, *, path=None, nor=True, seed=1):
        self.block_size = block_size
        self.nblocks = nblocks
        self.size = block_size * nblocks
        self.nor = nor
        self.path = path
        self._f = None
        self.mem = None
        if path is None:
            self.mem = bytearray(self.size)
            _fill(self.mem, 0, self.size, 0xFF)
        else:
            self._open(path)
        self.powered = True
        self._cut = -1
        self._rng = seed & 0x7FFFFFFF or 1
        self._scratch = bytearray(block_size)
        self._ff = bytearray(b"\xff" * block_size)
        self._one = bytearray(1)
        self.epoch = 0       # bumped by every power cut: older mount views are dead
        self.reads = 0
        self.programs = 0
        self.erases = 0
        self.bytes_programmed = 0
        self.power_cuts = 0

    def _open(self, path):
        try:
            f = open(path, "r+b")
            f.seek(0, 2)
            have = f.tell()
        except OSError:
            f = open(path, "w+b")
            have = 0
        if have < self.size:
            f.seek(have)
            ff = b"\xff" * 4096
            n = self.size - have
            while n > 0:
                k = n if n < 4096 else 4096
                f.write(ff[:k])
                n -= k
            f.flush()
        self._f = f

    def close(self):
        if self._f is not None:
            self._f.close()
            self._f = None

    # --- power -------------------------------------------------------------------
    def cut_after(self, nbytes):
        self._cut = nbytes

    def power_on(self):
        self.powered = True
        self._cut = -1

    def mount_view(self):
        return _View(self)

    def _lose_power(self):
        self.epoch += 1
        self.powered = False
        self.power_cuts += 1
        self._cut = -1

    def _rand(self):
        self._rng = (self._rng * 1103515245 + 12345) & 0x7FFFFFFF
        return self._rng >> 8

    # --- raw access ----------------------------------------------------------------
    def _read(self, addr, buf, n):
        if self.mem is not None:
            _copy(buf, 0, self.mem, addr, n)
        else:
            self._f.seek(addr)
            self._f.readinto(buf)

    def _store(self, addr, src, soff, n, erase):
        # Apply n bytes at addr (erase: 0xFF), honouring NOR semantics.
        if self.mem is not None:
            if erase:
                _fill(self.mem, addr, n, 0xFF)
            else:
                _prog(self.mem, addr, src, soff, n, 1 if self.nor else 0)
            return
        f = self._f
        mv = memoryview(self._scratch)
        while n > 0:
            k = n if n < self.block_size else self.block_size
            f.seek(addr)
            if erase:
                f.write(memoryview(self._ff)[:k])
            else:
                f.readinto(mv[:k])
                _prog(mv, 0, src, soff, k, 1 if self.nor else 0)
                f.seek(addr)
                f.write(mv[:k])
            addr += k
            soff += k
            n -= k

    def _change(self, addr, src, n, erase):
        if not self.powered:
            return -_EIO
        if self._cut >= 0 and n > self._cut:
            m = self._cut
            if m:
                self._store(addr, src, 0, m, erase)
            # the byte in flight: some of its bits made it
            cur = self._one
            self._read(addr + m, cur, 1)
            r = self._rand() & 0xFF
            self._poke(addr + m, (cur[0] | r) if erase else (cur[0] & (src[m] | r)))
            self.cut_in = "erase" if erase else "program"
            self._lose_power()
            if self._f is not None:
                self._f.flush()
            return -_EIO
        self._store(addr, src, 0, n, erase)
        if self._cut > 0:
            self._cut -= n
        return 0

    def _poke(self, addr, v):
        if self.mem is not None:
            self.mem[addr] = v
        else:
            self._one[0] = v
            self._f.seek(addr)
            self._f.write(self._one)

    # --- block-device protocol -------------------------------------------------------
    def readblocks(self, block, buf, offset=0):
        if not self.powered:
            return -_EIO
        self.reads += 1
        n = len(buf)
        addr = block * self.block_size + offset
        if addr + n > self.size:
            return -errno.EINVAL
        self._read(addr, buf, n)
        return 0

    def writeblocks(self, block, buf, offset=None):
        n = len(buf)
        if offset is None:
            # simple protocol: whole blocks, erase first
            for i in range(n // self.block_size):
                r = self.ioctl(6, block + i)
                if r:
                    return r
            offset = 0
        addr = block * self.block_size + offset
        if addr + n > self.size:
            return -errno.EINVAL
        self.programs += 1
        r = self._change(addr, buf, n, False)
        if r == 0:
            self.bytes_programmed += n
        return r

    def ioctl(self, op, arg):
        if op == 4:
            return self.nblocks
        if op == 5:
            return self.block_size
        if op == 6:
            if not self.powered:
                return -_EIO
            self.erases += 1
            return self._change(arg * self.block_size, self._scratch, self.block_size, True)
        if op in (1, 2, 3):
            # sync (3): the backing file is written unbuffered and survives the
            # process; no fsync (see twin_fram.sync), which would stall the loop
            return 0
        return None

    def stats(self):
        return {"reads": self.reads, "programs": self.programs, "erases": self.erases,
                "bytes_programmed": self.bytes_programmed, "power_cuts": self.power_cuts}


class _View:
    """What a file system is mounted on: the device until its next power cut."""

    def __init__(self, dev):
        self.dev = dev
        self.epoch = dev.epoch

    def readblocks(self, block, buf, offset=0):
        if self.epoch != self.dev.epoch:
            return -_EIO
        return self.dev.readblocks(block, buf, offset)

    def writeblocks(self, block, buf, offset=None):
        if self.epoch != self.dev.epoch:
            return -_EIO
        return self.dev.writeblocks(block, buf, offset)

    def ioctl(self, op, arg):
        if op not in (4, 5) and self.epoch != self.dev.epoch:
            return -_EIO
        return self.dev.ioctl(op, arg)

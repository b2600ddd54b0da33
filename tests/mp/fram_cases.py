# FRAM driver against its twin: one JSON line per case (tests/test_fram.py).
import json
import os
import micropython
from sim.hw import SPI, Pin
from sim.twin_fram import Fram
from drivers.fram import FRAM
from drivers.errors import AbsentError, IdError, DeviceError

TMP = "/tmp/fram_twin_test_%d.bin" % os.getpid() if hasattr(os, "getpid") else "/tmp/fram_twin_test.bin"


def out(case, **kw):
    kw["case"] = case
    print(json.dumps(kw))


def rig(twin=None, polarity=0, phase=0, wp=None):
    spi = SPI(3, 20000000, polarity=polarity, phase=phase)
    cs = Pin("PC9", Pin.OUT, value=1)
    if twin is not None:
        spi.attach(cs, twin)
    return spi, cs, FRAM(spi, cs, wp=wp)


def raw(spi, cs, frame, nread=0):
    """One CS frame on the bus, bypassing the driver: returns MISO bytes after frame."""
    cs(0)
    spi.write(bytes(frame))
    r = spi.read(nread) if nread else b""
    cs(1)
    return r


def err(fn):
    try:
        fn()
    except Exception as e:
        return type(e).__name__
    return None


# --- identification -----------------------------------------------------------
tw = Fram()
spi, cs, f = rig(tw)
did = f.begin()
out("begin", id=list(did), status=f.status, protect_from=f.protected_from())

spi, cs, f = rig(None)          # nothing fitted: MISO floats high
out("absent", err=err(f.begin), absent=f.errors.absent)
tw2 = Fram()
tw2.present = False
spi, cs, f = rig(tw2)
out("absent_twin", err=err(f.begin), absent=f.errors.absent)

spi, cs, f = rig(Fram(device_id=(0x04, 0x7F, 0x27, 0x03)))   # a 1 Mbit part on a 2 Mbit board
out("wrong_density", err=err(f.begin), id=f.errors.id)
spi, cs, f = rig(Fram(device_id=(0xC2, 0x22, 0x08, 0x00)))   # not Fujitsu
out("wrong_maker", err=err(f.begin), id=f.errors.id)
spi, cs, f = rig(Fram(), polarity=1, phase=1)                # wrong SPI mode: bits shift
out("wrong_mode", err=err(f.begin))

# small part: 2-byte addresses
tw8 = Fram(8192)
spi8 = SPI(3)
cs8 = Pin("X", Pin.OUT, value=1)
spi8.attach(cs8, tw8)
f8 = FRAM(spi8, cs8, size=8192)
f8.begin()
f8.write(8190, b"\xab\xcd")
out("small_part", id=list(f8.device_id), addr_bytes=f8.addr_bytes, data=list(f8.read(8190, 2)),
    twin=list(tw8.peek(8190, 2)))

# --- data path ------------------------------------------------------------------
tw = Fram()
spi, cs, f = rig(tw)
f.begin()
pat = bytes((i * 7 + 3) & 0xFF for i in range(300))
f.write(0, pat)
f.write(0x3FFFF - 99, pat[:100])
big = bytearray(512)
mv = memoryview(big)
f.readinto(0x3FFFF - 99, mv[5:105])
out("roundtrip", first=f.read(0, 300) == pat, last=bytes(big[5:105]) == pat[:100],
    twin=tw.peek(0, 300) == pat, untouched=bytes(big[:5]) == b"\0" * 5 and big[105] == 0,
    writes=tw.writes, bytes_written=tw.bytes_written)
out("bounds", neg=err(lambda: f.read(-1, 4)), over=err(lambda: f.read(0x3FFFE, 4)),
    wover=err(lambda: f.write(0x40000, b"x")), ok=err(lambda: f.read(0x3FFFC, 4)))

# WEL: a WRITE frame without WREN stores nothing; WEL clears after every write
raw(spi, cs, [0x02, 0x00, 0x10, 0x00, 0x55, 0x55])      # WRITE without WREN
ign = tw.ignored_writes
raw(spi, cs, [0x06])                                    # WREN
wel_set = raw(spi, cs, [0x05], 1)[0] & 2
raw(spi, cs, [0x02, 0x00, 0x10, 0x00, 0x66])            # WRITE: stored
wel_after = raw(spi, cs, [0x05], 1)[0] & 2
raw(spi, cs, [0x02, 0x00, 0x10, 0x01, 0x77])            # second WRITE without WREN: ignored
raw(spi, cs, [0x06])
raw(spi, cs, [0x04])                                    # WRDI cancels WREN
raw(spi, cs, [0x02, 0x00, 0x10, 0x02, 0x88])
out("wel", ignored=tw.ignored_writes, first_ignored=ign, wel_set=wel_set, wel_after=wel_after,
    data=list(tw.peek(0x1000, 3)))

# address wrap (chip side) and fast read
tw.poke(0x3FFFE, b"\x11\x22")
tw.poke(0, b"\x33\x44")
wrap = raw(spi, cs, [0x03, 0x03, 0xFF, 0xFE], 4)        # READ from the last-but-one byte
fst = raw(spi, cs, [0x0B, 0x00, 0x00, 0x00, 0xEE], 2)   # FSTRD with dummy byte
dc = raw(spi, cs, [0x03, 0xFC, 0x00, 0x00], 2)          # upper address bits are don't-care
out("wrap", wrap=list(wrap), fstrd=list(fst), dontcare=list(dc))

# --- block protect ----------------------------------------------------------------
tw = Fram()
spi, cs, f = rig(tw)
f.begin()
f.write(0x30000 - 2, b"\x01\x02")                       # below the protected quarter
f.set_block_protect(1)
pf = f.protected_from()
e1 = err(lambda: f.write(0x2FFFF, b"\x09\x09"))          # crosses into it: driver refuses
raw(spi, cs, [0x06])
raw(spi, cs, [0x02, 0x03, 0x00, 0x00, 0xAA, 0xBB])        # chip drops protected bytes
f.write(0x2FFFE, b"\x05\x06")
out("block_protect", status=f.status, protect_from=pf, driver_err=e1, protected=tw.protected_bytes,
    upper=list(tw.peek(0x30000, 2)), lower=list(tw.peek(0x2FFFE, 2)))
f.set_block_protect(0)
f.write(0x30000, b"\xAA")
out("unprotect", status=f.status, data=tw.peek(0x30000, 1)[0])

# WPEN + WP low freezes the status register
wp = Pin("PC8", Pin.OUT, value=1)
tw = Fram(wp_pin=wp)
spi, cs, f = rig(tw, wp=wp)
f.begin()
f.set_block_protect(2, lock=True)
locked_status = f.read_status()
# with WP low a raw WRSR is ignored
raw(spi, cs, [0x06])
raw(spi, cs, [0x01, 0x00])
still = f.read_status()
wpl = wp.value()
out("wp_lock", status=locked_status, after_raw=still, wp=wpl, status_writes=tw.status_writes)
f.set_block_protect(0)   # driver raises WP first, so this succeeds
out("wp_unlock", status=f.status, wp=wp.value())

# --- power cut --------------------------------------------------------------------
tw = Fram()
spi, cs, f = rig(tw)
f.begin()
f.write(0x100, b"\xEE" * 10)
tw.cut_after(5)
f.write(0x100, bytes(range(10)))
dead = err(f.begin)
dead_read = list(f.read(0x100, 4))
tw.power_on()
f.begin()
out("power_cut", stored=list(f.read(0x100, 10)), dead=dead, dead_read=dead_read,
    wel=f.status & 2, cuts=tw.power_cuts, bytes_written=tw.bytes_written)

# a cut spread over two writes: the second write loses its tail
tw = Fram()
spi, cs, f = rig(tw)
f.begin()
tw.cut_after(12)
f.write(0x200, b"\x01" * 8)
f.write(0x300, b"\x02" * 8)
tw.power_on()
out("power_cut_2", a=list(f.read(0x200, 8)), b=list(f.read(0x300, 8)))

tw = Fram()
spi, cs, f = rig(tw)
f.begin()
tw.cut_after(0)
f.write(0x10, b"\x07\x07")
tw.power_on()
out("power_cut_0", data=list(f.read(0x10, 2)), cuts=tw.power_cuts)

# --- backing file -----------------------------------------------------------------
try:
    os.remove(TMP)
except OSError:
    pass
tw = Fram(path=TMP, persist=True)
spi, cs, f = rig(tw)
f.begin()
f.write(0x1234, b"persist")
tw.cut_after(3)
f.write(0x2000, b"abcdef")
tw2 = Fram(path=TMP, persist=False)
spi2, cs2, f2 = rig(tw2)
f2.begin()
out("file_persist", data=bytes(f2.read(0x1234, 7)).decode(), cut=bytes(f2.read(0x2000, 6)).decode(),
    size=os.stat(TMP)[6])
# sync mode: nothing reaches the file until sync()
f2.write(0x10, b"xyz")
tw3 = Fram(path=TMP)
before = tw3.peek(0x10, 3)
n = tw2.sync()
tw4 = Fram(path=TMP)
out("file_sync", before=list(before), after=tw4.peek(0x10, 3).decode(), synced=n)
for t in (tw, tw2, tw3, tw4):
    t.close()
os.remove(TMP)

# --- heap-locked read path ----------------------------------------------------------
tw = Fram()
spi, cs, f = rig(tw)
f.begin()
f.write(0x4000, bytes(range(256)))
buf = bytearray(300)
whole = memoryview(buf)
part = whole[20:84]
f.readinto(0x4000, buf)           # warm the sim bus's dummy-byte caches (per length)
f.readinto(0x4010, part)
buf[:] = bytes(300)
micropython.heap_lock()
try:
    f.readinto(0x4010, part)           # memoryview slice
    p_ok = buf[19] == 0 and buf[84] == 0 and part[0] == 16 and part[63] == 79
    f.readinto(0x4000, buf)            # whole preallocated bytearray (300 B, to 0x412C)
    ok1 = True
except MemoryError:
    ok1 = False
    p_ok = False
micropython.heap_unlock()
out("heap_lock", ok=ok1, part=p_ok, whole=bytes(buf[:256]) == bytes(range(256)))

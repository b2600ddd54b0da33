# begin() against the twin, register traffic, command decoding, raw frames.
from ads131m04_rig import Rig, emit
from drivers import ads131m04 as A
from drivers.errors import CrcError


def raw(rig, words, ws=3, nwords=6):
    """Clock one frame of nwords words (16-bit values MSB-aligned in ws-byte
    words) and return the MISO bytes."""
    tx = bytearray(ws * nwords)
    for k, w in enumerate(words):
        tx[k * ws] = w >> 8
        tx[k * ws + 1] = w & 0xFF
    rx = bytearray(len(tx))
    rig.d.cs(0)
    rig.spi.write_readinto(tx, rx)
    rig.d.cs(1)
    return rx


def hx(b):
    return "".join("%02x" % v for v in b)


r = Rig()
d, t = r.d, r.t
ident = d.begin(osr=512, gains=(1, 2, 4, 128), phase=(0, 100, -100, 511))
emit(what="begin", ident=ident, regs=[t.reg(a) for a in range(0x00, 0x1D)], status=d.status,
     ring=d.ring.count())

# readback through the driver, write/readback of calibration registers
d.wreg(A.REG_CH0_OCAL_MSB + 5, 0x1234)
d.wreg(A.REG_CH0_GCAL_LSB + 10, 0xABCD)          # only bits 15:8 exist
d.wreg(A.REG_THRSHLD_LSB, 0xFFFF)                 # reserved bits 7:4 read 0
got = [d.rreg(A.REG_CH0_OCAL_MSB + 5), d.rreg(A.REG_CH0_GCAL_LSB + 10), d.rreg(A.REG_THRSHLD_LSB)]
# read-only registers ignore writes (the WREG is still acknowledged)
d.wreg(A.REG_ID, 0x1111)
d.wreg(A.REG_STATUS, 0xFFFF)
d.wreg(0x05, 0x7777)                              # reserved on the 4-channel part
ro = [d.rreg(A.REG_ID), d.rreg(A.REG_STATUS), d.rreg(0x05)]
emit(what="rw", got=got, ro=ro, twin_ocal=t.regs[0x0F])

# command words at frame level: response in the next frame
out = {}
raw(r, [0x0000])
out["null"] = hx(raw(r, [0x0000]))
raw(r, [0x1234])                                   # not a command: answered like NULL
out["unknown"] = hx(raw(r, [0x0000]))
raw(r, [0xA000 | (0x02 << 7) | 2])                 # RREG MODE, CLOCK, GAIN1
out["rreg3"] = hx(raw(r, [0x0000], nwords=6))
raw(r, [0x0022])
out["standby"] = hx(raw(r, [0x0000]))
out["standby_flag"] = t._standby
raw(r, [0x0033])
out["wakeup"] = hx(raw(r, [0x0000]))
raw(r, [0x0555])
out["lock"] = hx(raw(r, [0x0000]))
raw(r, [0x6000 | (0x07 << 7), 0x5555])             # WREG while locked: ignored
out["locked_wreg"] = hx(raw(r, [0xA000 | (0x07 << 7)]))
out["locked_rreg"] = hx(raw(r, [0x0000]))
raw(r, [0x0655])
out["unlock"] = hx(raw(r, [0x0000]))
raw(r, [0x6000 | (0x07 << 7) | 1, 0x0102, 0x0304])  # WREG two registers
out["wreg2"] = hx(raw(r, [0x0000]))
out["wreg2_regs"] = [t.regs[7], t.regs[8]]
# RESET needs a whole frame
raw(r, [0x0011], nwords=2)
out["short_reset"] = hx(raw(r, [0x0000]))
out["short_reset_mode"] = t.regs[2]
emit(what="commands", **out)

# input CRC: MODE.RX_CRC_EN; a wrong CRC blocks the command and sets CRC_ERR
d.wreg(A.REG_MODE, 0x1110)
from drivers.crc import crc16_ccitt
cmd = bytearray([0x60 | (0x07 >> 1), (0x07 & 1) << 7, 0, 0x22, 0x33, 0])
c = crc16_ccitt(cmd, 0, 6)
raw(r, [0x6000 | (0x07 << 7), 0x2233, c ^ 1])
bad = hx(raw(r, [0x0000, 0x0000]))           # NULL needs its CRC too: FFFF seed over 3 zero bytes
badreg = t.regs[7]
raw(r, [0x6000 | (0x07 << 7), 0x2233, c])
good = t.regs[7]
emit(what="rxcrc", bad=bad, badreg=badreg, good=good, cmd_crc=c)
# leave RX CRC mode with a correctly CRC'd WREG
cmd = bytearray([0x61, 0x00, 0, 0x01, 0x10, 0])
raw(r, [0x6100, 0x0110, crc16_ccitt(cmd, 0, 6)])
emit(what="rxcrc_off", mode=t.regs[2])

# word lengths (raw frames; the driver itself always uses 24-bit words)
from array import array
x = array("i", [2000000] * 4)
xn = array("i", [-2000000] * 4)
t.on_samples([x, x, xn, None], 4)                      # settle the phase-delay history
raw(r, [0x0000])
raw(r, [0x0000])                                       # both FIFO entries read
res = {}
for wl, ws in ((0, 2), (2, 4), (3, 4), (1, 3)):
    raw(r, [0x6000 | (0x02 << 7), 0x0010 | (wl << 8)], ws=t._ws())
    raw(r, [0x0000], ws=ws)                            # take the WREG acknowledgment
    t.on_samples([x, x, xn, None], 1)
    res[str(wl)] = hx(raw(r, [0x0000], ws=ws))
emit(what="wlength", frames=res, afe=[float(a) for a in t.afe])

# the driver rejects a corrupted register read
t.corrupt_crc(1)
try:
    d.rreg(A.REG_MODE)
    emit(what="rreg_crc", raised=False)
except CrcError as e:
    emit(what="rreg_crc", raised=True, msg=str(e), crc=d.errors.crc)

# STANDBY stops conversions, WAKEUP resumes
d.standby()
n0 = t.conversions
t.on_samples([x, x, x, x], 4)
n1 = t.conversions
d.wakeup()
t.on_samples([x, x, x, x], 4)
emit(what="standby", during=n1 - n0, after=t.conversions - n1)

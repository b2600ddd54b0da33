# Part identification and bring-up failures, SYNC/RESET pin.
from array import array
from ads131m04_rig import Rig, emit
from sim.twin_ads131m04 import Ads131m04Twin
from drivers.errors import AbsentError, IdError, CrcError, DeviceError


def attempt(tag, rig, **kw):
    try:
        rig.d.begin(**kw)
        emit(what=tag, ok=True, errors=rig.d.errors.as_dict())
    except DeviceError as e:
        emit(what=tag, ok=False, exc=type(e).__name__, msg=str(e),
             absent=isinstance(e, AbsentError), ident=isinstance(e, IdError),
             crc=isinstance(e, CrcError), errors=rig.d.errors.as_dict())


class Ads131m08(Ads131m04Twin):
    ID = 0x2800          # 8-channel sibling: RESET answers FF28h


class Ads131m04Rev(Ads131m04Twin):
    ID = 0x24A7          # revision bits of the low byte are not checked


attempt("good", Rig())
attempt("wrong_part", Rig(twin_cls=Ads131m08))
attempt("revision", Rig(twin_cls=Ads131m04Rev))
# after a pin reset only the ID register identifies the part
attempt("wrong_id_reg", Rig(twin_cls=Ads131m08, sync_reset=True), hw_reset=True)
r = Rig()
r.t.present = False
attempt("absent", r)
attempt("unfitted", Rig(attach=False))
for mode in ((0, 0), (1, 0), (1, 1)):
    attempt("mode_%d%d" % mode, Rig(mode=mode))
# a bad argument never touches the bus
r = Rig()
for bad in ({"osr": 500}, {"gains": (1, 3, 1, 1)}, {"phase": (0, 600, 0, 0)}):
    try:
        r.d.begin(**bad)
        emit(what="badarg", ok=True)
    except ValueError as e:
        emit(what="badarg", ok=False, msg=str(e), frames=r.t.frames)

# SYNC/RESET pin: a long low pulse resets (registers back to defaults), a short one syncs
r = Rig(sync_reset=True)
d, t = r.d, r.t
d.begin(gains=(2, 2, 2, 2))
before = [t.regs[2], t.regs[3], t.regs[4]]
x = array("i", [1000000] * 8)
t.on_samples([x, x, x, x], 2)
fifo_before = t._fcount
d.sync()
emit(what="sync", regs=[t.regs[2], t.regs[3], t.regs[4]], before=before, syncs=t.syncs,
     fifo_before=fifo_before, fifo_after=t._fcount, drdy=r.drdy.value())
resets = t.resets
d.hw_reset()
emit(what="pin_reset", regs=[t.regs[2], t.regs[3], t.regs[4]], resets=t.resets - resets)
attempt("begin_hw_reset", r, hw_reset=True, gains=(4, 4, 4, 4))
emit(what="after_hw_begin", gain1=t.regs[4])

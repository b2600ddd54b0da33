# SHT4x driver against its twin in virtual time: one JSON line per case.
import json
import time
import asyncio
from core.clock import VirtualClock
from sim.hw import I2C
from sim.twin_sht4x import Sht4x, temp_ticks, rh_ticks
from drivers.sht4x import SHT4x, NotReadyError
from drivers.crc import crc8_sensirion


def out(case, **kw):
    kw["case"] = case
    print(json.dumps(kw))


def err(fn):
    try:
        fn()
    except Exception as e:
        return type(e).__name__
    return None


clock = VirtualClock()
env = {"t": 23.456, "rh": 41.25}


def rig(**kw):
    bus = I2C(1)
    tw = Sht4x(lambda: (env["t"], env["rh"]), clock.now_us, **kw)
    bus.attach(0x44, tw)
    return bus, tw, SHT4x(bus, 0x44, name="th_inlet")


async def drive(coro):
    """Run coro while moving virtual time from deadline to deadline."""
    task = asyncio.create_task(coro)
    while not task.done():
        for _ in range(3):
            await asyncio.sleep_ms(0)
        nxt = clock.next_deadline_us()
        if nxt is not None:
            clock.set_now_us(nxt)
    return await task


def run(coro):
    return asyncio.run(drive(coro))


# --- begin ------------------------------------------------------------------------
bus, tw, s = rig(serial=0x12345678, reset_us=1000)
t0 = clock.now_us()
sn = run(s.begin_async(clock))
out("begin_async", serial=sn, resets=tw.resets, elapsed_us=clock.now_us() - t0, cmd=tw.last_cmd)

# blocking begin on the same twin: works because reset recovery is real-time in tools
bus, tw, s = rig(serial=0xCAFEF00D)
out("begin_blocking", serial=s.begin(), resets=tw.resets)

# reset recovery is modelled: a command inside it is NACKed
bus, tw, s = rig(reset_us=1000)
s._command(0x94)
e = err(lambda: s._command(0x89))
out("reset_busy", err=e, absent=s.errors.absent, nacks=tw.nacks)

bus = I2C(1)
s = SHT4x(bus)
out("absent", err=err(s.begin), absent=s.errors.absent, scan=bus.scan())

# --- measurement --------------------------------------------------------------------
bus, tw, s = rig()
s.begin()
res = []
for prec in ("high", "medium", "low"):
    t, rh = run(s.measure(clock, prec))
    res.append([prec, t, rh, tw.last_cmd])
out("measure", res=res, t_ticks=temp_ticks(env["t"]), rh_ticks=rh_ticks(env["rh"]),
    measurements=tw.measurements, errors=s.errors.as_dict())

# reading before the datasheet time: the chip NACKs -> timeout, then a later read works
early = []
for prec, ms in (("high", 8.3), ("medium", 4.5), ("low", 1.7)):
    wait = s.start_measure(prec)
    clock.advance_us(int(ms * 1000) - 100)
    e = err(s.read_result)
    clock.advance_us(wait * 1000 - (int(ms * 1000) - 100))
    ok = s.read_result()
    early.append([prec, wait, e, ok[0]])
out("early_read", early=early, timeout=s.errors.timeout, absent=s.errors.absent)

# a command while measuring is NACKed too
s.start_measure("high")
e = err(lambda: s.start_measure("low"))
e2 = err(lambda: s.start_measure("low"))   # nothing pending any more: reported absent
clock.advance_us(9000)
out("busy_command", err=e, err2=e2, timeout=s.errors.timeout, absent=s.errors.absent)

# reading with nothing started
out("no_pending", err=err(s.read_result))

# CRC mismatch
tw.corrupt_crc(1)
s.start_measure("high")
clock.advance_us(9000)
e = err(s.read_result)
s.start_measure("high")
clock.advance_us(9000)
t, rh = s.read_result()
out("crc", err=e, crc=s.errors.crc, after=t)

# conversions at the extremes, RH cropped to 0..100
conv = []
for tc, rhv in ((-45.0, -10.0), (130.0, 130.0), (0.0, 0.0), (100.0, 100.0), (-40.0, 5.0)):
    env["t"] = tc
    env["rh"] = rhv
    conv.append(list(run(s.measure(clock, "low"))))
out("conversions", conv=conv)

# heater: accepted, then a high-precision measurement after the heat time
bus, tw, s = rig(heater_rise_c=2.0)
s.begin()
env["t"] = 25.0
env["rh"] = 50.0
wait = s.start_heater(200, 100)
clock.advance_us(100000)
e = err(s.read_result)                 # still heating
clock.advance_us((wait - 100) * 1000)
t, rh = s.read_result()
out("heater", wait=wait, early=e, t=t, rh=rh, runs=tw.heater_runs, cmd=tw.last_cmd)

# serial CRC failure in begin
bus, tw, s = rig()
tw.corrupt_crc(1)
out("serial_crc", err=err(s.begin), crc=s.errors.crc)

# raw frame check: the twin's words carry the Sensirion CRC
bus, tw, s = rig(serial=0x89ABCDEF)
bus.writeto(0x44, b"\x89")
fr = bus.readfrom(0x44, 6)
out("serial_frame", frame=list(fr), crc_ok=crc8_sensirion(fr, 0) == fr[2] and crc8_sensirion(fr, 3) == fr[5],
    reread=err(lambda: bus.readfrom(0x44, 6)))

# blocking measurement in real time (tools): twin on the real microsecond clock
bus = I2C(2)
tw = Sht4x(lambda: (21.0, 33.0), time.ticks_us)
bus.attach(0x44, tw)
s = SHT4x(bus)
s.begin()
t, rh = s.measure_blocking("high")
out("blocking", t=t, rh=rh)

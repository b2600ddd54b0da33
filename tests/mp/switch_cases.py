# Outlet switch drivers against relay/SSR twins in virtual time.
import json
import asyncio
from core.clock import VirtualClock
from sim.hw import Pin, PinFactory
from sim.twin_switch import LatchingRelayTwin, TriacSSRTwin
from drivers.switch import LatchingRelay, TriacSSR, Switches, actuate
import time
from boardconfig.h743_24_layout import OUTLETS

clock = VirtualClock()


def out(case, **kw):
    kw["case"] = case
    print(json.dumps(kw))


def relay(**kw):
    pins = PinFactory()
    s, r, fb = pins("S", Pin.OUT, value=0), pins("R", Pin.OUT, value=0), pins("F", Pin.IN)
    tw = LatchingRelayTwin(s, r, fb, now_us=clock.now_us, **kw)
    return s, r, fb, tw


def step(tw, sw, ms):
    """Advance virtual time ms in 1 ms steps, servicing driver and twin."""
    for _ in range(ms):
        clock.advance_us(1000)
        tw.update(clock.now_us())
        if sw is not None:
            sw.service(clock.ticks_ms())


def pulse_log(pin, log):
    pin.watch(lambda p, v: log.append((p.id, v, clock.now_us())))


# --- normal close/open, timing of the contact change -------------------------------
s, r, fb, tw = relay()
sw = LatchingRelay(s, r, fb, coil_pulse_ms=30, clock=clock)
log = []
pulse_log(s, log)
pulse_log(r, log)
t0 = clock.now_us()
sw.request(True)
trace = []
for k in range(35):
    step(tw, sw, 1)
    trace.append((k + 1, s.value(), int(tw.contacts), fb.value(), int(sw.busy)))
closed_at = [t[0] for t in trace if t[2]][0]
pulse_end = [t[0] for t in trace if not t[1]][0]
out("close", commanded=sw.commanded, closed_at_ms=closed_at, pulse_end_ms=pulse_end,
    feedback=sw.feedback(), actuations=sw.actuations, log=[(a, b, c - t0) for a, b, c in log])
sw.request(False)
step(tw, sw, 40)
out("open", feedback=sw.feedback(), contacts=tw.contacts, actuations=sw.actuations, operations=tw.operations,
    reset_pin=r.value(), faults=tw.coil_fault)

# operate time longer than the minimum pulse: contacts move at t0 + operate
s, r, fb, tw = relay(operate_ms=15, min_pulse_ms=10)
sw = LatchingRelay(s, r, fb, clock=clock)
sw.request(True)
t = 0
while not tw.contacts and t < 50:
    step(tw, sw, 1)
    t += 1
out("operate_time", closed_at_ms=t)

# --- pulse too short -> no change ------------------------------------------------------
s, r, fb, tw = relay()
sw = LatchingRelay(s, r, fb, coil_pulse_ms=5, clock=clock)
sw.request(True)
step(tw, sw, 40)
out("short_pulse", feedback=sw.feedback(), contacts=tw.contacts, short=tw.short_pulses, busy=sw.busy)

# exactly the minimum pulse switches
s, r, fb, tw = relay()
sw = LatchingRelay(s, r, fb, coil_pulse_ms=10, clock=clock)
sw.request(True)
step(tw, sw, 20)
out("min_pulse", feedback=sw.feedback(), short=tw.short_pulses)

# --- both coils -> fault, no change ---------------------------------------------------
s, r, fb, tw = relay()
s(1)
step(tw, None, 2)
r(1)
step(tw, None, 30)
s(0)
r(0)
step(tw, None, 20)
out("both_coils", faults=tw.coil_fault, contacts=tw.contacts, feedback=fb.value())

# the driver never drives both: an opposite request ends the running pulse first
s, r, fb, tw = relay()
sw = LatchingRelay(s, r, fb, clock=clock)
both = []
s.watch(lambda p, v: both.append(s.value() and r.value()))
r.watch(lambda p, v: both.append(s.value() and r.value()))
sw.request(True)
step(tw, sw, 5)
sw.request(False)
step(tw, sw, 40)
out("reverse", faults=tw.coil_fault, both_high=any(both), feedback=sw.feedback(), commanded=sw.commanded,
    actuations=sw.actuations)

# --- welded and stuck-open contacts --------------------------------------------------------
s, r, fb, tw = relay()
sw = LatchingRelay(s, r, fb, clock=clock)
sw.request(True)
step(tw, sw, 40)
tw.weld()
sw.request(False)
step(tw, sw, 40)
out("welded", commanded=sw.commanded, feedback=sw.feedback(), contacts=tw.contacts)

s, r, fb, tw = relay()
sw = LatchingRelay(s, r, fb, clock=clock)
tw.stuck_open()
sw.request(True)
step(tw, sw, 40)
out("stuck_open", commanded=sw.commanded, feedback=sw.feedback(), contacts=tw.contacts)

# driver starts from the contacts' state (bistable: survives a reboot)
s, r, fb, tw = relay(closed=True)
sw = LatchingRelay(s, r, fb, clock=clock)
out("boot_state", commanded=sw.commanded, feedback=sw.feedback())

# --- async actuate -----------------------------------------------------------------------
async def drive(coro):
    task = asyncio.create_task(coro)
    while not task.done():
        for _ in range(3):
            await asyncio.sleep_ms(0)
        nxt = clock.next_deadline_us()
        if nxt is not None:
            clock.set_now_us(nxt)
            tw.update(clock.now_us())
    return await task

s, r, fb, tw = relay()
sw = LatchingRelay(s, r, fb, clock=clock)
log = []
pulse_log(s, log)
t0 = clock.now_us()
asyncio.run(drive(actuate(sw, True, clock)))
tw.update(clock.now_us())
out("actuate", feedback=sw.feedback(), busy=sw.busy, pulse_us=log[1][2] - log[0][2] if len(log) == 2 else None,
    elapsed_us=clock.now_us() - t0)

# --- ticks wrap ---------------------------------------------------------------------------------
s, r, fb, tw = relay()
sw = LatchingRelay(s, r, fb)
# ticks wrap at the platform's period (2**30 on the MCU, 2**62 on the unix port)
start = time.ticks_add(0, -10)
sw.request(True, start)
b1 = sw.service(time.ticks_add(start, 29))
b2 = sw.service(time.ticks_add(start, 30))
out("ticks_wrap", busy_29=b1, busy_30=b2, diff=time.ticks_diff(5, time.ticks_add(0, -3)),
    diff_neg=time.ticks_diff(time.ticks_add(0, -3), 5))

# --- triac SSR ---------------------------------------------------------------------------------
pins = PinFactory()
g, f = pins("G", Pin.OUT, value=0), pins("FB", Pin.IN)
tw = TriacSSRTwin(g, f, now_us=clock.now_us)
ssr = TriacSSR(g, f, v_on=1.1)
res = {}
ssr.request(True)
res["gate_on"] = [g.value(), tw.gate, ssr.feedback()]
tw.energised = tw.gate          # plant: conducts from the next zero crossing
res["fb_on"] = ssr.feedback()
ssr.request(False)
tw.energised = tw.gate
res["fb_off"] = [tw.gate, ssr.feedback()]
tw.fail_short()
res["short"] = [g.value(), tw.gate, ssr.feedback()]
tw.energised = tw.gate
res["short_after_zc"] = ssr.feedback()
tw.repair()
tw.fail_open()
ssr.request(True)
tw.energised = True            # a plant trying to conduct cannot
res["open"] = [g.value(), tw.gate, ssr.feedback()]
tw.update(clock.now_us())
out("ssr", res=res, actuations=ssr.actuations, busy=ssr.busy, gate_changes=tw.gate_changes, v_on=ssr.v_on)

# --- from_board ----------------------------------------------------------------------------
pf = PinFactory()
for k in ("IN", "OUT"):
    setattr(pf, k, getattr(Pin, k))
sws = Switches.from_board(OUTLETS, pf, clock=clock)
kinds = {}
for n, x in sws.items():
    kinds[x.kind] = kinds.get(x.kind, 0) + 1
o1 = OUTLETS[1]
o21 = OUTLETS[21]
sws[1].request(True)
busy = sws.service(clock.ticks_ms())
clock.advance_us(30000)
busy2 = sws.service(clock.ticks_ms())
out("from_board", n=len(sws), kinds=kinds, keys=sorted(sws) == list(range(1, 25)),
    set_pin=sws[1].set_pin.id == o1["set"], reset_pin=sws[1].reset_pin.id == o1["reset"],
    fb_pin=sws[1].feedback_pin.id == o1["feedback"], gate=sws[21].gate_pin.id == o21["gate"],
    modes=[pf.pins[o1["set"]].mode, pf.pins[o1["feedback"]].mode], busy=busy, busy2=busy2,
    pulse=sws[1].coil_pulse_ms, names=[sws[1].name, sws[24].name])

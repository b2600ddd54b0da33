# NTC divider driver + twin, RS-485 half duplex on a sim UART pair.
import json
import asyncio
from core.clock import VirtualClock
from sim.hw import ADC, Pin, UART
from sim.twin_ntc import NtcTwin, ntc_source
from drivers.ntc import NTC
from drivers.rs485 import RS485, frame_gap_us, char_gap_us, char_time_us
from boardconfig.h743_24_layout import NTCS


def out(case, **kw):
    kw["case"] = case
    print(json.dumps(kw))


# --- NTC ------------------------------------------------------------------------------
temp = {"c": 25.0}
tw = NtcTwin.from_board(NTCS["ntc1"], lambda: temp["c"])
adc = ADC(Pin("PA0"), tw)
n = NTC.from_board(NTCS["ntc1"], adc, name="ntc1")
rows = []
for c in (-30.0, -10.0, 0.0, 25.0, 40.0, 60.0, 85.0, 110.0, 150.0):
    temp["c"] = c
    rows.append([c, n.temperature_c(), n.code])
out("ntc_sweep", rows=rows, fault=n.fault, errors=n.errors.absent)
tw.open_circuit()
t_open = n.temperature_c()
f_open = n.fault
tw.short_circuit()
t_short = n.temperature_c()
f_short = n.fault
tw.repair()
temp["c"] = 30.0
t_back = n.temperature_c()
out("ntc_faults", open=t_open, open_fault=f_open, short=t_short, short_fault=f_short,
    absent=n.errors.absent, back=t_back, fault_after=n.fault)
# the board-built twin (as sim.world makes it) and the function form agree
temp["c"] = 47.0
out("ntc_helpers", world=NtcTwin.from_board(NTCS["ntc4"], lambda: 47.0)(), twin=tw(),
    fn=ntc_source(lambda: 47.0)())

# --- RS-485 -------------------------------------------------------------------------------
out("rs485_timing", t35=[frame_gap_us(b) for b in (9600, 19200, 38400, 115200)],
    t15=[char_gap_us(b) for b in (9600, 19200, 38400)], char=char_time_us(19200),
    char10=char_time_us(9600, 10))

clock = VirtualClock()
a, b = UART.pair(baudrate=19200)
de = Pin("PD4", Pin.OUT, value=0)
edges = []
de.watch(lambda p, v: edges.append((v, clock.now_us(), b.any())))
bus = RS485(a, de, baudrate=19200)


async def drive(coro):
    task = asyncio.create_task(coro)
    while not task.done():
        for _ in range(3):
            await asyncio.sleep_ms(0)
        nxt = clock.next_deadline_us()
        if nxt is not None:
            clock.set_now_us(nxt)
    return await task

frame = bytes(range(1, 9))
t0 = clock.now_us()
asyncio.run(drive(bus.write(frame, clock)))
got = b.read()
out("rs485_async", edges=[(v, t - t0, k) for v, t, k in edges], got=list(got), de=de.value(),
    frames=bus.frames_sent, bytes=bus.bytes_sent)

# reply from the other side: passthrough reads
b.write(b"\x01\x03\x02")
out("rs485_read", any=bus.any(), data=list(bus.read(2)), rest=list(bus.read()), none=bus.read())

edges.clear()
bus.write_blocking(b"abc")
out("rs485_blocking", edges=[(v, k) for v, t, k in edges], got=b.read().decode(), de=de.value())

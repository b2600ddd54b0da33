# The ADE9000 self-check as boot wires it (tests/test_metrology_snapshot.py):
# the simulated PDU plays a 3-phase fixture, the firmware's metrology gets a
# coefficient the chip path does not share, and boot's SelfCheck (events =
# the PDU's event log, in FRAM) runs after every 1 s frame. Prints each
# check's drift list and, at the end, the event log's meter_drift records.
#
#   metro_selfcheck.py FIXTURE.cfg GAIN_L1_I
import sys
import json
from core import codes
from sim.pdu import sim_pdu

cfg = sys.argv[1]
gain = float(sys.argv[2])
pdu = sim_pdu("sim24", virtual=True, power_on="none", fixture=cfg)
m = pdu.metro
m.load_calibration({"coeffs": {"L1-I": (gain, 0.0, 0.0)}, "version": 1})
sc = pdu.selfcheck
clock = pdu.clock


def on_frame(frame):
    if frame.kind == "sec":
        r = sc.check()
        if r is not None:
            print(json.dumps({"t_s": clock.now_us() / 1e6, "drift": r["drift"]}))


m.snapshot.listeners.append(on_frame)
end_us = int(pdu.board.plant.samples / 8000 * 1000000)
pdu.acq.start()
while clock.now_us() < end_us:
    clock.advance_us(10000)
    pdu.acq.poll()
evs, missed = pdu.events.since(0, 500)
drift = [e for e in evs if e["code"] == codes.EV_METER_DRIFT]
print(json.dumps({"persistent": pdu.events.persistent, "missed": missed, "code": codes.EV_METER_DRIFT,
                  "events": drift}))

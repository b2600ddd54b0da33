# Boot sim24 in virtual time with loads plugged, run a few seconds, report.
import json, sys
from firmware.boot import Pdu

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
pdu = Pdu("sim24", virtual=True, seed=3, stagger_ms=50)
plant = pdu.board.plant
loads = {1: ("resistive", 4.0), 5: ("psu", 2.0), 12: ("resistive", 3.0), 20: ("fan", 1.5), 23: ("resistive", 2.0)}
for n, (kind, irms) in loads.items():
    plant.plug(n, {"kind": kind, "irms": irms})
pdu.run(seconds)
evs, missed = pdu.events.since(0, 1000)
print(json.dumps({
    "health": pdu.health.report(), "ok": pdu.health.ok(),
    "frames": pdu.acq.frames_total, "inlet_sets": pdu.acq.inlet_total, "overruns": pdu.acq.overruns(),
    "now_us": pdu.clock.now_us(), "inlet": pdu.inlet, "env": pdu.env,
    "outlets_on": pdu.outlets.count_on(), "events": [(e["event"], e["channel"]) for e in evs],
    "status": pdu.status_line()}))

# Boot sim24 in virtual time with loads plugged, run a few seconds, report.
import json, sys
from sim.pdu import sim_pdu

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
pdu = sim_pdu("sim24", virtual=True, seed=3, stagger_ms=50)
plant = pdu.board.plant
loads = {1: ("resistive", 4.0), 5: ("psu", 2.0), 12: ("resistive", 3.0), 20: ("fan", 1.5), 23: ("resistive", 2.0)}
for n, (kind, irms) in loads.items():
    plant.plug(n, {"kind": kind, "irms": irms})
pdu.run(seconds)
evs, missed = pdu.events.since(0, 1000)
snap = pdu.metro.snapshot
inlet = {"p_w": snap.get("INLET.p_w", "sec"), "f_hz": snap.get("L1.f_hz", "sec"),
         "vrms": [snap.get("L%d.vrms" % k, "sec") for k in (1, 2, 3)],
         "irms": [snap.get("L%d.irms" % k, "sec") for k in (1, 2, 3)],
         "outlet_p": {n: snap.get("O%d.p_w" % n, "sec") for n in loads},
         "chip": pdu.inlet.get("chip"), "selfcheck_ok": pdu.selfcheck.ok(),
         "e_inlet_wh": snap.get("INLET.e_imp_wh")}
recs = pdu.records.query(0, 1 << 40, level=0) if pdu.records else None
print(json.dumps({
    "health": pdu.health.report(), "ok": pdu.health.ok(),
    "frames": pdu.acq.frames_total, "inlet_sets": pdu.acq.inlet_total, "overruns": pdu.acq.overruns(),
    "now_us": pdu.clock.now_us(), "inlet": inlet, "env": pdu.env,
    "outlets_on": pdu.outlets.count_on(), "events": [(e["event"], e["channel"]) for e in evs],
    "status": pdu.status_line()}))

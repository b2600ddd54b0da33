# Boot sim24 with the FRAM not fitted and one ADS131M04 of the wrong part:
# health names both faults, the rest of the PDU runs.
import json
from sim.pdu import sim_pdu
from sim.twin_ads131m04 import Ads131m04Twin


class WrongPart(Ads131m04Twin):
    ID = 0x2200  # an ADS131M02-like ID: 2 channels


pdu = sim_pdu("sim24", virtual=True, seed=2, power_on="none", twin_overrides={"fram": lambda **kw: None, "adc3": WrongPart,
                                                                         "adc6": lambda *a, **kw: None})
pdu.board.plant.plug(1, {"kind": "resistive", "irms": 2.0})
pdu.run(1.0)
evs, _ = pdu.events.since(0)
print(json.dumps({"health": pdu.health.report(), "ok": pdu.health.ok(), "adcs": len(pdu.adcs),
                  "frames": pdu.acq.frames_total, "overruns": pdu.acq.overruns(),
                  "faults": [(e["channel"], e["values"]) for e in evs if e["event"] == "device_fault"]}))

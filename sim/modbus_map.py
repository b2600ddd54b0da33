# The Modbus register map as the firmware serves it, for tools/modbus_doc.py:
# boots sim24 in virtual time (no outlets on), builds the SunSpec map the
# Modbus uplink uses and prints its blocks and constants as one JSON line.
#   micropython -m sim.modbus_map
import json
from sim.pdu import sim_pdu
from comms import sunspec
from comms.model import PROT_STATES
from comms.sunspec import SunSpecMap

pdu = sim_pdu("sim24", virtual=True, power_on="none")
smap = SunSpecMap(pdu.uplinks.model, pdu.uplinks.commands)
print(json.dumps({
    "base": sunspec.BASE, "end": smap.end, "vendor_id": sunspec.VENDOR_ID,
    "blocks": [list(b) for b in smap.blocks],
    "sf": {"A": sunspec.SF_A, "V": sunspec.SF_V, "Hz": sunspec.SF_HZ, "W": sunspec.SF_W, "VA": sunspec.SF_W,
           "VAR": sunspec.SF_W, "PF": sunspec.SF_PF, "TotWh": sunspec.SF_WH},
    "meter_points": sunspec.METER_POINTS, "vendor_fixed": sunspec._V_FIXED, "outlet_regs": sunspec.OUTLET_REGS, "outlets": smap.outlets,
    "cmd_results": sunspec.CMD_RESULTS, "trip_reasons": sunspec.TRIP_REASONS,
    "outlet_states": sunspec.OUTLET_STATES, "prot_states": PROT_STATES,
}))

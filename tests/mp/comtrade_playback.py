# Play a COMTRADE fixture through the sim24 twins and drivers in virtual time
# and dump every drained code of the given groups as JSON lines.
import sys, json
from sim.pdu import sim_pdu

cfg, nsamples = sys.argv[1], int(sys.argv[2])
groups = [int(g) for g in sys.argv[3].split(",")]
pdu = sim_pdu("sim24", virtual=True, power_on="none", fixture=cfg)
got = {g: [] for g in groups}
inlet = []

def collect(acq):
    for g in groups:
        a = acq.group[g - 1]
        got[g].extend(a[i] for i in range(4 * acq.n_group))
    inlet.extend(acq.inlet[i] for i in range(7 * acq.n_inlet))

pdu.acq.consumers.append(collect)
pdu.run(nsamples / 8000 + 0.05)
for g in groups:
    print(json.dumps({"group": g, "codes": got[g][:4 * nsamples]}))
print(json.dumps({"inlet": inlet[:7 * nsamples], "overruns": pdu.acq.overruns(),
                  "crc": sum(a.errors.crc for a in pdu.adcs), "report": pdu.board.plant.report()}))

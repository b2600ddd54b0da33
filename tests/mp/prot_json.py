# Run scenario JSON files (scenarios/prot_*.json, the tools.scenario format)
# with metrology and protection attached; print each one's events as a JSON
# object. Usage: prot_json.py FILE [FILE...]
import sys
import json
import asyncio
from sim.scenario import validate, apply
from tests.mp.prot_rig import Rig


def one(path):
    with open(path) as f:
        sc = json.load(f)
    validate(sc)
    rig = Rig(seed=int(sc.get("seed", 1)), settings=sc.get("protection", {}),
              priorities={int(k): v for k, v in sc.get("priorities", {}).items()})
    cmds = apply(rig.pdu, sc)

    async def main():
        rig.pdu.extra_tasks.append(cmds)
        po = sc.get("power_on", "none")
        if po == "all":
            po = sorted(rig.pdu.switches)
        if po and po != "none":
            rig.pdu.extra_tasks.append(rig.pdu.outlets.power_on_sequence(po, int(sc.get("stagger_ms", 0)),
                                                                         "scenario"))
        await rig.until(float(sc.get("duration_s", 10)))
        rig.stop()
    asyncio.run(main())
    evs = [[e["ticks_ms"], e["event"], e["channel"], e["action"], e["values"]] for e in rig.evs]
    print(json.dumps({"file": path, "events": evs, "overruns": rig.pdu.acq.overruns(),
                      "prot_errors": rig.prot.errors}))
    asyncio.new_event_loop()


for p in sys.argv[1:]:
    one(p)

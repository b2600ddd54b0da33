# Operator commands are audited: who, when, what and result (refused while latched).
import json, asyncio
from firmware.boot import drive_virtual_time
from sim.pdu import sim_pdu

pdu = sim_pdu("sim24", virtual=True, power_on="none")
pdu.board.plant.plug(3, {"kind": "resistive", "irms": 2.0})

async def main():
    pdu.start()
    async def ops():
        await pdu.outlets.set(3, True, "alice@web")
        await pdu.outlets.set(3, False, "bob@snmp")
        pdu.board.plant.fault(3, "short")
        await pdu.outlets.set(3, True, "carol@modbus")     # the short trips and latches it
        await pdu.clock.sleep_ms(500)
        await pdu.outlets.set(3, True, "dave@web")         # refused: latched until an audited reset
    t = asyncio.create_task(ops())
    await drive_virtual_time(pdu.clock, 3000000)
    t.cancel()
    for x in pdu.tasks:
        x.cancel()

asyncio.run(main())
ents, missed = pdu.audit.since(0)
print(json.dumps([{k: e[k] for k in ("who", "what", "result", "utc_ms", "kind")} for e in ents]))

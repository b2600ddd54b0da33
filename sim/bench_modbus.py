# `make bench` (tools/bench_modbus.py): the Modbus plane's resident heap. Boots
# sim24 in virtual time, then builds the Modbus handler (SunSpec map) and a
# Modbus TCP server with its connection slots on boot's management model and
# starts it: the live-heap differences are what they hold while idle (module
# bytecode apart: imported first, as the MCU has it frozen in flash).
#   micropython -m sim.bench_modbus PORT
import asyncio
import gc
import json
import sys


def main(port):
    from sim.pdu import sim_pdu
    import comms.modbus
    import comms.modbus_tcp
    import comms.modbus_rtu      # noqa: F401  (bytecode: frozen on the MCU)
    import comms.sunspec
    pdu = sim_pdu("sim24", virtual=True, power_on="none")
    up = pdu.uplinks
    gc.collect()
    m0 = gc.mem_alloc()
    h = up.modbus()
    gc.collect()
    m1 = gc.mem_alloc()
    srv = comms.modbus_tcp.ModbusTcpServer(h, up.access, pace=up.model.pace)
    out = {}

    async def run():
        await srv.start("127.0.0.1", port)
        await asyncio.sleep_ms(200)
        gc.collect()
        out["m2"] = gc.mem_alloc()
        srv.close()
    asyncio.run(run())
    print(json.dumps({"map_bytes": m1 - m0, "server_bytes": out["m2"] - m1, "slots": len(srv.slots)}))


main(int(sys.argv[1]))

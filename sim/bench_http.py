# `make bench` (tools/bench_http.py): the HTTP plane's resident heap. Boots
# sim24 in virtual time, then builds a second management plane (model,
# command service, access store, API) beside boot's own and starts an HTTP
# server on it: the live-heap differences are what the plane and the server
# hold while idle (module bytecode apart: it is imported first, as the MCU
# has it frozen in flash).
#   micropython -m sim.bench_http PORT
import asyncio
import gc
import json
import sys


def main(port):
    from sim.pdu import sim_pdu
    import comms.httpd
    import comms.rest
    import comms.openapi_doc  # noqa: F401  (bytecode: frozen on the MCU)
    from firmware.uplinks import Uplinks
    pdu = sim_pdu("sim24", virtual=True, power_on="none")
    gc.collect()
    m0 = gc.mem_alloc()
    from comms.access import Access
    pdu.access = Access(pdu.stores.fs, pdu.clock, pdu.audit, path="/bench-access.json")  # a second store, empty
    up = Uplinks(pdu, {"http": ("127.0.0.1", port)})
    gc.collect()
    m1 = gc.mem_alloc()
    out = {}

    async def run():
        tasks = up.tasks()
        srv_task = asyncio.create_task(dict(tasks)["http"]())
        await asyncio.sleep_ms(200)
        gc.collect()
        out["m2"] = gc.mem_alloc()
        out["slots"] = len(up.servers[0].slots)
        srv_task.cancel()
        up.close()
    asyncio.run(run())
    print(json.dumps({"plane_bytes": m1 - m0, "server_bytes": out["m2"] - m1, "slots": out["slots"]}))


main(int(sys.argv[1]))

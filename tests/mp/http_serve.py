# Test server for tests/test_httpd.py: comms.httpd.HttpServer on 127.0.0.1 with
# a small handler, plain or TLS, until killed. Prints "listening PORT" once up.
#
#   http_serve.py PORT [--tls CERT.der KEY.der] [--max-conns N] [--idle-ms N]
#                 [--request-ms N] [--handler-ms N] [--send-ms N]
#
# Endpoints:
#   /stream?kb=N&size=B  N KB (2048) in chunks of B bytes (1024): block k of 1 KB
#                        is b"%07d\n" % k then FILL (the test rebuilds it)
#   /raise               the handler raises
#   /noresp              the handler returns without responding
#   /sleep?ms=N          answers after N ms
#   /stall               starts a stream, writes one chunk, then sleeps 60 s
#   /status?code=N       answers status N (200..499; else 400) with a JSON body
#   /clock?valid=0|1     sets the clock's time_valid (Date header on/off)
#   /header?name=N&value=V  adds the response header (N, V)
#   /close               server.close() from inside a handler
#   /mem                 {"mem_alloc": after gc.collect(), "stats", "last_error"}
#   anything else        echo: method, path, query, headers, body, peer, iface, version, head
import sys
import gc
import json
import asyncio

from core.clock import RealClock
from comms import httpd

FILL = bytes((i * 7) % 251 for i in range(1024))


def opt(name, default):
    a = sys.argv
    return int(a[a.index(name) + 1]) if name in a else default


async def main():
    port = int(sys.argv[1])
    ctx = None
    if "--tls" in sys.argv:
        import tls
        i = sys.argv.index("--tls")
        ctx = tls.SSLContext(tls.PROTOCOL_TLS_SERVER)
        with open(sys.argv[i + 1], "rb") as f:
            cert = f.read()
        with open(sys.argv[i + 2], "rb") as f:
            key = f.read()
        ctx.load_cert_chain(cert, key)
    clock = RealClock(utc_valid=True)
    srv = None

    async def handler(req, resp):
        p = req.path
        q = req.query
        if p == "/stream":
            kb = int(q.get("kb", "2048"))
            size = int(q.get("size", "1024"))
            block = bytearray(FILL)
            total = kb * 1024
            await resp.start("application/octet-stream")
            # one preallocated block; each chunk is a slice of it
            mv = memoryview(block)
            k = 0
            off = 0
            while off < total:
                if off % 1024 == 0:
                    block[0:8] = b"%07d\n" % k
                    k += 1
                i = off % 1024
                n = min(size, 1024 - i, total - off)
                await resp.write(mv[i:i + n])
                off += n
            await resp.end()
        elif p == "/raise":
            raise ValueError("raised on purpose")
        elif p == "/noresp":
            return
        elif p == "/sleep":
            await asyncio.sleep_ms(int(q.get("ms", "0")))
            await resp.send('{"slept": true}')
        elif p == "/stall":
            await resp.start("text/plain")
            await resp.write("first chunk\n")
            await asyncio.sleep_ms(60000)
        elif p == "/status":
            code = q.get("code", "200")
            resp.status = int(code) if code.isdigit() and 200 <= int(code) <= 499 else 400
            await resp.send('{"status": %d}' % resp.status)
        elif p == "/clock":
            clock.time_valid = q.get("valid", "1") == "1"
            await resp.send('{"time_valid": %s}' % ("true" if clock.time_valid else "false"))
        elif p == "/header":
            resp.headers.append((q.get("name", "X-A"), q.get("value", "")))
            await resp.send('{"header": true}')
        elif p == "/close":
            srv.close()
            await resp.send('{"closed": true}')
        elif p == "/mem":
            gc.collect()
            gc.collect()
            await resp.send(json.dumps({"mem_alloc": gc.mem_alloc(), "stats": srv.stats,
                                        "last_error": srv.last_error}))
        else:
            try:
                body = req.body.decode()
            except UnicodeError:
                body = None
            resp.headers.append(("X-Echo", "1"))
            await resp.send(json.dumps({
                "method": req.method, "path": req.path, "query": req.query,
                "headers": req.headers, "body": body, "body_len": len(req.body),
                "peer": req.peer, "iface": req.iface, "version": req.version, "head": req.head}))

    srv = httpd.HttpServer(handler, name="https" if ctx else "http",
                           max_conns=opt("--max-conns", httpd.MAX_CONNS), ssl=ctx, clock=clock)
    srv.idle_ms = opt("--idle-ms", srv.idle_ms)
    srv.request_ms = opt("--request-ms", srv.request_ms)
    srv.handler_ms = opt("--handler-ms", srv.handler_ms)
    srv.send_ms = opt("--send-ms", srv.send_ms)
    # a listen queue as deep as the slots: the tests open tens of connections at once
    await srv.start("127.0.0.1", port, max(httpd.BACKLOG, opt("--max-conns", httpd.MAX_CONNS)))
    print("listening", port)
    while True:
        await asyncio.sleep_ms(3600000)


asyncio.run(main())

# PBKDF2-HMAC-SHA256 and HMAC-SHA256 (comms/pbkdf2.py) on MicroPython:
# derived keys for the vectors on stdin (checked against CPython's hashlib by
# tests/test_access.py), and how the derivation shares the CPU.
#
# stdin: {"pbkdf2": [[password hex, salt hex, iterations, dklen], ...],
#         "hmac": [[key hex, msg hex], ...]}
import sys
import json
import time
import asyncio
import binascii
sys.path.append("tests/mp")
from comms import pbkdf2 as P

hx = lambda b: binascii.hexlify(b).decode()
ux = binascii.unhexlify

vec = json.loads(sys.stdin.read())


async def derive_all():
    out = []
    for pw, salt, it, dk in vec["pbkdf2"]:
        out.append(hx(await P.pbkdf2_sha256(ux(pw), ux(salt), it, dk)))
    return out


print(json.dumps({"case": "vectors", "pbkdf2": asyncio.run(derive_all()),
                  "hmac": [hx(P.hmac_sha256(ux(k), ux(m))) for k, m in vec["hmac"]],
                  "str_password": hx(asyncio.run(P.pbkdf2_sha256("pässword", "salt", 3, 32))),
                  "equal": [P.equal(b"abc", b"abc"), P.equal(b"abc", b"abd"), P.equal(b"abc", b"ab"),
                            P.equal(b"", b""), P.equal("x" * 32, "x" * 32), P.equal(b"\x00", b"\x01")]}))

errs = []
for args in ((b"p", b"s", 0, 32), (b"p", b"s", 1, 0), (b"p", b"s", 1, P.MAX_DKLEN + 1)):
    try:
        asyncio.run(P.pbkdf2_sha256(*args))
        errs.append("accepted")
    except ValueError as e:
        errs.append(str(e))
print(json.dumps({"case": "bad_args", "errors": errs}))


async def share(iterations, slice_n, work=None):
    """Run a derivation (or `work`) beside a 1 ms ticker and a task that
    counts the scheduler passes it gets; the worst gap the ticker saw (us)."""
    st = {"done": False, "passes": 0}
    gaps = []

    async def ticker():
        last = time.ticks_us()
        while not st["done"]:
            await asyncio.sleep_ms(1)
            now = time.ticks_us()
            gaps.append(time.ticks_diff(now, last))
            last = now

    async def counter():
        while not st["done"]:
            st["passes"] += 1
            await asyncio.sleep_ms(0)

    t1 = asyncio.create_task(ticker())
    t2 = asyncio.create_task(counter())
    await asyncio.sleep_ms(2)
    gaps.clear()
    st["passes"] = 0
    t0 = time.ticks_us()
    if work is None:
        await P.pbkdf2_sha256(b"correct horse", b"0123456789abcdef", iterations, 32, slice_n)
    else:
        await work()
    dt = time.ticks_diff(time.ticks_us(), t0)
    st["done"] = True
    await t1
    await t2
    gaps.sort()
    n = len(gaps)
    return {"iterations": iterations, "slice": slice_n, "total_us": dt, "ticks": n, "passes": st["passes"],
            "worst_gap_us": gaps[-1] if n else None, "median_gap_us": gaps[n // 2] if n else None,
            "p90_gap_us": gaps[n * 9 // 10] if n else None}


async def sharing():
    r = {"sliced": await share(10000, P.SLICE), "unsliced": await share(10000, 10 ** 9),
         "SLICE": P.SLICE}
    # a whole login at the production iteration count, beside the ticker
    from core.clock import VirtualClock
    from core.audit import AuditLog
    from comms.access import Access, DEFAULT_ITERATIONS
    from access_util import RamFS
    clock = VirtualClock()
    acc = Access(RamFS(), clock, AuditLog(None, clock))
    await acc.setup("Corr3ct-Horse-Battery")

    async def login():
        await acc.login("admin", "Corr3ct-Horse-Battery", "http", "10.0.0.1:1")
    r["login"] = await share(DEFAULT_ITERATIONS, P.SLICE, login)
    r["login"]["users_iterations"] = DEFAULT_ITERATIONS
    return r


print(json.dumps(dict(case="sharing", **asyncio.run(sharing()))))

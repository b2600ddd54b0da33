# PBKDF2-HMAC-SHA256 (RFC 8018 section 5.2) with HMAC (RFC 2104) on
# hashlib.sha256, for the access store's password hashes (comms/access.py).
#
# MicroPython's sha256 has no copy(), so HMAC cannot reuse the hashed
# ipad/opad blocks: each iteration hashes ipad||U (2 compressions) and
# opad||inner (2 compressions). U is XORed into T in place (viper, no
# allocation besides the two digests).
#
# The derivation is a coroutine that awaits pace() every SLICE
# iterations, so a login never holds the scheduler: the 10 ms acquisition loop
# keeps running while a password is checked. Figures (tests/test_access.py
# measures them): ~4 us per iteration on the unix port (x86-64), so a slice
# is ~0.15 ms there; a Cortex-M7 at 480 MHz is expected at roughly 15-25x
# that, a slice of 2-3 ms, well inside one 10 ms acquisition period.
import asyncio
import hashlib
import micropython
from micropython import const

SLICE = const(32)          # iterations between yields
HLEN = const(32)           # SHA-256 output
_BLOCK = const(64)         # SHA-256 block
MAX_DKLEN = const(1024)    # longest derived key accepted (bounded work)


@micropython.viper
def _xor32(t: ptr8, u: ptr8):
    i = 0
    while i < 32:
        t[i] = t[i] ^ u[i]
        i += 1


def _bytes(x):
    if isinstance(x, str):
        return x.encode()
    return bytes(x)


def pads(key):
    """(ipad block, opad block) of an HMAC-SHA256 key (RFC 2104: a key longer
    than the block is hashed first, then zero-padded to 64 bytes)."""
    key = _bytes(key)
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    ipad = bytearray(_BLOCK)
    opad = bytearray(_BLOCK)
    for i in range(_BLOCK):
        k = key[i] if i < len(key) else 0
        ipad[i] = k ^ 0x36
        opad[i] = k ^ 0x5C
    return bytes(ipad), bytes(opad)


def _mac(ipad, opad, msg):
    h = hashlib.sha256(ipad)
    h.update(msg)
    inner = h.digest()
    h = hashlib.sha256(opad)
    h.update(inner)
    return h.digest()


def hmac_sha256(key, msg):
    """HMAC-SHA256(key, msg) -> 32 bytes (RFC 2104)."""
    ipad, opad = pads(key)
    return _mac(ipad, opad, _bytes(msg))


async def _yield():
    await asyncio.sleep_ms(0)


async def pbkdf2_sha256(password, salt, iterations, dklen=HLEN, slice_n=SLICE, pace=None):
    """PBKDF2-HMAC-SHA256(password, salt, iterations, dklen) -> bytes.
    Awaits pace() (default: a plain yield) every slice_n iterations."""
    pace = pace or _yield
    iterations = int(iterations)
    if iterations < 1:
        raise ValueError("pbkdf2: iterations must be >= 1")
    if not 1 <= dklen <= MAX_DKLEN:
        raise ValueError("pbkdf2: dklen 1..%d" % MAX_DKLEN)
    if slice_n < 1:
        raise ValueError("pbkdf2: slice_n must be >= 1")
    ipad, opad = pads(password)
    salt = _bytes(salt)
    out = bytearray()
    n = 0
    block = 1
    while len(out) < dklen:
        u = _mac(ipad, opad, salt + block.to_bytes(4, "big"))
        t = bytearray(u)
        for _ in range(iterations - 1):
            u = _mac(ipad, opad, u)
            _xor32(t, u)
            n += 1
            if n >= slice_n:
                n = 0
                await pace()
        out.extend(t)
        block += 1
    return bytes(out[:dklen])


def equal(a, b):
    """Constant-time comparison of two byte strings (or two str): the time
    depends on the length only, never on where they differ."""
    a = _bytes(a)
    b = _bytes(b)
    r = len(a) ^ len(b)
    if len(a) != len(b):
        b = a          # still walk a's length, the result is already "different"
    for i in range(len(a)):
        r |= a[i] ^ b[i]
    return r == 0

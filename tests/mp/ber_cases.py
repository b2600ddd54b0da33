# BER codec cases (tests/test_ber.py): reads one JSON case per stdin line,
# prints one JSON result per case.
#   {"op": "decode", "hex": ..., "kind": "int"|"uint"|"oid"|"octets"|"tlv"}
#       -> {"ok": value} or {"err": message}
#   {"op": "encode", "kind": ..., "value": ..., "tag": n} -> {"hex": ...}
import sys
import json
from comms.ber import Decoder, Encoder, BerError, TAG_INTEGER, TAG_OID, TAG_OCTETS, TAG_COUNTER64

buf = bytearray(2000)


def decode(c):
    b = bytes.fromhex(c["hex"])
    d = Decoder(b)
    k = c["kind"]
    if k == "int":
        v = d.integer()
    elif k == "uint":
        v = d.integer(tag=c.get("tag", TAG_COUNTER64))
    elif k == "oid":
        v = list(d.oid())
    elif k == "octets":
        s, e = d.octets(c.get("limit", 255))
        v = b[s:e].hex()
    else:
        t, s, e = d.tlv()
        v = [t, s, e]
    if d.pos != len(b):
        raise BerError("trailing octets")
    return v


def encode(c):
    e = Encoder(buf)
    k = c["kind"]
    if k == "int":
        e.integer(c["value"], c.get("tag", TAG_INTEGER))
    elif k == "oid":
        e.oid(c["value"])
    elif k == "octets":
        e.octets(bytes.fromhex(c["value"]))
    elif k == "seq":
        mark = e.pos
        for v in reversed(c["value"]):
            e.integer(v)
        e.seq(mark)
    return bytes(buf[e.pos:]).hex()


for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    c = json.loads(line)
    try:
        if c["op"] == "decode":
            print(json.dumps({"ok": decode(c)}))
        else:
            print(json.dumps({"hex": encode(c)}))
    except BerError as ex:
        print(json.dumps({"err": str(ex)}))

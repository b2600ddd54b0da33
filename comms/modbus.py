# Modbus application layer (Modbus Application Protocol V1.1b3): one request
# PDU in, one response PDU out, the same for Modbus TCP (comms/modbus_tcp.py)
# and Modbus RTU (comms/modbus_rtu.py). The register space is the SunSpec map
# (comms/sunspec.py); coils and discrete inputs are the outlets.
#
#   h = ModbusHandler(smap, model, stats)
#   n = await h.handle(req, out, write_ok, ident, iface, peer)
#       req: memoryview of the request PDU (function code first); out: a
#       bytearray of MAX_PDU; returns the response PDU's length in out
#       (an exception response when the request is refused)
#
# Function codes: 1 read coils (outlets commanded on), 2 read discrete inputs
# (outlets on by feedback), 3/4 read holding/input registers (the same
# SunSpec map), 5/15 write coils (outlet on/off), 6/16 write registers (the
# vendor model's outlet Ctl registers), 23 read/write registers, 43/14 read
# device identification. Writes need write_ok (the transport decides: access
# store switch and allowlist on TCP, unit id on RTU): without it exception 1.
# A write the command service refuses is exception 4; the vendor model's
# CmdSt register says why.
from micropython import const
from comms.sunspec import EX_ILLEGAL_FUNCTION, EX_ILLEGAL_ADDRESS, EX_ILLEGAL_VALUE, EX_DEVICE_FAILURE

MAX_PDU = const(253)
MAX_READ_REGS = const(125)
MAX_WRITE_REGS = const(123)
MAX_RW_WRITE_REGS = const(121)
MAX_READ_BITS = const(2000)
MAX_WRITE_BITS = const(1968)

# device identification objects (43/14): vendor name, product code, revision,
# vendor URL, product name, model name
VENDOR = "Rack PDU project"
VENDOR_URL = "https://example.invalid/rack-pdu"


def _u16(b, i):
    return (b[i] << 8) | b[i + 1]


class ModbusHandler:
    def __init__(self, smap, model, stats):
        self.smap = smap
        self.model = model
        self.stats = stats         # counters shared with the transport (health, /metrics)
        self.outlets = smap.outlets
        for k in ("requests", "exceptions", "writes"):
            stats.setdefault(k, 0)

    def _ex(self, out, fc, code):
        self.stats["exceptions"] += 1
        out[0] = fc | 0x80
        out[1] = code
        return 2

    async def handle(self, req, out, write_ok, ident, iface, peer):
        self.stats["requests"] += 1
        n = len(req)
        if n < 1:
            return 0
        fc = req[0]
        try:
            if fc in (1, 2):
                return self._bits(req, n, out, fc)
            if fc in (3, 4):
                if n != 5:
                    return self._ex(out, fc, EX_ILLEGAL_VALUE)
                return self._regs(out, fc, _u16(req, 1), _u16(req, 3), 0)
            if fc in (5, 6, 15, 16, 23):
                return await self._write(req, n, out, fc, write_ok, ident, iface, peer)
            if fc == 43:
                return self._ident(req, n, out)
        except (IndexError, ValueError):
            return self._ex(out, fc, EX_ILLEGAL_VALUE)
        return self._ex(out, fc & 0x7F, EX_ILLEGAL_FUNCTION)

    # --- reads ---------------------------------------------------------------------------
    def _bits(self, req, n, out, fc):
        if n != 5:
            return self._ex(out, fc, EX_ILLEGAL_VALUE)
        addr, qty = _u16(req, 1), _u16(req, 3)
        if not 1 <= qty <= MAX_READ_BITS:
            return self._ex(out, fc, EX_ILLEGAL_VALUE)
        if addr + qty > len(self.outlets):
            return self._ex(out, fc, EX_ILLEGAL_ADDRESS)
        nb = (qty + 7) // 8
        out[0] = fc
        out[1] = nb
        for i in range(nb):
            out[2 + i] = 0
        m = self.model
        for i in range(qty):
            if m.outlet_on(self.outlets[addr + i], fc == 1):
                out[2 + i // 8] |= 1 << (i % 8)
        return 2 + nb

    def _regs(self, out, fc, addr, qty, at):
        if not 1 <= qty <= MAX_READ_REGS:
            return self._ex(out, fc, EX_ILLEGAL_VALUE)
        mv = memoryview(out)[at + 2:at + 2 + 2 * qty]
        ex = self.smap.read(addr, qty, mv)
        if ex:
            return self._ex(out, fc, ex)
        out[at] = fc
        out[at + 1] = 2 * qty
        return at + 2 + 2 * qty

    # --- writes --------------------------------------------------------------------------
    async def _write(self, req, n, out, fc, write_ok, ident, iface, peer):
        # refused before anything else is checked while writes are off
        if not write_ok:
            return self._ex(out, fc, EX_ILLEGAL_FUNCTION)
        self.stats["writes"] += 1
        sm = self.smap
        if fc == 5:
            if n != 5:
                return self._ex(out, fc, EX_ILLEGAL_VALUE)
            addr, v = _u16(req, 1), _u16(req, 3)
            if v not in (0x0000, 0xFF00):
                return self._ex(out, fc, EX_ILLEGAL_VALUE)
            if addr >= len(self.outlets):
                return self._ex(out, fc, EX_ILLEGAL_ADDRESS)
            ex = await sm.outlet(self.outlets[addr], "on" if v else "off", ident, iface, peer)
            return self._echo(req, out, fc, ex, 5)
        if fc == 15:
            if n < 6:
                return self._ex(out, fc, EX_ILLEGAL_VALUE)
            addr, qty, nb = _u16(req, 1), _u16(req, 3), req[5]
            if not 1 <= qty <= MAX_WRITE_BITS or nb != (qty + 7) // 8 or n != 6 + nb:
                return self._ex(out, fc, EX_ILLEGAL_VALUE)
            if addr + qty > len(self.outlets):
                return self._ex(out, fc, EX_ILLEGAL_ADDRESS)
            for i in range(qty):
                if i:
                    await self.model.pace()     # each command audits and switches: one per slice
                on = req[6 + i // 8] >> (i % 8) & 1
                ex = await sm.outlet(self.outlets[addr + i], "on" if on else "off", ident, iface, peer)
                if ex:
                    return self._ex(out, fc, ex)
            return self._echo(req, out, fc, 0, 5)
        if fc == 6:
            if n != 5:
                return self._ex(out, fc, EX_ILLEGAL_VALUE)
            ex = await sm.write(_u16(req, 1), [_u16(req, 3)], ident, iface, peer)
            return self._echo(req, out, fc, ex, 5)
        if fc == 16:
            if n < 6:
                return self._ex(out, fc, EX_ILLEGAL_VALUE)
            addr, qty, nb = _u16(req, 1), _u16(req, 3), req[5]
            if not 1 <= qty <= MAX_WRITE_REGS or nb != 2 * qty or n != 6 + nb:
                return self._ex(out, fc, EX_ILLEGAL_VALUE)
            ex = await sm.write(addr, [_u16(req, 6 + 2 * i) for i in range(qty)], ident, iface, peer)
            return self._echo(req, out, fc, ex, 5)
        # 23: read/write multiple registers: the write first, then the read
        if n < 10:
            return self._ex(out, fc, EX_ILLEGAL_VALUE)
        raddr, rqty, waddr, wqty, nb = _u16(req, 1), _u16(req, 3), _u16(req, 5), _u16(req, 7), req[9]
        if not 1 <= rqty <= MAX_READ_REGS or not 1 <= wqty <= MAX_RW_WRITE_REGS or nb != 2 * wqty \
                or n != 10 + nb:
            return self._ex(out, fc, EX_ILLEGAL_VALUE)
        if not sm.writable(waddr, wqty):
            return self._ex(out, fc, EX_ILLEGAL_ADDRESS)
        ex = await sm.write(waddr, [_u16(req, 10 + 2 * i) for i in range(wqty)], ident, iface, peer)
        if ex:
            return self._ex(out, fc, ex)
        return self._regs(out, fc, raddr, rqty, 0)

    def _echo(self, req, out, fc, ex, n):
        if ex:
            return self._ex(out, fc, ex)
        out[0:n] = req[0:n]
        return n

    # --- 43/14 read device identification ---------------------------------------------------
    def _ident(self, req, n, out):
        if n != 4 or req[1] != 14:
            return self._ex(out, 43, EX_ILLEGAL_VALUE if n >= 2 and req[1] == 14 else EX_ILLEGAL_FUNCTION)
        code, oid = req[2], req[3]
        inv = self.model.inventory()
        objs = (VENDOR, "PDU-" + str(inv.get("board", "")), str(inv.get("fw_version", "")), VENDOR_URL,
                "Rack PDU controller", str(inv.get("board", "")))
        if code == 4:
            if oid >= len(objs):
                return self._ex(out, 43, EX_ILLEGAL_ADDRESS)
            ids = (oid,)
        elif code in (1, 2):
            last = 2 if code == 1 else 5
            if oid > last:
                oid = 0          # the specification: restart from 0 on an out-of-range start
            ids = range(oid, last + 1)
        else:
            return self._ex(out, 43, EX_ILLEGAL_VALUE)
        out[0], out[1], out[2], out[3] = 43, 14, code, 0x82      # conformity: regular, stream and individual
        out[4] = 0                   # more follows: no (every object fits one response)
        out[5] = 0                   # next object id
        out[6] = len(ids)
        i = 7
        for k in ids:
            b = objs[k].encode()[:64]
            out[i] = k
            out[i + 1] = len(b)
            out[i + 2:i + 2 + len(b)] = b
            i += 2 + len(b)
        return i


# Modbus TCP server (Modbus Messaging on TCP/IP Implementation Guide V1.0b):
# MBAP framing over comms/modbus.py's handler.
#
#   srv = ModbusTcpServer(handler, access, pace=None, max_conns=MAX_CONNS)
#   await srv.start(host, port); srv.close(); srv.stats (counters)
#
# A client connects only from an address the access store lists
# (Access.modbus_access: "read", "write" or None = refused); writes need the
# store's Modbus write switch too. Requests on one connection may be pipelined:
# they are answered one after the other, in order. Each connection has a slot
# with its receive and transmit buffers made with the server; a frame is at
# most MBAP_MAX bytes, so no buffer grows with a request.
#
# Malformed MBAP headers (protocol id not 0, length outside 2..254) cannot be
# resynchronised on a stream: counted (bad_frames) and the connection closed.
# A connection quiet for IDLE_MS is closed (a sweeper task, as in httpd.py).
import asyncio
import time
from micropython import const
from comms.access import Identity, OPERATOR
from comms.modbus import MAX_PDU
from comms.net import peer as _peer

MAX_CONNS = const(8)               # DCIM pollers and gateways at once (each slot ~0.8 KB)
BACKLOG = const(8)
MBAP_LEN = const(7)               # transaction id, protocol id, length, unit id
MBAP_MAX = const(260)             # MBAP header + the longest PDU
IDLE_MS = const(60000)
SWEEP_MS = const(500)
_STATS = ("conns_open", "conns_total", "conns_refused", "bad_frames", "timeouts", "requests",
          "exceptions", "writes")


async def _yield():
    await asyncio.sleep_ms(0)


class _Slot:
    def __init__(self):
        self.rx = bytearray(2 * MBAP_MAX)
        self.rxv = memoryview(self.rx)
        self.tx = bytearray(MBAP_LEN + MAX_PDU)
        self.txv = memoryview(self.tx)
        self.busy = False
        self.task = None
        self.deadline = 0


class ModbusTcpServer:
    def __init__(self, handler, access, pace=None, max_conns=MAX_CONNS, name="modbus"):
        self.handler = handler
        self.access = access
        self.pace = pace or _yield
        self.name = name
        self.idle_ms = IDLE_MS
        self.slots = [_Slot() for _ in range(max_conns)]
        self.stats = handler.stats
        for k in _STATS:
            self.stats.setdefault(k, 0)
        self.last_error = None
        self._srv = None
        self._sweeper = None

    async def start(self, host, port, backlog=BACKLOG):
        self._srv = await asyncio.start_server(self._accept, host, port, backlog)
        self._sweeper = asyncio.create_task(self._sweep())

    def close(self):
        if self._srv is not None:
            self._srv.close()
            self._srv = None
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for c in self.slots:
            if c.busy and c.task is not None:
                c.task.cancel()

    async def _sweep(self):
        while True:
            await asyncio.sleep_ms(SWEEP_MS)
            now = time.ticks_ms()
            for c in self.slots:
                if c.busy and c.task is not None and time.ticks_diff(now, c.deadline) >= 0:
                    self.stats["timeouts"] += 1
                    c.deadline = time.ticks_add(now, 4 * SWEEP_MS)
                    c.task.cancel()

    async def _accept(self, io, _writer):
        raw = io.s
        st = self.stats
        peer = _peer(io.get_extra_info("peername"))
        mode = self.access.modbus_access(peer)
        c = None
        if mode is not None:
            for s in self.slots:
                if not s.busy:
                    c = s
                    break
        if c is None:
            st["conns_refused"] += 1
            raw.close()
            return
        c.busy = True
        c.task = asyncio.current_task()
        st["conns_open"] += 1
        st["conns_total"] += 1
        try:
            await self._serve(c, io, peer)
        except asyncio.CancelledError:
            pass
        except OSError:
            pass                        # reset by the peer
        except Exception as e:
            self.last_error = "connection: %r" % (e,)
        finally:
            try:
                raw.close()
            except Exception:
                pass
            st["conns_open"] -= 1
            c.busy = False
            c.task = None

    async def _serve(self, c, io, peer):
        rx, rxv, tx, txv = c.rx, c.rxv, c.tx, c.txv
        host = peer.rsplit(":", 1)[0]
        ident = Identity("client", OPERATOR, "modbus")
        end = 0
        while True:
            c.deadline = time.ticks_add(time.ticks_ms(), self.idle_ms)
            n = await io.readinto(rxv[end:])
            if not n:
                return
            end += n
            pos = 0
            while end - pos >= MBAP_LEN:
                proto = (rx[pos + 2] << 8) | rx[pos + 3]
                ln = (rx[pos + 4] << 8) | rx[pos + 5]
                if proto != 0 or not 2 <= ln <= MAX_PDU + 1:
                    self.stats["bad_frames"] += 1
                    return
                if end - pos < 6 + ln:
                    break
                await self.pace()
                # the access store may have changed since the connection began
                mode = self.access.modbus_access(peer)
                if mode is None:
                    return
                k = await self.handler.handle(rxv[pos + 7:pos + 6 + ln], txv[MBAP_LEN:], mode == "write",
                                              ident, self.name, host)
                if k:
                    tx[0:5] = rx[pos:pos + 5]        # transaction id, protocol id, length high
                    tx[4] = (k + 1) >> 8
                    tx[5] = (k + 1) & 0xFF
                    tx[6] = rx[pos + 6]              # unit id, echoed
                    io.write(txv[:MBAP_LEN + k])
                    await io.drain()
                pos += 6 + ln
            if pos:
                rx[0:end - pos] = rx[pos:end]
                end -= pos


# HTTP/1.1 server of the PDU's HTTP uplink (REST API, web page, Prometheus
# /metrics, ETSI XML) on asyncio streams. The message rules (parsing, limits,
# response heads, chunk framing) live in comms/http.py; this file is the loop.
#
# Handler contract
# ----------------
#   server = HttpServer(handler, name="http", max_conns=MAX_CONNS, ssl=None, clock=None, pace=None)
#       ssl:   a tls.SSLContext(tls.PROTOCOL_TLS_SERVER) with load_cert_chain(cert, key)
#              done (DER bytes on the unix port's mbedTLS build), or None for plain HTTP
#       clock: a core.clock clock; while clock.time_valid, responses carry a Date header
#              from clock.utc_ms(); without a clock, or unset time, no Date header
#       pace:  async callable awaited before each handler and each write (Model.pace:
#              uplink work waits for a due acquisition poll); None: a plain yield
#   await server.start(host, port)       # returns once listening; server.close() stops it
#
#   async def handler(req, resp):
#       req.method   "GET", "POST", ... (token, case kept). A HEAD request reaches the
#                    handler as "GET" with req.head True; the server sends the head only.
#       req.path     percent-decoded, no query; never a ".." segment, "\", NUL or other
#                    control character (those are 400 before the handler runs)
#       req.query    dict str -> str ("+" is a space); the last of a repeated key wins
#       req.headers  dict, lower-case names -> str; a repeated field joined with ", "
#       req.body     bytes, exactly Content-Length of them (<= http.MAX_BODY); b"" if none
#       req.peer     "ip:port" of the client; req.iface: the server's name ("http", "https")
#       req.version  "HTTP/1.0" or "HTTP/1.1"; req.head: True for HEAD
#       resp.status = 200 (default); resp.headers: list of (name, value) to add (a
#                    ("Connection", "close") closes after this response; Content-Length,
#                    Transfer-Encoding, Date and Server are the server's: ValueError)
#       await resp.send(body, content_type="application/json")    # whole body, bytes or str
#       await resp.start(content_type); await resp.write(chunk) ...; await resp.end()
#                    streamed: chunked transfer coding (to an HTTP/1.0 client: body until
#                    close); each chunk is framed in the connection's own buffer, written
#                    and drained before write() returns, so memory does not grow with the
#                    response. A handler that returns after start() without end() is ended.
#   A handler that raises before responding gives the client a 500 with a short JSON body
#   ({"error": "internal error"}); after start() the connection is closed without the last
#   chunk (the client sees a truncated body). Both count handler_errors, server.last_error
#   keeps a one-line description, and the server goes on. A handler that returns without
#   responding is a 500 too. A handler must not take longer than handler_ms between its
#   start or its last write and the next write or its return: past it, it is cancelled
#   (CancelledError at its await) and the request is answered 500 if nothing was sent.
#
#   server.stats: dict of counters
#       requests         requests handed to the handler
#       responses_2xx .. responses_5xx   responses sent, by class (the server's own included)
#       bad_requests     requests refused by the codec (400, 411, 413, 414, 417, 431, 501, 505)
#       timeouts         requests not complete within request_ms (408), responses a
#                        client did not take within send_ms
#       conns_open, conns_total   connections in a slot now, and ever
#       conns_refused    connections over max_conns (plain: 503 and closed; TLS: closed)
#       handler_errors   handler raised, returned without responding, or overran handler_ms
#       tls_errors       TLS connections that failed (a plain request to the TLS port,
#                        a failed handshake)
#
# Behaviour: HTTP/1.1 keep-alive and pipelining (requests on one connection are read and
# answered one after the other, in order); "Connection: close" honoured; HTTP/1.0 gets
# one request per connection. After any error the server answers itself (4xx/5xx from
# the codec, 408) the connection is closed, reading and discarding what the client still
# sends for at most LINGER_MS so the client gets the answer rather than a reset.
#
# Memory and time: max_conns connection slots are made when the server is, each with a
# receive buffer (a request head is parsed line by line in place, so no line is ever
# longer than the buffer) and a transmit buffer (chunk frames, small responses); a
# request costs its parsed head (bounded by the limits) and its body (<= MAX_BODY). No
# read waits unbounded: one sweeper task checks every slot's deadline each SWEEP_MS and
# cancels the connection task that has overrun it (idle keep-alive, request, handler,
# send), rather than a wait_for per read, which would allocate two tasks per call.
# Network deadlines are real time (time.ticks_ms), also under a virtual firmware clock:
# they measure a peer on a real socket. With TLS, mbedTLS does the handshake inside the
# first read; its public-key operations run to completion (tens of ms on the MCU).
import asyncio
import time
from micropython import const
from comms import http
from comms.http import HttpError
from comms.net import peer as _peer

MAX_CONNS = const(8)             # connection slots (each RX_BUF + TX_BUF, plus mbedTLS with TLS)
BACKLOG = const(8)               # listen() queue: a browser opens up to 6 at once
RX_BUF = const(2050)             # per connection: the longest line (MAX_HEADER_LINE) + CRLF
TX_BUF = const(1536)             # per connection: a chunk frame, or a small response whole
OUT_SLICE = const(4096)          # a large send() body is written and drained in slices of this
IDLE_TIMEOUT_MS = const(10000)   # keep-alive (and a new connection) with no request started
REQUEST_TIMEOUT_MS = const(10000)  # from a request's first byte to its last body byte -> 408
HANDLER_TIMEOUT_MS = const(30000)  # handler start or last write -> next write or return
SEND_TIMEOUT_MS = const(10000)   # one write drained to the socket (a client not reading)
LINGER_MS = const(1000)          # after an error answer: discard input this long at most ...
LINGER_BYTES = const(16384)      # ... and this much at most, then close
SWEEP_MS = const(250)            # deadline check period (timeouts are this much coarse)
SERVER = "pdu"                   # Server header: no version, nothing to fingerprint

# A connection's phase says which deadline runs and what its expiry means.
_IDLE = const(0)
_REQUEST = const(1)
_HANDLER = const(2)
_SEND = const(3)
_LINGER = const(4)

# Set by the server only: a handler adding one would contradict the framing.
_SERVER_FIELDS = ("content-length", "transfer-encoding", "date", "server")
_STATS = ("requests", "responses_2xx", "responses_3xx", "responses_4xx", "responses_5xx",
          "bad_requests", "timeouts", "conns_open", "conns_total", "conns_refused",
          "handler_errors", "tls_errors")
_BUSY_BODY = b'{"error": "server busy"}'
_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nServer: " + SERVER.encode()
         + b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(_BUSY_BODY)).encode()
         + b"\r\nRetry-After: 1\r\nConnection: close\r\n\r\n" + _BUSY_BODY)

assert RX_BUF >= http.MAX_HEADER_LINE + 2 and RX_BUF >= http.MAX_REQUEST_LINE + 2
assert TX_BUF > http.CHUNK_OVERHEAD + 256




class Request:
    def __init__(self, head, body, peer, iface):
        self.head = head.method == "HEAD"
        self.method = "GET" if self.head else head.method
        self.path = head.path
        self.query = head.query
        self.headers = head.headers
        self.body = body
        self.peer = peer
        self.iface = iface
        self.version = "HTTP/1.1" if head.minor else "HTTP/1.0"


class _Conn:
    """One connection slot; its buffers are made once, with the server."""

    def __init__(self):
        self.rx = bytearray(RX_BUF)
        self.rxv = memoryview(self.rx)
        self.tx = bytearray(TX_BUF)
        self.txv = memoryview(self.tx)
        self.head = http.Head()
        self.free()

    def free(self):
        self.busy = False
        self.task = None
        self.io = None               # the asyncio stream (over the TLS socket with TLS)
        self.raw = None              # the accepted socket: closed here even when TLS dropped it
        self.resp = None
        self.peer = ""
        self.pos = 0                 # rx[pos:end]: received, not yet parsed (pipelined bytes)
        self.end = 0
        self.phase = _IDLE
        self.deadline = 0
        self.expired = False         # the sweeper cancelled the task for its deadline
        self.closing = False         # server.close() cancelled it

    def arm(self, phase, ms):
        self.phase = phase
        self.deadline = time.ticks_add(time.ticks_ms(), ms)
        self.expired = False


class Response:
    def __init__(self, srv, c, head_only, minor, keep):
        self.status = 200
        self.headers = []
        self.started = False         # head sent (status can no longer change)
        self.ended = False
        self.broken = False          # the client went away under a write
        self._srv = srv
        self._c = c
        self._head_only = head_only  # HEAD, or a status without body
        self._minor = minor
        self._keep = keep
        self._chunked = False

    def _head(self, content_type, length):
        st = self.status
        if not isinstance(st, int) or not 200 <= st <= 599:
            raise ValueError("bad status %r" % (st,))
        extra = []
        for name, value in self.headers:
            value = http.check_field(name, value)
            low = name.lower()
            if low in _SERVER_FIELDS:
                raise ValueError("%s is set by the server" % name)
            if low == "connection":
                if http.has_token(value, "close"):
                    self._keep = False
                continue             # written by the server, once
            extra.append((name, value))
        if http.no_body(st):
            length = None
            self._head_only = True
        srv = self._srv
        if self._c.closing:
            self._keep = False
        self.started = True
        srv._count(st)
        return http.response_head(st, content_type, length, not self._keep, extra, srv._date(), SERVER)

    async def _put(self, data):
        try:
            await self._srv._out(self._c, data)
        except OSError:
            self.broken = True
            raise
        # the handler has handler_ms again from each write
        self._c.arm(_HANDLER, self._srv.handler_ms)

    async def send(self, body=b"", content_type="application/json"):
        """The whole response at once, with Content-Length."""
        if self.started:
            raise RuntimeError("response already started")
        if isinstance(body, str):
            body = body.encode()
        hdr = self._head(content_type, len(body))
        self.ended = True
        if self._head_only:
            await self._put(hdr)
            return
        n = len(hdr)
        m = len(body)
        if n + m <= TX_BUF:
            # small response: one write, one packet (one TLS record)
            tx = self._c.tx
            tx[0:n] = hdr
            tx[n:n + m] = body
            await self._put(self._c.txv[:n + m])
            return
        await self._put(hdr)
        mv = memoryview(body)
        for i in range(0, m, OUT_SLICE):
            await self._put(mv[i:i + OUT_SLICE])

    async def start(self, content_type="application/json"):
        """Send the head of a streamed response; write() the body, then end()."""
        if self.started:
            raise RuntimeError("response already started")
        self._chunked = self._minor >= 1
        if not self._chunked:
            self._keep = False       # HTTP/1.0: the body ends with the connection
        await self._put(self._head(content_type, http.CHUNKED if self._chunked else http.UNTIL_CLOSE))

    async def write(self, chunk):
        """One piece of a streamed body, on the wire (drained) when this returns."""
        if not self.started or self.ended:
            raise RuntimeError("write() outside start()/end()")
        if isinstance(chunk, str):
            chunk = chunk.encode()
        n = len(chunk)
        if self._head_only or not n:
            # nothing to send (HEAD; an empty chunk would end the body), but a
            # handler looping on write() must still let the loop run
            await asyncio.sleep_ms(0)
            return
        c = self._c
        if not self._chunked:
            mv = memoryview(chunk)
            for i in range(0, n, OUT_SLICE):
                await self._put(mv[i:i + OUT_SLICE])
            return
        room = TX_BUF - http.CHUNK_OVERHEAD
        i = 0
        while i < n:
            k = n - i if n - i < room else room
            await self._put(c.txv[:http.chunk_into(c.tx, chunk, i, k)])
            i += k

    async def end(self):
        if not self.started:
            raise RuntimeError("end() before start()")
        if self.ended:
            return
        self.ended = True
        if self._chunked and not self._head_only:
            await self._put(http.LAST_CHUNK)

    async def _fail(self, status, reason):
        # the server's own answer in place of the handler's
        self.status = status
        self.headers = []
        await self.send('{"error": "%s"}' % reason)


async def _yield():
    await asyncio.sleep_ms(0)


class HttpServer:
    def __init__(self, handler, name="http", max_conns=MAX_CONNS, ssl=None, clock=None, pace=None):
        self.handler = handler
        # awaited before each handler and each write: the management model's
        # pace(), which keeps uplink work out of the acquisition poll's way
        self.pace = pace or _yield
        self.name = name
        self.ssl = ssl
        self.clock = clock
        # deadlines, per server so a test or a slow link can change them
        self.idle_ms = IDLE_TIMEOUT_MS
        self.request_ms = REQUEST_TIMEOUT_MS
        self.handler_ms = HANDLER_TIMEOUT_MS
        self.send_ms = SEND_TIMEOUT_MS
        self.slots = [_Conn() for _ in range(max_conns)]
        self.stats = {}
        for k in _STATS:
            self.stats[k] = 0
        self.last_error = None
        self._srv = None
        self._sweeper = None
        self._date_s = -1
        self._date_str = None

    async def start(self, host, port, backlog=BACKLOG):
        self._srv = await asyncio.start_server(self._accept, host, port, backlog)
        self._sweeper = asyncio.create_task(self._sweep())

    def close(self):
        """Stop listening and drop every connection (a response under way is cut)."""
        if self._srv is not None:
            self._srv.close()
            self._srv = None
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        me = asyncio.current_task()
        for c in self.slots:
            if c.busy and c.task is not None:
                c.closing = True
                if c.task is not me:     # a handler closing its own server: it ends after this response
                    c.task.cancel()

    # --- accounting --------------------------------------------------------------------
    def _count(self, status):
        k = ("responses_2xx", "responses_3xx", "responses_4xx", "responses_5xx")[status // 100 - 2]
        self.stats[k] += 1

    def _date(self):
        clk = self.clock
        if clk is None or not clk.time_valid:
            return None
        s = clk.utc_ms() // 1000
        if s != self._date_s:
            self._date_s = s
            self._date_str = http.http_date(s)
        return self._date_str

    async def _sweep(self):
        while True:
            await asyncio.sleep_ms(SWEEP_MS)
            now = time.ticks_ms()
            for c in self.slots:
                if c.busy and c.task is not None and time.ticks_diff(now, c.deadline) >= 0:
                    c.expired = True
                    # should the task swallow the cancel, cancel it again later
                    c.deadline = time.ticks_add(now, 4 * SWEEP_MS)
                    try:
                        c.task.cancel()
                    except Exception as e:   # every deadline hangs on this task: it must live
                        self.last_error = "sweep: %r" % (e,)

    # --- connection --------------------------------------------------------------------
    async def _accept(self, io, _writer):
        raw = io.s                   # MicroPython's Stream keeps its socket as .s
        st = self.stats
        c = None
        for s in self.slots:
            if not s.busy:
                c = s
                break
        if c is None:
            st["conns_refused"] += 1
            if self.ssl is None:
                # a new socket's send buffer is empty: one non-blocking write
                # takes it; TLS would need a handshake first, so it is only closed
                try:
                    raw.write(_BUSY)
                except OSError:
                    pass
            raw.close()
            return
        c.busy = True
        c.task = asyncio.current_task()
        c.raw = raw
        st["conns_open"] += 1
        st["conns_total"] += 1
        try:
            c.peer = _peer(io.get_extra_info("peername"))
            if self.ssl is not None:
                # wrapped here, not by start_server(ssl=): when mbedTLS fails a
                # handshake it lets go of the socket without closing it, so the
                # server must keep its own hold on the socket to close it
                io = asyncio.StreamReader(
                    self.ssl.wrap_socket(raw, server_side=True, do_handshake_on_connect=False))
            c.io = io
            c.arm(_IDLE, self.idle_ms)
            while await self._request(c):
                pass
        except asyncio.CancelledError:
            if c.expired and not c.closing:
                await self._expired(c)
        except OSError as e:
            # peer reset, broken pipe; a negative code is mbedTLS's
            if self.ssl is not None and e.args and isinstance(e.args[0], int) and e.args[0] < 0:
                st["tls_errors"] += 1
                # e.g. plain HTTP on the TLS port: drop what is already queued
                # (non-blocking) so the close is a FIN, not a reset
                try:
                    for _ in range(LINGER_BYTES // RX_BUF):
                        if not raw.readinto(c.rxv):
                            break
                except Exception:
                    pass
        except Exception as e:
            self.last_error = "connection: %r" % (e,)
        finally:
            for s in (c.io.s if c.io is not None else None, raw):
                if s is not None:
                    try:
                        s.close()
                    except Exception:
                        pass
            st["conns_open"] -= 1
            c.free()

    async def _expired(self, c):
        st = self.stats
        phase = c.phase
        try:
            if phase == _REQUEST:
                st["timeouts"] += 1
                await self._error(c, 408, "request timeout")
            elif phase == _SEND:
                st["timeouts"] += 1
            elif phase == _HANDLER:
                st["handler_errors"] += 1
                self.last_error = "handler timeout"
                r = c.resp
                if r is not None and not r.started:
                    await r._fail(500, "handler timeout")
            # _IDLE, _LINGER: a quiet close
        except BaseException:
            pass                     # the answer is best effort: the connection closes anyway

    async def _request(self, c):
        """Read one request and answer it; whether the connection stays open."""
        head = c.head
        head.reset()
        c.resp = None
        if c.end > c.pos:
            c.arm(_REQUEST, self.request_ms)     # pipelined: it has begun already
        else:
            c.arm(_IDLE, self.idle_ms)
        try:
            while True:
                line = await self._line(c, head)
                if line is None:
                    return False     # closed by the peer (mid-request: nobody to answer)
                if head.feed(line):
                    break
            head.finish()
            body = b""
            if head.length:
                if head.expect_continue:
                    await self._out(c, http.CONTINUE)
                body = await self._body(c, head.length)
                if body is None:
                    return False
        except HttpError as e:
            self.stats["bad_requests"] += 1
            await self._error(c, e.status, e.reason)
            await self._linger(c)
            return False
        st = self.stats
        st["requests"] += 1
        req = Request(head, body, c.peer, self.name)
        resp = Response(self, c, req.head, head.minor, head.keep_alive)
        c.resp = resp
        c.arm(_HANDLER, self.handler_ms)
        try:
            await self.pace()
            await self.handler(req, resp)
        except Exception as e:       # not CancelledError: a timeout goes on to _expired
            if resp.broken:
                return False         # the client left; not the handler's fault
            st["handler_errors"] += 1
            self.last_error = "%s %s: %r" % (req.method, req.path, e)
            if resp.started:
                return False         # mid-body: only a close can tell the client
            await resp._fail(500, "internal error")
            return resp._keep and not c.closing
        if not resp.started:
            st["handler_errors"] += 1
            self.last_error = "%s %s: no response" % (req.method, req.path)
            await resp._fail(500, "no response")
        elif not resp.ended:
            await resp.end()
        return resp._keep and not c.closing

    async def _line(self, c, head):
        """The next line of the head (CR LF or LF stripped) as a view into rx,
        valid until the next read; None at end of stream."""
        rx = c.rx
        limit = head.limit()
        scan = c.pos                 # bytes before scan hold no LF
        while True:
            i = rx.find(b"\n", scan, c.end)
            if i >= 0:
                s = c.pos
                c.pos = i + 1
                e = i - 1 if i > s and rx[i - 1] == 13 else i
                if e - s > limit:
                    raise head.too_long()
                return c.rxv[s:e]
            if c.end - c.pos > limit + 1:        # +1: the CR may still be followed by LF
                raise head.too_long()
            if c.end == RX_BUF:
                # move the partial line to the front (never empty: the limit check above)
                n = c.end - c.pos
                rx[0:n] = c.rxv[c.pos:c.end]
                c.pos = 0
                c.end = n
            scan = c.end
            if not await self._recv(c):
                return None

    async def _recv(self, c):
        """Read more into rx[end:]; False at end of stream."""
        while True:
            n = await c.io.readinto(c.rxv[c.end:])
            if n is not None:        # None: a TLS record not yet whole, or a spurious wake-up
                break
        if not n:
            return False
        c.end += n
        if c.phase == _IDLE:
            c.arm(_REQUEST, self.request_ms)     # a request's time starts with its first byte
        return True

    async def _body(self, c, n):
        """Content-Length bytes; None if the peer closed first."""
        have = c.end - c.pos
        if have >= n:
            b = bytes(c.rxv[c.pos:c.pos + n])
            c.pos += n
            return b
        # allocated once at its declared size (<= MAX_BODY), filled in place
        body = bytearray(n)
        body[0:have] = c.rxv[c.pos:c.end]
        c.pos = c.end = 0
        mv = memoryview(body)
        got = have
        while got < n:
            k = await c.io.readinto(mv[got:])
            if k is None:
                continue
            if not k:
                return None
            got += k
        return bytes(body)

    async def _out(self, c, data):
        """Write and drain under the send deadline, then restore the previous one."""
        phase = c.phase
        deadline = c.deadline
        c.arm(_SEND, self.send_ms)
        await self.pace()
        c.io.write(data)
        await c.io.drain()
        c.phase = phase
        c.deadline = deadline

    async def _error(self, c, status, reason):
        """The server's own answer (JSON) to a request it refuses; the
        connection closes after it."""
        body = '{"error": "%s"}' % reason
        hdr = http.response_head(status, "application/json", len(body), True, (), self._date(), SERVER)
        self._count(status)
        await self._out(c, hdr if c.head.method == "HEAD" else hdr + body.encode())

    async def _linger(self, c):
        """Take what the client still sends (the rest of a refused request)
        for a while before closing, so its kernel gets the answer before a
        reset would discard it."""
        c.arm(_LINGER, LINGER_MS)    # expiry: a quiet close
        left = LINGER_BYTES
        while left > 0:
            n = await c.io.readinto(c.rxv)
            if n is None:
                continue
            if not n:
                return
            left -= n

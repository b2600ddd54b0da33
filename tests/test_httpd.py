"""The HTTP/1.1 server of the HTTP uplink (comms/httpd.py over the codec
comms/http.py), run on MicroPython's unix port by tests/mp/http_serve.py and
driven over real sockets with http.client, requests, curl and raw sockets."""
import hashlib
import http.client
import json
import random
import re
import selectors
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
import requests

from mputil import MICROPYTHON, ROOT, mp_env, run_mp

SCRIPT = "tests/mp/http_serve.py"
# The test server's deadlines (ms), short so the timeout tests take seconds;
# the product defaults are checked against docs/http.md below.
IDLE_MS = 1500
REQUEST_MS = 2000
HANDLER_MS = 1500
SEND_MS = 1500
SLACK_S = 1.0            # sweeper period (250 ms) + scheduling on a shared machine
MAX_CONNS = 48           # above the 40 slow clients, so a normal client fits beside them
HEAP_MARGIN = 16 * 1024  # bytes the live heap may differ by after a run

# 1 KB block k of /stream: its index, then the fixed fill the server uses
FILL = bytes((i * 7) % 251 for i in range(1024))


def stream_bytes(kb):
    return b"".join(b"%07d\n" % k + FILL[8:] for k in range(kb))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """tests/mp/http_serve.py as a subprocess; its output goes to a file (a
    pipe nobody reads could fill and stall it)."""

    def __init__(self, tmp, *args, tls=None):
        self.port = free_port()
        self.tls = tls
        self.log = tmp / ("server-%d.log" % self.port)
        self._out = open(self.log, "wb")
        extra = ["--tls", tls[0], tls[1]] if tls else []
        self.proc = subprocess.Popen(
            [MICROPYTHON, "-X", "heapsize=8M", SCRIPT, str(self.port)] + [str(a) for a in args] + extra,
            cwd=ROOT, env=mp_env(), stdout=self._out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while "listening" not in self.log.read_text():
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)

    def url(self, path):
        return "%s://127.0.0.1:%d%s" % ("https" if self.tls else "http", self.port, path)

    def mem(self):
        r = requests.get(self.url("/mem"), timeout=10, verify=self.tls[2] if self.tls else True)
        assert r.status_code == 200
        return r.json()

    def fds(self):
        return len(list(Path("/proc/%d/fd" % self.proc.pid).iterdir()))

    def stop(self):
        alive = self.proc.poll() is None
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._out.close()
        return alive


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("httpd"), "--max-conns", MAX_CONNS, "--idle-ms", IDLE_MS,
               "--request-ms", REQUEST_MS, "--handler-ms", HANDLER_MS, "--send-ms", SEND_MS)
    yield s
    assert s.stop(), "server died:\n" + s.log.read_text()
    # nothing but the start line: no task died with a traceback
    assert s.log.read_text() == "listening %d\n" % s.port, s.log.read_text()


@pytest.fixture(scope="module")
def limits():
    p = run_mp(code=(
        "import json\nfrom comms import http, httpd\n"
        "print(json.dumps({k: getattr(m, k) for m, ks in ((http, %r), (httpd, %r)) for k in ks}))"
        % (["MAX_REQUEST_LINE", "MAX_HEADER_LINE", "MAX_HEADERS", "MAX_HEADER_BYTES", "MAX_BODY",
            "MAX_EMPTY_LINES"],
           ["MAX_CONNS", "BACKLOG", "RX_BUF", "TX_BUF", "OUT_SLICE", "IDLE_TIMEOUT_MS",
            "REQUEST_TIMEOUT_MS", "HANDLER_TIMEOUT_MS", "SEND_TIMEOUT_MS", "LINGER_MS",
            "LINGER_BYTES", "SWEEP_MS"])), timeout=30)
    return json.loads(p.stdout.strip().splitlines()[-1])


# --- raw HTTP on a socket ---------------------------------------------------------------

def connect(port, timeout=5):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def build(method="GET", path="/x", headers=(("Host", "t"),), body=b"", version="HTTP/1.1"):
    head = "%s %s %s\r\n" % (method, path, version) + "".join("%s: %s\r\n" % h for h in headers)
    return head.encode() + b"\r\n" + body


class Resp:
    def __init__(self, status, reason, headers, body, chunks):
        self.status, self.reason, self.headers, self.body, self.chunks = status, reason, headers, body, chunks

    def json(self):
        return json.loads(self.body)


class Reader:
    """Reads responses off a socket, strictly: status line, header fields,
    then the body framed as the head says (chunked framing checked)."""

    def __init__(self, sock):
        self.s = sock
        self.buf = bytearray()

    def _more(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                out = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return out
            self._more()

    def exactly(self, n):
        while len(self.buf) < n:
            self._more()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def rest(self):
        try:
            while True:
                self._more()
        except (EOFError, ConnectionResetError):
            pass
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def response(self, head_only=False):
        """One response; head_only None: decide from what follows the head
        (the whole reply already read), for replies that may answer HEAD."""
        m = re.fullmatch(rb"HTTP/1\.1 (\d{3}) ([^\r\n]*)", self.line())
        assert m, "bad status line"
        status = int(m.group(1))
        headers = {}
        while True:
            ln = self.line()
            if not ln:
                break
            name, sep, value = ln.partition(b":")
            assert sep and re.fullmatch(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name), ln
            key = name.decode().lower()
            assert key not in headers, "repeated %s" % key
            headers[key] = value.strip().decode()
        chunks = None
        if head_only is None:
            head_only = not self.buf or self.buf.startswith(b"HTTP/1.1 ")
        if head_only or status in (204, 304) or status < 200:
            body = b""
        elif headers.get("transfer-encoding") == "chunked":
            assert "content-length" not in headers
            parts, chunks = [], []
            while True:
                size = self.line()
                assert re.fullmatch(rb"[0-9a-f]+", size), size
                n = int(size, 16)
                if n == 0:
                    assert self.line() == b""    # no trailer fields
                    break
                parts.append(self.exactly(n))
                chunks.append(n)
                assert self.exactly(2) == b"\r\n"
            body = b"".join(parts)
        elif "content-length" in headers:
            body = self.exactly(int(headers["content-length"]))
        else:
            assert headers.get("connection") == "close"
            body = self.rest()
        return Resp(status, m.group(2).decode(), headers, body, chunks)

    def closed(self, timeout=3.0):
        """True when the server closes with nothing more sent."""
        self.s.settimeout(timeout)
        try:
            d = self.s.recv(65536)
        except ConnectionResetError:
            return not self.buf
        except socket.timeout:
            return False
        return d == b"" and not self.buf


def ask(port, data, head_only=False):
    s = connect(port)
    s.sendall(data)
    r = Reader(s)
    return s, r, r.response(head_only)


def settled(get_stats, open_conns=1, timeout=3.0):
    """Counters once the server has seen every other client's close (a
    client's close reaches the server a moment after the client is done)."""
    deadline = time.monotonic() + timeout
    while True:
        st = get_stats()
        if st["conns_open"] == open_conns or time.monotonic() > deadline:
            return st
        time.sleep(0.05)


def json_error(resp):
    assert resp.headers["content-type"] == "application/json"
    assert isinstance(resp.json()["error"], str)


# --- requests, fields, keep-alive, pipelining --------------------------------------------

def test_request_fields_reach_the_handler(srv):
    r = requests.get(srv.url("/a%20b/%C3%A9?x=1&x=2&y=a+b&z=%26&flag"), headers={"X-Test": "v 1"}, timeout=5)
    assert r.status_code == 200
    d = r.json()
    assert d["method"] == "GET" and d["path"] == "/a b/\u00e9"
    assert d["query"] == {"x": "2", "y": "a b", "z": "&", "flag": ""}
    assert d["headers"]["x-test"] == "v 1" and d["headers"]["host"] == "127.0.0.1:%d" % srv.port
    assert all(k == k.lower() for k in d["headers"])
    assert re.fullmatch(r"127\.0\.0\.1:\d+", d["peer"]) and d["iface"] == "http"
    assert d["version"] == "HTTP/1.1" and d["head"] is False and d["body"] == ""
    assert r.headers["Server"] == "pdu" and r.headers["X-Echo"] == "1"
    r = requests.post(srv.url("/p"), data=b'{"a": 1}', headers={"Content-Type": "application/json"}, timeout=5)
    assert r.json()["body"] == '{"a": 1}' and r.json()["body_len"] == 8 and r.json()["method"] == "POST"


def test_date_header_from_the_clock_only_while_its_time_is_valid(srv):
    r = requests.get(srv.url("/x"), timeout=5)
    assert abs(parsedate_to_datetime(r.headers["Date"]).timestamp() - time.time()) < 5
    assert r.headers["Date"].endswith(" GMT")
    try:
        assert requests.get(srv.url("/clock?valid=0"), timeout=5).json() == {"time_valid": False}
        assert "Date" not in requests.get(srv.url("/x"), timeout=5).headers
    finally:
        requests.get(srv.url("/clock?valid=1"), timeout=5)
    assert "Date" in requests.get(srv.url("/x"), timeout=5).headers


def test_keep_alive_serves_many_requests_on_one_connection(srv):
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    c.request("GET", "/mem")
    st0 = json.loads(c.getresponse().read())["stats"]
    sock = c.sock
    for i in range(5):
        c.request("POST", "/k%d" % i, body=b"b%d" % i)
        r = c.getresponse()
        assert r.status == 200 and r.getheader("Connection") is None
        d = json.loads(r.read())
        assert d["path"] == "/k%d" % i and d["body"] == "b%d" % i
        assert c.sock is sock
    c.request("GET", "/mem")
    st1 = json.loads(c.getresponse().read())["stats"]
    assert c.sock is sock
    c.close()
    assert st1["conns_total"] == st0["conns_total"]      # no new connection
    assert st1["requests"] == st0["requests"] + 6


def test_pipelined_requests_are_answered_in_order(srv):
    reqs = [build(path="/p1"), build("POST", "/p2", (("Host", "t"), ("Content-Length", "5")), b"hello"),
            build(path="/p3?q=3"), build(path="/p4", headers=(("Host", "t"), ("Connection", "close")))]
    s = connect(srv.port)
    data = b"".join(reqs)
    s.sendall(data[:len(data) - 20])      # the last request arrives in two pieces
    time.sleep(0.2)
    s.sendall(data[len(data) - 20:])
    r = Reader(s)
    got = [r.response() for _ in range(4)]
    assert [g.json()["path"] for g in got] == ["/p1", "/p2", "/p3", "/p4"]
    assert got[1].json()["body"] == "hello" and got[2].json()["query"] == {"q": "3"}
    assert got[3].headers["connection"] == "close"
    assert r.closed()                      # Connection: close honoured
    s.close()


def test_connection_close_is_honoured(srv):
    s, r, resp = ask(srv.port, build(headers=(("Host", "t"), ("Connection", "close"))))
    assert resp.status == 200 and resp.headers["connection"] == "close"
    assert r.closed()
    s.close()


def test_http10_gets_one_request_per_connection(srv):
    s, r, resp = ask(srv.port, b"GET /old HTTP/1.0\r\n\r\n")     # no Host needed in 1.0
    assert resp.status == 200 and resp.json()["version"] == "HTTP/1.0"
    assert resp.headers["connection"] == "close" and r.closed()
    s.close()
    # a streamed response to 1.0: no chunked coding, the body ends with the connection
    s, r, resp = ask(srv.port, b"GET /stream?kb=20 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert "transfer-encoding" not in resp.headers and "content-length" not in resp.headers
    assert resp.body == stream_bytes(20)
    s.close()


def test_head_sends_the_get_head_without_a_body(srv):
    s = connect(srv.port)
    r = Reader(s)
    s.sendall(build(path="/status?code=200"))
    get = r.response()
    s.sendall(build("HEAD", "/status?code=200") + build("HEAD", "/stream?kb=64") + build(path="/after"))
    head = r.response(head_only=True)
    assert head.status == 200 and head.headers["content-length"] == str(len(get.body))
    st = r.response(head_only=True)
    assert st.headers["transfer-encoding"] == "chunked"
    # had any body byte been sent, this would not parse as the next response
    after = r.response()
    assert after.json()["path"] == "/after"
    s.close()


def test_expect_100_continue(srv):
    s = connect(srv.port)
    s.sendall(build("POST", "/e", (("Host", "t"), ("Content-Length", "5"), ("Expect", "100-continue"))))
    r = Reader(s)
    assert r.line() == b"HTTP/1.1 100 Continue" and r.line() == b""
    s.sendall(b"12345")
    assert r.response().json()["body"] == "12345"
    s.close()


# --- limits and malformed requests --------------------------------------------------------

def _line_of(n):
    """A request line of exactly n bytes."""
    return "/" + "a" * (n - len("GET  HTTP/1.1") - 1)


def _fill_headers(total):
    """Header fields (Host first) whose section, blank line included, is
    exactly `total` bytes, every line under MAX_HEADER_LINE."""
    hs = [("Host", "t")]
    left = total - len("Host: t\r\n") - 2
    i = 0
    while left > 0:
        n = min(left, 2000)
        if left - n and left - n < 12:
            n -= 12
        name = "X-F%d" % i
        hs.append((name, "v" * (n - len(name) - 4)))
        left -= n
        i += 1
    return tuple(hs)


LIMIT_CASES = {
    # id: (request bytes from the limits, status)
    "line-at-limit": (lambda L: build(path=_line_of(L["MAX_REQUEST_LINE"])), 200),
    "line-over": (lambda L: build(path=_line_of(L["MAX_REQUEST_LINE"] + 1)), 414),
    "line-far-over": (lambda L: build(path="/" + "a" * 20000), 414),
    "headers-at-count": (lambda L: build(headers=(("Host", "t"),) + tuple(
        ("X-%d" % i, "v") for i in range(L["MAX_HEADERS"] - 1))), 200),
    "headers-over-count": (lambda L: build(headers=(("Host", "t"),) + tuple(
        ("X-%d" % i, "v") for i in range(L["MAX_HEADERS"]))), 431),
    "repeated-header-over-count": (lambda L: build(headers=(("Host", "t"),) + tuple(
        ("X-Same", "v") for i in range(L["MAX_HEADERS"]))), 431),
    "header-line-at-limit": (lambda L: build(headers=(("Host", "t"), ("X-Long", "v" * (L["MAX_HEADER_LINE"] - 8)))), 200),
    "header-line-over": (lambda L: build(headers=(("Host", "t"), ("X-Long", "v" * (L["MAX_HEADER_LINE"] - 7)))), 431),
    "header-line-far-over": (lambda L: build(headers=(("Host", "t"), ("X-Long", "v" * 100000))), 431),
    "header-bytes-at-limit": (lambda L: build(headers=_fill_headers(L["MAX_HEADER_BYTES"])), 200),
    "header-bytes-over": (lambda L: build(headers=_fill_headers(L["MAX_HEADER_BYTES"] + 1)), 431),
    "body-at-limit": (lambda L: build("POST", "/b", (("Host", "t"), ("Content-Length", str(L["MAX_BODY"]))),
                                      b"x" * L["MAX_BODY"]), 200),
    "body-over": (lambda L: build("POST", "/b", (("Host", "t"), ("Content-Length", str(L["MAX_BODY"] + 1))),
                                  b"x" * (L["MAX_BODY"] + 1)), 413),
    "body-huge-length": (lambda L: build("POST", "/b", (("Host", "t"), ("Content-Length", "9" * 40))), 413),
    "post-without-length": (lambda L: build("POST", "/b") + b"body", 411),
    "put-without-length": (lambda L: build("PUT", "/b"), 411),
    "patch-without-length": (lambda L: build("PATCH", "/b"), 411),
    "chunked-body": (lambda L: build("POST", "/b", (("Host", "t"), ("Transfer-Encoding", "chunked")))
                     + b"5\r\nhello\r\n0\r\n\r\n", 501),
    "http-2.0": (lambda L: build(version="HTTP/2.0"), 505),
    "http-3.1": (lambda L: build(version="HTTP/3.1"), 505),
    "http-1.2-served-as-1.1": (lambda L: build(version="HTTP/1.2"), 200),
    "bad-version": (lambda L: build(version="HTTX/1.1"), 400),
    "no-version": (lambda L: b"GET /x\r\n\r\n", 400),
    "missing-host": (lambda L: build(headers=()), 400),
    "two-hosts": (lambda L: build(headers=(("Host", "a"), ("Host", "b"))), 400),
    "bad-method": (lambda L: build(method="GE(T"), 400),
    "double-space": (lambda L: b"GET  /x HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    "bare-cr": (lambda L: b"GET /x\rHTTP/1.1\r\nHost: t\r\n\r\n", 400),
    "obs-fold": (lambda L: b"GET /x HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n 2\r\n\r\n", 400),
    "space-before-colon": (lambda L: b"GET /x HTTP/1.1\r\nHost : t\r\n\r\n", 400),
    "no-colon": (lambda L: b"GET /x HTTP/1.1\r\nHost: t\r\nnocolon\r\n\r\n", 400),
    "nul-in-header": (lambda L: b"GET /x HTTP/1.1\r\nHost: t\r\nX-A: a\x00b\r\n\r\n", 400),
    "bad-length": (lambda L: build("POST", "/b", (("Host", "t"), ("Content-Length", "abc"))), 400),
    "negative-length": (lambda L: build("POST", "/b", (("Host", "t"), ("Content-Length", "-1"))), 400),
    "two-lengths": (lambda L: build("POST", "/b", (("Host", "t"), ("Content-Length", "1"),
                                                   ("Content-Length", "2"))) + b"ab", 400),
    "bad-expect": (lambda L: build(headers=(("Host", "t"), ("Expect", "magic"))), 417),
    "non-utf8-header": (lambda L: b"GET /x HTTP/1.1\r\nHost: t\r\nX-A: \xff\xfe\r\n\r\n", 400),
    "blank-lines-before": (lambda L: b"\r\n" * L["MAX_EMPTY_LINES"] + build(), 200),
    "too-many-blank-lines": (lambda L: b"\r\n" * (L["MAX_EMPTY_LINES"] + 1) + build(), 400),
    "relative-target": (lambda L: build(path="x"), 400),
    "fragment": (lambda L: build(path="/x#frag"), 400),
    "absolute-form": (lambda L: build(path="http://t/abs?q=1"), 200),
}


@pytest.mark.parametrize("case", list(LIMIT_CASES))
def test_limits_and_malformed_requests_get_the_right_status(srv, limits, case):
    make, status = LIMIT_CASES[case]
    s, r, resp = ask(srv.port, make(limits))
    assert resp.status == status, (resp.status, resp.body[:200])
    if status == 200:
        d = resp.json()
        if case == "body-at-limit":
            assert d["body_len"] == limits["MAX_BODY"] and d["body"] == "x" * limits["MAX_BODY"]
        if case == "absolute-form":
            assert d["path"] == "/abs" and d["query"] == {"q": "1"}
    else:
        json_error(resp)
        # the server closes after answering a refused request ...
        assert resp.headers["connection"] == "close"
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass                           # already reset: the server had closed
        assert r.closed()
    s.close()


PATH_ATTACKS = [
    "/../etc/passwd", "/a/../b", "/a/..", "/..", "/%2e%2e/x", "/%2E%2e/x", "/a/.%2e/x", "/a/%2e./x",
    "/a/..%2fb", "/a%2f..%2fb", "/a/..%2F", "/%2e%2e%5cx", "/a\\..\\b", "/a/%5c/b", "/a%00b", "/a/%00",
    "/x%0d%0aSet-Cookie:%20a=b", "/a/%c0%ae%c0%ae/b", "/a/%2", "/a/%zz", "/a\x7f", "http://t/../x",
]


def test_path_traversal_is_refused_before_the_handler(srv):
    st0 = srv.mem()["stats"]
    for path in PATH_ATTACKS:
        s, r, resp = ask(srv.port, b"GET " + path.encode("latin-1") + b" HTTP/1.1\r\nHost: t\r\n\r\n")
        assert resp.status == 400, path
        json_error(resp)
        s.close()
    st1 = srv.mem()["stats"]
    assert st1["requests"] == st0["requests"] + 1             # only the /mem request itself
    assert st1["bad_requests"] == st0["bad_requests"] + len(PATH_ATTACKS)
    # near misses are ordinary paths, decoded once only
    for raw, path in (("/a/..b", "/a/..b"), ("/..a/b", "/..a/b"), ("/a/b..", "/a/b.."),
                      ("/%2500", "/%00"), ("/%252e%252e/x", "/%2e%2e/x")):
        s, r, resp = ask(srv.port, build(path=raw))
        assert resp.status == 200 and resp.json()["path"] == path, raw
        s.close()


# --- handler failures ---------------------------------------------------------------------

def test_handler_exception_is_a_500_and_the_server_goes_on(srv):
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    c.request("GET", "/mem")
    st0 = json.loads(c.getresponse().read())["stats"]
    c.request("GET", "/raise")
    r = c.getresponse()
    assert r.status == 500 and r.getheader("Content-Type") == "application/json"
    assert json.loads(r.read()) == {"error": "internal error"}
    c.request("GET", "/noresp")
    r = c.getresponse()
    assert r.status == 500 and json.loads(r.read()) == {"error": "no response"}
    c.request("GET", "/status?code=404")
    r = c.getresponse()
    assert r.status == 404 and r.read()
    c.request("GET", "/still-here")            # same connection, still served
    r = c.getresponse()
    assert r.status == 200 and json.loads(r.read())["path"] == "/still-here"
    c.request("GET", "/mem")
    d = json.loads(c.getresponse().read())
    c.close()
    st1 = d["stats"]
    assert st1["handler_errors"] == st0["handler_errors"] + 2
    assert st1["responses_5xx"] == st0["responses_5xx"] + 2
    assert st1["responses_4xx"] == st0["responses_4xx"] + 1
    assert "no response" in d["last_error"]


def test_response_headers_from_the_handler_are_checked(srv):
    st0 = srv.mem()["stats"]
    r = requests.get(srv.url("/header?name=X-A&value=fine"), timeout=5)
    assert r.status_code == 200 and r.headers["X-A"] == "fine"
    # ("Connection", "close") from the handler closes after the response
    s, rd, resp = ask(srv.port, build(path="/header?name=Connection&value=close"))
    assert resp.status == 200 and resp.headers["connection"] == "close" and rd.closed()
    s.close()
    # the server's own fields, a name that is no token, a value that would
    # split the response: the handler's write raises, the client gets a 500
    for q in ("name=Content-Length&value=1", "name=Date&value=x", "name=Bad%20Name&value=1",
              "name=X-A&value=a%0d%0aSet-Cookie:%20evil=1", "name=X-A&value=a%0aX-B:%20b"):
        s, rd, resp = ask(srv.port, build(path="/header?" + q))
        assert resp.status == 500 and resp.json() == {"error": "internal error"}, q
        assert "set-cookie" not in resp.headers and "x-b" not in resp.headers and "x-a" not in resp.headers
        s.close()
    assert srv.mem()["stats"]["handler_errors"] == st0["handler_errors"] + 5


def test_handler_overrunning_its_deadline_is_cut(srv):
    st0 = srv.mem()["stats"]
    t0 = time.monotonic()
    s, r, resp = ask(srv.port, build(path="/sleep?ms=10000"))
    dt = time.monotonic() - t0
    assert resp.status == 500 and resp.json() == {"error": "handler timeout"}
    assert HANDLER_MS / 1000 - 0.05 <= dt <= HANDLER_MS / 1000 + SLACK_S
    assert r.closed()
    s.close()
    # after start(): the stream is cut without its last chunk
    s = connect(srv.port)
    s.sendall(build(path="/stall"))
    r = Reader(s)
    assert re.fullmatch(rb"HTTP/1\.1 200 OK", r.line())
    while r.line():
        pass
    assert r.line() == b"c" and r.exactly(14) == b"first chunk\n\r\n"
    t0 = time.monotonic()
    assert r.closed(timeout=HANDLER_MS / 1000 + SLACK_S + 1)
    assert time.monotonic() - t0 >= HANDLER_MS / 1000 - 0.1
    s.close()
    st1 = srv.mem()["stats"]
    assert st1["handler_errors"] == st0["handler_errors"] + 2


# --- streaming and memory -----------------------------------------------------------------

def test_2mb_streamed_response_arrives_intact_and_the_heap_stays_flat(srv):
    srv.mem()
    m0 = srv.mem()["mem_alloc"]
    s = connect(srv.port, timeout=10)
    s.sendall(build(path="/stream?kb=2048&size=1024"))
    r = Reader(s)
    assert re.fullmatch(rb"HTTP/1\.1 200 OK", r.line())
    headers = {}
    while True:
        ln = r.line()
        if not ln:
            break
        k, _, v = ln.partition(b":")
        headers[k.decode().lower()] = v.strip().decode()
    assert headers["transfer-encoding"] == "chunked" and "content-length" not in headers
    assert headers["content-type"] == "application/octet-stream"
    got, sizes, mid = [], [], None
    while True:
        n = int(r.line(), 16)
        if n == 0:
            assert r.line() == b""
            break
        got.append(r.exactly(n))
        sizes.append(n)
        assert r.exactly(2) == b"\r\n"
        if len(sizes) == 512:
            mid = srv.mem()["mem_alloc"]      # a quarter through: measured on another connection
    body = b"".join(got)
    assert len(body) == 2048 * 1024
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(stream_bytes(2048)).hexdigest()
    assert sizes == [1024] * 2048             # one chunk per write, as written
    s.sendall(build(path="/after-stream"))    # the connection is still usable
    assert r.response().json()["path"] == "/after-stream"
    s.close()
    m1 = srv.mem()["mem_alloc"]
    assert mid - m0 < HEAP_MARGIN, (m0, mid)
    assert m1 - m0 < HEAP_MARGIN, (m0, m1)


def test_large_writes_are_split_into_bounded_chunks(srv, limits):
    # a 16 KB echo goes out through send() in slices; /stream with 1 KB writes
    # crossing block edges checks framing of odd sizes
    s, r, resp = ask(srv.port, build("POST", "/big", (("Host", "t"), ("Content-Length", "16000")), b"z" * 16000))
    assert resp.json()["body"] == "z" * 16000
    s.sendall(build(path="/stream?kb=9&size=700"))
    resp = r.response()
    assert resp.body == stream_bytes(9)
    assert max(resp.chunks) <= 700 and sum(resp.chunks) == 9 * 1024
    assert all(n <= limits["TX_BUF"] - 12 for n in resp.chunks)
    s.close()


def test_a_client_that_stops_reading_is_cut_at_the_send_timeout(srv):
    st0 = srv.mem()["stats"]
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(5)
    s.connect(("127.0.0.1", srv.port))
    s.sendall(build(path="/stream?kb=262144"))     # 256 MB, never read
    time.sleep(SEND_MS / 1000 + SLACK_S + 0.5)
    st1 = srv.mem()["stats"]
    assert st1["timeouts"] == st0["timeouts"] + 1
    assert st1["conns_open"] == 1                  # the /mem connection only
    total = 0
    s.settimeout(5)
    try:
        while True:
            d = s.recv(1 << 20)
            if not d:
                break
            total += len(d)
    except ConnectionResetError:
        pass
    s.close()
    assert 0 < total < 64 * 1024 * 1024


# --- timeouts and the connection cap ------------------------------------------------------

def test_idle_keep_alive_connection_is_closed_quietly(srv):
    s, r, resp = ask(srv.port, build())
    assert resp.status == 200
    t0 = time.monotonic()
    assert r.closed(timeout=IDLE_MS / 1000 + SLACK_S + 1)       # nothing sent, just closed
    dt = time.monotonic() - t0
    assert IDLE_MS / 1000 - 0.05 <= dt <= IDLE_MS / 1000 + SLACK_S
    s.close()
    # a connection that never sends anything goes the same way
    s = connect(srv.port)
    t0 = time.monotonic()
    assert Reader(s).closed(timeout=IDLE_MS / 1000 + SLACK_S + 1)
    assert time.monotonic() - t0 >= IDLE_MS / 1000 - 0.05
    s.close()


def test_a_body_that_does_not_arrive_in_time_is_408(srv):
    st0 = srv.mem()["stats"]
    s = connect(srv.port)
    t0 = time.monotonic()
    s.sendall(build("POST", "/b", (("Host", "t"), ("Content-Length", "10"))) + b"abc")
    r = Reader(s)
    s.settimeout(REQUEST_MS / 1000 + SLACK_S + 1)
    resp = r.response()
    dt = time.monotonic() - t0
    assert resp.status == 408 and resp.headers["connection"] == "close"
    json_error(resp)
    assert REQUEST_MS / 1000 - 0.05 <= dt <= REQUEST_MS / 1000 + SLACK_S
    assert r.closed()
    s.close()
    assert srv.mem()["stats"]["timeouts"] == st0["timeouts"] + 1


def test_slow_clients_are_cut_while_others_are_served_and_the_cap_answers_503(srv):
    st0 = srv.mem()["stats"]
    n_slow = 40
    msg = build(path="/slow")
    slow = [connect(srv.port, timeout=10) for _ in range(n_slow)]
    first = {}
    dead = set()
    stop = threading.Event()

    def trickle():                              # one byte per second on every slow connection
        for i in range(len(msg)):
            for s in slow:
                if s in dead:
                    continue
                try:
                    s.send(msg[i:i + 1])
                except OSError:
                    dead.add(s)
                first.setdefault(s, time.monotonic())
            if stop.wait(1.0):
                return

    t = threading.Thread(target=trickle)
    t.start()
    try:
        time.sleep(0.3)
        # a normal client is answered beside them
        r = requests.get(srv.url("/normal"), timeout=5, headers={"Connection": "close"})
        assert r.status_code == 200 and r.json()["path"] == "/normal"
        time.sleep(0.1)
        # fill the remaining slots; the connection after them is refused at once
        extra = [connect(srv.port) for _ in range(MAX_CONNS - n_slow + 1)]
        sel = selectors.DefaultSelector()
        for s in extra:
            sel.register(s, selectors.EVENT_READ)
        ready = [k.fileobj for k, _ in sel.select(timeout=0.5)]
        sel.close()
        assert ready == [extra[-1]]
        rr = Reader(extra[-1])
        busy = rr.response()
        assert busy.status == 503 and busy.headers["connection"] == "close"
        assert busy.json() == {"error": "server busy"} and busy.headers["retry-after"] == "1"
        assert rr.closed(timeout=1)
        for s in extra:
            s.close()
        time.sleep(0.2)
        r = requests.get(srv.url("/normal2"), timeout=5)
        assert r.status_code == 200
        # every slow connection: 408 then closed, at the request timeout from its first byte
        for s in slow:
            s.settimeout(REQUEST_MS / 1000 + SLACK_S + 2)
            rd = Reader(s)
            resp = rd.response()
            cut = time.monotonic() - first[s]
            assert resp.status == 408
            assert rd.closed()
            assert cut <= REQUEST_MS / 1000 + SLACK_S + 0.5, cut
            assert cut >= REQUEST_MS / 1000 - 0.1, cut
    finally:
        stop.set()
        t.join()
        for s in slow:
            s.close()
    st1 = settled(lambda: srv.mem()["stats"])
    assert st1["timeouts"] == st0["timeouts"] + n_slow
    assert st1["conns_refused"] == st0["conns_refused"] + 1
    assert st1["conns_open"] == 1


# --- fuzz ---------------------------------------------------------------------------------

_PIECES = [b"GET", b"POST", b"HEAD", b"PUT", b"get", b"G\x00T", b"", b" ", b"  ", b"\t", b"/", b"/x",
           b"/raise", b"/%", b"/%2", b"/%zz", b"/%00", b"/..", b"/%2e%2e/", b"*", b"http://h/x",
           b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.", b"HTTP/11.1", b"HTTP/1.1\r", b"\r\n", b"\n",
           b"\r", b":", b"Host:", b"Host: t", b"Content-Length: ", b"Content-Length: 5", b"-1",
           b"99999999999999999999", b"Transfer-Encoding: chunked", b"Expect: 100-continue",
           b"Connection: close", b"\xff\xfe", b"\xc3\xa9", b"?a=1&a=2", b"&&==", b"%%%", b"\x7f"]


def _valid(rng):
    method = rng.choice(["GET", "GET", "POST", "DELETE", "OPTIONS"])
    path = rng.choice(["/x", "/a/b?c=d", "/raise", "/status?code=404", "/%C3%A9", "/q?x=%41&y"])
    hs = [("Host", "t")] + [("X-%d" % i, "v" * rng.randrange(0, 40)) for i in range(rng.randrange(0, 6))]
    body = b""
    if method == "POST":
        body = bytes(rng.randrange(32, 127) for _ in range(rng.randrange(0, 200)))
        hs.append(("Content-Length", str(len(body))))
    return build(method, path, tuple(hs), body)


def _case(rng):
    k = rng.randrange(10)
    if k == 0:                                  # random bytes
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 1500)))
    if k == 1:                                  # truncated valid request
        v = _valid(rng)
        return v[:rng.randrange(1, len(v))]
    if k == 2:                                  # request line, then header garbage
        lines = [bytes(rng.randrange(1, 256) for _ in range(rng.randrange(0, 80))).replace(b"\n", b"")
                 for _ in range(rng.randrange(1, 8))]
        return b"GET /x HTTP/1.1\r\nHost: t\r\n" + b"\r\n".join(lines) + b"\r\n\r\n"
    if k == 3:                                  # huge values
        which = rng.randrange(4)
        if which == 0:
            return build(path="/" + "a" * rng.randrange(900, 6000))
        if which == 1:
            return build(headers=(("Host", "t"), ("X-Big", "v" * rng.randrange(1500, 12000))))
        if which == 2:
            return build("POST", "/x", (("Host", "t"), ("Content-Length", "9" * rng.randrange(5, 60))))
        return build(headers=(("Host", "t"),) + tuple(("X-%d" % i, "v") for i in range(rng.randrange(20, 80))))
    if k == 4:                                  # request shaped from tricky pieces
        return b"".join(rng.choice(_PIECES) + rng.choice([b" ", b"", b"\r\n"]) for _ in range(rng.randrange(3, 14))) + b"\r\n\r\n"
    if k == 5:                                  # pipelined mix
        return b"".join(_valid(rng) if rng.random() < 0.7 else _case(rng) for _ in range(rng.randrange(2, 5)))
    if k == 6:                                  # random escapes and bytes in the target
        tgt = b"/" + b"".join(rng.choice([b"a", b"%", b"%2e", b"%2f", b"..", b"/", b"%00", b"%ff", b"+",
                                          b"?", b"=", b"&", bytes([rng.randrange(33, 127)])])
                              for _ in range(rng.randrange(1, 30)))
        return b"GET " + tgt + b" HTTP/1.1\r\nHost: t\r\n\r\n"
    if k == 7:                                  # Content-Length that lies
        body = b"b" * rng.randrange(0, 300)
        return build("POST", "/x", (("Host", "t"), ("Content-Length", str(max(0, len(body) + rng.randrange(-50, 50))))), body)
    if k == 8:                                  # a valid request, mutated
        v = bytearray(_valid(rng))
        for _ in range(rng.randrange(1, 6)):
            i = rng.randrange(len(v))
            op = rng.randrange(3)
            if op == 0:
                v[i] = rng.randrange(256)
            elif op == 1:
                del v[i]
            else:
                v.insert(i, rng.randrange(256))
        return bytes(v)
    return _valid(rng)                           # well-formed


def _allowed_5xx(data):
    ok = set()
    if b"/raise" in data:
        ok.add(500)
    if b"transfer-encoding" in data.lower():
        ok.add(501)
    if re.search(rb"HTTP/[02-9]\.[0-9]", data):
        ok.add(505)
    return ok


def _run_case(port, data):
    s = connect(port, timeout=10)
    try:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass                                 # refused early: what came back still counts
        out = bytearray()
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                out += d
        except ConnectionResetError:
            pass
    finally:
        s.close()
    return bytes(out)


def _statuses(reply, data):
    """Status of every response in a reply, checking each parses; HEAD
    responses (no body) are recognised by the request having one."""
    r = Reader(None)
    r.buf += reply
    r._more = lambda: (_ for _ in ()).throw(EOFError("end of reply"))
    out = []
    while r.buf:
        out.append(r.response(head_only=None if b"HEAD" in data else False).status)
    return out


def test_fuzz_malformed_requests(srv):
    rng = random.Random(20260705)
    cases = [_case(rng) for _ in range(5200)]
    srv.mem()
    before = srv.mem()
    t0 = time.monotonic()
    with ThreadPoolExecutor(8) as ex:
        replies = list(ex.map(lambda d: _run_case(srv.port, d), cases))
    elapsed = time.monotonic() - t0
    assert elapsed < 40, elapsed
    seen = {}
    n_5xx = 0
    for data, reply in zip(cases, replies):
        for st in _statuses(reply, data):
            seen[st] = seen.get(st, 0) + 1
            if st >= 500:
                n_5xx += 1
                assert st in _allowed_5xx(data), (st, data[:300])
    # the mix reached the handler and every refusal path
    assert seen.get(200, 0) > 500 and seen.get(400, 0) > 500
    for st in (404, 413, 414, 431, 500):
        assert seen.get(st), (st, seen)
    after = srv.mem()
    assert requests.get(srv.url("/still-alive"), timeout=5).json()["path"] == "/still-alive"
    st0, st1 = before["stats"], after["stats"]
    assert st1["responses_5xx"] - st0["responses_5xx"] == n_5xx
    assert st1["conns_total"] - st0["conns_total"] == len(cases) + 1
    assert st1["conns_open"] == 1 and st1["conns_refused"] == st0["conns_refused"]
    assert after["mem_alloc"] - before["mem_alloc"] < HEAP_MARGIN, (before["mem_alloc"], after["mem_alloc"])


# --- HTTPS --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tls_srv(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    key, cert = d / "key.pem", d / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    # this mbedTLS build takes DER only
    subprocess.run(["openssl", "ec", "-in", str(key), "-outform", "DER", "-out", str(d / "key.der")],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-in", str(cert), "-outform", "DER", "-out", str(d / "cert.der")],
                   check=True, capture_output=True)
    s = Server(d, "--max-conns", 4, "--idle-ms", IDLE_MS, tls=(d / "cert.der", d / "key.der", str(cert)))
    yield s
    assert s.stop(), "server died:\n" + s.log.read_text()
    assert s.log.read_text() == "listening %d\n" % s.port, s.log.read_text()


def _curl(tls_srv, path):
    return subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", tls_srv.tls[2], tls_srv.url(path)],
                          capture_output=True, text=True, timeout=20)


def test_https_with_curl_and_keep_alive(tls_srv):
    p = _curl(tls_srv, "/tls/x?a=%41")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["path"] == "/tls/x" and d["query"] == {"a": "A"} and d["iface"] == "https"
    ca = tls_srv.tls[2]      # per request: REQUESTS_CA_BUNDLE would override a session's verify
    with requests.Session() as ses:
        st0 = ses.get(tls_srv.url("/mem"), timeout=10, verify=ca).json()["stats"]
        for i in range(3):
            r = ses.post(tls_srv.url("/t%d" % i), data=b"x" * 3000, timeout=10, verify=ca)
            assert r.json()["body_len"] == 3000
        r = ses.get(tls_srv.url("/stream?kb=2048"), timeout=30, verify=ca)
        assert r.headers["Transfer-Encoding"] == "chunked"
        assert r.content == stream_bytes(2048)
        st1 = ses.get(tls_srv.url("/mem"), timeout=10, verify=ca).json()["stats"]
    assert st1["conns_total"] == st0["conns_total"]       # all on one TLS connection


def test_plain_http_to_the_tls_port_fails_cleanly(tls_srv):
    ca = tls_srv.tls[2]
    time.sleep(0.3)
    fds0 = tls_srv.fds()                   # no client connected
    ses = requests.Session()               # an HTTPS client kept alive throughout
    st0 = ses.get(tls_srv.url("/mem"), timeout=10, verify=ca).json()["stats"]
    for _ in range(10):
        s = connect(tls_srv.port)
        s.sendall(build(path="/plain"))
        t0 = time.monotonic()
        assert Reader(s).closed(timeout=3)              # closed, no HTTP answer in clear
        assert time.monotonic() - t0 < 2
        s.close()
    p = _curl(tls_srv, "/after-plain")
    assert p.returncode == 0 and json.loads(p.stdout)["path"] == "/after-plain"
    st1 = settled(lambda: ses.get(tls_srv.url("/mem"), timeout=10, verify=ca).json()["stats"])
    ses.close()
    assert st1["tls_errors"] == st0["tls_errors"] + 10
    assert st1["conns_total"] == st0["conns_total"] + 10 + 1     # the plain ones and curl: the session stayed
    assert st1["conns_open"] == 1
    time.sleep(0.3)
    # every socket of the failed connections is closed (mbedTLS lets go of it)
    deadline = time.monotonic() + 3
    while tls_srv.fds() != fds0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert tls_srv.fds() == fds0


def test_tls_connection_over_the_cap_is_closed_at_once(tls_srv):
    st0 = settled(lambda: tls_srv.mem()["stats"])
    time.sleep(0.2)                                       # and that /mem connection gone too
    held = [connect(tls_srv.port) for _ in range(4)]     # max_conns 4, handshakes pending
    time.sleep(0.2)
    sel = selectors.DefaultSelector()
    for h in held:
        sel.register(h, selectors.EVENT_READ)
    assert sel.select(timeout=0.2) == []                  # all four in slots, waiting
    sel.close()
    s = connect(tls_srv.port)
    t0 = time.monotonic()
    assert Reader(s).closed(timeout=2)
    assert time.monotonic() - t0 < 1
    s.close()
    for h in held:
        h.close()
    time.sleep(0.3)
    p = _curl(tls_srv, "/after-cap")
    assert p.returncode == 0 and json.loads(p.stdout)["path"] == "/after-cap"
    assert tls_srv.mem()["stats"]["conns_refused"] == st0["conns_refused"] + 1


# --- shutdown -----------------------------------------------------------------------------

def test_close_stops_listening_and_drops_every_connection(tmp_path):
    s = Server(tmp_path, "--idle-ms", 60000, "--handler-ms", 60000)
    try:
        idle = connect(s.port)
        idle.sendall(build())
        ri = Reader(idle)
        assert ri.response().status == 200          # kept alive, idle
        busy = connect(s.port)
        busy.sendall(build(path="/sleep?ms=30000"))  # inside its handler
        time.sleep(0.2)
        r = requests.get(s.url("/close"), timeout=5)
        assert r.json() == {"closed": True} and r.headers["Connection"] == "close"
        assert ri.closed(timeout=2)
        assert Reader(busy).closed(timeout=2)            # cut, nothing sent
        deadline = time.monotonic() + 3
        while True:
            try:
                connect(s.port, timeout=1).close()
            except ConnectionRefusedError:
                break
            assert time.monotonic() < deadline, "still listening"
            time.sleep(0.1)
        idle.close()
        busy.close()
    finally:
        alive = s.stop()
    assert alive, s.log.read_text()
    assert s.log.read_text() == "listening %d\n" % s.port, s.log.read_text()


# --- documentation -----------------------------------------------------------------------

def test_docs_list_every_limit_with_its_value(limits):
    text = (ROOT / "docs" / "http.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| (\d+) \|", text, re.M))
    assert {k: int(v) for k, v in rows.items()} == limits

# HTTP/1.1 message codec (RFC 9110/9112) for the PDU's HTTP uplink.
#
# Pure functions and one incremental head parser: no sockets, no asyncio, so
# the rules can be read, tested and fuzzed apart from the server loop
# (comms/httpd.py). Every limit is a named constant; a request that breaks a
# rule raises HttpError carrying the status to answer. The server closes the
# connection after any HttpError: once framing is in doubt, nothing that
# follows on the connection can be trusted.
from micropython import const
from core.calendar import civil_from_days

# Request limits (bytes unless named otherwise). docs/http.md lists them.
MAX_REQUEST_LINE = const(1024)   # method SP target SP version, CRLF excluded -> 414
MAX_HEADER_LINE = const(2048)    # one header field line, CRLF excluded -> 431
MAX_HEADERS = const(32)          # header fields -> 431
MAX_HEADER_BYTES = const(8192)   # whole header section, CRLFs included -> 431
MAX_BODY = const(16384)          # Content-Length -> 413
MAX_EMPTY_LINES = const(2)       # blank lines tolerated before a request line (RFC 9112 2.2)
_MAX_CL_DIGITS = const(9)        # a longer Content-Length is over MAX_BODY anyway: no bignum

# Chunked transfer coding: "%x\r\n" (8 hex digits at most) + data + "\r\n".
CHUNK_OVERHEAD = const(12)
LAST_CHUNK = b"0\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

# Body framing of a response (response_head's `length` when not a byte count).
CHUNKED = const(-1)              # Transfer-Encoding: chunked (HTTP/1.1 clients)
UNTIL_CLOSE = const(-2)          # body ends when the connection closes (HTTP/1.0 clients)

# Methods whose requests carry a body: without Content-Length they are 411
# (chunked request bodies are not supported, so the length must be declared).
BODY_METHODS = ("POST", "PUT", "PATCH")

REASONS = {
    100: "Continue", 200: "OK", 201: "Created", 202: "Accepted", 204: "No Content",
    301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified",
    307: "Temporary Redirect", 308: "Permanent Redirect",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 408: "Request Timeout", 409: "Conflict",
    410: "Gone", 411: "Length Required", 412: "Precondition Failed", 413: "Content Too Large",
    414: "URI Too Long", 415: "Unsupported Media Type", 417: "Expectation Failed",
    422: "Unprocessable Content", 423: "Locked", 428: "Precondition Required",
    429: "Too Many Requests", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}

# RFC 9110 5.6.2 tchar, as a 128-entry table: method and header names.
_TCHARS = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_TOKEN = bytes(1 if i in _TCHARS else 0 for i in range(128))
_WDAYS = ("Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed")   # 1970-01-01 was a Thursday
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class HttpError(Exception):
    """A request the server answers itself: `status` and a short `reason`."""

    def __init__(self, status, reason):
        super().__init__(status, reason)
        self.status = status
        self.reason = reason


def _bad(reason):
    return HttpError(400, reason)


def is_token(b):
    if not b:
        return False
    for c in b:
        if c > 127 or not _TOKEN[c]:
            return False
    return True


def _hexval(c):
    if 48 <= c <= 57:
        return c - 48
    c |= 32                      # fold A-F to a-f
    if 97 <= c <= 102:
        return c - 87
    return -1


def unquote(b, plus=False):
    """Percent-decode bytes into a str (UTF-8); "+" is a space when `plus`
    (query strings). A broken escape or invalid UTF-8 is 400."""
    if plus:
        b = b.replace(b"+", b" ")
    if b"%" in b:
        parts = b.split(b"%")
        out = bytearray(parts[0])
        for i in range(1, len(parts)):
            p = parts[i]
            if len(p) < 2:
                raise _bad("bad percent-escape")
            hi = _hexval(p[0])
            lo = _hexval(p[1])
            if hi < 0 or lo < 0:
                raise _bad("bad percent-escape")
            out.append(hi << 4 | lo)
            out.extend(p[2:])
        b = out
    return text(b, "target is not UTF-8")


def text(b, what):
    """Bytes to str, strictly UTF-8: MicroPython's decoder checks the
    structure only, so overlong forms (C0 AE for ".": a classic way round a
    ".." check), surrogates and code points past U+10FFFF are refused here."""
    try:
        s = str(b, "utf-8")
    except UnicodeError:
        raise _bad(what)
    if len(s) == len(b):
        return s                 # ASCII: nothing more to check
    i = 0
    n = len(b)
    while i < n:
        c = b[i]
        if c < 0x80:
            i += 1
            continue
        if c < 0xC2 or c > 0xF4 or i + 1 >= n:
            raise _bad(what)     # continuation byte as lead, overlong 2-byte, past U+10FFFF
        c1 = b[i + 1]
        if (c == 0xE0 and c1 < 0xA0) or (c == 0xF0 and c1 < 0x90):
            raise _bad(what)     # overlong 3- and 4-byte forms
        if (c == 0xED and c1 >= 0xA0) or (c == 0xF4 and c1 >= 0x90):
            raise _bad(what)     # UTF-16 surrogates, past U+10FFFF
        i += 2 if c < 0xE0 else 3 if c < 0xF0 else 4
    return s


def check_path(path):
    """Refuse what would let a handler be tricked out of its tree, after
    decoding, so an encoded form is caught like a plain one: a ".." segment,
    a backslash (DOS separator), NUL and other control characters (they would
    also let a reflected path split a response header)."""
    if "\\" in path:
        raise _bad("backslash in path")
    for ch in path:
        o = ord(ch)
        if o < 32 or o == 127:
            raise _bad("control character in path")
    for seg in path.split("/"):
        if seg == "..":
            raise _bad("dot-dot segment in path")


def parse_query(qs):
    """b"a=1&b=x%20y&a=2" -> {"a": "2", "b": "x y"}: the last value of a
    repeated key wins; a key without "=" maps to ""."""
    q = {}
    if not qs:
        return q
    for part in qs.split(b"&"):
        if not part:
            continue
        i = part.find(b"=")
        if i < 0:
            k, v = part, b""
        else:
            k, v = part[:i], part[i + 1:]
        k = unquote(k, True)
        v = unquote(v, True)
        if "\x00" in k or "\x00" in v:
            raise _bad("NUL in query")
        q[k] = v
    return q


def parse_target(method, target):
    """Request target -> (path, query dict). Origin form "/p?q"; absolute
    form "http://host/p?q" (which servers must accept, RFC 9112 3.2.2) is
    reduced to its path; "*" only for OPTIONS."""
    for c in target:
        if c < 33 or c > 126:
            raise _bad("invalid character in target")
    if b"#" in target:
        raise _bad("fragment in target")
    if target == b"*":
        if method != "OPTIONS":
            raise _bad("asterisk target")
        return "*", {}
    if target[:1] != b"/":
        low = target[:8].lower()
        if low.startswith(b"http://") or low.startswith(b"https://"):
            rest = target[target.find(b"//") + 2:]
            i = 0
            while i < len(rest) and rest[i] not in b"/?":
                i += 1
            target = b"/" + rest[i:] if rest[i:i + 1] != b"/" else rest[i:]
        else:
            raise _bad("target is not a path")
    i = target.find(b"?")
    if i >= 0:
        raw, qs = target[:i], target[i + 1:]
    else:
        raw, qs = target, b""
    path = unquote(raw)
    check_path(path)
    return path, parse_query(qs)


def parse_request_line(line):
    """b"GET /x HTTP/1.1" -> (method, target bytes, minor version). A syntax
    error is 400, a major version other than 1 is 505; HTTP/1.2 and later
    minors are served as 1.1 (RFC 9110 2.5)."""
    parts = line.split(b" ")
    if len(parts) != 3:
        raise _bad("malformed request line")
    m, target, v = parts
    if not is_token(m):
        raise _bad("invalid method")
    if len(v) != 8 or v[:5] != b"HTTP/" or v[6] != 46 or not (48 <= v[5] <= 57) or not (48 <= v[7] <= 57):
        raise _bad("malformed version")
    if v[5] != 49:
        raise HttpError(505, "only HTTP/1.x is supported")
    if not target:
        raise _bad("empty target")
    return m.decode(), target, v[7] - 48


def parse_header(line):
    """b"Name: value" -> ("name", "value"). Obsolete line folding, a space
    before the colon, CR or NUL in the value and invalid UTF-8 are all 400."""
    if line[:1] in (b" ", b"\t"):
        raise _bad("obsolete line folding")
    i = line.find(b":")
    if i <= 0 or not is_token(line[:i]):
        raise _bad("malformed header")
    value = line[i + 1:].strip(b" \t")
    if b"\r" in value or b"\x00" in value:
        raise _bad("CR or NUL in header value")
    return line[:i].lower().decode(), text(value, "header value is not UTF-8")


class Head:
    """Incremental parser of one request head, fed a line at a time (CRLF
    already removed). reset() readies it for the next request, so one Head
    serves a connection for its whole life."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.method = None           # set once the request line is in
        self.target = None
        self.path = None
        self.query = None
        self.minor = 1
        self.headers = {}
        self.count = 0               # header field lines
        self.nbytes = 0              # header section so far, CRLFs included
        self.empty = 0
        self.length = 0              # body bytes to read (finish())
        self.keep_alive = False
        self.expect_continue = False

    def limit(self):
        """Longest line (CRLF excluded) acceptable next."""
        return MAX_REQUEST_LINE if self.method is None else MAX_HEADER_LINE

    def too_long(self):
        """The error for a line over limit()."""
        if self.method is None:
            return HttpError(414, "request line too long")
        return HttpError(431, "header line too long")

    def feed(self, line):
        """Take one line; True once the blank line ending the head is in."""
        line = bytes(line)
        if self.method is None:
            if not line:
                self.empty += 1
                if self.empty > MAX_EMPTY_LINES:
                    raise _bad("blank lines before request")
                return False
            if b"\r" in line:
                raise _bad("bare CR")
            self.method, target, self.minor = parse_request_line(line)
            self.path, self.query = parse_target(self.method, target)
            return False
        self.nbytes += len(line) + 2
        if self.nbytes > MAX_HEADER_BYTES:
            raise HttpError(431, "header section too large")
        if not line:
            return True
        self.count += 1
        if self.count > MAX_HEADERS:
            raise HttpError(431, "too many header fields")
        name, value = parse_header(line)
        h = self.headers
        if name in h:
            if name in ("host", "content-length"):
                raise _bad("repeated " + name)
            h[name] = h[name] + ", " + value
        else:
            h[name] = value
        return False

    def finish(self):
        """Decide framing and connection use from a complete head."""
        h = self.headers
        if self.minor >= 1 and "host" not in h:
            raise _bad("missing Host")                     # RFC 9112 3.2: must be 400
        if "transfer-encoding" in h:
            # Request bodies must carry Content-Length; a chunked one could not
            # be bounded before it is read.
            raise HttpError(501, "transfer-encoding not supported")
        cl = h.get("content-length")
        if cl is not None:
            if not cl.isdigit():
                raise _bad("invalid Content-Length")
            if len(cl) > _MAX_CL_DIGITS or int(cl) > MAX_BODY:
                raise HttpError(413, "body too large")
            self.length = int(cl)
        elif self.method in BODY_METHODS:
            raise HttpError(411, "Content-Length required")
        exp = h.get("expect")
        if exp is not None:
            if exp.lower() != "100-continue":
                raise HttpError(417, "unsupported expectation")
            self.expect_continue = self.length > 0
        # HTTP/1.0 is always served one request per connection.
        self.keep_alive = self.minor >= 1 and not has_token(h.get("connection", ""), "close")


def has_token(value, token):
    """Whether a comma-separated header value lists `token` (any case)."""
    for t in value.split(","):
        if t.strip().lower() == token:
            return True
    return False


def http_date(utc_s):
    """IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") for Unix seconds; plain
    integer arithmetic because time.gmtime's epoch differs between ports."""
    days, s = divmod(int(utc_s), 86400)
    wd = _WDAYS[days % 7]
    y, m, d = civil_from_days(days)
    return "%s, %02d %s %04d %02d:%02d:%02d GMT" % (wd, d, _MONTHS[m - 1], y, s // 3600, s // 60 % 60, s % 60)


def check_field(name, value):
    """A handler's response header: a token name and a value without CR, LF
    or NUL (which would let data inject headers or split the response)."""
    if not isinstance(name, str) or not is_token(name.encode()):
        raise ValueError("bad header name %r" % (name,))
    value = str(value)
    for c in "\r\n\x00":
        if c in value:
            raise ValueError("bad header value for %s" % name)
    return value


def response_head(status, content_type, length, close, extra=(), date=None, server=None):
    """Status line and header section, as bytes. `length`: a byte count
    (Content-Length), CHUNKED or UNTIL_CLOSE; None sends no framing header (for
    statuses that never have a body). `extra`: (name, value) pairs already
    passed through check_field."""
    out = ["HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, "Unknown"))]
    if server:
        out.append("Server: %s\r\n" % server)
    if date:
        out.append("Date: %s\r\n" % date)
    if content_type and length is not None:
        out.append("Content-Type: %s\r\n" % content_type)
    if length == CHUNKED:
        out.append("Transfer-Encoding: chunked\r\n")
    elif length is not None and length >= 0:
        out.append("Content-Length: %d\r\n" % length)
    if close:
        out.append("Connection: close\r\n")
    for name, value in extra:
        out.append("%s: %s\r\n" % (name, value))
    out.append("\r\n")
    return "".join(out).encode()


def chunk_into(buf, data, start, n):
    """Frame data[start:start + n] as one chunk at the front of `buf` (which
    has room for n + CHUNK_OVERHEAD); return the frame's length. Written in
    place so a streamed response costs no allocation per chunk."""
    k = 0
    shift = 28
    while shift > 0 and not (n >> shift) & 15:
        shift -= 4
    while shift >= 0:
        buf[k] = b"0123456789abcdef"[(n >> shift) & 15]
        k += 1
        shift -= 4
    buf[k] = 13
    buf[k + 1] = 10
    k += 2
    buf[k:k + n] = memoryview(data)[start:start + n]
    k += n
    buf[k] = 13
    buf[k + 1] = 10
    return k + 2


def no_body(status):
    """Statuses that never carry a body (RFC 9110 6.4.1)."""
    return status < 200 or status == 204 or status == 304

"""Fuzzed HTTP requests for the HTTP uplink (tests/test_api_robustness.py and
`make bench`): malformed request lines, oversized heads and bodies, path
traversal, invalid JSON, wrong types, unknown objects and forged tokens, each
sent raw on its own connection."""
import json
import socket

def raw(port, data, timeout=5):
    """Send raw bytes, return the status code the server answered (0: closed without one)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while len(got) < 64:
            b = s.recv(4096)
            if not b:
                break
            got += b
    except OSError:     # reset, broken pipe, not connected (closed early), timeout
        got = b""
    finally:
        s.close()
    if got.startswith(b"HTTP/1."):
        return int(got[9:12])
    return 0


PATHS = ["/api/v1/outlets/O%d", "/api/v1/outlets/O%d/command", "/api/v1/branches/B%d", "/api/v1/phases/L%d",
         "/api/v1/groups/G%d/command", "/api/v1/users/u%d", "/api/v1/tokens/t%d", "/api/v1/events?since=%d",
         "/api/v1/records?from=%d", "/pee.xml?from=%d", "/api/v1/../../etc/passwd%d", "/%%2e%%2e/x%d",
         "/api/v1/outlets/%%00%d", "/api/v1/settings", "/metrics", "/api/v1/nosuch/%d"]


def fuzz_case(rnd, token):
    k = rnd.randrange(10)
    if k == 0:      # random bytes
        return bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 300)))
    if k == 1:      # truncated or malformed request lines
        return rnd.choice([b"GET\r\n\r\n", b"GET /\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b" / HTTP/1.1\r\n\r\n",
                           b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\n\r\n", b"G\x00T / HTTP/1.1\r\n\r\n",
                           b"GET / HTTP/1.1\r\nHost", b"\r\n\r\n\r\n\r\n"])
    if k == 2:      # oversized or too many header fields
        return (b"GET /api/v1/device HTTP/1.1\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"v" * rnd.randrange(10, 3000))
                                                                for i in range(rnd.randrange(1, 60))) + b"\r\n")
    if k == 3:      # bodies: too large, without length, chunked
        return rnd.choice([b"POST /api/v1/login HTTP/1.1\r\nContent-Length: 999999\r\n\r\n",
                           b"POST /api/v1/login HTTP/1.1\r\n\r\n{}",
                           b"POST /api/v1/login HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"])
    path = rnd.choice(PATHS)
    path = path % rnd.randrange(-5, 100) if "%d" in path else path
    auth = b"Authorization: Bearer " + (token.encode() if rnd.random() < 0.6 else
                                        rnd.choice([b"x", b"pdus_" + b"0" * 64, token.encode()[:-1] + b"x"])) + b"\r\n"
    method = rnd.choice([b"GET", b"POST", b"PATCH", b"DELETE", b"PUT", b"HEAD", b"OPTIONS"])
    body = rnd.choice([b"", b"{", b"[]", b'{"action": 1}', b'{"action": "explode"}', b'{"password": null}',
                       b'{"record": {"keep_days": "x"}}', json.dumps({"name": "x" * 200, "role": "god",
                                                                      "password": 5}).encode(),
                       b'{"outlets": {"99": {"name": "x"}}}', b"\xff\xfe"])
    head = b"%s %s HTTP/1.1\r\nHost: pdu\r\n%sContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (
        method, path.encode(), auth, len(body))
    return head + body

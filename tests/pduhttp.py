"""A simulated PDU (sim.main on MicroPython's unix port, real time) with its
HTTP uplink on a free local port, and a small client over real sockets
(http.client, with a chosen source address on 127.0.0.0/8)."""
import http.client
import json
import os
import signal
import socket
import subprocess
import time

from mputil import MICROPYTHON, ROOT, mp_env

ADMIN_PW = "Rack-PDU admin 2026"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Pdu:
    def __init__(self, tmp, scenario=None, extra=(), heap="8M", pass_fds=()):
        self.port = free_port()
        self.tmp = tmp
        self.fram = str(tmp / "fram.bin")
        self.flash = str(tmp / "flash.bin")
        args = [MICROPYTHON, "-X", "heapsize=%s" % heap, "-m", "sim.main", "--http-port", str(self.port),
                "--fram-file", self.fram, "--flash-file", self.flash] + list(extra)
        if "--modbus-port" not in args:      # never the fixed default: PDUs of several tests may overlap
            args += ["--modbus-port", str(free_port())]
        if scenario is not None:
            p = tmp / "scenario.json"
            p.write_text(json.dumps(scenario))
            args += ["--scenario", str(p)]
        self.log = open(tmp / "pdu.log", "w+")
        self.proc = subprocess.Popen(args, cwd=ROOT, env=mp_env(), stdout=self.log, stderr=subprocess.STDOUT,
                                     text=True, pass_fds=tuple(pass_fds))
        t_end = time.monotonic() + 60
        while time.monotonic() < t_end:
            if "status every" in self.output():
                break
            assert self.proc.poll() is None, self.output()
            time.sleep(0.1)
        else:
            raise AssertionError("PDU did not start:\n" + self.output())
        while time.monotonic() < t_end:      # the server listens once the task table runs
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                assert self.proc.poll() is None, self.output()
                time.sleep(0.05)
        self.t0 = time.monotonic()

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.log.closed:
            self.log.close()
        return self.output()

    def conn(self, src="127.0.0.1", timeout=20):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout, source_address=(src, 0))

    def req(self, method, path, token=None, body=None, src="127.0.0.1", headers=None, raw=False):
        """(status, headers dict, JSON body or text) of one request on a new connection."""
        c = self.conn(src)
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            b = r.read()
            hd = {k.lower(): v for k, v in r.getheaders()}
        finally:
            c.close()
        if raw:
            return r.status, hd, b
        text = b.decode()
        if hd.get("content-type", "").startswith("application/json") and text:
            return r.status, hd, json.loads(text)
        return r.status, hd, text

    def live_heap(self, token, n=3):
        """The live heap (bytes): the least of n collections a second apart.
        The collector is conservative: a stale pointer on a stack may keep one
        poll's temporaries (up to ~90 KB) alive through one collection."""
        out = []
        for i in range(n):
            if i:
                time.sleep(1)
            out.append(self.req("GET", "/api/v1/health?collect=1", token)[2]["heap"]["alloc"])
        return min(out)

    def login(self, user, password, src="127.0.0.1"):
        st, _, b = self.req("POST", "/api/v1/login", body={"user": user, "password": password}, src=src)
        assert st == 200, (st, b)
        return b["token"]

    def setup_admin(self):
        st, _, b = self.req("POST", "/api/v1/setup", body={"password": ADMIN_PW})
        assert st == 201, (st, b)
        return self.login("admin", ADMIN_PW)

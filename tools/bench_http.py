"""`make bench`, HTTP uplink: the firmware (sim.main, real time, metrology and
protection running) answering 20 concurrent keep-alive clients that read all
24 outlets; /metrics render time; the HTTP plane's resident heap idle and the
live heap under that load; the worst acquisition-poll lateness idle, under
that load and during 5,000 fuzzed requests. Figures beside their goals."""
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from tools.http_fuzz import fuzz_case, raw
from tools.mp import ROOT, mp_cmd, mp_env

CLIENTS = 20
LOAD_S = 20.0
FUZZ_REQUESTS = 5000
POLL_MS = 10
PW = "bench-admin-pass-2026"


def _port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def _req(port, method, path, token=None, body=None, conn=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = "Bearer " + token
    c.request(method, path, body=None if body is None else json.dumps(body), headers=h)
    r = c.getresponse()
    b = r.read()
    if conn is None:
        c.close()
    return r.status, b


def resident_heap():
    """The HTTP plane's resident heap on the unix port (sim/bench_http.py)."""
    r = subprocess.run(mp_cmd("-m", "sim.bench_http", _port()), cwd=ROOT, env=mp_env(), capture_output=True,
                       text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    h = resident_heap()
    print("HTTP plane resident heap (unix port, after boot, idle):")
    print("  management plane (model, commands, access store, API)  %6d bytes" % h["plane_bytes"])
    print("  HTTP server, %d connection slots                        %6d bytes" % (h["slots"], h["server_bytes"]))
    port = _port()
    tmp = tempfile.mkdtemp(prefix="pdu-bench-http-")
    log = open(os.path.join(tmp, "pdu.log"), "w+")
    p = subprocess.Popen(mp_cmd("-m", "sim.main", "--http-port", port, "--http-conns", CLIENTS + 4,
                                "--fram-file", os.path.join(tmp, "fram.bin"), "--flash-file",
                                os.path.join(tmp, "flash.bin")),
                         cwd=ROOT, env=mp_env(), stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        t_end = time.monotonic() + 60
        while time.monotonic() < t_end:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        st, _ = _req(port, "POST", "/api/v1/setup", body={"password": PW})
        st, b = _req(port, "POST", "/api/v1/login", body={"user": "admin", "password": PW})
        tok = json.loads(b)["token"]
        st, b = _req(port, "POST", "/api/v1/tokens", tok, {"name": "bench", "role": "admin"})
        tok = json.loads(b)["token"]
        time.sleep(6)       # the boot power-up sequence is over; a fresh lateness window
        idle_late = []
        for _ in range(2):
            time.sleep(5.1)
            idle_late.append(json.loads(_req(port, "GET", "/api/v1/health", tok)[1])["loop_lateness_us"]["recent"])
        heap_boot = json.loads(_req(port, "GET", "/api/v1/health?collect=1", tok)[1])["heap"]["alloc"]
        # /metrics render: whole responses, one at a time
        mt = []
        for _ in range(10):
            t0 = time.perf_counter()
            st, b = _req(port, "GET", "/metrics", tok)
            mt.append(time.perf_counter() - t0)
            assert st == 200
        metrics_bytes = len(b)
        # idle again: the metrics family plan is resident from the first scrape on
        heap_idle = json.loads(_req(port, "GET", "/api/v1/health?collect=1", tok)[1])["heap"]["alloc"]
        # 20 keep-alive clients reading all 24 outlets
        lat = []
        errors = []
        stop = threading.Event()

        def client():
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            while not stop.is_set():
                t0 = time.perf_counter()
                try:
                    st, b = _req(port, "GET", "/api/v1/outlets", tok, conn=c)
                except Exception as e:  # noqa: BLE001 -- counted and reported
                    errors.append(repr(e))
                    c.close()
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    continue
                if st != 200:
                    errors.append(st)
                else:
                    lat.append(time.perf_counter() - t0)
            c.close()
        th = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for t in th:
            t.start()
        load_late = []
        t_end = time.monotonic() + LOAD_S
        while time.monotonic() < t_end:
            time.sleep(5.1)
            load_late.append(json.loads(_req(port, "GET", "/api/v1/health", tok)[1])["loop_lateness_us"]["recent"])
        heap_load = json.loads(_req(port, "GET", "/api/v1/health?collect=1", tok)[1])["heap"]["alloc"]
        stop.set()
        for t in th:
            t.join()
        time.sleep(1)
        heap_after = json.loads(_req(port, "GET", "/api/v1/health?collect=1", tok)[1])["heap"]["alloc"]
        # fuzzed requests (tools/http_fuzz.py), one connection each, lateness sampled
        time.sleep(9.2)      # the lateness window before the fuzz is clear of the REST load
        rnd = random.Random(7)
        fuzz_late = []
        t_sample = t0 = time.monotonic()
        for _ in range(FUZZ_REQUESTS):
            raw(port, fuzz_case(rnd, tok))
            if time.monotonic() - t_sample > 4.0:
                fuzz_late.append(json.loads(_req(port, "GET", "/api/v1/health", tok)[1])["loop_lateness_us"]["recent"])
                t_sample = time.monotonic()
        fuzz_s = time.monotonic() - t0
        fuzz_late.append(json.loads(_req(port, "GET", "/api/v1/health", tok)[1])["loop_lateness_us"]["recent"])
        health = json.loads(_req(port, "GET", "/api/v1/health", tok)[1])
    finally:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
        log.close()
    lat.sort()
    n = len(lat)
    print("REST read of all 24 outlets, %d concurrent keep-alive clients, %.0f s, metrology and protection running:"
          % (CLIENTS, LOAD_S))
    print("  requests %d (%.0f/s), errors %d" % (n, n / LOAD_S, len(errors)))
    print("  latency p50 %.1f ms, p99 %.1f ms (goal p99 < 500 ms)" % (1000 * lat[n // 2], 1000 * lat[int(n * 0.99)]))
    print("/metrics render (%d bytes): median %.1f ms, worst %.1f ms (goal < 1000 ms)" % (
        metrics_bytes, 1000 * statistics.median(mt), 1000 * max(mt)))
    print("live heap (after a collection): after boot %d bytes, after the /metrics scrapes %d (+%d: the family "
          "plan), under the REST load %d (+%d), after it %d (+%d)" % (
              heap_boot, heap_idle, heap_idle - heap_boot, heap_load, heap_load - heap_idle, heap_after,
              heap_after - heap_idle))
    print("acquisition-poll lateness, worst 5 s window: idle %.1f ms, under load %.1f ms (goal <= %d ms, one poll)"
          % (max(idle_late) / 1000.0, max(load_late) / 1000.0, POLL_MS))
    print("acquisition-poll lateness during %d fuzzed requests (%.1f s): %.1f ms (goal <= %d ms, one poll)"
          % (FUZZ_REQUESTS, fuzz_s, max(fuzz_late) / 1000.0, POLL_MS))
    print("overruns %d (goal 0)" % health["overruns"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make bench`, Modbus uplink: a 100-register read over Modbus TCP by 8
concurrent pymodbus clients against the firmware (sim.main, real time,
metrology and protection running), and the same clients against a pymodbus
server (CPython, serving a block of the same size) in the same run; the Modbus
plane's resident heap; loop lateness and overruns under that load. Figures
beside their goals."""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from tools import bench_http
from tools.bench_http import _port
from tools.mp import ROOT, mp_cmd, mp_env

CLIENTS = 8
LOAD_S = 10.0
REGS = 100
ADDR = 40070          # the inlet meter model (203): header and 98 of its points
POLL_MS = 10
PW = "bench-admin-pass-2026"


def _wait_port(port, proc, t=60):
    t_end = time.monotonic() + t
    while time.monotonic() < t_end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("server exited")
            time.sleep(0.1)
    raise RuntimeError("no server on port %d" % port)


def load(port, seconds=LOAD_S):
    """(sorted latencies in s, errors) of CLIENTS clients each reading REGS registers in a loop."""
    from pymodbus.client import ModbusTcpClient
    lat, errors = [], []
    stop = time.monotonic() + seconds

    def client():
        c = ModbusTcpClient("127.0.0.1", port=port, timeout=10)
        c.connect()
        mine = []
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            r = c.read_holding_registers(ADDR, count=REGS)
            if r.isError() or len(r.registers) != REGS:
                errors.append(str(r))
                continue
            mine.append(time.perf_counter() - t0)
        c.close()
        lat.extend(mine)
    th = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    lat.sort()
    return lat, errors


def peer_server(port):
    """A pymodbus TCP server holding REGS registers at ADDR (the peer measured beside the firmware)."""
    from pymodbus.datastore import ModbusDeviceContext, ModbusSequentialDataBlock, ModbusServerContext
    from pymodbus.server import StartTcpServer
    block = ModbusSequentialDataBlock(ADDR + 1, list(range(REGS)))     # pymodbus blocks count from 1
    ctx = ModbusServerContext(devices=ModbusDeviceContext(hr=block), single=True)
    StartTcpServer(context=ctx, address=("127.0.0.1", port))


def resident_heap():
    r = subprocess.run(mp_cmd("-m", "sim.bench_modbus", _port()), cwd=ROOT, env=mp_env(), capture_output=True,
                       text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def _req(port, method, path, token=None, body=None):
    st, b = bench_http._req(port, method, path, token, body)
    return st, json.loads(b)


def _pct(lat, q):
    return 1000 * lat[min(len(lat) - 1, int(len(lat) * q))]


def main():
    h = resident_heap()
    print("Modbus plane resident heap (unix port, after boot, idle):")
    print("  SunSpec map and request handler                %6d bytes" % h["map_bytes"])
    print("  Modbus TCP server, %d connection slots          %6d bytes" % (h["slots"], h["server_bytes"]))
    # the firmware
    hport, mport = _port(), _port()
    tmp = tempfile.mkdtemp(prefix="pdu-bench-modbus-")
    log = open(os.path.join(tmp, "pdu.log"), "w+")
    p = subprocess.Popen(mp_cmd("-m", "sim.main", "--http-port", hport, "--modbus-port", mport,
                                "--fram-file", os.path.join(tmp, "fram.bin"), "--flash-file",
                                os.path.join(tmp, "flash.bin")),
                         cwd=ROOT, env=mp_env(), stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_port(hport, p)
        _req(hport, "POST", "/api/v1/setup", body={"password": PW})
        tok = _req(hport, "POST", "/api/v1/login", body={"user": "admin", "password": PW})[1]["token"]
        _req(hport, "PATCH", "/api/v1/access/modbus", tok, {"allow": ["127.0.0.1"]})
        _wait_port(mport, p)
        time.sleep(8)       # the power-up sequence over
        # lateness histograms of the firmware, idle then under the load, each
        # beside a bare asyncio loop's run at the same time (the host's floor)
        h0 = _late_hist(hport, tok)
        floor = _floor_start(LOAD_S)
        time.sleep(LOAD_S)
        idle_floor = _floor_end(floor)
        h1 = _late_hist(hport, tok)
        floor = _floor_start(LOAD_S)
        fw, fw_err = load(mport)
        load_floor = _floor_end(floor)
        h2 = _late_hist(hport, tok)
        health = _req(hport, "GET", "/api/v1/health", tok)[1]
    finally:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
        log.close()
    # the peer, same clients
    pport = _port()
    peer = subprocess.Popen([sys.executable, "-m", "tools.bench_modbus", "--peer-server", str(pport)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(pport, peer)
        pm, pm_err = load(pport)
    finally:
        peer.terminate()
        peer.wait(timeout=30)
    print("Modbus TCP read of %d registers, %d concurrent clients (pymodbus), %.0f s each:" % (REGS, CLIENTS, LOAD_S))
    print("  firmware (unix port, metrology and protection running): %5d reads (%4.0f/s), errors %d, "
          "p50 %5.1f ms, p99 %5.1f ms (goal p99 < 100 ms)" % (len(fw), len(fw) / LOAD_S, len(fw_err),
                                                             _pct(fw, 0.5), _pct(fw, 0.99)))
    print("  pymodbus server (CPython, %d registers):            %5d reads (%4.0f/s), errors %d, "
          "p50 %5.1f ms, p99 %5.1f ms" % (REGS, len(pm), len(pm) / LOAD_S, len(pm_err), _pct(pm, 0.5),
                                          _pct(pm, 0.99)))
    print("acquisition-poll lateness, %.0f s each (ms: p99, p99.9, worst; share of polls held >= 2 ms):" % LOAD_S)
    for name, d in (("firmware idle", _delta(h0, h1)), ("host floor, beside it", idle_floor),
                    ("firmware under that load", _delta(h1, h2)), ("host floor, beside it", load_floor)):
        print("  %-26s %s" % (name, _late_line(d)))
    print("  goal: under load not above idle, worst < %d ms (one poll)" % POLL_MS)
    print("overruns %d (goal 0)" % health["overruns"])
    return 0


def _late_hist(hport, tok):
    return _req(hport, "GET", "/api/v1/health", tok)[1]["loop_lateness_us"]["hist_ms"]


def _delta(h0, h1):
    return [b - a for a, b in zip(h0, h1)]


def _floor_start(seconds):
    return subprocess.Popen(mp_cmd("-m", "sim.loop_floor", seconds), cwd=ROOT, env=mp_env(),
                            stdout=subprocess.PIPE, text=True)


def _floor_end(proc):
    out, _ = proc.communicate(timeout=60)
    return json.loads(out.strip().splitlines()[-1])["hist_ms"]


def _late_line(d):
    n = sum(d)
    if not n:
        return "no polls"

    def q(f):
        c = 0
        for k, v in enumerate(d):
            c += v
            if c >= f * n:
                return k
        return len(d) - 1
    worst = max(k for k in range(len(d)) if d[k])
    return "%5d polls  p99 %d-%d  p99.9 %d-%d  worst %d-%d  held %.2f %%" % (
        n, q(0.99), q(0.99) + 1, q(0.999), q(0.999) + 1, worst, worst + 1, 100.0 * sum(d[2:]) / n)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--peer-server":
        peer_server(int(sys.argv[2]))
    else:
        sys.exit(main())

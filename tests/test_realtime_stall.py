"""A real-time run (what `make run` starts) survives host stalls: the process
is stopped for 150 ms twice (SIGSTOP/SIGCONT) and no sample is lost."""
import os
import re
import signal
import subprocess
import time

from mputil import MICROPYTHON, ROOT, mp_env

STALL_S = 0.15


def _state(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().split(")")[-1].split()[0]


def test_host_stalls_of_150_ms_lose_no_sample():
    p = subprocess.Popen([MICROPYTHON, "-X", "heapsize=8M", "-m", "sim.main", "--duration", "8"], cwd=ROOT,
                         env=mp_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        while True:
            line = p.stdout.readline()
            assert line, "\n".join(lines)
            lines.append(line.rstrip())
            if line.startswith("status every"):
                break
        stalls = []
        for delay in (2.0, 1.5):
            time.sleep(delay)
            p.send_signal(signal.SIGSTOP)
            t0 = time.monotonic()
            while _state(p.pid) != "T":
                time.sleep(0.001)
            time.sleep(STALL_S)
            p.send_signal(signal.SIGCONT)
            stalls.append(time.monotonic() - t0)
        out, _ = p.communicate(timeout=60)
        lines += out.splitlines()
    finally:
        if p.poll() is None:
            p.kill()
    text = "\n".join(lines)
    assert p.returncode == 0, text
    assert all(s >= STALL_S for s in stalls), stalls
    status = [l for l in lines if l.startswith("t=")]
    assert status, text
    for l in status:
        assert re.search(r"overruns=0 \(\+0\)", l), l
    stop = [l for l in lines if l.startswith("stopped:")]
    m = re.search(r"overruns=(\d+).* frames=(\d+) in ([\d.]+) s", stop[0])
    assert m and m.group(1) == "0", stop[0]
    # the chips' samples all arrived: 8 kSPS over the run, less start-up and the last catch-up
    frames, wall = int(m.group(2)), float(m.group(3))
    assert frames >= 8000 * (wall - 0.5 - 2 * STALL_S), (frames, wall)

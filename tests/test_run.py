"""`make run`'s launcher: boots sim24 in real time, prints its interfaces and a
status line, keeps up with the wall clock without overruns, stops on Ctrl-C."""
import os
import re
import signal
import subprocess
import sys
import time

from mputil import ROOT


def test_realtime_run_keeps_up_and_stops_on_ctrl_c():
    p = subprocess.Popen([sys.executable, "-m", "tools.run", "--http-port", "18080"], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    t_end = time.monotonic() + 60
    try:
        while time.monotonic() < t_end:
            line = p.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip())
            if len([l for l in lines if l.startswith("t=")]) >= 3:
                break
        os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        out, _ = p.communicate(timeout=30)
        lines += out.splitlines()
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    text = "\n".join(lines)
    assert p.returncode == 0, text
    assert "board sim24" in text and "real time" in text
    assert "http://127.0.0.1:18080/" in text and "Modbus TCP  127.0.0.1:5020" in text
    assert "SNMP        udp 127.0.0.1:1161" in text and "127.0.0.1:1883" in text
    m = re.search(r"Modbus RTU  (/dev/pts/\d+)", text)
    assert m, text
    status = [l for l in lines if l.startswith("t=")]
    assert len(status) >= 3, text
    for l in status:
        assert re.match(r"t=\S+ inlet P=\S+ W f=\S+ Hz outlets_on=\d+/24 overruns=0", l), l
    # the demo scenario's outlets are on by the third status line and the inlet reads 50 Hz
    assert re.search(r"f=(49\.9|50\.0)\d* Hz", status[-1]), status[-1]
    stop = [l for l in lines if l.startswith("stopped:")]
    assert stop, text
    m = re.search(r"overruns=(\d+).* frames=(\d+) in ([\d.]+) s", stop[0])
    assert m and m.group(1) == "0", stop[0]
    frames, wall = int(m.group(2)), float(m.group(3))
    # kept up with real time at the full 8 kSPS (within one poll period and start-up)
    assert frames >= 8000 * (wall - 0.5), (frames, wall)

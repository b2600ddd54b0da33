"""`make run`: boot the simulated PDU on MicroPython's unix port in real time.

Makes the pseudo-terminal that stands in for the RS-485 line (raw mode, the
Modbus RTU side is the path printed), then runs the firmware until Ctrl-C."""
import argparse
import os
import signal
import subprocess
import sys
import termios
import tty

from tools.mp import ROOT, mp_cmd, mp_env


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--board", default="sim24")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--http-port", type=int, default=8080)
    ap.add_argument("--modbus-port", type=int, default=5020)
    ap.add_argument("--snmp-port", type=int, default=1161)
    ap.add_argument("--mqtt-port", type=int, default=1883)
    ap.add_argument("--duration", type=float, default=None, help="stop after S seconds")
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "demo.json"),
                    help="loads and timed events for the demo (default scenarios/demo.json)")
    a = ap.parse_args(argv)

    master, slave = os.openpty()
    tty.setraw(slave)
    attrs = termios.tcgetattr(slave)
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    rtu_path = os.ttyname(slave)
    var = ROOT / "var"
    var.mkdir(exist_ok=True)
    cmd = mp_cmd("-m", "sim.main", "--board", a.board, "--seed", a.seed,
                 "--http-port", a.http_port, "--modbus-port", a.modbus_port,
                 "--snmp-port", a.snmp_port, "--mqtt-port", a.mqtt_port,
                 "--uart-fd", master, "--uart-path", rtu_path,
                 "--fram-file", var / ("fram-%s.bin" % a.board),
                 "--flash-file", var / ("flash-%s.bin" % a.board))
    if a.scenario:
        cmd += ["--scenario", a.scenario]
    if a.duration is not None:
        cmd += ["--duration", str(a.duration)]
    print("running:", " ".join(str(c) for c in cmd), flush=True)
    p = subprocess.Popen(cmd, cwd=ROOT, env=mp_env(), pass_fds=(master,))
    try:
        return p.wait()
    except KeyboardInterrupt:
        # The child got the same SIGINT from the terminal; give it time to say goodbye.
        try:
            return p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGTERM)
            return p.wait()
    finally:
        os.close(slave)
        os.close(master)


if __name__ == "__main__":
    sys.exit(main())

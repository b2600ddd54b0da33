"""`make run`: boot the simulated PDU on MicroPython's unix port in real time.

Makes the pseudo-terminal that stands in for the RS-485 line (raw mode, the
Modbus RTU side is the path printed), then runs the firmware until Ctrl-C.
It plays scenarios/demo.json (loads in the outlets, timed events) unless
--scenario names another; the scenario is checked against the board before
the firmware starts (sim/main.py): a problem is one line on stderr, exit 2."""
import os
import signal
import subprocess
import sys
import termios
import tty

from tools.mp import ROOT, ArgParser, InputError, die, mp_cmd, mp_env, mp_path

PROG = "tools.run"


def main(argv=None):
    ap = ArgParser(prog=PROG, description=__doc__)
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
    scenario = None
    if a.scenario:
        if not os.path.isfile(a.scenario):
            return die(PROG, "--scenario %s: no such file" % a.scenario)
        try:
            scenario = mp_path(a.scenario, "--scenario")
        except InputError as e:
            return die(PROG, str(e))

    master, slave = os.openpty()
    os.set_blocking(master, False)      # sim/hw.UART reads what is there (sim/main.py)
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
    if scenario:
        cmd += ["--scenario", scenario]
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

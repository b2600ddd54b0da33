"""Play a COMTRADE fixture through the sim24 twins, drivers and metrology in
virtual time and print one JSON object per 10/12-cycle window and per second.

    .venv/bin/python -m tools.meter FIXTURE.cfg [--kind win|sec|all] [--channels O1,L1]
                                    [--dc] [--f-nom 60] [--from S] [--duration S]
                                    [--harmonics] [--compact] [--inject JSON] [--cal JSON]

Each frame: {"kind": "win"|"sec", "seq", "t_s" (signal time of publishing),
"len_ms", "cycles", "utc_ms", "time_valid", "values": {channel: {quantity:
[value, unit], ..., "flags": [...]}}}. Channels: G1..G8 (group voltages),
O1..O24, B1..B6, L1..L3, N (measured neutral), NC (computed neutral), INLET;
energies (Wh/varh) in the 1 s frames. Fixture channel ids are the board's
channel names (docs/fixtures.md); channels absent from the fixture read zero.
The MicroPython side is sim/meter_run.py.
"""
import subprocess
import sys

from tools.mp import ROOT, mp_cmd, mp_env


def run(fixture, *args, heap="16M"):
    """Run and yield the output lines (str) as they come."""
    cmd = mp_cmd("-m", "sim.meter_run", str(fixture), *[str(a) for a in args], heap=heap)
    p = subprocess.Popen(cmd, cwd=ROOT, env=mp_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    for line in p.stdout:
        yield line.rstrip("\n")
    err = p.stderr.read()
    if p.wait():
        raise SystemExit("tools.meter: micropython failed:\n" + err)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    for line in run(argv[0], *argv[1:]):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

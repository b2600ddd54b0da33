"""Play a COMTRADE fixture through the sim24 twins, drivers and metrology in
virtual time and print one JSON object per 10/12-cycle window and per second.

    .venv/bin/python -m tools.meter FIXTURE.cfg [--kind win|sec|all] [--channels O1,L1]
                                    [--dc] [--f-nom 60] [--from S] [--duration S]
                                    [--harmonics] [--compact] [--inject FILE|JSON] [--cal FILE|JSON]
                                    (all options: sim/meter_run.py)

Each frame: {"kind": "win"|"sec", "seq", "t_s" (signal time of publishing),
"len_ms", "cycles", "utc_ms", "time_valid", "values": {channel: {quantity:
[value, unit], ..., "flags": [...]}}}. Channels: G1..G8 (group voltages),
O1..O24, B1..B6, L1..L3, N (measured neutral), NC (computed neutral), INLET;
energies (Wh/varh) in the 1 s frames. Fixture channel ids are the board's
channel names (docs/fixtures.md); channels absent from the fixture read zero.
The MicroPython side is sim/meter_run.py.

Everything given is checked before anything runs (sim/meter_run.py): unknown
options, bad values, unknown output channels, a missing or unusable fixture
(naming the file and the problem), malformed JSON (naming line and column)
are refused with one line on stderr and exit status 2. Fixture channels that
are not board channels get a warning and the run goes on. --cal takes the
file `tools.calibrate --out` writes (or inline {"O1-I": [gain, offset, phase_deg]}).
"""
import os
import subprocess
import sys
import tempfile

from tools.mp import MP_ARG_MAX, InputError, die, mp_cmd, mp_path, run_relayed

PROG = "tools.meter"
VALUED = ("--board", "--f-nom", "--kind", "--channels", "--from", "--duration", "--inject", "--cal",
          "--calibrate", "--harm-only", "--harm-request", "--absent")
JSON_OPTS = ("--inject", "--cal", "--calibrate")


def mp_args(argv, tmpdir):
    """The command line for sim/meter_run.py: file paths made usable from the
    repository root, inline JSON longer than the unix port takes put in a file."""
    out = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in VALUED and i + 1 < len(argv):
            v = argv[i + 1]
            if a in JSON_OPTS:
                if v.lstrip()[:1] in ("{", "["):
                    if len(v) > MP_ARG_MAX:
                        f = os.path.join(tmpdir, a[2:] + ".json")
                        with open(f, "w") as fh:
                            fh.write(v)
                        v = "@" + f
                else:
                    v = mp_path(v[1:] if v.startswith("@") else v, a)
            elif len(v) > MP_ARG_MAX:
                raise InputError("%s: value longer than %d characters" % (a, MP_ARG_MAX))
            out += [a, v]
            i += 2
            continue
        if not a.startswith("-"):
            a = mp_path(a, "fixture")
        out.append(a)
        i += 1
    return out


def run(fixture, *args, heap="16M"):
    """Run and yield the output lines (str) as they come; errors and warnings
    go to stderr as they come. SystemExit(status) if the run fails."""
    with tempfile.TemporaryDirectory() as d:
        try:
            margs = mp_args([str(fixture)] + [str(a) for a in args], d)
        except InputError as e:
            raise SystemExit(die(PROG, str(e)))
        p = run_relayed(PROG, mp_cmd("-m", "sim.meter_run", *margs, heap=heap), stdout=subprocess.PIPE)
        for line in p.stdout:
            yield line.rstrip("\n")
        rc = p.wait()
        p.relay_thread.join()
    if rc:
        raise SystemExit(rc)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    if not argv or argv[0].startswith("-"):
        return die(PROG, "usage: python -m tools.meter FIXTURE.cfg [options] (--help: the options)")
    for line in run(argv[0], *argv[1:]):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

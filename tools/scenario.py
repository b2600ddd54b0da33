"""Run a scenario file in virtual time on the simulated board.

    .venv/bin/python -m tools.scenario FILE.json

Prints the resulting firmware event log as JSON lines on stdout (a status
summary goes to stderr). The same scenario and seed give the same output.

The scenario is checked completely against the board before anything runs
(sim/scenario.py validate): malformed JSON, unknown keys and actions, outlets
the board lacks, missing or ill-typed arguments are refused with one line on
stderr naming the file, the place (JSON line and column, events[i], loads["k"])
and the field, and exit status 2."""
import os
import sys

from tools.mp import InputError, die, mp_cmd, mp_path, run_relayed

PROG = "tools.scenario"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    if len(argv) != 1 or argv[0].startswith("-"):
        return die(PROG, "usage: python -m tools.scenario FILE.json (one scenario file)")
    path = argv[0]
    if not os.path.exists(path):
        return die(PROG, "no such scenario file: %s" % path)
    if os.path.isdir(path):
        return die(PROG, "%s: is a directory, not a scenario file" % path)
    try:
        mp = mp_path(path, "scenario file")
    except InputError as e:
        return die(PROG, str(e))
    p = run_relayed(PROG, mp_cmd("-m", "sim.scenario", mp))
    rc = p.wait()
    p.relay_thread.join()
    return rc


if __name__ == "__main__":
    sys.exit(main())

"""Run a scenario file in virtual time on the simulated board.

    .venv/bin/python -m tools.scenario FILE.json

Prints the resulting firmware event log as JSON lines on stdout (a status
summary goes to stderr). The same scenario and seed give the same output."""
import subprocess
import sys
from pathlib import Path

from tools.mp import ROOT, mp_cmd, mp_env


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(argv[0]).resolve()
    if not path.exists():
        print("no such scenario file: %s" % path, file=sys.stderr)
        return 2
    return subprocess.call(mp_cmd("-m", "sim.scenario", path), cwd=ROOT, env=mp_env())


if __name__ == "__main__":
    sys.exit(main())

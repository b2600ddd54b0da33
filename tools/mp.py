"""Shared host-side helpers: where MicroPython lives and how to start it on the firmware."""
import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAP = "8M"  # unix-port heap for firmware + twins + plant; the MCU budget is measured by `make bench`


def micropython():
    p = Path(sys.executable).parent / "micropython"
    if not p.exists():
        p = ROOT / ".venv" / "bin" / "micropython"
    return str(p)


def mp_env():
    env = dict(os.environ)
    env["MICROPYPATH"] = "%s:.frozen" % ROOT
    return env


def mp_cmd(*args, heap=HEAP):
    return [micropython(), "-X", "heapsize=%s" % heap] + [str(a) for a in args]


# --- user input: MicroPython checks it and says what is wrong in one line --------
# The sim/ side prints "error: ..." (exit status 2) or "warning: ..." on stderr
# (sim/jsonfile.py); the host tools relay those lines under their own name.

MP_ARG_MAX = 200  # the unix port crashes on command-line arguments over ~256 characters


class InputError(Exception):
    """Bad user input found on the host side: one line, exit status 2."""


def die(prog, msg, code=2):
    """Refuse: one line on stderr, no traceback."""
    sys.stderr.write("%s: error: %s\n" % (prog, msg))
    sys.stderr.flush()
    return code


class ArgParser(argparse.ArgumentParser):
    """argparse that refuses a bad command line in one line (no usage block)."""

    def error(self, message):
        self.exit(2, "%s: error: %s (see --help)\n" % (self.prog, message))


def mp_path(p, what="path"):
    """A file path for MicroPython, which runs with cwd=ROOT: relative to ROOT
    when inside it (short, as in the docs), else absolute."""
    a = os.path.abspath(os.fspath(p))
    try:
        r = str(Path(a).relative_to(ROOT))
    except ValueError:
        r = a
    if len(r) > MP_ARG_MAX:
        raise InputError("%s %s: longer than %d characters (a limit of MicroPython's unix port); "
                         "move or link it somewhere shorter" % (what, p, MP_ARG_MAX))
    return r


def relay(prog, stream, out=None):
    """Copy MicroPython's stderr, naming the tool on its error/warning lines."""
    out = out or sys.stderr
    for line in stream:
        if line.startswith("error: ") or line.startswith("warning: "):
            line = "%s: %s" % (prog, line)
        out.write(line)
        out.flush()


def run_relayed(prog, cmd, stdout=None):
    """Run MicroPython with its stderr relayed live; stdout as given (None:
    inherited, or subprocess.PIPE). Returns the Popen (call wait())."""
    import subprocess
    import threading
    p = subprocess.Popen(cmd, cwd=ROOT, env=mp_env(), stdout=stdout, stderr=subprocess.PIPE, text=True)
    t = threading.Thread(target=relay, args=(prog, p.stderr), daemon=True)
    t.start()
    p.relay_thread = t
    return p

"""Run firmware-side code on MicroPython's unix port from pytest (CPython).

Firmware, drivers, twins and plant run in MicroPython exactly as shipped; the
tests drive them through small scripts and check what they print, usually one
JSON object per line, against references computed here in CPython/NumPy.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
MICROPYTHON = str(VENV_BIN / "micropython")
if not Path(MICROPYTHON).exists():  # pytest run outside the venv
    MICROPYTHON = str(ROOT / ".venv" / "bin" / "micropython")
HEAP = "8M"


def mp_env():
    env = dict(os.environ)
    env["MICROPYPATH"] = "%s:.frozen" % ROOT
    return env


def run_mp(code=None, script=None, args=(), timeout=300, heap=HEAP, check=True, stdin=None):
    """Run `code` (a string) or `script` (a path) on the unix port, from the repo root.

    Returns CompletedProcess; with check=True a non-zero exit fails the test
    with MicroPython's traceback in the message."""
    cmd = [MICROPYTHON, "-X", "heapsize=%s" % heap]
    if code is not None:
        cmd += ["-c", code]
    else:
        cmd += [str(script)]
    cmd += [str(a) for a in args]
    p = subprocess.run(cmd, cwd=ROOT, env=mp_env(), capture_output=True, text=True,
                       timeout=timeout, input=stdin)
    if check and p.returncode != 0:
        raise AssertionError("micropython exited %d\n--- stdout ---\n%s\n--- stderr ---\n%s"
                             % (p.returncode, p.stdout[-4000:], p.stderr[-4000:]))
    return p


def run_mp_json(code=None, script=None, args=(), **kw):
    """Run and parse every stdout line that is a JSON object."""
    p = run_mp(code=code, script=script, args=args, **kw)
    out = []
    for line in p.stdout.splitlines():
        line = line.strip()
        if line.startswith("{") or line.startswith("["):
            out.append(json.loads(line))
    return out

"""Shared host-side helpers: where MicroPython lives and how to start it on the firmware."""
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

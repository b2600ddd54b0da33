"""Factory calibration on the simulated board: apply a known reference through
a COMTRADE fixture, run the firmware's routine (metrology/calibration.py) and
print the resulting coefficient set.

    .venv/bin/python -m tools.calibrate [--fixture REF.cfg --reference REF.json]
                                        [--inject ERRORS.json] [--windows 10]
                                        [--fixture-id rig-1] [--dc] [--out SET.json]

Without --fixture a standard reference is made: 230 V 50 Hz on every group
voltage and inlet phase (L2/L3 at -120/-240 deg), 10 A at PF 1 on every outlet
current and inlet phase, 10 A on N-I in phase with L1 -- for 4 s + the
verification time. --reference is {board channel: V | [A, lag deg]} (default:
the standard one). --inject applies twin errors first (gain/phase/offset per
chip channel, see sim/meter_run.py) to show the routine removing them.

Output (stdout, JSON): {"version", "utc_ms", "fixture", "coeffs": {channel:
[gain, offset (raw codes), phase (deg at f_nom, the channel's delay)]}, "crc"
(CRC-16/CCITT of the canonical text), "residual": {channel: relative error
after calibration}, "stored", "calstore": {...as read back from the store}}.
The set is stored through firmware/calstore.CalStore (RAM-backed FRAM image
here; on the board the same call writes FRAM).
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np

from tools.mp import ROOT, mp_cmd, mp_env

FS = 8000


def standard_reference():
    ref = {}
    for g in range(1, 9):
        ref["G%d-V" % g] = 230.0
    for n in range(1, 25):
        ref["O%d-I" % n] = [10.0, 0.0]
    for p in (1, 2, 3):
        ref["L%d-V" % p] = 230.0
        ref["L%d-I" % p] = [10.0, 0.0]
    ref["N-I"] = [10.0, 0.0]
    return ref


def make_fixture(path_base, seconds):
    from tools import comtrade
    n = int(FS * seconds)
    t = np.arange(n) / FS
    chans = []
    for g in range(1, 9):
        chans.append(("G%d-V" % g, "V", 230 * np.sqrt(2) * np.sin(2 * np.pi * 50 * t)))
    for k in range(1, 25):
        chans.append(("O%d-I" % k, "A", 10 * np.sqrt(2) * np.sin(2 * np.pi * 50 * t)))
    for p in range(3):
        w = 2 * np.pi * 50 * t - 2 * np.pi / 3 * p
        chans.append(("L%d-V" % (p + 1), "V", 230 * np.sqrt(2) * np.sin(w)))
        chans.append(("L%d-I" % (p + 1), "A", 10 * np.sqrt(2) * np.sin(w)))
    chans.append(("N-I", "A", 10 * np.sqrt(2) * np.sin(2 * np.pi * 50 * t)))
    return comtrade.write(path_base, "calibration-rig", chans, fs=FS)[0]


def run(fixture, reference, *, windows=10, fixture_id="sim-rig", inject=None, dc=False, heap="32M"):
    """Run the routine; returns the calibration report dict (see module doc)."""
    with tempfile.TemporaryDirectory() as d:
        spec = os.path.join(d, "cal.json")
        with open(spec, "w") as f:
            json.dump({"reference": reference, "windows": windows, "fixture": fixture_id,
                       "calstore": True}, f)
        args = ["-m", "sim.meter_run", fixture, "--kind", "none", "--calibrate", "@" + spec]
        if inject:
            inj = os.path.join(d, "inject.json")
            with open(inj, "w") as f:
                json.dump(inject, f)
            args += ["--inject", "@" + inj]
        if dc:
            args.append("--dc")
        import subprocess
        r = subprocess.run(mp_cmd(*args, heap=heap), cwd=ROOT, env=mp_env(), capture_output=True,
                           text=True, timeout=600)
        if r.returncode:
            raise SystemExit("tools.calibrate: micropython failed:\n" + r.stdout[-3000:] + r.stderr[-3000:])
        for line in r.stdout.splitlines():
            if line.startswith("{") and '"calibration"' in line:
                return json.loads(line)["calibration"]
    raise SystemExit("tools.calibrate: the routine did not finish (fixture too short for %d windows x 3 stages)"
                     % windows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fixture")
    ap.add_argument("--reference")
    ap.add_argument("--inject")
    ap.add_argument("--windows", type=int, default=10)
    ap.add_argument("--fixture-id", default="sim-rig")
    ap.add_argument("--dc", action="store_true")
    ap.add_argument("--out")
    a = ap.parse_args(argv)
    ref = standard_reference()
    if a.reference:
        with open(a.reference) as f:
            ref = json.load(f)
    inject = None
    if a.inject:
        with open(a.inject) as f:
            inject = json.load(f)
    tmp = None
    fixture = a.fixture
    if fixture is None:
        tmp = tempfile.mkdtemp()
        # 3 stages x (2 settle + N windows) x 0.2 s, the first 2 crossings, margin
        fixture = make_fixture(os.path.join(tmp, "reference"), 3 * (a.windows + 2) * 0.2 + 1.0)
    rep = run(fixture, ref, windows=a.windows, fixture_id=a.fixture_id, inject=inject, dc=a.dc)
    text = json.dumps(rep, indent=1, sort_keys=True)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

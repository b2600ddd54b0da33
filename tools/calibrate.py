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

`--out FILE` writes the same JSON; `tools.meter FIXTURE --cal FILE` applies it.
Arguments and files are checked before the routine runs: a problem is one line
on stderr naming the file or option, and exit status 2.
"""
import json
import os
import sys
import tempfile
from argparse import RawDescriptionHelpFormatter

import numpy as np

from tools.mp import ROOT, ArgParser, InputError, die, mp_cmd, mp_env, mp_path, relay

PROG = "tools.calibrate"

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
    """Run the routine; returns the calibration report dict (see module doc).
    inject: a dict, or the path of a JSON file (checked and named by the
    MicroPython side). A refused input or a failed run: SystemExit(status),
    its reason already on stderr."""
    import subprocess
    with tempfile.TemporaryDirectory() as d:
        spec = os.path.join(d, "cal.json")
        with open(spec, "w") as f:
            json.dump({"reference": reference, "windows": windows, "fixture": fixture_id,
                       "calstore": True}, f)
        args = ["-m", "sim.meter_run", mp_path(fixture, "fixture"), "--kind", "none", "--calibrate", "@" + spec]
        if inject is not None:
            if isinstance(inject, (str, os.PathLike)):
                args += ["--inject", mp_path(inject, "--inject")]
            else:
                inj = os.path.join(d, "inject.json")
                with open(inj, "w") as f:
                    json.dump(inject, f)
                args += ["--inject", "@" + inj]
        if dc:
            args.append("--dc")
        r = subprocess.run(mp_cmd(*args, heap=heap), cwd=ROOT, env=mp_env(), capture_output=True,
                           text=True, timeout=600)
        relay(PROG, r.stderr.splitlines(True))
        if r.returncode:
            if "Traceback" in r.stderr:
                sys.stderr.write("%s: micropython failed (above)\n" % PROG)
            raise SystemExit(r.returncode)
        for line in r.stdout.splitlines():
            if line.startswith("{") and '"calibration"' in line:
                return json.loads(line)["calibration"]
    raise SystemExit(die(PROG, "%s: the routine did not finish: the fixture is too short for %d windows x 3 stages"
                         % (fixture, windows)))


def read_json(path, what):
    """A JSON file, or InputError naming it (and the line and column)."""
    if not os.path.exists(path):
        raise InputError("%s %s: no such file" % (what, path))
    if os.path.isdir(path):
        raise InputError("%s %s: is a directory" % (what, path))
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except UnicodeDecodeError:
        raise InputError("%s %s: not a text file" % (what, path))
    except json.JSONDecodeError as e:
        raise InputError("%s %s: invalid JSON: line %d column %d: %s" % (what, path, e.lineno, e.colno, e.msg))


def check_reference(ref, name, board="sim24"):
    """{board channel: V | [A rms, lag_deg]} (DC: a level; "_zero": N windows)."""
    import importlib
    desc = importlib.import_module("boardconfig." + board)
    if not isinstance(ref, dict) or not ref:
        raise InputError("%s: must be a non-empty object {channel: V | [A rms, lag_deg]}" % name)
    for ch, v in ref.items():
        if ch == "_zero":
            if type(v) is not int or v < 0:
                raise InputError("%s: _zero: must be an integer >= 0 (windows of zero input)" % name)
            continue
        if ch not in desc.CHANNELS:
            raise InputError("%s: %s is not a channel of board %s (L1-V, O7-I, ...: docs/fixtures.md)"
                             % (name, ch, board))
        isnum = type(v) in (int, float)
        pair = type(v) is list and len(v) == 2 and all(type(x) in (int, float) for x in v)
        if not (isnum or pair):
            raise InputError("%s: %s: must be a number (V rms; DC: the level) or [A rms, lag_deg], got %s"
                             % (name, ch, json.dumps(v)))
        if (v if isnum else v[0]) == 0:
            raise InputError("%s: %s: the reference level must not be 0" % (name, ch))


def main(argv=None):
    ap = ArgParser(prog=PROG, description=__doc__, formatter_class=RawDescriptionHelpFormatter)
    ap.add_argument("--fixture")
    ap.add_argument("--reference")
    ap.add_argument("--inject")
    ap.add_argument("--windows", type=int, default=10)
    ap.add_argument("--fixture-id", default="sim-rig")
    ap.add_argument("--dc", action="store_true")
    ap.add_argument("--out")
    a = ap.parse_args(argv)
    ref = standard_reference()
    try:
        if not 1 <= a.windows <= 1000:
            raise InputError("--windows: %d not in 1..1000" % a.windows)
        if len(a.fixture_id.encode()) > 16 or "," in a.fixture_id:
            raise InputError("--fixture-id: %r: at most 16 bytes (it is stored in FRAM)" % a.fixture_id)
        if a.fixture is not None:
            if a.fixture.lower().endswith(".dat"):
                raise InputError("--fixture %s: this is the data file; give the .cfg" % a.fixture)
            if not os.path.isfile(a.fixture):
                raise InputError("--fixture %s: no such file" % a.fixture)
        if a.reference:
            ref = read_json(a.reference, "--reference")
            check_reference(ref, "--reference %s" % a.reference)
        if a.inject:
            read_json(a.inject, "--inject")      # syntax here; meaning checked against the board's twins
        if a.out:
            d = os.path.dirname(os.path.abspath(a.out))
            if os.path.isdir(a.out):
                raise InputError("--out %s: is a directory" % a.out)
            if not os.path.isdir(d):
                raise InputError("--out %s: no such directory %s" % (a.out, d))
            if not os.access(d, os.W_OK):
                raise InputError("--out %s: directory not writable" % a.out)
    except InputError as e:
        return die(PROG, str(e))
    tmp = None
    fixture = a.fixture
    try:
        if fixture is None:
            tmp = tempfile.mkdtemp()
            # 3 stages x (2 settle + N windows) x 0.2 s, the first 2 crossings, margin
            fixture = make_fixture(os.path.join(tmp, "reference"), 3 * (a.windows + 2) * 0.2 + 1.0)
        try:
            rep = run(fixture, ref, windows=a.windows, fixture_id=a.fixture_id, inject=a.inject, dc=a.dc)
        except InputError as e:
            return die(PROG, str(e))
    finally:
        if tmp is not None:
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)
    text = json.dumps(rep, indent=1, sort_keys=True)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

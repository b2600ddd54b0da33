"""Metrology speed and memory figures (the lead's `make bench` calls this).

    .venv/bin/python -m tools.bench_metrology [--seconds 5] [--runs 3] [--no-callgrind]

Prints, for the sim24 board (8 ADS131M04 groups of 4 channels + the ADE9000's
7 waveform channels; 15 metering units, 50 unit channels incl. branch sums
and the computed neutral):
  - sample-channels per second processed (the metrology pipeline alone: no
    plant, twins or drivers; sim/metro_bench.py feeds acquisition-shaped
    buffers poll by poll),
  - CPU seconds per second of signal for the whole pipeline (viper kernels,
    cycle/window maths, branch sums, harmonics, snapshot, energy), median of
    --runs runs, MicroPython heap 1 MB (the MCU-like size: the allocator's
    search time grows with the heap),
  - the same per-sample work as a plain-Python kernel (MicroPython) and as
    NumPy (CPython), scaled to the board, as references,
  - instructions per sample-channel of the viper kernel alone, from
    `valgrind --tool=callgrind` (two runs differing only in the number of
    blocks, so start-up cancels),
  - heap held by the metrology after construction and after the run (live),
    and the garbage it makes per second of signal (floats: MicroPython boxes them).
Goal: the whole board's metrology under 5 % of one core on the unix port.
Wall-clock figures are noisy on a shared machine; the instruction counts are not.
"""
import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import time

from tools.mp import ROOT, mp_cmd, mp_env

FS = 8000


def _mp(*args, heap="1M", timeout=600, prefix=()):
    cmd = list(prefix) + mp_cmd("sim/metro_bench.py", *args, heap=heap)
    r = subprocess.run(cmd, cwd=ROOT, env=mp_env(), capture_output=True, text=True, timeout=timeout)
    if r.returncode:
        raise SystemExit("bench_metrology: %s failed:\n%s%s" % (" ".join(args), r.stdout[-2000:], r.stderr[-2000:]))
    return r


def _json(r):
    return json.loads(r.stdout.strip().splitlines()[-1])


def numpy_reference(seconds, channels=50):
    """The kernel's per-cycle sums with NumPy (float64) over the same kind of
    signal, scaled to `channels` channels: CPU seconds per second of signal."""
    import numpy as np
    n = FS
    t = np.arange(n) / FS
    w = 2 * np.pi * 50.0 * t
    v = np.rint(6650 * np.sin(w))
    x = np.stack([np.rint(a * np.sin(w - 0.3 * a)) for a in (1000, 2000, 3000)])
    cs = np.rint(32767 * np.cos(w))
    sn = np.rint(32767 * np.sin(w))
    edges = np.arange(0, n + 1, 160)
    t0 = time.process_time()
    reps = max(1, int(seconds))
    for _ in range(reps):
        for xx in x:
            xv = xx * v
            xc = xx * cs
            xs = xx * sn
            np.add.reduceat(xx, edges[:-1])
            np.add.reduceat(xx * xx, edges[:-1])
            np.add.reduceat(xv, edges[:-1])
            np.add.reduceat(xc, edges[:-1])
            np.add.reduceat(xs, edges[:-1])
            np.maximum.reduceat(xx, edges[:-1])
            np.minimum.reduceat(xx, edges[:-1])
    dt = time.process_time() - t0
    return dt / reps / 3 * channels


def callgrind_per_sample_channel(blocks=(150, 300)):
    if shutil.which("valgrind") is None:
        return None
    refs = []
    for b in blocks:
        r = _mp("kernel", b, heap="1M", prefix=("valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"))
        for line in r.stderr.splitlines():
            if "refs:" in line:
                refs.append(int(line.split()[-1].replace(",", "")))
    if len(refs) != 2:
        return None
    return (refs[1] - refs[0]) / ((blocks[1] - blocks[0]) * 80 * 4)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-callgrind", action="store_true")
    a = ap.parse_args(argv)
    fulls = [_json(_mp("full", a.seconds)) for _ in range(a.runs)]
    share = statistics.median(f["cpu_per_signal_s"] for f in fulls)
    f = fulls[0]
    py = _json(_mp("python", 1.0))
    py_board = py["cpu_per_signal_s"] / py["channels"] * f["unit_channels"]
    npref = numpy_reference(2.0, f["unit_channels"])
    ipc = None if a.no_callgrind else callgrind_per_sample_channel()
    print("metrology (sim24: %d units, %d unit channels): %d sample-channels/s of signal"
          % (f["units"], f["unit_channels"], f["sample_channels_per_s"]))
    print("  pipeline CPU per second of signal   %.4f s  (%.1f %% of one core; runs %s)"
          % (share, 100 * share, ", ".join("%.4f" % x["cpu_per_signal_s"] for x in fulls)))
    print("  sample-channels processed per CPU s %.3g" % (f["sample_channels_per_s"] / share))
    print("  plain-Python kernel (board scaled)  %.4f s per second of signal" % py_board)
    print("  NumPy kernel sums (board scaled)    %.4f s per second of signal" % npref)
    if ipc is not None:
        print("  viper kernel: %.0f instructions per sample-channel (callgrind)" % ipc)
    print("  heap: metrology after construction %d bytes, live after the run %d bytes, peak live %d bytes;"
          " garbage made %d bytes per second of signal (collected by the GC; heap 1 MB)"
          % (f["heap_metrology_bytes"], f["heap_live_after_run_bytes"], f["heap_peak_live_bytes"],
             f["garbage_bytes_per_signal_s"]))
    print("  goal < 5 %% of one core: %s" % ("met" if share < 0.05 else "NOT met"))
    print(json.dumps({"cpu_per_signal_s": share, "runs": [x["cpu_per_signal_s"] for x in fulls],
                      "sample_channels_per_s": f["sample_channels_per_s"], "python_board_s": py_board,
                      "numpy_board_s": npref, "kernel_instr_per_sample_channel": ipc,
                      "heap_metrology_bytes": f["heap_metrology_bytes"],
                      "heap_peak_live_bytes": f["heap_peak_live_bytes"],
                      "heap_live_after_run_bytes": f["heap_live_after_run_bytes"],
                      "garbage_bytes_per_signal_s": f["garbage_bytes_per_signal_s"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

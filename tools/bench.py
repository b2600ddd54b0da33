"""`make bench`: print speed and memory figures for a board (default sim24).

Figures, not pass/fail: CPU seconds per second of signal for each stage of
the simulated acquisition chain (plant, twins, driver drain), the whole
real-time run's CPU share of one core and its overruns, and heap use."""
import argparse
import json
import subprocess
import sys
import time

from tools.mp import ROOT, mp_cmd, mp_env


def stage_costs(board, seconds):
    r = subprocess.run(mp_cmd("-m", "sim.bench", board, seconds), cwd=ROOT, env=mp_env(),
                       capture_output=True, text=True, timeout=600)
    if r.returncode:
        raise SystemExit(r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


def realtime_run(board, seconds):
    """Run the real-time firmware for `seconds` and read its CPU time from /proc."""
    cmd = mp_cmd("-m", "sim.main", "--board", board, "--duration", seconds,
                 "--scenario", ROOT / "scenarios" / "demo.json")
    import resource
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, cwd=ROOT, env=mp_env(), stdout=subprocess.PIPE, text=True)
    out, _ = p.communicate(timeout=seconds + 60)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # this child's CPU, waited for
    last = [l for l in out.splitlines() if l.startswith("stopped:")]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "final": last[-1] if last else out[-300:]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--board", default="sim24")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--realtime-seconds", type=float, default=20.0)
    a = ap.parse_args(argv)
    s = stage_costs(a.board, a.seconds)
    print("board %s: %d samples/s across all metering channels" % (a.board, s["samples_per_s"]))
    print("acquisition chain, CPU seconds per second of signal (virtual time, %.0f s of signal):" % a.seconds)
    print("  plant (waveform generation)     %.4f" % s["plant_cpu_per_signal_s"])
    print("  chip twins (quantise, frames)   %.4f" % s["twins_cpu_per_signal_s"])
    print("  drivers (CRC check, unpack)     %.4f" % s["drivers_drain_cpu_per_signal_s"])
    print("  (whole board incl. twins/plant: %d sample-channels/s; the MCU runs only the drivers)" % s["samples_per_s"])
    print("  overruns                        %d" % s["overruns"])
    print("  (outlets on: %d/24, all loaded)" % s["outlets_on"])
    print("firmware heap after boot          %d bytes of data (target MCU heap 262144)" % s["firmware_heap_bytes_after_boot"])
    print("firmware module bytecode          %d bytes (frozen into flash on the MCU, not heap)" % s["module_bytecode_bytes"])
    print("simulation heap (twins, plant)    %d bytes (unix port only)" % s["sim_heap_bytes"])
    print()
    subprocess.run([sys.executable, "-m", "tools.bench_metrology"], cwd=ROOT, check=True)
    print()
    r = realtime_run(a.board, a.realtime_seconds)
    print("real-time run (%.0f s, make run equivalent): %.3f of one core; %s" % (
        a.realtime_seconds, r["cpu_s"] / r["wall_s"], r["final"]))


if __name__ == "__main__":
    sys.exit(main())

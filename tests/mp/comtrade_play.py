# Play a COMTRADE fixture through sim.comtrade.ComtradeSource and dump it.
#
# usage: micropython tests/mp/comtrade_play.py CFG OUT.bin SAMPLES BLOCK LOOP CH1,CH2,...
# OUT.bin: int32 LE, block-major (per block, each channel's samples).
# stdout: one JSON line {"ignored", "missing", "done", "n", "samples", "ft", "error"}.
import sys
import json
import time
import boardconfig.sim24 as desc
from sim.comtrade import ComtradeSource


def main():
    cfg, outp, total, blk, loop, chans = sys.argv[1:7]
    total = int(total)
    blk = int(blk)
    chans = chans.split(",")
    try:
        src = ComtradeSource(desc, cfg, loop=loop == "1")
    except ValueError as e:
        print(json.dumps({"error": str(e)}))
        return
    out = open(outp, "wb")
    done = 0
    done_at = None
    t0 = time.ticks_us()
    while done < total:
        n = blk if total - done >= blk else total - done
        b = src.generate(n)
        for c in chans:
            out.write(memoryview(b[c])[:n])
        done += n
        if src.done and done_at is None:
            done_at = done
    dt = time.ticks_diff(time.ticks_us(), t0)
    out.close()
    print(json.dumps({"ignored": src.ignored, "missing": src.missing, "done": src.done,
                      "done_at": done_at, "n": src.n, "samples": src.samples, "ft": src.ft,
                      "t": src.t(), "air": src.air("inlet"), "us": dt, "report": src.report()}))


main()

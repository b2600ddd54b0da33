# Run metrology.kernel on test vectors and dump its raw state at every stop,
# for tests/test_metrology_kernel.py (which recomputes everything with exact
# big integers in CPython). One JSON object per line.
#
#   metro_kernel.py CASES.json
# CASES.json: list of {"data": path (int32 LE frames), "frames": n, "cfg": [...],
#   "step": int, "limit": int, "block": int, "win_every": k}
# Per case: every kernel stop -> {"case", "i" (absolute sample), "reason",
#   "st": [...]}; after each stop the sums are added into a window array
#   (acc_add) and reset (acc_reset); every win_every stops the window array is
#   dumped {"case", "win": [...]} and reset. cycle_ms results with each stop.
# A case with "sum": sum_pass instead: {"data", "frames", "sstride", "block",
#   "dstride", "passes": [{"terms": [...], "nterms", "doff", "mode"}]}: per
#   block of frames every pass runs in order into one dst array, which is
#   dumped {"case", "dst": [...]} (the block's dstride * m words).
import sys
import json
from array import array
from metrology import kernel as K


def run(ci, c):
    n = c["frames"]
    cfg = array("i", c["cfg"])
    stride = cfg[K.C_STRIDE]
    nch = cfg[K.C_NCH]
    buf = array("i", bytes(4 * stride * n))
    with open(c["data"], "rb") as f:
        f.readinto(buf)
    st = array("i", bytes(4 * K.state_words(nch)))
    for ch in range(nch):
        s = K.S_CH + K.S_W * ch
        for h in (K.H_1, K.H_2, K.H_3, K.H_AY, K.H_Y, K.H_YP):
            st[s + h] = K.BIAS
    K.acc_reset(st, nch)
    st[K.S_STEP] = c["step"]
    st[K.S_LIMIT] = c["limit"]
    win = array("i", bytes(4 * K.state_words(nch)))
    K.acc_reset(win, nch)
    ms = array("i", bytes(8 * nch))
    blk = c["block"]
    mv = memoryview(buf)
    stops = 0
    pos = 0
    while pos < n:
        m = blk if pos + blk <= n else n - pos
        b = mv[stride * pos:stride * (pos + m)]
        i = 0
        while i < m:
            i = K.kernel(st, cfg, b, K.TAB, i, m, K.SCRATCH)
            if not st[K.S_REASON]:
                continue
            K.cycle_ms(st, nch, st[K.S_CNT], ms)
            print(json.dumps({"case": ci, "i": pos + i, "reason": st[K.S_REASON], "st": list(st),
                              "ms": list(ms)}))
            K.acc_add(win, st, nch)
            K.acc_reset(st, nch)
            st[K.S_CNT] = 0
            stops += 1
            if stops % c["win_every"] == 0:
                print(json.dumps({"case": ci, "win": list(win)}))
                K.acc_reset(win, nch)
        pos += m
    print(json.dumps({"case": ci, "end": list(st)}))


def run_sum(ci, c):
    n = c["frames"]
    ss = c["sstride"]
    ds = c["dstride"]
    buf = array("i", bytes(4 * ss * n))
    with open(c["data"], "rb") as f:
        f.readinto(buf)
    mv = memoryview(buf)
    blk = c["block"]
    dst = array("i", bytes(4 * ds * blk))
    passes = [(array("i", p["terms"]), p["nterms"], p["doff"], p["mode"]) for p in c["passes"]]
    pos = 0
    while pos < n:
        m = blk if pos + blk <= n else n - pos
        b = mv[ss * pos:ss * (pos + m)]
        for terms, nt, doff, mode in passes:
            K.sum_pass(b, m, ss, terms, nt, dst, ds, doff, mode)
        print(json.dumps({"case": ci, "dst": list(dst[:ds * m])}))
        pos += m


cases = json.load(open(sys.argv[1]))
for ci in range(len(cases)):
    if cases[ci].get("sum"):
        run_sum(ci, cases[ci])
    else:
        run(ci, cases[ci])

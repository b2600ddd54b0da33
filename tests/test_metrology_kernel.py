"""The viper kernel against exact big-integer arithmetic (CPython).

The model below re-implements the kernel's integer semantics (rounding
shift, sub-sample delay, crossing detection, Q30 reference phase with the
interpolated Q15 table) with Python's exact integers. Every accumulator the
kernel stores -- per cycle, per window (acc_add) and cycle_ms -- must equal
the exact sums. A second model executes the kernel's split (hi, lo)
accumulation as a 32-bit MCU would (every word wrapped to 32 bits, unsigned
compare for the carry) and must agree too, and the worst-case bounds of
every intermediate are asserted (docs/metrology.md, "32-bit bound analysis").
"""
import json
import math

import numpy as np
import pytest

from tests.mputil import run_mp_json

# kernel layout (metrology/kernel.py)
C_CH, C_CW = 8, 8
S_CNT, S_PH, S_STEP, S_ARMED, S_LIMIT, S_PEND, S_REASON = 0, 1, 2, 3, 4, 5, 6
S_SC, S_SS, S_CC, S_S2, S_CS, S_CH, S_W = 8, 9, 10, 12, 14, 16, 24
A_SX, A_CLIP, A_MAX, A_MIN, A_XX, A_VI, A_XC, A_XS, A_RAW = 0, 1, 2, 3, 4, 6, 8, 10, 12
BIAS = 65536
F_ZC, F_PHASOR, F_RAW = 1, 2, 4
TAB = [32768 + int(round(32767 * math.cos(2 * math.pi * k / 256))) for k in range(257)]
I32 = 1 << 31


def cfg_for(nch, stride, chans, hyst, minlen, flags):
    """chans: (offset, bits, shift, clip, delay mode, allpass a Q15 signed)."""
    cfg = [0] * (C_CH + C_CW * nch)
    cfg[0], cfg[1], cfg[2], cfg[3], cfg[4] = stride, nch, hyst, minlen, flags
    for c, (off, bits, shift, clip, mode, a) in enumerate(chans):
        q = C_CH + C_CW * c
        cfg[q:q + 7] = [off, shift, (1 << (shift - 1)) if shift else 0, 1 << (bits - 1), clip, mode, 32768 + a]
    return cfg


class Bounds:
    def __init__(self):
        self.prod = 0      # largest |product| formed
        self.plain = 0     # largest |plain 32-bit sum|
        self.delay = 0     # largest |d * diff| in the delay filter

    def p(self, x):
        self.prod = max(self.prod, abs(x))
        return x


def model(frames, cfg, step, limit, block, win_every, bounds):
    """Exact re-run of the kernel protocol used by tests/mp/metro_kernel.py."""
    stride, nch, hyst, minlen, flags = cfg[:5]
    chs = [cfg[C_CH + C_CW * c:C_CH + C_CW * c + 7] for c in range(nch)]
    n = len(frames) // stride
    h1 = [0] * nch
    h2 = [0] * nch
    h3 = [0] * nch
    ay = [0] * nch
    yprev = [0] * nch
    cnt = 0
    ph = 0
    armed = 0

    def zero_sums():
        return {"sc": 0, "ss": 0, "cc": 0, "s2": 0, "cs": 0,
                "ch": [{"sx": 0, "clip": 0, "max": None, "min": None, "xx": 0, "vi": 0, "xc": 0, "xs": 0,
                        "raw": 0} for _ in range(nch)]}

    def add(w, s):
        for k in ("sc", "ss", "cc", "s2", "cs"):
            w[k] += s[k]
        for a, b in zip(w["ch"], s["ch"]):
            for k in ("sx", "clip", "xx", "vi", "xc", "xs", "raw"):
                a[k] += b[k]
            if b["max"] is not None:
                a["max"] = b["max"] if a["max"] is None else max(a["max"], b["max"])
                a["min"] = b["min"] if a["min"] is None else min(a["min"], b["min"])

    sums = zero_sums()
    win = zero_sums()
    out = []
    cyc = []
    stops = 0
    for i in range(n):
        # per channel: raw (sign-extended), clip flag, reduced x, delayed y
        ys = []
        raws = []
        clips = []
        ays = []
        for c in range(nch):
            off, shift, rnd, m, clip, mode, da = chs[c]
            w = frames[i * stride + off] & (2 * m - 1)
            raw = (w ^ m) - m
            x = (raw + rnd) >> shift
            if mode == 0:
                y = x
            else:
                u, up = ((x, h1[c]), (h1[c], h2[c]), (h2[c], h3[c]))[mode - 1]
                t = (da - 32768) * (u - ay[c])
                bounds.delay = max(bounds.delay, abs(t))
                y = max(-32768, min(32768, up + (t >> 15)))
            ys.append(y)
            ays.append(y)
            raws.append(raw)
            clips.append(1 if abs(raw) >= clip else 0)
        for reason in (2, 1):
            stop = 0
            if reason == 2:
                if cnt >= limit:
                    stop = 2
            elif flags & F_ZC:
                if ys[0] < -hyst:
                    armed = 1
                elif armed and ys[0] >= 0:
                    armed = 0
                    if cnt >= minlen:
                        stop = 1
            if stop:
                st = {"i": i, "reason": stop, "sums": sums, "cnt": cnt, "yp": list(yprev), "y": list(ys),
                      "ys": cyc}
                out.append(("stop", st))
                add(win, sums)
                sums = zero_sums()
                cyc = []
                cnt = 0
                stops += 1
                if stops % win_every == 0:
                    out.append(("win", win))
                    win = zero_sums()
        for c in range(nch):
            off, shift, rnd, m, clip, mode, da = chs[c]
            if mode:
                h3[c] = h2[c]
                h2[c] = h1[c]
                ay[c] = ays[c]
            h1[c] = (raws[c] + rnd) >> shift
        cv = sv = 0
        if flags & F_PHASOR:
            k = ph >> 22
            fr = (ph >> 7) & 0x7FFF
            c0 = TAB[k] - 32768
            cv = c0 + (((TAB[k + 1] - 32768 - c0) * fr) >> 15)
            k = (k + 192) & 255
            s0 = TAB[k] - 32768
            sv = s0 + (((TAB[k + 1] - 32768 - s0) * fr) >> 15)
            sums["sc"] += cv
            sums["ss"] += sv
            sums["cc"] += bounds.p(cv * cv)
            sums["s2"] += bounds.p(sv * sv)
            sums["cs"] += bounds.p(cv * sv)
        v = ys[0]
        for c in range(nch):
            y = ys[c]
            a = sums["ch"][c]
            a["sx"] += y
            a["clip"] += clips[c]
            a["max"] = y if a["max"] is None else max(a["max"], y)
            a["min"] = y if a["min"] is None else min(a["min"], y)
            a["xx"] += bounds.p(y * y)
            if c:
                a["vi"] += bounds.p(y * v)
            if flags & F_PHASOR:
                a["xc"] += bounds.p(y * cv)
                a["xs"] += bounds.p(y * sv)
            if flags & F_RAW:
                a["raw"] += raws[c]
            bounds.plain = max(bounds.plain, abs(a["sx"]), abs(sums["sc"]), abs(sums["ss"]))
        yprev = ys
        cyc.append(ys)
        cnt += 1
        ph = (ph + step) & 0x3FFFFFFF
    return out, sums


def s64(st, k):
    return st[k] * (1 << 32) + (st[k + 1] & 0xFFFFFFFF)


def emulate32_add(hi, lo, p):
    """The kernel's split add as a 32-bit MCU executes it (words mod 2^32)."""
    w = lambda x: x & 0xFFFFFFFF
    lo2 = w(lo + p)
    hi2 = w(hi + w(p >> 31))
    if lo2 < lo:                  # uint compare of 32-bit words
        hi2 = w(hi2 + 1)
    return hi2, lo2


def check_sums(st, s, nch, phasor, raw):
    if phasor:
        assert st[S_SC] == s["sc"] and st[S_SS] == s["ss"]
        assert s64(st, S_CC) == s["cc"] and s64(st, S_S2) == s["s2"] and s64(st, S_CS) == s["cs"]
    for c in range(nch):
        b = S_CH + S_W * c
        a = s["ch"][c]
        assert st[b + A_SX] == a["sx"], c
        assert st[b + A_CLIP] == a["clip"]
        if a["max"] is not None:
            assert st[b + A_MAX] - BIAS == a["max"] and st[b + A_MIN] - BIAS == a["min"]
        assert s64(st, b + A_XX) == a["xx"]
        if c:
            assert s64(st, b + A_VI) == a["vi"]
        if phasor:
            assert s64(st, b + A_XC) == a["xc"] and s64(st, b + A_XS) == a["xs"]
        if raw:
            assert s64(st, b + A_RAW) == a["raw"]


def make_cases(tmp_path):
    rng = np.random.default_rng(7)
    fs = 8000
    cases = []

    def add(name, frames, cfg, step, limit, block, win_every=10):
        p = tmp_path / (name + ".bin")
        arr = np.asarray(frames, dtype="<i4")
        arr.tofile(p)
        cases.append({"name": name, "data": str(p), "frames": len(arr) // cfg[0], "cfg": cfg, "step": step,
                      "limit": limit, "block": block, "win_every": win_every, "arr": arr})

    fsv, fsn = 8388607, -8388608
    # 1. ADS full-scale worst case: v stuck at +FS (no crossing: every cycle ends at the
    #    2-period limit, the longest), currents alternating +/-FS, one window = 1 s+
    n = 8320 * 2
    fr = np.zeros((n, 4), dtype=np.int64)
    fr[:, 0] = fsv
    fr[:, 1] = np.where(np.arange(n) % 2, fsv, fsn)
    fr[:, 2] = fsn
    fr[:, 3] = np.where(np.arange(n) % 3, fsn, fsv)
    cfg = cfg_for(4, 4, [(0, 24, 8, 8388607, 1, 10923), (1, 24, 8, 8388607, 3, -6553), (2, 24, 8, 8388607, 2, 100),
                         (3, 24, 8, 8388607, 1, 0)], 800, 96, F_ZC | F_PHASOR | F_RAW)
    add("ads_fullscale_nozc", fr.ravel(), cfg, int(2 ** 30 / 160), 320, 256, win_every=26)
    # 2. 45 Hz and 65 Hz full-scale sines with harmonics, delays, block sizes that
    #    split cycles anywhere; crossing-closed cycles
    for f, blk in ((45.0, 80), (65.0, 77), (49.93, 256)):
        n = int(fs * 1.3)
        t = np.arange(n) / fs
        w = 2 * np.pi * f * t
        v = np.clip(np.rint(8388607 * (0.97 * np.sin(w) + 0.03 * np.sin(3 * w))), fsn, fsv)
        i1 = np.clip(np.rint(8388607 * 1.2 * np.sin(w - 1.0)), fsn, fsv)      # clips
        i2 = np.rint(8388607 * (0.5 * np.sin(w + 0.3) + 0.49 * np.sin(5 * w)))
        i3 = np.rint(3000 * np.sin(w) + rng.integers(-200, 200, n))
        fr = np.stack([v, i1, i2, i3], axis=1).astype(np.int64)
        cfg = cfg_for(4, 4, [(0, 24, 8, 8388607, 1, 5000), (1, 24, 8, 8388607, 2, -3000),
                             (2, 24, 8, 8388607, 3, 10923), (3, 24, 8, 8388607, 1, -6553)], 800, 96, F_ZC | F_PHASOR)
        add("ads_sine_%g" % f, fr.ravel(), cfg, int(2 ** 30 / (fs / f)), 320, blk)
    # 3. ADE9000 waveform codes (28-bit, <<4) at +/-2^27, stride 7, channels out of order
    n = 6000
    t = np.arange(n) / fs
    w = 2 * np.pi * 50.0 * t
    x = np.zeros((n, 7), dtype=np.int64)
    x[:, 1] = (np.clip(np.rint(2 ** 27 * 1.1 * np.sin(w)), -2 ** 27, 2 ** 27 - 16).astype(np.int64) >> 4) << 4
    x[:, 0] = np.where(np.arange(n) % 2, 2 ** 27 - 16, -2 ** 27)
    x[:, 6] = (np.rint(74518668 * 0.3 * np.sin(w - 0.5)).astype(np.int64) >> 4) << 4
    cfg = cfg_for(3, 7, [(1, 28, 12, 0x7FFFFF0, 0, 0), (0, 28, 12, 0x7FFFFF0, 0, 0),
                         (6, 28, 12, 0x7FFFFF0, 0, 0)], 500, 96, F_ZC | F_PHASOR | F_RAW)
    # negative values as the driver stores them: int32 two's complement
    add("ade_fullscale", x.ravel(), cfg, int(2 ** 30 / 160), 320, 160)
    return cases


def test_kernel_equals_exact_integer_arithmetic(tmp_path):
    cases = make_cases(tmp_path)
    spec = [dict((k, v) for k, v in c.items() if k not in ("arr", "name")) for c in cases]
    for s in spec:
        s["cfg"] = [int(x) for x in s["cfg"]]
    p = tmp_path / "cases.json"
    p.write_text(json.dumps(spec))
    out = run_mp_json(script="tests/mp/metro_kernel.py", args=[p], timeout=120)
    by = {}
    for o in out:
        by.setdefault(o["case"], []).append(o)
    worst = Bounds()
    for ci, c in enumerate(cases):
        cfg = c["cfg"]
        nch = cfg[1]
        flags = cfg[4]
        frames = [int(v) for v in c["arr"]]
        b = Bounds()
        ref, last = model(frames, cfg, c["step"], c["limit"], c["block"], c["win_every"], b)
        got = by[ci]
        stops = [o for o in got if "st" in o]
        wins = [o for o in got if "win" in o]
        rstops = [r for k, r in ref if k == "stop"]
        rwins = [r for k, r in ref if k == "win"]
        assert len(stops) == len(rstops) > 0, c["name"]
        assert len(wins) == len(rwins), c["name"]
        for o, r in zip(stops, rstops):
            assert o["i"] == r["i"] and o["reason"] == r["reason"], c["name"]
            st = o["st"]
            assert st[S_CNT] == r["cnt"]
            check_sums(st, r["sums"], nch, flags & F_PHASOR, flags & F_RAW)
            for ch in range(nch):
                base = S_CH + S_W * ch
                if r["reason"] == 1:
                    assert st[base + 17] - BIAS == r["yp"][ch] and st[base + 16] - BIAS == r["y"][ch]
                # cycle_ms: exact floor division of the 64-bit sums
                a = r["sums"]["ch"][ch]
                assert o["ms"][2 * ch] == a["xx"] // r["cnt"]
                if ch:
                    q = abs(a["vi"]) // r["cnt"]
                    assert o["ms"][2 * ch + 1] == (q if a["vi"] >= 0 else -q)
        for o, r in zip(wins, rwins):
            check_sums(o["win"], r, nch, flags & F_PHASOR, flags & F_RAW)
        check_sums(got[-1]["end"], last, nch, flags & F_PHASOR, flags & F_RAW)
        # the 32-bit MCU execution of the split adds gives the same words
        for r in rstops[:4]:
            for ch in range(nch):
                hi = lo = vh = vl = 0
                for ys in r["ys"]:
                    hi, lo = emulate32_add(hi, lo, ys[ch] * ys[ch])
                    if ch:
                        vh, vl = emulate32_add(vh, vl, ys[ch] * ys[0])
                a = r["sums"]["ch"][ch]
                assert (hi << 32 | lo) == a["xx"] & 0xFFFFFFFFFFFFFFFF
                if ch:
                    assert (vh << 32 | vl) == a["vi"] & 0xFFFFFFFFFFFFFFFF
        worst.prod = max(worst.prod, b.prod)
        worst.plain = max(worst.plain, b.plain)
        worst.delay = max(worst.delay, b.delay)
    # bound analysis, executed: every product and plain sum fits a signed 32-bit word
    assert worst.prod <= 1 << 30, worst.prod
    assert worst.prod == 1 << 30          # the full-scale cases reach the bound
    assert worst.plain < I32 and worst.delay < I32
    # the 1 s full-scale window needs the high word: 2^30 * 8320 > 2^32
    assert (1 << 30) * 8320 > 1 << 32


def test_kernel_allocates_nothing():
    out = run_mp_json(script="tests/mp/metro_heap.py", timeout=60)
    r = out[-1]
    assert r["ok"] is True, r
    assert r["cycles"] > 20 and r["windows"] >= 2

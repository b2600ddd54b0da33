"""The viper kernel against exact big-integer arithmetic, and against itself
run as a 32-bit MCU runs it (CPython).

1. The model below re-implements the kernel's integer semantics (rounding
   shift, sub-sample delay, crossing detection, Q30 reference phase with the
   interpolated Q15 table) with Python's exact integers. Every accumulator
   the kernel stores -- per cycle, per window (acc_add) and cycle_ms -- must
   equal the exact sums; sum_pass must equal the exact weighted sums.
2. Mcu32 (below) executes the kernel's code line by line with 32-bit words:
   loads sign-extend, every intermediate must stay within int32 (only the
   split adds' low words wrap, by design) and is recorded against its row of
   the bound table (docs/metrology.md, "32-bit bound analysis"). On the
   worst-case full-scale inputs its every output word must equal the unix
   port's (64-bit) run, and every row's worst case must stay within its
   documented bound (and reach it where the inputs are full scale).
"""
import ast
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from tests.mputil import ROOT, run_mp_json

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


def _kernel_consts():
    """The const() names of metrology/kernel.py (layout, biases, table)."""
    out = {}
    for node in ast.parse((ROOT / "metrology" / "kernel.py").read_text()).body:
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and getattr(node.value.func, "id", "") == "const"):
            out[node.targets[0].id] = ast.literal_eval(node.value.args[0])
    return SimpleNamespace(**out)


def s64(st, k):
    return st[k] * (1 << 32) + (st[k + 1] & 0xFFFFFFFF)


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


# --- the kernel on a 32-bit MCU ---------------------------------------------------------
# A line-by-line transcription of metrology/kernel.py (kernel's passes A and B
# and its crossing slow path, acc_add, acc_reset, cycle_ms, sum_pass) as a
# 32-bit MCU runs it: every word is an int32 (array loads sign-extend, stores
# keep 32 bits), m32 = (0xFFFF << 16) | 0xFFFF wraps to -1, `uint(a) < uint(b)`
# compares the words unsigned. Every intermediate value goes through _chk(),
# which fails if it left the int32 range (the MCU would have wrapped where
# the 64-bit unix port did not) and records its magnitude under the row of
# the bound table in docs/metrology.md it belongs to; only the split adds'
# low words wrap, by design (_w32). Its outputs must equal the unix port's,
# word for word.
K = _kernel_consts()
I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1


def _w32(x):
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _u32(x):
    return x & 0xFFFFFFFF


class Mcu32:
    def __init__(self):
        self.worst = {}

    def _chk(self, x, row=None):
        assert I32_MIN <= x <= I32_MAX, ("int32 overflow", row, x)
        if row is not None and abs(x) > self.worst.get(row, -1):
            self.worst[row] = abs(x)
        return x

    def _split_add(self, hi, lo, p):
        # lo2 = (lo + p) & m32; hi += p >> 31; if uint(lo2) < uint(lo): hi += 1
        lo2 = _w32(lo + p)
        hi = self._chk(hi + (p >> 31), "split hi")
        if _u32(lo2) < _u32(lo):
            hi = self._chk(hi + 1, "split hi")
        return hi, lo2

    def _reduce(self, raw, rnd, shift):
        return self._chk(self._chk(raw + rnd) >> shift, "reduced y")

    def _allpass(self, mode, x, h1, h2, h3, ca, ay):
        if mode == 1:
            u, up = x, h1
        elif mode == 2:
            u, up = h1, h2
        else:
            u, up = h2, h3
        t = self._chk(ca * self._chk(u - ay), "allpass product")
        y = self._chk(up + (t >> 15))
        return max(-K.Y_MAX, min(K.Y_MAX, y))

    def _ref(self, tab, ph):
        t = ph >> K.PH_IDX
        fr = (ph >> K.PH_FR) & K.FR_MASK
        c0 = tab[t] - K.TAB_BIAS
        cv = c0 + (self._chk((tab[t + 1] - K.TAB_BIAS - c0) * fr, "table interpolation") >> 15)
        t = (t + K.TAB_SIN) & K.TAB_MASK
        s0 = tab[t] - K.TAB_BIAS
        sv = s0 + (self._chk((tab[t + 1] - K.TAB_BIAS - s0) * fr, "table interpolation") >> 15)
        return cv, sv

    def _sign_extend(self, w, m):
        return self._chk(((w & self._chk(m + m - 1)) ^ m) - m)

    def kernel(self, st, cfg, buf, tab, start, n, scr):
        stop = self.pass_a(st, cfg, buf, tab, start, n, scr)
        self.pass_b(st, cfg, buf, start, stop, scr)
        if st[K.S_REASON] == K.STOP_ZC:
            self.at_crossing(st, cfg, buf, stop)
        else:
            st[K.S_PEND] = 0
        return stop

    def pass_a(self, st, cfg, buf, tab, start, n, scr):
        chk = self._chk
        if n > start + K.SCR_N:
            n = start + K.SCR_N
        stride, hyst, minlen, flags = cfg[K.C_STRIDE], cfg[K.C_HYST], cfg[K.C_MINLEN], cfg[K.C_FLAGS]
        zc, phasor, rawsum = flags & K.F_ZC, flags & K.F_PHASOR, flags & K.F_RAW
        cnt, ph, step, armed, limit, pend = (st[K.S_CNT], st[K.S_PH], st[K.S_STEP], st[K.S_ARMED],
                                             st[K.S_LIMIT], st[K.S_PEND])
        reason = K.STOP_NONE
        q = K.C_CH
        off, shift, rnd, m = cfg[q + K.CF_OFF], cfg[q + K.CF_SHIFT], cfg[q + K.CF_ROUND], cfg[q + K.CF_SIGN]
        clip, mode, ca = cfg[q + K.CF_CLIP], cfg[q + K.CF_DMODE], cfg[q + K.CF_DA] - K.DA_BIAS
        s = K.S_CH
        h1, h2, h3 = st[s + K.H_1] - K.BIAS, st[s + K.H_2] - K.BIAS, st[s + K.H_3] - K.BIAS
        ay, y = st[s + K.H_AY] - K.BIAS, st[s + K.H_Y] - K.BIAS
        sx, ncl, mx, mn = st[s + K.A_SX], st[s + K.A_CLIP], st[s + K.A_MAX], st[s + K.A_MIN]
        xx = [st[s + K.A_XX], st[s + K.A_XX + 1]]
        xc = [st[s + K.A_XC], st[s + K.A_XC + 1]]
        xs = [st[s + K.A_XS], st[s + K.A_XS + 1]]
        rw = [st[s + K.A_RAW], st[s + K.A_RAW + 1]]
        sc, ss = st[K.S_SC], st[K.S_SS]
        cc = [st[K.S_CC], st[K.S_CC + 1]]
        s2 = [st[K.S_S2], st[K.S_S2 + 1]]
        cs = [st[K.S_CS], st[K.S_CS + 1]]
        i = start
        j = chk(start * stride + off)
        while i < n:
            if pend:
                raw = st[s + K.H_RAW] - K.RAW_BIAS
                clipped = st[s + K.H_CLIPF]
                y = st[s + K.H_Y] - K.BIAS
            else:
                if cnt >= limit:
                    reason = K.STOP_LIMIT
                    break
                raw = self._sign_extend(buf[j], m)
                x = self._reduce(raw, rnd, shift)
                clipped = 1 if raw >= clip or chk(0 - raw) >= clip else 0
                yn = x if mode == 0 else self._allpass(mode, x, h1, h2, h3, ca, ay)
                if zc:
                    if yn < 0 - hyst:
                        armed = 1
                    elif armed != 0 and yn >= 0:
                        armed = 0
                        if cnt >= minlen:
                            reason = K.STOP_ZC
                            break
                if mode != 0:
                    ay, h3, h2 = yn, h2, h1
                h1 = x
                y = chk(yn, "reduced y")
            k = i - start
            scr[k] = y + K.BIAS
            cv = sv = 0
            if phasor:
                cv, sv = self._ref(tab, ph)
                scr[K.SCR_COS + k] = cv + K.BIAS
                scr[K.SCR_SIN + k] = sv + K.BIAS
                sc = chk(sc + cv, "plain sum")
                ss = chk(ss + sv, "plain sum")
                for acc, p in ((cc, cv * cv), (s2, sv * sv), (cs, cv * sv), (xc, y * cv), (xs, y * sv)):
                    acc[0], acc[1] = self._split_add(acc[0], acc[1], chk(p, "product"))
            sx = chk(sx + y, "plain sum")
            ncl = chk(ncl + clipped)
            yb = y + K.BIAS
            mx, mn = max(mx, yb), min(mn, yb)
            xx[0], xx[1] = self._split_add(xx[0], xx[1], chk(y * y, "product"))
            if rawsum:
                rw[0], rw[1] = self._split_add(rw[0], rw[1], raw)
            pend = 0
            cnt += 1
            ph = chk(chk(ph + step) & K.PH_MASK, "phase")
            i += 1
            j = chk(j + stride)
        st[s + K.H_1], st[s + K.H_2], st[s + K.H_3] = h1 + K.BIAS, h2 + K.BIAS, h3 + K.BIAS
        st[s + K.H_AY], st[s + K.H_Y] = ay + K.BIAS, y + K.BIAS
        st[s + K.A_SX], st[s + K.A_CLIP], st[s + K.A_MAX], st[s + K.A_MIN] = sx, ncl, mx, mn
        for w, acc in ((s + K.A_XX, xx), (s + K.A_XC, xc), (s + K.A_XS, xs), (s + K.A_RAW, rw),
                       (K.S_CC, cc), (K.S_S2, s2), (K.S_CS, cs)):
            st[w], st[w + 1] = acc
        st[K.S_SC], st[K.S_SS] = sc, ss
        st[K.S_CNT], st[K.S_PH], st[K.S_ARMED], st[K.S_REASON] = cnt, ph, armed, reason
        return i

    def pass_b(self, st, cfg, buf, start, stop, scr):
        chk = self._chk
        stride, nch, flags = cfg[K.C_STRIDE], cfg[K.C_NCH], cfg[K.C_FLAGS]
        phasor, rawsum = flags & K.F_PHASOR, flags & K.F_RAW
        pend0 = st[K.S_PEND]
        for c in range(1, nch):
            q = K.C_CH + K.C_CW * c
            s = K.S_CH + K.S_W * c
            off, shift, rnd, m = cfg[q + K.CF_OFF], cfg[q + K.CF_SHIFT], cfg[q + K.CF_ROUND], cfg[q + K.CF_SIGN]
            clip, mode, ca = cfg[q + K.CF_CLIP], cfg[q + K.CF_DMODE], cfg[q + K.CF_DA] - K.DA_BIAS
            h1, h2, h3 = st[s + K.H_1] - K.BIAS, st[s + K.H_2] - K.BIAS, st[s + K.H_3] - K.BIAS
            ay, y = st[s + K.H_AY] - K.BIAS, st[s + K.H_Y] - K.BIAS
            sx, ncl, mx, mn = st[s + K.A_SX], st[s + K.A_CLIP], st[s + K.A_MAX], st[s + K.A_MIN]
            acc = {}
            for w in (K.A_XX, K.A_VI, K.A_XC, K.A_XS, K.A_RAW):
                acc[w] = [st[s + w], st[s + w + 1]]
            pend = pend0
            j = chk(start * stride + off)
            for i in range(start, stop):
                if pend:
                    raw = st[s + K.H_RAW] - K.RAW_BIAS
                    clipped = st[s + K.H_CLIPF]
                    y = st[s + K.H_Y] - K.BIAS
                    pend = 0
                else:
                    raw = self._sign_extend(buf[j], m)
                    x = self._reduce(raw, rnd, shift)
                    clipped = 1 if raw >= clip or chk(0 - raw) >= clip else 0
                    if mode == 0:
                        y = x
                    else:
                        y = self._allpass(mode, x, h1, h2, h3, ca, ay)
                        ay, h3, h2 = y, h2, h1
                    h1 = x
                    chk(y, "reduced y")
                k = i - start
                sx = chk(sx + y, "plain sum")
                ncl = chk(ncl + clipped)
                yb = y + K.BIAS
                mx, mn = max(mx, yb), min(mn, yb)
                prods = [(K.A_XX, y * y), (K.A_VI, y * (scr[k] - K.BIAS))]
                if phasor:
                    prods += [(K.A_XC, y * (scr[K.SCR_COS + k] - K.BIAS)), (K.A_XS, y * (scr[K.SCR_SIN + k] - K.BIAS))]
                for w, p in prods:
                    a = acc[w]
                    a[0], a[1] = self._split_add(a[0], a[1], chk(p, "product"))
                if rawsum:
                    a = acc[K.A_RAW]
                    a[0], a[1] = self._split_add(a[0], a[1], raw)
                j = chk(j + stride)
            st[s + K.H_1], st[s + K.H_2], st[s + K.H_3] = h1 + K.BIAS, h2 + K.BIAS, h3 + K.BIAS
            st[s + K.H_AY], st[s + K.H_Y] = ay + K.BIAS, y + K.BIAS
            st[s + K.A_SX], st[s + K.A_CLIP], st[s + K.A_MAX], st[s + K.A_MIN] = sx, ncl, mx, mn
            for w, a in acc.items():
                st[s + w], st[s + w + 1] = a

    def at_crossing(self, st, cfg, buf, stop):
        chk = self._chk
        stride, nch = cfg[K.C_STRIDE], cfg[K.C_NCH]
        base = chk(stop * stride)
        for c in range(nch):
            q = K.C_CH + K.C_CW * c
            s = K.S_CH + K.S_W * c
            m = cfg[q + K.CF_SIGN]
            raw = self._sign_extend(buf[base + cfg[q + K.CF_OFF]], m)
            st[s + K.H_CLIPF] = 1 if abs(raw) >= cfg[q + K.CF_CLIP] else 0
            st[s + K.H_RAW] = chk(raw + K.RAW_BIAS)
            x = self._reduce(raw, cfg[q + K.CF_ROUND], cfg[q + K.CF_SHIFT])
            h1, h2 = st[s + K.H_1] - K.BIAS, st[s + K.H_2] - K.BIAS
            mode = cfg[q + K.CF_DMODE]
            if mode == 0:
                y = x
            else:
                y = self._allpass(mode, x, h1, h2, st[s + K.H_3] - K.BIAS, cfg[q + K.CF_DA] - K.DA_BIAS,
                                  st[s + K.H_AY] - K.BIAS)
                st[s + K.H_AY], st[s + K.H_3], st[s + K.H_2] = y + K.BIAS, h2 + K.BIAS, h1 + K.BIAS
            st[s + K.H_1] = x + K.BIAS
            st[s + K.H_YP] = st[s + K.H_Y]
            st[s + K.H_Y] = y + K.BIAS
        st[K.S_PEND] = 1

    def acc_add(self, dst, src, nch):
        def pair(k):
            lo = dst[k + 1]
            lo2 = _w32(lo + src[k + 1])
            hi = self._chk(dst[k] + src[k], "split hi")
            if _u32(lo2) < _u32(lo):
                hi = self._chk(hi + 1, "split hi")
            dst[k], dst[k + 1] = hi, lo2
        dst[K.S_SC] = self._chk(dst[K.S_SC] + src[K.S_SC], "plain sum")
        dst[K.S_SS] = self._chk(dst[K.S_SS] + src[K.S_SS], "plain sum")
        for k in range(K.S_CC, K.S_CH, 2):
            pair(k)
        for c in range(nch):
            s = K.S_CH + K.S_W * c
            dst[s + K.A_SX] = self._chk(dst[s + K.A_SX] + src[s + K.A_SX], "plain sum")
            dst[s + K.A_CLIP] = self._chk(dst[s + K.A_CLIP] + src[s + K.A_CLIP])
            dst[s + K.A_MAX] = max(dst[s + K.A_MAX], src[s + K.A_MAX])
            dst[s + K.A_MIN] = min(dst[s + K.A_MIN], src[s + K.A_MIN])
            for k in range(s + K.A_XX, s + K.A_N, 2):
                pair(k)

    def acc_reset(self, st, nch):
        for k in range(K.S_SC, K.S_CH):
            st[k] = 0
        for c in range(nch):
            s = K.S_CH + K.S_W * c
            for k in range(s, s + K.A_N):
                st[k] = 0
            st[s + K.A_MAX] = 0
            st[s + K.A_MIN] = K.PEAK_EMPTY_MIN

    def cycle_ms(self, st, nch, cnt, out):
        chk = self._chk
        if cnt <= 0:
            return
        for c in range(nch):
            s = K.S_CH + K.S_W * c
            for k in range(K.CM_W):
                if k == K.CM_VI and c == 0:
                    out[K.CM_VI] = 0
                    break
                w = s + K.A_XX if k == K.CM_MS else s + K.A_VI
                hi, lo = st[w], st[w + 1]
                neg = 0
                if k == K.CM_VI and (hi >> 31) & 1:
                    neg = 1
                    lo = _w32(_w32(lo ^ -1) + 1)       # (lo ^ m32) + 1, & m32 (a no-op)
                    hi = _w32(hi ^ -1)
                    if lo == 0:
                        hi = _w32(hi + 1)
                assert hi >= 0 and cnt > 0       # non-negative operands: // and % are exact
                r = hi % cnt
                r = chk((r << 16) | ((lo >> 16) & 0xFFFF), "cycle_ms long division")
                q2 = r // cnt
                r = chk(r - chk(q2 * cnt))
                r = chk((r << 16) | (lo & 0xFFFF), "cycle_ms long division")
                q1 = r // cnt
                q = chk((q2 << 16) | q1)
                out[K.CM_W * c + k] = -q if neg else q

    def sum_pass(self, src, n, sstride, terms, nterms, dst, dstride, doff, mode):
        chk = self._chk
        lim = K.CODE24_MAX
        if mode == K.SP_COPY:
            j, o = terms[K.T_OFF], doff
            for _ in range(n):
                dst[o] = src[j]
                j, o = j + sstride, o + dstride
            return
        for t in range(nterms):
            q = K.T_W * t
            off, g, pre, post, m = (terms[q + K.T_OFF], terms[q + K.T_GAIN], terms[q + K.T_PRE],
                                    terms[q + K.T_POST], terms[q + K.T_SIGN])
            first = t == 0 and mode == K.SP_WRITE
            unbias = t == 0 and mode == K.SP_ADD
            last = t == nterms - 1
            j, o = off, doff
            for _ in range(n):
                x = self._sign_extend(src[j], m)
                v = chk(chk((x >> pre) * g, "sum_pass product") >> post)
                if first:
                    acc = v
                elif unbias:
                    acc = chk((((dst[o] & 0xFFFFFF) ^ 0x800000) - 0x800000) + v, "sum_pass partial sum")
                else:
                    acc = chk(chk(dst[o] - K.SUM_BIAS) + v, "sum_pass partial sum")
                if last:
                    dst[o] = max(-lim, min(lim, acc))
                else:
                    dst[o] = chk(acc + K.SUM_BIAS, "sum_pass partial sum")
                j, o = j + sstride, o + dstride


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
    #    2-period limit, the longest), currents stepping between +/-FS, one window = 1 s+
    n = 8320 * 2
    fr = np.zeros((n, 4), dtype=np.int64)
    fr[:, 0] = fsv
    fr[:, 1] = np.where((np.arange(n) // 7) % 2, fsv, fsn)      # full-scale steps
    fr[:, 2] = fsn
    fr[:, 3] = np.where(np.arange(n) % 3, fsn, fsv)
    #    (the stepping current through the allpass with the largest |a|: its
    #    product a (u - y) comes within 0.1 % of the bound, the output clamps)
    cfg = cfg_for(4, 4, [(0, 24, 8, 8388607, 1, 10923), (1, 24, 8, 8388607, 1, 10923), (2, 24, 8, 8388607, 2, 100),
                         (3, 24, 8, 8388607, 3, -6553)], 800, 96, F_ZC | F_PHASOR | F_RAW)
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

    def add_sum(name, frames, dstride, passes, block):
        p = tmp_path / (name + ".bin")
        arr = np.asarray(frames, dtype="<i4")
        arr.tofile(p)
        cases.append({"name": name, "sum": True, "data": str(p), "frames": len(frames), "sstride": frames.shape[1],
                      "block": block, "dstride": dstride, "passes": passes, "arr": arr})

    def terms(*tt):
        out = []
        for off, gain, pre, post, bits in tt:
            out += [off, gain, pre, post, 1 << (bits - 1)]
        return {"terms": out, "nterms": len(tt)}

    # 4. sum_pass on ADS131M04 frames (branch sums): a copy, a 3-term sum and a
    #    3-term add into it at gains up to 2.0 (the largest products), a second
    #    sum; full-scale codes of both signs, runs of all +FS / all -FS (clamped)
    n = 700
    x = np.zeros((n, 4), dtype=np.int64)
    x[:, 0] = rng.integers(fsn, fsv + 1, n)
    x[:, 1] = np.where(np.arange(n) % 2, fsv, fsn)
    x[:, 2] = np.where(np.arange(n) % 3, fsn, fsv)
    x[:, 3] = rng.integers(fsn, fsv + 1, n)
    x[:50, 1:] = fsv
    x[50:100, 1:] = fsn
    ads = (6, 6, 24)
    add_sum("ads_sum_pass", x, 3, [
        dict(terms((0, 0) + ads), doff=0, mode=K.SP_COPY),
        dict(terms((1, 8192) + ads, (2, 8192) + ads, (3, 8192) + ads), doff=1, mode=K.SP_WRITE),
        dict(terms((3, 8192) + ads, (1, 8192) + ads, (2, 8191) + ads), doff=1, mode=K.SP_ADD),
        dict(terms((2, 4096) + ads, (1, 2048) + ads), doff=2, mode=K.SP_WRITE),
        dict(terms((3, 5000) + ads), doff=2, mode=K.SP_ADD)], 128)
    # 5. on ADE9000 frames (computed neutral): 28-bit codes at +/-2^27, >> 10
    n = 500
    x = np.zeros((n, 7), dtype=np.int64)
    for off, k in ((0, 2), (2, 3), (4, 5)):
        x[:, off] = np.where(np.arange(n) % k, 2 ** 27 - 16, -2 ** 27)
    x[:60, 0:6:2] = -2 ** 27
    x[:, 1] = rng.integers(-2 ** 23, 2 ** 23, n) << 4
    ade = (10, 6, 28)
    add_sum("ade_sum_pass", x, 2, [
        dict(terms((1, 0) + ade), doff=0, mode=K.SP_COPY),
        dict(terms((0, 8192) + ade, (2, 8192) + ade, (4, 4096) + ade), doff=1, mode=K.SP_WRITE)], 100)
    return cases


def sum_model(frames, dstride, passes, block):
    """sum_pass in exact integers: per block, the dst words every pass leaves."""
    n, stride = frames.shape
    out = []
    lim = (1 << 23) - 1
    for pos in range(0, n, block):
        m = min(block, n - pos)
        dst = [0] * (dstride * m)
        for ps in passes:
            t = ps["terms"]
            for i in range(m):
                fr = [int(v) for v in frames[pos + i]]
                o = dstride * i + ps["doff"]
                if ps["mode"] == K.SP_COPY:
                    dst[o] = fr[t[0]]
                    continue
                acc = sum(((fr[t[5 * k]] >> t[5 * k + 2]) * t[5 * k + 1]) >> t[5 * k + 3]
                          for k in range(ps["nterms"]))
                if ps["mode"] == K.SP_ADD:
                    acc += dst[o]
                dst[o] = max(-lim, min(lim, acc))
        out.append(dst)
    return out


@pytest.fixture(scope="module")
def kernel_run(tmp_path_factory):
    """The cases and what the viper kernel (unix port) dumped for each."""
    d = tmp_path_factory.mktemp("metro_kernel")
    cases = make_cases(d)
    spec = [dict((k, v) for k, v in c.items() if k not in ("arr", "name")) for c in cases]
    for s in spec:
        if "cfg" in s:
            s["cfg"] = [int(x) for x in s["cfg"]]
    p = d / "cases.json"
    p.write_text(json.dumps(spec))
    out = run_mp_json(script="tests/mp/metro_kernel.py", args=[p], timeout=120)
    by = {}
    for o in out:
        by.setdefault(o.pop("case"), []).append(o)
    return cases, by


def test_kernel_equals_exact_integer_arithmetic(kernel_run):
    cases, by = kernel_run
    worst = Bounds()
    wide_window = False
    for ci, c in enumerate(cases):
        if c.get("sum"):
            continue
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
            # a window's sum of squares past 2^32: the split's high word is in use
            wide_window |= any(x["xx"] >= 1 << 32 for x in r["ch"])
        check_sums(got[-1]["end"], last, nch, flags & F_PHASOR, flags & F_RAW)
        worst.prod = max(worst.prod, b.prod)
        worst.plain = max(worst.plain, b.plain)
        worst.delay = max(worst.delay, b.delay)
    # the documented bounds on the exact values (docs/metrology.md)
    assert worst.prod == 1 << 30                 # products: <= 2^30, reached at full scale
    assert worst.plain <= 8320 * (1 << 15)       # plain sums
    assert worst.delay <= 10923 * (1 << 16) < 1 << 30      # allpass product
    assert wide_window


def test_sum_pass_equals_exact_integer_arithmetic(kernel_run):
    cases, by = kernel_run
    n = 0
    for ci, c in enumerate(cases):
        if not c.get("sum"):
            continue
        frames = c["arr"].astype(np.int64).reshape(-1, c["sstride"])
        ref = sum_model(frames, c["dstride"], c["passes"], c["block"])
        got = [o["dst"] for o in by[ci]]
        assert got == ref, c["name"]
        flat = [v for blk in ref for v in blk[1::c["dstride"]]]
        assert max(flat) == (1 << 23) - 1 and min(flat) == -(1 << 23) + 1, c["name"]      # both clamps hit
        n += 1
    assert n == 2


def run_mcu(c, mcu):
    """The tests/mp/metro_kernel.py protocol on the Mcu32 emulation."""
    frames = [int(v) for v in np.ravel(c["arr"])]
    if c.get("sum"):
        ss, ds, blk = c["sstride"], c["dstride"], c["block"]
        n = len(frames) // ss
        dst = [0] * (ds * blk)
        out = []
        for pos in range(0, n, blk):
            m = min(blk, n - pos)
            b = frames[ss * pos:ss * (pos + m)]
            for p in c["passes"]:
                mcu.sum_pass(b, m, ss, p["terms"], p["nterms"], dst, ds, p["doff"], p["mode"])
            out.append({"dst": dst[:ds * m]})
        return out
    cfg = [int(x) for x in c["cfg"]]
    stride, nch = cfg[K.C_STRIDE], cfg[K.C_NCH]
    st = [0] * (K.S_CH + K.S_W * nch)
    for ch in range(nch):
        s = K.S_CH + K.S_W * ch
        for h in (K.H_1, K.H_2, K.H_3, K.H_AY, K.H_Y, K.H_YP):
            st[s + h] = K.BIAS
    mcu.acc_reset(st, nch)
    st[K.S_STEP] = c["step"]
    st[K.S_LIMIT] = c["limit"]
    win = [0] * len(st)
    mcu.acc_reset(win, nch)
    ms = [0] * (K.CM_W * nch)
    scr = [0] * (3 * K.SCR_N)
    tab = [int(v) for v in TAB]
    out = []
    stops = 0
    n = len(frames) // stride
    for pos in range(0, n, c["block"]):
        m = min(c["block"], n - pos)
        b = frames[stride * pos:stride * (pos + m)]
        i = 0
        while i < m:
            i = mcu.kernel(st, cfg, b, tab, i, m, scr)
            if st[K.S_REASON] == K.STOP_NONE:
                continue
            mcu.cycle_ms(st, nch, st[K.S_CNT], ms)
            out.append({"i": pos + i, "reason": st[K.S_REASON], "st": list(st), "ms": list(ms)})
            mcu.acc_add(win, st, nch)
            mcu.acc_reset(st, nch)
            st[K.S_CNT] = 0
            stops += 1
            if stops % c["win_every"] == 0:
                out.append({"win": list(win)})
                mcu.acc_reset(win, nch)
    out.append({"end": list(st)})
    return out


def test_kernel_is_bit_exact_on_a_32_bit_mcu(kernel_run):
    cases, by = kernel_run
    mcu = Mcu32()
    for ci, c in enumerate(cases):
        got = by[ci]
        emu = run_mcu(c, mcu)
        assert len(emu) == len(got), c["name"]
        for k, (e, g) in enumerate(zip(emu, got)):
            assert e == g, (c["name"], k)
    w = mcu.worst
    # every row of the bound table, on the values actually formed; the
    # full-scale cases reach the bounds where the inputs can
    assert w["reduced y"] == 1 << 15
    assert w["product"] == 1 << 30
    assert 0.99 * 10923 * (1 << 16) <= w["allpass product"] <= 10923 * (1 << 16) < 1 << 30
    assert 800 * (1 << 14) <= w["table interpolation"] <= 805 * (1 << 15) < 1 << 25
    # split sums <= 8320 x 2^30 < 2^44 (the 1 s full-scale window reaches it): high words <= 2080
    assert w["split hi"] == (8320 << 30) >> 32 < 1 << 12
    assert w["plain sum"] <= 8320 * (1 << 15) < 1 << 29
    assert w["phase"] < 1 << 30
    assert w["cycle_ms long division"] < 1 << 25
    assert w["sum_pass product"] == 1 << 30
    assert w["sum_pass partial sum"] < 1 << 29


def test_kernel_allocates_nothing():
    out = run_mp_json(script="tests/mp/metro_heap.py", timeout=60)
    r = out[-1]
    assert r["ok"] is True, r
    assert r["cycles"] > 20 and r["windows"] >= 2

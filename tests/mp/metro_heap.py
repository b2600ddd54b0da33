# Every per-sample metrology path runs with the heap locked (no allocation):
# kernel, acc_add/acc_reset, cycle_ms, sum_pass, harmonics capture and DFT.
import json
import math
import micropython
from array import array
from metrology import kernel as K
from metrology.kernel import capture, dft

fs = 8000
n = 4000
buf = array("i", bytes(16 * n))
for j in range(n):
    w = 2 * math.pi * 50.3 * j / fs
    buf[4 * j] = int(3000000 * math.sin(w))
    buf[4 * j + 1] = int(8388607 * 1.2 * math.sin(w - 0.5)) if abs(math.sin(w - 0.5)) < 0.8 else 8388607
    buf[4 * j + 2] = int(-200000 * math.sin(3 * w))
    buf[4 * j + 3] = -8388608
cfg = array("i", bytes(4 * K.cfg_words(4)))
cfg[0] = 4
cfg[1] = 4
cfg[2] = 300
cfg[3] = 96
cfg[4] = K.F_ZC | K.F_PHASOR | K.F_RAW
for c in range(4):
    q = K.C_CH + K.C_CW * c
    cfg[q] = c
    cfg[q + 1] = 8
    cfg[q + 2] = 128
    cfg[q + 3] = 1 << 23
    cfg[q + 4] = 8388607
    cfg[q + 5] = c
    cfg[q + 6] = 32768 + 3000 * c - 4000
st = array("i", bytes(4 * K.state_words(4)))
for c in range(4):
    s = K.S_CH + K.S_W * c
    for h in (K.H_1, K.H_2, K.H_3, K.H_AY, K.H_Y, K.H_YP):
        st[s + h] = K.BIAS
K.acc_reset(st, 4)
st[K.S_STEP] = int((1 << 30) / 159.0)
st[K.S_LIMIT] = 320
win = array("i", bytes(4 * K.state_words(4)))
ms = array("i", bytes(32))
terms = array("i", [1, 4096, 6, 6, 1 << 23, 2, 4000, 6, 6, 1 << 23])
dst = array("i", bytes(8 * n))
cap = array("h", bytes(2 * 2048))
acc = array("i", bytes(16))
mv = memoryview(buf)
tab = K.TAB
scr = K.SCRATCH
blocks = [mv[4 * p:4 * (p + 80)] for p in range(0, n, 80)]   # views made before locking
cycles = 0
windows = 0
k = 0
ok = True
err = ""
micropython.heap_lock()
try:
    for b in blocks:
        i = 0
        while i < 80:
            i = K.kernel(st, cfg, b, tab, i, 80, scr)
            if not st[K.S_REASON]:
                continue
            K.cycle_ms(st, 4, st[0], ms)
            K.acc_add(win, st, 4)
            K.acc_reset(st, 4)
            st[0] = 0
            cycles += 1
            if cycles % 10 == 0:
                K.acc_reset(win, 4)
                windows += 1
        K.sum_pass(b, 80, 4, terms, 2, dst, 2, 1, 0)
        K.sum_pass(b, 80, 4, terms, 1, dst, 2, 1, 1)
        K.sum_pass(b, 80, 4, terms, 1, dst, 2, 0, 2)
    k = capture(buf, 0, 1600, 4, 1, 1 << 23, 8, cap, 0, 2048)
    for h in range(1, 41):
        dft(cap, k, 1000, h * 6700000 & 0x3FFFFFFF, tab, acc)
except MemoryError as e:
    ok = False
micropython.heap_unlock()
print(json.dumps({"ok": ok, "cycles": cycles + (st[0] > 0), "windows": windows, "captured": k}))

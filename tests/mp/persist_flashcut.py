# Power cuts on the record store: littlefs on sim/blockdev.BlockDev (NOR
# semantics) with a cut at a random byte of a random program or erase.
#
#   persist_flashcut.py SEED CUTS
#
# Each run: mount (must always succeed), read every stored record back and
# compare with the model (every record whose store completed must be there,
# byte for byte; the one being written at the cut may or may not be; nothing
# else), resume the aggregates, feed minutes until the flash loses power.
import sys
import json
import random
import time
import vfs
import struct
sys.path.append("tests/mp")
from sim.blockdev import BlockDev
from core.records import Records, _DIRS

CHANNELS = [("L1-V", "V"), ("O1-I", "IPE"), ("O2-I", "IPE"), ("inlet", "TH")]
T0 = 1767225600 + 3 * 86400 - 1800     # half an hour before a day boundary


class Fail(Exception):
    pass


def check(c, m):
    if not c:
        raise Fail(m)


def read_all(fs, lvl):
    """All records of a level, raw, in file order (and file names)."""
    out = []
    try:
        names = sorted(e[0] for e in fs.ilistdir(_DIRS[lvl]))
    except OSError:
        return out
    for nm in names:
        f = fs.open("%s/%s" % (_DIRS[lvl], nm), "rb")
        try:
            h = f.read(14)
            check(h[:4] == b"PDUR", "file %s has no header" % nm)
            rsz = h[6] | (h[7] << 8)
            hsz = h[8] | (h[9] << 8)
            f.seek(hsz)
            while True:
                r = f.read(rsz)
                if not r:
                    break
                check(len(r) == rsz, "file %s: partial record left (%d bytes)" % (nm, len(r)))
                out.append(r)
        finally:
            f.close()
    return out


def minute(t):
    k = t // 60
    v = 230.0 + (k % 17) * 0.1
    i1 = 1.0 + (k % 5) * 0.5
    i2 = 2.0 + (k % 3) * 0.25
    return ({"L1-V": ((v, v - 1, v + 1), None, None),
             "O1-I": (None, (i1, i1 - 0.1, i1 + 0.1), (v * i1, v * i1 - 10, v * i1 + 10)),
             "O2-I": (None, (i2, i2 - 0.1, i2 + 0.1), (v * i2, v * i2 - 10, v * i2 + 10))},
            {"inlet": ((22.0 + k % 4, 21.0, 26.0), (40.0, 38.0, 42.0))})


def main():
    seed = int(sys.argv[1])
    cuts = int(sys.argv[2])
    random.seed(seed)
    bd = BlockDev(4096, 256, seed=seed)
    vfs.VfsLfs2.mkfs(bd)
    committed = [[], [], []]
    fly = [None, None, None]
    t = T0
    hits = {"program": 0, "erase": 0}
    t_start = time.ticks_ms()
    n_rec = 0
    for run in range(cuts + 1):
        bd.power_on()
        fs = vfs.VfsLfs2(bd.mount_view())   # mount: must never fail
        rec = Records(fs, CHANNELS, period_min=1, keep_days=1)
        for lvl in (0, 1, 2):
            got = read_all(fs, lvl)
            exp = committed[lvl]
            if fly[lvl] is not None and len(got) == len(exp) + 1 and got[-1] == fly[lvl]:
                exp.append(fly[lvl])      # the in-flight record made it
            # retention may have removed whole old files: compare the tail
            check(len(got) <= len(exp), "level %d: %d records stored, %d committed" % (lvl, len(got), len(exp)))
            check(got == exp[len(exp) - len(got):], "level %d: stored records differ from committed (got %d exp %d, run %d, fly %s, first diff %s)" % (lvl, len(got), len(exp), run, fly[lvl] is not None, [i for i in range(len(got)) if got[i] != exp[len(exp) - len(got) + i]][:3]))
            if lvl == 0 and exp:
                # everything from the retention limit on must still be there
                last_day = struct.unpack_from("<I", exp[-1], 0)[0] // 86400
                keep = [r for r in exp if struct.unpack_from("<I", r, 0)[0] // 86400 >= last_day - 1]
                check(len(got) >= len(keep), "level 0: committed records lost (%d < %d)" % (len(got), len(keep)))
            committed[lvl] = got
            fly[lvl] = None
        # retrieval through the API agrees with the raw files (whole store now and then)
        lo = 0 if run % 10 == 0 else t - 3600
        q = rec.query(lo, 1 << 32, level=0)
        n_exp = len([r for r in committed[0] if struct.unpack_from("<I", r, 0)[0] >= lo])
        check(len(q) == n_exp and rec.bad_records == 0, "query disagrees with files")
        if run == cuts:
            break
        pending = [None]

        def on_store(lvl, utc_s):
            committed[lvl].append(bytes(rec._rbuf))
        rec.listeners.append(on_store)
        # the record being stored when the power fails: capture before writing
        orig = rec._encode

        def enc(lvl, acc):
            b = orig(lvl, acc)
            if bd.powered:
                pending[0] = (lvl, bytes(b))
            return b
        rec._encode = enc
        rec.resume(t)     # catches up aggregates lost at a boundary, rebuilds running ones
        before = bd.stats()
        bd.cut_after(random.randrange(0, 60000))
        while bd.powered:
            st, env = minute(t)
            rec.add_minute(t, st, env)
            t += 60
            n_rec += 1
        after = bd.stats()
        if pending[0] is not None:
            lvl, b = pending[0]
            if not committed[lvl] or committed[lvl][-1] != b:
                fly[lvl] = b
        hits[bd.cut_in] += 1
    wall = time.ticks_diff(time.ticks_ms(), t_start)
    # every hour and day with data has its aggregate (catch-up after cuts)
    hours = [struct.unpack_from("<I", r, 0)[0] for r in committed[1]]
    check(hours == list(range(hours[0], hours[-1] + 3600, 3600)), "hourly aggregates missing")
    days = [struct.unpack_from("<I", r, 0)[0] for r in committed[2]]
    check(days == list(range(days[0], days[-1] + 86400, 86400)), "daily aggregates missing")
    print(json.dumps({"ok": True, "cuts": cuts, "minutes": n_rec, "records": [len(c) for c in committed],
                      "hits": hits, "wall_ms": wall, "span_h": (t - T0) / 3600, "stats": bd.stats()}))


try:
    main()
except Fail as e:
    print(json.dumps({"ok": False, "error": str(e)}))

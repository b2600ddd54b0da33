# Power cuts on the record store: littlefs on sim/blockdev.BlockDev (NOR
# semantics) with a cut at a random byte of a random program or erase.
#
#   persist_flashcut.py SEED CUTS
#
# The model is the writer's: every record whose store completed (the store's
# listener ran) is committed, in order, per level (minute, hourly, daily) and
# per file; the record being encoded when the power failed is in flight. It
# is never re-based on what the flash holds. After each reboot, per level:
# mount (must always succeed), read every stored record back and check that
#   - each file holds exactly its committed records, byte for byte and in
#     order, plus at most the in-flight record last (if it made it, it is
#     committed from then on);
#   - no committed record was lost: every file at or above the retention limit
#     of the newest record ever attempted at that level is there;
#   - retention removed what it had to: no file below the limit of the newest
#     committed record (files retention removed leave the model);
# then resume the aggregates and feed minutes until the flash loses power.
# At the end every hour and day has its aggregate, and each aggregate covers
# exactly the committed records below it (seconds and energy).
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
KEEP = (1, 6, 2)                        # keep_days, hourly_months, daily_years


class Fail(Exception):
    pass


def check(c, m):
    if not c:
        raise Fail(m)


def read_all(fs, lvl):
    """{file name: [raw records in file order]} of a level. A file may be
    empty: littlefs creates the entry at open, the data commits at close."""
    out = {}
    try:
        names = sorted(e[0] for e in fs.ilistdir(_DIRS[lvl]))
    except OSError:
        return out
    for nm in names:
        recs = []
        f = fs.open("%s/%s" % (_DIRS[lvl], nm), "rb")
        try:
            h = f.read(14)
            if h:
                check(h[:4] == b"PDUR", "level %d file %s has no header" % (lvl, nm))
                rsz = h[6] | (h[7] << 8)
                hsz = h[8] | (h[9] << 8)
                f.seek(hsz)
                while True:
                    r = f.read(rsz)
                    if not r:
                        break
                    check(len(r) == rsz, "level %d file %s: partial record left (%d bytes)" % (lvl, nm, len(r)))
                    recs.append(r)
        finally:
            f.close()
        out[nm] = recs
    return out


def utc(r):
    return struct.unpack_from("<I", r, 0)[0]


def file_of(lvl, t):
    """The file a record starting at t belongs in (UTC day, month or year)."""
    y, m, d = time.gmtime(t)[:3]
    return ("%04d%02d%02d" % (y, m, d), "%04d%02d" % (y, m), "%04d" % y)[lvl]


def limit(lvl, t):
    """Files named below this fall out of retention once a record at t is stored."""
    y, m, d = time.gmtime(t)[:3]
    if lvl == 0:
        return file_of(0, t - t % 86400 - KEEP[0] * 86400)
    if lvl == 1:
        k = y * 12 + m - 1 - KEEP[1]
        return "%04d%02d" % (k // 12, k % 12 + 1)
    return "%04d" % (y - KEEP[2])


def verify(fs, lvl, committed, fly, newest, run):
    """Check level lvl against the writer's model (committed: {file: [records]},
    see the header); returns the in-flight record if it made it, else None."""
    files = read_all(fs, lvl)
    where = "run %d level %d" % (run, lvl)
    made_it = False
    nf = None if fly is None else file_of(lvl, utc(fly))
    for nm in files:
        got = files[nm]
        exp = committed.get(nm, [])
        n = len(exp)
        if got[:n] != exp:
            k = 0
            while k < n and k < len(got) and got[k] == exp[k]:
                k += 1
            raise Fail("%s file %s: stored records differ from the committed ones (stored %d, committed %d, "
                       "first difference at %d)" % (where, nm, len(got), n, k))
        if len(got) > n:
            check(len(got) == n + 1 and nm == nf and got[n] == fly,
                  "%s file %s: %d records stored that were never committed" % (where, nm, len(got) - n))
            made_it = True
    if newest[0] is not None:
        lim = limit(lvl, newest[0])           # newest attempted: files from here on are never removed
        lost = [nm for nm in committed if nm >= lim and nm not in files]
        check(not lost, "%s: committed records lost: files %s" % (where, lost))
    if newest[1] is not None:
        lim = limit(lvl, newest[1])           # newest committed: its retention ran before it was written
        old = [nm for nm in files if nm < lim]
        check(not old, "%s: files %s kept past retention (limit %s)" % (where, old, lim))
    for nm in [nm for nm in committed if nm not in files]:
        del committed[nm]                      # removed by retention (checked above)
    return fly if made_it else None


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
    committed = [{}, {}, {}]        # per level, per file: every record whose store completed, in order
    last = [None, None, None]       # the newest committed record of each level
    fly = [None, None, None]        # the record being written at the cut
    attempted = [None, None, None]  # newest period start ever encoded while powered, per level
    # per hour / day: seconds and energies of the committed records below it
    # (kept when retention drops the records themselves)
    below = [{}, {}]
    ne = len([c for c in CHANNELS if "E" in c[1]])
    eoff = 48 + 12 * sum(len(k.replace("E", "")) for _, k in CHANNELS)

    def commit(lvl, r):
        t0 = utc(r)
        nm = file_of(lvl, t0)
        lst = committed[lvl].get(nm)
        if lst is None:
            lst = committed[lvl][nm] = []
        lst.append(r)
        if last[lvl] is None or t0 > utc(last[lvl]):
            last[lvl] = r
        if lvl < 2:
            key = t0 - t0 % (3600, 86400)[lvl]
            s = below[lvl].get(key)
            if s is None:
                s = below[lvl][key] = [0] * (1 + ne)
            s[0] += struct.unpack_from("<I", r, 8)[0]
            for k in range(ne):
                s[1 + k] += struct.unpack_from("<Q", r, eoff + 8 * k)[0]

    def model(lvl):
        out = []
        for nm in sorted(committed[lvl]):
            out.extend(committed[lvl][nm])
        return out

    t = T0
    hits = {"program": 0, "erase": 0}
    made = [0, 0, 0]
    t_start = time.ticks_ms()
    n_rec = 0
    for run in range(cuts + 1):
        bd.power_on()
        fs = vfs.VfsLfs2(bd.mount_view())   # mount: must never fail
        rec = Records(fs, CHANNELS, period_min=1, keep_days=KEEP[0], hourly_months=KEEP[1],
                      daily_years=KEEP[2])
        for lvl in (0, 1, 2):
            newest_c = None if last[lvl] is None else utc(last[lvl])
            f = verify(fs, lvl, committed[lvl], fly[lvl], (attempted[lvl], newest_c), run)
            if f is not None:
                commit(lvl, f)              # it made it: committed from now on
                made[lvl] += 1
            fly[lvl] = None
        # retrieval through the API agrees with the model (whole store now and
        # then, in 6-hour slices: a decoded record is a few hundred bytes of objects)
        lo0 = T0 - T0 % 21600 if run % 10 == 0 else t - 3600
        lo = lo0
        n_got = 0
        while lo < t:
            q = rec.query(lo, lo + 21600, level=0)
            check(rec.bad_records == 0, "run %d: query found bad records" % run)
            n_got += len(q)
            q = None
            lo += 21600
        n_exp = 0
        for lst in committed[0].values():
            for r in lst:
                if utc(r) >= lo0:
                    n_exp += 1
        check(n_got == n_exp, "run %d: query disagrees with the model (%d, %d)" % (run, n_got, n_exp))
        if run == cuts:
            break
        pending = [None]

        def on_store(lvl, utc_s):
            commit(lvl, bytes(rec._rbuf))
        rec.listeners.append(on_store)
        # the record being stored when the power fails: capture before writing
        orig = rec._encode

        def enc(lvl, acc):
            b = orig(lvl, acc)
            if bd.powered:
                pending[0] = (lvl, bytes(b))
                if attempted[lvl] is None or acc.t0 > attempted[lvl]:
                    attempted[lvl] = acc.t0
            return b
        rec._encode = enc
        rec.resume(t)     # catches up aggregates lost at a boundary, rebuilds running ones
        bd.cut_after(random.randrange(0, 60000))
        while bd.powered:
            st, env = minute(t)
            rec.add_minute(t, st, env)
            t += 60
            n_rec += 1
        if pending[0] is not None:
            lvl, b = pending[0]
            if last[lvl] != b:
                fly[lvl] = b
        hits[bd.cut_in] += 1
    wall = time.ticks_diff(time.ticks_ms(), t_start)
    # every hour and day with data has its aggregate (catch-up after cuts)
    hours = [utc(r) for r in model(1)]
    check(hours == list(range(hours[0], hours[-1] + 3600, 3600)), "hourly aggregates missing")
    check(hours[0] == T0 - T0 % 3600, "the first hourly aggregate is missing")
    days = [utc(r) for r in model(2)]
    check(days == list(range(days[0], days[-1] + 86400, 86400)), "daily aggregates missing")
    check(days[0] == T0 - T0 % 86400, "the first daily aggregate is missing")
    # each aggregate covers exactly the committed records below it: seconds and energy
    for lvl in (1, 2):
        for r in model(lvl):
            got = [struct.unpack_from("<I", r, 8)[0]] + [struct.unpack_from("<Q", r, eoff + 8 * k)[0]
                                                         for k in range(ne)]
            check(got == below[lvl - 1].get(utc(r)), "level %d record at %d covers %r, the committed records "
                  "below it %r" % (lvl, utc(r), got, below[lvl - 1].get(utc(r))))
    print(json.dumps({"ok": True, "cuts": cuts, "minutes": n_rec, "records": [len(model(l)) for l in (0, 1, 2)],
                      "in_flight_made_it": made, "hits": hits, "wall_ms": wall, "span_h": (t - T0) / 3600,
                      "stats": bd.stats()}))


try:
    main()
except Fail as e:
    print(json.dumps({"ok": False, "error": str(e)}))

# Data records (core/records.py) on littlefs over sim/blockdev.BlockDev.
#   persist_records.py days      5 days + 1 hour of pre-aggregated minutes, T_rec 1 min
#   persist_records.py seconds   3 hours of per-second readings, T_rec 15 then 5 min (config)
# stdin (days): {"samples": [minute indices to print in full]}
# Readings come from tests/mp/persist_synth.py; tests/test_records.py builds
# the reference from the same formula in CPython.
import sys
import json
import vfs
sys.path.append("tests/mp")
import persist_synth as S
from sim.blockdev import BlockDev
from core.records import Records
from core.energy import Energy
from core.config import Config
from core.clock import VirtualClock
from boardconfig import sim24

T0 = 1772323200            # 2026-03-01T00:00:00Z
mode = sys.argv[1]


def board_channels(desc):
    """The record layout under test (45 channels for sim24): voltages V;
    inlet phase and outlet currents I, P and energy; neutral I; air
    sensors T+H; NTCs T. (The firmware records firmware/stores.record_channels().)"""
    out = []
    for name in sorted(desc.CHANNELS):
        q = desc.CHANNELS[name][2]
        if q == "V":
            out.append((name, "V"))
        elif name.startswith("N"):
            out.append((name, "I"))
        else:
            out.append((name, "IPE"))
    for where in sorted(desc.AIR_SENSORS):
        out.append((where, "TH"))
    for n in sorted(desc.NTCS):
        out.append((n, "T"))
    return out


CH = board_channels(sim24)
ENV = [n for n, k in CH if "T" in k]


def out(case, **kw):
    kw["case"] = case
    print(json.dumps(kw))


def make(nblocks, period, config=None):
    bd = BlockDev(4096, nblocks)
    vfs.VfsLfs2.mkfs(bd)
    fs = vfs.VfsLfs2(bd.mount_view())
    echans = [n for n, k in CH if "E" in k]
    en = Energy(None, echans)
    rec = Records(fs, CH, energy=en, period_min=period, config=config, equipment_id="PDU-0042",
                  site_id="PAR-TH2")
    return bd, fs, en, rec


def minute_inputs(m):
    stats = {}
    env = {}
    for k in range(len(CH)):
        name, kinds = CH[k]
        if name in ENV:
            env[name] = (S.minute_stats(m, k, "T"), S.minute_stats(m, k, "H") if "H" in kinds else None)
        else:
            stats[name] = (S.minute_stats(m, k, "V") if "V" in kinds else None,
                           S.minute_stats(m, k, "I") if "I" in kinds else None,
                           S.minute_stats(m, k, "P") if "P" in kinds else None)
    return stats, env


def dump(r):
    return {"utc_s": r["utc_s"], "period_s": r["period_s"], "n_s": r["n_s"], "partial": r["partial"],
            "valid": r["time_valid"], "level": r["level"], "equipment": r["equipment"], "site": r["site"],
            "ch": r["channels"]}


if mode == "days":
    req = json.loads(sys.stdin.read())
    bd, fs, en, rec = make(3072, 1)
    eidx = [(k, en.index[CH[k][0]]) for k in range(len(CH)) if "E" in CH[k][1]]
    n_min = 5 * 1440 + 60
    for m in range(n_min):
        stats, env = minute_inputs(m)
        for k, i in eidx:
            en.add(i, S.minute_energy_mj(m, k))
        rec.add_minute(T0 + 60 * m, stats, env)
    times0 = rec.times(0, 1 << 32, 0)
    st = fs.statvfs("")
    out("layout", channels=CH, rec_size=rec.rec_size, nf=rec.nf, ne=rec.ne, written=rec.written,
        errors=rec.errors,
        files={lvl: rec._files(lvl) for lvl in (0, 1, 2)}, fs_used=(st[2] - st[3]) * st[0],
        bd=bd.stats())
    first = times0[0]
    contiguous = times0 == list(range(first, first + 60 * len(times0), 60))
    out("presence", first=first, last=times0[-1], count=len(times0), contiguous=contiguous)
    for m in req["samples"]:            # one line each: keeps the heap unfragmented
        q = rec.query(T0 + 60 * m, T0 + 60 * m + 60)
        out("sample", m=m, recs=[dump(r) for r in q])
    one = rec.query(T0 + 86400 * 2, T0 + 86400 * 2 + 600, channel="O7-I")
    out("channel_filter", count=len(one), keys=[sorted(r["channels"]) for r in one][:2],
        utc=[r["utc_s"] for r in one][:3])
    for r in rec.query(0, 1 << 32, level=1):
        out("hour", rec=dump(r))
    days = rec.query(0, 1 << 32, level=2)
    out("daily", recs=[dump(r) for r in days])
    out("counters", counters={n: en.get(n) for n in en.names})
    q = rec.query(T0 + 86400 * 3, T0 + 86400 * 3 + 3600, channel="O1-I")
    out("query_hour", n=len(q))
else:
    clock = VirtualClock(start_utc_ms=T0 * 1000)
    cfg = Config(None, clock)
    bd, fs, en, rec = make(512, 15, cfg)
    eidx = [(k, en.index[CH[k][0]]) for k in range(len(CH)) if "E" in CH[k][1]]
    nch = len(CH)
    for s in range(3 * 3600):
        if s == 95 * 60:
            cfg.apply({"record.period_min": 5}, "http:admin")   # T_rec changed at run time
        vals = {}
        env = {}
        for k in range(nch):
            name, kinds = CH[k]
            if name in ENV:
                env[name] = (S.second_value(s, k, "T"), S.second_value(s, k, "H") if "H" in kinds else None)
            else:
                vals[name] = (S.second_value(s, k, "V") if "V" in kinds else None,
                              S.second_value(s, k, "I") if "I" in kinds else None,
                              S.second_value(s, k, "P") if "P" in kinds else None)
        for k, i in eidx:
            en.add(i, S.second_energy_mj(s, k))
        rec.add_second(T0 + s, vals, env)
    out("feed", written=rec.written, errors=rec.errors, period_now=rec.period_s)
    out("level0", recs=[dump(r) for r in rec.query(0, 1 << 32, level=0)])
    out("level1", recs=[dump(r) for r in rec.query(0, 1 << 32, level=1)])
    out("counters", counters={n: en.get(n) for n in en.names})
    # reboot mid-day: a fresh recorder rebuilds the running hour/day from the store
    rec2 = Records(fs, CH, energy=en, period_min=5)
    rec2.resume(T0 + 3 * 3600 + 1800)
    acc = rec2._acc[2]
    out("resume", day_n_s=acc.n_s, day_t0=acc.t0, hour_n_s=rec2._acc[1].n_s, hour_t0=rec2._acc[1].t0)

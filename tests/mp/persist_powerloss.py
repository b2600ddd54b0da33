# Power-loss harness for the FRAM stores (tests/test_powerloss.py).
#
#   persist_powerloss.py random SEED CUTS   random cuts during a busy stream
#   persist_powerloss.py sweep              a cut at every byte of each kind of write
#
# One MicroPython process, many short runs: boot (fresh driver and store
# objects over the same FRAM twin), check every store against the model of
# what was committed, arm twin.cut_after(random byte), run the workload
# (energy every virtual second, bursts of events, audit entries, config and
# calibration changes) until the power fails, repeat.
#
# Committed = written with the twin still powered after the write. The one
# write during which the power failed is "in flight": its store may show the
# old or the new state, nothing else. Writes the firmware attempted after the
# cut ("ghosts") never happened: the MCU would have been dead.
import sys
import json
import random
import struct
import time
sys.path.append("tests/mp")
from persist_util import Rig
from core.clock import VirtualClock
from core import fram_layout as L
from core import codes
from core.events import EventLog
from core.audit import AuditLog
from core.energy import Energy
from core.config import Config, ConfigError, make_schema
from core.calstore import CalStore, CalError

EV_N = 40          # small rings so runs wrap often and boot scans stay cheap
AU_N = 20
CFG_SLOTS = (L.CONFIG_A, L.CONFIG_B, 2048)
SCHEMA = make_schema(4)
ENAMES = ["O%d" % i for i in range(1, 25)] + ["L1", "L2", "L3"]
CAL_CH = ["O%d-I" % i for i in range(1, 9)] + ["L1-V", "L2-V", "L3-V"]
CODES = (codes.EV_OUTLET_ON, codes.EV_OUTLET_OFF, codes.EV_ACQ_OVERRUN, 60, 61, codes.EV_DEVICE_FAULT)


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


class Model:
    def __init__(self):
        self.ev = {}            # seq -> expected record bytes (committed)
        self.au = {}
        self.ev_max = 0         # highest committed id ever
        self.au_max = 0
        self.ev_fly = None      # (seq, bytes) in flight
        self.au_fly = None
        self.ghost_ev = 0
        self.ghost_au = 0
        self.en = None          # committed counter bytes
        self.en_fly = None
        self.en_true = None     # counters as the firmware had them when power failed
        self.en_tick = None     # deltas of the tick whose save may not have completed
        self.cfg = None
        self.cfg_fly = None
        self.cal = None         # (version, coeffs) committed
        self.cal_fly = None
        self.where = None       # what the cut hit
        self.stats = {}


M = Model()
rig = None
clock = VirtualClock()


def wrap_ring(ring, kind):
    orig = ring.append
    twin = rig.twin

    def append():
        before = twin.powered
        s = orig()
        b = bytes(ring.buf)
        if not before:
            if kind == "ev":
                M.ghost_ev += 1
            else:
                M.ghost_au += 1
            return s
        if twin.powered:
            if kind == "ev":
                check(s > M.ev_max, "event id %d repeats (max %d)" % (s, M.ev_max))
                M.ev[s] = b
                M.ev_max = s
            else:
                check(s > M.au_max, "audit id %d repeats (max %d)" % (s, M.au_max))
                M.au[s] = b
                M.au_max = s
        else:
            if kind == "ev":
                M.ev_fly = (s, b)
            else:
                M.au_fly = (s, b)
            hit(kind)
        return s
    ring.append = append


def hit(what):
    if M.where is None:
        M.where = what


class Sys:
    def __init__(self, full=False):
        d = rig.boot()
        L.prepare(d)
        self.fram = d
        self.ev = EventLog(clock, fram=d, nslots=EV_N)
        self.au = AuditLog(d, clock, nslots=AU_N)
        # the rings as boot found them, before the other stores log anything
        verify_rings(self, full)
        wrap_ring(self.ev.fram_ring.ring, "ev")
        wrap_ring(self.au.ring, "au")
        self.en = Energy(d, ENAMES, clock)
        self.cfg = Config(d, clock, self.ev, self.au, schema=SCHEMA, slots=CFG_SLOTS)
        self.cal = CalStore(d, clock, self.ev, self.au, channels=CAL_CH)
        self.en_gen = self.en.load()
        self.cfg_gen = self.cfg.load()
        self.cal_ver = self.cal.load()


def verify_ring(ring, model, fly, ghosts, maxname):
    """After a reboot: the window holds every committed record exactly, the
    in-flight one is either complete or absent, the next id follows."""
    n = ring.n
    rec = ring.rec
    raw = bytearray(n * rec)
    rig.twin  # (read through the driver, as the firmware does)
    ring.fram.readinto(ring.base, raw)
    nxt = ring.next_seq
    last = max(model) if model else 0
    if fly is not None:
        s, b = fly
        o = (s % n) * rec
        ok = bytes(raw[o:o + rec]) == b
        if ok:
            check(nxt == s + 1, "%s: in-flight %d complete but next %d" % (maxname, s, nxt))
            model[s] = b
            M.stats[maxname + "_fly_kept"] = M.stats.get(maxname + "_fly_kept", 0) + 1
        else:
            check(ring.check(raw, o) != s, "%s: torn record %d accepted" % (maxname, s))
            check(nxt == last + 1, "%s: next %d after torn %d (last committed %d)" % (maxname, nxt, s, last))
            M.stats[maxname + "_fly_lost"] = M.stats.get(maxname + "_fly_lost", 0) + 1
    else:
        check(nxt == last + 1, "%s: next %d, last committed %d" % (maxname, nxt, last))
    first = ring.first_seq()
    for s in range(first, nxt):
        o = (s % n) * rec
        b = model.get(s)
        check(b is not None, "%s: %d in window but never committed" % (maxname, s))
        check(bytes(raw[o:o + rec]) == b, "%s: committed record %d lost or changed" % (maxname, s))
    # drop what fell out of the window (keeps the model small)
    for s in list(model):
        if s < first:
            del model[s]
    return nxt


def verify_rings(S, full):
    verify_ring(S.ev.fram_ring.ring, M.ev, M.ev_fly, M.ghost_ev, "ev")
    verify_ring(S.au.ring, M.au, M.au_fly, M.ghost_au, "au")
    M.ev_fly = M.au_fly = None
    M.ghost_ev = M.ghost_au = 0
    if full:
        evs, missed = S.ev.since(0, 1000)
        check(missed == S.ev.fram_ring.ring.first_seq() - 1, "ev since(0): missed %d" % missed)
        check([e["seq"] for e in evs] == list(range(S.ev.fram_ring.ring.first_seq(), S.ev.next_seq)),
              "ev since(0) ids")


def verify(S, full):
    # energy: committed or in-flight copy, never backwards, loss <= one tick
    got = bytes(S.en._buf[8:])
    if M.en is not None:
        ok = got == M.en or (M.en_fly is not None and got == M.en_fly)
        check(ok, "energy: loaded counters are neither the committed nor the in-flight save")
        old = struct.unpack("<%dQ" % (4 * len(ENAMES)), M.en)
        new = struct.unpack("<%dQ" % (4 * len(ENAMES)), got)
        for i in range(len(old)):
            check(new[i] >= old[i], "energy went backwards")
        if M.en_true is not None:
            true = struct.unpack("<%dQ" % (4 * len(ENAMES)), M.en_true)
            for i in range(len(true)):
                lost = true[i] - new[i]
                check(0 <= lost <= M.en_tick[i], "energy lost %d > one tick %d" % (lost, M.en_tick[i]))
    M.en = got
    M.en_fly = None
    M.en_true = None
    # config
    if M.cfg is not None:
        check(S.cfg.values == M.cfg or (M.cfg_fly is not None and S.cfg.values == M.cfg_fly),
              "config: loaded values neither committed nor in flight")
    M.cfg = dict(S.cfg.values)
    M.cfg_fly = None
    # calibration
    cur = None if S.cal.current is None else S.cal.current["coeffs"]
    if M.cal is not None:
        check(cur == M.cal or (M.cal_fly is not None and cur == M.cal_fly),
              "calibration: loaded set neither committed nor in flight")
    M.cal = cur
    M.cal_fly = None


def rand_values(code):
    r = random.random
    if code in (codes.EV_OUTLET_ON, codes.EV_OUTLET_OFF):
        return {"feedback": r() < 0.9, "who": random.choice(("boot", "http:admin", "modbus:3"))}
    if code == codes.EV_ACQ_OVERRUN:
        return {"count": random.getrandbits(16)}
    if code == codes.EV_DEVICE_FAULT:
        return {"part": "ads131m04", "error": "crc %d" % random.getrandbits(8)}
    return {"peak": r() * 40, "window_ms": random.getrandbits(12), "value": r() * 16, "limit": 16.0}


def op_energy(S):
    tick = []
    en = S.en
    for ch in range(len(ENAMES)):
        a = random.getrandbits(22)
        b = random.getrandbits(10) if ch & 3 == 0 else 0
        en.add(ch, a, 0, b, 0)
        tick.append(a)
        tick.append(0)
        tick.append(b)
        tick.append(0)
    M.en_true = bytes(en._buf[8:])
    M.en_tick = tick
    en.save()
    if rig.twin.powered:
        M.en = M.en_true
        M.en_true = None
    else:
        M.en_fly = M.en_true
        hit("energy")


def op_event(S):
    code = random.choice(CODES)
    S.ev.emit(code, random.getrandbits(2), "O%d" % random.randrange(1, 25), rand_values(code),
              random.choice((None, "none", "switched", "trip", "latch-x")))


def op_audit(S):
    S.au.log(random.choice(("command", "login")), "http:user%d" % random.getrandbits(4),
             "outlet %d off" % random.randrange(1, 25), random.choice(("ok", "denied")))


def op_config(S):
    cfg = S.cfg
    before = dict(cfg.values)
    r = random.random()
    if r < 0.25:
        ch = {"record.period_min": random.choice((7, 0, 61, "15"))}  # refused
    elif r < 0.6:
        ch = {"record.period_min": random.choice((1, 5, 10, 15, 30, 60)),
              "outlets.%d.priority" % random.randrange(1, 5): random.randrange(0, 10)}
    else:
        ch = {"network.http_port": random.randrange(8000, 8100),
              "outlets.%d.power_on_delay_ms" % random.randrange(1, 5): random.randrange(0, 5000)}
    try:
        new, _ = cfg.validate(ch)
    except ConfigError:
        new = None
    try:
        cfg.apply(ch, "http:admin")
        check(new is not None, "config: refused set applied")
    except ConfigError:
        check(new is None and cfg.values == before, "config: refusal changed the running config")
    if not rig.twin.powered:
        if new is not None:
            M.cfg_fly = new
        hit("config")
    elif new is not None:
        M.cfg = dict(cfg.values)
        M.stats["cfg_ok"] = M.stats.get("cfg_ok", 0) + 1


def op_cal(S):
    cal = S.cal
    if cal.current is not None and random.random() < 0.3 and cal.previous() is not None:
        new = cal.previous()["coeffs"]
        cal.rollback("ops")
    else:
        cf = {}
        for nm in CAL_CH:
            if random.random() < 0.7:
                cf[nm] = (1.0 + (random.random() - 0.5) * 0.1, random.random() * 10, random.random() - 0.5)
        if not cf:
            cf["L1-V"] = (1.0, 0.0, 0.0)
        new = cal.validate(cf)
        cal.save(cf, "FX-%d" % random.getrandbits(8), "factory")
        # float32 storage: compare against what was stored
        new = None if cal.current is None else cal.current["coeffs"]
    if not rig.twin.powered:
        M.cal_fly = new
        hit("calibration")
    else:
        M.cal = cal.current["coeffs"]
        M.stats["cal_ok"] = M.stats.get("cal_ok", 0) + 1


def workload(S, max_ticks=100000):
    twin = rig.twin
    for _ in range(max_ticks):
        clock.advance_us(1000000)
        op_energy(S)
        if not twin.powered:
            return
        for _ in range(random.randrange(0, 5)):
            op_event(S)
            if not twin.powered:
                return
        r = random.random()
        if r < 0.2:
            op_audit(S)
        elif r < 0.25:
            op_config(S)
        elif r < 0.27:
            op_cal(S)
        if not twin.powered:
            return


def run_random(seed, cuts, span):
    global rig
    random.seed(seed)
    rig = Rig()
    S = Sys(True)
    verify(S, True)
    hits = {}
    t0 = time.ticks_ms()
    for i in range(cuts):
        # mostly short runs (cheap, cut early in a write burst); some long ones so
        # big writes (config, calibration) also commit and must then survive
        rig.twin.cut_after(random.randrange(0, span if random.random() < 0.85 else 8 * span))
        M.where = None
        workload(S)
        hits[M.where] = hits.get(M.where, 0) + 1
        S = Sys(i % 50 == 0)
        verify(S, i % 50 == 0)
    wall = time.ticks_diff(time.ticks_ms(), t0)
    return {"cuts": cuts, "hits": hits, "wall_ms": wall, "power_cuts": rig.twin.power_cuts,
            "ev_next": S.ev.next_seq, "au_next": S.au.next_seq, "en_gen": S.en.generation,
            "cfg_gen": S.cfg.generation, "cal_ver": S.cal.version, "stats": M.stats}


def run_sweep():
    """Cut at every byte (events, audit, energy) or at many bytes (config,
    calibration copies, densest in the head and tail) of one write, each time
    from the same committed state; then cut twice in a row in the tail of the
    same record (the torn leftovers must not complete the retry)."""
    global rig, M
    res = {}

    rig = Rig()

    def fresh():
        global M
        M = Model()
        rig.wipe()
        S = Sys()
        for _ in range(30):      # some committed history, rings wrapped
            clock.advance_us(1000000)
            op_energy(S)
            op_event(S)
            op_audit(S)
        op_config(S)
        op_cal(S)
        op_cal(S)
        S = Sys()
        verify(S, True)
        return S

    plans = (("event", op_event, range(0, 97)),
             ("audit", op_audit, range(0, 129)),
             ("energy", op_energy, range(0, 8 + 32 * len(ENAMES) + 14 + 1)),
             ("config", lambda S: op_config_valid(S), list(range(0, 24)) + list(range(24, 2000, 11)) + list(range(2000, 2049))),
             ("calibration", op_cal_save, list(range(0, 24)) + list(range(24, 2000, 11)) + list(range(2000, 2049))))
    for name, op, offsets in plans:
        S = fresh()
        n = 0
        for k in offsets:
            rig.twin.cut_after(k)
            op(S)
            if rig.twin.powered:
                rig.twin.cut_after(-1)
            S = Sys()
            verify(S, False)
            n += 1
        res[name] = n
    # double tear in the tail of the same event record / energy copy
    S = fresh()
    n = 0
    for k1 in range(92, 96):
        for k2 in range(0, k1, 7):
            for k in (k1, k2):
                rig.twin.cut_after(k)
                op_event(S)
                S = Sys()
                verify(S, False)
            n += 1
    esz = 8 + 32 * len(ENAMES) + 14
    for k1 in range(esz - 6, esz):
        for k2 in range(0, k1, 97):
            for k in (k1, k2):
                rig.twin.cut_after(k)
                op_energy(S)
                S = Sys()
                verify(S, False)
            n += 1
    res["double_tear"] = n
    return res


def op_config_valid(S):
    S.cfg_toggle = not getattr(S, "cfg_toggle", False)
    cfg = S.cfg
    p = cfg.get("network.http_port")
    new = dict(cfg.values)
    new["network.http_port"] = p + 1 if p < 9000 else 8001
    cfg.apply({"network.http_port": new["network.http_port"]}, "sweep")
    if not rig.twin.powered:
        M.cfg_fly = new
    else:
        M.cfg = dict(cfg.values)


def op_cal_save(S):
    cal = S.cal
    v = cal.version
    cf = {"L1-V": (1.0 + v * 1e-3, float(v), 0.25), "O1-I": (0.99, 0.0, -0.5)}
    cal.save(cf, "SW-%d" % v, "sweep")
    new = cal.current["coeffs"]
    if not rig.twin.powered:
        M.cal_fly = new
    else:
        M.cal = new


def main():
    mode = sys.argv[1]
    try:
        if mode == "random":
            r = run_random(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 4000)
        else:
            r = run_sweep()
        r["ok"] = True
    except Fail as e:
        r = {"ok": False, "error": str(e)}
    print(json.dumps(r))


main()

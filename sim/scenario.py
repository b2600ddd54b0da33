# Run a scenario (JSON) on a simulated board in virtual time and print the
# firmware's event log as JSON lines. Used by `python -m tools.scenario`;
# `make run` (sim/main.py --scenario) plays one in real time.
#
# Scenario file:
#   {"board": "sim24", "seed": 1, "duration_s": 10,
#    "power_on": "all" | "none" | [outlet, ...],   (boot switch-on policy, staggered)
#    "stagger_ms": 250,
#    "loads": {"3": {"kind": "psu", "irms": 2.0}, ...},   (plugged in at boot)
#    "events": [{"t": 1.5, "do": "outlet_off", "outlet": 3},      firmware command
#               {"t": 2.0, "do": "plug", "outlet": 4, "load": {...}},   plant action
#               {"t": 3.0, "do": "weld", "outlet": 7}, ...],
#    "protection": {"shed_delay_s": 5, ...},   (protection settings to boot with)
#    "priorities": {"1": 9, ...},              (outlet shedding priorities 0..9)
#    "comment": "..."}
# "do" values outlet_on/outlet_off/outlet_cycle are operator commands to the
# firmware; the plant's actions (plug, unplug, fault, clear_fault, weld,
# release, stuck_open, set_voltage, set_frequency, sag, set_harmonics,
# set_ambient) go to the plant, and fail_short/fail_open/repair to the outlet's
# switch twin (see docs/fixtures.md). validate() checks all of it against the
# board before anything runs.
import sys
import time
from sim.jsonfile import InputError, fail, load as load_json

COMMANDS = ("outlet_on", "outlet_off", "outlet_cycle")


# ------------------------------------------------------------------ validation
# Everything a scenario may contain is checked here against the board before
# the simulation starts, so that nothing in a validated scenario can raise at
# run time: unknown keys and actions, outlets the board lacks, missing and
# ill-typed arguments are refused with one line naming the file, the place
# (events[i], loads["k"], ...) and the field.

TOP_KEYS = ("board", "seed", "duration_s", "power_on", "stagger_ms", "loads", "events",
            "protection", "priorities", "comment")
FAULT_KINDS = ("short", "overload", "leak")
# fault(): the keyword arguments each kind uses (the others would be ignored)
FAULT_ARGS = {"short": ("ipk", "residual", "angle_deg"), "overload": ("factor",), "leak": ("ma",)}
# actions the plant forwards to an outlet's switch twin, and the switch types whose twin has them
TWIN_ACTIONS = {"fail_short": ("triac",), "fail_open": ("triac",), "repair": ("latching", "triac")}
# public Plant methods that are not scenario actions (tests keep this list complete)
NOT_ACTIONS = ("air", "cycle_stats", "frequency", "generate", "load_scenario", "ntc_temp", "outlet_state",
               "schedule", "step_cycles", "switches", "t", "voltage")
# load keys every kind takes, and the kind-specific ones (sim/loads.py)
LOAD_KEYS = ("kind", "irms", "power", "inrush_a", "inrush_tau_ms", "start_factor", "start_s",
             "start_tau_ms", "noise")
LOAD_KIND_KEYS = {"resistive": (), "psu": ("lead_deg",), "smps": ("width_deg", "centre_deg", "pedestal"),
                  "motor": ("pf",), "idle": (), "custom": ("harmonics",)}


class _Bad(Exception):
    pass


class _C:
    """A checker: _C(fn, what)(value, ctx) raises _Bad; `what` describes a good value."""

    def __init__(self, fn, what):
        self.fn = fn
        self.what = what

    def __call__(self, v, ctx):
        self.fn(v, ctx)


def _kind(v):
    t = type(v)
    if t is bool:
        return "a boolean"
    if t is int or t is float:
        return "a number"
    if t is str:
        return "a string"
    if t is list:
        return "a list"
    if t is dict:
        return "an object"
    if v is None:
        return "null"
    return t.__name__


def _isnum(v):
    t = type(v)
    return (t is int or t is float) and v == v and v not in (float("inf"), float("-inf"))


def _fmt(x):
    return ("%g" % x) if type(x) is float else str(x)


def num(lo=None, hi=None, lo_open=False, unit=""):
    """A checker: a finite number in [lo, hi] ((lo, hi] with lo_open); unit: "s", "A rms", ..."""
    if lo is None:
        rng = ""
    elif hi is None:
        rng = " %s %s" % (">" if lo_open else ">=", _fmt(lo))
    elif lo_open:
        rng = " > %s and <= %s" % (_fmt(lo), _fmt(hi))
    else:
        rng = " in %s..%s" % (_fmt(lo), _fmt(hi))
    what = "a number%s%s" % (rng, (", in %s" % unit) if unit else "")

    def chk(v, ctx):
        if not _isnum(v):
            raise _Bad("must be %s, got %s %s" % (what, _kind(v), _repr(v)))
        if (lo is not None and (v < lo or (lo_open and v == lo))) or (hi is not None and v > hi):
            raise _Bad("%s is out of range: must be %s" % (_fmt(v), what))
    return _C(chk, what)


def integer(lo, hi):
    def chk(v, ctx):
        if type(v) is not int:
            raise _Bad("must be an integer, got %s %s" % (_kind(v), _repr(v)))
        if not lo <= v <= hi:
            raise _Bad("%d out of range %d..%d" % (v, lo, hi))
    return _C(chk, "an integer %d..%d" % (lo, hi))


def choice(values, nullable=False):
    def chk(v, ctx):
        if v is None and nullable:
            return
        if v not in values or type(v) is bool:
            raise _Bad("%s is not one of %s" % (_repr(v), ", ".join(_repr(x) for x in values)))
    return _C(chk, "one of " + ", ".join(_repr(x) for x in values))


def _repr(v):
    if type(v) is str:
        return '"%s"' % v
    if type(v) in (dict, list):
        s = _to_json(v)
        return s if len(s) <= 40 else s[:37] + "..."
    if v is None:
        return "null"
    if type(v) is bool:
        return "true" if v else "false"
    return _fmt(v)


def _to_json(v):
    import json
    return json.dumps(v)


def _outlets_text(desc):
    return _list_text(sorted(desc.OUTLETS))


def outlet(v, ctx):
    desc = ctx.desc
    if type(v) is not int:
        raise _Bad("must be an outlet number (integer %s), got %s %s" % (_outlets_text(desc), _kind(v), _repr(v)))
    if v not in desc.OUTLETS:
        raise _Bad("%d is not an outlet of board %s (outlets %s)" % (v, ctx.board, _outlets_text(desc)))


outlet = _C(outlet, "an outlet number")


def phase(v, ctx):
    if v is None or v in ("L1", "L2", "L3") or (type(v) is int and 1 <= v <= 3):
        return
    raise _Bad("%s is not a phase (\"L1\", \"L2\", \"L3\" or 1..3; omit for all phases)" % _repr(v))


phase = _C(phase, "a phase")


def load_spec(v, ctx):
    """A load as plug() takes it: {"kind": .., "irms": A | "power": W, ...} (sim/loads.py)."""
    from sim.loads import KINDS, ALIASES
    if type(v) is not dict:
        raise _Bad("must be an object like {\"kind\": \"psu\", \"irms\": 2.0}, got %s %s" % (_kind(v), _repr(v)))
    if "kind" not in v:
        raise _Bad("kind: missing (%s)" % ", ".join(KINDS))
    k = v["kind"]
    if type(k) is not str or (k not in KINDS and k not in ALIASES):
        raise _Bad("kind: %s is not a load kind (%s; or %s)" % (_repr(k), ", ".join(KINDS),
                                                                ", ".join(sorted(ALIASES))))
    kind = ALIASES.get(k, k)
    allowed = LOAD_KEYS + LOAD_KIND_KEYS[kind]
    for key in v:
        if key not in allowed:
            raise _Bad("%s: not a key of a %s load (%s)" % (key, k, ", ".join(allowed)))
    if "irms" in v and "power" in v:
        raise _Bad("give irms or power, not both")
    if "irms" not in v and "power" not in v and kind != "idle":
        raise _Bad("irms (A) or power (W) missing")
    rng = {"irms": num(0, 200, unit="A rms"), "power": num(0, 100000, unit="W"),
           "inrush_a": num(0, 2000, unit="A peak"), "inrush_tau_ms": num(0, 1000, lo_open=True, unit="ms"),
           "start_factor": num(0, 20), "start_s": num(0, 60, unit="s"),
           "start_tau_ms": num(0, 10000, lo_open=True, unit="ms"), "noise": num(0, 0.5),
           "lead_deg": num(-90, 90, unit="deg"), "width_deg": num(0, 180, lo_open=True, unit="deg"),
           "centre_deg": num(0, 180, unit="deg"), "pedestal": num(0, 1), "pf": num(0, 1, lo_open=True)}
    for key, chk in rng.items():
        if key in v:
            try:
                chk(v[key], ctx)
            except _Bad as e:
                raise _Bad("%s: %s" % (key, e))
    if kind == "custom":
        hs = v.get("harmonics")
        if type(hs) is not list or not hs:
            raise _Bad("harmonics: a custom load needs [[h, percent, phase_deg], ...], got %s" % _repr(hs))
        pf_ok = False
        for j, x in enumerate(hs):
            if (type(x) is not list or len(x) != 3 or type(x[0]) is not int or not 1 <= x[0] <= 39
                    or not _isnum(x[1]) or not _isnum(x[2])):
                raise _Bad("harmonics[%d]: must be [h (integer 1..39), percent, phase_deg], got %s" % (j, _repr(x)))
            if x[0] == 1 and x[1] > 0:
                import math
                pf_ok = math.cos(x[2] * math.pi / 180.0) > 0.01
        if not any(x[1] for x in hs):
            raise _Bad("harmonics: every percentage is 0")
        if "power" in v and not pf_ok:
            raise _Bad("power: a custom load given by power needs a fundamental [1, pct > 0, deg] within "
                       "+/-89 deg (its power factor converts W to A); give irms instead")


load_spec = _C(load_spec, "a load object")


def harmonics_spec(v, ctx):
    """set_harmonics: {"h": pct} or [[h, pct], [h, pct, deg], ...], h 2..63."""
    if type(v) is dict:
        for h, p in v.items():
            if not (h.isdigit() and 2 <= int(h) <= 63):
                raise _Bad("%s is not a harmonic number 2..63" % _repr(h))
            if not _isnum(p) or not -100 <= p <= 100:
                raise _Bad("\"%s\": percent must be a number -100..100, got %s" % (h, _repr(p)))
        return
    if type(v) is not list:
        raise _Bad("must be {\"h\": percent} or [[h, percent, phase_deg], ...], got %s %s" % (_kind(v), _repr(v)))
    for j, x in enumerate(v):
        if (type(x) is not list or len(x) not in (2, 3) or type(x[0]) is not int or not 2 <= x[0] <= 63
                or not _isnum(x[1]) or not -100 <= x[1] <= 100 or (len(x) == 3 and not _isnum(x[2]))):
            raise _Bad("[%d]: must be [h (integer 2..63), percent (-100..100)(, phase_deg)], got %s" % (j, _repr(x)))


harmonics_spec = _C(harmonics_spec, "harmonics")

REQ = True
OPT = False


def _plant_actions(desc):
    """Every plant action a scenario may name: {action: {argument: (required, checker)}}."""
    v_nom = float(desc.RATINGS.get("v_nom", 230.0))
    fs = int(desc.SAMPLE_RATE)
    o = {"outlet": (REQ, outlet)}
    return {
        "plug": {"outlet": (REQ, outlet), "load": (REQ, load_spec)},
        "unplug": o,
        "fault": {"outlet": (REQ, outlet), "kind": (REQ, choice(FAULT_KINDS)),
                  "factor": (OPT, num(0, 100)), "ma": (OPT, num(0, 10000, unit="mA")),
                  "ipk": (OPT, num(0, 2000, lo_open=True, unit="A peak")), "residual": (OPT, num(0, 1)),
                  "angle_deg": (OPT, num(-90, 90, unit="deg"))},
        "clear_fault": {"outlet": (REQ, outlet), "kind": (OPT, choice(FAULT_KINDS, nullable=True))},
        "weld": o, "release": o, "stuck_open": o,
        "set_voltage": {"v_rms": (REQ, num(0, 2 * v_nom, unit="V rms")), "phase": (OPT, phase),
                        "ramp_s": (OPT, num(0, 3600, unit="s"))},
        "set_frequency": {"hz": (REQ, num(10, fs / 20.0, unit="Hz")), "ramp_s": (OPT, num(0, 3600, unit="s"))},
        "sag": {"depth": (REQ, num(-1, 1)),
                "duration_s": (REQ, num(0, 3600, lo_open=True, unit="s")), "phase": (OPT, phase)},
        "set_harmonics": {"spec": (REQ, harmonics_spec)},
        "set_ambient": {"temp_c": (OPT, num(-40, 85, unit="C")), "rh": (OPT, num(0, 100, unit="%"))},
    }


def _command_actions():
    o = {"outlet": (REQ, outlet)}
    return {"outlet_on": o, "outlet_off": o,
            "outlet_cycle": {"outlet": (REQ, outlet), "delay_ms": (OPT, num(0, 3600000, unit="ms"))}}


class _Ctx:
    def __init__(self, desc, board, name):
        self.desc = desc
        self.board = board
        self.name = name
        self.plant = _plant_actions(desc)
        self.cmds = _command_actions()


def _args(ctx, where, spec, d, skip=()):
    for key in d:
        if key not in spec and key not in skip:
            raise InputError("%s: %s: unknown argument %s (takes %s)" % (
                where, key, _repr(key), ", ".join(sorted(spec)) or "none"))
    for key, (req, chk) in spec.items():
        if key not in d:
            if req:
                raise InputError("%s: %s: missing (%s)" % (where, key, chk.what))
            continue
        try:
            chk(d[key], ctx)
        except _Bad as e:
            raise InputError("%s: %s: %s" % (where, key, e))


def _event(ctx, i, e, duration_s):
    where = "%s: events[%d]" % (ctx.name, i)
    if type(e) is not dict:
        raise InputError("%s: must be an object {\"t\": s, \"do\": action, ...}, got %s" % (where, _kind(e)))
    if "t" not in e or "do" not in e:
        raise InputError("%s needs 't' and 'do' (missing %s)" % (where, "t" if "t" not in e else "do"))
    t = e["t"]
    if not _isnum(t) or t < 0:
        raise InputError("%s: t: must be a number >= 0 (seconds from start), got %s" % (where, _repr(t)))
    do = e["do"]
    if type(do) is not str:
        raise InputError("%s: do: must be an action name, got %s" % (where, _repr(do)))
    where = "%s (%s)" % (where, do)
    if duration_s is not None and t > duration_s:
        raise InputError("%s: t: %s is after the end of the run (duration_s %s)" % (where, _fmt(t), _fmt(duration_s)))
    if do in ctx.cmds:
        _args(ctx, where, ctx.cmds[do], e, ("t", "do"))
    elif do in ctx.plant:
        _args(ctx, where, ctx.plant[do], e, ("t", "do"))
        if do == "fault":
            kind = e["kind"]
            for key in e:
                if key in FAULT_ARGS["short"] + FAULT_ARGS["overload"] + FAULT_ARGS["leak"] \
                        and key not in FAULT_ARGS[kind]:
                    raise InputError("%s: %s: not an argument of a %s fault (%s takes %s)" % (
                        where, key, kind, kind, ", ".join(FAULT_ARGS[kind])))
    elif do in TWIN_ACTIONS:
        _args(ctx, where, {"outlet": (REQ, outlet)}, e, ("t", "do"))
        sw = ctx.desc.OUTLETS[e["outlet"]].get("switch", "latching")
        sw = "latching" if sw == "latching" else "triac"
        if sw not in TWIN_ACTIONS[do]:
            ok = [k for k in sorted(ctx.desc.OUTLETS)
                  if ("latching" if ctx.desc.OUTLETS[k].get("switch", "latching") == "latching" else "triac")
                  in TWIN_ACTIONS[do]]
            raise InputError("%s: outlet: outlet %d is switched by a %s relay, which cannot %s "
                             "(outlets with a %s: %s)" % (where, e["outlet"], sw, do, " or ".join(TWIN_ACTIONS[do]),
                                                          _list_text(ok)))
    else:
        raise InputError("%s: events[%d]: do: unknown action %s (firmware commands: %s; plant: %s; switch: %s)" % (
            ctx.name, i, _repr(do), ", ".join(COMMANDS), ", ".join(sorted(ctx.plant)), ", ".join(sorted(TWIN_ACTIONS))))


def _list_text(ks):
    if ks and ks == list(range(ks[0], ks[-1] + 1)):
        return "%d..%d" % (ks[0], ks[-1])
    return ", ".join(str(k) for k in ks)


def _outlet_key(ctx, where, k):
    """A JSON object key naming an outlet ("7")."""
    if not (type(k) is str and k.isdigit()):
        raise InputError("%s: key %s is not an outlet number" % (where, _repr(k)))
    try:
        outlet(int(k), ctx)
    except _Bad as e:
        raise InputError("%s: key %s: %s" % (where, _repr(k), e))
    return int(k)


def board_desc(board, where="board"):
    """The description of the simulated board named `board`, or InputError
    ("WHERE: no board ...")."""
    if type(board) is not str or not board or not all(c.isalpha() or c.isdigit() or c == "_" for c in board):
        raise InputError("%s: %s is not a board name" % (where, _repr(board)))
    try:
        from boardconfig.board import load_desc
        desc = load_desc(board)
    except ImportError:
        raise InputError("%s: no board %s (boardconfig/%s.py)" % (where, _repr(board), board))
    if getattr(desc, "PLATFORM", None) != "sim":
        raise InputError("%s: %s is not a simulated board" % (where, board))
    return desc


def validate(sc, desc=None, name="scenario", duration_s=None):
    """Check a parsed scenario completely against the board (the scenario's
    "board", default sim24, unless `desc` is given). `duration_s`: the length
    of the run, if known (events later than it are refused). Returns the
    protection values to boot with ({} if none). Raises InputError with one
    line naming `name`, the place and the field."""
    if type(sc) is not dict:
        raise InputError("%s: the top level must be an object {...}, got %s" % (name, _kind(sc)))
    for k in sc:
        if k not in TOP_KEYS:
            raise InputError("%s: %s: unknown key (a scenario has %s)" % (name, k, ", ".join(TOP_KEYS)))
    if desc is None:
        desc = board_desc(sc.get("board", "sim24"), name + ": board")
    elif "board" in sc and (type(sc["board"]) is not str or sc["board"] != desc.NAME):
        raise InputError("%s: board: the scenario is for %s, this run is on %s" % (name, _repr(sc["board"]), desc.NAME))
    ctx = _Ctx(desc, desc.NAME, name)
    top = {"seed": integer(0, 2147483647), "duration_s": num(0, None, lo_open=True, unit="s"),
           "stagger_ms": num(0, 60000, unit="ms")}
    for k, chk in top.items():
        if k in sc:
            try:
                chk(sc[k], ctx)
            except _Bad as e:
                raise InputError("%s: %s: %s" % (name, k, e))
    po = sc.get("power_on", "all")
    if po not in ("all", "none"):
        if type(po) is not list:
            raise InputError("%s: power_on: must be \"all\", \"none\" or a list of outlets, got %s" % (name, _repr(po)))
        for j, n in enumerate(po):
            try:
                outlet(n, ctx)
            except _Bad as e:
                raise InputError("%s: power_on[%d]: %s" % (name, j, e))
            if n in po[:j]:
                raise InputError("%s: power_on[%d]: outlet %d is listed twice" % (name, j, n))
    loads = sc.get("loads", {})
    if type(loads) is not dict:
        raise InputError("%s: loads: must be an object {\"outlet\": load, ...}, got %s" % (name, _kind(loads)))
    for k, ld in loads.items():
        where = "%s: loads" % name
        _outlet_key(ctx, where, k)
        try:
            load_spec(ld, ctx)
        except _Bad as e:
            raise InputError('%s: loads["%s"]: %s' % (name, k, e))
    evs = sc.get("events", [])
    if type(evs) is not list:
        raise InputError("%s: events: must be a list, got %s" % (name, _kind(evs)))
    for i, e in enumerate(evs):
        _event(ctx, i, e, duration_s)
    values = {}
    prot = sc.get("protection", {})
    if type(prot) is not dict:
        raise InputError("%s: protection: must be an object of protection settings, got %s" % (name, _kind(prot)))
    values.update(prot)
    pri = sc.get("priorities", {})
    if type(pri) is not dict:
        raise InputError("%s: priorities: must be an object {\"outlet\": 0..9}, got %s" % (name, _kind(pri)))
    for k, p in pri.items():
        values["outlets.%d.priority" % _outlet_key(ctx, "%s: priorities" % name, k)] = p
    if values:
        from protection.settings import Settings
        try:
            Settings(n_outlets=len(desc.OUTLETS)).validate(values)
        except ValueError as e:
            errs = getattr(e, "errors", None) or [("", str(e))]
            path, msg = errs[0]
            what = "priorities" if path.startswith("outlets.") else "protection"
            raise InputError("%s: %s: %s" % (name, what, msg))
    return values


def load(path, desc=None, duration_s=None):
    """Read, parse and validate a scenario file: (scenario, protection values)."""
    sc = load_json(path)
    return sc, validate(sc, desc, path, duration_s)


async def _commands(pdu, cmds):
    clock = pdu.clock
    for e in cmds:
        # Event times count from firmware start (pdu.t0_ms), in either kind of time.
        dt = time.ticks_diff(pdu.t0_ms + int(e["t"] * 1000), clock.ticks_ms())
        if dt > 0:
            await clock.sleep_ms(dt)
        n = int(e["outlet"])
        if e["do"] == "outlet_on":
            await pdu.outlets.set(n, True, "scenario")
        elif e["do"] == "outlet_off":
            await pdu.outlets.set(n, False, "scenario")
        else:
            await pdu.outlets.set(n, False, "scenario")
            await clock.sleep_ms(int(e.get("delay_ms", 5000)))
            await pdu.outlets.set(n, True, "scenario")


def apply(pdu, sc):
    """Plug the scenario's loads, hand its plant events to the plant and
    return the coroutine that issues its operator commands on time."""
    plant = pdu.board.plant
    for k, load in sc.get("loads", {}).items():
        plant.plug(int(k), load)
    cmds = [e for e in sc.get("events", []) if e["do"] in COMMANDS]
    plant_events = [e for e in sc.get("events", []) if e["do"] not in COMMANDS]
    plant.load_scenario({"events": plant_events})
    cmds.sort(key=lambda e: e["t"])
    return _commands(pdu, cmds)


def run(sc, out=None, name="scenario"):
    """Validate, then run the scenario in virtual time; `out(event)` gets each
    logged event at the end (default: print as JSON lines)."""
    from sim.pdu import sim_pdu
    dur = sc.get("duration_s", 10) if type(sc) is dict else None
    values = validate(sc, None, name, dur if _isnum(dur) else None)
    if out is None:
        import json

        def out(ev):
            print(json.dumps(ev))
    pdu = sim_pdu(sc.get("board", "sim24"), virtual=True, seed=int(sc.get("seed", 1)),
                  power_on=sc.get("power_on", "all"), stagger_ms=int(sc.get("stagger_ms", 250)),
                  prot_values=values or None)
    pdu.extra_tasks.append(apply(pdu, sc))
    pdu.run(float(dur))
    evs, _ = pdu.events.since(0, 100000)
    for ev in evs:
        out(ev)
    return pdu


def main(argv):
    if len(argv) != 1 or argv[0].startswith("-"):
        fail("usage: micropython -m sim.scenario FILE.json")
    path = argv[0]
    try:
        sc = load_json(path)
        dur = sc.get("duration_s", 10) if type(sc) is dict else None
        validate(sc, None, path, dur if _isnum(dur) else None)
    except InputError as e:
        fail(str(e))
    pdu = run(sc, name=path)
    sys.stderr.write("# %s\n" % pdu.status_line())


if __name__ == "__main__":
    main(sys.argv[1:])

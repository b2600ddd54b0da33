# MicroPython side of `python -m tools.meter`: play a COMTRADE fixture through
# the sim24 twins, the production drivers and the metrology in virtual time;
# print one JSON object per published window and second.
#
#   micropython -m sim.meter_run FIXTURE.cfg [options]
#     --board NAME        board (default sim24)
#     --dc                DC mode (fixed 20 ms blocks: -48/54 V, 380 V)
#     --f-nom HZ          nominal frequency (50/60) overriding the board's
#     --kind win|sec|all|none  frames to print (default all)
#     --channels A,B      only these output channels
#     --from S            skip frames published before S seconds of signal
#     --duration S        stop after S seconds (default: the fixture's length)
#     (JSON arguments: inline, or a file: FILE or @FILE)
#     --inject JSON       twin errors {"adc1": {"gain": {"1": 0.05}, "phase": {"1": 2.0},
#                         "offset": {"0": 300}, "noise": {..}}, "ade": {...}}
#     --cal JSON          calibration set: as `tools.calibrate --out` writes it (its "coeffs",
#                         "version", "crc" checked), or {"O1-I": [gain, offset, phase_deg], ...}
#     --calibrate JSON    run the factory routine first (metrology.calibration):
#                         {"reference": {...}, "windows": N, "fixture": "id"}; prints
#                         {"calibration": {...}} then the frames
#     --harmonics         print each harmonics analysis as {"harmonics": {...}}
#     --harm-only A,B     analyse only these channels (O3-I, G1-V, L1-I, ...), round-robin
#     --harm-request N@T  at T seconds ask for channel N's spectrum next
#     --energy            include the energy counters in sec frames (on by default)
#     --selfcheck         run the ADE9000 self-check each second, print its reports
#     --absent adc6,ade   chips not fitted (their channels read as sensor faults)
#     --compact           values only: {"O1": {"p_w": 1.0, ...}} without units
# Arguments, the fixture (.cfg text, .dat size and first record) and JSON files
# are checked before anything runs: a problem is one line "error: ..." on
# stderr and exit status 2; fixture channels the board lacks get a warning.
import sys
import json
from sim.jsonfile import InputError, fail, warn, load as load_json, loads as loads_json

KINDS = ("win", "sec", "all", "none")
_FLAGS = ("--dc", "--harmonics", "--energy", "--selfcheck", "--compact")
_VALUED = ("--board", "--f-nom", "--kind", "--channels", "--from", "--duration", "--inject", "--cal",
           "--calibrate", "--harm-only", "--harm-request", "--absent")
_ANALOG = {"ads131m04": 4, "ade9000": 7}     # chip part -> channels a twin error can address


def _json(opt, s):
    # inline JSON, or a file: "@path" or a path (the unix port fails on
    # arguments longer than ~256 characters, so long JSON goes in a file)
    t = s.lstrip()
    if t[:1] in ("{", "["):
        try:
            return loads_json(s)
        except InputError as e:
            raise InputError("%s: invalid JSON: %s" % (opt, e))
    try:
        return load_json(s[1:] if s.startswith("@") else s)
    except InputError as e:
        raise InputError("%s: %s" % (opt, e))


def _name(opt, s):
    t = s.lstrip()
    if t[:1] in ("{", "["):
        return opt
    return s[1:] if s.startswith("@") else s


def _num(opt, v, lo=None, lo_open=False):
    try:
        x = float(v)
    except ValueError:
        raise InputError("%s: %r is not a number" % (opt, v))
    if lo is not None and (x < lo or (lo_open and x == lo)):
        raise InputError("%s: %s must be %s %g" % (opt, v, ">" if lo_open else ">=", lo))
    return x


def _opts(argv):
    o = {"board": "sim24", "dc": False, "f_nom": None, "kind": "all", "channels": None, "from": 0.0,
         "duration": None, "inject": None, "cal": None, "calibrate": None, "harmonics": False,
         "selfcheck": False, "compact": False, "fixture": None, "harm_only": None, "harm_request": None,
         "absent": [], "names": {}}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in _VALUED:
            i += 1
            if i >= len(argv):
                raise InputError("%s needs a value" % a)
            v = argv[i]
            o["names"][a] = _name(a, v)
            if a == "--board":
                o["board"] = v
            elif a == "--f-nom":
                o["f_nom"] = _num(a, v)
                if o["f_nom"] not in (50.0, 60.0):
                    raise InputError("--f-nom: %s Hz: the metrology supports 50 or 60" % v)
            elif a == "--kind":
                if v not in KINDS:
                    raise InputError("--kind: %r is not one of %s" % (v, ", ".join(KINDS)))
                o["kind"] = v
            elif a == "--channels":
                o["channels"] = [c.strip() for c in v.split(",")]
            elif a == "--from":
                o["from"] = _num(a, v, 0)
            elif a == "--duration":
                o["duration"] = _num(a, v, 0, lo_open=True)
            elif a == "--inject":
                o["inject"] = _json(a, v)
            elif a == "--cal":
                o["cal"] = _json(a, v)
            elif a == "--calibrate":
                o["calibrate"] = _json(a, v)
            elif a == "--harm-only":
                o["harmonics"] = True
                o["harm_only"] = [c.strip() for c in v.split(",")]
            elif a == "--harm-request":
                nm, _, t = v.partition("@")
                if not nm or not t:
                    raise InputError("--harm-request: %r is not CHANNEL@SECONDS (e.g. O3-I@1.5)" % v)
                o["harm_request"] = (nm, _num(a, t, 0))
            elif a == "--absent":
                o["absent"] = [c.strip() for c in v.split(",")]
        elif a == "--dc":
            o["dc"] = True
        elif a == "--harmonics":
            o["harmonics"] = True
        elif a == "--selfcheck":
            o["selfcheck"] = True
        elif a == "--compact":
            o["compact"] = True
        elif a == "--energy":
            pass
        elif a.startswith("-"):
            raise InputError("unknown option %s (options: %s)" % (a, " ".join(sorted(_FLAGS + _VALUED))))
        elif o["fixture"] is not None:
            raise InputError("one fixture only: %s and %s" % (o["fixture"], a))
        else:
            o["fixture"] = a
        i += 1
    if o["fixture"] is None:
        raise InputError("no fixture: usage: meter_run FIXTURE.cfg [options]")
    return o


def check_fixture(desc, path):
    """Refuse an unusable fixture before anything runs (naming the file and the
    problem); returns (cfg path, fixture channel ids the board lacks)."""
    from sim.comtrade import ComtradeSource
    low = path.lower()
    if low.endswith(".dat"):
        raise InputError("%s: this is the data file; give the fixture's .cfg (%s.cfg)" % (path, path[:-4]))
    try:
        open(path).close()
    except OSError:
        if not low.endswith(".cfg"):
            try:
                open(path + ".cfg").close()
                path = path + ".cfg"
            except OSError:
                pass
    try:
        src = ComtradeSource(desc, path)
    except OSError as e:
        no = e.args[0] if e.args else 0
        raise InputError("%s: %s" % (path, "no such file" if no == 2 else "cannot read (errno %s)" % no))
    except ValueError as e:
        raise InputError("%s: %s" % (path, e))
    try:
        src.check_data()
    except ValueError as e:
        raise InputError("%s: %s" % (path, e))
    finally:
        src.close()
    return path, src.ignored


def cal_coeffs(desc, spec, name):
    """--cal: a calibration set as tools.calibrate --out writes it ({"version", "coeffs",
    "crc", ...}) or a bare {"O1-I": [gain, offset, phase_deg], ...}; returns the
    set to load ({"coeffs": {..}, "version": v})."""
    if type(spec) is not dict:
        raise InputError("%s: a calibration set must be an object, got %s" % (name, type(spec).__name__))
    coeffs = spec.get("coeffs", spec) if "coeffs" in spec else spec
    if type(coeffs) is not dict:
        raise InputError("%s: coeffs: must be an object {channel: [gain, offset, phase_deg]}" % name)
    version = spec.get("version", 1) if "coeffs" in spec else 1
    if type(version) is not int or version < 0:
        raise InputError("%s: version: must be an integer >= 0, got %r" % (name, version))
    for ch, v in coeffs.items():
        if ch not in desc.CHANNELS:
            raise InputError("%s: coeffs: %s is not a channel of board %s" % (name, ch, desc.NAME))
        ok = type(v) is list and len(v) == 3 and all(type(x) in (int, float) and x == x and
                                                      x not in (float("inf"), float("-inf")) for x in v)
        if not ok or not v[0] > 0:
            raise InputError("%s: coeffs: %s: must be [gain > 0, offset (codes), phase_deg], got %s"
                             % (name, ch, json.dumps(v)))
    out = dict((k, tuple(float(x) for x in v)) for k, v in coeffs.items())
    if "coeffs" in spec and "crc" in spec:
        from metrology.calibration import canonical, crc16
        crc = crc16(canonical(out))
        if spec["crc"] != crc:
            raise InputError("%s: crc %r does not match its coefficients (%d): edited or damaged? "
                             "(delete \"crc\" to use it anyway)" % (name, spec["crc"], crc))
    return {"coeffs": out, "version": version}


def analog_chips(desc):
    return sorted(c for c, (part, _) in desc.CHIPS.items() if part in _ANALOG)


def check_inject(desc, spec, name, absent=()):
    """--inject: {chip: {gain|phase|offset|noise: {channel: value}}} against the board's analog chips."""
    if type(spec) is not dict:
        raise InputError("%s: must be an object {chip: {kind: {channel: value}}}" % name)
    chips = analog_chips(desc)
    for chip, errs in spec.items():
        if chip not in chips:
            raise InputError("%s: %s is not an analog chip of board %s (%s)" % (name, chip, desc.NAME,
                                                                          ", ".join(chips)))
        if chip in absent:
            raise InputError("%s: %s is --absent" % (name, chip))
        if type(errs) is not dict:
            raise InputError("%s: %s: must be an object {kind: {channel: value}}" % (name, chip))
        nch = _ANALOG[desc.CHIPS[chip][0]]
        for kind, per in errs.items():
            if kind not in ("gain", "phase", "offset", "noise"):
                raise InputError("%s: %s.%s: unknown error kind (gain, phase, offset, noise)" % (name, chip, kind))
            if type(per) is not dict:
                raise InputError("%s: %s.%s: must be an object {channel: value}" % (name, chip, kind))
            for ch, v in per.items():
                if not (ch.isdigit() and int(ch) < nch):
                    raise InputError("%s: %s.%s: channel %r: must be \"0\"..\"%d\"" % (name, chip, kind, ch, nch - 1))
                if type(v) not in (int, float):
                    raise InputError("%s: %s.%s.%s: must be a number, got %s" % (name, chip, kind, ch, json.dumps(v)))


def inject(board, spec, name="--inject"):
    check_inject(board.desc, spec, name)
    for chip, errs in spec.items():
        tw = board.twins[chip]
        for kind, per in errs.items():
            for ch, v in per.items():
                where = "%s: %s.%s.%s" % (name, chip, kind, ch)
                ch = int(ch)
                try:
                    if kind == "gain":
                        tw.set_gain_error(ch, v)
                    elif kind == "phase":
                        tw.set_phase_error(ch, v)
                    elif kind == "offset":
                        tw.set_offset(ch, int(v))
                    else:
                        tw.set_noise(ch, v)
                except ValueError as e:
                    raise InputError("%s: %s" % (where, e))


def check_calibrate(desc, spec, name):
    """--calibrate: {"reference": {channel: V | [A, lag_deg]}, "windows": N, "fixture": id, "calstore": bool}."""
    if type(spec) is not dict:
        raise InputError("%s: must be an object {\"reference\": {...}, ...}" % name)
    for k in spec:
        if k not in ("reference", "windows", "fixture", "calstore"):
            raise InputError("%s: %s: unknown key (reference, windows, fixture, calstore)" % (name, k))
    ref = spec.get("reference")
    if type(ref) is not dict or not ref:
        raise InputError("%s: reference: must be a non-empty object {channel: V | [A, lag_deg]}" % name)
    for ch, v in ref.items():
        if ch == "_zero":
            if type(v) is not int or v < 0:
                raise InputError("%s: reference: _zero: must be an integer >= 0 (windows)" % name)
            continue
        if ch not in desc.CHANNELS:
            raise InputError("%s: reference: %s is not a channel of board %s" % (name, ch, desc.NAME))
        num = type(v) in (int, float)
        pair = type(v) is list and len(v) == 2 and all(type(x) in (int, float) for x in v)
        if not (num or pair):
            raise InputError("%s: reference: %s: must be a number (V, or DC A) or [A rms, lag_deg], got %s"
                             % (name, ch, json.dumps(v)))
        if (v if num else v[0]) == 0:
            raise InputError("%s: reference: %s: the reference level must not be 0" % (name, ch))
    w = spec.get("windows", 10)
    if type(w) is not int or not 1 <= w <= 1000:
        raise InputError("%s: windows: must be an integer 1..1000, got %s" % (name, json.dumps(w)))
    fx = spec.get("fixture", "sim")
    if type(fx) is not str or len(fx.encode()) > 16:
        raise InputError("%s: fixture: must be a string of at most 16 bytes (stored in FRAM)" % name)


def check_outputs(m, o):
    """Output channel names (--channels) and harmonic channels (--harm-only, --harm-request)."""
    snap = m.snapshot
    if o["channels"]:
        for c in o["channels"]:
            if c not in snap.index:
                raise InputError("--channels: %r is not an output channel (%s)" % (c, ",".join(snap.channels)))
    if o["harmonics"] and m.harmonics is not None:
        names = m.harmonics.names()
        for c in (o["harm_only"] or []):
            if c not in names:
                raise InputError("--harm-only: %r is not an analysable channel (%s)" % (c, ",".join(names)))
        if o["harm_request"] is not None:
            ok = o["harm_only"] or names
            if o["harm_request"][0] not in ok:
                raise InputError("--harm-request: %r is not an analysed channel (%s)"
                                 % (o["harm_request"][0], ",".join(ok)))
    elif o["harm_request"] is not None:
        raise InputError("--harm-request needs --harmonics or --harm-only")


def main(argv):
    # everything the user gave is checked before anything runs: one line on
    # stderr and exit status 2 otherwise (sim/jsonfile.fail)
    try:
        o = _opts(argv)
        from sim.scenario import board_desc
        desc = board_desc(o["board"], "--board")
        o["fixture"], ignored = check_fixture(desc, o["fixture"])
        for c in o["absent"]:
            if c not in analog_chips(desc):
                raise InputError("--absent: %r is not an analog chip of board %s (%s)"
                                 % (c, desc.NAME, ",".join(analog_chips(desc))))
        if o["inject"] is not None:
            check_inject(desc, o["inject"], o["names"]["--inject"], o["absent"])
        if o["cal"] is not None:
            o["cal"] = cal_coeffs(desc, o["cal"], o["names"]["--cal"])
        if o["calibrate"] is not None:
            check_calibrate(desc, o["calibrate"], o["names"]["--calibrate"])
    except InputError as e:
        fail(str(e))
    from sim.pdu import sim_pdu
    from core.energy import Energy
    from metrology.meter import Metrology
    kw = {}
    if o["absent"]:
        # chips not fitted: the twin is there but does not answer (MISO floats),
        # so the driver's bring-up fails with AbsentError and boot leaves it out
        from sim.twin_ads131m04 import Ads131m04Twin
        from sim.twin_ade9000 import Ade9000Twin

        def absent(cls):
            def make(*a, **k):
                t = cls(*a, **k)
                t.present = False
                return t
            return make
        kw["twin_overrides"] = dict((c, absent(Ade9000Twin if c == "ade" else Ads131m04Twin))
                                    for c in o["absent"])
    pdu = sim_pdu(o["board"], virtual=True, power_on="none", fixture=o["fixture"], **kw)
    board = pdu.board
    src = board.plant
    if o["inject"]:
        try:
            inject(board, o["inject"], o["names"]["--inject"])
        except InputError as e:
            fail(str(e))
    m = Metrology(board.desc, clock=pdu.clock, dc=o["dc"], f_nom=o["f_nom"], harmonics=o["harmonics"])
    m.attach(pdu.acq)
    m.energy = Energy(None, m.energy_channels)
    if o["cal"]:
        m.load_calibration(o["cal"])
    try:
        check_outputs(m, o)
    except InputError as e:
        fail(str(e))
    snap = m.snapshot
    clock = pdu.clock
    fs = board.desc.SAMPLE_RATE
    dur = o["duration"]
    if dur is None:
        dur = src.samples / fs
    chans = o["channels"]
    kinds = o["kind"]
    t_from = o["from"]
    compact = o["compact"]
    cal = None
    if o["calibrate"]:
        from metrology.calibration import Calibrator
        c = o["calibrate"]
        cs = None
        if c.get("calstore"):
            # the production store on a RAM-backed FRAM image: version, timestamp,
            # fixture id, CRC and the previous set
            from core.calstore import CalStore
            cs = CalStore(None, clock=pdu.clock, events=pdu.events)
            cs.load()
        try:
            cal = Calibrator(m, c["reference"], fixture=c.get("fixture", "sim"), windows=c.get("windows", 10),
                             dc=o["dc"], calstore=cs)
        except ValueError as e:     # a referenced channel this run does not measure (an --absent chip)
            fail("%s: %s" % (o["names"]["--calibrate"], e))
        cal.start()
    sc = None
    if o["selfcheck"] and pdu.ade is not None:
        from metrology.selfcheck import SelfCheck
        sc = SelfCheck(m, pdu.ade)

    def out(frame):
        t = clock.now_us() / 1e6
        if t < t_from:
            return
        if kinds != "all" and frame.kind != kinds:
            return
        if cal is not None and not cal.done:
            return
        d = snap.to_dict(frame, chans)
        if compact:
            for ch in d:
                dd = d[ch]
                for q in dd:
                    if q != "flags":
                        dd[q] = dd[q][0]
        print(json.dumps({"kind": frame.kind, "seq": frame.seq, "t_s": t, "len_ms": frame.len_ms,
                          "cycles": frame.cycles, "utc_ms": frame.utc_ms, "time_valid": frame.time_valid,
                          "values": d}))

    def selfcheck(frame):
        if frame.kind == "sec":
            r = sc.check()
            if r is not None:
                print(json.dumps({"selfcheck": r, "t_s": clock.now_us() / 1e6}))

    snap.listeners.append(out)
    if sc is not None:
        snap.listeners.append(selfcheck)
    if o["harmonics"] and m.harmonics is not None:
        def hout(res):
            if clock.now_us() / 1e6 >= t_from:
                print(json.dumps({"harmonics": res, "t_s": clock.now_us() / 1e6}))
        m.harmonics.listeners.append(hout)
        m.harmonics.every = 1              # tests and tools: every window
        if o["harm_only"]:
            m.harmonics.restrict(o["harm_only"])
    # everything checked: say what the fixture holds that the board lacks, then run
    if ignored:
        warn("%s: fixture channel%s %s: not %s of board %s, ignored (channel names: docs/fixtures.md)"
             % (o["fixture"], "s" if len(ignored) > 1 else "", ", ".join(ignored),
                "channels" if len(ignored) > 1 else "a channel", desc.NAME))
    pdu.acq.start()
    end_us = int(dur * 1000000)
    reported = False
    hreq = o["harm_request"]
    while clock.now_us() < end_us:
        clock.advance_us(10000)
        try:
            pdu.acq.poll()
        except ValueError as e:
            if not str(e).startswith("comtrade"):
                raise
            # a damaged .dat found during playback (check_fixture looked at its size and first record)
            fail("%s: %s" % (o["fixture"], e))
        if hreq is not None and clock.now_us() >= hreq[1] * 1e6 and m.harmonics is not None:
            print(json.dumps({"harm_request": hreq[0], "accepted": m.harmonics.request(hreq[0]),
                              "t_s": clock.now_us() / 1e6}))
            hreq = None
        if cal is not None and cal.done and not reported:
            reported = True
            rep = cal.report()
            if cal.calstore is not None:
                cur = cal.calstore.current
                rep["calstore"] = {"version": cur["version"], "utc_ms": cur["utc_ms"],
                                   "fixture": cur["fixture"],
                                   "coeffs": dict((k, list(v)) for k, v in cur["coeffs"].items())}
            print(json.dumps({"calibration": rep, "t_s": clock.now_us() / 1e6}))
    en = {}
    for nm in m.energy_channels:
        en[nm] = [m.energy.get(nm, k) / 3600000.0 for k in range(4)]
    span = {}
    for u in m.units:
        span[u.name] = u.s_total / fs
    cyc = {}
    for ch in m.cycle_map():
        cyc[ch] = m.cycle_irms(ch)
    print(json.dumps({"end": {"t_s": clock.now_us() / 1e6, "overruns": pdu.acq.overruns(),
                              "windows": m.win_seq, "seconds": m.sec_seq, "energy_wh": en,
                              "energy_span_s": span, "cycle_irms": cyc}}))


main(sys.argv[1:])

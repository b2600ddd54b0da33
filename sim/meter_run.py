# MicroPython side of `python -m tools.meter`: play a COMTRADE fixture through
# the sim24 twins, the production drivers and the metrology in virtual time;
# print one JSON object per published window and second.
#
#   micropython -m sim.meter_run FIXTURE.cfg [options]
#     --board NAME        board (default sim24)
#     --dc                DC mode (fixed 20 ms blocks: -48/54 V, 380 V)
#     --f-nom HZ          nominal frequency (50/60) overriding the board's
#     --kind win|sec|all  frames to print (default all)
#     --channels A,B      only these output channels
#     --from S            skip frames published before S seconds of signal
#     --duration S        stop after S seconds (default: the fixture's length)
#     (JSON arguments: inline, or @FILE)
#     --inject JSON       twin errors {"adc1": {"gain": {"1": 0.05}, "phase": {"1": 2.0},
#                         "offset": {"0": 300}, "noise": {..}}, "ade": {...}}
#     --cal JSON          calibration coefficients {"O1-I": [gain, offset, phase_deg], ...}
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
import sys
import json


def _json(s):
    # "@path": read the JSON from a file (the unix port fails on arguments
    # longer than ~256 characters)
    if s.startswith("@"):
        with open(s[1:]) as f:
            s = f.read()
    return json.loads(s)


def _opts(argv):
    o = {"board": "sim24", "dc": False, "f_nom": None, "kind": "all", "channels": None, "from": 0.0,
         "duration": None, "inject": None, "cal": None, "calibrate": None, "harmonics": False,
         "selfcheck": False, "compact": False, "fixture": None, "harm_only": None, "harm_request": None,
         "absent": []}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--board":
            i += 1
            o["board"] = argv[i]
        elif a == "--dc":
            o["dc"] = True
        elif a == "--f-nom":
            i += 1
            o["f_nom"] = float(argv[i])
        elif a == "--kind":
            i += 1
            o["kind"] = argv[i]
        elif a == "--channels":
            i += 1
            o["channels"] = argv[i].split(",")
        elif a == "--from":
            i += 1
            o["from"] = float(argv[i])
        elif a == "--duration":
            i += 1
            o["duration"] = float(argv[i])
        elif a == "--inject":
            i += 1
            o["inject"] = _json(argv[i])
        elif a == "--cal":
            i += 1
            o["cal"] = _json(argv[i])
        elif a == "--calibrate":
            i += 1
            o["calibrate"] = _json(argv[i])
        elif a == "--harmonics":
            o["harmonics"] = True
        elif a == "--harm-only":
            i += 1
            o["harmonics"] = True
            o["harm_only"] = argv[i].split(",")
        elif a == "--harm-request":
            i += 1
            nm, t = argv[i].split("@")
            o["harm_request"] = (nm, float(t))
        elif a == "--absent":
            i += 1
            o["absent"] = argv[i].split(",")
        elif a == "--selfcheck":
            o["selfcheck"] = True
        elif a == "--compact":
            o["compact"] = True
        elif a == "--energy":
            pass
        elif a.startswith("--"):
            raise SystemExit("meter_run: unknown option " + a)
        else:
            o["fixture"] = a
        i += 1
    if o["fixture"] is None:
        raise SystemExit("usage: meter_run FIXTURE.cfg [options]")
    return o


def inject(board, spec):
    for chip, errs in spec.items():
        tw = board.twins[chip]
        for kind, per in errs.items():
            for ch, v in per.items():
                ch = int(ch)
                if kind == "gain":
                    tw.set_gain_error(ch, v)
                elif kind == "phase":
                    tw.set_phase_error(ch, v)
                elif kind == "offset":
                    tw.set_offset(ch, int(v))
                elif kind == "noise":
                    tw.set_noise(ch, v)
                else:
                    raise SystemExit("meter_run: unknown error kind " + kind)


def main(argv):
    o = _opts(argv)
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
        inject(board, o["inject"])
    m = Metrology(board.desc, clock=pdu.clock, dc=o["dc"], f_nom=o["f_nom"], harmonics=o["harmonics"])
    m.attach(pdu.acq)
    m.energy = Energy(None, m.energy_channels)
    if o["cal"]:
        m.load_calibration({"coeffs": dict((k, tuple(v)) for k, v in o["cal"].items()), "version": 1})
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
        cal = Calibrator(m, c["reference"], fixture=c.get("fixture", "sim"), windows=c.get("windows", 10),
                         dc=o["dc"], calstore=cs)
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
    pdu.acq.start()
    end_us = int(dur * 1000000)
    reported = False
    hreq = o["harm_request"]
    while clock.now_us() < end_us:
        clock.advance_us(10000)
        pdu.acq.poll()
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

# Drive sim.plant.Plant from a JSON spec and dump samples for the CPython tests.
#
# usage: micropython tests/mp/plant_run.py SPEC.json OUT.bin
# spec: {"seed": 1, "samples": N, "block": 80, "channels": [...],
#        "calls": [[method, [args], {kwargs}], ...]       before generating
#        "scenario": {...}                                 Plant.load_scenario
#        "switches": {"3": {"type": "relay"|"relay_noweld"|"triac", "on": bool}},
#        "switch_events": [[sample, outlet, "contacts"|"gate", value], ...]
#                         applied before the block starting at `sample`
#        "stats_at": [sample, ...]      print cycle_stats() after the block ending there
#        "cycles": [[k, {...calls}], ...] after sampling: step_cycles(k), printed}
# OUT.bin: int32 little-endian, block-major: for each block, each channel's samples.
# stdout: JSON lines ({"stats": ...}, {"energised": ...}, {"done": ...}).
import sys
import json
import boardconfig.sim24 as desc
from sim.plant import Plant


class Relay:
    def __init__(self, on):
        self._c = bool(on)
        self.welded = False

    @property
    def contacts(self):
        return self._c or self.welded

    @contacts.setter
    def contacts(self, v):
        self._c = bool(v)

    def weld(self):
        self.welded = True

    def release(self):
        self.welded = False


class RelayNoWeld:
    def __init__(self, on):
        self.contacts = bool(on)


class Triac:
    def __init__(self, on):
        self.gate = bool(on)
        self.energised = False

    def fail_short(self):
        self.gate = True


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    out = open(sys.argv[2], "wb")
    p = Plant(desc, seed=spec.get("seed", 1))
    sws = {}
    for k, s in spec.get("switches", {}).items():
        t = s["type"]
        sws[int(k)] = Relay(s["on"]) if t == "relay" else (RelayNoWeld(s["on"]) if t == "relay_noweld"
                                                           else Triac(s["on"]))
    if sws:
        p.switches = sws
    for c in spec.get("calls", []):
        getattr(p, c[0])(*(c[1] if len(c) > 1 else []), **(c[2] if len(c) > 2 else {}))
    if "scenario" in spec:
        p.load_scenario(spec["scenario"])
    chans = spec.get("channels") or list(desc.CHANNELS)
    blk = spec.get("block", 80)
    total = spec.get("samples", 0)
    sev = sorted(spec.get("switch_events", []))
    stats_at = spec.get("stats_at", [])
    energ = {}
    for k, s in sws.items():
        if hasattr(s, "gate"):
            energ[k] = []
    done = 0
    while done < total:
        while sev and sev[0][0] <= done:
            e = sev.pop(0)
            setattr(sws[e[1]], e[2], e[3])
        n = blk if total - done >= blk else total - done
        b = p.generate(n)
        for c in chans:
            out.write(memoryview(b[c])[:n])
        done += n
        for k, lst in energ.items():
            e = sws[k].energised
            if not lst or lst[-1][1] != e:
                lst.append([done, e])
        if done in stats_at:
            st = p.cycle_stats()
            print(json.dumps({"stats": st.to_dict() if st else None, "at": done}))
    out.close()
    for c in spec.get("cycles", []):
        for call in c[1] if len(c) > 1 else []:
            getattr(p, call[0])(*(call[1] if len(call) > 1 else []), **(call[2] if len(call) > 2 else {}))
        st = p.step_cycles(c[0])
        last = p.cycle_stats()
        print(json.dumps({"cycles": st.to_dict(), "last": last.to_dict(), "n": p.n,
                          "air": [p.air("inlet"), p.air("exhaust")],
                          "ntc": dict((k, p.ntc_temp(k)) for k in desc.NTCS)}))
    print(json.dumps({"energised": energ}))
    print(json.dumps({"done": done, "n": p.n, "channels": chans,
                      "freq": p.frequency(),
                      "air": [p.air("inlet"), p.air("exhaust")],
                      "ntc": dict((k, p.ntc_temp(k)) for k in desc.NTCS),
                      "ignored": p.ignored_events}))


main()

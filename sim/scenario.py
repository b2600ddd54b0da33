# Run a scenario (JSON) on a simulated board in virtual time and print the
# firmware's event log as JSON lines. Used by `python -m tools.scenario`.
#
# Scenario file:
#   {"board": "sim24", "seed": 1, "duration_s": 10,
#    "power_on": "all" | "none" | [outlet, ...],   (boot switch-on policy, staggered)
#    "stagger_ms": 250,
#    "loads": {"3": {"kind": "psu", "irms": 2.0}, ...},   (plugged in before boot)
#    "events": [{"t": 1.5, "do": "outlet_off", "outlet": 3},      firmware command
#               {"t": 2.0, "do": "plug", "outlet": 4, "load": {...}},   plant action
#               {"t": 3.0, "do": "weld", "outlet": 7}, ...]}
# "do" values outlet_on/outlet_off/outlet_cycle are operator commands to the
# firmware; every other action is handed to the plant (see docs/fixtures.md).
import sys
import json
import time

COMMANDS = ("outlet_on", "outlet_off", "outlet_cycle")


def validate(sc):
    if not isinstance(sc, dict):
        raise ValueError("scenario: top level must be an object")
    for k in ("duration_s",):
        if k in sc and not isinstance(sc[k], (int, float)):
            raise ValueError("scenario: %s must be a number" % k)
    evs = sc.get("events", [])
    if not isinstance(evs, list):
        raise ValueError("scenario: events must be a list")
    for i, e in enumerate(evs):
        if not isinstance(e, dict) or "t" not in e or "do" not in e:
            raise ValueError("scenario: events[%d] needs 't' and 'do'" % i)
        if not isinstance(e["t"], (int, float)) or e["t"] < 0:
            raise ValueError("scenario: events[%d].t must be a number >= 0" % i)


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


def run(sc, out=None):
    from sim.pdu import sim_pdu
    validate(sc)
    out = out or (lambda ev: print(json.dumps(ev)))
    pdu = sim_pdu(sc.get("board", "sim24"), virtual=True, seed=int(sc.get("seed", 1)),
              power_on=sc.get("power_on", "all"), stagger_ms=int(sc.get("stagger_ms", 250)))
    pdu.extra_tasks.append(apply(pdu, sc))
    pdu.run(float(sc.get("duration_s", 10)))
    evs, _ = pdu.events.since(0, 100000)
    for ev in evs:
        out(ev)
    return pdu


def main(argv):
    if not argv:
        raise SystemExit("usage: sim.scenario FILE.json")
    with open(argv[0]) as f:
        sc = json.load(f)
    pdu = run(sc)
    sys.stderr.write("# %s\n" % pdu.status_line())


if __name__ == "__main__":
    main(sys.argv[1:])

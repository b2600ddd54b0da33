# Protection scenarios in virtual time on sim24 (metrology + protection
# attached by tests/mp/prot_rig.py). Usage: prot_scenarios.py NAME [NAME...]
# Prints one JSON object per scenario: its events (t_ms, event, channel,
# action, values, plant sample) and whatever else the test checks.
import sys
import json
import asyncio
from tests.mp.prot_rig import Rig, run

PSU = {"kind": "psu", "irms": 2.0}


def evlist(rig, skip=("boot", "config_changed", "oc_pickup")):
    out = []
    for e in rig.evs:
        if e["event"] in skip:
            continue
        out.append([e["ticks_ms"], e["event"], e["channel"], e["action"], e["values"], e["plant_n"]])
    return out


def all_events(rig):
    return [[e["ticks_ms"], e["event"], e["channel"], e["action"], e["values"], e["plant_n"]] for e in rig.evs]


def emit(name, rig, **kw):
    kw["name"] = name
    kw["events"] = evlist(rig)
    kw["overruns"] = rig.pdu.acq.overruns()
    kw["prot_errors"] = [rig.prot.errors, rig.prot.last_error]
    print(json.dumps(kw))


# 1. PSU inrush at worst-case closing (voltage peak): logged, not tripped
async def inrush_psu(r):
    await r.until(0.5)
    r.cmd(1, True)
    await r.until(1.0)
    emit("inrush_psu", r, fb=r.pdu.switches[1].feedback(), state=r.prot.outlet_state[1].state)


# 2. the same load with zero-cross timed closing (the default): contacts close
#    at a voltage zero, much less inrush
async def inrush_zc(r):
    await r.until(0.5)
    r.cmd(1, True)
    await r.until(1.0)
    tw = r.pdu.board.switch_twins[1]
    emit("inrush_zc", r, contacts_at=tw.contacts_since, fb=r.pdu.switches[1].feedback())


# 3. sustained 2x overload: inverse-time trip on the curve
async def overload_2x(r):
    await r.until(0.2)
    r.cmd(5, True)
    await r.until(1.0)
    r.plant.fault(5, "overload", factor=4.0)     # 8 A -> 32 A = 2 x 16 A
    await r.until(12.5)
    emit("overload_2x", r, all=all_events(r), state=r.prot.outlet_state[5].state, onset=r.plant.n and 8000,
         fb=r.pdu.switches[5].feedback())


# 4+5. short circuit: tripped within one cycle, latched; switch-on refused
#      until an audited reset
async def short_latch(r):
    for n in (1, 4):
        r.cmd(n, True)
        await r.until(0.2 if n == 1 else 0.4)
    r.plant.schedule(1.0037, "fault", 4, "short", ipk=300.0)
    await r.until(1.5)
    st1 = r.prot.outlet_state[4].state
    r.cmd(4, True, "bob")
    await r.until(1.7)
    r.plant.clear_fault(4)
    await r.until(2.0)
    ok = r.prot.reset(4, "alice", "fault cleared")
    await r.until(2.5)
    r.cmd(4, True, "bob")
    await r.until(3.0)
    aud, _ = r.pdu.audit.since(0, 100)
    emit("short_latch", r, onset=int(1.0037 * 8000 + 0.5), state_after_trip=st1, reset_ok=ok,
         audit=[[a["who"], a["what"], a["result"]] for a in aud if a["what"].startswith("reset")],
         commands=[[a["who"], a["what"], a["result"]] for a in aud if a["what"].startswith("outlet")],
         fb=r.pdu.switches[4].feedback(),
         fb1=r.pdu.switches[1].feedback(), state=r.prot.outlet_state[4].state)


# 6. 24 outlets powered up with the inrush budget (worst-case closing angle)
async def stagger(r, name="stagger"):
    await r.until(0.3)
    mx = [0]
    prot = r.prot

    def watch(acq):
        e = prot.energising()
        if e > mx[0]:
            mx[0] = e
    r.pdu.acq.consumers.append(watch)
    t = asyncio.create_task(r.pdu.outlets.power_on_sequence(list(range(1, 25)), 0, "test"))
    await r.until(4.0)
    emit(name, r, peak_a=[p / 1e6 for p in r.peak], max_energising=mx[0],
         on=r.pdu.outlets.count_on(), budget=r.settings["seq_max_concurrent"])


async def unstaggered(r):
    await stagger(r, "unstaggered")


# 7. branch overload: shed by priority, then LIMIT refuses a switch-on
async def shedding(r):
    t = asyncio.create_task(r.pdu.outlets.power_on_sequence([1, 2, 3, 4], 0, "test"))
    await r.until(12.0)
    r.cmd(3, True, "carol")
    await r.until(12.5)
    emit("shedding", r, states={n: r.prot.outlet_state[n].state for n in (1, 2, 3, 4)},
         fb={n: r.pdu.switches[n].feedback() for n in (1, 2, 3, 4)})


# 8. welded relay detected after the open command, locked out, reset refused
async def weld(r):
    r.cmd(7, True)
    await r.until(1.0)
    r.plant.weld(7)
    await r.until(1.5)
    t_off = r.clock.ticks_ms()
    r.cmd(7, False)
    await r.until(2.0)
    ok = r.prot.reset(7, "alice")
    await r.until(2.2)
    aud, _ = r.pdu.audit.since(0, 100)
    emit("weld", r, t_off=t_off, state=r.prot.outlet_state[7].state, reset_ok=ok,
         audit=[[a["who"], a["what"], a["result"]] for a in aud if a["what"].startswith("reset")],
         commands=[[a["who"], a["what"], a["result"]] for a in aud if a["what"].startswith("outlet")])


# 9. SSR outlet: hot air, derated, then timed out on the derated pickup
async def ssr_derate(r):
    r.cmd(21, True)
    await r.until(1.0)
    r.plant.set_ambient(80.0)
    ntc = []
    while r.t() < 12.0:
        await r.until(r.t() + 1.0)
        ntc.append([r.clock.ticks_ms(), r.plant.ntc_temp("ntc4")])
    emit("ssr_derate", r, ntc=ntc, state=r.prot.outlet_state[21].state, fb=r.pdu.switches[21].feedback())


# 10. residual current: a short excursion (switching edge) is ignored
async def rcm_transient(r):
    for n in (10, 11):
        r.cmd(n, True)
        await r.until(0.3 if n == 10 else 0.6)
    r.plant.schedule(1.0, "fault", 11, "leak", ma=100.0)
    r.plant.schedule(1.05, "clear_fault", 11, "leak")
    await r.until(2.0)
    emit("rcm_transient", r, fb={n: r.pdu.switches[n].feedback() for n in (10, 11)})


# 11. residual current: sustained leakage is alarmed, isolated (the right
#     outlet) and latched
async def rcm_leak(r):
    for n, t in ((1, 0.2), (10, 0.4), (11, 0.6), (19, 0.8)):
        r.cmd(n, True)
        await r.until(t)
    r.plant.schedule(1.0, "fault", 11, "leak", ma=50.0)
    await r.until(2.0)
    r.cmd(11, True, "dave")
    await r.until(2.3)
    emit("rcm_leak", r, fb={n: r.pdu.switches[n].feedback() for n in (1, 10, 11, 19)},
         state=r.prot.outlet_state[11].state)


# 12. retry storm: a client hammering switch-on after trips is held off by
#     the cooldown (growing), then a lockout
async def storm(r):
    r.cmd(8, True)
    await r.until(0.5)
    r.plant.fault(8, "overload", factor=8.0)     # 40 A
    attempts = 0
    while r.t() < 12.0:
        await r.until(r.t() + 0.05)
        r.cmd(8, True, "client")
        attempts += 1
    await r.until(12.5)
    emit("storm", r, attempts=attempts, state=r.prot.outlet_state[8].state,
         actuations=r.pdu.switches[8].actuations, pending_suppressed=r.prot.outlet_state[8].suppressed)


# 13. automatic re-close after the cooldown, limited by retry_max
async def autoretry(r):
    r.cmd(9, True)
    await r.until(0.5)
    r.plant.fault(9, "overload", factor=8.0)
    await r.until(9.0)
    emit("autoretry", r, state=r.prot.outlet_state[9].state)


# 14. selectivity: a short behind an outlet trips only that outlet; with its
#     relay welded the branch acts next, then the inlet phase
async def selectivity(r):
    for n, t in ((2, 0.2), (4, 0.4), (5, 0.6), (7, 0.8)):
        r.cmd(n, True)
        await r.until(t)
    r.plant.schedule(1.0021, "fault", 4, "short", ipk=300.0)
    await r.until(1.5)
    r.plant.weld(5)
    r.plant.schedule(2.0013, "fault", 5, "short", ipk=300.0)
    await r.until(2.5)
    emit("selectivity", r, fb={n: r.pdu.switches[n].feedback() for n in (2, 4, 5, 7)},
         states={n: r.prot.outlet_state[n].state for n in (2, 4, 5, 7)})


# 15. failed switching: close failed (stuck open), open failed (welded, no
#     load), stuck-on SSR (triac shorted), unknown (feedback contradicts current)
async def failures(r):
    r.plant.stuck_open(12)
    r.cmd(12, True)
    await r.until(0.3)
    r.cmd(13, True)
    await r.until(0.6)
    r.plant.weld(13)
    r.cmd(13, False)
    await r.until(0.9)
    r.cmd(22, True)
    await r.until(1.2)
    r.pdu.board.switch_twins[22].fail_short()
    r.cmd(22, False)
    await r.until(1.5)
    # aux contact wire broken on outlet 14: feedback reads open whatever the contacts do
    tw = r.pdu.board.switch_twins[14]
    tw.feedback_pin.drive(0)
    tw.feedback_pin.drive = lambda v: None
    r.cmd(14, True)
    await r.until(2.0)
    emit("failures", r, states={n: r.prot.outlet_state[n].state for n in (12, 13, 14, 22)},
         causes={n: r.prot.outlet_state[n].cause for n in (12, 13, 14, 22)})


# 16. a sequence stops on an abnormal signature (a capacitor inrush still not
#     settled when its window ends: failed soft-start) and on a trip (closing
#     onto a short)
async def seq_abort(r):
    t = asyncio.create_task(r.pdu.outlets.power_on_sequence([1, 2, 3, 4, 5, 6], 0, "test"))
    await r.until(1.5)
    t = asyncio.create_task(r.pdu.outlets.power_on_sequence([7, 8, 9, 10, 11], 0, "test"))
    await r.until(3.0)
    emit("seq_abort", r, fb={n: r.pdu.switches[n].feedback() for n in range(1, 12)})


# 17. group operations: a branch on (sequenced) and off together, one outlet cycled
async def groups(r):
    await r.until(0.1)
    o = r.pdu.outlets
    asyncio.create_task(o.set_group("B2", True, "ops"))
    await r.until(1.0)
    asyncio.create_task(o.set_group("B2", False, "ops"))
    await r.until(1.5)
    asyncio.create_task(o.set(16, True, "ops"))
    await r.until(2.0)
    asyncio.create_task(o.cycle(16, 500, "ops"))
    await r.until(3.0)
    # per-outlet power-on delays from the configuration (outlets.N.power_on_delay_ms)
    t_seq = r.clock.ticks_ms()
    asyncio.create_task(o.power_on_sequence([20, 19], 0, "ops", delays=True))
    await r.until(4.5)
    emit("groups", r, fb={n: r.pdu.switches[n].feedback() for n in (7, 8, 9, 16, 19, 20)}, t_seq=t_seq,
         delays={n: r.settings.power_on_delay_ms(n) for n in (19, 20)})


# 18. a group's ADC stops delivering: reported, its outlet is verified by
#     feedback alone; reported again when it is back
async def stall(r):
    r.cmd(13, True)
    await r.until(1.0)
    tw = r.pdu.board.twins["adc5"]
    ring = [a for a in r.pdu.adcs if a.name == "adc5"][0].ring
    tw.detach_dma()
    await r.until(2.5)
    r.cmd(13, False)
    await r.until(3.0)
    tw.attach_dma(ring)
    await r.until(4.5)
    emit("stall", r, fb=r.pdu.switches[13].feedback(), stalled=r.pdu.acq.stalled[4])


SCEN = {
    "inrush_psu": (inrush_psu, dict(loads={1: PSU}, settings={"relay_close_angle_deg": 90})),
    "inrush_zc": (inrush_zc, dict(loads={1: PSU})),
    "overload_2x": (overload_2x, dict(loads={5: {"kind": "resistive", "irms": 8.0}})),
    "short_latch": (short_latch, dict(loads={1: PSU, 4: {"kind": "resistive", "irms": 3.0}})),
    "stagger": (stagger, dict(loads={n: PSU for n in range(1, 25)}, tap=True, metro=False,
                              settings={"relay_close_angle_deg": 90, "seq_max_concurrent": 2})),
    "unstaggered": (unstaggered, dict(loads={n: PSU for n in range(1, 25)}, tap=True, metro=False,
                                      settings={"relay_close_angle_deg": 90, "seq_max_concurrent": 24})),
    "shedding": (shedding, dict(loads={n: {"kind": "resistive", "irms": 6.0} for n in (1, 2, 3, 4)},
                                priorities={1: 9, 2: 5, 3: 0, 4: 2}, settings={"seq_max_concurrent": 4})),
    "weld": (weld, dict(loads={7: {"kind": "resistive", "irms": 4.0}})),
    "ssr_derate": (ssr_derate, dict(loads={21: {"kind": "resistive", "irms": 14.0}})),
    "rcm_transient": (rcm_transient, dict(loads={10: {"kind": "psu", "irms": 3.0},
                                                 11: {"kind": "resistive", "irms": 2.0}})),
    "rcm_leak": (rcm_leak, dict(loads={1: PSU, 10: {"kind": "psu", "irms": 3.0},
                                       11: {"kind": "resistive", "irms": 2.0}, 19: PSU})),
    "storm": (storm, dict(loads={8: {"kind": "resistive", "irms": 5.0}},
                          settings={"outlet_curve_k_s": 1.0, "branch_curve_k_s": 20.0, "retry_cooldown_s": 2,
                                    "retry_backoff": 2, "lockout_trips": 3, "retry_max": 0})),
    "autoretry": (autoretry, dict(loads={9: {"kind": "resistive", "irms": 5.0}},
                                  settings={"outlet_curve_k_s": 1.0, "branch_curve_k_s": 20.0,
                                            "retry_cooldown_s": 2, "retry_backoff": 1, "retry_max": 1,
                                            "lockout_trips": 5})),
    "selectivity": (selectivity, dict(loads={2: PSU, 4: {"kind": "resistive", "irms": 3.0},
                                             5: {"kind": "resistive", "irms": 3.0}, 7: PSU})),
    "failures": (failures, dict(loads={12: PSU, 14: PSU, 22: {"kind": "resistive", "irms": 3.0}})),
    "seq_abort": (seq_abort, dict(loads={1: PSU, 2: PSU, 3: {"kind": "psu", "irms": 2.0, "inrush_tau_ms": 60},
                                         4: PSU, 5: PSU, 6: PSU, 7: PSU, 8: PSU, 10: PSU, 11: PSU},
                                  faults={9: ("short", {"ipk": 300.0})})),
    "stall": (stall, dict(loads={13: PSU})),
    "groups": (groups, dict(loads={7: PSU, 8: PSU, 9: PSU, 16: PSU, 19: PSU, 20: PSU},
                            settings={"outlets.19.power_on_delay_ms": 300, "outlets.20.power_on_delay_ms": 700})),
}


def main(names):
    import gc
    for name in names:
        gc.collect()
        fn, kw = SCEN[name]
        run(fn, **kw)
        asyncio.new_event_loop()    # drops the finished run's tasks (and its whole rig)


main(sys.argv[1:])

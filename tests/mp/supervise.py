# Supervision cases on sim24 in virtual time (tests/test_supervision.py).
#   restart    one plant exception inside the acquisition path: alarm, restart,
#              protection resumes (a short after the restart trips within a cycle)
#   failsafe   the acquisition path fails again and again: fail-safe state,
#              switch-on refused, outlets held
#   metrology  an exception inside metrology is named as metrology's
#   starve     the acquisition task hangs without raising: the watchdog fires
#   fed        a healthy run feeds the watchdog and never trips it
#   wdt_boot   boot after a watchdog reset logs it
import asyncio
import json
import sys
from firmware.boot import drive_virtual_time
from sim.pdu import sim_pdu
from sim.hw import WatchdogReset

case = sys.argv[1]
pdu = sim_pdu("sim24", virtual=True, power_on="none", seed=5,
              reset_cause="watchdog" if case == "wdt_boot" else None)
plant = pdu.board.plant
evs = []


def _ev(ev):
    e = dict(ev)
    e["plant_n"] = plant.n
    evs.append(e)


pdu.events.listeners.append(_ev)
fail_at = {"n": 0, "times": 0, "left": 0}
gen = plant.generate


def failing(n):
    # the plant raises once per armed failure, when its sample count passes fail_at
    if fail_at["left"] and plant.n >= fail_at["n"]:
        fail_at["left"] -= 1
        fail_at["n"] = plant.n + 8000 // 20   # the next one 50 ms of samples later
        raise ValueError("injected plant fault")
    return gen(n)


plant.generate = failing


async def until(t_s):
    await drive_virtual_time(pdu.clock, int(t_s * 1000000))


def named(name, channel=None):
    return [e for e in evs if e["event"] == name and (channel is None or e["channel"] == channel)]


def brief(e):
    return {"event": e["event"], "channel": e["channel"], "severity": e["severity"], "action": e["action"],
            "values": e["values"], "plant_n": e["plant_n"]}


async def run_then_hang(clock):
    # polls for 1 s, then stuck without raising: nothing the supervisor sees
    while clock.now_us() < 1000000:
        pdu.acq.poll()
        await clock.sleep_ms(10)
    await asyncio.Event().wait()


if case == "starve":
    pdu.acq.run = run_then_hang


async def main():
    pdu.start()
    res = {"case": case}
    if case in ("restart", "failsafe"):
        plant.plug(4, {"kind": "resistive", "irms": 4.0})
        asyncio.create_task(pdu.outlets.set(4, True, "test"))
        await until(1.0)
        fail_at["n"] = plant.n + 100
        fail_at["left"] = 1 if case == "restart" else 10
        await until(2.0)
        res["polls_after"] = pdu.acq.polls
        if case == "restart":
            onset = int(2.5037 * 8000 + 0.5)
            plant.schedule(2.5037, "fault", 4, "short", ipk=300.0)
            await until(3.0)
            res["onset"] = onset
            res["trips"] = [brief(e) for e in named("oc_instant", "O4")]
        else:
            res["on_before"] = pdu.switches[4].feedback()
            fb = await pdu.outlets.set(7, True, "operator")
            res["switch_on_fb"] = fb
            await until(3.0)
            res["on_after"] = pdu.switches[4].feedback()
            res["refused"] = [brief(e) for e in named("command_refused", "O7")]
            aud, _ = pdu.audit.since(0, 100)
            res["audit"] = [[a["who"], a["what"], a["result"]] for a in aud]
            res["failsafe"] = pdu.supervisor.failsafe
            res["health_failsafe"] = pdu.health.failsafe
            res["status"] = pdu.status_line()
            res["polls_end"] = pdu.acq.polls
            await until(12.0)   # no watchdog reset in the stated fail-safe
        res["task_failed"] = [brief(e) for e in named("task_failed")]
        res["failsafe_events"] = [brief(e) for e in named("failsafe")]
        res["polls"] = pdu.acq.polls
    elif case == "metrology":
        def broken(acq):
            raise ZeroDivisionError("injected")
        pdu.acq.consumers[0] = broken
        await until(0.5)
        res["task_failed"] = [brief(e) for e in named("task_failed")][:1]
    elif case in ("starve", "fed"):
        try:
            await until(20.0)
            res["reset"] = None
        except WatchdogReset as e:
            res["reset"] = str(e)
        res["t_s"] = pdu.clock.now_us() / 1e6
        res["feeds"] = pdu.board.wdt.feeds
    elif case == "wdt_boot":
        logged, _ = pdu.events.since(0, 100)   # emitted at boot, before any listener
        res["events"] = [(e["event"], e["channel"], e["severity"], e["values"]) for e in logged
                         if e["event"] == "watchdog_reset"]
    res["overruns"] = pdu.acq.overruns()
    print(json.dumps(res))


try:
    asyncio.run(main())
except WatchdogReset as e:
    print(json.dumps({"case": case, "reset": str(e), "t_s": pdu.clock.now_us() / 1e6,
                      "feeds": pdu.board.wdt.feeds}))

# Test rig for protection scenarios: boots sim24 in virtual time with
# metrology and protection attached the way boot.py will (see docs/protection.md),
# captures every event, drives virtual time, taps the plant's true inlet peak.
import asyncio
import json
from firmware.boot import drive_virtual_time
from sim.pdu import sim_pdu


class Rig:
    def __init__(self, seed=1, settings=None, loads=None, priorities=None, tap=False, metro=True,
                 faults=None, virtual=True):
        vals = dict(settings or {})
        for n, p in (priorities or {}).items():
            vals["outlets.%d.priority" % n] = p
        # boot wires metrology and protection; the rig only sets the settings
        self.pdu = pdu = sim_pdu("sim24", virtual=virtual, power_on="none", seed=seed, prot_values=vals)
        self.clock = pdu.clock
        self.plant = pdu.board.plant
        self.evs = []
        pdu.events.listeners.append(self._ev)
        self.audit = pdu.audit
        self.settings = pdu.prot_settings
        self.metro = pdu.metro
        self.prot = pdu.protection
        for n, ld in (loads or {}).items():
            self.plant.plug(n, ld)
        for n, (kind, kw) in (faults or {}).items():
            self.plant.fault(n, kind, **kw)
        self.peak = [0, 0, 0]
        if tap:
            self._tap()
        self.started = False

    def _ev(self, ev):
        e = dict(ev)
        e["plant_n"] = self.plant.n                 # samples the plant had made at the decision
        e["board_us"] = self.pdu.board.now_us()     # the board's present (real time: wall clock)
        self.evs.append(e)

    def _tap(self):
        plant = self.plant
        gen = plant.generate
        pk = self.peak
        names = ("L1-I", "L2-I", "L3-I")

        def tapped(n):
            bufs = gen(n)
            for k in range(3):
                b = bufs[names[k]]
                m = pk[k]
                for i in range(n):
                    x = b[i]
                    if x > m:
                        m = x
                    elif -x > m:
                        m = -x
                pk[k] = m
            return bufs
        plant.generate = tapped

    def t(self):
        return self.clock.now_us() / 1e6

    async def until(self, t_s):
        if not self.started:
            self.pdu.start()
            self.started = True
        await drive_virtual_time(self.clock, int(t_s * 1000000))

    def cmd(self, n, on, who="test"):
        return asyncio.create_task(self.pdu.outlets.set(n, on, who))

    def named(self, codes_=None, since=0):
        out = []
        for e in self.evs[since:]:
            if e["event"] in ("boot",):
                continue
            out.append((e["event"], e["channel"]))
        return out

    def find(self, name, channel=None):
        return [e for e in self.evs if e["event"] == name and (channel is None or e["channel"] == channel)]

    def stop(self):
        for t in self.pdu.tasks:
            t.cancel()


def run(coro_fn, **kw):
    rig = Rig(**kw)

    async def main():
        r = await coro_fn(rig)
        rig.stop()
        return r
    return asyncio.run(main()), rig


def out(name, **kw):
    kw["name"] = name
    print(json.dumps(kw))

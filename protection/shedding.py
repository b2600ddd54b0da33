# Load shedding and LIMIT (branches and inlet phases).
#
#   SHED   a zone (branch or inlet phase) over its shed level: at once when
#          its inverse-time bucket crosses shed_bucket_pct (fast-path news),
#          or once its 1 s rms has stayed above branch_shed_pct /
#          inlet_shed_pct of the pickup for shed_delay_s (slow tick), then
#          again every shed_settle_s while it stays over. The victim is the
#          closed outlet with the lowest outlets.N.priority (0 first; ties:
#          highest outlet number first), skipping outlets whose own bucket is
#          filling (their own, faster element acts) and idle ones.
#   LIMIT  a switch-on is refused when the branch's present rms plus the
#          outlet's last known load (remembered when it was shed or switched
#          off) would exceed the branch's shed level.
import time
from core import codes
from protection.fastpath import E_ACC
from protection.logvalues import rounded
from protection.recovery import NORMAL, SHED


class ShedZone:
    """Shedding state of one branch or inlet phase."""

    def __init__(self, element):
        self.element = element    # overcurrent.ZoneElement: outlets, kind, 1 s rms
        self.over_s = 0           # seconds its 1 s rms has been above the shed level
        self.last_shed = None     # ticks_ms of its last shed


class Shedding:
    def __init__(self, eng, zones):
        self.eng = eng
        self.zones = {}           # name -> ShedZone (the overcurrent zones' order)
        for name, z in zones.items():
            self.zones[name] = ShedZone(z)
        self.last_load_a = {}     # outlet -> its load when it was last shed or switched off (LIMIT)

    def remember_load(self, n, amps):
        self.last_load_a[n] = amps

    def level_a(self, kind):
        """Shed level of a "branch" or "inlet" zone (A rms)."""
        s = self.eng.settings
        return s[kind + "_pickup_a"] * s[kind + "_shed_pct"] / 100.0

    def sustained(self, now):
        """Slow tick: shed where the 1 s rms stays over the shed level."""
        s = self.eng.settings
        inlet = self.eng.inlet_amps_per_code
        for name, sz in self.zones.items():
            el = sz.element
            if el.kind == "inlet" and not inlet:
                continue
            if el.i_rms > self.level_a(el.kind):
                sz.over_s += 1
            else:
                sz.over_s = 0
                continue
            if sz.over_s < s["shed_delay_s"]:
                continue
            if sz.last_shed is not None and time.ticks_diff(now, sz.last_shed) < s["shed_settle_s"] * 1000:
                continue
            self.shed(name, "sustained", el.i_rms, 0)

    def shed(self, name, why, irms, level):
        """Open the lowest-priority closed outlet under a zone. Returns it or None."""
        eng = self.eng
        sz = self.zones[name]
        s = eng.settings
        oc = eng.overcurrent
        blocks = eng.fastpath.blocks
        best = None
        best_prio = 0
        for n in sz.element.outlets:
            o = eng.outlet_state[n]
            if not eng.outlets.switches[n].commanded or o.state != NORMAL:
                continue
            el = oc.outlets[n]
            if blocks[el.word + E_ACC] > 0:
                continue      # its own element is timing it out: the outlet acts first
            if el.i_rms < s["flow_a"]:
                continue      # shedding an idle outlet relieves nothing
            prio = s.priority(n)
            if best is None or prio < best_prio or (prio == best_prio and n > best):
                best = n
                best_prio = prio
        if best is None:
            return None
        n = best
        o = eng.outlet_state[n]
        el = oc.outlets[n]
        self.last_load_a[n] = el.rms_now(blocks)
        eng.open_outlet(n, "shed", "shed")
        o.state = SHED
        o.cause = "shed %s" % name
        sz.last_shed = eng.clock.ticks_ms()
        eng.events.emit(codes.EV_SHED, codes.SEV_WARNING, "O%d" % n,
                        rounded({"peak": el.i_rms, "window_ms": sz.over_s * 1000, "value": irms,
                                 "limit": self.level_a(sz.element.kind), "element": name,
                                 "priority": s.priority(n),
                                 "why": why if why != "bucket" else "bucket %d%%" % level,
                                 "state": "shed"}), "shed")
        return n

    def limit(self, o):
        """LIMIT: the branch current a switch-on of o would bring, when it
        exceeds the branch's shed level; otherwise None."""
        z = self.zones.get(o.desc.get("branch"))
        last = self.last_load_a.get(o.n, 0.0)
        if z is None or last <= 0:
            return None
        ib = z.element.rms_now(self.eng.fastpath.blocks)
        if ib + last > self.level_a("branch"):
            return ib + last
        return None

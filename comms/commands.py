# The one command service every uplink commands the PDU through.
#
# A command is checked against the caller's role (comms/access.py), carried
# out by the layer that owns it (outlets and protection, the config store),
# audited with who, when, what, interface and peer address and the result, and
# answered with a clear result:
#   {"result": "done"}                       carried out (and verified, for switching)
#   {"result": "accepted", ...}              started; the rest follows on its own (cycle)
#   {"result": "refused", "reason": R, ...}  R in REASONS
# Switching is audited by the outlets themselves (protection/outlets.py); the
# caller's identity reaches the audit and event logs as who = "iface:user@peer".
from core.config import ConfigError

# refusal reasons (the uplinks map them onto their protocol's errors)
NOT_PERMITTED = "not permitted"
INVALID = "invalid"
LATCHED = "latched"
LOCKOUT = "lockout"
COOLDOWN = "cooldown"
LIMIT = "limit"
HELD = "failsafe"
FAILED = "failed"           # actuated, but the feedback does not show it
REASONS = (NOT_PERMITTED, INVALID, LATCHED, LOCKOUT, COOLDOWN, LIMIT, HELD, FAILED)

CYCLE_OFF_MS = 5000         # outlet/group cycle: off time before switching on again
GROUP_STAGGER_MS = 250

# actions of the role table (comms/access.py decides who may)
A_SWITCH = "switch"
A_RESET = "reset"
A_SETTINGS = "settings"


class Commands:
    def __init__(self, *, outlets, protection, config, audit, events, access, model, clock):
        self._outlets = outlets
        self._protection = protection
        self._config = config
        self._audit = audit
        self._events = events
        self._access = access
        self.model = model
        self.clock = clock
        self.running = {}          # outlet -> cycle task in progress

    @staticmethod
    def who(ident, iface, peer):
        host = peer.rsplit(":", 1)[0] if peer else "local"
        return "%s:%s@%s" % (iface, ident.user if ident is not None else "-", host)

    def _refused(self, ident, iface, peer, what, reason, **detail):
        self._audit.log("command", self.who(ident, iface, peer), what, "denied" if reason == NOT_PERMITTED
                        else "refused")
        d = {"result": "refused", "reason": reason}
        d.update(detail)
        return d

    # --- outlets ---------------------------------------------------------------------------
    async def outlet(self, ident, iface, peer, n, action):
        """action: "on", "off" or "cycle" for outlet n."""
        what = "outlet %s %s" % (n, action)
        if not self._access.permits(ident, A_SWITCH):
            return self._refused(ident, iface, peer, what, NOT_PERMITTED)
        if n not in self._outlets.switches or action not in ("on", "off", "cycle"):
            return self._refused(ident, iface, peer, what, INVALID)
        who = self.who(ident, iface, peer)
        if action == "cycle":
            return await self._cycle([n], who)
        seq0 = self._events.next_seq
        on = action == "on"
        fb = await self._outlets.set(n, on, who)
        return self._verdict(n, on, fb, seq0)

    async def group(self, ident, iface, peer, gid, action):
        """action: "on" (sequenced with the inrush budget), "off" or "cycle" for
        a group ("G1".., a branch "B1".., or "all")."""
        what = "group %s %s" % (gid, action)
        if not self._access.permits(ident, A_SWITCH):
            return self._refused(ident, iface, peer, what, NOT_PERMITTED)
        members = self.members(gid)
        if members is None or action not in ("on", "off", "cycle"):
            return self._refused(ident, iface, peer, what, INVALID)
        who = self.who(ident, iface, peer)
        if action == "cycle":
            return await self._cycle(members, who)
        seq0 = self._events.next_seq
        on = action == "on"
        await self._outlets.set_group(members, on, who, GROUP_STAGGER_MS)
        res = [self._verdict(n, on, self._outlets.switches[n].feedback(), seq0) for n in members]
        bad = [r for r in res if r["result"] != "done"]
        return {"result": "done" if not bad else "refused", "reason": bad[0]["reason"] if bad else None,
                "outlets": res}

    def members(self, gid):
        m = self.model
        if gid == "all":
            return m.outlet_numbers()
        if gid in m.group_ids:
            return [m.outlet_number(o) for o in m.group_outlets(gid)]
        if gid in m.branch_ids:
            return list(m.desc.BRANCHES[gid]["outlets"])
        return None

    async def _cycle(self, ns, who):
        import asyncio
        for n in ns:
            t = self.running.get(n)
            if t is not None:
                return {"result": "refused", "reason": INVALID, "detail": "O%d: a cycle is in progress" % n}
        seq0 = self._events.next_seq
        await self._outlets.set_group(ns, False, who)
        res = [self._verdict(n, False, self._outlets.switches[n].feedback(), seq0) for n in ns]
        bad = [r for r in res if r["result"] != "done"]
        if bad:
            return {"result": "refused", "reason": bad[0]["reason"], "outlets": res}

        async def back_on():
            try:
                await self.clock.sleep_ms(CYCLE_OFF_MS)
                await self._outlets.set_group(ns, True, who, GROUP_STAGGER_MS)
            finally:
                for n in ns:
                    self.running.pop(n, None)
        t = asyncio.create_task(back_on())
        for n in ns:
            self.running[n] = t
        return {"result": "accepted", "off": ["O%d" % n for n in ns], "on_after_ms": CYCLE_OFF_MS}

    def _verdict(self, n, on, fb, seq0):
        ch = "O%d" % n
        if fb == on:
            return {"result": "done", "outlet": ch, "state": "on" if fb else "off"}
        # the refusal, if any, is the outlet's command_refused event since seq0
        evs, _ = self._events.since(seq0 - 1, 50)
        for e in evs:
            if e["event"] == "command_refused" and e["channel"] == ch:
                v = e["values"]
                state = v.get("state")
                reason = {"latched": LATCHED, "tripped": LATCHED, "lockout": LOCKOUT, "cooldown": COOLDOWN,
                          "held": HELD}.get(state, LIMIT)
                d = {"result": "refused", "reason": reason, "outlet": ch, "state": "on" if fb else "off",
                     "cause": v.get("cause")}
                if state not in (None, "normal"):
                    d["protection_state"] = "latched" if state == "tripped" else state
                return d
        return {"result": "refused", "reason": FAILED, "outlet": ch, "state": "on" if fb else "off"}

    # --- protection ---------------------------------------------------------------------------
    def protection_reset(self, ident, iface, peer, n, reason=""):
        what = "reset O%s" % n
        if not self._access.permits(ident, A_RESET):
            return self._refused(ident, iface, peer, what, NOT_PERMITTED)
        if n not in self._outlets.switches or type(reason) is not str or len(reason) > 64:
            return self._refused(ident, iface, peer, what, INVALID)
        seq0 = self._events.next_seq
        ok = self._protection.reset(n, self.who(ident, iface, peer), reason)   # audited by protection
        if ok:
            return {"result": "done", "outlet": "O%d" % n}
        evs, _ = self._events.since(seq0 - 1, 20)
        why = None
        for e in evs:
            if e["event"] == "prot_reset":
                why = e["values"].get("result")
        return {"result": "refused", "reason": INVALID, "outlet": "O%d" % n, "detail": why}

    # --- settings ---------------------------------------------------------------------------------
    def settings(self, ident, iface, peer, changes):
        """A partial update validated whole by the config store: done with the
        diff, or refused naming every bad field (nothing applied)."""
        if not self._access.permits(ident, A_SETTINGS):
            return self._refused(ident, iface, peer, "settings", NOT_PERMITTED)
        try:
            diff = self._config.apply(changes, self.who(ident, iface, peer))   # audited by the store
        except ConfigError as e:
            return {"result": "refused", "reason": INVALID,
                    "errors": [{"field": p, "message": m} for p, m in e.errors]}
        return {"result": "done", "changed": {k: {"old": v[0], "new": v[1]} for k, v in diff.items()}}

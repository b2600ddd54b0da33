# The event log as its readers see it: emit() from anywhere in the firmware,
# cursor reads ("events since seq N") for each uplink. This RAM ring is the
# interface; the persistence layer backs it with FRAM so it survives power loss.
from firmware.codes import EVENT_NAMES, SEVERITY_NAMES


class EventLog:
    def __init__(self, clock, capacity=512):
        self.clock = clock
        self.capacity = capacity
        self._ring = [None] * capacity
        self.next_seq = 1
        self.listeners = []  # called with each new event (e.g. a console echo)

    def emit(self, code, severity, channel="", values=None, action=None):
        c = self.clock
        ev = {"seq": self.next_seq, "utc_ms": c.utc_ms(), "ticks_ms": c.ticks_ms(),
              "time_valid": c.time_valid, "code": code, "event": EVENT_NAMES.get(code, str(code)),
              "severity": SEVERITY_NAMES[severity], "channel": channel,
              "values": values or {}, "action": action}
        self._ring[self.next_seq % self.capacity] = ev
        self.next_seq += 1
        for fn in self.listeners:
            fn(ev)
        return ev["seq"]

    def since(self, seq, limit=100):
        """Events with seq > `seq`, oldest first, and how many were missed
        because the reader fell more than the ring's length behind."""
        first = self.next_seq - self.capacity
        if first < 1:
            first = 1
        start = seq + 1
        missed = 0
        if start < first:
            missed = first - start
            start = first
        out = []
        s = start
        while s < self.next_seq and len(out) < limit:
            out.append(self._ring[s % self.capacity])
            s += 1
        return out, missed

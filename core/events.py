# The event log as its readers see it: emit() from anywhere in the firmware,
# cursor reads ("events since seq N") for each uplink.
#
# With a FRAM driver the log is core/eventring.EventRing: fixed 96-byte
# CRC-checked records that survive power loss, sequence ids monotonic across
# reboots. Without one (fram=None) it is a RAM ring of dicts, lost at reset.
# Boot may start in RAM (events from bringing up the devices before the FRAM)
# and call attach_fram() once the FRAM answers: the buffered events move into
# the FRAM ring, renumbered to continue its sequence.
from core.codes import EVENT_NAMES, SEVERITY_NAMES
from core.eventring import EventRing, cursor_start


class EventLog:
    def __init__(self, clock, capacity=512, fram=None, base=None, nslots=None):
        self.clock = clock
        self.listeners = []  # called with each new event (e.g. a console echo)
        self.fram_ring = None
        self.capacity = capacity
        self._ring = [None] * capacity
        self._next = 1
        if fram is not None:
            self.attach_fram(fram, base, nslots)

    @property
    def next_seq(self):
        r = self.fram_ring
        return self._next if r is None else r.next_seq

    @property
    def persistent(self):
        return self.fram_ring is not None

    def attach_fram(self, fram, base=None, nslots=None):
        """Move to the FRAM ring; RAM-buffered events are appended to it (with
        new sequence ids). Returns how many were moved."""
        if self.fram_ring is not None:
            raise ValueError("event log already in FRAM")
        pending, _ = self._ram_since(0, self.capacity)
        r = EventRing(fram, base, nslots)
        for ev in pending:
            r.put(ev["code"], SEVERITY_NAMES.index(ev["severity"]), ev["channel"], ev["values"],
                  ev["action"], ev["utc_ms"], ev["ticks_ms"], ev["time_valid"])
        self.fram_ring = r
        self.capacity = r.ring.capacity()
        self._ring = None
        return len(pending)

    def emit(self, code, severity, channel="", values=None, action=None):
        c = self.clock
        r = self.fram_ring
        if r is not None:
            seq = r.put(code, severity, channel, values, action, c.utc_ms(), c.ticks_ms(), c.time_valid)
            if self.listeners:
                ev = r.last()  # exactly what was stored (float32 values, clipped text)
                for fn in self.listeners:
                    fn(ev)
            return seq
        ev = {"seq": self._next, "utc_ms": c.utc_ms(), "ticks_ms": c.ticks_ms(),
              "time_valid": c.time_valid, "code": code, "event": EVENT_NAMES.get(code, str(code)),
              "severity": SEVERITY_NAMES[severity], "channel": channel,
              "values": values or {}, "action": action}
        self._ring[self._next % self.capacity] = ev
        self._next += 1
        for fn in self.listeners:
            fn(ev)
        return ev["seq"]

    def since(self, seq, limit=100):
        """Events with seq > `seq`, oldest first, and how many were missed
        because the reader fell more than the ring's length behind (or, in
        FRAM, the one record a power cut tore)."""
        r = self.fram_ring
        if r is not None:
            return r.since(seq, limit)
        return self._ram_since(seq, limit)

    def _ram_since(self, seq, limit):
        first = self._next - self.capacity
        s, missed = cursor_start(seq, first if first > 1 else 1)
        out = []
        while s < self._next and len(out) < limit:
            out.append(self._ring[s % self.capacity])
            s += 1
        return out, missed

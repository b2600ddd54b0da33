# Field self-check of the inlet measurement chain: the ADE9000 measures the
# same inlet waveforms with its own DSP (filter-based rms, active power); the
# firmware computes L1..L3 from the chip's waveform samples. Both use the
# same ADC, so they agree unless something drifted or broke between them: a
# calibration set applied to one path and not the other, a corrupted
# coefficient, a stuck waveform stream, a register upset in the chip. The
# check compares the latest 1 s firmware values with the chip's registers and
# flags a quantity whose relative difference exceeds its tolerance for
# `persist` consecutive checks (codes.EV_METER_DRIFT in the event log when
# one is given).
#
# Only steady readings are compared (the chip's rms/power filters settle in
# ~0.8 s): a phase whose firmware irms moved more than `steady` since the
# previous check is skipped, as are values below the floors.
from core import codes

TOL = {"vrms": 0.005, "irms": 0.01, "p_w": 0.01}


class SelfCheck:
    def __init__(self, metro, ade, *, tol=None, persist=3, steady=0.02, v_floor=20.0, i_floor=0.2,
                 p_floor=20.0, events=None):
        self.metro = metro
        self.ade = ade
        self.tol = dict(TOL)
        if tol:
            self.tol.update(tol)
        self.persist = persist
        self.steady = steady
        self.floors = {"vrms": v_floor, "irms": i_floor, "p_w": p_floor}
        self.events = events
        self.streak = {}
        self.flagged = {}              # "L1.irms" -> relative difference (while flagged)
        self.prev_i = [None, None, None]
        self.checks = 0
        self.last = None

    def check(self, chip=None):
        """Compare once (call after each 1 s frame). chip: the ADE9000's own
        figures if the caller already read them (the task that owns the chip's
        registers): [(vrms, irms, p_w) per phase]; None reads them here.
        Returns the report dict, or None before the first 1 s frame. Raises
        nothing: a chip read error is reported as {"error": ...}."""
        snap = self.metro.snapshot
        fr = snap.sec
        if fr is None or (self.ade is None and chip is None):
            return None
        rep = {"seq": fr.seq, "phases": {}, "drift": []}
        try:
            for ph in range(3):
                name = "L%d" % (ph + 1)
                if chip is not None:
                    v_c, i_c, p_c = chip[ph]
                else:
                    v_c, i_c = self.ade.rms(ph)
                    p_c = self.ade.power(ph)[0]
                fw = {"vrms": snap.get(name + ".vrms", "sec"), "irms": snap.get(name + ".irms", "sec"),
                      "p_w": snap.get(name + ".p_w", "sec")}
                cv = {"vrms": v_c, "irms": i_c, "p_w": p_c}
                prev = self.prev_i[ph]
                self.prev_i[ph] = fw["irms"]
                steady = prev is not None and abs(fw["irms"] - prev) <= self.steady * max(abs(prev), self.floors["irms"])
                d = {}
                for q in ("vrms", "irms", "p_w"):
                    a = fw[q]
                    b = cv[q]
                    key = name + "." + q
                    if not steady or abs(b) < self.floors[q]:
                        d[q] = None
                        continue
                    rel = (a - b) / abs(b)
                    d[q] = rel
                    if abs(rel) > self.tol[q]:
                        n = self.streak.get(key, 0) + 1
                        self.streak[key] = n
                        if n >= self.persist:
                            if key not in self.flagged:
                                self._event(key, rel, a, b)
                            self.flagged[key] = rel
                    else:
                        self.streak[key] = 0
                        self.flagged.pop(key, None)
                rep["phases"][name] = {"firmware": fw, "chip": cv, "rel": d}
        except Exception as e:        # a chip fault must not stop metering
            rep["error"] = str(e)
        rep["drift"] = sorted(self.flagged)
        self.checks += 1
        self.last = rep
        return rep

    def ok(self):
        return not self.flagged

    def _event(self, key, rel, fw, chip):
        ev = self.events
        if ev is None:
            return
        phase, q = key.split(".")
        ev.emit(codes.EV_METER_DRIFT, codes.SEV_WARNING, phase,
                {"rel": rel, "firmware": fw, "chip": chip, "limit": self.tol[q], "quantity": q,
                 "part": "ade9000"}, "logged")

# Thermal protection of the outlet switches: estimate where failure begins (the
# switch itself) from the relay-board NTC it sits next to plus its own
# conduction loss, then derate, and trip when derating is not enough.
#
#   loss   triac SSR: I_rms x V_on (the board's OUTLETS[n]["v_on"]);
#          relay: I_rms^2 x contact resistance (relay_r_mohm)
#   T_est  = T_ntc + loss x Rth (ssr_rth_k_w / relay_rth_k_w): the switch above
#          the heatsink/board the NTC measures
#   allowed current = rating x (T_end - T_est) / (T_end - T_start), within
#          [0, rating]: full rating up to T_start, none at T_end (the linear
#          derating curve of SSR datasheets)
# Ladder (evaluated once a second): T_est >= T_start: DERATE - the outlet's
# inverse-time pickup becomes the allowed current, so a load above it is
# timed out on the same I^2t curve; T_est >= T_end: TRIP; back below
# T_start - hysteresis: derating ends and the pickup is restored.
from core import codes
from protection.logvalues import rounded
from protection.recovery import NORMAL


class SwitchLimits:
    """Thermal figures of one switch kind, from the settings."""

    def __init__(self, s, kind):
        self.triac = kind == "triac"
        if self.triac:
            self.rth_k_w = s["ssr_rth_k_w"]
            self.start_c = s["ssr_derate_start_c"]
            self.end_c = s["ssr_derate_end_c"]
            self.r_ohm = 0.0
        else:
            self.rth_k_w = s["relay_rth_k_w"]
            self.start_c = s["relay_derate_start_c"]
            self.end_c = s["relay_derate_end_c"]
            self.r_ohm = s["relay_r_mohm"] / 1000.0

    def loss_w(self, i_rms, v_on):
        if self.triac:
            return i_rms * v_on
        return i_rms * i_rms * self.r_ohm

    def allowed_a(self, rating, t_est):
        if t_est <= self.start_c:
            return rating
        if t_est >= self.end_c:
            return 0.0
        return rating * (self.end_c - t_est) / (self.end_c - self.start_c)


class Derating:
    """One outlet's switch temperature estimate and derating."""

    def __init__(self, rating):
        self.rating = rating
        self.t_est = None         # C, None until its NTC has been read
        self.derated = False
        self.allow_a = rating     # allowed current at t_est


class Thermal:
    def __init__(self, eng, ntcs):
        self.eng = eng
        self.ntcs = ntcs or {}
        self.ntc_c = {}           # NTC name -> last temperature (None: unreadable)
        self.derating = {}        # outlet -> Derating
        for n, o in eng.outlet_state.items():
            self.derating[n] = Derating(o.desc.get("rating_a", 16.0))
        self.relay = None
        self.ssr = None

    def configure(self):
        s = self.eng.settings
        self.relay = SwitchLimits(s, "latching")
        self.ssr = SwitchLimits(s, "triac")

    def limits(self, o):
        return self.ssr if o.desc.get("switch") == "triac" else self.relay

    def still_hot(self, o):
        """Not yet back below derating start - hysteresis (thermal retry, switch-on)."""
        t = self.derating[o.n].t_est
        return t is not None and t >= self.limits(o).start_c - self.eng.settings["thermal_hyst_c"]

    def too_hot(self, o):
        t = self.derating[o.n].t_est
        return t is not None and t >= self.limits(o).end_c

    def tick(self):
        """Slow tick: read the NTCs, estimate, derate / restore / trip."""
        eng = self.eng
        temps = self.ntc_c
        for name, d in self.ntcs.items():
            try:
                temps[name] = d.temperature_c()
            except Exception:
                temps[name] = None
        if not temps:
            return
        hyst = eng.settings["thermal_hyst_c"]
        blocks = eng.fastpath.blocks
        for n, o in eng.outlet_state.items():
            t = temps.get(o.desc.get("ntc"))
            if t is None:
                continue
            d = self.derating[n]
            oc = eng.overcurrent.outlets[n]
            lim = self.limits(o)
            te = t + lim.loss_w(oc.i_rms, o.desc.get("v_on", 1.1)) * lim.rth_k_w
            d.t_est = te
            allow = lim.allowed_a(d.rating, te)
            on = eng.outlets.switches[n].commanded
            if on and te >= lim.end_c and o.state == NORMAL:
                eng.trip(n, codes.EV_THERMAL_TRIP, "thermal",
                         {"peak": oc.i_rms, "window_ms": 1000, "value": te, "limit": lim.end_c}, latch=False)
                continue
            if not d.derated:
                if on and te >= lim.start_c:
                    d.derated = True
                    d.allow_a = allow
                    oc.set_pickup(eng.settings, blocks)
                    eng.events.emit(codes.EV_DERATE, codes.SEV_WARNING, "O%d" % n,
                                    rounded({"peak": oc.i_rms, "window_ms": 1000, "value": te, "limit": allow,
                                             "ntc_c": t, "state": "derated"}), "derate")
            elif te < lim.start_c - hyst:
                d.derated = False
                d.allow_a = d.rating
                oc.set_pickup(eng.settings, blocks)
                eng.events.emit(codes.EV_DERATE_END, codes.SEV_NOTICE, "O%d" % n,
                                rounded({"peak": oc.i_rms, "window_ms": 1000, "value": te, "limit": d.rating,
                                         "state": "normal"}), "none")
            elif abs(allow - d.allow_a) > 0.02 * d.rating:
                d.allow_a = allow
                oc.set_pickup(eng.settings, blocks)

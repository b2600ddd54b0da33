# Protection settings: thresholds, curves, windows, priorities and retry policy
# as validated configuration.
#
# SCHEMA uses core/config.py's format (type, min, max, default) so the
# lead can drop it into the config store as its "protection" section
# (config.make_schema()["protection"] = settings.SCHEMA). Per-outlet fields
# (outlets.N.priority, outlets.N.power_on_delay_ms) are the config store's own.
#
# Settings.apply(changes, who) checks every field's type and range and the
# cross-field rules (selectivity, staged residual levels, derating curves)
# before anything changes; a bad set raises config.ConfigError naming each bad
# field and nothing is applied. With a Config store the accepted set is then
# written through Config.apply (FRAM, events, audit); without one the same
# events are emitted here. Listeners run after a set is applied (the engine
# recomputes its integer thresholds).
from core.config import ConfigError, check_fields, flatten
from core import codes
from core.acquisition import POLL_MS

# name: (type, min, max, default)   units in the name; "_a" amps rms unless "peak"
SCHEMA = {
    # outlet: inverse-time I^2t element t = K / ((I/Ip)^2 - 1), instantaneous peak element
    "outlet_pickup_a": (float, 1.0, 20.0, 16.0),
    "outlet_curve_k_s": (float, 1.0, 250.0, 30.0),
    "outlet_inst_a": (float, 20.0, 99.0, 70.0),         # A peak (CT full scale 100 A)
    "outlet_cool_s": (float, 1.0, 3600.0, 60.0),        # a full bucket empties in this time
    # branch (sample-wise sum of its outlets): graded slower than the outlet
    "branch_pickup_a": (float, 4.0, 20.0, 16.0),
    "branch_curve_k_s": (float, 1.0, 250.0, 60.0),
    "branch_inst_a": (float, 20.0, 400.0, 90.0),        # A peak
    "branch_inst_delay_ms": (int, 10, 500, 30),
    "branch_shed_pct": (int, 50, 100, 95),              # shed above this share of branch_pickup_a
    "branch_cool_s": (float, 1.0, 3600.0, 120.0),
    # inlet phase (ADE9000): graded slower than the branch
    "inlet_pickup_a": (float, 4.0, 40.0, 32.0),
    "inlet_curve_k_s": (float, 1.0, 250.0, 120.0),
    "inlet_inst_a": (float, 20.0, 160.0, 150.0),        # A peak (ADE9000 full scale ~166 A)
    "inlet_inst_delay_ms": (int, 10, 1000, 60),
    "inlet_shed_pct": (int, 50, 100, 95),
    "inlet_cool_s": (float, 1.0, 3600.0, 240.0),
    # load shedding (branch and inlet): sustained time above the shed level,
    # settling time between sheds, and the I^2t bucket share that sheds at once
    "shed_delay_s": (int, 1, 600, 5),
    "shed_settle_s": (int, 1, 60, 2),
    "shed_bucket_pct": (int, 10, 95, 50),
    # switch-on inrush
    "inrush_window_ms": (int, 40, 1000, 100),
    "inrush_max_a": (float, 20.0, 99.0, 95.0),          # A peak allowed inside the window
    "seq_max_concurrent": (int, 1, 24, 2),              # outlets energising at once in a sequence
    # zero-cross timed relay switching: contacts close this many degrees after a
    # voltage zero (-1: untimed, as soon as commanded); operate/release times
    "relay_close_angle_deg": (int, -1, 179, 0),
    "relay_operate_ms": (float, 1.0, 50.0, 10.0),
    "relay_release_ms": (float, 1.0, 50.0, 10.0),
    # verification after every actuation
    "verify_ms": (int, 20, 1000, 80),
    "flow_a": (float, 0.05, 5.0, 0.3),                  # A peak: current flows
    # recovery
    "retry_max": (int, 0, 5, 0),                        # automatic re-closes after a timed/thermal trip
    "retry_cooldown_s": (int, 1, 3600, 30),             # no switch-on for this long after a trip
    "retry_backoff": (int, 1, 4, 2),                    # cooldown x backoff^(trips in window - 1)
    "lockout_trips": (int, 1, 10, 3),                   # this many trips within the window lock out
    "lockout_window_s": (int, 60, 86400, 3600),
    # thermal (switch conduction loss above its board NTC, linear derating)
    "ssr_rth_k_w": (float, 0.1, 10.0, 1.0),
    "ssr_derate_start_c": (float, 30.0, 120.0, 60.0),
    "ssr_derate_end_c": (float, 40.0, 150.0, 110.0),
    "relay_r_mohm": (float, 0.1, 100.0, 5.0),
    "relay_rth_k_w": (float, 0.1, 50.0, 3.0),
    "relay_derate_start_c": (float, 30.0, 120.0, 70.0),
    "relay_derate_end_c": (float, 40.0, 150.0, 105.0),
    "thermal_hyst_c": (float, 0.5, 20.0, 3.0),
    # residual current (IA + IB + IC - IN): ALARM -> ISOLATE -> LATCH
    "rcm_enable": (bool, None, None, True),
    "rcm_alarm_ma": (float, 1.0, 300.0, 10.0),
    "rcm_alarm_ms": (int, 10, 5000, 100),
    "rcm_trip_ma": (float, 5.0, 1000.0, 30.0),
    "rcm_trip_ms": (int, 20, 5000, 300),
    "rcm_verify_ms": (int, 20, 5000, 200),
}

# per-outlet fields shared with the config store's "outlets" section
OUTLET_FIELDS = {
    "priority": (int, 0, 9, 5),                 # shedding order: 0 is shed first
    "power_on_delay_ms": (int, 0, 600000, None),  # default 250 * (n - 1), as the config store
}

PREFIX = "protection."


def _spec(n_outlets):
    spec = {}
    for k, v in SCHEMA.items():
        spec[PREFIX + k] = v
    for n in range(1, n_outlets + 1):
        for k, v in OUTLET_FIELDS.items():
            typ, lo, hi, default = v
            if default is None:   # a default that depends on the outlet
                v = (typ, lo, hi, 250 * (n - 1))
            spec["outlets.%d.%s" % (n, k)] = v
    return spec


def cross_check(v):
    """Cross-field rules over a full value dict; list of (path, message)."""
    e = []
    P = PREFIX

    def rule(ok, path, msg):
        if not ok:
            e.append((P + path, "%s%s: %s" % (P, path, msg)))

    rule(v[P + "rcm_alarm_ma"] < v[P + "rcm_trip_ma"], "rcm_trip_ma",
         "%r must exceed rcm_alarm_ma %r" % (v[P + "rcm_trip_ma"], v[P + "rcm_alarm_ma"]))
    rule(v[P + "rcm_alarm_ms"] <= v[P + "rcm_trip_ms"], "rcm_trip_ms",
         "%r must be >= rcm_alarm_ms %r" % (v[P + "rcm_trip_ms"], v[P + "rcm_alarm_ms"]))
    rule(v[P + "branch_curve_k_s"] > v[P + "outlet_curve_k_s"], "branch_curve_k_s",
         "%r must exceed outlet_curve_k_s %r (outlet acts before its branch)"
         % (v[P + "branch_curve_k_s"], v[P + "outlet_curve_k_s"]))
    rule(v[P + "inlet_curve_k_s"] > v[P + "branch_curve_k_s"], "inlet_curve_k_s",
         "%r must exceed branch_curve_k_s %r (branch acts before the inlet)"
         % (v[P + "inlet_curve_k_s"], v[P + "branch_curve_k_s"]))
    rule(v[P + "branch_inst_delay_ms"] >= v[P + "relay_release_ms"] + 2 * POLL_MS, "branch_inst_delay_ms",
         "%r must be >= relay_release_ms + %d (the outlet must be able to clear first)"
         % (v[P + "branch_inst_delay_ms"], 2 * POLL_MS))
    rule(v[P + "inlet_inst_delay_ms"] >= v[P + "branch_inst_delay_ms"] + 2 * POLL_MS, "inlet_inst_delay_ms",
         "%r must be >= branch_inst_delay_ms + %d" % (v[P + "inlet_inst_delay_ms"], 2 * POLL_MS))
    rule(v[P + "outlet_inst_a"] <= v[P + "inrush_max_a"], "inrush_max_a",
         "%r must be >= outlet_inst_a %r" % (v[P + "inrush_max_a"], v[P + "outlet_inst_a"]))
    rule(v[P + "ssr_derate_start_c"] < v[P + "ssr_derate_end_c"], "ssr_derate_end_c",
         "%r must exceed ssr_derate_start_c %r" % (v[P + "ssr_derate_end_c"], v[P + "ssr_derate_start_c"]))
    rule(v[P + "relay_derate_start_c"] < v[P + "relay_derate_end_c"], "relay_derate_end_c",
         "%r must exceed relay_derate_start_c %r"
         % (v[P + "relay_derate_end_c"], v[P + "relay_derate_start_c"]))
    rule(v[P + "verify_ms"] >= v[P + "relay_release_ms"] + 20, "verify_ms",
         "%r must be >= relay_release_ms + 20" % v[P + "verify_ms"])
    return e


class Settings:
    """Validated protection settings. `config`: a core.config.Config whose
    schema holds these paths (then changes are stored and logged there), or
    None (RAM only; events/audit emitted here)."""

    def __init__(self, config=None, events=None, audit=None, n_outlets=24, values=None):
        self.spec = _spec(n_outlets)
        self.n_outlets = n_outlets
        self.events = events
        self.audit = audit
        self.config = None
        self.values = {}
        for p, field in self.spec.items():
            typ, lo, hi, default = field
            self.values[p] = default
        if config is not None:
            have = config.spec
            if all(p in have for p in self.spec):
                self.config = config
                for p in self.spec:
                    self.values[p] = config.values[p]
                config.listeners.append(self._from_config)
                # the store refuses a change that breaks grading, whoever makes it
                config.validators.append(cross_check)
            else:
                # A store without this schema: keep the per-outlet fields it has.
                for p in self.spec:
                    if p in have:
                        self.values[p] = config.values[p]
        self.listeners = []  # fn(diff) after a change set is applied
        if values:
            # initial values (e.g. a test rig's): validated like any change, not logged
            new, flat = self.validate(values)
            self.values = new

    def __getitem__(self, name):
        """s["outlet_pickup_a"] (protection field) or s["outlets.3.priority"]."""
        v = self.values.get(PREFIX + name)
        if v is None:
            return self.values[name]
        return v

    def priority(self, n):
        return self.values["outlets.%d.priority" % n]

    def power_on_delay_ms(self, n):
        return self.values["outlets.%d.power_on_delay_ms" % n]

    def _norm(self, changes):
        if type(changes) is not dict:
            raise ConfigError([("", "changes must be a dict of field -> value")])
        flat = flatten(changes)
        out = {}
        for p, v in flat.items():
            if p not in self.spec and (PREFIX + p) in self.spec:
                p = PREFIX + p       # "outlet_pickup_a" is "protection.outlet_pickup_a"
            out[p] = v
        return out

    def validate(self, changes):
        """(new value dict, normalised changes) or raise ConfigError; applies nothing."""
        flat = self._norm(changes)
        new, errors = check_fields(self.spec, self.values, flat)
        if not errors:
            errors = cross_check(new)
        if errors:
            raise ConfigError(errors)
        return new, flat

    def apply(self, changes, who="local"):
        """Validate the whole set, then apply it. Returns {path: (old, new)}.
        Raises ConfigError (nothing applied) naming every bad field."""
        try:
            new, flat = self.validate(changes)
        except ConfigError as e:
            ev = self.events
            au = self.audit
            if self.config is not None:
                ev = ev or self.config.events
                au = au or self.config.audit
            if ev is not None:
                ev.emit(codes.EV_CONFIG_REFUSED, codes.SEV_WARNING, "protection",
                        {"who": who, "error": str(e)}, "refused")
            if au is not None:
                au.log("config", who, "refused: %s" % e, "refused")
            raise
        if self.config is not None:
            return self.config.apply(flat, who)  # listeners -> _from_config
        diff = {}
        for p in flat:
            if new[p] != self.values[p]:
                diff[p] = (self.values[p], new[p])
        self.values = new
        for p in sorted(diff):
            o, n = diff[p]
            if self.events is not None:
                self.events.emit(codes.EV_CONFIG_CHANGED, codes.SEV_NOTICE, "protection",
                                 {"generation": 0, "who": who, "field": p, "old": o, "new": n},
                                 "applied")
            if self.audit is not None:
                self.audit.log("config", who, "%s: %r -> %r" % (p, o, n), "ok")
        if diff:
            for fn in self.listeners:
                fn(diff)
        return diff

    def _from_config(self, diff):
        mine = {}
        for p in diff:
            if p in self.spec:
                old, new = diff[p]
                mine[p] = diff[p]
                self.values[p] = new
        if mine:
            for fn in self.listeners:
                fn(mine)

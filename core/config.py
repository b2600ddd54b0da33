# Configuration store: a schema with types, ranges and defaults; whole change
# sets validated before anything is applied; written atomically to FRAM.
#
# SCHEMA maps section -> field -> (type, min, max, default[, allowed text]),
# with nested sections (outlets -> "1".."24" -> field). Fields are addressed by
# dotted paths ("record.period_min", "outlets.7.priority"). For str, min/max
# bound the length; when min is a tuple it is the set of allowed values.
#
# apply(changes, who) checks every value of the change set (type, range,
# cross-field rules) and refuses the whole set with a ConfigError naming each
# bad field if any is wrong; the running config is then untouched. Otherwise
# the full config (JSON) goes to the FRAM copy not holding the current one
# (fram_layout.SlotPair: generation + length + CRC, the switch is the higher
# generation), then each changed field is logged as an event and an audit
# entry ("who", "field: old -> new"), then listeners run (e.g. the recorder
# picks up a new record period).
import json
from core import codes

SCHEMA_VERSION = 1
N_OUTLETS = 24
# ETSI ES 202 336-12 4.4.3.4: 5..60 min settable, 1 min optional; the period
# must divide the hour so hourly aggregates are made of whole records.
RECORD_PERIODS = (1, 5, 6, 10, 12, 15, 20, 30, 60)


class ConfigError(ValueError):
    """A refused change set. .errors: list of (path, message)."""

    def __init__(self, errors):
        self.errors = errors
        super().__init__("; ".join(m for p, m in errors))


_OUTLET_NAME = (str, 0, 24, "")
_OUTLET_PRIORITY = (int, 0, 9, 5)                  # shedding order: 0 is shed first
_OUTLET_POWER_ON = (str, ("on", "off", "last"), None, "last")


def make_schema(n_outlets=N_OUTLETS, **sections):
    """The config schema: the core's sections for n_outlets plus the sections
    upper layers bring (boot passes protection=protection.settings.SCHEMA).
    The core's section dicts are SCHEMA's own when the outlet count matches
    (a schema is RAM on the MCU too: not built twice)."""
    s = dict(SCHEMA if n_outlets == N_OUTLETS else _core_schema(n_outlets))
    s.update(sections)
    return s


def _core_schema(n_outlets):
    # The spec tuples every outlet has alike are shared (one object each, not
    # one per outlet: a schema is RAM on the MCU too).
    outlets = {}
    for n in range(1, n_outlets + 1):
        outlets[str(n)] = {
            "name": _OUTLET_NAME,
            "priority": _OUTLET_PRIORITY,
            "power_on_delay_ms": (int, 0, 600000, 250 * (n - 1)),
            "power_on": _OUTLET_POWER_ON,
        }
    return {
        "system": {
            "name": (str, 1, 32, "rack-pdu"),
            "equipment_id": (str, 1, 16, "PDU-0001"),   # ETSI record identifiers
            "site_id": (str, 1, 16, "SITE-0001"),
            "location": (str, 0, 32, ""),
        },
        "record": {
            "period_min": (int, RECORD_PERIODS, None, 15, "1 or 5..60 dividing 60"),
            "keep_days": (int, 4, 31, 4),
            "hourly_months": (int, 6, 24, 6),
            "daily_years": (int, 2, 10, 2),
        },
        "network": {
            "dhcp": (bool, None, None, True),
            "http_port": (int, 1, 65535, 8080),
            "https_port": (int, 0, 65535, 0),            # 0: off (needs a certificate, see firmware/uplinks.py)
            "modbus_port": (int, 1, 65535, 5020),
            "snmp_port": (int, 1, 65535, 1161),
            "mqtt_host": (str, 0, 64, "127.0.0.1"),
            "mqtt_port": (int, 1, 65535, 1883),
        },
        "time": {
            "sntp_enable": (bool, None, None, True),
            "sntp_server": (str, 0, 64, "pool.ntp.org"),
            "sntp_interval_s": (int, 64, 86400, 3600),
        },
        # remote write switches (Modbus, SNMP v1/v2c) and allowlists are the
        # access store's (comms/access.py), beside the credentials: one place
        "snmp": {
            "trap_host": (str, 0, 64, ""),
        },
        "modbus": {
            "unit_id": (int, 1, 247, 1),                 # Modbus RTU: this PDU's address on the line
            "rtu_baud": (int, (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200), None, 19200),
            "rtu_parity": (str, ("even", "none"), None, "even"),  # 8E1 (the Modbus default) or 8N1
        },
        "outlets": outlets,
    }


SCHEMA = _core_schema(N_OUTLETS)
_PORTS = ("network.http_port", "network.https_port", "network.modbus_port", "network.snmp_port")
_TYPE_NAMES = {int: "int", float: "float", bool: "bool", str: "str"}


def _walk(tree, prefix, out):
    for k in tree:
        v = tree[k]
        p = prefix + k
        if type(v) is dict:
            _walk(v, p + ".", out)
        else:
            out[p] = v
    return out


def _lookup(schema, path):
    """The spec tuple of a dotted path in a nested schema, or None."""
    d = schema
    i = 0
    n = len(path)
    while i <= n:
        j = path.find(".", i)
        if j < 0:
            j = n
        if type(d) is not dict:
            return None
        d = d.get(path[i:j])
        if d is None:
            return None
        i = j + 1
    return d if type(d) is tuple else None


class Spec:
    """The schema seen as a flat {path: spec} mapping (`path in spec`,
    spec[path], spec.get(path), iteration) without holding a flat copy: the
    running values already hold one string per path, a second table of the
    ~125 paths would only cost heap."""

    def __init__(self, schema):
        self.schema = schema

    def get(self, path, default=None):
        r = _lookup(self.schema, path)
        return default if r is None else r

    def __getitem__(self, path):
        r = _lookup(self.schema, path)
        if r is None:
            raise KeyError(path)
        return r

    def __contains__(self, path):
        return _lookup(self.schema, path) is not None

    def items(self):
        return _walk(self.schema, "", {}).items()

    def __iter__(self):
        return iter(_walk(self.schema, "", {}))

    def __len__(self):
        return len(_walk(self.schema, "", {}))


def flatten(changes):
    """{"a": {"b": 1}, "c.d": 2} -> {"a.b": 1, "c.d": 2}."""
    return _walk(changes, "", {})


def check_value(path, spec, v):
    """(value, None) if v fits spec, else (None, message naming the field)."""
    t, lo, hi, _default = spec[0], spec[1], spec[2], spec[3]
    tv = type(v)
    if t is float:
        if tv is not int and tv is not float:
            return None, "%s: %r is %s, expected float" % (path, v, _tname(tv))
        v = float(v)
        if v != v or v in (float("inf"), float("-inf")):
            return None, "%s: %r is not a finite number" % (path, v)
    elif tv is not t:
        return None, "%s: %r is %s, expected %s" % (path, v, _tname(tv), _TYPE_NAMES[t])
    if t is str:
        if type(lo) is tuple:
            if v not in lo:
                return None, "%s: %r not in %s" % (path, v, ", ".join(lo))
            return v, None
        for ch in v:
            if ord(ch) < 32:
                return None, "%s: control character in %r" % (path, v)
        n = len(v)
        if n < lo or n > hi:
            return None, "%s: %d characters, expected %d..%d" % (path, n, lo, hi)
        return v, None
    if t is bool:
        return v, None
    if type(lo) is tuple:
        if v not in lo:
            return None, "%s: %r not in %s" % (path, v, spec[4] if len(spec) > 4 else lo)
        return v, None
    if v < lo or v > hi:
        return None, "%s: %r not in %r..%r" % (path, v, lo, hi)
    return v, None


def check_fields(spec, values, flat):
    """Type and range check of a flat change set applied over `values`:
    (new value dict, [(path, message), ...]). Shared by every settings store."""
    errors = []
    new = dict(values)
    for p, v in flat.items():
        sp = spec.get(p)
        if sp is None:
            errors.append((p, "%s: unknown field" % p))
            continue
        v2, err = check_value(p, sp, v)
        if err:
            errors.append((p, err))
        else:
            new[p] = v2
    return new, errors


def _tname(t):
    return _TYPE_NAMES.get(t, getattr(t, "__name__", "?"))


def _cross_check(values, touched):
    errs = []
    for i in range(len(_PORTS)):
        for j in range(i):
            a, b = _PORTS[i], _PORTS[j]
            if a in values and b in values and values[a] == values[b] and values[a]:
                p, q = (a, b) if a in touched or b not in touched else (b, a)
                errs.append((p, "%s: %r already used by %s" % (p, values[p], q)))
    return errs


class Config:
    def __init__(self, fram, clock=None, events=None, audit=None, schema=None, defaults=None,
                 slots=None):
        from core import fram_layout as L
        self.schema = SCHEMA if schema is None else schema
        self.spec = Spec(self.schema)
        self._overrides = {}           # a board's own defaults (e.g. the MCU's ports)
        if defaults:
            for p, v in flatten(defaults).items():
                sp = self.spec.get(p)
                v2, err = check_value(p, sp, v) if sp is not None else (None, p + ": unknown field")
                if err:
                    raise ConfigError([(p, err)])
                self._overrides[p] = v2
        if fram is None:
            a = L.CONFIG_A
            fram = L.RamFram(a, L.CONFIG_B + L.CONFIG_SLOT)
        if slots is None:
            slots = (L.CONFIG_A, L.CONFIG_B, L.CONFIG_SLOT)
        self.store = L.SlotPair(fram, slots[0], slots[1], slots[2])
        self.clock = clock
        self.events = events
        self.audit = audit
        self.values = self.defaults
        self.generation = 0
        self.listeners = []  # fn(diff) after a change set is applied; diff: path -> (old, new)
        self.validators = []  # fn(new values) -> [(path, message)]: cross-field rules of other layers

    # --- reading ----------------------------------------------------------------------
    @property
    def defaults(self):
        """{path: default} (a new dict: the schema's defaults and the board's)."""
        d = {}
        for p, sp in self.spec.items():
            d[p] = sp[3]
        for p in self._overrides:
            d[p] = self._overrides[p]
        return d

    def get(self, path):
        return self.values[path]

    def __getitem__(self, path):
        return self.values[path]

    def section(self, name):
        """Nested dict of one section, e.g. section("record") -> {"period_min": 15, ...}."""
        out = {}
        pre = name + "."
        for p, v in self.values.items():
            if p.startswith(pre):
                d = out
                parts = p[len(pre):].split(".")
                for k in parts[:-1]:
                    d = d.setdefault(k, {})
                d[parts[-1]] = v
        return out

    def as_dict(self):
        out = {}
        for s in self.schema:
            out[s] = self.section(s)
        return out

    # --- persistence -------------------------------------------------------------------
    def load(self):
        """Load the newest valid copy; fields missing or invalid in it take
        their defaults. Returns the generation (0: defaults)."""
        g, payload = self.store.load()
        vals = self.defaults
        if payload is None:
            self.values = vals
            self.generation = 0
            if not self.store.never_written():
                self._fault("no valid copy: defaults in use")
            return 0
        try:
            doc = json.loads(payload)
            stored = flatten(doc["c"])
        except Exception:
            # CRC passed but not our format (another firmware's layout): defaults.
            self.values = vals
            self.generation = g
            self._fault("generation %d unreadable: defaults in use" % g)
            return g
        for p, v in stored.items():
            spec = self.spec.get(p)
            if spec is not None:
                v2, err = check_value(p, spec, v)
                if err is None:
                    vals[p] = v2
        self.values = vals
        self.generation = g
        if self.store.newer_lost():
            self._fault("gen %d lost, gen %d in use" % (g + 1, g))
        return g

    def _fault(self, detail):
        if self.events is not None:
            self.events.emit(codes.EV_STORE_FAULT, codes.SEV_ALARM, "config",
                             {"store": "config", "detail": detail})

    def serialise(self, values):
        tree = {}
        for p, v in values.items():
            d = tree
            parts = p.split(".")
            for k in parts[:-1]:
                d = d.setdefault(k, {})
            d[parts[-1]] = v
        return json.dumps({"v": SCHEMA_VERSION, "c": tree})

    # --- changing ------------------------------------------------------------------------
    def validate(self, changes):
        """(new full value dict, touched paths) or raise ConfigError; applies nothing."""
        flat = flatten(changes) if type(changes) is dict else None
        if flat is None:
            raise ConfigError([("", "changes must be a dict of field -> value")])
        new, errors = check_fields(self.spec, self.values, flat)
        if not errors:
            errors = _cross_check(new, flat)
        if not errors:
            # other layers' rules over the whole new config (e.g. protection grading)
            for fn in self.validators:
                errors = fn(new)
                if errors:
                    break
        if errors:
            raise ConfigError(errors)
        return new, flat

    def apply(self, changes, who="local"):
        """Validate the whole change set, then write and log it. Returns
        {path: (old, new)} of the fields that changed ({} if none did).
        Raises ConfigError (nothing applied) naming every bad field."""
        try:
            new, flat = self.validate(changes)
            diff = {}
            for p in flat:
                if new[p] != self.values[p]:
                    diff[p] = (self.values[p], new[p])
            if not diff:
                return diff
            payload = self.serialise(new)
            if len(payload) > self.store.max_payload():
                raise ConfigError([("", "config: %d bytes exceed the %d-byte store"
                                    % (len(payload), self.store.max_payload()))])
        except ConfigError as e:
            if self.events is not None:
                self.events.emit(codes.EV_CONFIG_REFUSED, codes.SEV_WARNING, "config",
                                 {"who": who, "error": str(e)}, "refused")
            if self.audit is not None:
                self.audit.log("config", who, "refused: %s" % e, "refused")
            raise
        g = self.store.write(payload.encode())
        self.values = new
        self.generation = g
        for p in sorted(diff):
            o, n = diff[p]
            if self.events is not None:
                self.events.emit(codes.EV_CONFIG_CHANGED, codes.SEV_NOTICE, "config",
                                 {"generation": g, "who": who, "field": p, "old": o, "new": n},
                                 "applied")
            if self.audit is not None:
                self.audit.log("config", who, "%s: %r -> %r (gen %d)" % (p, o, n, g), "ok")
        for fn in self.listeners:
            fn(diff)
        return diff

    def reset(self, who="local"):
        """Back to defaults (as one audited change set)."""
        ch = {}
        for p, v in self.defaults.items():
            if self.values[p] != v:
                ch[p] = v
        return self.apply(ch, who)

# Configuration store (core/config.py): schema, whole-set validation,
# atomic A/B writes, events and audit entries for every change.
import sys
import json
sys.path.append("tests/mp")
from persist_util import Rig, out
from core.clock import VirtualClock
from core import fram_layout as L
from core import codes
from core.events import EventLog
from core.audit import AuditLog
from core.config import Config, ConfigError, make_schema, RECORD_PERIODS
from protection.settings import SCHEMA as PROTECTION_SCHEMA

rig = Rig()
clock = VirtualClock()
d = rig.boot()
L.prepare(d)
ev = EventLog(clock, fram=d)
au = AuditLog(d, clock)
SCHEMA = make_schema(protection=PROTECTION_SCHEMA)  # the board's schema, as boot builds it
cfg = Config(d, clock, ev, au, schema=SCHEMA)
g0 = cfg.load()
out("defaults", generation=g0, period=cfg.get("record.period_min"),
    write_keys=[p for p in cfg.values if p.endswith("write_enable")], outlet7=cfg.section("outlets")["7"],
    sections=sorted(SCHEMA), n_outlets=len(SCHEMA["outlets"]), record=cfg.section("record"),
    protection=sorted(cfg.section("protection")), network=cfg.section("network"),
    size=len(cfg.serialise(cfg.values)), max_payload=cfg.store.max_payload(), events=ev.next_seq - 1)

# a valid change set, nested and dotted forms mixed
heard = []
cfg.listeners.append(heard.append)
diff = cfg.apply({"record": {"period_min": 5}, "outlets.3.priority": 1, "network.http_port": 80,
                  "outlets": {"3": {"power_on_delay_ms": 2000}}, "record.keep_days": 4}, "http:admin")
evs = ev.since(0, 50)[0]
aus = au.since(0, 50)[0]
out("apply", diff={k: list(v) for k, v in diff.items()}, generation=cfg.generation, heard=len(heard),
    events=[(e["event"], e["values"].get("field"), e["values"].get("old"), e["values"].get("new"),
             e["values"].get("who"), e["action"]) for e in evs],
    audit=[(a["kind"], a["who"], a["what"], a["result"]) for a in aus])

# refused sets: nothing applied, the message names the field
bad_sets = [
    {"record.period_min": 7},
    {"record.period_min": "15"},
    {"record.period_min": 15.0},
    {"time.sntp_enable": 1},
    {"protection.outlet_cool_s": 4000},
    {"protection.outlet_cool_s": float("nan")},
    {"network.modbus_port": 80},
    {"outlets.30.priority": 1},
    {"system.name": ""},
    {"system.site_id": "x" * 17},
    {"outlets.2.power_on": "sometimes"},
    {"record.period_min": 10, "network.snmp_port": 0},       # one good, one bad: none applied
    {"nosuch": {"field": 1}},
    {"record": 5},
    "record.period_min=5",
]
res = []
before_vals = dict(cfg.values)
before_gen = cfg.generation
before_raw = rig.twin.peek(L.CONFIG_A, 64) + rig.twin.peek(L.CONFIG_B, 64)
for b in bad_sets:
    try:
        cfg.apply(b, "modbus:9")
        res.append({"set": repr(b), "accepted": True})
    except ConfigError as e:
        res.append({"set": repr(b), "msg": str(e), "fields": [p for p, m in e.errors]})
out("refused", results=res, unchanged=cfg.values == before_vals, generation_same=cfg.generation == before_gen,
    fram_same=before_raw == rig.twin.peek(L.CONFIG_A, 64) + rig.twin.peek(L.CONFIG_B, 64),
    refused_events=len([e for e in ev.since(0, 200)[0] if e["event"] == "config_refused"]),
    refused_audit=len([a for a in au.since(0, 200)[0] if a["result"] == "refused"]))

# the period rule on its own
ok_periods = []
for p in range(0, 62):
    try:
        cfg.validate({"record.period_min": p})
        ok_periods.append(p)
    except ConfigError:
        pass
out("periods", ok=ok_periods, table=list(RECORD_PERIODS))

# a no-op change writes nothing
g = cfg.generation
out("noop", diff=cfg.apply({"record.period_min": 5}, "x"), same_gen=cfg.generation == g)

# reboot: the applied values come back
d = rig.boot()
c2 = Config(d, clock, schema=SCHEMA)
g2 = c2.load()
out("reload", generation=g2, same=c2.values == cfg.values, period=c2.get("record.period_min"),
    port=c2.get("network.http_port"))

# power cut in the middle of writing the next copy: the old config is loaded
want = dict(cfg.values)
rig.twin.cut_after(2000)
cfg.apply({"record.period_min": 30}, "ops")
torn_gen = cfg.generation
d = rig.boot()
c3 = Config(d, clock, schema=SCHEMA)
g3 = c3.load()
c3.apply({"record.period_min": 20}, "ops")
d = rig.boot()
c4 = Config(d, clock, schema=SCHEMA)
out("torn", loaded=g3, torn_gen=torn_gen, same=c3.values.get("network.http_port") == want["network.http_port"]
    and dict(c3.values, **{"record.period_min": 5}) == want,
    next_gen=c3.generation, reloaded=c4.load(), period=c4.get("record.period_min"))

# both copies damaged: defaults and a store-fault event
for a in (L.CONFIG_A, L.CONFIG_B):
    rig.twin.poke(a + 100, b"\x00\x01\x02")
d = rig.boot()
ev2 = EventLog(clock, fram=d)
s0 = ev2.next_seq
c5 = Config(d, clock, ev2, schema=SCHEMA)
out("damaged", loaded=c5.load(), defaults=c5.values == c5.defaults,
    events=[(e["event"], e["values"].get("store")) for e in ev2.since(s0 - 1, 5)[0]])

# board defaults override the schema's, and are validated too
c6 = Config(None, clock, defaults={"network": {"http_port": 80, "modbus_port": 502, "snmp_port": 161}})
try:
    Config(None, clock, defaults={"network.http_port": 0})
    bad_default = "accepted"
except ConfigError as e:
    bad_default = str(e)
out("board_defaults", http=c6.get("network.http_port"), modbus=c6.get("network.modbus_port"),
    bad=bad_default, outlets_small=len(make_schema(4)["outlets"]))

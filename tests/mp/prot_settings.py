# Settings validation: out-of-range, wrong-type, unknown and cross-field
# errors are refused naming the field, and nothing of the set is applied -
# neither the values nor the engine's integer thresholds.
import json
from core.config import ConfigError
from protection.fastpath import E_IPU, E_KQ, E_INST
from tests.mp.prot_rig import Rig

rig = Rig(metro=False)
s = rig.settings
fp = rig.prot.fastpath
b5 = fp.word(5)
bb1 = fp.word("B1")


def snap():
    blocks = fp.blocks
    return [blocks[b5 + E_IPU], blocks[b5 + E_KQ], blocks[b5 + E_INST], blocks[bb1 + E_KQ]]


cases = [
    {"outlet_curve_k_s": 500.0},
    {"outlet_pickup_a": 10.0, "rcm_trip_ma": 2000.0},
    {"rcm_trip_ma": 5.0},
    {"retry_max": "3"},
    {"bogus": 1},
    {"outlets.3.priority": 12},
    {"branch_curve_k_s": 20.0},
    {"branch_inst_delay_ms": 20},
    {"inrush_window_ms": 10},
]
out = []
for c in cases:
    before_vals = dict(s.values)
    before = snap()
    try:
        s.apply(c, "eve")
        out.append({"case": c, "refused": False})
    except ConfigError as e:
        out.append({"case": c, "refused": True, "error": str(e), "fields": [p for p, m in e.errors],
                    "values_unchanged": s.values == before_vals, "engine_unchanged": snap() == before})
before = snap()
diff = s.apply({"outlet_pickup_a": 10.0, "outlet_curve_k_s": 45.0}, "eve")
after = snap()
aud, _ = rig.pdu.audit.since(0, 100)
print(json.dumps({"cases": out, "applied": {k: list(v) for k, v in diff.items()},
                  "engine_before": before, "engine_after": after,
                  "events": [[e["event"], e["values"].get("who"), e["values"].get("error", e["values"].get("field"))]
                             for e in rig.evs if e["event"].startswith("config")],
                  "audit": [[a["who"], a["what"], a["result"]] for a in aud]}))

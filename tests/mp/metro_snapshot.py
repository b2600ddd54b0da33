# The snapshot's reader contract, in MicroPython (tests/test_metrology_snapshot.py).
import json
from metrology.snapshot import Snapshot, NQ, Q, POOL

s = Snapshot(("O1", "O2", "INLET"), {"O1": ("vrms", "irms", "p_w"), "O2": ("irms",), "INLET": ("p_w",)},
             ("O1", "INLET"))
out = {"units": s.build_unit_table(), "before": s.get("O1.p_w")}
frames = []
seqs = []
for k in range(POOL + 2):
    f = s.begin("win")
    f.kind = "win"
    for i in range(len(f.values)):
        f.values[i] = 100.0 * k + i
    f.flags[1] = k
    s.publish(f)
    seqs.append(f.seq)
    frames.append(f)
held = frames[0]
out["seqs"] = seqs
out["latest_is_last"] = s.latest("win") is frames[-1]
out["get"] = s.get("O2.irms")
out["flags"] = s.flags("O2")
out["reused_after"] = [frames[j] is frames[0] for j in range(len(frames))]
f = s.begin("sec")
f.kind = "sec"
f.energy[0] = 3600000 * 5 + 1800000        # 5.5 Wh imported on O1
f.energy[4 + 3] = 7200000                  # INLET: 2 varh exported
s.publish(f)
out["e_o1"] = s.get("O1.e_imp_wh")
out["eq_inlet"] = s.get("INLET.eq_exp_varh")
out["sec_seq"] = s.sec.seq
out["names"] = Snapshot.flag_names(1 | 8)
out["dict"] = s.to_dict(s.win, ["O1"])
try:
    s.get("O9.p_w")
    out["unknown"] = "no error"
except KeyError:
    out["unknown"] = "KeyError"
print(json.dumps(out))

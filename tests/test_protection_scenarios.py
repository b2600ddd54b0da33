"""Protection and switching (issue #3): deterministic scenarios in virtual time.

Each scenario boots sim24 (firmware.boot.Pdu, virtual time, power_on="none"),
attaches protection after metrology (tests/mp/prot_rig.py), drives the plant
(plug, fault, weld, ...) and prints its event log; these tests check the exact
sequence of states and events against references computed here.
The scenarios run in two MicroPython processes side by side (~10 s)."""
import json
import math
import subprocess

import pytest

from mputil import MICROPYTHON, ROOT, mp_env

GROUPS = [
    ["inrush_psu", "inrush_zc", "overload_2x", "short_latch", "stagger", "unstaggered", "shedding", "weld",
     "ssr_derate"],
    ["rcm_transient", "rcm_leak", "storm", "autoretry", "selectivity", "failures", "seq_abort", "groups", "stall"],
]
FS = 8000
CYCLE = 160          # samples per mains cycle at 50 Hz


@pytest.fixture(scope="module")
def sc():
    procs = [subprocess.Popen([MICROPYTHON, "-X", "heapsize=8M", "tests/mp/prot_scenarios.py"] + g, cwd=ROOT,
                              env=mp_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for g in GROUPS]
    out = {}
    for p in procs:
        so, se = p.communicate(timeout=300)
        assert p.returncode == 0, se[-3000:]
        for line in so.splitlines():
            if line.startswith("{"):
                d = json.loads(line)
                out[d["name"]] = d
    for g in GROUPS:
        for name in g:
            d = out[name]
            assert d["overruns"] == 0, name
            assert d["prot_errors"] == [0, None], (name, d["prot_errors"])
    return out


def ev(d, name=None, ch=None):
    """Events as (t_ms, event, channel, action, values, plant sample)."""
    return [e for e in d["events"] if (name is None or e[1] == name) and (ch is None or e[2] == ch)]


def seq(d, ch):
    return [(e[1], e[3]) for e in d["events"] if e[2] == ch]


def num(v):
    return float(v)


def psu_inrush_peak(angle_deg, inrush_a=40.0, tau_ms=2.0, irms=2.0):
    """Plant model (docs/fixtures.md): inrush_a * sin(theta) * exp(-t/tau) from
    contact closure at voltage angle theta, plus the PSU's own current (its
    fundamental, 3 deg lead). Largest |i| over the first 10 ms."""
    w = 2 * math.pi * 50
    best = 0.0
    for k in range(80):
        t = k / FS
        th = math.radians(angle_deg) + w * t
        i = inrush_a * math.sin(th) * math.exp(-t / (tau_ms / 1000.0)) + irms * math.sqrt(2) * math.sin(
            th + math.radians(3))
        best = max(best, abs(i))
    return best


def test_psu_inrush_logged_not_tripped(sc):
    d = sc["inrush_psu"]           # relay_close_angle_deg = 90: contacts close on the voltage peak
    assert seq(d, "O1") == [("outlet_on", "switched"), ("inrush", "logged")]
    e = ev(d, "inrush", "O1")[0][4]
    ref = psu_inrush_peak(90)
    assert abs(e["peak"] - ref) / ref < 0.05, (e["peak"], ref)           # ~40 A peak
    assert 1 <= e["window_ms"] <= 10                                      # decays within 10 ms
    assert e["shape"] == "decaying" and e["limit"] == 95.0
    assert abs(e["value"] - 2.0 * math.sqrt(2) * 1.09) < 0.5             # settled PSU peak (crest 1.55)
    assert num(e["start_ms"]) == 10                                       # relay operate time
    assert not [x for x in d["events"] if x[3] == "trip"]
    assert d["fb"] is True and d["state"] == "normal"


def test_zero_cross_closing_reduces_inrush(sc):
    d = sc["inrush_zc"]            # the default: contacts close at a voltage zero
    assert d["contacts_at"] % CYCLE in (0, 1, CYCLE - 1)                 # L1 zero crossings: every 160 samples
    e = ev(d, "inrush", "O1")[0][4]
    ref = psu_inrush_peak(0)
    assert abs(e["peak"] - ref) / ref < 0.08, (e["peak"], ref)
    assert e["peak"] < 0.3 * sc["inrush_psu"]["events"][1][4]["peak"]
    assert d["fb"] is True


def test_sustained_2x_overload_timed_trip_on_curve(sc):
    d = sc["overload_2x"]
    # t = K / ((I/Ip)^2 - 1) = 30 / (2^2 - 1) = 10 s after the overload began at t = 1.0 s
    expected = 30.0 / ((32.0 / 16.0) ** 2 - 1)
    assert seq(d, "O5") == [("outlet_on", "switched"), ("oc_timed", "trip"), ("outlet_off", "switched")]
    t, _, _, act, v, _ = ev(d, "oc_timed", "O5")[0]
    assert abs((t - 1000) / 1000.0 - expected) <= 0.05 * expected
    assert abs(v["value"] - 32.0) < 0.5 and v["limit"] == 16.0
    assert abs(v["window_ms"] - expected * 1000) <= 0.05 * expected * 1000
    assert v["state"] == "cooldown" and v["cause"] == "overload"
    off = ev(d, "outlet_off", "O5")[0][4]
    assert off["who"] == "protection" and off["feedback"] is False
    # the branch (K = 60 s) and the inlet did not act: the outlet acts first
    assert not [e for e in d["events"] if e[3] == "trip" and e[2] != "O5"]
    pick = [e for e in d["all"] if e[1] == "oc_pickup" and e[2] == "O5"]
    assert pick and abs(pick[0][4]["window_ms"] + (pick[0][0] - 1000) - expected * 1000) < 0.05 * expected * 1000
    assert d["state"] == "cooldown" and d["fb"] is False


def test_short_circuit_tripped_within_one_cycle_and_latched(sc):
    d = sc["short_latch"]
    tr = ev(d, "oc_instant", "O4")
    assert len(tr) == 1
    t, _, _, act, v, n_dec = tr[0]
    latency = n_dec - d["onset"]            # plant samples from onset to the decision
    assert 0 < latency <= CYCLE, latency
    assert v["peak"] >= 99.0 and v["limit"] == 70.0 and v["state"] == "latched" and v["cause"] == "short"
    assert 0 < v["window_ms"] <= 10
    # contacts open one release time later; verified off
    off = ev(d, "outlet_off", "O4")[0]
    assert off[4]["who"] == "protection" and off[4]["feedback"] is False
    # only the outlet acted (branch B1 and inlet L1 saw the fault too)
    assert [e[2] for e in d["events"] if e[3] == "trip"] == ["O4"]
    assert d["fb1"] is True                 # the other outlet on the branch stays on
    assert d["state_after_trip"] == "tripped"


def test_latched_trip_refuses_switch_on_until_audited_reset(sc):
    d = sc["short_latch"]
    names = [(e[1], e[3]) for e in d["events"] if e[2] == "O4"]
    assert names == [("outlet_on", "switched"), ("oc_instant", "trip"), ("outlet_off", "switched"),
                     ("command_refused", "refused"), ("prot_reset", "reset"), ("outlet_on", "switched")]
    ref = ev(d, "command_refused", "O4")[0][4]
    assert ref["who"] == "bob" and ref["state"] == "tripped" and ref["cause"] == "short"
    rs = ev(d, "prot_reset", "O4")[0][4]
    assert rs["who"] == "alice" and rs["result"] == "ok" and rs["state"] == "tripped"
    assert d["audit"] == [["alice", "reset O4 tripped (short): fault cleared", "ok"]]
    assert rs["audit"] >= 1
    # the operator commands around it are audited too: refused while latched, ok after the reset
    assert [c for c in d["commands"] if c[0] == "bob"][-2:] == [
        ["bob", "outlet 4 on (feedback off)", "refused"], ["bob", "outlet 4 on", "ok"]]
    on = ev(d, "outlet_on", "O4")[-1]
    assert on[0] >= 2500 and on[4]["who"] == "bob"
    assert d["reset_ok"] is True and d["fb"] is True and d["state"] == "normal"


def test_staggered_power_up_respects_inrush_budget(sc):
    st, un = sc["stagger"], sc["unstaggered"]
    # 24 PSUs (40 A inrush each), worst-case closing on the voltage peak
    assert st["on"] == 24 and un["on"] == 24
    assert st["max_energising"] == 2 == st["budget"]
    assert un["max_energising"] == 24
    # bound per phase: budget x 40 A inrush (+10 %) + the phase's 9 PSUs at their steady peak (+10 %)
    bound = (2 * 40.0 + 9 * 2.0 * math.sqrt(2) * 1.09) * 1.1
    assert max(st["peak_a"]) < bound, (st["peak_a"], bound)
    # unstaggered: every outlet of a phase closes on the same voltage peak
    assert max(un["peak_a"][:2]) > 9 * 40.0 * 0.95
    assert max(un["peak_a"]) > 3.0 * max(st["peak_a"])
    assert len(ev(st, "inrush")) == 24 and not ev(st, "inrush_abnormal")
    assert not [e for e in st["events"] + un["events"] if e[3] == "trip"]
    done = ev(st, "seq_done")[0][4]
    assert done["started"] == 24 and done["count"] == 24
    # on events come in pairs (two energising at a time), in outlet order
    ons = [e for e in st["events"] if e[1] == "outlet_on"]
    assert len(ons) == 24
    # (inside a pair the two verdicts may come a poll apart: the outlets are on
    # different phases, so their zero-cross-timed closes differ)
    pairs = [sorted(int(e[2][1:]) for e in ons[k:k + 2]) for k in range(0, 24, 2)]
    assert pairs == [[k, k + 1] for k in range(1, 25, 2)], pairs


def test_branch_overload_sheds_by_priority_then_limits(sc):
    d = sc["shedding"]      # B1: outlets 1-4 at 6 A = 24 A > 95 % of 16 A; priorities 1:9 2:5 3:0 4:2
    sheds = ev(d, "shed")
    assert [(e[2], e[4]["priority"]) for e in sheds] == [("O3", 0), ("O4", 2)]   # typed values
    t1, t2 = sheds[0][0], sheds[1][0]
    assert 4900 <= t1 <= 6100                      # shed_delay_s = 5 after the branch went over
    assert 1900 <= t2 - t1 <= 2100                 # shed_settle_s = 2
    assert abs(sheds[0][4]["value"] - 24.0) < 0.3 and abs(sheds[1][4]["value"] - 18.0) < 0.3
    assert sheds[0][4]["element"] == "B1" and abs(sheds[0][4]["limit"] - 15.2) < 1e-3
    lim = ev(d, "command_refused", "O3")[0]
    assert lim[3] == "limit" and lim[4]["who"] == "carol" and abs(lim[4]["value"] - 18.0) < 0.3
    assert d["states"] == {"1": "normal", "2": "normal", "3": "shed", "4": "shed"}
    assert d["fb"] == {"1": True, "2": True, "3": False, "4": False}
    assert not [e for e in d["events"] if e[3] == "trip"]


def test_welded_relay_detected_within_200ms(sc):
    d = sc["weld"]
    assert seq(d, "O7") == [("outlet_on", "switched"), ("welded", "lockout"), ("prot_reset", "refused")]
    t, _, _, _, v, _ = ev(d, "welded", "O7")[0]
    assert 0 < t - d["t_off"] <= 200
    assert v["commanded"] is False and v["feedback"] is True and abs(v["current_a"] - 5.657) < 0.1
    assert v["state"] == "lockout"
    assert d["state"] == "lockout" and d["reset_ok"] is False
    assert d["audit"] == [["alice", "reset O7 lockout (welded): refused, current flows", "refused"]]
    assert d["commands"][-1][1:] == ["outlet 7 off (feedback on)", "failed"]   # the open that welded


def test_ssr_thermal_derate_then_trip(sc):
    d = sc["ssr_derate"]   # outlet 21 (triac), 14 A; inlet air 80 C from t = 1 s
    assert seq(d, "O21") == [("outlet_on", "switched"), ("derate", "derate"), ("oc_timed", "trip"),
                             ("outlet_off", "switched")]
    t_d, _, _, _, v, _ = ev(d, "derate", "O21")[0]
    ntc = [x for x in d["ntc"] if x[0] == 2000][0][1]
    t_est = ntc + 14.0 * 1.1 * 1.0           # NTC + I x V_on x Rth (ssr_rth_k_w)
    assert abs(v["value"] - t_est) < 1.0, (v["value"], t_est)
    allow = 16.0 * (110.0 - v["value"]) / (110.0 - 60.0)
    assert abs(v["limit"] - allow) < 0.05 and v["state"] == "derated"
    assert 1000 < t_d <= 2100
    t_t, _, _, _, w, _ = ev(d, "oc_timed", "O21")[0]
    expected = 30.0 / ((14.0 / v["limit"]) ** 2 - 1)   # the I^2t curve on the derated pickup
    assert abs((t_t - t_d) / 1000.0 - expected) <= 0.05 * expected + 0.02
    assert w["cause"] == "derated" and abs(w["limit"] - v["limit"]) < 0.05
    assert d["state"] == "cooldown" and d["fb"] is False


def test_residual_transient_ignored(sc):
    d = sc["rcm_transient"]     # 100 mA to earth for 50 ms on outlet 11
    rc = [e for e in d["events"] if e[1].startswith("rcm")]
    assert [(e[1], e[3]) for e in rc] == [("rcm_transient", "none")]
    v = rc[0][4]
    assert abs(v["value"] - 100.0) < 2.0 and v["window_ms"] == 50 and v["state"] == "ignored"
    assert abs(v["peak"] - 100.0 * math.sqrt(2)) < 3.0
    assert d["fb"] == {"10": True, "11": True}
    assert not [e for e in d["events"] if e[3] in ("trip", "isolate", "latch")]


def test_residual_sustained_isolated_and_latched(sc):
    d = sc["rcm_leak"]          # 50 mA to earth on outlet 11 (L2) from t = 1 s
    rc = [(e[0], e[1], e[2], e[3]) for e in d["events"] if e[1].startswith("rcm")]
    assert rc == [(1100, "rcm_alarm", "N", "alarm"), (1300, "rcm_isolate", "O11", "isolate"),
                  (1500, "rcm_latch", "O11", "latch")]
    iso = ev(d, "rcm_isolate", "O11")[0][4]
    assert abs(iso["value"] - 50.0) < 1.0 and iso["limit"] == 30.0 and iso["phase"] == "L2"
    assert abs(num(iso["leak_w"]) - 230.0 * 0.050) < 0.5       # V x I_leak located the outlet
    lat = ev(d, "rcm_latch", "O11")[0][4]
    assert lat["value"] < 1.0 and lat["state"] == "latched"
    assert d["fb"] == {"1": True, "10": True, "11": False, "19": True}
    ref = ev(d, "command_refused", "O11")[0][4]
    assert ref["who"] == "dave" and ref["cause"] == "residual"
    assert d["state"] == "tripped"


def test_retry_storm_held_off_by_cooldown_then_lockout(sc):
    d = sc["storm"]   # a client asks for switch-on every 50 ms for 11.5 s; 40 A overload, K = 1 s
    trips = ev(d, "oc_timed", "O8")
    assert [e[4]["cooldown_s"] for e in trips] == [2, 4, 8]          # cooldown x backoff^(k-1), typed
    assert [e[4]["trips"] for e in trips] == [1, 2, 3]   # typed values
    # each re-close came only after the previous cooldown had expired
    assert trips[1][0] - trips[0][0] >= 2000 and trips[2][0] - trips[1][0] >= 4000
    lock = ev(d, "lockout", "O8")
    assert len(lock) == 1 and lock[0][0] == trips[2][0] and lock[0][4]["trips"] == 3
    refused = ev(d, "command_refused", "O8")
    # at most one refusal event per second; the rest are counted
    ts = [e[0] for e in refused]
    assert all(b - a >= 990 for a, b in zip(ts, ts[1:]))
    counted = len(refused) + sum(int(e[4].get("suppressed", 0)) for e in refused) + d["pending_suppressed"]
    assert d["attempts"] >= 200
    # every request is accounted for: refused (logged or counted), the two
    # re-closes after a cooldown, and the few that found the outlet already on
    # before the first trip (t = 0.55 .. 0.70 s)
    assert d["attempts"] - 2 - 4 <= counted <= d["attempts"] - 2
    assert d["actuations"] == 6                      # 3 closes + 3 opens for ~230 requests
    assert d["state"] == "lockout"


def test_auto_retry_limited(sc):
    d = sc["autoretry"]
    names = [(e[1], e[3]) for e in d["events"] if e[2] == "O9"]
    assert names == [("outlet_on", "switched"), ("oc_timed", "trip"), ("outlet_off", "switched"),
                     ("retry", "retry"), ("oc_timed", "trip"), ("outlet_off", "switched")]
    t1 = ev(d, "oc_timed", "O9")[0][0]
    tr = ev(d, "retry", "O9")[0]
    assert 2000 <= tr[0] - t1 <= 3000 and tr[4]["attempt"] == 1 and tr[4]["limit"] == 1


def test_selectivity_outlet_then_branch_then_inlet(sc):
    d = sc["selectivity"]
    trips = [(e[0], e[2]) for e in d["events"] if e[3] == "trip"]
    # a short behind O4: only O4 acts
    assert trips[0] == (1010, "O4")
    # O5 welded, then a short behind it: O5 acts, its relay cannot clear it, B1
    # acts after O5's opening time, then the inlet phase L1
    assert [c for t, c in trips[1:]] == ["O5", "B1", "L1"]
    t5, tb, tl = [t for t, c in trips[1:]]
    assert t5 - 2001 <= 20 and 20 <= tb - t5 <= 60 and 20 <= tl - tb <= 60
    b1 = ev(d, "oc_instant", "B1")[0][4]
    assert b1["outlets"] == "2,5" and b1["limit"] == 90.0
    assert ev(d, "welded", "O5") and d["states"]["5"] == "lockout"
    assert d["fb"] == {"2": False, "4": False, "5": True, "7": False}


def test_switching_failures_are_distinct_states(sc):
    d = sc["failures"]
    got = [(e[1], e[2], e[3]) for e in d["events"] if e[1] in ("close_failed", "open_failed", "welded",
                                                                "switch_unknown")]
    assert got == [("close_failed", "O12", "none"), ("open_failed", "O13", "lockout"),
                   ("welded", "O22", "lockout"), ("switch_unknown", "O14", "lockout")]
    cf = ev(d, "close_failed", "O12")[0][4]
    assert cf["feedback"] is False and cf["commanded"] is True and cf["current_a"] == 0.0
    of = ev(d, "open_failed", "O13")[0][4]
    assert of["feedback"] is True and of["current_a"] == 0.0
    wd = ev(d, "welded", "O22")[0][4]          # triac failed short: current after the gate went low
    assert wd["current_a"] > 4.0
    un = ev(d, "switch_unknown", "O14")[0][4]  # current flows, feedback says open
    assert un["feedback"] is False and un["current_a"] > 3.0
    assert d["states"] == {"12": "normal", "13": "lockout", "14": "lockout", "22": "lockout"}


def test_sequence_stops_on_abnormal_signature(sc):
    d = sc["seq_abort"]
    ab = ev(d, "seq_abort")
    assert [(e[4]["reason"], e[4]["started"], e[4]["count"]) for e in ab] == \
        [("O3 inrush sustained", 4, 6), ("O9 short", 4, 5)]
    ia = ev(d, "inrush_abnormal", "O3")[0]
    assert ia[3] == "stop" and ia[4]["shape"] == "sustained"
    tr = ev(d, "oc_instant", "O9")[0][4]             # closing onto a short inside the inrush window
    assert tr["limit"] == 95.0 and tr["state"] == "latched"
    fb = d["fb"]
    assert [fb[str(n)] for n in range(1, 12)] == [True, True, True, True, False, False, True, True, False,
                                                  True, False]


def test_group_operations_and_power_on_delays(sc):
    d = sc["groups"]
    offs = [e for e in d["events"] if e[1] == "outlet_off" and e[4]["who"] == "ops" and e[2] in ("O7", "O8", "O9")]
    assert len(offs) == 3 and len({e[0] for e in offs}) == 1          # the branch off together
    o16 = [(e[0], e[1]) for e in d["events"] if e[2] == "O16" and e[1] in ("outlet_on", "outlet_off")]
    assert [x[1] for x in o16] == ["outlet_on", "outlet_off", "outlet_on"]
    assert 500 <= o16[2][0] - o16[1][0] <= 600                        # cycled with 500 ms off
    on19 = ev(d, "outlet_on", "O19")[0][0] - d["t_seq"]
    on20 = ev(d, "outlet_on", "O20")[0][0] - d["t_seq"]
    assert d["delays"] == {"19": 300, "20": 700}
    assert 300 <= on19 <= 300 + 60 and 700 <= on20 <= 700 + 60
    assert d["fb"] == {"7": False, "8": False, "9": False, "16": True, "19": True, "20": True}


def test_stalled_adc_reported_and_feedback_only_verification(sc):
    d = sc["stall"]     # adc5 (group 5: outlets 13-15) stops delivering from t = 1 s until t = 3 s
    deg = [(e[0], e[4]["cause"]) for e in ev(d, "prot_degraded", "G5")]
    assert [c for t, c in deg] == ["no current measurement", "measurement back"]
    assert 1000 < deg[0][0] <= 2100 and 3000 < deg[1][0] <= 4100
    off = ev(d, "outlet_off", "O13")[0][4]
    assert off["evidence"] == "feedback" and off["feedback"] is False and "current_a" not in off
    assert d["fb"] is False and d["stalled"] is False

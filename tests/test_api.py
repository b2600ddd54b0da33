"""The REST API with real clients over real sockets against the firmware on
the unix port (sim.main in real time): first boot, default passwords, roles,
audited switching, refusals with their reason, events across a ring wrap,
records against the record store, settings validation, tokens and guessing."""
import json
import time

import pytest
from mputil import run_mp
from pduhttp import ADMIN_PW, Pdu

SCENARIO = {"seed": 3, "power_on": [1, 2, 3, 4, 5, 6], "stagger_ms": 100,
            "loads": {str(n): {"kind": "resistive", "irms": 2.0} for n in range(1, 7)},
            "events": [{"t": 6.0, "do": "fault", "outlet": 4, "kind": "short", "ipk": 300.0}]}
DEFAULT_PAIRS = [("admin", "admin"), ("admin", "password"), ("apc", "apc"), ("admin", "raritan"),
                 ("root", "root"), ("admin", "1234"), ("admin", "12345678"), ("admin", ""),
                 ("root", "calvin"), ("admin", "default"), ("user", "user"), ("admin", "changeme")]


@pytest.fixture(scope="module")
def pdu(tmp_path_factory):
    p = Pdu(tmp_path_factory.mktemp("api"), scenario=SCENARIO)
    yield p
    p.stop()


@pytest.fixture(scope="module")
def admin(pdu):
    # first boot: nothing but setting the admin password answers
    for method, path, body in (("GET", "/api/v1/device", None), ("GET", "/api/v1/outlets", None),
                               ("GET", "/metrics", None), ("POST", "/api/v1/login",
                                                           {"user": "admin", "password": "admin"})):
        st, _, b = pdu.req(method, path, body=body)
        assert st == 403 and "setup required" in b["error"], (path, st, b)
    for weak in ("admin", "password", "12345678", "apc"):
        st, _, b = pdu.req("POST", "/api/v1/setup", body={"password": weak})
        assert st == 400, (weak, st, b)
    tok = pdu.setup_admin()
    st, _, b = pdu.req("POST", "/api/v1/setup", body={"password": "another strong one"})
    assert st == 409
    return tok


@pytest.fixture(scope="module")
def users(pdu, admin):
    for name, role in (("olga", "operator"), ("victor", "viewer")):
        st, _, b = pdu.req("POST", "/api/v1/users", admin, {"name": name, "role": role,
                                                           "password": "%s-pass-2026" % name})
        assert st == 201, b
        assert b["user"]["role"] == role and "password" not in json.dumps(b).replace("password_set", "")
    return {"operator": pdu.login("olga", "olga-pass-2026"), "viewer": pdu.login("victor", "victor-pass-2026")}


def test_every_read_needs_an_identity_after_setup(pdu, admin):
    for path in ("/api/v1/device", "/api/v1/outlets", "/api/v1/events", "/metrics", "/pee.xml"):
        st, hd, b = pdu.req("GET", path)
        assert st == 401 and hd.get("www-authenticate", "").startswith("Bearer"), (path, st)
    st, _, b = pdu.req("GET", "/api/v1/device", admin)
    assert st == 200 and b["board"] == "sim24" and b["fw_version"] and b["boot_count"] >= 1


def test_no_common_default_pair_logs_in(pdu, admin):
    # each from its own address, so the per-address limit does not hide a success
    for i, (user, pw) in enumerate(DEFAULT_PAIRS):
        st, _, b = pdu.req("POST", "/api/v1/login", body={"user": user, "password": pw}, src="127.0.0.%d" % (20 + i))
        assert st in (401, 429), (user, pw, st, b)
        assert "token" not in b


def test_roles(pdu, admin, users):
    op, vw = users["operator"], users["viewer"]
    st, _, b = pdu.req("GET", "/api/v1/outlets", vw)
    assert st == 200 and len(b["outlets"]) == 24
    # a viewer reads but cannot switch
    st, _, b = pdu.req("POST", "/api/v1/outlets/O5/command", vw, {"action": "off"})
    assert st == 403
    # an operator switches, but manages neither users nor settings
    st, _, b = pdu.req("POST", "/api/v1/outlets/O5/command", op, {"action": "off"})
    assert st == 200 and b["result"] == "done" and b["state"] == "off", b
    st, _, b = pdu.req("PATCH", "/api/v1/settings", op, {"system": {"location": "row 3"}})
    assert st == 403
    st, _, b = pdu.req("POST", "/api/v1/users", op, {"name": "eve", "role": "admin", "password": "eve-pass-2026"})
    assert st == 403
    st, _, b = pdu.req("GET", "/api/v1/users", op)
    assert st == 403
    # an admin can
    st, _, b = pdu.req("PATCH", "/api/v1/settings", admin, {"system": {"location": "row 3"}})
    assert st == 200 and b["changed"]["system.location"]["new"] == "row 3", b
    st, _, b = pdu.req("POST", "/api/v1/outlets/O5/command", admin, {"action": "on"})
    assert st == 200 and b["state"] == "on"


def test_switching_is_in_the_event_and_audit_logs_with_who_interface_and_address(pdu, admin, users):
    for action in ("on", "off"):    # (on first: boot's power-up sequence may not have reached O6 yet)
        st, _, b = pdu.req("POST", "/api/v1/outlets/O6/command", users["operator"], {"action": action})
        assert st == 200 and b["result"] == "done" and b["state"] == action, b
    st, _, ev = pdu.req("GET", "/api/v1/events?channel=O6&event=outlet_off", admin)
    assert st == 200 and ev["events"], ev
    e = ev["events"][-1]
    assert e["values"]["who"] == "http:olga@127.0.0.1" and e["values"]["feedback"] is False
    assert e["timestamp_utc"].endswith("Z") and e["severity"] == "info"
    st, _, au = pdu.req("GET", "/api/v1/audit?limit=200", admin)
    assert st == 200
    mine = [a for a in au["entries"] if a["what"] == "outlet 6 off"]
    assert mine and mine[-1]["who"] == "http:olga@127.0.0.1" and mine[-1]["result"] == "ok"
    assert mine[-1]["kind"] == "command" and mine[-1]["timestamp_utc"].startswith("20")


def test_a_command_on_a_latched_outlet_is_refused_with_its_reason(pdu, admin, users):
    # the scenario shorts outlet 4 at t=6 s: an instantaneous trip, latched
    t_end = time.monotonic() + 30
    while time.monotonic() < t_end:
        st, _, ev = pdu.req("GET", "/api/v1/events?channel=O4&event=oc_instant", admin)
        if ev["events"]:
            break
        time.sleep(0.5)
    assert ev["events"], pdu.output()[-2000:]
    st, _, o4 = pdu.req("GET", "/api/v1/outlets/O4", users["viewer"])
    assert o4["state"] == "off" and o4["protection"]["state"] == "latched" and o4["protection"]["reason"] == "short"
    st, _, b = pdu.req("POST", "/api/v1/outlets/O4/command", users["operator"], {"action": "on"})
    assert st == 409 and b["result"] == "refused" and b["reason"] == "latched", b
    # a reset is an admin's (audited); the operator is refused
    st, _, b = pdu.req("POST", "/api/v1/outlets/O4/reset", users["operator"], {"reason": "try"})
    assert st == 403


def test_settings_out_of_range_refused_naming_the_field_and_nothing_changes(pdu, admin):
    st, _, before = pdu.req("GET", "/api/v1/settings", admin)
    st, _, b = pdu.req("PATCH", "/api/v1/settings", admin,
                       {"record": {"keep_days": 99}, "system": {"name": "renamed"}})
    assert st == 400 and b["result"] == "refused"
    assert [e["field"] for e in b["errors"]] == ["record.keep_days"] and "99" in b["errors"][0]["message"]
    st, _, after = pdu.req("GET", "/api/v1/settings", admin)
    assert after == before
    for bad in ({"record": {"keep_days": "4"}}, {"nosuch": {"x": 1}}, [1, 2], "x"):
        st, _, b = pdu.req("PATCH", "/api/v1/settings", admin, bad)
        assert st == 400, (bad, b)
    st, _, b = pdu.req("PATCH", "/api/v1/settings", admin, b"{not json")
    assert st == 400 and b["error"] == "body: invalid JSON"


def test_wrong_types_unknown_outlets_and_methods(pdu, admin):
    assert pdu.req("POST", "/api/v1/outlets/O4/command", admin, {"action": 1})[0] == 400
    assert pdu.req("POST", "/api/v1/outlets/O4/command", admin, {"action": "explode"})[0] == 400
    assert pdu.req("GET", "/api/v1/outlets/O99", admin)[0] == 404
    assert pdu.req("GET", "/api/v1/outlets/X", admin)[0] == 404
    assert pdu.req("POST", "/api/v1/outlets/O25/command", admin, {"action": "on"})[0] == 404
    st, hd, _ = pdu.req("DELETE", "/api/v1/outlets", admin)
    assert st == 405 and "GET" in hd["allow"]
    assert pdu.req("GET", "/api/v1/events?since=-1", admin)[0] == 400
    assert pdu.req("GET", "/api/v1/events?limit=0", admin)[0] == 400
    assert pdu.req("GET", "/api/v1/records?from=10&to=5", admin)[0] == 400
    assert pdu.req("GET", "/api/v1/nosuch", admin)[0] == 404


def test_forged_expired_and_revoked_tokens(pdu, admin):
    assert pdu.req("GET", "/api/v1/device", "pdus_" + "0" * 64)[0] == 401
    assert pdu.req("GET", "/api/v1/device", admin[:-1] + ("0" if admin[-1] != "0" else "1"))[0] == 401
    assert pdu.req("GET", "/api/v1/device", "x" * 5000)[0] in (401, 431)
    st, _, b = pdu.req("POST", "/api/v1/tokens", admin, {"name": "scraper", "role": "viewer"})
    assert st == 201
    tok = b["token"]
    assert pdu.req("GET", "/metrics", tok)[0] == 200
    st, _, lst = pdu.req("GET", "/api/v1/tokens", admin)
    assert [t["name"] for t in lst["tokens"]] == ["scraper"] and tok not in json.dumps(lst)
    assert pdu.req("DELETE", "/api/v1/tokens/scraper", admin)[0] == 200
    assert pdu.req("GET", "/metrics", tok)[0] == 401
    # a logged-out session is dead
    s = pdu.login("victor", "victor-pass-2026")
    assert pdu.req("POST", "/api/v1/logout", s)[0] == 200
    assert pdu.req("GET", "/api/v1/device", s)[0] == 401


def test_password_guessing_is_rate_limited_locked_out_and_audited(pdu, admin):
    codes = [pdu.req("POST", "/api/v1/login", body={"user": "victor", "password": "guess-%d" % i},
                     src="127.0.0.77")[0] for i in range(8)]
    assert codes[:5] == [401] * 5 and codes[5:] == [429] * 3, codes
    # locked out even with the right password, for now
    st, hd, _ = pdu.req("POST", "/api/v1/login", body={"user": "victor", "password": "victor-pass-2026"},
                        src="127.0.0.78")
    assert st == 429 and int(hd["retry-after"]) > 0
    st, _, au = pdu.req("GET", "/api/v1/audit?limit=200", admin)
    logins = [a for a in au["entries"] if a["kind"] == "login" and a["who"] == "victor"]
    assert any(a["result"] == "denied" for a in logins)
    assert any("lock" in a["what"] for a in logins), logins


def test_events_paged_by_cursor_across_a_ring_wrap_report_missed(pdu, admin):
    # 24 outlet names per change set: one config_changed event each; 45 sets wrap the 1024-slot ring
    for k in range(45):
        names = {str(n): {"name": "r%d-o%d" % (k, n)} for n in range(1, 25)}
        st, _, b = pdu.req("PATCH", "/api/v1/settings", admin, {"outlets": names})
        assert st == 200, b
    st, _, page = pdu.req("GET", "/api/v1/events?since=1&limit=200", admin)
    assert page["missed"] > 0, page["missed"]
    first = page["events"][0]["seq"]
    assert first == 1 + page["missed"] + 1 or first > 2
    # page through to the end with the cursor: strictly increasing, nothing skipped
    seqs = [e["seq"] for e in page["events"]]
    cur = page["next"]
    while True:
        st, _, page = pdu.req("GET", "/api/v1/events?since=%d&limit=200" % cur, admin)
        assert page["missed"] == 0
        if not page["events"]:
            break
        seqs += [e["seq"] for e in page["events"]]
        cur = page["next"]
    assert seqs == list(range(seqs[0], seqs[-1] + 1))
    assert seqs[-1] >= page["last_seq"] - 5      # (a few more may have been logged meanwhile)


def test_records_over_a_range_match_the_record_store(pdu, admin, tmp_path):
    # 1-minute records: wait for two to close
    st, _, b = pdu.req("PATCH", "/api/v1/settings", admin, {"record": {"period_min": 1}})
    assert st == 200
    t_end = time.monotonic() + 150
    recs = []
    while time.monotonic() < t_end:
        st, _, r = pdu.req("GET", "/api/v1/records?from=0&limit=500", admin)
        assert st == 200
        recs = r["records"]
        if len(recs) >= 2:
            break
        time.sleep(2)
    assert len(recs) >= 2, recs
    assert r["period_s"] == 60
    st, _, one = pdu.req("GET", "/api/v1/records?from=%d&to=%d&channel=O1" % (recs[0]["utc_s"], recs[1]["utc_s"]),
                         admin)
    assert [x["utc_s"] for x in one["records"]] == [recs[0]["utc_s"]] and list(one["records"][0]["channels"]) == ["O1"]
    # the same records read straight from the flash file after the PDU stops
    out = pdu.stop()
    script = tmp_path / "read_records.py"
    script.write_text(
        "import json, vfs\n"
        "from sim.blockdev import BlockDev\n"
        "from boardconfig import sim24\n"
        "from core.records import Records\n"
        "from metrology.meter import output_channels\n"
        "from firmware.stores import record_channels\n"
        "f = sim24.FLASH\n"
        "bd = BlockDev(f['block_size'], f['size'] // f['block_size'], path=%r)\n"
        "fs = vfs.VfsLfs2(bd)\n"
        "r = Records(fs, record_channels(output_channels(sim24)[0], sim24))\n"
        "for x in r.query(%d, %d):\n"
        "    print(json.dumps({'utc_s': x['utc_s'], 'n_s': x['n_s'], 'O1': x['channels']['O1']}))\n"
        % (pdu.flash, recs[0]["utc_s"], recs[-1]["utc_s"] + 1))
    p = run_mp(script=str(script), timeout=120)
    stored = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    assert [s["utc_s"] for s in stored] == [x["utc_s"] for x in recs], out[-1500:]
    for s, x in zip(stored, recs):
        assert s["n_s"] == x["n_s"]
        for k, v in s["O1"].items():
            if k == "e_mj":
                continue
            avg, mn, mx = v
            api = x["channels"]["O1"][k]
            for a, b in ((avg, api["avg"]), (mn, api["min"]), (mx, api["max"])):
                assert (a != a and b is None) or abs(a - b) <= 1e-3 * max(1.0, abs(a)), (k, a, b)
        assert abs(s["O1"]["e_mj"] / 3600000.0 - x["channels"]["O1"]["e_wh"]) < 1e-9

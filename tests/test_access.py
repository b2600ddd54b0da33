"""Users and access (comms/access.py) and PBKDF2-HMAC-SHA256 (comms/pbkdf2.py):
no default password, setup mode, roles, sessions and API tokens, rate
limiting and lockout, last-admin protection, secrets never read back,
persistence with atomic writes and power cuts, uplink credentials; PBKDF2
and HMAC against CPython's hashlib/hmac."""
import hashlib
import hmac
import json
import os
import re

import pytest
from mputil import ROOT, run_mp, run_mp_json

GOOD = "Corr3ct-Horse-Battery"


@pytest.fixture(scope="module")
def cases():
    rows = run_mp_json(script="tests/mp/access_cases.py", timeout=300)
    got = {r["case"]: r for r in rows}
    assert set(got) == {"setup", "defaults", "policy", "roles", "expiry", "forged", "ratelimit", "lastadmin",
                        "users", "secrets", "persist", "powercut_ram", "powercut_lfs", "corrupt", "uplinks"}
    return got


# --- PBKDF2 / HMAC ----------------------------------------------------------------------------------
PBKDF2_VECTORS = [
    (b"passwd", b"salt", 1, 64),                       # RFC 7914 section 11
    (b"Password", b"NaCl", 80000, 64),                 # RFC 7914 section 11
    (b"password", b"salt", 1, 32),
    (b"password", b"salt", 2, 32),
    (b"password", b"salt", 4096, 32),
    (b"passwordPASSWORDpassword", b"saltSALTsaltSALTsaltSALTsaltSALTsalt", 4096, 40),
    (b"pass\x00word", b"sa\x00lt", 4096, 16),
    (b"", b"salt", 3, 32),
    (b"x" * 64, b"s", 33, 32),                         # key exactly one block
    (b"y" * 65, b"s", 31, 32),                         # key longer than a block: hashed first
    (b"z" * 200, os.urandom(16), 32, 1),               # one slice exactly, 1-byte key
    (os.urandom(20), os.urandom(16), 1000, 33),        # partial second block
    (os.urandom(12), os.urandom(16), 10000, 32),       # the floor of the production count
    ("pässwörd".encode(), os.urandom(16), 20000, 100),
]
HMAC_VECTORS = [
    (b"key", b"The quick brown fox jumps over the lazy dog"),
    (b"", b""),
    (b"k" * 64, b"m" * 200),
    (b"K" * 131, b"msg"),                              # RFC 4231 test case 6 shape: key > block
    (bytes(range(256))[:20], b"Hi There"),
]


@pytest.fixture(scope="module")
def pbkdf2_run():
    vec = {"pbkdf2": [[p.hex(), s.hex(), i, d] for p, s, i, d in PBKDF2_VECTORS],
           "hmac": [[k.hex(), m.hex()] for k, m in HMAC_VECTORS]}
    p = run_mp(script="tests/mp/access_pbkdf2.py", stdin=json.dumps(vec), timeout=300)
    return {r["case"]: r for r in (json.loads(line) for line in p.stdout.splitlines() if line.startswith("{"))}


def test_pbkdf2_matches_cpython(pbkdf2_run):
    got = pbkdf2_run["vectors"]["pbkdf2"]
    want = [hashlib.pbkdf2_hmac("sha256", p, s, i, d).hex() for p, s, i, d in PBKDF2_VECTORS]
    assert got == want
    # RFC 7914 section 11, written out
    assert got[0].startswith("55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc")
    assert got[1].startswith("4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56")
    assert pbkdf2_run["vectors"]["str_password"] == \
        hashlib.pbkdf2_hmac("sha256", "pässword".encode(), b"salt", 3, 32).hex()


def test_hmac_matches_cpython_and_compare_is_exact(pbkdf2_run):
    v = pbkdf2_run["vectors"]
    assert v["hmac"] == [hmac.new(k, m, "sha256").hexdigest() for k, m in HMAC_VECTORS]
    assert v["equal"] == [True, False, False, True, True, False]
    assert pbkdf2_run["bad_args"]["errors"] == ["pbkdf2: iterations must be >= 1", "pbkdf2: dklen 1..1024",
                                                "pbkdf2: dklen 1..1024"]


def test_pbkdf2_yields_so_other_tasks_keep_running(pbkdf2_run):
    s = pbkdf2_run["sharing"]
    sl, un, lg = s["sliced"], s["unsliced"], s["login"]
    # one scheduler pass per SLICE iterations: deterministic
    assert sl["passes"] == (10000 - 1) // s["SLICE"]
    assert lg["passes"] >= (lg["users_iterations"] - 1) // s["SLICE"]
    # the 1 ms ticker ran all along (its typical gap is its own period) ...
    assert sl["ticks"] >= 5 and sl["median_gap_us"] < 5000
    assert lg["ticks"] >= 5 and lg["median_gap_us"] < 5000
    # ... where without slicing it waits for the whole derivation (the control)
    assert un["passes"] == 0 and un["ticks"] <= 1 and un["worst_gap_us"] >= un["total_us"] * 0.9
    # generous sanity bound only: the worst gap is the host's scheduling as much as ours
    assert sl["worst_gap_us"] < 1000000
    print("\nPBKDF2 10,000 iterations: %.1f ms, %d yields, %.3f ms per slice of %d; 1 ms ticker: median gap "
          "%.2f ms, worst %.2f ms (without yielding: %.1f ms)" % (
              sl["total_us"] / 1e3, sl["passes"], sl["total_us"] / 1e3 / max(1, sl["passes"]), s["SLICE"],
              sl["median_gap_us"] / 1e3, sl["worst_gap_us"] / 1e3, un["worst_gap_us"] / 1e3))
    print("login at %d iterations: %.1f ms; ticker median gap %.2f ms, worst %.2f ms" % (
        lg["users_iterations"], lg["total_us"] / 1e3, lg["median_gap_us"] / 1e3, lg["worst_gap_us"] / 1e3))


def test_production_iteration_count_is_sensible():
    src = (ROOT / "comms" / "access.py").read_text()
    n = int(re.search(r"^DEFAULT_ITERATIONS = const\((\d+)\)", src, re.M).group(1))
    assert n >= 10000


# --- setup mode and default passwords --------------------------------------------------------------
def test_setup_mode_refuses_everything_but_the_first_admin(cases):
    c = cases["setup"]
    assert c["needs_setup"] is True and c["boot_state"] == "setup"
    assert c["boot_audit"] == []      # a new device: setup mode is not a fault (a damaged store is audited)
    b = c["before"]
    assert b["login"] == 403 and b["identify"] is None and b["permits_none"] is False
    # even a made-up admin identity is worth nothing before setup
    assert b["permits_forged_identity"] == [False] * 9
    for k in ("users", "users_forged", "add_user", "create_token", "uplinks", "set_mqtt", "set_metrics_anonymous"):
        assert b[k] == 403, k
    assert b["metrics_anonymous"] is False
    assert c["still_setup"] is True and c["files_before"] == []
    assert c["after"] == {"needs_setup": False, "files": ["/access.json", "/access.json.b"], "again": 409}
    assert c["admin"] == ["admin", "admin", "session"]


def test_setup_refuses_common_default_passwords(cases):
    r = cases["setup"]["refused"]
    for pw in ("admin", "password", "apc", "raritan", "root", "1234", "12345678", "default", "changeme", "pdu",
               "Admin", "PASSWORD", "short", "", "aaaaaaaaaa", "administrator", "changeme1"):
        assert r[pw][0] == 400, pw
    assert r["password"][1] == "password: a common default password is not allowed"
    assert r["12345678"][1] == "password: a common default password is not allowed"
    assert r["pdu"][1] == "password: at least 8 characters"
    # refused setups are audited
    au = cases["setup"]["audit"]
    assert sum(1 for a in au if a[3] == "refused" and a[2].startswith("setup: first admin admin: password")) == 17
    assert ["config", "http:admin@10.0.0.9", "setup: first admin admin", "ok"] in au


def test_no_common_default_pair_logs_in_or_can_be_created(cases):
    c = cases["defaults"]
    assert len(c["logins"]) == 23 and set(c["logins"].values()) == {401}
    assert c["adds"] and set(c["adds"].values()) == {400}
    assert set(c["sets"].values()) == {400} and len(c["sets"]) == 10
    assert c["users"] == ["admin", "op", "vi"]


def test_password_policy(cases):
    c = cases["policy"]
    r = c["res"]
    assert r["bob/bobbobbob"] is None and r["dave/dave1234"] is None and r["erin/Tr0ub4dor&3"] is None
    assert r["carol/carolcarol"] is None and r["erin/ümlaut-pässwort"] is None
    assert r["erin/xxxxxxx"] == "password: at least 8 characters"
    assert r["erin/xxxxxxxx"] == "password: must not be one repeated character"
    assert r["erin/" + "a" * 129] == "password: at most 128 characters"
    assert r["erin/a\nbcdefghi"] == "password: no control characters"
    assert r["erin/12345678"] == "password: a string is required"      # an int, not a str
    assert r["erin/password"] == "password: a common default password is not allowed"
    for pw in ("admin", "password", "apc", "raritan", "root", "1234", "12345678", "default", "changeme", "pdu"):
        assert pw in c["common"]
    # every listed default is refused, by the list itself once it is long enough
    assert all(c["common"].values())
    assert {why for pw, why in c["common"].items() if len(pw) >= 8} == {
        "password: a common default password is not allowed"}
    assert c["names"] == {"ok": True, "a": True, "a" * 32: True, "a" * 33: False, "": False, "-x": False,
                          "x y": False, "token:x": False, "ü": False, "A.b_c-d": True, "5": False}


def test_password_equal_to_user_name_is_refused(cases):
    # same check through the policy function with names long enough to pass the length rule
    c = cases["policy"]["res"]
    assert c["operator1/OPERATOR1"] == "password: must not be the user name"
    assert c["carol.smith/carol.smith"] == "password: must not be the user name"
    assert c["bob/bobbobbob"] is None   # containing the name is allowed, equal is not


# --- roles ---------------------------------------------------------------------------------------------
def test_role_table(cases):
    c = cases["roles"]
    assert c["roles"] == ["viewer", "operator", "admin"]
    assert c["permissions"] == {"read": "viewer", "metrics": "viewer", "switch": "operator", "reset": "admin",
                                "settings": "admin", "users": "admin", "credentials": "admin",
                                "calibration": "admin", "update": "admin"}
    t = c["table"]
    everything = set(c["permissions"])
    assert {a for a, v in t["admin"].items() if v} == everything
    assert {a for a, v in t["op"].items() if v} == {"read", "metrics", "switch"}
    assert {a for a, v in t["vi"].items() if v} == {"read", "metrics"}
    for who in t:
        assert t[who]["nonsense"] is False and t[who][""] is False


def test_only_admins_manage_and_refusals_are_audited(cases):
    c = cases["roles"]
    for u in ("op", "vi"):
        m = c["mgmt"][u]
        for k, v in m.items():
            if k == "user_self":
                assert v["name"] == u and v["password_set"] is True
            else:
                assert v == 403, (u, k)
    assert len(c["denied"]) == 22 and {d[2] for d in c["denied"]} == {"denied"}
    assert ["http:op@10.0.0.2", "user eve add (admin): not permitted", "denied"] in c["denied"]
    assert ["http:vi@10.0.0.2", "user vi role admin: not permitted", "denied"] in c["denied"]


def test_tokens_carry_their_role_and_role_changes_apply_at_once(cases):
    c = cases["roles"]
    assert c["token"] == ["token:scraper", "viewer", "token", True, True, False, False]
    assert c["promoted"] == ["operator", True]


# --- sessions and tokens ----------------------------------------------------------------------------------
def test_session_expiry_idle_and_absolute(cases):
    c = cases["expiry"]
    assert c["constants"] == {"idle": 15 * 60 * 1000, "max": 8 * 3600 * 1000}
    assert c["expires_in_ms"] == 15 * 60 * 1000
    assert c["idle_just_before"] is True and c["idle_after"] is None and c["idle_after_again"] is None
    alive = c["absolute_alive_10min_steps"]
    # used every 10 minutes: alive through 7 h 50 min, gone at 8 h
    assert alive[:47] == [True] * 47 and alive[47:] == [False, False]
    assert c["api_token_after_30_days"] is True
    assert c["sessions_after_housekeep"] == 0


def test_forged_expired_revoked_and_foreign_tokens_identify_nobody(cases):
    c = cases["forged"]
    assert c["good_session"] is True and c["good_token"] is True
    for k in ("none", "empty", "int", "random_session", "random_token", "flipped_session", "flipped_token_last",
              "session_as_token_prefix", "token_as_session_prefix", "truncated", "extended", "upper",
              "stored_hash_as_bearer", "after_logout", "after_revoke", "session_after_reboot", "foreign_session"):
        assert c[k] is None, k
    assert c["logout"] is True and c["logout_again"] is False
    assert c["token_after_reboot"] == "Identity('token:nms2', 'viewer', 'token')"


def test_sessions_are_bounded_oldest_dropped(cases):
    c = cases["users"]
    assert c["sessions_full"] == 16 and c["first_alive_before"] is True and c["all_alive_before"] == 15
    assert c["sessions_after"] == 16 and c["oldest_dropped"] is True and c["others_alive_after"] == 15


# --- rate limiting ---------------------------------------------------------------------------------------------
def test_user_lockout_after_five_failures_audited(cases):
    c = cases["ratelimit"]
    assert c["constants"] == [5, 10, 900000, 300000, 3600000, 32, 2]
    assert c["user_failures"] == [401] * 5
    assert c["locked_good_password"] == [429, "too many failed logins: try again later", 300]
    assert c["locked_again"] == 429
    assert c["other_user_meanwhile"] == "ok"
    assert c["after_4min59"] == 429 and c["after_5min"] == "ok"
    au = c["user_audit"]
    assert au[:5] == [["login", "op", "login http 10.2.0.%d:9: bad credentials" % k, "denied"] for k in range(5)]
    assert au[5] == ["login", "op", "login http 10.2.0.4:9: user locked out 300 s", "refused"]
    assert au[6] == ["login", "op", "login http 10.2.0.99:9: refused, user locked out 300 s", "refused"]
    # further refusals in the same lockout are not audited one by one (the ring is not flushed)
    assert au[7] == ["login", "vi", "login http 10.2.0.99:9", "ok"]
    assert au[8] == ["login", "op", "login http 10.2.0.99:9", "ok"]
    assert len(au) == 9


def test_repeated_lockouts_double_up_to_the_cap(cases):
    assert cases["ratelimit"]["lockouts_retry_after_s"] == [300, 600, 1200, 2400]


def test_peer_lockout_after_ten_failures(cases):
    c = cases["ratelimit"]
    assert c["peer_failures"] == [401] * 10
    assert c["peer_locked_good_login"] == 429 and c["other_peer_good_login"] == "ok"
    au = c["peer_audit"]
    assert au[10] == ["login", "ghost9", "login http 10.3.0.1:1009: peer locked out 300 s", "refused"]
    assert au[11] == ["login", "vi", "login http 10.3.0.1:2000: refused, peer locked out 300 s", "refused"]
    assert au[12] == ["login", "vi", "login http 10.3.0.2:2000", "ok"]


def test_unknown_user_looks_like_wrong_password_and_work_is_bounded(cases):
    c = cases["ratelimit"]
    assert c["unknown_vs_wrong"] == [[401, "bad credentials"], [401, "bad credentials"]]
    assert c["concurrent"] == ["ok", "ok", 429]
    assert c["tracked"] == [32, 32]


# --- user management ---------------------------------------------------------------------------------------------
def test_last_admin_cannot_be_deleted_or_demoted(cases):
    c = cases["lastadmin"]
    assert c["delete_last"] == 409 and c["demote_last"] == 409
    assert c["reason"] == "the last admin cannot be deleted"
    assert c["demote_first_with_two"] == "ok" and c["delete_boss_now_last"] == 409
    assert c["boss_delete_self_last"] == 409 and c["boss_delete_self_with_two"] == "ok"
    assert c["boss_session_after"] is None and c["admins"] == ["admin"]
    assert c["unknown"] == [404, 404, 400]
    assert ["user boss delete: the last admin cannot be deleted", "refused"] in c["audit_tail"]
    assert ["user admin role admin -> operator", "ok"] in c["audit_tail"]


def test_passwords_and_sessions_on_change_and_delete(cases):
    c = cases["users"]
    assert c["self_no_old"] == 401 and c["self_wrong_old"] == 401 and c["self_weak"] == 400
    assert c["self_ok"] == "ok" and c["own_session_kept"] is True and c["other_session_ended"] is None
    assert c["old_pw"] == 401 and c["new_pw"] == "ok"
    assert c["admin_reset_ends_sessions"] is None
    assert c["deleted_session"] is None and c["deleted_login"] == 401


def test_names_roles_and_limits(cases):
    c = cases["users"]
    assert c["bad_names"] == [400] * 5 and c["bad_role"] == 400 and c["dup"] == 409
    assert c["max_users"] == [16, 16, 409]
    assert c["max_tokens"] == [16, 16, 409]
    assert c["token_bad"] == [404, 409, 400]
    assert c["limits"] == [16, 16, 16, 32, 8, 128, 20000]


# --- secrets -----------------------------------------------------------------------------------------------------------
def test_no_secret_or_hash_is_ever_returned(cases):
    c = cases["secrets"]
    assert c["n_secrets"] == 13 and c["n_stored"] >= 16
    assert c["leaks"] == []
    o = c["outputs"]
    assert all(u["password_set"] is True and set(u) == {"name", "role", "password_set", "iterations",
                                                        "created_utc_ms", "changed_utc_ms"} for u in o["users"])
    assert set(o["tokens"][0]) == {"name", "role", "created_utc_ms", "created_by", "last_used_utc_ms"}
    up = o["uplinks"]
    assert up["mqtt"] == {"user": "pdu-7", "password_set": True, "command_enable": True}
    assert up["snmp"]["v3_users"][0] == {"name": "nmsv3", "auth": "SHA-256", "auth_key_set": True,
                                         "priv": "AES-128", "priv_key_set": True}
    assert o["repr_ident"] == "Identity('op', 'operator', 'session')"
    assert o["repr_access"].startswith("<Access users=4 tokens=1 sessions=")
    # the stored samples are real hex values (the search above looked for something)
    assert all(len(s) in (32, 64) and int(s, 16) >= 0 for s in c["stored_sample"])


def test_on_flash_only_what_must_be_there_in_clear(cases):
    # user passwords, tokens, community strings and SNMP passwords never reach flash;
    # the MQTT password must (the client presents it to the broker)
    assert cases["secrets"]["plain_in_file"] == ["mqtt-s3cret-pw"]


# --- persistence ---------------------------------------------------------------------------------------------------------
def test_everything_survives_a_reload(cases):
    c = cases["persist"]
    assert c["same"] is True and c["boot_state"] == "ok"
    assert c["token_ok"] == "Identity('token:prom', 'viewer', 'token')"
    assert c["metrics_anonymous"] is True and c["keys_same"] is True
    assert c["community"] == ["read", None, None]
    assert c["files"] == ["/access.json", "/access.json.b"] and c["same_copies"] is True
    assert c["format"] == "PDUACCESS "
    assert {u["name"]: u["role"] for u in c["before"]["users"]} == {"admin": "admin", "op": "operator",
                                                                    "vi": "operator"}
    assert c["before"]["uplinks"]["modbus"] == {"write_enable": False, "allow": ["192.168.7.20", "10.1.0.0/16"]}


def test_raised_iteration_count_rehashes_at_login(cases):
    c = cases["persist"]
    assert c["it_before"] == [64] and c["it_after"] == [128] and c["rehash_login_still_ok"] == "ok"
    assert ["user vi password hash raised to 128 iterations", "ok"] in c["rehash_audit"]


def test_power_cut_at_every_step_of_a_save_leaves_old_or_new(cases):
    c = cases["powercut_ram"]
    assert c["ops"] == ["open /access.json.tmp", "write /access.json.tmp", "close /access.json.tmp",
                        "rename /access.json.tmp /access.json", "open /access.json.tmp",
                        "write /access.json.tmp", "close /access.json.tmp", "rename /access.json.tmp /access.json.b"]
    res = c["results"]
    assert len(res) == 9
    for r in res:
        assert r["setup"] is False and r["admin_login"] == "ok", r
        if r["status"] == "ok":
            assert r["role"] == "operator" and r["ram_after_fail"] == "operator", r   # reported done: durable
        else:
            assert r["status"] == 503 and r["role"] == "viewer" and r["ram_after_fail"] == "viewer", r
    # the cut between the temp write (closed) and its rename: the old store
    between = res[3]
    assert between["op"] == "rename /access.json.tmp /access.json" and between["role"] == "viewer"
    assert between["boot_state"] == "ok"
    # copy A renamed, B not yet: the new store, B repaired at boot
    assert [r["boot_state"] for r in res[4:8]] == ["repaired"] * 4


def test_power_cut_on_littlefs_nor_flash_leaves_old_or_new(cases):
    c = cases["powercut_lfs"]
    assert c["cuts"] >= 90 and c["span"] > 4096
    assert c["other"] == []
    assert c["old"] > 0 and c["new"] > 0 and c["old"] + c["new"] == c["cuts"]
    assert c["ok_but_old"] == []


def test_corrupt_or_missing_copies_are_audited_and_repaired(cases):
    c = cases["corrupt"]
    assert c["a_flipped"] == ["repaired", False,
                              [["other", "access store A corrupt (checksum): repaired from B gen 3", "failed"]],
                              True, "ok"]
    assert c["b_missing"] == ["repaired", False,
                              [["other", "access store B missing: repaired from A gen 3", "failed"]], True]
    assert c["b_truncated"][:2] == ["repaired", False]
    assert c["a_no_admin"] == ["repaired", False,
                               [["other", "access store A corrupt (no admin): repaired from B gen 3", "failed"]]]
    assert c["b_behind"] == ["repaired", "operator",
                             [["other", "access store B behind: repaired from A gen 4", "ok"]]]
    assert c["tmp_left"] == ["ok", ["/access.json", "/access.json.b"]]
    assert c["too_large"][0] == "repaired" and "too large" in c["too_large"][1][0][1]


def test_no_valid_copy_is_setup_mode_audited_files_kept(cases):
    st, setup, au, files = cases["corrupt"]["both_bad"]
    assert st == "corrupt" and setup is True
    assert len(au) == 1 and au[0][0] == "other" and au[0][2] == "failed"
    assert au[0][1].startswith("access store A corrupt") and au[0][1].endswith(": setup mode")
    assert files == ["/access.json.b.bad", "/access.json.bad"]


# --- uplinks ----------------------------------------------------------------------------------------------------------------
def test_uplinks_off_and_empty_by_default(cases):
    c = cases["uplinks"]
    assert c["defaults"] == {"snmp": {"v3_users": [], "communities": []},
                             "modbus": {"write_enable": False, "allow": []},
                             "mqtt": {"user": "", "password_set": False, "command_enable": False},
                             "metrics_anonymous": False}
    assert c["community_public"] is None and c["community_private"] is None
    assert c["modbus_any"] is None and c["mqtt"] is None and c["mqtt_commands"] is False
    assert c["metrics_anonymous"] is False and c["v3"] is None


def test_uplink_credentials_validated_and_used(cases):
    c = cases["uplinks"]
    assert set(c["refused"].values()) == {400}, c["refused"]
    assert c["community"] == ["read", "write", "read", None, None]
    assert c["modbus_read"] == ["read", "read", None, None, None, None]
    assert c["modbus_write"] == ["write", None]
    assert c["mqtt_set"] == [["pdu-rack-4", "broker-pass"], False] and c["mqtt_cmd"] is True
    assert c["metrics_anonymous_on"] is True
    assert c["deleted"] == [None, None, 404]
    assert all(a[0] == "http:admin@10.0.0.1" for a in c["audit"])


def _ku(h, pw):
    n = 1048576
    data = (pw * (n // len(pw) + 1))[:n]
    return h(data).digest()


def test_snmpv3_keys_rfc3414_and_rfc7860(cases):
    k = cases["uplinks"]["v3_keys"]
    # RFC 3414 A.3.2: "maplesyrup", SHA, engine 00..02
    assert k["ku_sha1"] == "9fb5cc0381497b3793528939ff788d5d79145211"
    assert k["rfc"] == ["SHA-96", "6695febc9288e36282235fc7151f128497b38f3f", "AES-128",
                        "6695febc9288e36282235fc7151f1284"]
    eng = bytes.fromhex("000000000000000000000002")
    loc = lambda ku: hashlib.sha256(ku + eng + ku).digest()
    assert k["v256"] == ["SHA-256", loc(_ku(hashlib.sha256, b"maplesyrup")).hex(), "AES-128",
                         loc(_ku(hashlib.sha256, b"an0ther-priv-pass")).hex()[:32]]
    assert k["noauthpriv"] == ["SHA-256", loc(_ku(hashlib.sha256, b"auth-only-pass")).hex(), "none", None]


# The users-and-access store (comms/access.py): setup mode, default
# passwords, roles, sessions and tokens, rate limiting, last admin, secrets,
# persistence, power cuts, corrupt stores, uplink credentials.
# One JSON line per case; tests/test_access.py checks them.
#
#   access_cases.py [CASE ...]      (no argument: every case)
import sys
import json
import asyncio
import binascii
sys.path.append("tests/mp")
from access_util import RamFS, out, status, audit_all
from core.clock import VirtualClock
from core.audit import AuditLog
from comms import access as A
from comms.access import Access, AccessError, Identity

IT = 64                      # PBKDF2 iterations in these tests (the count is a parameter)
GOOD = "Corr3ct-Horse-Battery"
T0 = 1780000000000


def rig(fs=None, clock=None, audit=None, it=IT):
    clock = clock or VirtualClock(start_utc_ms=T0)
    audit = audit or AuditLog(None, clock)
    fs = fs if fs is not None else RamFS()
    return fs, clock, audit, Access(fs, clock, audit, iterations=it)


async def ready(it=IT):
    """A store set up with admin (GOOD), operator op, viewer vi; and their sessions."""
    fs, clock, audit, acc = rig(it=it)
    await acc.setup(GOOD, "http", "10.0.0.1:4000")
    tok, _ = await acc.login("admin", GOOD, "http", "10.0.0.1:4000")
    adm = acc.identify(tok)
    await acc.add_user(adm, "op", "operator", "0perator-pass", "http", "10.0.0.1:4000")
    await acc.add_user(adm, "vi", "viewer", "v1ewer-pass", "http", "10.0.0.1:4000")
    return fs, clock, audit, acc, adm


async def c_setup():
    fs, clock, audit, acc = rig()
    r = {"needs_setup": acc.needs_setup(), "boot_state": acc.boot_state,
         "boot_audit": [(e["kind"], e["who"], e["what"], e["result"]) for e in audit_all(audit)]}
    # nothing but setting the first admin works
    fake = Identity("admin", "admin", "session")
    r["before"] = {
        "login": await status(acc.login, "admin", GOOD, "http", "10.0.0.9:1"),
        "identify": acc.identify("pdus_" + "0" * 64),
        "permits_forged_identity": [acc.permits(fake, a) for a in A.PERMISSIONS],
        "permits_none": acc.permits(None, "read"),
        "users": await status(acc.users, None),
        "users_forged": await status(acc.users, fake),
        "add_user": await status(acc.add_user, fake, "bob", "admin", GOOD),
        "create_token": await status(acc.create_token, fake, "t", "admin"),
        "uplinks": await status(acc.uplinks, None),
        "set_mqtt": await status(acc.set_mqtt, fake, user="x"),
        "metrics_anonymous": acc.metrics_anonymous(),
        "set_metrics_anonymous": await status(acc.set_metrics_anonymous, fake, True),
    }
    # the policy refuses every common default as the first admin's password
    refused = {}
    for pw in ("admin", "password", "apc", "raritan", "root", "1234", "12345678", "default", "changeme",
               "pdu", "Admin", "PASSWORD", "short", "", "aaaaaaaaaa", "administrator", "changeme1"):
        try:
            await acc.setup(pw, "http", "10.0.0.9:1")
            refused[pw] = "accepted"
        except AccessError as e:
            refused[pw] = [e.status, e.reason]
    r["refused"] = refused
    r["still_setup"] = acc.needs_setup()
    r["files_before"] = sorted(fs.files)
    await acc.setup(GOOD, "http", "10.0.0.9:1")
    r["after"] = {"needs_setup": acc.needs_setup(), "files": sorted(fs.files),
                  "again": await status(acc.setup, "An0ther-good-one", "http", "10.0.0.9:1")}
    tok, exp = await acc.login("admin", GOOD, "http", "10.0.0.9:1")
    ident = acc.identify(tok)
    r["admin"] = [ident.user, ident.role, ident.kind]
    r["audit"] = [(e["kind"], e["who"], e["what"], e["result"]) for e in audit_all(audit)]
    out("setup", **r)


DEFAULT_PAIRS = (("admin", "admin"), ("admin", "password"), ("apc", "apc"), ("admin", "raritan"),
                 ("root", "root"), ("admin", "1234"), ("admin", "12345678"), ("admin", "default"),
                 ("admin", "changeme"), ("admin", "pdu"), ("admin", ""), ("admin", "admin123"),
                 ("root", "calvin"), ("admn", "admn"), ("user", "user"), ("device", "apc"),
                 ("localadmin", "localadmin"), ("operator", "operator"), ("guest", "guest"),
                 ("admin", "Admin"), ("ADMIN", "ADMIN"), ("super", "super"), ("admin", "public"))


async def c_defaults():
    fs, clock, audit, acc, adm = await ready()
    logins = {}
    for u, p in DEFAULT_PAIRS:
        acc2 = Access(fs, clock, audit, iterations=IT)        # a fresh boot: no lockout in the way
        logins["%s/%s" % (u, p)] = await status(acc2.login, u, p, "http", "10.1.1.1:5")
    # nor can an admin create any of them
    adds = {}
    for u, p in DEFAULT_PAIRS:
        if u in ("admin",):
            continue
        s = await status(acc.add_user, adm, u, "admin", p, "http", "10.0.0.1:4000")
        adds["%s/%s" % (u, p)] = s
    sets = {}
    for p in ("admin", "password", "raritan", "1234", "12345678", "default", "changeme", "pdu", "apc", "root"):
        sets[p] = await status(acc.set_password, adm, "admin", p, "http", "10.0.0.1:4000")
    out("defaults", logins=logins, adds=adds, sets=sets,
        users=[u["name"] for u in acc.users(adm)])


async def c_policy():
    res = {}
    for user, pw in (("bob", "bobbobbob"), ("bob", "BOB"), ("alice", "alice"), ("alice", "Alice"),
                     ("carol", "carolcarol"), ("dave", "dave1234"), ("erin", "x" * 7), ("erin", "x" * 8),
                     ("erin", "xy" * 4), ("erin", "a" * 129), ("erin", "a\nbcdefghi"), ("erin", 12345678),
                     ("admin1", "admin1"), ("erin", "raritan"), ("erin", "RaRiTaN"), ("erin", "password"),
                     ("erin", "Tr0ub4dor&3"), ("erin", "ümlaut-pässwort"), ("operator1", "OPERATOR1"),
                     ("carol.smith", "carol.smith")):
        res["%s/%s" % (user, pw)] = A.password_problem(user, pw)
    names = {}
    for n in ("ok", "a", "a" * 32, "a" * 33, "", "-x", "x y", "token:x", "ü", "A.b_c-d", 5):
        names[str(n)] = A._name_ok(n)
    common = {pw: A.password_problem("someone", pw) for pw in A.COMMON_PASSWORDS}
    out("policy", res=res, names=names, common=common)


async def c_roles():
    fs, clock, audit, acc, adm = await ready()
    ids = {}
    for u, p in (("admin", GOOD), ("op", "0perator-pass"), ("vi", "v1ewer-pass")):
        tok, _ = await acc.login(u, p, "http", "10.0.0.2:1")
        ids[u] = acc.identify(tok)
    table = {u: {a: acc.permits(i, a) for a in sorted(A.PERMISSIONS) + ["nonsense", ""]} for u, i in ids.items()}
    seq = audit.next_seq - 1
    mgmt = {}
    for u in ("op", "vi"):
        i = ids[u]
        mgmt[u] = {
            "users": await status(acc.users, i),
            "tokens": await status(acc.tokens, i),
            "add_user": await status(acc.add_user, i, "eve", "admin", "Ev1l-password", "http", "10.0.0.2:1"),
            "set_role_self_admin": await status(acc.set_role, i, u, "admin", "http", "10.0.0.2:1"),
            "create_token": await status(acc.create_token, i, "t" + u, "admin", "http", "10.0.0.2:1"),
            "set_metrics_anonymous": await status(acc.set_metrics_anonymous, i, True, "http", "10.0.0.2:1"),
            "uplinks": await status(acc.uplinks, i),
            "set_modbus": await status(acc.set_modbus, i, True, None, "http", "10.0.0.2:1"),
            "set_password_other": await status(acc.set_password, i, "admin", "Hijack-3-pass", "http", "10.0.0.2:1"),
            "delete_admin": await status(acc.delete_user, i, "admin", "http", "10.0.0.2:1"),
            "user_self": acc.user(i, u),
            "user_other": await status(acc.user, i, "admin"),
        }
    denied = [(e["who"], e["what"], e["result"]) for e in audit_all(audit, seq)]
    # tokens carry their own role
    secret = await acc.create_token(adm, "scraper", "viewer", "http", "10.0.0.1:4000")
    t = acc.identify(secret)
    tok_view = [t.user, t.role, t.kind, acc.permits(t, "read"), acc.permits(t, "metrics"),
                acc.permits(t, "switch"), acc.permits(t, "users")]
    # a role change takes effect on the next request of an open session
    acc.set_role(adm, "op", "viewer", "http", "10.0.0.1:4000")
    tok, _ = await acc.login("vi", "v1ewer-pass", "http", "10.0.0.2:1")
    acc.set_role(adm, "vi", "operator", "http", "10.0.0.1:4000")
    promoted = acc.identify(tok)
    out("roles", table=table, mgmt=mgmt, denied=denied, token=tok_view,
        promoted=[promoted.role, acc.permits(promoted, "switch")],
        roles=list(A.ROLES), permissions=A.PERMISSIONS)


async def c_expiry():
    fs, clock, audit, acc, adm = await ready()
    now0 = clock.utc_ms()
    tok, exp = await acc.login("vi", "v1ewer-pass", "http", "10.0.0.3:1")
    r = {"expires_in_ms": exp - now0}
    # idle: 14:59 later still good (and refreshed), a further 15:00 of silence ends it
    clock.advance_us((15 * 60 - 1) * 1000000)
    r["idle_just_before"] = acc.identify(tok) is not None
    clock.advance_us(15 * 60 * 1000000)
    r["idle_after"] = acc.identify(tok)
    r["idle_after_again"] = acc.identify(tok)
    # absolute: used every 10 minutes, still ends 8 h after login
    tok, _ = await acc.login("vi", "v1ewer-pass", "http", "10.0.0.3:1")
    alive = []
    for k in range(1, 50):
        clock.advance_us(10 * 60 * 1000000)
        alive.append(acc.identify(tok) is not None)
    r["absolute_alive_10min_steps"] = alive
    # API tokens do not expire with time
    secret = await acc.create_token(adm, "grafana", "viewer", "http", "10.0.0.1:4000")
    clock.advance_us(30 * 86400 * 1000000)
    r["api_token_after_30_days"] = acc.identify(secret) is not None
    acc.housekeep()
    r["sessions_after_housekeep"] = acc.stats()["sessions"]
    r["constants"] = {"idle": A.SESSION_IDLE_MS, "max": A.SESSION_MAX_MS}
    out("expiry", **r)


async def c_forged():
    fs, clock, audit, acc, adm = await ready()
    tok, _ = await acc.login("op", "0perator-pass", "http", "10.0.0.4:1")
    secret = await acc.create_token(adm, "nms", "viewer", "http", "10.0.0.1:4000")
    flip = lambda s, i: s[:i] + ("0" if s[i] != "0" else "1") + s[i + 1:]
    r = {
        "good_session": acc.identify(tok) is not None,
        "good_token": acc.identify(secret) is not None,
        "none": acc.identify(None),
        "empty": acc.identify(""),
        "int": acc.identify(12345),
        "random_session": acc.identify("pdus_" + "ab" * 32),
        "random_token": acc.identify("pdut_" + "ab" * 32),
        "flipped_session": acc.identify(flip(tok, 20)),
        "flipped_token_last": acc.identify(flip(secret, len(secret) - 1)),
        "session_as_token_prefix": acc.identify("pdut_" + tok[5:]),
        "token_as_session_prefix": acc.identify("pdus_" + secret[5:]),
        "truncated": acc.identify(tok[:-1]),
        "extended": acc.identify(tok + "0"),
        "upper": acc.identify(tok.upper()),
        "stored_hash_as_bearer": None,
    }
    # the stored hash of the token is no bearer either
    import json as _j
    doc = fs.files["/access.json"]
    body = _j.loads(doc[doc.find(b"\n") + 1:])
    h = body["tokens"]["nms"]["hash"]
    r["stored_hash_as_bearer"] = acc.identify("pdut_" + h)
    r["logout"] = acc.logout(tok)
    r["after_logout"] = acc.identify(tok)
    r["logout_again"] = acc.logout(tok)
    acc.revoke_token(adm, "nms", "http", "10.0.0.1:4000")
    r["after_revoke"] = acc.identify(secret)
    # sessions do not survive a reboot; API tokens do
    tok2, _ = await acc.login("op", "0perator-pass", "http", "10.0.0.4:1")
    secret2 = await acc.create_token(adm, "nms2", "viewer", "http", "10.0.0.1:4000")
    acc2 = Access(fs, clock, audit, iterations=IT)
    r["session_after_reboot"] = acc2.identify(tok2)
    r["token_after_reboot"] = repr(acc2.identify(secret2))
    # a session of another PDU (another store) is nothing here
    fsx, cx, ax, accx = rig()
    await accx.setup(GOOD)
    tx, _ = await accx.login("admin", GOOD)
    r["foreign_session"] = acc2.identify(tx)
    out("forged", **r)


async def c_ratelimit():
    fs, clock, audit, acc, adm = await ready()
    seq = audit.next_seq - 1
    r = {}
    # per user: 5 failures (from 5 different peers) lock the user out
    st = []
    for k in range(5):
        st.append(await status(acc.login, "op", "wrong-password-%d" % k, "http", "10.2.0.%d:9" % k))
    r["user_failures"] = st
    try:
        await acc.login("op", "0perator-pass", "http", "10.2.0.99:9")
        r["locked_good_password"] = "ok"
    except AccessError as e:
        r["locked_good_password"] = [e.status, e.reason, e.retry_after_s]
    r["locked_again"] = await status(acc.login, "op", "0perator-pass", "modbus", "10.2.0.98:9")
    r["other_user_meanwhile"] = await status(acc.login, "vi", "v1ewer-pass", "http", "10.2.0.99:9")
    clock.advance_us(A.LOCKOUT_MS * 1000 - 1000000)
    r["after_4min59"] = await status(acc.login, "op", "0perator-pass", "http", "10.2.0.99:9")
    clock.advance_us(1000000)
    r["after_5min"] = await status(acc.login, "op", "0perator-pass", "http", "10.2.0.99:9")
    r["user_audit"] = [(e["kind"], e["who"], e["what"], e["result"]) for e in audit_all(audit, seq)]
    # a success clears the user's count; without one, each further lockout lasts twice as long
    retry = []
    for n in range(4):
        for k in range(5):
            await status(acc.login, "vi", "nope-%d" % k, "http", "10.2.%d.%d:9" % (n + 1, k))
        try:
            await acc.login("vi", "v1ewer-pass", "http", "10.2.0.99:9")
        except AccessError as e:
            retry.append(e.retry_after_s)
            clock.advance_us(e.retry_after_s * 1000000)
    r["lockouts_retry_after_s"] = retry
    # per peer: 10 failures from one address (any user names) lock the address out
    seq = audit.next_seq - 1
    st = []
    for k in range(10):
        st.append(await status(acc.login, "ghost%d" % k, "whatever-pw", "http", "10.3.0.1:%d" % (1000 + k)))
    r["peer_failures"] = st
    r["peer_locked_good_login"] = await status(acc.login, "vi", "v1ewer-pass", "http", "10.3.0.1:2000")
    r["other_peer_good_login"] = await status(acc.login, "vi", "v1ewer-pass", "http", "10.3.0.2:2000")
    r["peer_audit"] = [(e["kind"], e["who"], e["what"], e["result"]) for e in audit_all(audit, seq)]
    # an unknown user and a wrong password look the same
    e1 = e2 = None
    try:
        await acc.login("nobody", "whatever-pw", "http", "10.4.0.1:1")
    except AccessError as e:
        e1 = [e.status, e.reason]
    try:
        await acc.login("vi", "whatever-pw", "http", "10.4.0.2:1")
    except AccessError as e:
        e2 = [e.status, e.reason]
    r["unknown_vs_wrong"] = [e1, e2]
    # at most MAX_LOGINS_IN_FLIGHT derivations at once: the third gets 429 busy
    res = await asyncio.gather(*[status(acc.login, "vi", "v1ewer-pass", "http", "10.5.0.%d:1" % k)
                                 for k in range(3)])
    r["concurrent"] = res
    # the tracking tables stay bounded
    for k in range(100):
        await status(acc.login, "x%d" % k, "whatever-pw", "http", "10.6.%d.1:1" % k)
    r["tracked"] = [len(acc._users_lim.d), len(acc._peers_lim.d)]
    r["constants"] = [A.USER_MAX_FAILURES, A.PEER_MAX_FAILURES, A.FAIL_WINDOW_MS, A.LOCKOUT_MS,
                      A.LOCKOUT_MAX_MS, A.MAX_TRACKED, A.MAX_LOGINS_IN_FLIGHT]
    out("ratelimit", **r)


async def c_lastadmin():
    fs, clock, audit, acc, adm = await ready()
    p = ("http", "10.0.0.1:4000")
    r = {"delete_last": await status(acc.delete_user, adm, "admin", *p),
         "demote_last": await status(acc.set_role, adm, "admin", "operator", *p)}
    try:
        acc.delete_user(adm, "admin", *p)
    except AccessError as e:
        r["reason"] = e.reason
    await acc.add_user(adm, "boss", "admin", "B0ss-password", *p)
    r["demote_first_with_two"] = await status(acc.set_role, adm, "admin", "operator", *p)
    r["delete_boss_now_last"] = await status(acc.delete_user, adm, "boss", *p)
    # admin is now an operator; boss the only admin: boss deletes itself? no (last); promote admin back
    tb, _ = await acc.login("boss", "B0ss-password", "http", "10.0.0.5:1")
    boss = acc.identify(tb)
    r["boss_delete_self_last"] = await status(acc.delete_user, boss, "boss", *p)
    acc.set_role(boss, "admin", "admin", *p)
    r["boss_delete_self_with_two"] = await status(acc.delete_user, boss, "boss", *p)
    r["boss_session_after"] = acc.identify(tb)
    ta, _ = await acc.login("admin", GOOD)
    r["admins"] = [u["name"] for u in acc.users(acc.identify(ta)) if u["role"] == "admin"]
    r["unknown"] = [await status(acc.delete_user, adm, "ghost", *p), await status(acc.set_role, adm, "ghost", "viewer", *p),
                    await status(acc.set_role, adm, "op", "root", *p)]
    r["audit_tail"] = [(e["what"], e["result"]) for e in audit_all(audit)[-12:]]
    out("lastadmin", **r)


async def c_users():
    fs, clock, audit, acc, adm = await ready()
    p = ("http", "10.0.0.1:4000")
    r = {}
    # password change ends the user's sessions; self-service needs the old password
    t1, _ = await acc.login("vi", "v1ewer-pass", "http", "10.0.0.6:1")
    t2, _ = await acc.login("vi", "v1ewer-pass", "http", "10.0.0.7:1")
    me = acc.identify(t1)
    r["self_no_old"] = await status(acc.set_password, me, "vi", "N3w-viewer-pass", *p)
    r["self_wrong_old"] = await status(acc.set_password, me, "vi", "N3w-viewer-pass", *p, old_password="bad-old-pw")
    r["self_weak"] = await status(acc.set_password, me, "vi", "password", *p, old_password="v1ewer-pass")
    r["self_ok"] = await status(acc.set_password, me, "vi", "N3w-viewer-pass", *p, old_password="v1ewer-pass")
    r["own_session_kept"] = acc.identify(t1) is not None
    r["other_session_ended"] = acc.identify(t2)
    r["old_pw"] = await status(acc.login, "vi", "v1ewer-pass", "http", "10.0.0.6:1")
    r["new_pw"] = await status(acc.login, "vi", "N3w-viewer-pass", "http", "10.0.0.6:1")
    t3, _ = await acc.login("op", "0perator-pass", "http", "10.0.0.8:1")
    await acc.set_password(adm, "op", "Op-changed-by-admin", *p)
    r["admin_reset_ends_sessions"] = acc.identify(t3)
    # delete ends sessions
    t4, _ = await acc.login("op", "Op-changed-by-admin", "http", "10.0.0.8:1")
    acc.delete_user(adm, "op", *p)
    r["deleted_session"] = acc.identify(t4)
    r["deleted_login"] = await status(acc.login, "op", "Op-changed-by-admin", "http", "10.0.0.8:1")
    # bounds
    r["bad_names"] = []
    for n in ("", "a" * 33, "x y", "-x", "tok:en"):
        r["bad_names"].append(await status(acc.add_user, adm, n, "viewer", "Some-g00d-pass", *p))
    r["bad_role"] = await status(acc.add_user, adm, "zed", "root", "Some-g00d-pass", *p)
    r["dup"] = await status(acc.add_user, adm, "vi", "viewer", "Some-g00d-pass", *p)
    n = len(acc.users(adm))
    added = 0
    while True:
        s = await status(acc.add_user, adm, "u%d" % added, "viewer", "Some-g00d-pass", *p)
        if s != "ok":
            break
        added += 1
    r["max_users"] = [A.MAX_USERS, n + added, s]
    toks = 0
    while True:
        s = await status(acc.create_token, adm, "t%d" % toks, "viewer", *p)
        if s != "ok":
            break
        toks += 1
    r["max_tokens"] = [A.MAX_TOKENS, toks, s]
    r["token_bad"] = [await status(acc.revoke_token, adm, "nope", *p),
                      await status(acc.create_token, adm, "t0", "viewer", *p),
                      await status(acc.create_token, adm, "t x", "viewer", *p)]
    # sessions: the oldest is dropped for the 17th (a fresh store: no sessions yet)
    fs, clock, audit, acc = rig()
    await acc.setup(GOOD)
    first, _ = await acc.login("admin", GOOD, "http", "10.0.1.1:1")
    clock.advance_us(1000)
    toks = []
    for k in range(A.MAX_SESSIONS - 1):
        toks.append((await acc.login("admin", GOOD, "http", "10.0.1.2:1"))[0])
        clock.advance_us(1000)
    r["sessions_full"] = acc.stats()["sessions"]
    r["first_alive_before"] = acc.identify(first) is not None
    r["all_alive_before"] = len([t for t in toks if acc.identify(t) is not None])
    last, _ = await acc.login("admin", GOOD, "http", "10.0.1.3:1")
    r["sessions_after"] = acc.stats()["sessions"]
    r["oldest_dropped"] = acc.identify(first) is None and acc.identify(last) is not None
    r["others_alive_after"] = len([t for t in toks if acc.identify(t) is not None])
    r["limits"] = [A.MAX_USERS, A.MAX_TOKENS, A.MAX_SESSIONS, A.NAME_MAX_LEN, A.PASSWORD_MIN_LEN,
                   A.PASSWORD_MAX_LEN, A.DEFAULT_ITERATIONS]
    out("users", **r)


async def c_secrets():
    fs, clock, audit, acc, adm = await ready()
    p = ("http", "10.0.0.1:4000")
    secrets = [GOOD, "0perator-pass", "v1ewer-pass"]
    await acc.add_user(adm, "nms", "viewer", "Nms-s3cret-pass", *p)
    secrets.append("Nms-s3cret-pass")
    await acc.set_password(adm, "nms", "Nms-s3cret-pass2", *p)
    secrets.append("Nms-s3cret-pass2")
    tsec = await acc.create_token(adm, "prom", "viewer", *p)
    secrets.append(tsec)
    stok, _ = await acc.login("op", "0perator-pass", "http", "10.0.0.9:1")
    secrets.append(stok)
    await acc.set_snmp_v3_user(adm, "nmsv3", "SHA-256", "snmp-auth-s3cret", "AES-128", "snmp-priv-s3cret", *p)
    await acc.set_snmp_v3_user(adm, "old", "SHA-96", "snmp-auth-s3cret-1", iface="http", peer="10.0.0.1:4000")
    secrets += ["snmp-auth-s3cret", "snmp-priv-s3cret", "snmp-auth-s3cret-1"]
    acc.set_snmp_community(adm, "ro", "c0mmunity-ro", False, *p)
    acc.set_snmp_community(adm, "rw", "c0mmunity-rw", True, *p)
    secrets += ["c0mmunity-ro", "c0mmunity-rw"]
    acc.set_mqtt(adm, "pdu-7", "mqtt-s3cret-pw", True, *p)
    secrets.append("mqtt-s3cret-pw")
    acc.set_modbus(adm, True, ["10.9.0.0/24"], *p)
    # every stored secret-derived value: hashes, salts, keys
    data = fs.files["/access.json"]
    doc = json.loads(data[data.find(b"\n") + 1:])
    stored = []
    for u in doc["users"].values():
        stored += [u["hash"], u["salt"]]
    for t in doc["tokens"].values():
        stored.append(t["hash"])
    for u in doc["snmp"]["users"].values():
        stored += [u["auth_ku"]] + ([u["priv_ku"]] if u["priv_ku"] else [])
    for c in doc["snmp"]["communities"].values():
        stored += [c["hash"], c["salt"]]
    ident = acc.identify(stok)
    outputs = {
        "users": acc.users(adm), "user": acc.user(adm, "nms"), "user_self": acc.user(ident, "op"),
        "tokens": acc.tokens(adm), "uplinks": acc.uplinks(adm), "sessions": acc.sessions(adm),
        "stats": acc.stats(), "repr_access": repr(acc), "repr_ident": repr(ident), "str_ident": str(ident),
        "repr_token_ident": repr(acc.identify(tsec)), "snmp_users": acc.snmp_v3_users(),
        "audit": audit_all(audit),
    }
    errs = []
    for fn, a in ((acc.set_password, (adm, "nms", "nms") + p), (acc.add_user, (adm, "nms", "viewer", "Nms-s3cret-pass2") + p),
                  (acc.login, ("nms", "Nms-s3cret-pass-x")), (acc.setup, ("Nms-s3cret-pass2",))):
        try:
            r = fn(*a)
            if hasattr(r, "send"):
                await r
        except AccessError as e:
            errs.append([repr(e), str(e), e.reason])
    outputs["errors"] = errs
    text = json.dumps(outputs)
    leaks = [s for s in secrets + stored if s in text]
    plain_in_file = [s for s in secrets if s.encode() in data]
    out("secrets", leaks=leaks, n_secrets=len(secrets), n_stored=len(stored), plain_in_file=plain_in_file,
        outputs=outputs, stored_sample=stored[:2])


async def c_persist():
    fs, clock, audit, acc, adm = await ready()
    p = ("http", "10.0.0.1:4000")
    tsec = await acc.create_token(adm, "prom", "viewer", *p)
    acc.set_metrics_anonymous(adm, True, *p)
    acc.set_role(adm, "vi", "operator", *p)
    acc.set_modbus(adm, None, ["192.168.7.20", "10.1.0.0/16"], *p)
    await acc.set_snmp_v3_user(adm, "nms", "SHA-256", "snmp-auth-pass", "AES-128", "snmp-priv-pass", *p)
    acc.set_snmp_community(adm, "ro", "sekrit-ro", False, *p)
    acc.set_mqtt(adm, "pdu-1", "mqtt-pass-1", None, *p)
    before = {"users": acc.users(adm), "tokens": acc.tokens(adm), "uplinks": acc.uplinks(adm)}
    keys_before = acc.snmp_v3_keys("nms", b"\x80\x00\x1f\x88\x04pdu")
    b2 = Access(fs, clock, audit, iterations=IT)
    tok, _ = await b2.login("admin", GOOD, "http", "10.0.0.1:4000")
    adm2 = b2.identify(tok)
    after = {"users": b2.users(adm2), "tokens": b2.tokens(adm2), "uplinks": b2.uplinks(adm2)}
    # (last use is RAM only)
    for t in before["tokens"] + after["tokens"]:
        t["last_used_utc_ms"] = None
    r = {"same": before == after, "before": before, "boot_state": b2.boot_state,
         "token_ok": repr(b2.identify(tsec)), "metrics_anonymous": b2.metrics_anonymous(),
         "keys_same": b2.snmp_v3_keys("nms", b"\x80\x00\x1f\x88\x04pdu") == keys_before,
         "community": [b2.snmp_community("sekrit-ro"), b2.snmp_community("sekrit-rw"), b2.snmp_community("public")],
         "files": sorted(fs.files), "same_copies": fs.files["/access.json"] == fs.files["/access.json.b"]}
    # raising the iteration count: the next login stores a fresh hash with the new count
    seq = audit.next_seq - 1
    b3 = Access(fs, clock, audit, iterations=IT * 2)
    t3, _ = await b3.login("admin", GOOD)
    r["it_before"] = [u["iterations"] for u in b3.users(b3.identify(t3)) if u["name"] == "vi"]
    await b3.login("vi", "v1ewer-pass", "http", "10.0.0.3:1")
    b4 = Access(fs, clock, audit, iterations=IT * 2)
    a4 = b4.identify((await b4.login("admin", GOOD))[0])
    r["it_after"] = [u["iterations"] for u in b4.users(a4) if u["name"] == "vi"]
    r["rehash_login_still_ok"] = await status(b4.login, "vi", "v1ewer-pass")
    r["rehash_audit"] = [(e["what"], e["result"]) for e in audit_all(audit, seq) if "iterations" in e["what"]]
    r["format"] = fs.files["/access.json"][:10].decode()
    out("persist", **r)


async def c_powercut_ram():
    """Cut the power at every changing operation of one save (RAM fs)."""
    fs, clock, audit, acc, adm = await ready()
    p = ("http", "10.0.0.1:4000")
    image = dict(fs.files)
    # how many operations one save takes
    n0 = len(fs.ops)
    acc.set_role(adm, "vi", "operator", *p)
    ops = fs.ops[n0:]
    res = []
    for k in range(len(ops) + 1):
        fs.files = dict(image)
        fs.ops = []
        fs.power_on()
        a = Access(fs, clock, audit, iterations=IT)
        ad = Identity("admin", "admin", "session")
        fs.ops = []
        fs.cut_at = k
        s = await status(a.set_role, ad, "vi", "operator", *p)
        in_ram = a._users["vi"]["role"]
        fs.power_on()
        b = Access(fs, clock, audit, iterations=IT)   # reboot
        res.append({"cut_at": k, "op": ops[k] if k < len(ops) else None, "status": s, "ram_after_fail": in_ram,
                    "role": b._users.get("vi", {}).get("role"), "setup": b.needs_setup(),
                    "boot_state": b.boot_state, "admin_login": await status(b.login, "admin", GOOD)})
    out("powercut_ram", ops=ops, results=res)


async def c_powercut_lfs():
    """littlefs on sim/blockdev (NOR flash) with the power cut at bytes
    spread over everything one save programs and erases."""
    import vfs
    from sim.blockdev import BlockDev
    bd = BlockDev(4096, 32)
    vfs.VfsLfs2.mkfs(bd)
    clock = VirtualClock(start_utc_ms=T0)
    audit = AuditLog(None, clock)
    fs = vfs.VfsLfs2(bd.mount_view())
    acc = Access(fs, clock, audit, iterations=IT)
    await acc.setup(GOOD)
    adm = Identity("admin", "admin", "session")
    await acc.add_user(adm, "vi", "viewer", "v1ewer-pass")
    image = bytearray(bd.mem)
    # bytes changed by one save
    s0 = bd.bytes_programmed + 4096 * bd.erases
    acc.set_role(adm, "vi", "operator")
    span = bd.bytes_programmed + 4096 * bd.erases - s0
    cuts = sorted(set([0, 1, span - 1, span] + [span * k // 97 for k in range(97)]))
    res = {"old": 0, "new": 0, "other": [], "ok_but_old": []}
    for c in cuts:
        bd.mem[:] = image
        bd.power_on()
        fs = vfs.VfsLfs2(bd.mount_view())
        a = Access(fs, clock, audit, iterations=IT)
        bd.cut_after(c)
        s = await status(a.set_role, adm, "vi", "operator")
        bd.power_on()
        fs = vfs.VfsLfs2(bd.mount_view())          # reboot: mount must work
        b = Access(fs, clock, audit, iterations=IT)
        role = b._users.get("vi", {}).get("role")
        if b.needs_setup() or role not in ("viewer", "operator"):
            res["other"].append([c, s, role, b.boot_state])
        else:
            res["old" if role == "viewer" else "new"] += 1
            if s == "ok" and role != "operator":
                res["ok_but_old"].append(c)      # reported done, but lost
    out("powercut_lfs", span=span, cuts=len(cuts), **res)


async def c_corrupt():
    fs, clock, audit, acc, adm = await ready()
    good = dict(fs.files)
    r = {}

    def boot():
        seq = audit.next_seq - 1
        b = Access(fs, clock, audit, iterations=IT)
        return b, [(e["kind"], e["what"], e["result"]) for e in audit_all(audit, seq)]

    def flip(data, at):
        x = bytearray(data)
        x[at] ^= 0x01
        return bytes(x)

    # one copy damaged: the other is used, the fault audited, both rewritten
    fs.files["/access.json"] = flip(good["/access.json"], len(good["/access.json"]) // 2)
    b, au = boot()
    r["a_flipped"] = [b.boot_state, b.needs_setup(), au, fs.files["/access.json"] == fs.files["/access.json.b"],
                      await status(b.login, "admin", GOOD)]
    fs.files = dict(good)
    del fs.files["/access.json.b"]
    b, au = boot()
    r["b_missing"] = [b.boot_state, b.needs_setup(), au, "/access.json.b" in fs.files]
    fs.files = dict(good)
    fs.files["/access.json.b"] = good["/access.json.b"][:50]
    b, au = boot()
    r["b_truncated"] = [b.boot_state, b.needs_setup(), au]
    # a valid-looking file whose content breaks the rules (no admin) is corrupt too
    fs.files = dict(good)
    import hashlib
    data = good["/access.json"]
    doc = json.loads(data[data.find(b"\n") + 1:])
    for u in doc["users"].values():
        u["role"] = "viewer"
    body = json.dumps(doc).encode()
    hdr = data[:data.find(b"\n")].decode().split(" ")
    fs.files["/access.json"] = ("%s %s %s %s\n" % (hdr[0], hdr[1], hdr[2], binascii.hexlify(
        hashlib.sha256(body).digest()).decode())).encode() + body
    b, au = boot()
    r["a_no_admin"] = [b.boot_state, b.needs_setup(), au]
    # copies of different generations (a cut between the two renames): the newer wins
    fs.files = dict(good)
    acc2 = Access(fs, clock, audit, iterations=IT)
    old_b = fs.files["/access.json.b"]
    acc2.set_role(adm, "vi", "operator")
    fs.files["/access.json.b"] = old_b
    b, au = boot()
    r["b_behind"] = [b.boot_state, b._users["vi"]["role"], au]
    # both bad: setup mode, audited, the bad files kept aside
    fs.files = dict(good)
    fs.files["/access.json"] = b"garbage"
    fs.files["/access.json.b"] = flip(good["/access.json.b"], 30)
    b, au = boot()
    r["both_bad"] = [b.boot_state, b.needs_setup(), au, sorted(fs.files)]
    # a leftover temp file is removed
    fs.files = dict(good)
    fs.files["/access.json.tmp"] = b"half a write"
    b, au = boot()
    r["tmp_left"] = [b.boot_state, sorted(fs.files)]
    # a store file that is far too large is not read
    fs.files = dict(good)
    fs.files["/access.json"] = b"x" * (A.MAX_STORE_BYTES + 1)
    b, au = boot()
    r["too_large"] = [b.boot_state, au]
    out("corrupt", **r)


async def c_uplinks():
    fs, clock, audit, acc, adm = await ready()
    p = ("http", "10.0.0.1:4000")
    r = {"defaults": acc.uplinks(adm), "community_public": acc.snmp_community("public"),
         "community_private": acc.snmp_community("private"), "modbus_any": acc.modbus_access("10.0.0.5:502"),
         "mqtt": acc.mqtt_client_login(), "mqtt_commands": acc.mqtt_commands(),
         "metrics_anonymous": acc.metrics_anonymous(), "v3": acc.snmp_v3_keys("nms", b"x")}
    r["refused"] = {
        "community_public": await status(acc.set_snmp_community, adm, "c", "public", False, *p),
        "community_empty": await status(acc.set_snmp_community, adm, "c", "", False, *p),
        "community_write_str": await status(acc.set_snmp_community, adm, "c", "abcdefgh", "yes", *p),
        "v3_short": await status(acc.set_snmp_v3_user, adm, "u", "SHA-256", "short", "none", None, *p),
        "v3_md5": await status(acc.set_snmp_v3_user, adm, "u", "MD5", "long-enough-pw", "none", None, *p),
        "v3_des": await status(acc.set_snmp_v3_user, adm, "u", "SHA-256", "long-enough-pw", "DES", "long-enough-pw", *p),
        "v3_priv_no_pw": await status(acc.set_snmp_v3_user, adm, "u", "SHA-256", "long-enough-pw", "AES-128", None, *p),
        "modbus_bad_ip": await status(acc.set_modbus, adm, None, ["10.0.0.300"], *p),
        "modbus_host_bits": await status(acc.set_modbus, adm, None, ["10.0.0.1/24"], *p),
        "modbus_too_many": await status(acc.set_modbus, adm, None, ["10.0.0.%d" % k for k in range(17)], *p),
        "modbus_nothing": await status(acc.set_modbus, adm, None, None, *p),
        "mqtt_long": await status(acc.set_mqtt, adm, "u" * 65, None, None, *p),
    }
    acc.set_snmp_community(adm, "ro", "n0t-public", False, *p)
    acc.set_snmp_community(adm, "rw", "n0t-private", True, *p)
    r["community"] = [acc.snmp_community("n0t-public"), acc.snmp_community("n0t-private"),
                      acc.snmp_community(b"n0t-public"), acc.snmp_community("n0t-publi"), acc.snmp_community("")]
    acc.set_modbus(adm, None, ["10.9.0.0/24", "192.168.1.5"], *p)
    r["modbus_read"] = [acc.modbus_access(a) for a in ("10.9.0.77:4000", "192.168.1.5:1", "192.168.1.6:1",
                                                       "10.9.1.1:1", "[::1]:502", None)]
    acc.set_modbus(adm, True, None, *p)
    r["modbus_write"] = [acc.modbus_access("10.9.0.77:4000"), acc.modbus_access("10.10.0.1:1")]
    acc.set_mqtt(adm, "pdu-rack-4", "broker-pass", None, *p)
    r["mqtt_set"] = [acc.mqtt_client_login(), acc.mqtt_commands()]
    acc.set_mqtt(adm, None, None, True, *p)
    r["mqtt_cmd"] = acc.mqtt_commands()
    acc.set_metrics_anonymous(adm, True, *p)
    r["metrics_anonymous_on"] = acc.metrics_anonymous()
    # SNMPv3 keys: RFC 3414 A.3.2 (SHA, "maplesyrup", engine 00..02); SHA-256 checked in CPython
    eng = binascii.unhexlify("000000000000000000000002")
    await acc.set_snmp_v3_user(adm, "rfc", "SHA-96", "maplesyrup", "AES-128", "maplesyrup", *p)
    await acc.set_snmp_v3_user(adm, "v256", "SHA-256", "maplesyrup", "AES-128", "an0ther-priv-pass", *p)
    await acc.set_snmp_v3_user(adm, "noauthpriv", "SHA-256", "auth-only-pass", "none", None, *p)
    ku = await A.password_to_key("SHA-96", "maplesyrup")
    k = acc.snmp_v3_keys("rfc", eng)
    k2 = acc.snmp_v3_keys("v256", eng)
    k3 = acc.snmp_v3_keys("noauthpriv", eng)
    hx = lambda b: None if b is None else binascii.hexlify(b).decode()
    r["v3_keys"] = {"ku_sha1": hx(ku), "rfc": [k[0], hx(k[1]), k[2], hx(k[3])],
                    "v256": [k2[0], hx(k2[1]), k2[2], hx(k2[3])], "noauthpriv": [k3[0], hx(k3[1]), k3[2], hx(k3[3])]}
    r["after"] = acc.uplinks(adm)
    acc.delete_snmp_community(adm, "rw", *p)
    acc.delete_snmp_v3_user(adm, "rfc", *p)
    r["deleted"] = [acc.snmp_community("n0t-private"), acc.snmp_v3_keys("rfc", eng),
                    await status(acc.delete_snmp_community, adm, "rw", *p)]
    r["audit"] = [(e["who"], e["what"], e["result"]) for e in audit_all(audit) if e["kind"] == "config"][-30:]
    out("uplinks", **r)


CASES = (("setup", c_setup), ("defaults", c_defaults), ("policy", c_policy), ("roles", c_roles),
         ("expiry", c_expiry), ("forged", c_forged), ("ratelimit", c_ratelimit), ("lastadmin", c_lastadmin),
         ("users", c_users), ("secrets", c_secrets), ("persist", c_persist), ("powercut_ram", c_powercut_ram),
         ("powercut_lfs", c_powercut_lfs), ("corrupt", c_corrupt), ("uplinks", c_uplinks))


async def main(names):
    for n, fn in CASES:
        if not names or n in names:
            await fn()


asyncio.run(main(sys.argv[1:]))

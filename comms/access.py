# Users and access: the one store every uplink (HTTP now; SNMP, Modbus, MQTT
# later) authenticates through. docs/access.md has the role table, the
# secure-by-default rules, the file format and the limits.
#
#   acc = Access(fs, clock, audit)            fs: a vfs.VfsLfs2 object (open/rename/remove/stat)
#   acc.needs_setup()                         True until the first admin password is set
#   await acc.setup(password, iface, peer)    the first admin ("admin"); nothing else works before
#   token, expires_utc_ms = await acc.login(user, password, iface, peer)    AccessError 401/429
#   ident = acc.identify(bearer)              Identity(user, role, kind "session"|"token") or None
#   acc.permits(ident, action)                the role table (PERMISSIONS), in this module only
#
# Secure by default: no default password; passwords are stored as salted
# PBKDF2-HMAC-SHA256 (iteration count beside each hash); logins are rate
# limited per peer and per user with a temporary lockout; every uplink switch
# is off and every credential list empty until an admin sets them; secrets can
# be set but never read back (every listing says "password_set": true).
#
# Management calls take the caller's Identity first, check the role table
# themselves (a refusal is AccessError(403) and an audit entry) and are
# audited with who = "iface:user@host" like the command service. Logins are
# audited with who = the user name tried.
#
# Sessions and login counters live in RAM (a reboot logs everyone out and
# clears lockouts); users, API tokens, options and uplink credentials are one
# JSON document on flash, written as two copies, each replaced atomically
# (temp file, then rename), so a power cut leaves the old or the new store.
import binascii
import hashlib
import json
import os
import time
from micropython import const
from comms.pbkdf2 import pbkdf2_sha256, equal

# --- roles and the role table ------------------------------------------------------------------
VIEWER = "viewer"
OPERATOR = "operator"
ADMIN = "admin"
ROLES = (VIEWER, OPERATOR, ADMIN)      # in rank order

READ = "read"                # measurements, state, events, records, settings (read)
METRICS = "metrics"          # Prometheus scrape (or anonymous when metrics_anonymous is on)
SWITCH = "switch"            # outlet and group commands
RESET = "reset"              # protection reset (latched trips, lockouts)
SETTINGS = "settings"        # configuration changes
USERS = "users"              # users and API tokens
CREDENTIALS = "credentials"  # uplink credentials and switches (SNMP, Modbus, MQTT), access options
CALIBRATION = "calibration"
UPDATE = "update"            # firmware update

# The one role table: the least role each action needs. An action not listed
# here is refused for everyone.
PERMISSIONS = {
    READ: VIEWER,
    METRICS: VIEWER,
    SWITCH: OPERATOR,
    RESET: ADMIN,
    SETTINGS: ADMIN,
    USERS: ADMIN,
    CREDENTIALS: ADMIN,
    CALIBRATION: ADMIN,
    UPDATE: ADMIN,
}

# --- limits and policy ------------------------------------------------------------------------------
DEFAULT_ITERATIONS = const(20000)     # PBKDF2 iterations for new hashes (raised counts rehash at login)
MAX_ITERATIONS = const(1000000)       # a stored count above this is a corrupt store
SALT_LEN = const(16)
HASH_LEN = const(32)
PASSWORD_MIN_LEN = const(8)
PASSWORD_MAX_LEN = const(128)
NAME_MAX_LEN = const(32)              # user, token, SNMP user and community names
MAX_USERS = const(16)
MAX_TOKENS = const(16)
MAX_SESSIONS = const(16)              # the oldest session is dropped for a new one
SESSION_IDLE_MS = const(900000)       # 15 min without a request ends a session
SESSION_MAX_MS = const(28800000)      # 8 h after login a session ends regardless
USER_MAX_FAILURES = const(5)          # failed logins for one user name ...
PEER_MAX_FAILURES = const(10)         # ... or from one peer address ...
FAIL_WINDOW_MS = const(900000)        # ... within 15 min lock it out for
LOCKOUT_MS = const(300000)            # 5 min, doubling for each further lockout
LOCKOUT_MAX_MS = const(3600000)       # up to 1 h
MAX_TRACKED = const(32)               # user names and peers tracked for rate limiting (each)
MAX_LOGINS_IN_FLIGHT = const(2)       # concurrent password derivations; more get 429
MAX_SNMP_USERS = const(8)
MAX_COMMUNITIES = const(4)
MAX_MODBUS_CLIENTS = const(16)
SNMP_PASSWORD_MIN_LEN = const(8)      # RFC 3414 11.2
SECRET_MAX_LEN = const(64)            # SNMP passwords, communities, MQTT user/password
MAX_STORE_BYTES = const(32768)        # a larger file is a corrupt store
TOKEN_BYTES = const(32)               # random bytes in a session or API token

SNMP_AUTH = ("SHA-96", "SHA-256")     # usmHMACSHAAuthProtocol (RFC 3414), usmHMAC192SHA256AuthProtocol (RFC 7860)
SNMP_PRIV = ("none", "AES-128")       # usmAesCfb128Protocol (RFC 3826)

# Refused as passwords whatever the user (compared case-insensitively): the
# factory defaults of PDUs and network gear, and the most common passwords.
COMMON_PASSWORDS = (
    "admin", "password", "apc", "raritan", "root", "1234", "12345678", "default", "changeme", "pdu",
    "123456789", "1234567890", "00000000", "11111111", "87654321", "administrator", "admin123",
    "admin1234", "adminadmin", "password1", "password123", "passw0rd", "p@ssw0rd", "changeme1",
    "qwertyui", "qwerty123", "letmein1", "welcome1", "iloveyou", "superuser", "rootroot",
    "toortoor", "public", "private", "servertech", "eaton123", "vertiv", "geist", "cyberpower",
    "tripplite", "enlogic", "schneider", "avocent", "raritan1", "apcapcapc", "pdupdupdu", "pdu12345",
)

FORMAT = "PDUACCESS"
VERSION = const(1)

_SESSION_PREFIX = "pdus_"
_TOKEN_PREFIX = "pdut_"
_BEARER_LEN = const(5 + 2 * TOKEN_BYTES)
_NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
_DUMMY_SALT = b"pdu-access-dummy"
_PERIOD = time.ticks_add(0, -1) + 1   # ticks period (2**30 on the MCU)


class AccessError(Exception):
    """status: 400 invalid, 401 bad credentials, 403 not permitted / setup
    required, 404 unknown, 409 conflict or limit, 429 rate limited (with
    retry_after_s), 503 store write failed. reason: one line for the client."""

    def __init__(self, status, reason, retry_after_s=None):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.retry_after_s = retry_after_s

    def __repr__(self):
        return "AccessError(%d, %r)" % (self.status, self.reason)


class Identity:
    """Who is calling: user (a user name, or "token:NAME" for an API token),
    role, kind ("session" or "token")."""

    def __init__(self, user, role, kind, sid=None):
        self.user = user
        self.role = role
        self.kind = kind
        self._sid = sid        # the session's key (a hash), to keep it on a password change

    def __repr__(self):
        return "Identity(%r, %r, %r)" % (self.user, self.role, self.kind)


def _hex(b):
    return binascii.hexlify(b).decode()


def _unhex(s, n):
    if type(s) is not str or len(s) != 2 * n:
        raise ValueError("bad hex field")
    return binascii.unhexlify(s)


def _sha(b):
    return hashlib.sha256(b).digest()


def _host(peer):
    """The address part of a peer ("10.0.0.7:51234" -> "10.0.0.7",
    "[fe80::1]:80" -> "[fe80::1]"); "local" when there is none."""
    if not peer:
        return "local"
    peer = str(peer)
    if peer[0] == "[":
        i = peer.find("]")
        return peer[:i + 1] if i > 0 else peer
    if peer.count(":") == 1:
        return peer.split(":")[0]
    return peer


def _printable(s, n=24):
    s = str(s)[:n]
    return "".join(c if " " <= c <= "~" else "?" for c in s)


def _name_ok(name):
    if type(name) is not str or not 1 <= len(name) <= NAME_MAX_LEN:
        return False
    if name[0] not in _NAME_CHARS[:62]:
        return False
    for c in name:
        if c not in _NAME_CHARS:
            return False
    return True


def _name_error(what, name):
    if not _name_ok(name):
        return "%s name: 1..%d characters of A-Z a-z 0-9 . _ - starting with a letter or digit" % (
            what, NAME_MAX_LEN)
    return None


def password_problem(user, password):
    """Why a password is refused for user, or None: a minimum length, not the
    user name, not a common default."""
    if type(password) is not str:
        return "password: a string is required"
    if len(password) < PASSWORD_MIN_LEN:
        return "password: at least %d characters" % PASSWORD_MIN_LEN
    if len(password) > PASSWORD_MAX_LEN:
        return "password: at most %d characters" % PASSWORD_MAX_LEN
    for c in password:
        if c < " " or c == "\x7f":
            return "password: no control characters"
    low = password.lower()
    if type(user) is str and low == user.lower():
        return "password: must not be the user name"
    if low in COMMON_PASSWORDS:
        return "password: a common default password is not allowed"
    if low == low[0] * len(low):
        return "password: must not be one repeated character"
    return None


def _ipv4(s):
    parts = s.split(".")
    if len(parts) != 4:
        return None
    v = 0
    for p in parts:
        if not p or len(p) > 3 or not p.isdigit():
            return None
        n = int(p)
        if n > 255:
            return None
        v = (v << 8) | n
    return v


def _net(s):
    """(network, mask) of an IPv4 address or CIDR block, or None."""
    if type(s) is not str or len(s) > 18:
        return None
    bits = 32
    if "/" in s:
        s, b = s.split("/", 1)
        if not b.isdigit() or not 0 <= int(b) <= 32:
            return None
        bits = int(b)
    a = _ipv4(s)
    if a is None:
        return None
    mask = (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF
    if a & ~mask & 0xFFFFFFFF:
        return None          # host bits set in a block: ambiguous, refused
    return a, mask


class _Limiter:
    """Failed-login counters for one kind of key (user names or peers), at
    most MAX_TRACKED keys. Times are the store's monotonic milliseconds."""

    def __init__(self, max_failures):
        self.max = max_failures
        self.d = {}     # key -> [failures, window start, locked until, lockouts, last seen, refusal audited]

    def locked_ms(self, key, now):
        e = self.d.get(key)
        if e is None or e[2] <= now:
            return 0
        return e[2] - now

    def fail(self, key, now):
        """Count a failure; the lockout length when this one starts a lockout, else 0."""
        e = self.d.get(key)
        if e is None:
            if len(self.d) >= MAX_TRACKED:
                self._evict(now)
            e = [0, now, 0, 0, now, False]
            self.d[key] = e
        if now - e[4] > LOCKOUT_MAX_MS:
            e[3] = 0             # quiet for long: lockouts start short again
        if now - e[1] > FAIL_WINDOW_MS:
            e[0] = 0
            e[1] = now
        e[4] = now
        e[0] += 1
        if e[0] < self.max:
            return 0
        e[3] += 1
        dur = LOCKOUT_MS
        for _ in range(e[3] - 1):
            dur *= 2
            if dur >= LOCKOUT_MAX_MS:
                dur = LOCKOUT_MAX_MS
                break
        e[0] = 0
        e[1] = now
        e[2] = now + dur
        e[5] = False
        return dur

    def first_refusal(self, key):
        """True once per lockout: the first refused attempt is audited, the
        rest are counted in the lockout's audit line only."""
        e = self.d.get(key)
        if e is None or e[5]:
            return False
        e[5] = True
        return True

    def clear(self, key):
        self.d.pop(key, None)

    def purge(self, now):
        for k in [k for k, e in self.d.items() if e[2] <= now and now - e[4] > LOCKOUT_MAX_MS]:
            del self.d[k]

    def _evict(self, now):
        # the least recently seen key that is not locked out, else the one whose lockout ends first
        best = None
        for k, e in self.d.items():
            rank = (1 if e[2] > now else 0, e[2] if e[2] > now else e[4])
            if best is None or rank < best[0]:
                best = (rank, k)
        del self.d[best[1]]


class Access:
    def __init__(self, fs, clock, audit, path="/access.json", *, iterations=DEFAULT_ITERATIONS):
        if not 1 <= iterations <= MAX_ITERATIONS:
            raise ValueError("access: iterations 1..%d" % MAX_ITERATIONS)
        self.fs = fs
        self.clock = clock
        self.audit = audit
        self.path = path
        self.path_b = path + ".b"
        self.tmp = path + ".tmp"
        self.iterations = iterations
        # awaited between slices of key derivation: the management model sets
        # its pace() here (firmware/uplinks.py); None: a plain yield
        self.pace = None
        self._t_last = clock.ticks_ms()
        self._mono = 0
        self._sessions = {}        # sha256(token) -> [user, created, last used, iface, host]
        self._users_lim = _Limiter(USER_MAX_FAILURES)
        self._peers_lim = _Limiter(PEER_MAX_FAILURES)
        self._inflight = 0
        self._tok_used = {}        # token name -> utc_ms of last use (RAM only)
        self.boot_state = None     # "ok" | "repaired" | "setup" (missing) | "corrupt" (setup, files kept as .bad)
        self._empty()
        self.load()

    def __repr__(self):
        return "<Access users=%d tokens=%d sessions=%d setup=%s>" % (
            len(self._users), len(self._tokens), len(self._sessions), self.needs_setup())

    # --- state -----------------------------------------------------------------------------------
    def _empty(self):
        self._gen = 0
        self._users = {}           # name -> {"role", "it", "salt", "hash", "created", "changed"}
        self._tokens = {}          # name -> {"role", "hash", "created", "by"}
        self._tok_index = {}       # sha256(secret) -> name
        self._opts = {"metrics_anonymous": False}
        self._snmp_users = {}      # name -> {"auth", "auth_ku", "priv", "priv_ku"}
        self._communities = {}     # name -> {"salt", "hash", "write"}
        self._modbus = {"write_enable": False, "allow": []}
        self._mqtt = {"user": "", "password": "", "command_enable": False}

    def _doc(self):
        return {"format": FORMAT, "version": VERSION, "gen": self._gen, "users": self._users,
                "tokens": self._tokens, "options": self._opts,
                "snmp": {"users": self._snmp_users, "communities": self._communities},
                "modbus": self._modbus, "mqtt": self._mqtt}

    def _encode(self):
        body = json.dumps(self._doc()).encode()
        return ("%s %d %d %s\n" % (FORMAT, VERSION, self._gen, _hex(_sha(body)))).encode() + body

    def _adopt(self, doc):
        self._gen = doc["gen"]
        self._users = doc["users"]
        self._tokens = doc["tokens"]
        self._opts = doc["options"]
        self._snmp_users = doc["snmp"]["users"]
        self._communities = doc["snmp"]["communities"]
        self._modbus = doc["modbus"]
        self._mqtt = doc["mqtt"]
        self._tok_index = {}
        for name, t in self._tokens.items():
            self._tok_index[binascii.unhexlify(t["hash"])] = name

    # --- loading ------------------------------------------------------------------------------------
    def _read(self, p):
        """The document in file p; None if there is no such file; ValueError
        naming what is wrong if it is corrupt."""
        try:
            size = self.fs.stat(p)[6]
        except OSError:
            return None
        if size > MAX_STORE_BYTES:
            raise ValueError("too large")
        f = self.fs.open(p, "rb")
        try:
            data = f.read()
        finally:
            f.close()
        nl = data.find(b"\n")
        if nl < 0:
            raise ValueError("no header")
        head = data[:nl].decode().split(" ")
        body = data[nl + 1:]
        if len(head) != 4 or head[0] != FORMAT:
            raise ValueError("bad header")
        if head[1] != str(VERSION):
            raise ValueError("version %s" % head[1])
        if not equal(_unhex(head[3], 32), _sha(body)):
            raise ValueError("checksum")
        doc = json.loads(body)
        _check(doc)
        if str(doc["gen"]) != head[2]:
            raise ValueError("generation")
        return doc

    def load(self):
        """Read the store (both copies; the newest valid one wins). Returns
        boot_state. Every copy missing, corrupt or behind is an audited fault
        and is rewritten; with no valid copy the store is in setup mode."""
        self._sessions = {}
        self._empty()
        docs = []
        faults = []
        missing = 0
        for tag, p in (("A", self.path), ("B", self.path_b)):
            try:
                d = self._read(p)
            except Exception as e:       # any parse error: the copy is corrupt
                faults.append((tag, p, "corrupt (%s)" % (e.args[0] if e.args else type(e).__name__)))
                continue
            if d is None:
                missing += 1
                faults.append((tag, p, "missing"))
            else:
                docs.append((d["gen"], tag, d))
        try:
            self.fs.remove(self.tmp)     # a write the power cut interrupted
        except OSError:
            pass
        if not docs:
            bad = [f for f in faults if f[2] != "missing"]
            for _, p, _ in bad:
                try:
                    self.fs.rename(p, p + ".bad")     # kept for inspection; never read again
                except OSError:
                    pass
            if bad:
                self.boot_state = "corrupt"
                self._log("other", "access", "access store %s: setup mode" % "; ".join(
                    "%s %s" % (t, w) for t, _, w in bad), "failed")
            else:
                # a new device: no store was ever written. Not a fault, so not
                # audited (a damaged store is, above)
                self.boot_state = "setup"
            return self.boot_state
        docs.sort(key=lambda x: x[0])
        gen, tag, doc = docs[-1]
        self._adopt(doc)
        behind = [t for g, t, _ in docs if g != gen]
        if faults or behind:
            what = ["%s %s" % (t, w) for t, _, w in faults] + ["%s behind" % t for t in behind]
            self._log("other", "access", "access store %s: repaired from %s gen %d" % (
                ", ".join(what), tag, gen), "failed" if faults else "ok")
            try:
                self._save()
            except OSError:
                pass
            self.boot_state = "repaired"
        else:
            self.boot_state = "ok"
        return self.boot_state

    # --- saving --------------------------------------------------------------------------------------
    def _write(self, p, data):
        f = self.fs.open(self.tmp, "wb")
        try:
            f.write(data)
        finally:
            f.close()
        self.fs.rename(self.tmp, p)       # atomic: p is the old or the new file

    def _save(self):
        """Write both copies. The change is committed once copy A is renamed
        into place (OSError before that: nothing changed on flash). A failure
        writing copy B is an audited fault, repaired by the next save or boot."""
        self._gen += 1
        data = self._encode()
        self._write(self.path, data)
        try:
            self._write(self.path_b, data)
        except OSError as e:
            self._log("other", "access", "access store copy B write failed (%s)" % e, "failed")

    def _commit(self, snap, who, what):
        """Persist a change made in memory after snap = self._snapshot();
        if it could not be committed the change is undone and AccessError(503)
        raised."""
        try:
            self._save()
        except OSError as e:
            gen = self._gen
            self._adopt(json.loads(snap))
            self._gen = gen             # never reuse a generation a copy may hold
            self._log("config", who, "%s: store write failed (%s)" % (what, e), "failed")
            raise AccessError(503, "access store write failed")
        self._log("config", who, what, "ok")

    def _snapshot(self):
        return json.dumps(self._doc())

    # --- time --------------------------------------------------------------------------------------
    def _now(self):
        """Monotonic milliseconds since this store started (ticks never go
        backwards; a negative difference is a wrap past half the period)."""
        t = self.clock.ticks_ms()
        d = time.ticks_diff(t, self._t_last)
        if d < 0:
            d += _PERIOD
        self._t_last = t
        self._mono += d
        return self._mono

    def housekeep(self):
        """Drop expired sessions and stale login counters. Call about once a
        minute (it also keeps the monotonic time right across tick wraps)."""
        now = self._now()
        for k in [k for k, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[k]
        self._users_lim.purge(now)
        self._peers_lim.purge(now)

    # --- audit ----------------------------------------------------------------------------------------
    def _log(self, kind, who, what, result):
        if self.audit is not None:
            self.audit.log(kind, who, what, result)

    @staticmethod
    def _who(ident, iface, peer):
        return "%s:%s@%s" % (iface or "local", ident.user if ident is not None else "-", _host(peer))

    def _need(self, ident, action, iface, peer, what):
        if not self.permits(ident, action):
            self._log("config", self._who(ident, iface, peer), what + ": not permitted", "denied")
            raise AccessError(403, "not permitted" if ident is not None else "authentication required")

    def _refuse(self, who, what, status, reason):
        self._log("config", who, "%s: %s" % (what, reason), "refused")
        raise AccessError(status, reason)

    # --- setup ------------------------------------------------------------------------------------------
    def needs_setup(self):
        """True until the first admin password is set (no valid store)."""
        return not self._users

    async def setup(self, password, iface="local", peer=None, user=ADMIN):
        """Set the first admin's password (user "admin" unless named). Only in
        setup mode (409 otherwise); the password policy applies (400)."""
        who = "%s:%s@%s" % (iface, _printable(user), _host(peer))
        what = "setup: first admin %s" % _printable(user)
        if not self.needs_setup():
            self._refuse(who, what, 409, "already set up")
        err = _name_error("user", user) or password_problem(user, password)
        if err:
            self._refuse(who, what, 400, err)
        rec = await self._hash(password)
        if not self.needs_setup():           # another setup finished while this one hashed
            self._refuse(who, what, 409, "already set up")
        snap = self._snapshot()
        rec["role"] = ADMIN
        self._users[user] = rec
        self._commit(snap, who, what)

    # --- passwords ---------------------------------------------------------------------------------------
    async def _hash(self, password):
        if self._inflight >= MAX_LOGINS_IN_FLIGHT:
            raise AccessError(429, "busy: too many password checks at once", 1)
        self._inflight += 1
        try:
            salt = os.urandom(SALT_LEN)
            dk = await pbkdf2_sha256(password.encode(), salt, self.iterations, HASH_LEN, pace=self.pace)
        finally:
            self._inflight -= 1
        now = self.clock.utc_ms()
        return {"role": VIEWER, "it": self.iterations, "salt": _hex(salt), "hash": _hex(dk),
                "created": now, "changed": now}

    async def _verify(self, rec, password):
        """Derive and compare; with rec None the same work against a dummy, so
        an unknown user takes as long as a wrong password. At most
        MAX_LOGINS_IN_FLIGHT derivations run at once (429 beyond)."""
        if self._inflight >= MAX_LOGINS_IN_FLIGHT:
            raise AccessError(429, "busy: too many logins at once", 1)
        pw = password.encode()[:4 * PASSWORD_MAX_LEN] if type(password) is str else b""
        self._inflight += 1
        try:
            if rec is None:
                await pbkdf2_sha256(pw, _DUMMY_SALT, self.iterations, HASH_LEN, pace=self.pace)
                return False
            dk = await pbkdf2_sha256(pw, binascii.unhexlify(rec["salt"]), rec["it"], HASH_LEN, pace=self.pace)
        finally:
            self._inflight -= 1
        return equal(dk, binascii.unhexlify(rec["hash"])) and type(password) is str and \
            len(password) <= PASSWORD_MAX_LEN

    # --- login and sessions --------------------------------------------------------------------------------
    async def login(self, user, password, iface="local", peer=None):
        """(session token, expires_utc_ms) for a good user name and password.
        AccessError(401, "bad credentials") otherwise (the same for an unknown
        user, after the same work); AccessError(429) while the user or the
        peer is locked out or too many logins run at once; 403 in setup mode."""
        if self.needs_setup():
            raise AccessError(403, "setup required")
        now = self._now()
        host = _host(peer)
        uname = user if type(user) is str and len(user) <= NAME_MAX_LEN else None
        ukey = uname if uname is not None else "?"
        who = _printable(user if type(user) is str else "?")
        where = "login %s %s" % (iface, _printable(peer or "local", 40))
        for lim, key, what in ((self._peers_lim, host, "peer"), (self._users_lim, ukey, "user")):
            left = lim.locked_ms(key, now)
            if left:
                if lim.first_refusal(key):
                    self._log("login", who, "%s: refused, %s locked out %d s" % (where, what, (left + 999) // 1000),
                              "refused")
                raise AccessError(429, "too many failed logins: try again later", (left + 999) // 1000)
        rec = self._users.get(uname) if uname is not None else None
        ok = await self._verify(rec, password)
        now = self._now()
        if ok and self._users.get(uname) is not rec:
            ok = False      # deleted or changed while the password was checked
        if not ok:
            self._log("login", who, where + ": bad credentials", "denied")
            for lim, key, what in ((self._peers_lim, host, "peer"), (self._users_lim, ukey, "user")):
                dur = lim.fail(key, now)
                if dur:
                    self._log("login", who, "%s: %s locked out %d s" % (where, what, dur // 1000), "refused")
            raise AccessError(401, "bad credentials")
        self._users_lim.clear(ukey)
        token = _SESSION_PREFIX + _hex(os.urandom(TOKEN_BYTES))
        if len(self._sessions) >= MAX_SESSIONS:
            oldest = None
            for k, s in self._sessions.items():
                if oldest is None or s[1] < self._sessions[oldest][1]:
                    oldest = k
            del self._sessions[oldest]
        self._sessions[_sha(token.encode())] = [uname, now, now, iface, host]
        self._log("login", who, where, "ok")
        if rec["it"] < self.iterations:
            await self._rehash(uname, rec, password)
        return token, self.clock.utc_ms() + SESSION_IDLE_MS

    async def _rehash(self, name, rec, password):
        # the stored count is below the current one: store a fresh hash
        try:
            new = await self._hash(password)
        except AccessError:
            return              # busy: next login
        if self._users.get(name) is not rec:
            return
        snap = self._snapshot()
        for k in ("it", "salt", "hash"):
            rec[k] = new[k]
        try:
            self._commit(snap, "access", "user %s password hash raised to %d iterations" % (name, new["it"]))
        except AccessError:
            pass

    def _expired(self, s, now):
        return now - s[2] >= SESSION_IDLE_MS or now - s[1] >= SESSION_MAX_MS

    def identify(self, bearer):
        """Identity for a bearer token (session or API token), or None when it
        is missing, unknown, forged, expired or revoked."""
        if type(bearer) is not str or len(bearer) != _BEARER_LEN or self.needs_setup():
            return None
        key = _sha(bearer.encode())
        s = self._sessions.get(key)
        if s is not None:
            now = self._now()
            u = self._users.get(s[0])
            if u is None or self._expired(s, now) or not bearer.startswith(_SESSION_PREFIX):
                del self._sessions[key]
                return None
            s[2] = now
            return Identity(s[0], u["role"], "session", key)
        name = self._tok_index.get(key)
        if name is None or not bearer.startswith(_TOKEN_PREFIX):
            return None
        t = self._tokens[name]
        self._tok_used[name] = self.clock.utc_ms()
        return Identity("token:" + name, t["role"], "token")

    def logout(self, bearer):
        """End a session; True if there was one."""
        if type(bearer) is not str or len(bearer) != _BEARER_LEN:
            return False
        s = self._sessions.pop(_sha(bearer.encode()), None)
        if s is None:
            return False
        self._log("login", s[0], "logout %s %s" % (s[3], s[4]), "ok")
        return True

    def sessions(self, ident):
        """Open sessions (admin): user, interface, peer, age and idle seconds."""
        self._need(ident, USERS, None, None, "list sessions")
        now = self._now()
        return [{"user": s[0], "iface": s[3], "peer": s[4], "age_s": (now - s[1]) // 1000,
                 "idle_s": (now - s[2]) // 1000} for s in self._sessions.values() if not self._expired(s, now)]

    def _drop_sessions(self, user, keep=None):
        for k in [k for k, s in self._sessions.items() if s[0] == user and k != keep]:
            del self._sessions[k]

    # --- the role table -------------------------------------------------------------------------------------
    def permits(self, ident, action):
        """May ident do action? Roles rank viewer < operator < admin; an
        action not in PERMISSIONS, no identity or setup mode: no."""
        if ident is None or self.needs_setup():
            return False
        need = PERMISSIONS.get(action)
        if need is None or ident.role not in ROLES:
            return False
        return ROLES.index(ident.role) >= ROLES.index(need)

    def metrics_anonymous(self):
        """May /metrics be scraped without a token? Off unless an admin turned it on."""
        return bool(self._opts.get("metrics_anonymous")) and not self.needs_setup()

    def set_metrics_anonymous(self, ident, on, iface="local", peer=None):
        what = "metrics_anonymous %s" % ("on" if on else "off")
        self._need(ident, CREDENTIALS, iface, peer, what)
        if type(on) is not bool:
            self._refuse(self._who(ident, iface, peer), what, 400, "metrics_anonymous: true or false")
        snap = self._snapshot()
        self._opts["metrics_anonymous"] = on
        self._commit(snap, self._who(ident, iface, peer), what)

    # --- users --------------------------------------------------------------------------------------------------
    @staticmethod
    def _user_view(name, u):
        return {"name": name, "role": u["role"], "password_set": True, "iterations": u["it"],
                "created_utc_ms": u["created"], "changed_utc_ms": u["changed"]}

    def users(self, ident):
        """Every user (admin), without secrets."""
        self._need(ident, USERS, None, None, "list users")
        return [self._user_view(n, self._users[n]) for n in sorted(self._users)]

    def user(self, ident, name):
        """One user (admin, or the user itself), without secrets; None if unknown."""
        if not (ident is not None and ident.kind == "session" and ident.user == name):
            self._need(ident, USERS, None, None, "show user")
        u = self._users.get(name)
        return None if u is None else self._user_view(name, u)

    def _admins(self):
        return [n for n, u in self._users.items() if u["role"] == ADMIN]

    async def add_user(self, ident, name, role, password, iface="local", peer=None):
        who = self._who(ident, iface, peer)
        what = "user %s add (%s)" % (_printable(name), _printable(role, 10))
        self._need(ident, USERS, iface, peer, what)
        err = _name_error("user", name) or (None if role in ROLES else "role: viewer, operator or admin") or \
            password_problem(name, password)
        if err:
            self._refuse(who, what, 400, err)
        if name in self._users:
            self._refuse(who, what, 409, "user %s exists" % name)
        if len(self._users) >= MAX_USERS:
            self._refuse(who, what, 409, "at most %d users" % MAX_USERS)
        rec = await self._hash(password)
        if name in self._users or len(self._users) >= MAX_USERS:     # added meanwhile
            self._refuse(who, what, 409, "user %s exists" % name if name in self._users
                         else "at most %d users" % MAX_USERS)
        rec["role"] = role
        snap = self._snapshot()
        self._users[name] = rec
        self._commit(snap, who, what)

    def set_role(self, ident, name, role, iface="local", peer=None):
        who = self._who(ident, iface, peer)
        what = "user %s role %s" % (_printable(name), _printable(role, 10))
        self._need(ident, USERS, iface, peer, what)
        u = self._users.get(name)
        if u is None:
            self._refuse(who, what, 404, "no user %s" % _printable(name))
        if role not in ROLES:
            self._refuse(who, what, 400, "role: viewer, operator or admin")
        if u["role"] == role:
            return
        if u["role"] == ADMIN and len(self._admins()) == 1:
            self._refuse(who, what, 409, "the last admin cannot be demoted")
        what = "user %s role %s -> %s" % (name, u["role"], role)
        snap = self._snapshot()
        u["role"] = role
        u["changed"] = self.clock.utc_ms()
        self._commit(snap, who, what)

    async def set_password(self, ident, name, password, iface="local", peer=None, old_password=None):
        """An admin sets anyone's password; any user may change their own with
        old_password. The user's other sessions end."""
        who = self._who(ident, iface, peer)
        what = "user %s password" % _printable(name)
        own = ident is not None and ident.kind == "session" and ident.user == name
        if not own:
            self._need(ident, USERS, iface, peer, what)
        u = self._users.get(name)
        if u is None:
            self._refuse(who, what, 404, "no user %s" % _printable(name))
        err = password_problem(name, password)
        if err:
            self._refuse(who, what, 400, err)
        if own and not self.permits(ident, USERS):
            now = self._now()
            left = self._users_lim.locked_ms(name, now)
            if left:
                raise AccessError(429, "too many failed logins: try again later", (left + 999) // 1000)
            if old_password is None or not await self._verify(u, old_password):
                self._log("login", name, "%s: old password wrong" % what, "denied")
                if self._users_lim.fail(name, self._now()):
                    self._log("login", name, "%s: user locked out" % what, "refused")
                raise AccessError(401, "old password wrong")
        rec = await self._hash(password)
        if self._users.get(name) is not u:
            self._refuse(who, what, 409, "user %s changed meanwhile" % name)
        snap = self._snapshot()
        for k in ("it", "salt", "hash"):
            u[k] = rec[k]
        u["changed"] = rec["changed"]
        self._commit(snap, who, what + " set")
        self._drop_sessions(name, ident._sid if own else None)

    def delete_user(self, ident, name, iface="local", peer=None):
        who = self._who(ident, iface, peer)
        what = "user %s delete" % _printable(name)
        self._need(ident, USERS, iface, peer, what)
        u = self._users.get(name)
        if u is None:
            self._refuse(who, what, 404, "no user %s" % _printable(name))
        if u["role"] == ADMIN and len(self._admins()) == 1:
            self._refuse(who, what, 409, "the last admin cannot be deleted")
        snap = self._snapshot()
        del self._users[name]
        self._commit(snap, who, what)
        self._drop_sessions(name)
        self._users_lim.clear(name)

    # --- API tokens -----------------------------------------------------------------------------------------------
    def tokens(self, ident):
        """API tokens (admin): name, role, created, by whom, last use (since boot); never the secret."""
        self._need(ident, USERS, None, None, "list tokens")
        return [{"name": n, "role": t["role"], "created_utc_ms": t["created"], "created_by": t["by"],
                 "last_used_utc_ms": self._tok_used.get(n)} for n, t in sorted(self._tokens.items())]

    async def create_token(self, ident, name, role, iface="local", peer=None):
        """A long-lived API token (for scrapers and scripts): the secret is
        returned once; only its SHA-256 is stored (it has 256 random bits, so
        a plain hash is enough and identify() stays cheap)."""
        who = self._who(ident, iface, peer)
        what = "token %s create (%s)" % (_printable(name), _printable(role, 10))
        self._need(ident, USERS, iface, peer, what)
        err = _name_error("token", name) or (None if role in ROLES else "role: viewer, operator or admin")
        if err:
            self._refuse(who, what, 400, err)
        if name in self._tokens:
            self._refuse(who, what, 409, "token %s exists" % name)
        if len(self._tokens) >= MAX_TOKENS:
            self._refuse(who, what, 409, "at most %d tokens" % MAX_TOKENS)
        secret = _TOKEN_PREFIX + _hex(os.urandom(TOKEN_BYTES))
        h = _sha(secret.encode())
        snap = self._snapshot()
        self._tokens[name] = {"role": role, "hash": _hex(h), "created": self.clock.utc_ms(),
                              "by": ident.user}
        self._tok_index[h] = name
        self._commit(snap, who, what)
        return secret

    def revoke_token(self, ident, name, iface="local", peer=None):
        who = self._who(ident, iface, peer)
        what = "token %s revoke" % _printable(name)
        self._need(ident, USERS, iface, peer, what)
        if name not in self._tokens:
            self._refuse(who, what, 404, "no token %s" % _printable(name))
        snap = self._snapshot()
        t = self._tokens.pop(name)
        self._tok_index.pop(binascii.unhexlify(t["hash"]), None)
        self._tok_used.pop(name, None)
        self._commit(snap, who, what)

    # --- uplink credentials and switches (all off / empty by default) ---------------------------------------------
    def uplinks(self, ident):
        """SNMP, Modbus and MQTT access settings (admin), without secrets."""
        self._need(ident, CREDENTIALS, None, None, "show uplink credentials")
        return {
            "snmp": {
                "v3_users": [{"name": n, "auth": u["auth"], "auth_key_set": True, "priv": u["priv"],
                              "priv_key_set": u["priv"] != "none"} for n, u in sorted(self._snmp_users.items())],
                "communities": [{"name": n, "write": c["write"], "community_set": True}
                                for n, c in sorted(self._communities.items())],
            },
            "modbus": {"write_enable": self._modbus["write_enable"], "allow": list(self._modbus["allow"])},
            "mqtt": {"user": self._mqtt["user"], "password_set": bool(self._mqtt["password"]),
                     "command_enable": self._mqtt["command_enable"]},
            "metrics_anonymous": self.metrics_anonymous(),
        }

    async def set_snmp_v3_user(self, ident, name, auth, auth_password, priv="none", priv_password=None,
                               iface="local", peer=None):
        """Add or replace an SNMPv3 USM user. The passwords are turned into
        the RFC 3414 A.2 master keys Ku (engine independent; 1 MB of hashing,
        yielding) and only Ku is stored; snmp_v3_keys() localizes them."""
        who = self._who(ident, iface, peer)
        what = "snmp v3 user %s set (%s/%s)" % (_printable(name), _printable(auth, 8), _printable(priv, 8))
        self._need(ident, CREDENTIALS, iface, peer, what)
        err = _name_error("SNMP user", name)
        if err is None and auth not in SNMP_AUTH:
            err = "auth: one of %s" % ", ".join(SNMP_AUTH)
        if err is None and priv not in SNMP_PRIV:
            err = "priv: one of %s" % ", ".join(SNMP_PRIV)
        if err is None:
            err = _secret_problem("auth password", auth_password, SNMP_PASSWORD_MIN_LEN)
        if err is None and priv != "none":
            err = _secret_problem("priv password", priv_password, SNMP_PASSWORD_MIN_LEN)
        if err is None and priv == "none" and priv_password is not None:
            err = "priv password: only with a priv protocol"
        if err:
            self._refuse(who, what, 400, err)
        if name not in self._snmp_users and len(self._snmp_users) >= MAX_SNMP_USERS:
            self._refuse(who, what, 409, "at most %d SNMPv3 users" % MAX_SNMP_USERS)
        ku_a = await password_to_key(auth, auth_password, self.pace)
        ku_p = await password_to_key(auth, priv_password, self.pace) if priv != "none" else None
        if name not in self._snmp_users and len(self._snmp_users) >= MAX_SNMP_USERS:    # added meanwhile
            self._refuse(who, what, 409, "at most %d SNMPv3 users" % MAX_SNMP_USERS)
        snap = self._snapshot()
        self._snmp_users[name] = {"auth": auth, "auth_ku": _hex(ku_a), "priv": priv,
                                  "priv_ku": _hex(ku_p) if ku_p is not None else ""}
        self._commit(snap, who, what)

    def delete_snmp_v3_user(self, ident, name, iface="local", peer=None):
        self._delete(ident, self._snmp_users, name, "snmp v3 user", iface, peer)

    def set_snmp_community(self, ident, name, community, write=False, iface="local", peer=None):
        """Add or replace an SNMP v1/v2c community (named for the listing):
        read-only unless write=True. Stored as a salted SHA-256."""
        who = self._who(ident, iface, peer)
        what = "snmp community %s set (write %s)" % (_printable(name), "on" if write is True else "off")
        self._need(ident, CREDENTIALS, iface, peer, what)
        err = _name_error("community", name) or _secret_problem("community", community, 1)
        if err is None and type(write) is not bool:
            err = "write: true or false"
        if err is None and community.lower() in ("public", "private"):
            err = "community: public and private are factory defaults, not allowed"
        if err:
            self._refuse(who, what, 400, err)
        if name not in self._communities and len(self._communities) >= MAX_COMMUNITIES:
            self._refuse(who, what, 409, "at most %d communities" % MAX_COMMUNITIES)
        salt = os.urandom(SALT_LEN)
        snap = self._snapshot()
        self._communities[name] = {"salt": _hex(salt), "hash": _hex(_sha(salt + community.encode())),
                                   "write": write}
        self._commit(snap, who, what)

    def delete_snmp_community(self, ident, name, iface="local", peer=None):
        self._delete(ident, self._communities, name, "snmp community", iface, peer)

    def _delete(self, ident, table, name, label, iface, peer):
        who = self._who(ident, iface, peer)
        what = "%s %s delete" % (label, _printable(name))
        self._need(ident, CREDENTIALS, iface, peer, what)
        if name not in table:
            self._refuse(who, what, 404, "no %s %s" % (label, _printable(name)))
        snap = self._snapshot()
        del table[name]
        self._commit(snap, who, what)

    def set_modbus(self, ident, write_enable=None, allow=None, iface="local", peer=None):
        """Modbus TCP: write_enable (bool) and/or allow, the list of client
        IPv4 addresses or CIDR blocks that may connect (empty: none may)."""
        who = self._who(ident, iface, peer)
        what = "modbus"
        self._need(ident, CREDENTIALS, iface, peer, what)
        err = None
        if write_enable is not None and type(write_enable) is not bool:
            err = "write_enable: true or false"
        if allow is not None:
            if type(allow) is not list or len(allow) > MAX_MODBUS_CLIENTS:
                err = "allow: a list of at most %d IPv4 addresses or CIDR blocks" % MAX_MODBUS_CLIENTS
            else:
                for a in allow:
                    if _net(a) is None:
                        err = "allow: %s is not an IPv4 address or CIDR block" % _printable(a, 20)
                        break
        if err is None and write_enable is None and allow is None:
            err = "nothing to change"
        if err:
            self._refuse(who, what, 400, err)
        snap = self._snapshot()
        parts = []
        if write_enable is not None:
            parts.append("write %s -> %s" % ("on" if self._modbus["write_enable"] else "off",
                                             "on" if write_enable else "off"))
            self._modbus["write_enable"] = write_enable
        if allow is not None:
            parts.append("allow %d clients" % len(allow))
            self._modbus["allow"] = list(allow)
        self._commit(snap, who, "modbus " + ", ".join(parts))

    def set_mqtt(self, ident, user=None, password=None, command_enable=None, iface="local", peer=None):
        """MQTT client login to the broker (user, password; "" clears) and
        whether commands received over MQTT are carried out."""
        who = self._who(ident, iface, peer)
        what = "mqtt"
        self._need(ident, CREDENTIALS, iface, peer, what)
        err = None
        if user is not None and (type(user) is not str or len(user) > SECRET_MAX_LEN):
            err = "user: at most %d characters" % SECRET_MAX_LEN
        if password is not None and password != "":
            err = err or _secret_problem("password", password, 1)
        if command_enable is not None and type(command_enable) is not bool:
            err = err or "command_enable: true or false"
        if err is None and user is None and password is None and command_enable is None:
            err = "nothing to change"
        if err:
            self._refuse(who, what, 400, err)
        snap = self._snapshot()
        parts = []
        if user is not None:
            self._mqtt["user"] = user
            parts.append("user set" if user else "user cleared")
        if password is not None:
            self._mqtt["password"] = password
            parts.append("password set" if password else "password cleared")
        if command_enable is not None:
            parts.append("commands %s" % ("on" if command_enable else "off"))
            self._mqtt["command_enable"] = command_enable
        self._commit(snap, who, "mqtt " + ", ".join(parts))

    # --- what the uplink agents ask (not for management output) -------------------------------------------------
    def snmp_community(self, community):
        """"read", "write" or None for a v1/v2c community string received."""
        if type(community) not in (str, bytes) or not 1 <= len(community) <= SECRET_MAX_LEN:
            return None
        c = community.encode() if type(community) is str else community
        found = None
        for e in self._communities.values():       # all compared, constant time each
            if equal(_sha(binascii.unhexlify(e["salt"]) + c), binascii.unhexlify(e["hash"])):
                found = "write" if e["write"] else "read"
        return found

    def snmp_v3_keys(self, name, engine_id):
        """(auth, localized auth key, priv, localized priv key or None) for the
        SNMP agent (RFC 3414 A.2 step 2; AES-128 uses the first 16 bytes,
        RFC 3826); None for an unknown user."""
        u = self._snmp_users.get(name)
        if u is None:
            return None
        kul_a = localize_key(u["auth"], binascii.unhexlify(u["auth_ku"]), engine_id)
        kul_p = None
        if u["priv"] != "none":
            kul_p = localize_key(u["auth"], binascii.unhexlify(u["priv_ku"]), engine_id)[:16]
        return u["auth"], kul_a, u["priv"], kul_p

    def snmp_v3_users(self):
        """Names of the SNMPv3 users (the agent's usmUserTable), no keys."""
        return sorted(self._snmp_users)

    def modbus_access(self, peer):
        """None (refuse the connection), "read" or "write" for a Modbus TCP
        client: only listed addresses connect; writes need write_enable."""
        a = _ipv4(_host(peer))
        if a is None:
            return None
        for s in self._modbus["allow"]:
            net, mask = _net(s)
            if a & mask == net:
                return "write" if self._modbus["write_enable"] else "read"
        return None

    def modbus_write_enabled(self):
        """The Modbus write switch (Modbus RTU: writes to this PDU's unit id)."""
        return self._modbus["write_enable"]

    def mqtt_client_login(self):
        """(user, password) for the MQTT client to present to the broker, or
        None when no user is set. Only for the MQTT client."""
        if not self._mqtt["user"]:
            return None
        return self._mqtt["user"], self._mqtt["password"]

    def mqtt_commands(self):
        """Are commands over MQTT carried out? Off by default."""
        return bool(self._mqtt["command_enable"])

    def stats(self):
        """Counters for health: users, tokens, sessions, locked peers and users."""
        now = self._now()
        return {"users": len(self._users), "tokens": len(self._tokens), "sessions": len(self._sessions),
                "locked_users": len([1 for e in self._users_lim.d.values() if e[2] > now]),
                "locked_peers": len([1 for e in self._peers_lim.d.values() if e[2] > now]),
                "setup": self.needs_setup(), "boot_state": self.boot_state}


def _secret_problem(what, s, min_len):
    if type(s) is not str:
        return "%s: a string is required" % what
    if not min_len <= len(s) <= SECRET_MAX_LEN:
        return "%s: %d..%d characters" % (what, min_len, SECRET_MAX_LEN)
    for c in s:
        if c < " " or c == "\x7f":
            return "%s: no control characters" % what
    return None


# --- SNMPv3 keys (RFC 3414 A.2, RFC 7860 for SHA-256) ------------------------------------------------------------
def _snmp_hash(auth):
    if auth == "SHA-96":
        if not hasattr(hashlib, "sha1"):
            raise AccessError(400, "auth: SHA-96 needs SHA-1, which this firmware build lacks")
        return hashlib.sha1
    return hashlib.sha256


async def password_to_key(auth, password, pace=None):
    """Ku: the hash of 1,048,576 bytes of the password repeated (RFC 3414
    A.2.2; SHA-256 per RFC 7860). Awaits pace() (default: a yield) every 64 KB."""
    import asyncio
    h = _snmp_hash(auth)()
    pw = password.encode()
    n = len(pw)
    # a chunk holding whole repetitions of the password and whole 64-byte blocks
    unit = n * 64
    while unit < 4096:
        unit *= 2
    chunk = (pw * (unit // n + 1))[:unit]
    left = 1048576
    k = 0
    while left > 0:
        m = unit if left >= unit else left
        h.update(chunk if m == unit else chunk[:m])
        left -= m
        k += m
        if k >= 65536:
            k = 0
            await (pace() if pace else asyncio.sleep_ms(0))
    return h.digest()


def localize_key(auth, ku, engine_id):
    """Kul = H(Ku || snmpEngineID || Ku) (RFC 3414 A.2.2)."""
    h = _snmp_hash(auth)(ku)
    h.update(engine_id)
    h.update(ku)
    return h.digest()


# --- store validation -------------------------------------------------------------------------------------------------
def _need(c, why):
    if not c:
        raise ValueError(why)


def _is_int(v):
    return type(v) is int


def _check(doc):
    """Raise ValueError naming the first thing wrong with a loaded document."""
    _need(type(doc) is dict and doc.get("format") == FORMAT and doc.get("version") == VERSION, "format")
    _need(_is_int(doc.get("gen")) and doc["gen"] > 0, "gen")
    users = doc.get("users")
    _need(type(users) is dict and 1 <= len(users) <= MAX_USERS, "users")
    admins = 0
    for n, u in users.items():
        _need(_name_ok(n) and type(u) is dict, "user name")
        _need(u.get("role") in ROLES, "user role")
        _need(_is_int(u.get("it")) and 1 <= u["it"] <= MAX_ITERATIONS, "iterations")
        _unhex(u.get("salt"), SALT_LEN)
        _unhex(u.get("hash"), HASH_LEN)
        _need(_is_int(u.get("created")) and _is_int(u.get("changed")), "user times")
        if u["role"] == ADMIN:
            admins += 1
    _need(admins >= 1, "no admin")
    toks = doc.get("tokens")
    _need(type(toks) is dict and len(toks) <= MAX_TOKENS, "tokens")
    for n, t in toks.items():
        _need(_name_ok(n) and type(t) is dict and t.get("role") in ROLES, "token")
        _unhex(t.get("hash"), 32)
        _need(_is_int(t.get("created")) and type(t.get("by")) is str, "token fields")
    opts = doc.get("options")
    _need(type(opts) is dict and type(opts.get("metrics_anonymous")) is bool, "options")
    snmp = doc.get("snmp")
    _need(type(snmp) is dict and type(snmp.get("users")) is dict and type(snmp.get("communities")) is dict, "snmp")
    _need(len(snmp["users"]) <= MAX_SNMP_USERS and len(snmp["communities"]) <= MAX_COMMUNITIES, "snmp size")
    for n, u in snmp["users"].items():
        _need(_name_ok(n) and type(u) is dict and u.get("auth") in SNMP_AUTH and u.get("priv") in SNMP_PRIV,
              "snmp user")
        kl = 20 if u["auth"] == "SHA-96" else 32
        _unhex(u.get("auth_ku"), kl)
        if u["priv"] != "none":
            _unhex(u.get("priv_ku"), kl)
    for n, c in snmp["communities"].items():
        _need(_name_ok(n) and type(c) is dict and type(c.get("write")) is bool, "community")
        _unhex(c.get("salt"), SALT_LEN)
        _unhex(c.get("hash"), 32)
    mb = doc.get("modbus")
    _need(type(mb) is dict and type(mb.get("write_enable")) is bool and type(mb.get("allow")) is list, "modbus")
    _need(len(mb["allow"]) <= MAX_MODBUS_CLIENTS and all(_net(a) is not None for a in mb["allow"]), "modbus allow")
    mq = doc.get("mqtt")
    _need(type(mq) is dict and type(mq.get("user")) is str and type(mq.get("password")) is str and
          type(mq.get("command_enable")) is bool, "mqtt")

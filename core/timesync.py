# Wall time: an SNTP client (RFC 4330) that sets the firmware clock and logs
# each step as an event, and the boot/time record kept in FRAM.
#
# SNTP exchange: a 48-byte request (LI 0, VN 4, mode 3) carrying our transmit
# time T1; the server's reply copies T1 into its originate field and adds its
# receive (T2) and transmit (T3) times; T4 is our receive time.
#     offset = ((T2 - T1) + (T3 - T4)) / 2      delay = (T4 - T1) - (T3 - T2)
# Replies are refused unless they answer our request (originate == T1), are
# mode 4 (server), not a kiss-o'-death (stratum 0), synchronised (LI != 3),
# stratum <= 15 and carry a non-zero transmit time. Until a first successful
# sync (or an operator set) clock.time_valid stays False and every event and
# data record carries the not-valid flag.
from micropython import const
import struct
from core import codes

NTP_UNIX_DELTA = 2208988800     # seconds from 1900-01-01 to 1970-01-01
NTP_PORT = const(123)
_PKT = const(48)


class SntpError(Exception):
    pass


def ms_to_ntp(ms):
    """Unix ms -> (NTP seconds, 32-bit fraction)."""
    s = ms // 1000 + NTP_UNIX_DELTA
    f = ((ms % 1000) << 32) // 1000
    return s & 0xFFFFFFFF, f


def ntp_to_ms(sec, frac):
    # RFC 4330 section 3: with the top bit clear the time is in era 1
    # (from 2036-02-07), so 1968..2104 is covered.
    if not sec & 0x80000000:
        sec += 1 << 32
    return (sec - NTP_UNIX_DELTA) * 1000 + ((frac * 1000 + (1 << 31)) >> 32)


def build_request(buf, t1_ms):
    """Fill buf (48 bytes) with a client request stamped t1_ms; returns the
    transmit timestamp words the reply must echo."""
    for i in range(_PKT):
        buf[i] = 0
    buf[0] = (0 << 6) | (4 << 3) | 3     # LI 0, VN 4, mode 3 (client)
    s, f = ms_to_ntp(t1_ms)
    struct.pack_into(">II", buf, 40, s, f)
    return s, f


def parse_reply(buf, n, sent, t1_ms, t4_ms):
    """Check a reply and return (offset_ms, delay_ms, stratum, server_ms).
    Raises SntpError naming what is wrong."""
    if n < _PKT:
        raise SntpError("short reply (%d bytes)" % n)
    li = buf[0] >> 6
    vn = (buf[0] >> 3) & 7
    mode = buf[0] & 7
    stratum = buf[1]
    if mode != 4:
        raise SntpError("mode %d, expected 4 (server)" % mode)
    if vn < 1 or vn > 4:
        raise SntpError("version %d" % vn)
    if stratum == 0:
        raise SntpError("kiss-o'-death %r" % bytes(buf[12:16]))
    if stratum > 15:
        raise SntpError("stratum %d" % stratum)
    if li == 3:
        raise SntpError("server not synchronised (LI 3)")
    os_, of = struct.unpack_from(">II", buf, 24)
    if (os_, of) != sent:
        raise SntpError("reply does not answer our request (originate mismatch)")
    rs, rf, ts, tf = struct.unpack_from(">IIII", buf, 32)
    if ts == 0 and tf == 0:
        raise SntpError("zero transmit timestamp")
    t2 = ntp_to_ms(rs, rf)
    t3 = ntp_to_ms(ts, tf)
    offset = ((t2 - t1_ms) + (t3 - t4_ms)) // 2
    delay = (t4_ms - t1_ms) - (t3 - t2)
    return offset, delay, stratum, t3


class Sntp:
    """SNTP client over a UDP socket from the `socket` module.

    sync() blocks (select.poll) for at most timeout_ms: for tools and tests.
    run() is the firmware task: non-blocking socket, waits with clock.sleep_ms."""

    def __init__(self, clock, events=None, host="pool.ntp.org", port=NTP_PORT, timeout_ms=2000,
                 min_step_ms=100, max_delay_ms=1000, audit=None):
        self.clock = clock
        self.events = events
        self.audit = audit
        self.host = host
        self.port = port
        self.timeout_ms = timeout_ms
        self.min_step_ms = min_step_ms     # once valid, smaller offsets are left alone
        self.max_delay_ms = max_delay_ms   # a reply slower than this is not trusted
        self.buf = bytearray(_PKT)
        self.rbuf = bytearray(64)
        self.last = None                   # dict of the last good exchange
        self.failures = 0
        self.syncs = 0

    def _addr(self):
        import socket
        return socket.getaddrinfo(self.host, self.port, 0, socket.SOCK_DGRAM)[0][-1]

    def query(self):
        """One blocking exchange: (offset_ms, delay_ms, stratum, server_ms)."""
        import socket
        import select
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            addr = self._addr()
            c = self.clock
            t1 = c.utc_ms()
            sent = build_request(self.buf, t1)
            s.sendto(self.buf, addr)
            p = select.poll()
            p.register(s, select.POLLIN)
            while True:
                if not p.poll(self.timeout_ms):
                    raise SntpError("no reply from %s:%d in %d ms" % (self.host, self.port, self.timeout_ms))
                n = self._recv(s)
                t4 = c.utc_ms()
                try:
                    return parse_reply(self.rbuf, n, sent, t1, t4)
                except SntpError as e:
                    if "originate" not in str(e):
                        raise
                    # a stale or foreign datagram: keep waiting for ours
        finally:
            s.close()

    def _recv(self, s):
        d = s.recv(64)
        self.rbuf[:len(d)] = d
        return len(d)

    def apply(self, offset_ms, delay_ms, stratum):
        """Step the clock by offset_ms (if needed) and log it. Returns the step."""
        if delay_ms > self.max_delay_ms:
            raise SntpError("round trip %d ms > %d ms" % (delay_ms, self.max_delay_ms))
        c = self.clock
        if c.time_valid and abs(offset_ms) < self.min_step_ms:
            self.syncs += 1
            return 0
        step = c.set_utc_ms(c.utc_ms() + offset_ms)
        self.syncs += 1
        if self.events is not None:
            self.events.emit(codes.EV_TIME_SET, codes.SEV_NOTICE, "time",
                             {"step_ms": step, "delay_ms": delay_ms, "stratum": stratum,
                              "source": "sntp:%s" % self.host})
        return step

    def sync(self):
        """Query and set the clock; returns the step in ms. SntpError on failure."""
        try:
            off, dly, st, _srv = self.query()
            step = self.apply(off, dly, st)
        except (SntpError, OSError) as e:
            self._failed(e)
            raise
        self.failures = 0
        self.last = {"offset_ms": off, "delay_ms": dly, "stratum": st, "step_ms": step}
        return step

    def _failed(self, e):
        self.failures += 1
        if self.failures == 1 and self.events is not None:
            self.events.emit(codes.EV_TIME_FAULT, codes.SEV_WARNING, "time",
                             {"failures": self.failures, "error": str(e)})

    async def run(self, interval_s=3600, retry_s=64):
        """Firmware task: sync now, then every interval_s (retry_s after a failure)."""
        while True:
            try:
                await self.sync_async()
                wait = interval_s
            except Exception:
                wait = retry_s
            await self.clock.sleep_ms(wait * 1000)

    async def sync_async(self):
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.setblocking(False)
            c = self.clock
            t1 = c.utc_ms()
            sent = build_request(self.buf, t1)
            s.sendto(self.buf, self._addr())
            waited = 0
            while True:
                try:
                    n = self._recv(s)
                except OSError:
                    n = -1
                if n >= 0:
                    t4 = c.utc_ms()
                    try:
                        off, dly, st, _srv = parse_reply(self.rbuf, n, sent, t1, t4)
                        break
                    except SntpError as e:
                        if "originate" not in str(e):
                            raise
                if waited >= self.timeout_ms:
                    raise SntpError("no reply from %s:%d in %d ms" % (self.host, self.port, self.timeout_ms))
                await c.sleep_ms(20)
                waited += 20
            step = self.apply(off, dly, st)
        except (SntpError, OSError) as e:
            self._failed(e)
            raise
        finally:
            s.close()
        self.failures = 0
        self.last = {"offset_ms": off, "delay_ms": dly, "stratum": st, "step_ms": step}
        return step


class BootInfo:
    """Boot counter and last known wall time in FRAM (two copies, SlotPair).

    boot() at start-up counts the boot and returns (boot_count, last_utc_ms,
    last_valid): the last time noted before the reset, so the boot event can
    say how long the PDU was down. note_time() is called every minute."""

    def __init__(self, fram, slots=None):
        from core import fram_layout as L
        if fram is None:
            fram = L.RamFram(L.BOOT_A, L.BOOT_B + L.BOOT_SLOT)
        if slots is None:
            slots = (L.BOOT_A, L.BOOT_B, L.BOOT_SLOT)
        self.store = L.SlotPair(fram, slots[0], slots[1], slots[2])
        self.boot_count = 0
        self.last_utc_ms = 0
        self.last_valid = False
        self._p = bytearray(16)

    def _load(self):
        g, p = self.store.load()
        if p is not None and len(p) >= 13:
            self.boot_count, self.last_utc_ms, v = struct.unpack_from("<IQB", p, 0)
            self.last_valid = bool(v)

    def _save(self):
        struct.pack_into("<IQB", self._p, 0, self.boot_count, self.last_utc_ms, 1 if self.last_valid else 0)
        self.store.write(self._p[:13])

    def boot(self):
        self._load()
        prev = (self.last_utc_ms, self.last_valid)
        self.boot_count += 1
        self._save()
        return self.boot_count, prev[0], prev[1]

    def note_time(self, clock):
        self.last_utc_ms = clock.utc_ms()
        self.last_valid = clock.time_valid
        self._save()

# Boot step 2: the persistent stores. They live in FRAM when it answered, else
# on RAM stand-ins (the PDU still runs; health already reports the FRAM
# fault). docs/persistence.md has the FRAM map and the power-cut argument.
from core import codes
from core import fram_layout
from core.audit import AuditLog
from core.calstore import CalStore
from core.config import Config, make_schema
from core.energy import Energy
from core.records import Records
from core.timesync import Sntp, BootInfo
from comms.access import Access
from metrology.meter import output_channels
from protection.settings import SCHEMA as PROTECTION_SCHEMA


class Stores:
    """Event log on FRAM, audit log, boot info, config, calibration, energy
    counters, ETSI data records (littlefs on the board's flash) and SNTP."""

    def __init__(self, board, fram, clock, events, health):
        desc = board.desc
        if fram is not None:
            state = fram_layout.prepare(fram)
            events.attach_fram(fram)  # events of device bring-up move into the ring
            if state != "ok":
                events.emit(codes.EV_FRAM_FORMATTED, codes.SEV_NOTICE, "fram", {"reason": state})
        self.audit = AuditLog(fram, clock)
        self.bootinfo = BootInfo(fram)
        self.boot_count, _, _ = self.bootinfo.boot()
        # The config store holds every layer's settings; protection brings its
        # own section (thresholds, curves, windows, retry policy).
        self.config = Config(fram, clock, events, self.audit,
                             schema=make_schema(len(desc.OUTLETS), protection=PROTECTION_SCHEMA),
                             defaults={"network": dict(desc.SERVICES)})
        self.config.load()
        self.cal = CalStore(fram, clock, events, self.audit, channels=list(desc.CHANNELS))
        self.cal.load()
        chans, energy_chans = output_channels(desc)
        self.energy = Energy(fram, energy_chans, clock, events)
        self.energy.load()
        self.records = None
        self.fs = None
        self.record_channels = rch = record_channels(chans, desc)
        try:
            self.fs = _record_fs(board, health)
            self.records = Records(self.fs, rch, clock=clock, energy=self.energy,
                                   config=self.config, events=events)
            if clock.time_valid:
                self.records.resume(clock.utc_ms() // 1000)
        except Exception as e:
            health.add("flash", "records", None, e)
        self.sntp = Sntp(clock, events, host=self.config["time.sntp_server"])
        # users, tokens and uplink credentials: a file on the record flash; in
        # RAM (set up again after each boot) when the flash failed
        self.access = Access(self.fs if self.fs is not None else _ram_fs(), clock, self.audit)


def _record_fs(board, health):
    import vfs
    bdev = board.flash()
    try:
        fs = vfs.VfsLfs2(bdev)
    except OSError:
        vfs.VfsLfs2.mkfs(bdev)  # first boot: a blank chip
        fs = vfs.VfsLfs2(bdev)
    health.add("flash", "records", bdev)
    return fs


def _ram_fs():
    import vfs
    bdev = RamBlockDev(64)
    vfs.VfsLfs2.mkfs(bdev)
    return vfs.VfsLfs2(bdev)


class RamBlockDev:
    """A small littlefs block device in RAM: the access store's stand-in when
    the record flash failed (64 x 512 B)."""
    BS = 512

    def __init__(self, n):
        self.n = n
        self.buf = bytearray(n * self.BS)

    def readblocks(self, block, buf, off=0):
        a = block * self.BS + off
        buf[:] = self.buf[a:a + len(buf)]

    def writeblocks(self, block, buf, off=None):
        a = block * self.BS + (off or 0)
        self.buf[a:a + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:     # block count
            return self.n
        if op == 5:     # block size
            return self.BS
        if op == 6:     # erase
            return 0
        return None


def record_channels(chans, desc):
    """ETSI data-record channels: what metrology publishes per output channel
    (V, I, P and energy where they apply), the air sensors (T, H), the NTCs (T)."""
    out = []
    for ch in chans:
        if ch[0] in "OLB":
            out.append((ch, "VIPE"))
        elif ch in ("N", "NC"):
            out.append((ch, "I"))
        elif ch == "INLET":
            out.append((ch, "PE"))
    for where in sorted(desc.AIR_SENSORS):
        out.append((where, "TH"))
    for n in sorted(desc.NTCS):
        out.append((n, "T"))
    return out

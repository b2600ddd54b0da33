# Boot: open the board, bring up every device (recording which answered),
# start acquisition and the firmware's asyncio tasks, report health.
#
# Task ownership (one owner per resource, documented timing):
#   acquisition   every 10 ms   owns the AFE drivers' rings and sample arrays
#   (acquisition consumers, same task: metrology kernels -> cycles -> windows ->
#    snapshot; each 1 s snapshot feeds energy counters and the data records)
#   inlet_meter   every 1 s     owns the ADE9000 register reads (its own DSP): self-check
#   environment   every 2 s     owns the SHT4x and NTC drivers
#   outlets       on command    owns the switch drivers (coil pulses, feedback)
#   persist       every 1 s     saves energy counters to FRAM; UTC time every 60 s
#   sntp          hourly        (MCU, when enabled) sets the clock, logs the step
#   status        every 5 s     console line (only when a console is given)
import asyncio
import time
from boardconfig.board import open_board
from firmware.clock import RealClock, VirtualClock
from firmware.events import EventLog
from firmware.health import Health
from firmware.acquisition import Acquisition
from firmware.outlets import Outlets
from firmware import codes

STATUS_PERIOD_MS = 5000
FW_VERSION = "0.1.0"


class Pdu:
    def __init__(self, board="sim24", *, virtual=False, clock=None, console=None, power_on="all",
                 stagger_ms=250, prot_values=None, **sim_opts):
        self.clock = clock or (VirtualClock() if virtual else RealClock())
        self._prot_values = prot_values  # protection settings over the defaults (validated)
        self.console = console
        self.power_on = power_on
        self.stagger_ms = stagger_ms
        self.events = EventLog(self.clock)
        self.health = Health()
        if isinstance(board, str):
            if "realtime" not in sim_opts:
                sim_opts["realtime"] = not self.clock.virtual
            board = open_board(board, clock=self.clock, **sim_opts) if _is_sim(board) else open_board(board)
        self.board = board  # a name, or a Board already opened (tools, benchmarks)
        self.inlet = {}
        self.env = {}
        self.tasks = []
        self.extra_tasks = []  # coroutines started with the firmware's own (scenarios, tools)
        self.t0_ms = 0
        self._bring_up()

    # --- devices ------------------------------------------------------------------
    def _try(self, name, part, make):
        try:
            drv = make()
        except Exception as e:  # a missing chip degrades the PDU; it must not stop it
            self.health.add(name, part, None, e)
            self.events.emit(codes.EV_DEVICE_FAULT, codes.SEV_ALARM, name,
                             {"part": part, "error": self.health.devices[name]["error"]})
            return None
        self.health.add(name, part, drv)
        return drv

    def _bring_up(self):
        b = self.board
        from drivers.ads131m04 import ADS131M04
        from drivers.ade9000 import ADE9000
        from drivers.fram import FRAM
        from drivers.sht4x import SHT4x
        from drivers.ntc import NTC
        from drivers.switch import Switches

        self.adcs = []
        for name, s in b.chips("ads131m04"):
            def mk(name=name, s=s):
                d = ADS131M04(b.spi(s["bus"]), b.out_pin(s["cs"], 1), b.in_pin(s["drdy"]),
                              b.out_pin(s["sync_reset"], 1), name=name)
                d.begin(osr=b.desc.ADC_OSR, drdy_open_drain=True)  # wired-AND DRDY
                return d
            d = self._try(name, "ads131m04", mk)
            if d is not None:
                self.adcs.append(d)
        self.ade = None
        for name, s in b.chips("ade9000"):
            def mk(name=name, s=s):
                d = ADE9000(b.spi(s["bus"]), b.out_pin(s["cs"], 1), irq0=b.in_pin(s["irq0"]),
                            irq1=b.in_pin(s["irq1"]), reset=b.out_pin(s["reset"], 1), name=name,
                            pga_gain=s["pga_gain"], v_divider=s["v_divider"], ct_ratio=s["ct_ratio"],
                            ct_burden=s["ct_burden"])
                d.begin(f_nom=b.desc.RATINGS["f_nom"])
                return d
            self.ade = self._try(name, "ade9000", mk)
        self.fram = None
        for name, s in b.chips("mb85rs"):
            def mk(s=s, name=name):
                d = FRAM(b.spi(s["bus"]), b.out_pin(s["cs"], 1), size=s["size"], name=name)
                d.begin()
                return d
            self.fram = self._try(name, "mb85rs", mk)
        self.air = {}
        for where, chip in b.desc.AIR_SENSORS.items():
            s = b.desc.CHIPS[chip][1]
            def mk(s=s, chip=chip):
                d = SHT4x(b.i2c(s["bus"]), s["addr"], name=chip)
                d.begin()
                return d
            d = self._try(chip, "sht4x", mk)
            if d is not None:
                self.air[where] = d
        self.ntcs = {}
        for name, d in b.desc.NTCS.items():
            self.ntcs[name] = NTC(b.adc(d["pin"]), r25=d["r25"], beta=d["beta"], r_fixed=d["r_fixed"],
                                  vref=d["vref"], name=name)
        from metrology.meter import Metrology
        from metrology.selfcheck import SelfCheck
        self.acq = Acquisition(b, self.adcs, self.ade)
        self.metro = Metrology(b.desc, clock=self.clock, events=self.events)
        self.metro.attach(self.acq)
        self._persistence()
        self.metro.energy = self.energy
        self.metro.load_calibration(self.cal.current)
        self.cal.listeners.append(self.metro.load_calibration)
        self.selfcheck = SelfCheck(self.metro, self.ade, events=self.events) if self.ade else None
        if self.records is not None:
            self.metro.snapshot.listeners.append(self._record_second)
        self.switches = Switches.from_board(b.desc.OUTLETS, b.pin, clock=self.clock)
        self.outlets = Outlets(self.switches, self.events, self.clock, audit=self.audit)
        # Protection consumes every poll after metrology, inside the acquisition
        # task: never behind an uplink. docs/protection.md
        from protection.engine import Protection
        from protection.settings import Settings
        self.prot_settings = Settings(config=self.config, events=self.events, audit=self.audit,
                                      n_outlets=len(b.desc.OUTLETS), values=self._prot_values)
        self.protection = Protection(b.desc, self.outlets, self.events, self.clock, settings=self.prot_settings,
                                     ntcs=self.ntcs, audit=self.audit)
        self.protection.attach(self.acq)
        self.events.emit(codes.EV_BOOT, codes.SEV_NOTICE, "system",
                         {"board": b.name, "fw": FW_VERSION, "devices_ok": self.health.ok(),
                          "boot_count": self.boot_count})

    def _persistence(self):
        # Stores live in FRAM when it answered, else on RAM stand-ins (the PDU
        # still runs; health already reports the FRAM fault). docs/persistence.md
        from firmware import fram_layout
        from firmware.audit import AuditLog
        from firmware.config import Config
        from firmware.calstore import CalStore
        from firmware.energy import Energy
        from firmware.records import Records
        from firmware.timesync import Sntp, BootInfo
        b = self.board
        fr = self.fram
        if fr is not None:
            state = fram_layout.prepare(fr)
            self.events.attach_fram(fr)  # events of device bring-up move into the ring
            if state != "ok":
                self.events.emit(codes.EV_FRAM_FORMATTED, codes.SEV_NOTICE, "fram", {"reason": state})
        self.audit = AuditLog(fr, self.clock)
        self.bootinfo = BootInfo(fr)
        self.boot_count, _, _ = self.bootinfo.boot()
        svc = b.desc.SERVICES
        # The config store holds every layer's settings; protection brings its
        # own section (thresholds, curves, windows, retry policy).
        from firmware.config import make_schema
        from protection.settings import SCHEMA as PROTECTION_SCHEMA
        schema = make_schema(len(b.desc.OUTLETS))
        schema["protection"] = dict(PROTECTION_SCHEMA)
        self.config = Config(fr, self.clock, self.events, self.audit, schema=schema,
                             defaults={"network": {"http_port": svc["http_port"], "modbus_port": svc["modbus_port"],
                                                   "snmp_port": svc["snmp_port"]}})
        self.config.load()
        self.cal = CalStore(fr, self.clock, self.events, self.audit, channels=list(b.desc.CHANNELS))
        self.cal.load()
        rch = record_channels(self.metro, b.desc)
        self.energy = Energy(fr, list(self.metro.energy_channels), self.clock, self.events)
        self.energy.load()
        self.records = None
        try:
            self.records = Records(self._record_fs(), rch, clock=self.clock, energy=self.energy,
                                   config=self.config, events=self.events)
            self._rec_elec = [n for n, k in rch if "T" not in k and "H" not in k]
            if self.clock.time_valid:
                self.records.resume(self.clock.utc_ms() // 1000)
        except Exception as e:
            self.health.add("flash", "records", None, e)
        self.sntp = Sntp(self.clock, self.events, host=self.config["time.sntp_server"])

    def _record_fs(self):
        import vfs
        bdev = self.board.flash()
        try:
            fs = vfs.VfsLfs2(bdev)
        except OSError:
            vfs.VfsLfs2.mkfs(bdev)  # first boot: a blank chip
            fs = vfs.VfsLfs2(bdev)
        self.health.add("flash", "records", bdev)
        return fs

    def _record_second(self, frame):
        # Each 1 s snapshot becomes one second of the ETSI data records (its
        # energy is already in the counters: metrology credits before publishing).
        if frame.kind != "sec":
            return
        snap = self.metro.snapshot
        vals = {}
        for ch in self._rec_elec:
            vals[ch] = (snap.get(ch + ".vrms", "sec") if ch[0] in "OBL" else None,
                        snap.get(ch + ".irms", "sec") if ch != "INLET" else None,
                        snap.get(ch + ".p_w", "sec") if ch[0] in "OBLI" else None)
        env = {}
        for where, v in self.env.items():
            if isinstance(v, tuple):
                env[where] = v
            elif v is not None:
                env[where] = (v, None)
        self.records.add_second(frame.utc_ms // 1000 - 1, vals, env, frame.time_valid)

    async def _persist(self):
        # Energy counters reach FRAM every second (a power cut loses at most one);
        # the last-known UTC time every minute (boot time plausibility).
        k = 0
        while True:
            await self.clock.sleep_ms(1000)
            self.energy.save(self.clock.utc_ms() // 1000)
            k += 1
            if k % 60 == 0:
                self.bootinfo.note_time(self.clock)

    # --- tasks --------------------------------------------------------------------
    async def _inlet_meter(self):
        # Owns the ADE9000 register reads: the chip's own DSP figures, compared
        # with the firmware's metrology each second (field self-check, drift flag).
        ade = self.ade
        while True:
            await self.clock.sleep_ms(1000)
            if ade is None:
                continue
            try:
                chip = []
                for ph in (0, 1, 2):
                    v, i = ade.rms(ph)
                    chip.append((v, i, ade.power(ph)[0]))
                self.inlet["chip"] = chip
                self.inlet["chip_f_hz"] = ade.frequency(0)
            except Exception:
                ade.errors.other += 1
                continue
            if self.selfcheck is not None:
                self.selfcheck.check(chip=chip)

    async def _environment(self):
        while True:
            for where, d in self.air.items():
                try:
                    self.env[where] = await d.measure(self.clock)
                except Exception:
                    pass  # counted in the driver's error counters
            for name, n in self.ntcs.items():
                try:
                    self.env[name] = n.temperature_c()
                except Exception:
                    self.env[name] = None
            await self.clock.sleep_ms(2000)

    def status_line(self):
        snap = self.metro.snapshot
        p = snap.get("INLET.p_w", "sec")
        f = snap.get("L1.f_hz", "sec")
        cpu = self.board.cpu_load()
        return ("t=%.1fs inlet P=%s W f=%s Hz outlets_on=%d/%d overruns=%d%s" % (
            time.ticks_diff(self.clock.ticks_ms(), self.t0_ms) / 1000.0,
            "-" if p is None else "%.1f" % p, "-" if f is None else "%.3f" % f,
            self.outlets.count_on(), len(self.switches), self.acq.overruns(),
            "" if cpu is None else " cpu=%.2f" % cpu))

    async def _status(self):
        while True:
            await self.clock.sleep_ms(STATUS_PERIOD_MS)
            self.console(self.status_line())

    async def _power_on(self):
        if self.power_on == "all":
            await self.outlets.power_on_sequence(sorted(self.switches), self.stagger_ms)
        elif isinstance(self.power_on, (list, tuple)):
            await self.outlets.power_on_sequence(self.power_on, self.stagger_ms)

    def start(self):
        self.acq.start()
        mk = asyncio.create_task
        self.tasks = [mk(self.acq.run(self.clock)), mk(self._inlet_meter()), mk(self._environment()),
                      mk(self._persist()), mk(self._power_on())]
        if not self.clock.virtual and self.config["time.sntp_enable"] and self.board.desc.PLATFORM == "mcu":
            self.tasks.append(mk(self.sntp.run(self.config["time.sntp_interval_s"])))
        if self.console is not None:
            self.tasks.append(mk(self._status()))
        self.t0_ms = self.clock.ticks_ms()
        for c in self.extra_tasks:
            self.tasks.append(mk(c))

    async def main(self, duration_s=None):
        self.start()
        if self.clock.virtual:
            await drive_virtual_time(self.clock, None if duration_s is None else int(duration_s * 1000000))
        elif duration_s is None:
            while True:
                await asyncio.sleep(3600)
        else:
            await asyncio.sleep_ms(int(duration_s * 1000))
        for t in self.tasks:
            t.cancel()

    def run(self, duration_s=None):
        asyncio.run(self.main(duration_s))


async def drive_virtual_time(clock, until_us=None):
    """Move virtual time from deadline to deadline until `until_us`.

    Before each step every runnable task runs to its next await, so the
    interleaving is a function of the code and the seed alone."""
    while True:
        for _ in range(3):
            await asyncio.sleep_ms(0)
        nxt = clock.next_deadline_us()
        if nxt is None:
            return
        if until_us is not None and nxt > until_us:
            clock.set_now_us(until_us)
            for _ in range(3):
                await asyncio.sleep_ms(0)
            return
        clock.set_now_us(nxt)


def record_channels(metro, desc):
    """ETSI data-record channels: what metrology publishes per output channel
    (V, I, P and energy where they apply), the air sensors (T, H), the NTCs (T)."""
    out = []
    for ch in metro.snapshot.channels:
        if ch[0] == "O" or ch[0] == "L":
            out.append((ch, "VIPE"))
        elif ch[0] == "B":
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


def _is_sim(name):
    from boardconfig.board import load_desc
    return load_desc(name).PLATFORM == "sim"

# Boot: the composition of the firmware. Pdu brings the layers up in order,
# each a small step, then starts the task table:
#   1 devices      firmware/devices.py: every chip the board names, into health
#   2 stores       firmware/stores.py: event ring, audit, config, calibration,
#                  energy counters, data records, SNTP
#   3 metrology    acquisition -> kernels -> cycles -> windows -> snapshot
#   4 protection   outlets and the protection ladder, after metrology in the
#                  acquisition task
#   5 uplinks      the management plane (model, commands, access) and its servers
#   6 services     the task table, every task under the supervisor
#
# Task ownership (one owner per resource, documented timing):
#   acquisition   every 10 ms   owns the AFE drivers' rings and sample arrays
#   (acquisition consumers, same task: metrology kernels -> cycles -> windows ->
#    snapshot -> protection; each 1 s snapshot feeds energy counters and the data records)
#   inlet_meter   every 1 s     owns the ADE9000 register reads (its own DSP): self-check
#   environment   every 2 s     owns the SHT4x and NTC drivers
#   outlets       on command    owns the switch drivers (coil pulses, feedback)
#   persist       every 1 s     saves energy counters to FRAM; UTC time every 60 s
#   sntp          hourly        (MCU, when enabled) sets the clock, logs the step
#   status        every 5 s     console line (only when a console is given)
#   heap          every 50 ms   collects garbage right after a poll, before the heap fills
#                               (firmware/heap.py; real time only)
#   watchdog      every 0.5 s   feeds the board's watchdog while acquisition polls advance
# Every task runs under firmware/supervisor.py: a task that raises is an alarm
# and restarts with backoff; repeated failure of acquisition (with metrology
# and protection inside it) is the stated fail-safe state.
import asyncio
import time
from core import codes
from core.acquisition import Acquisition
from core.clock import RealClock
from core.events import EventLog
from core.health import Health
from firmware.devices import Devices
from firmware.heap import HeapKeeper
from firmware.stores import Stores
from firmware.supervisor import Supervisor, WDT_TIMEOUT_MS
from firmware.uplinks import Uplinks, default_listen
from metrology.meter import Metrology
from metrology.selfcheck import SelfCheck
from protection.engine import Protection
from protection.outlets import Outlets
from protection.settings import Settings

# the periodic tasks (persist, inlet_meter, environment) start their work
# only this far from the next acquisition poll (core/acquisition.pace): a
# slice of theirs (~1.5 ms on the unix port) never holds the poll up
TASK_PACE_US = 3000
STATUS_PERIOD_MS = 5000
FW_VERSION = "0.1.0"


class Pdu:
    """The firmware on an opened board: boardconfig.board.open_board(name) on
    the MCU, sim.world.open_sim_board(name, ...) on the unix port (sim.pdu
    does both steps for the simulation)."""

    def __init__(self, board, *, clock=None, console=None, power_on="all", stagger_ms=250,
                 prot_values=None, listen=None):
        self.board = board
        self.fw_version = FW_VERSION
        self.clock = clock or RealClock()
        self.console = console
        self.power_on = power_on
        self.stagger_ms = stagger_ms
        self.events = EventLog(self.clock)
        self.health = Health()
        self.inlet = {}
        self.env = {}
        self.tasks = []
        self.extra_tasks = []  # coroutines started with the firmware's own (scenarios, tools)
        self.t0_ms = 0
        self._overruns_seen = 0
        self.supervisor = Supervisor(self.clock, self.events, self.health)
        self._devices()
        self._stores()
        self._metrology()
        self._protection(prot_values)
        self._uplinks(listen)
        self.supervisor.on_failsafe.append(self.outlets.hold)
        if board.reset_cause() == "watchdog":
            self.events.emit(codes.EV_WATCHDOG_RESET, codes.SEV_ALARM, "system",
                             {"cause": "watchdog", "timeout_ms": WDT_TIMEOUT_MS})
        self.events.emit(codes.EV_BOOT, codes.SEV_NOTICE, "system",
                         {"board": board.name, "fw": FW_VERSION, "devices_ok": self.health.ok(),
                          "boot_count": self.boot_count})

    # --- boot steps, in order -------------------------------------------------------
    def _devices(self):
        dev = Devices(self.board, self.health, self.events, self.clock)
        self.devices = dev
        self.adcs, self.ade, self.fram = dev.adcs, dev.ade, dev.fram
        self.air, self.ntcs, self.switches = dev.air, dev.ntcs, dev.switches

    def _stores(self):
        st = Stores(self.board, self.fram, self.clock, self.events, self.health)
        self.stores = st
        self.audit, self.bootinfo, self.boot_count = st.audit, st.bootinfo, st.boot_count
        self.config, self.cal, self.energy = st.config, st.cal, st.energy
        self.records, self.sntp, self.access = st.records, st.sntp, st.access

    def _metrology(self):
        desc = self.board.desc
        self.acq = Acquisition(self.board, self.adcs, self.ade)
        self.metro = Metrology(desc, clock=self.clock, events=self.events, energy=self.energy)
        self.metro.attach(self.acq)
        self.acq.label_consumers("metrology")
        self.metro.load_calibration(self.cal.current)
        self.cal.listeners.append(self.metro.load_calibration)
        self.selfcheck = SelfCheck(self.metro, self.ade, events=self.events) if self.ade else None
        if self.records is not None:
            self._rec_elec = [n for n, k in self.stores.record_channels if "T" not in k and "H" not in k]
            self.metro.snapshot.listeners.append(self._record_second)

    def _protection(self, values):
        # Protection consumes every poll after metrology, inside the acquisition
        # task: never behind an uplink. docs/protection.md
        desc = self.board.desc
        self.outlets = Outlets(self.switches, self.events, self.clock, audit=self.audit)
        self.prot_settings = Settings(config=self.config, events=self.events, audit=self.audit,
                                      n_outlets=len(desc.OUTLETS), values=values)
        self.protection = Protection(desc, self.outlets, self.events, self.clock, settings=self.prot_settings,
                                     ntcs=self.ntcs, audit=self.audit)
        self.protection.attach(self.acq)
        self.acq.label_consumers("protection")

    def _uplinks(self, listen):
        # the management plane and its servers: uplinks see only the model,
        # the command service and the access store (firmware/uplinks.py).
        # listen: "config" (the MCU: configured ports), a dict, or None (none)
        if listen == "config":
            listen = default_listen(self.config, self.stores.fs)
        self.uplinks = Uplinks(self, listen or {})

    def _services(self):
        """Step 5, at start(): the task table, every task under the supervisor
        (firmware/supervisor.py). Uplinks (comms/) join it here."""
        sup = self.supervisor
        acq = self.acq
        clock = self.clock
        table = [("acquisition", lambda: acq.run(clock), True, acq.stage_name),
                 ("inlet_meter", self._inlet_meter, False, None),
                 ("environment", self._environment, False, None),
                 ("persist", self._persist, False, None),
                 ("power_on", self._power_on, False, None)]
        if not clock.virtual and self.config["time.sntp_enable"] and self.board.desc.PLATFORM == "mcu":
            table.append(("sntp", lambda: self.sntp.run(self.config["time.sntp_interval_s"]), False, None))
        if not clock.virtual:    # in virtual time nothing waits on a collection
            table.append(("heap", HeapKeeper(acq, self.health).run, False, None))
        if self.console is not None:
            table.append(("status", self._status, False, None))
        for name, f in self.uplinks.tasks():
            table.append((name, f, False, None))
        tasks = [asyncio.create_task(sup.guard(name, f, critical=crit, stage=stage))
                 for name, f, crit, stage in table]
        wdt = self.board.watchdog(WDT_TIMEOUT_MS)
        tasks.append(asyncio.create_task(sup.watchdog(wdt, lambda: acq.polls)))
        return tasks

    # --- records --------------------------------------------------------------------
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

    # --- tasks --------------------------------------------------------------------
    async def _persist(self):
        # Energy counters reach FRAM every second (a power cut loses at most one);
        # the last-known UTC time every minute (boot time plausibility).
        k = 0
        while True:
            await self.clock.sleep_ms(1000)
            await self.acq.pace(TASK_PACE_US)
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
            await self.acq.pace(TASK_PACE_US)
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
                await self.acq.pace(TASK_PACE_US)
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
        ov = self.acq.overruns()
        new = ov - self._overruns_seen      # since the previous status line
        self._overruns_seen = ov
        fs = self.supervisor.failsafe
        return ("t=%.1fs inlet P=%s W f=%s Hz outlets_on=%d/%d overruns=%d (+%d) late=%.1fms%s%s" % (
            time.ticks_diff(self.clock.ticks_ms(), self.t0_ms) / 1000.0,
            "-" if p is None else "%.1f" % p, "-" if f is None else "%.3f" % f,
            self.outlets.count_on(), len(self.switches), ov, new, self.acq.late_recent_us / 1000.0,
            "" if cpu is None else " cpu=%.2f" % cpu,
            "" if fs is None else " FAILSAFE(%s: %s)" % (fs["task"], fs["error"])))

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
        self.board.cpu_load()  # the first status line's cpu= covers its own period
        self.acq.start()
        self.tasks = self._services()
        self.t0_ms = self.clock.ticks_ms()
        for c in self.extra_tasks:
            self.tasks.append(asyncio.create_task(c))

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
        self.uplinks.close()

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

# The simulated board: a board description brought to life on the unix port.
#
# SimBoard is a boardconfig.board.Board whose peripherals are sim.hw objects
# with register-accurate twins attached where the description puts chips, an
# electrical plant (or a COMTRADE fixture) feeding the twins' analog inputs,
# and switch twins obeying the relay/SSR pins. Firmware sees only the Board.
#
# Simulated time is the plant's sample index. service() generates samples up to
# "now" (wall clock in real time, the VirtualClock in virtual time) in blocks of
# BLOCK samples; switch twins are updated between blocks.
import time
from boardconfig.board import Board, load_desc
from sim import hw

BLOCK = 40  # samples per plant block: 5 ms at 8 kSPS, the switch-timing resolution
# Real time: samples one service() may make at most (28 ms at 8 kSPS, less than an
# ADS131M04 ring or the ADE9000 buffer, which every poll empties). After a host stall (a busy machine, SIGSTOP) the simulated
# chips do not dump the whole stall into the rings at once: the simulated
# hardware lags the wall clock and catches up poll by poll, losing nothing
# (lag_max_us says how far it fell behind). The firmware's own rings are sized
# for the MCU, where no host stalls the chips.
CATCHUP_SAMPLES = 224


class SimMachine:
    """Stand-in for the `machine` module: one shared object per bus id and pin."""

    def __init__(self):
        self.Pin = hw.PinFactory()
        for k in ("IN", "OUT", "OPEN_DRAIN", "ALT", "PULL_UP", "PULL_DOWN", "IRQ_RISING", "IRQ_FALLING"):
            setattr(self.Pin, k, getattr(hw.Pin, k))
        self.spi_buses = {}
        self.i2c_buses = {}
        self.uarts = {}
        self.adc_sources = {}

    def SPI(self, id, **kw):
        b = self.spi_buses.get(id)
        if b is None:
            b = hw.SPI(id, **kw)
            self.spi_buses[id] = b
        else:
            b.init(**kw)
        return b

    def I2C(self, id, **kw):
        b = self.i2c_buses.get(id)
        if b is None:
            b = hw.I2C(id, **kw)
            self.i2c_buses[id] = b
        return b

    def UART(self, id, baudrate=9600, **kw):
        u = self.uarts.get(id)
        if u is None:
            u = hw.UART(id, baudrate, **kw)
            self.uarts[id] = u
        else:
            u.init(baudrate, **kw)
        return u

    def ADC(self, pin):
        return hw.ADC(pin, self.adc_sources.get(pin.id))


def _proc_cpu_s():
    try:
        with open("/proc/self/stat") as f:
            parts = f.read().split(")")[-1].split()
        return (int(parts[11]) + int(parts[12])) / 100.0
    except OSError:
        return None


def open_sim_board(name, **opts):
    """Open a simulated board (PLATFORM "sim") by name: its twins and plant
    (opts: clock, seed, realtime, fixture, fram_file, flash_file, uart_fd,
    twin_overrides)."""
    desc = load_desc(name)
    if desc.PLATFORM != "sim":
        raise ValueError("board %s: PLATFORM %r is not a simulated board" % (name, desc.PLATFORM))
    return SimBoard(desc, **opts)


class SimBoard(Board):
    def __init__(self, desc, *, clock=None, seed=1, realtime=False, fixture=None, fixture_loop=False,
                 uart_fd=None, fram_file=None, flash_file=None, twin_overrides=None, reset_cause=None):
        m = SimMachine()
        Board.__init__(self, desc, m)
        self.machine = m
        self.clock = clock
        self.seed = seed
        self.realtime = realtime
        self._reset_cause = reset_cause  # what the previous (simulated) run ended in
        self.wdt = None
        self.lag_max_us = 0   # real time: how far the simulated hardware fell behind the wall clock
        self.fs = desc.SAMPLE_RATE
        self.twins = {}
        self.switch_twins = {}
        self._t0_us = None
        self._cpu_prev = None
        self.blocks = 0
        self._flash = None
        self._flash_file = flash_file
        if uart_fd is not None:
            for name, u in desc.UARTS.items():
                m.uarts[u["id"]] = hw.UART(u["id"], u["baudrate"], fd=uart_fd)
        if fixture is not None:
            from sim.comtrade import ComtradeSource
            self.plant = ComtradeSource(desc, fixture, loop=fixture_loop)
        else:
            from sim.plant import Plant
            self.plant = Plant(desc, fs=self.fs, seed=seed)
        self._build_twins(fram_file, twin_overrides or {})
        self.flash()  # big contiguous buffers early, before the heap fragments
        self._build_switches()
        self._build_ntcs()
        self.plant.switches = self.switch_twins

    # --- construction -------------------------------------------------------------
    def _build_twins(self, fram_file, overrides):
        desc = self.desc
        m = self.machine
        n_adc = 0
        self._analog = []  # (twin, [channel names in chip order])
        # The FRAM twin's array is the largest single allocation: make it first,
        # before the heap fragments.
        for name in sorted(desc.CHIPS, key=lambda n: (desc.CHIPS[n][0] != "mb85rs", n)):
            part, s = desc.CHIPS[name]
            factory = overrides.get(name)
            if part == "ads131m04":
                from sim.twin_ads131m04 import Ads131m04Twin
                n_adc += 1
                v = desc.AFE_GROUP_V
                i = desc.AFE_OUTLET_I
                afe = [1.0 / v["divider"]] + [i["burden"] / i["ct_ratio"]] * 3
                twin = (factory or Ads131m04Twin)(name, drdy=m.Pin(s["drdy"], hw.Pin.IN), afe=afe,
                                                  fs=self.fs, seed=self.seed * 1000 + n_adc)
                if twin is not None:
                    self._analog.append((twin, self._chip_channels(name, 4)))
            elif part == "ade9000":
                from sim.twin_ade9000 import Ade9000Twin
                vs = 1.0 / s["v_divider"]
                cs_ = s["ct_burden"] / s["ct_ratio"]
                afe = [cs_, vs, cs_, vs, cs_, vs, cs_]
                twin = (factory or Ade9000Twin)(
                    name, irq0=m.Pin(s["irq0"], hw.Pin.IN), irq1=m.Pin(s["irq1"], hw.Pin.IN),
                    reset=m.Pin(s["reset"], hw.Pin.IN), afe=afe, fs=self.fs, seed=self.seed * 1000,
                    f_nom=desc.RATINGS["f_nom"])
                if twin is not None:
                    self._analog.append((twin, self._chip_channels(name, ("IA", "VA", "IB", "VB", "IC", "VC", "IN"))))
            elif part == "mb85rs":
                from sim.twin_fram import Fram
                twin = (factory or Fram)(size=s["size"], path=fram_file)
            elif part == "sht4x":
                from sim.twin_sht4x import Sht4x
                where = [k for k, v in desc.AIR_SENSORS.items() if v == name][0]
                plant = self.plant
                twin = (factory or Sht4x)(source=(lambda w=where: plant.air(w)), now_us=self.now_us)
            else:
                raise ValueError("sim: no twin for part %r (chip %s)" % (part, name))
            if twin is None:
                continue  # an override factory returning None: chip not fitted
            self.twins[name] = twin
            if "cs" in s:
                bus = self.spi(s["bus"])
                bus.attach(m.Pin(s["cs"], hw.Pin.OUT, value=1), twin)
            elif "addr" in s:
                self.i2c(s["bus"]).attach(s["addr"], twin)

    def _chip_channels(self, chip, chans):
        if isinstance(chans, int):
            chans = range(chans)
        by = {}
        for cname, (c, ch, q) in self.desc.CHANNELS.items():
            if c == chip:
                by[ch] = cname
        return [by.get(ch) for ch in chans]

    def _build_switches(self):
        from sim.twin_switch import LatchingRelayTwin, TriacSSRTwin
        m = self.machine
        for n, o in self.desc.OUTLETS.items():
            if o["switch"] == "latching":
                t = LatchingRelayTwin(m.Pin(o["set"], hw.Pin.OUT, value=0), m.Pin(o["reset"], hw.Pin.OUT, value=0),
                                      m.Pin(o["feedback"], hw.Pin.IN), now_us=self.now_us, fs=self.fs)
            else:
                t = TriacSSRTwin(m.Pin(o["gate"], hw.Pin.OUT, value=0), m.Pin(o["feedback"], hw.Pin.IN),
                                 now_us=self.now_us)
            self.switch_twins[n] = t

    def _build_ntcs(self):
        from sim.twin_ntc import NtcTwin
        plant = self.plant
        self.ntc_twins = {}
        for name, d in self.desc.NTCS.items():
            t = NtcTwin.from_board(d, lambda name=name: plant.ntc_temp(name), name=name)
            self.ntc_twins[name] = t
            self.machine.adc_sources[d["pin"]] = t

    # --- time -------------------------------------------------------------------
    def now_us(self):
        """The present on the simulated board's time line: what a chip's own
        timer would read (SHT4x conversion time, relay operate time). The plant
        may lag behind it until the next service(); its samples are the past."""
        if not self.realtime:
            return self.clock.now_us() if self.clock is not None else self.sample_time_us()
        now = time.ticks_us()
        if self._t0_us is None:
            self._t0_us = now
            self._rt_us = 0
        # Accumulate deltas so tick wrap-around is harmless.
        self._rt_us += time.ticks_diff(now, self._t0_us)
        self._t0_us = now
        return self._rt_us

    def sample_time_us(self):
        return self.plant.n * 1000000 // self.fs

    def samples_due(self):
        return self.now_us() * self.fs // 1000000

    def advance_to(self, n_target):
        """Generate plant samples up to n_target and feed every twin. Returns samples made."""
        made = 0
        plant = self.plant
        analog = self._analog
        switches = self.switch_twins.values()
        while plant.n < n_target:
            n = n_target - plant.n
            if n > BLOCK:
                n = BLOCK
            # Switch twins apply what happened up to the end of this block; the
            # plant places each contact change at its own sample (contacts_since).
            t = (plant.n + n) * 1000000 // self.fs
            for sw in switches:
                sw.update(t)
            bufs = plant.generate(n)
            for twin, names in analog:
                twin.on_samples([bufs[c] if c is not None else None for c in names], n)
            made += n
            self.blocks += 1
        return made

    def service(self):
        due = self.samples_due()
        if self.realtime:
            behind = due - self.plant.n
            if behind > CATCHUP_SAMPLES:
                lag = (behind - CATCHUP_SAMPLES) * 1000000 // self.fs
                if lag > self.lag_max_us:
                    self.lag_max_us = lag
                due = self.plant.n + CATCHUP_SAMPLES
        return self.advance_to(due)

    def flash(self):
        """The record flash: file-backed at full size when a path is given
        (`make run`: state survives restarts), else a RAM device of at most
        1 MB (tests: enough for days of 15-minute records; the record tests
        size their own)."""
        if self._flash is None:
            from sim.blockdev import BlockDev
            f = self.desc.FLASH
            bs = f["block_size"]
            if self._flash_file:
                self._flash = BlockDev(bs, f["size"] // bs, path=self._flash_file)
            else:
                self._flash = BlockDev(bs, min(f["size"], 1024 * 1024) // bs)
        return self._flash

    def start_acquisition(self, adcs):
        # Conversions made while the firmware was still booting are never
        # collected (on the MCU the DRDY IRQ is not enabled yet): bring the
        # plant up to now first (in real time, again until the catch-up itself
        # takes less than a block), then attach.
        while self.service() > BLOCK:
            pass
        self.lag_max_us = 0   # the boot backlog is not a stall
        # Simulated DMA: each twin writes its frames straight into its driver's ring,
        # exactly the bytes the chip would clock out, at every conversion.
        for a in adcs:
            twin = self._twin_for(a)
            twin.attach_dma(a.ring)

    def _twin_for(self, drv):
        for name, (part, s) in self.desc.CHIPS.items():
            if "cs" in s and self.machine.Pin(s["cs"]) is drv.cs:
                return self.twins[name]
        raise ValueError("no twin behind driver %r" % drv)

    def watchdog(self, timeout_ms):
        self.wdt = hw.WDT(timeout=timeout_ms, clock=self.clock)
        return self.wdt

    def reset_cause(self):
        return self._reset_cause

    def cpu_load(self):
        c = _proc_cpu_s()
        t = time.ticks_ms()
        prev = self._cpu_prev
        self._cpu_prev = (c, t)
        if c is None or prev is None or prev[0] is None:
            return None
        dt = time.ticks_diff(t, prev[1]) / 1000.0
        return (c - prev[0]) / dt if dt > 0 else None

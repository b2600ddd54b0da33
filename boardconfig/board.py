# The thin board layer: the only place firmware reaches hardware.
#
# A Board opens the buses and pins a board description names, on a peripheral
# set that is `machine` on the MCU. On the unix port sim.world.SimBoard (a
# subclass) supplies sim.hw peripherals instead: the simulation launcher picks
# it, so this layer never imports the simulation. Drivers receive ready
# SPI/I2C/UART/Pin objects from here and never import machine themselves.


def load_desc(name):
    mod = __import__("boardconfig." + name)
    return getattr(mod, name)


class Board:
    def __init__(self, desc, hw):
        self.desc = desc
        self.hw = hw  # module-like: Pin, SPI, I2C, UART, ADC
        self._spi = {}
        self._i2c = {}
        self._uart = {}
        self._pins = {}

    @property
    def name(self):
        return self.desc.NAME

    @property
    def simulated(self):
        return self.desc.PLATFORM == "sim"

    def pin(self, name, mode=None, pull=None, value=None):
        hw = self.hw
        key = name
        p = self._pins.get(key)
        if p is None:
            if mode is None:
                mode = hw.Pin.IN
            if pull is None:
                p = hw.Pin(name, mode) if value is None else hw.Pin(name, mode, value=value)
            else:
                p = hw.Pin(name, mode, pull) if value is None else hw.Pin(name, mode, pull, value=value)
            self._pins[key] = p
        return p

    def out_pin(self, name, value=0):
        return self.pin(name, self.hw.Pin.OUT, value=value)

    def in_pin(self, name):
        return self.pin(name, self.hw.Pin.IN)

    def spi(self, bus):
        s = self._spi.get(bus)
        if s is None:
            d = self.desc.SPI_BUSES[bus]
            s = self.hw.SPI(d["id"], baudrate=d["baudrate"], polarity=d["polarity"], phase=d["phase"])
            self._spi[bus] = s
        return s

    def i2c(self, bus):
        s = self._i2c.get(bus)
        if s is None:
            d = self.desc.I2C_BUSES[bus]
            s = self.hw.I2C(d["id"], freq=d["freq"])
            self._i2c[bus] = s
        return s

    def uart(self, name):
        u = self._uart.get(name)
        if u is None:
            d = self.desc.UARTS[name]
            u = self.hw.UART(d["id"], d["baudrate"], bits=d["bits"], parity=d["parity"] or None,
                             stop=d["stop"])
            self._uart[name] = u
        return u

    def adc(self, pin_name):
        return self.hw.ADC(self.pin(pin_name))

    def flash(self):
        """The record flash as a block device for vfs.VfsLfs2. On the stm32
        port the board's QSPI flash is pyb.Flash when the firmware image is
        built with it as external storage."""
        import pyb
        return pyb.Flash(start=0)

    def chips(self, part):
        """(name, settings) of every chip of one part, in name order."""
        out = [(n, c[1]) for n, c in self.desc.CHIPS.items() if c[0] == part]
        out.sort(key=lambda x: x[0])
        return out

    # --- acquisition hooks ------------------------------------------------------
    def start_acquisition(self, adcs):
        """Arrange for every ADS131M04 frame to land in its driver's ring.

        On the MCU all ADS131M04s share CLKIN, SYNC and a wired-AND DRDY, so one
        hard IRQ per conversion reads every chip's frame (no allocation: each
        driver's irq_handler is bound once at construction)."""
        drdy = self.pin(self.desc.ADC_GROUP_DRDY)
        if adcs:
            # The driver class knows how chips on a wired-AND DRDY are read.
            handler = type(adcs[0]).group_handler(adcs, drdy)
            drdy.irq(handler, self.hw.Pin.IRQ_FALLING, hard=True)

    def service(self):
        """Let the hardware catch up to now. Nothing to do on real silicon:
        conversions happen on their own and IRQs move them."""
        return 0

    def watchdog(self, timeout_ms):
        """The hardware watchdog, started: feed() it within timeout_ms or the
        MCU resets. It cannot be stopped once started."""
        return self.hw.WDT(timeout=timeout_ms)

    def reset_cause(self):
        """"watchdog" when the previous run ended in a watchdog reset, else None."""
        hw = self.hw
        return "watchdog" if hw.reset_cause() == hw.WDT_RESET else None

    def cpu_load(self):
        """Fraction of one core used since the previous call, where known."""
        return None


def open_board(name):
    """Open a real board by name (PLATFORM "mcu"). A simulated board (PLATFORM
    "sim") is opened by the simulation: sim.world.open_sim_board."""
    desc = load_desc(name)
    if desc.PLATFORM != "mcu":
        raise ValueError("board %s: PLATFORM %r is not a real board (simulated boards: sim.world.open_sim_board)"
                         % (name, desc.PLATFORM))
    import machine
    return Board(desc, machine)

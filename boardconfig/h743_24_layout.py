# The h743_24 PCB: its 24-outlet, 3-phase topology, its MCU pin map, chips,
# analog front-end and ratings. boardconfig/h743_24.py is this board on its
# MCU; sim24 is the same PCB simulated (same pins and channel names, so a
# scenario, fixture or uplink tool works on either). A board module imports
# these names and adds NAME, PLATFORM and MCU. Everything is plain data so it compiles to .mpy and can be
# read without touching hardware.
#
# Units: volts, amps, hertz, ohms, seconds unless a name says otherwise.

# --- ratings ---------------------------------------------------------------
RATINGS = {
    "wiring": "3P-wye",          # 3 phases + neutral
    "v_nom": 230.0,              # phase-to-neutral, V rms
    "v_ll_nom": 400.0,           # line-to-line, V rms
    "f_nom": 50.0,               # Hz (firmware also accepts 60)
    "inlet_a": 32.0,             # per phase, A rms
    "branch_a": 16.0,            # branch breaker rating, A rms
    "outlet_a": 16.0,            # per outlet, A rms
    "dc": False,
}

# --- sampling --------------------------------------------------------------
# 8 kSPS on every metering channel: harmonics to the 40th at 50 Hz (2 kHz)
# sit well below Nyquist (4 kHz) and the anti-alias filters roll off between.
SAMPLE_RATE = 8000
ADC_CLKIN_HZ = 8192000           # shared CLKIN of all ADS131M04: fMOD = 4.096 MHz
ADC_OSR = 512                    # 4.096 MHz / 512 = 8 kSPS (high-resolution mode)

# --- MCU buses ---------------------------------------------------------------
SPI_BUSES = {
    # AFE bus: 8 x ADS131M04, SPI mode 1 (CPOL 0, CPHA 1), 24-bit words.
    "spi_afe": {"id": 1, "baudrate": 16000000, "polarity": 0, "phase": 1,
                "sck": "PA5", "mosi": "PA7", "miso": "PA6"},
    # ADE9000 on its own bus: mode 0 or 3 (we use 3), up to 20 MHz, waveform bursts.
    "spi_ade": {"id": 2, "baudrate": 16000000, "polarity": 1, "phase": 1,
                "sck": "PB13", "mosi": "PB15", "miso": "PB14"},
    # FRAM (MB85RS2MT, 256 KB): mode 0, 25 MHz capable.
    "spi_mem": {"id": 3, "baudrate": 20000000, "polarity": 0, "phase": 0,
                "sck": "PC10", "mosi": "PC12", "miso": "PC11"},
}

I2C_BUSES = {
    # Two buses because both SHT4x parts answer at 0x44.
    "i2c_inlet": {"id": 1, "scl": "PB8", "sda": "PB9", "freq": 100000},
    "i2c_exhaust": {"id": 2, "scl": "PF1", "sda": "PF0", "freq": 100000},
}

UARTS = {
    # RS-485 (Modbus RTU): half duplex, driver-enable high while transmitting.
    "rs485": {"id": 2, "baudrate": 19200, "bits": 8, "parity": 0, "stop": 1,
              "tx": "PD5", "rx": "PD6", "de": "PD4"},
}

# --- chips ---------------------------------------------------------------------
# name: (part, settings). 'bus' names an entry above; pins are MCU pin names.
CHIPS = {
    "ade": ("ade9000", {"bus": "spi_ade", "cs": "PB12", "irq0": "PE8", "irq1": "PE9",
                        "reset": "PE10", "pga_gain": 1,
                        # Full-scale input is 0.707 V rms; these map it to the line.
                        "v_divider": 990000.0 / 1000.0 + 1.0,   # 990 kR over 1 kR
                        "ct_ratio": 2500.0, "ct_burden": 15.0}),   # 2500:1 CT, 15 R burden
    "adc1": ("ads131m04", {"bus": "spi_afe", "cs": "PG0", "drdy": "PG8", "sync_reset": "PG9"}),
    "adc2": ("ads131m04", {"bus": "spi_afe", "cs": "PG1", "drdy": "PG8", "sync_reset": "PG9"}),
    "adc3": ("ads131m04", {"bus": "spi_afe", "cs": "PG2", "drdy": "PG8", "sync_reset": "PG9"}),
    "adc4": ("ads131m04", {"bus": "spi_afe", "cs": "PG3", "drdy": "PG8", "sync_reset": "PG9"}),
    "adc5": ("ads131m04", {"bus": "spi_afe", "cs": "PG4", "drdy": "PG8", "sync_reset": "PG9"}),
    "adc6": ("ads131m04", {"bus": "spi_afe", "cs": "PG5", "drdy": "PG8", "sync_reset": "PG9"}),
    "adc7": ("ads131m04", {"bus": "spi_afe", "cs": "PG6", "drdy": "PG8", "sync_reset": "PG9"}),
    "adc8": ("ads131m04", {"bus": "spi_afe", "cs": "PG7", "drdy": "PG8", "sync_reset": "PG9"}),
    "fram": ("mb85rs", {"bus": "spi_mem", "cs": "PC9", "size": 262144, "part": "MB85RS2MT",
                        "wp": "PC8"}),
    "th_inlet": ("sht4x", {"bus": "i2c_inlet", "addr": 0x44}),
    "th_exhaust": ("sht4x", {"bus": "i2c_exhaust", "addr": 0x44}),
}

# All ADS131M04s share CLKIN, SYNC/RESET and (wired-AND) DRDY, so one DRDY edge
# means every group has a frame ready: one IRQ reads all eight.
ADC_GROUP_DRDY = "PG8"

# --- analog front ends --------------------------------------------------------
# ADS131M04 input: +/-1.2 V / PGA gain full scale.
#  ch0 (voltage): 1 MR + 1 MR over 1.5 kR divider, gain 1  -> +/-1601 V FS
#  ch1..3 (current): 1000:1 CT into 12 R burden, gain 1    -> +/-100 A FS
AFE_GROUP_V = {"gain": 1, "divider": (2000000.0 + 1500.0) / 1500.0}
AFE_OUTLET_I = {"gain": 1, "ct_ratio": 1000.0, "burden": 12.0}

# --- channels ------------------------------------------------------------------
# Board channel name -> (chip, chip channel, quantity). These names are the
# contract shared by fixtures (COMTRADE channel ids), tools and uplinks.
CHANNELS = {
    "L1-V": ("ade", "VA", "V"), "L2-V": ("ade", "VB", "V"), "L3-V": ("ade", "VC", "V"),
    "L1-I": ("ade", "IA", "I"), "L2-I": ("ade", "IB", "I"), "L3-I": ("ade", "IC", "I"),
    "N-I": ("ade", "IN", "I"),
}
for _g in range(1, 9):
    CHANNELS["G%d-V" % _g] = ("adc%d" % _g, 0, "V")
    for _k in range(3):
        CHANNELS["O%d-I" % (3 * _g - 2 + _k)] = ("adc%d" % _g, 1 + _k, "I")

# --- groups, phases, branches, outlets ------------------------------------------
# Group k holds outlets 3k-2..3k and is fed from one phase (its ch0 voltage).
GROUP_PHASE = {1: "L1", 2: "L1", 3: "L1", 4: "L2", 5: "L2", 6: "L2", 7: "L3", 8: "L3"}

BRANCHES = {
    # name: phase, breaker rating, outlets
    "B1": {"phase": "L1", "rating_a": 16.0, "outlets": (1, 2, 3, 4, 5, 6)},
    "B2": {"phase": "L1", "rating_a": 16.0, "outlets": (7, 8, 9)},
    "B3": {"phase": "L2", "rating_a": 16.0, "outlets": (10, 11, 12, 13, 14, 15)},
    "B4": {"phase": "L2", "rating_a": 16.0, "outlets": (16, 17, 18)},
    "B5": {"phase": "L3", "rating_a": 16.0, "outlets": (19, 20, 21)},
    "B6": {"phase": "L3", "rating_a": 16.0, "outlets": (22, 23, 24)},
}

# Outlet switching. Latching relays: bistable, a 'set' pulse closes and a
# 'reset' pulse opens (coil_pulse_ms); feedback is an auxiliary contact that
# reads 1 when closed. Triac SSRs: 'gate' held high conducts (zero-cross
# optotriac), feedback is an opto across the triac that reads 1 when the
# outlet is energised. 'ntc' names the relay-board NTC nearest the switch.
OUTLETS = {}
_port = "HIJ"
for _n in range(1, 25):
    _g = (_n + 2) // 3
    _br = [b for b in BRANCHES if _n in BRANCHES[b]["outlets"]][0]
    _o = {"group": _g, "phase": GROUP_PHASE[_g], "branch": _br,
          "current": "O%d-I" % _n, "voltage": "G%d-V" % _g, "rating_a": 16.0}
    if _n <= 20:
        _o.update({"switch": "latching", "set": "P%s%d" % (_port[(_n - 1) // 8], ((_n - 1) % 8) * 2),
                   "reset": "P%s%d" % (_port[(_n - 1) // 8], ((_n - 1) % 8) * 2 + 1),
                   "feedback": "PK%d" % ((_n - 1) % 8) if _n <= 8 else
                               ("PD%d" % (8 + (_n - 9) % 8) if _n <= 16 else "PF%d" % (8 + _n - 17)),
                   "coil_pulse_ms": 30, "ntc": "ntc%d" % (1 + (_n - 1) // 8)})
    else:
        _o.update({"switch": "triac", "gate": "PE%d" % (_n - 21), "feedback": "PE%d" % (_n - 17),
                   "v_on": 1.1, "ntc": "ntc4"})
    OUTLETS[_n] = _o

# --- record flash ------------------------------------------------------------------
# QSPI NOR (W25Q256JV, 32 MB, 4 KB erase blocks) holding the littlefs record
# store: 4 days of 1-minute records + 6 months hourly + 2 years daily for 39
# channels is ~15.6 MB (docs/persistence.md).
FLASH = {"part": "W25Q256JV", "size": 32 * 1024 * 1024, "block_size": 4096}

# --- thermal sensors -------------------------------------------------------------
# Relay-board NTCs (10 k, B 3435) in a divider with 10 k to 3.3 V on MCU ADC pins.
NTCS = {
    "ntc1": {"pin": "PA0", "r25": 10000.0, "beta": 3435.0, "r_fixed": 10000.0, "vref": 3.3,
             "where": "relay board 1 (outlets 1-8)"},
    "ntc2": {"pin": "PA1", "r25": 10000.0, "beta": 3435.0, "r_fixed": 10000.0, "vref": 3.3,
             "where": "relay board 2 (outlets 9-16)"},
    "ntc3": {"pin": "PA2", "r25": 10000.0, "beta": 3435.0, "r_fixed": 10000.0, "vref": 3.3,
             "where": "relay board 3 (outlets 17-20)"},
    "ntc4": {"pin": "PA3", "r25": 10000.0, "beta": 3435.0, "r_fixed": 10000.0, "vref": 3.3,
             "where": "SSR heatsink (outlets 21-24)"},
}
AIR_SENSORS = {"inlet": "th_inlet", "exhaust": "th_exhaust"}

# --- fixed local contract of the simulated board (ports are overridable) ---------
SERVICES = {"http_port": 8080, "modbus_port": 5020, "snmp_port": 1161,
            "mqtt_host": "127.0.0.1", "mqtt_port": 1883}

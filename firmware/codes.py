# Event codes and severities: the shared vocabulary of the event log, the
# protection layer and every uplink. Numbers are stable once released.
from micropython import const

SEV_INFO = const(0)
SEV_NOTICE = const(1)
SEV_WARNING = const(2)
SEV_ALARM = const(3)
SEV_CRITICAL = const(4)
SEVERITY_NAMES = ("info", "notice", "warning", "alarm", "critical")

EV_BOOT = const(1)
EV_DEVICE_OK = const(2)
EV_DEVICE_FAULT = const(3)
EV_ACQ_OVERRUN = const(4)
EV_TIME_SET = const(5)
EV_OUTLET_ON = const(10)
EV_OUTLET_OFF = const(11)
EV_SWITCH_UNVERIFIED = const(12)
EV_COMMAND = const(20)

EVENT_NAMES = {
    EV_BOOT: "boot",
    EV_DEVICE_OK: "device_ok",
    EV_DEVICE_FAULT: "device_fault",
    EV_ACQ_OVERRUN: "acq_overrun",
    EV_TIME_SET: "time_set",
    EV_OUTLET_ON: "outlet_on",
    EV_OUTLET_OFF: "outlet_off",
    EV_SWITCH_UNVERIFIED: "switch_unverified",
    EV_COMMAND: "command",
}

# --- persistence (config, calibration, stores, time) ------------------------
EV_CONFIG_CHANGED = const(40)
EV_CONFIG_REFUSED = const(41)
EV_CAL_CHANGED = const(42)
EV_CAL_ROLLBACK = const(43)
EV_STORE_FAULT = const(44)       # a persistent store was unreadable: defaults/empty used
EV_ENERGY_RESTORED = const(45)
EV_RECORDS_FAULT = const(46)     # data-record flash store failed (records kept in RAM only)
EV_TIME_FAULT = const(47)        # SNTP query failed (once per failure streak)
EV_FRAM_FORMATTED = const(48)

EVENT_NAMES.update({
    EV_CONFIG_CHANGED: "config_changed",
    EV_CONFIG_REFUSED: "config_refused",
    EV_CAL_CHANGED: "cal_changed",
    EV_CAL_ROLLBACK: "cal_rollback",
    EV_STORE_FAULT: "store_fault",
    EV_ENERGY_RESTORED: "energy_restored",
    EV_RECORDS_FAULT: "records_fault",
    EV_TIME_FAULT: "time_fault",
    EV_FRAM_FORMATTED: "fram_formatted",
})

# Action taken, stored as a byte in the FRAM event record: index into ACTIONS
# (0 = no action given, None). Append only; an action not listed is stored as
# ACT_OTHER with its name kept in the record's text.
ACTIONS = (None, "none", "logged", "switched", "limit", "derate", "trip", "shed", "latch",
           "applied", "refused", "rollback", "restored", "formatted")
ACT_OTHER = const(255)

# Per-code value schema of the FRAM event record: up to four 32-bit numeric
# slots, each (name, type) with type 'f' float32, 'i' int32, 'u' uint32,
# 'b' bool, or 'q' int64 (takes two slots); then the names of text values,
# stored in order in the record's text field. Codes not listed use
# DEFAULT_VALUES. Values a code's schema does not name are kept as "k=v" text.
DEFAULT_VALUES = ((("peak", "f"), ("window_ms", "i"), ("value", "f"), ("limit", "f")), ())
EVENT_VALUES = {
    EV_BOOT: ((("devices_ok", "b"), ("boot_count", "u")), ("board", "fw")),
    EV_DEVICE_OK: ((), ("part",)),
    EV_DEVICE_FAULT: ((), ("part", "error")),
    EV_ACQ_OVERRUN: ((("count", "u"),), ()),
    EV_TIME_SET: ((("step_ms", "q"), ("delay_ms", "i"), ("stratum", "i")), ("source",)),
    EV_OUTLET_ON: ((("feedback", "b"),), ("who",)),
    EV_OUTLET_OFF: ((("feedback", "b"),), ("who",)),
    EV_SWITCH_UNVERIFIED: ((("commanded", "b"), ("feedback", "b")), ("who",)),
    EV_COMMAND: ((), ("who", "command")),
    EV_CONFIG_CHANGED: ((("generation", "u"),), ("field", "old", "new", "who")),
    EV_CONFIG_REFUSED: ((), ("who", "error")),
    EV_CAL_CHANGED: ((("version", "u"), ("channels", "u")), ("who", "fixture")),
    EV_CAL_ROLLBACK: ((("version", "u"), ("restored", "u")), ("who",)),
    EV_STORE_FAULT: ((), ("store", "detail")),
    EV_ENERGY_RESTORED: ((("generation", "u"), ("down_s", "i")), ()),
    EV_RECORDS_FAULT: ((), ("detail",)),
    EV_TIME_FAULT: ((("failures", "u"),), ("error",)),
    EV_FRAM_FORMATTED: ((), ("reason",)),
}

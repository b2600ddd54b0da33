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
# DEFAULT_VALUES. Values a code's schema does not name are kept in the text field
# as "k=text", "k#number" or "k?bool" (0/1), and read back with their type.
DEFAULT_VALUES = ((("peak", "f"), ("window_ms", "i"), ("value", "f"), ("limit", "f")), ())
EVENT_VALUES = {
    EV_BOOT: ((("devices_ok", "b"), ("boot_count", "u")), ("board", "fw")),
    EV_DEVICE_OK: ((), ("part",)),
    EV_DEVICE_FAULT: ((), ("part", "error")),
    EV_ACQ_OVERRUN: ((("count", "u"),), ()),
    EV_TIME_SET: ((("step_ms", "q"), ("delay_ms", "i"), ("stratum", "i")), ("source",)),
    EV_OUTLET_ON: ((("feedback", "b"), ("current_a", "f"), ("window_ms", "i")), ("who",)),
    EV_OUTLET_OFF: ((("feedback", "b"), ("current_a", "f"), ("window_ms", "i")), ("who",)),
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

# --- supervision (firmware/supervisor.py) ---------------------------------------
EV_TASK_FAILED = const(60)       # a firmware task raised: alarm, restarted with backoff
EV_FAILSAFE = const(61)          # repeated failure of the sample path: switch-on refused, outlets held
EV_WATCHDOG_RESET = const(62)    # the previous run ended in a watchdog reset

EVENT_NAMES.update({
    EV_TASK_FAILED: "task_failed",
    EV_FAILSAFE: "failsafe",
    EV_WATCHDOG_RESET: "watchdog_reset",
})
EVENT_VALUES.update({
    EV_TASK_FAILED: ((("restarts", "u"), ("backoff_ms", "i")), ("error",)),   # channel: the task
    EV_FAILSAFE: ((("failures", "u"), ("window_ms", "i")), ("error",)),
    EV_WATCHDOG_RESET: ((("timeout_ms", "i"),), ("cause",)),
})

# --- metrology (metrology/selfcheck.py) ---------------------------------------------
# The field self-check: a firmware inlet figure and the ADE9000's own DSP
# figure for it differ beyond tolerance for several consecutive checks.
# Channel: the inlet phase ("L1"); values: rel (relative difference, firmware
# vs chip), firmware and chip (the two readings, V / A / W), limit (the
# tolerance); text: the quantity ("vrms", "irms", "p_w") and the chip's part.
EV_METER_DRIFT = const(80)

EVENT_NAMES.update({
    EV_METER_DRIFT: "meter_drift",
})
EVENT_VALUES.update({
    EV_METER_DRIFT: ((("rel", "f"), ("firmware", "f"), ("chip", "f"), ("limit", "f")), ("quantity", "part")),
})

# --- protection and switching (protection/*, protection/outlets.py) -------------
# Values: peak (A, or mA for residual current), window_ms (the decision's time
# window: latency, duration, time over pickup), value (the measured quantity:
# A rms, mA, C), limit (the threshold it was held against); text: the outlet's
# resulting state (latched/cooldown/lockout/derated/shed/...) and the cause.
EV_INRUSH = const(100)            # switch-on inrush, normal signature: logged
EV_INRUSH_ABNORMAL = const(101)   # inrush not settled in its window: a sequence stops
EV_OC_INSTANT = const(102)        # instantaneous (short-circuit) trip
EV_OC_TIMED = const(103)          # inverse-time (I^2t) trip
EV_OC_PICKUP = const(104)         # inverse-time element picked up (window_ms: expected trip time)
EV_SHED = const(105)              # outlet shed by its branch/inlet phase
EV_DERATE = const(106)            # switch too hot: pickup lowered to the allowed current
EV_DERATE_END = const(107)
EV_THERMAL_TRIP = const(108)
EV_RCM_TRANSIENT = const(109)     # residual current excursion shorter than the alarm window: ignored
EV_RCM_ALARM = const(110)
EV_RCM_ISOLATE = const(111)       # suspect outlet opened
EV_RCM_LATCH = const(112)         # residual gone after isolating: outlet confirmed, latched
EV_RCM_CLEAR = const(113)
EV_CLOSE_FAILED = const(114)      # switch-on verification: no feedback, no current
EV_OPEN_FAILED = const(115)       # switch-off verification: feedback stays closed (no current to prove it)
EV_WELDED = const(116)            # current still flows after an open (relay welded / triac shorted)
EV_SWITCH_UNKNOWN = const(117)    # evidence contradicts itself or is missing
EV_COMMAND_REFUSED = const(118)   # switch-on refused: latched, lockout, cooldown, hot, limit
EV_PROT_RESET = const(119)        # audited operator reset
EV_RETRY = const(120)             # automatic re-close after a cooldown
EV_LOCKOUT = const(121)
EV_SEQ_START = const(122)
EV_SEQ_DONE = const(123)
EV_SEQ_ABORT = const(124)
EV_PROT_DEGRADED = const(125)     # no current measurement for some outlets/inlet

EVENT_NAMES.update({
    EV_INRUSH: "inrush",
    EV_INRUSH_ABNORMAL: "inrush_abnormal",
    EV_OC_INSTANT: "oc_instant",
    EV_OC_TIMED: "oc_timed",
    EV_OC_PICKUP: "oc_pickup",
    EV_SHED: "shed",
    EV_DERATE: "derate",
    EV_DERATE_END: "derate_end",
    EV_THERMAL_TRIP: "thermal_trip",
    EV_RCM_TRANSIENT: "rcm_transient",
    EV_RCM_ALARM: "rcm_alarm",
    EV_RCM_ISOLATE: "rcm_isolate",
    EV_RCM_LATCH: "rcm_latch",
    EV_RCM_CLEAR: "rcm_clear",
    EV_CLOSE_FAILED: "close_failed",
    EV_OPEN_FAILED: "open_failed",
    EV_WELDED: "welded",
    EV_SWITCH_UNKNOWN: "switch_unknown",
    EV_COMMAND_REFUSED: "command_refused",
    EV_PROT_RESET: "prot_reset",
    EV_RETRY: "retry",
    EV_LOCKOUT: "lockout",
    EV_SEQ_START: "seq_start",
    EV_SEQ_DONE: "seq_done",
    EV_SEQ_ABORT: "seq_abort",
    EV_PROT_DEGRADED: "prot_degraded",
})

ACTIONS = ACTIONS + ("isolate", "lockout", "alarm", "retry", "reset", "stop")

_P_NUM = DEFAULT_VALUES[0]
_P_SW = ((("feedback", "b"), ("commanded", "b"), ("current_a", "f"), ("window_ms", "i")), ("who", "state"))
EVENT_VALUES.update({
    EV_INRUSH: (_P_NUM, ("shape", "who")),
    EV_INRUSH_ABNORMAL: (_P_NUM, ("shape", "who")),
    EV_OC_INSTANT: (_P_NUM, ("state", "cause", "outlets")),
    EV_OC_TIMED: (_P_NUM, ("state", "cause", "outlets")),
    EV_OC_PICKUP: (_P_NUM, ()),
    EV_SHED: (_P_NUM, ("element", "state", "why")),
    EV_DERATE: (_P_NUM, ("state",)),
    EV_DERATE_END: (_P_NUM, ("state",)),
    EV_THERMAL_TRIP: (_P_NUM, ("state", "cause")),
    EV_RCM_TRANSIENT: (_P_NUM, ("state",)),
    EV_RCM_ALARM: (_P_NUM, ("state",)),
    EV_RCM_ISOLATE: (_P_NUM, ("state", "phase")),
    EV_RCM_LATCH: (_P_NUM, ("state", "cause")),
    EV_RCM_CLEAR: (_P_NUM, ("state",)),
    EV_CLOSE_FAILED: _P_SW,
    EV_OPEN_FAILED: _P_SW,
    EV_WELDED: _P_SW,
    EV_SWITCH_UNKNOWN: _P_SW,
    EV_COMMAND_REFUSED: ((("value", "f"), ("limit", "f"), ("cooldown_ms", "i"), ("suppressed", "u")),
                         ("who", "state", "cause")),
    EV_PROT_RESET: ((("audit", "u"),), ("who", "state", "cause", "result")),
    EV_RETRY: ((("attempt", "u"), ("limit", "u")), ("cause", "state")),
    EV_LOCKOUT: ((("trips", "u"), ("window_ms", "i")), ("state", "cause")),
    EV_SEQ_START: ((("count", "u"), ("stagger_ms", "i"), ("budget", "u")), ("who",)),
    EV_SEQ_DONE: ((("started", "u"), ("count", "u")), ("who",)),
    EV_SEQ_ABORT: ((("started", "u"), ("count", "u")), ("reason", "who")),
    EV_PROT_DEGRADED: ((("outlets", "u"),), ("cause",)),
})

# supervision's actions (append only: the index is stored)
ACTIONS = ACTIONS + ("restart", "hold")

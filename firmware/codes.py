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

# Protection settings live in the config store (FRAM): a validated change
# survives a reboot; an out-of-range one is refused naming the field.
# Usage: prot_config.py FRAM_FILE (a fresh path: the test's own temporary file)
import sys
import json
from sim.pdu import sim_pdu
from core.config import ConfigError

FRAM_FILE = sys.argv[1]
pdu = sim_pdu("sim24", virtual=True, power_on="none", fram_file=FRAM_FILE)
s = pdu.prot_settings
before = s["outlet_pickup_a"]
try:
    s.apply({"outlet_pickup_a": 99.0}, "alice")
    bad = None
except ConfigError as e:
    bad = str(e)
s.apply({"outlet_pickup_a": 10.0, "outlets.5.priority": 1}, "alice")
# straight through the config store: protection's grading rules still apply
try:
    pdu.config.apply({"protection.rcm_trip_ma": 8.0}, "mallory")  # in range, below the 10 mA alarm
    grading = None
except ConfigError as e:
    grading = str(e)
in_store = s.config is not None
pdu.board.twins["fram"].close()
del pdu, s
import gc
gc.collect()
pdu2 = sim_pdu("sim24", virtual=True, power_on="none", fram_file=FRAM_FILE)
print(json.dumps({"in_store": in_store, "grading": grading, "before": before, "bad": bad,
                  "after_reboot": pdu2.prot_settings["outlet_pickup_a"],
                  "prio_after_reboot": pdu2.prot_settings.priority(5),
                  "config_value": pdu2.config["protection.outlet_pickup_a"]}))

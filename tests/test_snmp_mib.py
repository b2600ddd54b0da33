"""The enterprise MIB (mibs/RACK-PDU-MIB.txt) passes smilint at level 3 (and
6) with nothing reported, and net-snmp's snmptranslate resolves its names to
the OIDs the agent serves (enterprise 32473, RFC 5612's documentation
number, a placeholder). The IETF base modules it imports come from
tools/fetch_mibs.py (`make deps`)."""
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MIB = ROOT / "mibs" / "RACK-PDU-MIB.txt"
BASE = ROOT / ".venv" / "mibs"
PEN = "1.3.6.1.4.1.32473"
NETSNMP = ["-M", "%s:%s" % (BASE, MIB.parent), "-m", "RACK-PDU-MIB"]


@pytest.mark.parametrize("level", ["3", "6"])
def test_smilint_reports_nothing(level):
    env = dict(os.environ, SMIPATH=str(BASE / "libsmi"))
    p = subprocess.run(["smilint", "-l", level, "-s", str(MIB)], capture_output=True, text=True, timeout=60,
                       env=env)
    assert p.returncode == 0 and not p.stdout.strip() and not p.stderr.strip(), p.stdout + p.stderr


@pytest.mark.parametrize("name,oid", [
    ("rackPduMIB", PEN),
    ("pduDeviceName.0", PEN + ".1.1.1.0"),
    ("pduInletPhaseVoltage.2", PEN + ".1.2.2.1.4.2"),
    ("pduBranchLoad.6", PEN + ".1.3.1.1.8.6"),
    ("pduOutletControl.24", PEN + ".1.4.1.1.6.24"),
    ("pduOutletLastTripTime.1", PEN + ".1.4.1.1.17.1"),
    ("pduSensorValue.1", PEN + ".1.5.1.1.5.1"),
    ("pduOutletTrip", PEN + ".0.1"),
    ("pduPowerRestored", PEN + ".0.5"),
])
def test_snmptranslate_resolves_names(name, oid):
    p = subprocess.run(["snmptranslate"] + NETSNMP + ["-On", "RACK-PDU-MIB::" + name], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == "." + oid, p.stdout + p.stderr
    # and back: the numeric OID gets its name
    p = subprocess.run(["snmptranslate"] + NETSNMP + ["." + oid], capture_output=True, text=True, timeout=60)
    assert p.stdout.strip() == "RACK-PDU-MIB::" + name, p.stdout + p.stderr

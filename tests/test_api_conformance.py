"""The API document is the truth: it validates, it is up to date with its
generator, it lists exactly the firmware's routes, and schemathesis, run
against the live firmware with an admin token, finds no 5xx and no response
that violates it. /metrics passes promtool and /pee.xml carries ETSI Annex C's
tables with values that agree with the REST API."""
import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from mputil import ROOT, run_mp
from pduhttp import Pdu

DOC = ROOT / "docs" / "openapi.json"


@pytest.fixture(scope="module")
def pdu(tmp_path_factory):
    p = Pdu(tmp_path_factory.mktemp("conf"), scenario={"seed": 2, "power_on": [1, 2, 3],
                                                       "loads": {"1": {"kind": "psu", "irms": 2.0},
                                                                 "2": {"kind": "resistive", "irms": 3.0}}})
    yield p
    p.stop()


@pytest.fixture(scope="module")
def token(pdu):
    admin = pdu.setup_admin()
    st, _, b = pdu.req("POST", "/api/v1/tokens", admin, {"name": "conformance", "role": "admin"})
    assert st == 201
    return b["token"]


def test_document_validates_and_is_generated_from_its_table():
    from openapi_spec_validator import validate
    validate(json.loads(DOC.read_text()))
    r = subprocess.run([sys.executable, "-m", "tools.openapi", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_document_lists_exactly_the_firmware_routes():
    p = run_mp(code="import json\nfrom comms.rest import ROUTES\n"
                    "print(json.dumps([(m, p, a is None) for m, p, a, h in ROUTES]))")
    routes = {(m.lower(), p, open_) for m, p, open_ in json.loads(p.stdout)}
    doc = json.loads(DOC.read_text())
    ops = set()
    for path, item in doc["paths"].items():
        for m, op in item.items():
            ops.add((m, path, op.get("security") == []))
    assert ops == routes, (ops ^ routes)


def test_the_firmware_serves_the_document(pdu, token):
    import gzip
    st, hd, raw = pdu.req("GET", "/api/v1/openapi.json", token, headers={"Accept-Encoding": "gzip"}, raw=True)
    assert st == 200 and hd["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(raw)) == json.loads(DOC.read_text())


def test_schemathesis_finds_no_5xx_and_no_document_violation(pdu, token, tmp_path):
    st_bin = shutil.which("schemathesis", path=str(ROOT / ".venv" / "bin")) or "schemathesis"
    report = tmp_path / "report"
    r = subprocess.run(
        [st_bin, "run", str(DOC), "--url", "http://127.0.0.1:%d" % pdu.port,
         "-H", "Authorization: Bearer " + token,
         "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                     "response_schema_conformance",
         "--phases", "examples,coverage,fuzzing", "--max-examples", "25", "--workers", "1",
         "--request-timeout", "30", "--seed", "1", "--max-time", "150",
         "--report", "junit", "--report-dir", str(report)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-8000:]
    assert "passed" in out.lower() or "success" in out.lower(), out[-3000:]
    # the firmware is still answering and took no harm
    st, _, h = pdu.req("GET", "/api/v1/health", token)
    assert st == 200 and h["overruns"] == 0 and h["failsafe"] is None and h["uplinks"]["http"]["handler_errors"] == 0


def test_metrics_pass_promtool(pdu, token, tmp_path):
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: make test installs Debian's prometheus (tools/ensure_deps.sh)"
    st, hd, text = pdu.req("GET", "/metrics", token)
    assert st == 200 and hd["content-type"].startswith("text/plain; version=0.0.4")
    r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), r.stdout + r.stderr
    assert 'pdu_outlet_active_power_watts{outlet="O1"}' in text
    assert 'pdu_uplink_requests_total{uplink="http"}' in text


def test_pee_xml_has_the_annex_c_tables_and_agrees_with_rest(pdu, token):
    st, _, outs = pdu.req("GET", "/api/v1/inlet", token)
    st, hd, xml = pdu.req("GET", "/pee.xml", token)
    st2, _, outs2 = pdu.req("GET", "/api/v1/inlet", token)
    assert st == 200 and hd["content-type"].startswith("application/xml")
    root = ET.fromstring(xml)
    tables = [c.tag for c in root]
    for t in ("description_table", "alarm_table", "event_table", "data_table", "data_record_table",
              "config_table", "control_table"):
        assert t in tables, tables
    text = json.dumps([(e.tag, e.attrib, e.text) for e in root.iter()])
    st, _, dev = pdu.req("GET", "/api/v1/device", token)
    assert dev["site_id"] in text and dev["device_id"] in text
    # average active power of the inlet within one window of the REST reads around it
    powers = [float(e.text) for e in root.iter() if e.get("name") == "average_active_power"
              and e.get("object") == "INLET" and e.get("unit") == "W" and e.get("period_s") == "1"]
    assert powers, text[:2000]
    lo = min(outs["objects"]["INLET"]["p_w"]["value"], outs2["objects"]["INLET"]["p_w"]["value"])
    hi = max(outs["objects"]["INLET"]["p_w"]["value"], outs2["objects"]["INLET"]["p_w"]["value"])
    assert len(powers) == 1 and lo - 0.5 <= powers[0] <= hi + 0.5, (powers, lo, hi)

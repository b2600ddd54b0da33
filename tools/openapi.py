"""The OpenAPI 3 document of the PDU's REST API: docs/openapi.json, and the
gzip copy the firmware serves at /api/v1/openapi.json (comms/openapi_doc.py).

    python -m tools.openapi          # write both
    python -m tools.openapi --check  # exit 1 if either is out of date

Operations are listed here beside their schemas; tests/test_api_openapi.py
checks that they are exactly comms/rest.py's ROUTES (method, path, open or
authenticated), so the document and the dispatcher cannot drift apart."""
import argparse
import gzip
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "openapi.json"
MOD = ROOT / "comms" / "openapi_doc.py"

J = "application/json"


def ref(name):
    return {"$ref": "#/components/schemas/" + name}


def nullable(schema):
    s = dict(schema)
    s["nullable"] = True
    return s


NUM = {"type": "number"}
INT = {"type": "integer"}
STR = {"type": "string"}
BOOL = {"type": "boolean"}
OBJ = {"type": "object"}

SCHEMAS = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": STR}},
    "Value": {"type": "object", "required": ["value", "unit"],
              "properties": {"value": nullable(NUM), "unit": STR}},
    "Measurements": {"type": "object", "description": "quantity -> value and unit; quality flags",
                     "properties": {"quality": {"type": "array", "items": {
                         "type": "string", "enum": ["clip", "no_zero_crossing", "sensor_fault", "uncalibrated"]}}},
                     "additionalProperties": ref("Value")},
    "Read": {"type": "object", "required": ["seq", "kind", "timestamp_utc", "time_valid", "window_ms", "objects"],
             "properties": {"seq": INT, "kind": {"type": "string", "enum": ["win", "sec"]},
                            "timestamp_utc": {"type": "string", "format": "date-time"}, "utc_ms": INT,
                            "time_valid": BOOL, "window_ms": NUM,
                            "objects": {"type": "object", "additionalProperties": nullable(ref("Measurements"))}}},
    "Protection": {"type": "object", "required": ["state", "reason", "trips"],
                   "properties": {"state": {"type": "string", "enum": [
                       "normal", "pickup", "derate", "tripped", "latched", "cooldown", "lockout", "shed"]},
                       "reason": nullable(STR), "allow_a": nullable(NUM), "trips": INT,
                       "last_trip": nullable(OBJ)}},
    "Outlet": {"type": "object", "required": ["id", "name", "state", "commanded", "protection"],
               "properties": {"id": STR, "name": STR, "state": {"type": "string", "enum": ["on", "off", "unknown"]},
                              "commanded": {"type": "string", "enum": ["on", "off"]}, "switch": nullable(STR),
                              "group": STR, "branch": STR, "phase": STR, "rating_a": nullable(NUM),
                              "priority": INT, "protection": ref("Protection"),
                              "measurements": nullable(ref("Measurements")), "seq": INT,
                              "kind": STR, "timestamp_utc": STR, "window_ms": NUM}},
    "Outlets": {"type": "object", "required": ["seq", "kind", "timestamp_utc", "outlets"],
                "properties": {"seq": INT, "kind": STR, "timestamp_utc": STR, "utc_ms": INT, "time_valid": BOOL,
                               "window_ms": NUM, "outlets": {"type": "array", "items": ref("Outlet")}}},
    "Inventory": {"type": "object",
                  "required": ["device_id", "serial", "hw_rev", "fw_version", "board", "calibration_version",
                               "config_hash", "uptime_s", "boot_count"],
                  "properties": {"device_id": STR, "name": STR, "serial": STR, "hw_rev": STR, "fw_version": STR,
                                 "board": STR, "calibration_version": INT, "config_hash": STR,
                                 "config_generation": INT, "uptime_s": INT, "boot_count": INT, "site_id": STR,
                                 "location": STR}},
    "Tree": {"type": "object", "required": ["id", "inlet", "groups", "sensors"],
             "properties": {"id": STR, "inlet": OBJ, "groups": {"type": "array", "items": OBJ},
                            "sensors": {"type": "array", "items": STR}}},
    "Event": {"type": "object", "required": ["seq", "timestamp_utc", "event", "severity", "channel", "values"],
              "properties": {"seq": INT, "timestamp_utc": STR, "time_valid": BOOL, "event": STR,
                             "severity": {"type": "string", "enum": ["info", "notice", "warning", "alarm", "critical"]},
                             "channel": STR, "action": nullable(STR), "values": OBJ}},
    "Events": {"type": "object", "required": ["missed", "next", "last_seq", "events"],
               "properties": {"missed": INT, "next": INT, "last_seq": INT,
                              "events": {"type": "array", "items": ref("Event")}}},
    "Audit": {"type": "object", "required": ["missed", "next", "entries"],
              "properties": {"missed": INT, "next": INT, "entries": {"type": "array", "items": {
                  "type": "object", "required": ["seq", "timestamp_utc", "kind", "who", "what", "result"],
                  "properties": {"seq": INT, "timestamp_utc": STR, "time_valid": BOOL, "kind": STR, "who": STR,
                                 "what": STR, "result": STR}}}}},
    "Records": {"type": "object", "required": ["level", "period_s", "next_from", "records"],
                "properties": {"level": INT, "period_s": INT, "next_from": nullable(INT),
                               "records": {"type": "array", "items": {
                                   "type": "object", "required": ["utc_s", "period_s", "n_s", "channels"],
                                   "properties": {"utc_s": INT, "period_s": INT, "n_s": INT, "time_valid": BOOL,
                                                  "partial": BOOL, "channels": OBJ}}}}},
    "Result": {"type": "object", "required": ["result"],
               "properties": {"result": {"type": "string", "enum": ["done", "accepted", "refused"]},
                              "reason": nullable(STR)}},
    "Action": {"type": "object", "required": ["action"],
               "properties": {"action": {"type": "string", "enum": ["on", "off", "cycle"]}}},
    "Reset": {"type": "object", "properties": {"reason": {"type": "string", "maxLength": 64}}},
    "Password": {"type": "object", "required": ["password"], "properties": {"password": STR}},
    "Login": {"type": "object", "required": ["user", "password"], "properties": {"user": STR, "password": STR}},
    "Session": {"type": "object", "required": ["token", "expires_utc", "user", "role"],
                "properties": {"token": STR, "expires_utc": STR, "user": STR, "role": STR}},
    "Identity": {"type": "object", "required": ["user", "role", "kind"],
                 "properties": {"user": STR, "role": STR, "kind": {"type": "string", "enum": ["session", "token"]}}},
    "User": {"type": "object", "required": ["name", "role"],
             "properties": {"name": STR, "role": {"type": "string", "enum": ["admin", "operator", "viewer"]},
                            "password_set": BOOL, "iterations": INT, "created_utc_ms": nullable(INT),
                            "changed_utc_ms": nullable(INT)}},
    "NewUser": {"type": "object", "required": ["name", "role", "password"],
                "properties": {"name": STR, "role": {"type": "string", "enum": ["admin", "operator", "viewer"]},
                               "password": STR}},
    "UserChange": {"type": "object", "properties": {"role": {"type": "string", "enum": ["admin", "operator", "viewer"]},
                                                     "password": STR, "old_password": STR}},
    "NewToken": {"type": "object", "required": ["name", "role"],
                 "properties": {"name": STR, "role": {"type": "string", "enum": ["admin", "operator", "viewer"]}}},
    "Token": {"type": "object", "required": ["name", "role"],
              "properties": {"name": STR, "role": STR, "created_utc_ms": nullable(INT), "created_by": nullable(STR),
                             "last_used_utc_ms": nullable(INT)}},
    "Settings": {"type": "object", "description": "section -> field -> value (docs: core/config.py schema)"},
    "ModbusAccess": {"type": "object", "additionalProperties": False,
                     "properties": {"write_enable": BOOL,
                                    "allow": {"type": "array", "maxItems": 16, "items": STR,
                                              "description": "IPv4 addresses or CIDR blocks that may connect"}}},
    "Health": {"type": "object", "required": ["ok", "devices", "overruns", "loop_lateness_us", "failsafe"],
               "properties": {"ok": BOOL, "devices": OBJ, "overruns": INT, "polls": INT,
                              "loop_lateness_us": {
                                  "type": "object", "required": ["worst", "recent", "hist_ms"],
                                  "properties": {"worst": INT, "recent": INT,
                                                 "hist_ms": {"type": "array", "items": INT, "minItems": 16,
                                                             "maxItems": 16, "description":
                                                             "polls since boot by lateness: item k counts "
                                                             "[k, k+1) ms, the last 15 ms and over"}}},
                              "failsafe": nullable(OBJ), "task_failures": OBJ, "event_seq": INT, "uptime_s": INT,
                              "uplinks": OBJ, "heap": {"type": "object", "properties": {"alloc": INT, "free": INT}}}},
    "Calibration": {"type": "object", "required": ["version"],
                    "properties": {"version": INT, "calibrated": BOOL, "timestamp_utc": STR, "time_valid": BOOL,
                                   "fixture": STR, "channels": INT, "rollback_of": INT,
                                   "previous_version": nullable(INT)}},
}


def body(name):
    return {"required": True, "content": {J: {"schema": ref(name)}}}


def ok(name, code="200", desc="OK"):
    return {code: {"description": desc, "content": {J: {"schema": ref(name)}}}}


def path_id(desc):
    return {"name": "id", "in": "path", "required": True, "description": desc,
            "schema": {"type": "string", "maxLength": 32}}


KIND = {"name": "kind", "in": "query", "description": "win: the latest 10/12-cycle window; sec: the latest 1 s",
        "schema": {"type": "string", "enum": ["win", "sec"], "default": "sec"}}


def q(name, schema, desc):
    return {"name": name, "in": "query", "description": desc, "schema": schema}


ERRORS = {"default": {"description": "error", "content": {J: {"schema": ref("Error")}}}}

# (method, path, open, summary, parameters, request body, responses)
OPERATIONS = [
    ("post", "/api/v1/setup", True, "First boot: set the admin password (refused once set)", [], body("Password"),
     ok("Result", "201", "admin created")),
    ("post", "/api/v1/login", True, "Log in: a session token (Bearer)", [], body("Login"), ok("Session")),
    ("post", "/api/v1/logout", False, "End the calling session", [], None, ok("Result")),
    ("get", "/api/v1/session", False, "Who the caller is", [], None, ok("Identity")),
    ("get", "/api/v1/device", False, "Inventory", [], None, ok("Inventory")),
    ("get", "/api/v1/tree", False, "Object tree: inlet, phases, branches, outlets, groups, sensors", [], None,
     ok("Tree")),
    ("get", "/api/v1/inlet", False, "Inlet phases, neutral (measured, computed) and totals", [KIND], None, ok("Read")),
    ("get", "/api/v1/phases/{id}", False, "One inlet phase (L1..L3)", [path_id("L1, L2 or L3"), KIND], None,
     ok("Read")),
    ("get", "/api/v1/branches", False, "Every branch", [KIND], None, ok("Read")),
    ("get", "/api/v1/branches/{id}", False, "One branch", [path_id("B1.."), KIND], None, ok("Read")),
    ("get", "/api/v1/outlets", False, "Every outlet: state, protection and measurements of one frame", [KIND],
     None, ok("Outlets")),
    ("get", "/api/v1/outlets/{id}", False, "One outlet", [path_id("O1.."), KIND], None, ok("Outlet")),
    ("post", "/api/v1/outlets/{id}/command", False, "Switch an outlet on, off, or cycle it", [path_id("O1..")],
     body("Action"), dict(ok("Result"), **ok("Result", "202", "cycle started"))),
    ("post", "/api/v1/outlets/{id}/reset", False, "Reset a latched, locked-out or cooling-down outlet (audited)",
     [path_id("O1..")], body("Reset"), ok("Result")),
    ("get", "/api/v1/groups", False, "Outlet groups and branches that can be switched together", [], None,
     ok("Settings")),
    ("post", "/api/v1/groups/{id}/command", False, "Switch a group (G1.., B1.., all): on is sequenced",
     [path_id("G1.., B1.. or all")], body("Action"), dict(ok("Result"), **ok("Result", "202", "cycle started"))),
    ("get", "/api/v1/sensors", False, "Air and relay-board temperatures, humidity", [], None, ok("Settings")),
    ("get", "/api/v1/events", False, "Events after a sequence id, oldest first; missed counts ring overwrites",
     [q("since", {"type": "integer", "minimum": 0}, "cursor: the last seq seen (0: from the oldest)"),
      q("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "events per page"),
      q("severity", {"type": "string", "enum": ["info", "notice", "warning", "alarm", "critical"]},
        "at least this severity"),
      q("channel", STR, "only this channel (O3, B1, L2, system, ...)"),
      q("event", STR, "only this event name"),
      q("from", {"type": "integer", "minimum": 0}, "not before this UTC second")], None, ok("Events")),
    ("get", "/api/v1/audit", False, "Audit log: who, when, what (with interface and address), result",
     [q("since", {"type": "integer", "minimum": 0}, "cursor: the last seq seen"),
      q("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "entries per page")], None, ok("Audit")),
    ("get", "/api/v1/records", False, "ETSI ES 202 336-12 data records in a time range",
     [q("from", {"type": "integer", "minimum": 0}, "UTC seconds, inclusive"),
      q("to", {"type": "integer", "minimum": 0}, "UTC seconds, exclusive"),
      q("channel", STR, "one record channel (O3, L1, INLET, inlet, ntc1, ...)"),
      q("level", {"type": "integer", "minimum": 0, "maximum": 2}, "0: period records, 1: hourly, 2: daily"),
      q("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "records per page; next_from continues")],
     None, ok("Records")),
    ("get", "/api/v1/settings", False, "Every setting", [], None, ok("Settings")),
    ("patch", "/api/v1/settings", False, "Change settings: validated as a whole, refused naming each bad field", [],
     body("Settings"), ok("Result")),
    ("get", "/api/v1/users", False, "Users (no secrets)", [], None, ok("Settings")),
    ("post", "/api/v1/users", False, "Add a user", [], body("NewUser"), ok("Result", "201", "created")),
    ("patch", "/api/v1/users/{id}", False, "Change a user's role or password (or your own password)",
     [path_id("user name")], body("UserChange"), ok("Result")),
    ("delete", "/api/v1/users/{id}", False, "Delete a user (never the last admin)", [path_id("user name")], None,
     ok("Result")),
    ("get", "/api/v1/tokens", False, "API tokens (no secrets)", [], None, ok("Settings")),
    ("post", "/api/v1/tokens", False, "Create an API token: the secret is returned once", [], body("NewToken"),
     ok("Result", "201", "created")),
    ("delete", "/api/v1/tokens/{id}", False, "Revoke an API token", [path_id("token name")], None, ok("Result")),
    ("get", "/api/v1/access/uplinks", False, "SNMP, Modbus and MQTT access settings (admin; no secrets)", [],
     None, ok("Settings")),
    ("patch", "/api/v1/access/modbus", False, "Modbus TCP: the write switch and the client allowlist (admin)", [],
     body("ModbusAccess"), ok("Result")),
    ("get", "/api/v1/calibration", False, "Calibration in use", [], None, ok("Calibration")),
    ("get", "/api/v1/health", False, "Devices, error counters, overruns, loop lateness, fail-safe, uplinks, heap",
     [q("collect", {"type": "string", "enum": ["0", "1"]}, "1 (admin): collect garbage first, for the live heap")],
     None, ok("Health")),
    ("get", "/api/v1/openapi.json", False, "This document (gzip)", [], None,
     {"200": {"description": "OpenAPI 3 document", "content": {J: {"schema": OBJ}}}}),
    ("get", "/metrics", False, "Prometheus text exposition", [], None,
     {"200": {"description": "metrics", "content": {"text/plain": {"schema": STR}}}}),
    ("get", "/pee.xml", False, "ETSI ES 202 336-12 PEE XML (Annex C) for a time range",
     [q("from", {"type": "integer", "minimum": 0}, "UTC seconds (default: a day before to)"),
      q("to", {"type": "integer", "minimum": 0}, "UTC seconds (default: now)")], None,
     {"200": {"description": "PEE XML", "content": {"application/xml": {"schema": STR}}}}),
]


def document():
    paths = {}
    for method, path, open_, summary, params, req, responses in OPERATIONS:
        op = {"operationId": method + path.replace("/api/v1", "").replace("/", "_").replace("{", "").replace(
            "}", "").replace(".", "_"), "summary": summary, "responses": dict(responses, **ERRORS)}
        if params:
            op["parameters"] = params
        if req is not None:
            op["requestBody"] = req
        if open_:
            op["security"] = []
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.0.3",
        "info": {"title": "Rack PDU controller REST API", "version": "1.0.0",
                 "description": "Every read needs a viewer identity (a session from /api/v1/login or an API "
                                "token, sent as Authorization: Bearer). Until the admin password is set "
                                "(/api/v1/setup) every other request is refused with 403."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"schemas": SCHEMAS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


def render():
    text = json.dumps(document(), indent=1, sort_keys=True) + "\n"
    gz = gzip.compress(text.encode(), 9, mtime=0)
    mod = ("# Generated by tools/openapi.py from its OPERATIONS: do not edit.\n"
           "# docs/openapi.json, gzip-compressed, served at /api/v1/openapi.json.\n"
           "GZ = %r\n" % gz)
    return text, mod


def main(argv=None):
    ap = argparse.ArgumentParser(prog="tools.openapi", description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the files are out of date")
    a = ap.parse_args(argv)
    text, mod = render()
    if a.check:
        stale = [str(p.relative_to(ROOT)) for p, t in ((DOC, text), (MOD, mod))
                 if not p.exists() or p.read_text() != t]
        if stale:
            print("out of date: %s (run python -m tools.openapi)" % ", ".join(stale), file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text)
    MOD.write_text(mod)
    print("wrote %s (%d bytes) and %s (%d bytes gzip)" % (DOC.relative_to(ROOT), len(text),
                                                           MOD.relative_to(ROOT), len(gzip.compress(text.encode(), 9, mtime=0))))
    return 0


if __name__ == "__main__":
    sys.exit(main())

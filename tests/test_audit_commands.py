"""Every operator command lands in the audit log with who, when, what and result."""
from mputil import run_mp_json


def test_outlet_commands_are_audited():
    ents = run_mp_json(script="tests/mp/audit_commands.py")[0]
    assert [(e["who"], e["what"], e["result"]) for e in ents] == [
        ("alice@web", "outlet 3 on", "ok"),
        ("bob@snmp", "outlet 3 off", "ok"),
        ("carol@modbus", "outlet 3 on (feedback off)", "failed"),     # closed into a short: tripped
        ("dave@web", "outlet 3 on (feedback off)", "refused"),        # latched until an audited reset
    ]
    assert all(e["kind"] == "command" for e in ents)
    t = [e["utc_ms"] for e in ents]
    assert t == sorted(t) and t[0] >= 1767225600000

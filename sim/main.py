# Entry point on the unix port: `micropython -m firmware.main [options]`.
# (On the MCU, /main.py boots the board named in its board file instead.)
#   --board NAME        board description (default sim24)
#   --seed N            plant seed (repeatable runs)
#   --virtual           run in virtual time (with --duration)
#   --duration S        stop after S seconds (default: run until interrupted)
#   --uart-fd N         host fd of the RS-485 line (a pseudo-terminal made by tools.run)
#   --uart-path P       its path, for the banner
#   --fram-file P       backing file of the simulated FRAM (state survives restarts)
#   --http-port/--modbus-port/--snmp-port/--mqtt-port N
import sys
from firmware.boot import Pdu


def _args(argv):
    opts = {"board": "sim24", "seed": 1, "virtual": False, "duration": None, "uart-fd": None,
            "uart-path": None, "fram-file": None, "http-port": 8080, "modbus-port": 5020,
            "snmp-port": 1161, "mqtt-port": 1883}
    i = 0
    while i < len(argv):
        a = argv[i]
        if not a.startswith("--") or a[2:] not in opts:
            raise SystemExit("unknown option %r" % a)
        k = a[2:]
        if k == "virtual":
            opts[k] = True
        else:
            i += 1
            v = argv[i]
            opts[k] = v if k in ("board", "uart-path", "fram-file") else (
                float(v) if k == "duration" else int(v))
        i += 1
    return opts


def main(argv):
    o = _args(argv)
    sim = {"seed": o["seed"]}
    if o["uart-fd"] is not None:
        sim["uart_fd"] = o["uart-fd"]
    if o["fram-file"]:
        sim["fram_file"] = o["fram-file"]
    pdu = Pdu(o["board"], virtual=o["virtual"], console=print, **sim)
    b = pdu.board
    print("PDU firmware %s on board %s (%s), %s time, plant seed %d" % (
        "0.1.0", b.name, b.desc.MCU, "virtual" if o["virtual"] else "real", o["seed"]))
    print("sampling: %d Hz on %d ADS131M04 groups + ADE9000 inlet" % (b.desc.SAMPLE_RATE, len(pdu.adcs)))
    for name, d in pdu.health.report().items():
        print("device %-11s %-10s %s" % (name, d["part"], "ok" if d["ok"] else "FAULT: " + d.get("error", "")))
    print("interfaces (reserved local contract; servers arrive with their own issues):")
    print("  HTTP        http://127.0.0.1:%d/" % o["http-port"])
    print("  Modbus TCP  127.0.0.1:%d" % o["modbus-port"])
    print("  SNMP        udp 127.0.0.1:%d" % o["snmp-port"])
    print("  MQTT        broker expected at 127.0.0.1:%d" % o["mqtt-port"])
    print("  Modbus RTU  %s" % (o["uart-path"] or "(no line)"))
    print("status every %d s; Ctrl-C stops" % 5)
    try:
        pdu.run(o["duration"])
    except KeyboardInterrupt:
        pass
    print("stopped: %s" % pdu.status_line())


main(sys.argv[1:])

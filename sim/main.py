# Entry point of the simulated PDU on the unix port: `micropython -m sim.main [options]`
# (`make run` starts it through tools.run). On the MCU, /main.py boots the board instead.
#   --board NAME        board description (default sim24)
#   --seed N            plant seed (repeatable runs)
#   --virtual           run in virtual time (with --duration)
#   --duration S        stop after S seconds (default: run until interrupted)
#   --uart-fd N         host fd of the RS-485 line: a pseudo-terminal made by tools.run,
#                       non-blocking (os.set_blocking(fd, False)): sim/hw.UART reads what is there
#   --uart-path P       its path, for the banner
#   --fram-file P       backing file of the simulated FRAM (state survives restarts)
#   --flash-file P      backing file of the simulated record flash
#   --scenario P        scenario JSON: loads plugged at boot and timed events
#   --http-port/--modbus-port/--snmp-port/--mqtt-port N
#   --https-port N --tls-cert CERT.der --tls-key KEY.der   HTTPS as well
#   --http-conns N      connection slots per HTTP server (default comms/httpd.MAX_CONNS)
import sys
from sim.jsonfile import InputError, fail

_STR = ("board", "uart-path", "fram-file", "flash-file", "scenario", "tls-cert", "tls-key")


def _args(argv):
    opts = {"board": "sim24", "seed": 1, "virtual": False, "duration": None, "uart-fd": None,
            "uart-path": None, "fram-file": None, "flash-file": None, "scenario": None, "http-port": 8080, "modbus-port": 5020,
            "snmp-port": 1161, "mqtt-port": 1883, "https-port": None, "tls-cert": None, "tls-key": None, "http-conns": None}
    i = 0
    while i < len(argv):
        a = argv[i]
        if not a.startswith("--") or a[2:] not in opts:
            raise InputError("unknown option %r (options: %s)" % (a, ", ".join("--" + k for k in sorted(opts))))
        k = a[2:]
        if k == "virtual":
            opts[k] = True
        else:
            i += 1
            if i >= len(argv):
                raise InputError("%s needs a value" % a)
            v = argv[i]
            if k in _STR:
                opts[k] = v
            else:
                try:
                    opts[k] = float(v) if k == "duration" else int(v)
                except ValueError:
                    raise InputError("%s: %r is not %s" % (a, v, "a number" if k == "duration" else "an integer"))
                if k == "duration" and not opts[k] > 0:
                    raise InputError("%s: must be > 0 seconds" % a)
                if k == "http-conns" and not 1 <= opts[k] <= 64:
                    raise InputError("%s: 1..64 connections" % a)
                if k.endswith("-port") and not 0 < opts[k] < 65536:
                    raise InputError("%s: %d is not a port number" % (a, opts[k]))
        i += 1
    if opts["virtual"] and opts["duration"] is None:
        raise InputError("--virtual needs --duration")
    if (opts["https-port"] is None) != (opts["tls-cert"] is None) or (opts["tls-cert"] is None) != (
            opts["tls-key"] is None):
        raise InputError("--https-port, --tls-cert and --tls-key go together (certificate and key: DER files)")
    return opts


def _listen(o):
    listen = {"http": ("127.0.0.1", o["http-port"]), "modbus": ("127.0.0.1", o["modbus-port"]),
              "rtu": o["uart-fd"] is not None}
    if o["http-conns"] is not None:
        listen["max_conns"] = o["http-conns"]
    if o["https-port"] is not None:
        try:
            with open(o["tls-cert"], "rb") as f:
                cert = f.read()
            with open(o["tls-key"], "rb") as f:
                key = f.read()
        except OSError as e:
            raise InputError("--tls-cert/--tls-key: %s" % e)
        listen["https"] = ("127.0.0.1", o["https-port"], cert, key)
    return listen


def main(argv):
    try:
        o = _args(argv)
        from sim import scenario
        desc = scenario.board_desc(o["board"], "--board")
        sc = None
        prot = None
        if o["scenario"]:
            # checked completely against the board before anything starts
            sc, prot = scenario.load(o["scenario"], desc)
        listen = _listen(o)
    except InputError as e:
        fail(str(e))
    from sim.pdu import sim_pdu
    sim = {"seed": o["seed"]}
    if o["uart-fd"] is not None:
        sim["uart_fd"] = o["uart-fd"]
    if o["fram-file"]:
        sim["fram_file"] = o["fram-file"]
    if o["flash-file"]:
        sim["flash_file"] = o["flash-file"]
    if sc is not None:
        sim["seed"] = int(sc.get("seed", o["seed"]))
    pdu = sim_pdu(o["board"], virtual=o["virtual"], console=print,
              power_on=(sc or {}).get("power_on", "all"), stagger_ms=int((sc or {}).get("stagger_ms", 250)),
              prot_values=prot or None, listen=listen, **sim)
    if sc is not None:
        pdu.extra_tasks.append(scenario.apply(pdu, sc))
    b = pdu.board
    print("PDU firmware %s on board %s (%s), %s time, plant seed %d%s" % (
        "0.1.0", b.name, b.desc.MCU, "virtual" if o["virtual"] else "real", sim["seed"],
        (", scenario " + o["scenario"]) if o["scenario"] else ""))
    print("sampling: %d Hz on %d ADS131M04 groups + ADE9000 inlet" % (b.desc.SAMPLE_RATE, len(pdu.adcs)))
    print("boot #%d; event log: %d events since first boot" % (pdu.boot_count, pdu.events.next_seq - 1))
    for name, d in pdu.health.report().items():
        print("device %-11s %-10s %s" % (name, d["part"], "ok" if d["ok"] else "FAULT: " + d.get("error", "")))
    print("interfaces (SNMP and MQTT: ports reserved, servers arrive with their own issues):")
    print("  HTTP        http://127.0.0.1:%d/  (REST /api/v1, /metrics, /pee.xml)" % o["http-port"])
    if o["https-port"] is not None:
        print("  HTTPS       https://127.0.0.1:%d/" % o["https-port"])
    print("  Modbus TCP  127.0.0.1:%d  (SunSpec map at 40000; clients listed in the access store)" % o["modbus-port"])
    print("  SNMP        udp 127.0.0.1:%d" % o["snmp-port"])
    print("  MQTT        broker expected at 127.0.0.1:%d" % o["mqtt-port"])
    print("  Modbus RTU  %s" % (("%s  (unit %d, %d baud, %s)" % (
        o["uart-path"] or "fd %d" % o["uart-fd"], pdu.config["modbus.unit_id"], pdu.config["modbus.rtu_baud"],
        "8E1" if pdu.config["modbus.rtu_parity"] == "even" else "8N1")) if o["uart-fd"] is not None else "(no line)"))
    if pdu.access.needs_setup():
        print("first boot: no user yet. Set the admin password (nothing else answers until then):")
        print("  curl -X POST http://127.0.0.1:%d/api/v1/setup -H 'Content-Type: application/json' "
              "-d '{\"password\": \"<at least 8 characters>\"}'" % o["http-port"])
    print("status every %d s; Ctrl-C stops" % 5)
    import time
    t0 = time.ticks_ms()
    try:
        pdu.run(o["duration"])
    except KeyboardInterrupt:
        pass
    wall = time.ticks_diff(time.ticks_ms(), t0) / 1000.0
    print("stopped: %s frames=%d in %.2f s" % (pdu.status_line(), pdu.acq.frames_total, wall))


main(sys.argv[1:])

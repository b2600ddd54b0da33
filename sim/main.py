# Entry point of the simulated PDU on the unix port: `micropython -m sim.main [options]`
# (`make run` starts it through tools.run). On the MCU, /main.py boots the board instead.
#   --board NAME        board description (default sim24)
#   --seed N            plant seed (repeatable runs)
#   --virtual           run in virtual time (with --duration)
#   --duration S        stop after S seconds (default: run until interrupted)
#   --uart-fd N         host fd of the RS-485 line (a pseudo-terminal made by tools.run)
#   --uart-path P       its path, for the banner
#   --fram-file P       backing file of the simulated FRAM (state survives restarts)
#   --flash-file P      backing file of the simulated record flash
#   --scenario P        scenario JSON: loads plugged at boot and timed events
#   --http-port/--modbus-port/--snmp-port/--mqtt-port N
import sys
from sim.pdu import sim_pdu


def _args(argv):
    opts = {"board": "sim24", "seed": 1, "virtual": False, "duration": None, "uart-fd": None,
            "uart-path": None, "fram-file": None, "flash-file": None, "scenario": None, "http-port": 8080, "modbus-port": 5020,
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
            opts[k] = v if k in ("board", "uart-path", "fram-file", "flash-file", "scenario") else (
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
    if o["flash-file"]:
        sim["flash_file"] = o["flash-file"]
    sc = None
    if o["scenario"]:
        import json
        from sim import scenario
        with open(o["scenario"]) as f:
            sc = json.load(f)
        scenario.validate(sc)
        sim["seed"] = int(sc.get("seed", o["seed"]))
    pdu = sim_pdu(o["board"], virtual=o["virtual"], console=print,
              power_on=(sc or {}).get("power_on", "all"), stagger_ms=int((sc or {}).get("stagger_ms", 250)),
              **sim)
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
    print("interfaces (reserved local contract; servers arrive with their own issues):")
    print("  HTTP        http://127.0.0.1:%d/" % o["http-port"])
    print("  Modbus TCP  127.0.0.1:%d" % o["modbus-port"])
    print("  SNMP        udp 127.0.0.1:%d" % o["snmp-port"])
    print("  MQTT        broker expected at 127.0.0.1:%d" % o["mqtt-port"])
    print("  Modbus RTU  %s" % (o["uart-path"] or "(no line)"))
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

# Boot step 5's uplinks: the management plane (model, command service, access
# store) built once from the Pdu's parts, and the servers on it. Uplinks see
# only the model, the command service and the access store.
#
#   listen = {"http": (host, port), "https": (host, port, cert_der, key_der),
#             "modbus": (host, port) (Modbus TCP), "rtu": True (Modbus RTU on the RS-485 line),
#             "max_conns": n (optional: connection slots per server, comms/httpd.MAX_CONNS by default)}
# On the MCU boot listens on the configured ports (network.http_port; HTTPS
# when a certificate and key are installed on the record flash as
# /tls/cert.der and /tls/key.der); the simulation passes its own.
from comms.model import Model
from comms.commands import Commands
from comms.rest import Api
from comms.httpd import HttpServer
from comms import openapi_doc    # the API document (gzip bytes; in flash on the MCU)

HOUSEKEEP_MS = 60000       # access store: expired sessions and login counters


class Uplinks:
    def __init__(self, pdu, listen):
        self.listen = listen
        self.model = Model(desc=pdu.board.desc, clock=pdu.clock, snapshot=pdu.metro.snapshot,
                           events=pdu.events, health=pdu.health, acq=pdu.acq, outlets=pdu.outlets,
                           protection=pdu.protection, config=pdu.config, cal=pdu.cal, records=pdu.records,
                           supervisor=pdu.supervisor, env=pdu.env, boot_count=pdu.boot_count,
                           fw_version=pdu.fw_version, audit=pdu.audit)
        self.access = pdu.access
        self.access.pace = self.model.pace     # password derivations paced like uplink work
        self.commands = Commands(outlets=pdu.outlets, protection=pdu.protection, config=pdu.config,
                                 audit=pdu.audit, events=pdu.events, access=self.access, model=self.model,
                                 clock=pdu.clock)
        self.stats = {}            # uplink name -> its counters (health, /metrics)
        self.api = Api(self.model, self.commands, self.access, openapi_gz=_openapi_gz, uplinks=self.stats)
        self.servers = []
        self.clock = pdu.clock
        self._modbus = None
        self._board = pdu.board
        self._config = pdu.config

    def tasks(self):
        """(name, coroutine factory) of the uplinks' tasks for the supervisor."""
        out = [("access", self._housekeep)]
        for name in ("http", "https"):
            a = self.listen.get(name)
            if a is None:
                continue
            ssl = None
            if name == "https":
                import tls
                ssl = tls.SSLContext(tls.PROTOCOL_TLS_SERVER)
                ssl.load_cert_chain(a[2], a[3])
            conns = self.listen.get("max_conns")
            srv = HttpServer(self.api.handle, name=name, ssl=ssl, clock=self.clock, pace=self.model.pace,
                             **({"max_conns": conns} if conns else {}))
            self.stats[name] = srv.stats
            self.servers.append(srv)
            out.append((name, _serve(srv, a[0], a[1])))
        a = self.listen.get("modbus")
        if a is not None:
            from comms.modbus_tcp import ModbusTcpServer
            srv = ModbusTcpServer(self.modbus(), self.access, pace=self.model.pace)
            self.servers.append(srv)
            out.append(("modbus", _serve(srv, a[0], a[1])))
        if self.listen.get("rtu"):
            out.append(("modbus_rtu", self._rtu().run))
        return out

    def _rtu(self):
        """The Modbus RTU slave on the board's RS-485 line, set up from the
        config (modbus.rtu_baud, rtu_parity, unit_id)."""
        from drivers.rs485 import RS485
        from comms.modbus_rtu import ModbusRtuServer
        b = self._board
        cfg = self._config
        d = b.desc.UARTS["rs485"]
        even = cfg["modbus.rtu_parity"] == "even"
        u = b.uart("rs485")
        u.init(baudrate=cfg["modbus.rtu_baud"], bits=8, parity=0 if even else None, stop=1)
        de = b.pin(d["de"], b.hw.Pin.OUT, value=0)
        line = RS485(u, de, baudrate=cfg["modbus.rtu_baud"], char_bits=11 if even else 10)
        srv = ModbusRtuServer(self.modbus(), line, cfg["modbus.unit_id"], self.access.modbus_write_enabled,
                              pace=self.model.pace, clock=self.clock)
        self.stats["modbus_rtu"] = srv.stats
        return srv

    def modbus(self):
        """The one Modbus request handler (SunSpec map) every Modbus transport shares."""
        if self._modbus is None:
            from comms.modbus import ModbusHandler
            from comms.sunspec import SunSpecMap
            st = self.stats["modbus"] = {}
            self._modbus = ModbusHandler(SunSpecMap(self.model, self.commands), self.model, st)
        return self._modbus

    async def _housekeep(self):
        while True:
            await self.clock.sleep_ms(HOUSEKEEP_MS)
            self.access.housekeep()

    def close(self):
        for s in self.servers:
            s.close()


def _serve(srv, host, port):
    async def run():
        import asyncio
        await srv.start(host, port)
        while True:
            await asyncio.sleep(3600)
    return run


def _openapi_gz():
    return openapi_doc.GZ


def default_listen(config, fs):
    """The MCU's listeners: HTTP on network.http_port, Modbus TCP on
    network.modbus_port; HTTPS on
    network.https_port (0: off) with /tls/cert.der and /tls/key.der."""
    out = {"http": ("0.0.0.0", config["network.http_port"]), "modbus": ("0.0.0.0", config["network.modbus_port"]),
           "rtu": True}
    port = config["network.https_port"]
    if port and fs is not None:
        try:
            with fs.open("/tls/cert.der", "rb") as f:
                cert = f.read()
            with fs.open("/tls/key.der", "rb") as f:
                key = f.read()
            out["https"] = ("0.0.0.0", port, cert, key)
        except OSError:
            pass
    return out

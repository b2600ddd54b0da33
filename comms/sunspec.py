# The SunSpec register map of the management model, for the Modbus uplink
# (comms/modbus.py). Standard clients find it on their own: the "SunS" marker
# at BASE, then models, each [ID, L, L registers of points], then the end
# marker [0xFFFF, 0].
#
#   smap = SunSpecMap(model, commands)
#   smap.blocks                   [(addr, model id, length with header, object id or None, name)]
#   smap.read(addr, n, out)       n registers from addr into out (bytearray, 2 n bytes, big-endian)
#                                 -> 0, or a Modbus exception code (2: not in the map)
#   await smap.write(addr, regs, ident, peer)   regs: list of ints -> 0 or an exception code
# docs/modbus.md is generated from these blocks and offsets (tools/modbus_doc.py).
#
# Models (docs/modbus.md lists every register):
#   1      common: manufacturer, model (board), options (hw rev), version, serial, device address
#   203    three-phase wye meter: the inlet (L1-L3 and totals)
#   201    single-phase meter: each branch B1.., then each outlet O1..
#   64120  vendor "pdu_outlets": per outlet its state, control, protection state,
#          last trip reason; the last Modbus command's result
# Scale factors are fixed (SF registers hold them): current 0.01 A, voltage
# 0.1 V, frequency 0.01 Hz, power 1 W/VA/var, PF 0.1 %, energy 1 Wh. A value
# the snapshot does not have (NaN, not measured) reads as SunSpec's "not
# implemented" (int16 0x8000; acc32 0).
#
# One request reads one frame: read() runs without yielding, so the 1 s frame
# it encodes from cannot be republished under it (its seq is checked anyway).
from micropython import const
from metrology.snapshot import NQ, Q, NE
from comms.model import PROT_STATES

BASE = const(40000)
NOT_IMPL = const(0x8000)      # int16 / sunssf not implemented
VENDOR_ID = const(64120)
_MJ_PER_WH = const(3600000)

SF_A = -2
SF_V = -1
SF_HZ = -2
SF_W = 0
SF_PF = -1
SF_WH = 0

# exception codes (Modbus application protocol, section 7)
EX_ILLEGAL_FUNCTION = const(1)
EX_ILLEGAL_ADDRESS = const(2)
EX_ILLEGAL_VALUE = const(3)
EX_DEVICE_FAILURE = const(4)

# models 201 and 203 share one layout (105 registers after ID and L); the
# offsets of the points this map fills:
_M_A, _M_APH, _M_A_SF = 0, 1, 4
_M_PHV, _M_PHVPH, _M_V_SF = 5, 6, 13
_M_HZ, _M_HZ_SF = 14, 15
_M_W, _M_WPH, _M_W_SF = 16, 17, 20
_M_VA, _M_VAPH, _M_VA_SF = 21, 22, 25
_M_VAR, _M_VARPH, _M_VAR_SF = 26, 27, 30
_M_PF, _M_PFPH, _M_PF_SF = 31, 32, 35
_M_WHEXP, _M_WHEXPPH = 36, 38        # acc32, 2 registers each
_M_WHIMP, _M_WHIMPPH = 44, 46
_M_WH_SF, _M_VAH_SF, _M_VARH_SF, _M_EVT = 52, 69, 102, 103
METER_LEN = const(105)
COMMON_LEN = const(66)
# vendor model: a fixed part, then OUTLET_REGS registers per outlet
_V_FIXED = 4                  # N, CmdSt, CmdOutlet, Held
OUTLET_REGS = 4               # St, Ctl, Prot, Rsn
# last command result (vendor CmdSt): 0 none, then the command service's results
CMD_RESULTS = ("none", "done", "accepted", "not permitted", "invalid", "latched", "lockout", "cooldown",
               "limit", "failsafe", "failed")
# last trip reason (vendor Rsn), from the protection cause text
TRIP_REASONS = ("none", "overcurrent", "instantaneous", "thermal", "residual", "upstream", "other")
OUTLET_STATES = ("off", "on", "unknown")
# the points of models 201/203 this map fills (the rest read "not implemented");
# tools/modbus_doc.py documents them, tests/test_modbus.py checks them
METER_POINTS = {
    203: ("A", "AphA", "AphB", "AphC", "A_SF", "PhV", "PhVphA", "PhVphB", "PhVphC", "V_SF", "Hz", "Hz_SF",
          "W", "WphA", "WphB", "WphC", "W_SF", "VA", "VAphA", "VAphB", "VAphC", "VA_SF", "VAR", "VARphA",
          "VARphB", "VARphC", "VAR_SF", "PF", "PFphA", "PFphB", "PFphC", "PF_SF", "TotWhExp", "TotWhExpPhA",
          "TotWhExpPhB", "TotWhExpPhC", "TotWhImp", "TotWhImpPhA", "TotWhImpPhB", "TotWhImpPhC", "TotWh_SF",
          "Evt"),
    201: ("A", "AphA", "A_SF", "PhV", "PhVphA", "V_SF", "Hz", "Hz_SF", "W", "WphA", "W_SF", "VA", "VAphA",
          "VA_SF", "VAR", "VARphA", "VAR_SF", "PF", "PFphA", "PF_SF", "TotWhExp", "TotWhExpPhA", "TotWhImp",
          "TotWhImpPhA", "TotWh_SF", "Evt"),
}


def _trip_reason(cause):
    if not cause:
        return 0
    c = cause.lower()
    if c[0] in "bl" and c[1:2].isdigit() or c.startswith("inlet"):
        return 5                               # a branch, phase or inlet zone opened the outlet
    for k, word in ((2, "instant"), (2, "short"), (3, "thermal"), (4, "residual"), (1, "overcurrent"),
                    (1, "oc")):
        if word in c:
            return k
    return 6


def _put16(out, r, v):
    out[2 * r] = (v >> 8) & 0xFF
    out[2 * r + 1] = v & 0xFF


def _put32(out, r, v):
    _put16(out, r, (v >> 16) & 0xFFFF)
    _put16(out, r + 1, v & 0xFFFF)


def _s16(v, sf):
    """A float in int16 units of 10^sf, saturated; NaN/None -> not implemented."""
    if v is None or v != v:
        return NOT_IMPL
    x = v * 10 ** -sf
    x = int(x + 0.5) if x >= 0 else -int(-x + 0.5)
    if x > 32767:
        x = 32767
    elif x < -32767:
        x = -32767
    return x & 0xFFFF


def _str(out, r, n, s):
    b = s.encode()[:2 * n]
    for i in range(2 * n):
        out[2 * r + i] = b[i] if i < len(b) else 0


class SunSpecMap:
    def __init__(self, model, commands):
        self.model = model
        self.commands = commands
        self.outlets = model.outlet_numbers()
        self.last_cmd = 0          # CMD_RESULTS index of the last write's result
        self.last_outlet = 0
        self.blocks = []           # (addr, model id, length with ID and L, object id, name)
        a = BASE + 2
        a = self._add(a, 1, COMMON_LEN, None, "common")
        a = self._add(a, 203, METER_LEN, "INLET", "inlet")
        for b in model.branch_ids:
            a = self._add(a, 201, METER_LEN, b, "branch " + b)
        for n in self.outlets:
            a = self._add(a, 201, METER_LEN, "O%d" % n, "outlet O%d" % n)
        a = self._add(a, VENDOR_ID, _V_FIXED + OUTLET_REGS * len(self.outlets), None, "pdu_outlets")
        self.end = a + 2            # after the end marker
        self._scratch = bytearray(2 * (2 + METER_LEN if METER_LEN > _V_FIXED + OUTLET_REGS * len(self.outlets)
                                       else 2 + _V_FIXED + OUTLET_REGS * len(self.outlets)))

    def _add(self, a, mid, length, obj, name):
        self.blocks.append((a, mid, length + 2, obj, name))
        return a + length + 2

    def vendor_addr(self):
        return self.blocks[-1][0]

    # --- reads ---------------------------------------------------------------------------
    def read(self, addr, n, out):
        """n registers from addr (a SunSpec client may probe BASE - 1 for base
        1 and BASE for base 0: the Modbus server maps both, see modbus.py)."""
        if addr < BASE or addr + n > self.end:
            return EX_ILLEGAL_ADDRESS
        fr = self.model.frame("sec")
        seq = fr.seq if fr is not None else 0
        end = addr + n
        if addr < BASE + 2:
            hdr = b"SunS"
            for r in range(addr, min(end, BASE + 2)):
                i = r - BASE
                out[2 * (r - addr)] = hdr[2 * i]
                out[2 * (r - addr) + 1] = hdr[2 * i + 1]
        sc = self._scratch
        for b in self.blocks:
            a0, mid, ln = b[0], b[1], b[2]
            if a0 + ln <= addr or a0 >= end:
                continue
            self._encode(b, fr, sc)
            lo = addr if addr > a0 else a0
            hi = end if end < a0 + ln else a0 + ln
            out[2 * (lo - addr):2 * (hi - addr)] = sc[2 * (lo - a0):2 * (hi - a0)]
        e0 = self.end - 2
        for r in range(max(addr, e0), end):
            _put16(out, r - addr, 0xFFFF if r == e0 else 0)
        if fr is not None and fr.seq != seq:
            return self.read(addr, n, out)      # republished meanwhile (cannot happen without a yield)
        return 0

    def _encode(self, b, fr, sc):
        mid, ln, obj = b[1], b[2], b[3]
        _put16(sc, 0, mid)
        _put16(sc, 1, ln - 2)
        for i in range(4, 2 * ln):
            sc[i] = 0
        if mid == 1:
            self._common(sc)
        elif mid == VENDOR_ID:
            self._vendor(sc)
        else:
            self._meter(sc, fr, obj, mid == 203)

    def _common(self, sc):
        inv = self.model.inventory()
        _str(sc, 2, 16, "Rack PDU project")
        _str(sc, 18, 16, "PDU-" + str(inv.get("board", "")))
        _str(sc, 34, 8, "hw " + str(inv.get("hw_rev", "")))
        _str(sc, 42, 8, str(inv.get("fw_version", "")))
        _str(sc, 50, 16, str(inv.get("serial", "")))
        _put16(sc, 66, self.model.config["modbus.unit_id"])
        _put16(sc, 67, NOT_IMPL)    # Pad

    def _meter(self, sc, fr, obj, wye):
        m = self.model
        snap = m.snapshot
        base = 2
        for off, sf in ((_M_A_SF, SF_A), (_M_V_SF, SF_V), (_M_HZ_SF, SF_HZ), (_M_W_SF, SF_W),
                        (_M_VA_SF, SF_W), (_M_VAR_SF, SF_W), (_M_PF_SF, SF_PF), (_M_WH_SF, SF_WH)):
            _put16(sc, base + off, sf & 0xFFFF)
        for off in (_M_VAH_SF, _M_VARH_SF):
            _put16(sc, base + off, NOT_IMPL)
        for off in range(_M_A, _M_WHEXP):   # every int16 point not implemented until set below
            if off not in (_M_A_SF, _M_V_SF, _M_HZ_SF, _M_W_SF, _M_VA_SF, _M_VAR_SF, _M_PF_SF):
                _put16(sc, base + off, NOT_IMPL)
        if fr is None:
            return
        vals = fr.values
        idx = snap.index

        def get(ch, qn):
            i = idx.get(ch)
            if i is None or qn not in snap.quantities.get(ch, ()):
                return None
            return vals[i * NQ + Q[qn]]

        def wh(ch, k):
            j = snap.eindex.get(ch)
            if j is None or fr.energy is None:
                return 0
            e = fr.energy[NE * j + k] // _MJ_PER_WH
            return e & 0xFFFFFFFF if e >= 0 else 0
        phases = m.phase_ids if wye else (obj,)
        # per phase (wye: L1-L3 in A, B, C; single phase: the object in phase A)
        tot_a = 0.0
        v_sum = 0.0
        nv = 0
        for k, ph in enumerate(phases):
            ia = get(ph, "irms")
            _put16(sc, base + _M_APH + k, _s16(ia, SF_A))
            if ia is not None and ia == ia and tot_a is not None:
                tot_a += ia
            else:
                tot_a = None
            v = get(ph, "vrms")
            _put16(sc, base + _M_PHVPH + k, _s16(v, SF_V))
            if v is not None and v == v:
                v_sum += v
                nv += 1
            _put16(sc, base + _M_WPH + k, _s16(get(ph, "p_w"), SF_W))
            _put16(sc, base + _M_VAPH + k, _s16(get(ph, "s_va"), SF_W))
            _put16(sc, base + _M_VARPH + k, _s16(get(ph, "q_var"), SF_W))
            pf = get(ph, "pf")
            _put16(sc, base + _M_PFPH + k, _s16(None if pf is None else pf * 100, SF_PF))
            _put32(sc, base + _M_WHEXPPH + 2 * k, wh(ph, 1))
            _put32(sc, base + _M_WHIMPPH + 2 * k, wh(ph, 0))
        tot = "INLET" if wye else obj
        _put16(sc, base + _M_A, _s16(tot_a, SF_A))
        _put16(sc, base + _M_PHV, _s16(v_sum / nv if nv else None, SF_V))
        _put16(sc, base + _M_HZ, _s16(get(phases[0], "f_hz"), SF_HZ))
        _put16(sc, base + _M_W, _s16(get(tot, "p_w"), SF_W))
        _put16(sc, base + _M_VA, _s16(get(tot, "s_va"), SF_W))
        _put16(sc, base + _M_VAR, _s16(get(tot, "q_var"), SF_W))
        pf = get(tot, "pf")
        _put16(sc, base + _M_PF, _s16(None if pf is None else pf * 100, SF_PF))
        _put32(sc, base + _M_WHEXP, wh(tot, 1))
        _put32(sc, base + _M_WHIMP, wh(tot, 0))
        _put32(sc, base + _M_EVT, 0)

    def _vendor(self, sc):
        m = self.model
        base = 2
        _put16(sc, base, len(self.outlets))
        _put16(sc, base + 1, self.last_cmd)
        _put16(sc, base + 2, self.last_outlet)
        _put16(sc, base + 3, 1 if m.held() else 0)
        for k, n in enumerate(self.outlets):
            r = base + _V_FIXED + OUTLET_REGS * k
            st = m.outlet_state(n)
            ps = st["protection"]
            _put16(sc, r, OUTLET_STATES.index(st["state"]))
            _put16(sc, r + 1, 1 if st["commanded"] == "on" else 0)
            s = ps["state"]
            _put16(sc, r + 2, PROT_STATES.index(s) if s in PROT_STATES else 0xFFFF)
            _put16(sc, r + 3, _trip_reason(ps.get("reason")))

    # --- writes --------------------------------------------------------------------------
    def writable(self, addr, n):
        """Whether every register of [addr, addr + n) is an outlet's Ctl register."""
        v0 = self.vendor_addr() + 2 + _V_FIXED
        for r in range(addr, addr + n):
            k, o = divmod(r - v0, OUTLET_REGS)
            if r < v0 or k >= len(self.outlets) or o != 1:
                return False
        return True

    async def write(self, addr, regs, ident, iface, peer):
        """Outlet control through the command service: 0 off, 1 on, 2 cycle.
        -> 0, or an exception code (2: not writable, 3: bad value, 4: refused;
        the vendor CmdSt register then says why)."""
        if not self.writable(addr, len(regs)):
            return EX_ILLEGAL_ADDRESS
        for v in regs:
            if v > 2:
                return EX_ILLEGAL_VALUE
        v0 = self.vendor_addr() + 2 + _V_FIXED
        for i, v in enumerate(regs):
            if i:
                await self.model.pace()     # each command audits and switches: one per slice
            n = self.outlets[(addr + i - v0) // OUTLET_REGS]
            ex = await self.outlet(n, ("off", "on", "cycle")[v], ident, iface, peer)
            if ex:
                return ex
        return 0

    async def outlet(self, n, action, ident, iface, peer):
        r = await self.commands.outlet(ident, iface, peer, n, action)
        res = r.get("result")
        self.last_outlet = n
        self.last_cmd = CMD_RESULTS.index(res) if res in ("done", "accepted") else \
            (CMD_RESULTS.index(r.get("reason")) if r.get("reason") in CMD_RESULTS else len(CMD_RESULTS) - 1)
        return 0 if res in ("done", "accepted") else EX_DEVICE_FAILURE

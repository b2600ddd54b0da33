# The board's metrology: units over the acquisition buffers, derived channels
# (branch sums, computed neutral), output channels, energy and the snapshot.
#
# Wiring (firmware/boot.py):
#     metro = Metrology(board.desc, clock=clock, energy=energy, events=events)
#     metro.attach(acq)                     # builds units for the chips that answered
#     metro.load_calibration(calstore.current)
#     calstore.listeners.append(metro.load_calibration)
# attach() appends metro.consume to acq.consumers: after every poll each unit
# runs the viper kernel over its new frames; cycles, windows and seconds close
# inside consume(); frame k of the snapshot is published once every live unit
# has closed its k-th window (10/12 cycles) or second.
#
# Units (channel 0 times the cycles):
#   G1..G8  one per ADS131M04: [Gk-V, O(3k-2)-I, O(3k-1)-I, O(3k)-I], stride 4
#   BL1..3  one per phase: [first group voltage of the phase, its branch sums],
#           branch current = sample-wise sum of its outlets' currents (all
#           groups are sampled simultaneously: shared CLKIN/SYNC), weighted by
#           each outlet's calibration gain (Q12) and clamped at 24-bit full
#           scale (an overrange sum reads as clipped)
#   L1..L3  the ADE9000 waveform sets: [VA, IA, IN], [VB, IB], [VC, IC], stride 7
#   NC      [VA, IA + IB + IC] (computed neutral, gain-weighted sum)
# Output channels: G1..G8, O1..O24, B1..B6, L1..L3, N, NC, INLET. Branch P, Q
# and energy are the sums of their outlets'; INLET totals are the sums of the
# phases (S_total = sum of phase S: arithmetic apparent power, documented).
import math
from array import array
from drivers.ads131m04 import volts_per_code, amps_per_code
from drivers.ade9000 import CHANNELS as ADE_FRAME     # chip channels in an inlet frame, in order
from metrology import kernel as K
from metrology import cycle as CY
from metrology.windows import (Unit, Chan, KIND_WIN, KIND_SEC, ROLE_NONE, ROLE_V, ROLE_VI, ROLE_I, ROLE_VL,
                               RL_W, RL_ROLE, RL_OUT)
from metrology.snapshot import Snapshot, NQ, NE, Q, Q_CLIP, Q_NOZC, Q_FAULT, Q_UNCAL

ADS_BITS = 24
ADS_STRIDE = 4              # words per ADS131M04 frame in acq.group[k]: ch0 voltage, ch1-3 currents
ADS_SHIFT = 8               # 24-bit codes -> 16 bits
ADS_CLIP = 8388607          # |code| at full scale
ADE_BITS = 28               # waveform codes: 24-bit LPF result << 4, within +/-2^27
ADE_SHIFT = 12              # +/-2^27 -> +/-2^15
ADE_CLIP = 0x7FFFFF0        # the ADC's saturated code (24-bit result << 4)
ADE_STRIDE = len(ADE_FRAME)  # words per inlet frame in acq.inlet
STALE_POLLS = 50            # a unit without samples for 50 polls (0.5 s) is stale
NC_SCALE = 16               # computed neutral samples are in units of 16 ADE codes (fits 24 bits)

_VI_Q = ("vrms", "irms", "p_w", "q_var", "s_va", "pf", "dpf", "thd_v", "thd_i", "crest_i", "ipeak", "f_hz")
_VI_DC = ("vrms", "irms", "p_w", "crest_i", "ipeak", "v_dc", "i_dc")
_B_Q = ("vrms", "irms", "p_w", "q_var", "s_va", "pf", "dpf", "thd_i", "crest_i", "ipeak", "f_hz")
_B_DC = ("vrms", "irms", "p_w", "crest_i", "ipeak", "v_dc", "i_dc")
_G_Q = ("vrms", "thd_v", "f_hz")
_G_DC = ("vrms", "v_dc")
_N_Q = ("irms", "thd_i", "crest_i", "ipeak")
_T_Q = ("p_w", "q_var", "s_va", "pf")

_FK = ("win", "sec")    # snapshot frame kind of KIND_WIN, KIND_SEC
# energy credit table (Metrology._ecredit, array 'b'): EC_W entries per output
# channel, each an index in energy_channels or -1
EC_OWN = 0      # the channel's own counter (outlet, inlet phase)
EC_UP = 1       # the one it adds into (the outlet's branch, INLET)
EC_W = 2
# derived channels: the sum_pass shifts and code width of each source
_ADS_SUM = (6, 6, ADS_BITS)     # 24-bit codes >> 6, x gain (Q12) >> 6: units of ADS codes
_ADE_SUM = (10, 6, ADE_BITS)    # 28-bit codes >> 10, x gain >> 6: units of NC_SCALE ADE codes


class SumPass:
    """One kernel.sum_pass call that builds derived samples (branch currents,
    the computed neutral) from a chip's frames: src is the source frames'
    index in acq.group (None: acq.inlet), sstride their words per frame;
    terms (array 'i', K.T_W words per term) hold each term's frame offset,
    gain and shifts; the result goes to dst[i * dstride + doff] with mode
    K.SP_*. keys: per term the board channel whose calibration gain weights
    it (None for a copy)."""

    def __init__(self, src, sstride, offsets, dst, dstride, doff, mode, keys=None, shifts=_ADS_SUM):
        self.src = src
        self.sstride = sstride
        n = len(offsets)
        self.nterms = n
        self.terms = array("i", bytes(4 * K.T_W * n))
        pre, post, bits = shifts
        for t in range(n):
            q = K.T_W * t
            self.terms[q + K.T_OFF] = offsets[t]
            self.terms[q + K.T_GAIN] = 4096
            self.terms[q + K.T_PRE] = pre
            self.terms[q + K.T_POST] = post
            self.terms[q + K.T_SIGN] = 1 << (bits - 1)
        self.dst = dst
        self.dstride = dstride
        self.doff = doff
        self.mode = mode
        self.keys = keys

    def set_gains(self, coeffs):
        """Each term's weight: its channel's calibration gain (Q12; 1 without one)."""
        if self.keys is None:
            return
        for t in range(self.nterms):
            cf = coeffs.get(self.keys[t])
            g = 1.0 if cf is None else float(cf[0])
            self.terms[K.T_W * t + K.T_GAIN] = int(g * 4096 + 0.5)

    def run(self, frames, n):
        K.sum_pass(frames, n, self.sstride, self.terms, self.nterms, self.dst, self.dstride, self.doff,
                   self.mode)


def output_channels(desc):
    """The channels metrology publishes for a board, in snapshot order, and the
    ones of them with energy counters (the same string objects). Stores that
    key on channels (energy counters, data records) are built from this before
    metrology itself."""
    groups = sorted(set(o["group"] for o in desc.OUTLETS.values()))
    chans = ["G%d" % g for g in groups] + ["O%d" % n for n in sorted(desc.OUTLETS)] + \
        sorted(desc.BRANCHES) + ["L1", "L2", "L3", "N", "NC", "INLET"]
    return chans, [ch for ch in chans if ch[0] in "OBL" or ch == "INLET"]


class Metrology:
    def __init__(self, desc, *, clock=None, energy=None, events=None, dc=None, f_nom=None,
                 harmonics=True, per_cycle=True):
        self.desc = desc
        self.fs = desc.SAMPLE_RATE
        r = desc.RATINGS
        self.f_nom = float(f_nom or r.get("f_nom", 50.0))
        self.dc = bool(r.get("dc", False)) if dc is None else bool(dc)
        self.clock = clock
        self.energy = energy
        self.events = events
        self.per_cycle = per_cycle
        self.want_harmonics = harmonics and not self.dc
        self.harmonics = None
        self.groups = sorted(set(o["group"] for o in desc.OUTLETS.values()))
        self.outlets = sorted(desc.OUTLETS)
        self.branches = sorted(desc.BRANCHES)
        chans, self.energy_channels = output_channels(desc)
        qs = {}
        for ch in chans:
            c0 = ch[0]
            if ch == "INLET":
                qs[ch] = _T_Q
            elif ch in ("N", "NC"):
                qs[ch] = _N_Q
            elif c0 == "G":
                qs[ch] = _G_DC if self.dc else _G_Q
            elif c0 == "B":
                qs[ch] = _B_DC if self.dc else _B_Q
            else:
                qs[ch] = _VI_DC if self.dc else _VI_Q
        self.snapshot = Snapshot(chans, qs, self.energy_channels)
        self.chan_index = self.snapshot.index
        nout = len(chans)
        # Values go straight into the snapshot frame being filled (snapshot.
        # begin(): a copy of the latest frame until published); P1 per channel
        # and kind (KIND_WIN, KIND_SEC) for the branches' DPF
        self.p1 = (array("f", bytes(4 * nout)), array("f", bytes(4 * nout)))
        self.fault_flags = array("H", bytes(2 * nout))   # permanent: chip absent
        self.uncal = array("H", bytes(2 * nout))
        self.units = []
        self.acq = None
        self.cal = {}                 # board channel -> (gain, offset, phase_deg) in use
        self.cal_version = 0
        self._branch_sums = []        # SumPass: branch units' samples from the groups' frames
        self._nc_sums = ()            # SumPass: the computed neutral's samples from the inlet frames
        self._nc_unit = None
        self._on_unit_cb = None
        self._cmap = None
        self.win_seq = 0
        self.sec_seq = 0
        self._pub = [0, 0]           # last published window / second index
        self.polls = 0
        # per output channel: the energy counters its P and Q are credited to
        # (index in energy_channels, -1 none): an outlet's own and its branch's,
        # an inlet phase's own and INLET's
        self._ecredit = array("b", b"\xff" * (EC_W * nout))
        eix = self.snapshot.eindex
        ups = [("O%d" % n, desc.OUTLETS[n]["branch"]) for n in self.outlets] + [(ph, "INLET") for ph in
                                                                               ("L1", "L2", "L3")]
        for ch, up in ups:
            b = EC_W * self.chan_index[ch]
            self._ecredit[b + EC_OWN] = eix[ch]
            self._ecredit[b + EC_UP] = eix[up]

    # --- construction -------------------------------------------------------------------
    def attach(self, acq):
        """Build the units for the chips the acquisition has and register as its consumer."""
        self.acq = acq
        desc = self.desc
        fs = self.fs
        vafe = desc.AFE_GROUP_V
        iafe = desc.AFE_OUTLET_I
        v_upc = volts_per_code(vafe)
        i_upc = amps_per_code(iafe)
        self.i_upc = i_upc
        by_chip = {}
        for cname, (chip, cc, q) in desc.CHANNELS.items():
            by_chip.setdefault(chip, {})[cc] = cname
        present = {}
        for k in range(len(acq.adcs)):
            present[acq.adcs[k].name] = k
        group_unit = {}
        for g in self.groups:
            chip = desc.CHANNELS["G%d-V" % g][0]
            names = by_chip[chip]
            outs = [n for n in self.outlets if desc.OUTLETS[n]["group"] == g]
            if chip not in present:
                self._mark_fault(["G%d" % g] + ["O%d" % n for n in outs])
                continue
            chans = [Chan(0, ADS_BITS, ADS_SHIFT, ADS_CLIP, v_upc, names[0], None, ROLE_V,
                          self.chan_index["G%d" % g])]
            for n in outs:
                cc = desc.CHANNELS["O%d-I" % n][1]
                chans.append(Chan(cc, ADS_BITS, ADS_SHIFT, ADS_CLIP, i_upc, names[cc], None, ROLE_VI,
                                  self.chan_index["O%d" % n]))
            u = self._unit("G%d" % g, chans, ADS_STRIDE, "group")
            u.buf_index = present[chip]
            group_unit[g] = u
        # branch sums, one unit per phase
        for ph in ("L1", "L2", "L3"):
            brs = [b for b in self.branches if desc.BRANCHES[b]["phase"] == ph]
            if not brs:
                continue
            vg = None
            for g in self.groups:
                if desc.GROUP_PHASE[g] == ph and g in group_unit:
                    vg = group_unit[g]
                    break
            ok = vg is not None
            for b in brs:
                for n in desc.BRANCHES[b]["outlets"]:
                    if desc.OUTLETS[n]["group"] not in group_unit:
                        ok = False
            if not ok:
                self._mark_fault(brs)
                continue
            stride = 1 + len(brs)
            dst = array("i", bytes(4 * stride * acq.max_frames))
            chans = [Chan(0, ADS_BITS, ADS_SHIFT, ADS_CLIP, v_upc, None, src=vg.chans[0])]
            self._branch_sums.append(SumPass(vg.buf_index, ADS_STRIDE, (0,), dst, stride, 0, K.SP_COPY))
            for bi in range(len(brs)):
                b = brs[bi]
                chans.append(Chan(1 + bi, ADS_BITS, ADS_SHIFT, ADS_CLIP, i_upc, None, None, ROLE_I,
                                  self.chan_index[b]))
                per_group = {}
                for n in desc.BRANCHES[b]["outlets"]:
                    # the board's own name strings (no new string per term)
                    per_group.setdefault(desc.OUTLETS[n]["group"], []).append(desc.OUTLETS[n]["current"])
                mode = K.SP_WRITE
                for g in sorted(per_group):
                    keys = tuple(per_group[g])
                    self._branch_sums.append(SumPass(group_unit[g].buf_index, ADS_STRIDE,
                                                     [desc.CHANNELS[nm][1] for nm in keys], dst, stride,
                                                     1 + bi, mode, keys))
                    mode = K.SP_ADD
            u = self._unit("B" + ph, chans, stride, "branch", power=False)
            u.buf = dst
        # inlet (ADE9000)
        ade = acq.ade
        if ade is None:
            self._mark_fault(["L1", "L2", "L3", "N", "NC", "INLET"])
        else:
            vs = ade.v_per_sample
            cs = ade.i_per_sample
            chans = desc.CHANNELS

            def ade_chan(name, upc, role, out):
                return Chan(ADE_FRAME.index(chans[name][1]), ADE_BITS, ADE_SHIFT, ADE_CLIP, upc, name, None,
                            role, self.chan_index[out])
            for ph in ("L1", "L2", "L3"):
                uch = [ade_chan(ph + "-V", vs, ROLE_VL, ph), ade_chan(ph + "-I", cs, ROLE_VI, ph)]
                if ph == "L1":
                    uch.append(ade_chan("N-I", cs, ROLE_I, "N"))
                self._unit(ph, uch, ADE_STRIDE, "inlet")
            # computed neutral: [VA, IA + IB + IC] (units of NC_SCALE ADE codes, 24-bit)
            dst = array("i", bytes(4 * 2 * acq.max_frames))
            keys = ("L1-I", "L2-I", "L3-I")
            self._nc_sums = (
                SumPass(None, ADE_STRIDE, (ADE_FRAME.index(chans["L1-V"][1]),), dst, 2, 0, K.SP_COPY),
                SumPass(None, ADE_STRIDE, [ADE_FRAME.index(chans[nm][1]) for nm in keys], dst, 2, 1, K.SP_WRITE,
                        keys, _ADE_SUM))
            uch = [Chan(0, ADE_BITS, ADE_SHIFT, ADE_CLIP, vs, None),
                   Chan(1, ADS_BITS, ADS_SHIFT, ADS_CLIP, cs * NC_SCALE, None, None, ROLE_I, self.chan_index["NC"])]
            u = self._unit("NC", uch, 2, "nc", power=False)
            u.buf = dst
            self._nc_unit = u
        self.load_calibration(None)
        if self.want_harmonics:
            from metrology.harmonics import Harmonics
            self.harmonics = Harmonics(self)
        acq.consumers.append(self.consume)
        return self

    def _unit(self, name, chans, stride, kind, power=True):
        # power=False: a unit of derived currents (branch sums, computed
        # neutral) whose P is not reported (a branch's P is its outlets' sum)
        u = Unit(name, chans, stride, fs=self.fs, f_nom=self.f_nom, dc=self.dc, per_cycle=self.per_cycle,
                 power=power, kind=kind)
        if self._on_unit_cb is None:
            self._on_unit_cb = self._on_unit     # one bound method object for all units
        u.listeners.append(self._on_unit_cb)
        self.units.append(u)
        return u

    def _frame(self, kind):
        """The snapshot frame being filled for KIND_WIN / KIND_SEC."""
        return self.snapshot.begin(_FK[kind])

    def _mark_fault(self, chans):
        for ch in chans:
            i = self.chan_index[ch]
            self.fault_flags[i] = Q_FAULT
            for kind in (KIND_WIN, KIND_SEC):
                self._frame(kind).flags[i] = Q_FAULT

    def cycle_map(self):
        """{output channel: (unit, unit channel)} of every current channel
        (outlets, branches, inlet phases, N, NC): what protection reads per
        cycle via unit.cycle_listeners and unit.cyc_ms / cycle_rms()."""
        out = {}
        for u in self.units:
            for c in range(1, u.nch):
                if u.role(c) != ROLE_NONE:
                    out[self.snapshot.channels[u.out(c)]] = (u, c)
        return out

    def cycle_irms(self, channel):
        """A current's rms over its unit's last cycle (A), or None."""
        if self._cmap is None:
            self._cmap = self.cycle_map()
        t = self._cmap.get(channel)
        return None if t is None else t[0].cycle_rms(t[1])

    def unit(self, name):
        for u in self.units:
            if u.name == name:
                return u
        return None

    # --- calibration ------------------------------------------------------------------------
    def load_calibration(self, current):
        """Apply a calstore set ({"coeffs": {name: (gain, offset, phase_deg)}, "version": v})
        or None (uncalibrated: identity). phase_deg: the channel's own delay (lag) in
        degrees at f_nom; the kernel delays every other channel of the unit to match."""
        coeffs = {} if current is None else current.get("coeffs", {})
        self.cal = dict(coeffs)
        self.cal_version = 0 if current is None else current.get("version", 0)
        self.set_coefficients(coeffs)

    def set_coefficients(self, coeffs, mark=True):
        per_deg = self.fs / self.f_nom / 360.0
        for i in range(len(self.uncal)):
            self.uncal[i] = 0
        for u in self.units:
            taus = []
            cal = 0
            for c in range(u.nch):
                nm = u.cal_key(c)
                cf = coeffs.get(nm) if nm is not None else None
                if cf is None:
                    g, off, ph = 1.0, 0.0, 0.0
                    if nm is None:
                        cal |= 1 << c          # derived: nothing to calibrate
                else:
                    g, off, ph = cf
                    cal |= 1 << c
                u.set_cal(c, g, off, 0.0)
                taus.append(0.0 if nm != u.names[c] else float(ph) * per_deg)
            u.calibrated = cal
            if u.kind == "branch" or u.kind == "nc":
                # delays meaningless on derived sums: keep channel 0 undelayed
                taus = [0.0] * len(taus)
            tmax = max(taus)
            for c in range(u.nch):
                u.set_delay(c, tmax - taus[c])
            u.apply_calibration()
            if mark:
                # a reported channel without coefficients, and every reported
                # channel of a unit whose voltage has none, reads uncalibrated
                vcal = cal & 1 or u.role(0) == ROLE_NONE
                for c in range(u.nch):
                    if u.role(c) != ROLE_NONE and not (cal & (1 << c) and vcal):
                        self.uncal[u.out(c)] = Q_UNCAL
        # the derived channels' term gains (Q12): branch sums, computed neutral
        for sp in self._branch_sums:
            sp.set_gains(coeffs)
        for sp in self._nc_sums:
            sp.set_gains(coeffs)

    # --- samples -------------------------------------------------------------------------------
    def consume(self, acq):
        self.polls += 1
        polls = self.polls
        n = acq.n_group
        groups = acq.group
        if n:
            for u in self.units:
                if u.kind == "group":
                    u.last_poll = polls
                    u.process(groups[u.buf_index], n)
            for sp in self._branch_sums:
                sp.run(groups[sp.src], n)
            for u in self.units:
                if u.kind == "branch":
                    u.last_poll = polls
                    u.process(u.buf, n)
        ni = acq.n_inlet
        if ni:
            inl = acq.inlet
            for u in self.units:
                if u.kind == "inlet":
                    u.last_poll = polls
                    u.process(inl, ni)
            u = self._nc_unit
            if u is not None:
                for sp in self._nc_sums:
                    sp.run(inl, ni)
                u.last_poll = polls
                u.process(u.buf, ni)
        if polls & 15 == 0:
            self._stale_check()

    def _stale_check(self):
        """Flag the channels of units that stopped receiving samples."""
        for u in self.units:
            stale = self.polls - u.last_poll > STALE_POLLS
            if stale != u.fault:
                u.fault = stale
                for c in range(u.nch):
                    oi = u.out(c)
                    if u.role(c) != ROLE_NONE:
                        for kind in (KIND_WIN, KIND_SEC):
                            fl = self._frame(kind).flags
                            if stale:
                                fl[oi] |= Q_FAULT
                            else:
                                fl[oi] &= ~Q_FAULT

    def add_cycle_stats(self, st):
        """Cycle-level fidelity (sim/plant.py step_cycles): credit energy from the
        plant's analytic per-cycle sums instead of samples. st: CycleStats (SI:
        sum_vi in W*samples over st.n samples). Active energy only (the sums carry
        no reactive part). Returns the mean power per energy channel (W)."""
        n = st.n
        if n <= 0:
            return {}
        dt_ms = n * 1000.0 / self.fs
        out = {}
        chs = ["O%d" % k for k in self.outlets] + ["L1", "L2", "L3"]
        for ch in chs:
            self._credit(self.chan_index[ch], st.sum_vi.get(ch + "-I", 0.0) / n, 0.0, dt_ms, out)
        return out

    def _credit(self, oi, p, q, dt_ms, out=None):
        """Energy: P and Q over dt_ms into output channel oi's counters (its
        own and the one above); out: {counter: sum of P} if given."""
        ec = self._ecredit
        e = self.energy
        for j in range(EC_W * oi, EC_W * oi + EC_W):
            ei = ec[j]
            if ei < 0:
                continue
            nm = self.energy_channels[ei]
            if out is not None:
                out[nm] = out.get(nm, 0.0) + p
            if e is not None:
                e.add_power(nm, p, q, dt_ms)

    # --- results -------------------------------------------------------------------------------
    def _on_unit(self, u, kind):
        res = u.wres if kind == KIND_WIN else u.sres
        fr = self._frame(kind)
        vals = fr.values
        flags = fr.flags
        p1a = self.p1[kind]
        uflags = u.w_flags if kind == KIND_WIN else u.s_flags
        f_hz = u.w_f_hz if kind == KIND_WIN else u.s_f_hz
        dc = self.dc
        RN = CY.R_N
        V = res[CY.R_RMS]
        vre = res[CY.R_RE]
        vim = res[CY.R_IM]
        vthd = res[CY.R_THD]
        vflag = (Q_CLIP if res[CY.R_CLIP] else 0) | (uflags & (Q_NOZC | Q_FAULT))
        ro = u.roles
        for c in range(u.nch):
            role = ro[RL_W * c + RL_ROLE]
            if role == ROLE_NONE:
                continue
            oi = ro[RL_W * c + RL_OUT]
            b = oi * NQ
            o = RN * c
            fl = (uflags & (Q_NOZC | Q_FAULT)) | self.uncal[oi] | self.fault_flags[oi]
            if res[o + CY.R_CLIP]:
                fl |= Q_CLIP
            if role == ROLE_V:
                vals[b + Q["vrms"]] = V
                if dc:
                    vals[b + Q["v_dc"]] = res[CY.R_MEAN]
                else:
                    vals[b + Q["thd_v"]] = vthd
                    vals[b + Q["f_hz"]] = f_hz
                flags[oi] = fl
                continue
            if role == ROLE_VL:
                continue
            I = res[o + CY.R_RMS]
            vals[b + Q["irms"]] = I
            vals[b + Q["ipeak"]] = res[o + CY.R_PEAK]
            vals[b + Q["crest_i"]] = res[o + CY.R_CREST]
            if role == ROLE_I:
                if u.kind == "branch":
                    vals[b + Q["vrms"]] = V
                    fl |= vflag & Q_CLIP
                    if dc:
                        vals[b + Q["v_dc"]] = res[CY.R_MEAN]
                        vals[b + Q["i_dc"]] = res[o + CY.R_MEAN]
                    else:
                        vals[b + Q["f_hz"]] = f_hz
                if not dc:
                    vals[b + Q["thd_i"]] = res[o + CY.R_THD]
                flags[oi] = fl
                continue
            # ROLE_VI: a current with its voltage
            fl |= vflag
            P = res[o + CY.R_P]
            vals[b + Q["vrms"]] = V
            vals[b + Q["p_w"]] = P
            if dc:
                vals[b + Q["v_dc"]] = res[CY.R_MEAN]
                vals[b + Q["i_dc"]] = res[o + CY.R_MEAN]
            else:
                ire = res[o + CY.R_RE]
                iim = res[o + CY.R_IM]
                P1 = vre * ire + vim * iim
                Q1 = vim * ire - vre * iim
                S = V * I
                vals[b + Q["q_var"]] = Q1
                vals[b + Q["s_va"]] = S
                vals[b + Q["pf"]] = P / S if S > 0 else 0.0
                h = math.sqrt(P1 * P1 + Q1 * Q1)
                vals[b + Q["dpf"]] = P1 / h if h > 0 else 0.0
                p1a[oi] = P1
                vals[b + Q["thd_v"]] = vthd
                vals[b + Q["thd_i"]] = res[o + CY.R_THD]
                vals[b + Q["f_hz"]] = f_hz
            flags[oi] = fl
            if kind == KIND_SEC and self.energy is not None:
                self._credit(oi, P, 0.0 if dc else vals[b + Q["q_var"]], u.s_len * 1000.0 / self.fs)
        # Publish frame k once every live unit has closed its k-th window (second):
        # all channels of a frame then come from the same period. A unit whose
        # chip stopped delivering samples is not waited for (its channels keep
        # their last values, flagged sensor fault).
        polls = self.polls
        m = None
        for x in self.units:
            if polls - x.last_poll > STALE_POLLS:
                continue
            k = x.w_seq if kind == KIND_WIN else x.s_seq
            if m is None or k < m:
                m = k
        if m is not None and m > self._pub[kind]:
            self._pub[kind] = m
            self._publish(kind, u)

    def _aggregate(self, kind, fr):
        vals = fr.values
        flags = fr.flags
        p1a = self.p1[kind]
        idx = self.chan_index
        desc = self.desc
        dc = self.dc
        for b in self.branches:
            bi = idx[b]
            bb = bi * NQ
            P = 0.0
            Qs = 0.0
            P1 = 0.0
            fl = 0
            for n in desc.BRANCHES[b]["outlets"]:
                oi = idx["O%d" % n]
                ob = oi * NQ
                P += vals[ob + Q["p_w"]]
                if not dc:
                    Qs += vals[ob + Q["q_var"]]
                    P1 += p1a[oi]
                fl |= flags[oi] & (Q_UNCAL | Q_FAULT)
            vals[bb + Q["p_w"]] = P
            flags[bi] |= fl
            # the branch's voltage is its (first) group's: the branch unit's own
            # voltage channel only times its cycles
            g = desc.OUTLETS[desc.BRANCHES[b]["outlets"][0]]["group"]
            gi = idx["G%d" % g] * NQ
            vals[bb + Q["vrms"]] = vals[gi + Q["vrms"]]
            if dc:
                vals[bb + Q["v_dc"]] = vals[gi + Q["v_dc"]]
            if not dc:
                vals[bb + Q["q_var"]] = Qs
                S = vals[bb + Q["vrms"]] * vals[bb + Q["irms"]]
                vals[bb + Q["s_va"]] = S
                vals[bb + Q["pf"]] = P / S if S > 0 else 0.0
                h = math.sqrt(P1 * P1 + Qs * Qs)
                vals[bb + Q["dpf"]] = P1 / h if h > 0 else 0.0
        ti = idx["INLET"]
        tb = ti * NQ
        P = 0.0
        Qs = 0.0
        S = 0.0
        fl = 0
        for ph in ("L1", "L2", "L3"):
            li = idx[ph]
            lb = li * NQ
            P += vals[lb + Q["p_w"]]
            if not dc:
                Qs += vals[lb + Q["q_var"]]
                S += vals[lb + Q["s_va"]]
            else:
                S += vals[lb + Q["vrms"]] * vals[lb + Q["irms"]]
            fl |= flags[li]
        vals[tb + Q["p_w"]] = P
        vals[tb + Q["q_var"]] = Qs
        vals[tb + Q["s_va"]] = S
        vals[tb + Q["pf"]] = P / S if S > 0 else 0.0
        flags[ti] = fl | self.fault_flags[ti]

    def _publish(self, kind, u):
        snap = self.snapshot
        fk = _FK[kind]
        fr = snap.begin(fk)
        self._aggregate(kind, fr)
        fr.kind = fk
        c = self.clock
        if c is not None:
            fr.utc_ms = c.utc_ms()
            fr.time_valid = c.time_valid
            fr.ticks_ms = c.ticks_ms()
        if kind == KIND_WIN:
            fr.cycles = u.window_cycles
            fr.len_ms = u.w_len * 1000.0 / self.fs
            self.win_seq += 1
        else:
            fr.cycles = 0
            fr.len_ms = u.s_len * 1000.0 / self.fs
            self.sec_seq += 1
            self._copy_energy(fr.energy)
        snap.publish(fr)

    def _copy_energy(self, dst):
        e = self.energy
        if e is None:
            return
        names = self.energy_channels
        for i in range(len(names)):
            nm = names[i]
            if nm in e.index:
                for k in range(NE):
                    dst[NE * i + k] = e.get(nm, k)

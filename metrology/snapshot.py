# The published metrology snapshot: what every other layer reads.
#
# Two frame streams: "win" (10-cycle windows at 50 Hz, 12 at 60 Hz, ~200 ms)
# and "sec" (1 s). The writer fills the next frame of a small pool
# (begin(): right after each publish it becomes a copy of the frame just
# published, with seq 0, so the writer updates only what changed and needs no
# buffer of its own) and publish() swaps the `latest` reference in one
# assignment, so a reader always gets a complete frame, never a half-written
# one (asyncio is cooperative; the swap is atomic on the MCU too). A frame
# object is not rewritten until POOL - 1 further publishes have happened
# (>= 400 ms after its own publish for windows, >= 2 s for seconds): a reader
# that keeps one across awaits longer than that checks frame.seq (0 while the
# frame is being refilled).
#
# Values are float32 in one array: values[ch * NQ + q]; per channel quality
# flags (Q_*, below). Channel ids and quantity names are the contract with
# uplinks: measurement id "O3.p_w" has unit unit("O3.p_w") == "W".
from array import array

# quantity name -> unit
QUANTITIES = (
    ("vrms", "V"), ("irms", "A"), ("p_w", "W"), ("q_var", "var"), ("s_va", "VA"), ("pf", "1"),
    ("dpf", "1"), ("thd_v", "%"), ("thd_i", "%"), ("crest_i", "1"), ("ipeak", "A"), ("f_hz", "Hz"),
    ("v_dc", "V"), ("i_dc", "A"),
)
NQ = len(QUANTITIES)
Q = {}
for _i in range(NQ):
    Q[QUANTITIES[_i][0]] = _i
QUNIT = dict(QUANTITIES)
# energy counter kind -> unit, in the order of Frame.energy's 4 words per channel
ENERGY_KINDS = (("e_imp_wh", "Wh"), ("e_exp_wh", "Wh"), ("eq_imp_varh", "varh"), ("eq_exp_varh", "varh"))
NE = len(ENERGY_KINDS)
ENERGY_NAMES = tuple(k for k, _ in ENERGY_KINDS)
EUNIT = dict(ENERGY_KINDS)
MJ_PER_WH = 3600000.0       # Frame.energy holds mJ (mvar-s); readers get Wh (varh)

# Per-channel quality flags (a unit's window/second flags and each output
# channel's in a frame) and their names
Q_CLIP = 1          # clipping / overrange in the window
Q_NOZC = 2          # no zero crossing (cycles closed by the length limit)
Q_FAULT = 4         # sensor fault (chip absent, no data)
Q_UNCAL = 8         # no calibration coefficients for the channel
FLAG_NAMES = ((Q_CLIP, "clip"), (Q_NOZC, "no_zero_crossing"), (Q_FAULT, "sensor_fault"), (Q_UNCAL, "uncalibrated"))

POOL = 3


class Frame:
    def __init__(self, nch):
        self.seq = 0
        self.kind = ""
        self.utc_ms = 0
        self.time_valid = False
        self.ticks_ms = 0
        self.cycles = 0
        self.len_ms = 0.0
        self.values = array("f", bytes(4 * NQ * nch))
        self.flags = array("H", bytes(2 * nch))
        self.energy = None          # sec frames: array('q'), NE words (ENERGY_KINDS order, mJ) per energy channel


class Snapshot:
    """Latest complete window and 1 s frames. channels: tuple of channel ids;
    quantities: {channel id: tuple of quantity names that apply};
    energy_channels: channel ids that have energy counters."""

    def __init__(self, channels, quantities, energy_channels=()):
        self.channels = tuple(channels)
        self.index = {}
        for i in range(len(self.channels)):
            self.index[self.channels[i]] = i
        self.quantities = quantities
        self.energy_channels = tuple(energy_channels)
        self.eindex = {}
        for i in range(len(self.energy_channels)):
            self.eindex[self.energy_channels[i]] = i
        n = len(self.channels)
        self._pool = {"win": [Frame(n) for _ in range(POOL)], "sec": [Frame(n) for _ in range(POOL)]}
        for f in self._pool["sec"]:
            f.energy = array("q", bytes(8 * NE * len(self.energy_channels)))
        self._next = {"win": 0, "sec": 0}
        self.seq = 0
        self.win = None      # latest complete window frame
        self.sec = None      # latest complete 1 s frame
        self.listeners = []  # fn(frame) after each publish

    def build_unit_table(self):
        """{measurement id: unit} of every quantity and energy ("O3.p_w": "W"),
        built anew on each call (~35 KB for sim24: hundreds of id strings), for
        host tools and listings; firmware readers use unit(mid) instead."""
        units = {}
        for ch in self.channels:
            for qn in self.quantities.get(ch, ()):
                units[ch + "." + qn] = QUNIT[qn]
        for ch in self.energy_channels:
            for qn, u in ENERGY_KINDS:
                units[ch + "." + qn] = u
        return units

    def unit(self, mid):
        """Unit of a measurement id ("O3.p_w" -> "W"), None if it does not exist."""
        i = mid.find(".")
        if i < 0:
            return None
        ch = mid[:i]
        qn = mid[i + 1:]
        if ch in self.eindex and qn in EUNIT:
            return EUNIT[qn]
        if qn in self.quantities.get(ch, ()):
            return QUNIT[qn]
        return None

    # --- writer side -------------------------------------------------------------------
    def begin(self, kind):
        """The frame to fill next (not visible to readers until publish): after
        the first publish, a copy of the latest frame of its kind (seq 0)."""
        return self._pool[kind][self._next[kind]]

    def publish(self, frame):
        kind = frame.kind
        self.seq += 1
        frame.seq = self.seq
        pool = self._pool[kind]
        k = (self._next[kind] + 1) % len(pool)
        self._next[kind] = k
        if kind == "win":
            self.win = frame
        else:
            self.sec = frame
        # The next frame starts as a copy of this one (array copies: no float
        # objects), so channels the writer does not update carry over.
        nxt = pool[k]
        nxt.seq = 0
        nxt.values[:] = frame.values
        nxt.flags[:] = frame.flags
        if frame.energy is not None:
            nxt.energy[:] = frame.energy
        for fn in self.listeners:
            fn(frame)

    # --- reader side ---------------------------------------------------------------------
    def latest(self, kind="win"):
        return self.win if kind == "win" else self.sec

    def get(self, mid, kind="win"):
        """Value of a measurement id ("O3.p_w", "L1.e_imp_wh") from the latest
        frame of `kind`, or None before the first publish. Energies come from
        the 1 s frame (Wh / varh, exact integers underneath)."""
        ch, qn = mid.split(".")
        if qn in EUNIT:
            f = self.sec
            if f is None:
                return None
            return f.energy[NE * self.eindex[ch] + ENERGY_NAMES.index(qn)] / MJ_PER_WH
        f = self.win if kind == "win" else self.sec
        if f is None:
            return None
        return f.values[self.index[ch] * NQ + Q[qn]]

    def flags(self, ch, kind="win"):
        f = self.win if kind == "win" else self.sec
        return 0 if f is None else f.flags[self.index[ch]]

    @staticmethod
    def flag_names(bits):
        return [nm for b, nm in FLAG_NAMES if bits & b]

    def to_dict(self, frame, channels=None):
        """{channel: {quantity: [value, unit]}} of a frame (host tools, uplinks)."""
        out = {}
        vals = frame.values
        for ch in (channels or self.channels):
            i = self.index[ch]
            d = {}
            for qn in self.quantities.get(ch, ()):
                d[qn] = [vals[i * NQ + Q[qn]], QUNIT[qn]]
            if frame.energy is not None and ch in self.eindex:
                e = NE * self.eindex[ch]
                for k in range(NE):
                    nm, u = ENERGY_KINDS[k]
                    d[nm] = [frame.energy[e + k] / MJ_PER_WH, u]
            fl = frame.flags[i]
            if fl:
                d["flags"] = self.flag_names(fl)
            out[ch] = d
        return out

# Overcurrent elements and their selectivity.
#
# Every outlet, branch and inlet phase is an element of the fast path with an
# instantaneous part (peak |i| above a level for a number of consecutive
# polls) and an inverse-time part (protection/curves.py). Selectivity:
#   instantaneous  outlet: the poll that sees the peak (decision within one
#                  poll of onset, < 1 mains cycle); branch: after
#                  branch_inst_delay_ms of consecutive polls (the outlet's relay
#                  has opened by then if it could clear the fault); inlet: after
#                  inlet_inst_delay_ms (the branch has acted by then). Besides
#                  this time grading, an outlet that trips on a short blocks its
#                  branch and inlet phase until the samples after its relay's
#                  opening time (+ a poll) have been seen (zone-selective
#                  interlocking, Verification.clearing): processing delays
#                  between a poll and the coil cannot make the branch act for a
#                  fault its outlet is clearing; a fault that outlives the block
#                  (welded contacts) is acted on by the next stage at once;
#   inverse time   K graded outlet < branch < inlet (validated), so for any
#                  current the outlet's bucket fills first;
#   shedding       a branch/inlet bucket crossing shed_bucket_pct sheds the
#                  lowest-priority outlet at once (protection/shedding.py; the
#                  slow tick sheds on a sustained rms above the shed level).
# A branch or inlet acts by opening its outlets (it has no switch of its own):
# TRIP opens every closed outlet under it, SHED the lowest-priority one.
#
# OutletElement and ZoneElement (branch or inlet phase) each decide on their
# own fast-path news; the engine acts (trip / zone_trip) and Shedding sheds.
import time
from protection.fastpath import (E_PEAK, E_INST, E_IPU, E_KQ, E_ACC, E_COOL, E_R, E_FL, E_WSUM,
                                 E_WN, E_ICNT, E_SHEDQ, E_IDLY, E_FLOW, E_EN, E_FIRST, E_N,
                                 F_PICKUP, F_PU_EDGE, F_TIMED, F_INST, F_SHED, F_DROP, F_NEWS)
from protection.curves import bucket_params, trip_time_s
from protection.logvalues import rounded
from core.acquisition import POLL_MS
from core import codes

INST_OFF = 0x7FFFFFFF
PICKUP_LOG_MS = 1000      # a bucket still filling this long after it started is logged (oc_pickup)
MIN_PICKUP_A = 0.5        # a derated pickup never goes below this


def _polls(ms):
    return (ms + POLL_MS - 1) // POLL_MS


class Element:
    """What outlets, branches and inlet phases share: their fast-path block
    (`word`), the 1 s rms, and how long their inverse-time part has been
    timing (oc_pickup). Subclasses give amps_per_code (of a peak /
    instantaneous code) and amps_per_x (of a reduced code, code >> shift: the
    bucket's). Few fields: there is one per outlet, and a MicroPython
    instance's attribute table grows in steps."""

    def __init__(self, parent, name, word):
        self.parent = parent              # the Overcurrent part
        self.name = name                  # outlet number, branch or phase name
        self.word = word
        self.i_rms = 0.0                  # rms of the last slow window (1 s)
        self.timing_since = None          # ticks_ms when its bucket (re)started timing, None: not timing
        self.timing_logged = False        # oc_pickup logged for this timing

    def rms_now(self, blocks):
        """rms of the last poll (A), from the bucket's ratio."""
        b = self.word
        return (blocks[b + E_R] / 256.0 * blocks[b + E_IPU] * 512.0) ** 0.5 * self.amps_per_x

    def timing_ms(self, now):
        t = self.timing_since
        return 0 if t is None else time.ticks_diff(now, t)

    def start_timing(self, now):
        """The bucket started filling (logged a second later if still filling)."""
        self.timing_since = now
        self.parent.timing[self.name] = self
        self.timing_logged = False

    def stop_timing(self):
        """The bucket emptied."""
        self.parent.timing.pop(self.name, None)
        self.timing_since = None
        self.timing_logged = False

    def pause_timing(self):
        """The outlet is being switched: its timing is not news until it resumes."""
        self.parent.timing.pop(self.name, None)
        self.timing_since = None

    def resume_timing(self, now):
        self.timing_since = now
        self.parent.timing[self.name] = self

    def _inst_vals(self, blocks, fs):
        b = self.word
        peak = blocks[b + E_PEAK] * self.amps_per_code
        first = blocks[b + E_FIRST]
        # decision latency inside this poll: onset frame to the poll's end
        lat_ms = (blocks[b + E_N] - first + 1) * 1000.0 / fs if first else 0.0
        window = lat_ms + (blocks[b + E_IDLY] - 1) * POLL_MS
        return {"peak": peak, "window_ms": window, "value": peak, "limit": blocks[b + E_INST] * self.amps_per_code}

    def _timed_vals(self, blocks, now):
        return {"peak": blocks[self.word + E_PEAK] * self.amps_per_code, "window_ms": self.timing_ms(now),
                "value": self.rms_now(blocks), "limit": self.pickup_a()}

    def _timing_news(self, fl, now):
        if fl & F_PU_EDGE:
            self.start_timing(now)
        if fl & F_DROP:
            self.stop_timing()


class OutletElement(Element):
    def __init__(self, parent, n, word):
        Element.__init__(self, parent, n, word)
        self.pickup = 0.0                 # inverse-time pickup now (A rms; derating lowers it)
        self.inst_code = 0                # normal instantaneous level (codes; raised in an inrush window)

    @property
    def amps_per_code(self):
        return self.parent.outlet_amps_per_code

    @property
    def amps_per_x(self):
        return self.parent.outlet_amps_per_x

    def derating(self):
        """thermal.Derating of this outlet."""
        return self.parent.derating[self.name]

    def channel(self):
        return "O%d" % self.name

    def pickup_a(self):
        return self.pickup

    def set_pickup(self, s, blocks):
        """The pickup from the settings and the derating (E_IPU only)."""
        pick = s["outlet_pickup_a"]
        d = self.derating()
        if d.derated and d.allow_a < pick:
            pick = d.allow_a if d.allow_a > MIN_PICKUP_A else MIN_PICKUP_A
        self.pickup = pick
        ipu, kq, cool = bucket_params(pick, s["outlet_curve_k_s"], s["outlet_cool_s"], self.amps_per_x,
                                      self.parent.fs)
        blocks[self.word + E_IPU] = ipu
        return kq, cool

    def configure(self, s, blocks):
        b = self.word
        iu = self.amps_per_code
        kq, cool = self.set_pickup(s, blocks)
        blocks[b + E_KQ] = kq
        blocks[b + E_COOL] = cool
        blocks[b + E_SHEDQ] = INST_OFF
        blocks[b + E_IDLY] = 1
        blocks[b + E_FLOW] = int(s["flow_a"] / iu)
        self.inst_code = int(s["outlet_inst_a"] / iu)
        blocks[b + E_INST] = self.inst_code        # an open inrush window raises it again

    def on_news(self, eng, blocks, fl):
        if fl & F_INST:
            eng.trip(self.name, codes.EV_OC_INSTANT, "short", self._inst_vals(blocks, eng.fs), latch=True)
            return
        now = eng.clock.ticks_ms()
        if fl & F_TIMED:
            eng.trip(self.name, codes.EV_OC_TIMED, "derated" if self.derating().derated else "overload",
                     self._timed_vals(blocks, now), latch=False)
            return
        self._timing_news(fl, now)


class ZoneElement(Element):
    """A branch (the sample-wise sum of its outlets) or an inlet phase."""

    def __init__(self, parent, name, kind, outlets, word, amps_per_code, amps_per_x):
        Element.__init__(self, parent, name, word)
        self.amps_per_code = amps_per_code
        self.amps_per_x = amps_per_x
        self.kind = kind                  # "branch" | "inlet": its settings' prefix
        self.outlets = outlets            # outlet numbers under it
        self.tripped = False              # acted: news off until its current is gone

    def channel(self):
        return self.name

    def pickup_a(self):
        return self.parent.eng.settings[self.kind + "_pickup_a"]

    def configure(self, s, blocks):
        b = self.word
        p = self.kind
        ipu, kq, cool = bucket_params(s[p + "_pickup_a"], s[p + "_curve_k_s"], s[p + "_cool_s"],
                                      self.amps_per_x, self.parent.fs)
        blocks[b + E_IPU] = ipu
        blocks[b + E_KQ] = kq
        blocks[b + E_COOL] = cool
        blocks[b + E_SHEDQ] = kq * s["shed_bucket_pct"] // 100
        blocks[b + E_INST] = int(s[p + "_inst_a"] / self.amps_per_code)
        blocks[b + E_IDLY] = _polls(s[p + "_inst_delay_ms"])
        blocks[b + E_EN] = 1

    def trip_off(self, blocks):
        self.tripped = True
        blocks[self.word + E_EN] = 0

    def rearm(self, blocks):
        if self.tripped:
            self.tripped = False
            blocks[self.word + E_EN] = 1

    def on_news(self, eng, blocks, fl):
        if fl & F_INST:
            if eng.verification.clearing(self.outlets):
                return            # an outlet under it is clearing the fault
            eng.zone_trip(self.name, codes.EV_OC_INSTANT, "short", self._inst_vals(blocks, eng.fs))
            return
        now = eng.clock.ticks_ms()
        if fl & F_TIMED:
            eng.zone_trip(self.name, codes.EV_OC_TIMED, "overload", self._timed_vals(blocks, now))
            return
        if fl & F_SHED:
            eng.shedding.shed(self.name, "bucket", self.rms_now(blocks),
                              blocks[self.word + E_ACC] * 100 // blocks[self.word + E_KQ])
        self._timing_news(fl, now)


class Overcurrent:
    """Every element, in the fast path's order: outlets, branches, phases."""

    def __init__(self, eng, fastpath, derating):
        self.eng = eng
        self.fs = eng.fs
        self.fastpath = fastpath
        self.derating = derating  # outlet -> thermal.Derating
        self.outlet_amps_per_code = eng.amps_per_code
        self.outlet_amps_per_x = eng.amps_per_code * 256
        self.timing = {}          # name -> element whose bucket is timing (logged a second later)
        self.outlets = {}         # outlet number -> OutletElement
        self.zones = {}           # branch / phase name -> ZoneElement
        self.elements = []
        iu = eng.amps_per_code
        for n in fastpath.outlets:
            el = OutletElement(self, n, fastpath.word(n))
            self.outlets[n] = el
            self.elements.append(el)
        desc = eng.desc
        for br in fastpath.branches:
            el = ZoneElement(self, br, "branch", tuple(desc.BRANCHES[br]["outlets"]), fastpath.word(br),
                             iu, iu * (1 << fastpath.branch_shift[br]))
            self.zones[br] = el
            self.elements.append(el)
        ips = eng.inlet_amps_per_code or 0.0
        for ph in fastpath.phases:
            el = ZoneElement(self, ph, "inlet",
                             tuple(n for n in sorted(desc.OUTLETS) if desc.OUTLETS[n]["phase"] == ph),
                             fastpath.word(ph), ips, ips * 4096)
            self.zones[ph] = el
            self.elements.append(el)

    def configure(self):
        """Integer parameters of every element from the settings (and derating)."""
        s = self.eng.settings
        blocks = self.fastpath.blocks
        for n in self.fastpath.outlets:
            self.outlets[n].configure(s, blocks)
        for br in self.fastpath.branches:
            self.zones[br].configure(s, blocks)
        if self.eng.inlet_amps_per_code:
            for ph in self.fastpath.phases:
                self.zones[ph].configure(s, blocks)

    def on_news(self):
        """The fast path reported news: outlets first, then branches, then
        the inlet (selectivity inside one poll too)."""
        eng = self.eng
        blocks = self.fastpath.blocks
        for el in self.elements:
            b = el.word
            fl = blocks[b + E_FL]
            if not (fl & F_NEWS) or not blocks[b + E_EN]:
                continue
            el.on_news(eng, blocks, fl)

    def rearm_zones(self, o):
        """Outlet o switches on: its branch and phase look again."""
        blocks = self.fastpath.blocks
        for name in (o.desc.get("branch"), o.desc.get("phase")):
            z = self.zones.get(name)
            if z is not None:
                z.rearm(blocks)

    def slow_window(self):
        """Slow tick: every element's 1 s rms; a tripped zone whose current
        is gone looks again."""
        blocks = self.fastpath.blocks
        for el in self.elements:
            b = el.word
            wn = blocks[b + E_WN]
            if wn:
                el.i_rms = (blocks[b + E_WSUM] * 128.0 / wn * 512.0) ** 0.5 * el.amps_per_x
            else:
                el.i_rms = 0.0
            blocks[b + E_WSUM] = 0
            blocks[b + E_WN] = 0
        for el in self.zones.values():
            b = el.word
            if el.tripped and blocks[b + E_R] < 256 and blocks[b + E_ICNT] == 0:
                el.rearm(blocks)

    def log_timing(self, now):
        """oc_pickup for every element still timing a second after it
        started (an inrush filling a bucket for a moment is not news)."""
        blocks = self.fastpath.blocks
        for el in self.timing.values():
            if el.timing_logged or time.ticks_diff(now, el.timing_since) < PICKUP_LOG_MS:
                continue
            b = el.word
            if not (blocks[b + E_FL] & F_PICKUP) or not blocks[b + E_EN]:
                continue
            el.timing_logged = True
            irms = el.rms_now(blocks)
            lim = el.pickup_a()
            # expected time to trip from here: the bucket's remainder at this current
            left = (blocks[b + E_KQ] - blocks[b + E_ACC]) / (256.0 * self.fs)
            tt = trip_time_s(irms, lim, 1.0)
            self.eng.events.emit(codes.EV_OC_PICKUP, codes.SEV_WARNING, el.channel(),
                                 rounded({"peak": blocks[b + E_PEAK] * el.amps_per_code,
                                          "window_ms": int(left * tt * 1000) if tt else 0,
                                          "value": irms, "limit": lim}), "logged")

"""Board descriptions: sim24 and h743_24 share a topology; the description is sound."""
import json

from mputil import run_mp_json

DUMP = r"""
import json, sys
name = sys.argv[1]
mod = __import__('boardconfig.' + name)
d = getattr(mod, name)
print(json.dumps({'name': d.NAME, 'platform': d.PLATFORM, 'fs': d.SAMPLE_RATE,
  'channels': {k: list(v) for k, v in d.CHANNELS.items()},
  'outlets': {str(k): v for k, v in d.OUTLETS.items()}, 'branches': d.BRANCHES,
  'chips': {k: [v[0], v[1]] for k, v in d.CHIPS.items()}, 'spi': d.SPI_BUSES, 'i2c': d.I2C_BUSES,
  'uarts': d.UARTS, 'ntcs': d.NTCS, 'ratings': d.RATINGS, 'group_phase': {str(k): v for k, v in d.GROUP_PHASE.items()},
  'drdy': d.ADC_GROUP_DRDY}))
"""


def dump(name):
    return run_mp_json(code=DUMP.replace("sys.argv[1]", repr(name)))[0]


def test_channel_names_of_sim24():
    d = dump("sim24")
    ch = d["channels"]
    expected = {"L1-V", "L2-V", "L3-V", "L1-I", "L2-I", "L3-I", "N-I"}
    expected |= {"G%d-V" % g for g in range(1, 9)} | {"O%d-I" % n for n in range(1, 25)}
    assert set(ch) == expected
    for g in range(1, 9):
        # group k: ch0 its voltage, ch1..3 outlets 3k-2..3k, all on one ADS131M04
        assert ch["G%d-V" % g] == ["adc%d" % g, 0, "V"]
        for k in range(3):
            assert ch["O%d-I" % (3 * g - 2 + k)] == ["adc%d" % g, 1 + k, "I"]
    assert [ch[n][1] for n in ("L1-V", "L2-V", "L3-V", "L1-I", "L2-I", "L3-I", "N-I")] == \
        ["VA", "VB", "VC", "IA", "IB", "IC", "IN"]


def test_topology_matches_the_product():
    d = dump("sim24")
    assert d["ratings"]["v_nom"] == 230.0 and d["ratings"]["inlet_a"] == 32.0
    assert d["fs"] == 8000
    parts = sorted(v[0] for v in d["chips"].values())
    assert parts.count("ads131m04") == 8 and parts.count("ade9000") == 1
    assert parts.count("mb85rs") == 1 and parts.count("sht4x") == 2
    fram = [v[1] for v in d["chips"].values() if v[0] == "mb85rs"][0]
    assert fram["size"] == 256 * 1024
    assert len(d["branches"]) == 6
    for ph in ("L1", "L2", "L3"):
        assert sum(1 for b in d["branches"].values() if b["phase"] == ph) == 2
    assert all(b["rating_a"] == 16.0 for b in d["branches"].values())
    outs = d["outlets"]
    assert len(outs) == 24
    for n in range(1, 25):
        o = outs[str(n)]
        assert o["switch"] == ("latching" if n <= 20 else "triac")
        assert o["group"] == (n + 2) // 3
        # an outlet's branch, group and voltage channel are all on its phase
        assert d["branches"][o["branch"]]["phase"] == o["phase"] == d["group_phase"][str(o["group"])]
        assert n in d["branches"][o["branch"]]["outlets"]
    assert sorted(n for b in d["branches"].values() for n in b["outlets"]) == list(range(1, 25))
    assert len(d["ntcs"]) >= 1 and "rs485" in d["uarts"] and "de" in d["uarts"]["rs485"]


def test_no_pin_is_used_twice():
    d = dump("h743_24")
    uses = []
    for bus in list(d["spi"].values()) + list(d["i2c"].values()) + list(d["uarts"].values()):
        uses += [v for k, v in bus.items() if k in ("sck", "mosi", "miso", "scl", "sda", "tx", "rx", "de")]
    shared = {d["drdy"]}  # wired-AND DRDY and common SYNC/RESET are shared on purpose
    sync = {c[1]["sync_reset"] for c in d["chips"].values() if c[0] == "ads131m04"}
    shared |= sync
    for c in d["chips"].values():
        uses += [v for k, v in c[1].items() if k in ("cs", "irq0", "irq1", "reset", "wp")]
    uses += list(shared)
    for o in d["outlets"].values():
        uses += [o[k] for k in ("set", "reset", "gate", "feedback") if k in o]
    uses += [n["pin"] for n in d["ntcs"].values()]
    dup = sorted({p for p in uses if uses.count(p) > 1})
    assert not dup, dup


def test_sim_and_hardware_boards_share_topology():
    a, b = dump("sim24"), dump("h743_24")
    assert a["platform"] == "sim" and b["platform"] == "mcu"
    for k in ("channels", "outlets", "branches", "chips", "spi", "i2c", "uarts", "ntcs", "ratings"):
        assert a[k] == b[k], k

"""Driver facts pinned to their public sources (issue: driver facts from their
sources). Each test names the source the value comes from; the drivers carry
the same citation beside the constant. Twins are checked too: a driver and
its twin written from one reading agree even where the reading is wrong."""
from mputil import run_mp_json


def ade(case):
    rows = run_mp_json(script="tests/mp/ade9000_cases.py", args=(case,), timeout=120)
    assert len(rows) == 1
    return rows[0]


def test_ade9000_facts_from_the_data_sheet():
    c = ade("facts")
    # Data sheet Rev. B p. 40: 2048 words hold 32 ms of 8 kSPS data for all
    # channels: 256 sets, 8 stored words each; 16 pages (WFB_LAST_PAGE is 4 bits)
    # of 128 words: 16 sets per page, none straddling.
    stored, burst, per_page, pages = c["geometry"]
    assert stored * 256 == 2048 and per_page * pages == 256 and per_page * stored == 128
    # A burst with BURST_CHAN = 0000 returns the stored channels packed: 7 words
    # per set with WF_IN_EN (Table 7 WFB_CFG), 6 without; the address steps 8
    # words per set. Linux drivers/iio/adc/ade9000.c reads 128 sets x 6 words per half.
    assert burst == 7
    got = c["burst_pages_2_3"]
    want = []
    for s in range(32, 64):
        want += [s * 16 + k for k in range(7)]
    assert got == want
    assert c["burst_6"] == [s * 16 + k for s in (1, 2) for k in range(6)]
    # PGA_GAIN codes: 00 x1, 01 x2, 10 x4, 11 x4 (Table 7, 0x4B9): gain 4 -> code 2
    # in every 2-bit field
    assert c["pga_reg"] == sum(2 << sh for sh in (0, 2, 4, 6, 8, 10, 12))
    # EP_CFG: EGY_PWR_EN = 1, EGY_LD_ACCUM = 0 (add to the user registers; Table 7 p. 76)
    assert c["ep_cfg"] & 0x0001 and not c["ep_cfg"] & 0x0010
    # xWATTHR = HI << 13 | LO[12:0] (Figure 65; UG-1098 p. 21)
    assert c["energy_raw"] == (0x12345 << 13) | 0x1ABC
    # one EGYRDY per second: EGY_TIME + 1 = 8000 samples; the 45-bit user register
    # wraps after 2^44 / (xWATT full scale 20,694,066 x 8000) s = 106.3 s (data sheet p. 34)
    assert c["egy_time"] == 7999
    assert round(2 ** 44 / (20694066 * 8000), 1) == 106.3


def test_sht4x_waits_follow_sensirions_driver():
    rows = run_mp_json(code="import json; from drivers import sht4x as s; print(json.dumps("
                            "[s._WAIT_MS[0xFD], s._WAIT_MS[0xF6], s._WAIT_MS[0xE0], s.RESET_MS, s.SERIAL_MS]))")
    # Sensirion embedded-i2c-sht4x sht4x_i2c.c: 10 / 5 / 2 ms measurements,
    # 10 ms after the serial-number command and after soft reset
    assert rows == [[10, 5, 2, 10, 10]]

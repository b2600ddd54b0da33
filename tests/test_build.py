"""`make mpy`: every firmware module compiles for the MCU class (armv7emsp)."""
import subprocess
import sys

from mputil import ROOT

FIRMWARE_DIRS = ["drivers", "core", "metrology", "protection", "firmware", "comms", "boardconfig"]
MP_NATIVE_ARCH_ARMV7EMSP = 7


def test_make_mpy_compiles_every_firmware_module(tmp_path):
    out = tmp_path / "mpy"
    r = subprocess.run([sys.executable, "-m", "tools.build_mpy", "--out", str(out)] + FIRMWARE_DIRS,
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    sources = sorted(p.relative_to(ROOT).with_suffix(".mpy") for d in FIRMWARE_DIRS
                     for p in (ROOT / d).rglob("*.py"))
    assert sources, "no firmware sources found"
    for rel in sources:
        mpy = out / rel
        assert mpy.exists(), "%s was not compiled" % rel
        head = mpy.read_bytes()[:4]
        assert head[0:1] == b"M" and head[1] == 6, (rel, head)
        src = (ROOT / rel.with_suffix(".py")).read_text()
        if "@micropython.viper" in src or "@micropython.native" in src:
            # Native code must be for the target, not the host.
            assert head[2] >> 2 == MP_NATIVE_ARCH_ARMV7EMSP, (rel, head)
    assert "compiled %d modules for armv7emsp" % len(sources) in r.stdout


def test_make_mpy_target_exists():
    text = (ROOT / "Makefile").read_text()
    assert "\nmpy:" in text and "tools.build_mpy" in text
    assert "-march" not in text or "armv7emsp" in text


def test_firmware_never_imports_simulation():
    # Twins and plant live in sim/ and only a PLATFORM "sim" board may reach them.
    bad = []
    for d in FIRMWARE_DIRS:
        for p in (ROOT / d).rglob("*.py"):
            for i, line in enumerate(p.read_text().splitlines(), 1):
                s = line.strip()
                if (s.startswith("import sim") or s.startswith("from sim")):
                    bad.append("%s:%d: %s" % (p.relative_to(ROOT), i, s))
    assert not bad, bad

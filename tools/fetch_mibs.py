"""The IETF base MIB modules (SNMPv2-SMI, -TC, -CONF, -MIB) that smilint and
net-snmp need to read mibs/RACK-PDU-MIB.txt. Debian's snmp and smitools
packages leave them out (they are in non-free snmp-mibs-downloader, which
fetches from the internet), so `make` takes them from a pinned package of
the npm registry, the Node.js net-snmp library, which carries them for its
own MIB parser: downloaded once, checked against its pinned sha512, the
four modules unpacked into .venv/mibs/ (for net-snmp: -M .venv/mibs:mibs).

libsmi (smilint) models the SMI's base syntax itself and does not export
ObjectSyntax from SNMPv2-SMI; the copy of SNMPv2-TC libsmi itself ships
imports TimeTicks only. .venv/mibs/libsmi/ holds the same modules with that
one import line changed so, for smilint (SMIPATH=.venv/mibs/libsmi).

    python -m tools.fetch_mibs     # idempotent; exit 1 with the reason on failure
"""
import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEST = ROOT / ".venv" / "mibs"
LIBSMI = DEST / "libsmi"
TC_IMPORT = "    ObjectSyntax, TimeTicks FROM SNMPv2-SMI;"
PACKAGE = "net-snmp"
VERSION = "3.29.2"
URL = "https://registry.npmjs.org/%s/-/%s-%s.tgz" % (PACKAGE, PACKAGE, VERSION)
INTEGRITY = "sha512-ZXQyrPayCUaZxkxXBvExAYjkvZsPDBYUpK8ljIzrA5a/jByYR4REr/hpbld9wJ0tCr8d/pM7pSogDC0B/syiXQ=="
MODULES = ("SNMPv2-SMI", "SNMPv2-TC", "SNMPv2-CONF", "SNMPv2-MIB")


def main():
    if all((d / (m + ".txt")).is_file() for m in MODULES for d in (DEST, LIBSMI)):
        return 0
    try:
        with urllib.request.urlopen(URL, timeout=60) as r:
            data = r.read()
    except OSError as e:
        print("fetch_mibs: cannot download %s: %s" % (URL, e), file=sys.stderr)
        return 1
    got = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if got != INTEGRITY:
        print("fetch_mibs: %s does not match its pinned sha512" % URL, file=sys.stderr)
        return 1
    LIBSMI.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as t:
        for m in MODULES:
            text = t.extractfile("package/lib/mibs/%s.mib" % m).read().decode()
            (DEST / (m + ".txt")).write_text(text)
            if m == "SNMPv2-TC":
                if TC_IMPORT not in text:
                    print("fetch_mibs: SNMPv2-TC's imports are not as expected", file=sys.stderr)
                    return 1
                text = text.replace(TC_IMPORT, "    TimeTicks FROM SNMPv2-SMI;")
            (LIBSMI / (m + ".txt")).write_text(text)
    print("fetch_mibs: %s into %s" % (", ".join(MODULES), DEST.relative_to(ROOT)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

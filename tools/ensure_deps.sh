#!/usr/bin/env bash
# Debian packages the tests need as real servers and clients (promtool from
# `prometheus`, curl, openssl, smilint from `smitools`, net-snmp's tools from
# `snmp`). Installs what is missing with apt-get; with
# CI=true a package that cannot be installed fails the run (no test skips for
# a missing tool).
set -u
need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v smilint >/dev/null 2>&1 || need+=(smitools)
command -v snmptranslate >/dev/null 2>&1 || need+=(snmp)
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${need[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
if $sudo apt-get install -y --no-install-recommends "${need[@]}" >/tmp/ensure_deps.log 2>&1 || \
   { $sudo apt-get update -qq >>/tmp/ensure_deps.log 2>&1 && \
     $sudo apt-get install -y --no-install-recommends "${need[@]}" >>/tmp/ensure_deps.log 2>&1; }; then
    exit 0
fi
echo "could not install ${need[*]} (see /tmp/ensure_deps.log)" >&2
tail -5 /tmp/ensure_deps.log >&2
exit 1

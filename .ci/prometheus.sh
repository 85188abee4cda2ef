#!/usr/bin/env bash
# Unpack Debian's `prometheus` package for the metrics e2e tests (a real Prometheus server that
# scrapes the stand-ins and answers PromQL; tests/e2e/test_monitoring_e2e.py).
#
# The package is fetched with apt (`apt-get download`, Debian bookworm: 2.42.0+ds-5+deb12u1) and
# unpacked with dpkg-deb, not `apt-get install`ed: its maintainer scripts add a system user and
# start a daemon on 0.0.0.0:9090, and the tests need only the two binaries, each started on a
# loopback port with a config of their own.
#
# Usage: .ci/prometheus.sh            (called by `make test` and `make e2e`)
# Env:   LING_PROMETHEUS_DIR          where it is unpacked (default /var/cache/ling-compose/prometheus);
#                                     the binaries end up in $LING_PROMETHEUS_DIR/usr/bin
#
# Idempotent: an unpacked binary that runs is left alone; a `prometheus` already on PATH is
# used as it is. Not root, or no apt: it says why and exits 0, so the tests skip with a reason
# (CI=true makes them fail).
set -euo pipefail

dir="${LING_PROMETHEUS_DIR:-/var/cache/ling-compose/prometheus}"
bin="$dir/usr/bin/prometheus"
say() { echo "prometheus: $*"; }

if command -v prometheus >/dev/null 2>&1; then
  say "using $(command -v prometheus): $(prometheus --version 2>&1 | head -1)"
  exit 0
fi
if [ -x "$bin" ] && "$bin" --version >/dev/null 2>&1; then
  say "already unpacked: $("$bin" --version 2>&1 | head -1)"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  say "not root on Debian: cannot fetch the prometheus package (the metrics e2e tests will skip)"
  exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"  # apt fetches as its own user _apt, who must be able to write here
# apt-get download needs the package lists; update them only when prometheus is not in them.
if ! apt-cache show prometheus >/dev/null 2>&1; then
  apt-get update -qq
fi
(cd "$tmp" && apt-get download -qq prometheus)
mkdir -p "$dir"
dpkg-deb -x "$tmp"/prometheus_*.deb "$dir"
say "unpacked $(basename "$tmp"/prometheus_*.deb) into $dir: $("$bin" --version 2>&1 | head -1)"

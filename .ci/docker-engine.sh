#!/usr/bin/env bash
# Install and start a Docker engine for the e2e tests (recipe: shared/docker-here.md), and
# Docker Compose v2 beside it (.ci/compose-v2.sh).
#
# Usage:
#   .ci/docker-engine.sh                       # the main engine, on /var/run/docker.sock,
#                                              # with a no-op NVIDIA hook (GPU requests succeed)
#   .ci/docker-engine.sh --no-gpu-hook --socket /tmp/ling-nogpu.sock
#                                              # a SECOND engine without the hook, with its own
#                                              # data-root/exec-root/pidfile under /tmp, for the
#                                              # "no NVIDIA container runtime" test
#   .ci/docker-engine.sh --stop --socket /tmp/ling-nogpu.sock   # stop a second engine
#
# Env: LING_COMPOSE_NO_GPU_HOOK=1 is the same as --no-gpu-hook.
#      LING_COMPOSE_ENGINE_WAIT (seconds, default 60) bounds the wait for `docker info`.
#
# Idempotent: when the engine already answers it does nothing. Not root or not Debian: it says
# why and exits 0, so tests skip with a reason (CI=true makes the tests fail instead).
set -euo pipefail

socket=""
no_hook="${LING_COMPOSE_NO_GPU_HOOK:-0}"
stop=0
while [ $# -gt 0 ]; do
  case "$1" in
    --no-gpu-hook) no_hook=1 ;;
    --socket) socket="$2"; shift ;;
    --stop) stop=1 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "docker-engine.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

say() { echo "docker-engine: $*"; }

if [ -n "$socket" ]; then
  # A second engine: everything it owns lives under one /tmp folder named after the socket,
  # so it never touches the main engine's state.
  tag="$(basename "$socket" .sock)"
  base="/tmp/${tag}-engine"
  host="unix://$socket"
  log="$base/dockerd.log"
  # Run in its own network namespace (see `launch` below): sharing the host's would let
  # the two daemons fight over docker0 (a second dockerd deletes it at start-up or shutdown).
  extra=(--data-root "$base/data" --exec-root "$base/exec" --pidfile "$base/dockerd.pid"
         --host "$host" --iptables=false --ip-masq=false)
  # A new network namespace starts with loopback down: bring it up so 127.0.0.1 ports publish.
  launch=(unshare --net sh -c 'ip link set lo up && exec "$@"' sh)
else
  base="/var/lib/ling-compose-engine"
  host="unix:///var/run/docker.sock"
  log="/var/log/ling-compose-dockerd.log"
  extra=()
  launch=()
fi

if [ "$stop" = 1 ]; then
  pidfile="${socket:+$base/dockerd.pid}"
  pidfile="${pidfile:-/var/run/docker.pid}"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill "$(cat "$pidfile")"
    for _ in $(seq 1 50); do kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null || break; sleep 0.2; done
    say "stopped the engine on $host"
  else
    say "no engine running on $host"
  fi
  exit 0
fi

# Docker Compose v2, the `docker compose` users run, is what the tests check rendered files with.
if [ -z "$socket" ]; then
  bash "$(dirname "$0")/compose-v2.sh" \
    || say "warning: Docker Compose v2 is not installed (see above): tests that need it skip, or fail when CI=true"
fi

if docker -H "$host" info >/dev/null 2>&1; then
  say "an engine already answers on $host; nothing to do"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  say "not root: cannot install or start dockerd (e2e tests will skip)"
  exit 0
fi
if ! grep -qi '^ID=debian' /etc/os-release 2>/dev/null; then
  say "not Debian: this script only knows Debian's packages (e2e tests will skip)"
  exit 0
fi

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$base"
path="$PATH"
if [ "$no_hook" != 1 ]; then
  # dockerd registers its "nvidia" device driver only when this executable is on its PATH at
  # start-up; a no-op stands in for the NVIDIA container toolkit (no GPU on these machines).
  hookdir="$base/hook-bin"
  mkdir -p "$hookdir"
  cat > "$hookdir/nvidia-container-runtime-hook" <<'EOF'
#!/bin/sh
# No-op stand-in for the NVIDIA container toolkit's OCI hook (ling_compose e2e tests).
echo "$(date -u +%FT%TZ) $*" >> /tmp/ling-nvidia-hook.log
cat >/dev/null
exit 0
EOF
  chmod +x "$hookdir/nvidia-container-runtime-hook"
  path="$hookdir:$PATH"
  say "no-op nvidia-container-runtime-hook put on dockerd's PATH ($hookdir)"
else
  # dockerd registers the driver when exec.LookPath finds the hook (moby daemon/nvidia_linux.go,
  # init), so hide EVERY hook on PATH: ours, and the NVIDIA toolkit's on a real GPU host. A PATH
  # folder holding one is replaced by a folder of symlinks to its other entries, because the hook
  # usually sits in /usr/bin beside dockerd, containerd and runc, which the engine still needs.
  hidden=()
  new_path=()
  IFS=: read -ra dirs <<< "$PATH"
  for dir in "${dirs[@]}"; do
    if [ -n "$dir" ] && [ -e "$dir/nvidia-container-runtime-hook" ]; then
      mirror="$base/path/${#hidden[@]}"
      rm -rf "$mirror" && mkdir -p "$mirror"
      for entry in "$dir"/* "$dir"/.[!.]*; do
        if [ -e "$entry" ] && [ "${entry##*/}" != nvidia-container-runtime-hook ]; then
          ln -s "$entry" "$mirror/"
        fi
      done
      hidden+=("$dir/nvidia-container-runtime-hook")
      dir="$mirror"
    fi
    new_path+=("$dir")
  done
  path="$(IFS=:; echo "${new_path[*]}")"
  if [ ${#hidden[@]} -gt 0 ]; then say "hid from this engine: ${hidden[*]}"; fi
  if found="$(PATH="$path" command -v nvidia-container-runtime-hook)"; then
    say "cannot hide $found from the engine: GPU requests would not fail"
    exit 1
  fi
  say "starting without the NVIDIA hook"
fi

mkdir -p "$(dirname "$log")"
say "starting dockerd on $host (log: $log)"
PATH="$path" nohup "${launch[@]}" dockerd "${extra[@]}" >"$log" 2>&1 &
pid=$!

wait_s="${LING_COMPOSE_ENGINE_WAIT:-60}"
for _ in $(seq 1 $((wait_s * 5))); do
  if docker -H "$host" info >/dev/null 2>&1; then
    say "engine ready on $host (dockerd pid $pid, $(docker -H "$host" version -f '{{.Server.Version}}'))"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    say "dockerd exited; last log lines:"
    tail -n 20 "$log" >&2
    exit 1
  fi
  sleep 0.2
done
say "dockerd did not answer within ${wait_s}s; last log lines:"
tail -n 20 "$log" >&2
exit 1

#!/usr/bin/env bash
# Soaks a real `rendezvous serve`: N sessions (C at a time) through the relay, each a random-sized payload
# each way (1 B to --max-size, log-uniform), every byte checked and SHA-256 compared both ways, each side
# half-closing after its payload and reading to the end. Faults on request: one side of some sessions
# aborts its socket (RST) mid-stream (kill); the server gets SIGTERM mid-run and is started again on the
# same ports (restart). Prints sessions ok / lost / corrupted / ended by fault, bytes each way, and the
# server's RSS and open descriptors before / peak / after. See docs/reliability.md.
#
#   eng/soak.sh [--sessions N] [--concurrency C] [--max-size B] [--seconds T] [--faults none|kill|restart|all]
#               [--kill-share F] [--read-pause MS] [--seed N] [--drain S] [--no-build]
#
# Defaults (about a minute): --sessions 10000 --concurrency 32 --max-size 8M --seconds 60 --faults none.
# --drain is the server's Rendezvous:DrainTimeout in seconds (0: SIGTERM cuts every running session, the
# hard case for the restart fault; the service default is 10).
# Sizes take a K or M suffix (KiB, MiB). --kill-share is the share of sessions killed with --faults kill|all
# (0.1). --read-pause makes every reader wait that many milliseconds after each read (up to 64 KiB), so that
# what was sent is still queued in the kernel's buffers (the relay's among them) when sessions end (0).
# --seed repeats a run's sizes and faults (it prints its seed).
# Exit code 0: nothing lost, corrupted or refused outside a fault; 1: something was; 2: bad arguments or
# the run did not finish in time. Everything it starts is killed by PID on exit; every phase is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: eng/soak.sh [--sessions N] [--concurrency C] [--max-size B] [--seconds T] [--faults none|kill|restart|all] [--kill-share F] [--read-pause MS] [--seed N] [--drain S] [--no-build]"
sessions=10000
concurrency=32
max_size=8M
seconds=60
faults=none
kill_share=0.1
read_pause=0
seed=
drain=0
build=1
number() { # flag value
  [[ "$2" =~ ^[0-9]+$ ]] || { echo "$1 must be a whole number, not '$2'; $usage" >&2; exit 2; }
}
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0; shift; continue ;;
    --sessions|--concurrency|--max-size|--seconds|--faults|--kill-share|--read-pause|--seed|--drain)
      [ $# -ge 2 ] || { echo "$1 needs a value; $usage" >&2; exit 2; } ;;
    *) echo "unknown argument '$1'; $usage" >&2; exit 2 ;;
  esac
  case "$1" in
    --sessions) number "$1" "$2"; sessions=$2 ;;
    --concurrency) number "$1" "$2"; concurrency=$2 ;;
    --max-size) max_size=$2 ;;
    --seconds) number "$1" "$2"; seconds=$2 ;;
    --faults)
      case "$2" in none|kill|restart|all) faults=$2 ;; *) echo "--faults must be none, kill, restart or all, not '$2'" >&2; exit 2 ;; esac ;;
    --kill-share) kill_share=$2 ;;
    --read-pause) read_pause=$2 ;;
    --seed) number "$1" "$2"; seed=$2 ;;
    --drain) number "$1" "$2"; drain=$2 ;;
  esac
  shift 2
done
case "$max_size" in
  *[Kk]) number --max-size "${max_size%?}"; max_size=$(( ${max_size%?} * 1024 )) ;;
  *[Mm]) number --max-size "${max_size%?}"; max_size=$(( ${max_size%?} * 1024 * 1024 )) ;;
  *) number --max-size "$max_size" ;;
esac
[ "$sessions" -ge 1 ] && [ "$concurrency" -ge 1 ] && [ "$max_size" -ge 1 ] && [ "$seconds" -ge 1 ] \
  || { echo "--sessions, --concurrency, --max-size and --seconds must be at least 1; $usage" >&2; exit 2; }

LOG_NAME=soak
# shellcheck source=eng/common.sh
source eng/common.sh

# --- build -----------------------------------------------------------------------------------------
rendezvous=src/Rendezvous.Host/bin/Release/net10.0/rendezvous
loadgen=tests/Rendezvous.Benchmarks/bin/Release/net10.0/loadgen
if [ "$build" = 1 ]; then
  log "building Release (rendezvous, loadgen)"
  for project in src/Rendezvous.Host tests/Rendezvous.Benchmarks; do
    timeout 600 dotnet build "$project" -c Release -nologo -v q -clp:NoSummary >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 2; }
  done
fi
[ -x "$rendezvous" ] && [ -x "$loadgen" ] || { log "$rendezvous or $loadgen is missing: build them (without --no-build)"; exit 2; }

# Two sockets per session at the server and at the generator, plus the parked ones.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# --- the server ------------------------------------------------------------------------------------
data="$work/data"
mkdir -p "$data"
# A restart forgets registrations and codes are single-use per UUID, also across restarts: one user per start.
users=("$(add_user "$rendezvous" "$data")" "$(add_user "$rendezvous" "$data")")
next_user=0
registrar_port=$(free_port)
relay_port=$(free_port)
server_pid=
cookie=
start_server() {
  log "starting rendezvous serve: registrar :$registrar_port, relay :$relay_port"
  # Every session comes from 127.0.0.1 for one UUID: the per-address caps are raised (more than eng/bench.sh: at
  # --concurrency 1000 a burst of 2,000 connections has not sent its first line yet).
  # --drain: how long a SIGTERM lets running sessions go on.
  Rendezvous__Admin__Url=none \
  Rendezvous__DrainTimeout="$(printf '%02d:%02d:%02d' $((drain / 3600)) $((drain / 60 % 60)) $((drain % 60)))" \
  Rendezvous__Relay__ParkedConnectionsPerCookie=1024 \
  Rendezvous__Relay__InitiatorGracePeriod=00:00:30 \
  Rendezvous__Relay__MaxHandshakesPerAddress=100000 \
  Rendezvous__Relay__MaxSessionsPerAddressPerUuid=100000 \
  Logging__LogLevel__Default=Warning \
    "$rendezvous" serve --data-dir "$data" \
      --registrar-url "https://127.0.0.1:$registrar_port" --rendezvous-endpoint "127.0.0.1:$relay_port" \
      >>"$work/server.log" 2>&1 &
  server_pid=$!
  started_pids+=("$server_pid")
  wait_port "$relay_port" 60 && wait_port "$registrar_port" 30 || { tail -20 "$work/server.log" >&2; exit 2; }
  local pin u s
  pin=$(grep -oE 'fingerprint ([0-9A-F]{2}:){31}[0-9A-F]{2}' "$work/server.log" | tail -1 | awk '{print $2}')
  [ -n "$pin" ] || { log "no certificate fingerprint in the server log"; tail -20 "$work/server.log" >&2; exit 2; }
  read -r u s <<<"${users[$next_user]}"; next_user=$((next_user + 1))
  cookie=$(timeout 70 "$loadgen" register --target relay --registrar "https://127.0.0.1:$registrar_port" --pin "$pin" \
    --uuid "$u" --secret "$s" --timeout 60 | grep -oE '"cookie":"R[^"]+"' | cut -d'"' -f4 || true)
  [ -n "$cookie" ] || { log "registration failed"; tail -20 "$work/server.log" >&2; exit 2; }
}
stop_server() { # SIGTERM, as systemd does; bounded, then SIGKILL
  kill -TERM "$server_pid" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while kill -0 "$server_pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
  if kill -0 "$server_pid" 2>/dev/null; then log "serve did not stop within 30 s of SIGTERM; killing it"; kill -9 "$server_pid" 2>/dev/null || true; fi
  local code=0
  wait "$server_pid" 2>/dev/null || code=$?
  [ "$code" = 0 ] || log "serve exited with code $code after SIGTERM"
  forget_pid "$server_pid"
}

start_server

# --- the soak --------------------------------------------------------------------------------------
bound=$((seconds + 180))
args=(soak --target relay --relay "127.0.0.1:$relay_port" --cookie "$cookie" --server-pid "$server_pid"
  --sessions "$sessions" --concurrency "$concurrency" --max-size "$max_size" --seconds "$seconds"
  --faults "$faults" --kill-share "$kill_share" --read-pause "$read_pause" --restart-request "$work/restart" --restart-done "$work/restarted"
  --timeout "$bound")
[ -n "$seed" ] && args+=(--seed "$seed")
log "loadgen ${args[*]}"
timeout --kill-after=5 "$((bound + 10))" "$loadgen" "${args[@]}" >"$work/soak.out" 2>"$work/soak.err" &
gen_pid=$!
started_pids+=("$gen_pid")
# The generator asks for the restart through a file; this loop does it and answers through another.
while kill -0 "$gen_pid" 2>/dev/null; do
  if [ -f "$work/restart" ]; then
    rm -f "$work/restart"
    log "restart: SIGTERM to serve (PID $server_pid)"
    stop_server
    start_server
    log "restart: serve is back (PID $server_pid)"
    echo "$server_pid 127.0.0.1:$relay_port $cookie" >"$work/restarted.tmp"
    mv "$work/restarted.tmp" "$work/restarted"
  fi
  sleep 0.1
done
code=0
wait "$gen_pid" || code=$?

grep -v '^{' "$work/soak.out" || true
cat "$work/soak.err" >&2
if ! kill -0 "$server_pid" 2>/dev/null; then log "serve (PID $server_pid) is no longer running"; code=1; fi
if grep -qE 'Unhandled exception|Out of memory' "$work/server.log"; then
  log "the server log has a crash:"; grep -E -A5 'Unhandled exception|Out of memory' "$work/server.log" | head -20 >&2; code=1
fi
grep '^{' "$work/soak.out" >"${SOAK_RESULTS:-/tmp/rendezvous-soak-result.json}" 2>/dev/null || true
exit "$code"

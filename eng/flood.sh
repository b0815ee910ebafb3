#!/usr/bin/env bash
# Memory of the server under hostile floods (docs/performance.md, "Memory under floods"): starts a fresh
# `rendezvous serve` per scenario and runs tests/Rendezvous.Benchmarks' loadgen against it, printing one JSON line each:
#
#   slowloris  N connections to the relay from 100 source addresses (127.0.0.2-101) that never finish their
#              first line; RSS before, with all open (bytes per stalled connection), 10/30/60 s after closing them
#   tlschurn   N registrar connections (TLS handshake, GET /healthz, close), 16 at a time; RSS before, at the
#              end, and 10/30/60 s after
#
#   eng/flood.sh [--slowloris N] [--partial BYTES] [--tlschurn N] [--no-build]
#                defaults: --slowloris 5000 --partial 10 --tlschurn 20000; 0 skips a scenario
#
# The relay's per-address handshake cap and first-line timeout are raised for the run (the flood must stay open
# while RSS is sampled), as is the registrar's per-address cap. Everything started is killed by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

slowloris=5000 partial=10 tlschurn=20000 build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --slowloris) slowloris=${2:?--slowloris needs a count}; shift ;;
    --partial) partial=${2:?--partial needs a byte count (0-65)}; shift ;;
    --tlschurn) tlschurn=${2:?--tlschurn needs a count}; shift ;;
    --no-build) build=0 ;;
    *) echo "unknown argument '$1'; usage: eng/flood.sh [--slowloris N] [--partial BYTES] [--tlschurn N] [--no-build]" >&2; exit 2 ;;
  esac
  shift
done

LOG_NAME=flood
# shellcheck source=eng/common.sh
source eng/common.sh
server_pid=

if [ "$build" = 1 ]; then
  log "building Release"
  timeout 600 dotnet build src/Rendezvous.Host -c Release -nologo -v q -clp:NoSummary >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
  timeout 600 dotnet build tests/Rendezvous.Benchmarks -c Release -nologo -v q -clp:NoSummary >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
fi
rendezvous=src/Rendezvous.Host/bin/Release/net10.0/rendezvous
loadgen=tests/Rendezvous.Benchmarks/bin/Release/net10.0/loadgen
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

start_server() {
  registrar_port=$(free_port); relay_port=$(free_port)
  mkdir -p "$work/data"
  # shellcheck disable=SC2086
  env ${RENDEZVOUS_FLOOD_SERVER_ENV:-} \
  Rendezvous__Admin__Url=none \
  Rendezvous__Relay__FirstLineTimeout=00:05:00 \
  Rendezvous__Relay__MaxHandshakesPerAddress=1000 \
  Rendezvous__RegistrarMaxConnectionsPerAddress=1000 \
  Logging__LogLevel__Default=Warning \
    "$rendezvous" serve --data-dir "$work/data" \
      --registrar-url "https://127.0.0.1:$registrar_port" --rendezvous-endpoint "127.0.0.1:$relay_port" \
      >"$work/server.log" 2>&1 &
  server_pid=$!
  started_pids+=("$server_pid")
  wait_port "$relay_port" 60
  wait_port "$registrar_port" 30
  sleep 2 # let start-up allocations settle before the "before" sample
}
stop_server() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  forget_pid "$server_pid"
  server_pid=
}

if [ "$slowloris" -gt 0 ]; then
  start_server
  log "slowloris: $slowloris connections, $partial byte(s) of a first line each, from 100 addresses (pid $server_pid)"
  timeout 300 "$loadgen" slowloris --relay "127.0.0.1:$relay_port" --sessions "$slowloris" --partial "$partial" \
    --addresses 100 --concurrency 64 --settle 3 --server-pid "$server_pid" --timeout 280
  stop_server
fi
if [ "$tlschurn" -gt 0 ]; then
  start_server
  log "tlschurn: $tlschurn registrar connections, 16 at a time (pid $server_pid)"
  timeout 300 "$loadgen" tlschurn --registrar "https://127.0.0.1:$registrar_port" --count "$tlschurn" \
    --addresses 100 --concurrency 16 --server-pid "$server_pid" --timeout 280
  stop_server
fi

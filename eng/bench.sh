#!/usr/bin/env bash
# Benchmarks the relay on both of its transports (Rendezvous:Relay:Transport socket and epoll) against haproxy 2.6
# (mode tcp, one thread) on the same loopback traffic, in the same run, and prints one table: metric, the relay on
# each transport, haproxy, each transport's ratio to haproxy, target, met? for each. See docs/performance.md.
#
#   eng/bench.sh            full run: every scenario, medians of 3 repeats, micro-benchmarks
#   eng/bench.sh --quick    1 repeat, short durations
#   eng/bench.sh --smoke    1 repeat, tiny durations, 200 idle sessions and 400 parked connections (checks the script works)
#   --only LIST             run only these scenarios, comma-separated: tp, lat, rate, idle, parked, pool, cluster, micro
#                           (e.g. --quick --only rate,idle while working on one figure)
#   --transport T           socket, epoll or both (the default): the relay's transports that tp, lat, rate, idle and
#                           parked run on; each has a server of its own (pool and cluster use the default transport)
#   --as-deployed           the servers also get the Environment= lines of deploy/rendezvous.service (the systemd unit's
#                           runtime settings: DOTNET_GCgen0size); without it they run with the runtime's defaults
#
# parked: one fresh server per transport holds 19,000 parked responders (R<cookie>, no +OK until paired; 20 users
# with 950 each, parked by two generator processes) and its RSS per parked connection is reported, then every one
# is checked still parked and 100 are paired, a byte each way (a table of its own: haproxy has no parked connections).
#
# pool: a busy hidden server (bursts of concurrent clients) and an idle one (one client now and then), each with a
# fixed pool of 1 and of 8 and following the registrar's pool advice, on a server with a 1 s grace period; prints
# clients refused "not ready", clients that waited, and the connections each kept parked (a table of its own).
#
# cluster: three `serve --cluster` nodes on one redis-server against one node on SQLite, in the same run:
# registrations and lookups per second through one and three nodes, the latency Redis adds, and a node's
# rendezvous rate (target ≥ 0.9× of one node). Its users are written in bulk in the original's Redis format and
# imported with `users import --from-redis`.
#
# The server and haproxy run pinned to core 0, the load generator (tests/Rendezvous.Benchmarks) to core 1.
# Everything it starts is killed by PID on exit; every phase is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: eng/bench.sh [--quick|--smoke] [--transport socket|epoll|both] [--as-deployed] [--only tp,lat,rate,idle,parked,pool,cluster,micro]"
mode=full
only=tp,lat,rate,idle,parked,pool,cluster,micro
transport=both
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) mode=quick ;;
    --smoke) mode=smoke ;;
    --as-deployed)
      unit_env=$(sed -n 's/^Environment=//p' deploy/rendezvous.service | paste -sd' ')
      RENDEZVOUS_BENCH_SERVER_ENV="${RENDEZVOUS_BENCH_SERVER_ENV:+$RENDEZVOUS_BENCH_SERVER_ENV }$unit_env"
      export RENDEZVOUS_BENCH_SERVER_ENV ;;
    --transport)
      [ $# -ge 2 ] || { echo "--transport needs socket, epoll or both; $usage" >&2; exit 2; }
      case "$2" in
        socket|epoll|both) transport=$2 ;;
        *) echo "--transport: unknown transport '$2'; known: socket, epoll, both" >&2; exit 2 ;;
      esac
      shift ;;
    --only)
      [ $# -ge 2 ] || { echo "--only needs a list of scenarios; $usage" >&2; exit 2; }
      only=$2; shift
      for s in ${only//,/ }; do
        case "$s" in
          tp|lat|rate|idle|parked|pool|cluster|micro) ;;
          *) echo "--only: unknown scenario '$s'; known: tp, lat, rate, idle, parked, pool, cluster, micro" >&2; exit 2 ;;
        esac
      done ;;
    *) echo "unknown argument '$1'; $usage" >&2; exit 2 ;;
  esac
  shift
done
wants() { [[ ",$only," == *",$1,"* ]]; }
if [ "$transport" = both ]; then transports=(socket epoll); else transports=("$transport"); fi

case "$mode" in
  full)  repeats=3; tp_seconds=8; lat_rounds=5; lat_count=4000; rate_seconds=8; idle_sessions=9000; parked_connections=19000; pool_seconds=30; cluster_seconds=3; cluster_slice=3000; micro=1 ;;
  quick) repeats=1; tp_seconds=3; lat_rounds=3; lat_count=2000; rate_seconds=3; idle_sessions=9000; parked_connections=19000; pool_seconds=15; cluster_seconds=2; cluster_slice=2000; micro=1 ;;
  smoke) repeats=1; tp_seconds=1; lat_rounds=1; lat_count=300;  rate_seconds=1; idle_sessions=200;  parked_connections=400;   pool_seconds=4;  cluster_seconds=1; cluster_slice=200;  micro=0 ;;
esac
# Parked: the server holds 19,000 sockets plus its own few hundred descriptors (listeners, SQLite, the runtime's)
# under the open-files limit of 20,000, with room for the 100 initiators of the final check. 20 users of 950
# parked each stay below ParkedConnectionsPerCookie's maximum of 1,024; each of the two generator processes
# holds half the connections (9,550 sockets at most), well below its own limit.
parked_cookies=20
parked_check=100
rate_concurrency=16
rate_warmup_seconds=$((rate_seconds < 3 ? 1 : 10)) # 1 s for --smoke
server_core=0
generator_core=1
if [ "$(nproc)" -lt 2 ]; then generator_core=0; fi

LOG_NAME=bench
# shellcheck source=eng/common.sh
source eng/common.sh

# --- haproxy ---------------------------------------------------------------------------------------
if ! command -v haproxy >/dev/null; then
  log "installing haproxy"
  if ! apt-cache show haproxy >/dev/null 2>&1; then timeout 300 apt-get update -qq; fi
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq haproxy >/dev/null
fi
log "$(haproxy -v | head -1)"

# --- build -----------------------------------------------------------------------------------------
log "building Release"
timeout 600 dotnet build Rendezvous.sln -c Release -nologo -v q -clp:NoSummary >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
rendezvous=src/Rendezvous.Host/bin/Release/net10.0/rendezvous
loadgen=tests/Rendezvous.Benchmarks/bin/Release/net10.0/loadgen

# 18,000 sockets per process at 9,000 sessions; raise the open-files limit where allowed.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log "open-files limit $(ulimit -n)"

# --- server ----------------------------------------------------------------------------------------
# One server per transport (socket, epoll), each with a data directory of its own; "default" (the setting left out)
# for pool. Codes are single-use per UUID, also across restarts, so every server start adds fresh users to its data
# directory (before it starts) and registers them.
declare -A server_pids=() relay_ports=() cookies1=() cookies2=()
# The pool scenario registers again every few seconds: entries with a 1 s TOTP step, one per run (demand is per UUID).
pool_users=()
if wants pool; then
  mkdir -p "$work/data-default"
  for _ in 1 2 3 4 5 6; do pool_users+=("$(add_user "$rendezvous" "$work/data-default" --step 1)"); done
fi
server_pid=
start_server() { # transport [extra-users]: socket, epoll or default; registers 2 users (cookie1, cookie2) and extra ones (extra_cookies)
  local t=$1 extra=${2:-0} data="$work/data-$1" transport_env=() fresh=() u s i
  [ "$t" = default ] || transport_env=("Rendezvous__Relay__Transport=$t")
  mkdir -p "$data"
  for _ in $(seq 1 $((2 + extra))); do fresh+=("$(add_user "$rendezvous" "$data")"); done
  registrar_port=$(free_port)
  relay_port=$(free_port)
  log "starting rendezvous serve, transport $t (core $server_core): registrar :$registrar_port, relay :$relay_port"
  # RENDEZVOUS_BENCH_SERVER_ENV adds environment variables for the server only, e.g.
  # "Rendezvous__Relay__InlineSocketCompletions=false", to measure a setting without code changes.
  # The admin listener (and the OpenTelemetry meter provider behind its /metrics) is off: this measures the relay alone.
  # shellcheck disable=SC2086
  env ${RENDEZVOUS_BENCH_SERVER_ENV:-} \
  Rendezvous__Admin__Url=none \
  Rendezvous__Relay__ParkedConnectionsPerCookie=1024 \
  Rendezvous__Relay__InitiatorGracePeriod=00:00:30 \
  Rendezvous__Relay__MaxHandshakesPerAddress=1024 \
  Rendezvous__Relay__MaxSessionsPerAddressPerUuid=100000 \
  Logging__LogLevel__Default=Warning \
  "${transport_env[@]}" ${pool_server_env:-} ${parked_server_env:-} \
    taskset -c "$server_core" "$rendezvous" serve --data-dir "$data" \
      --registrar-url "https://127.0.0.1:$registrar_port" --rendezvous-endpoint "127.0.0.1:$relay_port" \
      >"$work/server-$t.log" 2>&1 &
  server_pid=$!
  started_pids+=("$server_pid")
  server_pids[$t]=$server_pid
  relay_ports[$t]=$relay_port
  wait_port "$relay_port" 60
  wait_port "$registrar_port" 30
  pin=$(grep -oE 'fingerprint ([0-9A-F]{2}:){31}[0-9A-F]{2}' "$work/server-$t.log" | head -1 | awk '{print $2}')
  [ -n "$pin" ] || { log "no certificate fingerprint in the server log"; cat "$work/server-$t.log"; exit 1; }
  read -r u s <<<"${fresh[0]}"
  cookies1[$t]=$(register "$u" "$s" || true)
  read -r u s <<<"${fresh[1]}"
  cookies2[$t]=$(register "$u" "$s" || true)
  [ -n "${cookies1[$t]}" ] && [ -n "${cookies2[$t]}" ] || { log "registration failed"; exit 1; }
  extra_cookies=()
  for i in $(seq 2 $((1 + extra))); do
    read -r u s <<<"${fresh[$i]}"
    extra_cookies+=("$(register "$u" "$s" || true)")
    [ -n "${extra_cookies[-1]}" ] || { log "registration failed"; exit 1; }
  done
}
relay_args() { # transport 1|2 -> the generator's arguments for that server and its first or second user, in $args
  local cookie
  if [ "$2" = 1 ]; then cookie=${cookies1[$1]}; else cookie=${cookies2[$1]}; fi
  args=(--target relay --cookie "$cookie" --relay "127.0.0.1:${relay_ports[$1]}" --server-pid "${server_pids[$1]}")
}
stop_pid() { # pid: SIGTERM, SIGKILL after 30 s
  kill "$1" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while kill -0 "$1" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  forget_pid "$1"
}

# --- haproxy ---------------------------------------------------------------------------------------
front1=$(free_port); back1=$(free_port); front2=$(free_port); back2=$(free_port)
cat >"$work/haproxy.cfg" <<CFG
global
    nbthread 1
    maxconn 40000
    # The open-files limit (20,000 here) is below what maxconn 40000 asks for (80,014); run anyway, as 9,000
    # sessions need only 18,000 descriptors.
    no strict-limits
defaults
    mode tcp
    timeout connect 10s
    timeout client 1h
    timeout server 1h
frontend f1
    bind 127.0.0.1:$front1
    default_backend b1
backend b1
    server s1 127.0.0.1:$back1
frontend f2
    bind 127.0.0.1:$front2
    default_backend b2
backend b2
    server s2 127.0.0.1:$back2
CFG
haproxy_pid=
start_haproxy() {
  log "starting haproxy (core $server_core): frontends :$front1 :$front2"
  taskset -c "$server_core" haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
  haproxy_pid=$!
  started_pids+=("$haproxy_pid")
  wait_port "$front1" 30
  haproxy1=(--target haproxy --front "127.0.0.1:$front1" --backend-port "$back1" --server-pid "$haproxy_pid")
  haproxy2=(--target haproxy --front "127.0.0.1:$front2" --backend-port "$back2" --server-pid "$haproxy_pid")
}

# --- the generator ---------------------------------------------------------------------------------
gen() { # bound-seconds args...
  local bound=$1; shift
  DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 DOTNET_TieredCompilation=1 \
    timeout --kill-after=5 "$((bound + 10))" taskset -c "$generator_core" "$loadgen" "$@" --timeout "$bound"
}
register() { # uuid secret -> R cookie
  gen 60 register --target relay --registrar "https://127.0.0.1:$registrar_port" --pin "$pin" --uuid "$1" --secret "$2" \
    | grep -oE '"cookie":"R[^"]+"' | cut -d'"' -f4
}
stop_servers() { # every relay server started by start_server
  local t
  for t in "${!server_pids[@]}"; do stop_pid "${server_pids[$t]}"; done
  server_pids=()
}
if wants tp || wants lat || wants rate; then
  for t in "${transports[@]}"; do start_server "$t"; done
fi
if wants tp || wants lat || wants rate || wants idle; then start_haproxy; fi
direct=(--target direct)
results="$work/results.tsv"
: >"$results"
failures=0

record() { # label repeat bound args...
  local label=$1 repeat=$2 bound=$3; shift 3
  local out
  if out=$(gen "$bound" "$@" 2>>"$work/generator.err"); then :; else
    failures=$((failures + 1)); log "$label (repeat $repeat) failed: $(tail -1 "$work/generator.err")"
  fi
  out=$(echo "$out" | grep '^{' | tail -1 || true)
  [ -n "$out" ] && printf '%s\t%s\t%s\n' "$label" "$repeat" "$out" >>"$results"
  log "$label #$repeat: ${out:0:220}"
}

wait_for_free_ports() {
  # A rate run closes thousands of connections a second, and each leaves a TIME_WAIT entry that holds a loopback
  # port for 60 s. Once most of the ephemeral range (28,232 ports here) is held, every connect() has to search for a
  # port it may reuse, and the generator slows down: the target that ran last paid for the ones before it (haproxy,
  # in this script's order). So each rate run waits until the entries are gone (at most 70 s).
  local deadline=$((SECONDS + 70)) held
  while held=$(ss -Htan state time-wait | wc -l) && [ "$held" -ge 1000 ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 1; done
  [ "$held" -lt 1000 ] || log "still $held TIME_WAIT entries after 70 s; the next rate run may be slowed by them"
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

fds_of() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

held_run() { # label repeat bound pid fallback-json argsA... -- argsB...
  # Two generators (each `loadgen SCENARIO ...` with --ready-file and --go-file) hold their connections at the same
  # time; the server's RSS and open descriptors are sampled before and 3 s after both are ready (into the caller's
  # before, after, fds_before, fds_after), then both check and close theirs and each run's line is recorded.
  local label=$1 repeat=$2 bound=$3 pid=$4 fallback=$5; shift 5
  local a=() b=() ga gb go="$work/go-$label-$repeat"
  while [ "$1" != "--" ]; do a+=("$1"); shift; done; shift; b=("$@")
  before=$(rss_kib "$pid"); fds_before=$(fds_of "$pid")
  gen "$bound" "${a[@]}" --ready-file "$work/ready-a" --go-file "$go" >"$work/held-a.json" 2>>"$work/generator.err" &
  ga=$!
  gen "$bound" "${b[@]}" --ready-file "$work/ready-b" --go-file "$go" >"$work/held-b.json" 2>>"$work/generator.err" &
  gb=$!
  started_pids+=("$ga" "$gb")
  local deadline=$((SECONDS + bound))
  while { [ ! -f "$work/ready-a" ] || [ ! -f "$work/ready-b" ]; } && [ "$SECONDS" -lt "$deadline" ] && kill -0 "$ga" 2>/dev/null && kill -0 "$gb" 2>/dev/null; do sleep 0.2; done
  sleep 3 # let the connections settle
  after=$(rss_kib "$pid"); fds_after=$(fds_of "$pid")
  touch "$go"
  wait "$ga" || failures=$((failures + 1))
  wait "$gb" || failures=$((failures + 1))
  forget_pid "$ga"; forget_pid "$gb"
  rm -f "$work/ready-a" "$work/ready-b"
  for f in "$work/held-a.json" "$work/held-b.json"; do
    local line; line=$(grep '^{' "$f" | tail -1 || true)
    if [ -n "$line" ]; then printf '%s\t%s\t%s\n' "$label" "$repeat" "$line" >>"$results"; log "$label #$repeat: ${line:0:220}"
    else printf '%s\t%s\t%s\n' "$label" "$repeat" "$fallback" >>"$results"; fi
  done
}

idle_run() { # target-name repeat pid argsA... -- argsB...
  local name=$1 repeat=$2 pid=$3; shift 3
  local a=() b=()
  while [ "$1" != "--" ]; do a+=("$1"); shift; done; shift; b=("$@")
  local half=$((idle_sessions / 2)) bound=$((120 + idle_sessions / 50))
  local before after fds_before fds_after
  held_run "idle-$name" "$repeat" "$bound" "$pid" "{\"errors\":$half,\"sessions\":$half,\"checked\":0}" \
    idle "${a[@]}" --sessions "$half" --concurrency 64 --settle 0 -- \
    idle "${b[@]}" --sessions "$((idle_sessions - half))" --concurrency 64 --settle 0
  printf 'idle-%s-rss\t%s\t{"rssBeforeKiB":%s,"rssIdleKiB":%s,"rssBytesPerSession":%s}\n' "$name" "$repeat" "$before" "$after" \
    "$(awk -v b="$before" -v a="$after" -v n="$idle_sessions" 'BEGIN {printf "%.1f", (a - b) * 1024 / n}')" >>"$results"
  log "idle-$name #$repeat: RSS $before -> $after KiB for $idle_sessions sessions"
}

for repeat in $(seq 1 "$repeats"); do
  log "repeat $repeat of $repeats"
  wants tp && for pairs in 1 16; do
    for t in "${transports[@]}"; do
      relay_args "$t" 1
      record "tp$pairs-$t" "$repeat" 120 throughput "${args[@]}" --pairs "$pairs" --seconds "$tp_seconds"
    done
    record "tp$pairs-haproxy" "$repeat" 120 throughput "${haproxy1[@]}" --pairs "$pairs" --seconds "$tp_seconds"
  done
  # Round trips depend on how fast an idle core wakes up, which drifts on a virtual machine over seconds:
  # short rounds that alternate which proxy goes first (and last), every round's median a sample of its own.
  wants lat && for round in $(seq 1 "$lat_rounds"); do
    for size in 1 1024; do
      record "lat$size-direct" "$repeat.$round" 120 latency "${direct[@]}" --size "$size" --count "$lat_count"
      if [ $((round % 2)) = 1 ]; then order=("${transports[@]}" haproxy); else order=(haproxy); for ((i = ${#transports[@]} - 1; i >= 0; i--)); do order+=("${transports[$i]}"); done; fi
      for proxy in "${order[@]}"; do
        if [ "$proxy" = haproxy ]; then args=("${haproxy1[@]}"); else relay_args "$proxy" 1; fi
        record "lat$size-$proxy" "$repeat.$round" 120 latency "${args[@]}" --size "$size" --count "$lat_count"
      done
    done
  done
  if wants rate; then
    for t in "${transports[@]}"; do
      relay_args "$t" 1
      if [ "$repeat" = 1 ]; then
        # The runtime compiles the handler's hot paths to their final tier only after some seconds of load (the
        # first seconds cost about three times the user-mode CPU); a relay runs for days, so measure it warm.
        wait_for_free_ports
        gen 120 rate "${args[@]}" --seconds "$rate_warmup_seconds" --concurrency "$rate_concurrency" >/dev/null 2>>"$work/generator.err" || true
      fi
      wait_for_free_ports
      record "rate-$t" "$repeat" 120 rate "${args[@]}" --seconds "$rate_seconds" --concurrency "$rate_concurrency"
    done
    wait_for_free_ports
    record "rate-haproxy" "$repeat" 120 rate "${haproxy1[@]}" --seconds "$rate_seconds" --concurrency "$rate_concurrency"
  fi
done

# Memory per idle session needs a fresh process each time: memory kept from an earlier run (the GC heap,
# haproxy's pools) would be reused and hide the cost. Each repeat restarts every server and haproxy, warms
# them up with a few sessions, then samples RSS before and while the sessions are open.
wants idle && for repeat in $(seq 1 "$repeats"); do
  log "idle sessions, repeat $repeat of $repeats"
  stop_servers
  for t in "${transports[@]}"; do start_server "$t"; done
  stop_pid "$haproxy_pid"; start_haproxy
  for t in "${transports[@]}"; do
    relay_args "$t" 1
    gen 60 idle "${args[@]}" --sessions 200 --settle 0 >/dev/null 2>>"$work/generator.err" || true
  done
  gen 60 idle "${haproxy1[@]}" --sessions 200 --settle 0 >/dev/null 2>>"$work/generator.err" || true
  sleep 1
  for t in "${transports[@]}"; do
    relay_args "$t" 1; a=("${args[@]}")
    relay_args "$t" 2
    idle_run "$t" "$repeat" "${server_pids[$t]}" "${a[@]}" -- "${args[@]}"
  done
  idle_run haproxy "$repeat" "$haproxy_pid" "${haproxy1[@]}" -- "${haproxy2[@]}"
done

# Parked responders: per transport and repeat a fresh server, warmed with a few parked connections, then RSS and the
# open descriptors sampled before and 3 s after every connection is parked. Its caps: room for 19,000 connections
# waiting for their first line from 127.0.0.1 (two generators may open them faster than it reads them), and a relay
# cap of 19,300 with a registrar cap of 64, which fit in the open-files limit of 20,000 with the server's own
# descriptors and the 256 it keeps: otherwise it lowers the relay's 20,000 to about 18,600 at start to fit.
parked_run() { # transport repeat
  local t=$1 repeat=$2 pid=${server_pids[$1]} half=$((parked_connections / 2))
  local bound=$((120 + parked_connections / 50)) relay="127.0.0.1:${relay_ports[$1]}"
  local cookies_a cookies_b before after fds_before fds_after
  cookies_a=$(IFS=,; echo "${extra_cookies[*]:0:$((parked_cookies / 2))}")
  cookies_b=$(IFS=,; echo "${extra_cookies[*]:$((parked_cookies / 2))}")
  gen 60 parked --cookies "$cookies_a" --relay "$relay" --sessions 200 --check 20 --settle 0 >/dev/null 2>>"$work/generator.err" || true
  sleep 1
  held_run "parked-$t" "$repeat" "$bound" "$pid" "{\"errors\":$half,\"sessions\":$half,\"parked\":0,\"check\":0,\"checked\":0}" \
    parked --cookies "$cookies_a" --relay "$relay" --sessions "$half" --check $((parked_check / 2)) --concurrency 64 --settle 0 -- \
    parked --cookies "$cookies_b" --relay "$relay" --sessions "$((parked_connections - half))" --check $((parked_check - parked_check / 2)) --concurrency 64 --settle 0
  printf 'parked-%s-rss\t%s\t{"connections":%s,"rssBeforeKiB":%s,"rssParkedKiB":%s,"rssBytesPerConnection":%s,"serverFdsBefore":%s,"serverFdsParked":%s}\n' \
    "$t" "$repeat" "$parked_connections" "$before" "$after" \
    "$(awk -v b="$before" -v a="$after" -v n="$parked_connections" 'BEGIN {printf "%.1f", (a - b) * 1024 / n}')" "$fds_before" "$fds_after" >>"$results"
  log "parked-$t #$repeat: RSS $before -> $after KiB, descriptors $fds_before -> $fds_after for $parked_connections parked connections"
}
wants parked && for repeat in $(seq 1 "$repeats"); do
  log "parked connections, repeat $repeat of $repeats"
  for t in "${transports[@]}"; do
    stop_servers
    parked_server_env="Rendezvous__Relay__MaxHandshakesPerAddress=20000 Rendezvous__Relay__MaxConnections=19300 Rendezvous__RegistrarMaxConnections=64"
    start_server "$t" "$parked_cookies"
    parked_server_env=
    parked_run "$t" "$repeat"
  done
done

# Pool advice: a server whose initiators wait at most 1 s for a responder, so that a pool too small shows as
# "not ready"; each hidden server parks again 250 ms (its round trip) after each pairing and registers every 5 s.
if wants pool; then
  log "pool advice: a busy and an idle hidden server, fixed pools of 1 and 8 vs the advice, on the default transport"
  stop_servers
  pool_server_env="Rendezvous__Relay__InitiatorGracePeriod=00:00:01"
  start_server default
  pool_server_env=
  next_pool_user=0
  for kind in busy idle; do
    if [ "$kind" = busy ]; then burst=(--burst 6 --burst-interval 2); else burst=(--burst 1 --burst-interval 5); fi
    for policy in 1 8 advice; do
      read -r u s <<<"${pool_users[$next_pool_user]}"; next_pool_user=$((next_pool_user + 1))
      record "pool-$kind-$policy" 1 $((pool_seconds + 60)) pool --target relay --registrar "https://127.0.0.1:$registrar_port" --pin "$pin" \
        --uuid "$u" --secret "$s" --totp-step 1 --relay "127.0.0.1:$relay_port" --policy "$policy" "${burst[@]}" \
        --repark-delay 250 --reregister 5 --seconds "$pool_seconds"
    done
  done
fi

# --- cluster on Redis ------------------------------------------------------------------------------
# One node on SQLite, then three nodes on one redis-server (everything server-side on core 0, as above), the
# same users in both: registrations and lookups through the registrars, then a node's rendezvous rate. Every
# registration uses a user of its own, so no code is ever a replay.
serve_node() { # name registrar-port relay-port args... -> pid in $node_pid
  local name=$1 rport=$2 lport=$3; shift 3
  # shellcheck disable=SC2086
  env ${RENDEZVOUS_BENCH_SERVER_ENV:-} \
  Rendezvous__Admin__Url=none \
  Rendezvous__Relay__ParkedConnectionsPerCookie=1024 \
  Rendezvous__Relay__InitiatorGracePeriod=00:00:30 \
  Rendezvous__Relay__MaxHandshakesPerAddress=1024 \
  Rendezvous__Relay__MaxSessionsPerAddressPerUuid=100000 \
  Logging__LogLevel__Default=Warning \
    taskset -c "$server_core" "$rendezvous" serve --data-dir "$work/$name" \
      --registrar-url "https://127.0.0.1:$rport" --rendezvous-endpoint "127.0.0.1:$lport" "$@" >"$work/$name.log" 2>&1 &
  node_pid=$!
  started_pids+=("$node_pid")
  wait_port "$lport" 60
  wait_port "$rport" 30
}
users_slice() { # index -> a file with the index-th slice of the users
  local file="$work/cluster-users-$1.txt"
  sed -n "$(($1 * cluster_slice + 1)),$((($1 + 1) * cluster_slice))p" "$work/cluster-users.txt" >"$file"
  echo "$file"
}
first_cookie() { # registrar-port user-line -> R cookie, registered through that registrar
  local u s
  read -r u s <<<"$2"
  gen 60 register --target relay --registrar "https://127.0.0.1:$1" --pin "$cluster_pin" --uuid "$u" --secret "$s" \
    | grep -oE '"cookie":"R[^"]+"' | cut -d'"' -f4
}
if wants cluster; then
  if ! command -v redis-server >/dev/null; then
    log "installing redis-server"
    if ! apt-cache show redis-server >/dev/null 2>&1; then timeout 300 apt-get update -qq; fi
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq redis-server >/dev/null
  fi
  redis_port=$(free_port)
  log "starting redis-server (core $server_core) on :$redis_port, without persistence"
  taskset -c "$server_core" redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
  redis_pid=$!
  started_pids+=("$redis_pid")
  wait_port "$redis_port" 30
  slices=$((5 * repeats))
  log "writing $((slices * cluster_slice + 2 * repeats)) users and importing them into one node and into the cluster"
  bulk_users "$((slices * cluster_slice + 2 * repeats))" "$redis_port" 1 "$work/cluster-users.txt"
  timeout 900 "$rendezvous" users import --from-redis "127.0.0.1:$redis_port" --db 1 --data-dir "$work/single" >"$work/import-single.log" 2>&1
  timeout 900 "$rendezvous" users import --from-redis "127.0.0.1:$redis_port" --db 1 --cluster "127.0.0.1:$redis_port" >"$work/import-cluster.log" 2>&1
  rate_users=$(sed -n "$((slices * cluster_slice + 1)),\$p" "$work/cluster-users.txt")

  for repeat in $(seq 1 "$repeats"); do
    base=$(((repeat - 1) * 5))
    single_r=$(free_port); single_l=$(free_port)
    serve_node single "$single_r" "$single_l"
    single_pid=$node_pid
    cluster_pin=$(grep -oE 'fingerprint ([0-9A-F]{2}:){31}[0-9A-F]{2}' "$work/single.log" | head -1 | awk '{print $2}')
    record cluster-reg1-single "$repeat" 120 registrar --registrar "https://127.0.0.1:$single_r" --pin "$cluster_pin" --users "$(users_slice "$base")" --seconds "$cluster_seconds" --concurrency 1
    record cluster-reg16-single "$repeat" 120 registrar --registrar "https://127.0.0.1:$single_r" --pin "$cluster_pin" --users "$(users_slice $((base + 1)))" --seconds "$cluster_seconds" --concurrency 16
    cookie=$(first_cookie "$single_r" "$(echo "$rate_users" | sed -n "$((2 * repeat - 1))p")")
    single_rate=(--target relay --cookie "$cookie" --relay "127.0.0.1:$single_l" --server-pid "$single_pid")

    # The nodes share the single node's certificate, as a cluster's nodes share one (the pin holds on every node).
    ports=()
    relays=()
    node_pids=()
    for n in a b c; do
      r=$(free_port); l=$(free_port)
      serve_node "node-$n" "$r" "$l" --cluster "127.0.0.1:$redis_port" --public-host 127.0.0.1 \
        --cert "$work/single/registrar.crt" --key "$work/single/registrar.key"
      ports+=("$r"); relays+=("$l"); node_pids+=("$node_pid")
    done
    all3=$(printf 'https://127.0.0.1:%s,' "${ports[@]}"); all3=${all3%,}
    record cluster-reg1-node "$repeat" 120 registrar --registrar "https://127.0.0.1:${ports[0]}" --pin "$cluster_pin" --users "$(users_slice $((base + 2)))" --seconds "$cluster_seconds" --concurrency 1
    record cluster-reg16-node "$repeat" 120 registrar --registrar "https://127.0.0.1:${ports[0]}" --pin "$cluster_pin" --users "$(users_slice $((base + 3)))" --seconds "$cluster_seconds" --concurrency 16
    record cluster-reg16-nodes3 "$repeat" 120 registrar --registrar "$all3" --pin "$cluster_pin" --users "$(users_slice $((base + 4)))" --seconds "$cluster_seconds" --concurrency 16
    cookie=$(first_cookie "${ports[0]}" "$(echo "$rate_users" | sed -n "$((2 * repeat))p")")
    node_rate=(--target relay --cookie "$cookie" --relay "127.0.0.1:${relays[0]}" --server-pid "${node_pids[0]}")
    for round in 1 2; do # alternate which goes first: the machine drifts over seconds
      if [ "$round" = 1 ]; then order="single node"; else order="node single"; fi
      for which in $order; do
        if [ "$which" = single ]; then args=("${single_rate[@]}"); else args=("${node_rate[@]}"); fi
        wait_for_free_ports
        record "cluster-rate-$which" "$repeat.$round" 120 rate "${args[@]}" --seconds "$rate_seconds" --concurrency "$rate_concurrency"
      done
    done
    for pid in "$single_pid" "${node_pids[@]}"; do stop_pid "$pid"; done
  done
  stop_pid "$redis_pid"
fi

wants micro || micro=0
if [ "$micro" = 1 ]; then
  log "micro-benchmarks (BenchmarkDotNet, short job, in process)"
  if (cd "$work" && timeout 900 taskset -c "$generator_core" "$OLDPWD/$loadgen" micro --filter '*' --job short --inProcess --memory \
      --artifacts "$work/bdn" >"$work/micro.log" 2>&1); then
    micro_table=$(grep -E '^\|' "$work/micro.log" || true)
  else
    micro_table="(micro-benchmarks failed; see the log)"; tail -20 "$work/micro.log" >&2
  fi
fi

echo
echo "Rendezvous (transports: ${transports[*]}) vs haproxy $(haproxy -v | head -1 | awk '{print $3}') (mode tcp, nbthread 1), $mode mode, $repeats repeat(s), medians; server/haproxy on core $server_core, generator on core $generator_core"
[ -n "${RENDEZVOUS_BENCH_SERVER_ENV:-}" ] && echo "server environment: $RENDEZVOUS_BENCH_SERVER_ENV"
echo "throughput ${tp_seconds} s per run, latency $lat_rounds rounds of $lat_count round trips per repeat, rate ${rate_seconds} s with $rate_concurrency workers, idle $idle_sessions sessions, parked $parked_connections connections ($parked_cookies users, $parked_check paired at the end), pool ${pool_seconds} s per run"
echo
"$loadgen" report "$results"
if [ "$micro" = 1 ]; then
  echo
  echo "Micro-benchmarks (BenchmarkDotNet ShortRun, in-process):"
  echo "$micro_table"
fi
cp "$results" "${BENCH_RESULTS:-/tmp/rendezvous-bench-results.tsv}" 2>/dev/null || true
if [ "$failures" -gt 0 ]; then
  log "$failures generator run(s) failed"
  exit 1
fi

# Shared by eng/bench.sh, eng/soak.sh and eng/flood.sh (sourced, not run): a work directory removed on exit, processes
# started killed by PID on exit, free loopback ports, bounded waits for a listener, users added to a data
# directory. The sourcing script sets LOG_NAME first (the prefix of its log lines).

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
work=$(mktemp -d "/tmp/rendezvous-${LOG_NAME}.XXXXXX")
started_pids=()
cleanup() {
  for pid in "${started_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${started_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "[$LOG_NAME $(date -u +%H:%M:%S)] $*" >&2; }

free_port() { # below the ephemeral range (32768 and up): no outgoing connection takes it while a server restarts
  local port
  for _ in $(seq 1 200); do
    port=$(( (RANDOM % 12000) + 20000 ))
    if ! ss -Htan "sport = :$port" 2>/dev/null | grep -q .; then echo "$port"; return; fi
  done
  echo "no free port" >&2; exit 1
}

wait_port() { # port seconds
  local deadline=$((SECONDS + $2))
  until ss -Hltn "sport = :$1" | grep -q LISTEN; do
    if [ "$SECONDS" -ge "$deadline" ]; then log "nothing listens on port $1 after $2 s"; return 1; fi
    sleep 0.2
  done
}

add_user() { # rendezvous-binary data-dir [users-add options...] -> "UUID SECRET"
  local out
  out=$(timeout 60 "$1" users add --data-dir "$2" "${@:3}")
  echo "$(echo "$out" | awk '/^UUID:/ {print $2}') $(echo "$out" | awk '/^Secret:/ {print $2}')"
}

forget_pid() { # pid: no longer to be killed on exit (it ended)
  local kept=() pid
  for pid in "${started_pids[@]}"; do [ "$pid" = "$1" ] || kept+=("$pid"); done
  started_pids=("${kept[@]}")
}

bulk_users() { # count redis-port redis-db users-file: writes COUNT hidden servers, as the original node-rendezvous keeps them, into
  # that Redis database (for `users import --from-redis`) and "UUID BASE32SECRET" lines into users-file. Thousands in a second,
  # where `users add` takes a process start each.
  python3 - "$1" "$4" >"$4.resp" <<'PY'
import base64, json, os, sys, uuid
count, users = int(sys.argv[1]), sys.argv[2]
with open(users, "w") as listing:
    for _ in range(count):
        key, secret = str(uuid.uuid4()), base64.b32encode(os.urandom(20)).decode()
        value = json.dumps({"authParams": {"protocol": "totp", "base32": secret, "step": 30}})
        listing.write(f"{key} {secret}\n")
        parts = [b"SET", key.encode(), value.encode()]
        sys.stdout.buffer.write(b"*3\r\n" + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
PY
  timeout 60 redis-cli -p "$2" -n "$3" --pipe <"$4.resp" >/dev/null
}

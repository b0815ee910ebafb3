#!/usr/bin/env bash
# Builds and runs every test of the solution, then prints the totals as "N passed, N failed".
# Installs what the tests need first: Debian's openssh-server and openssh-client, for the test that
# runs the quickstart's ssh-through-rendezvous step against a real sshd; and redis-server, which the
# `users import --from-redis` tests start on loopback themselves (a system daemon, if any, is never used);
# and chromium and chromium-driver, for the admin page's end-to-end test in a real headless browser.
set -uo pipefail
cd "$(dirname "$0")/.."

install_packages() {
  command -v apt-get >/dev/null 2>&1 || return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo -n"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -qq "$@" >/dev/null 2>&1 \
    || { $sudo apt-get update -qq >/dev/null 2>&1 && $sudo apt-get install -y -qq "$@" >/dev/null 2>&1; } \
    || {
      # On CI a missing service must not turn its integration tests into silent skips.
      if [ "${CI:-}" = true ]; then
        echo "eng/test.sh: could not install $* with apt-get; the integration tests need them" >&2
        echo "0 passed, 1 failed"
        exit 1
      fi
      echo "eng/test.sh: could not install $*; the tests that need them will be skipped" >&2
    }
}

missing=()
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
[ -x /usr/bin/redis-server ] || missing+=(redis-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
if [ "${#missing[@]}" -gt 0 ]; then
  install_packages "${missing[@]}"
fi

configuration=${CONFIGURATION:-Release}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

dotnet build Rendezvous.sln -c "$configuration" -nologo
build_status=$?
if [ "$build_status" -ne 0 ]; then
  echo "0 passed, 1 failed"
  exit "$build_status"
fi

# A hung test is killed (with a dump of what it was doing) instead of eating the CI budget.
dotnet test Rendezvous.sln -c "$configuration" --no-build -nologo \
  --blame-hang-timeout 5m --blame-hang-dump-type none 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# One summary line per test assembly: "Passed!  - Failed:     0, Passed:   147, Skipped: ..."
passed=$(grep -E '^(Passed|Failed)! +- ' "$log" | grep -oE 'Passed: +[0-9]+' | awk '{s += $2} END {print s + 0}')
failed=$(grep -E '^(Passed|Failed)! +- ' "$log" | grep -oE 'Failed: +[0-9]+' | awk '{s += $2} END {print s + 0}')
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  # The run failed without a failing test (a crashed or hung test host): count it.
  failed=1
fi
# NUnit's inconclusive tests (Assume.That: a service the test needs is missing) are listed one per line as
# "  Skipped NAME" but not counted in the summary's "Skipped:", so count both and take the larger.
skipped=$(grep -E '^(Passed|Failed)! +- ' "$log" | grep -oE 'Skipped: +[0-9]+' | awk '{s += $2} END {print s + 0}')
skipped_lines=$(grep -cE '^ +Skipped ' "$log")
[ "$skipped_lines" -gt "$skipped" ] && skipped=$skipped_lines
if [ "$skipped" -gt 0 ]; then
  echo "eng/test.sh: $skipped test(s) skipped or inconclusive (a service the tests need is missing?)" >&2
  if [ "${CI:-}" = true ]; then
    # On CI every integration test must run: a skip is a failure, not a silent pass.
    grep -E '^ +Skipped ' "$log" >&2
    failed=$((failed + skipped))
    [ "$status" -eq 0 ] && status=1
  fi
fi
echo "${passed} passed, ${failed} failed"
exit "$status"

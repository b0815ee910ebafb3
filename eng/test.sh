#!/usr/bin/env bash
# Builds and runs every test of the solution, then prints the totals as "N passed, N failed".
# Installs what the tests need first (none beyond the .NET SDK today; Debian packages go here,
# installed with apt-get, when a test needs a real service).
set -uo pipefail
cd "$(dirname "$0")/.."

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
echo "${passed} passed, ${failed} failed"
exit "$status"

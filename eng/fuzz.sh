#!/usr/bin/env bash
# Fuzzes one parser with afl-fuzz (Debian's afl++) through SharpFuzz, for a bounded time. See README.md, "Fuzzing".
#
#   eng/fuzz.sh TARGET SECONDS       TARGET: handshake, query, config, pem or redis; SECONDS: 1 to 86400
#
# Publishes tests/Rendezvous.Fuzz to a temporary folder, instruments the target's Rendezvous assemblies there with
# sharpfuzz (the local dotnet tool of .config/dotnet-tools.json), and runs afl-fuzz under nice for SECONDS with the
# committed corpus tests/Rendezvous.Fuzz/corpus/TARGET/ as input. Afterwards:
#   - every crash and hang found is copied to tests/Rendezvous.Fuzz/crashes/TARGET/ (named by content hash), where
#     FuzzCorpusTests replays it on every test run: fix the code, then commit the file as the regression test;
#   - the corpus folder is replaced by afl-cmin's minimal set of the old corpus and the new queue (same coverage,
#     fewer files), unless FUZZ_KEEP_CORPUS=1;
#   - one summary line: target, seconds, execs, execs/s, paths, new crashes, new hangs.
# Exit status: 0 when nothing crashed or hung, 1 when something did, 2 on bad arguments, 3 when afl-fuzz could not run.
# Environment: FUZZ_NICE (default 10), FUZZ_TIMEOUT_MS per input (default 5000), FUZZ_KEEP_CORPUS=1, FUZZ_KEEP_WORK=1
# (keep the temporary folder with afl's findings and print its path).
set -euo pipefail
cd "$(dirname "$0")/.."

targets="handshake query config pem redis"
usage="usage: eng/fuzz.sh TARGET SECONDS; TARGET is one of: ${targets// /, }; SECONDS is a whole number from 1 to 86400"
[ $# -eq 2 ] || { echo "$usage" >&2; exit 2; }
target=$1
seconds=$2
case " $targets " in
  *" $target "*) ;;
  *) echo "eng/fuzz.sh: unknown target '$target'; $usage" >&2; exit 2 ;;
esac
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ] || [ "$seconds" -gt 86400 ]; then
  echo "eng/fuzz.sh: SECONDS is '$seconds'; $usage" >&2
  exit 2
fi

if ! command -v afl-fuzz >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo -n"
  echo "eng/fuzz.sh: installing Debian's afl++ ..." >&2
  { $sudo apt-get install -y -qq afl++ >/dev/null 2>&1 \
      || { $sudo apt-get update -qq >/dev/null 2>&1 && $sudo apt-get install -y -qq afl++ >/dev/null 2>&1; }; } \
    || { echo "eng/fuzz.sh: afl-fuzz is missing and 'apt-get install afl++' failed; install afl++ and run again" >&2; exit 3; }
fi

project=tests/Rendezvous.Fuzz
corpus=$project/corpus/$target
crashes=$project/crashes/$target
[ -d "$corpus" ] && [ -n "$(ls -A "$corpus")" ] || { echo "eng/fuzz.sh: the corpus $corpus is missing or empty" >&2; exit 3; }

work=$(mktemp -d "${TMPDIR:-/tmp}/rendezvous-fuzz.XXXXXX")
if [ "${FUZZ_KEEP_WORK:-}" = 1 ]; then
  trap 'echo "eng/fuzz.sh: afl findings kept in $work/findings" >&2' EXIT
else
  trap 'rm -rf "$work"' EXIT
fi

dotnet tool restore >/dev/null
dotnet publish "$project" -c Release -o "$work/bin" -nologo -v q >/dev/null
fuzzer="$work/bin/Rendezvous.Fuzz"
for assembly in $("$fuzzer" --assemblies "$target"); do
  dotnet sharpfuzz "$work/bin/$assembly" >/dev/null
done

# afl++ settings for a shared machine it does not own: no CPU binding, no frequency or core_pattern demands, no UI.
# The .NET runtime reserves far more virtual memory than afl's default limit, hence -m none. TMPDIR keeps the
# targets' temporary files (databases, config files) inside the work folder, removed with it. afl-cmin refuses
# folders under /tmp unless told (AFL_ALLOW_TMP); the work folder is private to this run (mktemp -d).
export AFL_SKIP_BIN_CHECK=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_ALLOW_TMP=1
export AFL_NO_UI=1 AFL_QUIET=1
mkdir -p "$work/tmp"
export TMPDIR="$work/tmp"
timeout_ms=${FUZZ_TIMEOUT_MS:-5000}

status=0
nice -n "${FUZZ_NICE:-10}" afl-fuzz -i "$corpus" -o "$work/findings" -t "$timeout_ms" -m none -V "$seconds" \
  -- "$fuzzer" "$target" >"$work/afl.log" 2>&1 || status=$?
stats=$work/findings/default/fuzzer_stats
if [ ! -f "$stats" ]; then
  echo "eng/fuzz.sh: afl-fuzz did not start (exit $status); its last lines:" >&2
  tail -n 25 "$work/afl.log" >&2
  exit 3
fi

stat() { awk -F' *: *' -v key="$1" '$1 == key { print $2 }' "$stats"; }

# Crashes and hangs, named by content so that a second run finding the same input does not add a copy.
new_crashes=0
new_hangs=0
for kind in crashes hangs; do
  for file in "$work/findings/default/$kind"/id:*; do
    [ -f "$file" ] || continue
    mkdir -p "$crashes"
    prefix=crash
    [ "$kind" = hangs ] && prefix=hang
    name="$prefix-$(sha1sum "$file" | cut -c1-16)"
    if [ ! -f "$crashes/$name" ]; then
      cp "$file" "$crashes/$name"
      if [ "$kind" = hangs ]; then new_hangs=$((new_hangs + 1)); else new_crashes=$((new_crashes + 1)); fi
      echo "eng/fuzz.sh: new $prefix: $crashes/$name" >&2
    fi
  done
done

# The corpus becomes the smallest set of old and new inputs with the same coverage (inputs that crash are left out).
if [ "${FUZZ_KEEP_CORPUS:-}" != 1 ]; then
  mkdir -p "$work/all" "$work/min"
  cp "$corpus"/* "$work/all/"
  for file in "$work/findings/default/queue"/id:*; do
    [ -f "$file" ] && cp "$file" "$work/all/queue-$(sha1sum "$file" | cut -c1-16)"
  done
  if nice -n "${FUZZ_NICE:-10}" afl-cmin -i "$work/all" -o "$work/min" -t "$timeout_ms" -m none -- "$fuzzer" "$target" \
      >"$work/cmin.log" 2>&1 && [ -n "$(ls -A "$work/min")" ]; then
    rm -f "$corpus"/*
    for file in "$work/min"/*; do
      name=$(basename "$file")
      # Seeds keep their names; afl's finds are named by content.
      case "$name" in queue-*) name="found-${name#queue-}" ;; esac
      cp "$file" "$corpus/$name"
    done
  else
    echo "eng/fuzz.sh: afl-cmin failed; the corpus is left as it was (see its log: FUZZ_KEEP_WORK=1)" >&2
  fi
fi

printf 'fuzz %s: %s s, %s execs (%s/s), %s paths, %s crashes (%s new), %s hangs (%s new), corpus %s files\n' \
  "$target" "$(stat run_time)" "$(stat execs_done)" "$(stat execs_per_sec)" "$(stat corpus_count)" \
  "$(stat saved_crashes)" "$new_crashes" "$(stat saved_hangs)" "$new_hangs" "$(ls "$corpus" | wc -l)"
[ "$(stat saved_crashes)" = 0 ] && [ "$(stat saved_hangs)" = 0 ]

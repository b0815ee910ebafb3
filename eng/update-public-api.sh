#!/usr/bin/env bash
# Records every new public symbol of the libraries in their PublicAPI.Unshipped.txt (RS0016),
# so that a change of the public surface shows up in review. Run after adding public API.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
dotnet build Rendezvous.sln --no-incremental -p:TreatWarningsAsErrors=false -nologo -clp:NoSummary >"$log" 2>&1 || true
grep -oE "^/[^(]+\([0-9]+,[0-9]+\): (warning|error) RS0016: Symbol '.*' is not part of the declared public API" "$log" \
  | sed -E "s#^(/[^(]+)/[^/]+\([0-9]+,[0-9]+\): (warning|error) RS0016: Symbol '(.*)' is not part of the declared public API#\1\t\3#" \
  | while IFS=$'\t' read -r dir symbol; do
      project=$dir
      while [ ! -f "$project/PublicAPI.Unshipped.txt" ] && [ "$project" != "/" ]; do project=$(dirname "$project"); done
      echo "$symbol" >> "$project/PublicAPI.Unshipped.txt.new"
    done || true
# Symbols listed but gone (RS0017) are dropped from the file that lists them.
grep -oE "^/[^(]+PublicAPI\.Unshipped\.txt\([0-9]+,[0-9]+\): (warning|error) RS0017: Symbol '.*' is part of the declared API" "$log" \
  | sed -E "s#^(/[^(]+)\([0-9]+,[0-9]+\): (warning|error) RS0017: Symbol '(.*)' is part of the declared API#\1\t\3#" \
  | sort -u | while IFS=$'\t' read -r file symbol; do
      grep -vxF -- "$symbol" "$file" > "$file.tmp" || true
      mv "$file.tmp" "$file"
      echo "removed a gone symbol from $file"
    done || true
for new in src/*/PublicAPI.Unshipped.txt.new; do
  [ -f "$new" ] || continue
  file=${new%.new}
  { head -n 1 "$file"; { tail -n +2 "$file"; cat "$new"; } | sort -u; } > "$file.tmp"
  mv "$file.tmp" "$file"
  rm "$new"
  echo "updated $file"
done
rm -f "$log"

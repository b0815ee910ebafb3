#!/usr/bin/env bash
# Records a release's public surface, so that a breaking change fails the build from then on:
#   eng/ship-api.sh VERSION
# 1. moves every line of the libraries' PublicAPI.Unshipped.txt into PublicAPI.Shipped.txt (the analyzer then
#    refuses to build when a shipped symbol disappears or changes, RS0017, unless the change is declared);
# 2. packs the four libraries at VERSION into eng/baseline/ (replacing the previous baseline) and writes VERSION
#    to eng/baseline/version, which Directory.Build.props reads: `dotnet pack` then runs package validation
#    against these packages (binary and source compatibility, CP* diagnostics), and PackageTests packs the
#    solution, so the test command fails on a break as well.
# Run it on the commit that is tagged vVERSION, and commit what it changed.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:?usage: eng/ship-api.sh VERSION (for example 0.1.0)}
if ! [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "eng/ship-api.sh: '$version' is not a release version; give MAJOR.MINOR.PATCH, for example 0.1.0" >&2
  exit 2
fi

libraries=(Rendezvous.Protocol Rendezvous.Security Rendezvous.Client Rendezvous.Server)

for library in "${libraries[@]}"; do
  shipped=src/$library/PublicAPI.Shipped.txt
  unshipped=src/$library/PublicAPI.Unshipped.txt
  # Lines marked *REMOVED* leave the shipped list; every other line joins it.
  removed=$(grep '^\*REMOVED\*' "$unshipped" | sed 's/^\*REMOVED\*//' || true)
  {
    echo '#nullable enable'
    { tail -n +2 "$shipped"; grep -v '^\*REMOVED\*' "$unshipped" | tail -n +2; } \
      | { if [ -n "$removed" ]; then grep -vxF -- "$removed"; else cat; fi; } \
      | grep -v '^$' | sort -u
  } > "$shipped.tmp"
  mv "$shipped.tmp" "$shipped"
  echo '#nullable enable' > "$unshipped"
done

rm -rf eng/baseline
mkdir -p eng/baseline
# No validation while the baseline itself is made (there is nothing to compare it with yet).
for library in "${libraries[@]}"; do
  dotnet pack "src/$library" -c Release -nologo -v q -o eng/baseline \
    -p:MinVerVersionOverride="$version" -p:EnablePackageValidation=false -p:IncludeSymbols=false
done
echo "$version" > eng/baseline/version
ls -l eng/baseline

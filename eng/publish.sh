#!/usr/bin/env bash
# Publishes the rendezvous command for Linux as one executable, and packs the NuGet packages.
#
#   eng/publish.sh                     artifacts/publish/linux-x64/rendezvous                  needs the ASP.NET Core 10 runtime
#   eng/publish.sh --self-contained    artifacts/publish/linux-x64-self-contained/rendezvous   needs no .NET at all
#   eng/publish.sh --rid linux-arm64   another runtime identifier (the same two forms)
#   eng/publish.sh --pack              artifacts/packages/*.nupkg and *.snupkg (the libraries and the dotnet tool)
#
# Options may be combined. See docs/operations.md for installing what it makes.
set -euo pipefail
cd "$(dirname "$0")/.."

rid=linux-x64
self_contained=false
pack=false
while [ "$#" -gt 0 ]; do
  case "$1" in
    --self-contained) self_contained=true ;;
    --rid) shift; rid=${1:?--rid needs a runtime identifier such as linux-x64 or linux-arm64} ;;
    --pack) pack=true ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "eng/publish.sh: unknown option '$1'; expected --self-contained, --rid RID, --pack or --help" >&2; exit 2 ;;
  esac
  shift
done

out=artifacts/publish/$rid
[ "$self_contained" = true ] && out=$out-self-contained
rm -rf "$out"
dotnet publish src/Rendezvous.Host -c Release -r "$rid" -p:PublishSingleFile=true --self-contained "$self_contained" -o "$out" -nologo
echo "eng/publish.sh: $out/rendezvous ($(du -h "$out/rendezvous" | cut -f1), self-contained: $self_contained)"

if [ "$pack" = true ]; then
  rm -rf artifacts/packages
  dotnet pack Rendezvous.sln -c Release -o artifacts/packages -nologo
  echo "eng/publish.sh: packages in artifacts/packages:"
  ls -1 artifacts/packages
fi

#!/usr/bin/env bash
# Packs what users install and proves it works as installed, not as built in the repository:
#   1. the library package (Secateur): packed with docs, readme, license and symbols; every sample in samples/ is
#      built against that package (not the project) and run on the embedded data;
#   2. the command-line tool (Secateur.Cli) for this platform: packed, size-checked (<= 150 MB for linux-x64),
#      installed into a private tool path, and run: --help, then a verb that loads libtorch (so the glibc repair
#      for Debian 12 / Ubuntu 22.04 is exercised in the installed layout).
# Prints one "PASS name" or "FAIL name" line per check and a closing "N passed, N failed" line; exits non-zero on any
# failure. Usage: scripts/check-packages.sh [work-dir]   (CI runs it from .ci/run)
set -uo pipefail
cd "$(dirname "$0")/.."
work=${1:-$(mktemp -d /tmp/secateur-packages.XXXXXX)}
mkdir -p "$work"
# A version of its own for every run: NuGet caches packages by version, so re-using 0.1.0 would test a stale copy.
version="0.1.0-check.$(date +%Y%m%d%H%M%S)"
packages="$(pwd)/artifacts/packages"
passed=0; failed=0
check() { # name, command...
  local name=$1; shift
  local log="$work/$(echo "$name" | tr -c 'A-Za-z0-9\n' '-').log"
  local t0=$(date +%s)
  if "$@" >"$log" 2>&1; then
    passed=$((passed + 1)); echo "PASS $name ($(( $(date +%s) - t0 )) s)"
  else
    failed=$((failed + 1)); echo "FAIL $name ($(( $(date +%s) - t0 )) s); last lines of $log:"; tail -15 "$log" | sed 's/^/    /'
  fi
}

check "pack library" dotnet pack src/Secateur -c Release -o "$packages" -p:Version="$version"
check "library package has docs, readme, license, symbols" bash -c "
  unzip -l '$packages/Secateur.$version.nupkg' | grep -q 'lib/net10.0/Secateur.xml' &&
  unzip -l '$packages/Secateur.$version.nupkg' | grep -q 'PACKAGE.md' &&
  unzip -p '$packages/Secateur.$version.nupkg' Secateur.nuspec | grep -q '<license type=\"expression\">MIT</license>' &&
  test -s '$packages/Secateur.$version.snupkg'"

for sample in samples/*/; do
  name=$(basename "$sample")
  check "sample $name builds against the package" dotnet build "$sample" -c Release -p:SecateurVersion="$version"
  # Each sample runs in a scratch directory, so the files it writes stay out of the repository.
  mkdir -p "$work/$name"
  check "sample $name runs" bash -c "cd '$work/$name' && dotnet '$(pwd)/${sample}bin/Release/net10.0/$name.dll'"
done

rid=linux-x64
check "pack tool ($rid)" dotnet pack src/Secateur.Cli -c Release -o "$work/tool-packages" -p:Version="$version" \
  -p:RuntimeIdentifiers=$rid -p:ToolPackageRuntimeIdentifiers=$rid
tool_package="$work/tool-packages/Secateur.Cli.$rid.$version.nupkg"
check "tool package ($rid) is at most 150 MB" bash -c "s=\$(stat -c %s '$tool_package'); echo \"\$s bytes\"; [ \"\$s\" -le 150000000 ]"
check "tool installs" dotnet tool install --tool-path "$work/tool" --add-source "$work/tool-packages" Secateur.Cli --version "$version"
check "installed tool: --help" bash -c "'$work/tool/secateur' --help | grep -q 'prune'"
check "installed tool: libtorch loads (eval)" bash -c "cd '$work' && '$work/tool/secateur' eval lenet5 --data embedded --json | grep -q '\"accuracy\"'"

echo "package checks: $passed of $((passed + failed)) passed"
[ "$failed" -eq 0 ]

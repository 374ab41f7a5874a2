#!/usr/bin/env bash
# Runs every test project (privileged ones included when root) and ends with one line of totals:
#   N passed, N failed, N skipped
# Extra arguments go to every `dotnet test` (e.g. --filter "Category!=Privileged").
set -uo pipefail
cd "$(dirname "$0")/.."
results=out/test-results
rm -rf "$results"; mkdir -p "$results"
status=0
projects=(tests/*.Tests/*.csproj)
for proj in "${projects[@]}"; do
  name=$(basename "$proj" .csproj)
  echo "=== $name"
  if ! dotnet test "$proj" -c Release --no-build --nologo \
       --logger "trx;LogFileName=$name.trx" --logger "console;verbosity=minimal" \
       --results-directory "$results" "$@"; then
    status=1
  fi
done
passed=0; failed=0; skipped=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  get() { echo "$counters" | grep -o "$1=\"[0-9]*\"" | grep -o '[0-9]*' || echo 0; }
  total=$(get total); p=$(get passed); f=$(get failed); e=$(get error); t=$(get timeout); x=$(get executed)
  passed=$((passed + p)); failed=$((failed + f + e + t)); skipped=$((skipped + total - x))
done
# A project that crashed before writing its results counts as a failure.
for proj in "${projects[@]}"; do
  name=$(basename "$proj" .csproj)
  [ -f "$results/$name.trx" ] || { echo "no results from $name"; failed=$((failed + 1)); }
done
[ "$failed" -gt 0 ] && status=1
echo
echo "$passed passed, $failed failed, $skipped skipped"
exit $status

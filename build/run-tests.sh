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
# The berth CLI's tests once more, against berth daemon instead of Debian's dockerd: the same commands, the same
# expectations, so the CLI and the engine are each checked against the other's reference.
echo "=== Berth.Cli.Tests against berth daemon"
if ! BERTH_TEST_ENGINE=berth dotnet test tests/Berth.Cli.Tests/Berth.Cli.Tests.csproj -c Release --no-build --nologo \
     --logger "trx;LogFileName=Berth.Cli.Tests.berth-daemon.trx" --logger "console;verbosity=minimal" \
     --results-directory "$results" "$@"; then
  status=1
fi

# The API server's suites once more on each real store: the SQLite file and a real etcd (Debian's etcd-server, started
# here on free loopback ports, stopped afterwards).
echo "=== Berth.ApiServer.Tests on SQLite"
if ! BERTH_APISERVER_STORE=sqlite dotnet test tests/Berth.ApiServer.Tests/Berth.ApiServer.Tests.csproj -c Release --no-build --nologo \
     --logger "trx;LogFileName=Berth.ApiServer.Tests.sqlite.trx" --logger "console;verbosity=minimal" \
     --results-directory "$results" "$@"; then
  status=1
fi
echo "=== Berth.ApiServer.Tests on etcd"
. build/etcd.sh
etcd_dir=$(mktemp -d /tmp/berth-test-etcd-XXXXXX)
start_etcd "$etcd_dir" || status=1
if ! BERTH_APISERVER_STORE="etcd=$ETCD_URL" dotnet test tests/Berth.ApiServer.Tests/Berth.ApiServer.Tests.csproj -c Release --no-build --nologo \
     --logger "trx;LogFileName=Berth.ApiServer.Tests.etcd.trx" --logger "console;verbosity=minimal" \
     --results-directory "$results" "$@"; then
  status=1
fi
kill "$ETCD_PID" 2>/dev/null; wait "$ETCD_PID" 2>/dev/null
rm -rf "$etcd_dir"

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
[ -f "$results/Berth.Cli.Tests.berth-daemon.trx" ] || { echo "no results from Berth.Cli.Tests against berth daemon"; failed=$((failed + 1)); }
for store in sqlite etcd; do
  [ -f "$results/Berth.ApiServer.Tests.$store.trx" ] || { echo "no results from Berth.ApiServer.Tests on $store"; failed=$((failed + 1)); }
done
[ "$failed" -gt 0 ] && status=1
# Name every failed test (with the first line of its message) so that the tail of a CI log says what broke.
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  python3 - "$trx" <<'PY'
import sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
path = sys.argv[1]
try:
    root = ET.parse(path).getroot()
except ET.ParseError as e:
    print(f"FAILED to read {path}: {e}"); sys.exit(0)
for r in root.iterfind(".//t:UnitTestResult", ns):
    if r.get("outcome") in ("Failed", "Error", "Timeout"):
        msg = r.find("t:Output/t:ErrorInfo/t:Message", ns)
        first = (msg.text or "").strip().splitlines()[0] if msg is not None and msg.text else ""
        print(f"FAILED {path.rsplit('/', 1)[-1][:-4]}: {r.get('testName')}: {first[:300]}")
PY
done
echo
echo "$passed passed, $failed failed, $skipped skipped"
exit $status

#!/usr/bin/env bash
# Berth's SQLite store vs etcd 3.4 (Debian etcd-server), same operations, same run, on loopback.
# Prints ops/s, p50 and p99 per store and the berth/etcd throughput ratio. OPS (default 2000) scales the run.
set -euo pipefail
cd "$(dirname "$0")/.."
OPS=${OPS:-2000}
dotnet build tests/Berth.Store.Tests -c Release --nologo -v q -clp:NoSummary >/dev/null
tmp=$(mktemp -d /tmp/berth-bench-store-XXXXXX)
ETCD_PID=
cleanup() {
  if [ -n "$ETCD_PID" ]; then kill "$ETCD_PID" 2>/dev/null || true; wait "$ETCD_PID" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
. build/etcd.sh
start_etcd "$tmp/etcd"
mkdir -p "$tmp/berth"
echo "store bench: $OPS ops per phase; SQLite file and etcd data dir both in $tmp ($(df -T "$tmp" | awk 'NR==2{print $2}'))"
dotnet tests/Berth.Store.Tests/bin/Release/net10.0/Berth.Store.Tests.dll bench "$tmp/berth" "$ETCD_URL" "$OPS"

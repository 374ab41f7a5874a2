#!/usr/bin/env bash
# Berth's SQLite store vs etcd 3.4 (Debian etcd-server), same operations, same run, on loopback.
# Prints ops/s, p50 and p99 per store and the berth/etcd throughput ratio. OPS (default 2000) scales the run.
set -euo pipefail
cd "$(dirname "$0")/.."
OPS=${OPS:-2000}
dotnet build tests/Berth.Store.Tests -c Release --nologo -v q -clp:NoSummary >/dev/null
tmp=$(mktemp -d /tmp/berth-bench-store-XXXXXX)
etcd_pid=
cleanup() {
  if [ -n "$etcd_pid" ]; then kill "$etcd_pid" 2>/dev/null || true; wait "$etcd_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
client=$(free_port); peer=$(free_port)
etcd --name bench --data-dir "$tmp/etcd" --log-level warn \
  --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
  --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
  --initial-cluster "bench=http://127.0.0.1:$peer" >"$tmp/etcd.log" 2>&1 &
etcd_pid=$!
for _ in $(seq 100); do
  ETCDCTL_API=3 etcdctl --endpoints "http://127.0.0.1:$client" endpoint health >/dev/null 2>&1 && break
  sleep 0.2
done
mkdir -p "$tmp/berth"
echo "store bench: $OPS ops per phase; SQLite file and etcd data dir both in $tmp ($(df -T "$tmp" | awk 'NR==2{print $2}'))"
dotnet tests/Berth.Store.Tests/bin/Release/net10.0/Berth.Store.Tests.dll bench "$tmp/berth" "http://127.0.0.1:$client" "$OPS"

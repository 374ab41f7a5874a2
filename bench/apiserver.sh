#!/usr/bin/env bash
# API server load: KubernetesClient clients doing creates/updates/gets/lists, then 1,000 watchers each
# receiving one update; p50/p95/p99, throughput and RSS, for `berth server` on SQLite and on etcd,
# and the peer figure: the same puts/ranges straight against etcd (its v3 HTTP gateway).
# Env: CLIENTS (16), DURATION seconds (10), WATCHERS (1000), WRITE_RATE writes/s (500, the issue's target: an open
# loop, latency from each write's due time; 0 = closed loop, as fast as 16 clients go), LOG_DIR (keep the servers'
# logs there; with BERTH_APISERVER_TIMINGS=1 they hold the servers' phase timings).
# WARMUP seconds (5) of the same load run unmeasured first, so the figures are the steady state, not the JIT.
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${CLIENTS:-16}; DURATION=${DURATION:-10}; WATCHERS=${WATCHERS:-1000}; WRITE_RATE=${WRITE_RATE:-500}
# berth-server hosts `berth server` and `berth bench-apiserver` (the NativeAOT berth hands both over to it).
berth=${BERTH_SERVER:-$PWD/out/berth-server}
[ -x "$berth" ] || { echo "bench/apiserver.sh: $berth is missing; run 'make build' or set BERTH_SERVER=" >&2; exit 1; }
work=$(mktemp -d /tmp/berth-bench-apiserver-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true
  if [ -n "${LOG_DIR:-}" ]; then mkdir -p "$LOG_DIR" && cp "$work"/*.log "$LOG_DIR"/; fi
  rm -rf "$work"
}
trap cleanup EXIT

. build/etcd.sh
start_etcd "$work/etcd"
pids+=("$ETCD_PID")

run() { # label, extra server args...
  local label=$1; shift
  local port; port=$(free_port)
  $berth server --data-dir "$work/$label" --https-listen-port "$port" --write-kubeconfig "$work/$label.kubeconfig" "$@" >"$work/$label.log" 2>&1 &
  local pid=$!; pids+=($pid)
  for _ in $(seq 100); do [ -f "$work/$label.kubeconfig" ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.2; done
  if [ ! -f "$work/$label.kubeconfig" ]; then echo "== $label: berth server did not start:"; cat "$work/$label.log"; return 1; fi
  sleep 2
  # The generator shares the two cores with the server: without the instrumented tier of tiered PGO it
  # compiles its request paths once instead of twice and uses about half the CPU per request.
  DOTNET_TieredPGO=0 $berth bench-apiserver --kubeconfig "$work/$label.kubeconfig" --clients "$CLIENTS" --duration "$DURATION" \
     --watchers "$WATCHERS" --write-rate "$WRITE_RATE" --warmup "${WARMUP:-5}" --server-pid "$pid" --label "$label"
}

status=0
# Each step writes its figures to a file and prints it: run in this shell (not a pipeline's subshell),
# so the servers it starts are in $pids and the exit trap stops them.
run berth-sqlite >"$work/r1.txt" || status=1; cat "$work/r1.txt"
run berth-etcd --datastore-endpoint "$ETCD_URL" >"$work/r2.txt" || status=1; cat "$work/r2.txt"
echo "== peer: etcd directly ($CLIENTS clients, ${DURATION}s)"
$berth bench-apiserver --etcd "$ETCD_URL" --clients "$CLIENTS" --duration "$DURATION" >"$work/r3.txt"; cat "$work/r3.txt"
cat "$work"/r?.txt >"$work/results.txt"
echo "== summary (median write latency: API create/update vs etcd put)"
awk '$2=="mutating_p50_ms"{api[$1]=$3} $1=="etcd" && $2=="put_p50_ms"{put=$3}
     END{for (l in api) if (put>0) printf "%s mutating p50 %.2f ms / etcd put p50 %.2f ms = %.1fx\n", l, api[l], put, api[l]/put}' "$work/results.txt"
exit $status

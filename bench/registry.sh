#!/usr/bin/env bash
# bench/registry.sh — skopeo pushing and pulling a ~300 MB multi-layer image against Debian's docker-registry
# (distribution 2.8) and against `berth registry`, side by side on the same input, on loopback, plus 10 concurrent
# pulls. Prints medians, p99 and berth/distribution ratios (throughput: higher is better).
#
#   bench/registry.sh                 # uses out/berth (make build)
#   BERTH=/path/to/berth ROUNDS=3 SIZE_MB=300 LAYERS=6 CLIENTS=10 bench/registry.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BERTH=${BERTH:-$PWD/out/berth}
ROUNDS=${ROUNDS:-3}
SIZE_MB=${SIZE_MB:-300}
LAYERS=${LAYERS:-6}
CLIENTS=${CLIENTS:-10}
for tool in skopeo docker-registry python3 gzip; do
  command -v "$tool" >/dev/null || { echo "bench/registry.sh: $tool is missing (apt-get install -y skopeo docker-registry python3)" >&2; exit 1; }
done
[ -x "$BERTH" ] || { echo "bench/registry.sh: $BERTH is missing; run 'make build' or set BERTH=" >&2; exit 1; }

WORK=$(mktemp -d /tmp/berth-bench-registry.XXXXXX)
PIDS=()
cleanup() {
  local status=$?
  if [ "$status" != 0 ]; then
    for log in "$WORK"/*.log; do [ -f "$log" ] && { echo "--- $log"; tail -20 "$log"; }; done >&2
  fi
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
now() { date +%s.%N; }

# --- the image: LAYERS gzip'd tar layers of random bytes (incompressible, so gzip -1 is quick), OCI layout -------
IMG=$WORK/image
mkdir -p "$IMG/blobs/sha256"
layer_mb=$((SIZE_MB / LAYERS))
echo "building a ${SIZE_MB} MB image with $LAYERS layers of ${layer_mb} MB..."
layers_json=""; diffids_json=""
for i in $(seq 1 "$LAYERS"); do
  d=$WORK/layer$i; mkdir -p "$d"
  head -c $((layer_mb * 1024 * 1024)) /dev/urandom > "$d/data$i.bin"
  tar -C "$d" -cf "$WORK/layer$i.tar" .
  diffid=$(sha256sum "$WORK/layer$i.tar" | cut -d' ' -f1)
  gzip -1 -n -c "$WORK/layer$i.tar" > "$WORK/layer$i.tgz"
  dg=$(sha256sum "$WORK/layer$i.tgz" | cut -d' ' -f1); size=$(stat -c %s "$WORK/layer$i.tgz")
  mv "$WORK/layer$i.tgz" "$IMG/blobs/sha256/$dg"; rm -rf "$d" "$WORK/layer$i.tar"
  layers_json+="${layers_json:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$dg\",\"size\":$size}"
  diffids_json+="${diffids_json:+,}\"sha256:$diffid\""
done
config="{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[$diffids_json]}}"
printf '%s' "$config" > "$WORK/config.json"
cd_=$(sha256sum "$WORK/config.json" | cut -d' ' -f1); cs=$(stat -c %s "$WORK/config.json"); mv "$WORK/config.json" "$IMG/blobs/sha256/$cd_"
manifest="{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$cd_\",\"size\":$cs},\"layers\":[$layers_json]}"
printf '%s' "$manifest" > "$WORK/manifest.json"
md=$(sha256sum "$WORK/manifest.json" | cut -d' ' -f1); ms=$(stat -c %s "$WORK/manifest.json"); mv "$WORK/manifest.json" "$IMG/blobs/sha256/$md"
echo '{"imageLayoutVersion":"1.0.0"}' > "$IMG/oci-layout"
echo "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$md\",\"size\":$ms,\"annotations\":{\"org.opencontainers.image.ref.name\":\"latest\"}}]}" > "$IMG/index.json"
BYTES=$(du -sb "$IMG/blobs" | cut -f1)
echo "image: sha256:$md, $((BYTES / 1024 / 1024)) MB"

# --- servers ------------------------------------------------------------------------------------------------------
wait_http() { for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://$1/v2/" 2>/dev/null && return 0; sleep 0.1; done; echo "server on $1 did not start" >&2; return 1; }

start_distribution() { # root port
  cat > "$WORK/dist-$2.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $1
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$2
YML
  docker-registry serve "$WORK/dist-$2.yml" > "$WORK/dist-$2.log" 2>&1 &
  PIDS+=($!); SERVER_PID=$!
  wait_http "127.0.0.1:$2"
}
start_berth() { # root port
  "$BERTH" registry --addr "127.0.0.1:$2" --root "$1" > "$WORK/berth-$2.log" 2>&1 &
  PIDS+=($!); SERVER_PID=$!
  wait_http "127.0.0.1:$2"
}
stop_server() {
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    wait "$SERVER_PID"; echo "the server (pid $SERVER_PID) died during the run: exit $?" >&2; exit 1
  fi
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
}

declare -A RESULTS
measure() { # kind round
  local kind=$1 round=$2 root=$WORK/$1-root-$2 port; port=$(free_port)
  if [ "$kind" = distribution ]; then start_distribution "$root" "$port"; else start_berth "$root" "$port"; fi
  local ref="127.0.0.1:$port/bench/image:v1"
  local t0 t1
  t0=$(now); skopeo copy -q --dest-tls-verify=false "oci:$IMG:latest" "docker://$ref" >/dev/null; t1=$(now)
  RESULTS[$kind.push]+="$(echo "$t1 - $t0" | bc) "
  t0=$(now); skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$WORK/pull-$kind-$round:v1" >/dev/null; t1=$(now)
  RESULTS[$kind.pull]+="$(echo "$t1 - $t0" | bc) "
  got=$(python3 -c "import json,sys; print(json.load(open('$WORK/pull-$kind-$round/index.json'))['manifests'][0]['digest'])")
  [ "$got" = "sha256:$md" ] || { echo "$kind: pulled manifest $got != sha256:$md" >&2; exit 1; }
  rm -rf "$WORK/pull-$kind-$round"
  # CLIENTS pulls at once; each one's duration is a sample, the wall time gives the aggregate throughput.
  local start; start=$(now)
  local pids=()
  for c in $(seq 1 "$CLIENTS"); do
    ( s=$(now); skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$WORK/cc-$kind-$c:v1" >/dev/null; e=$(now); echo "$e - $s" | bc > "$WORK/cc-$kind-$c.t" ) &
    pids+=($!)
  done
  local failed=0
  for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
  if [ "$failed" != 0 ]; then
    kill -0 "$SERVER_PID" 2>/dev/null || { wait "$SERVER_PID"; echo "$kind server died during concurrent pulls: exit $?" >&2; }
    echo "$kind: $failed of $CLIENTS concurrent pulls failed" >&2; exit 1
  fi
  local end; end=$(now)
  for c in $(seq 1 "$CLIENTS"); do RESULTS[$kind.each]+="$(cat "$WORK/cc-$kind-$c.t") "; rm -rf "$WORK/cc-$kind-$c" "$WORK/cc-$kind-$c.t"; done
  RESULTS[$kind.concurrent]+="$(echo "$end - $start" | bc) "
  stop_server
  rm -rf "$root"
}

for round in $(seq 1 "$ROUNDS"); do
  for kind in distribution berth; do
    echo "round $round: $kind..."
    measure "$kind" "$round"
  done
done

python3 - "$BYTES" "$CLIENTS" \
  "${RESULTS[distribution.push]}" "${RESULTS[berth.push]}" \
  "${RESULTS[distribution.pull]}" "${RESULTS[berth.pull]}" \
  "${RESULTS[distribution.concurrent]}" "${RESULTS[berth.concurrent]}" \
  "${RESULTS[distribution.each]}" "${RESULTS[berth.each]}" <<'PY'
import sys, statistics
size = int(sys.argv[1]); clients = int(sys.argv[2])
def nums(s): return [float(x) for x in s.split()]
def pct(xs, p):
    xs = sorted(xs); k = (len(xs) - 1) * p / 100; f = int(k); c = min(f + 1, len(xs) - 1)
    return xs[f] + (xs[c] - xs[f]) * (k - f)
mb = size / 1e6
rows = [("push (1 client)", 3, 1), ("pull (1 client)", 5, 1), (f"pull ({clients} clients, aggregate)", 7, clients)]
print(f"\nimage {mb:.0f} MB; throughput = MB/s (median over rounds), higher is better")
print(f"{'operation':34} {'distribution':>14} {'berth':>10} {'berth/dist':>11}")
for name, i, n in rows:
    d = statistics.median(nums(sys.argv[i])); b = statistics.median(nums(sys.argv[i + 1]))
    print(f"{name:34} {n*mb/d:14.1f} {n*mb/b:10.1f} {d/b:11.2f}")
print("raw seconds per round (distribution | berth):")
for name, i, n in rows:
    print(f"  {name:32} {' '.join(f'{x:.2f}' for x in nums(sys.argv[i]))} | {' '.join(f'{x:.2f}' for x in nums(sys.argv[i + 1]))}")
d = nums(sys.argv[9]); b = nums(sys.argv[10])
print(f"\nper-client pull time with {clients} concurrent clients, seconds (lower is better)")
print(f"{'':34} {'distribution':>14} {'berth':>10} {'berth/dist':>11}")
for label, p in (("median", 50), ("p95", 95), ("p99", 99)):
    print(f"{label:34} {pct(d,p):14.2f} {pct(b,p):10.2f} {pct(b,p)/pct(d,p):11.2f}")
PY

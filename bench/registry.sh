#!/usr/bin/env bash
# bench/registry.sh — pushing and pulling a ~300 MB multi-layer image, and 10 concurrent pulls, on loopback, for each
# client→server pairing on the same input in the same run:
#   skopeo→distribution, skopeo→berth (Berth's registry against Debian's docker-registry 2.8), and
#   berth→berth, berth→distribution (Berth's registry client, `berth images-dev push/pull`, against skopeo).
# Prints throughput medians, per-client p99 with 10 concurrent pulls, and the ratios (throughput: higher is better).
#
#   bench/registry.sh                 # uses out/berth (make build)
#   BERTH=/path/to/berth ROUNDS=3 SIZE_MB=300 LAYERS=6 CLIENTS=10 bench/registry.sh
#   PAIRS="skopeo:berth berth:berth" bench/registry.sh      # a subset of client:server pairings
set -euo pipefail
cd "$(dirname "$0")/.."
BERTH=${BERTH:-$PWD/out/berth}
ROUNDS=${ROUNDS:-3}
SIZE_MB=${SIZE_MB:-300}
LAYERS=${LAYERS:-6}
CLIENTS=${CLIENTS:-10}
PAIRS=${PAIRS:-skopeo:distribution skopeo:berth berth:berth berth:distribution}
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

# The berth client pushes from its own content store: the same layout, imported once (not timed).
SRC_ROOT=$WORK/berth-src
"$BERTH" images-dev import "$IMG" --root "$SRC_ROOT" > /dev/null
LOCAL_NAME=latest   # the layout's ref name becomes the local image name

declare -A RESULTS
push_with() { # client ref
  if [ "$1" = skopeo ]; then skopeo copy -q --dest-tls-verify=false "oci:$IMG:latest" "docker://$2" >/dev/null
  else "$BERTH" images-dev push "$LOCAL_NAME" "$2" --root "$SRC_ROOT" --quiet >/dev/null; fi
}
pull_with() { # client ref dest
  if [ "$1" = skopeo ]; then skopeo copy -q --src-tls-verify=false "docker://$2" "oci:$3:v1" >/dev/null
  else "$BERTH" images-dev pull "$2" --root "$3" --quiet >/dev/null; fi
}
pulled_digest() { # client dest
  if [ "$1" = skopeo ]; then python3 -c "import json,sys; print(json.load(open('$2/index.json'))['manifests'][0]['digest'])"
  else "$BERTH" images-dev ls --root "$2" | cut -f2; fi
}
measure() { # client server round
  local client=$1 server=$2 round=$3 key=$1.$2 root=$WORK/$2-root-$3 port; port=$(free_port)
  if [ "$server" = distribution ]; then start_distribution "$root" "$port"; else start_berth "$root" "$port"; fi
  local ref="127.0.0.1:$port/bench/image:v1"
  local t0 t1
  t0=$(now); push_with "$client" "$ref"; t1=$(now)
  RESULTS[$key.push]+="$(echo "$t1 - $t0" | bc) "
  t0=$(now); pull_with "$client" "$ref" "$WORK/pull-$key-$round"; t1=$(now)
  RESULTS[$key.pull]+="$(echo "$t1 - $t0" | bc) "
  got=$(pulled_digest "$client" "$WORK/pull-$key-$round")
  [ "$got" = "sha256:$md" ] || { echo "$key: pulled manifest $got != sha256:$md" >&2; exit 1; }
  rm -rf "$WORK/pull-$key-$round"
  # CLIENTS pulls at once; each one's duration is a sample, the wall time gives the aggregate throughput.
  local start; start=$(now)
  local pids=()
  for c in $(seq 1 "$CLIENTS"); do
    ( s=$(now); pull_with "$client" "$ref" "$WORK/cc-$key-$c"; e=$(now); echo "$e - $s" | bc > "$WORK/cc-$key-$c.t" ) &
    pids+=($!)
  done
  local failed=0
  for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
  if [ "$failed" != 0 ]; then
    kill -0 "$SERVER_PID" 2>/dev/null || { wait "$SERVER_PID"; echo "$server server died during concurrent pulls: exit $?" >&2; }
    echo "$key: $failed of $CLIENTS concurrent pulls failed" >&2; exit 1
  fi
  local end; end=$(now)
  for c in $(seq 1 "$CLIENTS"); do RESULTS[$key.each]+="$(cat "$WORK/cc-$key-$c.t") "; rm -rf "$WORK/cc-$key-$c" "$WORK/cc-$key-$c.t"; done
  RESULTS[$key.concurrent]+="$(echo "$end - $start" | bc) "
  stop_server
  rm -rf "$root"
}

for round in $(seq 1 "$ROUNDS"); do
  for pair in $PAIRS; do
    echo "round $round: ${pair%%:*} client -> ${pair##*:} registry..."
    measure "${pair%%:*}" "${pair##*:}" "$round"
  done
done

args=()
for pair in $PAIRS; do
  key=${pair%%:*}.${pair##*:}
  args+=("$pair" "${RESULTS[$key.push]}" "${RESULTS[$key.pull]}" "${RESULTS[$key.concurrent]}" "${RESULTS[$key.each]}")
done
python3 - "$BYTES" "$CLIENTS" "${args[@]}" <<'PY'
import sys, statistics
size = int(sys.argv[1]); clients = int(sys.argv[2]); rest = sys.argv[3:]
def nums(s): return [float(x) for x in s.split()]
def pct(xs, p):
    xs = sorted(xs); k = (len(xs) - 1) * p / 100; f = int(k); c = min(f + 1, len(xs) - 1)
    return xs[f] + (xs[c] - xs[f]) * (k - f)
pairs = {}
for i in range(0, len(rest), 5):
    pairs[rest[i]] = {"push": nums(rest[i+1]), "pull": nums(rest[i+2]), "concurrent": nums(rest[i+3]), "each": nums(rest[i+4])}
mb = size / 1e6
ops = [("push (1 client)", "push", 1), ("pull (1 client)", "pull", 1), (f"pull ({clients} clients, aggregate)", "concurrent", clients)]
names = list(pairs)
print(f"\nimage {mb:.0f} MB; throughput = MB/s (median over rounds), higher is better; columns are client:registry")
print(f"{'operation':34}" + "".join(f"{n:>22}" for n in names))
for label, key, n in ops:
    print(f"{label:34}" + "".join(f"{n*mb/statistics.median(pairs[p][key]):22.1f}" for p in names))
print(f"{'per-client pull p99, s (' + str(clients) + ' at once)':34}" + "".join(f"{pct(pairs[p]['each'], 99):22.2f}" for p in names))
print(f"{'per-client pull median, s':34}" + "".join(f"{pct(pairs[p]['each'], 50):22.2f}" for p in names))
def ratio(a, b, title):
    if a not in pairs or b not in pairs: return
    print(f"\n{title} ({a} vs {b}; >1 means {a} is faster)")
    for label, key, n in ops:
        print(f"  {label:32} {statistics.median(pairs[b][key]) / statistics.median(pairs[a][key]):6.2f}")
    print(f"  {'p99 per-client pull (lower/higher)':32} {pct(pairs[b]['each'], 99) / pct(pairs[a]['each'], 99):6.2f}")
ratio("skopeo:berth", "skopeo:distribution", "berth registry / distribution, same client (skopeo)")
ratio("berth:berth", "skopeo:berth", "berth client / skopeo, same registry (berth)")
ratio("berth:distribution", "skopeo:distribution", "berth client / skopeo, same registry (distribution)")
print("\nraw seconds per round:")
for p in names:
    print(f"  {p:22} push {' '.join(f'{x:.2f}' for x in pairs[p]['push'])} | pull {' '.join(f'{x:.2f}' for x in pairs[p]['pull'])} | {clients} pulls {' '.join(f'{x:.2f}' for x in pairs[p]['concurrent'])}")
PY

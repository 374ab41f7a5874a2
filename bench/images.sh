#!/usr/bin/env bash
# Two image benchmarks, each Berth vs its peer in the same run on the same input; medians, p95 and ratios.
#  1. unpack: a large multi-layer image (parts of /usr, one gzip layer each, plus whiteouts):
#     Berth's unpacker vs `umoci raw unpack`, alternating, on the same OCI layout.
#  2. build: the same Dockerfile (FROM busybox, a few COPY/RUN/ENV/WORKDIR steps) with a cold cache (every step
#     executed: --no-cache) and a warm cache (every step cached): `berth images-dev build` (RUN by out/berth-runtime)
#     vs `buildah bud --layers` (overlay storage in a temp root, default OCI isolation with runc: crun refuses this
#     host's hybrid cgroups; --network none like Berth's RUN). buildah gets the same busybox image, written by Berth
#     as an OCI layout.
# Needs root, umoci and buildah (deps/images.apt, deps/build.apt), and out/berth + out/berth-runtime (make build).
# BERTH_BENCH_ITERATIONS=N changes the number of runs (default 3 for unpack, 5 for build);
# BERTH_BENCH_PARTS="unpack build" chooses the parts.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
parts=${BERTH_BENCH_PARTS:-unpack build}

if [[ " $parts " == *" unpack "* ]]; then
  report=$(mktemp)
  dotnet build tests/Berth.Images.Tests -c Release --nologo -v q -clp:NoSummary >/dev/null
  BERTH_BENCH=1 BERTH_BENCH_REPORT="$report" dotnet test tests/Berth.Images.Tests -c Release --no-build --nologo \
    --filter "FullyQualifiedName~UnpackBench" --logger "console;verbosity=minimal" >/dev/null || {
    echo "bench/images.sh: the benchmark failed; rerun with: BERTH_BENCH=1 dotnet test tests/Berth.Images.Tests -c Release --filter FullyQualifiedName~UnpackBench" >&2
    rm -f "$report"
    exit 1
  }
  echo "== images: unpack, Berth vs umoci raw unpack"
  cat "$report"
  rm -f "$report"
fi

if [[ " $parts " == *" build "* ]]; then
  berth=$repo/out/berth
  runtime=$repo/out/berth-runtime
  for exe in "$berth" "$runtime"; do
    [[ -x $exe ]] || { echo "bench/images.sh: $exe is missing; run make build first" >&2; exit 1; }
  done
  command -v buildah >/dev/null || { echo "bench/images.sh: buildah is missing (apt-get install buildah)" >&2; exit 1; }
  n=${BERTH_BENCH_ITERATIONS:-5}
  # Lower-case path: buildah names an image pulled from an OCI layout after the layout's path.
  work=/tmp/berth-bench-build-$$
  rm -rf "$work" && mkdir -p "$work"
  trap 'buildah --root "$work/buildah" --runroot "$work/buildah-run" --storage-driver overlay rm --all >/dev/null 2>&1 || true;
        umount -R "$work/buildah/overlay" 2>/dev/null || true; rm -rf "$work"' EXIT
  root=$work/berth
  bh=(buildah --root "$work/buildah" --runroot "$work/buildah-run" --storage-driver overlay)

  # The context: 20 source files, a config file.
  ctx=$work/context
  mkdir -p "$ctx/src"
  for i in $(seq 1 20); do seq $((i * 1000)) -7 1 > "$ctx/src/part$i.txt"; done
  echo "threads=4" > "$ctx/config.txt"
  cat > "$ctx/Dockerfile" <<'DOCKERFILE'
FROM busybox
ENV APP=/app
WORKDIR /app
COPY src/ /app/src/
RUN mkdir -p out && for f in src/*; do sort -n "$f" > "out/$(basename "$f")"; done
COPY config.txt /app/
RUN cat config.txt out/* | wc -l > count && md5sum out/* > sums
RUN rm -rf src && echo done
CMD ["cat", "/app/count"]
DOCKERFILE

  # The same busybox image on both sides.
  "$berth" images-dev busybox --root "$root" >/dev/null
  "$berth" images-dev save busybox --root "$root" --oci "$work/busybox-oci"
  "${bh[@]}" pull -q "oci:$work/busybox-oci:latest" >/dev/null
  "${bh[@]}" tag "$("${bh[@]}" images -q | head -1)" docker.io/library/busybox:latest

  ms() { local s e; s=$(date +%s%N); "$@" >"$work/last.log" 2>&1 || { cat "$work/last.log" >&2; return 1; }; e=$(date +%s%N); echo $(((e - s) / 1000000)); }
  berth_build() { "$berth" images-dev build --root "$root" --runtime "$runtime" -t bench:latest "$@" "$ctx"; }
  buildah_build() { "${bh[@]}" bud --layers --pull=never --network none --runtime runc -t bench:latest "$@" "$ctx"; }

  # One untimed round each: the base image gets unpacked, both outputs are checked.
  berth_build >/dev/null
  buildah_build >/dev/null
  cached=$(berth_build | grep -c "Using cache" || true)
  echo "== images: build (FROM busybox + 8 steps), Berth vs buildah bud --layers; $n runs each, interleaved"
  echo "   (berth warm build: $cached of 8 steps from the cache)"
  declare -a bc=() hc=() bw=() hw=()
  for i in $(seq 1 "$n"); do
    bc+=("$(ms berth_build --no-cache)")
    hc+=("$(ms buildah_build --no-cache)")
    bw+=("$(ms berth_build)")
    hw+=("$(ms buildah_build)")
  done
  python3 - "${bc[*]}" "${hc[*]}" "${bw[*]}" "${hw[*]}" <<'PY'
import statistics, sys
def parse(s): return sorted(int(x) for x in s.split())
def p95(v): return v[min(len(v) - 1, int(round(0.95 * (len(v) - 1))))]
bc, hc, bw, hw = (parse(a) for a in sys.argv[1:5])
for name, b, h in (("cold (every step runs)", bc, hc), ("warm (every step cached)", bw, hw)):
    mb, mh = statistics.median(b), statistics.median(h)
    print(f"{name:26} berth median {mb:7.0f} ms p95 {p95(b):6d} | buildah median {mh:7.0f} ms p95 {p95(h):6d} | berth/buildah {mb / mh:4.2f}x")
PY
fi

#!/usr/bin/env bash
# Unpack of a large multi-layer image (parts of /usr, one gzip layer each, plus whiteouts):
# Berth's unpacker vs `umoci raw unpack`, alternating in the same run on the same OCI layout.
# Prints medians, p95 and the ratio. Needs root (owners, devices) and umoci (deps/images.apt).
# BERTH_BENCH_ITERATIONS=N to change the number of runs (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
report=$(mktemp)
trap 'rm -f "$report"' EXIT
dotnet build tests/Berth.Images.Tests -c Release --nologo -v q -clp:NoSummary >/dev/null
BERTH_BENCH=1 BERTH_BENCH_REPORT="$report" dotnet test tests/Berth.Images.Tests -c Release --no-build --nologo \
  --filter "FullyQualifiedName~UnpackBench" --logger "console;verbosity=minimal" >/dev/null || {
  echo "bench/images.sh: the benchmark failed; rerun with: BERTH_BENCH=1 dotnet test tests/Berth.Images.Tests -c Release --filter FullyQualifiedName~UnpackBench" >&2
  exit 1
}
echo "== images: unpack, Berth vs umoci raw unpack"
cat "$report"

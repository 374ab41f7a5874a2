#!/usr/bin/env bash
# bench/runtime-userns.sh — bench/runtime.sh with a user namespace (container 0 -> host 100000, 65536 ids):
# berth-runtime (through berth-userns) vs runc, same bundle, interleaved; crun is left out (crun 1.8 fails on this
# hybrid-cgroup host with "unknown version specified", with or without a user namespace). Env: N, WARMUP.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x out/berth-userns ] || { echo "out/berth-userns is missing: run 'make build' first" >&2; exit 1; }
USERNS=1 exec bash bench/runtime.sh

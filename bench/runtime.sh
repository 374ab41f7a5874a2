#!/usr/bin/env bash
# bench/runtime.sh — berth-runtime vs crun vs runc on the same bundle, interleaved.
#   run  : `RT run` of /bin/true (busybox bundle, memory + pids limits): create + start + wait + delete
#   exec : `RT exec` of /bin/true into a running container
# Prints medians, p95, peak RSS and the ratios to crun and runc.
# Env: N (iterations, default 60), WARMUP (default 5), BASELINE (another berth-runtime to measure alongside).
# Needs root, busybox-static, runc, crun.
#
# crun 1.8 refuses this cgroup-v1 hybrid host unless /sys/fs/cgroup/unified/cgroup.controllers looks
# empty, so all three run in one private mount namespace where an empty file is bind-mounted over it.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x out/berth-runtime ] || { echo "out/berth-runtime is missing: run 'make build' first" >&2; exit 1; }
work=$(mktemp -d /tmp/berth-bench-runtime.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs/bin" "$work/rootfs/proc" "$work/rootfs/dev" "$work/rootfs/sys" "$work/rootfs/tmp"
cp /bin/busybox "$work/rootfs/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$work/rootfs/bin/$a"; done
: > "$work/empty"
exec unshare -m --propagation private -- sh -c '
  mount --bind "$1/empty" /sys/fs/cgroup/unified/cgroup.controllers && exec python3 "$2" "$1" "$3"
' sh "$work" "$PWD/bench/runtime.py" "$PWD/out/berth-runtime"

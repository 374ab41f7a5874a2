#!/usr/bin/env bash
# Per-container supervisor memory: berth-shim vs containerd-shim-runc-v2 (both over runc, same busybox rootfs, same
# `sleep` container), N containers each, idle RSS and PSS of each shim after start. Prints medians and the ratio.
# Needs root, runc, containerd + ctr (Debian containerd), busybox-static, and out/berth-shim (make shim).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-5}"
shim="$PWD/out/berth-shim"
[ -x "$shim" ] || { echo "out/berth-shim is missing: make shim" >&2; exit 1; }
for t in runc containerd ctr /bin/busybox; do command -v "$t" >/dev/null || { echo "$t is missing (apt-get install runc containerd busybox-static)" >&2; exit 1; }; done
work=$(mktemp -d /tmp/berth-bench-shim.XXXXXX)
ctd_pid=""
cleanup() {
  set +e
  for i in $(seq 1 "$N"); do
    [ -f "$work/s$i/shim.pid" ] && kill -9 "$(cat "$work/s$i/shim.pid")" 2>/dev/null
    runc --root "$work/rt" delete --force "b$i" >/dev/null 2>&1
    ctr --address "$work/ctd.sock" t kill -s KILL "c$i" >/dev/null 2>&1
  done
  sleep 0.5
  for i in $(seq 1 "$N"); do
    ctr --address "$work/ctd.sock" t rm "c$i" >/dev/null 2>&1
    ctr --address "$work/ctd.sock" c rm "c$i" >/dev/null 2>&1
  done
  [ -n "$ctd_pid" ] && kill "$ctd_pid" 2>/dev/null && wait "$ctd_pid" 2>/dev/null
  for d in /sys/fs/cgroup/*/berth-bench-shim; do [ -d "$d" ] && rmdir "$d"/* "$d" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/rootfs/bin" "$work/rootfs/proc" "$work/rootfs/dev" "$work/rootfs/sys" "$work/rootfs/tmp"
cp /bin/busybox "$work/rootfs/bin/"; ln -s busybox "$work/rootfs/bin/sleep"
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mem() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
pss() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }

# berth-shim over runc
for i in $(seq 1 "$N"); do
  mkdir -p "$work/b$i" "$work/s$i"
  (cd "$work/b$i" && runc spec)
  python3 - "$work" "$i" <<'PY'
import json, sys
w, i = sys.argv[1], sys.argv[2]
p = f"{w}/b{i}/config.json"
s = json.load(open(p))
s["root"] = {"path": f"{w}/rootfs", "readonly": True}
s["process"].update(terminal=False, args=["/bin/sleep", "1000"])
s["linux"]["cgroupsPath"] = f"/berth-bench-shim/b{i}"
json.dump(s, open(p, "w"))
import os
os.makedirs(f"{w}/x{i}", exist_ok=True)
s["linux"]["cgroupsPath"] = f"/berth-bench-shim/x{i}"
json.dump(s, open(f"{w}/x{i}/config.json", "w"))
json.dump({"id": f"b{i}", "bundleDir": f"{w}/b{i}", "stateDir": f"{w}/s{i}", "runtimePath": "/usr/bin/runc",
           "runtimeRoot": f"{w}/rt", "terminal": False, "openStdin": False, "stdinOnce": False,
           "logPath": f"{w}/s{i}.log", "logMaxSize": 10485760, "logMaxFiles": 3}, open(f"{w}/s{i}/shim.json", "w"))
PY
  t0=$(date +%s%N)
  report=$("$shim" start "$work/s$i" | head -c 4096)
  t1=$(date +%s%N)
  [ "${report:0:2}" = ok ] || { echo "berth-shim failed: $report" >&2; exit 1; }
  echo $(( (t1 - t0) / 1000 )) >>"$work/shim-start.us"
  runc --root "$work/rt" start "b$i"
done
sleep 1
berth_rss=$(for i in $(seq 1 "$N"); do mem "$(cat "$work/s$i/shim.pid")"; done | median)
berth_pss=$(for i in $(seq 1 "$N"); do pss "$(cat "$work/s$i/shim.pid")"; done | median)
berth_thr=$(awk '/^Threads/ {print $2}' "/proc/$(cat "$work/s1/shim.pid")/status")

# The same create without a shim: what the shim adds to `docker run`'s path.
for i in $(seq 1 "$N"); do
  t0=$(date +%s%N)
  runc --root "$work/rt" create --bundle "$work/x$i" "x$i" </dev/null >/dev/null 2>&1
  t1=$(date +%s%N)
  runc --root "$work/rt" delete --force "x$i" >/dev/null 2>&1
  echo $(( (t1 - t0) / 1000 )) >>"$work/runc-create.us"
done

# containerd-shim-runc-v2 under a private containerd
cat > "$work/ctd.toml" <<TOML
version = 2
root = "$work/ctd-root"
state = "$work/ctd-state"
[grpc]
  address = "$work/ctd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  disable = true
TOML
containerd --config "$work/ctd.toml" >"$work/ctd.log" 2>&1 &
ctd_pid=$!
for _ in $(seq 1 50); do [ -S "$work/ctd.sock" ] && break; sleep 0.1; done
for i in $(seq 1 "$N"); do
  ctr --address "$work/ctd.sock" run -d --env PATH=/bin --runtime io.containerd.runc.v2 --cgroup "/berth-bench-shim/c$i" \
    --rootfs "$work/rootfs" "c$i" /bin/sleep 1000 >/dev/null
done
sleep 1
cpids=$(pgrep -f "containerd-shim-runc-v2 -namespace default -id c[0-9]+ -address $work/ctd.sock" || true)
[ -n "$cpids" ] || { echo "no containerd-shim-runc-v2 found" >&2; exit 1; }
ctd_rss=$(for p in $cpids; do mem "$p"; done | median)
ctd_pss=$(for p in $cpids; do pss "$p"; done | median)
ctd_thr=$(awk '/^Threads/ {print $2}' "/proc/$(echo "$cpids" | head -1)/status")

printf '%-26s %10s %10s %8s\n' "shim (N=$N, idle)" "RSS KiB" "PSS KiB" threads
printf '%-26s %10s %10s %8s\n' berth-shim "$berth_rss" "$berth_pss" "$berth_thr"
printf '%-26s %10s %10s %8s\n' containerd-shim-runc-v2 "$ctd_rss" "$ctd_pss" "$ctd_thr"
echo "create latency, median of $N: berth-shim start (spawns + runc create + report) $(median <"$work/shim-start.us") us, bare runc create $(median <"$work/runc-create.us") us"
awk -v a="$berth_rss" -v b="$ctd_rss" -v c="$berth_pss" -v d="$ctd_pss" 'BEGIN {printf "ratio berth/containerd: RSS %.2f  PSS %.2f (target <= 0.5)\n", a/b, c/d}'

#!/usr/bin/env bash
# bench/engine.sh — `docker run --rm --network none busybox true` through the same docker CLI against Debian's
# dockerd 20.10 (+ its containerd) and against `berth daemon`, interleaved, each on its own socket and roots.
# Also: idle RSS of dockerd+containerd vs berth daemon, and per-container RSS of containerd-shim vs berth-shim
# (the parent of a running `sleep` container's init). Prints medians, p95 and the ratios berth/dockerd.
# Env: N (runs per engine, default 30), WARMUP (default 3), BERTH (default out/berth), DOCKER (the CLI).
# Needs root, docker.io (dockerd, containerd), busybox-static. If out/berth has no `daemon` command yet, it says
# so and measures dockerd alone.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-30}
WARMUP=${WARMUP:-3}
BERTH=${BERTH:-$PWD/out/berth}
DOCKER=${DOCKER:-$( [ -x /usr/local/bin/docker ] && echo /usr/local/bin/docker || echo /usr/bin/docker )}
[ -x /usr/sbin/dockerd ] || { echo "dockerd is missing: apt-get install docker.io" >&2; exit 1; }
[ -x "$DOCKER" ] || { echo "no docker CLI at $DOCKER" >&2; exit 1; }

work=$(mktemp -d /tmp/bbe.XXXXXX)   # short: unix socket paths are limited to 108 bytes
dockerd_pid=
berth_pid=
cleanup() {
  set +e
  for sock in "$work/docker.sock" "$work/berth.sock"; do
    if [ -S "$sock" ]; then
      ids=$("$DOCKER" -H "unix://$sock" ps -aq 2>/dev/null)
      [ -z "$ids" ] || "$DOCKER" -H "unix://$sock" rm -f $ids >/dev/null 2>&1
    fi
  done
  for pid in $berth_pid $dockerd_pid; do
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  done
  if [ -f "$work/dexec/containerd/containerd.pid" ]; then
    cpid=$(cat "$work/dexec/containerd/containerd.pid")
    if grep -q containerd "/proc/$cpid/comm" 2>/dev/null; then kill -TERM "$cpid"; sleep 1; kill -KILL "$cpid" 2>/dev/null; fi
  fi
  grep -o " $work[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$work"
}
trap cleanup EXIT

# busybox:latest from the host's busybox-static, the same tarball for both engines.
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp" "$work/rootfs/proc" "$work/rootfs/sys" "$work/rootfs/dev"
cp /bin/busybox "$work/rootfs/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$work/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$work/rootfs/etc/passwd"
echo 'root:x:0:' > "$work/rootfs/etc/group"
tar -C "$work/rootfs" -cf "$work/busybox.tar" .

wait_socket() { # socket pid name
  for _ in $(seq 600); do
    "$DOCKER" -H "unix://$1" version >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || { echo "$3 exited; its log:" >&2; tail -20 "$work/$3.log" >&2; return 1; }
    sleep 0.1
  done
  echo "$3 did not come up on $1" >&2; return 1
}

echo '{}' > "$work/daemon.json"
/usr/sbin/dockerd -H "unix://$work/docker.sock" --data-root "$work/droot" --exec-root "$work/dexec" --pidfile "$work/dockerd.pid" \
  --config-file "$work/daemon.json" --bridge=none --iptables=false --ip6tables=false --log-level=warn >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
wait_socket "$work/docker.sock" "$dockerd_pid" dockerd
"$DOCKER" -H "unix://$work/docker.sock" import "$work/busybox.tar" busybox:latest >/dev/null

engines=(dockerd)
if [ -x "$BERTH" ] && "$BERTH" daemon --help >/dev/null 2>&1; then
  # The runtime and shim beside the berth given (out/berth is a link into out/.publish, so say where they are).
  extra=()
  bdir=$(dirname "$BERTH")
  [ -x "$bdir/berth-runtime" ] && extra+=(--runtime "$bdir/berth-runtime")
  [ -x "$bdir/berth-shim" ] && extra+=(--shim "$bdir/berth-shim")
  "$BERTH" daemon -H "unix://$work/berth.sock" --data-root "$work/broot" --exec-root "$work/bexec" "${extra[@]}" >"$work/berth.log" 2>&1 &
  berth_pid=$!
  wait_socket "$work/berth.sock" "$berth_pid" berth
  "$DOCKER" -H "unix://$work/berth.sock" import "$work/busybox.tar" busybox:latest >/dev/null
  if err=$("$DOCKER" -H "unix://$work/berth.sock" run --rm --network none busybox true 2>&1); then
    engines+=(berth)
  else
    echo "berth daemon: cannot run a container yet ($(echo "$err" | head -1)); timing dockerd alone"
  fi
else
  echo "berth daemon: not available in $BERTH yet (no 'daemon' command); measuring dockerd alone"
fi

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
sleep 2
containerd_pid=$(cat "$work/dexec/containerd/containerd.pid")
idle_dockerd=$(( $(rss_kb "$dockerd_pid") + $(rss_kb "$containerd_pid") ))
idle_berth=
[ -n "$berth_pid" ] && idle_berth=$(rss_kb "$berth_pid")

# Per-container shim: the parent of the container's init (containerd-shim-runc-v2 / berth-shim).
shim_rss() { # socket
  local id pid ppid
  id=$("$DOCKER" -H "unix://$1" run -d --network none busybox sleep 300)
  sleep 1
  pid=$("$DOCKER" -H "unix://$1" inspect -f '{{.State.Pid}}' "$id")
  ppid=$(awk '{print $4}' "/proc/$pid/stat")
  echo "$(rss_kb "$ppid") $(cat "/proc/$ppid/comm")"
  "$DOCKER" -H "unix://$1" rm -f "$id" >/dev/null
}
read -r shim_dockerd shim_dockerd_name < <(shim_rss "$work/docker.sock")
shim_berth= shim_berth_name=
[ "${#engines[@]}" -gt 1 ] && read -r shim_berth shim_berth_name < <(shim_rss "$work/berth.sock")

# The timed runs, interleaved so both engines see the same machine load.
python3 - "$DOCKER" "$N" "$WARMUP" "$work" "${engines[@]}" <<'PY'
import statistics, subprocess, sys, time
docker, n, warmup, work, engines = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5:]
sock = {"dockerd": f"{work}/docker.sock", "berth": f"{work}/berth.sock"}
times = {e: [] for e in engines}
for i in range(warmup + n):
    for e in engines:
        t = time.perf_counter()
        r = subprocess.run([docker, "-H", "unix://" + sock[e], "run", "--rm", "--network", "none", "busybox", "true"], capture_output=True)
        dt = (time.perf_counter() - t) * 1000
        if r.returncode != 0:
            sys.exit(f"{e}: docker run failed ({r.returncode}): {r.stderr.decode().strip()}")
        if i >= warmup:
            times[e].append(dt)
def p95(v): return sorted(v)[max(0, int(round(0.95 * len(v))) - 1)]
print(f"docker run --rm --network none busybox true  (N={n}, interleaved, docker CLI {docker})")
for e in engines:
    print(f"  {e:8s} median {statistics.median(times[e]):7.1f} ms   p95 {p95(times[e]):7.1f} ms")
if "berth" in times:
    print(f"  ratio berth/dockerd (median): {statistics.median(times['berth']) / statistics.median(times['dockerd']):.2f}x")
PY

echo "idle RSS (after start + busybox import)"
echo "  dockerd+containerd  $(( idle_dockerd / 1024 )) MiB"
if [ -n "$idle_berth" ]; then
  echo "  berth daemon        $(( idle_berth / 1024 )) MiB"
  python3 -c "print(f'  ratio berth/dockerd: {$idle_berth/$idle_dockerd:.2f}x')"
fi
echo "per-container shim RSS (a running sleep)"
echo "  $shim_dockerd_name  $(( shim_dockerd / 1024 )).$(( (shim_dockerd % 1024) * 10 / 1024 )) MiB"
if [ -n "$shim_berth" ]; then
  echo "  $shim_berth_name  $(( shim_berth / 1024 )).$(( (shim_berth % 1024) * 10 / 1024 )) MiB"
  python3 -c "print(f'  ratio berth/dockerd: {$shim_berth/$shim_dockerd:.2f}x')"
fi

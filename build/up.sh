#!/usr/bin/env bash
# `make up`: after the build, puts berth's executables on the PATH, prepares the busybox base image and a demo
# bundle, starts `berth daemon` (Docker Engine API on /run/berth/berth.sock) and `berth server` (Kubernetes API on
# 127.0.0.1:6443, SQLite store) in the background, and prints what to do next.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$PWD/out
data=${BERTH_DATA:-/var/lib/berth}
run=${BERTH_RUN:-/run/berth}
kubeconfig=${BERTH_KUBECONFIG:-/etc/berth/admin.kubeconfig}
mkdir -p "$data" "$run" "$(dirname "$kubeconfig")"

bin=${BERTH_BIN:-/usr/local/bin}
echo "== berth, berth-server, berth-runtime, berth-shim, berth-init on the PATH ($bin)"
for exe in berth berth-server berth-runtime berth-shim berth-init; do ln -sfn "$out/$exe" "$bin/$exe"; done

daemon_pidfile=$run/daemon.pid
daemon_running() { [ -f "$daemon_pidfile" ] && kill -0 "$(cat "$daemon_pidfile")" 2>/dev/null; }

# The image store has one writer at a time: make the base image before the daemon owns the store.
if ! daemon_running; then
  echo "== base image busybox:latest (from the host's busybox-static)"
  "$out/berth" images-dev busybox --root "$data"
fi

demo=$data/demo
if [ ! -f "$demo/config.json" ]; then
  echo "== demo bundle for berth-runtime in $demo"
  rm -rf "$demo.tmp" && mkdir -p "$demo.tmp"
  "$out/berth" images-dev unpack busybox "$demo.tmp/rootfs" --root "$data" >/dev/null
  "$out/berth-runtime" spec --bundle "$demo.tmp"
  python3 - "$demo.tmp/config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c", "echo hello from $(hostname), pid $$; id"]
json.dump(c, open(p, "w"), indent=2)
PY
  mv "$demo.tmp" "$demo"
fi

echo "== berth daemon (Docker Engine API)"
sock=$run/berth.sock
if daemon_running; then
  echo "already running (pid $(cat "$daemon_pidfile"))"
else
  setsid nohup "$out/berth" daemon -H "unix://$sock" --data-root "$data" --exec-root "$run" \
    --runtime "$out/berth-runtime" --shim "$out/berth-shim" --init-path "$out/berth-init" >"$run/daemon.log" 2>&1 < /dev/null &
  echo $! > "$daemon_pidfile"
  for _ in $(seq 1 120); do
    if [ -S "$sock" ] && "$out/berth" -H "unix://$sock" version >/dev/null 2>&1; then break; fi
    daemon_running || { echo "berth daemon exited; see $run/daemon.log" >&2; tail -5 "$run/daemon.log" >&2; exit 1; }
    sleep 0.5
  done
  echo "started (pid $(cat "$daemon_pidfile"), log $run/daemon.log)"
fi

echo "== berth server (Kubernetes API)"
pidfile=$run/server.pid
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "already running (pid $(cat "$pidfile"))"
else
  nohup "$out/berth" server --data-dir "$data/server" --write-kubeconfig "$kubeconfig" >"$run/server.log" 2>&1 &
  echo $! > "$pidfile"
  for _ in $(seq 1 120); do
    if [ -f "$kubeconfig" ] && kubectl --kubeconfig "$kubeconfig" get --raw /version >/dev/null 2>&1; then break; fi
    kill -0 "$(cat "$pidfile")" 2>/dev/null || { echo "berth server exited; see $run/server.log" >&2; tail -5 "$run/server.log" >&2; exit 1; }
    sleep 0.5
  done
  echo "started (pid $(cat "$pidfile"), log $run/server.log)"
fi

cat <<TXT

Berth is up. Executables are in $out (linked into $bin).

Run containers like docker (berth daemon, Docker Engine API on $sock):
  berth run --rm busybox echo hi
  berth run -d --name web busybox httpd -f -p 8080 && berth exec web ps && berth rm -f web
  docker -H unix://$sock ps            # the docker CLI works against it too

Run a container with berth-runtime (an OCI runtime with runc's command line):
  $out/berth-runtime run --bundle $demo demo

Let podman drive it:
  podman --runtime $out/berth-runtime run --rm --network none <image> echo hi

Talk to the Kubernetes API (berth server, SQLite store in $data/server):
  kubectl --kubeconfig $kubeconfig get ns
  kubectl --kubeconfig $kubeconfig apply -f your-manifest.yaml

Serve an OCI registry:
  $out/berth registry --addr 127.0.0.1:5000 --root $data/registry

Images (base image busybox:latest is in $data):
  $out/berth images-dev ls --root $data

Stop them: kill \$(cat $daemon_pidfile) \$(cat $pidfile)   (containers keep running; a restarted daemon finds them)
TXT

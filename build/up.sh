#!/usr/bin/env bash
# `make up`: after the build, prepares the busybox base image and a demo bundle, starts `berth server`
# (Kubernetes API on 127.0.0.1:6443, SQLite store) in the background, and prints what to do next.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$PWD/out
data=${BERTH_DATA:-/var/lib/berth}
run=${BERTH_RUN:-/run/berth}
kubeconfig=${BERTH_KUBECONFIG:-/etc/berth/admin.kubeconfig}
mkdir -p "$data" "$run" "$(dirname "$kubeconfig")"

echo "== base image busybox:latest (from the host's busybox-static)"
"$out/berth" images-dev busybox --root "$data"

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

Berth is up. Executables are in $out.

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

Stop the API server: kill \$(cat $pidfile)
TXT

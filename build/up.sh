#!/usr/bin/env bash
# Starts Berth on this machine and prints what to do next. Later parts add their daemons here.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$PWD/out
cat <<TXT

Berth is built into $out.

Run a container with berth-runtime (an OCI runtime with runc's command line):
  mkdir -p /tmp/demo/rootfs && $out/berth-runtime spec --rootfs-busybox /tmp/demo/rootfs --bundle /tmp/demo
  $out/berth-runtime run --bundle /tmp/demo demo

Or let podman drive it:
  podman --runtime $out/berth-runtime run --rm <image> echo hi
TXT

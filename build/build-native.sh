#!/usr/bin/env bash
# Builds the native helpers into $1 (default: out/), static and single-threaded:
#   berth-userns  creates or joins user namespaces for berth-runtime, which no multithreaded (.NET) process can do;
#   berth-init    the tiny init of Docker's --init (signal forwarding, zombie reaping), bind-mounted into containers.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-out}"
mkdir -p "$out"
cc="${CC:-cc}"
build() {
  "$cc" -static -O2 -Wall -Wextra -Werror -o "$out/$1.tmp" "$2"
  mv -f "$out/$1.tmp" "$out/$1"
  chmod 0755 "$out/$1"
}
build berth-userns src/Berth.Runtime/native/berth-userns.c
build berth-init src/Berth.Shim/native/berth-init.c

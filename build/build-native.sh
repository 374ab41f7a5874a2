#!/usr/bin/env bash
# Builds the native helpers into $1 (default: out/), static and single-threaded:
#   berth-userns  creates or joins user namespaces for berth-runtime, which no multithreaded (.NET) process can do;
#   berth-init    the tiny init of Docker's --init (signal forwarding, zombie reaping), bind-mounted into containers;
# and the static library NativeAOT executables link in:
#   .native/libberth-spawn.a  berth_spawn_into_cgroup (clone3 with CLONE_INTO_CGROUP, posix_spawn's job), for berth-runtime.
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
mkdir -p "$out/.native"
"$cc" -O2 -fPIC -Wall -Wextra -Werror -c -o "$out/.native/berth-spawn.o" src/Berth.Linux/native/berth-spawn.c
rm -f "$out/.native/libberth-spawn.a.tmp"
ar rcs "$out/.native/libberth-spawn.a.tmp" "$out/.native/berth-spawn.o"
mv -f "$out/.native/libberth-spawn.a.tmp" "$out/.native/libberth-spawn.a"
rm -f "$out/.native/berth-spawn.o"

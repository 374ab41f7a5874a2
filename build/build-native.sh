#!/usr/bin/env bash
# Builds the native helpers of berth-runtime into $1 (default: out/): berth-userns, a static single-threaded program
# that creates or joins user namespaces, which no multithreaded (.NET) process can do.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-out}"
mkdir -p "$out"
cc="${CC:-cc}"
"$cc" -static -O2 -Wall -Wextra -Werror -o "$out/berth-userns.tmp" src/Berth.Runtime/native/berth-userns.c
mv -f "$out/berth-userns.tmp" "$out/berth-userns"
chmod 0755 "$out/berth-userns"

#!/bin/sh
# Regenerates ../SyscallTable.g.cs from the installed libseccomp (apt-get install -y libseccomp-dev).
# Usage: src/Berth.Linux/Seccomp/tools/gen-syscall-tables.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O1 -o "$tmp/gen" "$here/gen-syscall-tables.c" -lseccomp
"$tmp/gen" > "$tmp/SyscallTable.g.cs"
mv "$tmp/SyscallTable.g.cs" "$here/../SyscallTable.g.cs"
echo "wrote $here/../SyscallTable.g.cs"

#!/bin/sh
# Put kselftest_harness.h and kselftest.h in $1 (a build directory).
# They are GPL kernel code and never live in this repository: take them
# from a kernel tree given as KSRC=, else from Debian's linux-source-6.1
# tarball, and cache the result.
set -e
out=$1
[ -f "$out/kselftest_harness.h" ] && [ -f "$out/kselftest.h" ] && exit 0
mkdir -p "$out"
sel=tools/testing/selftests
if [ -n "$KSRC" ]; then
	cp "$KSRC/$sel/kselftest_harness.h" "$KSRC/$sel/kselftest.h" "$out/"
	exit 0
fi
tarball=$(ls /usr/src/linux-source-6.1*.tar.* 2>/dev/null | head -n 1)
if [ -z "$tarball" ]; then
	echo "kselftest-headers: no KSRC and no /usr/src/linux-source-6.1 tarball" >&2
	exit 1
fi
top=$(basename "$tarball" | sed 's/\.tar\..*//')
tmp=$(mktemp -d)
tar -C "$tmp" -xf "$tarball" "$top/$sel/kselftest_harness.h" "$top/$sel/kselftest.h"
cp "$tmp/$top/$sel/kselftest_harness.h" "$tmp/$top/$sel/kselftest.h" "$out/"
rm -rf "$tmp"

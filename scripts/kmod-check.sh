#!/bin/bash
# The module on the host, as `make check` runs it (the host kernel cannot
# load modules; the VMs do that): kmod/ builds warning-free with -Werror
# against Debian's 6.1 headers through the top-level Kbuild, modinfo says
# what it is, and checkpatch (the kernel's own, from linux-source-6.1)
# has nothing to say. KTAP on stdout.
#
# The 6.1 headers are the VMs' own: selftests/vm/kernels.sh downloads
# them into $BUILD/vm (shared with the vm suite, which may be preparing
# its kernels at the same time: the cache's lock serialises that) and
# builds inside its bookworm chroot with bookworm's gcc-12. Nothing of
# the host's own /usr/src or /lib/modules is used.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$top/build}
work=$BUILD/kmod-host
kernels=$top/selftests/vm/kernels.sh
cache=$BUILD/vm
n=0 rc=0
ok() { n=$((n + 1)); echo "ok $n $1"; }
fail() { n=$((n + 1)); echo "not ok $n $1"; rc=1; }
skip() { n=$((n + 1)); echo "ok $n $1 # SKIP $2"; }

echo "KTAP version 1"
echo "1..4"

# 1. the same sources dkms and the VMs build, in a copy of their own
rm -rf "$work"
mkdir -p "$work/kmod"
cp "$top/Kbuild" "$work/"
for f in "$top"/kmod/*.c "$top"/kmod/*.h "$top/kmod/Kbuild"; do
	case $f in *.mod.c) continue ;; esac
	cp "$f" "$work/kmod/"
done
if [ "$(id -u)" != 0 ]; then
	skip "build against 6.1 headers" "not root (the headers live in a chroot)"
elif ! "$kernels" prepare 6.1 "$cache" >"$work/prepare.log" 2>&1; then
	tail -20 "$work/prepare.log" | sed 's/^/# /'
	fail "build against 6.1 headers # kernels.sh prepare 6.1 failed (see $work/prepare.log)"
elif "$kernels" kbuild 6.1 "$cache" "$work" >"$work/build.log" 2>&1 &&
     ! grep -q 'warning:' "$work/build.log"; then
	ok "build against $(cat "$cache/6.1/release") with -Werror, no warning"
else
	tail -20 "$work/build.log" | sed 's/^/# /'
	fail "build against 6.1 headers (see $work/build.log)"
fi

# 2. what it says about itself
ko=$work/kmod/uringstat.ko
if [ -f "$ko" ] && modinfo -F license "$ko" | grep -qx GPL &&
   modinfo -F version "$ko" | grep -q . &&
   modinfo -F parm "$ko" | grep -q '^max_rings:'; then
	ok "modinfo: license GPL, version, parameters"
else
	fail "modinfo: license GPL, version, parameters"
fi

# 3-4. checkpatch, as for a patch to the kernel: LINUX_VERSION_CODE is
# the one warning an out-of-tree module for many kernels must live with
cp_dir=$BUILD/checkpatch
if [ ! -f "$cp_dir/checkpatch.pl" ]; then
	tarball=$(ls /usr/src/linux-source-6.1*.tar.* 2>/dev/null | head -n 1)
	t=$(basename "$tarball" | sed 's/\.tar\..*//')
	mkdir -p "$cp_dir"
	tar -C "$cp_dir" --strip-components=2 -xf "$tarball" \
		"$t/scripts/checkpatch.pl" "$t/scripts/spelling.txt" \
		"$t/scripts/const_structs.checkpatch" 2>/dev/null
fi
srcs=$(ls "$top"/kmod/*.c "$top"/kmod/*.h | grep -v '\.mod\.c$')
if [ -f "$cp_dir/checkpatch.pl" ] &&
   perl "$cp_dir/checkpatch.pl" --no-tree --strict --terse --show-types \
	--ignore LINUX_VERSION_CODE -f $srcs >"$work/checkpatch.log" 2>&1; then
	ok "checkpatch --strict: kmod/ clean"
else
	grep -E 'ERROR|WARNING|CHECK' "$work/checkpatch.log" | head -20 | sed 's/^/# /'
	fail "checkpatch --strict: kmod/ clean (see $work/checkpatch.log)"
fi
if perl "$cp_dir/checkpatch.pl" --no-tree --strict --terse -f \
	"$top/selftests/uringstat/uringstat_test.c" >"$work/checkpatch-test.log" 2>&1 ||
   ! grep -q ERROR "$work/checkpatch-test.log"; then
	ok "checkpatch: selftests/uringstat has no error"
else
	grep ERROR "$work/checkpatch-test.log" | head -10 | sed 's/^/# /'
	fail "checkpatch: selftests/uringstat has no error"
fi
exit $rc

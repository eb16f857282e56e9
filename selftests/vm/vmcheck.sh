#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# vmcheck.sh [VER...]: prove uringstat (and ringlb) on real Debian kernels.
#
# For each kernel (default: 6.1 6.12): fetch it (kernels.sh, cached under
# $BUILD/vm), build kmod/ for it, pack an initramfs of busybox-static, the
# module and statically linked test binaries, boot it under
# `qemu-system-x86_64 -accel tcg`, and read the results back from the
# serial console. KTAP on stdout; a kernel fails on any `not ok`, on a
# test binary whose plan (1..N) is not met, on a boot that never reaches
# the end marker, or on BUG/WARNING/Oops/lockdep lines in dmesg.
#
# VMCHECK_RINGLB=0 skips ringlb's selftests in the VMs (they are the slow
# part under TCG); VMCHECK_TESTS names the ringlb_<name> binaries to take
# (default: all); VMCHECK_TIMEOUT bounds each boot (seconds);
# VMCHECK_JOBS is how many VMs boot at once (default: one per CPU, as
# each single-threaded TCG guest keeps one busy);
# VMCHECK_BENCH=1 adds vmbench rounds with the module unloaded and loaded
# (`make vmbench`, bench/vmbench-report.py).
# VMCHECK_MODULE=KO boots with that uringstat.ko instead of one built
# from kmod/ (the deb suite: the module DKMS built from the package).
# VMCHECK_PLUGIN=SO loads a QEMU TCG plugin into every guest, its log
# (qemu -d plugin) in $CACHE/VER$SUFFIX/plugin.log (`make vmbench`: the
# icount plugin, bench/icount-plugin.c). VMCHECK_ICOUNT=1 boots with
# -icount shift=0,sleep=off and one vCPU: the guest's clocks run at one instruction
# per nanosecond and skip idle time, so a workload's instructions no
# longer depend on how fast the host emulates (timer ticks per request).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-$top/build}
CACHE=$BUILD/vm
TIMEOUT=${VMCHECK_TIMEOUT:-1500}
RINGLB_IN_VM=${VMCHECK_RINGLB:-1}
RINGLB_TESTS=${VMCHECK_TESTS:-}
BENCH_IN_VM=${VMCHECK_BENCH:-0}
JOBS=${VMCHECK_JOBS:-$(nproc)}
# outputs (module build, initramfs, console log) go to $CACHE/VER$SUFFIX,
# so runs with different settings can share the kernel cache side by side
SUFFIX=${VMCHECK_SUFFIX:+-$VMCHECK_SUFFIX}
kernels=${*:-6.1 6.12}

n=0
fails=0
result()	# result 0|1 description [# directive]
{
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n $2"
	else
		echo "not ok $n $2"
		fails=$((fails + 1))
	fi
}

# the static test binaries, shared by every kernel
# (under a lock: make check's deb suite boots a VM of its own beside the
# vm suite, and two makes must not write the same binaries at once)
build_payload()
{
	mkdir -p "$BUILD"
	(
		flock 8
		make -s -C "$top" vm-payload >&2 &&
		make -s -C "$top/selftests/uringstat" OUT="$BUILD/static/selftests" >&2 &&
		cc -O2 -Wall -Wextra -Werror -static -pthread \
			-o "$BUILD/static/vmbench" "$top/bench/vmbench.c" >&2
	) 8>"$BUILD/.vm-payload.lock"
}

# build_module VER: kmod/ built for that kernel, in a copy of its own
build_module()
{
	local ver=$1 src=$CACHE/$1$SUFFIX/kmod

	mkdir -p "$src"
	if [ -n "${VMCHECK_MODULE:-}" ]; then
		rm -f "$src"/*.ko
		cp "$VMCHECK_MODULE" "$src/uringstat.ko"
		return
	fi
	cp "$top"/kmod/*.c "$top"/kmod/*.h "$top"/kmod/Kbuild "$src/"
	"$here/kernels.sh" kbuild "$ver" "$CACHE" "$src" >&2
}

# make_initramfs VER OUT
make_initramfs()
{
	local ver=$1 out=$2 root=$CACHE/$1$SUFFIX/initramfs

	rm -rf "$root"
	mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,tests/ringlb}
	cp /bin/busybox "$root/bin/busybox"
	# users for --user tests (static glibc reads /etc/passwd itself)
	mkdir -p "$root/etc"
	printf 'root:x:0:0:root:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
		>"$root/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
	cp "$here/init.sh" "$root/init"
	cp "$CACHE/$ver$SUFFIX/kmod/uringstat.ko" "$root/uringstat.ko"
	cp "$BUILD/static/selftests/uringstat_test" "$root/tests/"
	what=uringstat
	if [ "$RINGLB_IN_VM" = 1 ]; then
		what="$what ringlb"
		cp "$BUILD/static/ringlb" "$BUILD/static/ringlbctl" "$root/tests/ringlb/"
		mkdir -p "$root/tests/examples"
		cp "$top"/deploy/examples/*.ini "$root/tests/examples/"
		if [ -n "$RINGLB_TESTS" ]; then
			for t in $RINGLB_TESTS; do
				cp "$BUILD/static/selftests/ringlb_$t" "$root/tests/ringlb/" || return 1
			done
		else
			cp "$BUILD"/static/selftests/ringlb_* "$root/tests/ringlb/"
		fi
		cp "$top/selftests/ringlb/run.sh" "$root/tests/ringlb/"
	fi
	if [ "$BENCH_IN_VM" = 1 ]; then
		what="$what bench"
		cp "$BUILD/static/vmbench" "$root/tests/"
		[ -f "$root/tests/ringlb/ringlb" ] ||
			cp "$BUILD/static/ringlb" "$root/tests/ringlb/"
	fi
	echo "$what" >"$root/vmcheck.what"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out"
}

# check_log VER LOG: the verdicts on one boot's console output
check_log()
{
	local ver=$1 log=$2

	if ! grep -q '^VMCHECK-END' "$log"; then
		result 1 "vm-$ver: boot ran to the end (see $log)"
	else
		result 0 "vm-$ver: boot ran to the end"
	fi
	# every test binary met its plan, and none failed
	python3 - "$log" "$ver" <<'PY'
import re, sys
log, ver = sys.argv[1], sys.argv[2]
lines = open(log, errors="replace").read().replace("\r", "").split("\n")
body = []
for l in lines:
    if l.startswith("VMCHECK-DMESG"):
        break
    body.append(l)
bad = []
plan = None
seen = 0
def close():
    if plan is not None and seen != plan:
        bad.append("plan 1..%d but %d results" % (plan, seen))
for l in body:
    m = re.match(r"^\s*1\.\.(\d+)\s*$", l)
    if m:
        close()
        plan, seen = int(m.group(1)), 0
        continue
    # init.sh's own "vm:" verdicts belong to no plan
    if re.match(r"^\s*(not )?ok \d+", l) and " vm: " not in l:
        seen += 1
close()
fails = [l for l in body if re.match(r"^\s*not ok \d+", l)]
print("# vm-%s: %d failing results, %d plan mismatches" % (ver, len(fails), len(bad)))
for b in bad + fails:
    print("#   " + b.strip())
sys.exit(1 if bad or fails else 0)
PY
	result $? "vm-$ver: every selftest result present and ok"
	sed -n '/^VMCHECK-DMESG/,/^VMCHECK-END/p' "$log" >"$log.dmesg"
	if grep -nE 'BUG:|WARNING:|Oops|lockdep|general protection|Call Trace|KASAN|UBSAN|refcount_t' "$log.dmesg" >"$log.bad"; then
		sed 's/^/# /' "$log.bad" | head -40
		result 1 "vm-$ver: dmesg clean of BUG/WARNING/Oops/lockdep"
	else
		result 0 "vm-$ver: dmesg clean of BUG/WARNING/Oops/lockdep"
	fi
}

# boot VER: one VM, its serial console into console.log; the exit status
# of qemu (124: timed out) and its run time into boot.status
boot()
{
	local ver=$1 dir=$CACHE/$1$SUFFIX start rc plugin=()

	if [ -n "${VMCHECK_PLUGIN:-}" ]; then
		rm -f "$dir/plugin.log"
		plugin=(-plugin "$VMCHECK_PLUGIN" -d plugin -D "$dir/plugin.log")
	fi
	# the guest's clock from its instruction count, idle skipped: the
	# same work takes the same instructions whatever the host's load
	# (one vCPU: QEMU 7.2's icount hangs bringing up a second one)
	local smp=2
	if [ "${VMCHECK_ICOUNT:-0}" = 1 ]; then
		plugin+=(-icount shift=0,align=off,sleep=off)
		smp=1
	fi
	start=$(date +%s)
	timeout --kill-after=10 "$TIMEOUT" qemu-system-x86_64 -accel tcg,thread=single \
		-smp "$smp" -m 2048 -nographic -no-reboot -monitor none "${plugin[@]}" \
		-kernel "$CACHE/$ver/vmlinuz" -initrd "$dir/initramfs.gz" \
		-append "console=ttyS0 panic=-1 rdinit=/init quiet loglevel=3" \
		</dev/null >"$dir/console.log" 2>&1
	rc=$?
	echo "$rc $(( $(date +%s) - start ))" >"$dir/boot.status"
}

echo "TAP version 13"
if ! build_payload; then
	result 1 "static test binaries build"
	echo "1..$n"
	exit 1
fi
# every kernel fetched, its module built and its initramfs packed first...
ready=
for ver in $kernels; do
	dir=$CACHE/$ver$SUFFIX
	mkdir -p "$dir"
	if ! "$here/kernels.sh" prepare "$ver" "$CACHE" >&2; then
		result 1 "vm-$ver: fetch the kernel"
		continue
	fi
	what_ko="build kmod/ (-Werror)"
	[ -n "${VMCHECK_MODULE:-}" ] && what_ko="take the module $VMCHECK_MODULE"
	if ! build_module "$ver"; then
		result 1 "vm-$ver: $what_ko"
		continue
	fi
	result 0 "vm-$ver: $what_ko"
	if ! make_initramfs "$ver" "$dir/initramfs.gz"; then
		result 1 "vm-$ver: initramfs"
		continue
	fi
	ready="$ready $ver"
done
# ...then up to $JOBS of them boot at once: each guest is one host thread
t0=$(date +%s)
for ver in $ready; do
	while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do
		wait -n
	done
	dir=$CACHE/$ver$SUFFIX
	rm -f "$dir/boot.status"
	echo "# vm-$ver: booting $(readlink -f "$CACHE/$ver/vmlinuz"), log in $dir/console.log"
	boot "$ver" &
done
wait
echo "# vm: $(echo $ready | wc -w) boots, $JOBS at a time, took $(( $(date +%s) - t0 )) s"
# ...and their verdicts come in kernel order
for ver in $ready; do
	dir=$CACHE/$ver$SUFFIX
	read -r rc secs <"$dir/boot.status" 2>/dev/null || rc=? secs=?
	echo "# vm-$ver: qemu exited ($rc) after $secs s"
	# the VM's own results, as subtests
	tr -d '\r' <"$dir/console.log" | sed -n '/VMCHECK-BEGIN/,/^VMCHECK-DMESG/p' |
		grep -vE '^VMCHECK' | sed 's/^/    /'
	check_log "$ver" "$dir/console.log"
done
echo "1..$n"
[ "$fails" -eq 0 ]

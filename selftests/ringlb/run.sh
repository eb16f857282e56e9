#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh BINDIR TESTDIR: run every ringlb selftest binary in TESTDIR
# against BINDIR/ringlb and print their KTAP on stdout, one stream after
# the other. Exit 0 when every test passed or skipped, 1 otherwise.
# RINGLB_TESTS (a shell pattern over the names after ringlb_, default
# every one) picks binaries, RINGLB_EXCLUDE leaves some out: make check
# runs the hostile_* ones as a suite of their own, beside the others.
#
# POSIX sh on purpose: it also runs under busybox ash inside the QEMU
# initramfs, where RINGLB_TEST_QUICK=1 keeps payloads small.
# Both default to the directory of this script, as installed by kselftest.
here=$(dirname "$0")
bindir=${1:-$here}
testdir=${2:-$here}

RINGLB=$bindir/ringlb
export RINGLB
: "${TMPDIR:=/tmp}"
mkdir -p "$TMPDIR" 2>/dev/null
export TMPDIR

if [ ! -x "$RINGLB" ]; then
	echo "not ok 1 selftests: ringlb: no executable $RINGLB"
	exit 1
fi

rc=0
found=0
for t in "$testdir"/ringlb_*; do
	[ -f "$t" ] && [ -x "$t" ] || continue
	name=${t##*/}
	case ${name#ringlb_} in
	${RINGLB_TESTS:-*}) ;;
	*) continue ;;
	esac
	if [ -n "${RINGLB_EXCLUDE:-}" ]; then
		case ${name#ringlb_} in
		$RINGLB_EXCLUDE) continue ;;
		esac
	fi
	found=$((found + 1))
	echo "# selftests: ringlb: $name"
	# the harness writes its diagnostics to stderr, as KTAP comments
	"$t" 2>&1
	st=$?
	case $st in
	0|4)	;;		# passed, or everything skipped
	1)	rc=1 ;;		# the harness printed its "not ok" lines
	*)
		# killed or crashed: make sure the failure is counted
		echo "not ok - selftests: ringlb: $name exited with status $st"
		rc=1
		;;
	esac
done
if [ "$found" -eq 0 ]; then
	echo "not ok 1 selftests: ringlb: no test binaries in $testdir"
	exit 1
fi
exit $rc

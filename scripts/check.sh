#!/bin/bash
# The body of `make check`: runs every suite, keeps each one's KTAP output
# under $BUILD/check/, and tallies the results into the one closing line
#   check: N passed, N failed, N skipped
# A suite that exits non-zero without reporting a failing test counts as
# one failure of its own, so a crash can never pass silently.
set -u
BUILD=${BUILD:-$(pwd)/build}
LOGDIR=$BUILD/check
mkdir -p "$LOGDIR"
pass=0 fail=0 skip=0
failed_suites=""

# run_suite NAME TIMEOUT_S COMMAND...
run_suite()
{
	local name=$1 tmo=$2 log=$LOGDIR/$1.log rc p f s
	shift 2
	echo "=== $name: $*"
	timeout --kill-after=10 "$tmo" "$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	p=$(grep -cE '^ *ok [0-9]+' "$log" | tr -d ' ')
	s=$(grep -cE '^ *ok [0-9]+.*# SKIP' "$log" | tr -d ' ')
	f=$(grep -cE '^ *not ok [0-9]+' "$log" | tr -d ' ')
	p=$((p - s))
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 4 ] && [ "$f" -eq 0 ]; then
		echo "not ok - suite $name exited with status $rc" | tee -a "$log"
		f=1
	fi
	if [ "$rc" -eq 4 ] && [ $((p + s + f)) -eq 0 ]; then
		s=1
	fi
	[ "$f" -gt 0 ] && failed_suites="$failed_suites $name"
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
	echo "=== $name: $p passed, $f failed, $s skipped (exit $rc)"
}

for suite in "$@"; do
	case $suite in
	*=*) run_suite "${suite%%=*}" 3000 bash -c "${suite#*=}" ;;
	esac
done

[ -n "$failed_suites" ] && echo "failed suites:$failed_suites"
echo "check: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]

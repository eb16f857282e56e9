#!/bin/bash
# The body of `make check`: runs every suite, keeps each one's KTAP output
# under $BUILD/check/, and tallies the results into the one closing line
#   check: N passed, N failed, N skipped
# A suite that exits non-zero without reporting a failing test counts as
# one failure of its own, so a crash can never pass silently.
#
# Arguments are NAME=COMMAND. A NAME that starts with '&' runs in the
# background from the start, beside the others (the QEMU VMs: they need
# a core of their own for a quarter of an hour, while the host suites
# run one after the other on the rest); its output is printed, whole,
# once it ended, so no two suites' lines interleave.
set -u
BUILD=${BUILD:-$(pwd)/build}
LOGDIR=$BUILD/check
mkdir -p "$LOGDIR"
pass=0 fail=0 skip=0
failed_suites=""
T0=$(date +%s)

# run_suite NAME TIMEOUT_S COMMAND...: KTAP to $LOGDIR/NAME.log (and to
# stdout with TEE=1), the exit status to NAME.rc
run_suite()
{
	local name=$1 tmo=$2 log=$LOGDIR/$1.log
	shift 2
	if [ "${TEE:-0}" = 1 ]; then
		timeout --kill-after=10 "$tmo" "$@" 2>&1 | tee "$log"
		echo "${PIPESTATUS[0]}" >"$LOGDIR/$name.rc"
	else
		timeout --kill-after=10 "$tmo" "$@" >"$log" 2>&1
		echo $? >"$LOGDIR/$name.rc"
	fi
}

# tally NAME: count its results into the totals and say them
tally()
{
	local name=$1 log=$LOGDIR/$1.log rc p f s
	rc=$(cat "$LOGDIR/$name.rc" 2>/dev/null || echo 1)
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
	echo "=== $name: $p passed, $f failed, $s skipped (exit $rc, $(( $(date +%s) - T0 )) s into the check)"
}

bg=""
for suite in "$@"; do
	case $suite in
	'&'*=*)
		name=${suite%%=*}
		name=${name#&}
		echo "=== $name: started in the background: ${suite#*=}"
		run_suite "$name" 3000 bash -c "${suite#*=}" &
		bg="$bg $name:$!"
		;;
	esac
done
for suite in "$@"; do
	case $suite in
	'&'*) ;;
	*=*)
		name=${suite%%=*}
		echo "=== $name: ${suite#*=}"
		TEE=1 run_suite "$name" 3000 bash -c "${suite#*=}"
		tally "$name"
		;;
	esac
done
for b in $bg; do
	name=${b%%:*}
	wait "${b#*:}"
	echo "=== $name (ran in the background):"
	cat "$LOGDIR/$name.log"
	tally "$name"
done

[ -n "$failed_suites" ] && echo "failed suites:$failed_suites"
echo "check: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]

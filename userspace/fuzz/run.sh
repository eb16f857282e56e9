#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh OUTDIR SECONDS TARGET...: fuzz each target for SECONDS from its
# seed corpus and print one KTAP line per target. A crash, leak, timeout
# or sanitizer report fails the target; its input is kept in OUTDIR.
here=$(cd "$(dirname "$0")" && pwd)
out=$1 secs=$2
shift 2
echo "KTAP version 1"
echo "1..$#"
i=0 rc=0
for t in "$@"; do
	i=$((i + 1))
	name=${t#fuzz_}
	work=$out/corpus/$name
	mkdir -p "$work"
	seeds=$here/corpus/$name
	extra=""
	dict=""
	[ "$name" = config ] && extra=$here/../../deploy/examples
	[ -f "$here/$name.dict" ] && dict="-dict=$here/$name.dict"
	log=$out/$t.log
	# the seeds are read, never written: new inputs go to $work
	"$out/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -close_fd_mask=2 -artifact_prefix="$out/" $dict \
		"$work" "$seeds" $extra >"$log" 2>&1
	st=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	if [ $st -eq 0 ] && [ -n "$runs" ] && [ "$runs" -gt 0 ]; then
		echo "ok $i $t # $runs inputs in ${secs}s, corpus $(ls "$work" | wc -l)"
	else
		echo "not ok $i $t # exit $st, see $log"
		grep -E "ERROR|SUMMARY|runtime error" "$log" | head -5 | sed 's/^/# /'
		rc=1
	fi
done
exit $rc

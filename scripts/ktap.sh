# shellcheck shell=bash
# KTAP helpers for the script suites of `make check` (deploy, man, deb):
# source it after setting $work, the directory each check's log goes to.
#   ok NAME [NOTE] / fail NAME [NOTE] / skip NAME REASON: one result line
#   check NAME COMMAND...: run COMMAND, its output in $work/NAME.log; ok if
#   it exits 0, otherwise not ok with the log's last lines as comments
# $rc ends as 1 once anything failed: the suite exits with it.
n=0 rc=0
ok() { n=$((n + 1)); echo "ok $n $1${2:+ # $2}"; }
fail() { n=$((n + 1)); echo "not ok $n $1${2:+ # $2}"; rc=1; }
skip() { n=$((n + 1)); echo "ok $n $1 # SKIP $2"; }
check()
{
	local name=$1

	shift
	if "$@" >"$work/$name.log" 2>&1; then
		ok "$name"
	else
		fail "$name" "see $work/$name.log"
		tail -8 "$work/$name.log" | sed 's/^/# /'
	fi
}

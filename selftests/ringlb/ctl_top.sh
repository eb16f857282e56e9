#!/bin/bash
# SPDX-License-Identifier: MIT
# ctl_top.sh BINDIR: `ringlbctl top` driven in a real terminal, tmux's,
# and read back off its screen (KTAP on stdout). BINDIR holds ringlb and
# ringlbctl (make check runs it on the plain and the ASan/UBSan build).
#
# A ringlb with two listeners and two backends, one server of which
# nobody listens on (health checks mark it down): at 80x24 the view
# shows every server with its state; a counter and a rate move under
# traffic; a server disabled through the admin socket shows as such;
# at 60x20 no row is wider than the window, at 60x7 the servers that do
# not fit are a "+N more" line; a daemon that goes away is said on the
# screen and its return is seen; q, Ctrl-C and SIGTERM end it with the
# terminal given back (line mode and echo, normal screen, cursor); a
# fake daemon's escape sequences never reach the terminal while its
# uringstat ring figures do; q gets through a sample stuck on a daemon
# that never answers or never accepts; without a terminal, one table
# and exit 0.
#
# Every wait is for what the screen shows, bounded by TOP_TEST_WAIT
# seconds (default 60): slow machines wait longer, none fails sooner.
set -u
here=$(cd "$(dirname "$0")" && pwd)
bindir=$(cd "${1:-$here/../../userspace}" && pwd)
RINGLB=$bindir/ringlb
CTL=$bindir/ringlbctl
WAIT=${TOP_TEST_WAIT:-60}
NTESTS=14

echo "TAP version 13"
echo "1..$NTESTS"
n=0 rc=0
ok() { n=$((n + 1)); echo "ok $n $1"; }
fail() { n=$((n + 1)); echo "not ok $n $1${2:+ # $2}"; rc=1; }
skip_rest() {
	while [ "$n" -lt "$NTESTS" ]; do
		n=$((n + 1))
		echo "ok $n ctl_top # SKIP $1"
	done
	exit 0
}

for tool in tmux socat python3; do
	command -v $tool >/dev/null || skip_rest "no $tool"
done
[ -x "$RINGLB" ] && [ -x "$CTL" ] || skip_rest "no ringlb and ringlbctl in $bindir"

# a private tmux server, also when this runs inside someone's tmux
unset TMUX
work=$(mktemp -d "${TMPDIR:-/tmp}/ringlb-top-XXXXXX")
sock=$work/admin.sock
fake=$work/fake.sock
T="tmux -S $work/tmux.sock -f /dev/null"
rl_pid="" pids=""
cleanup() {
	$T kill-server 2>/dev/null
	[ -n "$rl_pid" ] && kill "$rl_pid" 2>/dev/null
	for p in $pids; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# free loopback ports (bound and closed: nobody else asked for them)
read -r p_front p_db p_s1 p_d1 p_down < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(5)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')

socat TCP-LISTEN:$p_s1,bind=127.0.0.1,fork,reuseaddr SYSTEM:'echo s1' 2>>"$work/socat.log" &
pids="$pids $!"
socat TCP-LISTEN:$p_d1,bind=127.0.0.1,fork,reuseaddr SYSTEM:'echo d1' 2>>"$work/socat.log" &
pids="$pids $!"
cat >"$work/top.ini" <<INI
[global]
threads = 1
admin = $sock
[listener front]
bind = 127.0.0.1:$p_front
backend = web
[listener db]
bind = 127.0.0.1:$p_db
backend = db
[backend web]
server = s1 127.0.0.1:$p_s1
server = gone 127.0.0.1:$p_down
health = tcp
health-interval = 200ms
[backend db]
server = d1 127.0.0.1:$p_d1 weight=3
INI

# until COMMAND succeeds, for at most WAIT seconds
wait_for() {
	local end=$((SECONDS + WAIT))
	until "$@"; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.2
	done
}

start_ringlb() {
	"$RINGLB" -c "$work/top.ini" >>"$work/ringlb.log" 2>&1 &
	rl_pid=$!
	wait_for "$CTL" -s "$sock" -T 2 show stats >/dev/null 2>&1
}

screen() { $T capture-pane -p -t "$1"; }
# the screen shows a line matching the extended regexp
shows() { screen "$1" | grep -Eq -- "$2"; }
fmt() { $T display -p -t "$1" "$2"; }
# one client through the front listener, read to its end
client() { exec 3<>"/dev/tcp/127.0.0.1/$p_front" && cat <&3 >/dev/null; exec 3<&-; }
# a column of the row of server $2 on the screen of session $1
col() { screen "$1" | awk -v s="$2" -v c="$3" '$1 == s { print $c; exit }'; }

# every row at most $2 wide (-J joins rows the terminal wrapped, so a
# wrap left standing shows as a longer row), $3 rows, the header on the
# first and the footer on the last: a row that wrapped at the bottom
# would have scrolled the screen and moved both
fits() {
	local s=$1 w=$2 h=$3
	$T capture-pane -p -J -t "$s" >"$work/fit"
	awk -v w="$w" 'length($0) > w { bad = 1 } END { exit bad }' "$work/fit" &&
	[ "$(wc -l <"$work/fit")" -eq "$h" ] &&
	head -1 "$work/fit" | grep -q '^ringlb ' &&
	tail -1 "$work/fit" | grep -Eq 'q quit|NOT ANSWERING'
}

# the wrapper: top in the foreground, then what it left the terminal as
# (the shell waits out Ctrl-C: a trapped signal, unlike an ignored one,
# is back to its default in top)
cat >"$work/wrap.sh" <<WRAP
#!/bin/sh
trap : INT
"$CTL" -s "\$1" \${2:+-T "\$2"} top -d 1
echo "top exited with \$?"
stty -a | tr '\n' ' '
echo
echo END
exec sleep 3600
WRAP
chmod +x "$work/wrap.sh"

# line mode and echo back on, normal screen, cursor shown
restored() {
	local s=$1
	screen "$s" | tr '\n' ' ' >"$work/stty"
	grep -q 'top exited with 0' "$work/stty" &&
	grep -q '[^-]icanon' "$work/stty" && grep -q '[^-]echo ' "$work/stty" &&
	[ "$(fmt "$s" '#{alternate_on} #{cursor_flag}')" = "0 1" ]
}

start_ringlb || { fail "ringlb starts"; skip_rest "ringlb did not start"; }

# 1. no terminal: one table, no escape sequence, no rates yet
"$CTL" -s "$sock" -T 2 show servers | grep -q '^web  *gone .* down ' ||
	wait_for sh -c "'$CTL' -s '$sock' -T 2 show servers | grep -q '^web  *gone .* down '"
"$CTL" -s "$sock" top >"$work/table" 2>&1
st=$?
if [ $st -eq 0 ] && grep -q '^ringlb ' "$work/table" &&
   grep -Eq '^web/s1 +up ' "$work/table" &&
   grep -Eq '^web/gone +down ' "$work/table" &&
   grep -Eq '^db/d1 +up +3 ' "$work/table" &&
   grep -Eq "^front +web .*127.0.0.1:$p_front" "$work/table" &&
   ! grep -q $'\033' "$work/table"; then
	ok "one-shot table without a terminal"
else
	fail "one-shot table without a terminal" "exit $st"
	sed 's/^/# /' "$work/table"
fi

# 2. 80x24: header, listeners, every server with its state
$T new-session -d -s live -x 80 -y 24 "$work/wrap.sh $sock"
if wait_for shows live '^web/s1 +up ' && shows live '^web/gone +down ' &&
   shows live '^db/d1 +up +3 ' && shows live '^front +web ' &&
   shows live 'q quit' && fits live 80 24; then
	ok "80x24: servers with their states"
else
	fail "80x24: servers with their states"
	screen live | sed 's/^/# /'
fi

# 3. traffic: web/s1's TOTAL and CONN/S move (clients keep coming
# until the screen saw a rate: it is over the last interval only)
before=$(col live web/s1 6)
( while :; do client; sleep 0.05; done ) 2>/dev/null &
load=$!
moved() {
	local total rate
	total=$(col live web/s1 6) rate=$(col live web/s1 5)
	[ -n "$total" ] && [ "$total" -gt "${before:-0}" ] &&
	[ -n "$rate" ] && [ "$rate" != - ] && [ "$rate" != 0.0 ]
}
if wait_for moved; then
	ok "a counter and a rate move with traffic"
else
	fail "a counter and a rate move with traffic" "TOTAL was $before"
	screen live | sed 's/^/# /'
fi
kill $load 2>/dev/null
wait $load 2>/dev/null

# 4. disabled through the admin socket: the view says so
"$CTL" -s "$sock" disable server web/s1 >/dev/null
if wait_for shows live '^web/s1 +disabled '; then
	ok "a disabled server shows as disabled"
else
	fail "a disabled server shows as disabled"
	screen live | sed 's/^/# /'
fi

# 5. 60x20: redrawn to the new size, nothing wraps
$T resize-window -t live -x 60 -y 20
sized() { [ "$(fmt live '#{pane_width}x#{pane_height}')" = 60x20 ] && shows live 'q quit' && fits live 60 20; }
if wait_for sized && shows live '^web/s1 +disabled'; then
	ok "60x20: no row wraps"
else
	fail "60x20: no row wraps"
	$T capture-pane -p -J -t live | sed 's/^/# /'
fi

# 6. 60x7: header, one server and "+2 more" above the footer
$T resize-window -t live -x 60 -y 7
small() {
	[ "$(fmt live '#{pane_height}')" = 7 ] && fits live 60 7 &&
	shows live '^  \+2 more$' && shows live 'q quit' &&
	[ "$(screen live | grep -Ec '^(web|db)/')" = 1 ]
}
if wait_for small; then
	ok "60x7: +N more for the servers that do not fit"
else
	fail "60x7: +N more for the servers that do not fit"
	screen live | sed 's/^/# /'
fi
$T resize-window -t live -x 80 -y 24

# 7. the daemon goes away, then comes back
kill "$rl_pid"
wait "$rl_pid" 2>/dev/null
rl_pid=""
if wait_for shows live 'NOT ANSWERING since' && start_ringlb &&
   wait_for sh -c "! $T capture-pane -p -t live | grep -q 'NOT ANSWERING'" &&
   wait_for shows live '^web/s1 +up '; then
	ok "a daemon gone is said on screen, and seen again when back"
else
	fail "a daemon gone is said on screen, and seen again when back"
	screen live | sed 's/^/# /'
fi

# 8. q: it exits 0 and the terminal is as it was
$T send-keys -t live q
if wait_for shows live '^END' && restored live; then
	ok "q quits and gives the terminal back"
else
	fail "q quits and gives the terminal back"
	screen live | sed 's/^/# /'
fi

# 9. SIGTERM: the same
$T new-session -d -s term -x 80 -y 24 "$work/wrap.sh $sock"
ctl_pid() { pgrep -P "$(fmt term '#{pane_pid}')" -x ringlbctl; }
if wait_for shows term '^web/s1 ' && kill -TERM "$(ctl_pid)" &&
   wait_for shows term '^END' && restored term; then
	ok "SIGTERM quits and gives the terminal back"
else
	fail "SIGTERM quits and gives the terminal back"
	screen term | sed 's/^/# /'
fi

# 10. Ctrl-C: handled, so it exits 0, and the same
$T new-session -d -s intr -x 80 -y 24 "$work/wrap.sh $sock"
if wait_for shows intr '^web/s1 ' && $T send-keys -t intr C-c &&
   wait_for shows intr '^END' && restored intr; then
	ok "Ctrl-C quits and gives the terminal back"
else
	fail "Ctrl-C quits and gives the terminal back"
	screen intr | sed 's/^/# /'
fi

# 11. a lying daemon: names with escape sequences come out as '?', the
# window title stays; its uringstat rings show, with rates
cat >"$work/fake.py" <<'PY'
import socket, sys, os
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX)
s.bind(path)
s.listen(16)
n = 0
ESC = "\033"
while True:
    c, _ = s.accept()
    cmd = c.makefile("rb").readline().decode(errors="replace").split()
    ans = "error: unknown command\n"
    if cmd[:2] == ["show", "stats"]:
        ans = "version 9.9\nengine uring\nforward splice\npid 4242\nuptime_ms 5000\nconns_total 1\nsomething_new 3\n"
    elif cmd[:2] == ["show", "servers"]:
        ans = ("BACKEND SERVER ADDRESS STATE WEIGHT BACKUP ACTIVE TOTAL CONNERR CHECKS(ok/fail) NEWCOL\n"
               "evil " + ESC + "]2;pwned\007x 10.0.0.1:1 up 1 no 0 0 0 0/0 extra\n"
               "evil " + ESC + "[2Jclear 10.0.0.1:2 up 1 no 0 0 0 0/0\n")
    elif cmd[:2] == ["show", "kernel"]:
        n += 1
        ans = ("ringlb's own count: sqes=1 cqes=1 enter=1\n"
               "id pid comm fd sq_entries cq_entries flags submitted completed failed cq_overflow cqring_waits poll_armed task_work async\n"
               "7 4242 ringlb 5 256 512 0x3000 %d %d 0 0 0 0 0 0\n" % (n * 1000, n * 1000))
    c.sendall(ans.encode())
    c.close()
PY
python3 "$work/fake.py" "$fake" &
pids="$pids $!"
wait_for test -S "$fake"
$T new-session -d -s fake -x 100 -y 24 "$CTL -s $fake top -d 1"
title=$(fmt fake '#{pane_title}')
rings() { shows fake '^7 +4242 +256 +[0-9.K]+ +[0-9.K]+ ' && ! shows fake '^7 +4242 +256 +- '; }
if wait_for shows fake '^evil/\?\]2;pwned\?x ' && shows fake '^evil/\?\[2Jclear ' &&
   shows fake '^RING ' && wait_for rings && shows fake '^ringlb 9\.9 ' &&
   [ "$(fmt fake '#{pane_title}')" = "$title" ]; then
	ok "a fake daemon's escapes stay off the terminal, its rings show"
else
	fail "a fake daemon's escapes stay off the terminal, its rings show" "title $(fmt fake '#{pane_title}')"
	screen fake | sed 's/^/# /'
fi

# 13, 14. a daemon that never answers (it accepts and stays silent),
# and one whose backlog is full (connect() cannot complete): with -T
# longer than the wait, q must still end top, in the middle of a sample
cat >"$work/mute.py" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
if sys.argv[2] == "full":
    s.listen(0)
    # the one connection a backlog of 0 queues: no other gets in
    c = socket.socket(socket.AF_UNIX)
    c.connect(sys.argv[1])
    while True:
        time.sleep(60)
s.listen(16)
held = []
while True:
    held.append(s.accept()[0])
PY
for how in mute full; do
	python3 "$work/mute.py" "$work/$how.sock" $how &
	pids="$pids $!"
	wait_for test -S "$work/$how.sock"
	$T new-session -d -s $how -x 80 -y 24 "$work/wrap.sh $work/$how.sock 600"
	if wait_for shows $how 'q quit' && $T send-keys -t $how q &&
	   wait_for shows $how '^END' && restored $how; then
		ok "q ends top while a $how daemon holds a sample"
	else
		fail "q ends top while a $how daemon holds a sample"
		screen $how | sed 's/^/# /'
	fi
done

# 12. bad -d: usage error, exit 2
"$CTL" -s "$sock" top -d 0 >/dev/null 2>&1
st1=$?
"$CTL" -s "$sock" top -d x >/dev/null 2>&1
st2=$?
if [ $st1 -eq 2 ] && [ $st2 -eq 2 ]; then
	ok "top -d 0 and -d x are refused"
else
	fail "top -d 0 and -d x are refused" "exit $st1, $st2"
fi
exit $rc

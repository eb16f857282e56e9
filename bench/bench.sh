#!/bin/bash
# SPDX-License-Identifier: MIT
# `make bench`: ringlb against a direct baseline, HAProxy, nginx stream and
# socat, on loopback, in front of the same backends (iperf3 -s and an nginx
# HTTP server), in one bounded run.
#
# Fixed offered rate (open loop, bench/pace.c; the figures to decide by):
#   rate-ka        RATE_KA req/s over RATE_KA_CONNS keep-alive connections
#   rate-close     RATE_CLOSE conn/s, one request each (Connection: close)
#   pipeline       PIPE_CONNS connections with PIPE_DEPTH requests in
#                  flight each (closed loop): req/s against direct's
#   floor (bench/floor.c, FLOOR=1) runs beside the proxies here only: the
#   kernel operations ringlb's default mode uses for this traffic, with no
#   proxy around them, so the least a proxy built this way can cost
#   each in two placements (PLACEMENTS): unpinned, and pinned (the proxy
#   on CPU PIN_PROXY, load generator and backend on CPU PIN_LOAD). Per
#   run: the proxy's CPU time per request (utime+stime of its processes
#   from /proc/PID/stat: every thread, io-wq workers and exited threads
#   included), latency p50/p99/p99.9 from the due time, achieved rate; a
#   run more than 1% under its offered rate is dropped. A block (every
#   contender once, for one workload and placement) is skipped when the
#   machine was busy before it (non-idle share of /proc/stat over a second
#   above BUSY_MAX %). Then a counting pass: perf stat on the proxy during
#   one more fixed-rate run per contender for context switches,
#   io_uring_enter calls, io-wq punts and syscalls per request (apart
#   from the timed runs: the syscall tracepoints slow every syscall).
#
# Closed loop (wrk, iperf3: mostly measures the scheduler on a small
# shared machine):
#   bulk1, bulk8   iperf3 with 1 and 8 streams: Gbit/s, proxy CPU
#   keepalive      wrk -c50 keep-alive: req/s, p50/p99 latency, proxy CPU
#   close          wrk -c50 with "Connection: close": conn/s, latency, CPU
#   syscalls       perf stat -e raw_syscalls:sys_enter on the proxy during
#                  a fixed-length wrk run of each kind: syscalls per request
#   memory         PSS of the proxy's processes with IDLE_CONNS idle
#                  keep-alive connections open, minus before: KiB per conn
#
# Contenders are interleaved (each round runs every contender once per
# workload, in a rotated order) and the report takes medians over the
# rounds. Where ringlb misses a closed-loop target against HAProxy, a perf
# profile of both is recorded for that workload and goes into the report.
#
# Output: the table on stdout; raw results under $BUILD/bench/ (CSV, JSON,
# logs, profiles, plots; QUICK=1: $BUILD/bench-quick/);
# Documentation/benchmarks.rst and its PNGs regenerated from this run
# (DOC=0 leaves them alone; QUICK=1 implies it). A full run took 50
# minutes on 2 CPUs (about 10 closed loop, 35 fixed rate, 5 counting,
# profiles and memory); a busy machine adds skipped blocks, bounded by
# FR_EXTRA_ROUNDS and BUSY_TRIES x BUSY_WAIT. The report alone, again
# from the same raw results: bench/report.py --table
# $BUILD/bench/results.csv --out $BUILD/bench --doc FILE.rst
#
# Environment (defaults in brackets):
#   ROUNDS [3]  DURATION [4] seconds per measurement  THREADS [1] proxy
#   threads/workers  WRK_THREADS [1]  WRK_CONNS [50]  SYSDUR [2] seconds
#   per syscall run  IDLE_CONNS [4000]  PROF_DUR [3]  PROFILE [missed]
#   (missed | all | none)  PROF_CONTENDERS [best haproxy]  BODY_BYTES [128] HTTP response body
#   CONTENDERS [all nine]  WORKLOADS [bulk1 bulk8 keepalive close]
#   fixed rate: FR_WORKLOADS [rate-ka rate-close pipeline]  PLACEMENTS
#   [unpinned pinned] (pipeline: unpinned only)  FR_ROUNDS [7]
#   FR_EXTRA_ROUNDS [3] rounds allowed on top to make up skipped blocks
#   FR_DURATION [5] s measured  FR_WARMUP [1] s  RATE_KA [10000]
#   RATE_KA_CONNS [20]  RATE_CLOSE [2000]  PIPE_CONNS [50]  PIPE_DEPTH
#   [16]  FR_CONTENDERS [all but socat]  PIN_PROXY [0]  PIN_LOAD [1]
#   FLOOR [1] (0: no floor contender)  BUSY_MAX [10] %  BUSY_TRIES [3]
#   BUSY_WAIT [5] s  COUNT [1] (0: no counting pass)  MEMORY [1] (0: no idle-connection memory pass)
#   QUICK [0]: 1 = smoke run in about a minute and a half (direct,
#   ringlb uring-splice and auto, HAProxy; bulk1 and keepalive 1 round
#   of 1 s; every fixed-rate block once for 0.5 s; no counting pass; 200
#   idle connections; no documentation)  DOC [1]  DOC_OUT
#   [Documentation/benchmarks.rst]  RINGLB [userspace/ringlb]  BUILD [build]
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
BUILD=${BUILD:-$top/build}
RINGLB=${RINGLB:-$top/userspace/ringlb}
QUICK=${QUICK:-0}
# a smoke run never overwrites the raw results of a full one
if [ "$QUICK" = 1 ]; then OUT=$BUILD/bench-quick; else OUT=$BUILD/bench; fi
if [ "$QUICK" = 1 ]; then
	ROUNDS=${ROUNDS:-1}
	DURATION=${DURATION:-1}
	SYSDUR=${SYSDUR:-1}
	IDLE_CONNS=${IDLE_CONNS:-200}
	PROF_DUR=${PROF_DUR:-1}
	PROFILE=${PROFILE:-none}
	DOC=${DOC:-0}
	# every path once (both engines, splice and buffers, HAProxy for
	# the targets), not every contender
	CONTENDERS=${CONTENDERS:-direct ringlb-uring-splice ringlb-auto haproxy}
	WORKLOADS=${WORKLOADS-bulk1 keepalive}
	FR_ROUNDS=${FR_ROUNDS:-1}
	FR_EXTRA_ROUNDS=${FR_EXTRA_ROUNDS:-0}
	FR_DURATION=${FR_DURATION:-0.5}
	FR_WARMUP=${FR_WARMUP:-0.2}
	BUSY_TRIES=${BUSY_TRIES:-1}
	BUSY_MAX=${BUSY_MAX:-100}
	COUNT=${COUNT:-0}
fi
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-4}
THREADS=${THREADS:-1}
WRK_THREADS=${WRK_THREADS:-1}
WRK_CONNS=${WRK_CONNS:-50}
SYSDUR=${SYSDUR:-2}
IDLE_CONNS=${IDLE_CONNS:-4000}
PROF_DUR=${PROF_DUR:-3}
PROFILE=${PROFILE:-missed}
PROF_CONTENDERS=${PROF_CONTENDERS:-best haproxy}
BODY_BYTES=${BODY_BYTES:-128}
DOC=${DOC:-1}
DOC_OUT=${DOC_OUT:-$top/Documentation/benchmarks.rst}
# ringlb-auto is the default configuration (engine and forward auto)
RINGLB_MODES="uring-splice uring-buffers epoll-splice epoll-buffers auto"
ALL_CONTENDERS="direct"
for m in $RINGLB_MODES; do ALL_CONTENDERS="$ALL_CONTENDERS ringlb-$m"; done
ALL_CONTENDERS="$ALL_CONTENDERS haproxy nginx socat"
CONTENDERS=${CONTENDERS:-$ALL_CONTENDERS}
WORKLOADS=${WORKLOADS-bulk1 bulk8 keepalive close}
FR_WORKLOADS=${FR_WORKLOADS-rate-ka rate-close pipeline}
PLACEMENTS=${PLACEMENTS-unpinned pinned}
FR_ROUNDS=${FR_ROUNDS:-7}
FR_EXTRA_ROUNDS=${FR_EXTRA_ROUNDS:-3}
FR_DURATION=${FR_DURATION:-5}
FR_WARMUP=${FR_WARMUP:-1}
RATE_KA=${RATE_KA:-10000}
RATE_KA_CONNS=${RATE_KA_CONNS:-20}
RATE_CLOSE=${RATE_CLOSE:-2000}
PIPE_CONNS=${PIPE_CONNS:-50}
PIPE_DEPTH=${PIPE_DEPTH:-16}
FLOOR=${FLOOR:-1}
PIN_PROXY=${PIN_PROXY:-0}
PIN_LOAD=${PIN_LOAD:-1}
BUSY_MAX=${BUSY_MAX:-10}
BUSY_TRIES=${BUSY_TRIES:-3}
BUSY_WAIT=${BUSY_WAIT:-5}
COUNT=${COUNT:-1}
MEMORY=${MEMORY:-1}

T_START=$(date +%s)
say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }

# ---- preconditions ----------------------------------------------------
for cmd in iperf3 wrk haproxy nginx socat python3 perf gnuplot ss; do
	command -v "$cmd" >/dev/null || die "$cmd not installed (make deps)"
done
[ -x "$RINGLB" ] || die "no $RINGLB (make userspace)"
[ -f /usr/lib/nginx/modules/ngx_stream_module.so ] ||
	die "nginx stream module missing (libnginx-mod-stream)"
# 4,000 idle connections are 8,000 descriptors in the proxy
ulimit -n "$(ulimit -Hn)" 2>/dev/null
[ "$(ulimit -n)" -ge $((2 * IDLE_CONNS + 200)) ] 2>/dev/null ||
	say "warning: fd limit $(ulimit -n) is low for $IDLE_CONNS idle connections"
# perf's syscall tracepoints need tracefs
if [ ! -d /sys/kernel/tracing/events ]; then
	mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null ||
		say "warning: cannot mount tracefs: no syscall counts"
fi

mkdir -p "$OUT" || die "cannot create $OUT"
# the load generator: built here, never committed
PACE=$OUT/pace
if [ ! -x "$PACE" ] || [ "$top/bench/pace.c" -nt "$PACE" ]; then
	${CC:-cc} -O2 -g -Wall -Wextra -o "$PACE" "$top/bench/pace.c" \
		-lpthread -lm || die "cannot build bench/pace.c"
fi
FLOORBIN=$OUT/floor
if [ "$FLOOR" = 1 ] && { [ ! -x "$FLOORBIN" ] ||
	[ "$top/bench/floor.c" -nt "$FLOORBIN" ]; }; then
	${CC:-cc} -O2 -g -Wall -Wextra -Wno-missing-field-initializers \
		-o "$FLOORBIN" "$top/bench/floor.c" -luring ||
		die "cannot build bench/floor.c"
fi
rm -rf "$OUT/logs" "$OUT/profiles" "$OUT/smaps"
mkdir -p "$OUT/logs" "$OUT/profiles" "$OUT/smaps"
RES=$OUT/results.csv	# round,workload,contender,metric,value
echo "round,workload,contender,metric,value" >"$RES"
work=$(mktemp -d "${TMPDIR:-/tmp}/ringlb-bench.XXXXXX")

declare -A PIDS PORT_BULK PORT_HTTP BROKEN
bg_pids=()	# everything started, for the cleanup

cleanup()
{
	local p n
	trap - EXIT INT TERM
	for p in "${bg_pids[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${bg_pids[@]}"; do
		for ((n = 0; n < 30; n++)); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	cp "$work"/*.log "$work"/*.conf "$work"/*.ini "$OUT/logs/" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

record() { echo "$1,$2,$3,$4,$5" >>"$RES"; }

# ---- ports, processes, accounting -------------------------------------
# free ports, all held at once so they differ
free_ports()
{
	python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# is something listening on 127.0.0.1:$1 (without connecting to it)
listening() { [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }

wait_listen()
{
	local n
	for ((n = 0; n < 100; n++)); do
		listening "$1" && return 0
		sleep 0.05
	done
	return 1
}

# the pids of the process trees rooted at "$@"
tree_pids()
{
	ps -e -o pid= -o ppid= | awk -v roots="$*" '
		BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) keep[r[i]] = 1 }
		{ pp[$1] = $2; pids[NR] = $1 }
		END {
			do {
				changed = 0
				for (i in pids) {
					p = pids[i]
					if (!(p in keep) && (pp[p] in keep)) { keep[p] = 1; changed = 1 }
				}
			} while (changed)
			for (p in keep) print p
		}'
}

# CPU ticks (user+sys, threads and reaped children included) of the trees
cpu_ticks() { proc_ticks $(tree_pids "$@"); }

# the same for the processes named, without looking for their children
proc_ticks()
{
	local p t=0 f
	for p in "$@"; do
		f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		f=${f##*) }
		# fields after "(comm) ": state=1 ... utime=12 stime=13 cutime=14 cstime=15
		set -- $f
		t=$((t + ${12} + ${13} + ${14} + ${15}))
	done
	echo "$t"
}
HZ=$(getconf CLK_TCK)

# busy ticks of the whole machine (all CPUs; not idle, not iowait)
busy_ticks()
{
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

# "Rss Pss" in KiB, summed over the trees
mem_kib()
{
	local p rss=0 pss=0 r s
	for p in $(tree_pids "$@"); do
		r=$(awk '/^Rss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null)
		s=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null)
		rss=$((rss + ${r:-0}))
		pss=$((pss + ${s:-0}))
	done
	echo "$rss $pss"
}

# ---- backends ----------------------------------------------------------
read -r P_IPERF P_HTTP < <(free_ports 2)
[ -n "${P_HTTP:-}" ] || die "cannot pick free ports"

start_iperf_server()
{
	iperf3 -s -B 127.0.0.1 -p "$P_IPERF" >>"$work/iperf3-server.log" 2>&1 &
	IPERF_PID=$!
	bg_pids+=("$IPERF_PID")
	wait_listen "$P_IPERF" || die "iperf3 -s did not start"
}

restart_iperf_server()
{
	kill -TERM "$IPERF_PID" 2>/dev/null
	wait "$IPERF_PID" 2>/dev/null
	start_iperf_server
}

body=$(head -c "$BODY_BYTES" /dev/zero | tr '\0' 'x')
mkdir -p "$work/backend"
cat >"$work/backend.conf" <<EOF
# HTTP backend: a fixed ${BODY_BYTES}-byte body, long keep-alive
daemon off;
master_process on;
worker_processes 1;
pid $work/backend.pid;
error_log $work/backend-error.log warn;
worker_rlimit_nofile 20000;
events { worker_connections 16000; }
http {
	access_log off;
	keepalive_timeout 600s;
	keepalive_requests 100000000;
	server {
		listen 127.0.0.1:$P_HTTP backlog=4096;
		location / {
			default_type text/plain;
			return 200 "$body";
		}
	}
}
EOF
start_iperf_server
nginx -p "$work/backend" -e "$work/backend-error.log" -c "$work/backend.conf" \
	>>"$work/backend-error.log" 2>&1 &
bg_pids+=($!)
wait_listen "$P_HTTP" || die "nginx HTTP backend did not start"

# ---- contenders ----------------------------------------------------------
# Each proxy has two listeners: one in front of iperf3 -s, one in front of
# the HTTP backend.
for c in $CONTENDERS; do
	if [ "$c" = direct ]; then
		PORT_BULK[$c]=$P_IPERF
		PORT_HTTP[$c]=$P_HTTP
	else
		read -r PORT_BULK[$c] PORT_HTTP[$c] < <(free_ports 2)
	fi
done

write_configs()
{
	local c=$1 e f
	case $c in
	ringlb-*)
		e=${c#ringlb-}; f=${e#*-}; e=${e%-*}
		cat >"$work/$c.ini" <<EOF
# access logging off: neither HAProxy nor nginx log here either
[global]
threads = $THREADS
engine = $e
forward = $f
log-level = warn

[listener bulk]
bind = 127.0.0.1:${PORT_BULK[$c]}
backend = iperf

[listener http]
bind = 127.0.0.1:${PORT_HTTP[$c]}
backend = http

[backend iperf]
server = iperf3 127.0.0.1:$P_IPERF

[backend http]
server = web 127.0.0.1:$P_HTTP
EOF
		;;
	haproxy)
		cat >"$work/haproxy.conf" <<EOF
global
	nbthread $THREADS
	maxconn 6000

defaults
	mode tcp
	option splice-auto
	timeout connect 5s
	timeout client 1h
	timeout server 1h

listen bulk
	bind 127.0.0.1:${PORT_BULK[$c]}
	server iperf3 127.0.0.1:$P_IPERF

listen http
	bind 127.0.0.1:${PORT_HTTP[$c]}
	server web 127.0.0.1:$P_HTTP
EOF
		;;
	nginx)
		mkdir -p "$work/nginx"
		cat >"$work/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
master_process on;
user root;
worker_processes $THREADS;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
worker_rlimit_nofile 19990;
events { worker_connections 9000; }
stream {
	server {
		listen 127.0.0.1:${PORT_BULK[$c]};
		proxy_pass 127.0.0.1:$P_IPERF;
	}
	server {
		listen 127.0.0.1:${PORT_HTTP[$c]};
		proxy_pass 127.0.0.1:$P_HTTP;
	}
}
EOF
		;;
	esac
}

start_contender()
{
	local c=$1 pids=() p
	[ "$c" = direct ] && { PIDS[$c]=""; return 0; }
	write_configs "$c"
	case $c in
	floor)
		# HTTP only: it has no place in the closed-loop workloads
		"$FLOORBIN" "127.0.0.1:${PORT_HTTP[$c]}" "127.0.0.1:$P_HTTP" \
			2>>"$work/floor.log" &
		pids+=($!)
		;;
	ringlb-*)
		"$RINGLB" -c "$work/$c.ini" 2>>"$work/$c.log" &
		pids+=($!)
		;;
	haproxy)
		haproxy -db -f "$work/haproxy.conf" >>"$work/haproxy.log" 2>&1 &
		pids+=($!)
		;;
	nginx)
		nginx -p "$work/nginx" -e "$work/nginx-error.log" \
			-c "$work/nginx.conf" >>"$work/nginx.log" 2>&1 &
		pids+=($!)
		;;
	socat)
		# one process per listener, a fork per connection
		socat -lf "$work/socat.log" \
			"TCP4-LISTEN:${PORT_BULK[$c]},bind=127.0.0.1,reuseaddr,fork,backlog=4096" \
			"TCP4:127.0.0.1:$P_IPERF" &
		pids+=($!)
		socat -lf "$work/socat.log" \
			"TCP4-LISTEN:${PORT_HTTP[$c]},bind=127.0.0.1,reuseaddr,fork,backlog=4096" \
			"TCP4:127.0.0.1:$P_HTTP" &
		pids+=($!)
		;;
	*)
		say "unknown contender $c"
		return 1
		;;
	esac
	bg_pids+=("${pids[@]}")
	PIDS[$c]="${pids[*]}"
	{ [ -z "${PORT_BULK[$c]:-}" ] || wait_listen "${PORT_BULK[$c]}"; } &&
		wait_listen "${PORT_HTTP[$c]}" ||
		{ say "$c did not start (logs in $OUT/logs)"; return 1; }
}

stop_contender()
{
	local c=$1 p n
	for p in ${PIDS[$c]}; do
		kill -TERM "$p" 2>/dev/null
	done
	# 2 s of grace: nothing is connected any more when this runs
	for p in ${PIDS[$c]}; do
		for ((n = 0; n < 20; n++)); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	PIDS[$c]=""
}

# one HTTP request through $1: does it answer 200?
probe_http()
{
	python3 - "${PORT_HTTP[$1]}" <<'EOF'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
c.request("GET", "/")
r = c.getresponse()
r.read()
sys.exit(0 if r.status == 200 else 1)
EOF
}

# ---- workloads -------------------------------------------------------------
# run_wrk CONTENDER close(0|1) SECONDS: the WRKJSON line
run_wrk()
{
	BENCH_CLOSE=$2 timeout $(($3 + 20)) wrk -t"$WRK_THREADS" -c"$WRK_CONNS" \
		-d"$3"s -s "$top/bench/wrk-json.lua" \
		"http://127.0.0.1:${PORT_HTTP[$1]}/" 2>&1 |
		tee -a "$work/wrk.log" | sed -n 's/^WRKJSON //p'
}

json_get() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d[sys.argv[2]])' "$1" "$2" 2>/dev/null; }

measure()
{
	local r=$1 w=$2 c=$3 t0 t1 c0 c1 s0 s1 out gbps streams
	s0=$(busy_ticks)
	c0=$(cpu_ticks ${PIDS[$c]})
	t0=$(date +%s.%N)
	case $w in
	bulk1|bulk8)
		streams=${w#bulk}
		out=$(timeout $((DURATION + 20)) iperf3 -c 127.0.0.1 \
			-p "${PORT_BULK[$c]}" -t "$DURATION" -P "$streams" -J \
			2>>"$work/iperf3-client.log")
		t1=$(date +%s.%N)
		c1=$(cpu_ticks ${PIDS[$c]})
		gbps=$(python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
print("%.3f" % (d["end"]["sum_received"]["bits_per_second"] / 1e9))' \
			<<<"$out" 2>/dev/null)
		if [ -z "$gbps" ]; then
			say "iperf3 through $c failed; restarting iperf3 -s"
			echo "$out" | tail -5 >>"$work/iperf3-client.log"
			restart_iperf_server
			gbps=nan
		fi
		record "$r" "$w" "$c" gbps "$gbps"
		;;
	keepalive|close)
		out=$(run_wrk "$c" "$([ "$w" = close ] && echo 1 || echo 0)" "$DURATION")
		t1=$(date +%s.%N)
		c1=$(cpu_ticks ${PIDS[$c]})
		if [ -n "$out" ]; then
			python3 - "$r" "$w" "$c" "$out" >>"$RES" <<'EOF'
import json, sys
r, w, c, d = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
secs = d["duration_us"] / 1e6
errs = sum(d[k] for k in d if k.startswith("err_"))
for k, v in (("rate", d["requests"] / secs), ("p50_us", d["p50_us"]),
             ("p99_us", d["p99_us"]), ("errors", errs)):
    print("%s,%s,%s,%s,%s" % (r, w, c, k, v))
EOF
		else
			say "wrk through $c failed"
			record "$r" "$w" "$c" rate nan
		fi
		;;
	esac
	s1=$(busy_ticks)
	# the whole machine: client, backend, proxy (and any neighbour)
	record "$r" "$w" "$c" machine_busy_pct "$(awk -v a="$s0" -v b="$s1" \
		-v t0="$t0" -v t1="$t1" -v hz="$HZ" \
		'BEGIN { printf "%.1f", (b - a) * 100 / hz / (t1 - t0) }')"
	if [ "$c" != direct ]; then
		record "$r" "$w" "$c" cpu_pct "$(awk -v a="$c0" -v b="$c1" \
			-v t0="$t0" -v t1="$t1" -v hz="$HZ" \
			'BEGIN { printf "%.1f", (b - a) * 100 / hz / (t1 - t0) }')"
	fi
}

# ---- the run ----------------------------------------------------------------
say "$(nproc) CPUs; $ROUNDS rounds x $DURATION s; proxy threads/workers $THREADS; wrk -t$WRK_THREADS -c$WRK_CONNS; contenders: $CONTENDERS"
for c in $CONTENDERS; do
	if ! start_contender "$c" || ! probe_http "$c"; then
		say "$c: not answering: left out"
		BROKEN[$c]=1
	fi
done
live=""
for c in $CONTENDERS; do
	[ -z "${BROKEN[$c]:-}" ] && live="$live $c"
done
read -r -a live_arr <<<"$live"
n_live=${#live_arr[@]}
[ "$n_live" -gt 0 ] || die "no contender works"

for ((r = 1; r <= ROUNDS; r++)); do
	for w in $WORKLOADS; do
		# a rotated order each round, so drift spreads evenly
		for ((i = 0; i < n_live; i++)); do
			c=${live_arr[$(((i + r - 1) % n_live))]}
			measure "$r" "$w" "$c"
		done
		say "round $r/$ROUNDS: $w done ($(($(date +%s) - T_START)) s)"
	done
done

# ---- syscalls per request -------------------------------------------------------
# The usual suspects get their own counter, the rest is "other".
SYSCALLS="io_uring_enter epoll_wait epoll_pwait epoll_ctl read write readv
writev recvfrom sendto recvmsg sendmsg splice accept accept4 connect close
socket setsockopt getsockopt getsockname getpeername shutdown pipe2 fcntl
ioctl futex clock_gettime clone clone3 wait4 poll"
perf_events="raw_syscalls:sys_enter"
for s in $SYSCALLS; do
	[ -d "/sys/kernel/tracing/events/syscalls/sys_enter_$s" ] &&
		perf_events="$perf_events,syscalls:sys_enter_$s"
done
SYSCSV=$OUT/syscalls.csv	# contender,workload,requests,syscall,count
echo "contender,workload,requests,syscall,count" >"$SYSCSV"
if [ -d /sys/kernel/tracing/events/raw_syscalls ]; then
	for c in $live; do
		[ "$c" = direct ] && continue
		for w in $WORKLOADS; do
			[ "$w" = keepalive ] || [ "$w" = close ] || continue
			pids=$(tree_pids ${PIDS[$c]} | paste -sd,)
			perf stat -x, -e "$perf_events" -p "$pids" \
				-o "$work/perf-stat-$c-$w.txt" &
			pp=$!
			sleep 0.3
			out=$(run_wrk "$c" "$([ "$w" = close ] && echo 1 || echo 0)" "$SYSDUR")
			kill -INT "$pp" 2>/dev/null
			wait "$pp" 2>/dev/null
			reqs=$(json_get "$out" requests)
			awk -F, -v c="$c" -v w="$w" -v n="${reqs:-0}" '
				/^[0-9]/ { sub(/^syscalls:sys_enter_/, "", $3);
					sub(/^raw_syscalls:sys_enter$/, "total", $3);
					print c "," w "," n "," $3 "," $1 }' \
				"$work/perf-stat-$c-$w.txt" >>"$SYSCSV"
		done
		say "syscalls: $c done ($(($(date +%s) - T_START)) s)"
	done
fi

# ---- fixed offered rate ------------------------------------------------------
# pace (bench/pace.c) offers a fixed rate; the proxy's CPU time per request
# is its utime+stime over the run (from /proc/PID/stat, which sums every
# thread of the process, io-wq workers and threads that exited meanwhile
# included) divided by the requests completed in the run.
FRCSV=$OUT/fr-skipped.csv	# round,block,busy_pct,reason
echo "round,block,busy_pct,reason" >"$FRCSV"
DROPCSV=$OUT/fr-dropped.csv	# round,block,contender,achieved,offered,why
echo "round,block,contender,achieved,offered,why" >"$DROPCSV"
PACELOG=$OUT/pace.jsonl		# one line per run: round block contender JSON
: >"$PACELOG"
: >"$OUT/fr-raw.txt"
NCPU=$(nproc)
ALL_CPUS=0-$((NCPU - 1))
LOAD_CPUS=$ALL_CPUS

# the backend's processes (nginx master and worker)
backend_pids() { cat "$work/backend.pid" 2>/dev/null; }

# set_affinity CPUS PID...: every thread of the trees rooted at PID...
# (io-wq workers too; taskset -a covers the threads that exist now, and
# workers created later inherit the affinity of the thread that makes them)
set_affinity()
{
	local cpus=$1 p
	shift
	for p in $(tree_pids "$@"); do
		taskset -a -p -c "$cpus" "$p" >/dev/null 2>&1
	done
}

# the threads of the trees rooted at PID... whose CPUs are not CPUS
# (a kernel may refuse to move an io-wq worker)
misplaced()
{
	local want p t
	want=$(cpulist_norm "$1")
	shift
	for p in $(tree_pids "$@"); do
		for t in /proc/"$p"/task/*; do
			[ "$(awk '/^Cpus_allowed_list/ {print $2}' "$t/status" 2>/dev/null)" = "$want" ] ||
				echo "${t##*/}:$(cat "$t/comm" 2>/dev/null)"
		done
	done
}

# placement P: unpinned, or the proxies on PIN_PROXY and the load
# generator and backend on PIN_LOAD; records the threads that did not
# follow in placement-misses.csv
set_placement()
{
	local p=$1 c pcpus lcpus m
	case $p in
	unpinned) pcpus=$ALL_CPUS; lcpus=$ALL_CPUS ;;
	pinned) pcpus=$PIN_PROXY; lcpus=$PIN_LOAD ;;
	*) return 1 ;;
	esac
	for c in $fr_live; do
		[ -n "${PIDS[$c]:-}" ] || continue
		set_affinity "$pcpus" ${PIDS[$c]}
		for m in $(misplaced "$pcpus" ${PIDS[$c]}); do
			say "placement $p: $c thread $m not on CPUs $pcpus"
			echo "$p,$c,$m" >>"$OUT/placement-misses.csv"
		done
	done
	set_affinity "$lcpus" $(backend_pids)
	LOAD_CPUS=$lcpus
}

# "0-1" and "0,1" are the same set: print it the way /proc does
cpulist_norm()
{
	python3 -c '
import sys
s = set()
for part in sys.argv[1].split(","):
    a, _, b = part.partition("-")
    s.update(range(int(a), int(b or a) + 1))
r, xs = [], sorted(s)
i = 0
while i < len(xs):
    j = i
    while j + 1 < len(xs) and xs[j + 1] == xs[j] + 1:
        j += 1
    r.append(str(xs[i]) if i == j else "%d-%d" % (xs[i], xs[j]))
    i = j + 1
print(",".join(r))' "$1"
}

# the machine's non-idle share (all CPUs, %) over one second, while the
# proxies and the backend sit idle: somebody else's load
machine_busy_pct()
{
	local a b
	a=$(awk '/^cpu / { print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9; exit }' /proc/stat)
	sleep 1
	b=$(awk '/^cpu / { print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9; exit }' /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
		t = y[2] - x[2]; printf "%.1f", (t > 0 ? (y[1] - x[1]) * 100 / t : 0) }'
}

# pace_args WORKLOAD: the load generator's arguments
pace_args()
{
	case $1 in
	rate-ka) echo "-m ka -r $RATE_KA -c $RATE_KA_CONNS" ;;
	rate-close) echo "-m close -r $RATE_CLOSE" ;;
	pipeline) echo "-m pipeline -c $PIPE_CONNS -D $PIPE_DEPTH" ;;
	esac
}

# run_pace CONTENDER WORKLOAD: pace's JSON line
run_pace()
{
	taskset -c "$LOAD_CPUS" timeout $((${FR_DURATION%.*} + 30)) \
		"$PACE" $(pace_args "$2") -d "$FR_DURATION" -w "$FR_WARMUP" \
		"127.0.0.1:${PORT_HTTP[$1]}" 2>>"$work/pace.log"
}

# "busy total" jiffies of the whole machine (all CPUs; busy is not idle,
# not iowait)
stat_ticks()
{
	awk '/^cpu / { print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9; exit }' /proc/stat
}

# measure_fr ROUND BLOCK CONTENDER (BLOCK = workload@placement)
measure_fr()
{
	local r=$1 b=$2 c=$3 w=${2%@*} c0 c1 k0 k1 s0 s1 out ptree btree
	# the trees do not change during a run (no contender here forks)
	ptree=$(tree_pids ${PIDS[$c]:-})
	btree=$(tree_pids $(backend_pids))
	c0=$(proc_ticks $ptree)
	k0=$(proc_ticks $btree)
	s0=$(stat_ticks)
	out=$(run_pace "$c" "$w")
	s1=$(stat_ticks)
	c1=$(proc_ticks $ptree)
	k1=$(proc_ticks $btree)
	if [ -z "$out" ]; then
		say "pace through $c failed ($b)"
		echo "$r,$b,$c,0,0,pace failed" >>"$DROPCSV"
		record "$r" "$b" "$c" dropped 1
		return
	fi
	echo "$r $b $c $out" >>"$PACELOG"
	# turned into results.csv rows by fr_ingest, once, after the rounds
	# (a python start-up per run would cost more than half a second here)
	echo "$r|$b|$c|$((c1 - c0))|$((k1 - k0))|$s0|$s1|$out" >>"$OUT/fr-raw.txt"
}

# fr-raw.txt to results.csv rows (and fr-dropped.csv): CPU per request of
# the proxy, the backend and pace; latency; the machine's busy share and
# what none of ours explains (another job); a run more than 1% short of
# its offered rate is dropped
fr_ingest()
{
	[ -s "$OUT/fr-raw.txt" ] || return 0
	python3 - "$OUT/fr-raw.txt" "$HZ" "$DROPCSV" >>"$RES" <<'PY'
import json, sys
hz = int(sys.argv[2])
out, drops = [], []
for line in open(sys.argv[1]):
    r, b, c, proxy, backend, s0, s1, js = line.rstrip("\n").split("|", 7)
    d = json.loads(js)
    proxy, backend = int(proxy), int(backend)
    busy0, total0 = (int(x) for x in s0.split())
    busy1, total1 = (int(x) for x in s1.split())
    done = d["completed"]
    def rec(k, v):
        out.append("%s,%s,%s,%s,%s" % (r, b, c, k, v))
    for k in ("achieved", "offered", "p50_us", "p90_us", "p99_us",
              "p999_us", "max_us", "svc_p50_us", "svc_p99_us",
              "lag_p50_us", "lag_p99_us", "errors"):
        rec(k, d[k])
    if done:
        if c != "direct":
            rec("cpu_us", "%.2f" % (proxy * 1e6 / hz / done))
        rec("backend_cpu_us", "%.2f" % (backend * 1e6 / hz / done))
        rec("pace_cpu_us", "%.2f" % (d["pace_cpu_us"] / done))
    # shares of the whole machine (all CPUs = 100)
    tot = total1 - total0
    if tot > 0:
        busy = busy1 - busy0
        ours = proxy + backend + d["pace_cpu_us"] * hz / 1e6
        rec("machine_busy_pct", "%.1f" % (busy * 100.0 / tot))
        rec("others_pct", "%.1f" % max(0.0, (busy - ours) * 100.0 / tot))
    why = ""
    if d["offered"] and d["achieved"] < 0.99 * d["offered"]:
        why = "achieved %.0f of %.0f/s" % (d["achieved"], d["offered"])
    elif not done:
        why = "nothing completed"
    if why:
        rec("dropped", 1)
        drops.append("%s,%s,%s,%s,%s,%s" % (r, b, c, d["achieved"],
                                             d["offered"], why))
print("\n".join(out))
with open(sys.argv[3], "a") as f:
    f.write("".join(x + "\n" for x in drops))
PY
}

# the floor joins the fixed-rate workloads only
fr_all=${FR_CONTENDERS:-$live}
if [ "$FLOOR" = 1 ] && [ -n "$FR_WORKLOADS" ]; then
	read -r PORT_HTTP[floor] < <(free_ports 1)
	if start_contender floor && probe_http floor; then
		[ -z "${FR_CONTENDERS:-}" ] && fr_all="$fr_all floor"
	else
		say "floor: not answering: left out"
		BROKEN[floor]=1
	fi
fi
fr_live=""
for c in $fr_all; do
	[ "$c" = socat ] && [ -z "${FR_CONTENDERS:-}" ] && continue
	[ -n "${PORT_HTTP[$c]:-}" ] && [ -z "${BROKEN[$c]:-}" ] && fr_live="$fr_live $c"
done
read -r -a fr_arr <<<"$fr_live"
n_fr=${#fr_arr[@]}
# the blocks: every workload in every placement (pipeline unpinned only)
blocks=""
for p in $PLACEMENTS; do
	if [ "$p" = pinned ] && [ "$NCPU" -lt 2 ]; then
		say "one CPU: no pinned placement"
		continue
	fi
	for w in $FR_WORKLOADS; do
		[ "$w" = pipeline ] && [ "$p" != unpinned ] && continue
		blocks="$blocks $w@$p"
	done
done
declare -A FR_DONE
if [ -n "$blocks" ] && [ "$n_fr" -gt 0 ]; then
	say "fixed rate: $FR_ROUNDS rounds x ($blocks ) x $FR_DURATION s; contenders:$fr_live"
	: >"$OUT/placement-misses.csv"
	for ((r = 1; r <= FR_ROUNDS + FR_EXTRA_ROUNDS; r++)); do
		short=0
		for b in $blocks; do
			[ "${FR_DONE[$b]:-0}" -lt "$FR_ROUNDS" ] && short=1
		done
		[ "$short" = 1 ] || break
		for b in $blocks; do
			[ "${FR_DONE[$b]:-0}" -lt "$FR_ROUNDS" ] || continue
			set_placement "${b#*@}"
			# somebody else's load before the block: wait, then skip
			for ((try = 1; try <= BUSY_TRIES; try++)); do
				busy=$(machine_busy_pct)
				awk -v b="$busy" -v m="$BUSY_MAX" 'BEGIN { exit !(b <= m) }' && break
				say "round $r, $b: machine ${busy}% busy before the block (limit $BUSY_MAX%)"
				[ "$try" -lt "$BUSY_TRIES" ] && sleep "$BUSY_WAIT"
			done
			if [ "$try" -gt "$BUSY_TRIES" ]; then
				echo "$r,$b,$busy,machine ${busy}% busy before it (limit $BUSY_MAX%; $BUSY_TRIES checks ${BUSY_WAIT} s apart)" >>"$FRCSV"
				continue
			fi
			record "$r" "$b" all idle_before_pct "$busy"
			for ((i = 0; i < n_fr; i++)); do
				c=${fr_arr[$(((i + r - 1) % n_fr))]}
				# the floor keeps one message per direction in flight
				[ "$c" = floor ] && [ "${b%@*}" = pipeline ] && continue
				measure_fr "$r" "$b" "$c"
			done
			FR_DONE[$b]=$((${FR_DONE[$b]:-0} + 1))
			say "fixed rate round $r: $b done ($(($(date +%s) - T_START)) s)"
		done
	done
	set_placement unpinned
	fr_ingest
fi

# ---- counting pass: context switches, enters, punts per request ---------------
# perf stat on the proxy's processes during one more fixed-rate run of each
# contender, with the counters enabled and disabled exactly around the run
# (--control) and /proc/PID/stat read at the same moments: perf's
# task-clock next to the accounting used above, as a check.
CNTCSV=$OUT/counts.csv	# block,contender,requests,proc_cpu_ms,event,count
echo "block,contender,requests,proc_cpu_ms,event,count" >"$CNTCSV"
cnt_events="task-clock,context-switches,cpu-migrations"
for e in raw_syscalls:sys_enter syscalls:sys_enter_io_uring_enter \
	io_uring:io_uring_queue_async_work; do
	[ -d "/sys/kernel/tracing/events/${e/://}" ] && cnt_events="$cnt_events,$e"
done
count_run()
{
	local b=$1 c=$2 pids ctl=$work/perf-ctl ack=$work/perf-ack pp a z out reqs
	pids=$(tree_pids ${PIDS[$c]} | paste -sd,)
	rm -f "$ctl" "$ack"
	mkfifo "$ctl" "$ack" || return
	perf stat -x, -D -1 --control "fifo:$ctl,$ack" -e "$cnt_events" \
		-p "$pids" -o "$work/perf-count.txt" 2>>"$work/perf.log" &
	pp=$!
	exec 7>"$ctl" 6<"$ack"
	sleep 0.5
	a=$(cpu_ticks ${PIDS[$c]})
	echo enable >&7
	read -r -t 5 _ <&6
	out=$(run_pace "$c" "${b%@*}")
	echo disable >&7
	read -r -t 5 _ <&6
	z=$(cpu_ticks ${PIDS[$c]})
	kill -INT "$pp" 2>/dev/null
	wait "$pp" 2>/dev/null
	exec 7>&- 6<&-
	reqs=$(json_get "$out" completed)
	awk -F, -v b="$b" -v c="$c" -v n="${reqs:-0}" \
		-v ms="$(((z - a) * 1000 / HZ))" '
		/^[0-9<]/ { sub(/^syscalls:sys_enter_/, "", $3);
			sub(/^raw_syscalls:sys_enter$/, "syscalls", $3);
			sub(/^io_uring:io_uring_queue_async_work$/, "iowq_punts", $3);
			print b "," c "," n "," ms "," $3 "," $1 }' \
		"$work/perf-count.txt" >>"$CNTCSV"
}
if [ "$COUNT" = 1 ] && [ -n "$blocks" ]; then
	for b in $blocks; do
		[ "${b%@*}" = pipeline ] && continue
		set_placement "${b#*@}"
		for c in $fr_live; do
			[ "$c" = direct ] && continue
			count_run "$b" "$c"
		done
		say "counts: $b done ($(($(date +%s) - T_START)) s)"
	done
	set_placement unpinned
fi

report() { python3 "$top/bench/report.py" "$@" --out "$OUT"; }

# ---- profiles where a target is missed --------------------------------------------
# perf record of ringlb's best mode and of HAProxy under the load where
# ringlb falls short (PROFILE=all: every workload, none: skip)
profile()
{
	local c=$1 w=$2 f=$OUT/profiles/$c-$w pids lp
	pids=$(tree_pids ${PIDS[$c]} | paste -sd,)
	case $w in
	bulk*)
		timeout $((PROF_DUR + 20)) iperf3 -c 127.0.0.1 -p "${PORT_BULK[$c]}" \
			-t $((PROF_DUR + 1)) -P "${w#bulk}" >/dev/null 2>&1 &
		;;
	*)
		BENCH_CLOSE=$([ "$w" = close ] && echo 1 || echo 0) \
			timeout $((PROF_DUR + 20)) wrk -t"$WRK_THREADS" \
			-c"$WRK_CONNS" -d$((PROF_DUR + 1))s \
			-s "$top/bench/wrk-json.lua" \
			"http://127.0.0.1:${PORT_HTTP[$c]}/" >/dev/null 2>&1 &
		;;
	esac
	lp=$!
	sleep 0.5
	perf record -q -e cpu-clock -F 1999 -g -p "$pids" -o "$f.data" \
		-- sleep "$PROF_DUR" >/dev/null 2>&1
	wait "$lp" 2>/dev/null
	perf report -i "$f.data" --stdio --no-children --sort comm \
		-g none --percent-limit 1 2>/dev/null | grep -v '^#' |
		grep -v '^$' >"$f.comm.txt"
	perf report -i "$f.data" --stdio --no-children --sort dso,sym \
		-g none --percent-limit 0.7 2>/dev/null | grep -v '^#' |
		grep -v '^$' | head -40 >"$f.sym.txt"
	# every symbol, for report.py's breakdown by kernel subsystem
	perf report -i "$f.data" --stdio --no-children --sort dso,sym \
		-g none 2>/dev/null | grep -v '^#' | grep -v '^$' >"$f.all.txt"
	perf report -i "$f.data" --stdio --no-children --sort sym \
		-g caller,0.5,callee,function,percent --percent-limit 3 \
		2>/dev/null | grep -v '^$' | head -300 >"$f.callers.txt"
	# what the io-wq workers (io_uring's punted requests) were running
	iowq=$(grep -o 'iou-wrk-[0-9]*' "$f.comm.txt" | paste -sd,)
	if [ -n "$iowq" ]; then
		perf report -i "$f.data" --stdio --children --sort sym -g none \
			--comms "$iowq" 2>/dev/null | grep -v '^#' |
			grep -v '^$' | head -60 >"$f.iowq.txt"
	fi
	rm -f "$f.data" "$f.data.old"
}

if [ "$PROFILE" != none ]; then
	case $PROFILE in
	all) prof_w="bulk1 keepalive close" ;;
	*) prof_w=$(report --missed "$RES") ;;
	esac
	for w in $prof_w; do
		best=$(report --best "$w" "$RES")
		for c in ${PROF_CONTENDERS/best/$best}; do
			[ -n "${PIDS[$c]:-}" ] || continue
			profile "$c" "$w"
		done
		say "profiles for $w: ${PROF_CONTENDERS/best/$best} ($(($(date +%s) - T_START)) s)"
	done
fi

# ---- memory per idle connection ---------------------------------------------------
# A fresh instance of each proxy, warmed up, then IDLE_CONNS idle keep-alive
# connections through it: (PSS after - PSS before) / IDLE_CONNS.
MEMCSV=$OUT/memory.csv	# contender,conns,rss_before,pss_before,rss_after,pss_after,backend_conns
echo "contender,conns,rss_before_kib,pss_before_kib,rss_after_kib,pss_after_kib,backend_conns" >"$MEMCSV"
for c in $live; do
	[ "$c" = direct ] && continue
	[ "$MEMORY" = 1 ] || break
	stop_contender "$c"
	start_contender "$c" || continue
	run_wrk "$c" 0 1 >/dev/null	# warm-up: buffers, pools, code
	sleep 0.5
	read -r rss0 pss0 < <(mem_kib ${PIDS[$c]})
	cp "/proc/${PIDS[$c]%% *}/smaps" "$OUT/smaps/$c-before.txt" 2>/dev/null
	rm -f "$work/idle-ready"
	python3 "$top/bench/idle.py" --port "${PORT_HTTP[$c]}" \
		--count "$IDLE_CONNS" --ready "$work/idle-ready" \
		>>"$work/idle.log" 2>&1 &
	hp=$!
	bg_pids+=("$hp")
	for ((n = 0; n < 1200; n++)); do
		[ -f "$work/idle-ready" ] && break
		kill -0 "$hp" 2>/dev/null || break
		sleep 0.05
	done
	sleep 1
	read -r rss1 pss1 < <(mem_kib ${PIDS[$c]})
	cp "/proc/${PIDS[$c]%% *}/smaps" "$OUT/smaps/$c-after.txt" 2>/dev/null
	held=$(awk '{print $2}' "$work/idle-ready" 2>/dev/null)
	bconns=$(ss -Htn state established "( dport = :$P_HTTP )" | wc -l)
	kill -TERM "$hp" 2>/dev/null
	wait "$hp" 2>/dev/null
	echo "$c,${held:-0},$rss0,$pss0,$rss1,$pss1,$bconns" >>"$MEMCSV"
	say "memory: $c: ${held:-0} idle connections, PSS $pss0 -> $pss1 KiB ($(($(date +%s) - T_START)) s)"
	stop_contender "$c"
done

# ---- machine, versions, commands ---------------------------------------------------
{
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "kernel=$(uname -r)"
	echo "os=$(. /etc/os-release && echo "$PRETTY_NAME")"
	echo "cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
	echo "cpus=$(nproc)"
	echo "mem=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
	echo "load=$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "ringlb=$("$RINGLB" -V 2>&1 | head -1) ($(git -C "$top" describe --always --dirty 2>/dev/null))"
	echo "liburing=$(dpkg-query -W -f='${Version}' liburing-dev 2>/dev/null)"
	echo "haproxy=$(haproxy -v 2>&1 | head -1)"
	echo "nginx=$(nginx -v 2>&1 | head -1)"
	echo "socat=$(socat -V 2>&1 | awk '/socat version/ {print $3; exit}')"
	echo "iperf3=$(iperf3 -v 2>&1 | head -1)"
	echo "wrk=$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
	echo "perf=$(perf version 2>&1)"
	echo "rounds=$ROUNDS"
	echo "duration=$DURATION"
	echo "threads=$THREADS"
	echo "wrk_threads=$WRK_THREADS"
	echo "wrk_conns=$WRK_CONNS"
	echo "sysdur=$SYSDUR"
	echo "idle_conns=$IDLE_CONNS"
	echo "body_bytes=$BODY_BYTES"
	echo "prof_dur=$PROF_DUR"
	echo "contenders=$live"
	echo "workloads=$WORKLOADS"
	echo "fr_contenders=$fr_live"
	echo "fr_blocks=$blocks"
	echo "fr_rounds=$FR_ROUNDS"
	echo "fr_extra_rounds=$FR_EXTRA_ROUNDS"
	echo "fr_duration=$FR_DURATION"
	echo "fr_warmup=$FR_WARMUP"
	echo "rate_ka=$RATE_KA"
	echo "rate_ka_conns=$RATE_KA_CONNS"
	echo "rate_close=$RATE_CLOSE"
	echo "pipe_conns=$PIPE_CONNS"
	echo "pipe_depth=$PIPE_DEPTH"
	echo "pin_proxy=$PIN_PROXY"
	echo "pin_load=$PIN_LOAD"
	echo "busy_max=$BUSY_MAX"
	echo "busy_tries=$BUSY_TRIES"
	echo "busy_wait=$BUSY_WAIT"
	echo "hz=$HZ"
	# what --engine auto --forward auto resolves to here (start-up line)
	read -r ap < <(free_ports 1)
	echo "auto_resolves=$(timeout 3 "$RINGLB" -l "127.0.0.1:$ap" \
		-b "127.0.0.1:$P_HTTP" -t 1 --log-level info 2>&1 |
		sed -n 's/.*engine \([a-z]*\), forward \([a-z]*\).*/\1-\2/p' | head -1)"
	echo "command=$(env | grep -E '^(ROUNDS|DURATION|THREADS|WRK_THREADS|WRK_CONNS|SYSDUR|IDLE_CONNS|PROF_DUR|PROFILE|BODY_BYTES|CONTENDERS|WORKLOADS|QUICK|FR_[A-Z_]+|RATE_[A-Z_]+|PIPE_[A-Z]+|PLACEMENTS|PIN_[A-Z]+|BUSY_[A-Z]+|COUNT)=' | sort | tr '\n' ' ')make bench"
	echo "elapsed=$(($(date +%s) - T_START))"
} >"$OUT/machine.txt"
cp "$work"/*.ini "$work"/haproxy.conf "$work"/nginx.conf "$work"/backend.conf \
	"$OUT/logs/" 2>/dev/null

docargs=()
[ "$DOC" = 1 ] && docargs=(--doc "$DOC_OUT")
report --table "$RES" "${docargs[@]}"
rc=$?
say "done in $(($(date +%s) - T_START)) s; raw results in $OUT"
exit $rc

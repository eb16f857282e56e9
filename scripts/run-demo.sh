#!/bin/bash
# SPDX-License-Identifier: MIT
# `make run`: two demo backends on loopback (iperf3 -s and a small HTTP
# server), ringlb in front of them on a built-in configuration with one
# listener each, real traffic through both (iperf3 for 5 s, a few
# thousand HTTP requests on fresh connections), then what went through:
# iperf3's summary, the request count and rate, ringlb's stats line
# (asked for with SIGUSR1) and its access-log count.
#
# Everything it starts is stopped on exit, whatever the exit path. Exit
# status 0 when all traffic went through, 1 otherwise.
#
# Environment: RINGLB (default userspace/ringlb), DEMO_REQUESTS (3000),
# DEMO_CLIENTS (16), DEMO_SECONDS (5).
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
RINGLB=${RINGLB:-$top/userspace/ringlb}
REQUESTS=${DEMO_REQUESTS:-3000}
CLIENTS=${DEMO_CLIENTS:-16}
SECONDS_IPERF=${DEMO_SECONDS:-5}

work=$(mktemp -d "${TMPDIR:-/tmp}/ringlb-demo.XXXXXX")
pids=()
rl_pids=()

say() { printf 'run: %s\n' "$*"; }

# stop what we started, ringlb first so it logs its final stats
cleanup()
{
	local p n
	trap - EXIT INT TERM
	for p in "${rl_pids[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${rl_pids[@]}"; do
		for ((n = 0; n < 100; n++)); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$p" 2>/dev/null; then
			say "ringlb (pid $p) ignored SIGTERM for 10 s: killing it"
			kill -KILL "$p" 2>/dev/null
		fi
		wait "$p" 2>/dev/null
	done
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { say "FAILED: $*"; exit 1; }

for cmd in iperf3 python3; do
	command -v "$cmd" >/dev/null || die "$cmd not installed (make deps)"
done
[ -x "$RINGLB" ] || die "no $RINGLB (make userspace)"

# four ports nobody uses, all held at once so they differ
read -r p_iperf p_http p_l1 p_l2 < <(python3 - <<'EOF'
import socket
socks = []
for _ in range(4):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
)
[ -n "${p_l2:-}" ] || die "cannot pick free ports"

# wait until 127.0.0.1:$1 accepts a connection (bash's /dev/tcp)
wait_port()
{
	local n
	for ((n = 0; n < 100; n++)); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# ---- backends ---------------------------------------------------------
iperf3 -s -B 127.0.0.1 -p "$p_iperf" >"$work/iperf3-server.log" 2>&1 &
pids+=($!)

mkdir -p "$work/www"
python3 -c 'import sys; sys.stdout.write("hello from the ringlb demo backend\n" * 30)' \
	>"$work/www/hello.txt"
# python3 -m http.server, but with a listen backlog of 1024 instead of
# socketserver's 5: with 16 clients the default overflows and the lost
# SYNs would be blamed on the proxy
python3 - "$p_http" "$work/www" >"$work/http-server.log" 2>&1 <<'EOF' &
import functools, http.server, sys

class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True

class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

h = functools.partial(Handler, directory=sys.argv[2])
Server(("127.0.0.1", int(sys.argv[1])), h).serve_forever()
EOF
pids+=($!)

wait_port "$p_iperf" || die "iperf3 -s did not start"
wait_port "$p_http" || die "python3 http.server did not start"
say "backends: iperf3 -s on 127.0.0.1:$p_iperf, HTTP on 127.0.0.1:$p_http"

# ---- ringlb -----------------------------------------------------------
cat >"$work/ringlb.ini" <<EOF
# built-in demo configuration: one listener per backend
[global]
threads = 2

[listener iperf]
bind = 127.0.0.1:$p_l1
backend = iperf

[listener http]
bind = 127.0.0.1:$p_l2
backend = http

[backend iperf]
balance = rr
server = iperf3 127.0.0.1:$p_iperf

[backend http]
balance = rr
server = web 127.0.0.1:$p_http
EOF

log=$work/ringlb.log
if "$RINGLB" -c "$work/ringlb.ini" --check >"$work/check.log" 2>&1; then
	say "ringlb -c (built-in config): 127.0.0.1:$p_l1 -> iperf3, 127.0.0.1:$p_l2 -> HTTP"
	"$RINGLB" -c "$work/ringlb.ini" 2>>"$log" &
	rl_pids+=($!)
else
	# a daemon without config files: one instance per listener
	say "ringlb: no config file support, one instance per listener"
	"$RINGLB" -t 1 -l "127.0.0.1:$p_l1" -b "127.0.0.1:$p_iperf" 2>>"$log" &
	rl_pids+=($!)
	"$RINGLB" -t 1 -l "127.0.0.1:$p_l2" -b "127.0.0.1:$p_http" 2>>"$log" &
	rl_pids+=($!)
fi
for p in "$p_l1" "$p_l2"; do
	if ! wait_port "$p"; then
		sed 's/^/  | /' "$log"
		die "ringlb not listening on 127.0.0.1:$p"
	fi
done
grep -E 'ringlb: info: (ringlb |io_uring)' "$log" | sed 's/^/  | /'

status=0

# ---- iperf3 through ringlb ---------------------------------------------
say "iperf3 -c through ringlb for $SECONDS_IPERF s"
if timeout $((SECONDS_IPERF + 30)) iperf3 -c 127.0.0.1 -p "$p_l1" \
	-t "$SECONDS_IPERF" -f m >"$work/iperf3.log" 2>&1; then
	grep -E 'sender|receiver' "$work/iperf3.log" | sed 's/^/  | /'
	grep -q receiver "$work/iperf3.log" || status=1
else
	sed 's/^/  | /' "$work/iperf3.log"
	say "iperf3 through ringlb failed"
	status=1
fi

# ---- request/response load through ringlb -------------------------------
say "$REQUESTS HTTP requests, $CLIENTS clients, one connection each"
if ! timeout 120 python3 - "$p_l2" "$REQUESTS" "$CLIENTS" \
	"$work/www/hello.txt" <<'EOF'
import http.client, sys, threading, time

port, total, clients = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
want = open(sys.argv[4], "rb").read()
lock = threading.Lock()
done = {"ok": 0, "bad": 0, "next": 0}
errors = []

def worker():
    while True:
        with lock:
            if done["next"] >= total:
                return
            done["next"] += 1
        ok = False
        try:
            # a fresh TCP connection per request: every one is a
            # connection ringlb accepts, balances and logs
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/hello.txt")
            r = c.getresponse()
            body = r.read()
            c.close()
            ok = r.status == 200 and body == want
            if not ok:
                err = "status %d, %d bytes" % (r.status, len(body))
        except Exception as e:
            err = repr(e)
        with lock:
            if ok:
                done["ok"] += 1
            else:
                done["bad"] += 1
                if len(errors) < 5:
                    errors.append(err)

t0 = time.monotonic()
th = [threading.Thread(target=worker) for _ in range(clients)]
for t in th:
    t.start()
for t in th:
    t.join()
dt = time.monotonic() - t0
print("  | %d requests: %d ok, %d failed in %.2f s (%.0f requests/s)"
      % (total, done["ok"], done["bad"], dt, done["ok"] / dt if dt else 0))
for e in errors:
    print("  | error: %s" % e)
sys.exit(0 if done["ok"] == total else 1)
EOF
then
	say "request/response load through ringlb failed"
	status=1
fi

# ---- what ringlb saw -----------------------------------------------------
for p in "${rl_pids[@]}"; do
	kill -USR1 "$p" 2>/dev/null
done
for ((n = 0; n < 50; n++)); do
	[ "$(grep -c 'ringlb: info: stats ' "$log")" -ge "${#rl_pids[@]}" ] && break
	sleep 0.1
done
say "ringlb stats (SIGUSR1):"
if grep 'ringlb: info: stats ' "$log" | sed 's/^/  | /' | grep .; then :; else
	say "no stats line from ringlb"
	status=1
fi
accesses=$(grep -c 'ringlb: info: access ' "$log")
say "ringlb access log: $accesses connections"
# each request is one connection, iperf3 adds its control + data ones
if [ "$accesses" -lt "$REQUESTS" ]; then
	say "expected at least $REQUESTS access lines"
	status=1
fi
if grep -E 'ringlb: error:|AddressSanitizer|runtime error' "$log" | head -5 | sed 's/^/  | /' | grep -q .; then
	say "ringlb logged errors (above)"
	status=1
fi

if [ "$status" -eq 0 ]; then
	say "demo passed"
else
	say "demo FAILED"
fi
exit "$status"

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Soak: mixed load through ringlb for a while, RSS and fds must stay flat.

    soak.py [--seconds N] [--ringlb PATH] [--out DIR] [--engine E]

Load, all at once for the whole run: bulk (iperf3, rate-limited so the
rest gets CPU), connection churn (short request/response connections),
slow readers (a backend streams, clients read 16 KiB every 50 ms and
reconnect every few seconds) and idle connections opened and dropped.
Every second the daemon's RSS and open descriptors are sampled into
OUT/soak.csv; gnuplot draws OUT/soak.png when it is installed.

Verdict (KTAP on stdout): after a warm-up (a fifth of the run, at least
5 s), the least-squares slope of RSS and of the fd count, times the
measured window, must stay under a growth budget (RSS: 2 MiB or 5 %;
fds: 32); once the load stops the daemon must fall back to its idle fd
count (plus the splice pipes it keeps pooled), serve a last client and
exit 0 on SIGTERM with nothing in its log that says trouble.
"""
import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("--seconds", type=int, default=600)
ap.add_argument("--ringlb", default=os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "userspace", "ringlb"))
ap.add_argument("--out", default="build/soak")
ap.add_argument("--engine", default="uring")
ap.add_argument("--forward", default="auto")
args = ap.parse_args()
os.makedirs(args.out, exist_ok=True)
stop = threading.Event()
counts = {"churn": 0, "churn_err": 0, "slow_bytes": 0, "slow_conns": 0,
          "idle": 0, "bulk_runs": 0}
lock = threading.Lock()
errors = []


def bump(key, n=1):
    with lock:
        counts[key] += n


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def listen():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(512)
    return s


def serve(lsock, handler):
    def loop():
        while True:
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            threading.Thread(target=handler, args=(c,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()


def echo(c):
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
    except OSError:
        pass
    c.close()


BLOCK = bytes(random.getrandbits(8) for _ in range(65536))


def stream(c):
    try:
        while not stop.is_set():
            c.sendall(BLOCK)
    except OSError:
        pass
    c.close()


echo_be, stream_be = listen(), listen()
serve(echo_be, echo)
serve(stream_be, stream)
iperf_port = free_port()
iperf = subprocess.Popen(["iperf3", "-s", "-p", str(iperf_port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

ports = {"echo": free_port(), "stream": free_port(), "bulk": free_port()}
cfg = os.path.join(args.out, "soak.ini")
with open(cfg, "w") as f:
    f.write("[global]\nthreads = 2\nengine = %s\nforward = %s\n"
            "idle-timeout = 30000\n" % (args.engine, args.forward))
    for name, be in (("echo", echo_be), ("stream", stream_be)):
        f.write("[listener %s]\nbind = 127.0.0.1:%d\nbackend = %s\n"
                "[backend %s]\nserver = s 127.0.0.1:%d\n"
                % (name, ports[name], name, name, be.getsockname()[1]))
    f.write("[listener bulk]\nbind = 127.0.0.1:%d\nbackend = bulk\n"
            "[backend bulk]\nserver = s 127.0.0.1:%d\n"
            % (ports["bulk"], iperf_port))
logpath = os.path.join(args.out, "ringlb.log")
rl = subprocess.Popen([args.ringlb, "-c", cfg], stderr=open(logpath, "w"))


def connect(name):
    return socket.create_connection(("127.0.0.1", ports[name]), timeout=10)


def wait_ready():
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            s = connect("echo")
            s.sendall(b"x")
            ok = s.recv(1) == b"x"
            s.close()
            if ok:
                return True
        except OSError:
            time.sleep(0.1)
    return False


def proc_sample(pid):
    rss = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss, len(os.listdir("/proc/%d/fd" % pid))


def churn():
    msg = b"hello through ringlb" * 5
    while not stop.is_set():
        try:
            s = connect("echo")
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                d = s.recv(4096)
                if not d:
                    break
                got += d
            s.close()
            if got == msg:
                bump("churn")
            else:
                bump("churn_err")
                errors.append("short echo: %d of %d bytes" % (len(got), len(msg)))
        except OSError as e:
            bump("churn_err")
            errors.append(repr(e))
            time.sleep(0.05)


def slow_reader():
    while not stop.is_set():
        try:
            s = connect("stream")
            bump("slow_conns")
            t_end = time.time() + random.uniform(2, 6)
            while time.time() < t_end and not stop.is_set():
                d = s.recv(16384)
                if not d:
                    break
                bump("slow_bytes", len(d))
                time.sleep(0.05)
            s.close()
        except OSError:
            time.sleep(0.1)


def idler():
    held = []
    while not stop.is_set():
        try:
            held.append(connect("echo"))
            bump("idle")
        except OSError:
            pass
        if len(held) > 50:
            for s in held[:25]:
                s.close()
            del held[:25]
        time.sleep(0.05)
    for s in held:
        s.close()


def bulk():
    while not stop.is_set():
        subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(ports["bulk"]),
                        "-t", "5", "-b", "2G"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        bump("bulk_runs")


n = 0
rc = 0
print("KTAP version 1")
print("1..4")
if not wait_ready():
    print("not ok 1 soak-load # ringlb never served (see %s)" % logpath)
    rl.kill()
    iperf.kill()
    sys.exit(1)
time.sleep(0.3)
idle_rss, idle_fds = proc_sample(rl.pid)

workers = [churn] * 3 + [slow_reader] * 4 + [idler, bulk]
threads = [threading.Thread(target=w, daemon=True) for w in workers]
for t in threads:
    t.start()
samples = []
t0 = time.time()
csv = open(os.path.join(args.out, "soak.csv"), "w")
csv.write("seconds,rss_kib,fds\n")
while time.time() - t0 < args.seconds:
    time.sleep(1)
    if rl.poll() is not None:
        break
    rss, fds = proc_sample(rl.pid)
    el = time.time() - t0
    samples.append((el, rss, fds))
    csv.write("%.1f,%d,%d\n" % (el, rss, fds))
    csv.flush()
stop.set()
for t in threads:
    t.join(timeout=15)
csv.close()

alive = rl.poll() is None
summary = ("%d churn conns (%d failed), %d slow-reader conns, %d MB read "
           "slowly, %d idle conns, %d iperf3 runs"
           % (counts["churn"], counts["churn_err"], counts["slow_conns"],
              counts["slow_bytes"] >> 20, counts["idle"], counts["bulk_runs"]))
load_ok = alive and counts["churn"] > 0 and counts["slow_bytes"] > 0 and \
    counts["bulk_runs"] > 0 and counts["churn_err"] <= counts["churn"] // 100
print("%s 1 soak-load # %s%s" % ("ok" if load_ok else "not ok", summary,
                                 "" if alive else "; ringlb DIED"))
rc |= not load_ok
for e in sorted(set(errors))[:5]:
    print("# churn error: %s (%d times)" % (e, errors.count(e)))


def slope(points):
    k = len(points)
    mx = sum(p[0] for p in points) / k
    my = sum(p[1] for p in points) / k
    sxx = sum((p[0] - mx) ** 2 for p in points)
    return sum((p[0] - mx) * (p[1] - my) for p in points) / sxx if sxx else 0


warm = max(5, args.seconds // 5)
steady = [s for s in samples if s[0] >= warm]
if len(steady) >= 5:
    window = steady[-1][0] - steady[0][0]
    rss_growth = slope([(s[0], s[1]) for s in steady]) * window
    fd_growth = slope([(s[0], s[2]) for s in steady]) * window
    rss_budget = max(2048, steady[0][1] * 0.05)
    ok_rss = rss_growth < rss_budget
    ok_fds = fd_growth < 32
    print("%s 2 rss-flat # idle %d KiB, %d..%d KiB under load, trend %+.0f KiB "
          "over %.0f s (budget %.0f)"
          % ("ok" if ok_rss else "not ok", idle_rss,
             min(s[1] for s in steady), max(s[1] for s in steady),
             rss_growth, window, rss_budget))
    print("%s 3 fds-flat # idle %d, %d..%d under load, trend %+.1f over %.0f s"
          % ("ok" if ok_fds else "not ok", idle_fds,
             min(s[2] for s in steady), max(s[2] for s in steady),
             fd_growth, window))
    rc |= not ok_rss or not ok_fds
else:
    print("not ok 2 rss-flat # too few samples (%d)" % len(samples))
    print("not ok 3 fds-flat # too few samples")
    rc = 1

# quiet again: descriptors back to idle plus pooled pipes, one more
# client served, a clean exit
end_ok = False
why = "ringlb died"
if alive:
    deadline = time.time() + 35
    fds = None
    while time.time() < deadline:
        _, fds = proc_sample(rl.pid)
        if fds <= idle_fds + 2 * 64 * 2:
            break
        time.sleep(0.5)
    served = wait_ready()
    rl.send_signal(signal.SIGTERM)
    try:
        code = rl.wait(timeout=30)
    except subprocess.TimeoutExpired:
        rl.kill()
        code = -1
    log = open(logpath).read()
    trouble = [l for l in log.splitlines()
               if "ERROR" in l or "runtime error" in l or "Sanitizer" in l]
    end_ok = fds <= idle_fds + 2 * 64 * 2 and served and code == 0 and \
        not trouble
    why = "fds %d (idle %d), served %s, exit %d%s" % (
        fds, idle_fds, served, code, "; " + trouble[0] if trouble else "")
print("%s 4 quiet-and-clean-exit # %s" % ("ok" if end_ok else "not ok", why))
rc |= not end_ok
iperf.terminate()

try:
    png = os.path.join(args.out, "soak.png")
    subprocess.run(["gnuplot", "-e",
                    "set terminal png size 900,400; set output '%s'; "
                    "set datafile separator ','; set key top left; "
                    "set xlabel 'seconds'; set ylabel 'RSS KiB'; "
                    "set y2label 'open fds'; set y2tics; set ytics nomirror; "
                    "set yrange [0:*]; set y2range [0:*]; "
                    "plot '%s' every ::1 using 1:2 with lines title 'RSS', "
                    "'' every ::1 using 1:3 with lines axes x1y2 title 'fds'"
                    % (png, os.path.join(args.out, "soak.csv"))],
                   check=True, stderr=subprocess.DEVNULL)
    print("# plot: %s" % png)
except (OSError, subprocess.CalledProcessError):
    print("# no plot (gnuplot not installed); data: %s/soak.csv" % args.out)
sys.exit(rc)

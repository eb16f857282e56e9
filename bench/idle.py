#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Hold N idle keep-alive connections through a proxy.

Each connection sends one HTTP/1.1 request and reads the whole response
(so every proxy has moved data on it once and allocated whatever it
allocates for a live connection), then stays open and silent. When all
N are in that state the script writes "ready N" to the --ready file and
sleeps until SIGTERM, then closes everything.

Usage: idle.py --port P --count N --ready FILE [--host 127.0.0.1]
"""
import argparse
import os
import resource
import signal
import socket
import sys
import time

REQ = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


def read_response(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("EOF in headers")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("EOF in body")
        body += chunk


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--ready", required=True)
    ap.add_argument("--timeout", type=float, default=60.0)
    a = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, a.count + 64) if hard != resource.RLIM_INFINITY \
        else a.count + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    deadline = time.monotonic() + a.timeout
    socks = []
    failed = 0
    # a batch at a time: connect, request, response; a proxy's listen
    # backlog never sees more than a batch of SYNs at once
    batch = 100
    while len(socks) < a.count and time.monotonic() < deadline and not stop:
        n = min(batch, a.count - len(socks))
        new = []
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(10)
            try:
                s.connect((a.host, a.port))
                s.sendall(REQ)
                new.append(s)
            except OSError:
                failed += 1
                s.close()
        for s in new:
            try:
                read_response(s)
                socks.append(s)
            except (OSError, ConnectionError, ValueError):
                failed += 1
                s.close()
        if failed > a.count // 10 + 10:
            break
    with open(a.ready + ".tmp", "w") as f:
        f.write("ready %d failed %d\n" % (len(socks), failed))
    os.rename(a.ready + ".tmp", a.ready)
    while not stop and time.monotonic() < deadline + 120:
        time.sleep(0.2)
    for s in socks:
        s.close()
    return 0 if len(socks) == a.count else 1


if __name__ == "__main__":
    sys.exit(main())

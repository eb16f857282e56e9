#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The cluster test's client, run inside the client namespace.

Each connection binds one of the client's source addresses explicitly
(and a fixed source port when asked, so a 5-tuple can be repeated) and
reads the backend's greeting "BACKEND NODE": which backend served it,
through which ringlb node. Results are JSON lines on stdout.

  client.py conns VIP PORT SOURCES COUNT [--sport BASE] [--parallel N]
      COUNT connections, source addresses taken in turn from SOURCES
      (comma-separated); with --sport the i-th uses port BASE + i /
      len(SOURCES) and ends with a reset, so no TIME_WAIT keeps the
      5-tuple from being used again.
  client.py stream VIP PORT SOURCES STOPFILE
      one connection after the other until STOPFILE exists; each line
      carries "t", CLOCK_MONOTONIC when the connection was started.
  client.py hold VIP PORT SOURCES COUNT
      opens COUNT connections and keeps them; then reads commands on
      stdin: "ping" (one line each way on every open one), "finish
      I,J,..." (a last exchange, then a clean close both ways), "quit".
"""
import concurrent.futures
import json
import os
import socket
import struct
import sys
import time

TIMEOUT = 30.0		# generous: a busy machine, three namespaced hops


def out(obj):
	print(json.dumps(obj), flush=True)


def connect(vip, port, src, sport=0):
	s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
	s.settimeout(TIMEOUT)
	if sport:
		s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	s.bind((src, sport))
	s.connect((vip, port))
	return s


def readline(s):
	buf = b""
	while not buf.endswith(b"\n"):
		c = s.recv(256)
		if not c:
			raise ConnectionError("EOF before a whole line")
		buf += c
	return buf.decode().split()


def one(vip, port, src, sport, reset):
	r = {"src": src, "sport": sport, "t": time.monotonic()}
	s = None
	try:
		s = connect(vip, port, src, sport)
		r["sport"] = s.getsockname()[1]
		r["backend"], r["node"] = readline(s)
	except (OSError, ValueError) as e:
		r["error"] = str(e) or type(e).__name__
	finally:
		if s and reset:
			s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
				     struct.pack("ii", 1, 0))
		if s:
			s.close()
	return r


def cmd_conns(argv):
	vip, port, srcs, count = argv[0], int(argv[1]), argv[2].split(","), \
		int(argv[3])
	sport = int(argv[argv.index("--sport") + 1]) if "--sport" in argv \
		else 0
	par = int(argv[argv.index("--parallel") + 1]) \
		if "--parallel" in argv else 16
	jobs = []
	for i in range(count):
		src = srcs[i % len(srcs)]
		p = sport + i // len(srcs) if sport else 0
		jobs.append((src, p))
	with concurrent.futures.ThreadPoolExecutor(par) as ex:
		for r in ex.map(lambda j: one(vip, port, j[0], j[1], bool(sport)),
				jobs):
			out(r)


def cmd_stream(argv):
	import os
	vip, port, srcs, stop = argv[0], int(argv[1]), argv[2].split(","), \
		argv[3]
	i = 0
	while not os.path.exists(stop):
		out(one(vip, port, srcs[i % len(srcs)], 0, False))
		i += 1


def cmd_hold(argv):
	vip, port, srcs, count = argv[0], int(argv[1]), argv[2].split(","), \
		int(argv[3])
	conns = {}
	for i in range(count):
		r = {"i": i, "src": srcs[i % len(srcs)]}
		try:
			s = connect(vip, port, r["src"])
			r["sport"] = s.getsockname()[1]
			r["backend"], r["node"] = readline(s)
			conns[i] = s
		except (OSError, ValueError) as e:
			r["error"] = str(e) or type(e).__name__
		out(r)
	out({"held": len(conns)})
	for line in sys.stdin:
		words = line.split()
		if not words or words[0] == "quit":
			break
		if words[0] == "ping":
			which = list(conns)
		else:
			which = [int(x) for x in words[1].split(",") if x]
		res = {}
		for i in which:
			s = conns.get(i)
			try:
				if s is None:
					raise ConnectionError("not open")
				s.sendall(b"ping\n")
				readline(s)
				if words[0] == "finish":
					s.shutdown(socket.SHUT_WR)
					if s.recv(256):
						raise ConnectionError("data after the last line")
					s.close()
					del conns[i]
				res[i] = "ok"
			except (OSError, ValueError) as e:
				res[i] = str(e) or type(e).__name__
				if s:
					s.close()
				conns.pop(i, None)
		out({"cmd": words[0], "result": res})
	for s in conns.values():
		s.close()


def main():
	cmds = {"conns": cmd_conns, "stream": cmd_stream, "hold": cmd_hold}
	if len(sys.argv) < 2 or sys.argv[1] not in cmds:
		sys.exit(__doc__)
	cmds[sys.argv[1]](sys.argv[2:])


main()

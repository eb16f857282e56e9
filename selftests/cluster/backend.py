#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A backend of the cluster test that says who it is and who asked.

usage: backend.py NAME PORT

Every connection is greeted with one line "NAME PEER" (PEER is the
address the connection came from: the ringlb node that proxied it), and
every line the client sends afterwards is answered with the same line,
so a client holding a connection can tell it still works.
"""
import asyncio
import sys


async def serve(reader, writer, name):
	peer = writer.get_extra_info("peername")[0]
	line = f"{name} {peer}\n".encode()
	try:
		writer.write(line)
		await writer.drain()
		while await reader.readline():
			writer.write(line)
			await writer.drain()
	except (ConnectionError, OSError):
		pass
	finally:
		writer.close()


async def main():
	name, port = sys.argv[1], int(sys.argv[2])
	srv = await asyncio.start_server(
		lambda r, w: serve(r, w, name), "0.0.0.0", port,
		reuse_address=True, backlog=1024)
	print("listening", flush=True)
	async with srv:
		await srv.serve_forever()


asyncio.run(main())

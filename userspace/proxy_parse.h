/* SPDX-License-Identifier: MIT */
/*
 * PROXY protocol headers received from a peer (a load balancer in front
 * of ringlb), per HAProxy's proxy-protocol.txt: v1 (one text line) and
 * v2 (binary, with TLVs). The bytes are untrusted: the parser is strict
 * and bounded, and fuzzed (fuzz/fuzz_proxy_parse.c).
 */
#ifndef RINGLB_PROXY_PARSE_H
#define RINGLB_PROXY_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* a header longer than this (v2 with its TLVs) is refused */
#define PP_RECV_MAX	1024
#define PP_V1_MAX	107	/* the spec's bound, CRLF included */

/* which versions a listener takes: accept-proxy = off | v1 | v2 | any */
enum { PP_ACCEPT_OFF, PP_ACCEPT_V1, PP_ACCEPT_V2, PP_ACCEPT_ANY };

struct pp_info {
	int version;			/* 1 or 2 */
	/*
	 * true: no client address in it (v2 LOCAL, v1 UNKNOWN, v2 UNSPEC
	 * or AF_UNIX): the connection's own peer stands
	 */
	bool local;
	struct sockaddr_storage src, dst;
	socklen_t addr_len;
	/* v2: the TLVs, at this offset in the header */
	uint16_t tlv_off, tlv_len;
};

/*
 * Parse the header at the start of @buf, @len bytes received so far,
 * taking only the versions in @accept. Returns the header's length once
 * it is whole (and fills @pi), 0 while more bytes are needed, or
 * -EINVAL with *@why saying what is wrong.
 *
 * While it returns 0, every byte of @buf belongs to the header: a caller
 * can consume what it peeked without eating the client's own bytes.
 */
int pp_parse(const uint8_t *buf, size_t len, int accept, struct pp_info *pi,
	     const char **why);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Before a connection goes to a server: reading what a listener wants
 * from its client first (accept-proxy: a PROXY protocol header), with
 * a deadline (inspect-timeout). Engine-neutral: an engine calls
 * conn_inspect() whenever the client is readable, and connects once it
 * returns 1.
 */
#ifndef RINGLB_INSPECT_H
#define RINGLB_INSPECT_H

#include <stdbool.h>
#include <stdint.h>

#include "proxy_parse.h"

struct worker;
struct conn;

/* what a connection keeps of its header, from accept to its end */
struct pp_state {
	uint16_t have;			/* header bytes consumed so far */
	struct pp_info info;
	uint8_t hdr[PP_RECV_MAX];
};

/* does @c's listener want anything read before connecting? */
bool conn_wants_inspect(struct worker *w, struct conn *c);
/*
 * Start inspecting @c (state CONN_INSPECT), refusing a peer that may
 * not send a header. Returns 0, or -errno with the end reason set.
 */
int conn_inspect_start(struct worker *w, struct conn *c);
/*
 * Read what the client sent so far, never a byte past the header.
 * Returns 1 once the header is whole (the client's address replaced by
 * the one it carries, and the client admitted as conn_admit() does),
 * 0 while more is needed, or -errno with the end reason set.
 */
int conn_inspect(struct worker *w, struct conn *c);
/* the deadline, from conn->t_start: true when @c ran out of it */
bool conn_inspect_expired(struct worker *w, struct conn *c);

#endif

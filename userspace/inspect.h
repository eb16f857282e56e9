/* SPDX-License-Identifier: MIT */
/*
 * Before a connection goes to a server: reading what a listener wants
 * from its client first, with a deadline (inspect-timeout): a PROXY
 * protocol header (accept-proxy, consumed), then the TLS ClientHello
 * (sni-backend, only peeked: the server gets it whole). Engine-neutral: an engine calls
 * conn_inspect() whenever the client is readable, and connects once it
 * returns 1.
 */
#ifndef RINGLB_INSPECT_H
#define RINGLB_INSPECT_H

#include <stdbool.h>
#include <stdint.h>

#include "proxy_parse.h"
#include "sni_parse.h"

struct worker;
struct conn;
struct listener;
struct backend;

/* what a connection keeps of its inspection, from accept to its end */
struct pp_state {
	bool pp_done;			/* the PROXY header is in (or none due) */
	bool sni_done;			/* the ClientHello was read */
	uint16_t have;			/* header bytes consumed so far */
	struct pp_info info;
	/* ClientHello bytes peeked (never consumed) while it is read */
	uint8_t *peek;
	uint32_t peeked;		/* by the last look */
	bool lowat;			/* SO_RCVLOWAT raised meanwhile */
	char sni[SNI_NAME_MAX + 1];	/* the server name it asked for */
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
/* the backend for server name @name on @ln, or NULL for its default */
struct backend *sni_route(const struct listener *ln, const char *name);

#endif

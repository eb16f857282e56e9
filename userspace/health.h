/* SPDX-License-Identifier: MIT */
/*
 * Server health: active TCP checks run inside worker 0's event loop (an
 * io_uring connect + link timeout, or a non-blocking connect in epoll),
 * one per server per interval; passive health counts connects that
 * failed, and connections the server reset, in a row on live traffic
 * from any worker. Both feed the same up/down state.
 */
#ifndef RINGLB_HEALTH_H
#define RINGLB_HEALTH_H

#include <stdbool.h>

#include "config.h"

struct worker;

/* The encoding of a check in user_data / epoll data: backend and server. */
#define HC_IDX(b, s)	((b) << 8 | (s))
#define HC_BE(i)	((i) >> 8)
#define HC_SRV(i)	((i) & 0xff)

/*
 * Called on each tick of the checking worker; @start launches one check
 * and returns 0, or -errno when it could not (counted as a failure).
 */
void health_tick(struct worker *w,
		 int (*start)(struct worker *w, unsigned int be,
			      unsigned int srv));
void health_result(struct worker *w, struct backend *be, struct server *srv,
		   bool ok, const char *why);
void server_connect_result(struct worker *w, struct backend *be,
			   struct server *srv, bool ok);
/* a server given by name resolved for the first time */
void server_found(struct backend *be, struct server *srv);
/*
 * An established connection ended; @reset: the server reset it; @fed:
 * the server had been sent client bytes by then.
 */
void server_conn_ended(struct worker *w, struct backend *be,
		       struct server *srv, bool reset, bool fed);
void server_set_admin(struct backend *be, struct server *srv, bool disabled);
void server_set_weight(struct backend *be, struct server *srv,
		       unsigned int weight);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Servers given by name (server = NAME HOST:PORT): resolved with c-ares
 * when a generation starts, then again every resolve-every ms by a
 * thread of the generation's own, never by a worker. A new address takes
 * effect for new connections; a failed lookup keeps the last good one.
 */
#ifndef RINGLB_RESOLVER_H
#define RINGLB_RESOLVER_H

#include "config.h"

struct resolver;

/*
 * Resolve every named server of @cfg once (waiting for the answers, up
 * to a few seconds), then keep them fresh from a thread. NULL when
 * @cfg names none, or when the resolver could not start (said).
 */
struct resolver *resolver_start(struct config *cfg);
void resolver_stop(struct resolver *r);

#endif

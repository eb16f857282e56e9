/* SPDX-License-Identifier: MIT */
/*
 * The text of a `_getsocks` reply, as the new process reads it from
 * whatever answers on the socket given to -x: one header line, then one
 * line per listening socket, then "end". The descriptors follow it, one
 * per "sock" line and in the same order (handover.c). What is read here
 * is only a description: every received descriptor is checked with
 * getsockname() before it is used. Untrusted (the path may name any
 * socket): strict, bounded, fuzzed (fuzz/fuzz_handover.c).
 *
 *   ringlb-sockets 1 PID COUNT
 *   sock WORKER ADDR LISTENER
 *   ...
 *   metrics ADDR			(when it has a metrics port)
 *   end
 *
 * COUNT counts every line between the header and "end".
 */
#ifndef RINGLB_HANDOVER_PARSE_H
#define RINGLB_HANDOVER_PARSE_H

#include <stddef.h>
#include <sys/types.h>

#include "addr.h"
#include "config.h"

#define HANDOVER_VERSION	1
/* more would not be one ringlb's: threads x addresses, both bounded */
#define HANDOVER_SOCKS_MAX	65536
#define HANDOVER_WORKER_MAX	4096

struct handover_sock {
	bool metrics;			/* the metrics port, not a listener */
	unsigned int worker;
	struct addr addr;
	char listener[NAME_MAX_LEN];
};

/* the header: 0 and *@pid, *@count, or -EINVAL (-EPROTO: other version) */
int handover_parse_header(const char *line, size_t len, pid_t *pid,
			  unsigned int *count);
/* one "sock" line (no newline): 0 or -EINVAL */
int handover_parse_sock(const char *line, size_t len,
			struct handover_sock *out);
/* one "metrics" line (no newline): 0 or -EINVAL */
int handover_parse_metrics(const char *line, size_t len,
			   struct handover_sock *out);

#endif /* RINGLB_HANDOVER_PARSE_H */

/* SPDX-License-Identifier: MIT */
/*
 * Per-worker counters. Each has one writer (its worker) and is read by
 * the main thread for the stats line, so a relaxed load + store pair is
 * enough: no lock prefix on the hot path, no torn 64-bit reads.
 */
#ifndef RINGLB_STATS_H
#define RINGLB_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#define WORKER_STATS(X)							\
	X(conns_total)		/* clients accepted */			\
	X(conns_active)		/* gauge */				\
	X(conns_established)	/* backend connected */			\
	X(bytes_up)		/* client -> server */			\
	X(bytes_down)		/* server -> client */			\
	X(connect_errors)	/* refused, unreachable, timed out */	\
	X(connect_timeouts)						\
	X(connect_local_errors)	/* EAGAIN, EADDRNOTAVAIL...: not the	\
				 * server's fault */			\
	X(connect_retries)	/* rounds over the servers again */	\
	X(no_server)		/* clients closed: no server left */	\
	X(accept_errors)						\
	X(conns_denied)		/* refused by allow/deny */		\
	X(conns_limited)	/* refused: per-source limit */		\
	X(conns_rate_limited)	/* refused: per-source rate */		\
	X(conns_bad_proxy)	/* closed: bad PROXY header */		\
	X(conns_bad_tls)	/* closed: bad TLS ClientHello */	\
	X(inspect_timeouts)	/* closed: no PROXY header in time */	\
	X(idle_timeouts)						\
	X(client_timeouts)						\
	X(server_timeouts)						\
	X(write_timeouts)						\
	X(resets)		/* connections ended by a reset */	\
	X(uring_sqes)		/* SQEs handed to the kernel */		\
	X(uring_enter)		/* io_uring_enter calls */		\
	X(uring_cqes)		/* CQEs reaped */			\
	X(uring_sq_full)	/* SQ full: submitted early */		\
	X(uring_submit_errors)	/* io_uring_enter refused a submit */	\
	X(uring_enobufs)	/* provided buffer ring ran dry */	\
	X(reserve_copies)	/* chunks moved through a private	\
				 * buffer: no ring buffer or pipe */	\
	X(splice_eagain)	/* splice found nothing to move */	\
	X(splice_switches)	/* auto: bulk directions to splice */	\
	X(epoll_waits)		/* epoll_wait calls */			\
	X(syscalls_io)		/* epoll: read/write/splice calls */

struct worker_stats {
#define X(name) _Atomic uint64_t name;
	WORKER_STATS(X)
#undef X
};

#define STAT_ADD(w, name, n)						\
	atomic_store_explicit(&(w)->stats.name,				\
		atomic_load_explicit(&(w)->stats.name,			\
				     memory_order_relaxed) + (n),	\
		memory_order_relaxed)
#define STAT_INC(w, name)	STAT_ADD(w, name, 1)
#define STAT_DEC(w, name)	STAT_ADD(w, name, (uint64_t)-1)
#define STAT_GET(w, name)						\
	atomic_load_explicit(&(w)->stats.name, memory_order_relaxed)

#endif

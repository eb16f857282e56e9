/* SPDX-License-Identifier: MIT */
/*
 * The control plane: the admin socket, the Prometheus endpoint, and what
 * they report. It runs in the main thread's poll loop and never blocks
 * it (control_io.c); workers are never blocked by it either: figures are
 * read from atomics, and the one question only a worker can answer (its
 * connection list) is posted with worker_request_post() and its answer
 * collected when it is there.
 */
#ifndef RINGLB_CONTROL_H
#define RINGLB_CONTROL_H

#include <poll.h>
#include <stdio.h>
#include <time.h>

#include "config.h"
#include "stats.h"
#include "worker.h"

/* One generation of workers and the configuration they run. */
struct resolver;

struct generation {
	struct config *cfg;
	struct worker *workers;
	unsigned int nworkers;
	bool draining;			/* replaced by a reload, or stopping */
	bool held;			/* no accepts yet: group_release() */
	uint64_t held_since;		/* clock_ms() of the reload */
	uint64_t stop_until;		/* clock_ms() the drain ends by */
	bool joined;			/* threads joined */
	struct resolver *res;		/* servers given by name, or NULL */
	struct generation *next;
};

enum ctl_endpoint {
	CTL_ADMIN,
	CTL_METRICS,
	CTL_NENDPOINTS,
};

struct runtime {
	struct generation *groups;		/* newest first */
	struct worker_stats retired;	/* figures of groups that exited */
	const struct engine *engine;
	enum forward_kind forward;
	uint64_t started_ms;
	struct timespec started_wall;	/* CLOCK_REALTIME at start-up */
	uint64_t reloads, reload_failures;
	/* control clients closed over the cap, and cut by the deadline */
	uint64_t ctl_refused[CTL_NENDPOINTS];
	uint64_t ctl_timeouts[CTL_NENDPOINTS];
	bool drain_requested;
	bool stopping;			/* draining to exit: SIGTERM, drain */
	/*
	 * `withdraw`: the health answer says 503 while ringlb serves on,
	 * so a routing daemon stops announcing this node before it drains.
	 */
	bool withdrawn;
	bool retire_requested;		/* _retire: a new process took over */
};

void stats_total(struct runtime *rt, struct worker_stats *t);

/* admin_command()'s results besides 0 (the reply is complete) */
#define ADMIN_CONNS		1	/* show conns */
#define ADMIN_CONNS_JSON	2	/* show conns --json */
/*
 * Handle one admin command line; the reply goes to @out. "show conns"
 * needs every worker's connection list, which the caller collects
 * without waiting (control_io.c): it returns ADMIN_CONNS or
 * ADMIN_CONNS_JSON, and the caller writes the reply with conns_show().
 */
int admin_command(struct runtime *rt, char *line, FILE *out);
/* the show conns reply from @n workers' worker_request() answers */
void conns_show(FILE *out, bool json, char *const *dumps, unsigned int n);
void metrics_write(struct runtime *rt, FILE *out);
/*
 * What `show health` and GET /health say: NULL while this node should
 * be announced (serving, not withdrawn, not draining, a usable server
 * in every backend), else the reason it should not, for a human.
 */
const char *health_refusal(struct runtime *rt, char *buf, size_t len);
void stats_log(struct runtime *rt);

/* ---- serving (control_io.c) -------------------------------------------- */

/*
 * At most this many clients per endpoint at once; one more is told so
 * and closed. Each has CTL_DEADLINE_MS from accept to its last reply
 * byte, or it is closed.
 */
#define CTL_CLIENTS_MAX		16
#define CTL_DEADLINE_MS		5000
#define CTL_REQUEST_MAX		4096	/* bytes, newline included */
/* listening sockets + clients: what control_poll_fds() may fill */
#define CTL_POLL_MAX		(CTL_NENDPOINTS * (1 + CTL_CLIENTS_MAX))

struct control;

/*
 * Bind the admin socket and the metrics port of @cfg, or take
 * @metrics_fd (>= 0: inherited with -x, bound there already; it is
 * closed on failure). Returns NULL after logging why. Call before dropping privileges: the listening
 * sockets are all the daemon needs to keep.
 */
struct control *control_open(struct runtime *rt, const struct config *cfg,
			     int metrics_fd);
/* closes every client and both sockets, removes the admin socket */
void control_close(struct control *ctl);
/*
 * The poll set: fills up to CTL_POLL_MAX entries of @pfd and returns
 * how many; lowers *@timeout_ms (-1: none) to the nearest deadline.
 */
unsigned int control_poll_fds(struct control *ctl, struct pollfd *pfd,
			      int *timeout_ms);
/* serve what poll() reported in the @n entries control_poll_fds() filled */
void control_serve(struct control *ctl, const struct pollfd *pfd,
		   unsigned int n);
/*
 * True while workers hold an unanswered request of ours: their
 * generation must not be freed until it is over (at most 1 s).
 */
bool control_busy(const struct control *ctl);

#endif

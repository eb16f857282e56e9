/* SPDX-License-Identifier: MIT */
/*
 * The control plane, run by the main thread: the admin socket, the
 * Prometheus endpoint, and what they report. Workers are never blocked
 * by it: figures are read from atomics, and the few questions only a
 * worker can answer (its connection list) go through worker_request().
 */
#ifndef RINGLB_CONTROL_H
#define RINGLB_CONTROL_H

#include <stdio.h>

#include "config.h"
#include "stats.h"
#include "worker.h"

/* One generation of workers and the configuration they run. */
struct generation {
	struct config *cfg;
	struct worker *workers;
	unsigned int nworkers;
	bool draining;			/* replaced by a reload, or stopping */
	bool joined;			/* threads joined */
	struct generation *next;
};

struct runtime {
	struct generation *groups;		/* newest first */
	struct worker_stats retired;	/* figures of groups that exited */
	const struct engine *engine;
	enum forward_kind forward;
	uint64_t started_ms;
	uint64_t reloads, reload_failures;
	bool drain_requested;
};

void stats_total(struct runtime *rt, struct worker_stats *t);
/* Handle one admin command line; the reply goes to @out. */
void admin_command(struct runtime *rt, char *line, FILE *out);
void metrics_write(struct runtime *rt, FILE *out);
void stats_log(struct runtime *rt);

#endif

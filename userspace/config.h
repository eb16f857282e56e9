/* SPDX-License-Identifier: MIT */
/*
 * The configuration: listeners, backends and their servers, and the
 * global knobs. The command line fills it today; a config file fills the
 * same structure later, so nothing past parsing knows where it came from.
 * Live per-server figures are atomics because every worker updates them.
 */
#ifndef RINGLB_CONFIG_H
#define RINGLB_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "addr.h"

#define NAME_MAX_LEN	32
#define MAX_SERVERS	256	/* the "tried" bitmap in struct conn */

enum engine_kind {
	ENGINE_AUTO,
	ENGINE_URING,
	ENGINE_EPOLL,
};

enum forward_kind {
	FORWARD_AUTO,
	FORWARD_SPLICE,
	FORWARD_BUFFERS,
};

struct server {
	char name[NAME_MAX_LEN];
	struct addr addr;
	char addr_str[ADDR_STRLEN];
	unsigned int weight;

	atomic_uint active;		/* connections using it now */
	atomic_ulong conns_total;	/* connections established */
	atomic_ulong connect_errors;	/* refused, unreachable, timed out */
};

struct backend {
	char name[NAME_MAX_LEN];
	const char *balance;		/* algorithm name, see balance.h */
	struct server *servers;
	unsigned int nservers;
};

struct listener {
	char name[NAME_MAX_LEN];
	struct addr addr;
	char addr_str[ADDR_STRLEN];
	struct backend *backend;
};

struct config {
	struct listener *listeners;
	unsigned int nlisteners;
	struct backend *backends;
	unsigned int nbackends;

	unsigned int threads;
	enum engine_kind engine;
	enum forward_kind forward;
	unsigned int max_conns;		/* whole process; 0 = unlimited */
	unsigned int connect_timeout_ms;
	unsigned int idle_timeout_ms;	/* 0 = never */
	unsigned int drain_timeout_ms;

	/* data-path tuning */
	unsigned int pipe_size;		/* bytes per splice pipe */
	unsigned int buf_count;		/* provided buffers per worker */
	unsigned int buf_size;		/* bytes per provided buffer */
	bool zerocopy;			/* send_zc from registered buffers */
	unsigned int ring_entries;
};

int config_from_args(struct config *cfg, int argc, char **argv);
void config_free(struct config *cfg);

#endif

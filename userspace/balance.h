/* SPDX-License-Identifier: MIT */
/*
 * Balancing algorithms behind one interface. Each worker owns one
 * struct balancer per backend, so picking never takes a lock; what
 * workers share (active connection counts) lives in struct server.
 */
#ifndef RINGLB_BALANCE_H
#define RINGLB_BALANCE_H

#include <stdint.h>

#include "config.h"

struct balancer;

/* Servers already tried for this client; a pick never returns them. */
struct server_set {
	uint64_t bits[MAX_SERVERS / 64];
};

static inline void server_set_add(struct server_set *s, unsigned int i)
{
	s->bits[i / 64] |= 1ULL << (i % 64);
}

static inline int server_set_has(const struct server_set *s, unsigned int i)
{
	return !!(s->bits[i / 64] & (1ULL << (i % 64)));
}

struct balance_algo {
	const char *name;
	/* returns a server index not in @tried, or -1 when none is left */
	int (*pick)(struct balancer *b, const struct server_set *tried);
};

struct balancer {
	const struct balance_algo *algo;
	struct backend *be;
	unsigned int rr_next;
	int *wrr_current;	/* smooth WRR running weights, one per server */
};

const struct balance_algo *balance_find(const char *name);
int balancer_init(struct balancer *b, struct backend *be);
void balancer_fini(struct balancer *b);

static inline int balancer_pick(struct balancer *b,
				const struct server_set *tried)
{
	return b->algo->pick(b, tried);
}

#endif

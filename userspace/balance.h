/* SPDX-License-Identifier: MIT */
/*
 * Balancing algorithms behind one interface. Each worker owns one
 * struct balancer per backend, so picking never takes a lock; what
 * workers share (active connections, weights, health and admin state)
 * lives in struct server as atomics.
 *
 * balancer_pick() first narrows the candidates: servers already tried
 * for this client, disabled, down or weighted 0 are out; backups are in
 * only when no primary is left. The algorithm then chooses among the
 * rest.
 */
#ifndef RINGLB_BALANCE_H
#define RINGLB_BALANCE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "config.h"

#define BALANCE_NAMES "rr, wrr, leastconn, srchash, maglev, p2c"
#define MAGLEV_SIZE 65537	/* prime, >> MAX_SERVERS */

struct balancer;

/* A set of server indices (tried, or excluded from a pick). */
struct server_set {
	uint64_t bits[MAX_SERVERS / 64];
};

static inline void server_set_add(struct server_set *s, unsigned int i)
{
	s->bits[i / 64] |= 1ULL << (i % 64);
}

static inline void server_set_del(struct server_set *s, unsigned int i)
{
	s->bits[i / 64] &= ~(1ULL << (i % 64));
}

static inline int server_set_has(const struct server_set *s, unsigned int i)
{
	return !!(s->bits[i / 64] & (1ULL << (i % 64)));
}

static inline bool server_set_empty(const struct server_set *s)
{
	unsigned int i;

	for (i = 0; i < MAX_SERVERS / 64; i++)
		if (s->bits[i])
			return false;
	return true;
}

static inline void server_set_clear(struct server_set *s)
{
	memset(s, 0, sizeof(*s));
}

struct balance_algo {
	const char *name;
	/*
	 * Returns a server index not in @excl, or -1. @hash is the client's
	 * address hash, for the algorithms that keep a client on a server.
	 */
	int (*pick)(struct balancer *b, const struct server_set *excl,
		    uint32_t hash);
};

struct balancer {
	const struct balance_algo *algo;
	struct backend *be;
	unsigned int rr_next;
	int *wrr_current;	/* smooth WRR running weights, one per server */
	uint64_t rng;		/* p2c */
	int16_t *maglev;	/* lookup table, MAGLEV_SIZE entries */
	unsigned int maglev_gen;	/* backend state_gen it was built for */
	uint64_t now_ms;	/* clock_ms() of this pick, for slow start */
};

const struct balance_algo *balance_find(const char *name);
int balancer_init(struct balancer *b, struct backend *be);
void balancer_fini(struct balancer *b);
int balancer_pick(struct balancer *b, const struct server_set *tried,
		  uint32_t hash, uint64_t now_ms);
/*
 * The weight a server has at @now_ms: its weight, or during slow start
 * a share of it that grows with the time since it came up (at least 1).
 */
unsigned int server_weight_now(const struct backend *be, struct server *s,
			       uint64_t now_ms);
/* do @name's picks follow weights that change from pick to pick? */
bool balance_weighted_live(const char *name);
/* usable right now: enabled, up, weight > 0 */
bool server_usable(struct server *s);
uint32_t addr_hash(const struct sockaddr *sa);

#endif

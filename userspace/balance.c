// SPDX-License-Identifier: MIT
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "balance.h"

bool server_usable(struct server *s)
{
	return !atomic_load_explicit(&s->disabled, memory_order_relaxed) &&
	       atomic_load_explicit(&s->up, memory_order_relaxed) &&
	       atomic_load_explicit(&s->weight, memory_order_relaxed) > 0;
}

static unsigned int weight_of(struct server *s)
{
	return atomic_load_explicit(&s->weight, memory_order_relaxed);
}

unsigned int server_weight_now(const struct backend *be, struct server *s,
			       uint64_t now_ms)
{
	unsigned int w = weight_of(s);
	uint64_t from, el;

	if (!be->slow_start_ms || !w)
		return w;
	from = atomic_load_explicit(&s->ramp_start, memory_order_relaxed);
	if (!from || now_ms >= from + be->slow_start_ms)
		return w;
	el = now_ms > from ? now_ms - from : 0;
	/* as HAProxy's slowstart: a share in proportion, never 0 */
	w = (unsigned int)((w * el + be->slow_start_ms - 1) / be->slow_start_ms);
	return w ? w : 1;
}

/* what the algorithms that follow live weights see */
static unsigned int live_weight(const struct balancer *b, struct server *s)
{
	return server_weight_now(b->be, s, b->now_ms);
}

/*
 * Slow start ramps weights only where a changing weight just changes
 * shares: rr ignores weights, and moving srchash or maglev weights
 * pick by pick would move clients between servers.
 */
bool balance_weighted_live(const char *name)
{
	return !strcmp(name, "wrr") || !strcmp(name, "leastconn") ||
	       !strcmp(name, "p2c");
}

static unsigned int active_of(struct server *s)
{
	return atomic_load_explicit(&s->active, memory_order_relaxed);
}

static uint32_t fnv1a(const void *p, size_t n, uint32_t h)
{
	const unsigned char *c = p;

	while (n--)
		h = (h ^ *c++) * 16777619u;
	return h;
}

/* final avalanche (murmur3 fmix32) so nearby addresses spread out */
static uint32_t mix32(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/* Hash of the client's address, not its port: a client stays put. */
uint32_t addr_hash(const struct sockaddr *sa)
{
	uint32_t h = 2166136261u;

	if (sa->sa_family == AF_INET)
		h = fnv1a(&((const struct sockaddr_in *)sa)->sin_addr, 4, h);
	else if (sa->sa_family == AF_INET6)
		h = fnv1a(&((const struct sockaddr_in6 *)sa)->sin6_addr, 16, h);
	return mix32(h);
}

/* ---- rr ----------------------------------------------------------------- */

static int rr_pick(struct balancer *b, const struct server_set *excl,
		   uint32_t hash)
{
	unsigned int n = b->be->nservers, i;

	(void)hash;
	for (i = 0; i < n; i++) {
		unsigned int s = (b->rr_next + i) % n;

		if (!server_set_has(excl, s)) {
			b->rr_next = (s + 1) % n;
			return s;
		}
	}
	return -1;
}

/* ---- wrr ---------------------------------------------------------------- */

/*
 * Smooth weighted round-robin (the nginx algorithm): every pick adds each
 * server's weight to its running value, takes the largest, and subtracts
 * the total from the winner. Weights 5,1,1 give a a b a c a a rather than
 * a burst of five a's.
 */
static int wrr_pick(struct balancer *b, const struct server_set *excl,
		    uint32_t hash)
{
	struct backend *be = b->be;
	int total = 0, best = -1;
	unsigned int i;

	(void)hash;
	for (i = 0; i < be->nservers; i++) {
		int w;

		if (server_set_has(excl, i))
			continue;
		w = live_weight(b, &be->servers[i]);
		b->wrr_current[i] += w;
		total += w;
		if (best < 0 || b->wrr_current[i] > b->wrr_current[best])
			best = i;
	}
	if (best >= 0)
		b->wrr_current[best] -= total;
	return best;
}

/* ---- leastconn ------------------------------------------------------------ */

/* Fewest active connections per unit of weight; ties rotate. */
static int leastconn_pick(struct balancer *b, const struct server_set *excl,
			  uint32_t hash)
{
	struct backend *be = b->be;
	unsigned int n = be->nservers, i;
	uint64_t best_a = 0, best_w = 1;
	int best = -1;

	(void)hash;
	for (i = 0; i < n; i++) {
		unsigned int s = (b->rr_next + i) % n;
		uint64_t a, w;

		if (server_set_has(excl, s))
			continue;
		a = active_of(&be->servers[s]);
		w = live_weight(b, &be->servers[s]);
		/* a/w < best_a/best_w, without division */
		if (best < 0 || a * best_w < best_a * w) {
			best = s;
			best_a = a;
			best_w = w;
		}
	}
	if (best >= 0)
		b->rr_next = (best + 1) % n;
	return best;
}

/* ---- srchash ---------------------------------------------------------------- */

/*
 * The client's address hash over the candidates' weights. Not consistent
 * (a server going away moves everyone): use maglev for that.
 */
static int srchash_pick(struct balancer *b, const struct server_set *excl,
			uint32_t hash)
{
	struct backend *be = b->be;
	uint64_t total = 0, point;
	unsigned int i;

	for (i = 0; i < be->nservers; i++)
		if (!server_set_has(excl, i))
			total += weight_of(&be->servers[i]);
	if (!total)
		return -1;
	point = hash % total;
	for (i = 0; i < be->nservers; i++) {
		uint64_t w;

		if (server_set_has(excl, i))
			continue;
		w = weight_of(&be->servers[i]);
		if (point < w)
			return i;
		point -= w;
	}
	return -1;
}

/* ---- maglev ------------------------------------------------------------------ */

/*
 * Maglev consistent hashing (Eisenbud et al., NSDI 2016): each server
 * walks its own permutation of the table's slots, taking turns in
 * proportion to weight, until every slot is owned. Removing a server
 * only hands its own slots to others, so only its clients move. The
 * table covers the servers that are usable now and is rebuilt when the
 * backend's state generation changes.
 */
static void maglev_build(struct balancer *b, const struct server_set *excl)
{
	struct backend *be = b->be;
	uint32_t offset[MAX_SERVERS], skip[MAX_SERVERS], next[MAX_SERVERS];
	unsigned int i, filled = 0, n = be->nservers, maxw = 0;

	for (i = 0; i < MAGLEV_SIZE; i++)
		b->maglev[i] = -1;
	for (i = 0; i < n; i++) {
		uint32_t h = fnv1a(be->servers[i].name,
				   strlen(be->servers[i].name), 2166136261u);

		offset[i] = mix32(h) % MAGLEV_SIZE;
		skip[i] = mix32(h ^ 0x9e3779b9u) % (MAGLEV_SIZE - 1) + 1;
		next[i] = 0;
		if (!server_set_has(excl, i) &&
		    weight_of(&be->servers[i]) > maxw)
			maxw = weight_of(&be->servers[i]);
	}
	if (!maxw)
		return;
	while (filled < MAGLEV_SIZE) {
		for (i = 0; i < n && filled < MAGLEV_SIZE; i++) {
			unsigned int turns, t;

			if (server_set_has(excl, i))
				continue;
			turns = weight_of(&be->servers[i]);
			for (t = 0; t < turns && filled < MAGLEV_SIZE; t++) {
				uint32_t slot;

				do {
					slot = (offset[i] +
						(uint64_t)next[i] * skip[i]) %
					       MAGLEV_SIZE;
					next[i]++;
				} while (b->maglev[slot] >= 0);
				b->maglev[slot] = i;
				filled++;
			}
		}
	}
}

static int maglev_pick(struct balancer *b, const struct server_set *excl,
		       uint32_t hash)
{
	unsigned int gen = atomic_load(&b->be->state_gen), i;
	struct server_set unusable;
	uint32_t slot;

	if (!b->maglev) {
		b->maglev = malloc(MAGLEV_SIZE * sizeof(*b->maglev));
		if (!b->maglev)
			return rr_pick(b, excl, hash);
		b->maglev_gen = gen + 1;
	}
	if (b->maglev_gen != gen) {
		memset(&unusable, 0, sizeof(unusable));
		for (i = 0; i < b->be->nservers; i++)
			if (!server_usable(&b->be->servers[i]))
				server_set_add(&unusable, i);
		maglev_build(b, &unusable);
		b->maglev_gen = gen;
	}
	/* a tried (failed) server: walk on to the next owner in the table */
	slot = hash % MAGLEV_SIZE;
	for (i = 0; i < MAGLEV_SIZE; i++) {
		int s = b->maglev[(slot + i) % MAGLEV_SIZE];

		if (s >= 0 && !server_set_has(excl, s))
			return s;
		if (s < 0)
			break;
	}
	/* backups (not in the table) or nothing usable in it */
	return srchash_pick(b, excl, hash);
}

/* ---- p2c ---------------------------------------------------------------------- */

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

/* Power of two choices: two random candidates, the less loaded wins. */
static int p2c_pick(struct balancer *b, const struct server_set *excl,
		    uint32_t hash)
{
	struct backend *be = b->be;
	int cand[MAX_SERVERS], n = 0, x, y;
	unsigned int i;
	uint64_t ax, ay;

	(void)hash;
	for (i = 0; i < be->nservers; i++)
		if (!server_set_has(excl, i))
			cand[n++] = i;
	if (!n)
		return -1;
	if (n == 1)
		return cand[0];
	x = cand[xorshift(&b->rng) % n];
	do {
		y = cand[xorshift(&b->rng) % n];
	} while (y == x);
	ax = active_of(&be->servers[x]) *
	     (uint64_t)live_weight(b, &be->servers[y]);
	ay = active_of(&be->servers[y]) *
	     (uint64_t)live_weight(b, &be->servers[x]);
	if (ax == ay)
		return xorshift(&b->rng) & 1 ? x : y;
	return ax < ay ? x : y;
}

static const struct balance_algo algos[] = {
	{ .name = "rr", .pick = rr_pick },
	{ .name = "wrr", .pick = wrr_pick },
	{ .name = "leastconn", .pick = leastconn_pick },
	{ .name = "srchash", .pick = srchash_pick },
	{ .name = "maglev", .pick = maglev_pick },
	{ .name = "p2c", .pick = p2c_pick },
};

const struct balance_algo *balance_find(const char *name)
{
	unsigned int i;

	for (i = 0; i < sizeof(algos) / sizeof(algos[0]); i++)
		if (!strcmp(algos[i].name, name))
			return &algos[i];
	return NULL;
}

int balancer_init(struct balancer *b, struct backend *be)
{
	memset(b, 0, sizeof(*b));
	b->algo = balance_find(be->balance);
	if (!b->algo)
		return -EINVAL;
	b->be = be;
	b->rng = 0x9e3779b97f4a7c15ULL ^ (uintptr_t)b;
	b->wrr_current = calloc(be->nservers ? be->nservers : 1,
				sizeof(*b->wrr_current));
	if (!b->wrr_current)
		return -ENOMEM;
	return 0;
}

void balancer_fini(struct balancer *b)
{
	free(b->wrr_current);
	free(b->maglev);
	b->wrr_current = NULL;
	b->maglev = NULL;
}

int balancer_pick(struct balancer *b, const struct server_set *tried,
		  uint32_t hash, uint64_t now_ms)
{
	struct backend *be = b->be;
	struct server_set excl = *tried;
	bool primary_left = false;
	unsigned int i;

	b->now_ms = now_ms;
	for (i = 0; i < be->nservers; i++) {
		if (server_set_has(&excl, i))
			continue;
		if (!server_usable(&be->servers[i]))
			server_set_add(&excl, i);
		else if (!be->servers[i].backup)
			primary_left = true;
	}
	/* backups serve only when no primary can */
	for (i = 0; i < be->nservers; i++)
		if (be->servers[i].backup == primary_left)
			server_set_add(&excl, i);
	return b->algo->pick(b, &excl, hash);
}

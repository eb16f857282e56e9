// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "balance.h"

static int rr_pick(struct balancer *b, const struct server_set *tried)
{
	unsigned int n = b->be->nservers, i;

	for (i = 0; i < n; i++) {
		unsigned int s = (b->rr_next + i) % n;

		if (!server_set_has(tried, s)) {
			b->rr_next = (s + 1) % n;
			return s;
		}
	}
	return -1;
}

/*
 * Smooth weighted round-robin (the nginx algorithm): every pick adds each
 * server's weight to its running value, takes the largest, and subtracts
 * the total from the winner. Weights 5,1,1 give a a b a c a a rather than
 * a burst of five a's, which keeps a heavy server from seeing bursts.
 */
static int wrr_pick(struct balancer *b, const struct server_set *tried)
{
	struct backend *be = b->be;
	int total = 0, best = -1;
	unsigned int i;

	for (i = 0; i < be->nservers; i++) {
		if (server_set_has(tried, i))
			continue;
		b->wrr_current[i] += be->servers[i].weight;
		total += be->servers[i].weight;
		if (best < 0 || b->wrr_current[i] > b->wrr_current[best])
			best = i;
	}
	if (best >= 0)
		b->wrr_current[best] -= total;
	return best;
}

static const struct balance_algo algos[] = {
	{ .name = "rr", .pick = rr_pick },
	{ .name = "wrr", .pick = wrr_pick },
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
	b->wrr_current = calloc(be->nservers ? be->nservers : 1,
				sizeof(*b->wrr_current));
	if (!b->wrr_current)
		return -ENOMEM;
	return 0;
}

void balancer_fini(struct balancer *b)
{
	free(b->wrr_current);
	b->wrr_current = NULL;
}

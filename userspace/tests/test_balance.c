// SPDX-License-Identifier: GPL-2.0
/* Unit tests for the balancing algorithms (kselftest harness). */
#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"
#include "balance.h"

#define PICKS 10000

FIXTURE(bal)
{
	struct backend be;
	struct server srv[4];
	struct balancer b;
};

FIXTURE_SETUP(bal)
{
	unsigned int i;

	memset(self, 0, sizeof(*self));
	for (i = 0; i < 4; i++) {
		atomic_init(&self->srv[i].weight, i + 1);	/* 1, 2, 3, 4 */
		atomic_init(&self->srv[i].up, true);
		snprintf(self->srv[i].name, sizeof(self->srv[i].name), "s%u", i);
	}
	self->be.servers = self->srv;
	self->be.nservers = 4;
}

FIXTURE_TEARDOWN(bal)
{
	balancer_fini(&self->b);
}

static void count_picks(struct balancer *b, unsigned int *hits)
{
	struct server_set none;
	unsigned int i;

	memset(&none, 0, sizeof(none));
	for (i = 0; i < PICKS; i++) {
		int s = balancer_pick(b, &none, (uint32_t)i * 2654435761u, 0);

		if (s >= 0)
			hits[s]++;
	}
}

TEST_F(bal, rr_even)
{
	unsigned int hits[4] = { 0 }, i;

	strcpy(self->be.balance, "rr");
	ASSERT_EQ(0, balancer_init(&self->b, &self->be));
	count_picks(&self->b, hits);
	for (i = 0; i < 4; i++)
		EXPECT_EQ(PICKS / 4, hits[i]);
}

TEST_F(bal, wrr_proportional)
{
	unsigned int hits[4] = { 0 }, i;

	strcpy(self->be.balance, "wrr");
	ASSERT_EQ(0, balancer_init(&self->b, &self->be));
	count_picks(&self->b, hits);
	/* smooth WRR is exact over every full cycle of sum(weights) = 10 */
	for (i = 0; i < 4; i++)
		EXPECT_EQ(PICKS * (i + 1) / 10, hits[i]);
}

TEST_F(bal, wrr_smooth)
{
	struct server_set none;
	int seq[7], i;

	/* weights 5,1,1: a a b a c a a, not five a's in a row */
	atomic_store(&self->srv[0].weight, 5);
	atomic_store(&self->srv[1].weight, 1);
	atomic_store(&self->srv[2].weight, 1);
	self->be.nservers = 3;
	strcpy(self->be.balance, "wrr");
	ASSERT_EQ(0, balancer_init(&self->b, &self->be));
	memset(&none, 0, sizeof(none));
	for (i = 0; i < 7; i++)
		seq[i] = balancer_pick(&self->b, &none, 0, 0);
	EXPECT_EQ(0, seq[0]);
	EXPECT_EQ(0, seq[1]);
	EXPECT_EQ(1, seq[2]);
	EXPECT_EQ(0, seq[3]);
	EXPECT_EQ(2, seq[4]);
	EXPECT_EQ(0, seq[5]);
	EXPECT_EQ(0, seq[6]);
}

TEST_F(bal, tried_excluded)
{
	const char *algos[] = { "rr", "wrr", "leastconn", "srchash", "maglev", "p2c" };
	unsigned int a;

	for (a = 0; a < 6; a++) {
		struct server_set tried;
		int s, n = 0;

		strcpy(self->be.balance, algos[a]);
		balancer_fini(&self->b);
		ASSERT_EQ(0, balancer_init(&self->b, &self->be));
		memset(&tried, 0, sizeof(tried));
		/* each server exactly once, then nothing: bounded retries */
		while ((s = balancer_pick(&self->b, &tried, 7, 0)) >= 0) {
			ASSERT_FALSE(server_set_has(&tried, s));
			server_set_add(&tried, s);
			n++;
			ASSERT_LE(n, 4);
		}
		EXPECT_EQ(4, n);
	}
}

/* hash-based algorithms: every share within 20% of its weight's share */
static void expect_weighted(struct __test_metadata *_metadata,
			    const unsigned int *hits)
{
	unsigned int i;

	for (i = 0; i < 4; i++) {
		double want = PICKS * (i + 1) / 10.0;

		EXPECT_LT(fabs(hits[i] - want), want * 0.2) {
			TH_LOG("server %u: %u picks, want ~%.0f", i, hits[i],
			       want);
		}
	}
}

TEST_F(bal, srchash_weighted)
{
	unsigned int hits[4] = { 0 };

	strcpy(self->be.balance, "srchash");
	ASSERT_EQ(0, balancer_init(&self->b, &self->be));
	count_picks(&self->b, hits);
	expect_weighted(_metadata, hits);
}

TEST_F(bal, maglev_weighted)
{
	unsigned int hits[4] = { 0 };

	strcpy(self->be.balance, "maglev");
	ASSERT_EQ(0, balancer_init(&self->b, &self->be));
	count_picks(&self->b, hits);
	expect_weighted(_metadata, hits);
}

/* Removing a server moves only the clients it had. */
TEST_F(bal, maglev_minimal_disruption)
{
	static int before[PICKS];
	struct server_set none;
	unsigned int i, moved = 0, had = 0;

	strcpy(self->be.balance, "maglev");
	ASSERT_EQ(0, balancer_init(&self->b, &self->be));
	memset(&none, 0, sizeof(none));
	for (i = 0; i < PICKS; i++)
		before[i] = balancer_pick(&self->b, &none, i * 2654435761u, 0);
	atomic_store(&self->srv[2].up, false);
	atomic_fetch_add(&self->be.state_gen, 1);
	for (i = 0; i < PICKS; i++) {
		int s = balancer_pick(&self->b, &none, i * 2654435761u, 0);

		ASSERT_NE(2, s);
		if (before[i] == 2)
			had++;
		else if (s != before[i])
			moved++;
	}
	EXPECT_GT(had, 0);
	/* Maglev allows a little churn; well under 2% of the others */
	EXPECT_LT(moved, (PICKS - had) / 50) {
		TH_LOG("%u of %u clients of other servers moved", moved,
		       PICKS - had);
	}
}

/*
 * Nodes behind ECMP: two ringlb processes with the same server list
 * (names, weights, order) build the same table, whatever else differs
 * (where their structures live, what they picked before), so a client
 * gets the same server through either (Documentation/deploy.rst).
 */
TEST_F(bal, maglev_same_on_every_node)
{
	struct server *srv2 = calloc(4, sizeof(*srv2));
	struct backend *be2 = calloc(1, sizeof(*be2));
	struct balancer b2;
	struct server_set none;
	unsigned int i, differ = 0;

	ASSERT_NE(NULL, srv2);
	ASSERT_NE(NULL, be2);
	for (i = 0; i < 4; i++) {
		atomic_init(&srv2[i].weight, i + 1);
		atomic_init(&srv2[i].up, true);
		strcpy(srv2[i].name, self->srv[i].name);
	}
	be2->servers = srv2;
	be2->nservers = 4;
	strcpy(self->be.balance, "maglev");
	strcpy(be2->balance, "maglev");
	ASSERT_EQ(0, balancer_init(&self->b, &self->be));
	ASSERT_EQ(0, balancer_init(&b2, be2));
	memset(&none, 0, sizeof(none));
	/* one node has served others before: no state of that matters */
	for (i = 0; i < 1000; i++)
		balancer_pick(&self->b, &none, i * 40503u, 0);
	for (i = 0; i < PICKS; i++)
		differ += balancer_pick(&self->b, &none, i * 2654435761u, 0) !=
			  balancer_pick(&b2, &none, i * 2654435761u, 0);
	EXPECT_EQ(0, differ);
	balancer_fini(&b2);
	free(be2);
	free(srv2);
}

/* The client's address alone: a new connection's port changes nothing. */
TEST(addr_hash_ignores_port)
{
	struct sockaddr_in a = { .sin_family = AF_INET }, b;

	a.sin_addr.s_addr = htonl(0x0a010101);
	a.sin_port = htons(40000);
	b = a;
	b.sin_port = htons(50001);
	EXPECT_EQ(addr_hash((struct sockaddr *)&a),
		  addr_hash((struct sockaddr *)&b));
	b.sin_addr.s_addr = htonl(0x0a010102);
	EXPECT_NE(addr_hash((struct sockaddr *)&a),
		  addr_hash((struct sockaddr *)&b));
}

TEST_F(bal, srchash_sticky)
{
	struct server_set none;
	int first;
	unsigned int i;

	strcpy(self->be.balance, "srchash");
	ASSERT_EQ(0, balancer_init(&self->b, &self->be));
	memset(&none, 0, sizeof(none));
	first = balancer_pick(&self->b, &none, 12345, 0);
	for (i = 0; i < 100; i++)
		EXPECT_EQ(first, balancer_pick(&self->b, &none, 12345, 0));
}

TEST_F(bal, leastconn_prefers_idle)
{
	struct server_set none;
	unsigned int i;

	strcpy(self->be.balance, "leastconn");
	ASSERT_EQ(0, balancer_init(&self->b, &self->be));
	memset(&none, 0, sizeof(none));
	for (i = 0; i < 4; i++)
		atomic_store(&self->srv[i].active, 10 * (i + 1));
	atomic_store(&self->srv[0].active, 0);
	EXPECT_EQ(0, balancer_pick(&self->b, &none, 0, 0));
	/* per unit of weight: 4 active on weight 4 beats 2 on weight 1 */
	atomic_store(&self->srv[0].active, 2);
	atomic_store(&self->srv[3].active, 4);
	EXPECT_EQ(3, balancer_pick(&self->b, &none, 0, 0));
}

TEST_F(bal, p2c_balances_load)
{
	unsigned int hits[4] = { 0 }, i;
	struct server_set none;

	for (i = 0; i < 4; i++)
		atomic_store(&self->srv[i].weight, 1);
	strcpy(self->be.balance, "p2c");
	ASSERT_EQ(0, balancer_init(&self->b, &self->be));
	memset(&none, 0, sizeof(none));
	/* connections never close: p2c must keep the counts level */
	for (i = 0; i < PICKS; i++) {
		int s = balancer_pick(&self->b, &none, 0, 0);

		ASSERT_GE(s, 0);
		hits[s]++;
		atomic_fetch_add(&self->srv[s].active, 1);
	}
	for (i = 0; i < 4; i++)
		EXPECT_LT(fabs(hits[i] - PICKS / 4.0), PICKS / 4.0 * 0.05);
}

TEST_F(bal, backup_only_when_primaries_gone)
{
	struct server_set none;
	unsigned int i;

	strcpy(self->be.balance, "rr");
	self->srv[3].backup = true;
	ASSERT_EQ(0, balancer_init(&self->b, &self->be));
	memset(&none, 0, sizeof(none));
	for (i = 0; i < 100; i++)
		EXPECT_NE(3, balancer_pick(&self->b, &none, 0, 0));
	for (i = 0; i < 3; i++)
		atomic_store(&self->srv[i].up, false);
	EXPECT_EQ(3, balancer_pick(&self->b, &none, 0, 0));
	atomic_store(&self->srv[1].disabled, true);
	atomic_store(&self->srv[1].up, true);
	EXPECT_EQ(3, balancer_pick(&self->b, &none, 0, 0));
	atomic_store(&self->srv[1].disabled, false);
	EXPECT_EQ(1, balancer_pick(&self->b, &none, 0, 0));
}

/*
 * Slow start: a server that came up 1/4 of the ramp ago weighs a
 * quarter of its weight (rounded up, never 0), the full weight once
 * the ramp is over; and wrr's shares follow.
 */
TEST_F(bal, slow_start_ramp)
{
	unsigned int hits[4] = { 0 }, i;
	struct server_set none;

	for (i = 0; i < 4; i++)
		atomic_store(&self->srv[i].weight, 100);
	self->be.slow_start_ms = 1000;
	atomic_store(&self->srv[3].ramp_start, 10000);
	EXPECT_EQ(1, server_weight_now(&self->be, &self->srv[3], 10000));
	EXPECT_EQ(25, server_weight_now(&self->be, &self->srv[3], 10250));
	EXPECT_EQ(100, server_weight_now(&self->be, &self->srv[3], 11000));
	EXPECT_EQ(100, server_weight_now(&self->be, &self->srv[3], 99999));
	EXPECT_EQ(100, server_weight_now(&self->be, &self->srv[0], 10000));
	/* a clock behind the ramp's start (another worker's): the floor */
	EXPECT_EQ(1, server_weight_now(&self->be, &self->srv[3], 9999));
	atomic_store(&self->srv[3].weight, 0);
	EXPECT_EQ(0, server_weight_now(&self->be, &self->srv[3], 10250));
	atomic_store(&self->srv[3].weight, 100);

	strcpy(self->be.balance, "wrr");
	ASSERT_EQ(0, balancer_init(&self->b, &self->be));
	memset(&none, 0, sizeof(none));
	/* at 25 of 100: 25 picks in every 325 */
	for (i = 0; i < 3250; i++)
		hits[balancer_pick(&self->b, &none, 0, 10250)]++;
	EXPECT_EQ(250, hits[3]);
	EXPECT_EQ(1000, hits[0]);
	memset(hits, 0, sizeof(hits));
	for (i = 0; i < 4000; i++)
		hits[balancer_pick(&self->b, &none, 0, 11000)]++;
	for (i = 0; i < 4; i++)
		EXPECT_EQ(1000, hits[i]);
}

TEST_F(bal, unknown_algorithm)
{
	strcpy(self->be.balance, "nope");
	EXPECT_EQ(-EINVAL, balancer_init(&self->b, &self->be));
}

TEST_HARNESS_MAIN

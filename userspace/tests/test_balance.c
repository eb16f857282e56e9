// SPDX-License-Identifier: GPL-2.0
/* Unit tests for the balancing algorithms (kselftest harness). */
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
	for (i = 0; i < 4; i++)
		self->srv[i].weight = i + 1;	/* 1, 2, 3, 4 */
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
		int s = balancer_pick(b, &none);

		if (s >= 0)
			hits[s]++;
	}
}

TEST_F(bal, rr_even)
{
	unsigned int hits[4] = { 0 }, i;

	self->be.balance = "rr";
	ASSERT_EQ(0, balancer_init(&self->b, &self->be));
	count_picks(&self->b, hits);
	for (i = 0; i < 4; i++)
		EXPECT_EQ(PICKS / 4, hits[i]);
}

TEST_F(bal, wrr_proportional)
{
	unsigned int hits[4] = { 0 }, i;

	self->be.balance = "wrr";
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
	self->srv[0].weight = 5;
	self->srv[1].weight = 1;
	self->srv[2].weight = 1;
	self->be.nservers = 3;
	self->be.balance = "wrr";
	ASSERT_EQ(0, balancer_init(&self->b, &self->be));
	memset(&none, 0, sizeof(none));
	for (i = 0; i < 7; i++)
		seq[i] = balancer_pick(&self->b, &none);
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
	const char *algos[] = { "rr", "wrr" };
	unsigned int a;

	for (a = 0; a < 2; a++) {
		struct server_set tried;
		int s, n = 0;

		self->be.balance = algos[a];
		balancer_fini(&self->b);
		ASSERT_EQ(0, balancer_init(&self->b, &self->be));
		memset(&tried, 0, sizeof(tried));
		/* each server exactly once, then nothing: bounded retries */
		while ((s = balancer_pick(&self->b, &tried)) >= 0) {
			ASSERT_FALSE(server_set_has(&tried, s));
			server_set_add(&tried, s);
			n++;
			ASSERT_LE(n, 4);
		}
		EXPECT_EQ(4, n);
	}
}

TEST_F(bal, unknown_algorithm)
{
	self->be.balance = "nope";
	EXPECT_EQ(-EINVAL, balancer_init(&self->b, &self->be));
}

TEST_HARNESS_MAIN

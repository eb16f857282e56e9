// SPDX-License-Identifier: GPL-2.0
/* Unit tests for allow/deny blocks and the per-source table. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "kselftest_harness.h"
#include "acl.h"

static struct sockaddr *v4(struct sockaddr_in *sin, const char *ip)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, ip, &sin->sin_addr);
	return (struct sockaddr *)sin;
}

static struct sockaddr *v6(struct sockaddr_in6 *sin6, const char *ip)
{
	memset(sin6, 0, sizeof(*sin6));
	sin6->sin6_family = AF_INET6;
	inet_pton(AF_INET6, ip, &sin6->sin6_addr);
	return (struct sockaddr *)sin6;
}

TEST(parse)
{
	struct cidr c;

	ASSERT_EQ(0, cidr_parse("10.1.2.3/8", &c));
	EXPECT_EQ(AF_INET, c.family);
	EXPECT_EQ(8, c.bits);
	/* host bits cleared */
	EXPECT_EQ(10, c.addr[0]);
	EXPECT_EQ(0, c.addr[1] | c.addr[2] | c.addr[3]);
	ASSERT_EQ(0, cidr_parse("192.168.7.9", &c));
	EXPECT_EQ(32, c.bits);
	ASSERT_EQ(0, cidr_parse("2001:db8:ffff::/36", &c));
	EXPECT_EQ(AF_INET6, c.family);
	EXPECT_EQ(36, c.bits);
	EXPECT_EQ(0xf0, c.addr[4]);
	EXPECT_EQ(0, c.addr[5]);
	ASSERT_EQ(0, cidr_parse("0.0.0.0/0", &c));
	EXPECT_EQ(0, c.bits);

	EXPECT_EQ(-EINVAL, cidr_parse("", &c));
	EXPECT_EQ(-EINVAL, cidr_parse("/8", &c));
	EXPECT_EQ(-EINVAL, cidr_parse("10.0.0.0/33", &c));
	EXPECT_EQ(-EINVAL, cidr_parse("::/129", &c));
	EXPECT_EQ(-EINVAL, cidr_parse("10.0.0.0/", &c));
	EXPECT_EQ(-EINVAL, cidr_parse("10.0.0.0/8x", &c));
	EXPECT_EQ(-EINVAL, cidr_parse("10.0.0.0/-1", &c));
	EXPECT_EQ(-EINVAL, cidr_parse("10.0.0/8", &c));
	EXPECT_EQ(-EINVAL, cidr_parse("example.com/8", &c));
}

TEST(match)
{
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct cidr c;

	ASSERT_EQ(0, cidr_parse("10.0.0.0/8", &c));
	EXPECT_TRUE(cidr_match(&c, v4(&s4, "10.255.1.2")));
	EXPECT_FALSE(cidr_match(&c, v4(&s4, "11.0.0.1")));
	/* a v4 client on a [::] listener arrives v4-mapped */
	EXPECT_TRUE(cidr_match(&c, v6(&s6, "::ffff:10.9.9.9")));
	EXPECT_FALSE(cidr_match(&c, v6(&s6, "::ffff:11.9.9.9")));
	EXPECT_FALSE(cidr_match(&c, v6(&s6, "::a00:1")));
	EXPECT_FALSE(cidr_match(&c, (struct sockaddr *)&un));

	ASSERT_EQ(0, cidr_parse("192.168.4.0/23", &c));
	EXPECT_TRUE(cidr_match(&c, v4(&s4, "192.168.5.255")));
	EXPECT_FALSE(cidr_match(&c, v4(&s4, "192.168.6.0")));
	EXPECT_FALSE(cidr_match(&c, v4(&s4, "192.168.3.255")));

	ASSERT_EQ(0, cidr_parse("2001:db8::/33", &c));
	EXPECT_TRUE(cidr_match(&c, v6(&s6, "2001:db8:7fff::1")));
	EXPECT_FALSE(cidr_match(&c, v6(&s6, "2001:db8:8000::1")));
	EXPECT_FALSE(cidr_match(&c, v4(&s4, "32.1.13.184")));

	ASSERT_EQ(0, cidr_parse("0.0.0.0/0", &c));
	EXPECT_TRUE(cidr_match(&c, v4(&s4, "1.2.3.4")));
	EXPECT_FALSE(cidr_match(&c, v6(&s6, "2001:db8::1")));
	ASSERT_EQ(0, cidr_parse("::1", &c));
	EXPECT_TRUE(cidr_match(&c, v6(&s6, "::1")));
	EXPECT_FALSE(cidr_match(&c, v6(&s6, "::2")));
}

static struct src_table *table(unsigned int conns, unsigned int rate,
			       unsigned int p4, unsigned int p6)
{
	struct src_limits lim = {
		.max_conns = conns, .max_rate = rate, .prefix = { p4, p6 },
	};

	return src_table_new(&lim);
}

#define T0	1000000		/* a whole second, in ms */

TEST(per_source_limit)
{
	struct src_table *t = table(3, 0, 32, 64);
	struct sockaddr_in a, b;
	struct sockaddr_in6 m;
	int i;

	ASSERT_NE(NULL, t);
	v4(&a, "10.0.0.1");
	v4(&b, "10.0.0.2");
	for (i = 0; i < 3; i++)
		EXPECT_EQ(0, src_acquire(t, (struct sockaddr *)&a, T0));
	EXPECT_EQ(-EBUSY, src_acquire(t, (struct sockaddr *)&a, T0));
	/* the same client, v4-mapped, is the same source */
	EXPECT_EQ(-EBUSY, src_acquire(t, v6(&m, "::ffff:10.0.0.1"), T0));
	/* another source has its own count */
	EXPECT_EQ(0, src_acquire(t, (struct sockaddr *)&b, T0));
	src_release(t, (struct sockaddr *)&a);
	EXPECT_EQ(0, src_acquire(t, (struct sockaddr *)&a, T0));
	EXPECT_EQ(-EBUSY, src_acquire(t, (struct sockaddr *)&a, T0));
	for (i = 0; i < 3; i++)
		src_release(t, (struct sockaddr *)&a);
	src_release(t, (struct sockaddr *)&b);
	/* entries are gone once their count is zero: releasing more is a no-op */
	src_release(t, (struct sockaddr *)&b);
	for (i = 0; i < 3; i++)
		EXPECT_EQ(0, src_acquire(t, (struct sockaddr *)&a, T0));
	src_table_free(t);	/* frees what is still held; ASan checks */
}

struct hammer {
	struct src_table *t;
	int ok;
};

static void *hammer_fn(void *arg)
{
	struct hammer *h = arg;
	struct sockaddr_in sin;
	int i, j;

	for (i = 0; i < 20000; i++) {
		v4(&sin, i & 1 ? "10.0.0.1" : "10.0.0.2");
		for (j = 0; j < 4; j++)
			if (!src_acquire(h->t, (struct sockaddr *)&sin, T0))
				h->ok++;
		for (j = 0; j < 4; j++)
			src_release(h->t, (struct sockaddr *)&sin);
	}
	return NULL;
}

/* Workers share a table: counts must balance under contention. */
TEST(shared_by_threads)
{
	struct hammer h[4];
	pthread_t th[4];
	struct sockaddr_in sin;
	int i;

	h[0].t = table(1000000, 0, 32, 64);
	ASSERT_NE(NULL, h[0].t);
	for (i = 0; i < 4; i++) {
		h[i].t = h[0].t;
		h[i].ok = 0;
		ASSERT_EQ(0, pthread_create(&th[i], NULL, hammer_fn, &h[i]));
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		EXPECT_EQ(80000, h[i].ok);
	}
	/* everything released: a limit of 1 admits exactly one again */
	h[0].t->lim.max_conns = 1;
	v4(&sin, "10.0.0.1");
	EXPECT_EQ(0, src_acquire(h[0].t, (struct sockaddr *)&sin, T0));
	EXPECT_EQ(-EBUSY, src_acquire(h[0].t, (struct sockaddr *)&sin, T0));
	src_table_free(h[0].t);
}

/* An IPv6 client holds a /64: walking its addresses gains it nothing. */
TEST(per_prefix)
{
	struct src_table *t = table(2, 0, 24, 64);
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;

	ASSERT_NE(NULL, t);
	EXPECT_EQ(0, src_acquire(t, v6(&s6, "2001:db8:1:2::1"), T0));
	EXPECT_EQ(0, src_acquire(t, v6(&s6, "2001:db8:1:2:ffff::7"), T0));
	EXPECT_EQ(-EBUSY, src_acquire(t, v6(&s6, "2001:db8:1:2::99"), T0));
	/* the next /64 is somebody else */
	EXPECT_EQ(0, src_acquire(t, v6(&s6, "2001:db8:1:3::1"), T0));
	/* a /24 for IPv4 here */
	EXPECT_EQ(0, src_acquire(t, v4(&s4, "10.1.2.3"), T0));
	EXPECT_EQ(0, src_acquire(t, v4(&s4, "10.1.2.200"), T0));
	EXPECT_EQ(-EBUSY, src_acquire(t, v4(&s4, "10.1.2.4"), T0));
	EXPECT_EQ(0, src_acquire(t, v4(&s4, "10.1.3.4"), T0));
	/* releasing by another address of the prefix frees the slot */
	src_release(t, v6(&s6, "2001:db8:1:2::1234"));
	EXPECT_EQ(0, src_acquire(t, v6(&s6, "2001:db8:1:2::5"), T0));
	src_table_free(t);
}

/* New connections per second: the rate counts, whatever is still open. */
TEST(per_source_rate)
{
	struct src_table *t = table(0, 5, 32, 64);
	struct sockaddr_in a, b;
	int i;

	ASSERT_NE(NULL, t);
	v4(&a, "10.0.0.1");
	v4(&b, "10.0.0.2");
	for (i = 0; i < 5; i++) {
		EXPECT_EQ(0, src_acquire(t, (struct sockaddr *)&a, T0 + i));
		src_release(t, (struct sockaddr *)&a);
	}
	/* closed again at once, but five were opened this second */
	EXPECT_EQ(-EAGAIN, src_acquire(t, (struct sockaddr *)&a, T0 + 10));
	EXPECT_EQ(0, src_acquire(t, (struct sockaddr *)&b, T0 + 10));
	/* half a second into the next one, half the last (2.5) still counts */
	for (i = 0; i < 3; i++)
		EXPECT_EQ(0, src_acquire(t, (struct sockaddr *)&a, T0 + 1500));
	EXPECT_EQ(-EAGAIN, src_acquire(t, (struct sockaddr *)&a, T0 + 1500));
	/* two seconds later the slate is clean */
	for (i = 0; i < 5; i++)
		EXPECT_EQ(0, src_acquire(t, (struct sockaddr *)&a, T0 + 3000));
	EXPECT_EQ(-EAGAIN, src_acquire(t, (struct sockaddr *)&a, T0 + 3000));
	src_table_free(t);
}

/* Sources that never come back are swept; one that stays open is not. */
TEST(rate_entries_swept)
{
	struct src_table *t = table(0, 100, 32, 64);
	struct sockaddr_in sin;
	char ip[32];
	int i, n = 0;

	ASSERT_NE(NULL, t);
	EXPECT_EQ(0, src_acquire(t, v4(&sin, "10.9.9.9"), T0));
	for (i = 0; i < 5000; i++) {
		snprintf(ip, sizeof(ip), "10.0.%d.%d", i / 250, i % 250);
		EXPECT_EQ(0, src_acquire(t, v4(&sin, ip), T0));
		src_release(t, (struct sockaddr *)&sin);
	}
	EXPECT_EQ(5001, src_table_entries(t));
	/* within their rate window, nothing goes */
	src_table_sweep(t, T0 + 1999, SRC_BUCKETS);
	EXPECT_EQ(5001, src_table_entries(t));
	/* much later, one more source, then a whole sweep */
	EXPECT_EQ(0, src_acquire(t, v4(&sin, "10.8.8.8"), T0 + 10000));
	src_release(t, (struct sockaddr *)&sin);
	src_table_sweep(t, T0 + 10000, SRC_BUCKETS / 2);
	src_table_sweep(t, T0 + 10000, SRC_BUCKETS / 2);
	n = src_table_entries(t);
	/* 10.9.9.9 (still open) and 10.8.8.8 (within its rate window) */
	EXPECT_EQ(2, n);
	src_table_free(t);
}

TEST_HARNESS_MAIN

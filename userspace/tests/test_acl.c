// SPDX-License-Identifier: GPL-2.0
/* Unit tests for allow/deny blocks and the per-source table. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
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

TEST(per_source_limit)
{
	struct src_table *t = src_table_new();
	struct sockaddr_in a, b;
	struct sockaddr_in6 m;
	int i;

	ASSERT_NE(NULL, t);
	v4(&a, "10.0.0.1");
	v4(&b, "10.0.0.2");
	for (i = 0; i < 3; i++)
		EXPECT_EQ(0, src_acquire(t, (struct sockaddr *)&a, 3));
	EXPECT_EQ(-EBUSY, src_acquire(t, (struct sockaddr *)&a, 3));
	/* the same client, v4-mapped, is the same source */
	EXPECT_EQ(-EBUSY, src_acquire(t, v6(&m, "::ffff:10.0.0.1"), 3));
	/* another source has its own count */
	EXPECT_EQ(0, src_acquire(t, (struct sockaddr *)&b, 3));
	src_release(t, (struct sockaddr *)&a);
	EXPECT_EQ(0, src_acquire(t, (struct sockaddr *)&a, 3));
	EXPECT_EQ(-EBUSY, src_acquire(t, (struct sockaddr *)&a, 3));
	for (i = 0; i < 3; i++)
		src_release(t, (struct sockaddr *)&a);
	src_release(t, (struct sockaddr *)&b);
	/* entries are gone once their count is zero: releasing more is a no-op */
	src_release(t, (struct sockaddr *)&b);
	for (i = 0; i < 3; i++)
		EXPECT_EQ(0, src_acquire(t, (struct sockaddr *)&a, 3));
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
			if (!src_acquire(h->t, (struct sockaddr *)&sin, 1000000))
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

	h[0].t = src_table_new();
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
	v4(&sin, "10.0.0.1");
	EXPECT_EQ(0, src_acquire(h[0].t, (struct sockaddr *)&sin, 1));
	EXPECT_EQ(-EBUSY, src_acquire(h[0].t, (struct sockaddr *)&sin, 1));
	src_table_free(h[0].t);
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for SNI routing: the ClientHello reader on hand-built
 * hellos (one record, two records, broken ones) and the choice of a
 * backend by name (kselftest harness).
 */
#include <errno.h>
#include <string.h>

#include "kselftest_harness.h"
#include "config.h"
#include "inspect.h"
#include "sni_parse.h"

/* a ClientHello naming @name (NULL: no SNI), offering @alpn; its length */
static size_t hello(uint8_t *b, const char *name, const char *alpn,
		    bool twice)
{
	uint8_t ext[512];
	size_t e = 0, n, h, i;

	for (i = 0; name && i < (twice ? 2u : 1u); i++) {
		n = strlen(name);
		ext[e++] = 0; ext[e++] = 0;		/* server_name */
		ext[e++] = 0; ext[e++] = n + 5;
		ext[e++] = 0; ext[e++] = n + 3;		/* list */
		ext[e++] = 0;				/* host_name */
		ext[e++] = 0; ext[e++] = n;
		memcpy(ext + e, name, n);
		e += n;
	}
	if (alpn) {
		n = strlen(alpn);
		ext[e++] = 0; ext[e++] = 16;
		ext[e++] = 0; ext[e++] = n + 3;
		ext[e++] = 0; ext[e++] = n + 1;
		ext[e++] = n;
		memcpy(ext + e, alpn, n);
		e += n;
	}
	h = 9;
	b[h++] = 3; b[h++] = 3;				/* legacy_version */
	memset(b + h, 7, 32);				/* random */
	h += 32;
	b[h++] = 0;					/* session id */
	b[h++] = 0; b[h++] = 2; b[h++] = 0x13; b[h++] = 0x01;
	b[h++] = 1; b[h++] = 0;				/* compression */
	b[h++] = e >> 8; b[h++] = e & 0xff;
	memcpy(b + h, ext, e);
	h += e;
	b[5] = 1;					/* ClientHello */
	b[6] = 0; b[7] = (h - 9) >> 8; b[8] = (h - 9) & 0xff;
	b[0] = 22; b[1] = 3; b[2] = 1;
	b[3] = (h - 5) >> 8; b[4] = (h - 5) & 0xff;
	return h;
}

TEST(one_record)
{
	uint8_t b[1024];
	struct sni_info si;
	const char *why;
	size_t n = hello(b, "Www.Example.COM", "h2", false), k;

	ASSERT_EQ((int)n, sni_parse(b, n, &si, &why));
	EXPECT_EQ(1, si.tls);
	EXPECT_STREQ("www.example.com", si.name);
	EXPECT_STREQ("h2", si.alpn);
	for (k = 1; k < n; k++)
		EXPECT_EQ(0, sni_parse(b, k, &si, &why));
	n = hello(b, NULL, NULL, false);
	ASSERT_EQ((int)n, sni_parse(b, n, &si, &why));
	EXPECT_STREQ("", si.name);
}

TEST(two_records)
{
	uint8_t b[1024], f[1100];
	struct sni_info si;
	const char *why;
	size_t n = hello(b, "a.example.org", NULL, false), half = 20;

	memcpy(f, b, 3);
	f[3] = 0; f[4] = half;
	memcpy(f + 5, b + 5, half);
	memcpy(f + 5 + half, b, 3);
	f[8 + half] = (n - 5 - half) >> 8;
	f[9 + half] = (n - 5 - half) & 0xff;
	memcpy(f + 10 + half, b + 5 + half, n - 5 - half);
	ASSERT_EQ((int)n + 5, sni_parse(f, n + 5, &si, &why));
	EXPECT_STREQ("a.example.org", si.name);
	/* an alert record in between is not a ClientHello's */
	f[5 + half] = 21;
	EXPECT_EQ(-EINVAL, sni_parse(f, n + 5, &si, &why));
}

TEST(refused)
{
	uint8_t b[1024];
	struct sni_info si;
	const char *why;
	size_t n;

	n = hello(b, "a.example.com", NULL, true);
	EXPECT_EQ(-EINVAL, sni_parse(b, n, &si, &why));
	n = hello(b, "bad name", NULL, false);
	EXPECT_EQ(-EINVAL, sni_parse(b, n, &si, &why));
	n = hello(b, "a..b", NULL, false);
	EXPECT_EQ(-EINVAL, sni_parse(b, n, &si, &why));
	n = hello(b, "a.example.com", NULL, false);
	b[5] = 2;
	EXPECT_EQ(-EINVAL, sni_parse(b, n, &si, &why));
	/* record version 2.x; an extension longer than its block */
	n = hello(b, "a.example.com", NULL, false);
	b[1] = 2;
	EXPECT_EQ(-EINVAL, sni_parse(b, n, &si, &why));
	n = hello(b, "a.example.com", NULL, false);
	b[9 + 2 + 32 + 1 + 4 + 2 + 2 + 3] += 1;
	EXPECT_EQ(-EINVAL, sni_parse(b, n, &si, &why));
	/* not TLS at all: done at the first byte */
	EXPECT_EQ(1, sni_parse((const uint8_t *)"GET /", 5, &si, &why));
	EXPECT_EQ(0, si.tls);
}

TEST(route)
{
	struct backend a = { .name = "a" }, b = { .name = "b" },
		       c = { .name = "c" };
	struct sni_rule r[] = {
		{ .pattern = "example.org", .wildcard = true, .backend = &b },
		{ .pattern = "api.example.org", .wildcard = false,
		  .backend = &a },
		{ .pattern = "eu.example.org", .wildcard = true,
		  .backend = &c },
	};
	struct listener ln = { .sni = r, .nsni = 3 };

	EXPECT_EQ(&a, sni_route(&ln, "api.example.org"));
	EXPECT_EQ(&b, sni_route(&ln, "www.example.org"));
	EXPECT_EQ(&c, sni_route(&ln, "x.eu.example.org"));
	EXPECT_EQ(&b, sni_route(&ln, "eu.example.org"));
	EXPECT_EQ(NULL, sni_route(&ln, "example.org"));
	EXPECT_EQ(NULL, sni_route(&ln, "xexample.org"));
	EXPECT_EQ(NULL, sni_route(&ln, ""));
}

TEST_HARNESS_MAIN

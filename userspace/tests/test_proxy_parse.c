// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for the parser of received PROXY headers: what it takes,
 * what it refuses and why, and that it never asks for bytes past the
 * header (kselftest harness).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "kselftest_harness.h"
#include "proxy_parse.h"

static const uint8_t sig[12] = "\r\n\r\n\0\r\nQUIT\n";

static int parse(const void *b, size_t n, int accept, struct pp_info *pi,
		 const char **why)
{
	return pp_parse(b, n, accept, pi, why);
}

static const char *src4(const struct pp_info *pi, char *buf)
{
	const struct sockaddr_in *a = (const void *)&pi->src;

	return inet_ntop(AF_INET, &a->sin_addr, buf, INET6_ADDRSTRLEN);
}

TEST(v1_tcp4)
{
	const char h[] = "PROXY TCP4 203.0.113.7 198.51.100.1 5555 443\r\nGET";
	struct pp_info pi;
	const char *why;
	char a[INET6_ADDRSTRLEN];

	ASSERT_EQ((int)strlen(h) - 3,
		  parse(h, strlen(h), PP_ACCEPT_ANY, &pi, &why));
	EXPECT_EQ(1, pi.version);
	EXPECT_FALSE(pi.local);
	EXPECT_STREQ("203.0.113.7", src4(&pi, a));
	EXPECT_EQ(5555, ntohs(((struct sockaddr_in *)&pi.src)->sin_port));
	EXPECT_EQ(443, ntohs(((struct sockaddr_in *)&pi.dst)->sin_port));
	/* every prefix short of the CRLF wants more */
	for (size_t k = 1; k < strlen(h) - 3; k++)
		EXPECT_EQ(0, parse(h, k, PP_ACCEPT_ANY, &pi, &why));
}

TEST(v1_tcp6_and_unknown)
{
	const char h6[] = "PROXY TCP6 2001:db8::7 2001:db8::1 65535 0\r\n";
	const char hu[] = "PROXY UNKNOWN ignored stuff\r\n";
	struct pp_info pi;
	const char *why;

	ASSERT_EQ((int)strlen(h6), parse(h6, strlen(h6), PP_ACCEPT_V1, &pi,
					 &why));
	EXPECT_EQ(AF_INET6, pi.src.ss_family);
	ASSERT_EQ((int)strlen(hu), parse(hu, strlen(hu), PP_ACCEPT_ANY, &pi,
					 &why));
	EXPECT_TRUE(pi.local);
}

TEST(v1_refused)
{
	static const char *const bad[] = {
		"PROXY TCP4 2001:db8::7 198.51.100.1 1 2\r\n",	/* family */
		"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",		/* leading 0 */
		"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",	/* range */
		"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",		/* two spaces */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",		/* fields */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
		"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r",		/* CR CR */
		"PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n",		/* tab */
		"PROXX TCP4",
		"GET / HTTP/1.0\r\n",
	};
	struct pp_info pi;
	const char *why;
	char longer[200];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		EXPECT_EQ(-EINVAL, parse(bad[i], strlen(bad[i]),
					 PP_ACCEPT_ANY, &pi, &why))
			TH_LOG("took %s", bad[i]);
		EXPECT_NE(NULL, why);
	}
	/* 107 bytes at most: no CR by byte 106 is refused at once */
	memset(longer, 'A', sizeof(longer));
	memcpy(longer, "PROXY UNKNOWN ", 14);
	EXPECT_EQ(0, parse(longer, 105, PP_ACCEPT_ANY, &pi, &why));
	EXPECT_EQ(-EINVAL, parse(longer, 106, PP_ACCEPT_ANY, &pi, &why));
	/* and v1 where only v2 is taken */
	EXPECT_EQ(-EINVAL, parse("PROXY UNKNOWN\r\n", 15, PP_ACCEPT_V2, &pi,
				 &why));
}

/* a v2 header: @cmd, @fam, @body of @blen bytes */
static size_t v2(uint8_t *b, uint8_t cmd, uint8_t fam, const void *body,
		 size_t blen)
{
	memcpy(b, sig, 12);
	b[12] = cmd;
	b[13] = fam;
	b[14] = blen >> 8;
	b[15] = blen & 0xff;
	if (blen)
		memcpy(b + 16, body, blen);
	return 16 + blen;
}

TEST(v2_inet_tlvs)
{
	uint8_t body[12 + 9] = { 203, 0, 113, 7, 198, 51, 100, 1, 0x15, 0xb3,
				 0x01, 0xbb,
				 /* AUTHORITY "ab", NOOP "" , then 0x20 len 0 */
				 0x02, 0x00, 0x02, 'a', 'b', 0x04, 0x00, 0x00,
				 0x20 };
	uint8_t b[128];
	struct pp_info pi;
	const char *why;
	char a[INET6_ADDRSTRLEN];
	size_t n;

	/* the last TLV is cut short: refused */
	n = v2(b, 0x21, 0x11, body, sizeof(body));
	EXPECT_EQ(-EINVAL, parse(b, n, PP_ACCEPT_ANY, &pi, &why));
	n = v2(b, 0x21, 0x11, body, sizeof(body) - 1);
	ASSERT_EQ((int)n, parse(b, n, PP_ACCEPT_V2, &pi, &why));
	EXPECT_STREQ("203.0.113.7", src4(&pi, a));
	EXPECT_EQ(5555, ntohs(((struct sockaddr_in *)&pi.src)->sin_port));
	EXPECT_EQ(28, pi.tlv_off);
	EXPECT_EQ(8, pi.tlv_len);
	for (size_t k = 1; k < n; k++)
		EXPECT_EQ(0, parse(b, k, PP_ACCEPT_ANY, &pi, &why));
}

TEST(v2_local_unspec_refused)
{
	uint8_t b[2048], body[1100] = { 0 };
	struct pp_info pi;
	const char *why;
	size_t n;

	n = v2(b, 0x20, 0x00, NULL, 0);
	ASSERT_EQ(16, parse(b, n, PP_ACCEPT_ANY, &pi, &why));
	EXPECT_TRUE(pi.local);
	n = v2(b, 0x21, 0x00, NULL, 0);
	ASSERT_EQ(16, parse(b, n, PP_ACCEPT_ANY, &pi, &why));
	EXPECT_TRUE(pi.local);
	/* version 1 in a v2 header, command 2 */
	n = v2(b, 0x11, 0x11, body, 12);
	EXPECT_EQ(-EINVAL, parse(b, n, PP_ACCEPT_ANY, &pi, &why));
	n = v2(b, 0x22, 0x11, body, 12);
	EXPECT_EQ(-EINVAL, parse(b, n, PP_ACCEPT_ANY, &pi, &why));
	/* UDP, unknown family, addresses cut short */
	n = v2(b, 0x21, 0x12, body, 12);
	EXPECT_EQ(-EINVAL, parse(b, n, PP_ACCEPT_ANY, &pi, &why));
	n = v2(b, 0x21, 0x41, body, 12);
	EXPECT_EQ(-EINVAL, parse(b, n, PP_ACCEPT_ANY, &pi, &why));
	n = v2(b, 0x21, 0x21, body, 12);
	EXPECT_EQ(-EINVAL, parse(b, n, PP_ACCEPT_ANY, &pi, &why));
	/* too long: refused from the first 16 bytes */
	v2(b, 0x21, 0x11, body, 1100);
	EXPECT_EQ(-EINVAL, parse(b, 16, PP_ACCEPT_ANY, &pi, &why));
	/* a bad signature, and v2 where only v1 is taken */
	n = v2(b, 0x21, 0x11, body, 12);
	b[7] = 'X';
	EXPECT_EQ(-EINVAL, parse(b, 8, PP_ACCEPT_ANY, &pi, &why));
	b[7] = 'Q';
	EXPECT_EQ(-EINVAL, parse(b, n, PP_ACCEPT_V1, &pi, &why));
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: GPL-2.0
/* Unit tests for address parsing and formatting (kselftest harness). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "kselftest_harness.h"
#include "addr.h"

static const char *roundtrip(const char *in, char *buf, size_t size)
{
	struct addr a;

	if (addr_parse(in, &a))
		return NULL;
	return addr_format((struct sockaddr *)&a.ss, a.len, buf, size);
}

TEST(ipv4)
{
	char buf[ADDR_STRLEN];
	struct addr a;

	ASSERT_EQ(0, addr_parse("127.0.0.1:8080", &a));
	EXPECT_EQ(AF_INET, a.ss.ss_family);
	EXPECT_EQ(sizeof(struct sockaddr_in), a.len);
	EXPECT_EQ(8080, ntohs(((struct sockaddr_in *)&a.ss)->sin_port));
	EXPECT_STREQ("0.0.0.0:80", roundtrip("0.0.0.0:80", buf, sizeof(buf)));
	EXPECT_STREQ("0.0.0.0:80", roundtrip("*:80", buf, sizeof(buf)));
	EXPECT_STREQ("10.1.2.3:65535",
		     roundtrip("10.1.2.3:65535", buf, sizeof(buf)));
}

TEST(ipv6)
{
	char buf[ADDR_STRLEN];
	struct addr a;

	ASSERT_EQ(0, addr_parse("[::1]:8080", &a));
	EXPECT_EQ(AF_INET6, a.ss.ss_family);
	EXPECT_EQ(sizeof(struct sockaddr_in6), a.len);
	EXPECT_STREQ("[::]:80", roundtrip("[::]:80", buf, sizeof(buf)));
	EXPECT_STREQ("[2001:db8::1]:443",
		     roundtrip("[2001:db8::1]:443", buf, sizeof(buf)));
}

TEST(unix_path)
{
	char buf[ADDR_STRLEN];

	EXPECT_STREQ("unix:/run/x.sock",
		     roundtrip("unix:/run/x.sock", buf, sizeof(buf)));
}

TEST(rejects)
{
	static const char *const bad[] = {
		"", ":", "127.0.0.1", "127.0.0.1:", ":80", "127.0.0.1:65536",
		"127.0.0.1:-1", "127.0.0.1:+1", "127.0.0.1:80x",
		"256.0.0.1:80", "::1:80", "[::1]80", "[::1]:", "[]:80",
		"[::1:80", "example.com:80", "unix:", "1.2.3.4:99999999999",
	};
	struct addr a;
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_NE(0, addr_parse(bad[i], &a)) {
			TH_LOG("accepted '%s'", bad[i]);
		}
}

TEST(weights)
{
	unsigned int w;
	struct addr a;

	ASSERT_EQ(0, addr_parse_weighted("127.0.0.1:80", &a, &w));
	EXPECT_EQ(1, w);
	ASSERT_EQ(0, addr_parse_weighted("127.0.0.1:80@3", &a, &w));
	EXPECT_EQ(3, w);
	ASSERT_EQ(0, addr_parse_weighted("[::1]:80@256", &a, &w));
	EXPECT_EQ(256, w);
	EXPECT_NE(0, addr_parse_weighted("127.0.0.1:80@0", &a, &w));
	EXPECT_NE(0, addr_parse_weighted("127.0.0.1:80@257", &a, &w));
	EXPECT_NE(0, addr_parse_weighted("127.0.0.1:80@", &a, &w));
	EXPECT_NE(0, addr_parse_weighted("127.0.0.1:80@x", &a, &w));
}

TEST(equal)
{
	struct addr a, b;

	ASSERT_EQ(0, addr_parse("127.0.0.1:80", &a));
	ASSERT_EQ(0, addr_parse("127.0.0.1:80", &b));
	EXPECT_TRUE(addr_equal(&a, &b));
	ASSERT_EQ(0, addr_parse("127.0.0.1:81", &b));
	EXPECT_FALSE(addr_equal(&a, &b));
}

TEST_HARNESS_MAIN

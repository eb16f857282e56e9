// SPDX-License-Identifier: GPL-2.0
/* Unit tests for log-format: parsing, rendering, bounds (kselftest). */
#include <errno.h>
#include <string.h>

#include "kselftest_harness.h"
#include "logfmt.h"

static const struct lf_vals vals = {
	.client = "[2001:db8::7]:5555", .client_ip = "2001:db8::7",
	.client_port = "5555", .listener = "web",
	.listen_addr = "0.0.0.0:443", .backend = "pool", .server = "a",
	.server_addr = "10.0.0.1:80", .end = "done", .sni = NULL,
	.up = 12, .down = 3456, .t_connect = -1, .t_total = 789,
	.retries = 2,
};

TEST(default_line)
{
	struct log_format lf;
	const char *err;
	char out[512];

	ASSERT_EQ(0, log_format_parse(&lf, LOG_FORMAT_DEFAULT, &err));
	log_format_render(&lf, &vals, out, sizeof(out));
	EXPECT_STREQ("client=[2001:db8::7]:5555 listener=web backend=pool server=10.0.0.1:80 up=12 down=3456 ms=789 end=done",
		     out);
	log_format_free(&lf);
}

TEST(every_field)
{
	struct log_format lf;
	const char *err;
	char out[512];

	ASSERT_EQ(0, log_format_parse(&lf,
		"%ci|%cp|%c|%f|%fa|%b|%s|%sa|%U|%B|%Tc|%Tt|%ts|%sni|%rc|100%%",
		&err));
	log_format_render(&lf, &vals, out, sizeof(out));
	EXPECT_STREQ("2001:db8::7|5555|[2001:db8::7]:5555|web|0.0.0.0:443|pool|a|10.0.0.1:80|12|3456|-1|789|done|-|2|100%",
		     out);
	log_format_free(&lf);
}

TEST(refused)
{
	static const char *const bad[] = { "%", "x %q", "%Tx", "end %" };
	char longer[LOG_FORMAT_MAX + 2];
	struct log_format lf;
	const char *err;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		EXPECT_EQ(-EINVAL, log_format_parse(&lf, bad[i], &err))
			TH_LOG("took %s", bad[i]);
		EXPECT_NE(NULL, err);
	}
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	EXPECT_EQ(-EINVAL, log_format_parse(&lf, longer, &err));
}

TEST(truncated_not_overrun)
{
	struct log_format lf;
	const char *err;
	char out[8];

	memset(out, 'Z', sizeof(out));
	ASSERT_EQ(0, log_format_parse(&lf, "%c %f %b", &err));
	EXPECT_EQ(7u, log_format_render(&lf, &vals, out, sizeof(out)));
	EXPECT_STREQ("[2001:d", out);
	log_format_free(&lf);
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: GPL-2.0
/* Unit tests for send-expect's value escapes (kselftest harness). */
#include <errno.h>
#include <string.h>

#include "kselftest_harness.h"
#include "health_talk.h"

TEST(escapes)
{
	char out[16];

	ASSERT_EQ(6, hc_unescape("PING\\r\\n", out, sizeof(out)));
	EXPECT_EQ(0, memcmp(out, "PING\r\n", 6));
	ASSERT_EQ(3, hc_unescape("\\x00\\t\\\\", out, sizeof(out)));
	EXPECT_EQ(0, memcmp(out, "\0\t\\", 3));
	EXPECT_EQ(-EINVAL, hc_unescape("\\q", out, sizeof(out)));
	EXPECT_EQ(-EINVAL, hc_unescape("\\x4", out, sizeof(out)));
	EXPECT_EQ(-EINVAL, hc_unescape("\\xZZ", out, sizeof(out)));
	EXPECT_EQ(-EINVAL, hc_unescape("trailing\\", out, sizeof(out)));
	/* too long for the buffer */
	EXPECT_EQ(-EINVAL, hc_unescape("0123456789abcdef", out, sizeof(out)));
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for log lines: syslog's level names, and priority prefixes
 * only when stderr is the journal (kselftest harness).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "log.h"

TEST(level_names)
{
	enum log_level l;

	ASSERT_EQ(0, log_parse_level("warning", &l));
	EXPECT_EQ(LOG_WARN, l);
	ASSERT_EQ(0, log_parse_level("err", &l));
	EXPECT_EQ(LOG_ERROR, l);
	ASSERT_EQ(0, log_parse_level("notice", &l));
	EXPECT_EQ(LOG_INFO, l);
	ASSERT_EQ(0, log_parse_level("debug", &l));
	EXPECT_EQ(LOG_DEBUG, l);
	EXPECT_NE(0, log_parse_level("loud", &l));
}

/* a line written with stderr on @path, JOURNAL_STREAM naming it or not */
static void one_line(const char *path, bool journal, char *out, size_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600), saved = dup(2);
	struct stat st;
	char env[64];
	ssize_t n;

	fstat(fd, &st);
	snprintf(env, sizeof(env), "%lu:%lu", (unsigned long)st.st_dev,
		 journal ? (unsigned long)st.st_ino : 0UL);
	setenv("JOURNAL_STREAM", env, 1);
	dup2(fd, 2);
	pr_warn("server %s is DOWN", "pool/a");
	dup2(saved, 2);
	close(saved);
	n = pread(fd, out, size - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
}

/* each test runs in a process of its own: the journal check is fresh */
TEST(bare_elsewhere)
{
	char out[256], path[64];

	snprintf(path, sizeof(path), "/tmp/test_log.%d", getpid());
	one_line(path, false, out, sizeof(out));
	EXPECT_STREQ("ringlb: warn: server pool/a is DOWN\n", out);
}

TEST(journal_prefix)
{
	char out[256], path[64];

	snprintf(path, sizeof(path), "/tmp/test_log.%d", getpid());
	one_line(path, true, out, sizeof(out));
	EXPECT_STREQ("<4>ringlb: warn: server pool/a is DOWN\n", out);
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: MIT
/*
 * Unit tests for the metrics' pieces that take outside bytes (kselftest):
 * label values escaped as the exposition format wants, names the config
 * refuses before they could reach a label, and the reader of uringstat's
 * rings file on real output of the module.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"
#include "config.h"
#include "metrics.h"
#include "uringstat_rings.h"

static char *escaped(const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	prom_label_value(f, s);
	fclose(f);
	return buf;
}

TEST(label_escapes)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "pool", "pool" },
		{ "a\"b", "a\\\"b" },
		{ "back\\slash", "back\\\\slash" },
		{ "two\nlines", "two\\nlines" },
		{ "\\\"\n", "\\\\\\\"\\n" },
		{ "tab\tand utf-8 \xc3\xa9", "tab\tand utf-8 \xc3\xa9" },
		{ "", "" },
	};
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = escaped(cases[i].in);

		ASSERT_NE(NULL, s);
		EXPECT_STREQ(cases[i].out, s);
		free(s);
	}
}

/* a hostile name never gets as far as a label: the config says why */
TEST(hostile_names_refused)
{
	static const char *const texts[] = {
		"[listener we\"b]\nbind = 127.0.0.1:1\n",
		"[backend po\\ol]\nserver = a 127.0.0.1:1\n",
		"[backend pool]\nserver = a\"} 1 127.0.0.1:1\n",
	};
	unsigned int i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		FILE *f = fmemopen((void *)texts[i], strlen(texts[i]), "r");
		struct config cfg;

		ASSERT_NE(NULL, f);
		config_init(&cfg);
		EXPECT_NE(0, config_load_stream(&cfg, f, "test.ini"))
			TH_LOG("accepted: %s", texts[i]);
		EXPECT_LT(0, cfg.errors);
		fclose(f);
		config_free(&cfg);
	}
}

/* Documentation/uringstat.rst's output, from the module */
static const char sample[] =
	"id pid comm fd sq_entries cq_entries flags submitted completed failed cq_overflow cqring_waits poll_armed task_work async\n"
	"23 194 demo 3 64 128 0x0 1028 1028 3 0 0 5 5 20\n"
	"24 194 demo 4 8 16 0x0 6 6 2 0 3 0 0 4\n"
	"26 199 ringlb 6 1024 4096 0x3088 54 50 11 0 19 16 12 3\n";

struct rows {
	struct uringstat_ring r[8];
	int n;
};

static int keep(const struct uringstat_ring *r, void *arg)
{
	struct rows *rows = arg;

	if (rows->n < 8)
		rows->r[rows->n++] = *r;
	return 0;
}

TEST(rings_sample)
{
	struct rows rows = { .n = 0 };

	ASSERT_EQ(3, uringstat_rings_parse(sample, strlen(sample), keep,
					   &rows));
	ASSERT_EQ(3, rows.n);
	EXPECT_EQ(26, rows.r[2].id);
	EXPECT_EQ(199, rows.r[2].pid);
	EXPECT_EQ(6, rows.r[2].fd);
	EXPECT_EQ(54, rows.r[2].submitted);
	EXPECT_EQ(50, rows.r[2].completed);
	EXPECT_EQ(11, rows.r[2].failed);
	EXPECT_EQ(0, rows.r[2].cq_overflow);
	EXPECT_EQ(16, rows.r[2].poll_armed);
	EXPECT_EQ(3, rows.r[2].async);
	EXPECT_EQ(20, rows.r[0].async);
	EXPECT_EQ(5, rows.r[0].poll_armed);
}

/* columns found by name: moved or added ones are still read right */
TEST(rings_columns_by_name)
{
	static const char text[] =
		"id pid comm fd newcol async submitted completed failed poll_armed cq_overflow\n"
		"7 42 x -1 999 4 10 9 1 2 3\n";
	struct rows rows = { .n = 0 };

	ASSERT_EQ(1, uringstat_rings_parse(text, strlen(text), keep, &rows));
	EXPECT_EQ(-1, rows.r[0].fd);
	EXPECT_EQ(4, rows.r[0].async);
	EXPECT_EQ(10, rows.r[0].submitted);
	EXPECT_EQ(3, rows.r[0].cq_overflow);
}

TEST(rings_bad_input)
{
	static const char no_col[] = "id pid comm fd submitted\n1 2 x 3 4\n";
	static const char rows_bad[] =
		"id pid comm fd sq_entries cq_entries flags submitted completed failed cq_overflow cqring_waits poll_armed task_work async\n"
		"1 2 x 3 8 16 0x0 1 1 0 0 0 0 0\n"		/* a column short */
		"2 2 x 3 8 16 0x0 18446744073709551616 1 0 0 0 0 0 0\n" /* 2^64 */
		"3 2 x 3 8 16 0x0 -1 1 0 0 0 0 0 0\n"		/* negative */
		"4 99999999999 x 3 8 16 0x0 1 1 0 0 0 0 0 0\n"	/* pid */
		"5 2 x 3 8 16 0x0 12a 1 0 0 0 0 0 0\n"		/* junk */
		"6 2 x 3 8 16 0x0 18446744073709551615 1 0 0 0 0 0 0\n"
		"7 2 x 3 8 16 0x0 1 1 0 0 0 0 0 0";		/* no newline */
	struct rows rows = { .n = 0 };

	EXPECT_EQ(-EINVAL, uringstat_rings_parse(no_col, strlen(no_col), keep,
						 &rows));
	EXPECT_EQ(-EINVAL, uringstat_rings_parse("", 0, keep, &rows));
	EXPECT_EQ(-EINVAL, uringstat_rings_parse("id pid", 6, keep, &rows));
	ASSERT_EQ(1, uringstat_rings_parse(rows_bad, strlen(rows_bad), keep,
					   &rows));
	EXPECT_EQ(6, rows.r[0].id);
	EXPECT_EQ(UINT64_MAX, rows.r[0].submitted);
}

TEST_HARNESS_MAIN

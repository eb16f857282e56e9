// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the reader of uringstat's debugfs rings file, which
 * the metrics endpoint parses on each scrape. The seed is the module's
 * real output (Documentation/uringstat.rst).
 *
 * Besides never crashing or reading past its input: the count it returns
 * is the number of rows it handed over, never more than the input has
 * newlines, and every pid and fd it hands over is in int32 range. Cut
 * anywhere, the input gives at most the rows of the whole.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uringstat_rings.h"

static int count(const struct uringstat_ring *r, void *arg)
{
	if (r->pid < -INT32_MAX || r->pid > INT32_MAX ||
	    r->fd < -INT32_MAX || r->fd > INT32_MAX)
		abort();
	(*(int *)arg)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	int seen = 0, cut_seen = 0, rows, cut;
	size_t nl = 0, i;

	for (i = 0; i < size; i++)
		nl += buf[i] == '\n';
	rows = uringstat_rings_parse(buf, size, count, &seen);
	if (rows >= 0 && (rows != seen || (size_t)rows >= nl))
		abort();
	cut = uringstat_rings_parse(buf, size / 2, count, &cut_seen);
	if (cut > 0 && cut > rows)
		abort();
	return 0;
}

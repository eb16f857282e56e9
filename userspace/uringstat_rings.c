// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "uringstat_rings.h"

/* more columns than the module has ever had; the rest of a line is ignored */
#define COLS_MAX	64

enum col {
	COL_ID,
	COL_PID,
	COL_FD,
	COL_SUBMITTED,
	COL_COMPLETED,
	COL_FAILED,
	COL_CQ_OVERFLOW,
	COL_POLL_ARMED,
	COL_ASYNC,
	COL_N,
};

static const char *const col_names[COL_N] = {
	[COL_ID] = "id",
	[COL_PID] = "pid",
	[COL_FD] = "fd",
	[COL_SUBMITTED] = "submitted",
	[COL_COMPLETED] = "completed",
	[COL_FAILED] = "failed",
	[COL_CQ_OVERFLOW] = "cq_overflow",
	[COL_POLL_ARMED] = "poll_armed",
	[COL_ASYNC] = "async",
};

struct field {
	const char *s;
	size_t n;
};

/* split [@p, @end) at blanks into at most COLS_MAX fields */
static unsigned int split(const char *p, const char *end, struct field *f)
{
	unsigned int n = 0;

	while (p < end && n < COLS_MAX) {
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p == end)
			break;
		f[n].s = p;
		while (p < end && *p != ' ' && *p != '\t')
			p++;
		f[n].n = p - f[n].s;
		n++;
	}
	return n;
}

static int parse_u64(const struct field *f, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (!f->n || f->n > 20)
		return -EINVAL;
	for (i = 0; i < f->n; i++) {
		unsigned int d = (unsigned char)f->s[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* a pid or an fd: small, and -1 for "none" */
static int parse_small(const struct field *f, long long *out)
{
	struct field digits = *f;
	bool neg = f->n && f->s[0] == '-';
	uint64_t v;

	if (neg) {
		digits.s++;
		digits.n--;
	}
	if (parse_u64(&digits, &v) || v > INT32_MAX)
		return -EINVAL;
	*out = neg ? -(long long)v : (long long)v;
	return 0;
}

static int parse_row(const struct field *f, unsigned int nf,
		     const unsigned int *col, struct uringstat_ring *r)
{
	uint64_t *const counters[COL_N] = {
		[COL_SUBMITTED] = &r->submitted,
		[COL_COMPLETED] = &r->completed,
		[COL_FAILED] = &r->failed,
		[COL_CQ_OVERFLOW] = &r->cq_overflow,
		[COL_POLL_ARMED] = &r->poll_armed,
		[COL_ASYNC] = &r->async,
	};
	unsigned int c;

	for (c = 0; c < COL_N; c++)
		if (col[c] >= nf)
			return -EINVAL;
	if (parse_u64(&f[col[COL_ID]], &r->id) ||
	    parse_small(&f[col[COL_PID]], &r->pid) ||
	    parse_small(&f[col[COL_FD]], &r->fd))
		return -EINVAL;
	for (c = COL_SUBMITTED; c < COL_N; c++)
		if (parse_u64(&f[col[c]], counters[c]))
			return -EINVAL;
	return 0;
}

int uringstat_rings_parse(const char *buf, size_t len,
			  int (*fn)(const struct uringstat_ring *r, void *arg),
			  void *arg)
{
	const char *p = buf, *end = buf + len, *nl;
	struct field f[COLS_MAX];
	unsigned int col[COL_N], nf, c, i;
	bool header = true;
	int rows = 0;

	for (; p < end && (nl = memchr(p, '\n', end - p)); p = nl + 1) {
		struct uringstat_ring r;

		nf = split(p, nl, f);
		if (header) {
			for (c = 0; c < COL_N; c++) {
				col[c] = COLS_MAX;
				for (i = 0; i < nf; i++)
					if (f[i].n == strlen(col_names[c]) &&
					    !memcmp(f[i].s, col_names[c], f[i].n))
						break;
				if (i == nf)
					return -EINVAL;
				col[c] = i;
			}
			header = false;
			continue;
		}
		if (parse_row(f, nf, col, &r))
			continue;
		rows++;
		if (fn(&r, arg))
			break;
	}
	return header ? -EINVAL : rows;
}

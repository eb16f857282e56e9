// SPDX-License-Identifier: MIT
/*
 * The `_getsocks` reply's lines (handover_parse.h). Each is parsed from
 * a bounded copy, field by field, with nothing left over: a line that
 * is not exactly what a ringlb writes is refused whole.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "handover_parse.h"

#define LINE_MAX_LEN	256

/* Copy @line (no NUL inside) to @buf as a C string, or -EINVAL. */
static int line_copy(char *buf, const char *line, size_t len)
{
	if (!len || len >= LINE_MAX_LEN || memchr(line, '\0', len))
		return -EINVAL;
	memcpy(buf, line, len);
	buf[len] = '\0';
	return 0;
}

/* A decimal number without sign, leading zero or overflow, <= @max. */
static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;
	const char *p;

	if (!*s || (s[0] == '0' && s[1]))
		return -EINVAL;
	for (p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		if (v > (max - (unsigned long)(*p - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	*out = v;
	return 0;
}

/* Split @buf at single spaces into exactly @n fields. */
static int split(char *buf, char **f, unsigned int n)
{
	unsigned int i = 0;
	char *p = buf;

	for (;;) {
		char *sp = strchr(p, ' ');

		if (i == n || p == sp || !*p)
			return -EINVAL;
		f[i++] = p;
		if (!sp)
			break;
		*sp = '\0';
		p = sp + 1;
	}
	return i == n ? 0 : -EINVAL;
}

int handover_parse_header(const char *line, size_t len, pid_t *pid,
			  unsigned int *count)
{
	char buf[LINE_MAX_LEN], *f[4];
	unsigned long ver, p, n;

	if (line_copy(buf, line, len) || split(buf, f, 4) ||
	    strcmp(f[0], "ringlb-sockets"))
		return -EINVAL;
	if (parse_uint(f[1], 1000, &ver))
		return -EINVAL;
	if (ver != HANDOVER_VERSION)
		return -EPROTO;
	if (parse_uint(f[2], 0x7fffffff, &p) || !p ||
	    parse_uint(f[3], HANDOVER_SOCKS_MAX, &n))
		return -EINVAL;
	*pid = (pid_t)p;
	*count = (unsigned int)n;
	return 0;
}

int handover_parse_sock(const char *line, size_t len,
			struct handover_sock *out)
{
	char buf[LINE_MAX_LEN], *f[4];
	unsigned long w;
	size_t i, nlen;

	if (line_copy(buf, line, len) || split(buf, f, 4) ||
	    strcmp(f[0], "sock"))
		return -EINVAL;
	if (parse_uint(f[1], HANDOVER_WORKER_MAX - 1, &w))
		return -EINVAL;
	/* listening addresses only: no unix:, no port 0 */
	if (!strncmp(f[2], "unix:", 5) || addr_parse(f[2], &out->addr))
		return -EINVAL;
	nlen = strlen(f[3]);
	if (nlen >= sizeof(out->listener))
		return -EINVAL;
	for (i = 0; i < nlen; i++)
		if ((unsigned char)f[3][i] <= ' ' ||
		    (unsigned char)f[3][i] >= 0x7f)
			return -EINVAL;
	memcpy(out->listener, f[3], nlen + 1);
	out->worker = (unsigned int)w;
	out->metrics = false;
	return 0;
}

int handover_parse_metrics(const char *line, size_t len,
			   struct handover_sock *out)
{
	char buf[LINE_MAX_LEN], *f[2];

	if (line_copy(buf, line, len) || split(buf, f, 2) ||
	    strcmp(f[0], "metrics"))
		return -EINVAL;
	if (!strncmp(f[1], "unix:", 5) || addr_parse(f[1], &out->addr))
		return -EINVAL;
	out->metrics = true;
	out->worker = 0;
	out->listener[0] = '\0';
	return 0;
}

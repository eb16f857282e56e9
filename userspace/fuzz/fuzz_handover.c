// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the lines of a `_getsocks` reply, as `ringlb -x`
 * reads them from whatever answers on the socket it was given. The
 * input is split at newlines; the first line goes to the header parser,
 * every line to the "sock" and "metrics" parsers. What they accept must be what a
 * ringlb could write: a "sock" line formatted back from its fields, as
 * handover_getsocks() does, parses to the same fields, and a header's
 * figures stay in their bounds.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handover_parse.h"

static void check_sock(const char *line, size_t len)
{
	struct handover_sock s, again;
	char addr[ADDR_STRLEN], back[512];
	int n;

	if (handover_parse_sock(line, len, &s))
		return;
	if (s.worker >= HANDOVER_WORKER_MAX || s.addr.len > sizeof(s.addr.ss))
		abort();
	if (!addr_format((struct sockaddr *)&s.addr.ss, s.addr.len, addr,
			 sizeof(addr)))
		abort();
	n = snprintf(back, sizeof(back), "sock %u %s %s", s.worker, addr,
		     s.listener);
	if (n < 0 || (size_t)n >= sizeof(back))
		abort();
	if (handover_parse_sock(back, n, &again) ||
	    again.worker != s.worker || !addr_equal(&again.addr, &s.addr) ||
	    strcmp(again.listener, s.listener) || !s.listener[0])
		abort();
}

static void check_metrics(const char *line, size_t len)
{
	struct handover_sock s, again;
	char addr[ADDR_STRLEN], back[256];
	int n;

	if (handover_parse_metrics(line, len, &s))
		return;
	if (!s.metrics || !addr_format((struct sockaddr *)&s.addr.ss,
				       s.addr.len, addr, sizeof(addr)))
		abort();
	n = snprintf(back, sizeof(back), "metrics %s", addr);
	if (n < 0 || (size_t)n >= sizeof(back) ||
	    handover_parse_metrics(back, n, &again) ||
	    !addr_equal(&again.addr, &s.addr))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;
	unsigned int count;
	bool first = true;
	pid_t pid;

	while (p < end) {
		nl = memchr(p, '\n', end - p);
		if (!nl)
			nl = end;
		if (first) {
			if (!handover_parse_header(p, nl - p, &pid, &count) &&
			    (pid <= 0 || count > HANDOVER_SOCKS_MAX))
				abort();
			first = false;
		}
		check_sock(p, nl - p);
		check_metrics(p, nl - p);
		p = nl + 1;
	}
	return 0;
}

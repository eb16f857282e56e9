// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the PROXY protocol header builder. The input picks
 * the version, the buffer size and both addresses; whatever the builder
 * writes is read back by an independent strict parser (the one a
 * backend would use, per HAProxy's proxy-protocol.txt) and must carry
 * exactly the addresses it was given, and never more bytes than the
 * buffer holds.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

static const unsigned char sig[12] = "\r\n\r\n\0\r\nQUIT\n";

struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static void take(struct fuzz_in *in, void *dst, size_t len)
{
	size_t k = in->n < len ? in->n : len;

	memset(dst, 0, len);
	memcpy(dst, in->p, k);
	in->p += k;
	in->n -= k;
}

static void make_addr(struct fuzz_in *in, struct sockaddr_storage *ss)
{
	uint8_t fam;

	memset(ss, 0, sizeof(*ss));
	take(in, &fam, 1);
	if (fam % 3 == 0) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		take(in, &a->sin_addr, 4);
		take(in, &a->sin_port, 2);
	} else if (fam % 3 == 1) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		take(in, &a->sin6_addr, 16);
		take(in, &a->sin6_port, 2);
	} else {
		ss->ss_family = AF_UNIX;
	}
}

static void check_v1(const char *h, int n, const struct sockaddr_storage *s,
		     const struct sockaddr_storage *d)
{
	char line[PROXY_HDR_MAX + 1], proto[8], sa[64], da[64], exp[64];
	unsigned int sp, dp;
	int fam, used = 0;

	if (n > PROXY_HDR_MAX || n < 8 || memcmp(h + n - 2, "\r\n", 2) ||
	    memchr(h, '\n', n - 1))
		abort();
	memcpy(line, h, n);
	line[n] = '\0';
	if (s->ss_family != d->ss_family ||
	    (s->ss_family != AF_INET && s->ss_family != AF_INET6)) {
		if (strcmp(line, "PROXY UNKNOWN\r\n"))
			abort();
		return;
	}
	if (sscanf(line, "PROXY %7s %63s %63s %u %u\r\n%n", proto, sa, da,
		   &sp, &dp, &used) != 5 || used != n)
		abort();
	fam = s->ss_family;
	if (strcmp(proto, fam == AF_INET ? "TCP4" : "TCP6"))
		abort();
	if (fam == AF_INET) {
		const struct sockaddr_in *a = (const void *)s, *b = (const void *)d;

		inet_ntop(AF_INET, &a->sin_addr, exp, sizeof(exp));
		if (strcmp(sa, exp) || sp != ntohs(a->sin_port))
			abort();
		inet_ntop(AF_INET, &b->sin_addr, exp, sizeof(exp));
		if (strcmp(da, exp) || dp != ntohs(b->sin_port))
			abort();
	} else {
		const struct sockaddr_in6 *a = (const void *)s, *b = (const void *)d;
		struct in6_addr x;

		/* compare as addresses: text forms may differ in case only */
		if (inet_pton(AF_INET6, sa, &x) != 1 ||
		    memcmp(&x, &a->sin6_addr, 16) || sp != ntohs(a->sin6_port))
			abort();
		if (inet_pton(AF_INET6, da, &x) != 1 ||
		    memcmp(&x, &b->sin6_addr, 16) || dp != ntohs(b->sin6_port))
			abort();
	}
}

static void check_v2(const unsigned char *h, int n,
		     const struct sockaddr_storage *s,
		     const struct sockaddr_storage *d)
{
	int len;

	if (n < 16 || memcmp(h, sig, 12))
		abort();
	len = h[14] << 8 | h[15];
	if (16 + len != n)
		abort();
	if (s->ss_family == AF_INET && d->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)s, *b = (const void *)d;

		if (h[12] != 0x21 || h[13] != 0x11 || len != 12 ||
		    memcmp(h + 16, &a->sin_addr, 4) ||
		    memcmp(h + 20, &b->sin_addr, 4) ||
		    memcmp(h + 24, &a->sin_port, 2) ||
		    memcmp(h + 26, &b->sin_port, 2))
			abort();
	} else if (s->ss_family == AF_INET6 && d->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)s, *b = (const void *)d;

		if (h[12] != 0x21 || h[13] != 0x21 || len != 36 ||
		    memcmp(h + 16, &a->sin6_addr, 16) ||
		    memcmp(h + 32, &b->sin6_addr, 16) ||
		    memcmp(h + 48, &a->sin6_port, 2) ||
		    memcmp(h + 50, &b->sin6_port, 2))
			abort();
	} else if (h[12] != 0x20 || h[13] != 0 || len != 0) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct sockaddr_storage s, d;
	uint8_t ver, bufsize;
	char *buf;
	int n;

	take(&in, &ver, 1);
	take(&in, &bufsize, 1);
	make_addr(&in, &s);
	make_addr(&in, &d);
	/* an exact-size heap buffer, so ASan sees any overrun */
	buf = malloc(bufsize ? bufsize : 1);
	if (!buf)
		return 0;
	n = proxy_header(buf, bufsize, ver % 4, (struct sockaddr *)&s,
			 (struct sockaddr *)&d);
	if (n >= 0) {
		if ((size_t)n > bufsize || (ver % 4 != 1 && ver % 4 != 2))
			abort();
		if (ver % 4 == 1)
			check_v1(buf, n, &s, &d);
		else
			check_v2((unsigned char *)buf, n, &s, &d);
	} else if (bufsize >= PROXY_HDR_MAX && (ver % 4 == 1 || ver % 4 == 2)) {
		abort();	/* PROXY_HDR_MAX is promised to be enough */
	}
	free(buf);
	return 0;
}

// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "addr.h"

static int parse_port(const char *s, unsigned short *port)
{
	char *end;
	long v;

	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 0 || v > 65535)
		return -EINVAL;
	*port = (unsigned short)v;
	return 0;
}

int addr_parse(const char *s, struct addr *a)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon;
	unsigned short port;
	size_t hlen;

	memset(a, 0, sizeof(*a));
	if (!strncmp(s, "unix:", 5)) {
		struct sockaddr_un *un = (struct sockaddr_un *)&a->ss;
		size_t plen = strlen(s + 5);

		if (!plen || plen >= sizeof(un->sun_path))
			return -EINVAL;
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, s + 5, plen + 1);
		a->len = offsetof(struct sockaddr_un, sun_path) + plen + 1;
		return 0;
	}

	if (*s == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return -EINVAL;
		hlen = rb - s - 1;
		if (hlen == 0 || hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hlen = colon - s;
		if (hlen == 0 || hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		/* A bare IPv6 address needs brackets: 1::2:80 is ambiguous. */
		if (memchr(host, ':', hlen))
			return -EINVAL;
	}
	if (parse_port(colon + 1, &port))
		return -EINVAL;

	if (*s == '[') {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;

		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return -EINVAL;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		a->len = sizeof(*in6);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&a->ss;

		if (!strcmp(host, "*"))
			strcpy(host, "0.0.0.0");
		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			return -EINVAL;
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		a->len = sizeof(*in);
	}
	return 0;
}

/* ADDR:PORT[@WEIGHT], the -b syntax. Weight defaults to 1, range 1..256. */
int addr_parse_weighted(const char *s, struct addr *a, unsigned int *weight)
{
	char buf[256];
	const char *at = strrchr(s, '@');
	char *end;
	long w;

	*weight = 1;
	if (!at)
		return addr_parse(s, a);
	if ((size_t)(at - s) >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, at - s);
	buf[at - s] = '\0';
	errno = 0;
	w = strtol(at + 1, &end, 10);
	if (errno || *end || at[1] == '\0' || w < 1 || w > 256)
		return -ERANGE;
	*weight = (unsigned int)w;
	return addr_parse(buf, a);
}

char *addr_format(const struct sockaddr *sa, socklen_t len, char *buf,
		  size_t size)
{
	char host[INET6_ADDRSTRLEN];

	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(in->sin_port));
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, ntohs(in6->sin6_port));
		break;
	}
	case AF_UNIX: {
		const struct sockaddr_un *un = (const void *)sa;

		if (len <= offsetof(struct sockaddr_un, sun_path))
			snprintf(buf, size, "unix:");
		else
			snprintf(buf, size, "unix:%.*s",
				 (int)(len - offsetof(struct sockaddr_un,
						      sun_path)),
				 un->sun_path);
		break;
	}
	default:
		snprintf(buf, size, "?");
	}
	return buf;
}

bool addr_equal(const struct addr *a, const struct addr *b)
{
	return a->len == b->len && !memcmp(&a->ss, &b->ss, a->len);
}

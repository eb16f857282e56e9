// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "proxy.h"

static const unsigned char v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

static int v1(char *buf, size_t size, const struct sockaddr *src,
	      const struct sockaddr *dst)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	int n;

	if (src->sa_family != dst->sa_family ||
	    (src->sa_family != AF_INET && src->sa_family != AF_INET6)) {
		n = snprintf(buf, size, "PROXY UNKNOWN\r\n");
	} else if (src->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)src;
		const struct sockaddr_in *b = (const void *)dst;

		inet_ntop(AF_INET, &a->sin_addr, s, sizeof(s));
		inet_ntop(AF_INET, &b->sin_addr, d, sizeof(d));
		n = snprintf(buf, size, "PROXY TCP4 %s %s %u %u\r\n", s, d,
			     ntohs(a->sin_port), ntohs(b->sin_port));
	} else {
		const struct sockaddr_in6 *a = (const void *)src;
		const struct sockaddr_in6 *b = (const void *)dst;

		inet_ntop(AF_INET6, &a->sin6_addr, s, sizeof(s));
		inet_ntop(AF_INET6, &b->sin6_addr, d, sizeof(d));
		n = snprintf(buf, size, "PROXY TCP6 %s %s %u %u\r\n", s, d,
			     ntohs(a->sin6_port), ntohs(b->sin6_port));
	}
	return n < 0 || (size_t)n >= size ? -EINVAL : n;
}

static int v2(char *buf, size_t size, const struct sockaddr *src,
	      const struct sockaddr *dst)
{
	unsigned char *p = (unsigned char *)buf;
	uint16_t len;

	if (size < 16)
		return -EINVAL;
	memcpy(p, v2_sig, 12);
	p[12] = 0x21;	/* version 2, PROXY command */
	if (src->sa_family == AF_INET && dst->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)src;
		const struct sockaddr_in *b = (const void *)dst;

		if (size < 16 + 12)
			return -EINVAL;
		p[13] = 0x11;	/* AF_INET, STREAM */
		len = 12;
		memcpy(p + 16, &a->sin_addr, 4);
		memcpy(p + 20, &b->sin_addr, 4);
		memcpy(p + 24, &a->sin_port, 2);
		memcpy(p + 26, &b->sin_port, 2);
	} else if (src->sa_family == AF_INET6 && dst->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)src;
		const struct sockaddr_in6 *b = (const void *)dst;

		if (size < 16 + 36)
			return -EINVAL;
		p[13] = 0x21;	/* AF_INET6, STREAM */
		len = 36;
		memcpy(p + 16, &a->sin6_addr, 16);
		memcpy(p + 32, &b->sin6_addr, 16);
		memcpy(p + 48, &a->sin6_port, 2);
		memcpy(p + 50, &b->sin6_port, 2);
	} else {
		p[12] = 0x20;	/* LOCAL: no addresses to convey */
		p[13] = 0x00;
		len = 0;
	}
	p[14] = len >> 8;
	p[15] = len & 0xff;
	return 16 + len;
}

int proxy_header(char *buf, size_t size, int version,
		 const struct sockaddr *src, const struct sockaddr *dst)
{
	if (version == 1)
		return v1(buf, size, src, dst);
	if (version == 2)
		return v2(buf, size, src, dst);
	return -EINVAL;
}

int proxy_header_add_tlvs(char *buf, size_t size, int n, const void *tlv,
			  size_t tlv_len)
{
	unsigned char *p = (unsigned char *)buf;
	size_t len;

	if (n < 16 || memcmp(p, v2_sig, 12))
		return -EINVAL;
	len = ((size_t)p[14] << 8 | p[15]) + tlv_len;
	if ((size_t)n + tlv_len > size || len > 0xffff)
		return -EINVAL;
	memcpy(p + n, tlv, tlv_len);
	p[14] = len >> 8;
	p[15] = len & 0xff;
	return n + (int)tlv_len;
}

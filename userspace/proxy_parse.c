// SPDX-License-Identifier: MIT
/*
 * PROXY protocol v1 and v2 headers from a peer: strict, bounded, and
 * never reading past @len. See proxy_parse.h for the contract.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "proxy_parse.h"

static const uint8_t v2_sig[12] = "\r\n\r\n\0\r\nQUIT\n";
static const char v1_prefix[] = "PROXY ";

#define V2_HDR		16
#define V2_VERSION	0x20
#define V2_CMD_LOCAL	0x0
#define V2_CMD_PROXY	0x1
#define V2_AF_UNSPEC	0x0
#define V2_AF_INET	0x1
#define V2_AF_INET6	0x2
#define V2_AF_UNIX	0x3
#define V2_TP_UNSPEC	0x0
#define V2_TP_STREAM	0x1

static int fail(const char **why, const char *msg)
{
	*why = msg;
	return -EINVAL;
}

/* a decimal port: 1 to 5 digits, no leading zero, at most 65535 */
static int parse_port(const char *s, size_t n, uint16_t *port)
{
	unsigned long v = 0;
	size_t i;

	if (!n || n > 5 || (n > 1 && s[0] == '0'))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	if (v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

static void set_addrs(struct pp_info *pi, int family, const void *src,
		      const void *dst, uint16_t sport, uint16_t dport)
{
	memset(&pi->src, 0, sizeof(pi->src));
	memset(&pi->dst, 0, sizeof(pi->dst));
	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&pi->src;
		struct sockaddr_in *d = (struct sockaddr_in *)&pi->dst;

		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, src, 4);
		memcpy(&d->sin_addr, dst, 4);
		s->sin_port = htons(sport);
		d->sin_port = htons(dport);
		pi->addr_len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&pi->src;
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)&pi->dst;

		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, src, 16);
		memcpy(&d->sin6_addr, dst, 16);
		s->sin6_port = htons(sport);
		d->sin6_port = htons(dport);
		pi->addr_len = sizeof(*s);
	}
}

/*
 * "PROXY TCP4 SRC DST SPORT DPORT\r\n", "PROXY TCP6 ...", or
 * "PROXY UNKNOWN[ anything]\r\n"; single spaces, at most 107 bytes.
 */
static int parse_v1(const uint8_t *buf, size_t len, struct pp_info *pi,
		    const char **why)
{
	const char *tok[6], *line = (const char *)buf;
	size_t toklen[6], i, end, n = 0, start;
	uint8_t src[16], dst[16];
	char a[INET6_ADDRSTRLEN + 1];
	uint16_t sport, dport;
	int family;

	/* find CRLF; everything before it printable */
	for (end = 0; end < len; end++) {
		uint8_t ch = buf[end];

		if (ch == '\r')
			break;
		if (ch < 0x20 || ch > 0x7e)
			return fail(why, "v1: a byte that is not printable ASCII");
	}
	/* CR at 105 at the latest, found or not */
	if (end + 2 > PP_V1_MAX)
		return fail(why, "v1: line longer than 107 bytes");
	if (end + 1 >= len)
		return 0;	/* no CR yet, or CR without its LF yet */
	if (buf[end + 1] != '\n')
		return fail(why, "v1: CR not followed by LF");

	/* tokens between the prefix and CR, split on single spaces */
	start = sizeof(v1_prefix) - 1;
	for (i = start; i <= end && n < 6; i++) {
		if (i == end || line[i] == ' ') {
			if (i == start)
				return fail(why, "v1: empty field (two spaces?)");
			tok[n] = line + start;
			toklen[n++] = i - start;
			start = i + 1;
		}
	}
	if (n >= 1 && toklen[0] == 7 && !memcmp(tok[0], "UNKNOWN", 7)) {
		/* the rest of the line, if any, is ignored by the spec */
		pi->version = 1;
		pi->local = true;
		pi->tlv_off = pi->tlv_len = 0;
		return (int)end + 2;
	}
	if (i <= end || n != 5)
		return fail(why, "v1: want TCP4|TCP6 SRC DST SPORT DPORT");
	if (toklen[0] == 4 && !memcmp(tok[0], "TCP4", 4))
		family = AF_INET;
	else if (toklen[0] == 4 && !memcmp(tok[0], "TCP6", 4))
		family = AF_INET6;
	else
		return fail(why, "v1: protocol is not TCP4, TCP6 or UNKNOWN");
	for (i = 1; i <= 2; i++) {
		if (toklen[i] >= sizeof(a))
			return fail(why, "v1: address too long");
		memcpy(a, tok[i], toklen[i]);
		a[toklen[i]] = '\0';
		if (inet_pton(family, a, i == 1 ? src : dst) != 1)
			return fail(why, family == AF_INET ?
				    "v1: not an IPv4 address" :
				    "v1: not an IPv6 address");
	}
	if (parse_port(tok[3], toklen[3], &sport) ||
	    parse_port(tok[4], toklen[4], &dport))
		return fail(why, "v1: bad port");
	pi->version = 1;
	pi->local = false;
	pi->tlv_off = pi->tlv_len = 0;
	set_addrs(pi, family, src, dst, sport, dport);
	return (int)end + 2;
}

/* each TLV: type, 16-bit length, value; they must fill @n exactly */
static int check_tlvs(const uint8_t *p, size_t n)
{
	size_t off = 0;

	while (off < n) {
		size_t l;

		if (n - off < 3)
			return -EINVAL;
		l = (size_t)p[off + 1] << 8 | p[off + 2];
		if (l > n - off - 3)
			return -EINVAL;
		off += 3 + l;
	}
	return 0;
}

static int parse_v2(const uint8_t *buf, size_t len, struct pp_info *pi,
		    const char **why)
{
	size_t total, hlen, alen;
	uint8_t cmd, fam, tp;

	if (len < V2_HDR)
		return 0;
	if ((buf[12] & 0xf0) != V2_VERSION)
		return fail(why, "v2: version is not 2");
	cmd = buf[12] & 0x0f;
	if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY)
		return fail(why, "v2: command is not LOCAL or PROXY");
	fam = buf[13] >> 4;
	tp = buf[13] & 0x0f;
	hlen = (size_t)buf[14] << 8 | buf[15];
	total = V2_HDR + hlen;
	if (total > PP_RECV_MAX)
		return fail(why, "v2: header longer than 1024 bytes");
	if (len < total)
		return 0;

	pi->version = 2;
	pi->tlv_off = pi->tlv_len = 0;
	if (cmd == V2_CMD_LOCAL) {
		/* health checks of the balancer in front: its own endpoints */
		pi->local = true;
		return (int)total;
	}
	switch (fam) {
	case V2_AF_UNSPEC:
		alen = 0;
		break;
	case V2_AF_INET:
		alen = 12;
		break;
	case V2_AF_INET6:
		alen = 36;
		break;
	case V2_AF_UNIX:
		alen = 216;
		break;
	default:
		return fail(why, "v2: unknown address family");
	}
	if (fam != V2_AF_UNSPEC && tp != V2_TP_STREAM)
		return fail(why, "v2: transport is not STREAM");
	if (hlen < alen)
		return fail(why, "v2: length shorter than its addresses");
	if (check_tlvs(buf + V2_HDR + alen, hlen - alen))
		return fail(why, "v2: TLVs do not fill the header exactly");
	pi->tlv_off = (uint16_t)(V2_HDR + alen);
	pi->tlv_len = (uint16_t)(hlen - alen);
	if (fam == V2_AF_INET || fam == V2_AF_INET6) {
		const uint8_t *a = buf + V2_HDR;
		size_t al = fam == V2_AF_INET ? 4 : 16;

		pi->local = false;
		set_addrs(pi, fam == V2_AF_INET ? AF_INET : AF_INET6, a,
			  a + al, (uint16_t)(a[2 * al] << 8 | a[2 * al + 1]),
			  (uint16_t)(a[2 * al + 2] << 8 | a[2 * al + 3]));
	} else {
		/* no address a TCP client could have: the peer's stands */
		pi->local = true;
	}
	return (int)total;
}

int pp_parse(const uint8_t *buf, size_t len, int accept, struct pp_info *pi,
	     const char **why)
{
	size_t k;

	*why = NULL;
	if (!len)
		return 0;
	if (buf[0] == v2_sig[0]) {
		if (accept == PP_ACCEPT_V1)
			return fail(why, "a v2 header where v1 is required");
		k = len < sizeof(v2_sig) ? len : sizeof(v2_sig);
		if (memcmp(buf, v2_sig, k))
			return fail(why, "not a PROXY header (bad v2 signature)");
		return parse_v2(buf, len, pi, why);
	}
	if (buf[0] == v1_prefix[0]) {
		if (accept == PP_ACCEPT_V2)
			return fail(why, "a v1 header where v2 is required");
		k = len < sizeof(v1_prefix) - 1 ? len : sizeof(v1_prefix) - 1;
		if (memcmp(buf, v1_prefix, k))
			return fail(why, "not a PROXY header (bad v1 prefix)");
		if (len < sizeof(v1_prefix) - 1)
			return 0;
		return parse_v1(buf, len, pi, why);
	}
	return fail(why, "not a PROXY header");
}

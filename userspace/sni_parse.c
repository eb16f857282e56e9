// SPDX-License-Identifier: MIT
/*
 * TLS ClientHello (RFC 8446 4.1.2, RFC 5246 7.4.1.2) for its server_name
 * (RFC 6066 3) and application_layer_protocol_negotiation (RFC 7301)
 * extensions. Every length is checked against the one that encloses it;
 * nothing is read past @len.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "sni_parse.h"

#define REC_HANDSHAKE	22
#define REC_HDR		5
#define REC_MAX		16384
#define HS_CLIENT_HELLO	1
#define EXT_SNI		0
#define EXT_ALPN	16

static int fail(const char **why, const char *msg)
{
	*why = msg;
	return -EINVAL;
}

/* a cursor over the reassembled handshake message */
struct cur {
	const uint8_t *p;
	size_t n;
};

static int take(struct cur *c, size_t k, const uint8_t **out)
{
	if (c->n < k)
		return -1;
	if (out)
		*out = c->p;
	c->p += k;
	c->n -= k;
	return 0;
}

static int u8(struct cur *c, size_t *v)
{
	const uint8_t *p;

	if (take(c, 1, &p))
		return -1;
	*v = p[0];
	return 0;
}

static int u16(struct cur *c, size_t *v)
{
	const uint8_t *p;

	if (take(c, 2, &p))
		return -1;
	*v = (size_t)p[0] << 8 | p[1];
	return 0;
}

/* a vector with a 1- or 2-byte length: its body as a cursor of its own */
static int vec(struct cur *c, int lenbytes, struct cur *body)
{
	size_t l;

	if ((lenbytes == 1 ? u8(c, &l) : u16(c, &l)) ||
	    take(c, l, &body->p))
		return -1;
	body->n = l;
	return 0;
}

/* host_name: LDH labels and dots, as a DNS name, lower-cased */
static int set_name(struct sni_info *si, const uint8_t *p, size_t n)
{
	size_t i;

	if (!n || n > SNI_NAME_MAX || p[0] == '.' || p[n - 1] == '.')
		return -1;
	for (i = 0; i < n; i++) {
		uint8_t ch = p[i];

		if (ch >= 'A' && ch <= 'Z')
			ch += 'a' - 'A';
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      ch == '-' || ch == '_' || ch == '.'))
			return -1;
		if (ch == '.' && p[i - 1] == '.')
			return -1;
		si->name[i] = (char)ch;
	}
	si->name[n] = '\0';
	return 0;
}

static int parse_sni(struct cur *e, struct sni_info *si, const char **why)
{
	struct cur list, name;
	size_t type;
	int got = 0;

	if (vec(e, 2, &list) || e->n)
		return fail(why, "TLS: server_name list length");
	if (!list.n)
		return fail(why, "TLS: empty server_name list");
	while (list.n) {
		if (u8(&list, &type) || vec(&list, 2, &name))
			return fail(why, "TLS: server_name entry length");
		if (type != 0)
			continue;	/* not host_name: not ours */
		if (got++)
			return fail(why, "TLS: two host names");
		if (set_name(si, name.p, name.n))
			return fail(why, "TLS: server name is not a host name");
	}
	return 0;
}

static int parse_alpn(struct cur *e, struct sni_info *si, const char **why)
{
	struct cur list, proto;
	bool first = true;

	if (vec(e, 2, &list) || e->n || !list.n)
		return fail(why, "TLS: ALPN list length");
	while (list.n) {
		if (vec(&list, 1, &proto) || !proto.n)
			return fail(why, "TLS: ALPN protocol length");
		if (first && proto.n < sizeof(si->alpn)) {
			size_t i;

			for (i = 0; i < proto.n; i++)
				si->alpn[i] = (proto.p[i] >= 0x21 &&
					       proto.p[i] <= 0x7e) ?
					      (char)proto.p[i] : '?';
			si->alpn[proto.n] = '\0';
		}
		first = false;
	}
	return 0;
}

static int parse_hello(const uint8_t *m, size_t n, struct sni_info *si,
		       const char **why)
{
	struct cur c = { m, n }, v, exts, e;
	size_t type, seen_sni = 0, seen_alpn = 0;

	/* legacy_version, random */
	if (take(&c, 2 + 32, NULL))
		return fail(why, "TLS: ClientHello too short");
	if (vec(&c, 1, &v) || v.n > 32)
		return fail(why, "TLS: session id length");
	if (vec(&c, 2, &v) || !v.n || v.n % 2)
		return fail(why, "TLS: cipher suites length");
	if (vec(&c, 1, &v) || !v.n)
		return fail(why, "TLS: compression methods length");
	if (!c.n)
		return 0;	/* no extensions (TLS 1.2 may): no name */
	if (vec(&c, 2, &exts) || c.n)
		return fail(why, "TLS: extensions length");
	while (exts.n) {
		if (u16(&exts, &type) || vec(&exts, 2, &e))
			return fail(why, "TLS: extension length");
		if (type == EXT_SNI) {
			if (seen_sni++)
				return fail(why, "TLS: server_name twice");
			if (parse_sni(&e, si, why))
				return -EINVAL;
		} else if (type == EXT_ALPN) {
			if (seen_alpn++)
				return fail(why, "TLS: ALPN twice");
			if (parse_alpn(&e, si, why))
				return -EINVAL;
		}
	}
	return 0;
}

int sni_parse(const uint8_t *buf, size_t len, struct sni_info *si,
	      const char **why)
{
	/* the handshake message, reassembled from its records */
	uint8_t hs[SNI_PEEK_MAX];
	size_t off = 0, have = 0, need = 0;

	*why = NULL;
	memset(si, 0, sizeof(*si));
	if (!len)
		return 0;
	if (buf[0] != REC_HANDSHAKE)
		return 1;	/* not TLS: si->tls stays 0 */
	si->tls = 1;
	for (;;) {
		size_t rlen, k;

		if (len - off < REC_HDR) {
			if (off + REC_HDR > SNI_PEEK_MAX)
				return fail(why, "TLS: ClientHello larger than 16 KiB");
			/* what there is of the record header must be sane */
			if (len - off >= 1 && buf[off] != REC_HANDSHAKE)
				return fail(why, "TLS: a record that is not handshake before the ClientHello ended");
			if (len - off >= 2 && buf[off + 1] != 3)
				return fail(why, "TLS: record version is not 3.x");
			return 0;
		}
		if (buf[off] != REC_HANDSHAKE)
			return fail(why, "TLS: a record that is not handshake before the ClientHello ended");
		if (buf[off + 1] != 3 || buf[off + 2] > 4)
			return fail(why, "TLS: record version is not 3.0 to 3.4");
		rlen = (size_t)buf[off + 3] << 8 | buf[off + 4];
		if (!rlen || rlen > REC_MAX)
			return fail(why, "TLS: record length");
		if (off + REC_HDR + rlen > SNI_PEEK_MAX)
			return fail(why, "TLS: ClientHello larger than 16 KiB");
		/* this record's fragment, or as much as has come */
		k = len - off - REC_HDR < rlen ? len - off - REC_HDR : rlen;
		memcpy(hs + have, buf + off + REC_HDR, k);
		have += k;
		if (have >= 4 && !need) {
			if (hs[0] != HS_CLIENT_HELLO)
				return fail(why, "TLS: first handshake message is not a ClientHello");
			need = 4 + ((size_t)hs[1] << 16 | (size_t)hs[2] << 8 |
				    hs[3]);
			if (need > SNI_PEEK_MAX - REC_HDR)
				return fail(why, "TLS: ClientHello larger than 16 KiB");
		}
		if (need && have >= need) {
			/* the record that ends it may not carry more */
			if (have > need)
				return fail(why, "TLS: bytes after the ClientHello in its record");
			if (k < rlen)
				return 0;
			if (parse_hello(hs + 4, need - 4, si, why))
				return -EINVAL;
			return (int)(off + REC_HDR + rlen);
		}
		if (k < rlen)
			return 0;
		off += REC_HDR + rlen;
	}
}

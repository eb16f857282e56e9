// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"

int cidr_parse(const char *s, struct cidr *c)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned int max, i;
	char *end;
	long bits;

	memset(c, 0, sizeof(*c));
	if (!hlen || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else {
		return -EINVAL;
	}
	bits = max;
	if (slash) {
		errno = 0;
		bits = strtol(slash + 1, &end, 10);
		if (errno || end == slash + 1 || *end || bits < 0 ||
		    bits > (long)max)
			return -EINVAL;
	}
	c->bits = bits;
	/* 10.1.2.3/8 means 10.0.0.0/8: clear the host part */
	for (i = 0; i < 16; i++) {
		int keep = (int)c->bits - (int)i * 8;

		if (keep <= 0)
			c->addr[i] = 0;
		else if (keep < 8)
			c->addr[i] &= 0xff << (8 - keep);
	}
	return 0;
}

/* The source's address bytes as the lists see them; 0 if not IP. */
static unsigned int source_key(const struct sockaddr *sa, uint8_t key[16],
			       uint8_t *family)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (sa->sa_family == AF_INET) {
		memcpy(key, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		*family = AF_INET;
		return 4;
	}
	if (sa->sa_family == AF_INET6) {
		const uint8_t *a =
			((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;

		if (!memcmp(a, mapped, 12)) {
			memcpy(key, a + 12, 4);
			*family = AF_INET;
			return 4;
		}
		memcpy(key, a, 16);
		*family = AF_INET6;
		return 16;
	}
	return 0;
}

bool cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
	uint8_t key[16], family;
	unsigned int full = c->bits / 8, rest = c->bits % 8;

	if (!source_key(sa, key, &family) || family != c->family)
		return false;
	if (memcmp(key, c->addr, full))
		return false;
	return !rest || !((key[full] ^ c->addr[full]) & (0xff << (8 - rest)));
}

struct src_entry {
	struct src_entry *next;
	uint8_t key[16];
	uint8_t family;
	unsigned int count;		/* open now */
	/* new connections in this second and the one before it */
	uint64_t sec;
	unsigned int cur, prev;
};

struct src_table *src_table_new(const struct src_limits *lim)
{
	struct src_table *t = calloc(1, sizeof(*t));
	unsigned int i;

	if (!t)
		return NULL;
	t->lim = *lim;
	for (i = 0; i < SRC_STRIPES; i++)
		pthread_mutex_init(&t->lock[i], NULL);
	return t;
}

void src_table_free(struct src_table *t)
{
	struct src_entry *e, *next;
	unsigned int i;

	if (!t)
		return;
	for (i = 0; i < SRC_BUCKETS; i++)
		for (e = t->bucket[i]; e; e = next) {
			next = e->next;
			free(e);
		}
	for (i = 0; i < SRC_STRIPES; i++)
		pthread_mutex_destroy(&t->lock[i]);
	free(t);
}

/* The source's prefix: its address with the host bits cleared. */
static unsigned int src_key(const struct src_table *t,
			    const struct sockaddr *sa, uint8_t key[16],
			    uint8_t *family)
{
	unsigned int len = source_key(sa, key, family), bits, i;

	if (!len)
		return 0;
	bits = t->lim.prefix[*family == AF_INET6];
	for (i = 0; i < len; i++) {
		int keep = (int)bits - (int)i * 8;

		if (keep <= 0)
			key[i] = 0;
		else if (keep < 8)
			key[i] &= 0xff << (8 - keep);
	}
	return len;
}

/* FNV-1a over the address bytes */
static unsigned int src_hash(const uint8_t *key, unsigned int len)
{
	uint32_t h = 2166136261u;
	unsigned int i;

	for (i = 0; i < len; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % SRC_BUCKETS;
}

/* Roll the per-second counts forward to second @sec. */
static void src_roll(struct src_entry *e, uint64_t sec)
{
	/*
	 * Workers share the table, each with the clock of its last wake-up:
	 * one a second behind counts into the current second rather than
	 * rolling the entry back and forgetting what was counted (the 6.1
	 * VM let 11 of 20 through a rate of 5 within 76 ms that way).
	 */
	if (sec <= e->sec)
		return;
	e->prev = sec == e->sec + 1 ? e->cur : 0;
	e->cur = 0;
	e->sec = sec;
}

/* An entry holds nothing: no open connection, no rate left to count. */
static bool src_idle(const struct src_entry *e, uint64_t sec)
{
	return !e->count && sec > e->sec + 1;
}

/* Free what bucket @b holds for nobody: entries kept only for the rate. */
static void src_gc(struct src_table *t, unsigned int b, uint64_t sec)
{
	struct src_entry **pe, *e;

	for (pe = &t->bucket[b]; (e = *pe);) {
		if (src_idle(e, sec)) {
			*pe = e->next;
			free(e);
		} else {
			pe = &e->next;
		}
	}
}

void src_table_sweep(struct src_table *t, uint64_t now_ms, unsigned int n)
{
	unsigned int b;

	while (n--) {
		b = t->sweep;
		t->sweep = (b + 1) % SRC_BUCKETS;
		pthread_mutex_lock(&t->lock[b % SRC_STRIPES]);
		src_gc(t, b, now_ms / 1000);
		pthread_mutex_unlock(&t->lock[b % SRC_STRIPES]);
	}
}

static struct src_entry **src_find(struct src_table *t, unsigned int b,
				   const uint8_t *key, uint8_t family)
{
	struct src_entry **pe;

	for (pe = &t->bucket[b]; *pe; pe = &(*pe)->next)
		if ((*pe)->family == family && !memcmp((*pe)->key, key, 16))
			break;
	return pe;
}

/*
 * The rate is the count of this second plus the share of the last
 * second's count that still falls within the past 1000 ms: smooth
 * across the boundary without a timestamp per connection.
 */
static bool src_rate_ok(const struct src_table *t, const struct src_entry *e,
			uint64_t now_ms)
{
	uint64_t into = now_ms % 1000;

	if (!t->lim.max_rate)
		return true;
	return e->cur * 1000ULL + e->prev * (1000 - into) <
	       t->lim.max_rate * 1000ULL;
}

int src_acquire(struct src_table *t, const struct sockaddr *sa,
		uint64_t now_ms)
{
	uint8_t key[16] = { 0 }, family;
	unsigned int len = src_key(t, sa, key, &family), b;
	uint64_t sec = now_ms / 1000;
	struct src_entry **pe, *e;
	int ret = 0;

	if (!len)
		return 0;	/* unix sockets: no source to limit */
	b = src_hash(key, len);
	pthread_mutex_lock(&t->lock[b % SRC_STRIPES]);
	src_gc(t, b, sec);
	pe = src_find(t, b, key, family);
	e = *pe;
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e) {
			ret = -ENOMEM;
			goto out;
		}
		memcpy(e->key, key, 16);
		e->family = family;
		e->sec = sec;
		*pe = e;
	}
	src_roll(e, sec);
	if (t->lim.max_conns && e->count >= t->lim.max_conns)
		ret = -EBUSY;
	else if (!src_rate_ok(t, e, now_ms))
		ret = -EAGAIN;
	else {
		e->count++;
		e->cur++;
	}
out:
	pthread_mutex_unlock(&t->lock[b % SRC_STRIPES]);
	return ret;
}

void src_release(struct src_table *t, const struct sockaddr *sa)
{
	uint8_t key[16] = { 0 }, family;
	unsigned int len = src_key(t, sa, key, &family), b;
	struct src_entry **pe, *e;

	if (!len)
		return;
	b = src_hash(key, len);
	pthread_mutex_lock(&t->lock[b % SRC_STRIPES]);
	pe = src_find(t, b, key, family);
	e = *pe;
	if (e && e->count)
		e->count--;
	/* without a rate to count, an entry lives only while it is open */
	if (e && !e->count && !t->lim.max_rate) {
		*pe = e->next;
		free(e);
	}
	pthread_mutex_unlock(&t->lock[b % SRC_STRIPES]);
}

unsigned int src_table_entries(struct src_table *t)
{
	struct src_entry *e;
	unsigned int i, n = 0;

	for (i = 0; i < SRC_BUCKETS; i++) {
		pthread_mutex_lock(&t->lock[i % SRC_STRIPES]);
		for (e = t->bucket[i]; e; e = e->next)
			n++;
		pthread_mutex_unlock(&t->lock[i % SRC_STRIPES]);
	}
	return n;
}

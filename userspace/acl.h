/* SPDX-License-Identifier: MIT */
/*
 * Who may connect to a listener: allow/deny lists of CIDR blocks, and a
 * cap on connections open at once from one source address.
 */
#ifndef RINGLB_ACL_H
#define RINGLB_ACL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct cidr {
	uint8_t family;			/* AF_INET or AF_INET6 */
	uint8_t bits;			/* prefix length */
	uint8_t addr[16];		/* network byte order, host bits zero */
};

/* "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128). */
int cidr_parse(const char *s, struct cidr *c);
/* An IPv4-mapped IPv6 source (::ffff:a.b.c.d) matches IPv4 blocks. */
bool cidr_match(const struct cidr *c, const struct sockaddr *sa);

/*
 * Per-source limits, shared by every worker serving one listener: open
 * connections at once and new connections per second, counted per
 * source prefix (a /64 is one IPv6 client: whoever holds one holds all
 * of its addresses). Entries live while their source has connections,
 * and a couple of seconds after for the rate; the lock is striped so
 * workers rarely meet on it.
 */
#define SRC_BUCKETS	1024
#define SRC_STRIPES	32

struct src_entry;

struct src_limits {
	unsigned int max_conns;		/* 0: no limit */
	unsigned int max_rate;		/* per second; 0: no limit */
	uint8_t prefix[2];		/* bits kept: [0] IPv4, [1] IPv6 */
};

struct src_table {
	struct src_limits lim;
	pthread_mutex_t lock[SRC_STRIPES];
	struct src_entry *bucket[SRC_BUCKETS];
	unsigned int sweep;		/* next bucket src_table_sweep() frees */
};

struct src_table *src_table_new(const struct src_limits *lim);
void src_table_free(struct src_table *t);
/*
 * One more connection from @sa at @now_ms: 0, -EBUSY when its prefix
 * has max_conns open, -EAGAIN when it opened max_rate in the last
 * second, -ENOMEM. Only a 0 is to be released.
 */
int src_acquire(struct src_table *t, const struct sockaddr *sa,
		uint64_t now_ms);
void src_release(struct src_table *t, const struct sockaddr *sa);
/*
 * Free the entries of sources that left, in @n more buckets: a source
 * that never comes back is not met again by src_acquire(). One caller
 * at a time (worker 0's tick).
 */
void src_table_sweep(struct src_table *t, uint64_t now_ms, unsigned int n);
/* sources tracked now */
unsigned int src_table_entries(struct src_table *t);

#endif

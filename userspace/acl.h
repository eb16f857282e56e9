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
 * Open connections per source address, shared by every worker serving
 * one listener. Entries exist only while their source has connections;
 * the lock is striped so workers rarely meet on it.
 */
#define SRC_BUCKETS	1024
#define SRC_STRIPES	32

struct src_entry;

struct src_table {
	pthread_mutex_t lock[SRC_STRIPES];
	struct src_entry *bucket[SRC_BUCKETS];
};

struct src_table *src_table_new(void);
void src_table_free(struct src_table *t);
/* Count one more connection from @sa: 0, -EBUSY at @max, or -ENOMEM. */
int src_acquire(struct src_table *t, const struct sockaddr *sa,
		unsigned int max);
void src_release(struct src_table *t, const struct sockaddr *sa);

#endif

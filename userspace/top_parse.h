/* SPDX-License-Identifier: MIT */
/*
 * `ringlbctl top` reads the text answers of the admin socket's show
 * commands (stats, servers, listeners, kernel) into one sample. The
 * answers come from another process over a socket: every field is
 * bounded, every string is cut to printable ASCII (nothing the daemon
 * sends can move the cursor or retitle the terminal), and unknown keys,
 * extra columns and lines that do not parse are skipped, so a newer
 * daemon that adds a field at the end of a line still reads.
 */
#ifndef RINGLB_TOP_PARSE_H
#define RINGLB_TOP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOP_NAME	48
#define TOP_ADDR	128
/* a hostile or broken daemon cannot make us hold more than this */
#define TOP_MAX_ROWS	65536

#define TOP_STATS(X)							\
	X(uptime_ms) X(reloads) X(reload_failures)			\
	X(conns_total) X(conns_active) X(bytes_up) X(bytes_down)	\
	X(connect_errors) X(connect_timeouts) X(no_server)		\
	X(accept_errors) X(conns_denied) X(conns_limited)		\
	X(conns_rate_limited) X(conns_bad_proxy) X(conns_bad_tls)	\
	X(idle_timeouts) X(client_timeouts) X(server_timeouts)		\
	X(write_timeouts) X(resets) X(uring_sqes) X(uring_cqes)	\
	X(uring_enter)

struct top_stats {
	char version[TOP_NAME];
	char engine[TOP_NAME];
	char forward[TOP_NAME];
	char pid[TOP_NAME];
#define X(name) uint64_t name;
	TOP_STATS(X)
#undef X
};

struct top_server {
	char backend[TOP_NAME];
	char name[TOP_NAME];
	char address[TOP_ADDR];
	char state[TOP_NAME];
	char weight[TOP_NAME];		/* "3", or "1/3" in slow start */
	bool backup;
	uint64_t active, total, connect_errors;
	char checks[TOP_NAME];		/* "ok/fail" */
};

struct top_listener {
	char name[TOP_NAME];
	char backend[TOP_NAME];
	char max_conns[TOP_NAME];
	char binds[TOP_ADDR];
};

struct top_ring {
	uint64_t id;
	char pid[TOP_NAME];
	uint64_t sq_entries, submitted, completed, failed, cq_overflow;
};

struct top_sample {
	uint64_t t_ms;			/* when it was taken (monotonic) */
	bool have_stats, have_servers, have_listeners, have_kernel;
	struct top_stats stats;
	struct top_server *servers;
	size_t nservers;
	struct top_listener *listeners;
	size_t nlisteners;
	bool uringstat;			/* the module answered */
	char kernel_note[TOP_ADDR];	/* why not, when it did not */
	struct top_ring *rings;
	size_t nrings;
};

/* each returns 0, -EINVAL (an "error:" answer or no header), -ENOMEM */
int top_parse_stats(struct top_sample *s, const char *text);
int top_parse_servers(struct top_sample *s, const char *text);
int top_parse_listeners(struct top_sample *s, const char *text);
int top_parse_kernel(struct top_sample *s, const char *text);
void top_sample_free(struct top_sample *s);

/* @src cut to @len - 1 bytes; bytes outside ' '..'~' become '?' */
void top_copy(char *dst, size_t len, const char *src, size_t n);

#endif

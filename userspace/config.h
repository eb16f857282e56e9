/* SPDX-License-Identifier: MIT */
/*
 * The configuration: listeners, backends and their servers, and the
 * global knobs. A config file (-c, parsed with libinih) and the command
 * line fill the same structure through the same key setters
 * (config_set()), so every option has a config key and nothing past
 * parsing knows where a value came from.
 *
 * Live per-server state (health, admin state, weight, counters) is atomic
 * because every worker reads or updates it.
 */
#ifndef RINGLB_CONFIG_H
#define RINGLB_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "acl.h"
#include "addr.h"
#include "logfmt.h"

#define NAME_MAX_LEN	32
#define MAX_SERVERS	256	/* the "tried" bitmap in struct conn */
#define UNSET		(-1)

enum engine_kind {
	ENGINE_AUTO,
	ENGINE_URING,
	ENGINE_EPOLL,
};

enum forward_kind {
	FORWARD_AUTO,
	FORWARD_SPLICE,
	FORWARD_BUFFERS,
};

enum health_kind {
	HEALTH_NONE,
	HEALTH_TCP,
	HEALTH_SEND_EXPECT,	/* connect, send, expect an answer */
};

/*
 * Where a server is. One given by name moves when its name resolves to
 * another address: the resolver writes the next slot and then publishes
 * it, so a worker that read the old one (an SQE may still point at it)
 * keeps a valid copy for SRV_ADDR_SLOTS - 1 more changes.
 */
#define SRV_ADDR_SLOTS	8

struct srv_addr {
	struct addr addr;		/* where connections go */
	struct addr check;		/* where checks go: addr, or health-port */
	char str[ADDR_STRLEN];		/* for the logs */
};

struct server {
	char name[NAME_MAX_LEN];
	char host[254];			/* NAME of a NAME:PORT address; "" */
	uint16_t port;			/* its port */
	atomic_bool resolved;		/* resolver: found at least once */
	atomic_uint at;			/* slots[at] is the address now */
	struct srv_addr slots[SRV_ADDR_SLOTS];
	bool backup;
	int line;

	atomic_uint weight;		/* 0..256; set weight changes it */
	atomic_bool disabled;		/* admin state */
	atomic_bool up;			/* health state */
	atomic_uint fails;		/* consecutive connect failures */
	atomic_uint reset_run;		/* consecutive connections it reset */
	/* clock_ms(): slow start ramps the weight from here; 0 = none */
	atomic_ulong ramp_start;
	/* clock_ms(): marked down by passive health until then */
	atomic_ulong passive_until;
	/* health check bookkeeping, owned by the checking worker */
	unsigned int hc_ok, hc_fail;
	uint64_t hc_next;		/* ms, worker clock */

	atomic_uint active;		/* connections using it now */
	atomic_ulong conns_total;	/* connections established */
	atomic_ulong connect_errors;	/* refused, unreachable, timed out */
	atomic_ulong hc_total[2];	/* health checks: [0] failed [1] ok */
	atomic_ulong resets;		/* established connections it reset */
	atomic_ulong passive_downs;	/* times passive health took it out */
	/* bytes of its connections, added when each ends: in = client to
	 * server, out = server to client (HAProxy's bin/bout) */
	atomic_ulong bytes_in, bytes_out;
};

/* the server's address now (an unresolved name: AF_UNSPEC) */
static inline struct srv_addr *srv_at(struct server *s)
{
	return &s->slots[atomic_load_explicit(&s->at, memory_order_acquire) %
			 SRV_ADDR_SLOTS];
}

struct backend {
	char name[NAME_MAX_LEN];
	char balance[16];
	struct server *servers;
	unsigned int nservers;
	int line;
	int health;			/* enum health_kind or UNSET */
	int health_interval_ms, health_timeout_ms, rise, fall;
	int connect_timeout_ms;
	int server_timeout_ms;		/* server side silent this long: close */
	int retries;			/* rounds over the servers after the first */
	/* health = send-expect: what to send, what to expect back */
	char health_send[256], health_expect[256];
	size_t health_send_len, health_expect_len;
	struct re_pattern_buffer *health_re;	/* "re:..." compiled */
	int health_port;		/* checks go here; 0: the server's */
	int resolve_every_ms;		/* servers given by name: look again */
	int slow_start_ms;		/* weight ramp after coming up; 0 = off */
	int passive_fall;		/* failures in a row to go down; 0 = off */
	int passive_down_ms;		/* out for at least this long */
	atomic_uint state_gen;		/* bumped on up/down/weight/admin */
};

struct cidr_list {
	struct cidr *v;
	unsigned int n;
};

/* sni-backend = PATTERN BACKEND: a name, or "*.suffix" */
struct sni_rule {
	char pattern[254];		/* lower case, without the "*." */
	bool wildcard;
	char backend_name[NAME_MAX_LEN];
	struct backend *backend;
	int line;
};

struct listener {
	char name[NAME_MAX_LEN];
	struct addr *binds;
	unsigned int nbinds;
	char backend_name[NAME_MAX_LEN];
	struct backend *backend;
	int max_conns;			/* 0 = unlimited */
	int proxy_protocol;		/* 0 off, 1 v1, 2 v2 */
	int accept_proxy;		/* PP_ACCEPT_*: a header from the peer */
	struct cidr_list proxy_from;	/* peers that may send one; empty: any */
	int proxy_tlvs;			/* 1: received v2 TLVs go on to servers */
	int inspect_timeout_ms;		/* for the header (and ClientHello) */
	struct sni_rule *sni;		/* backends by TLS server name */
	unsigned int nsni;
	int access_log;			/* 0: no access line */
	int transparent;		/* connect from the client's address */
	char *log_format_text;		/* as configured, NULL: default */
	struct log_format log_format;	/* parsed by config_finish() */
	int idle_timeout_ms;		/* no byte either way this long: close */
	int client_timeout_ms;		/* client side silent this long: close */
	int write_timeout_ms;		/* a destination took nothing this long */
	struct cidr_list allow, deny;	/* empty allow list: everybody */
	int max_per_source;		/* open at once per source prefix */
	int max_rate_per_source;	/* new per second per source prefix */
	int src_prefix[2];		/* [0] IPv4, [1] IPv6 bits of a source */
	struct src_table *sources;	/* when either per-source limit is set */
	int line, backend_line;

	/* counters for the metrics, every worker adds to them */
	atomic_uint current;		/* clients open now */
	atomic_ulong sessions_total;	/* clients accepted */
	atomic_ulong denied;		/* refused by conn_admit() */
	/* bytes of its clients' connections, added when each ends */
	atomic_ulong bytes_in, bytes_out;
};

/* One bound socket: a listener's bind address. Workers listen on each. */
struct listen_sock {
	struct listener *ln;
	struct addr addr;
	char addr_str[ADDR_STRLEN];
};

struct config {
	const char *file;		/* -c FILE, or NULL */
	const char *takeover;		/* -x PATH: listeners from the ringlb
					 * there (handover.c), or NULL */
	struct listener *listeners;
	unsigned int nlisteners;
	struct backend *backends;
	unsigned int nbackends;
	struct listen_sock *socks;
	unsigned int nsocks;

	int threads;
	enum engine_kind engine;
	enum forward_kind forward;
	int max_conns;			/* whole process; 0 = unlimited */
	struct cidr_list allow, deny;	/* defaults for listeners */
	int max_per_source;
	int max_rate_per_source;
	int src_prefix[2];
	int connect_timeout_ms;
	int retries;
	int idle_timeout_ms;		/* 0 = never */
	int client_timeout_ms, server_timeout_ms, write_timeout_ms;
	int tcp_keepalive_s;		/* idle before probes; 0 = off */
	int drain_timeout_ms;
	int hard_stop_after_ms;		/* graceful drain bound; 0 = none */
	int proxy_protocol;
	int accept_proxy, proxy_tlvs, inspect_timeout_ms;
	int access_log, transparent;
	char resolvers[512];		/* resolver = ...: c-ares' csv; "" */
	int resolve_every_ms;
	char *log_format_text;
	struct cidr_list proxy_from;
	char balance[16];
	int health, health_interval_ms, health_timeout_ms, rise, fall;
	int slow_start_ms, passive_fall, passive_down_ms;
	char admin_path[108];
	struct addr metrics;
	bool metrics_on;
	char user[64];
	int log_level;

	/* data-path tuning */
	int pipe_size;			/* bytes per splice pipe */
	int buf_count;			/* provided buffers per worker */
	int buf_size;			/* bytes per provided buffer */
	bool zerocopy;			/* send_zc from registered buffers */
	bool direct_fds;		/* uring: accept clients as direct descriptors */
	int ring_entries;

	unsigned int errors;		/* problems found while parsing */
};

void config_init(struct config *cfg);
/*
 * Set @key in @section ("global", "listener NAME", "backend NAME") at
 * @line of the current file; prints "FILE:LINE: message" and counts an
 * error on bad input. Returns 0 or -EINVAL.
 */
int config_set(struct config *cfg, const char *section, const char *key,
	       const char *value, int line);
int config_load_file(struct config *cfg, const char *path);
/* The same from an open stream; @name is what messages call it. */
int config_load_stream(struct config *cfg, FILE *f, const char *name);
/* Resolve defaults and cross-references; report every problem. */
int config_finish(struct config *cfg);
void config_free(struct config *cfg);
void config_error(struct config *cfg, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

void config_warn(struct config *cfg, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

int config_from_args(struct config *cfg, int argc, char **argv,
		     bool *check_only);

struct backend *config_find_backend(struct config *cfg, const char *name);
/* fill @sa with @a, its health-port twin and its text */
void server_set_addr(const struct backend *be, struct server *srv,
		     struct srv_addr *sa, const struct addr *a);
struct server *config_find_server(struct config *cfg, const char *spec,
				  struct backend **be);

#endif

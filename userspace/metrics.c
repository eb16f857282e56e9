// SPDX-License-Identifier: MIT
/*
 * The Prometheus endpoint's text. Names follow HAProxy's exporter
 * (addons/promex) where it has the figure, and Prometheus' conventions
 * everywhere: counters end in _total, units are base units (seconds,
 * bytes) named in the metric, every family has HELP and TYPE, and an
 * enumerated state is one 0/1 series per state value.
 *
 * It runs in the main thread's control plane: figures are relaxed
 * atomic loads, and the one file read (uringstat's rings) is bounded.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "balance.h"
#include "control.h"
#include "metrics.h"
#include "uringstat_rings.h"
#include "version.h"

void prom_label_value(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(out, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

static void head(FILE *out, const char *name, const char *type,
		 const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{k="v"[,k="v"]...}: @labels is NULL-terminated key, value pairs */
static void series(FILE *out, const char *name, const char *const *labels,
		   unsigned long long v)
{
	const char *sep = "{";

	fputs(name, out);
	for (; labels && labels[0]; labels += 2) {
		fprintf(out, "%s%s=\"", sep, labels[0]);
		prom_label_value(out, labels[1]);
		fputc('"', out);
		sep = ",";
	}
	fprintf(out, "%s %llu\n", *sep == ',' ? "}" : "", v);
}

static void metric_one(FILE *out, const char *name, const char *type,
		       const char *help, unsigned long long v)
{
	head(out, name, type, help);
	series(out, name, NULL, v);
}

static void series1(FILE *out, const char *name, const char *k,
		    const char *val, unsigned long long v)
{
	const char *l[] = { k, val, NULL };

	series(out, name, l, v);
}

/* ---- the process ------------------------------------------------------ */

static void process_metrics(struct runtime *rt, FILE *out)
{
	static const char start[] = "ringlb_process_start_time_seconds";
	struct worker_stats t;

	head(out, "ringlb_build_info", "gauge",
	     "Always 1; the version of the running ringlb is its label.");
	series1(out, "ringlb_build_info", "version", RINGLB_VERSION, 1);
	head(out, start, "gauge",
	     "Start time of the process since the Unix epoch, in seconds.");
	fprintf(out, "%s %lld.%03ld\n", start,
		(long long)rt->started_wall.tv_sec,
		rt->started_wall.tv_nsec / 1000000);

	stats_total(rt, &t);
	metric_one(out, "ringlb_connections_total", "counter",
		   "Client connections accepted.", t.conns_total);
	metric_one(out, "ringlb_connections_active", "gauge",
		   "Client connections open now.", t.conns_active);
	head(out, "ringlb_connections_rejected_total", "counter",
	     "Clients closed at accept, by reason (denied: allow/deny lists or accept-proxy-from; limited: max-conns-per-source; rate-limited: max-rate-per-source; bad-proxy: a PROXY header that did not parse; bad-tls: a TLS ClientHello that did not parse, on an sni-backend listener).");
	series1(out, "ringlb_connections_rejected_total", "reason", "denied",
		t.conns_denied);
	series1(out, "ringlb_connections_rejected_total", "reason", "limited",
		t.conns_limited);
	series1(out, "ringlb_connections_rejected_total", "reason",
		"rate-limited", t.conns_rate_limited);
	series1(out, "ringlb_connections_rejected_total", "reason",
		"bad-proxy", t.conns_bad_proxy);
	series1(out, "ringlb_connections_rejected_total", "reason", "bad-tls",
		t.conns_bad_tls);
	head(out, "ringlb_bytes_total", "counter",
	     "Bytes forwarded as they move, by direction (up: client to server).");
	series1(out, "ringlb_bytes_total", "direction", "up", t.bytes_up);
	series1(out, "ringlb_bytes_total", "direction", "down", t.bytes_down);
	metric_one(out, "ringlb_connect_timeouts_total", "counter",
		   "Backend connects that timed out.", t.connect_timeouts);
	metric_one(out, "ringlb_no_server_total", "counter",
		   "Clients closed because no server was left to try.",
		   t.no_server);
	head(out, "ringlb_timeouts_total", "counter",
	     "Connections closed by a timeout, by kind (client, server, write, idle, inspect).");
	series1(out, "ringlb_timeouts_total", "kind", "client",
		t.client_timeouts);
	series1(out, "ringlb_timeouts_total", "kind", "server",
		t.server_timeouts);
	series1(out, "ringlb_timeouts_total", "kind", "write",
		t.write_timeouts);
	series1(out, "ringlb_timeouts_total", "kind", "idle", t.idle_timeouts);
	series1(out, "ringlb_timeouts_total", "kind", "inspect",
		t.inspect_timeouts);
	metric_one(out, "ringlb_connect_local_errors_total", "counter",
		   "Backend connects that failed on this host (EAGAIN, EADDRNOTAVAIL, ENOBUFS, ENOMEM), retried without marking a server down.",
		   t.connect_local_errors);
	metric_one(out, "ringlb_connect_retries_total", "counter",
		   "Rounds over the servers again after each failed a client.",
		   t.connect_retries);
	metric_one(out, "ringlb_reserve_copies_total", "counter",
		   "Chunks moved through a connection's private buffer because the shared buffer ring was empty or no descriptor was left for a pipe.",
		   t.reserve_copies);
	head(out, "ringlb_reloads_total", "counter",
	     "Configuration reloads, by result.");
	series1(out, "ringlb_reloads_total", "result", "ok", rt->reloads);
	series1(out, "ringlb_reloads_total", "result", "failed",
		rt->reload_failures);
	head(out, "ringlb_control_refused_total", "counter",
	     "Admin and metrics clients closed at once: the endpoint had its cap of clients.");
	series1(out, "ringlb_control_refused_total", "endpoint", "admin",
		rt->ctl_refused[CTL_ADMIN]);
	series1(out, "ringlb_control_refused_total", "endpoint", "metrics",
		rt->ctl_refused[CTL_METRICS]);
	head(out, "ringlb_control_timeouts_total", "counter",
	     "Admin and metrics clients closed by the deadline on their whole exchange.");
	series1(out, "ringlb_control_timeouts_total", "endpoint", "admin",
		rt->ctl_timeouts[CTL_ADMIN]);
	series1(out, "ringlb_control_timeouts_total", "endpoint", "metrics",
		rt->ctl_timeouts[CTL_METRICS]);
}

/* ---- listeners: ringlb_frontend_* -------------------------------------- */

/* clients open now on listener @name, in every generation still running */
static unsigned long long frontend_current(struct runtime *rt,
					   const char *name)
{
	unsigned long long n = 0;
	struct generation *g;
	unsigned int i;

	for (g = rt->groups; g; g = g->next)
		for (i = 0; i < g->cfg->nlisteners; i++)
			if (!strcmp(g->cfg->listeners[i].name, name))
				n += atomic_load_explicit(
					&g->cfg->listeners[i].current,
					memory_order_relaxed);
	return n;
}

static unsigned long long ln_sessions(struct listener *l) { return atomic_load(&l->sessions_total); }
static unsigned long long ln_bytes_in(struct listener *l) { return atomic_load(&l->bytes_in); }
static unsigned long long ln_bytes_out(struct listener *l) { return atomic_load(&l->bytes_out); }
static unsigned long long ln_denied(struct listener *l) { return atomic_load(&l->denied); }

static const struct {
	const char *name, *type, *help;
	unsigned long long (*get)(struct listener *l);
} frontend_families[] = {
	{ "ringlb_frontend_current_sessions", "gauge",
	  "Client connections open now on the listener, draining generations included.",
	  NULL },
	{ "ringlb_frontend_sessions_total", "counter",
	  "Client connections the listener accepted, refused ones included.",
	  ln_sessions },
	{ "ringlb_frontend_denied_connections_total", "counter",
	  "Clients the listener refused at accept: allow/deny lists, accept-proxy-from, per-source limits.",
	  ln_denied },
	{ "ringlb_frontend_bytes_in_total", "counter",
	  "Bytes from the listener's clients to servers, added when each connection ends.",
	  ln_bytes_in },
	{ "ringlb_frontend_bytes_out_total", "counter",
	  "Bytes from servers to the listener's clients, added when each connection ends.",
	  ln_bytes_out },
};

static void frontend_metrics(struct runtime *rt, FILE *out)
{
	struct config *cfg = rt->groups->cfg;
	unsigned int f, i;

	for (f = 0; f < sizeof(frontend_families) /
			sizeof(frontend_families[0]); f++) {
		head(out, frontend_families[f].name, frontend_families[f].type,
		     frontend_families[f].help);
		for (i = 0; i < cfg->nlisteners; i++) {
			struct listener *l = &cfg->listeners[i];

			series1(out, frontend_families[f].name, "listener",
				l->name, frontend_families[f].get ?
				frontend_families[f].get(l) :
				frontend_current(rt, l->name));
		}
	}
}

/* ---- backends: ringlb_backend_* ---------------------------------------- */

struct be_sum {
	unsigned long long current, sessions, bytes_in, bytes_out, errors;
	unsigned long long active_servers, backup_servers, weight;
};

static void be_sum(struct backend *be, uint64_t now, struct be_sum *s)
{
	unsigned int i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < be->nservers; i++) {
		struct server *srv = &be->servers[i];

		s->current += atomic_load(&srv->active);
		s->sessions += atomic_load(&srv->conns_total);
		s->bytes_in += atomic_load(&srv->bytes_in);
		s->bytes_out += atomic_load(&srv->bytes_out);
		s->errors += atomic_load(&srv->connect_errors);
		if (!server_usable(srv))
			continue;
		if (srv->backup) {
			s->backup_servers++;
		} else {
			s->active_servers++;
			s->weight += server_weight_now(be, srv, now);
		}
	}
}

static const struct {
	const char *name, *type, *help;
	size_t off;
} backend_families[] = {
	{ "ringlb_backend_current_sessions", "gauge",
	  "Connections to the backend's servers now.",
	  offsetof(struct be_sum, current) },
	{ "ringlb_backend_sessions_total", "counter",
	  "Connections established to the backend's servers.",
	  offsetof(struct be_sum, sessions) },
	{ "ringlb_backend_bytes_in_total", "counter",
	  "Bytes from clients to the backend's servers, added when each connection ends.",
	  offsetof(struct be_sum, bytes_in) },
	{ "ringlb_backend_bytes_out_total", "counter",
	  "Bytes from the backend's servers to clients, added when each connection ends.",
	  offsetof(struct be_sum, bytes_out) },
	{ "ringlb_backend_connection_errors_total", "counter",
	  "Failed connects to the backend's servers (refused, timed out, ...).",
	  offsetof(struct be_sum, errors) },
	{ "ringlb_backend_active_servers", "gauge",
	  "Primary (not backup) servers that can take connections now.",
	  offsetof(struct be_sum, active_servers) },
	{ "ringlb_backend_backup_servers", "gauge",
	  "Backup servers that can take connections now.",
	  offsetof(struct be_sum, backup_servers) },
	{ "ringlb_backend_weight", "gauge",
	  "Sum of the weights now of the primary servers that can take connections.",
	  offsetof(struct be_sum, weight) },
};

static void backend_metrics(struct runtime *rt, FILE *out)
{
	struct config *cfg = rt->groups->cfg;
	uint64_t now = clock_ms();
	struct be_sum *sums;
	unsigned int f, b;

	sums = calloc(cfg->nbackends ? cfg->nbackends : 1, sizeof(*sums));
	if (!sums)
		return;
	for (b = 0; b < cfg->nbackends; b++)
		be_sum(&cfg->backends[b], now, &sums[b]);

	head(out, "ringlb_backend_status", "gauge",
	     "The backend's state: 1 for the state it is in (UP: a server can take connections), 0 for the other.");
	for (b = 0; b < cfg->nbackends; b++) {
		bool up = sums[b].active_servers || sums[b].backup_servers;
		const char *l[] = { "backend", cfg->backends[b].name,
				    "state", "UP", NULL };

		series(out, "ringlb_backend_status", l, up);
		l[3] = "DOWN";
		series(out, "ringlb_backend_status", l, !up);
	}
	for (f = 0; f < sizeof(backend_families) /
			sizeof(backend_families[0]); f++) {
		head(out, backend_families[f].name, backend_families[f].type,
		     backend_families[f].help);
		for (b = 0; b < cfg->nbackends; b++)
			series1(out, backend_families[f].name, "backend",
				cfg->backends[b].name,
				*(unsigned long long *)((char *)&sums[b] +
						backend_families[f].off));
	}
	free(sums);
}

/* ---- servers: ringlb_server_* ------------------------------------------ */

enum srv_fig {
	SRV_CURRENT,
	SRV_SESSIONS,
	SRV_BYTES_IN,
	SRV_BYTES_OUT,
	SRV_ERRORS,
	SRV_RESETS,
	SRV_PASSIVE_DOWNS,
	SRV_WEIGHT,
	SRV_BACKUP,
};

static unsigned long long srv_value(enum srv_fig fig, struct backend *be,
				    struct server *s, uint64_t now)
{
	switch (fig) {
	case SRV_CURRENT:
		return atomic_load(&s->active);
	case SRV_SESSIONS:
		return atomic_load(&s->conns_total);
	case SRV_BYTES_IN:
		return atomic_load(&s->bytes_in);
	case SRV_BYTES_OUT:
		return atomic_load(&s->bytes_out);
	case SRV_ERRORS:
		return atomic_load(&s->connect_errors);
	case SRV_RESETS:
		return atomic_load(&s->resets);
	case SRV_PASSIVE_DOWNS:
		return atomic_load(&s->passive_downs);
	case SRV_WEIGHT:
		return server_weight_now(be, s, now);
	case SRV_BACKUP:
		return s->backup;
	}
	return 0;
}

static const struct {
	const char *name, *type, *help;
	enum srv_fig fig;
} server_families[] = {
	{ "ringlb_server_current_sessions", "gauge",
	  "Connections using the server now.", SRV_CURRENT },
	{ "ringlb_server_sessions_total", "counter",
	  "Connections established to the server.", SRV_SESSIONS },
	{ "ringlb_server_bytes_in_total", "counter",
	  "Bytes from clients to the server, added when each connection ends.",
	  SRV_BYTES_IN },
	{ "ringlb_server_bytes_out_total", "counter",
	  "Bytes from the server to clients, added when each connection ends.",
	  SRV_BYTES_OUT },
	{ "ringlb_server_connection_errors_total", "counter",
	  "Failed connects to the server (refused, timed out, ...).",
	  SRV_ERRORS },
	{ "ringlb_server_resets_total", "counter",
	  "Established connections the server reset.", SRV_RESETS },
	{ "ringlb_server_passive_downs_total", "counter",
	  "Times passive health took the server out (passive-fall connect failures or resets in a row).",
	  SRV_PASSIVE_DOWNS },
	{ "ringlb_server_weight", "gauge",
	  "The server's weight now: its configured weight, or a share of it while slow start ramps it.",
	  SRV_WEIGHT },
	{ "ringlb_server_backup", "gauge",
	  "1 for a backup server, 0 for a primary.", SRV_BACKUP },
};

/*
 * For each server of each backend, one series per value of @states
 * (NULL-terminated): 1 for the one @state_of() names, 0 for the others.
 */
static void server_enum(FILE *out, struct config *cfg, const char *name,
			const char *help, const char *const *states,
			const char *(*state_of)(struct server *s))
{
	unsigned int b, s, i;

	head(out, name, "gauge", help);
	for (b = 0; b < cfg->nbackends; b++) {
		struct backend *be = &cfg->backends[b];

		for (s = 0; s < be->nservers; s++) {
			const char *now = state_of(&be->servers[s]);
			const char *l[] = { "backend", be->name, "server",
					    be->servers[s].name, "state", NULL,
					    NULL };

			for (i = 0; states[i]; i++) {
				l[5] = states[i];
				series(out, name, l, !strcmp(states[i], now));
			}
		}
	}
}

static const char *health_state(struct server *s)
{
	return atomic_load(&s->up) ? "UP" : "DOWN";
}

/* HAProxy's admin states: MAINT (disabled), DRAIN (weight 0), READY */
static const char *admin_state(struct server *s)
{
	if (atomic_load(&s->disabled))
		return "MAINT";
	return atomic_load(&s->weight) ? "READY" : "DRAIN";
}

static void server_metrics(struct runtime *rt, FILE *out)
{
	static const char *const health[] = { "UP", "DOWN", NULL };
	static const char *const admin[] = { "READY", "DRAIN", "MAINT", NULL };
	static const char checks[] = "ringlb_server_checks_total";
	struct config *cfg = rt->groups->cfg;
	uint64_t now = clock_ms();
	unsigned int f, b, s;

	server_enum(out, cfg, "ringlb_server_status",
		    "The server's health, from active and passive checks: 1 for the state it is in, 0 for the other.",
		    health, health_state);
	server_enum(out, cfg, "ringlb_server_admin_state",
		    "The server's admin state: 1 for the state it is in (MAINT: disabled, DRAIN: weight 0, READY: neither), 0 for the others.",
		    admin, admin_state);
	for (f = 0; f < sizeof(server_families) /
			sizeof(server_families[0]); f++) {
		head(out, server_families[f].name, server_families[f].type,
		     server_families[f].help);
		for (b = 0; b < cfg->nbackends; b++) {
			struct backend *be = &cfg->backends[b];

			for (s = 0; s < be->nservers; s++) {
				struct server *srv = &be->servers[s];
				const char *l[] = { "backend", be->name,
						    "server", srv->name, NULL };

				series(out, server_families[f].name, l,
				       srv_value(server_families[f].fig, be,
						 srv, now));
			}
		}
	}
	head(out, checks, "counter", "Active health checks, by result.");
	for (b = 0; b < cfg->nbackends; b++) {
		struct backend *be = &cfg->backends[b];

		for (s = 0; s < be->nservers; s++) {
			struct server *srv = &be->servers[s];
			const char *l[] = { "backend", be->name, "server",
					    srv->name, "result", "ok", NULL };

			series(out, checks, l, atomic_load(&srv->hc_total[1]));
			l[5] = "failed";
			series(out, checks, l, atomic_load(&srv->hc_total[0]));
		}
	}
}

/* ---- the workers' own counters ----------------------------------------- */

/* A per-worker counter, summed over generations (worker ids repeat). */
static void per_worker(FILE *out, struct runtime *rt, const char *metric,
		       const char *help, size_t off)
{
	unsigned int i, n = 0;
	struct generation *g;

	for (g = rt->groups; g; g = g->next)
		if (g->nworkers > n)
			n = g->nworkers;
	head(out, metric, "counter", help);
	for (i = 0; i < n; i++) {
		unsigned long long v = 0;
		char id[16];

		for (g = rt->groups; g; g = g->next)
			if (i < g->nworkers)
				v += atomic_load_explicit((_Atomic uint64_t *)
					((char *)&g->workers[i].stats + off),
					memory_order_relaxed);
		snprintf(id, sizeof(id), "%u", i);
		series1(out, metric, "worker", id, v);
	}
}

static void worker_metrics(struct runtime *rt, FILE *out)
{
	if (rt->engine != &engine_uring) {
		per_worker(out, rt, "ringlb_epoll_waits_total",
			   "epoll_wait calls by the worker.",
			   offsetof(struct worker_stats, epoll_waits));
		per_worker(out, rt, "ringlb_io_syscalls_total",
			   "read/write/splice calls by the worker.",
			   offsetof(struct worker_stats, syscalls_io));
		return;
	}
	per_worker(out, rt, "ringlb_uring_submissions_total",
		   "SQEs submitted to the worker's ring.",
		   offsetof(struct worker_stats, uring_sqes));
	per_worker(out, rt, "ringlb_uring_enter_total",
		   "io_uring_enter calls by the worker.",
		   offsetof(struct worker_stats, uring_enter));
	per_worker(out, rt, "ringlb_uring_completions_total",
		   "CQEs reaped by the worker.",
		   offsetof(struct worker_stats, uring_cqes));
	per_worker(out, rt, "ringlb_uring_sq_full_total",
		   "Times the SQ filled and was submitted early.",
		   offsetof(struct worker_stats, uring_sq_full));
	per_worker(out, rt, "ringlb_uring_enobufs_total",
		   "Times the provided buffer ring ran dry.",
		   offsetof(struct worker_stats, uring_enobufs));
	per_worker(out, rt, "ringlb_uring_submit_errors_total",
		   "Submissions the kernel refused for a while (EAGAIN, ENOMEM, EBUSY); the SQEs waited and went later.",
		   offsetof(struct worker_stats, uring_submit_errors));
	per_worker(out, rt, "ringlb_splice_switches_total",
		   "Directions that --forward auto moved from buffers to splice for bulk.",
		   offsetof(struct worker_stats, splice_switches));
}

/* ---- the kernel's view of our rings, from uringstat -------------------- */

#define KRINGS_MAX	256	/* rings of ours listed at most */

struct kring {
	struct uringstat_ring r;
	int worker;		/* -1: no running worker has its fd */
};

struct kring_set {
	struct runtime *rt;
	pid_t pid;
	struct kring *v;
	unsigned int n;
};

/* the id of the running worker whose ring is descriptor @fd, or -1 */
static int worker_of_ring(struct runtime *rt, long long fd)
{
	struct generation *g;
	unsigned int i;

	if (fd < 0)
		return -1;
	for (g = rt->groups; g; g = g->next)
		for (i = 0; i < g->nworkers; i++)
			if (atomic_load(&g->workers[i].ring_fd) == fd)
				return g->workers[i].id;
	return -1;
}

static int kring_add(const struct uringstat_ring *r, void *arg)
{
	struct kring_set *set = arg;

	/* the pid column is the thread group: every worker's is ours */
	if (r->pid != set->pid)
		return 0;
	set->v[set->n].r = *r;
	set->v[set->n].worker = worker_of_ring(set->rt, r->fd);
	return ++set->n == KRINGS_MAX;
}

/*
 * Read at most URINGSTAT_RINGS_MAX bytes of the rings file into *@buf.
 * debugfs answers from memory (a seq_file over the module's table), so
 * this does not wait on a device; the size bound keeps a huge table
 * from costing the scrape more than a few hundred KiB. Returns the
 * length, or -errno (no module, no debugfs, not root: no series).
 */
static ssize_t rings_read(char **buf)
{
	size_t len = 0;
	ssize_t n;
	int fd;

	fd = open(URINGSTAT_RINGS_PATH, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	*buf = malloc(URINGSTAT_RINGS_MAX);
	if (!*buf) {
		close(fd);
		return -ENOMEM;
	}
	while (len < URINGSTAT_RINGS_MAX) {
		n = read(fd, *buf + len, URINGSTAT_RINGS_MAX - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += n;
	}
	close(fd);
	return len;
}

static void kernel_family(FILE *out, struct kring_set *set, const char *name,
			  const char *help, size_t off)
{
	unsigned int i;

	head(out, name, "counter", help);
	for (i = 0; i < set->n; i++) {
		char ring[24], worker[16];
		const char *l[] = { "ring", ring, "worker", worker, NULL };

		snprintf(ring, sizeof(ring), "%llu",
			 (unsigned long long)set->v[i].r.id);
		snprintf(worker, sizeof(worker), "%d", set->v[i].worker);
		/* a ring no running worker owns: no worker label */
		if (set->v[i].worker < 0)
			l[2] = NULL;
		series(out, name, l,
		       *(uint64_t *)((char *)&set->v[i].r + off));
	}
}

static void kernel_metrics(struct runtime *rt, FILE *out)
{
	struct kring_set set = { .rt = rt, .pid = getpid() };
	char *buf = NULL;
	ssize_t len;

	if (rt->engine != &engine_uring)
		return;
	len = rings_read(&buf);
	if (len < 0)
		return;
	set.v = calloc(KRINGS_MAX, sizeof(*set.v));
	if (set.v && uringstat_rings_parse(buf, len, kring_add, &set) > 0 &&
	    set.n) {
		kernel_family(out, &set, "ringlb_uring_kernel_submitted_total",
			      "SQEs the kernel took for the ring (uringstat).",
			      offsetof(struct uringstat_ring, submitted));
		kernel_family(out, &set, "ringlb_uring_kernel_completed_total",
			      "CQEs the kernel posted for the ring (uringstat).",
			      offsetof(struct uringstat_ring, completed));
		kernel_family(out, &set, "ringlb_uring_kernel_failed_total",
			      "CQEs of the ring with a negative result (uringstat).",
			      offsetof(struct uringstat_ring, failed));
		kernel_family(out, &set, "ringlb_uring_kernel_poll_armed_total",
			      "Requests that armed the kernel's internal poll: their file was not ready (uringstat).",
			      offsetof(struct uringstat_ring, poll_armed));
		kernel_family(out, &set, "ringlb_uring_kernel_iowq_punts_total",
			      "Requests the kernel punted to io-wq worker threads (uringstat).",
			      offsetof(struct uringstat_ring, async));
		kernel_family(out, &set, "ringlb_uring_kernel_cq_overflows_total",
			      "CQEs that did not fit in the ring's CQ (uringstat).",
			      offsetof(struct uringstat_ring, cq_overflow));
	}
	free(set.v);
	free(buf);
}

void metrics_write(struct runtime *rt, FILE *out)
{
	process_metrics(rt, out);
	frontend_metrics(rt, out);
	backend_metrics(rt, out);
	server_metrics(rt, out);
	worker_metrics(rt, out);
	kernel_metrics(rt, out);
}

// SPDX-License-Identifier: MIT
#include <stddef.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "control.h"
#include "health.h"
#include "log.h"
#include "version.h"

#define ADMIN_MAX_WORDS	8

static void stats_add(struct worker_stats *t, struct worker *w)
{
#define X(name) t->name += STAT_GET(w, name);
	WORKER_STATS(X)
#undef X
}

void stats_total(struct runtime *rt, struct worker_stats *t)
{
	struct generation *g;
	unsigned int i;

	*t = rt->retired;
	for (g = rt->groups; g; g = g->next)
		for (i = 0; i < g->nworkers; i++)
			stats_add(t, &g->workers[i]);
}

void stats_log(struct runtime *rt)
{
	struct worker_stats t;
	char buf[1024];
	size_t n = 0;

	stats_total(rt, &t);
#define X(name)								\
	n += snprintf(buf + n, sizeof(buf) - n, " %s=%llu", #name,	\
		      (unsigned long long)t.name);			\
	if (n >= sizeof(buf))						\
		n = sizeof(buf) - 1;
	WORKER_STATS(X)
#undef X
	/* conns=, as scripts grep for it, then every counter by name */
	pr_info("stats conns=%llu%s", (unsigned long long)t.conns_total, buf);
}

/* JSON strings here are names and addresses we validated: no escaping
 * beyond the basics is needed, but keep it safe anyway. */
static void json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(out, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(out, "\\u%04x", *s);
		else
			fputc(*s, out);
	}
	fputc('"', out);
}

static void show_stats(struct runtime *rt, FILE *out, bool json)
{
	struct worker_stats t;
	bool first = true;

	stats_total(rt, &t);
	if (json) {
		fprintf(out, "{\"version\":\"%s\",\"engine\":\"%s\",\"forward\":\"%s\",\"pid\":%d,\"uptime_ms\":%llu,\"reloads\":%llu",
			RINGLB_VERSION, rt->engine->name,
			rt->forward == FORWARD_SPLICE ? "splice" : "buffers",
			getpid(),
			(unsigned long long)(clock_ms() - rt->started_ms),
			(unsigned long long)rt->reloads);
		fprintf(out, ",\"reload_failures\":%llu,\"admin_refused\":%llu,\"admin_timeouts\":%llu,\"metrics_refused\":%llu,\"metrics_timeouts\":%llu",
			(unsigned long long)rt->reload_failures,
			(unsigned long long)rt->ctl_refused[CTL_ADMIN],
			(unsigned long long)rt->ctl_timeouts[CTL_ADMIN],
			(unsigned long long)rt->ctl_refused[CTL_METRICS],
			(unsigned long long)rt->ctl_timeouts[CTL_METRICS]);
#define X(name) fprintf(out, ",\"%s\":%llu", #name, (unsigned long long)t.name);
		WORKER_STATS(X)
#undef X
		fprintf(out, "}\n");
		return;
	}
	fprintf(out, "%-20s %s\n", "version", RINGLB_VERSION);
	fprintf(out, "%-20s %s\n", "engine", rt->engine->name);
	fprintf(out, "%-20s %s\n", "forward",
		rt->forward == FORWARD_SPLICE ? "splice" : "buffers");
	fprintf(out, "%-20s %d\n", "pid", getpid());
	fprintf(out, "%-20s %llu\n", "uptime_ms",
		(unsigned long long)(clock_ms() - rt->started_ms));
	fprintf(out, "%-20s %llu\n", "reloads",
		(unsigned long long)rt->reloads);
	fprintf(out, "%-20s %llu\n", "reload_failures",
		(unsigned long long)rt->reload_failures);
	fprintf(out, "%-20s %llu\n", "admin_refused",
		(unsigned long long)rt->ctl_refused[CTL_ADMIN]);
	fprintf(out, "%-20s %llu\n", "admin_timeouts",
		(unsigned long long)rt->ctl_timeouts[CTL_ADMIN]);
	fprintf(out, "%-20s %llu\n", "metrics_refused",
		(unsigned long long)rt->ctl_refused[CTL_METRICS]);
	fprintf(out, "%-20s %llu\n", "metrics_timeouts",
		(unsigned long long)rt->ctl_timeouts[CTL_METRICS]);
#define X(name) fprintf(out, "%-20s %llu\n", #name, (unsigned long long)t.name);
	WORKER_STATS(X)
#undef X
	(void)first;
}

static const char *server_state(struct server *s)
{
	if (atomic_load(&s->disabled))
		return "disabled";
	return atomic_load(&s->up) ? "up" : "down";
}

static void show_servers(struct runtime *rt, FILE *out, bool json)
{
	struct config *cfg = rt->groups->cfg;
	unsigned int b, s;
	bool first = true;

	if (json)
		fprintf(out, "[");
	else
		fprintf(out, "%-16s %-16s %-24s %-8s %6s %6s %7s %10s %8s %s\n",
			"BACKEND", "SERVER", "ADDRESS", "STATE", "WEIGHT",
			"BACKUP", "ACTIVE", "TOTAL", "CONNERR", "CHECKS(ok/fail)");
	for (b = 0; b < cfg->nbackends; b++) {
		struct backend *be = &cfg->backends[b];

		for (s = 0; s < be->nservers; s++) {
			struct server *srv = &be->servers[s];
			unsigned int wnow = server_weight_now(be, srv,
							      clock_ms());
			char wbuf[16];

			if (json) {
				fprintf(out, "%s{\"backend\":", first ? "" : ",");
				json_str(out, be->name);
				fprintf(out, ",\"server\":");
				json_str(out, srv->name);
				fprintf(out, ",\"address\":");
				json_str(out, srv_at(srv)->str);
				fprintf(out, ",\"state\":\"%s\",\"weight\":%u,\"weight_now\":%u,\"backup\":%s,\"active\":%u,\"total\":%lu,\"connect_errors\":%lu,\"resets\":%lu,\"passive_downs\":%lu,\"checks_ok\":%lu,\"checks_failed\":%lu}",
					server_state(srv),
					atomic_load(&srv->weight), wnow,
					srv->backup ? "true" : "false",
					atomic_load(&srv->active),
					atomic_load(&srv->conns_total),
					atomic_load(&srv->connect_errors),
					atomic_load(&srv->resets),
					atomic_load(&srv->passive_downs),
					atomic_load(&srv->hc_total[1]),
					atomic_load(&srv->hc_total[0]));
				first = false;
				continue;
			}
			/* "now/full" while slow start ramps it */
			if (wnow != atomic_load(&srv->weight))
				snprintf(wbuf, sizeof(wbuf), "%u/%u", wnow,
					 atomic_load(&srv->weight));
			else
				snprintf(wbuf, sizeof(wbuf), "%u", wnow);
			fprintf(out, "%-16s %-16s %-24s %-8s %6s %6s %7u %10lu %8lu %lu/%lu\n",
				be->name, srv->name, srv_at(srv)->str,
				server_state(srv), wbuf,
				srv->backup ? "yes" : "no",
				atomic_load(&srv->active),
				atomic_load(&srv->conns_total),
				atomic_load(&srv->connect_errors),
				atomic_load(&srv->hc_total[1]),
				atomic_load(&srv->hc_total[0]));
		}
	}
	if (json)
		fprintf(out, "]\n");
}

/*
 * Every worker's list (the lines dump_conns() writes), as one table or
 * one JSON array. A worker that did not answer in time is left out.
 */
void conns_show(FILE *out, bool json, char *const *dumps, unsigned int n)
{
	bool first = true;
	unsigned int i;

	if (json)
		fprintf(out, "[");
	else
		fprintf(out, "%-6s %-28s %-12s %-12s %-12s %-10s %12s %12s %10s %10s\n",
			"WORKER", "CLIENT", "LISTENER", "BACKEND", "SERVER",
			"STATE", "UP", "DOWN", "AGE_MS", "IDLE_MS");
	for (i = 0; i < n; i++) {
		char *line, *save = NULL;

		if (!dumps[i])
			continue;
		for (line = strtok_r(dumps[i], "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			char f[10][64];

			if (sscanf(line, "%63s %63s %63s %63s %63s %63s %63s %63s %63s %63s",
				   f[0], f[1], f[2], f[3], f[4], f[5],
				   f[6], f[7], f[8], f[9]) != 10)
				continue;
			if (json) {
				fprintf(out, "%s{\"worker\":%s,\"client\":\"%s\",\"listener\":\"%s\",\"backend\":\"%s\",\"server\":\"%s\",\"state\":\"%s\",\"up\":%s,\"down\":%s,\"age_ms\":%s,\"idle_ms\":%s}",
					first ? "" : ",", f[0], f[1], f[2],
					f[3], f[4], f[5], f[6], f[7], f[8],
					f[9]);
				first = false;
			} else {
				fprintf(out, "%-6s %-28s %-12s %-12s %-12s %-10s %12s %12s %10s %10s\n",
					f[0], f[1], f[2], f[3], f[4], f[5],
					f[6], f[7], f[8], f[9]);
			}
		}
	}
	if (json)
		fprintf(out, "]\n");
}

/*
 * uringstat's view of our own rings: the lines of its debugfs "rings"
 * file whose pid is ours (or one of our worker threads'), next to the
 * figures the workers count themselves.
 */
static void show_kernel(struct runtime *rt, FILE *out, bool json)
{
	static const char path[] = "/sys/kernel/debug/uringstat/rings";
	struct worker_stats t;
	char line[512];
	bool first = true, header = false;
	FILE *f = fopen(path, "r");
	struct generation *g;
	unsigned int i;

	stats_total(rt, &t);
	if (!f) {
		if (json)
			fprintf(out, "{\"module\":false,\"error\":\"%s\",\"uring_sqes\":%llu,\"uring_cqes\":%llu,\"uring_enter\":%llu}\n",
				strerror(errno),
				(unsigned long long)t.uring_sqes,
				(unsigned long long)t.uring_cqes,
				(unsigned long long)t.uring_enter);
		else
			fprintf(out, "uringstat not available (%s: %s)\nringlb's own count: sqes=%llu cqes=%llu enter=%llu\n",
				path, strerror(errno),
				(unsigned long long)t.uring_sqes,
				(unsigned long long)t.uring_cqes,
				(unsigned long long)t.uring_enter);
		return;
	}
	if (json)
		fprintf(out, "{\"module\":true,\"uring_sqes\":%llu,\"uring_cqes\":%llu,\"uring_enter\":%llu,\"rings\":[",
			(unsigned long long)t.uring_sqes,
			(unsigned long long)t.uring_cqes,
			(unsigned long long)t.uring_enter);
	else
		fprintf(out, "ringlb's own count: sqes=%llu cqes=%llu enter=%llu\n",
			(unsigned long long)t.uring_sqes,
			(unsigned long long)t.uring_cqes,
			(unsigned long long)t.uring_enter);
	while (fgets(line, sizeof(line), f)) {
		int id, pid;
		bool ours;

		if (!header) {
			header = true;
			if (!json)
				fputs(line, out);
			continue;
		}
		if (sscanf(line, "%d %d", &id, &pid) != 2)
			continue;
		ours = pid == getpid();
		for (g = rt->groups; g && !ours; g = g->next)
			for (i = 0; i < g->nworkers; i++)
				if (g->workers[i].tid == pid)
					ours = true;
		if (!ours)
			continue;
		if (json) {
			line[strcspn(line, "\n")] = '\0';
			fprintf(out, "%s", first ? "" : ",");
			json_str(out, line);
			first = false;
		} else {
			fputs(line, out);
		}
	}
	fclose(f);
	if (json)
		fprintf(out, "]}\n");
}

const char *health_refusal(struct runtime *rt, char *buf, size_t len)
{
	struct config *cfg = rt->groups->cfg;
	unsigned int b, s;

	if (rt->stopping)
		return "draining";
	if (rt->withdrawn)
		return "withdrawn";
	for (b = 0; b < cfg->nbackends; b++) {
		struct backend *be = &cfg->backends[b];

		for (s = 0; s < be->nservers; s++)
			if (server_usable(&be->servers[s]))
				break;
		if (s == be->nservers) {
			snprintf(buf, len, "no server up in backend %s",
				 be->name);
			return buf;
		}
	}
	return NULL;
}

static void show_health(struct runtime *rt, FILE *out, bool json)
{
	char buf[128];
	const char *no = health_refusal(rt, buf, sizeof(buf));

	if (!json) {
		fprintf(out, "%s\n", no ? no : "serving");
		return;
	}
	fprintf(out, "{\"serving\":%s,\"state\":", no ? "false" : "true");
	json_str(out, no ? no : "serving");
	fprintf(out, "}\n");
}

static int find_server(struct runtime *rt, const char *spec, FILE *out,
		       struct backend **be, struct server **srv)
{
	*srv = config_find_server(rt->groups->cfg, spec, be);
	if (!*srv) {
		fprintf(out, "error: no server '%s' (want BACKEND/SERVER)\n",
			spec);
		return -ENOENT;
	}
	return 0;
}

int admin_command(struct runtime *rt, char *line, FILE *out)
{
	char *w[ADMIN_MAX_WORDS], *save = NULL, *tok;
	struct backend *be;
	struct server *srv;
	bool json = false;
	int n = 0;

	for (tok = strtok_r(line, " \t\r\n", &save); tok;
	     tok = strtok_r(NULL, " \t\r\n", &save)) {
		if (!strcmp(tok, "--json")) {
			json = true;
			continue;
		}
		if (n == ADMIN_MAX_WORDS) {
			fprintf(out, "error: too many words\n");
			return 0;
		}
		w[n++] = tok;
	}
	if (n == 2 && !strcmp(w[0], "show")) {
		if (!strcmp(w[1], "conns"))
			return json ? ADMIN_CONNS_JSON : ADMIN_CONNS;
		if (!strcmp(w[1], "stats")) {
			show_stats(rt, out, json);
			return 0;
		}
		if (!strcmp(w[1], "servers")) {
			show_servers(rt, out, json);
			return 0;
		}
		if (!strcmp(w[1], "kernel")) {
			show_kernel(rt, out, json);
			return 0;
		}
		if (!strcmp(w[1], "health")) {
			show_health(rt, out, json);
			return 0;
		}
	}
	if (n == 1 && (!strcmp(w[0], "withdraw") || !strcmp(w[0], "rejoin"))) {
		rt->withdrawn = w[0][0] == 'w';
		pr_info("admin: %s: health now answers %s", w[0],
			rt->withdrawn ? "withdrawn" : "as the servers are");
		fprintf(out, "ok\n");
		return 0;
	}
	if (n == 3 && !strcmp(w[1], "server") &&
	    (!strcmp(w[0], "disable") || !strcmp(w[0], "enable"))) {
		if (find_server(rt, w[2], out, &be, &srv))
			return 0;
		server_set_admin(be, srv, w[0][0] == 'd');
		fprintf(out, "ok\n");
		return 0;
	}
	if (n == 4 && !strcmp(w[0], "set") && !strcmp(w[1], "weight")) {
		char *end;
		long v;

		if (find_server(rt, w[2], out, &be, &srv))
			return 0;
		errno = 0;
		v = strtol(w[3], &end, 10);
		if (errno || *end || end == w[3] || v < 0 || v > 256) {
			fprintf(out, "error: weight must be 0..256\n");
			return 0;
		}
		server_set_weight(be, srv, v);
		fprintf(out, "ok\n");
		return 0;
	}
	if (n == 1 && !strcmp(w[0], "drain")) {
		rt->drain_requested = true;
		fprintf(out, "ok: draining\n");
		return 0;
	}
	if (n == 1 && !strcmp(w[0], "help")) {
		fprintf(out, "commands: show stats|servers|conns|kernel|health, disable server B/S, enable server B/S, set weight B/S N, withdraw, rejoin, drain (add --json for JSON)\n");
		return 0;
	}
	fprintf(out, "error: unknown command (try 'help')\n");
	return 0;
}

/* ---- Prometheus text format ------------------------------------------- */

static void metric_head(FILE *out, const char *name, const char *type,
			const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static unsigned long srv_up(struct server *s) { return server_usable(s); }
static unsigned long srv_active(struct server *s) { return atomic_load(&s->active); }
static unsigned long srv_conns(struct server *s) { return atomic_load(&s->conns_total); }
static unsigned long srv_connect_errors(struct server *s) { return atomic_load(&s->connect_errors); }
static unsigned long srv_checks_ok(struct server *s) { return atomic_load(&s->hc_total[1]); }
static unsigned long srv_checks_failed(struct server *s) { return atomic_load(&s->hc_total[0]); }
static unsigned long srv_resets(struct server *s) { return atomic_load(&s->resets); }
static unsigned long srv_passive_downs(struct server *s) { return atomic_load(&s->passive_downs); }

/*
 * One series per server, labelled backend and server (and result, when
 * @result is set). A NULL @type adds series to the metric just headed.
 */
static void per_server(FILE *out, struct config *cfg, const char *metric,
		       const char *type, const char *help, const char *result,
		       unsigned long (*get)(struct server *))
{
	unsigned int b, s;

	if (type)
		metric_head(out, metric, type, help);
	for (b = 0; b < cfg->nbackends; b++) {
		for (s = 0; s < cfg->backends[b].nservers; s++) {
			struct server *srv = &cfg->backends[b].servers[s];

			fprintf(out, "%s{backend=\"%s\",server=\"%s\"", metric,
				cfg->backends[b].name, srv->name);
			if (result)
				fprintf(out, ",result=\"%s\"", result);
			fprintf(out, "} %lu\n", get(srv));
		}
	}
}

/* the weight each server has now, slow start included */
static void per_server_weight(FILE *out, struct config *cfg)
{
	const char *m = "ringlb_backend_weight";
	uint64_t now = clock_ms();
	unsigned int b, s;

	metric_head(out, m, "gauge",
		    "The server's weight now: its configured weight, or a share of it while slow start ramps it.");
	for (b = 0; b < cfg->nbackends; b++) {
		struct backend *be = &cfg->backends[b];

		for (s = 0; s < be->nservers; s++)
			fprintf(out, "%s{backend=\"%s\",server=\"%s\"} %u\n",
				m, be->name, be->servers[s].name,
				server_weight_now(be, &be->servers[s], now));
	}
}

/* A per-worker counter, summed over generations (worker ids repeat). */
static void per_worker(FILE *out, struct runtime *rt, const char *metric,
		       const char *help, size_t off)
{
	unsigned int i, n = 0;
	struct generation *g;

	for (g = rt->groups; g; g = g->next)
		if (g->nworkers > n)
			n = g->nworkers;
	metric_head(out, metric, "counter", help);
	for (i = 0; i < n; i++) {
		unsigned long long v = 0;

		for (g = rt->groups; g; g = g->next)
			if (i < g->nworkers)
				v += atomic_load_explicit((_Atomic uint64_t *)
					((char *)&g->workers[i].stats + off),
					memory_order_relaxed);
		fprintf(out, "%s{worker=\"%u\"} %llu\n", metric, i, v);
	}
}

/* A control plane counter, one series per endpoint. */
/* a metric of one series, unlabelled */
static void metric_one(FILE *out, const char *name, const char *type,
		       const char *help, unsigned long long v)
{
	metric_head(out, name, type, help);
	fprintf(out, "%s %llu\n", name, v);
}

/* one series of the metric just headed, with one label */
static void series(FILE *out, const char *name, const char *label,
		   const char *value, unsigned long long v)
{
	fprintf(out, "%s{%s=\"%s\"} %llu\n", name, label, value, v);
}

static void ctl_counter(FILE *out, const char *metric, const char *help,
			const uint64_t *v)
{
	metric_head(out, metric, "counter", help);
	series(out, metric, "endpoint", "admin", v[CTL_ADMIN]);
	series(out, metric, "endpoint", "metrics", v[CTL_METRICS]);
}

void metrics_write(struct runtime *rt, FILE *out)
{
	struct config *cfg = rt->groups->cfg;
	struct worker_stats t;

	stats_total(rt, &t);
	metric_one(out, "ringlb_connections_total", "counter",
		   "Client connections accepted.", t.conns_total);
	metric_one(out, "ringlb_connections_active", "gauge",
		   "Client connections open now.", t.conns_active);
	metric_head(out, "ringlb_connections_rejected_total", "counter",
		    "Clients closed at accept, by reason (denied: allow/deny lists or accept-proxy-from; limited: max-conns-per-source; rate-limited: max-rate-per-source; bad-proxy: a PROXY header that did not parse; bad-tls: a TLS ClientHello that did not parse, on an sni-backend listener).");
	series(out, "ringlb_connections_rejected_total", "reason", "denied",
	       t.conns_denied);
	series(out, "ringlb_connections_rejected_total", "reason", "limited",
	       t.conns_limited);
	series(out, "ringlb_connections_rejected_total", "reason",
	       "rate-limited", t.conns_rate_limited);
	series(out, "ringlb_connections_rejected_total", "reason",
	       "bad-proxy", t.conns_bad_proxy);
	series(out, "ringlb_connections_rejected_total", "reason",
	       "bad-tls", t.conns_bad_tls);
	metric_head(out, "ringlb_bytes_total", "counter",
		    "Bytes forwarded, by direction (up: client to server).");
	series(out, "ringlb_bytes_total", "direction", "up", t.bytes_up);
	series(out, "ringlb_bytes_total", "direction", "down", t.bytes_down);
	metric_one(out, "ringlb_connect_timeouts_total", "counter",
		   "Backend connects that timed out.", t.connect_timeouts);
	metric_one(out, "ringlb_no_server_total", "counter",
		   "Clients closed because no server was left to try.",
		   t.no_server);
	metric_one(out, "ringlb_idle_timeouts_total", "counter",
		   "Connections closed by the idle timeout.", t.idle_timeouts);
	metric_head(out, "ringlb_timeouts_total", "counter",
		    "Connections closed by a timeout, by kind (client, server, write, idle, inspect).");
	series(out, "ringlb_timeouts_total", "kind", "client",
	       t.client_timeouts);
	series(out, "ringlb_timeouts_total", "kind", "server",
	       t.server_timeouts);
	series(out, "ringlb_timeouts_total", "kind", "write", t.write_timeouts);
	series(out, "ringlb_timeouts_total", "kind", "idle", t.idle_timeouts);
	series(out, "ringlb_timeouts_total", "kind", "inspect",
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
	metric_head(out, "ringlb_reloads_total", "counter",
		    "Configuration reloads, by result.");
	series(out, "ringlb_reloads_total", "result", "ok", rt->reloads);
	series(out, "ringlb_reloads_total", "result", "failed",
	       rt->reload_failures);
	ctl_counter(out, "ringlb_control_refused_total",
		    "Admin and metrics clients closed at once: the endpoint had its cap of clients.",
		    rt->ctl_refused);
	ctl_counter(out, "ringlb_control_timeouts_total",
		    "Admin and metrics clients closed by the deadline on their whole exchange.",
		    rt->ctl_timeouts);

	per_server(out, cfg, "ringlb_backend_up", "gauge",
		   "1 when the server can take connections (up, enabled).",
		   NULL, srv_up);
	per_server(out, cfg, "ringlb_backend_connections_active", "gauge",
		   "Connections using the server now.", NULL, srv_active);
	per_server(out, cfg, "ringlb_backend_connections_total", "counter",
		   "Connections established to the server.", NULL,
		   srv_conns);
	per_server(out, cfg, "ringlb_connect_errors_total", "counter",
		   "Failed connects to the server (refused, timed out, ...).",
		   NULL, srv_connect_errors);
	per_server_weight(out, cfg);
	per_server(out, cfg, "ringlb_backend_resets_total", "counter",
		   "Established connections the server reset.", NULL,
		   srv_resets);
	per_server(out, cfg, "ringlb_backend_passive_downs_total", "counter",
		   "Times passive health took the server out (passive-fall connect failures or resets in a row).",
		   NULL, srv_passive_downs);
	per_server(out, cfg, "ringlb_health_checks_total", "counter",
		   "Active health checks, by result.", "ok", srv_checks_ok);
	per_server(out, cfg, "ringlb_health_checks_total", NULL, NULL,
		   "failed", srv_checks_failed);

	if (rt->engine == &engine_uring) {
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
	} else {
		per_worker(out, rt, "ringlb_epoll_waits_total",
			   "epoll_wait calls by the worker.",
			   offsetof(struct worker_stats, epoll_waits));
		per_worker(out, rt, "ringlb_io_syscalls_total",
			   "read/write/splice calls by the worker.",
			   offsetof(struct worker_stats, syscalls_io));
	}
}

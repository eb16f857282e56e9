// SPDX-License-Identifier: MIT
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
 * One row per listener: its name, its backend, its max-conns (0: none)
 * and its bind addresses, comma-separated. For `ringlbctl top`, which
 * has no other way to know them.
 */
static void show_listeners(struct runtime *rt, FILE *out, bool json)
{
	struct config *cfg = rt->groups->cfg;
	unsigned int l, i;
	bool first;

	if (json)
		fprintf(out, "[");
	else
		fprintf(out, "%-16s %-16s %8s %s\n", "LISTENER", "BACKEND",
			"MAXCONN", "BINDS");
	for (l = 0; l < cfg->nlisteners; l++) {
		struct listener *ln = &cfg->listeners[l];
		const char *be = ln->backend_name;

		if (json) {
			fprintf(out, "%s{\"listener\":", l ? "," : "");
			json_str(out, ln->name);
			fprintf(out, ",\"backend\":");
			json_str(out, be);
			fprintf(out, ",\"max_conns\":%d,\"binds\":[",
				ln->max_conns);
		} else {
			fprintf(out, "%-16s %-16s %8d ", ln->name, be,
				ln->max_conns);
		}
		first = true;
		for (i = 0; i < cfg->nsocks; i++) {
			if (cfg->socks[i].ln != ln)
				continue;
			if (json) {
				fprintf(out, "%s", first ? "" : ",");
				json_str(out, cfg->socks[i].addr_str);
			} else {
				fprintf(out, "%s%s", first ? "" : ",",
					cfg->socks[i].addr_str);
			}
			first = false;
		}
		fprintf(out, json ? "]}" : "\n");
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

/* a line of a uringstat file is ours when its pid column is */
static bool uringstat_line_ours(struct runtime *rt, const char *line)
{
	struct generation *g;
	unsigned int i;
	int id, pid;

	if (sscanf(line, "%d %d", &id, &pid) != 2)
		return false;
	if (pid == getpid())
		return true;
	for (g = rt->groups; g; g = g->next)
		for (i = 0; i < g->nworkers; i++)
			if (g->workers[i].tid == pid)
				return true;
	return false;
}

/*
 * The header and our lines of one uringstat file (rings, errors); in
 * JSON, the lines as an array of strings.
 */
static void show_uringstat_file(struct runtime *rt, FILE *f, FILE *out,
				bool json)
{
	bool first = true, header = false;
	char line[512];

	if (json)
		fputc('[', out);
	while (fgets(line, sizeof(line), f)) {
		if (!header) {
			header = true;
			if (!json)
				fputs(line, out);
			continue;
		}
		if (!uringstat_line_ours(rt, line))
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
	if (json)
		fputc(']', out);
}

/*
 * uringstat's view of our own rings: the lines of its debugfs "rings"
 * and "errors" files whose pid is ours (or one of our worker threads'),
 * next to the figures the workers count themselves. A module without
 * the errors file (older than this ringlb) shows the rings alone.
 */
static void show_kernel(struct runtime *rt, FILE *out, bool json)
{
	static const char path[] = "/sys/kernel/debug/uringstat/rings";
	static const char errpath[] = "/sys/kernel/debug/uringstat/errors";
	struct worker_stats t;
	FILE *f = fopen(path, "r");

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
		fprintf(out, "{\"module\":true,\"uring_sqes\":%llu,\"uring_cqes\":%llu,\"uring_enter\":%llu,\"rings\":",
			(unsigned long long)t.uring_sqes,
			(unsigned long long)t.uring_cqes,
			(unsigned long long)t.uring_enter);
	else
		fprintf(out, "ringlb's own count: sqes=%llu cqes=%llu enter=%llu\n",
			(unsigned long long)t.uring_sqes,
			(unsigned long long)t.uring_cqes,
			(unsigned long long)t.uring_enter);
	show_uringstat_file(rt, f, out, json);
	fclose(f);
	f = fopen(errpath, "r");
	if (f) {
		if (json)
			fputs(",\"errors\":", out);
		show_uringstat_file(rt, f, out, json);
		fclose(f);
	}
	if (json)
		fputs("}\n", out);
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
		if (!strcmp(w[1], "listeners")) {
			show_listeners(rt, out, json);
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
		fprintf(out, "commands: show stats|servers|conns|kernel|listeners|health, disable server B/S, enable server B/S, set weight B/S N, withdraw, rejoin, drain (add --json for JSON)\n");
		return 0;
	}
	fprintf(out, "error: unknown command (try 'help')\n");
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * Config keys, the libinih file parser and validation.
 *
 * Errors are reported as "FILE:LINE: message" (or "ringlb: message" for
 * the command line) and counted; parsing goes on so one run of --check
 * lists every problem in the file.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <ini.h>
#include <netinet/in.h>
#include <regex.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "balance.h"
#include "config.h"
#include "health_talk.h"
#include "log.h"
#include "proxy_parse.h"

/* a configuration file larger than this is refused, not parsed */
#define CONFIG_MAX_BYTES	(1 << 20)
/* and at most this many syntax errors are listed */
#define CONFIG_MAX_SYNTAX_ERRORS	100

struct parse_ctx {
	struct config *cfg;
	const char *buf;	/* the whole file */
	size_t len, pos;
	bool at_bol;		/* the next read starts a line */
	int line;
	int section_line;	/* of the last [section] header */
	bool new_section;	/* no key since that header */
	int *bad;		/* lines libinih rejected, to skip */
	unsigned int nbad;
	bool dry;		/* finding syntax errors only */
};

void config_error(struct config *cfg, int line, const char *fmt, ...)
{
	va_list ap;

	if (cfg->file && line > 0)
		fprintf(stderr, "%s:%d: ", cfg->file, line);
	else
		fprintf(stderr, "ringlb: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cfg->errors++;
}

/* Said, not counted: --check still passes. */
void config_warn(struct config *cfg, int line, const char *fmt, ...)
{
	va_list ap;

	if (cfg->file && line > 0)
		fprintf(stderr, "%s:%d: warning: ", cfg->file, line);
	else
		fprintf(stderr, "ringlb: warning: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void config_init(struct config *cfg)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	memset(cfg, 0, sizeof(*cfg));
	cfg->threads = ncpu > 0 ? ncpu : 1;
	cfg->engine = ENGINE_AUTO;
	cfg->forward = FORWARD_AUTO;
	/*
	 * Linux sends a SYN again after 1 s and 3 s: a timeout of exactly
	 * 1 s failed every connection whose SYN overflowed a busy server's
	 * backlog. 5 s outlives two lost SYNs (HAProxy advises a little
	 * above a multiple of 3 s for the same reason).
	 */
	cfg->connect_timeout_ms = 5000;
	cfg->retries = 3;
	/* nginx stream's proxy_timeout; a write stalled for a minute is a
	 * peer that stopped reading */
	cfg->client_timeout_ms = 600000;
	cfg->server_timeout_ms = 600000;
	cfg->write_timeout_ms = 60000;
	cfg->tcp_keepalive_s = 60;
	cfg->src_prefix[0] = 32;
	cfg->src_prefix[1] = 64;
	cfg->drain_timeout_ms = 10000;
	/* nginx's proxy_protocol_timeout is 30 s; a header comes at once */
	cfg->inspect_timeout_ms = 5000;
	cfg->access_log = 1;
	/* HAProxy's resolvers hold valid answers 10 s by default */
	cfg->resolve_every_ms = 10000;
	/* connections left by a reload, or by SIGQUIT: 15 min, then cut */
	cfg->hard_stop_after_ms = 15 * 60 * 1000;
	strcpy(cfg->balance, "rr");
	cfg->health = HEALTH_NONE;
	cfg->health_interval_ms = 2000;
	cfg->health_timeout_ms = UNSET;
	cfg->rise = 2;
	cfg->fall = 3;
	/* passive health follows fall and health-interval unless set */
	cfg->passive_fall = UNSET;
	cfg->passive_down_ms = UNSET;
	cfg->log_level = LOG_INFO;
	cfg->pipe_size = 256 * 1024;
	cfg->buf_count = 1024;
	cfg->buf_size = 16 * 1024;
	cfg->ring_entries = 1024;
}

/* ---- value parsers --------------------------------------------------- */

static int parse_int(struct config *cfg, int line, const char *key,
		     const char *v, long min, long max, int *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < min || n > max) {
		config_error(cfg, line, "%s: '%s' is not a number in %ld..%ld",
			     key, v, min, max);
		return -EINVAL;
	}
	*out = (int)n;
	return 0;
}

/*
 * A duration: a number of @unit_ms (ms, or s for tcp-keepalive) or a
 * number with its unit, ms, s, m or h ("5s", "500ms", "1m"), as HAProxy
 * and nginx take them; then bounded as parse_int() does, in @unit_ms.
 */
static int parse_duration(struct config *cfg, int line, const char *key,
			  const char *v, long min, long max, int unit_ms,
			  int *out)
{
	static const struct { const char *sfx; long ms; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
	};
	unsigned int i;
	long long n, ms;
	char *end;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno || end == v || n < 0)
		goto bad;
	if (!*end) {
		if (n > LLONG_MAX / unit_ms)
			goto bad;
		ms = n * unit_ms;
	} else {
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (!strcmp(end, units[i].sfx))
				break;
		if (i == sizeof(units) / sizeof(units[0]) ||
		    n > LLONG_MAX / units[i].ms)
			goto bad;
		ms = n * units[i].ms;
		if (ms % unit_ms)
			goto bad;
	}
	if (ms / unit_ms < min || ms / unit_ms > max)
		goto bad;
	*out = (int)(ms / unit_ms);
	return 0;
bad:
	config_error(cfg, line, "%s: '%s' is not a duration in %ld..%ld %s (or with a unit: ms, s, m, h)",
		     key, v, min, max, unit_ms == 1 ? "ms" : "s");
	return -EINVAL;
}

static int parse_choice(struct config *cfg, int line, const char *key,
			const char *v, const char *const *names, int *out)
{
	char list[128] = "";
	int i;

	for (i = 0; names[i]; i++) {
		if (!strcmp(v, names[i])) {
			*out = i;
			return 0;
		}
		strcat(list, i ? ", " : "");
		strcat(list, names[i]);
	}
	config_error(cfg, line, "%s: '%s' is not one of %s", key, v, list);
	return -EINVAL;
}

static const char *const engine_names[] = { "auto", "uring", "epoll", NULL };
static const char *const forward_names[] = { "auto", "splice", "buffers",
					     NULL };
static const char *const pp_names[] = { "off", "v1", "v2", NULL };
/* in PP_ACCEPT_* order */
static const char *const accept_pp_names[] = { "off", "v1", "v2", "any",
					       NULL };
static const char *const tlv_names[] = { "drop", "pass", NULL };
static const char *const health_names[] = { "none", "tcp", "send-expect",
					    NULL };
static const char *const onoff_names[] = { "off", "on", NULL };

static int parse_name(struct config *cfg, int line, const char *what,
		      const char *v, char *out)
{
	size_t i, n = strlen(v);

	if (!n || n >= NAME_MAX_LEN) {
		config_error(cfg, line, "%s name '%s' must be 1..%d characters",
			     what, v, NAME_MAX_LEN - 1);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		char ch = v[i];

		if (!(ch == '-' || ch == '_' || ch == '.' ||
		      (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= 'A' && ch <= 'Z'))) {
			config_error(cfg, line, "%s name '%s': only letters, digits, '-', '_' and '.'",
				     what, v);
			return -EINVAL;
		}
	}
	memcpy(out, v, n + 1);
	return 0;
}

/* ---- sections ---------------------------------------------------------- */

static struct listener *get_listener(struct config *cfg, const char *name,
				     int line)
{
	struct listener *ln;
	unsigned int i;

	for (i = 0; i < cfg->nlisteners; i++)
		if (!strcmp(cfg->listeners[i].name, name))
			return &cfg->listeners[i];
	ln = realloc(cfg->listeners, (cfg->nlisteners + 1) * sizeof(*ln));
	if (!ln)
		return NULL;
	cfg->listeners = ln;
	ln = &ln[cfg->nlisteners];
	memset(ln, 0, sizeof(*ln));
	if (parse_name(cfg, line, "listener", name, ln->name))
		return NULL;
	ln->max_conns = UNSET;
	ln->proxy_protocol = UNSET;
	ln->accept_proxy = UNSET;
	ln->proxy_tlvs = UNSET;
	ln->inspect_timeout_ms = UNSET;
	ln->access_log = UNSET;
	ln->transparent = UNSET;
	ln->idle_timeout_ms = UNSET;
	ln->client_timeout_ms = UNSET;
	ln->write_timeout_ms = UNSET;
	ln->max_per_source = UNSET;
	ln->max_rate_per_source = UNSET;
	ln->src_prefix[0] = ln->src_prefix[1] = UNSET;
	ln->line = line;
	cfg->nlisteners++;
	return ln;
}

static struct backend *get_backend(struct config *cfg, const char *name,
				   int line)
{
	struct backend *be;
	unsigned int i;

	for (i = 0; i < cfg->nbackends; i++)
		if (!strcmp(cfg->backends[i].name, name))
			return &cfg->backends[i];
	be = realloc(cfg->backends, (cfg->nbackends + 1) * sizeof(*be));
	if (!be)
		return NULL;
	cfg->backends = be;
	be = &be[cfg->nbackends];
	memset(be, 0, sizeof(*be));
	if (parse_name(cfg, line, "backend", name, be->name))
		return NULL;
	be->health = UNSET;
	be->health_interval_ms = UNSET;
	be->health_timeout_ms = UNSET;
	be->rise = UNSET;
	be->fall = UNSET;
	be->connect_timeout_ms = UNSET;
	be->server_timeout_ms = UNSET;
	be->retries = UNSET;
	be->slow_start_ms = UNSET;
	be->passive_fall = UNSET;
	be->passive_down_ms = UNSET;
	be->resolve_every_ms = UNSET;
	be->line = line;
	cfg->nbackends++;
	return be;
}

struct backend *config_find_backend(struct config *cfg, const char *name)
{
	unsigned int i;

	for (i = 0; i < cfg->nbackends; i++)
		if (!strcmp(cfg->backends[i].name, name))
			return &cfg->backends[i];
	return NULL;
}

/* "BACKEND/SERVER" as the admin commands write it */
struct server *config_find_server(struct config *cfg, const char *spec,
				  struct backend **bep)
{
	const char *slash = strchr(spec, '/');
	char bname[NAME_MAX_LEN];
	struct backend *be;
	unsigned int i;

	if (!slash || (size_t)(slash - spec) >= sizeof(bname))
		return NULL;
	memcpy(bname, spec, slash - spec);
	bname[slash - spec] = '\0';
	be = config_find_backend(cfg, bname);
	if (!be)
		return NULL;
	for (i = 0; i < be->nservers; i++) {
		if (!strcmp(be->servers[i].name, slash + 1)) {
			if (bep)
				*bep = be;
			return &be->servers[i];
		}
	}
	return NULL;
}

/*
 * server = NAME ADDR [weight=N] [backup] [disabled]
 * (the command line's -b ADDR[@W] arrives here as "sN ADDR weight=W")
 */
/*
 * NAME:PORT, NAME a host name (letters, digits, '-', '.', with a letter
 * somewhere, so that it cannot be an address written wrong).
 */
static int parse_host_port(const char *s, char *host, uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : 0, i;
	bool letter = false;
	char *end;
	long p;

	if (!n || n > 253 || s[0] == '.' || s[n - 1] == '.')
		return -EINVAL;
	for (i = 0; i < n; i++) {
		char ch = s[i];

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))
			letter = true;
		else if (!((ch >= '0' && ch <= '9') || ch == '-' ||
			   (ch == '.' && s[i - 1] != '.')))
			return -EINVAL;
	}
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (!letter || errno || end == colon + 1 || *end || p < 1 || p > 65535)
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = '\0';
	*port = (uint16_t)p;
	return 0;
}

void server_set_addr(const struct backend *be, struct server *srv,
		     struct srv_addr *sa, const struct addr *a)
{
	if (&sa->addr != a)
		sa->addr = *a;
	sa->check = sa->addr;
	if (be->health_port && sa->addr.ss.ss_family == AF_INET)
		((struct sockaddr_in *)&sa->check.ss)->sin_port =
			htons(be->health_port);
	else if (be->health_port && sa->addr.ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&sa->check.ss)->sin6_port =
			htons(be->health_port);
	addr_format((struct sockaddr *)&sa->addr.ss, sa->addr.len, sa->str,
		    sizeof(sa->str));
	(void)srv;
}

static int add_server(struct config *cfg, struct backend *be,
		      const char *value, int line)
{
	char buf[512], *tok, *save = NULL, *name, *addr;
	struct server *srv, *n;
	unsigned int i;

	if (strlen(value) >= sizeof(buf)) {
		config_error(cfg, line, "server: line too long");
		return -EINVAL;
	}
	strcpy(buf, value);
	name = strtok_r(buf, " \t", &save);
	addr = strtok_r(NULL, " \t", &save);
	if (!name || !addr) {
		config_error(cfg, line, "server: want 'NAME ADDR:PORT [weight=N] [backup] [disabled]'");
		return -EINVAL;
	}
	if (be->nservers >= MAX_SERVERS) {
		config_error(cfg, line, "backend %s: more than %d servers",
			     be->name, MAX_SERVERS);
		return -EINVAL;
	}
	for (i = 0; i < be->nservers; i++) {
		if (!strcmp(be->servers[i].name, name)) {
			config_error(cfg, line, "backend %s: duplicate server name '%s' (first at line %d)",
				     be->name, name, be->servers[i].line);
			return -EINVAL;
		}
	}
	/* doubling: thousands of servers must not cost a copy each */
	if (!(be->nservers & (be->nservers - 1))) {
		n = realloc(be->servers,
			    (be->nservers ? 2 * be->nservers : 1) * sizeof(*n));
		if (!n)
			return -ENOMEM;
		be->servers = n;
	}
	n = be->servers;
	srv = &n[be->nservers];
	memset(srv, 0, sizeof(*srv));
	srv->line = line;
	if (parse_name(cfg, line, "server", name, srv->name))
		return -EINVAL;
	if (!addr_parse(addr, &srv->slots[0].addr)) {
		atomic_init(&srv->up, true);
	} else if (!parse_host_port(addr, srv->host, &srv->port)) {
		/* down until the resolver has found it */
		srv->slots[0].addr.ss.ss_family = AF_UNSPEC;
		snprintf(srv->slots[0].str, sizeof(srv->slots[0].str),
			 "%.100s:%u", srv->host, srv->port);
		atomic_init(&srv->up, false);
	} else {
		config_error(cfg, line, "server %s: bad address '%s' (want ADDR:PORT, [ADDR]:PORT, NAME:PORT or unix:/path)",
			     name, addr);
		return -EINVAL;
	}
	atomic_init(&srv->weight, 1);
	while ((tok = strtok_r(NULL, " \t", &save))) {
		int w;

		if (!strncmp(tok, "weight=", 7)) {
			if (parse_int(cfg, line, "weight", tok + 7, 0, 256, &w))
				return -EINVAL;
			atomic_store(&srv->weight, w);
		} else if (!strcmp(tok, "backup")) {
			srv->backup = true;
		} else if (!strcmp(tok, "disabled")) {
			atomic_store(&srv->disabled, true);
		} else {
			config_error(cfg, line, "server %s: unknown option '%s' (weight=N, backup, disabled)",
				     name, tok);
			return -EINVAL;
		}
	}
	be->nservers++;
	return 0;
}

/* "allow"/"deny": one block per key, repeatable */
static int parse_cidr(struct config *cfg, int line, const char *k,
		      const char *v, struct cidr_list *l)
{
	struct cidr c, *n;

	if (cidr_parse(v, &c)) {
		config_error(cfg, line, "%s: bad address block '%s' (want ADDR or ADDR/BITS)",
			     k, v);
		return -EINVAL;
	}
	n = realloc(l->v, (l->n + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	l->v = n;
	l->v[l->n++] = c;
	return 0;
}

/* "CIDR[, CIDR...]" (and the key may be repeated) */
static int parse_cidrs(struct config *cfg, int line, const char *k,
		       const char *v, struct cidr_list *l)
{
	char buf[1024], *tok, *save = NULL;
	int ret = 0;

	if (strlen(v) >= sizeof(buf)) {
		config_error(cfg, line, "%s: list too long", k);
		return -EINVAL;
	}
	strcpy(buf, v);
	for (tok = strtok_r(buf, ", \t", &save); tok;
	     tok = strtok_r(NULL, ", \t", &save))
		if (parse_cidr(cfg, line, k, tok, l))
			ret = -EINVAL;
	if (!l->n && !ret) {
		config_error(cfg, line, "%s: empty list", k);
		ret = -EINVAL;
	}
	return ret;
}

/*
 * resolver = ADDR[:PORT] (repeatable): a DNS server for the names of
 * servers, instead of /etc/resolv.conf's; kept in the form c-ares takes.
 */
static int add_resolver(struct config *cfg, int line, const char *v)
{
	struct addr a;
	char one[128];
	size_t len = strlen(cfg->resolvers);

	/* an address, with the port DNS has when none is given */
	if (addr_parse(v, &a) || a.ss.ss_family == AF_UNIX) {
		snprintf(one, sizeof(one), "%s:53", v);
		if (strchr(v, ']') || addr_parse(one, &a) ||
		    a.ss.ss_family == AF_UNIX) {
			config_error(cfg, line, "resolver: bad address '%s' (want ADDR or ADDR:PORT)",
				     v);
			return -EINVAL;
		}
	}
	addr_format((struct sockaddr *)&a.ss, a.len, one, sizeof(one));
	if (len + strlen(one) + 2 > sizeof(cfg->resolvers)) {
		config_error(cfg, line, "resolver: too many");
		return -EINVAL;
	}
	snprintf(cfg->resolvers + len, sizeof(cfg->resolvers) - len, "%s%s",
		 len ? "," : "", one);
	return 0;
}

/* log-format: kept as text, checked here, parsed for good at the end */
static int set_log_format(struct config *cfg, int line, const char *v,
			  char **out)
{
	struct log_format lf;
	const char *err;
	int ret = log_format_parse(&lf, v, &err);

	if (ret) {
		if (err)
			config_error(cfg, line, "log-format: %s%s",
				     err[0] == '%' ? "unknown field at " : "",
				     err);
		return -EINVAL;
	}
	log_format_free(&lf);
	free(*out);
	*out = strdup(v);
	return *out ? 0 : -ENOMEM;
}

/* the listener keys that [global] may also set, as their defaults */
static int set_proxy_key(struct config *cfg, const char *k, const char *v,
			 int line, int *accept, struct cidr_list *from,
			 int *tlvs, int *inspect_ms)
{
	if (!strcmp(k, "accept-proxy"))
		return parse_choice(cfg, line, k, v, accept_pp_names, accept);
	if (!strcmp(k, "accept-proxy-from"))
		return parse_cidrs(cfg, line, k, v, from);
	if (!strcmp(k, "accept-proxy-tlvs"))
		return parse_choice(cfg, line, k, v, tlv_names, tlvs);
	if (!strcmp(k, "inspect-timeout"))
		return parse_duration(cfg, line, k, v, 1, 3600000, 1, inspect_ms);
	return 1;
}

static int set_global(struct config *cfg, const char *k, const char *v,
		      int line)
{
	int x;

	if (!strcmp(k, "access-log"))
		return parse_choice(cfg, line, k, v, onoff_names,
				    &cfg->access_log);
	if (!strcmp(k, "transparent"))
		return parse_choice(cfg, line, k, v, onoff_names,
				    &cfg->transparent);
	if (!strcmp(k, "resolver"))
		return add_resolver(cfg, line, v);
	if (!strcmp(k, "resolve-every"))
		return parse_duration(cfg, line, k, v, 100, 86400000, 1,
				      &cfg->resolve_every_ms);
	if (!strcmp(k, "log-format"))
		return set_log_format(cfg, line, v, &cfg->log_format_text);
	x = set_proxy_key(cfg, k, v, line, &cfg->accept_proxy,
			  &cfg->proxy_from, &cfg->proxy_tlvs,
			  &cfg->inspect_timeout_ms);
	if (x <= 0)
		return x;
	if (!strcmp(k, "threads"))
		return parse_int(cfg, line, k, v, 1, 256, &cfg->threads);
	if (!strcmp(k, "engine")) {
		if (parse_choice(cfg, line, k, v, engine_names, &x))
			return -EINVAL;
		cfg->engine = x;
		return 0;
	}
	if (!strcmp(k, "forward")) {
		if (parse_choice(cfg, line, k, v, forward_names, &x))
			return -EINVAL;
		cfg->forward = x;
		return 0;
	}
	if (!strcmp(k, "max-conns"))
		return parse_int(cfg, line, k, v, 0, 1 << 22, &cfg->max_conns);
	if (!strcmp(k, "allow"))
		return parse_cidr(cfg, line, k, v, &cfg->allow);
	if (!strcmp(k, "deny"))
		return parse_cidr(cfg, line, k, v, &cfg->deny);
	if (!strcmp(k, "max-conns-per-source"))
		return parse_int(cfg, line, k, v, 0, 1 << 22,
				 &cfg->max_per_source);
	if (!strcmp(k, "max-rate-per-source"))
		return parse_int(cfg, line, k, v, 0, 1 << 22,
				 &cfg->max_rate_per_source);
	if (!strcmp(k, "source-prefix-v4"))
		return parse_int(cfg, line, k, v, 1, 32, &cfg->src_prefix[0]);
	if (!strcmp(k, "source-prefix-v6"))
		return parse_int(cfg, line, k, v, 1, 128, &cfg->src_prefix[1]);
	if (!strcmp(k, "connect-timeout"))
		return parse_duration(cfg, line, k, v, 1, 3600000, 1,
				 &cfg->connect_timeout_ms);
	if (!strcmp(k, "retries"))
		return parse_int(cfg, line, k, v, 0, 100, &cfg->retries);
	if (!strcmp(k, "idle-timeout"))
		return parse_duration(cfg, line, k, v, 0, INT_MAX, 1,
				 &cfg->idle_timeout_ms);
	if (!strcmp(k, "client-timeout"))
		return parse_duration(cfg, line, k, v, 0, INT_MAX, 1,
				 &cfg->client_timeout_ms);
	if (!strcmp(k, "server-timeout"))
		return parse_duration(cfg, line, k, v, 0, INT_MAX, 1,
				 &cfg->server_timeout_ms);
	if (!strcmp(k, "write-timeout"))
		return parse_duration(cfg, line, k, v, 0, INT_MAX, 1,
				 &cfg->write_timeout_ms);
	if (!strcmp(k, "tcp-keepalive"))
		return parse_duration(cfg, line, k, v, 0, 32767, 1000,
				 &cfg->tcp_keepalive_s);
	if (!strcmp(k, "drain-timeout"))
		return parse_duration(cfg, line, k, v, 0, INT_MAX, 1,
				 &cfg->drain_timeout_ms);
	if (!strcmp(k, "hard-stop-after"))
		return parse_duration(cfg, line, k, v, 0, INT_MAX, 1,
				 &cfg->hard_stop_after_ms);
	if (!strcmp(k, "proxy-protocol"))
		return parse_choice(cfg, line, k, v, pp_names,
				    &cfg->proxy_protocol);
	if (!strcmp(k, "balance")) {
		if (!balance_find(v)) {
			config_error(cfg, line, "balance: unknown algorithm '%s' (%s)",
				     v, BALANCE_NAMES);
			return -EINVAL;
		}
		snprintf(cfg->balance, sizeof(cfg->balance), "%s", v);
		return 0;
	}
	if (!strcmp(k, "health"))
		return parse_choice(cfg, line, k, v, health_names,
				    &cfg->health);
	if (!strcmp(k, "health-interval"))
		return parse_duration(cfg, line, k, v, 10, 3600000, 1,
				 &cfg->health_interval_ms);
	if (!strcmp(k, "health-timeout"))
		return parse_duration(cfg, line, k, v, 1, 3600000, 1,
				 &cfg->health_timeout_ms);
	if (!strcmp(k, "rise"))
		return parse_int(cfg, line, k, v, 1, 100, &cfg->rise);
	if (!strcmp(k, "fall"))
		return parse_int(cfg, line, k, v, 1, 100, &cfg->fall);
	if (!strcmp(k, "slow-start"))
		return parse_duration(cfg, line, k, v, 0, 3600000, 1,
				 &cfg->slow_start_ms);
	if (!strcmp(k, "passive-fall"))
		return parse_int(cfg, line, k, v, 0, 100, &cfg->passive_fall);
	if (!strcmp(k, "passive-down"))
		return parse_duration(cfg, line, k, v, 10, 3600000, 1,
				 &cfg->passive_down_ms);
	if (!strcmp(k, "admin")) {
		if (!*v || strlen(v) >= sizeof(cfg->admin_path)) {
			config_error(cfg, line, "admin: path must be 1..%zu characters",
				     sizeof(cfg->admin_path) - 1);
			return -EINVAL;
		}
		strcpy(cfg->admin_path, v);
		return 0;
	}
	if (!strcmp(k, "metrics")) {
		if (addr_parse(v, &cfg->metrics) ||
		    cfg->metrics.ss.ss_family == AF_UNIX) {
			config_error(cfg, line, "metrics: bad address '%s' (want ADDR:PORT)",
				     v);
			return -EINVAL;
		}
		cfg->metrics_on = true;
		return 0;
	}
	if (!strcmp(k, "user")) {
		if (!*v || strlen(v) >= sizeof(cfg->user)) {
			config_error(cfg, line, "user: bad name '%s'", v);
			return -EINVAL;
		}
		strcpy(cfg->user, v);
		return 0;
	}
	if (!strcmp(k, "log-level")) {
		enum log_level l;

		if (log_parse_level(v, &l)) {
			config_error(cfg, line, "log-level: '%s' is not one of error, warn, info, debug (or syslog's emerg..debug)",
				     v);
			return -EINVAL;
		}
		cfg->log_level = l;
		return 0;
	}
	if (!strcmp(k, "pipe-size"))
		return parse_int(cfg, line, k, v, 4096, 1 << 20,
				 &cfg->pipe_size);
	if (!strcmp(k, "buffers")) {
		if (parse_int(cfg, line, k, v, 16, 32768, &cfg->buf_count))
			return -EINVAL;
		if (cfg->buf_count & (cfg->buf_count - 1)) {
			config_error(cfg, line, "buffers: %d is not a power of two",
				     cfg->buf_count);
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(k, "buffer-size"))
		return parse_int(cfg, line, k, v, 1024, 1 << 20,
				 &cfg->buf_size);
	if (!strcmp(k, "zerocopy")) {
		if (parse_choice(cfg, line, k, v, onoff_names, &x))
			return -EINVAL;
		cfg->zerocopy = x;
		return 0;
	}
	if (!strcmp(k, "direct-descriptors")) {
		if (parse_choice(cfg, line, k, v, onoff_names, &x))
			return -EINVAL;
		cfg->direct_fds = x;
		return 0;
	}
	if (!strcmp(k, "ring-entries"))
		return parse_int(cfg, line, k, v, 64, 32768,
				 &cfg->ring_entries);
	config_error(cfg, line, "unknown key '%s' in [global]", k);
	return -EINVAL;
}

/* "PATTERN BACKEND": PATTERN a host name or *.suffix, lower-cased */
static int add_sni_rule(struct config *cfg, struct listener *ln,
			const char *v, int line)
{
	char pat[300], be[NAME_MAX_LEN + 1], extra[2];
	struct sni_rule *r;
	const char *name;
	size_t i, n;

	if (sscanf(v, "%299s %32s %1s", pat, be, extra) != 2) {
		config_error(cfg, line, "sni-backend: want 'NAME BACKEND' or '*.SUFFIX BACKEND'");
		return -EINVAL;
	}
	name = strncmp(pat, "*.", 2) ? pat : pat + 2;
	n = strlen(name);
	for (i = 0; i < n; i++) {
		char ch = name[i];

		if (ch >= 'A' && ch <= 'Z')
			pat[name - pat + i] = ch + 'a' - 'A';
		else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
			   ch == '-' || ch == '_' || (ch == '.' && i &&
			   name[i - 1] != '.')))
			break;
	}
	if (!n || n > 253 || i < n || name[n - 1] == '.') {
		config_error(cfg, line, "sni-backend: '%s' is not a host name or *.suffix",
			     pat);
		return -EINVAL;
	}
	for (i = 0; i < ln->nsni; i++)
		if (ln->sni[i].wildcard == (name != pat) &&
		    !strcmp(ln->sni[i].pattern, name)) {
			config_error(cfg, line, "sni-backend: '%s' listed twice (first at line %d)",
				     pat, ln->sni[i].line);
			return -EINVAL;
		}
	r = realloc(ln->sni, (ln->nsni + 1) * sizeof(*r));
	if (!r)
		return -ENOMEM;
	ln->sni = r;
	r = &r[ln->nsni];
	memset(r, 0, sizeof(*r));
	if (parse_name(cfg, line, "sni-backend", be, r->backend_name))
		return -EINVAL;
	strcpy(r->pattern, name);
	r->wildcard = name != pat;
	r->line = line;
	ln->nsni++;
	return 0;
}

static int set_listener(struct config *cfg, struct listener *ln,
			const char *k, const char *v, int line)
{
	int ret;

	if (!strcmp(k, "sni-backend"))
		return add_sni_rule(cfg, ln, v, line);
	if (!strcmp(k, "access-log"))
		return parse_choice(cfg, line, k, v, onoff_names,
				    &ln->access_log);
	if (!strcmp(k, "transparent"))
		return parse_choice(cfg, line, k, v, onoff_names,
				    &ln->transparent);
	if (!strcmp(k, "log-format"))
		return set_log_format(cfg, line, v, &ln->log_format_text);

	if (!strcmp(k, "bind")) {
		struct addr a, *n;
		unsigned int i;

		if (addr_parse(v, &a) || a.ss.ss_family == AF_UNIX) {
			config_error(cfg, line, "bind: bad address '%s' (want ADDR:PORT or [ADDR]:PORT)",
				     v);
			return -EINVAL;
		}
		for (i = 0; i < ln->nbinds; i++) {
			if (addr_equal(&ln->binds[i], &a)) {
				config_error(cfg, line, "bind: '%s' listed twice",
					     v);
				return -EINVAL;
			}
		}
		n = realloc(ln->binds, (ln->nbinds + 1) * sizeof(*n));
		if (!n)
			return -ENOMEM;
		ln->binds = n;
		ln->binds[ln->nbinds++] = a;
		return 0;
	}
	if (!strcmp(k, "backend")) {
		if (parse_name(cfg, line, "backend", v, ln->backend_name))
			return -EINVAL;
		ln->backend_line = line;
		return 0;
	}
	ret = set_proxy_key(cfg, k, v, line, &ln->accept_proxy,
			    &ln->proxy_from, &ln->proxy_tlvs,
			    &ln->inspect_timeout_ms);
	if (ret <= 0)
		return ret;
	if (!strcmp(k, "max-conns"))
		return parse_int(cfg, line, k, v, 0, 1 << 22, &ln->max_conns);
	if (!strcmp(k, "allow"))
		return parse_cidr(cfg, line, k, v, &ln->allow);
	if (!strcmp(k, "deny"))
		return parse_cidr(cfg, line, k, v, &ln->deny);
	if (!strcmp(k, "max-conns-per-source"))
		return parse_int(cfg, line, k, v, 0, 1 << 22,
				 &ln->max_per_source);
	if (!strcmp(k, "max-rate-per-source"))
		return parse_int(cfg, line, k, v, 0, 1 << 22,
				 &ln->max_rate_per_source);
	if (!strcmp(k, "source-prefix-v4"))
		return parse_int(cfg, line, k, v, 1, 32, &ln->src_prefix[0]);
	if (!strcmp(k, "source-prefix-v6"))
		return parse_int(cfg, line, k, v, 1, 128, &ln->src_prefix[1]);
	if (!strcmp(k, "proxy-protocol"))
		return parse_choice(cfg, line, k, v, pp_names,
				    &ln->proxy_protocol);
	if (!strcmp(k, "idle-timeout"))
		return parse_duration(cfg, line, k, v, 0, INT_MAX, 1,
				 &ln->idle_timeout_ms);
	if (!strcmp(k, "client-timeout"))
		return parse_duration(cfg, line, k, v, 0, INT_MAX, 1,
				 &ln->client_timeout_ms);
	if (!strcmp(k, "write-timeout"))
		return parse_duration(cfg, line, k, v, 0, INT_MAX, 1,
				 &ln->write_timeout_ms);
	config_error(cfg, line, "unknown key '%s' in [listener %s]", k,
		     ln->name);
	return -EINVAL;
}

static int set_backend(struct config *cfg, struct backend *be,
		       const char *k, const char *v, int line)
{
	if (!strcmp(k, "server"))
		return add_server(cfg, be, v, line);
	if (!strcmp(k, "balance")) {
		if (!balance_find(v)) {
			config_error(cfg, line, "balance: unknown algorithm '%s' (%s)",
				     v, BALANCE_NAMES);
			return -EINVAL;
		}
		snprintf(be->balance, sizeof(be->balance), "%s", v);
		return 0;
	}
	if (!strcmp(k, "health"))
		return parse_choice(cfg, line, k, v, health_names, &be->health);
	if (!strcmp(k, "health-interval"))
		return parse_duration(cfg, line, k, v, 10, 3600000, 1,
				 &be->health_interval_ms);
	if (!strcmp(k, "health-timeout"))
		return parse_duration(cfg, line, k, v, 1, 3600000, 1,
				 &be->health_timeout_ms);
	if (!strcmp(k, "rise"))
		return parse_int(cfg, line, k, v, 1, 100, &be->rise);
	if (!strcmp(k, "fall"))
		return parse_int(cfg, line, k, v, 1, 100, &be->fall);
	if (!strcmp(k, "slow-start"))
		return parse_duration(cfg, line, k, v, 0, 3600000, 1,
				 &be->slow_start_ms);
	if (!strcmp(k, "passive-fall"))
		return parse_int(cfg, line, k, v, 0, 100, &be->passive_fall);
	if (!strcmp(k, "passive-down"))
		return parse_duration(cfg, line, k, v, 10, 3600000, 1,
				 &be->passive_down_ms);
	if (!strcmp(k, "connect-timeout"))
		return parse_duration(cfg, line, k, v, 1, 3600000, 1,
				 &be->connect_timeout_ms);
	if (!strcmp(k, "server-timeout"))
		return parse_duration(cfg, line, k, v, 0, INT_MAX, 1,
				 &be->server_timeout_ms);
	if (!strcmp(k, "retries"))
		return parse_int(cfg, line, k, v, 0, 100, &be->retries);
	if (!strcmp(k, "health-send") || !strcmp(k, "health-expect")) {
		bool send = k[7] == 's';
		char *out = send ? be->health_send : be->health_expect;
		int n;

		/* a regular expression keeps its backslashes for regcomp */
		if (!send && !strncmp(v, "re:", 3))
			n = strlen(v) < sizeof(be->health_expect) ?
			    (int)strlen(strcpy(out, v)) : -EINVAL;
		else
			n = hc_unescape(v, out, sizeof(be->health_send));

		if (n <= 0) {
			config_error(cfg, line, "%s: want 1..255 bytes, escapes \\r \\n \\t \\\\ \\xHH only",
				     k);
			return -EINVAL;
		}
		if (send)
			be->health_send_len = n;
		else
			be->health_expect_len = n;
		return 0;
	}
	if (!strcmp(k, "health-port"))
		return parse_int(cfg, line, k, v, 1, 65535, &be->health_port);
	if (!strcmp(k, "resolve-every"))
		return parse_duration(cfg, line, k, v, 100, 86400000, 1,
				      &be->resolve_every_ms);
	config_error(cfg, line, "unknown key '%s' in [backend %s]", k, be->name);
	return -EINVAL;
}

int config_set(struct config *cfg, const char *section, const char *key,
	       const char *value, int line)
{
	if (!*section || !strcmp(section, "global"))
		return set_global(cfg, key, value, line);
	if (!strncmp(section, "listener ", 9)) {
		struct listener *ln = get_listener(cfg, section + 9, line);

		return ln ? set_listener(cfg, ln, key, value, line) : -EINVAL;
	}
	if (!strncmp(section, "backend ", 8)) {
		struct backend *be = get_backend(cfg, section + 8, line);

		return be ? set_backend(cfg, be, key, value, line) : -EINVAL;
	}
	config_error(cfg, line, "unknown section [%s] (global, listener NAME, backend NAME)",
		     section);
	return -EINVAL;
}

/* ---- the file --------------------------------------------------------- */

/*
 * libinih's reader, from memory, counting lines so every message can name
 * its line. Lines found bad by an earlier pass read as empty, so libinih
 * goes on to the next error (it only ever returns the first one).
 */
static char *read_line(char *str, int num, void *stream)
{
	struct parse_ctx *ctx = stream;
	size_t n = 0, room = num > 0 ? (size_t)num - 1 : 0;
	unsigned int i;
	bool skip = false;

	if (ctx->pos >= ctx->len || !room)
		return NULL;
	while (n < room && ctx->pos < ctx->len) {
		char c = ctx->buf[ctx->pos++];

		str[n++] = c;
		if (c == '\n')
			break;
	}
	str[n] = '\0';
	if (!ctx->at_bol)
		return str;	/* the rest of a line longer than libinih's */
	ctx->at_bol = str[n - 1] == '\n';
	ctx->line++;
	for (i = 0; i < ctx->nbad; i++)
		skip |= ctx->bad[i] == ctx->line;
	if (skip) {
		if (!ctx->dry)
			config_error(ctx->cfg, ctx->line,
				     "syntax error (want [section] or key = value)");
		strcpy(str, "\n");
		return str;
	}
	{
		const char *t = str + strspn(str, " \t");
		char *h;

		if (*t == '[') {
			ctx->section_line = ctx->line;
			ctx->new_section = true;
		}
		/*
		 * An inline comment: '#' after a blank, as ';' is for
		 * libinih (a value cannot hold " #" or " ;" then).
		 */
		for (h = str + 1; *t != '#' && *t != ';' && *h; h++)
			if (*h == '#' && (h[-1] == ' ' || h[-1] == '\t')) {
				*h++ = '\n';
				*h = '\0';
				break;
			}
	}
	return str;
}

/*
 * A listener or backend section opened again further down would merge
 * silently into the first: report it, as HAProxy and nginx do for a
 * name defined twice.
 */
static void check_reopened(struct parse_ctx *ctx, const char *section)
{
	struct config *cfg = ctx->cfg;
	unsigned int i;

	if (!strncmp(section, "listener ", 9)) {
		for (i = 0; i < cfg->nlisteners; i++)
			if (!strcmp(cfg->listeners[i].name, section + 9))
				config_error(cfg, ctx->section_line,
					     "duplicate listener name '%s' (first at line %d)",
					     section + 9, cfg->listeners[i].line);
	} else if (!strncmp(section, "backend ", 8)) {
		struct backend *be = config_find_backend(cfg, section + 8);

		if (be)
			config_error(cfg, ctx->section_line,
				     "duplicate backend name '%s' (first at line %d)",
				     section + 8, be->line);
	}
}

static int on_key(void *user, const char *section, const char *name,
		  const char *value)
{
	struct parse_ctx *ctx = user;

	if (ctx->dry)
		return 1;
	if (ctx->new_section) {
		ctx->new_section = false;
		check_reopened(ctx, section);
	}
	config_set(ctx->cfg, section, name, value, ctx->line);
	return 1;	/* errors are counted, parsing goes on */
}

static int parse_pass(struct parse_ctx *ctx, bool dry)
{
	ctx->pos = 0;
	ctx->line = 0;
	ctx->at_bol = true;
	ctx->new_section = false;
	ctx->dry = dry;
	return ini_parse_stream(read_line, ctx, on_key, ctx);
}

/* the whole stream in memory (config files are small), NUL-terminated */
static char *slurp(FILE *f, size_t *len)
{
	size_t cap = 4096, n = 0, r;
	char *buf = malloc(cap), *nb;

	while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += r;
		if (n + 1 < cap)
			continue;
		if (cap >= CONFIG_MAX_BYTES) {
			free(buf);
			return NULL;
		}
		nb = realloc(buf, cap * 2);
		if (!nb)
			free(buf);
		buf = nb;
		cap *= 2;
	}
	if (buf)
		buf[n] = '\0';
	*len = n;
	return buf;
}

int config_load_stream(struct config *cfg, FILE *f, const char *name)
{
	struct parse_ctx ctx = { .cfg = cfg };
	unsigned int before = cfg->errors;
	int ret, *nb;
	char *buf;

	cfg->file = name;
	buf = slurp(f, &ctx.len);
	if (!buf) {
		config_error(cfg, 0, "%s: cannot read (larger than %d bytes?)",
			     name, CONFIG_MAX_BYTES);
		return -EINVAL;
	}
	ctx.buf = buf;
	/* one key per physical line, so line numbers are exact */
	ini_allow_multiline = false;
	/*
	 * libinih reports only the first syntax error: find them all first,
	 * each pass blanking the lines already found, then parse for real.
	 */
	while ((ret = parse_pass(&ctx, true)) > 0) {
		/* a line libinih still rejects once blanked: stop there */
		if (ctx.nbad == CONFIG_MAX_SYNTAX_ERRORS ||
		    (ctx.nbad && ctx.bad[ctx.nbad - 1] >= ret))
			break;
		nb = realloc(ctx.bad, (ctx.nbad + 1) * sizeof(*ctx.bad));
		if (!nb) {
			ret = -ENOMEM;
			break;
		}
		ctx.bad = nb;
		ctx.bad[ctx.nbad++] = ret;
	}
	if (ret >= 0)
		ret = parse_pass(&ctx, false);
	if (ret < 0)
		config_error(cfg, 0, "%s: cannot parse", name);
	free(ctx.bad);
	free(buf);
	return cfg->errors == before ? 0 : -EINVAL;
}

int config_load_file(struct config *cfg, const char *path)
{
	FILE *f = fopen(path, "r");
	int ret;

	if (!f) {
		ret = -errno;
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		cfg->errors++;
		return ret;
	}
	ret = config_load_stream(cfg, f, path);
	fclose(f);
	return ret;
}

/* ---- validation --------------------------------------------------------- */

/* a listener without lists of its own takes [global]'s */
static int cidr_list_copy(struct cidr_list *to, const struct cidr_list *from)
{
	if (!from->n)
		return 0;
	to->v = malloc(from->n * sizeof(*to->v));
	if (!to->v)
		return -ENOMEM;
	memcpy(to->v, from->v, from->n * sizeof(*to->v));
	to->n = from->n;
	return 0;
}

#define INHERIT(x, from)	do { if ((x) == UNSET) (x) = (from); } while (0)

int config_finish(struct config *cfg)
{
	unsigned int i, j, k, n = 0;

	if (!cfg->nlisteners)
		config_error(cfg, 0, "no listener: need a [listener NAME] with bind = ADDR:PORT (or -l)");
	if (!cfg->nbackends)
		config_error(cfg, 0, "no backend: need a [backend NAME] with a server (or -b)");

	for (i = 0; i < cfg->nbackends; i++) {
		struct backend *be = &cfg->backends[i];

		if (!be->nservers)
			config_error(cfg, be->line, "backend %s has no server",
				     be->name);
		if (!be->balance[0])
			strcpy(be->balance, cfg->balance);
		INHERIT(be->health, cfg->health);
		INHERIT(be->health_interval_ms, cfg->health_interval_ms);
		INHERIT(be->rise, cfg->rise);
		INHERIT(be->fall, cfg->fall);
		INHERIT(be->connect_timeout_ms, cfg->connect_timeout_ms);
		INHERIT(be->server_timeout_ms, cfg->server_timeout_ms);
		INHERIT(be->retries, cfg->retries);
		INHERIT(be->slow_start_ms, cfg->slow_start_ms);
		INHERIT(be->passive_fall, cfg->passive_fall);
		INHERIT(be->passive_fall, be->fall);
		INHERIT(be->passive_down_ms, cfg->passive_down_ms);
		INHERIT(be->passive_down_ms, be->health_interval_ms);
		INHERIT(be->resolve_every_ms, cfg->resolve_every_ms);
		if (be->slow_start_ms && !balance_weighted_live(be->balance))
			config_warn(cfg, be->line,
				    "backend %s: slow-start has no effect with balance %s (it ramps weights for wrr, leastconn and p2c)",
				    be->name, be->balance);
		INHERIT(be->health_timeout_ms, cfg->health_timeout_ms);
		if (be->health == HEALTH_SEND_EXPECT &&
		    !be->health_send_len && !be->health_expect_len)
			config_error(cfg, be->line,
				     "backend %s: health = send-expect needs health-send or health-expect",
				     be->name);
		if (be->health != HEALTH_SEND_EXPECT &&
		    (be->health_send_len || be->health_expect_len))
			config_warn(cfg, be->line,
				    "backend %s: health-send and health-expect need health = send-expect",
				    be->name);
		if (be->health_expect_len > 3 &&
		    !strncmp(be->health_expect, "re:", 3)) {
			int err;

			be->health_re = calloc(1, sizeof(regex_t));
			if (!be->health_re)
				return -ENOMEM;
			err = regcomp(be->health_re, be->health_expect + 3,
				      REG_EXTENDED | REG_NOSUB);
			if (err) {
				char msg[128];

				regerror(err, be->health_re, msg, sizeof(msg));
				config_error(cfg, be->line,
					     "backend %s: health-expect: %s",
					     be->name, msg);
				free(be->health_re);
				be->health_re = NULL;
			}
			be->health_expect_len = 0;
		}
		for (j = 0; j < be->nservers; j++) {
			struct server *srv = &be->servers[j];
			struct srv_addr *sa = &srv->slots[0];

			if (srv->host[0])
				continue;	/* the resolver fills it */
			server_set_addr(be, srv, sa, &sa->addr);
			if (be->health_port &&
			    sa->addr.ss.ss_family == AF_UNIX)
				config_error(cfg, be->line,
					     "backend %s: health-port: server %s is a unix socket",
					     be->name, srv->name);
		}
		/* as HAProxy's inter: a check ends before the next is due */
		INHERIT(be->health_timeout_ms,
			be->connect_timeout_ms < be->health_interval_ms ?
			be->connect_timeout_ms : be->health_interval_ms);
	}
	for (i = 0; i < cfg->nlisteners; i++) {
		struct listener *ln = &cfg->listeners[i];

		if (!ln->nbinds)
			config_error(cfg, ln->line, "listener %s has no bind address",
				     ln->name);
		if (!ln->backend_name[0] && cfg->nbackends == 1)
			strcpy(ln->backend_name, cfg->backends[0].name);
		ln->backend = config_find_backend(cfg, ln->backend_name);
		if (!ln->backend_name[0])
			config_error(cfg, ln->line, "listener %s: no backend = NAME",
				     ln->name);
		else if (!ln->backend)
			config_error(cfg, ln->backend_line ? : ln->line,
				     "listener %s: backend '%s' is not defined",
				     ln->name, ln->backend_name);
		for (j = 0; j < ln->nsni; j++) {
			struct sni_rule *r = &ln->sni[j];

			r->backend = config_find_backend(cfg, r->backend_name);
			if (!r->backend)
				config_error(cfg, r->line,
					     "listener %s: sni-backend: backend '%s' is not defined",
					     ln->name, r->backend_name);
		}
		INHERIT(ln->max_conns, 0);
		INHERIT(ln->proxy_protocol, cfg->proxy_protocol);
		INHERIT(ln->accept_proxy, cfg->accept_proxy);
		INHERIT(ln->proxy_tlvs, cfg->proxy_tlvs);
		INHERIT(ln->inspect_timeout_ms, cfg->inspect_timeout_ms);
		INHERIT(ln->access_log, cfg->access_log);
		INHERIT(ln->transparent, cfg->transparent);
		{
			/* the line ringlb always wrote, sni= where it routes */
			const char *f = ln->log_format_text ? :
					cfg->log_format_text ? : ln->nsni ?
					LOG_FORMAT_DEFAULT " sni=%sni" :
					LOG_FORMAT_DEFAULT;
			const char *err;

			if (log_format_parse(&ln->log_format, f, &err))
				return -ENOMEM;	/* checked when set */
		}
		if (!ln->proxy_from.n &&
		    cidr_list_copy(&ln->proxy_from, &cfg->proxy_from))
			return -ENOMEM;
		if (ln->proxy_from.n && !ln->accept_proxy)
			config_warn(cfg, ln->line,
				    "listener %s: accept-proxy-from without accept-proxy: no header is read",
				    ln->name);
		if (ln->proxy_tlvs && ln->proxy_protocol != 2)
			config_warn(cfg, ln->line,
				    "listener %s: accept-proxy-tlvs = pass needs proxy-protocol = v2 towards the servers",
				    ln->name);
		INHERIT(ln->idle_timeout_ms, cfg->idle_timeout_ms);
		INHERIT(ln->client_timeout_ms, cfg->client_timeout_ms);
		INHERIT(ln->write_timeout_ms, cfg->write_timeout_ms);
		INHERIT(ln->max_per_source, cfg->max_per_source);
		INHERIT(ln->max_rate_per_source, cfg->max_rate_per_source);
		INHERIT(ln->src_prefix[0], cfg->src_prefix[0]);
		INHERIT(ln->src_prefix[1], cfg->src_prefix[1]);
		if (!ln->client_timeout_ms && !ln->idle_timeout_ms)
			config_warn(cfg, ln->line,
				    "listener %s: no client-timeout and no idle-timeout: clients that go silent are never closed",
				    ln->name);
		if (!ln->allow.n && cidr_list_copy(&ln->allow, &cfg->allow))
			return -ENOMEM;
		if (!ln->deny.n && cidr_list_copy(&ln->deny, &cfg->deny))
			return -ENOMEM;
		if ((ln->max_per_source || ln->max_rate_per_source) &&
		    !ln->sources) {
			struct src_limits lim = {
				.max_conns = ln->max_per_source,
				.max_rate = ln->max_rate_per_source,
				.prefix = { ln->src_prefix[0],
					    ln->src_prefix[1] },
			};

			ln->sources = src_table_new(&lim);
			if (!ln->sources)
				return -ENOMEM;
		}
		n += ln->nbinds;
		/* the same address in two listeners cannot both bind */
		for (j = 0; j < i; j++)
			for (k = 0; k < ln->nbinds; k++) {
				unsigned int m;

				for (m = 0; m < cfg->listeners[j].nbinds; m++)
					if (addr_equal(&ln->binds[k],
						       &cfg->listeners[j].binds[m]))
						config_error(cfg, ln->line,
							     "listener %s: address already bound by listener %s",
							     ln->name,
							     cfg->listeners[j].name);
			}
	}
	/* what is valid but not what its author meant: said, not refused */
	for (i = 0; i < cfg->nbackends; i++) {
		struct backend *be = &cfg->backends[i];
		unsigned int w0 = 0, nz = 0;
		bool used = false, uneven = false;

		for (j = 0; j < be->nservers; j++) {
			unsigned int w = atomic_load(&be->servers[j].weight);

			if (!j)
				w0 = w;
			uneven |= w != w0;
			nz += w > 0;
		}
		if (be->nservers && !nz)
			config_warn(cfg, be->line,
				    "backend %s: every server has weight 0: no client can be served",
				    be->name);
		else if (uneven && !strcmp(be->balance, "rr"))
			config_warn(cfg, be->line,
				    "backend %s: balance rr ignores weights; wrr, leastconn and p2c follow them",
				    be->name);
		for (j = 0; j < cfg->nlisteners && !used; j++) {
			struct listener *ln = &cfg->listeners[j];

			used = ln->backend == be;
			for (k = 0; k < ln->nsni && !used; k++)
				used = ln->sni[k].backend == be;
		}
		if (!used && !cfg->errors)
			config_warn(cfg, be->line,
				    "backend %s: no listener uses it",
				    be->name);
	}
	if (cfg->errors)
		return -EINVAL;

	cfg->socks = calloc(n ? n : 1, sizeof(*cfg->socks));
	if (!cfg->socks)
		return -ENOMEM;
	for (i = 0; i < cfg->nlisteners; i++) {
		struct listener *ln = &cfg->listeners[i];

		for (k = 0; k < ln->nbinds; k++) {
			struct listen_sock *s = &cfg->socks[cfg->nsocks++];

			s->ln = ln;
			s->addr = ln->binds[k];
			addr_format((struct sockaddr *)&s->addr.ss, s->addr.len,
				    s->addr_str, sizeof(s->addr_str));
		}
	}
	return 0;
}

void config_free(struct config *cfg)
{
	unsigned int i;

	for (i = 0; i < cfg->nbackends; i++) {
		free(cfg->backends[i].servers);
		if (cfg->backends[i].health_re) {
			regfree(cfg->backends[i].health_re);
			free(cfg->backends[i].health_re);
		}
	}
	for (i = 0; i < cfg->nlisteners; i++) {
		free(cfg->listeners[i].binds);
		free(cfg->listeners[i].allow.v);
		free(cfg->listeners[i].deny.v);
		free(cfg->listeners[i].proxy_from.v);
		free(cfg->listeners[i].sni);
		free(cfg->listeners[i].log_format_text);
		log_format_free(&cfg->listeners[i].log_format);
		src_table_free(cfg->listeners[i].sources);
	}
	free(cfg->allow.v);
	free(cfg->deny.v);
	free(cfg->proxy_from.v);
	free(cfg->log_format_text);
	free(cfg->backends);
	free(cfg->listeners);
	free(cfg->socks);
	memset(cfg, 0, sizeof(*cfg));
}

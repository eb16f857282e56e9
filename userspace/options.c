// SPDX-License-Identifier: MIT
/*
 * Command line -> struct config. Every option here will also get a config
 * file key; both fill the same structure.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "balance.h"
#include "config.h"
#include "log.h"
#include "version.h"

enum {
	OPT_ENGINE = 256,
	OPT_FORWARD,
	OPT_MAX_CONNS,
	OPT_CONNECT_TIMEOUT,
	OPT_IDLE_TIMEOUT,
	OPT_DRAIN_TIMEOUT,
	OPT_LOG_LEVEL,
	OPT_PIPE_SIZE,
	OPT_BUF_COUNT,
	OPT_BUF_SIZE,
	OPT_ZEROCOPY,
	OPT_RING_ENTRIES,
};

static const struct option long_opts[] = {
	{ "listen", required_argument, NULL, 'l' },
	{ "backend", required_argument, NULL, 'b' },
	{ "balance", required_argument, NULL, 'a' },
	{ "threads", required_argument, NULL, 't' },
	{ "engine", required_argument, NULL, OPT_ENGINE },
	{ "forward", required_argument, NULL, OPT_FORWARD },
	{ "max-conns", required_argument, NULL, OPT_MAX_CONNS },
	{ "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
	{ "drain-timeout", required_argument, NULL, OPT_DRAIN_TIMEOUT },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "pipe-size", required_argument, NULL, OPT_PIPE_SIZE },
	{ "buffers", required_argument, NULL, OPT_BUF_COUNT },
	{ "buffer-size", required_argument, NULL, OPT_BUF_SIZE },
	{ "zerocopy", required_argument, NULL, OPT_ZEROCOPY },
	{ "ring-entries", required_argument, NULL, OPT_RING_ENTRIES },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: ringlb [options]\n"
"  -l, --listen ADDR:PORT      listen address (repeatable; 127.0.0.1:80, [::]:80)\n"
"  -b, --backend ADDR:PORT[@W] backend server, weight W 1..256 (repeatable;\n"
"                              unix:/path too)\n"
"  -a, --balance ALGO          rr | wrr (default rr)\n"
"  -t, --threads N             worker threads, one ring each (default: CPUs)\n"
"      --engine E              auto | uring | epoll (default auto)\n"
"      --forward F             auto | splice | buffers (default auto)\n"
"      --max-conns N           connections at once, split over workers;\n"
"                              0 = unlimited (default 0)\n"
"      --connect-timeout MS    backend connect timeout (default 1000)\n"
"      --idle-timeout MS       close after MS without a byte; 0 = never\n"
"                              (default 0)\n"
"      --drain-timeout MS      grace for open connections on SIGTERM\n"
"                              (default 10000)\n"
"      --log-level L           error | warn | info | debug (default info)\n"
"      --pipe-size BYTES       splice pipe size (default 262144)\n"
"      --buffers N             provided buffers per worker, power of 2\n"
"                              (default 1024)\n"
"      --buffer-size BYTES     bytes per buffer (default 16384)\n"
"      --zerocopy on|off       send_zc from registered buffers where the\n"
"                              kernel has it (default off)\n"
"      --ring-entries N        SQ entries per ring (default 1024)\n"
"  -h, --help                  this text\n"
"  -V, --version               version\n");
}

static int parse_uint(const char *opt, const char *s, unsigned long min,
		      unsigned long max, unsigned int *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || !*s || *s == '-' || v < min || v > max) {
		fprintf(stderr, "ringlb: --%s: '%s' is not a number in %lu..%lu\n",
			opt, s, min, max);
		return -EINVAL;
	}
	*out = (unsigned int)v;
	return 0;
}

static void config_defaults(struct config *cfg)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	memset(cfg, 0, sizeof(*cfg));
	cfg->threads = ncpu > 0 ? ncpu : 1;
	cfg->engine = ENGINE_AUTO;
	cfg->forward = FORWARD_AUTO;
	cfg->connect_timeout_ms = 1000;
	cfg->drain_timeout_ms = 10000;
	cfg->pipe_size = 256 * 1024;
	cfg->buf_count = 1024;
	cfg->buf_size = 16 * 1024;
	cfg->ring_entries = 1024;
}

static int add_listener(struct config *cfg, const char *s)
{
	struct listener *ln;
	struct listener *n = realloc(cfg->listeners,
				     (cfg->nlisteners + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	cfg->listeners = n;
	ln = &n[cfg->nlisteners];
	memset(ln, 0, sizeof(*ln));
	if (addr_parse(s, &ln->addr) || ln->addr.ss.ss_family == AF_UNIX) {
		fprintf(stderr, "ringlb: bad listen address '%s' (want ADDR:PORT or [ADDR]:PORT)\n",
			s);
		return -EINVAL;
	}
	snprintf(ln->name, sizeof(ln->name), "l%u", cfg->nlisteners);
	addr_format((struct sockaddr *)&ln->addr.ss, ln->addr.len,
		    ln->addr_str, sizeof(ln->addr_str));
	cfg->nlisteners++;
	return 0;
}

static int add_server(struct backend *be, const char *s)
{
	struct server *n = realloc(be->servers,
				   (be->nservers + 1) * sizeof(*n));
	struct server *srv;
	int ret;

	if (!n)
		return -ENOMEM;
	be->servers = n;
	if (be->nservers >= MAX_SERVERS) {
		fprintf(stderr, "ringlb: more than %d servers\n", MAX_SERVERS);
		return -E2BIG;
	}
	srv = &n[be->nservers];
	memset(srv, 0, sizeof(*srv));
	ret = addr_parse_weighted(s, &srv->addr, &srv->weight);
	if (ret) {
		fprintf(stderr, "ringlb: bad backend '%s'%s\n", s,
			ret == -ERANGE ? ": weight must be 1..256" :
			" (want ADDR:PORT[@WEIGHT])");
		return -EINVAL;
	}
	snprintf(srv->name, sizeof(srv->name), "s%u", be->nservers);
	addr_format((struct sockaddr *)&srv->addr.ss, srv->addr.len,
		    srv->addr_str, sizeof(srv->addr_str));
	be->nservers++;
	return 0;
}

/* Returns 0 to run, 1 when -h/-V asked to exit 0, -EINVAL on bad input. */
int config_from_args(struct config *cfg, int argc, char **argv)
{
	struct backend *be;
	unsigned int zc;
	int opt, ret = 0;

	config_defaults(cfg);
	be = calloc(1, sizeof(*be));
	if (!be)
		return -ENOMEM;
	cfg->backends = be;
	cfg->nbackends = 1;
	strcpy(be->name, "default");
	be->balance = "rr";

	optind = 1;
	while ((opt = getopt_long(argc, argv, "l:b:a:t:hV", long_opts,
				  NULL)) != -1) {
		switch (opt) {
		case 'l':
			ret = add_listener(cfg, optarg);
			break;
		case 'b':
			ret = add_server(be, optarg);
			break;
		case 'a':
			if (!balance_find(optarg)) {
				fprintf(stderr, "ringlb: unknown balance algorithm '%s' (rr, wrr)\n",
					optarg);
				ret = -EINVAL;
			}
			be->balance = optarg;
			break;
		case 't':
			ret = parse_uint("threads", optarg, 1, 256,
					 &cfg->threads);
			break;
		case OPT_ENGINE:
			if (!strcmp(optarg, "auto"))
				cfg->engine = ENGINE_AUTO;
			else if (!strcmp(optarg, "uring"))
				cfg->engine = ENGINE_URING;
			else if (!strcmp(optarg, "epoll"))
				cfg->engine = ENGINE_EPOLL;
			else {
				fprintf(stderr, "ringlb: --engine: auto, uring or epoll\n");
				ret = -EINVAL;
			}
			break;
		case OPT_FORWARD:
			if (!strcmp(optarg, "auto"))
				cfg->forward = FORWARD_AUTO;
			else if (!strcmp(optarg, "splice"))
				cfg->forward = FORWARD_SPLICE;
			else if (!strcmp(optarg, "buffers"))
				cfg->forward = FORWARD_BUFFERS;
			else {
				fprintf(stderr, "ringlb: --forward: auto, splice or buffers\n");
				ret = -EINVAL;
			}
			break;
		case OPT_MAX_CONNS:
			ret = parse_uint("max-conns", optarg, 0, 1u << 22,
					 &cfg->max_conns);
			break;
		case OPT_CONNECT_TIMEOUT:
			ret = parse_uint("connect-timeout", optarg, 1,
					 3600000, &cfg->connect_timeout_ms);
			break;
		case OPT_IDLE_TIMEOUT:
			ret = parse_uint("idle-timeout", optarg, 0, INT_MAX,
					 &cfg->idle_timeout_ms);
			break;
		case OPT_DRAIN_TIMEOUT:
			ret = parse_uint("drain-timeout", optarg, 0, INT_MAX,
					 &cfg->drain_timeout_ms);
			break;
		case OPT_LOG_LEVEL:
			if (log_parse_level(optarg, &log_level)) {
				fprintf(stderr, "ringlb: --log-level: error, warn, info or debug\n");
				ret = -EINVAL;
			}
			break;
		case OPT_PIPE_SIZE:
			ret = parse_uint("pipe-size", optarg, 4096, 1 << 20,
					 &cfg->pipe_size);
			break;
		case OPT_BUF_COUNT:
			ret = parse_uint("buffers", optarg, 16, 32768,
					 &cfg->buf_count);
			if (!ret && (cfg->buf_count & (cfg->buf_count - 1))) {
				fprintf(stderr, "ringlb: --buffers must be a power of two\n");
				ret = -EINVAL;
			}
			break;
		case OPT_BUF_SIZE:
			ret = parse_uint("buffer-size", optarg, 1024, 1 << 20,
					 &cfg->buf_size);
			break;
		case OPT_ZEROCOPY:
			zc = !strcmp(optarg, "on") ? 1 :
			     !strcmp(optarg, "off") ? 0 : 2;
			if (zc == 2) {
				fprintf(stderr, "ringlb: --zerocopy: on or off\n");
				ret = -EINVAL;
			}
			cfg->zerocopy = zc == 1;
			break;
		case OPT_RING_ENTRIES:
			ret = parse_uint("ring-entries", optarg, 64, 32768,
					 &cfg->ring_entries);
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'V':
			printf("ringlb %s\n", RINGLB_VERSION);
			return 1;
		default:
			usage(stderr);
			return -EINVAL;
		}
		if (ret)
			return ret;
	}
	if (optind < argc) {
		fprintf(stderr, "ringlb: unexpected argument '%s'\n",
			argv[optind]);
		return -EINVAL;
	}
	if (!cfg->nlisteners || !be->nservers) {
		fprintf(stderr, "ringlb: need at least one -l ADDR:PORT and one -b ADDR:PORT\n");
		usage(stderr);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < cfg->nlisteners; i++)
		cfg->listeners[i].backend = be;
	return 0;
}

void config_free(struct config *cfg)
{
	unsigned int i;

	for (i = 0; i < cfg->nbackends; i++)
		free(cfg->backends[i].servers);
	free(cfg->backends);
	free(cfg->listeners);
}

// SPDX-License-Identifier: MIT
/*
 * The command line. Every long option is a [global] config key of the
 * same name, applied after the config file so the command line wins;
 * -l and -b build an implicit "listener default" / "backend default".
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balance.h"
#include "config.h"
#include "log.h"
#include "version.h"

enum {
	OPT_CHECK = 256,
	OPT_KEY,	/* long options that map 1:1 to a [global] key */
};

static const struct option long_opts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "takeover", required_argument, NULL, 'x' },
	{ "listen", required_argument, NULL, 'l' },
	{ "backend", required_argument, NULL, 'b' },
	{ "balance", required_argument, NULL, 'a' },
	{ "threads", required_argument, NULL, 't' },
	{ "check", no_argument, NULL, OPT_CHECK },
	{ "engine", required_argument, NULL, OPT_KEY },
	{ "forward", required_argument, NULL, OPT_KEY },
	{ "admin", required_argument, NULL, OPT_KEY },
	{ "metrics", required_argument, NULL, OPT_KEY },
	{ "proxy-protocol", required_argument, NULL, OPT_KEY },
	{ "accept-proxy", required_argument, NULL, OPT_KEY },
	{ "accept-proxy-from", required_argument, NULL, OPT_KEY },
	{ "accept-proxy-tlvs", required_argument, NULL, OPT_KEY },
	{ "inspect-timeout", required_argument, NULL, OPT_KEY },
	{ "transparent", required_argument, NULL, OPT_KEY },
	{ "max-conns", required_argument, NULL, OPT_KEY },
	{ "max-conns-per-source", required_argument, NULL, OPT_KEY },
	{ "allow", required_argument, NULL, OPT_KEY },
	{ "deny", required_argument, NULL, OPT_KEY },
	{ "max-rate-per-source", required_argument, NULL, OPT_KEY },
	{ "source-prefix-v4", required_argument, NULL, OPT_KEY },
	{ "source-prefix-v6", required_argument, NULL, OPT_KEY },
	{ "connect-timeout", required_argument, NULL, OPT_KEY },
	{ "retries", required_argument, NULL, OPT_KEY },
	{ "idle-timeout", required_argument, NULL, OPT_KEY },
	{ "client-timeout", required_argument, NULL, OPT_KEY },
	{ "server-timeout", required_argument, NULL, OPT_KEY },
	{ "write-timeout", required_argument, NULL, OPT_KEY },
	{ "tcp-keepalive", required_argument, NULL, OPT_KEY },
	{ "drain-timeout", required_argument, NULL, OPT_KEY },
	{ "hard-stop-after", required_argument, NULL, OPT_KEY },
	{ "health", required_argument, NULL, OPT_KEY },
	{ "health-interval", required_argument, NULL, OPT_KEY },
	{ "health-timeout", required_argument, NULL, OPT_KEY },
	{ "rise", required_argument, NULL, OPT_KEY },
	{ "fall", required_argument, NULL, OPT_KEY },
	{ "slow-start", required_argument, NULL, OPT_KEY },
	{ "passive-fall", required_argument, NULL, OPT_KEY },
	{ "passive-down", required_argument, NULL, OPT_KEY },
	{ "user", required_argument, NULL, OPT_KEY },
	{ "log-level", required_argument, NULL, OPT_KEY },
	{ "pipe-size", required_argument, NULL, OPT_KEY },
	{ "buffers", required_argument, NULL, OPT_KEY },
	{ "buffer-size", required_argument, NULL, OPT_KEY },
	{ "zerocopy", required_argument, NULL, OPT_KEY },
	{ "direct-descriptors", required_argument, NULL, OPT_KEY },
	{ "ring-entries", required_argument, NULL, OPT_KEY },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: ringlb [options]\n"
"  -c, --config FILE           INI config file (see ringlb.conf(5))\n"
"      --check                 validate the configuration and exit (0 valid,\n"
"                              78 not: EX_CONFIG, also when starting)\n"
"  -x, --takeover PATH         binary upgrade: take the listening sockets of\n"
"                              the ringlb whose admin socket is PATH, then\n"
"                              tell it to drain and exit (default: none)\n"
"  -l, --listen ADDR:PORT      listen address (repeatable; 127.0.0.1:80, [::]:80)\n"
"  -b, --backend ADDR:PORT[@W] backend server, weight W 1..256 (repeatable;\n"
"                              unix:/path and NAME:PORT too)\n"
"  -a, --balance ALGO          " BALANCE_NAMES " (default rr)\n"
"  -t, --threads N             worker threads, one ring each (default: CPUs)\n"
"      --engine E              auto | uring | epoll (default auto)\n"
"      --forward F             auto | splice | buffers (default auto)\n"
"      --admin PATH            admin socket, root-owned mode 0600\n"
"                              (default: none)\n"
"      --metrics ADDR:PORT     Prometheus /metrics endpoint (default: none)\n"
"      --proxy-protocol V      off | v1 | v2 towards servers (default off)\n"
"      --accept-proxy V        off | v1 | v2 | any: clients must send a\n"
"                              PROXY header first (default off)\n"
"      --accept-proxy-from CIDR[,CIDR...]\n"
"                              peers that may send one; others are\n"
"                              refused (default: any peer)\n"
"      --accept-proxy-tlvs T   drop | pass: received v2 TLVs on to servers\n"
"                              (with --proxy-protocol v2; default drop)\n"
"      --inspect-timeout MS    for the header to arrive (default 5000)\n"
"      --transparent on|off    connect to servers from the client's address\n"
"                              (needs CAP_NET_ADMIN; default off)\n"
"      --max-conns N           connections at once, split over workers;\n"
"                              0 = unlimited (default 0)\n"
"      --max-conns-per-source N  open at once from one source prefix;\n"
"                              0 = unlimited (default 0)\n"
"      --max-rate-per-source N  new connections per second from one source\n"
"                              prefix; 0 = unlimited (default 0)\n"
"      --source-prefix-v4 BITS  --source-prefix-v6 BITS  what one source is\n"
"                              for the per-source limits (default 32, 64)\n"
"      --allow CIDR            accept only clients in these blocks\n"
"                              (repeatable; default: everybody)\n"
"      --deny CIDR             refuse clients in these blocks (repeatable;\n"
"                              checked first)\n"
"      --connect-timeout MS    backend connect timeout (default 5000); every\n"
"                              MS takes units too: 5s, 500ms, 1m, 1h\n"
"      --retries N             rounds over the servers again, with a pause,\n"
"                              once each failed a client (default 3)\n"
"      --client-timeout MS     close when no byte came from or went to the\n"
"                              client for MS; 0 = never (default 600000)\n"
"      --server-timeout MS     the same for the server side (default 600000)\n"
"      --write-timeout MS      close when bytes waited MS for a peer that\n"
"                              took none; 0 = never (default 60000)\n"
"      --idle-timeout MS       close after MS without a byte either way;\n"
"                              0 = never (default 0)\n"
"      --tcp-keepalive S       keepalive probes after S idle seconds, both\n"
"                              sides; 0 = off (default 60)\n"
"      --drain-timeout MS      grace for open connections on SIGTERM\n"
"                              (default 10000)\n"
"      --hard-stop-after MS    bound on a graceful drain: connections left\n"
"                              by a reload, or after SIGQUIT; 0 = none\n"
"                              (default 900000)\n"
"      --health tcp|none       active health checks (default none;\n"
"                              send-expect in a [backend] section)\n"
"      --health-interval MS    between checks (default 2000)\n"
"      --health-timeout MS     per check (default: the interval, at most\n"
"                              the connect timeout)\n"
"      --rise N                checks to come up (default 2)\n"
"      --fall N                checks to go down (default 3)\n"
"      --slow-start MS         a server coming up ramps its weight over MS\n"
"                              (wrr, leastconn, p2c); 0 = off (default 0)\n"
"      --passive-fall N        connect failures, or connections the server\n"
"                              reset before it was sent a byte, in a row on\n"
"                              live traffic to take it out; 0 = off\n"
"                              (default: --fall)\n"
"      --passive-down MS       how long it is out at least (default: the\n"
"                              health interval)\n"
"      --user NAME             drop to this user after binding; needs\n"
"                              root or CAP_SETUID+CAP_SETGID (default: none)\n"
"      --log-level L           error | warn | info | debug, or syslog's\n"
"                              names (warning, notice...; default info)\n"
"      --pipe-size BYTES       splice pipe size (default 262144)\n"
"      --buffers N             provided buffers per worker, power of 2\n"
"                              (default 1024)\n"
"      --buffer-size BYTES     bytes per buffer (default 16384)\n"
"      --zerocopy on|off       send_zc from registered buffers where the\n"
"                              kernel has it (default off)\n"
"      --direct-descriptors on|off  io_uring: accept clients into the\n"
"                              ring's fixed file table (default off:\n"
"                              measured slower under connection churn)\n"
"      --ring-entries N        SQ entries per ring (default 1024)\n"
"  -h, --help                  this text\n"
"  -V, --version               version\n");
}

static int add_cli_server(struct config *cfg, const char *s, unsigned int n)
{
	char spec[300];
	unsigned int w;
	struct addr a;
	int ret = addr_parse_weighted(s, &a, &w);

	/* not an address: maybe NAME:PORT, which the server key judges */
	if (ret == -EINVAL && strchr(s, ':') && !strchr(s, '[') &&
	    isalpha((unsigned char)*s) && strncmp(s, "unix:", 5)) {
		const char *at = strrchr(s, '@');

		ret = 0;
		w = 1;
		if (at) {
			char *end;
			long v = strtol(at + 1, &end, 10);

			if (*end || v < 1 || v > 256)
				ret = -ERANGE;
			w = (unsigned int)v;
		}
	}
	if (ret) {
		config_error(cfg, 0, "bad backend '%s'%s", s,
			     ret == -ERANGE ? ": weight must be 1..256" :
			     " (want ADDR:PORT[@WEIGHT] or NAME:PORT[@WEIGHT])");
		return -EINVAL;
	}
	if (strchr(s, '@'))
		snprintf(spec, sizeof(spec), "s%u %.*s weight=%u", n,
			 (int)(strrchr(s, '@') - s), s, w);
	else
		snprintf(spec, sizeof(spec), "s%u %s", n, s);
	return config_set(cfg, "backend default", "server", spec, 0);
}

/* Returns 0 to go on, 1 when -h/-V asked to exit 0, -EINVAL on bad input. */
int config_from_args(struct config *cfg, int argc, char **argv,
		     bool *check_only)
{
	const char *file = NULL, *takeover = NULL;
	unsigned int nservers = 0;
	bool cli_sections = false;
	int opt, idx = 0;

	config_init(cfg);
	*check_only = false;

	/* pass 1: -c, --check, -h, -V and syntax */
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:l:b:a:t:x:hV", long_opts,
				  NULL)) != -1) {
		switch (opt) {
		case 'c':
			file = optarg;
			break;
		case 'x':
			takeover = optarg;
			break;
		case 'l':
		case 'b':
			cli_sections = true;
			break;
		case OPT_CHECK:
			*check_only = true;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'V':
			printf("ringlb %s\n", RINGLB_VERSION);
			return 1;
		case '?':
			usage(stderr);
			return -EINVAL;
		default:
			break;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ringlb: unexpected argument '%s'\n",
			argv[optind]);
		return -EINVAL;
	}
	if (file && cli_sections) {
		fprintf(stderr, "ringlb: -l/-b cannot be combined with -c: put them in the file\n");
		return -EINVAL;
	}
	if (file)
		config_load_file(cfg, file);
	cfg->takeover = takeover;

	/* pass 2: the command line, over the file */
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:l:b:a:t:x:hV", long_opts,
				  &idx)) != -1) {
		const char *key = opt == OPT_KEY ? long_opts[idx].name : NULL;

		switch (opt) {
		case 'l':
			config_set(cfg, "listener default", "bind", optarg, 0);
			break;
		case 'b':
			add_cli_server(cfg, optarg, nservers++);
			break;
		case 'a':
			config_set(cfg, "global", "balance", optarg, 0);
			break;
		case 't':
			config_set(cfg, "global", "threads", optarg, 0);
			break;
		case OPT_KEY:
			config_set(cfg, "global", key, optarg, 0);
			break;
		default:
			break;
		}
	}
	/* validate even after errors: --check lists every problem at once */
	config_finish(cfg);
	if (cfg->errors)
		return -EINVAL;
	log_level = cfg->log_level;
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * ringlbctl: send one command to ringlb's admin socket and print the
 * answer. Exit status 0 when the daemon answered without "error:",
 * 1 when it reported an error, 2 when it could not be reached or did
 * not answer in full within the timeout (-T: connecting, sending and
 * reading the whole answer, together). `ringlbctl top` is a live view
 * made of such commands (top.c).
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_request.h"
#include "top.h"
#include "version.h"

/* where deploy/ringlb.service, ringlb.conf and the examples put it */
#define DEFAULT_SOCK	"/run/ringlb/admin.sock"
#define DEFAULT_TIMEOUT	5.0	/* seconds */

static void usage(FILE *f)
{
	fprintf(f,
"usage: ringlbctl [-s PATH] [-T SECONDS] [--json] COMMAND...\n"
"  -s, --socket PATH   admin socket (default " DEFAULT_SOCK ")\n"
"  -T, --timeout SECS  give up (exit 2) when the whole answer is not in\n"
"                      after SECS seconds, fractions allowed (default 5)\n"
"  -j, --json          JSON output\n"
"  -h, --help          this text\n"
"  -V, --version       version\n"
"commands:\n"
"  show stats | show servers | show conns | show kernel | show listeners\n"
"  show health\n"
"  disable server BACKEND/SERVER | enable server BACKEND/SERVER\n"
"  set weight BACKEND/SERVER N\n"
"  withdraw | rejoin\n"
"  drain | help\n"
"  top [-d SECONDS]\n"
"exit status: 0 answered, 1 the answer is an error, 2 unreachable, timed\n"
"out or bad usage\n"
"top is a live view, refreshed every SECONDS (default 2); q quits; one\n"
"table when stdout is not a terminal (ringlbctl top -h)\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	double timeout = DEFAULT_TIMEOUT;
	static const char default_sock[] = DEFAULT_SOCK;
	const char *path = default_sock;
	char cmd[4096] = "", *end;
	struct ctl_answer a;
	bool json = false;
	size_t n = 0;
	int opt, i, ret;

	while ((opt = getopt_long(argc, argv, "+s:T:jhV", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			path = optarg;
			break;
		case 'T':
			timeout = strtod(optarg, &end);
			if (end == optarg || *end || !(timeout > 0) ||
			    timeout > 86400) {
				fprintf(stderr, "ringlbctl: -T %s: want seconds, more than 0 and at most 86400\n",
					optarg);
				return 2;
			}
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("ringlbctl %s\n", RINGLB_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[optind], "top")) {
		if (json) {
			fprintf(stderr, "ringlbctl: top has no JSON output: use show ... --json\n");
			return 2;
		}
		return top_main(path, timeout, argc - optind, argv + optind);
	}
	for (i = optind; i < argc; i++) {
		n += snprintf(cmd + n, sizeof(cmd) - n, "%s%s",
			      i > optind ? " " : "", argv[i]);
		if (n >= sizeof(cmd) - 16) {
			fprintf(stderr, "ringlbctl: command too long\n");
			return 2;
		}
	}
	snprintf(cmd + n, sizeof(cmd) - n, "%s\n", json ? " --json" : "");

	ret = ctl_request(path, cmd,
			  ctl_now_ms() + (uint64_t)(timeout * 1000 + 0.5),
			  NULL, 0, &a);
	if (ret == -ETIMEDOUT) {
		fprintf(stderr, "ringlbctl: %s: timed out after %g s %s (-T)\n",
			path, timeout, a.what);
		return 2;
	}
	if (ret == -ENAMETOOLONG) {
		fprintf(stderr, "ringlbctl: socket path too long\n");
		return 2;
	}
	if (ret) {
		fprintf(stderr, "ringlbctl: %s: %s%s%s%s\n", path,
			ret == -ENOENT || ret == -ECONNREFUSED ? "" : a.what,
			ret == -ENOENT || ret == -ECONNREFUSED ? "" : ": ",
			strerror(-ret),
			/* an admin = elsewhere (the old /run/ringlb.sock) */
			ret == -ENOENT && path == default_sock ?
			" (the default; -s PATH names another socket)" :
			"");
		return 2;
	}
	fwrite(a.text, 1, a.len, stdout);
	ret = a.len >= 6 && !strncmp(a.text, "error:", 6);
	ctl_answer_free(&a);
	return ret ? 1 : 0;
}

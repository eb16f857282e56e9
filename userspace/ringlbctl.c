// SPDX-License-Identifier: MIT
/*
 * ringlbctl: send one command to ringlb's admin socket and print the
 * answer. Exit status 0 when the daemon answered without "error:",
 * 1 when it reported an error, 2 when it could not be reached.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "version.h"

#define DEFAULT_SOCK	"/run/ringlb.sock"
/* where deploy/ringlb.service puts it (RuntimeDirectory=ringlb) */
#define UNIT_SOCK	"/run/ringlb/admin.sock"

static void usage(FILE *f)
{
	fprintf(f,
"usage: ringlbctl [-s PATH] [--json] COMMAND...\n"
"  -s, --socket PATH   admin socket (default " DEFAULT_SOCK ", or\n"
"                      " UNIT_SOCK " where only that exists)\n"
"  -j, --json          JSON output\n"
"commands:\n"
"  show stats | show servers | show conns | show kernel\n"
"  disable server BACKEND/SERVER | enable server BACKEND/SERVER\n"
"  set weight BACKEND/SERVER N\n"
"  drain\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	const char *path = NULL;
	char cmd[4096] = "", buf[65536];
	bool json = false, error = false;
	size_t n = 0;
	int opt, fd, i;
	ssize_t r;

	while ((opt = getopt_long(argc, argv, "+s:jhV", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			path = optarg;
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
	for (i = optind; i < argc; i++) {
		n += snprintf(cmd + n, sizeof(cmd) - n, "%s%s",
			      i > optind ? " " : "", argv[i]);
		if (n >= sizeof(cmd) - 16) {
			fprintf(stderr, "ringlbctl: command too long\n");
			return 2;
		}
	}
	n += snprintf(cmd + n, sizeof(cmd) - n, "%s\n", json ? " --json" : "");

	if (!path)
		path = access(DEFAULT_SOCK, F_OK) && !access(UNIT_SOCK, F_OK) ?
		       UNIT_SOCK : DEFAULT_SOCK;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "ringlbctl: socket path too long\n");
		return 2;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		fprintf(stderr, "ringlbctl: %s: %s\n", path, strerror(errno));
		return 2;
	}
	if (write(fd, cmd, n) != (ssize_t)n) {
		fprintf(stderr, "ringlbctl: write: %s\n", strerror(errno));
		return 2;
	}
	shutdown(fd, SHUT_WR);
	while ((r = read(fd, buf, sizeof(buf))) > 0) {
		if (!strncmp(buf, "error:", 6))
			error = true;
		fwrite(buf, 1, r, stdout);
	}
	close(fd);
	return error ? 1 : 0;
}

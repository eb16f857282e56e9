// SPDX-License-Identifier: MIT
/*
 * ringlbctl: send one command to ringlb's admin socket and print the
 * answer. Exit status 0 when the daemon answered without "error:",
 * 1 when it reported an error, 2 when it could not be reached or did
 * not answer in full within the timeout (-T: connecting, sending and
 * reading the whole answer, together).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "version.h"

#define DEFAULT_SOCK	"/run/ringlb.sock"
/* where deploy/ringlb.service puts it (RuntimeDirectory=ringlb) */
#define UNIT_SOCK	"/run/ringlb/admin.sock"
#define DEFAULT_TIMEOUT	5.0	/* seconds */

static void usage(FILE *f)
{
	fprintf(f,
"usage: ringlbctl [-s PATH] [-T SECONDS] [--json] COMMAND...\n"
"  -s, --socket PATH   admin socket (default " DEFAULT_SOCK ", or\n"
"                      " UNIT_SOCK " where only that exists)\n"
"  -T, --timeout SECS  give up (exit 2) when the whole answer is not in\n"
"                      after SECS seconds, fractions allowed (default 5)\n"
"  -j, --json          JSON output\n"
"  -h, --help          this text\n"
"  -V, --version       version\n"
"commands:\n"
"  show stats | show servers | show conns | show kernel\n"
"  disable server BACKEND/SERVER | enable server BACKEND/SERVER\n"
"  set weight BACKEND/SERVER N\n"
"  drain | help\n"
"exit status: 0 answered, 1 the answer is an error, 2 unreachable, timed\n"
"out or bad usage\n");
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* milliseconds to @end, at least 1 while any is left; 0 once past it */
static int left_ms(uint64_t end)
{
	uint64_t now = now_ms();

	return now >= end ? 0 : (int)(end - now);
}

/*
 * connect() on a Unix socket waits while the daemon's backlog is full,
 * for as long as SO_SNDTIMEO allows, then fails with EAGAIN.
 */
static int connect_by(int fd, const struct sockaddr_un *sun, uint64_t end)
{
	int ms = left_ms(end);
	struct timeval tv = { .tv_sec = ms / 1000,
			      .tv_usec = (ms % 1000) * 1000 };

	if (!ms)
		return -ETIMEDOUT;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		return -errno;
	if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)))
		return errno == EAGAIN || errno == EINPROGRESS ? -ETIMEDOUT :
								 -errno;
	return 0;
}

/* wait for @events on @fd until @end: 0, or -ETIMEDOUT */
static int wait_for(int fd, short events, uint64_t end)
{
	struct pollfd p = { .fd = fd, .events = events };
	int ms, r;

	for (;;) {
		ms = left_ms(end);
		if (!ms)
			return -ETIMEDOUT;
		r = poll(&p, 1, ms);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

static int send_all(int fd, const char *p, size_t len, uint64_t end)
{
	ssize_t w;
	int ret;

	while (len) {
		ret = wait_for(fd, POLLOUT, end);
		if (ret)
			return ret;
		w = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (w < 0)
			return -errno;
		p += w;
		len -= w;
	}
	return 0;
}

/* the whole answer, up to the daemon's EOF, in a malloc'd *@out */
static int recv_all(int fd, char **out, size_t *len, uint64_t end)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap), *nb;
	ssize_t r;
	int ret;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (n == cap) {
			nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		ret = wait_for(fd, POLLIN, end);
		if (ret) {
			free(buf);
			return ret;
		}
		r = recv(fd, buf + n, cap - n, MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r < 0) {
			ret = -errno;
			free(buf);
			return ret;
		}
		if (!r)
			break;
		n += r;
	}
	*out = buf;
	*len = n;
	return 0;
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
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	double timeout = DEFAULT_TIMEOUT;
	const char *path = NULL, *what;
	char cmd[4096] = "", *answer = NULL, *end;
	bool json = false;
	size_t n = 0, alen = 0;
	int opt, fd, i, ret;
	uint64_t deadline;

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
	deadline = now_ms() + (uint64_t)(timeout * 1000 + 0.5);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "ringlbctl: socket: %s\n", strerror(errno));
		return 2;
	}
	what = "connecting";
	ret = connect_by(fd, &sun, deadline);
	if (!ret) {
		what = "sending the command";
		ret = send_all(fd, cmd, n, deadline);
	}
	if (!ret) {
		shutdown(fd, SHUT_WR);
		what = "reading the answer";
		ret = recv_all(fd, &answer, &alen, deadline);
	}
	close(fd);
	if (ret == -ETIMEDOUT) {
		fprintf(stderr, "ringlbctl: %s: timed out after %g s %s (-T)\n",
			path, timeout, what);
		return 2;
	}
	if (ret) {
		fprintf(stderr, "ringlbctl: %s: %s%s%s\n", path,
			ret == -ENOENT || ret == -ECONNREFUSED ? "" : what,
			ret == -ENOENT || ret == -ECONNREFUSED ? "" : ": ",
			strerror(-ret));
		return 2;
	}
	fwrite(answer, 1, alen, stdout);
	ret = alen >= 6 && !strncmp(answer, "error:", 6);
	free(answer);
	return ret ? 1 : 0;
}

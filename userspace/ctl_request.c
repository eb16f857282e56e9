// SPDX-License-Identifier: MIT
/*
 * ringlbctl's side of the admin protocol: one command line in, the
 * answer up to EOF out, every step bounded by one deadline.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl_request.h"

#define WATCH_MAX	4

uint64_t ctl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* milliseconds to @end, at least 1 while any is left; 0 once past it */
static int left_ms(uint64_t end)
{
	uint64_t now = ctl_now_ms();

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

/*
 * The same with descriptors to watch: a non-blocking connect() to a
 * full backlog fails with EAGAIN at once, so it is tried again every
 * 50 ms while watching them (-EINTR when one is readable).
 */
static int connect_watching(int fd, const struct sockaddr_un *sun,
			    uint64_t end, const struct pollfd *watch,
			    int nwatch)
{
	struct pollfd p[WATCH_MAX];
	int i, ms;

	for (i = 0; i < nwatch && i < WATCH_MAX; i++)
		p[i] = (struct pollfd){ .fd = watch[i].fd, .events = POLLIN };
	for (;;) {
		if (!connect(fd, (const struct sockaddr *)sun, sizeof(*sun)))
			return 0;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		ms = left_ms(end);
		if (!ms)
			return -ETIMEDOUT;
		if (poll(p, i, ms < 50 ? ms : 50) > 0)
			return -EINTR;
	}
}

/*
 * Wait for @events on @fd until @end: 0, -ETIMEDOUT, or -EINTR when a
 * watched descriptor is readable (or hung up) first.
 */
static int wait_for(int fd, short events, uint64_t end,
		    const struct pollfd *watch, int nwatch)
{
	struct pollfd p[1 + WATCH_MAX] = { { .fd = fd, .events = events } };
	int ms, r, i;

	for (i = 0; i < nwatch && i < WATCH_MAX; i++)
		p[1 + i] = (struct pollfd){ .fd = watch[i].fd,
					    .events = POLLIN };
	for (;;) {
		ms = left_ms(end);
		if (!ms)
			return -ETIMEDOUT;
		r = poll(p, 1 + i, ms);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		if (p[0].revents)
			return 0;
		return -EINTR;
	}
}

static int send_all(int fd, const char *p, size_t len, uint64_t end,
		    const struct pollfd *watch, int nwatch)
{
	ssize_t w;
	int ret;

	while (len) {
		ret = wait_for(fd, POLLOUT, end, watch, nwatch);
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

/* the whole answer, up to the daemon's EOF, NUL-terminated */
static int recv_all(int fd, struct ctl_answer *a, uint64_t end,
		    const struct pollfd *watch, int nwatch)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap), *nb;
	ssize_t r;
	int ret;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (n + 1 >= cap) {
			nb = realloc(buf, cap * 2);
			if (!nb) {
				ret = -ENOMEM;
				goto out_free;
			}
			buf = nb;
			cap *= 2;
		}
		ret = wait_for(fd, POLLIN, end, watch, nwatch);
		if (ret)
			goto out_free;
		r = recv(fd, buf + n, cap - n - 1, MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r < 0) {
			ret = -errno;
			goto out_free;
		}
		if (!r)
			break;
		n += r;
	}
	buf[n] = '\0';
	a->text = buf;
	a->len = n;
	return 0;

out_free:
	free(buf);
	return ret;
}

int ctl_request(const char *path, const char *cmd, uint64_t deadline,
		const struct pollfd *watch, int nwatch, struct ctl_answer *a)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, ret;

	a->text = NULL;
	a->len = 0;
	a->what = "connecting";
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
		    (nwatch ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -errno;
	ret = nwatch ? connect_watching(fd, &sun, deadline, watch, nwatch) :
		       connect_by(fd, &sun, deadline);
	if (ret)
		goto out_close;
	a->what = "sending the command";
	ret = send_all(fd, cmd, strlen(cmd), deadline, watch, nwatch);
	if (ret)
		goto out_close;
	shutdown(fd, SHUT_WR);
	a->what = "reading the answer";
	ret = recv_all(fd, a, deadline, watch, nwatch);
out_close:
	close(fd);
	return ret;
}

void ctl_answer_free(struct ctl_answer *a)
{
	free(a->text);
	a->text = NULL;
	a->len = 0;
}

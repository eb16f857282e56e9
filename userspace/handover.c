// SPDX-License-Identifier: MIT
/*
 * Binary upgrade over the admin socket: `_getsocks` and `_retire` on the
 * running process's side, `-x PATH` on the new one's (handover.h).
 *
 * The reply to `_getsocks` is text first, then the descriptors, at most
 * HANDOVER_FDS_PER_MSG per message, each message carried by one NUL
 * byte. The kernel never merges a message that carries descriptors
 * with the bytes after it, so the receiver reads with recvmsg() only,
 * every time with room for a full batch, and collects descriptors in
 * the order they come: the i-th is the i-th "sock" line's.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "handover.h"
#include "handover_parse.h"
#include "log.h"

/* the whole `_getsocks` exchange, from connect to the last descriptor */
#define FETCH_WAIT_MS		10000
/* the old process answers `_retire` within its client deadline */
#define RETIRE_WAIT_MS		(CTL_DEADLINE_MS + 1000)
/* a reply longer than this is no ringlb's */
#define FETCH_TEXT_MAX		(8u << 20)

/* ---- the running process ------------------------------------------- */

int handover_getsocks(struct runtime *rt, int metrics_fd, FILE *out,
		      int **fds, unsigned int *nfds)
{
	char maddr[ADDR_STRLEN] = "";
	struct generation *g = rt->groups;
	unsigned int i, j, n = 0, max;
	unsigned int *wi, *si;
	int *v, err = 0;

	*fds = NULL;
	*nfds = 0;
	if (!g || g->draining) {
		fprintf(out, "error: _getsocks: this ringlb is stopping: its listeners are closing\n");
		return -ESHUTDOWN;
	}
	if (g->held) {
		fprintf(out, "error: _getsocks: a reload is under way: try again\n");
		return -EAGAIN;
	}
	max = g->nworkers * g->cfg->nsocks + 1;
	v = calloc(max ? max : 1, sizeof(*v));
	wi = calloc(max ? max : 1, sizeof(*wi));
	si = calloc(max ? max : 1, sizeof(*si));
	if (!v || !wi || !si) {
		err = -ENOMEM;
		goto out_fail;
	}
	for (i = 0; i < g->nworkers; i++) {
		const struct worker *w = &g->workers[i];

		/*
		 * A worker closes its listeners only when it drains (which
		 * this generation does not) or when it failed and exited.
		 */
		if (atomic_load(&w->exited))
			continue;
		for (j = 0; j < g->cfg->nsocks; j++) {
			if (w->lfd[j] < 0)
				continue;
			v[n] = fcntl(w->lfd[j], F_DUPFD_CLOEXEC, 3);
			if (v[n] < 0) {
				err = -errno;
				goto out_fail;
			}
			wi[n] = i;
			si[n++] = j;
		}
	}
	if (metrics_fd >= 0) {
		struct addr a = { .len = sizeof(a.ss) };

		/* where it is bound: a reload may not move it */
		if (getsockname(metrics_fd, (struct sockaddr *)&a.ss, &a.len) ||
		    !addr_format((struct sockaddr *)&a.ss, a.len, maddr,
				 sizeof(maddr))) {
			err = -errno;
			goto out_fail;
		}
		v[n] = fcntl(metrics_fd, F_DUPFD_CLOEXEC, 3);
		if (v[n] < 0) {
			err = -errno;
			goto out_fail;
		}
	}
	fprintf(out, "ringlb-sockets %d %d %u\n", HANDOVER_VERSION,
		(int)getpid(), n + (maddr[0] != '\0'));
	for (i = 0; i < n; i++)
		fprintf(out, "sock %u %s %s\n", wi[i],
			g->cfg->socks[si[i]].addr_str,
			g->cfg->socks[si[i]].ln->name);
	if (maddr[0]) {
		fprintf(out, "metrics %s\n", maddr);
		n++;
	}
	fprintf(out, "end\n");
	free(wi);
	free(si);
	*fds = v;
	*nfds = n;
	pr_info("admin: _getsocks: handing %u listening socket%s over", n,
		n == 1 ? "" : "s");
	return 0;

out_fail:
	for (i = 0; v && i < n; i++)
		close(v[i]);
	free(v);
	free(wi);
	free(si);
	fprintf(out, "error: _getsocks: %s\n", strerror(-err));
	return err;
}

int handover_send_fds(int sock, const int *fds, unsigned int nfds,
		      unsigned int *sent)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * HANDOVER_FDS_PER_MSG)];
		struct cmsghdr align;
	} u;

	while (*sent < nfds) {
		unsigned int k = nfds - *sent;
		char byte = '\0';
		struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
		struct cmsghdr *cm;

		if (k > HANDOVER_FDS_PER_MSG)
			k = HANDOVER_FDS_PER_MSG;
		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * k);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * k);
		memcpy(CMSG_DATA(cm), fds + *sent, sizeof(int) * k);
		if (sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -EAGAIN;
			return -errno;
		}
		*sent += k;
	}
	return 0;
}

bool handover_accepts_gone(const struct runtime *rt)
{
	const struct generation *g;
	unsigned int i;

	for (g = rt->groups; g; g = g->next)
		for (i = 0; i < g->nworkers; i++)
			if (!atomic_load(&g->workers[i].accepts_gone) &&
			    !atomic_load(&g->workers[i].exited))
				return false;
	return true;
}

/* ---- the new process ----------------------------------------------- */

static int admin_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, err;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		pr_err("-x %s: path longer than %zu bytes", path,
		       sizeof(sun.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (!connect(fd, (struct sockaddr *)&sun, sizeof(sun)))
		return fd;
	err = -errno;
	close(fd);
	switch (err) {
	case -ENOENT:
		pr_err("-x %s: no such socket: is ringlb running with --admin %s?",
		       path, path);
		break;
	case -EACCES:
	case -EPERM:
		pr_err("-x %s: permission denied: the admin socket is mode 0600, run ringlb -x as the user that owns it (root)",
		       path);
		break;
	case -ECONNREFUSED:
		pr_err("-x %s: nobody listens on it (not a socket, or the ringlb that made it is gone)",
		       path);
		break;
	case -EPROTOTYPE:
		pr_err("-x %s: not a ringlb admin socket (not a stream socket)",
		       path);
		break;
	default:
		pr_err("-x %s: connect: %s", path, strerror(-err));
	}
	return err;
}

static int send_line(int fd, const char *line)
{
	size_t len = strlen(line), off = 0;
	ssize_t n;

	while (off < len) {
		n = send(fd, line + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		off += n;
	}
	return 0;
}

struct fetch {
	const char *path;
	char *text;
	size_t len, cap, parsed;	/* bytes read, room, lines done */
	int *fds;
	unsigned int nfds, fds_cap;
	int state;			/* F_HEADER, F_SOCKS, F_END */
	pid_t pid;
	unsigned int count, nsocks;
	struct handover_sock *socks;
};

enum { F_HEADER, F_SOCKS, F_END };

static int fetch_keep_fds(struct fetch *f, struct cmsghdr *cm)
{
	unsigned int k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
	int *fds = (int *)CMSG_DATA(cm);
	unsigned int i;

	if (f->nfds + k > f->fds_cap) {
		unsigned int cap = f->fds_cap ? f->fds_cap * 2 : 64;
		int *p;

		while (cap < f->nfds + k)
			cap *= 2;
		p = realloc(f->fds, cap * sizeof(*p));
		if (!p) {
			for (i = 0; i < k; i++)
				close(fds[i]);
			return -ENOMEM;
		}
		f->fds = p;
		f->fds_cap = cap;
	}
	for (i = 0; i < k; i++)
		f->fds[f->nfds++] = fds[i];
	return 0;
}

/* Parse the whole lines read so far. */
static int fetch_lines(struct fetch *f)
{
	char *line, *nl;
	size_t len;
	int ret;

	while (f->state != F_END &&
	       (nl = memchr(f->text + f->parsed, '\n', f->len - f->parsed))) {
		line = f->text + f->parsed;
		len = nl - line;
		f->parsed += len + 1;
		if (f->state == F_HEADER) {
			if (len >= 6 && !strncmp(line, "error:", 6)) {
				pr_err("-x %s: the running ringlb refused: %.*s",
				       f->path, (int)len, line);
				return -EPERM;
			}
			ret = handover_parse_header(line, len, &f->pid,
						    &f->count);
			if (ret == -EPROTO) {
				pr_err("-x %s: the running ringlb speaks another version of the handover: upgrade in two steps",
				       f->path);
				return ret;
			}
			if (ret) {
				pr_err("-x %s: not a ringlb admin socket (it answered '%.*s')",
				       f->path, (int)(len > 60 ? 60 : len),
				       line);
				return -EPROTO;
			}
			f->socks = calloc(f->count ? f->count : 1,
					  sizeof(*f->socks));
			if (!f->socks)
				return -ENOMEM;
			f->state = F_SOCKS;
			continue;
		}
		if (f->nsocks == f->count) {
			if (len != 3 || strncmp(line, "end", 3))
				goto out_bad;
			f->state = F_END;
			break;
		}
		if (handover_parse_sock(line, len, &f->socks[f->nsocks]) &&
		    handover_parse_metrics(line, len, &f->socks[f->nsocks]))
			goto out_bad;
		f->nsocks++;
	}
	return 0;

out_bad:
	pr_err("-x %s: malformed reply line '%.*s'", f->path,
	       (int)(len > 60 ? 60 : len), line);
	return -EPROTO;
}

/* One recvmsg(): text and descriptors. 0 on EOF, > 0 bytes, or -errno. */
static int fetch_read(struct fetch *f, int sock)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * HANDOVER_FDS_PER_MSG)];
		struct cmsghdr align;
	} u;
	struct iovec iov;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	ssize_t n;
	int err = 0;

	if (f->cap - f->len < 4096) {
		size_t cap = f->cap ? f->cap * 2 : 65536;
		char *p;

		if (cap > FETCH_TEXT_MAX) {
			pr_err("-x %s: reply longer than %u bytes: not a ringlb's",
			       f->path, FETCH_TEXT_MAX);
			return -EMSGSIZE;
		}
		p = realloc(f->text, cap);
		if (!p)
			return -ENOMEM;
		f->text = p;
		f->cap = cap;
	}
	iov.iov_base = f->text + f->len;
	iov.iov_len = f->cap - f->len;
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof(u.buf);
	n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? -EAGAIN : -errno;
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RIGHTS && !err)
			err = fetch_keep_fds(f, cm);
	if (msg.msg_flags & MSG_CTRUNC) {
		pr_err("-x %s: descriptors lost in transit (out of descriptors?)",
		       f->path);
		return -EMFILE;
	}
	if (err)
		return err;
	f->len += n;
	return n;
}

static void fetch_free(struct fetch *f)
{
	unsigned int i;

	for (i = 0; i < f->nfds; i++)
		if (f->fds[i] >= 0)
			close(f->fds[i]);
	free(f->fds);
	free(f->text);
	free(f->socks);
}

/* The exchange itself, bounded by FETCH_WAIT_MS. */
static int fetch_run(struct fetch *f, int sock)
{
	uint64_t deadline = clock_ms() + FETCH_WAIT_MS;
	int ret;

	ret = send_line(sock, "_getsocks\n");
	if (ret == -EPIPE || ret == -ECONNRESET) {
		pr_err("-x %s: not a ringlb admin socket (it closed without reading)",
		       f->path);
		return -EPROTO;
	}
	if (ret) {
		pr_err("-x %s: sending _getsocks: %s", f->path, strerror(-ret));
		return ret;
	}
	while (f->state != F_END || f->nfds < f->count) {
		struct pollfd pfd = { .fd = sock, .events = POLLIN };
		uint64_t now = clock_ms();

		if (now >= deadline) {
			pr_err("-x %s: no whole answer within %d ms", f->path,
			       FETCH_WAIT_MS);
			return -ETIMEDOUT;
		}
		if (poll(&pfd, 1, (int)(deadline - now)) < 0 &&
		    errno != EINTR)
			return -errno;
		ret = fetch_read(f, sock);
		if (ret == -EAGAIN)
			continue;
		if (ret < 0) {
			if (ret != -EMSGSIZE && ret != -EMFILE)
				pr_err("-x %s: %s", f->path, strerror(-ret));
			return ret;
		}
		if (!ret) {
			if (f->state == F_HEADER && f->parsed == f->len)
				pr_err("-x %s: not a ringlb admin socket (it closed without answering)",
				       f->path);
			else
				pr_err("-x %s: the answer stopped short (%u of %u sockets)",
				       f->path, f->nfds, f->count);
			return -EPROTO;
		}
		ret = fetch_lines(f);
		if (ret)
			return ret;
	}
	if (f->nfds != f->count) {
		pr_err("-x %s: %u descriptors for %u sockets", f->path, f->nfds,
		       f->count);
		return -EPROTO;
	}
	return 0;
}

int handover_fetch(struct inherit *inh, const char *path)
{
	struct fetch f = { .path = path };
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	unsigned int i, first = inh->n;
	int sock, ret;

	sock = admin_connect(path);
	if (sock < 0)
		return sock;
	ret = fetch_run(&f, sock);
	close(sock);
	if (ret)
		goto out_free;
	for (i = 0; i < f.count; i++) {
		struct inherited *s;
		int fd = f.fds[i];

		f.fds[i] = -1;
		if (f.socks[i].metrics) {
			ret = inherit_metrics(inh, fd, &f.socks[i].addr);
			if (ret)
				goto out_free;
			continue;
		}
		ret = inherit_add(inh, fd, INH_TAKEOVER, f.socks[i].worker,
				  f.socks[i].listener);
		if (ret)
			goto out_free;
		s = &inh->s[inh->n - 1];
		if (!addr_equal(&s->addr, &f.socks[i].addr)) {
			pr_err("-x %s: socket %u is bound to %s, not to the announced address",
			       path, i, s->addr_str);
			ret = -EPROTO;
			goto out_free;
		}
	}
	/* the second connection, for _retire once we are ready */
	sock = admin_connect(path);
	if (sock < 0) {
		ret = sock;
		goto out_free;
	}
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &clen) ||
	    cred.pid != f.pid) {
		pr_err("-x %s: the socket changed hands between two connections: not taking over",
		       path);
		close(sock);
		ret = -EBUSY;
		goto out_free;
	}
	inh->retire_fd = sock;
	inh->old_pid = f.pid;
	pr_info("-x %s: took %u listening socket%s from pid %d%s", path,
		inh->n - first, inh->n - first == 1 ? "" : "s", (int)f.pid,
		inh->metrics_fd >= 0 ? ", and its metrics port" : "");
	fetch_free(&f);
	return 0;

out_free:
	/* what was added goes again: a failed -x inherits nothing */
	if (inh->metrics_fd >= 0)
		close(inh->metrics_fd);
	inh->metrics_fd = -1;
	while (inh->n > first) {
		inh->n--;
		if (inh->s[inh->n].fd >= 0)
			close(inh->s[inh->n].fd);
	}
	fetch_free(&f);
	return ret;
}

int handover_retire(struct inherit *inh)
{
	uint64_t deadline = clock_ms() + RETIRE_WAIT_MS;
	char buf[256];
	size_t len = 0;
	int ret;

	ret = send_line(inh->retire_fd, "_retire\n");
	while (!ret && !memchr(buf, '\n', len)) {
		struct pollfd pfd = { .fd = inh->retire_fd, .events = POLLIN };
		uint64_t now = clock_ms();
		ssize_t n;

		if (now >= deadline) {
			ret = -ETIMEDOUT;
			break;
		}
		if (poll(&pfd, 1, (int)(deadline - now)) < 0 &&
		    errno != EINTR) {
			ret = -errno;
			break;
		}
		n = recv(inh->retire_fd, buf + len, sizeof(buf) - 1 - len,
			 MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0 || len + n >= sizeof(buf) - 1)
			ret = n < 0 ? -errno : -EPROTO;
		else
			len += n;
	}
	close(inh->retire_fd);
	inh->retire_fd = -1;
	buf[len] = '\0';
	if (!ret && strncmp(buf, "ok", 2))
		ret = -EPROTO;
	if (ret) {
		pr_warn("-x: pid %d did not confirm it stopped accepting (%s%s): accepting anyway",
			(int)inh->old_pid,
			ret == -EPROTO && len ? "it said: " : strerror(-ret),
			ret == -EPROTO && len ? strtok(buf, "\n") : "");
		return ret;
	}
	pr_info("-x: pid %d stopped accepting and drains its connections: accepting here",
		(int)inh->old_pid);
	return 0;
}

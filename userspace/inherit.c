// SPDX-License-Identifier: MIT
/*
 * The pool of inherited listening sockets (inherit.h): from -x, from
 * systemd's socket activation, from systemd's file descriptor store.
 *
 * Sockets stored by us are named "ringlb.wN.ADDR" (':' is not allowed
 * in a name, so it is written '_'): one per worker and address, as the
 * workers listen, so a restart gives each worker its own back. What a
 * .socket unit passes has its own name and is one socket per address:
 * every worker shares it.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control.h"
#include "inherit.h"
#include "log.h"
#include "notify.h"

#define FDSTORE_PREFIX	"ringlb.w"

static const char *const origin_names[] = {
	[INH_TAKEOVER] = "the previous ringlb",
	[INH_ACTIVATION] = "socket activation",
	[INH_FDSTORE] = "the file descriptor store",
};

void inherit_init(struct inherit *inh)
{
	memset(inh, 0, sizeof(*inh));
	inh->retire_fd = -1;
	inh->metrics_fd = -1;
}

static int sockopt_int(int fd, int opt, int *v)
{
	socklen_t len = sizeof(*v);

	return getsockopt(fd, SOL_SOCKET, opt, v, &len) ? -errno : 0;
}

/* A listening TCP socket on IPv4 or IPv6, and where it is bound. */
static int check_listener(int fd, struct addr *a)
{
	int acc, dom, type, proto;

	if (sockopt_int(fd, SO_ACCEPTCONN, &acc) ||
	    sockopt_int(fd, SO_DOMAIN, &dom) ||
	    sockopt_int(fd, SO_TYPE, &type) ||
	    sockopt_int(fd, SO_PROTOCOL, &proto))
		return -ENOTSOCK;
	if ((dom != AF_INET && dom != AF_INET6) || type != SOCK_STREAM ||
	    proto != IPPROTO_TCP || !acc)
		return -EPROTOTYPE;
	memset(a, 0, sizeof(*a));
	a->len = sizeof(a->ss);
	if (getsockname(fd, (struct sockaddr *)&a->ss, &a->len))
		return -errno;
	return 0;
}

int inherit_add(struct inherit *inh, int fd, enum inh_origin from,
		int worker, const char *name)
{
	struct inherited *s;
	struct addr a;
	int one = 1, fl, ret;

	ret = check_listener(fd, &a);
	if (ret) {
		pr_err("descriptor %d from %s (%s) is not a listening TCP socket",
		       fd, origin_names[from], name);
		close(fd);
		return ret;
	}
	s = realloc(inh->s, (inh->n + 1) * sizeof(*s));
	if (!s) {
		close(fd);
		return -ENOMEM;
	}
	inh->s = s;
	s = &inh->s[inh->n++];
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->addr = a;
	s->worker = worker;
	s->from = from;
	snprintf(s->name, sizeof(s->name), "%s", name);
	addr_format((struct sockaddr *)&a.ss, a.len, s->addr_str,
		    sizeof(s->addr_str));
	/* systemd hands sockets over blocking; workers never wait */
	fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && !(fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	/* inherited by accepted sockets, as listen_socket() sets it */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

#ifdef RINGLB_NO_SYSTEMD
int inherit_from_systemd(struct inherit *inh)
{
	(void)inh;
	if (getenv("LISTEN_FDS"))
		pr_warn("LISTEN_FDS ignored: this ringlb is built without libsystemd");
	return 0;
}

void fdstore_push(const struct generation *g)
{
	(void)g;
}

static void fdstore_remove(const struct inherited *s)
{
	(void)s;
}
#else
/* "ringlb.w3.127.0.0.1_80": worker 3's; -1 for any other name */
static int fdstore_worker(const char *name)
{
	char *end;
	long w;

	if (strncmp(name, FDSTORE_PREFIX, strlen(FDSTORE_PREFIX)))
		return -1;
	w = strtol(name + strlen(FDSTORE_PREFIX), &end, 10);
	if (end == name + strlen(FDSTORE_PREFIX) || *end != '.' || w < 0 ||
	    w > 65535)
		return -1;
	return (int)w;
}

int inherit_from_systemd(struct inherit *inh)
{
	char **names = NULL;
	int n, i, w;

	/* unset: a child we start must not take them for its own */
	n = sd_listen_fds_with_names(1, &names);
	if (n < 0) {
		pr_err("LISTEN_FDS: %s", strerror(-n));
		return n;
	}
	for (i = 0; i < n; i++) {
		const char *name = names && names[i] ? names[i] : "unknown";
		int fd = SD_LISTEN_FDS_START + i;

		w = fdstore_worker(name);
		/* one that is not ours is logged and left out */
		inherit_add(inh, fd, w >= 0 ? INH_FDSTORE : INH_ACTIVATION, w,
			    name);
	}
	for (i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
	if (n > 0)
		pr_info("systemd passed %d socket%s", n, n == 1 ? "" : "s");
	return 0;
}

static void fdstore_name(char *buf, size_t len, unsigned int worker,
			 const char *addr)
{
	char *p;

	snprintf(buf, len, FDSTORE_PREFIX "%u.%s", worker, addr);
	for (p = buf; *p; p++)
		if (*p == ':')
			*p = '_';
}

void fdstore_push(const struct generation *g)
{
	const char *max = getenv("FDSTORE");
	unsigned int i, j, n = 0;
	char name[64 + ADDR_STRLEN], state[96 + ADDR_STRLEN];

	if (!getenv("NOTIFY_SOCKET") || !max || atoi(max) <= 0)
		return;
	for (i = 0; i < g->nworkers; i++) {
		for (j = 0; j < g->cfg->nsocks; j++) {
			int fd = g->workers[i].lfd[j];

			if (fd < 0)
				continue;
			fdstore_name(name, sizeof(name), i,
				     g->cfg->socks[j].addr_str);
			snprintf(state, sizeof(state), "FDSTORE=1\nFDNAME=%s",
				 name);
			if (sd_pid_notify_with_fds(0, 0, state, &fd, 1) > 0)
				n++;
		}
	}
	if (n > (unsigned int)atoi(max))
		pr_warn("%u listening sockets for a file descriptor store of %d: set FileDescriptorStoreMax= to at least threads x addresses",
			n, atoi(max));
	pr_info("%u listening socket%s kept in systemd's file descriptor store",
		n, n == 1 ? "" : "s");
}

static void fdstore_remove(const struct inherited *s)
{
	if (s->from == INH_FDSTORE)
		sd_notifyf(0, "FDSTOREREMOVE=1\nFDNAME=%s", s->name);
}
#endif

int inherit_metrics(struct inherit *inh, int fd, const struct addr *a)
{
	struct addr got;
	int ret = check_listener(fd, &got);

	if (!ret && !addr_equal(&got, a))
		ret = -EADDRNOTAVAIL;
	if (ret || inh->metrics_fd >= 0) {
		pr_err("the metrics socket from the previous ringlb is not what it says");
		close(fd);
		return ret ? ret : -EPROTO;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	inh->metrics_fd = fd;
	inh->metrics_addr = got;
	return 0;
}

int inherit_take_metrics(struct inherit *inh, const struct addr *a)
{
	int fd = inh->metrics_fd;

	inh->metrics_fd = -1;
	if (fd >= 0 && (!a || !addr_equal(a, &inh->metrics_addr))) {
		pr_info("the previous ringlb's metrics port is not configured here: closed");
		close(fd);
		fd = -1;
	}
	return fd;
}

int inherit_take(struct inherit *inh, const struct addr *a,
		 unsigned int worker)
{
	struct inherited *best = NULL;
	unsigned int i;
	int fd;

	for (i = 0; i < inh->n; i++) {
		struct inherited *s = &inh->s[i];

		if (s->used || s->fd < 0 || !addr_equal(&s->addr, a))
			continue;
		if (s->worker == (int)worker) {
			best = s;
			break;
		}
		/* another worker's beats a shared one: no dup() needed */
		if (!best || (best->worker < 0 && s->worker >= 0))
			best = s;
	}
	if (!best)
		return -1;
	if (best->worker < 0) {
		/* shared by every worker: the pool keeps the original */
		fd = fcntl(best->fd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		best->dups++;
		return fd;
	}
	best->used = true;
	fd = best->fd;
	best->fd = -1;
	return fd;
}

void inherit_finish(struct inherit *inh)
{
	unsigned int i;

	for (i = 0; i < inh->n; i++) {
		struct inherited *s = &inh->s[i];

		if (s->fd < 0)
			continue;
		if (s->worker >= 0) {
			/*
			 * Not an address of ours any more, or one more
			 * socket than we have workers for it: what waits
			 * in its accept queue is reset when the last copy
			 * closes (unless net.ipv4.tcp_migrate_req moves it
			 * to another socket of the group).
			 */
			pr_info("%s socket %s (%s, worker %d) not used: closed",
				origin_names[s->from], s->addr_str, s->name,
				s->worker);
			fdstore_remove(s);
		} else if (!s->dups) {
			pr_info("%s socket %s (%s) matches no listener: closed",
				origin_names[s->from], s->addr_str, s->name);
		}
		close(s->fd);
		s->fd = -1;
	}
	free(inh->s);
	inh->s = NULL;
	inh->n = 0;
}

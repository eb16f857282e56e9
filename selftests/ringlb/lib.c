// SPDX-License-Identifier: MIT
/*
 * Helpers for the ringlb selftests; see lib.h for what each one is for.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/io_uring.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib.h"

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup	425
#endif
#ifndef __NR_close_range
#define __NR_close_range	436
#endif

#if defined(__x86_64__)
#define AUDIT_ARCH_NATIVE	AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define AUDIT_ARCH_NATIVE	AUDIT_ARCH_AARCH64
#elif defined(__i386__)
#define AUDIT_ARCH_NATIVE	AUDIT_ARCH_I386
#endif

/* ---- time and environment ------------------------------------------ */

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(unsigned int ms)
{
	struct timespec ts = {
		.tv_sec = ms / 1000,
		.tv_nsec = (long)(ms % 1000) * 1000000,
	};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

bool test_quick(void)
{
	const char *q = getenv("RINGLB_TEST_QUICK");

	return q && *q && strcmp(q, "0");
}

unsigned int slack_ms(void)
{
	const char *s = getenv("RINGLB_TEST_SLACK_MS");

	if (s && *s)
		return (unsigned int)strtoul(s, NULL, 10);
	/* quick mode is what the TCG VMs run: everything is ~20x slower */
	return test_quick() ? 8000 : 2000;
}

const char *ringlb_path(void)
{
	static char path[PATH_MAX];
	const char *env = getenv("RINGLB");
	ssize_t n;
	char *slash;

	if (env && *env)
		return env;
	if (path[0])
		return path;
	n = readlink("/proc/self/exe", path, sizeof(path) - 16);
	if (n <= 0) {
		strcpy(path, "./ringlb");
		return path;
	}
	path[n] = '\0';
	slash = strrchr(path, '/');
	strcpy(slash ? slash + 1 : path, "ringlb");
	return path;
}

/* ---- streams ------------------------------------------------------- */

void prng_init(struct prng *p, uint64_t seed)
{
	p->s = seed ^ 0x6a09e667f3bcc909ULL;
}

static inline uint64_t splitmix64(struct prng *p)
{
	uint64_t z = (p->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void prng_fill(struct prng *p, uint8_t *buf, size_t len)
{
	uint64_t v;

	while (len >= 8) {
		v = splitmix64(p);
		memcpy(buf, &v, 8);
		buf += 8;
		len -= 8;
	}
	if (len) {
		v = splitmix64(p);
		memcpy(buf, &v, len);
	}
}

uint64_t fnv1a(uint64_t h, const uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= buf[i];
		h *= FNV_PRIME;
	}
	return h;
}

uint64_t stream_hash(uint64_t seed, uint64_t len)
{
	uint8_t buf[FLOW_CHUNK];
	uint64_t h = FNV_OFFSET;
	struct prng p;
	size_t n;

	prng_init(&p, seed);
	while (len) {
		n = len < sizeof(buf) ? len : sizeof(buf);
		prng_fill(&p, buf, n);
		h = fnv1a(h, buf, n);
		len -= n;
	}
	return h;
}

/* ---- flows --------------------------------------------------------- */

void flow_init(struct flow *f, int fd)
{
	memset(f, 0, sizeof(*f));
	f->fd = fd;
	f->rx_hash = FNV_OFFSET;
	f->tx_pause_at = UINT64_MAX;
	f->rx_pause_at = UINT64_MAX;
}

void flow_init_client(struct flow *f, int fd, uint32_t id, enum be_mode mode,
		      uint64_t seed_up, uint64_t len_up,
		      uint64_t seed_dn, uint64_t len_dn)
{
	struct wire_hdr h = {
		.magic = WIRE_MAGIC,
		.mode = mode,
		.id = id,
		.seed = seed_dn,
		.len = len_dn,
	};

	flow_init(f, fd);
	memcpy(f->pre, &h, sizeof(h));
	f->pre_len = sizeof(h);
	f->tx_seed = seed_up;
	f->tx_len = len_up;
	prng_init(&f->rng, seed_up);
}

static bool flow_tx_payload_done(const struct flow *f)
{
	return f->pre_off == f->pre_len && f->tx_sent == f->tx_len;
}

bool flow_tx_done(const struct flow *f)
{
	return flow_tx_payload_done(f) && (f->no_shut || f->tx_shut);
}

bool flow_done(const struct flow *f)
{
	return flow_tx_done(f) && f->rx_eof;
}

void flow_close(struct flow *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	free(f->txbuf);
	f->txbuf = NULL;
}

/* may payload bytes go out now? */
static bool flow_tx_open(const struct flow *f)
{
	if (f->pre_off < f->pre_len)
		return true;
	if (f->tx_sent >= f->tx_len || f->tx_sent >= f->tx_pause_at)
		return false;
	return !f->tx_after_eof || f->rx_eof;
}

static uint32_t flow_wanted(const struct flow *f)
{
	uint32_t ev = 0;

	if (f->err || flow_done(f))
		return 0;
	if (!f->rx_eof && f->rx_bytes < f->rx_pause_at)
		ev |= EPOLLIN;
	if (flow_tx_open(f))
		ev |= EPOLLOUT;
	return ev;
}

static int flow_recv(struct flow *f)
{
	static __thread uint8_t buf[64 * 1024];
	ssize_t n;
	int i;

	/* bounded, so one busy flow cannot starve the others */
	for (i = 0; i < 16 && !f->rx_eof && f->rx_bytes < f->rx_pause_at; i++) {
		n = read(f->fd, buf, f->rx_pause_at - f->rx_bytes < sizeof(buf) ?
			 f->rx_pause_at - f->rx_bytes : sizeof(buf));
		if (n > 0) {
			if (!f->rx_bytes)
				f->t_rx_first = now_ms();
			f->rx_hash = fnv1a(f->rx_hash, buf, n);
			f->rx_bytes += n;
		} else if (n == 0) {
			f->rx_eof = true;
			f->t_rx_eof = now_ms();
		} else if (errno == EINTR) {
			continue;
		} else if (errno == EAGAIN) {
			break;
		} else {
			return -errno;
		}
	}
	return 0;
}

static int flow_send(struct flow *f)
{
	uint64_t room;
	size_t len;
	ssize_t n;
	int i;

	for (i = 0; i < 16 && flow_tx_open(f); i++) {
		if (f->pre_off < f->pre_len) {
			n = send(f->fd, f->pre + f->pre_off,
				 f->pre_len - f->pre_off, MSG_NOSIGNAL);
			if (n < 0)
				goto err;
			f->pre_off += n;
			continue;
		}
		if (f->tx_off == f->tx_fill) {
			if (!f->txbuf) {
				f->txbuf = malloc(FLOW_CHUNK);
				if (!f->txbuf)
					return -ENOMEM;
			}
			len = f->tx_len - f->tx_sent < FLOW_CHUNK ?
				f->tx_len - f->tx_sent : FLOW_CHUNK;
			prng_fill(&f->rng, f->txbuf, len);
			f->tx_off = 0;
			f->tx_fill = len;
		}
		len = f->tx_fill - f->tx_off;
		room = f->tx_pause_at - f->tx_sent;
		if (len > room)
			len = room;
		n = send(f->fd, f->txbuf + f->tx_off, len, MSG_NOSIGNAL);
		if (n < 0)
			goto err;
		f->tx_off += n;
		f->tx_sent += n;
	}
	/* a held payload (even an empty one) is not done before the EOF */
	if (flow_tx_payload_done(f) && !f->no_shut && !f->tx_shut &&
	    (!f->tx_after_eof || f->rx_eof)) {
		if (shutdown(f->fd, SHUT_WR))
			return -errno;
		f->tx_shut = true;
		free(f->txbuf);
		f->txbuf = NULL;
	}
	return 0;
err:
	if (errno == EAGAIN || errno == EINTR)
		return 0;
	return -errno;
}

bool flow_step(struct flow *f)
{
	int ret;

	if (f->err)
		return true;
	ret = flow_recv(f);
	if (!ret)
		ret = flow_send(f);
	/* an EOF may have released a held payload: try once more */
	if (!ret && f->tx_after_eof && f->rx_eof)
		ret = flow_send(f);
	if (ret)
		f->err = ret;
	return f->err || flow_done(f);
}

static void flow_update(int ep, struct flow *f)
{
	uint32_t want = flow_wanted(f);
	struct epoll_event ev = { .events = want, .data.ptr = f };

	if (!f->registered) {
		if (!want)
			return;
		if (!epoll_ctl(ep, EPOLL_CTL_ADD, f->fd, &ev)) {
			f->registered = true;
			f->events = want;
		}
		return;
	}
	if (!want && (f->err || flow_done(f))) {
		epoll_ctl(ep, EPOLL_CTL_DEL, f->fd, NULL);
		f->registered = false;
	} else if (want != f->events) {
		epoll_ctl(ep, EPOLL_CTL_MOD, f->fd, &ev);
		f->events = want;
	}
}

int flows_run(struct flow **fl, int n, int timeout_ms,
	      bool (*stop)(struct flow **fl, int n, void *arg), void *arg)
{
	uint64_t deadline = now_ms() + timeout_ms;
	struct epoll_event evs[64];
	int ep, i, nev, left, ret;
	struct flow *f;

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return -errno;
	for (i = 0; i < n; i++) {
		fl[i]->registered = false;
		if (fl[i]->fd < 0)
			continue;
		flow_step(fl[i]);
		flow_update(ep, fl[i]);
	}
	for (;;) {
		left = 0;
		ret = 0;
		for (i = 0; i < n; i++) {
			if (fl[i]->err) {
				ret = fl[i]->err;
				break;
			}
			if (fl[i]->fd >= 0 && !flow_done(fl[i]))
				left++;
		}
		if (ret || !left)
			break;
		if (stop && stop(fl, n, arg))
			break;
		if (now_ms() >= deadline) {
			ret = -ETIMEDOUT;
			break;
		}
		/* wake now and then: @stop may watch other threads */
		nev = epoll_wait(ep, evs, 64, 50);
		if (nev < 0 && errno != EINTR) {
			ret = -errno;
			break;
		}
		for (i = 0; i < nev; i++) {
			f = evs[i].data.ptr;
			flow_step(f);
			flow_update(ep, f);
		}
	}
	close(ep);
	for (i = 0; i < n; i++)
		fl[i]->registered = false;
	return ret;
}

/* ---- backends ------------------------------------------------------ */

struct sconn {
	struct flow f;
	struct wire_hdr hdr;
	size_t hlen;
	struct sconn *prev, *next;
};

void results_init(struct results *res)
{
	memset(res->r, 0, sizeof(res->r));
	pthread_mutex_init(&res->lock, NULL);
	pthread_cond_init(&res->cond, NULL);
}

static void results_put(struct results *res, uint32_t id,
			const struct be_result *r)
{
	if (id >= MAX_IDS)
		return;
	pthread_mutex_lock(&res->lock);
	res->r[id] = *r;
	res->r[id].done = true;
	pthread_cond_broadcast(&res->cond);
	pthread_mutex_unlock(&res->lock);
}

int results_wait(struct results *res, uint32_t id, int timeout_ms,
		 struct be_result *out)
{
	struct timespec ts;
	int ret = 0;

	if (id >= MAX_IDS)
		return -EINVAL;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&res->lock);
	while (!res->r[id].done && !ret)
		ret = pthread_cond_timedwait(&res->cond, &res->lock, &ts);
	if (res->r[id].done) {
		*out = res->r[id];
		ret = 0;
	} else {
		ret = -ETIMEDOUT;
	}
	pthread_mutex_unlock(&res->lock);
	return ret;
}

/*
 * Out of the epoll set before the close: a test that forks (to start a
 * daemon) while connections come and go has a child holding copies of
 * our sockets until its exec, and a socket still open elsewhere stays
 * in the set after close(), reporting events for a freed connection.
 */
static void sconn_free(struct backend *be, int ep, struct sconn **head,
		       struct sconn *c)
{
	if (ep >= 0 && c->f.fd >= 0)
		epoll_ctl(ep, EPOLL_CTL_DEL, c->f.fd, NULL);
	if (c->prev)
		c->prev->next = c->next;
	else
		*head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	flow_close(&c->f);
	free(c);
	atomic_fetch_sub(&be->active, 1);
}

static void backend_accept(struct backend *be, int ep, struct sconn **head)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct sconn *c;
	int fd, act, max;

	for (;;) {
		fd = accept4(be->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		flow_init(&c->f, fd);
		c->f.priv = c;
		c->next = *head;
		if (*head)
			(*head)->prev = c;
		*head = c;
		atomic_fetch_add(&be->accepted, 1);
		act = atomic_fetch_add(&be->active, 1) + 1;
		max = atomic_load(&be->max_active);
		while (act > max &&
		       !atomic_compare_exchange_weak(&be->max_active, &max,
						     act))
			;
		ev.data.ptr = c;
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	}
}

/* read the header; returns true when the connection should go on */
static bool backend_header(struct backend *be, struct sconn *c)
{
	ssize_t n;

	while (c->hlen < sizeof(c->hdr)) {
		n = read(c->f.fd, (char *)&c->hdr + c->hlen,
			 sizeof(c->hdr) - c->hlen);
		if (n > 0) {
			c->hlen += n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return true;
		/* EOF or reset before a header: a readiness probe */
		atomic_fetch_add(&be->probes, 1);
		return false;
	}
	if (c->hdr.magic != WIRE_MAGIC) {
		c->f.err = -EPROTO;
		return false;
	}
	c->f.tx_seed = c->hdr.seed;
	c->f.tx_len = c->hdr.len;
	c->f.tx_after_eof = c->hdr.mode == BE_AFTER_EOF;
	c->f.no_shut = c->hdr.mode == BE_RESET;
	if (c->hdr.mode == BE_RESET)
		c->f.tx_pause_at = c->hdr.len / 2;
	prng_init(&c->f.rng, c->hdr.seed);
	return true;
}

static void backend_event(struct backend *be, int ep, struct sconn **head,
			  struct sconn *c)
{
	struct be_result r = { .server = be->idx };
	bool fin;

	if (c->hlen < sizeof(c->hdr)) {
		if (!backend_header(be, c)) {
			if (c->f.err && c->hlen == sizeof(c->hdr)) {
				r.err = c->f.err;
				results_put(be->res, c->hdr.id, &r);
			}
			sconn_free(be, ep, head, c);
			return;
		}
		if (c->hlen < sizeof(c->hdr))
			return;
		c->f.registered = true;
		c->f.events = EPOLLIN;
	}
	fin = flow_step(&c->f);
	if (!fin && c->hdr.mode == BE_RESET &&
	    c->f.tx_sent >= c->f.tx_pause_at) {
		/* half of it handed to the kernel: now a close with RST */
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(c->f.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		c->f.err = -ECONNRESET;
		fin = true;
	}
	if (!fin) {
		flow_update(ep, &c->f);
		return;
	}
	r.rx_bytes = c->f.rx_bytes;
	r.rx_hash = c->f.rx_hash;
	r.err = c->f.err;
	atomic_fetch_add(&be->served, 1);
	results_put(be->res, c->hdr.id, &r);
	sconn_free(be, ep, head, c);
}

static void *backend_thread(void *arg)
{
	struct backend *be = arg;
	struct epoll_event ev = { .events = EPOLLIN }, evs[64];
	struct sconn *head = NULL;
	int ep, i, n;

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return NULL;
	ev.data.ptr = &be->lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, be->lfd, &ev);
	ev.data.ptr = &be->stopfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, be->stopfd, &ev);
	for (;;) {
		n = epoll_wait(ep, evs, 64, -1);
		if (n < 0 && errno != EINTR)
			break;
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == &be->stopfd)
				goto out;
			if (evs[i].data.ptr == &be->lfd)
				backend_accept(be, ep, &head);
			else
				backend_event(be, ep, &head, evs[i].data.ptr);
		}
	}
out:
	while (head)
		sconn_free(be, -1, &head, head);
	close(ep);
	return NULL;
}

int backend_start(struct backend *be, int idx, int family,
		  struct results *res)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1, ret;

	memset(be, 0, sizeof(*be));
	be->idx = idx;
	be->family = family;
	be->res = res;
	be->stopfd = -1;
	be->lfd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (be->lfd < 0)
		return -errno;
	setsockopt(be->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	loopback_sockaddr(family, 0, &ss, &sl);
	if (bind(be->lfd, (struct sockaddr *)&ss, sl) ||
	    listen(be->lfd, 4096))
		goto err;
	be->port = local_port(be->lfd);
	fmt_addr(be->addr, sizeof(be->addr), family, be->port);
	be->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (be->stopfd < 0)
		goto err;
	ret = pthread_create(&be->thr, NULL, backend_thread, be);
	if (ret) {
		errno = ret;
		goto err;
	}
	be->running = true;
	return 0;
err:
	ret = -errno;
	close(be->lfd);
	if (be->stopfd >= 0)
		close(be->stopfd);
	be->lfd = be->stopfd = -1;
	return ret;
}

void backend_stop(struct backend *be)
{
	uint64_t one = 1;

	if (!be->running)
		return;
	if (write(be->stopfd, &one, sizeof(one)) != sizeof(one))
		return;
	pthread_join(be->thr, NULL);
	close(be->lfd);
	close(be->stopfd);
	be->running = false;
}

int backend_wait_active(struct backend *be, int n, int timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;

	while (atomic_load(&be->active) != n) {
		if (now_ms() >= end)
			return -ETIMEDOUT;
		sleep_ms(5);
	}
	return 0;
}

/* ---- sockets ------------------------------------------------------- */

void fmt_addr(char *buf, size_t len, int family, uint16_t port)
{
	if (family == AF_INET6)
		snprintf(buf, len, "[::1]:%u", port);
	else
		snprintf(buf, len, "127.0.0.1:%u", port);
}

int loopback_sockaddr(int family, uint16_t port, void *ss, socklen_t *len)
{
	struct sockaddr_in6 *s6 = ss;
	struct sockaddr_in *s4 = ss;

	memset(ss, 0, sizeof(struct sockaddr_storage));
	if (family == AF_INET6) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		s6->sin6_addr = in6addr_loopback;
		*len = sizeof(*s6);
	} else {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*len = sizeof(*s4);
	}
	return 0;
}

int reserve_port(int family, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd;

	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	loopback_sockaddr(family, 0, &ss, &sl);
	/* bound, never listening: a connect to it is refused with RST */
	if (bind(fd, (struct sockaddr *)&ss, sl)) {
		close(fd);
		return -errno;
	}
	*port = local_port(fd);
	return fd;
}

int free_port(int family, uint16_t *port)
{
	int fd = reserve_port(family, port);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

int tcp_connect(int family, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, ret;

	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	loopback_sockaddr(family, port, &ss, &sl);
	if (connect(fd, (struct sockaddr *)&ss, sl)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK))
		return -errno;
	return 0;
}

uint16_t local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl))
		return 0;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

int wait_eof(int fd, int timeout_ms, uint64_t *bytes)
{
	uint64_t end = now_ms() + timeout_ms;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char buf[4096];
	ssize_t n;
	int left;

	for (;;) {
		left = (int)(end - now_ms());
		if ((int64_t)(end - now_ms()) <= 0)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, left) == 0)
			return -ETIMEDOUT;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			if (bytes)
				*bytes += n;
		} else if (n == 0) {
			return 0;
		} else if (errno != EAGAIN && errno != EINTR) {
			return -errno;
		}
	}
}

/* ---- namespaces and firewalls ------------------------------------- */

static bool own_netns;

int enter_netns(void)
{
	struct ifreq ifr = { 0 };
	int fd, ret = 0;

	if (unshare(CLONE_NEWNET))
		return -errno;
	own_netns = true;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr))
		ret = -errno;
	ifr.ifr_flags |= IFF_UP;
	if (!ret && ioctl(fd, SIOCSIFFLAGS, &ifr))
		ret = -errno;
	close(fd);
	return ret;
}

bool family_supported(int family)
{
	uint16_t port;
	int fd = reserve_port(family, &port);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

int probe_io_uring(void)
{
	struct io_uring_params p = { 0 };
	long fd;

	fd = syscall(__NR_io_uring_setup, 4, &p);
	if (fd < 0)
		return -errno;
	close((int)fd);
	return 0;
}

/* run argv with stdout and stderr to /dev/null; its exit status or -errno */
static int run_quiet(char *const argv[])
{
	int status, fd;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		fd = open("/dev/null", O_WRONLY);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], argv);
		_exit(errno == ENOENT ? 127 : 126);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static int nft_drop_syn(uint16_t port)
{
	char path[PATH_MAX], rule[512];
	char *argv[] = { "nft", "-f", path, NULL };
	const char *tmp = getenv("TMPDIR");
	int fd, ret;

	snprintf(path, sizeof(path), "%s/ringlb-nft-XXXXXX",
		 tmp ? tmp : "/tmp");
	fd = mkstemp(path);
	if (fd < 0)
		return -errno;
	/*
	 * Output hook: every SYN ringlb sends to this port is dropped before
	 * it reaches lo, so the connect neither completes nor is refused.
	 */
	snprintf(rule, sizeof(rule),
		 "table inet ringlb_selftest {\n"
		 "\tchain out {\n"
		 "\t\ttype filter hook output priority 0; policy accept;\n"
		 "\t\ttcp dport %u tcp flags & (syn | ack) == syn drop\n"
		 "\t}\n"
		 "}\n", port);
	ret = write(fd, rule, strlen(rule)) == (ssize_t)strlen(rule) ? 0 : -EIO;
	close(fd);
	if (!ret)
		ret = run_quiet(argv);
	unlink(path);
	if (ret == 127)
		return -ENOENT;
	return ret ? -EIO : 0;
}

int blackhole_port(int family, uint16_t *port, const char **how, int fds[2])
{
	struct sockaddr_storage ss;
	struct pollfd pfd;
	socklen_t sl;
	int lfd, cfd, ret;

	fds[0] = fds[1] = -1;
	/*
	 * Never touch the host's firewall: nft only in our own namespace.
	 * RINGLB_TEST_NO_NFT=1 forces the fallback, to test it.
	 */
	if (own_netns && !getenv("RINGLB_TEST_NO_NFT")) {
		lfd = reserve_port(family, port);
		if (lfd < 0)
			return lfd;
		ret = nft_drop_syn(*port);
		if (!ret) {
			fds[0] = lfd;
			*how = "nft";
			return 0;
		}
		close(lfd);
	}
	/*
	 * No nft: a listener with backlog 0 and one connection queued that
	 * nobody accepts. The kernel drops further SYNs while the accept
	 * queue is full, without a RST.
	 */
	lfd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return -errno;
	loopback_sockaddr(family, 0, &ss, &sl);
	if (bind(lfd, (struct sockaddr *)&ss, sl) || listen(lfd, 0))
		goto err;
	*port = local_port(lfd);
	cfd = tcp_connect(family, *port);
	if (cfd < 0) {
		errno = -cfd;
		goto err;
	}
	/*
	 * connect() returns on the SYN-ACK, before the listener has our
	 * ACK (loopback packets of two CPUs can cross): until then the
	 * queue is empty, and a SYN is answered with a cookie. The queue
	 * is full once the listener is readable.
	 */
	pfd.fd = lfd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 10000) != 1) {
		close(cfd);
		errno = ETIMEDOUT;
		goto err;
	}
	fds[0] = lfd;
	fds[1] = cfd;
	*how = "full accept queue";
	return 0;
err:
	ret = -errno;
	close(lfd);
	return ret;
}

bool port_is_blackholed(int family, uint16_t port, int ms)
{
	struct sockaddr_storage ss;
	struct pollfd pfd;
	socklen_t sl;
	bool hole;
	int fd;

	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	loopback_sockaddr(family, port, &ss, &sl);
	if (!connect(fd, (struct sockaddr *)&ss, sl) || errno != EINPROGRESS) {
		close(fd);
		return false;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	hole = poll(&pfd, 1, ms) == 0;
	close(fd);
	return hole;
}

/* ---- the daemon under test ----------------------------------------- */

static void install_no_uring(void)
{
	struct sock_filter filt[] = {
#ifdef AUDIT_ARCH_NATIVE
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_NATIVE, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
#endif
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K,
			 SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {
		.len = sizeof(filt) / sizeof(filt[0]),
		.filter = filt,
	};
	static const char msg[] = "selftest: cannot install seccomp filter\n";

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
		if (write(2, msg, sizeof(msg) - 1) < 0)
			_exit(125);
		_exit(125);
	}
}

int rl_log_open(struct rl_proc *p)
{
	const char *tmp = getenv("TMPDIR");
	int fd;

	memset(p, 0, sizeof(*p));
	p->pid = -1;
	snprintf(p->logpath, sizeof(p->logpath), "%s/ringlb-log-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	fd = mkostemp(p->logpath, O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int rl_spawn(struct rl_proc *p, const char **argv, bool no_uring)
{
	int fd, ret, i;

	fd = rl_log_open(p);
	if (fd < 0)
		return fd;
	argv[0] = ringlb_path();
	fflush(stdout);
	fflush(stderr);
	p->pid = fork();
	if (p->pid < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	if (p->pid == 0) {
		/* never outlive the test, even when it crashes */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fd, 1);
		dup2(fd, 2);
		/* the test's sockets must not be held open by the daemon */
		if (syscall(__NR_close_range, 3, ~0U, 0))
			for (i = 3; i < 4096; i++)
				close(i);
		if (no_uring)
			install_no_uring();
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fd);
	return 0;
}

int rl_wait_exit(struct rl_proc *p, int timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;
	pid_t r;

	if (p->reaped)
		return 0;
	if (p->pid <= 0)
		return -ECHILD;
	for (;;) {
		r = waitpid(p->pid, &p->status, WNOHANG);
		if (r == p->pid) {
			p->reaped = true;
			return 0;
		}
		if (r < 0 && errno != EINTR)
			return -errno;
		if (now_ms() >= end)
			return -ETIMEDOUT;
		sleep_ms(5);
	}
}

bool rl_alive(struct rl_proc *p)
{
	return p->pid > 0 && rl_wait_exit(p, 0) == -ETIMEDOUT;
}

int rl_stop(struct rl_proc *p, int grace_ms)
{
	if (p->pid <= 0)
		return -ECHILD;
	if (p->reaped)
		return 0;
	kill(p->pid, SIGTERM);
	if (!rl_wait_exit(p, grace_ms))
		return 0;
	kill(p->pid, SIGKILL);
	rl_wait_exit(p, 5000);
	return -ETIMEDOUT;
}

void rl_cleanup(struct rl_proc *p)
{
	if (p->pid > 0 && !p->reaped) {
		kill(p->pid, SIGKILL);
		rl_wait_exit(p, 5000);
	}
	if (p->logpath[0] && !getenv("RINGLB_TEST_KEEP_LOGS"))
		unlink(p->logpath);
}

char *rl_log(struct rl_proc *p)
{
	size_t cap = 4096, len = 0;
	char *buf, *nb;
	ssize_t n;
	int fd;

	buf = malloc(cap);
	if (!buf)
		return NULL;
	buf[0] = '\0';
	fd = open(p->logpath, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return buf;
	for (;;) {
		if (cap - len < 4096) {
			nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	close(fd);
	return buf;
}

int rl_log_count(struct rl_proc *p, const char *needle)
{
	char *log = rl_log(p), *s;
	int n = 0;

	if (!log)
		return 0;
	for (s = log; (s = strstr(s, needle)); s += strlen(needle))
		n++;
	free(log);
	return n;
}

bool rl_log_has(struct rl_proc *p, const char *needle)
{
	return rl_log_count(p, needle) > 0;
}

int rl_log_wait(struct rl_proc *p, const char *needle, int count,
		int timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;

	while (rl_log_count(p, needle) < count) {
		if (now_ms() >= end)
			return -ETIMEDOUT;
		sleep_ms(10);
	}
	return 0;
}

/* duplicate the line of @log around @at */
static char *line_at(const char *log, const char *at)
{
	const char *s = at, *e = strchr(at, '\n');

	while (s > log && s[-1] != '\n')
		s--;
	if (!e)
		e = at + strlen(at);
	return strndup(s, e - s);
}

char *rl_log_line(struct rl_proc *p, const char *needle)
{
	char *log = rl_log(p), *at, *line = NULL;

	if (!log)
		return NULL;
	at = strstr(log, needle);
	if (at)
		line = line_at(log, at);
	free(log);
	return line;
}

int rl_wait_ready(struct rl_proc *p, int family, uint16_t port,
		  int timeout_ms, int *probes)
{
	uint64_t end = now_ms() + timeout_ms;
	int fd;

	for (;;) {
		if (!rl_alive(p))
			return -ECHILD;
		fd = tcp_connect(family, port);
		if (fd >= 0) {
			close(fd);
			if (probes)
				(*probes)++;
			return 0;
		}
		if (now_ms() >= end)
			return -ETIMEDOUT;
		sleep_ms(10);
	}
}

static const char *kv_find(const char *line, const char *key, size_t *vlen)
{
	size_t kl = strlen(key);
	const char *s = line, *v;

	while ((s = strstr(s, key))) {
		if ((s == line || s[-1] == ' ') && s[kl] == '=') {
			v = s + kl + 1;
			*vlen = strcspn(v, " \n");
			return v;
		}
		s += kl;
	}
	return NULL;
}

int kv_u64(const char *line, const char *key, uint64_t *out)
{
	const char *v;
	size_t len;
	char *end;

	v = kv_find(line, key, &len);
	if (!v || !len)
		return -ENOENT;
	*out = strtoull(v, &end, 10);
	return end == v + len ? 0 : -EINVAL;
}

int kv_str(const char *line, const char *key, char *buf, size_t len)
{
	const char *v;
	size_t vl;

	v = kv_find(line, key, &vl);
	if (!v)
		return -ENOENT;
	if (vl >= len)
		vl = len - 1;
	memcpy(buf, v, vl);
	buf[vl] = '\0';
	return 0;
}

static int parse_access(const char *line, struct access_line *a)
{
	char client[80], *colon;

	memset(a, 0, sizeof(*a));
	if (kv_str(line, "client", client, sizeof(client)))
		return -EINVAL;
	colon = strrchr(client, ':');
	if (!colon)
		return -EINVAL;
	a->client_port = (uint16_t)strtoul(colon + 1, NULL, 10);
	kv_str(line, "server", a->server, sizeof(a->server));
	kv_str(line, "end", a->end, sizeof(a->end));
	if (kv_u64(line, "up", &a->up) || kv_u64(line, "down", &a->down) ||
	    kv_u64(line, "ms", &a->ms))
		return -EINVAL;
	return 0;
}

int rl_access(struct rl_proc *p, uint16_t port, int timeout_ms,
	      struct access_line *out)
{
	static const char tag[] = "ringlb: info: access ";
	uint64_t end = now_ms() + timeout_ms;
	char *log, *s, *line;
	int ret;

	for (;;) {
		log = rl_log(p);
		if (!log)
			return -ENOMEM;
		for (s = log; (s = strstr(s, tag)); s += sizeof(tag) - 1) {
			line = line_at(log, s);
			ret = line ? parse_access(line, out) : -ENOMEM;
			free(line);
			if (!ret && out->client_port == port) {
				free(log);
				return 0;
			}
		}
		free(log);
		if (now_ms() >= end)
			return -ETIMEDOUT;
		sleep_ms(10);
	}
}

int rl_stats(struct rl_proc *p, int timeout_ms, struct stats_line *out)
{
	static const char tag[] = "ringlb: info: stats ";
	char *log, *s, *last = NULL, *line;
	int n, ret;

	n = rl_log_count(p, tag);
	if (p->reaped) {
		if (!n)
			return -ENOENT;
	} else {
		kill(p->pid, SIGUSR1);
		ret = rl_log_wait(p, tag, n + 1, timeout_ms);
		if (ret)
			return ret;
	}
	/* give the line time to be written out in full */
	sleep_ms(20);
	log = rl_log(p);
	if (!log)
		return -ENOMEM;
	for (s = log; (s = strstr(s, tag)); s += sizeof(tag) - 1)
		last = s;
	line = last ? line_at(log, last) : NULL;
	free(log);
	if (!line)
		return -ENOENT;
	ret = 0;
	if (kv_u64(line, "conns", &out->conns) ||
	    kv_u64(line, "bytes_up", &out->bytes_up) ||
	    kv_u64(line, "bytes_down", &out->bytes_down))
		ret = -EINVAL;
	free(line);
	return ret;
}

int proc_fds(pid_t pid)
{
	char path[64];
	struct dirent *d;
	int n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((d = readdir(dir)))
		if (d->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

int rl_stat(struct rl_proc *p, const char *key, uint64_t *out,
	    int timeout_ms)
{
	static const char tag[] = "ringlb: info: stats ";
	char *log, *s, *last = NULL, *line;
	int n, ret;

	n = rl_log_count(p, tag);
	kill(p->pid, SIGUSR1);
	ret = rl_log_wait(p, tag, n + 1, timeout_ms);
	if (ret)
		return ret;
	/* the line is one write(): wait for its end */
	for (;;) {
		log = rl_log(p);
		if (!log)
			return -ENOMEM;
		for (s = log; (s = strstr(s, tag)); s += sizeof(tag) - 1)
			last = s;
		if (last && strchr(last, '\n'))
			break;
		free(log);
		last = NULL;
		sleep_ms(5);
	}
	line = line_at(log, last);
	free(log);
	if (!line)
		return -ENOMEM;
	ret = kv_u64(line, key, out);
	free(line);
	return ret;
}

char *rl_log_trouble(struct rl_proc *p)
{
	static const char *const bad[] = {
		"ERROR:", "AddressSanitizer", "LeakSanitizer",
		"runtime error", "Segmentation fault",
	};
	char *log = rl_log(p), *at, *line = NULL;
	size_t i;

	if (!log)
		return NULL;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]) && !line; i++) {
		at = strstr(log, bad[i]);
		if (at)
			line = line_at(log, at);
	}
	free(log);
	return line;
}

int rl_http_get(uint16_t port, const char *path, char *body, size_t size,
		int timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;
	size_t len = 0, cap = 1 << 20;
	char req[1024], *buf, *hdr, *cl;
	int fd, status = -EPROTO;
	long clen = -1;
	ssize_t n;

	fd = tcp_connect(AF_INET, port);
	if (fd < 0)
		return fd;
	n = snprintf(req, sizeof(req),
		     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
		     path);
	if (n >= (ssize_t)sizeof(req) || write(fd, req, n) != n) {
		close(fd);
		return -EIO;
	}
	buf = malloc(cap);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = (int64_t)(end - now_ms());

		if (left <= 0 || len == cap - 1) {
			status = -ETIMEDOUT;
			goto out;
		}
		if (poll(&pfd, 1, left) <= 0)
			continue;
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	hdr = strstr(buf, "\r\n\r\n");
	if (!hdr || sscanf(buf, "HTTP/1.%*d %d", &status) != 1) {
		status = -EPROTO;
		goto out;
	}
	/* a body shorter or longer than the header says is an error */
	cl = strcasestr(buf, "Content-Length:");
	if (cl && cl < hdr)
		clen = strtol(cl + 15, NULL, 10);
	hdr += 4;
	if (clen >= 0 && clen != (long)(len - (hdr - buf)))
		status = -EMSGSIZE;
	snprintf(body, size, "%s", hdr);
out:
	free(buf);
	close(fd);
	return status;
}

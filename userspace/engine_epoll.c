// SPDX-License-Identifier: MIT
/*
 * The epoll engine: the fallback where io_uring is unavailable, and the
 * A/B baseline. Same connection model and behaviour as the uring engine;
 * sockets are edge-triggered and each side remembers whether it is
 * readable/writable, so a direction is pumped only when it can move.
 * Data moves with splice(2) through pooled pipes or with recv/send
 * through pooled buffers; idle connections hold neither.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "health.h"
#include "health_talk.h"
#include "inspect.h"
#include "log.h"
#include "worker.h"

#define EV_LISTENER	(1ULL << 63)
#define EV_WAKE		(1ULL << 62)
#define EV_HEALTH	(1ULL << 61)
/*
 * Receives (each with its sends) one direction gets per turn. Sockets are
 * edge-triggered, so a direction that still can move when its budget runs
 * out goes on the again list and is pumped after the events at hand.
 * Without a budget one fast transfer held the worker until its source ran
 * dry: under QEMU a 32 MiB stream went through whole before seven other
 * clients of the same worker had their first byte.
 */
#define PUMP_BUDGET	16

struct epoll_worker {
	int epfd;
	struct worker *w;
	bool *listening;	/* listener registered (not paused) */
	unsigned int min_connect_ms;
	int *hc_fd;		/* check socket, [be * MAX_SERVERS + srv] */
	uint64_t *hc_deadline;
	struct hc_talk **hc_talk;	/* send-expect: past its connect */
	uint64_t *again;	/* ev_pack() of directions out of budget */
	unsigned int nagain, again_cap;
	/* per side readiness, kept in conn->ev[side] */
};

#define RDY_IN	0x1
#define RDY_OUT	0x2
#define RDY_AGAIN	0x4	/* its direction is on the again list */

static uint64_t ev_pack(struct conn *c, int side)
{
	return (uint64_t)c->idx | (uint64_t)side << 24 |
	       (uint64_t)c->gen << 32;
}

/*
 * Queue direction @d for another turn, once. False when out of memory:
 * the caller then goes on pumping, unfair rather than stalled.
 */
static bool pump_later(struct epoll_worker *e, struct conn *c, int d)
{
	if (c->ev[dir_src(d)] & RDY_AGAIN)
		return true;
	if (e->nagain == e->again_cap) {
		unsigned int cap = e->again_cap ? e->again_cap * 2 : 64;
		uint64_t *a = realloc(e->again, cap * sizeof(*a));

		if (!a)
			return false;
		e->again = a;
		e->again_cap = cap;
	}
	e->again[e->nagain++] = ev_pack(c, dir_src(d));
	c->ev[dir_src(d)] |= RDY_AGAIN;
	return true;
}

static void release_dir(struct epoll_worker *e, struct dir *dir)
{
	if (dir->pipe) {
		if (dir->pipe_bytes) {
			close(dir->pipe->rd);
			close(dir->pipe->wr);
			free(dir->pipe);
		} else {
			pipe_put(e->w, dir->pipe);
		}
		dir->pipe = NULL;
		dir->pipe_bytes = 0;
	}
	if (dir->buf) {
		buf_put(e->w, dir->buf);
		dir->buf = NULL;
		dir->buf_len = dir->buf_off = 0;
	}
}

static void resume_listeners(struct epoll_worker *e);
static void inspect(struct epoll_worker *e, struct conn *c);

static void conn_end(struct epoll_worker *e, struct conn *c, const char *why)
{
	struct worker *w = e->w;
	int side;

	if (why)
		conn_set_end(c, why);
	conn_pass_reset(c, why);
	conn_unpark(w, c);
	for (side = 0; side < 2; side++) {
		if (c->fd[side] >= 0)
			close(c->fd[side]);
		c->fd[side] = -1;
	}
	release_dir(e, &c->dir[0]);
	release_dir(e, &c->dir[1]);
	conn_log_access(w, c);
	conn_server_released(w, c);
	conn_free(w, c);
	resume_listeners(e);
}

static int watch(struct epoll_worker *e, struct conn *c, int side)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		.data.u64 = ev_pack(c, side),
	};

	c->ev[side] = 0;
	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, c->fd[side], &ev))
		return -errno;
	return 0;
}

/* ---- connect ----------------------------------------------------------- */

static void connect_failed(struct epoll_worker *e, struct conn *c, int err);

static void start_connect(struct epoll_worker *e, struct conn *c)
{
	struct worker *w = e->w;
	int fd, ret;

	fd = conn_next_socket(w, c, true);
	if (fd == CONNECT_PARKED)
		return;
	if (fd < 0) {
		conn_end(e, c, NULL);
		return;
	}
	c->fd[SIDE_SERVER] = fd;
	c->state = CONN_CONNECTING;
	conn_touch(w, c);
	ret = connect(fd, (const struct sockaddr *)&c->sa->addr.ss,
		      c->sa->addr.len);
	if (ret && errno != EINPROGRESS) {
		/* refused at once (unix socket gone or full, no route) */
		connect_failed(e, c, errno);
		return;
	}
	ret = watch(e, c, SIDE_SERVER);
	if (ret)
		connect_failed(e, c, -ret);
}

static void resume_connect(struct worker *w, struct conn *c)
{
	start_connect(w->priv, c);
}

static void connect_failed(struct epoll_worker *e, struct conn *c, int err)
{
	int ret = conn_connect_failed(e->w, c, err);

	close(c->fd[SIDE_SERVER]);	/* also leaves the epoll set */
	c->fd[SIDE_SERVER] = -1;
	if (!ret)
		start_connect(e, c);
	else if (ret == CONNECT_GIVE_UP)
		conn_end(e, c, NULL);
}

static void pump(struct epoll_worker *e, struct conn *c, int d);

static void connected(struct epoll_worker *e, struct conn *c)
{
	struct worker *w = e->w;
	int err = 0;
	socklen_t len = sizeof(err);

	getsockopt(c->fd[SIDE_SERVER], SOL_SOCKET, SO_ERROR, &err, &len);
	if (err) {
		connect_failed(e, c, err);
		return;
	}
	conn_connected(w, c);
	if (conn_proxy_header(w, c)) {
		conn_end(e, c, "error");
		return;
	}
	c->state = CONN_FORWARDING;
	c->t_side[SIDE_SERVER] = w->now_ms;
	conn_touch(w, c);
	/* the client may have sent its request already */
	c->ev[SIDE_CLIENT] |= RDY_IN | RDY_OUT;
	c->ev[SIDE_SERVER] |= RDY_OUT;
	pump(e, c, DIR_UP);
	if (c->state == CONN_FORWARDING)
		pump(e, c, DIR_DOWN);
}

/* ---- forwarding ---------------------------------------------------------- */

static void dir_finish(struct epoll_worker *e, struct conn *c, int d)
{
	struct dir *dir = &c->dir[d];

	dir->flags |= DIR_DONE | DIR_EOF;
	release_dir(e, dir);
	if (c->dir[!d].flags & DIR_DONE) {
		conn_end(e, c, NULL);
		return;
	}
	shutdown(c->fd[dir_dst(d)], SHUT_WR);
}

static const char *io_error(int err, int side)
{
	if (err == ECONNRESET || err == EPIPE)
		return conn_reset_reason(side);
	return "error";
}

static bool pump_buffers(struct epoll_worker *e, struct conn *c, int d);

/* returns true when the connection ended */
static bool pump_splice(struct epoll_worker *e, struct conn *c, int d)
{
	struct worker *w = e->w;
	struct dir *dir = &c->dir[d];
	int src = dir_src(d), dst = dir_dst(d);
	int budget = PUMP_BUDGET;
	ssize_t n;

	for (;;) {
		while (dir->pipe_bytes) {
			if (!(c->ev[dst] & RDY_OUT))
				return false;
			STAT_INC(w, syscalls_io);
			n = splice(dir->pipe->rd, NULL, c->fd[dst], NULL,
				   dir->pipe_bytes,
				   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR) {
					c->ev[dst] &= ~RDY_OUT;
					return false;
				}
				conn_end(e, c, io_error(errno, dst));
				return true;
			}
			dir->pipe_bytes -= n;
			conn_tx(w, c, d, n, dir->pipe_bytes);
		}
		if (dir->flags & DIR_EOF) {
			dir_finish(e, c, d);
			return c->state == CONN_FREE;
		}
		if (!(c->ev[src] & RDY_IN)) {
			release_dir(e, dir);
			return false;
		}
		if (!budget-- && pump_later(e, c, d))
			return false;
		if (!dir->pipe) {
			/*
			 * No descriptor for a pipe: this round goes through a
			 * private buffer, which also sees an EOF; the next
			 * one tries for a pipe again (pump()).
			 */
			dir->pipe = pipe_get(w, c);
			if (!dir->pipe) {
				STAT_INC(w, reserve_copies);
				return pump_buffers(e, c, d);
			}
		}
		STAT_INC(w, syscalls_io);
		n = splice(c->fd[src], NULL, dir->pipe->wr, NULL,
			   w->cfg->pipe_size, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (n > 0) {
			dir->pipe_bytes = n;
			conn_rx(w, c, d);
		} else if (n == 0) {
			dir->flags |= DIR_EOF;
		} else if (errno == EAGAIN || errno == EINTR) {
			c->ev[src] &= ~RDY_IN;
		} else {
			conn_end(e, c, io_error(errno, src));
			return true;
		}
	}
}

static bool pump_buffers(struct epoll_worker *e, struct conn *c, int d)
{
	struct worker *w = e->w;
	struct dir *dir = &c->dir[d];
	int src = dir_src(d), dst = dir_dst(d);
	int budget = PUMP_BUDGET;
	ssize_t n;

	for (;;) {
		while (dir->buf_off < dir->buf_len) {
			if (!(c->ev[dst] & RDY_OUT))
				return false;
			STAT_INC(w, syscalls_io);
			n = send(c->fd[dst], dir->buf + dir->buf_off,
				 dir->buf_len - dir->buf_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR) {
					c->ev[dst] &= ~RDY_OUT;
					return false;
				}
				conn_end(e, c, io_error(errno, dst));
				return true;
			}
			dir->buf_off += n;
			conn_tx(w, c, d, n, dir->buf_off < dir->buf_len);
		}
		if (dir->flags & DIR_EOF) {
			dir_finish(e, c, d);
			return c->state == CONN_FREE;
		}
		if (!(c->ev[src] & RDY_IN)) {
			release_dir(e, dir);
			return false;
		}
		if (!budget-- && pump_later(e, c, d))
			return false;
		if (!dir->buf) {
			dir->buf = buf_get(w);
			if (!dir->buf) {
				conn_end(e, c, "no-memory");
				return true;
			}
		}
		STAT_INC(w, syscalls_io);
		n = recv(c->fd[src], dir->buf, w->cfg->buf_size, MSG_DONTWAIT);
		if (n > 0) {
			dir->buf_len = n;
			dir->buf_off = 0;
			conn_rx(w, c, d);
		} else if (n == 0) {
			dir->flags |= DIR_EOF;
			dir->buf_len = dir->buf_off = 0;
		} else if (errno == EAGAIN || errno == EINTR) {
			c->ev[src] &= ~RDY_IN;
			dir->buf_len = dir->buf_off = 0;
		} else {
			conn_end(e, c, io_error(errno, src));
			return true;
		}
	}
}

static void pump(struct epoll_worker *e, struct conn *c, int d)
{
	if (c->dir[d].flags & DIR_DONE)
		return;
	/* a private buffer with bytes in it goes first, in order */
	if (e->w->forward == FORWARD_SPLICE && !c->dir[d].buf)
		pump_splice(e, c, d);
	else
		pump_buffers(e, c, d);
}

static void on_conn_event(struct epoll_worker *e, uint64_t data,
			  uint32_t events)
{
	struct conn *c = conn_lookup(e->w, data & 0xffffff);
	int side = (data >> 24) & 1;

	if (!c || c->gen != (uint16_t)(data >> 32) || c->state == CONN_FREE)
		return;	/* stale event for a connection already ended */
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->ev[side] |= RDY_IN;
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		c->ev[side] |= RDY_OUT;

	if (c->state == CONN_INSPECT) {
		/*
		 * This event's own bits, not the sticky readiness: while a
		 * ClientHello is read, readable means more came or the
		 * client closed (inspect.c). The readiness is kept for
		 * forwarding what follows the header.
		 */
		if (side == SIDE_CLIENT &&
		    (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
			inspect(e, c);
		return;
	}
	if (c->state == CONN_WAIT)
		return;	/* the readiness is kept for when it connects */
	if (c->state == CONN_CONNECTING) {
		if (side == SIDE_SERVER && (c->ev[side] & RDY_OUT))
			connected(e, c);
		return;
	}
	/* readable side feeds its direction; writable side drains the other */
	pump(e, c, side == SIDE_CLIENT ? DIR_UP : DIR_DOWN);
	if (c->state == CONN_FORWARDING)
		pump(e, c, side == SIDE_CLIENT ? DIR_DOWN : DIR_UP);
}

/*
 * The directions that ran out of budget get their next turn, in the order
 * they ran out; those queued meanwhile wait for the next round, after the
 * next events.
 */
static void pump_again(struct epoll_worker *e)
{
	unsigned int i, n = e->nagain;

	if (!n)
		return;
	for (i = 0; i < n; i++) {
		uint64_t data = e->again[i];
		struct conn *c = conn_lookup(e->w, data & 0xffffff);
		int side = (data >> 24) & 1;

		if (!c || c->gen != (uint16_t)(data >> 32) ||
		    c->state != CONN_FORWARDING)
			continue;	/* ended meanwhile */
		c->ev[side] &= ~RDY_AGAIN;
		pump(e, c, side == SIDE_CLIENT ? DIR_UP : DIR_DOWN);
	}
	e->nagain -= n;
	memmove(e->again, e->again + n, e->nagain * sizeof(*e->again));
}

/* ---- accept ---------------------------------------------------------------- */

static void listener_set(struct epoll_worker *e, unsigned int l, bool on)
{
	struct epoll_event ev = {
		.events = EPOLLIN,
		.data.u64 = EV_LISTENER | l,
	};

	if (e->listening[l] == on || e->w->lfd[l] < 0) {
		if (e->w->lfd[l] < 0)
			e->listening[l] = false;
		return;
	}
	epoll_ctl(e->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, e->w->lfd[l],
		  &ev);
	e->listening[l] = on;
}

static void resume_listeners(struct epoll_worker *e)
{
	unsigned int l;

	if (e->w->now_ms < e->w->accept_pause_until)
		return;
	for (l = 0; l < e->w->cfg->nsocks; l++)
		if (worker_can_accept(e->w, l))
			listener_set(e, l, true);
}

static void pause_listeners(struct epoll_worker *e)
{
	unsigned int l;

	for (l = 0; l < e->w->cfg->nsocks; l++)
		listener_set(e, l, false);
}

/* the client is readable while its PROXY header is awaited */
static void inspect(struct epoll_worker *e, struct conn *c)
{
	int ret = conn_inspect(e->w, c);

	if (ret < 0)
		conn_end(e, c, NULL);
	else if (ret > 0)
		start_connect(e, c);
}

static void on_accept(struct epoll_worker *e, unsigned int l)
{
	struct worker *w = e->w;
	struct sockaddr_storage ss;
	socklen_t len;
	struct conn *c;
	int fd, err;

	while (worker_can_accept(w, l)) {
		len = sizeof(ss);
		worker_reserve(w, l);
		fd = accept4(w->lfd[l], (struct sockaddr *)&ss, &len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			worker_unreserve(w, l);
			if (errno == EAGAIN || errno == EINTR ||
			    errno == ECONNABORTED)
				return;
			STAT_INC(w, accept_errors);
			if (worker_accept_starved(w, l, -errno))
				pause_listeners(e);
			return;
		}
		c = conn_alloc(w, l);
		if (!c) {
			worker_unreserve(w, l);
			close(fd);
			return;
		}
		c->fd[SIDE_CLIENT] = fd;
		memcpy(&c->client, &ss, sizeof(ss));
		c->client_len = len;
		if (conn_wants_inspect(w, c)) {
			/* admitted once the header says who the client is */
			if (conn_inspect_start(w, c) ||
			    watch(e, c, SIDE_CLIENT)) {
				conn_end(e, c, "error");
				continue;
			}
			inspect(e, c);
			continue;
		}
		err = conn_admit(w, c);
		if (err) {
			conn_end(e, c, conn_admit_end(err));
			continue;
		}
		if (watch(e, c, SIDE_CLIENT)) {
			conn_end(e, c, "error");
			continue;
		}
		start_connect(e, c);
	}
	/* at capacity: leave newcomers in the backlog until a slot frees */
	listener_set(e, l, false);
}

/* ---- health checks ---------------------------------------------------------- */

static int health_start(struct worker *w, unsigned int b, unsigned int s)
{
	struct epoll_worker *e = w->priv;
	struct backend *be = &w->cfg->backends[b];
	struct server *srv = &be->servers[s];
	const struct srv_addr *sa = srv_at(srv);
	unsigned int i = b * MAX_SERVERS + s;
	struct epoll_event ev;
	int fd;

	if (e->hc_fd[i] >= 0)
		return 0;	/* the previous check is still running */
	fd = socket(sa->check.ss.ss_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&sa->check.ss,
		    sa->check.len) && errno != EINPROGRESS) {
		health_result(w, be, srv, false, strerror(errno));
		close(fd);
		return 0;
	}
	ev.events = EPOLLOUT;
	ev.data.u64 = EV_HEALTH | HC_IDX(b, s);
	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		close(fd);
		return -errno;
	}
	e->hc_fd[i] = fd;
	e->hc_deadline[i] = w->now_ms + be->health_timeout_ms;
	return 0;
}

static void health_finish(struct epoll_worker *e, unsigned int idx, bool ok,
			  const char *why)
{
	struct backend *be = &e->w->cfg->backends[HC_BE(idx)];
	unsigned int i = HC_BE(idx) * MAX_SERVERS + HC_SRV(idx);

	close(e->hc_fd[i]);
	e->hc_fd[i] = -1;
	health_result(e->w, be, &be->servers[HC_SRV(idx)], ok, why);
	hc_talk_free(&e->hc_talk[i]);
}

static void health_done(struct epoll_worker *e, unsigned int idx, int err)
{
	unsigned int i = HC_BE(idx) * MAX_SERVERS + HC_SRV(idx);

	health_finish(e, idx, !err, err != ETIMEDOUT ? strerror(err) :
		      e->hc_talk[i] ? "timed out waiting for the answer" :
		      "timed out");
}

/* connected (or not), then, for send-expect, readable */
static void on_health(struct epoll_worker *e, unsigned int idx)
{
	unsigned int i = HC_BE(idx) * MAX_SERVERS + HC_SRV(idx);
	struct backend *be = &e->w->cfg->backends[HC_BE(idx)];
	struct epoll_event ev;
	socklen_t len = sizeof(int);
	const char *why = NULL;
	int err = 0, ret;

	if (e->hc_fd[i] < 0)
		return;
	if (!e->hc_talk[i]) {
		getsockopt(e->hc_fd[i], SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			health_done(e, idx, err);
			return;
		}
	}
	ret = hc_talk_step(be, e->hc_fd[i], &e->hc_talk[i], &why);
	if (ret <= 0) {
		health_finish(e, idx, !ret, why);
		return;
	}
	ev.events = EPOLLIN | EPOLLRDHUP;
	ev.data.u64 = EV_HEALTH | idx;
	if (epoll_ctl(e->epfd, EPOLL_CTL_MOD, e->hc_fd[i], &ev))
		health_finish(e, idx, false, strerror(errno));
}

static void health_expire(struct epoll_worker *e)
{
	unsigned int b, s;

	for (b = 0; b < e->w->cfg->nbackends; b++)
		for (s = 0; s < e->w->cfg->backends[b].nservers; s++) {
			unsigned int i = b * MAX_SERVERS + s;

			if (e->hc_fd[i] >= 0 &&
			    e->w->now_ms >= e->hc_deadline[i])
				health_done(e, HC_IDX(b, s), ETIMEDOUT);
		}
}

/* ---- timers ------------------------------------------------------------------ */

static void expire(struct worker *w, struct conn *c, const char *why)
{
	conn_end(w->priv, c, why);
}

static void on_tick(struct epoll_worker *e)
{
	struct worker *w = e->w;
	struct conn *c, *next;

	/* LRU order: everything past the first fresh entry is fresher */
	for (c = w->lru.lru_next; c != &w->lru; c = next) {
		uint64_t age = w->now_ms - c->t_last;

		next = c->lru_next;
		if (age < e->min_connect_ms)
			break;
		/* connect_failed() moves it to the LRU's tail, or ends it */
		if (c->state == CONN_CONNECTING &&
		    age >= (uint64_t)conn_backend(w, c)->connect_timeout_ms)
			connect_failed(e, c, ETIMEDOUT);
	}
	worker_tick(w, expire, resume_connect);
	if (w->health) {
		health_expire(e);
		health_tick(w, health_start);
	}
	if (w->draining && w->now_ms >= w->drain_deadline && w->active) {
		pr_warn("worker %u: drain grace over, closing %u connections",
			w->id, w->active);
		for (c = w->lru.lru_next; c != &w->lru; c = next) {
			next = c->lru_next;
			conn_end(e, c, "drain");
		}
	}
	resume_listeners(e);
}

static void start_drain(struct epoll_worker *e)
{
	struct worker *w = e->w;

	if (!worker_start_drain(w))
		return;
	pause_listeners(e);
	worker_close_listeners(w);
	if (w->active)
		pr_info("worker %u: draining %u connections", w->id, w->active);
}

/* ---- loop ------------------------------------------------------------------------ */

static int epoll_run(struct worker *w)
{
	struct epoll_worker e = { .w = w };
	struct epoll_event evs[256], ev;
	uint64_t next_tick;
	int ret = 0, n, i, tick_ms = 100;

	e.min_connect_ms = ~0u;
	for (i = 0; i < (int)w->cfg->nbackends; i++) {
		const struct backend *be = &w->cfg->backends[i];

		if ((unsigned int)be->connect_timeout_ms < e.min_connect_ms)
			e.min_connect_ms = be->connect_timeout_ms;
		if (be->health != HEALTH_NONE &&
		    be->health_interval_ms / 4 < tick_ms)
			tick_ms = be->health_interval_ms / 4 ? : 1;
	}
	if (e.min_connect_ms / 4 < (unsigned int)tick_ms)
		tick_ms = e.min_connect_ms / 4 ? : 1;
	if (w->min_timeout_ms && w->min_timeout_ms / 8 < (unsigned int)tick_ms)
		tick_ms = w->min_timeout_ms / 8 ? : 1;

	e.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (e.epfd < 0)
		return -errno;
	e.listening = calloc(w->cfg->nsocks, sizeof(*e.listening));
	e.hc_fd = malloc(w->cfg->nbackends * MAX_SERVERS * sizeof(*e.hc_fd));
	e.hc_deadline = calloc(w->cfg->nbackends * MAX_SERVERS,
			       sizeof(*e.hc_deadline));
	e.hc_talk = calloc(w->cfg->nbackends * MAX_SERVERS,
			   sizeof(*e.hc_talk));
	if (!e.listening || !e.hc_fd || !e.hc_deadline || !e.hc_talk) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < (int)(w->cfg->nbackends * MAX_SERVERS); i++)
		e.hc_fd[i] = -1;
	w->priv = &e;
	ev.events = EPOLLIN;
	ev.data.u64 = EV_WAKE;
	epoll_ctl(e.epfd, EPOLL_CTL_ADD, w->wake_fd, &ev);
	w->now_ms = clock_ms();
	resume_listeners(&e);
	next_tick = w->now_ms + tick_ms;
	if (atomic_load(&w->stop))
		start_drain(&e);

	while (!(w->draining && !w->active)) {
		int timeout = next_tick > w->now_ms && !e.nagain ?
			      (int)(next_tick - w->now_ms) : 0;

		n = epoll_wait(e.epfd, evs, 256, timeout);
		STAT_INC(w, epoll_waits);
		w->now_ms = clock_ms();
		if (n < 0 && errno != EINTR) {
			ret = -errno;
			pr_err("worker %u: epoll_wait: %s", w->id,
			       strerror(errno));
			break;
		}
		for (i = 0; i < n; i++) {
			uint64_t data = evs[i].data.u64;

			if (data == EV_WAKE) {
				uint64_t v;

				if (read(w->wake_fd, &v, sizeof(v)) < 0)
					v = 0;
				worker_serve_request(w);
				if (atomic_load(&w->stop))
					start_drain(&e);
			} else if (data & EV_LISTENER) {
				on_accept(&e, data & 0xffff);
			} else if (data & EV_HEALTH) {
				on_health(&e, data & 0xffffff);
			} else {
				on_conn_event(&e, data, evs[i].events);
			}
		}
		pump_again(&e);
		if (w->now_ms >= next_tick) {
			on_tick(&e);
			next_tick = w->now_ms + tick_ms;
		}
	}
out:
	w->priv = NULL;
	if (e.hc_fd)
		for (i = 0; i < (int)(w->cfg->nbackends * MAX_SERVERS); i++)
			if (e.hc_fd[i] >= 0)
				close(e.hc_fd[i]);
	if (e.hc_talk)
		for (i = 0; i < (int)(w->cfg->nbackends * MAX_SERVERS); i++)
			hc_talk_free(&e.hc_talk[i]);
	free(e.hc_talk);
	free(e.hc_fd);
	free(e.hc_deadline);
	free(e.again);
	free(e.listening);
	close(e.epfd);
	return ret;
}

const struct engine engine_epoll = {
	.name = "epoll",
	.run = epoll_run,
};

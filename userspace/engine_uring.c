// SPDX-License-Identifier: MIT
/*
 * The io_uring engine: one ring per worker thread, created by that thread
 * (SINGLE_ISSUER), one io_uring_enter per loop iteration that both
 * submits everything the previous batch of CQEs produced and waits for
 * the next batch.
 */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "health.h"
#include "health_talk.h"
#include "inspect.h"
#include "log.h"
#include "uring.h"

int uring_ring_init(struct io_uring *ring, unsigned int entries,
		    unsigned int flags_mask);

/* ---- accept ------------------------------------------------------------ */

static void arm_accepts(struct uring_worker *u)
{
	struct worker *w = u->w;
	unsigned int l, s;

	if (w->now_ms < w->accept_pause_until)
		return;
	for (l = 0; l < w->cfg->nsocks; l++) {
		/*
		 * PROXY protocol needs the destination address, which only
		 * getsockname() on a real fd gives, and a header received
		 * is peeked with recv(2): no direct descriptors.
		 */
		bool direct = u->fixed_files &&
			      !w->cfg->socks[l].ln->proxy_protocol &&
			      !w->cfg->socks[l].ln->accept_proxy;

		for (s = 0; s < ACCEPT_BATCH && worker_can_accept(w, l); s++) {
			struct accept_slot *slot = &u->acc[l][s];
			struct io_uring_sqe *sqe;

			if (slot->busy)
				continue;
			slot->busy = true;
			slot->direct = direct;
			slot->len = sizeof(slot->ss);
			sqe = uring_sqe(u, 1);
			/*
			 * One single-shot accept per slot rather than one
			 * multishot accept: a multishot accept writes every
			 * peer address into the same buffer, so a batch of
			 * CQEs would all show the last client's address.
			 * ACCEPT_BATCH slots per listener give the same
			 * batching with an address per connection.
			 */
			if (direct)
				io_uring_prep_accept_direct(sqe, w->lfd[l],
					(struct sockaddr *)&slot->ss,
					&slot->len, SOCK_NONBLOCK,
					/* liburing 2.3 adds 1 to the index */
					IORING_FILE_INDEX_ALLOC - 1);
			else
				io_uring_prep_accept(sqe, w->lfd[l],
					(struct sockaddr *)&slot->ss,
					&slot->len,
					SOCK_NONBLOCK | SOCK_CLOEXEC);
			io_uring_sqe_set_data64(sqe,
				ud_pack(UD_ACCEPT, direct, l, s, 0));
			u->acc_armed[l]++;
			worker_reserve(w, l);
		}
	}
}

static void cancel_accepts(struct uring_worker *u)
{
	struct worker *w = u->w;
	unsigned int l, s;

	for (l = 0; l < w->cfg->nsocks; l++) {
		for (s = 0; s < ACCEPT_BATCH; s++) {
			struct io_uring_sqe *sqe;

			if (!u->acc[l][s].busy)
				continue;
			sqe = uring_sqe(u, 1);
			/* the same user_data the accept was queued with */
			io_uring_prep_cancel64(sqe,
				ud_pack(UD_ACCEPT, u->acc[l][s].direct, l, s,
					0), 0);
			io_uring_sqe_set_data64(sqe, ud_pack(UD_NONE, 0, 0, 0, 0));
		}
	}
}

static void start_connect(struct uring_worker *u, struct conn *c);
static void inspect(struct uring_worker *u, struct conn *c);

static void on_accept(struct uring_worker *u, struct io_uring_cqe *cqe)
{
	struct worker *w = u->w;
	unsigned int l = ud_idx(cqe->user_data), s = ud_aux(cqe->user_data);
	struct accept_slot *slot = &u->acc[l][s];
	bool direct = ud_dir(cqe->user_data);
	struct conn *c;
	int res = cqe->res, err;

	slot->busy = false;
	u->acc_armed[l]--;

	if (res < 0) {
		worker_unreserve(w, l);
		if (res == -ECANCELED || res == -EINVAL || res == -EBADF)
			return;	/* listener going away */
		STAT_INC(w, accept_errors);
		worker_accept_starved(w, l, res);
		return;
	}

	c = conn_alloc(w, l);
	if (!c) {
		/* table full: should not happen under capacity; shed */
		worker_unreserve(w, l);
		if (direct) {
			struct io_uring_sqe *sqe = uring_sqe(u, 2);

			/* see uring_conn_close(): close alone may not end it */
			io_uring_prep_shutdown(sqe, res, SHUT_RDWR);
			sqe->flags |= IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK;
			io_uring_sqe_set_data64(sqe, ud_pack(UD_NONE, 0, 0, 0, 0));
			sqe = uring_sqe_next(u);
			io_uring_prep_close_direct(sqe, res);
			io_uring_sqe_set_data64(sqe, ud_pack(UD_NONE, 0, 0, 0, 0));
		} else {
			close(res);
		}
		return;
	}
	c->fd[SIDE_CLIENT] = res;
	c->fixed[SIDE_CLIENT] = direct;
	memcpy(&c->client, &slot->ss, sizeof(c->client));
	c->client_len = slot->len;
	if (conn_wants_inspect(w, c)) {
		/* admitted once the header says who the client is */
		if (conn_inspect_start(w, c))
			uring_conn_close(u, c, "error");
		else
			inspect(u, c);
		return;
	}
	err = conn_admit(w, c);
	if (err) {
		uring_conn_close(u, c, conn_admit_end(err));
		return;
	}
	start_connect(u, c);
}

/*
 * accept-proxy: read what the header has sent so far (inspect.c), and
 * while it is not whole wait for the client to be readable again. The
 * deadline is the tick's (worker_expire()).
 */
static void inspect(struct uring_worker *u, struct conn *c)
{
	struct io_uring_sqe *sqe;
	int ret = conn_inspect(u->w, c);

	if (ret < 0) {
		uring_conn_close(u, c, NULL);
		return;
	}
	if (ret > 0) {
		start_connect(u, c);
		return;
	}
	sqe = uring_sqe(u, 1);
	io_uring_prep_poll_add(sqe, c->fd[SIDE_CLIENT], POLLIN);
	uring_sqe_ud(sqe, c, UD_INSPECT, 0, 0);
}

/* ---- connect ----------------------------------------------------------- */

/*
 * Close a plain descriptor with an SQE. Where the kernel can skip the
 * completion of a success (5.17), there is none to wait for: the close
 * names no connection (a failure's CQE is ignored), so the connection
 * need not outlive it, and a close runs at once when it is submitted,
 * before any later SQE could be handed the same number.
 */
static void close_fd(struct uring_worker *u, struct conn *c, int side)
{
	struct io_uring_sqe *sqe = uring_sqe(u, 1);

	if (c->fixed[side]) {
		io_uring_prep_close_direct(sqe, c->fd[side]);
		uring_sqe_ud(sqe, c, UD_CLOSE, 0, 0);
	} else if (uring_caps.cqe_skip) {
		io_uring_prep_close(sqe, c->fd[side]);
		sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
		io_uring_sqe_set_data64(sqe, ud_pack(UD_NONE, 0, 0, 0, 0));
	} else {
		io_uring_prep_close(sqe, c->fd[side]);
		uring_sqe_ud(sqe, c, UD_CLOSE, 0, 0);
	}
	c->fd[side] = -1;
}

static void close_server_fd(struct uring_worker *u, struct conn *c)
{
	if (c->fd[SIDE_SERVER] >= 0)
		close_fd(u, c, SIDE_SERVER);
}

static void start_connect(struct uring_worker *u, struct conn *c)
{
	struct worker *w = u->w;
	struct io_uring_sqe *sqe;
	int fd;

	fd = conn_next_socket(w, c, true);
	if (fd == CONNECT_PARKED)
		return;
	if (fd < 0) {
		uring_conn_close(u, c, NULL);
		return;
	}
	c->fd[SIDE_SERVER] = fd;
	c->fixed[SIDE_SERVER] = false;
	c->state = CONN_CONNECTING;
	/* its connect timeout runs from here: see connect_timeouts() */
	conn_touch(w, c);

	sqe = uring_sqe(u, 1);
	io_uring_prep_connect(sqe, fd, (const struct sockaddr *)&c->sa->addr.ss,
			      c->sa->addr.len);
	uring_sqe_ud(sqe, c, UD_CONNECT, 0, 0);
}

/*
 * Connect timeouts come from the tick, not from a linked timeout per
 * connect: that was a timer armed and disarmed, and a CQE, for every
 * connection, to catch the few that hang. A connect older than its
 * backend's timeout is cancelled; it completes with -ECANCELED, which
 * on_connect() takes for ETIMEDOUT. The LRU is ordered by last
 * activity, and a connect touches it, so the walk stops at the first
 * connection younger than the shortest timeout.
 */
static void connect_timeouts(struct uring_worker *u)
{
	struct worker *w = u->w;
	struct conn *c, *next;

	for (c = w->lru.lru_next; c != &w->lru; c = next) {
		uint64_t age = w->now_ms - c->t_last;
		struct io_uring_sqe *sqe;

		next = c->lru_next;
		if (age < u->min_connect_ms)
			break;
		if (c->state != CONN_CONNECTING ||
		    age < (uint64_t)conn_backend(w, c)->connect_timeout_ms)
			continue;
		sqe = uring_sqe(u, 1);
		io_uring_prep_cancel64(sqe, ud_pack(UD_CONNECT, 0, c->idx, 0,
						    c->gen), 0);
		io_uring_sqe_set_data64(sqe, ud_pack(UD_NONE, 0, 0, 0, 0));
		/* once: the next look is a timeout later */
		conn_touch(w, c);
	}
}

static void resume_connect(struct worker *w, struct conn *c)
{
	start_connect(w->priv, c);
}

static void on_connect(struct uring_worker *u, struct conn *c, int res)
{
	struct worker *w = u->w;
	int d, ret;

	if (c->state != CONN_CONNECTING)
		return;
	if (res < 0) {
		/* -ECANCELED: connect_timeouts() gave up on it */
		ret = conn_connect_failed(w, c, res == -ECANCELED ?
					  ETIMEDOUT : -res);
		close_server_fd(u, c);
		if (!ret)
			start_connect(u, c);
		else if (ret == CONNECT_GIVE_UP)
			uring_conn_close(u, c, NULL);
		return;
	}
	conn_connected(w, c);
	if (conn_proxy_header(w, c)) {
		uring_conn_close(u, c, "error");
		return;
	}
	c->state = CONN_FORWARDING;
	c->t_side[SIDE_SERVER] = w->now_ms;
	conn_touch(w, c);
	for (d = 0; d < 2; d++) {
		if (dir_spliced(u, c, d))
			splice_start(u, c, d);
		else
			buffers_start(u, c, d);
	}
}

/* ---- ending ------------------------------------------------------------ */

/* EOF went through: shut the destination's write side (half-close). */
void uring_dir_finish(struct uring_worker *u, struct conn *c, int d)
{
	struct dir *dir = &c->dir[d];
	int dst = dir_dst(d);
	struct io_uring_sqe *sqe;

	if (dir->flags & DIR_DONE)
		return;
	dir->flags |= DIR_DONE | DIR_EOF;
	if (c->dir[!d].flags & DIR_DONE) {
		uring_conn_close(u, c, NULL);
		return;
	}
	/*
	 * IORING_OP_SHUTDOWN always goes to io-wq (and, on a direct
	 * descriptor, takes the ring's lock there): a plain descriptor is
	 * cheaper to shut down with the syscall, at once.
	 */
	if (!c->fixed[dst]) {
		shutdown(c->fd[dst], SHUT_WR);
	} else if (uring_caps.shutdown) {
		sqe = uring_sqe(u, 1);
		io_uring_prep_shutdown(sqe, c->fd[dst], SHUT_WR);
		uring_sqe_fd(u, sqe, c, dst);
		uring_sqe_ud(sqe, c, UD_SHUTDOWN, d, 0);
	}
}

static void conn_reap(struct uring_worker *u, struct conn *c);

/*
 * End a connection: cancel whatever is still in flight on its sockets.
 * The sockets themselves are closed only once nothing refers to them any
 * more (conn_reap), because a queued splice resolves its input fd late
 * and must never find a reused descriptor number.
 *
 * A direct descriptor is shut down first. Closing its slot does not end
 * the connection by itself: older kernels (6.1 among them; per-file
 * resource nodes came in 6.13) put a removed fixed file only once every
 * request issued with fixed files before the removal has completed, in
 * order, so one idle or stalled connection
 * elsewhere on the ring (a pending recv, a send to a client that never
 * reads) keeps every later-closed client socket open, with no FIN, for
 * as long as it lasts - up to ring teardown, which is itself
 * asynchronous after exit. shutdown() acts on the socket at once: the
 * peer sees its FIN now, and the requests pending on the socket wake.
 * The cancel is hard-linked behind it so that it cannot cancel the
 * shutdown, which the kernel always runs from io-wq.
 */
void uring_conn_close(struct uring_worker *u, struct conn *c, const char *why)
{
	int side;

	if (c->state == CONN_CLOSING)
		return;
	if (why)
		conn_set_end(c, why);
	conn_unpark(u->w, c);
	c->state = CONN_CLOSING;
	conn_pass_reset(c, why);
	for (side = 0; side < 2; side++) {
		struct io_uring_sqe *sqe;

		if (c->fd[side] < 0)
			continue;
		/*
		 * Nothing in flight (both directions ended with EOF, the
		 * usual end): no request to cancel, and a cancel by fd is
		 * not free, it walks the poll table and io-wq. Since 6.13 a
		 * direct descriptor's close ends the socket at once, so the
		 * shutdown below is needed only before.
		 */
		if (!c->inflight &&
		    (!c->fixed[side] || uring_caps.kver >= KVER(6, 13)))
			continue;
		if (uring_caps.cancel_fd) {
			if (c->fixed[side] && uring_caps.shutdown) {
				sqe = uring_sqe(u, 2);
				io_uring_prep_shutdown(sqe, c->fd[side],
						       SHUT_RDWR);
				sqe->flags |= IOSQE_FIXED_FILE |
					      IOSQE_IO_HARDLINK;
				uring_sqe_ud(sqe, c, UD_SHUTDOWN, 0, 0);
				sqe = uring_sqe_next(u);
			} else {
				sqe = uring_sqe(u, 1);
			}
			io_uring_prep_cancel_fd(sqe, c->fd[side],
				IORING_ASYNC_CANCEL_ALL |
				(c->fixed[side] ?
				 IORING_ASYNC_CANCEL_FD_FIXED : 0));
			uring_sqe_ud(sqe, c, UD_CANCEL, 0, 0);
		} else if (!c->fixed[side]) {
			/* wakes every request pending on the socket */
			shutdown(c->fd[side], SHUT_RDWR);
		}
	}
	/* no CQE is coming to reap it: close the sockets now */
	if (!c->inflight && (c->fd[0] >= 0 || c->fd[1] >= 0))
		conn_reap(u, c);
}

/* Nothing in flight names @c any more: close its fds, then free it. */
static void conn_reap(struct uring_worker *u, struct conn *c)
{
	struct worker *w = u->w;
	int side;

	if (!c->closing_fds) {
		c->closing_fds = 1;
		splice_release(u, c);
		if (u->bufs)
			buffers_release(u, c);
		copy_release(u, c);
		for (side = 0; side < 2; side++)
			if (c->fd[side] >= 0)
				close_fd(u, c, side);
		if (c->inflight)
			return;
	}
	conn_log_access(w, c);
	conn_server_released(w, c);
	STAT_ADD(w, bytes_up, 0);
	conn_free(w, c);
}

/* ---- health checks --------------------------------------------------------- */

static int health_start(struct worker *w, unsigned int b, unsigned int s)
{
	struct uring_worker *u = w->priv;
	struct server *srv = &w->cfg->backends[b].servers[s];
	const struct srv_addr *sa = srv_at(srv);
	int *fdp = &u->hc_fd[b * MAX_SERVERS + s];
	struct io_uring_sqe *sqe;
	int fd;

	if (*fdp >= 0)
		return 0;	/* the previous check is still running */
	fd = socket(sa->check.ss.ss_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	*fdp = fd;
	sqe = uring_sqe(u, 2);
	io_uring_prep_connect(sqe, fd,
			      (const struct sockaddr *)&sa->check.ss,
			      sa->check.len);
	sqe->flags |= IOSQE_IO_LINK;
	io_uring_sqe_set_data64(sqe, ud_pack(UD_HEALTH, 0, HC_IDX(b, s), 0, 0));
	sqe = uring_sqe_next(u);
	io_uring_prep_link_timeout(sqe, &u->hc_ts[b], 0);
	io_uring_sqe_set_data64(sqe, ud_pack(UD_HEALTH_TIMEOUT, 0, 0, 0, 0));
	return 0;
}

static void health_finish(struct uring_worker *u, unsigned int i, bool ok,
			  const char *why)
{
	struct backend *be = &u->w->cfg->backends[HC_BE(i)];
	unsigned int k = HC_BE(i) * MAX_SERVERS + HC_SRV(i);

	close(u->hc_fd[k]);
	u->hc_fd[k] = -1;
	health_result(u->w, be, &be->servers[HC_SRV(i)], ok, why);
	hc_talk_free(&u->hc_talk[k]);
}

/*
 * The check's connect completed (UD_HEALTH), or for send-expect its
 * answer became readable (UD_HEALTH_IN): each wait is a poll linked
 * to a timeout of health-timeout.
 */
static void on_health(struct uring_worker *u, struct io_uring_cqe *cqe)
{
	unsigned int i = ud_idx(cqe->user_data);
	unsigned int k = HC_BE(i) * MAX_SERVERS + HC_SRV(i);
	struct backend *be = &u->w->cfg->backends[HC_BE(i)];
	struct io_uring_sqe *sqe;
	const char *why = NULL;
	int ret;

	if (cqe->res < 0) {
		health_finish(u, i, false, cqe->res != -ECANCELED ?
			      strerror(-cqe->res) : u->hc_talk[k] ?
			      "timed out waiting for the answer" :
			      "timed out");
		return;
	}
	ret = hc_talk_step(be, u->hc_fd[k], &u->hc_talk[k], &why);
	if (ret <= 0) {
		health_finish(u, i, !ret, why);
		return;
	}
	sqe = uring_sqe(u, 2);
	io_uring_prep_poll_add(sqe, u->hc_fd[k], POLLIN | POLLRDHUP);
	sqe->flags |= IOSQE_IO_LINK;
	io_uring_sqe_set_data64(sqe, ud_pack(UD_HEALTH_IN, 0, i, 0, 0));
	sqe = uring_sqe_next(u);
	io_uring_prep_link_timeout(sqe, &u->hc_ts[HC_BE(i)], 0);
	io_uring_sqe_set_data64(sqe, ud_pack(UD_HEALTH_TIMEOUT, 0, 0, 0, 0));
}

/* ---- timers and wake-ups ------------------------------------------------ */

static void arm_tick(struct uring_worker *u)
{
	struct io_uring_sqe *sqe = uring_sqe(u, 1);

	io_uring_prep_timeout(sqe, &u->tick_ts, 0, 0);
	io_uring_sqe_set_data64(sqe, ud_pack(UD_TICK, 0, 0, 0, 0));
}

static void arm_wake(struct uring_worker *u)
{
	struct io_uring_sqe *sqe = uring_sqe(u, 1);

	io_uring_prep_read(sqe, u->w->wake_fd, &u->wake_val,
			   sizeof(u->wake_val), 0);
	io_uring_sqe_set_data64(sqe, ud_pack(UD_WAKE, 0, 0, 0, 0));
}

static void close_all(struct uring_worker *u, const char *why)
{
	struct worker *w = u->w;
	struct conn *c, *next;

	for (c = w->lru.lru_next; c != &w->lru; c = next) {
		next = c->lru_next;
		uring_conn_close(u, c, why);
		if (!c->inflight)
			conn_reap(u, c);
	}
}

static void expire(struct worker *w, struct conn *c, const char *why)
{
	uring_conn_close(w->priv, c, why);
}

static void on_tick(struct uring_worker *u)
{
	struct worker *w = u->w;

	connect_timeouts(u);
	worker_tick(w, expire, resume_connect);
	if (w->health)
		health_tick(w, health_start);
	if (w->draining && w->now_ms >= w->drain_deadline && w->active) {
		pr_warn("worker %u: drain grace over, closing %u connections",
			w->id, w->active);
		close_all(u, "drain");
	}
	arm_tick(u);
}

static void start_drain(struct uring_worker *u)
{
	struct worker *w = u->w;

	if (!worker_start_drain(w))
		return;
	cancel_accepts(u);
	worker_close_listeners(w);
	if (w->active)
		pr_info("worker %u: draining %u connections", w->id, w->active);
}

static void on_wake(struct uring_worker *u, int res)
{
	(void)res;
	worker_serve_request(u->w);
	if (atomic_load(&u->w->stop))
		start_drain(u);
	arm_wake(u);
}

/* ---- dispatch ------------------------------------------------------------ */

static void handle_cqe(struct uring_worker *u, struct io_uring_cqe *cqe)
{
	struct worker *w = u->w;
	uint64_t ud = cqe->user_data;
	enum ud_op op = ud_op(ud);
	struct conn *c;

	switch (op) {
	case UD_NONE:
		return;
	case UD_ACCEPT:
		on_accept(u, cqe);
		return;
	case UD_TICK:
		on_tick(u);
		return;
	case UD_WAKE:
		on_wake(u, cqe->res);
		return;
	case UD_HEALTH:
	case UD_HEALTH_IN:
		on_health(u, cqe);
		return;
	case UD_HEALTH_TIMEOUT:
		return;
	default:
		break;
	}

	c = conn_lookup(w, ud_idx(ud));
	assert(c && c->gen == ud_gen(ud) && c->state != CONN_FREE);
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		assert(c->inflight > 0);
		c->inflight--;
	}

	switch (op) {
	case UD_CONNECT:
		on_connect(u, c, cqe->res);
		break;
	case UD_POLL_IN:
	case UD_POLL_OUT:
	case UD_SPLICE_IN:
	case UD_SPLICE_OUT:
	case UD_PUMP:
		splice_cqe(u, c, op, ud_dir(ud), cqe);
		break;
	case UD_RECV:
	case UD_SEND:
		buffers_cqe(u, c, op, ud_dir(ud), cqe);
		break;
	case UD_COPY_IN:
	case UD_COPY_OUT:
		copy_cqe(u, c, op, ud_dir(ud), cqe);
		break;
	case UD_INSPECT:
		if (c->state == CONN_INSPECT)
			inspect(u, c);
		break;
	case UD_SHUTDOWN:
		/* the peer may already be gone; the other direction decides */
		break;
	case UD_CLOSE:
	case UD_CANCEL:
	default:
		break;
	}

	if (c->state == CONN_CLOSING && !c->inflight)
		conn_reap(u, c);
}

/* ---- setup and loop ------------------------------------------------------ */

static int uring_worker_init(struct uring_worker *u, struct worker *w)
{
	const struct config *cfg = w->cfg;
	struct rlimit rl;
	unsigned int l;
	int ret;

	memset(u, 0, sizeof(*u));
	u->w = w;
	ret = uring_ring_init(&u->ring, cfg->ring_entries, ~0u);
	if (ret) {
		pr_err("worker %u: io_uring setup: %s", w->id, strerror(-ret));
		return ret;
	}
	/* saves the fd lookup on every io_uring_enter */
	if (uring_caps.ring_fd)
		u->ring_fd_registered = io_uring_register_ring_fd(&u->ring) == 1;

	/*
	 * Direct descriptors for clients: no fd table entry, no fget/fput
	 * per request. The table is sized like the fd limit it replaces.
	 * Off unless --direct-descriptors on: see uring.h.
	 */
	/* fixed fds need fd-based cancel to end a connection cleanly */
	if (w->cfg->direct_fds && uring_caps.accept_direct_alloc &&
	    uring_caps.cancel_fd) {
		getrlimit(RLIMIT_NOFILE, &rl);
		u->nfiles = rl.rlim_cur > 65536 ? 65536 : rl.rlim_cur;
		if (w->capacity && w->capacity + 64 < u->nfiles)
			u->nfiles = w->capacity + 64;
		ret = io_uring_register_files_sparse(&u->ring, u->nfiles);
		if (!ret)
			u->fixed_files = true;
		else
			pr_warn("worker %u: no direct descriptors: %s",
				w->id, strerror(-ret));
	}

	/* splice never blocks with SPLICE_F_NONBLOCK, but cap io-wq anyway */
	{
		unsigned int vals[2] = { 0, 16 };

		io_uring_register_iowq_max_workers(&u->ring, vals);
	}

	if (w->forward == FORWARD_BUFFERS) {
		ret = bufring_setup(u);
		if (ret) {
			pr_err("worker %u: provided buffer ring: %s",
			       w->id, strerror(-ret));
			goto out_exit;
		}
		u->bufs = true;
		/*
		 * --forward auto: request/response traffic is cheapest
		 * through buffers, bulk through splice (no copy through
		 * userspace): a direction that fills its buffers in a row
		 * goes to splice (forward_buffers.c).
		 */
		u->splice_bulk = cfg->forward == FORWARD_AUTO &&
				 uring_caps.splice;
	}

	u->acc = calloc(cfg->nsocks, sizeof(*u->acc));
	u->acc_armed = calloc(cfg->nsocks, sizeof(*u->acc_armed));
	u->hc_ts = calloc(cfg->nbackends, sizeof(*u->hc_ts));
	u->hc_fd = malloc(cfg->nbackends * MAX_SERVERS * sizeof(*u->hc_fd));
	u->hc_talk = calloc(cfg->nbackends * MAX_SERVERS, sizeof(*u->hc_talk));
	if (!u->acc || !u->acc_armed || !u->hc_ts || !u->hc_fd ||
	    !u->hc_talk) {
		ret = -ENOMEM;
		goto out_free;
	}
	for (l = 0; l < cfg->nbackends * MAX_SERVERS; l++)
		u->hc_fd[l] = -1;
	u->tick_ms = 250;
	u->min_connect_ms = ~0u;
	for (l = 0; l < cfg->nbackends; l++) {
		const struct backend *be = &cfg->backends[l];

		if ((unsigned int)be->connect_timeout_ms < u->min_connect_ms)
			u->min_connect_ms = be->connect_timeout_ms;
		u->hc_ts[l].tv_sec = be->health_timeout_ms / 1000;
		u->hc_ts[l].tv_nsec = (be->health_timeout_ms % 1000) * 1000000L;
		if (be->health != HEALTH_NONE &&
		    (unsigned int)be->health_interval_ms / 4 < u->tick_ms)
			u->tick_ms = be->health_interval_ms / 4 ? : 1;
	}
	if (w->min_timeout_ms && w->min_timeout_ms / 8 < u->tick_ms)
		u->tick_ms = w->min_timeout_ms / 8 ? : 1;
	if (u->min_connect_ms / 4 < u->tick_ms)
		u->tick_ms = u->min_connect_ms / 4 ? : 1;
	u->tick_ts.tv_sec = u->tick_ms / 1000;
	u->tick_ts.tv_nsec = (u->tick_ms % 1000) * 1000000L;
	return 0;

out_free:
	free(u->acc);
	free(u->acc_armed);
	free(u->hc_ts);
	free(u->hc_fd);
	free(u->hc_talk);
	bufring_teardown(u);
out_exit:
	io_uring_queue_exit(&u->ring);
	return ret;
}

static void uring_worker_fini(struct uring_worker *u)
{
	unsigned int i;

	bufring_teardown(u);
	io_uring_queue_exit(&u->ring);
	uring_backlog_free(u);
	for (i = 0; i < u->w->cfg->nbackends * MAX_SERVERS; i++) {
		if (u->hc_fd[i] >= 0)
			close(u->hc_fd[i]);
		hc_talk_free(&u->hc_talk[i]);
	}
	free(u->acc);
	free(u->acc_armed);
	free(u->hc_ts);
	free(u->hc_fd);
	free(u->hc_talk);
}

/*
 * Submit and wait in one io_uring_enter. A send to a socket with room
 * completes while it is submitted, and its CQE used to end the wait at
 * once: a loop that did nothing but reap those, then a second enter to
 * sleep, two per event. So the wait asks for one CQE more than the sends
 * just queued (u->expect) and sleeps until a real event. A send that
 * could not complete at once (its peer is full) would make that wait
 * for one more event than will come: a 5 ms bound covers it, armed only
 * when sends were queued. A bulk stream meets that on every turn, and
 * 5 ms a turn held one stream to 25 Mbit/s: so a direction whose send
 * outlived the enter that submitted it, or came back from a wait that
 * ended on its bound, is no longer counted (DIR_SEND_SLOW, in
 * forward_buffers.c), and costs at most one bound in its life.
 */
#define EXPECT_WAIT_US	5000

static int loop_wait(struct uring_worker *u)
{
	unsigned int expect = u->expect;
	int ret;

	u->expect = 0;
	/* without a bound (before 5.11), never wait past the first CQE */
	if (!(u->ring.features & IORING_FEAT_EXT_ARG))
		expect = 0;
	ret = uring_submit_wait(u, 1 + expect, expect ? EXPECT_WAIT_US : 0);
	u->turn++;
	/* fewer CQEs than asked for: the bound ended it (or a signal) */
	u->short_wait = expect && io_uring_cq_ready(&u->ring) < 1 + expect;
	return ret;
}

/* wait up to 10 ms for completions, submitting nothing */
static void pause_for_cqes(struct uring_worker *u)
{
	struct __kernel_timespec ts = { .tv_nsec = 10 * 1000000 };
	struct io_uring_cqe *cqe;

	io_uring_wait_cqe_timeout(&u->ring, &cqe, &ts);
}

static int uring_run(struct worker *w)
{
	struct uring_worker u;
	int ret;

	ret = uring_worker_init(&u, w);
	if (ret)
		return ret;
	w->priv = &u;
	atomic_store(&w->ring_fd, u.ring.ring_fd);
	arm_wake(&u);
	arm_tick(&u);
	if (atomic_load(&w->stop))
		start_drain(&u);

	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned int head, n = 0;

		w->now_ms = clock_ms();
		uring_backlog_flush(&u);
		arm_accepts(&u);
		if (w->draining && !w->active && !w->accepting)
			break;

		ret = loop_wait(&u);
		STAT_INC(w, uring_enter);
		if (ret == -EAGAIN || ret == -ENOMEM || ret == -EBUSY) {
			/*
			 * The kernel is short of something: the SQEs stay
			 * queued (uring_sq.c). Reap what completed and try
			 * again, after a pause when nothing did.
			 */
			STAT_INC(w, uring_submit_errors);
			if (!io_uring_cq_ready(&u.ring))
				pause_for_cqes(&u);
		} else if (ret < 0 && ret != -EINTR && ret != -ETIME) {
			pr_err("worker %u: io_uring_enter: %s", w->id,
			       strerror(-ret));
			break;
		}
		if (ret > 0)
			STAT_ADD(w, uring_sqes, ret);

		w->now_ms = clock_ms();
		io_uring_for_each_cqe(&u.ring, head, cqe) {
			handle_cqe(&u, cqe);
			n++;
		}
		io_uring_cq_advance(&u.ring, n);
		STAT_ADD(w, uring_cqes, n);
	}
	/*
	 * What the last CQEs queued goes in before the ring does: closes
	 * that wait for no completion (close_fd()) are among them, and an
	 * unsubmitted close would leave its socket open until exit.
	 */
	uring_backlog_flush(&u);
	io_uring_submit(&u.ring);
	w->priv = NULL;
	atomic_store(&w->ring_fd, -1);
	uring_worker_fini(&u);
	return ret < 0 && ret != -EINTR ? ret : 0;
}

const struct engine engine_uring = {
	.name = "uring",
	.run = uring_run,
};

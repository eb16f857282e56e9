// SPDX-License-Identifier: MIT
/*
 * What both engines share: the connection table, the idle LRU, the pipe
 * pool, listening sockets and server selection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "health.h"
#include "inspect.h"
#include "log.h"
#include "proxy.h"
#include "inherit.h"
#include "worker.h"

uint64_t clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- connection table ------------------------------------------------ */

static int conn_grow(struct worker *w)
{
	struct conn *chunk;
	unsigned int i, base;

	if (w->nchunks == w->max_chunks)
		return -ENOMEM;
	chunk = calloc(CONN_CHUNK, sizeof(*chunk));
	if (!chunk)
		return -ENOMEM;
	base = w->nchunks * CONN_CHUNK;
	w->chunks[w->nchunks++] = chunk;
	/* push in reverse so low indices come out first */
	for (i = CONN_CHUNK; i-- > 0;) {
		chunk[i].idx = base + i;
		chunk[i].state = CONN_FREE;
		chunk[i].free_next = w->free_conns;
		w->free_conns = &chunk[i];
	}
	return 0;
}

struct conn *conn_lookup(struct worker *w, uint32_t idx)
{
	if (idx / CONN_CHUNK >= w->nchunks)
		return NULL;
	return &w->chunks[idx / CONN_CHUNK][idx % CONN_CHUNK];
}

static void lru_unlink(struct conn *c)
{
	c->lru_prev->lru_next = c->lru_next;
	c->lru_next->lru_prev = c->lru_prev;
	c->lru_prev = c->lru_next = NULL;
}

static void lru_append(struct worker *w, struct conn *c)
{
	c->lru_prev = w->lru.lru_prev;
	c->lru_next = &w->lru;
	w->lru.lru_prev->lru_next = c;
	w->lru.lru_prev = c;
}

/* A connection for an accept on @sock that worker_reserve() counted. */
/*
 * Accept can fail for want of descriptors, and keeps failing until some
 * close: retrying at once would spin, and logging each failure would
 * flood. Pause this worker's accepts for a while instead, say so once
 * per episode, and say when accepts succeed again (worker_accept_tick).
 */
#define ACCEPT_PAUSE_MS	100
/* an episode ends after this long without a refusal */
#define ACCEPT_CALM_MS	1000

bool worker_accept_starved(struct worker *w, unsigned int sock, int err)
{
	if (err != -EMFILE && err != -ENFILE && err != -ENOBUFS &&
	    err != -ENOMEM)
		return false;
	if (!w->accept_starved++)
		pr_warn("accept on %s: %s: pausing accepts until descriptors free up",
			w->cfg->socks[sock].addr_str, strerror(-err));
	w->accept_pause_until = w->now_ms + ACCEPT_PAUSE_MS;
	w->accept_refused_ms = w->now_ms;
	return true;
}

/*
 * Park @c in CONN_WAIT until @at. Waiting for a descriptor also holds
 * accepts back (worker_can_accept): a new client would meet the same
 * EMFILE.
 */
static void conn_park(struct worker *w, struct conn *c, uint64_t at,
		      bool for_fd)
{
	c->state = CONN_WAIT;
	c->retry_at = at;
	c->wait_fd = for_fd;
	w->waiting++;
	if (for_fd)
		w->fdwait++;
}

void conn_unpark(struct worker *w, struct conn *c)
{
	if (c->state != CONN_WAIT)
		return;
	w->waiting--;
	if (c->wait_fd)
		w->fdwait--;
	c->wait_fd = false;
	c->state = CONN_CONNECTING;
}

static void worker_resume_waiting(struct worker *w,
			   void (*connect)(struct worker *w, struct conn *c))
{
	struct conn *c, *next;

	if (!w->waiting)
		return;
	/*
	 * One pass, oldest first: a connection that parks again does so
	 * with a later retry_at, and one that moves to the LRU's tail is
	 * met again only past its own time.
	 */
	for (c = w->lru.lru_next; c != &w->lru && w->waiting; c = next) {
		next = c->lru_next;
		if (c->state != CONN_WAIT || c->retry_at > w->now_ms)
			continue;
		conn_unpark(w, c);
		connect(w, c);
	}
}

/*
 * A draining worker with no listener and no accept in flight tells the
 * main thread, which holds the next generation's accepts until then
 * (w->hold). io_uring waits for a connection as an exclusive waiter on
 * the shared listening socket: one connection wakes one waiter, and a
 * waiter cancelled after its wake-up takes the wake-up with it, leaving
 * the client in the accept queue until another one comes. Two
 * generations never waiting on a socket at once avoids that.
 */
static void worker_note_accepts_gone(struct worker *w)
{
	unsigned int i;

	if (!w->draining || w->accepting || atomic_load(&w->accepts_gone))
		return;
	for (i = 0; i < w->cfg->nsocks; i++)
		if (w->lfd[i] >= 0)
			return;
	atomic_store(&w->accepts_gone, true);
	kill(getpid(), SIGUSR2);
}

/*
 * An accept-refusal episode ends once a while has passed with no
 * refusal (a lone success between refusals does not end it).
 */
static void worker_accept_tick(struct worker *w)
{
	/* the last accept may have ended in a connection (conn_alloc()) */
	worker_note_accepts_gone(w);
	if (!w->accept_starved || w->fdwait ||
	    w->now_ms - w->accept_refused_ms < ACCEPT_CALM_MS)
		return;
	pr_warn("accepting again (%u accepts refused for want of descriptors)",
		w->accept_starved);
	w->accept_starved = 0;
}

struct conn *conn_alloc(struct worker *w, unsigned int sock)
{
	struct listener *ln;
	struct conn *c;
	uint32_t idx;
	uint16_t gen;
	int d;

	if (!w->free_conns && conn_grow(w))
		return NULL;
	c = w->free_conns;
	w->free_conns = c->free_next;

	idx = c->idx;
	gen = c->gen + 1;
	memset(c, 0, sizeof(*c));
	c->idx = idx;
	c->gen = gen;
	c->fd[0] = c->fd[1] = -1;
	c->server = -1;
	c->listener = sock;
	for (d = 0; d < 2; d++) {
		c->dir[d].qhead = c->dir[d].qtail = -1;
		c->dir[d].d = d;
	}
	c->t_start = c->t_last = w->now_ms;
	c->t_side[SIDE_CLIENT] = c->t_side[SIDE_SERVER] = w->now_ms;
	c->t_connected = -1;
	lru_append(w, c);
	w->active++;
	w->accepting--;
	STAT_INC(w, conns_total);
	STAT_INC(w, conns_active);
	ln = conn_listener(w, c);
	atomic_fetch_add_explicit(&ln->sessions_total, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&ln->current, 1, memory_order_relaxed);
	return c;
}

/*
 * May this client use its listener? Deny blocks first, then allow
 * blocks (when there are any), then the per-source limits, whose count
 * conn_free() gives back.
 */
int conn_admit(struct worker *w, struct conn *c)
{
	struct listener *ln = conn_listener(w, c);
	const struct sockaddr *sa = (const struct sockaddr *)&c->client;
	unsigned int i;

	for (i = 0; i < ln->deny.n; i++)
		if (cidr_match(&ln->deny.v[i], sa))
			goto denied;
	for (i = 0; i < ln->allow.n; i++)
		if (cidr_match(&ln->allow.v[i], sa))
			break;
	if (ln->allow.n && i == ln->allow.n)
		goto denied;
	if (ln->sources) {
		int ret = src_acquire(ln->sources, sa, w->now_ms);

		if (ret == -EAGAIN) {
			STAT_INC(w, conns_rate_limited);
			atomic_fetch_add_explicit(&ln->denied, 1,
						  memory_order_relaxed);
			return ret;
		}
		if (ret) {
			STAT_INC(w, conns_limited);
			atomic_fetch_add_explicit(&ln->denied, 1,
						  memory_order_relaxed);
			return -EBUSY;
		}
		c->src_held = true;
	}
	return 0;
denied:
	STAT_INC(w, conns_denied);
	atomic_fetch_add_explicit(&ln->denied, 1, memory_order_relaxed);
	return -EACCES;
}

const char *conn_admit_end(int err)
{
	return err == -EACCES ? "denied" : err == -EAGAIN ? "rate-limited" :
	       "limited";
}

void conn_free(struct worker *w, struct conn *c)
{
	struct listener *ln = conn_listener(w, c);

	/* once per connection, not per chunk: no shared line on the data path */
	atomic_fetch_add_explicit(&ln->bytes_in, c->dir[DIR_UP].bytes,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&ln->bytes_out, c->dir[DIR_DOWN].bytes,
				  memory_order_relaxed);
	atomic_fetch_sub_explicit(&ln->current, 1, memory_order_relaxed);
	if (c->pp)
		free(c->pp->peek);
	free(c->pp);
	c->pp = NULL;
	if (c->src_held)
		src_release(ln->sources, (const struct sockaddr *)&c->client);
	w->ln_used[ln - w->cfg->listeners]--;
	lru_unlink(c);
	c->state = CONN_FREE;
	c->free_next = w->free_conns;
	w->free_conns = c;
	w->active--;
	STAT_DEC(w, conns_active);
}

/* Activity moves a connection to the tail; the head is the idlest. */
void conn_touch(struct worker *w, struct conn *c)
{
	c->t_last = w->now_ms;
	if (w->lru.lru_prev == c)
		return;
	lru_unlink(c);
	lru_append(w, c);
}

/*
 * Progress, as the timeouts see it: a side is alive while bytes come
 * from it or go to it, so a download read steadily keeps its client
 * alive though the client sends nothing; and bytes that wait for a
 * destination start its write clock, which only a send that moves
 * something resets.
 */
void conn_rx(struct worker *w, struct conn *c, int d)
{
	c->t_side[dir_src(d)] = w->now_ms;
	if (!c->t_wait[d])
		c->t_wait[d] = w->now_ms;
	conn_touch(w, c);
}

void conn_tx(struct worker *w, struct conn *c, int d, size_t n, bool more)
{
	c->dir[d].bytes += n;
	if (d == DIR_UP)
		STAT_ADD(w, bytes_up, n);
	else
		STAT_ADD(w, bytes_down, n);
	c->t_side[dir_dst(d)] = w->now_ms;
	/*
	 * The destination took the last of it: from now the proxy waits
	 * on the source again. It read nothing from it while the bytes
	 * waited (a slow reader's queue, drained before --forward auto
	 * moves a direction to splice, can take longer than the source's
	 * timeout), so the source's silence counts from here, not from
	 * its last bytes: those would time it out at once.
	 */
	if (!more && c->t_wait[d])
		c->t_side[dir_src(d)] = w->now_ms;
	c->t_wait[d] = more ? w->now_ms : 0;
	conn_touch(w, c);
}

/*
 * Has @side's peer taken bytes the proxy could not see go? A send
 * completes when the kernel takes the bytes, and with a large socket
 * buffer a slow reader frees room long before the next send can: the
 * proxy is silent for seconds while its peer reads steadily. The
 * kernel's send queue shrinking is that progress, and counts as a send
 * to @side. Asked only of a connection about to time out, so it costs
 * an ioctl per timeout, not per byte. A direct descriptor cannot be
 * asked.
 */
static bool side_draining(struct worker *w, struct conn *c, int side)
{
	int q, to = side == SIDE_CLIENT ? DIR_DOWN : DIR_UP;
	bool moved;

	if (c->fd[side] < 0 || c->fixed[side] ||
	    ioctl(c->fd[side], SIOCOUTQ, &q) || q < 0)
		return false;
	moved = q && (uint32_t)q != c->outq[side];
	c->outq[side] = q;
	if (!moved)
		return false;
	c->t_side[side] = w->now_ms;
	if (c->t_wait[to])
		c->t_wait[to] = w->now_ms;
	conn_touch(w, c);
	return true;
}

/* Has @ms run out since @t, the kernel's progress on @side aside? */
static bool expired(struct worker *w, struct conn *c, const uint64_t *t,
		    int ms, int side)
{
	if (!ms || !*t || w->now_ms - *t < (uint64_t)ms)
		return false;
	return !side_draining(w, c, side);
}

/*
 * Does the proxy wait on @side: to read from it (its direction is not
 * over, and not held back because its destination is full: that is the
 * other side's doing), or to write to it?
 */
static bool waiting_on(struct conn *c, int side)
{
	int from = side == SIDE_CLIENT ? DIR_UP : DIR_DOWN;

	return (!(c->dir[from].flags & DIR_EOF) && !c->t_wait[from]) ||
	       c->t_wait[!from];
}

/*
 * Why @c must end by its timeouts now, or NULL. A side is timed out
 * only while the proxy waits on it, and a peer that keeps reading what
 * the kernel holds for it is never timed out for it (it may take up to
 * twice the timeout to tell, when the kernel's queue was not looked at
 * before).
 */
static const char *conn_expired(struct worker *w, struct conn *c)
{
	struct listener *ln = conn_listener(w, c);
	int d;

	for (d = 0; d < 2; d++)
		if (expired(w, c, &c->t_wait[d], ln->write_timeout_ms,
			    dir_dst(d))) {
			STAT_INC(w, write_timeouts);
			return "write-timeout";
		}
	if (waiting_on(c, SIDE_CLIENT) &&
	    expired(w, c, &c->t_side[SIDE_CLIENT], ln->client_timeout_ms,
		    SIDE_CLIENT)) {
		STAT_INC(w, client_timeouts);
		return "client-timeout";
	}
	if (waiting_on(c, SIDE_SERVER) &&
	    expired(w, c, &c->t_side[SIDE_SERVER],
		    conn_backend(w, c)->server_timeout_ms, SIDE_SERVER)) {
		STAT_INC(w, server_timeouts);
		return "server-timeout";
	}
	if (expired(w, c, &c->t_last, ln->idle_timeout_ms, SIDE_CLIENT) &&
	    expired(w, c, &c->t_last, ln->idle_timeout_ms, SIDE_SERVER)) {
		STAT_INC(w, idle_timeouts);
		return "idle-timeout";
	}
	return NULL;
}

/*
 * Every forwarding connection is looked at, not just the LRU's head:
 * the LRU orders by the last byte either way, and a connection whose
 * client stopped reading can be fresh by that measure (its client still
 * sends) while its write clock runs out. A pass is a few ns per
 * connection, and it runs at most every min_timeout_ms / 8.
 */
static void worker_expire(struct worker *w,
		   void (*end)(struct worker *w, struct conn *c,
			       const char *why))
{
	uint64_t ka = w->cfg->tcp_keepalive_s * 1000ULL;
	struct conn *c, *next;
	const char *why;

	if (!w->min_timeout_ms || w->now_ms < w->next_expiry_scan)
		return;
	w->next_expiry_scan = w->now_ms + w->min_timeout_ms / 8;
	for (c = w->lru.lru_next; c != &w->lru; c = next) {
		next = c->lru_next;
		if (conn_inspect_expired(w, c)) {
			end(w, c, "inspect-timeout");
			continue;
		}
		if (c->state != CONN_FORWARDING)
			continue;
		if ((why = conn_expired(w, c))) {
			end(w, c, why);
			continue;
		}
		/*
		 * The client side has keepalive from its listener; the
		 * server side gets it once the connection proved long-lived.
		 */
		if (ka && !c->ka_set && w->now_ms - c->t_start >= ka &&
		    !c->fixed[SIDE_SERVER] && c->fd[SIDE_SERVER] >= 0) {
			sock_keepalive(c->fd[SIDE_SERVER],
				       w->cfg->tcp_keepalive_s);
			c->ka_set = true;
		}
	}
}

/* The first reason wins: later errors are consequences of it. */
void conn_set_end(struct conn *c, const char *why)
{
	if (!c->end)
		c->end = why;
}

const char *conn_reset_reason(int side)
{
	return side == SIDE_CLIENT ? "client-reset" : "server-reset";
}

void conn_pass_reset(struct conn *c, const char *why)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int side = -1;

	if (!why)
		return;
	if (!strcmp(why, conn_reset_reason(SIDE_SERVER)))
		side = SIDE_CLIENT;
	else if (!strcmp(why, conn_reset_reason(SIDE_CLIENT)))
		side = SIDE_SERVER;
	if (side >= 0 && c->fd[side] >= 0 && !c->fixed[side])
		setsockopt(c->fd[side], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

struct listener *conn_listener(struct worker *w, struct conn *c)
{
	return w->cfg->socks[c->listener].ln;
}

struct backend *conn_backend(struct worker *w, struct conn *c)
{
	/* the one a TLS server name chose, else the listener's */
	return c->be ? c->be : conn_listener(w, c)->backend;
}

/*
 * Send the PROXY protocol header right after connect. The socket's send
 * buffer is empty then, so a header of at most 108 bytes always goes out
 * whole with one plain send(); only listeners with proxy-protocol pay it.
 */
int conn_proxy_header(struct worker *w, struct conn *c)
{
	struct listener *ln = conn_listener(w, c);
	struct sockaddr_storage dst;
	socklen_t len = sizeof(dst);
	char hdr[PROXY_HDR_MAX + PP_RECV_MAX];
	int n;

	if (!ln->proxy_protocol)
		return 0;
	/* the destination a received header named, else our own address */
	if (c->pp && !c->pp->info.local)
		memcpy(&dst, &c->pp->info.dst, sizeof(dst));
	else if (c->fixed[SIDE_CLIENT] ||
		 getsockname(c->fd[SIDE_CLIENT], (struct sockaddr *)&dst, &len))
		memcpy(&dst, &w->cfg->socks[c->listener].addr.ss, sizeof(dst));
	n = proxy_header(hdr, sizeof(hdr), ln->proxy_protocol,
			 (struct sockaddr *)&c->client,
			 (struct sockaddr *)&dst);
	if (n > 0 && c->pp && ln->proxy_tlvs && c->pp->info.tlv_len)
		n = proxy_header_add_tlvs(hdr, sizeof(hdr), n,
					  c->pp->hdr + c->pp->info.tlv_off,
					  c->pp->info.tlv_len);
	if (n < 0)
		return n;
	if (send(c->fd[SIDE_SERVER], hdr, n, MSG_NOSIGNAL | MSG_DONTWAIT) != n)
		return -EIO;
	return 0;
}

void conn_connected(struct worker *w, struct conn *c)
{
	struct backend *be = conn_backend(w, c);
	struct server *srv = &be->servers[c->server];

	server_connect_result(w, be, srv, true);
	c->established = true;
	c->t_connected = w->now_ms - c->t_connect;
	STAT_INC(w, conns_established);
	atomic_fetch_add_explicit(&srv->conns_total, 1, memory_order_relaxed);
}

/*
 * Whose fault a failed connect is. Ours, and passing, when this host ran
 * short (no ephemeral port, no memory or descriptor, a unix socket's
 * backlog full for a moment): no server is marked down for it, and the
 * same server is tried again after a pause. Anything else (refused,
 * timed out, unreachable, reset during the handshake) is the server's:
 * it counts towards fall and the next server is tried at once.
 */
static bool connect_err_local(int err)
{
	switch (err) {
	case EAGAIN:
	case EINTR:
	case EADDRNOTAVAIL:
	case ENOBUFS:
	case ENOMEM:
	case EMFILE:
	case ENFILE:
		return true;
	default:
		return false;
	}
}

/* pauses after local errors: 10 ms doubling, at most LOCAL_RETRIES */
#define LOCAL_RETRIES	10
#define RETRY_MAX_MS	1000

static uint64_t backoff_ms(unsigned int base, unsigned int n)
{
	uint64_t ms = (uint64_t)base << (n < 16 ? n : 16);

	return ms < RETRY_MAX_MS ? ms : RETRY_MAX_MS;
}

/* give back the server a failed or abandoned attempt had taken */
static void conn_drop_server(struct worker *w, struct conn *c)
{
	conn_server_released(w, c);
	c->server = -1;
}

/* A local error: the same server, later, within LOCAL_RETRIES. */
static int conn_local_retry(struct worker *w, struct conn *c, int err,
			    const char *what)
{
	struct backend *be = conn_backend(w, c);
	struct server *srv = &be->servers[c->server];

	STAT_INC(w, connect_local_errors);
	/* it was not tried: it may be picked again */
	server_set_del(&c->tried, c->server);
	if (c->local_retries >= LOCAL_RETRIES) {
		pr_warn("%s %s/%s (%s): %s, %u times: giving up on this client",
			what, be->name, srv->name, srv_at(srv)->str,
			strerror(err), c->local_retries + 1);
		conn_drop_server(w, c);
		conn_set_end(c, "local-error");
		return CONNECT_GIVE_UP;
	}
	pr_debug("%s %s/%s (%s): %s: again in a moment", what, be->name,
		 srv->name, srv_at(srv)->str, strerror(err));
	conn_drop_server(w, c);
	conn_park(w, c, w->now_ms + backoff_ms(10, c->local_retries++), false);
	return CONNECT_PARKED;
}

/*
 * transparent = on: the server sees the client's address (the PROXY
 * header's, with accept-proxy). IP_TRANSPARENT lets the socket bind an
 * address this host does not own; IP_BIND_ADDRESS_NO_PORT leaves the
 * port to connect(), which picks one that is free towards this server.
 * The routing that brings the server's answers back here is the
 * operator's (admin-guide: Transparent proxying).
 */
static int conn_bind_client(struct conn *c, int fd, int family)
{
	struct sockaddr_storage ss;
	int one = 1;

	if (c->client.ss_family != family)
		return -EAFNOSUPPORT;	/* an IPv4 client, an IPv6 server */
	memcpy(&ss, &c->client, sizeof(ss));
	if (family == AF_INET) {
		((struct sockaddr_in *)&ss)->sin_port = 0;
		if (setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)))
			return -errno;
	} else {
		((struct sockaddr_in6 *)&ss)->sin6_port = 0;
		if (setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one,
			       sizeof(one)))
			return -errno;
	}
	setsockopt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, c->client_len))
		return -errno;
	return 0;
}

int conn_next_socket(struct worker *w, struct conn *c, bool nonblock)
{
	struct backend *be = conn_backend(w, c);
	int family, fd, one = 1;
	struct server *srv;

	if (conn_pick_server(w, c) < 0) {
		/*
		 * Every usable server failed it once: go round again after
		 * a pause, up to `retries` times. A client that found no
		 * usable server at all is refused at once.
		 */
		if (!server_set_empty(&c->tried) && c->retries < be->retries) {
			STAT_INC(w, connect_retries);
			server_set_clear(&c->tried);
			conn_park(w, c, w->now_ms + backoff_ms(100, c->retries++),
				  false);
			return CONNECT_PARKED;
		}
		STAT_INC(w, no_server);
		conn_set_end(c, "no-server");
		return CONNECT_GIVE_UP;
	}
	srv = &be->servers[c->server];
	/* one look: the resolver may move it before the next */
	c->sa = srv_at(srv);
	family = c->sa->addr.ss.ss_family;
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC |
			    (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0) {
		int err = errno;

		if (err == EMFILE || err == ENFILE) {
			/* accepts pause too: take no client until a close */
			worker_accept_starved(w, c->listener, -err);
			server_set_del(&c->tried, c->server);
			conn_drop_server(w, c);
			conn_park(w, c, w->accept_pause_until, true);
			return CONNECT_PARKED;
		}
		return conn_local_retry(w, c, err, "socket for");
	}
	/*
	 * We relay, never batch. Keepalive comes later, to a connection
	 * that lives long enough to want it (worker_expire()): four
	 * setsockopt() calls per connection under churn, for nothing.
	 */
	if (family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (conn_listener(w, c)->transparent > 0) {
		int err = conn_bind_client(c, fd, family);

		if (err) {
			close(fd);
			conn_drop_server(w, c);
			conn_set_end(c, "transparent-failed");
			/* once per worker: the access lines say the rest */
			if (!w->transparent_warned++)
				pr_warn("transparent: cannot connect to %s/%s (%s) from the client's address: %s",
					be->name, srv->name, srv_at(srv)->str,
					strerror(-err));
			return CONNECT_GIVE_UP;
		}
	}
	c->t_connect = w->now_ms;
	if (c->attempts < UINT8_MAX)
		c->attempts++;
	return fd;
}

int conn_connect_failed(struct worker *w, struct conn *c, int err)
{
	struct backend *be = conn_backend(w, c);
	struct server *srv = &be->servers[c->server];

	if (connect_err_local(err))
		return conn_local_retry(w, c, err, "connect to");
	server_connect_result(w, be, srv, false);
	STAT_INC(w, connect_errors);
	if (err == ETIMEDOUT)
		STAT_INC(w, connect_timeouts);
	atomic_fetch_add_explicit(&srv->connect_errors, 1,
				  memory_order_relaxed);
	if (err == ENETUNREACH)
		pr_warn("connect to %s/%s (%s): no route to its network from this host: check the routes",
			be->name, srv->name, srv_at(srv)->str);
	else
		pr_warn("connect to %s/%s (%s): %s", be->name, srv->name,
			srv_at(srv)->str,
			err == ETIMEDOUT ? "timed out" : strerror(err));
	conn_drop_server(w, c);
	return 0;
}

void conn_log_access(struct worker *w, struct conn *c)
{
	struct listener *ln = conn_listener(w, c);
	struct backend *be = conn_backend(w, c);
	char cbuf[ADDR_STRLEN], ip[ADDR_STRLEN], port[8], line[2048];
	struct lf_vals v = { 0 };

	if (log_level < LOG_INFO || !ln->access_log)
		return;
	v.client = addr_format((struct sockaddr *)&c->client, c->client_len,
			       cbuf, sizeof(cbuf));
	if (c->client.ss_family == AF_INET || c->client.ss_family == AF_INET6) {
		const void *a = c->client.ss_family == AF_INET ?
			(const void *)&((struct sockaddr_in *)&c->client)->sin_addr :
			(const void *)&((struct sockaddr_in6 *)&c->client)->sin6_addr;

		inet_ntop(c->client.ss_family, a, ip, sizeof(ip));
		snprintf(port, sizeof(port), "%u",
			 ntohs(((struct sockaddr_in *)&c->client)->sin_port));
		v.client_ip = ip;
		v.client_port = port;
	}
	v.listener = ln->name;
	v.listen_addr = w->cfg->socks[c->listener].addr_str;
	v.backend = be->name;
	if (c->server >= 0) {
		v.server = be->servers[c->server].name;
		v.server_addr = c->sa ? c->sa->str :
				srv_at(&be->servers[c->server])->str;
	}
	v.up = c->dir[DIR_UP].bytes;
	v.down = c->dir[DIR_DOWN].bytes;
	v.t_connect = c->t_connected;
	v.t_total = w->now_ms - c->t_start;
	v.end = c->end ? c->end : "done";
	v.sni = c->pp ? c->pp->sni : NULL;
	v.retries = c->attempts > 1 ? c->attempts - 1 : 0;
	log_format_render(&ln->log_format, &v, line, sizeof(line));
	pr_info("access %s", line);
}

/*
 * Choose the next server for a client, skipping those it already tried.
 * Returns the server index or -1 when every server has been tried, which
 * bounds the retries at one attempt per server.
 */
int conn_pick_server(struct worker *w, struct conn *c)
{
	struct backend *be = conn_backend(w, c);
	unsigned int b = be - w->cfg->backends;
	int s;

	s = balancer_pick(&w->bal[b], &c->tried,
			  addr_hash((struct sockaddr *)&c->client), w->now_ms);
	if (s < 0)
		return -1;
	server_set_add(&c->tried, s);
	c->server = s;
	atomic_fetch_add_explicit(&be->servers[s].active, 1,
				  memory_order_relaxed);
	return s;
}

void conn_server_released(struct worker *w, struct conn *c)
{
	struct backend *be = conn_backend(w, c);
	struct server *srv;

	if (c->server < 0)
		return;
	srv = &be->servers[c->server];
	/* nothing moved before it was established: no bytes to add then */
	if (c->established) {
		atomic_fetch_add_explicit(&srv->bytes_in, c->dir[DIR_UP].bytes,
					  memory_order_relaxed);
		atomic_fetch_add_explicit(&srv->bytes_out,
					  c->dir[DIR_DOWN].bytes,
					  memory_order_relaxed);
	}
	/* how it ended is passive health's, once it was established */
	if (c->established)
		server_conn_ended(w, be, srv, c->end &&
				  !strcmp(c->end, conn_reset_reason(SIDE_SERVER)),
				  c->dir[DIR_UP].bytes > 0);
	c->established = false;
	atomic_fetch_sub_explicit(&srv->active, 1, memory_order_relaxed);
}

void sock_keepalive(int fd, int idle_s)
{
	int on = idle_s > 0, intvl = 10, cnt = 6;

	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	if (!on)
		return;
	/* a dead peer is found idle_s + 60 s after it went quiet */
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof(idle_s));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

/* ---- pipe pool ------------------------------------------------------- */

/*
 * Pipes are handed to a direction only while bytes sit in it, so idle
 * connections hold none (a pipe is two fds and, for a non-root user, a
 * share of fs.pipe-user-pages-soft). A small free list saves the
 * pipe2 + fcntl syscalls on the next burst.
 */
#define PIPE_POOL_KEEP	64

struct pipe_pair *pipe_get(struct worker *w, struct conn *c)
{
	struct pipe_pair *p = w->free_pipes;
	int fds[2];

	if (p) {
		w->free_pipes = p->next;
		w->nfree_pipes--;
		return p;
	}
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC)) {
		if (!worker_accept_starved(w, c->listener, -errno))
			pr_warn("pipe: %s", strerror(errno));
		return NULL;
	}
	/* best effort: a smaller pipe still works, only with more trips */
	fcntl(fds[1], F_SETPIPE_SZ, w->cfg->pipe_size);
	p = malloc(sizeof(*p));
	if (!p) {
		close(fds[0]);
		close(fds[1]);
		return NULL;
	}
	p->rd = fds[0];
	p->wr = fds[1];
	return p;
}

/* Only empty pipes come back here; a pipe with bytes in it is closed. */
void pipe_put(struct worker *w, struct pipe_pair *p)
{
	if (w->nfree_pipes >= PIPE_POOL_KEEP) {
		close(p->rd);
		close(p->wr);
		free(p);
		return;
	}
	p->next = w->free_pipes;
	w->free_pipes = p;
	w->nfree_pipes++;
}

void pipe_pool_drain(struct worker *w)
{
	struct pipe_pair *p;

	while ((p = w->free_pipes)) {
		w->free_pipes = p->next;
		close(p->rd);
		close(p->wr);
		free(p);
	}
	w->nfree_pipes = 0;
}

/* ---- private buffers ------------------------------------------------- */

/*
 * Buffers a direction owns while bytes sit in them: the epoll buffers
 * path's, and the reserve of the paths that share a resource. Each
 * direction holds at most one, so a connection costs at most two
 * whatever its peers do; a free list saves malloc on the next burst.
 */
#define BUF_POOL_KEEP	256

char *buf_get(struct worker *w)
{
	if (w->nfree_bufs)
		return w->free_bufs[--w->nfree_bufs];
	return malloc(w->cfg->buf_size);
}

void buf_put(struct worker *w, char *b)
{
	if (w->nfree_bufs < BUF_POOL_KEEP)
		w->free_bufs[w->nfree_bufs++] = b;
	else
		free(b);
}

/* ---- listeners --------------------------------------------------------- */

/*
 * Every worker binds its own socket with SO_REUSEPORT: the kernel spreads
 * new connections over the workers and no accept queue is shared.
 * TCP_NODELAY set here is inherited by every accepted socket, which
 * matters for direct descriptors: they cannot take setsockopt().
 */
int listen_socket(const struct listen_sock *ln)
{
	int fd, one = 1;

	fd = socket(ln->addr.ss.ss_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (ln->addr.ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&ln->addr.ss, ln->addr.len) ||
	    listen(fd, 4096)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/*
 * Listening sockets for @w. On a reload, @old is the worker with the same
 * id in the previous generation: an address it already listens on is
 * taken over with dup(), so the socket (and its accept queue) survives
 * the reload and no privilege is needed to bind it again. At start-up,
 * @inh holds the sockets inherited from a previous process or systemd
 * (inherit.c), taken the same way.
 */
int worker_listen(struct worker *w, const struct worker *old,
		  struct inherit *inh)
{
	unsigned int i, j;

	for (i = 0; i < w->cfg->nsocks; i++) {
		int fd = inh ? inherit_take(inh, &w->cfg->socks[i].addr,
					    w->id) : -1;

		for (j = 0; fd == -1 && old && j < old->cfg->nsocks; j++) {
			if (old->lfd[j] >= 0 &&
			    addr_equal(&old->cfg->socks[j].addr,
				       &w->cfg->socks[i].addr)) {
				fd = fcntl(old->lfd[j], F_DUPFD_CLOEXEC, 0);
				if (fd < 0)
					fd = -errno;
				break;
			}
		}
		if (fd == -1)
			fd = listen_socket(&w->cfg->socks[i]);

		if (fd < 0) {
			pr_err("listen on %s: %s",
			       w->cfg->socks[i].addr_str, strerror(-fd));
			return fd;
		}
		/* accepted sockets inherit it (direct descriptors too) */
		sock_keepalive(fd, w->cfg->tcp_keepalive_s);
		w->lfd[i] = fd;
	}
	return 0;
}

void worker_close_listeners(struct worker *w)
{
	unsigned int i;

	for (i = 0; i < w->cfg->nsocks; i++) {
		if (w->lfd[i] >= 0)
			close(w->lfd[i]);
		w->lfd[i] = -1;
	}
	worker_note_accepts_gone(w);
}

/*
 * Act on w->stop: stop accepting and drain, bounded by w->drain_ms from
 * now (negative: no bound). The main thread asks again whenever the
 * bound changes (a retired generation's hard-stop-after, then a
 * shutdown's grace, then a second SIGTERM's 0), so the deadline is
 * recomputed on each request and only ever moves earlier. The engines
 * close what is left at the first tick past it. Returns true the first
 * time, when the caller stops accepting.
 */
bool worker_start_drain(struct worker *w)
{
	int ms = atomic_load(&w->drain_ms);
	uint64_t deadline = ms < 0 ? UINT64_MAX : w->now_ms + ms;
	bool first = !w->draining;

	if (first || deadline < w->drain_deadline)
		w->drain_deadline = deadline;
	w->draining = true;
	return first;
}

bool worker_can_accept(struct worker *w, unsigned int sock)
{
	unsigned int l = w->cfg->socks[sock].ln - w->cfg->listeners;

	if (w->draining || w->lfd[sock] < 0 || w->fdwait ||
	    atomic_load(&w->hold))
		return false;
	if (w->ln_cap[l] && w->ln_used[l] >= w->ln_cap[l])
		return false;
	return !w->capacity || w->active + w->accepting < w->capacity;
}

/* An accept is about to be attempted on @sock: hold its slot. */
void worker_reserve(struct worker *w, unsigned int sock)
{
	w->accepting++;
	w->ln_used[w->cfg->socks[sock].ln - w->cfg->listeners]++;
}

void worker_unreserve(struct worker *w, unsigned int sock)
{
	w->accepting--;
	w->ln_used[w->cfg->socks[sock].ln - w->cfg->listeners]--;
	worker_note_accepts_gone(w);
}

/* A share of @total for worker @id of @n, at least 1; 0 stays 0. */
static unsigned int share(unsigned int total, unsigned int id, unsigned int n)
{
	unsigned int v;

	if (!total)
		return 0;
	v = total / n + (id < total % n);
	return v ? v : 1;
}

/* ---- the tick ---------------------------------------------------------- */

/* buckets of each per-source table swept per tick (of 1024) */
#define SRC_SWEEP_BUCKETS	64

void worker_tick(struct worker *w,
		 void (*end)(struct worker *w, struct conn *c, const char *why),
		 void (*connect)(struct worker *w, struct conn *c))
{
	unsigned int i;

	worker_expire(w, end);
	/* descriptors freed, backoffs over: parked clients connect */
	worker_resume_waiting(w, connect);
	worker_accept_tick(w);
	/* the per-source tables are shared: one worker sweeps them */
	if (w->id == 0)
		for (i = 0; i < w->cfg->nlisteners; i++)
			if (w->cfg->listeners[i].sources)
				src_table_sweep(w->cfg->listeners[i].sources,
						w->now_ms, SRC_SWEEP_BUCKETS);
}

/* ---- control requests ------------------------------------------------- */

static const char *const state_names[] = {
	[CONN_FREE] = "free",
	[CONN_WAIT] = "waiting",
	[CONN_CONNECTING] = "connecting",
	[CONN_FORWARDING] = "forwarding",
	[CONN_CLOSING] = "closing",
};

static void dump_conns(struct worker *w)
{
	char *out = NULL, cbuf[ADDR_STRLEN];
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	struct conn *c;

	if (!f)
		return;
	for (c = w->lru.lru_next; c != &w->lru; c = c->lru_next) {
		struct backend *be = conn_backend(w, c);

		fprintf(f, "%u %s %s %s %s %s %llu %llu %llu %llu\n", w->id,
			addr_format((struct sockaddr *)&c->client,
				    c->client_len, cbuf, sizeof(cbuf)),
			conn_listener(w, c)->name, be->name,
			c->server >= 0 ? be->servers[c->server].name : "-",
			state_names[c->state],
			(unsigned long long)c->dir[DIR_UP].bytes,
			(unsigned long long)c->dir[DIR_DOWN].bytes,
			(unsigned long long)(w->now_ms - c->t_start),
			(unsigned long long)(w->now_ms - c->t_last));
	}
	fclose(f);
	free(w->req_out);
	w->req_out = out;
	w->req_len = len;
}

/* In the worker, on a wake-up: answer what the control plane asked. */
void worker_serve_request(struct worker *w)
{
	int req = atomic_exchange(&w->req, WREQ_NONE);

	if (req == WREQ_NONE)
		return;
	pthread_mutex_lock(&w->req_lock);
	if (req == WREQ_CONNS)
		dump_conns(w);
	w->req_done = true;
	pthread_mutex_unlock(&w->req_lock);
}

void worker_wake(struct worker *w)
{
	uint64_t one = 1;

	if (write(w->wake_fd, &one, sizeof(one)) < 0)
		pr_warn("waking worker %u: %s", w->id, strerror(errno));
}

/*
 * The lock is held by the worker only while it writes its answer; the
 * control plane never waits for it: when it is taken, it tries again
 * at its next turn.
 */
int worker_request_post(struct worker *w, int req)
{
	if (atomic_load(&w->exited))
		return -ESRCH;
	if (pthread_mutex_trylock(&w->req_lock))
		return -EAGAIN;
	/* an answer nobody collected, to a request given up on */
	free(w->req_out);
	w->req_out = NULL;
	w->req_done = false;
	pthread_mutex_unlock(&w->req_lock);
	atomic_store(&w->req, req);
	worker_wake(w);
	return 0;
}

int worker_request_poll(struct worker *w, char **out, size_t *len)
{
	int ret = -EAGAIN;

	if (pthread_mutex_trylock(&w->req_lock))
		return -EAGAIN;
	if (w->req_done) {
		*out = w->req_out;
		*len = w->req_len;
		w->req_out = NULL;
		w->req_done = false;
		ret = 0;
	}
	pthread_mutex_unlock(&w->req_lock);
	/* exited is set after the worker's last answer: checked second */
	if (ret && atomic_load(&w->exited))
		ret = -ESRCH;
	return ret;
}

/* ---- setup ------------------------------------------------------------- */

static void min_timeout(struct worker *w, int ms)
{
	if (ms > 0 && (!w->min_timeout_ms || (unsigned int)ms < w->min_timeout_ms))
		w->min_timeout_ms = ms;
}

int worker_setup(struct worker *w)
{
	const struct config *cfg = w->cfg;
	unsigned int i, max_conns;
	int err = -ENOMEM;

	w->lru.lru_prev = w->lru.lru_next = &w->lru;
	w->now_ms = clock_ms();
	atomic_store(&w->ring_fd, -1);
	w->lfd = malloc(cfg->nsocks * sizeof(*w->lfd));
	w->ln_used = calloc(cfg->nlisteners, sizeof(*w->ln_used));
	w->ln_cap = calloc(cfg->nlisteners, sizeof(*w->ln_cap));
	if (!w->lfd || !w->ln_used || !w->ln_cap)
		goto out_free_lfd;
	for (i = 0; i < cfg->nsocks; i++)
		w->lfd[i] = -1;

	/* max-conns limits are split evenly over workers */
	w->capacity = share(cfg->max_conns, w->id, cfg->threads);
	for (i = 0; i < cfg->nlisteners; i++) {
		const struct listener *ln = &cfg->listeners[i];

		w->ln_cap[i] = share(ln->max_conns, w->id, cfg->threads);
		min_timeout(w, ln->idle_timeout_ms);
		min_timeout(w, ln->client_timeout_ms);
		min_timeout(w, ln->write_timeout_ms);
		min_timeout(w, ln->backend->server_timeout_ms);
		if (ln->accept_proxy || ln->nsni)
			min_timeout(w, ln->inspect_timeout_ms);
	}
	/* the expiry scan also hands out the server side's keepalive */
	if (cfg->tcp_keepalive_s)
		min_timeout(w, cfg->tcp_keepalive_s * 1000);
	w->free_bufs = calloc(BUF_POOL_KEEP, sizeof(*w->free_bufs));
	if (!w->free_bufs)
		goto out_free_lfd;
	w->health = w->id == 0;
	max_conns = w->capacity ? w->capacity : (1u << 22);
	w->max_chunks = (max_conns + CONN_CHUNK - 1) / CONN_CHUNK;
	w->chunks = calloc(w->max_chunks, sizeof(*w->chunks));
	if (!w->chunks)
		goto out_free_lfd;

	w->bal = calloc(cfg->nbackends, sizeof(*w->bal));
	if (!w->bal)
		goto out_free_chunks;
	for (i = 0; i < cfg->nbackends; i++) {
		err = balancer_init(&w->bal[i], &cfg->backends[i]);
		if (err)
			goto out_free_bal;
	}
	w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->wake_fd < 0) {
		err = -errno;
		goto out_free_bal;
	}
	pthread_mutex_init(&w->req_lock, NULL);
	return 0;

out_free_bal:
	for (i = 0; i < cfg->nbackends; i++)
		balancer_fini(&w->bal[i]);
	free(w->bal);
out_free_chunks:
	free(w->chunks);
out_free_lfd:
	free(w->free_bufs);
	free(w->ln_cap);
	free(w->ln_used);
	free(w->lfd);
	return err;
}

void worker_teardown(struct worker *w)
{
	unsigned int i;

	worker_close_listeners(w);
	pipe_pool_drain(w);
	while (w->nfree_bufs)
		free(w->free_bufs[--w->nfree_bufs]);
	free(w->free_bufs);
	close(w->wake_fd);
	pthread_mutex_destroy(&w->req_lock);
	free(w->req_out);
	for (i = 0; i < w->cfg->nbackends; i++)
		balancer_fini(&w->bal[i]);
	free(w->bal);
	for (i = 0; i < w->nchunks; i++)
		free(w->chunks[i]);
	free(w->chunks);
	free(w->ln_cap);
	free(w->ln_used);
	free(w->lfd);
}

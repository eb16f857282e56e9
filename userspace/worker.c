// SPDX-License-Identifier: MIT
/*
 * What both engines share: the connection table, the idle LRU, the pipe
 * pool, listening sockets and server selection.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
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

struct conn *conn_alloc(struct worker *w)
{
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
	for (d = 0; d < 2; d++) {
		c->dir[d].qhead = c->dir[d].qtail = -1;
		c->dir[d].d = d;
	}
	c->t_start = c->t_last = w->now_ms;
	lru_append(w, c);
	w->active++;
	STAT_INC(w, conns_total);
	STAT_INC(w, conns_active);
	return c;
}

void conn_free(struct worker *w, struct conn *c)
{
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

struct backend *conn_backend(struct worker *w, struct conn *c)
{
	return w->cfg->listeners[c->listener].backend;
}

void conn_log_access(struct worker *w, struct conn *c)
{
	struct backend *be = conn_backend(w, c);
	char cbuf[ADDR_STRLEN];
	const char *srv = "-";

	if (log_level < LOG_INFO)
		return;
	if (c->server >= 0)
		srv = be->servers[c->server].addr_str;
	pr_info("access client=%s listener=%s backend=%s server=%s up=%llu down=%llu ms=%llu end=%s",
		addr_format((struct sockaddr *)&c->client, c->client_len, cbuf,
			    sizeof(cbuf)),
		w->cfg->listeners[c->listener].name, be->name, srv,
		(unsigned long long)c->dir[DIR_UP].bytes,
		(unsigned long long)c->dir[DIR_DOWN].bytes,
		(unsigned long long)(w->now_ms - c->t_start),
		c->end ? c->end : "done");
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

	s = balancer_pick(&w->bal[b], &c->tried);
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

	if (c->server < 0)
		return;
	atomic_fetch_sub_explicit(&be->servers[c->server].active, 1,
				  memory_order_relaxed);
}

/* A socket for the chosen server, with TCP_NODELAY: we relay, never batch. */
int conn_server_socket(struct worker *w, struct conn *c, bool nonblock)
{
	struct server *srv = &conn_backend(w, c)->servers[c->server];
	int family = srv->addr.ss.ss_family, fd, one = 1;

	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC |
			    (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -errno;
	if (family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* ---- pipe pool ------------------------------------------------------- */

/*
 * Pipes are handed to a direction only while bytes sit in it, so idle
 * connections hold none (a pipe is two fds and, for a non-root user, a
 * share of fs.pipe-user-pages-soft). A small free list saves the
 * pipe2 + fcntl syscalls on the next burst.
 */
#define PIPE_POOL_KEEP	64

struct pipe_pair *pipe_get(struct worker *w)
{
	struct pipe_pair *p = w->free_pipes;
	int fds[2];

	if (p) {
		w->free_pipes = p->next;
		w->nfree_pipes--;
		return p;
	}
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC))
		return NULL;
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

/* ---- listeners --------------------------------------------------------- */

/*
 * Every worker binds its own socket with SO_REUSEPORT: the kernel spreads
 * new connections over the workers and no accept queue is shared.
 * TCP_NODELAY set here is inherited by every accepted socket, which
 * matters for direct descriptors: they cannot take setsockopt().
 */
static int listen_one(const struct listener *ln)
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

int worker_listen(struct worker *w)
{
	unsigned int i;

	for (i = 0; i < w->cfg->nlisteners; i++) {
		int fd = listen_one(&w->cfg->listeners[i]);

		if (fd < 0) {
			pr_err("listen on %s: %s",
			       w->cfg->listeners[i].addr_str, strerror(-fd));
			return fd;
		}
		w->lfd[i] = fd;
	}
	return 0;
}

void worker_close_listeners(struct worker *w)
{
	unsigned int i;

	for (i = 0; i < w->cfg->nlisteners; i++) {
		if (w->lfd[i] >= 0)
			close(w->lfd[i]);
		w->lfd[i] = -1;
	}
}

bool worker_can_accept(struct worker *w)
{
	if (w->draining)
		return false;
	return !w->capacity || w->active + w->accepting < w->capacity;
}

/* ---- setup ------------------------------------------------------------- */

int worker_setup(struct worker *w)
{
	const struct config *cfg = w->cfg;
	unsigned int i, max_conns;
	int err = -ENOMEM;

	w->lru.lru_prev = w->lru.lru_next = &w->lru;
	w->now_ms = clock_ms();
	w->lfd = malloc(cfg->nlisteners * sizeof(*w->lfd));
	if (!w->lfd)
		return -ENOMEM;
	for (i = 0; i < cfg->nlisteners; i++)
		w->lfd[i] = -1;

	/* max-conns is split evenly over workers, remainder to the first */
	if (cfg->max_conns) {
		w->capacity = cfg->max_conns / cfg->threads;
		if (w->id < cfg->max_conns % cfg->threads)
			w->capacity++;
		if (!w->capacity)
			w->capacity = 1;
	}
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
	err = worker_listen(w);
	if (err)
		goto out_close_wake;
	return 0;

out_close_wake:
	worker_close_listeners(w);
	close(w->wake_fd);
out_free_bal:
	for (i = 0; i < cfg->nbackends; i++)
		balancer_fini(&w->bal[i]);
	free(w->bal);
out_free_chunks:
	free(w->chunks);
out_free_lfd:
	free(w->lfd);
	return err;
}

void worker_teardown(struct worker *w)
{
	unsigned int i;

	worker_close_listeners(w);
	pipe_pool_drain(w);
	close(w->wake_fd);
	for (i = 0; i < w->cfg->nbackends; i++)
		balancer_fini(&w->bal[i]);
	free(w->bal);
	for (i = 0; i < w->nchunks; i++)
		free(w->chunks[i]);
	free(w->chunks);
	free(w->lfd);
}

// SPDX-License-Identifier: MIT
#include <ares.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "health.h"
#include "log.h"
#include "resolver.h"
#include "worker.h"

#define FIRST_ROUND_MS	3000	/* a generation waits this long at most */
#define POLL_MAX_MS	100	/* and a stop, this long */

struct res_srv {
	struct resolver *r;
	struct backend *be;
	struct server *srv;
	uint64_t next;		/* clock_ms() of the next lookup */
	bool busy;		/* a lookup is out */
	bool failing;		/* the last one failed (said once) */
};

struct resolver {
	struct config *cfg;
	ares_channel ch;
	struct res_srv *rs;
	unsigned int n;
	pthread_t thr;
	bool started;
	atomic_bool stop;
};

/* the address to use: the one in use if still there, else IPv4 first */
static bool pick(const struct ares_addrinfo *ai, const struct addr *cur,
		 uint16_t port, struct addr *out)
{
	const struct ares_addrinfo_node *nd, *first = NULL;

	for (nd = ai ? ai->nodes : NULL; nd; nd = nd->ai_next) {
		struct addr a = { 0 };

		if ((nd->ai_family != AF_INET && nd->ai_family != AF_INET6) ||
		    nd->ai_addrlen > sizeof(a.ss))
			continue;
		memcpy(&a.ss, nd->ai_addr, nd->ai_addrlen);
		a.len = nd->ai_addrlen;
		if (a.ss.ss_family == AF_INET)
			((struct sockaddr_in *)&a.ss)->sin_port = htons(port);
		else
			((struct sockaddr_in6 *)&a.ss)->sin6_port = htons(port);
		if (addr_equal(&a, cur)) {
			*out = a;
			return true;
		}
		if (!first || (first->ai_family != AF_INET &&
			       nd->ai_family == AF_INET)) {
			first = nd;
			*out = a;
		}
	}
	return first != NULL;
}

static void on_answer(void *arg, int status, int timeouts,
		      struct ares_addrinfo *ai)
{
	struct res_srv *rs = arg;
	struct server *srv = rs->srv;
	struct srv_addr *cur = srv_at(srv);
	struct addr a;
	unsigned int next;

	(void)timeouts;
	rs->busy = false;
	rs->next = clock_ms() + rs->be->resolve_every_ms;
	if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED)
		goto out;
	if (status != ARES_SUCCESS || !pick(ai, &cur->addr, srv->port, &a)) {
		if (!rs->failing)
			pr_warn("server %s/%s: cannot resolve %s: %s: %s",
				rs->be->name, srv->name, srv->host,
				status == ARES_SUCCESS ? "no address" :
				ares_strerror(status),
				srv->resolved ? "keeping its last address" :
				"it stays down");
		rs->failing = true;
		goto out;
	}
	rs->failing = false;
	if (srv->resolved && addr_equal(&a, &cur->addr))
		goto out;
	/* write the next slot, then publish it */
	next = (atomic_load(&srv->at) + 1) % SRV_ADDR_SLOTS;
	server_set_addr(rs->be, srv, &srv->slots[next], &a);
	atomic_store_explicit(&srv->at, next, memory_order_release);
	if (srv->resolved) {
		pr_warn("server %s/%s: %s now at %s (was %s)", rs->be->name,
			srv->name, srv->host, srv->slots[next].str, cur->str);
	} else {
		pr_info("server %s/%s: %s at %s", rs->be->name, srv->name,
			srv->host, srv->slots[next].str);
		srv->resolved = true;
		server_found(rs->be, srv);
	}
out:
	if (ai)
		ares_freeaddrinfo(ai);
}

/* ask again for whatever is due */
static void ask(struct resolver *r, uint64_t now)
{
	struct ares_addrinfo_hints hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
	};
	unsigned int i;

	for (i = 0; i < r->n; i++) {
		struct res_srv *rs = &r->rs[i];

		if (rs->busy || now < rs->next)
			continue;
		rs->busy = true;
		pr_debug("resolver: asking for %s", rs->srv->host);
		ares_getaddrinfo(r->ch, rs->srv->host, NULL, &hints, on_answer,
				 rs);
	}
}

/* wait up to @max_ms for c-ares' sockets, and let it process them */
static void turn(struct resolver *r, int max_ms)
{
	ares_socket_t socks[ARES_GETSOCK_MAXNUM];
	struct pollfd pfd[ARES_GETSOCK_MAXNUM];
	struct timeval tv, *tvp, maxtv = { max_ms / 1000,
					   (max_ms % 1000) * 1000 };
	unsigned int bits = ares_getsock(r->ch, socks, ARES_GETSOCK_MAXNUM);
	int i, n = 0, ms, ready;

	/*
	 * The bits by hand: ares.h's ARES_GETSOCK_WRITABLE shifts an int
	 * 1 into its sign bit for the last socket, undefined (UBSan).
	 */
	for (i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
		short ev = (bits & 1u << i ? POLLIN : 0) |
			   (bits & 1u << (i + ARES_GETSOCK_MAXNUM) ? POLLOUT : 0);

		if (ev)
			pfd[n++] = (struct pollfd){ .fd = socks[i], .events = ev };
	}
	/* the bound itself when nothing is pending: tv is not written then */
	tvp = ares_timeout(r->ch, &maxtv, &tv);
	ms = tvp->tv_sec * 1000 + tvp->tv_usec / 1000;
	ready = poll(pfd, n, ms);
	if (ready <= 0) {
		ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
		return;
	}
	for (i = 0; i < n; i++)
		if (pfd[i].revents)
			ares_process_fd(r->ch,
				pfd[i].revents & (POLLIN | POLLERR | POLLHUP) ?
				pfd[i].fd : ARES_SOCKET_BAD,
				pfd[i].revents & POLLOUT ? pfd[i].fd :
				ARES_SOCKET_BAD);
}

static void *resolver_main(void *arg)
{
	struct resolver *r = arg;

	while (!atomic_load(&r->stop)) {
		ask(r, clock_ms());
		turn(r, POLL_MAX_MS);
	}
	return NULL;
}

static bool any_busy(const struct resolver *r)
{
	unsigned int i;

	for (i = 0; i < r->n; i++)
		if (r->rs[i].busy)
			return true;
	return false;
}

struct resolver *resolver_start(struct config *cfg)
{
	static bool lib_ready;
	struct ares_options opts = { .timeout = 1000, .tries = 2 };
	struct resolver *r;
	unsigned int b, s, n = 0;
	uint64_t end;
	int ret;

	for (b = 0; b < cfg->nbackends; b++)
		for (s = 0; s < cfg->backends[b].nservers; s++)
			n += cfg->backends[b].servers[s].host[0] != '\0';
	if (!n)
		return NULL;
	if (!lib_ready) {
		ret = ares_library_init(ARES_LIB_INIT_ALL);
		if (ret) {
			pr_err("c-ares: %s: servers given by name stay down",
			       ares_strerror(ret));
			return NULL;
		}
		lib_ready = true;
	}
	r = calloc(1, sizeof(*r));
	if (!r || !(r->rs = calloc(n, sizeof(*r->rs))))
		goto fail;
	r->cfg = cfg;
	ret = ares_init_options(&r->ch, &opts, ARES_OPT_TIMEOUTMS |
				ARES_OPT_TRIES);
	if (ret) {
		pr_err("c-ares: %s: servers given by name stay down",
		       ares_strerror(ret));
		goto fail;
	}
	if (cfg->resolvers[0]) {
		ret = ares_set_servers_ports_csv(r->ch, cfg->resolvers);
		if (ret) {
			pr_err("resolver = %s: %s", cfg->resolvers,
			       ares_strerror(ret));
			ares_destroy(r->ch);
			goto fail;
		}
	}
	for (b = 0; b < cfg->nbackends; b++)
		for (s = 0; s < cfg->backends[b].nservers; s++) {
			struct server *srv = &cfg->backends[b].servers[s];

			if (!srv->host[0])
				continue;
			r->rs[r->n++] = (struct res_srv){
				.r = r, .be = &cfg->backends[b], .srv = srv,
			};
		}
	/* the first round before the workers take clients */
	ask(r, clock_ms());
	end = clock_ms() + FIRST_ROUND_MS;
	while (any_busy(r) && clock_ms() < end)
		turn(r, POLL_MAX_MS);
	ret = pthread_create(&r->thr, NULL, resolver_main, r);
	if (ret) {
		pr_err("resolver thread: %s: names are not resolved again",
		       strerror(ret));
		return r;
	}
	r->started = true;
	return r;
fail:
	if (r)
		free(r->rs);
	free(r);
	return NULL;
}

void resolver_stop(struct resolver *r)
{
	if (!r)
		return;
	atomic_store(&r->stop, true);
	if (r->started)
		pthread_join(r->thr, NULL);
	ares_destroy(r->ch);
	free(r->rs);
	free(r);
}

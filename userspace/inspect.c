// SPDX-License-Identifier: MIT
/*
 * accept-proxy: a PROXY header read from the client before connecting.
 *
 * The header is peeked, never read blindly: while the parser wants more,
 * every byte peeked belongs to the header and is consumed; once it is
 * whole, exactly its length is consumed. So the client's own first bytes
 * (a TLS ClientHello sent at once behind the header) stay in the socket
 * for the data path, whatever the engine and forwarding mode.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "acl.h"
#include "addr.h"
#include "inspect.h"
#include "log.h"
#include "worker.h"

bool conn_wants_inspect(struct worker *w, struct conn *c)
{
	struct listener *ln = conn_listener(w, c);

	return ln->accept_proxy != PP_ACCEPT_OFF || ln->nsni;
}

/*
 * Exact names first, then the longest *.suffix that matches with at
 * least one label in front of it; NULL: the listener's own backend.
 */
struct backend *sni_route(const struct listener *ln, const char *name)
{
	size_t n = strlen(name), best = 0, pl;
	struct backend *be = NULL;
	unsigned int i;

	if (!n)
		return NULL;
	for (i = 0; i < ln->nsni; i++)
		if (!ln->sni[i].wildcard && !strcmp(ln->sni[i].pattern, name))
			return ln->sni[i].backend;
	for (i = 0; i < ln->nsni; i++) {
		const struct sni_rule *r = &ln->sni[i];

		pl = strlen(r->pattern);
		if (!r->wildcard || pl + 1 >= n || pl <= best ||
		    name[n - pl - 1] != '.' || strcmp(name + n - pl, r->pattern))
			continue;
		best = pl;
		be = r->backend;
	}
	return be;
}

int conn_inspect_start(struct worker *w, struct conn *c)
{
	struct listener *ln = conn_listener(w, c);
	const struct sockaddr *sa = (const struct sockaddr *)&c->client;
	unsigned int i;

	/* a header from anyone else could claim any address */
	for (i = 0; i < ln->proxy_from.n; i++)
		if (cidr_match(&ln->proxy_from.v[i], sa))
			break;
	if (ln->proxy_from.n && i == ln->proxy_from.n) {
		STAT_INC(w, conns_denied);
		conn_set_end(c, "proxy-untrusted");
		return -EACCES;
	}
	c->pp = calloc(1, sizeof(*c->pp));
	if (!c->pp) {
		conn_set_end(c, "local-error");
		return -ENOMEM;
	}
	c->state = CONN_INSPECT;
	return 0;
}

static int bad_header(struct worker *w, struct conn *c, const char *why)
{
	char a[ADDR_STRLEN];

	STAT_INC(w, conns_bad_proxy);
	pr_warn("listener %s: bad PROXY header from %s: %s: closed",
		conn_listener(w, c)->name,
		addr_format((struct sockaddr *)&c->client, c->client_len, a,
			    sizeof(a)), why);
	conn_set_end(c, "bad-proxy");
	return -EPROTO;
}

/*
 * What the client sent, left in the socket: the bytes, 0 at its end,
 * -EAGAIN while nothing came, or -errno with the end reason set.
 */
static ssize_t peek(struct conn *c, void *buf, size_t len)
{
	ssize_t n = recv(c->fd[SIDE_CLIENT], buf, len, MSG_PEEK | MSG_DONTWAIT);

	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EINTR)
		return -EAGAIN;
	n = -errno;
	conn_set_end(c, n == -ECONNRESET ? "client-reset" : "error");
	return n;
}

/* stage 1, accept-proxy: 1 when the header is in, 0 for more, -errno */
static int inspect_proxy(struct worker *w, struct conn *c)
{
	struct listener *ln = conn_listener(w, c);
	struct pp_state *pp = c->pp;
	const char *why;
	ssize_t n, k;
	int ret;

	n = peek(c, pp->hdr + pp->have, sizeof(pp->hdr) - pp->have);
	if (n < 0)
		return n == -EAGAIN ? 0 : (int)n;
	if (n == 0) {
		if (pp->have)
			return bad_header(w, c, "the client closed in the middle of it");
		conn_set_end(c, "client-closed");
		return -EPIPE;
	}
	ret = pp_parse(pp->hdr, pp->have + n, ln->accept_proxy, &pp->info,
		       &why);
	if (ret < 0)
		return bad_header(w, c, why);
	/* all of it is header while incomplete; else just the header */
	k = ret ? ret - pp->have : n;
	if (k > 0 && recv(c->fd[SIDE_CLIENT], pp->hdr + pp->have, k,
			  MSG_DONTWAIT) != k) {
		conn_set_end(c, "error");
		return -EIO;
	}
	pp->have += k;
	conn_touch(w, c);
	if (!ret)
		return 0;
	if (!pp->info.local) {
		memcpy(&c->client, &pp->info.src, pp->info.addr_len);
		c->client_len = pp->info.addr_len;
	}
	pp->pp_done = true;
	return 1;
}

static void set_lowat(struct conn *c, int bytes)
{
	setsockopt(c->fd[SIDE_CLIENT], SOL_SOCKET, SO_RCVLOWAT, &bytes,
		   sizeof(bytes));
	c->pp->lowat = bytes > 1;
}

/*
 * Stage 2, sni-backend: peek at the ClientHello and pick the backend by
 * its server name; nothing is consumed. While it is not whole the
 * socket's receive low-water mark is one byte past what is there, so
 * the client is readable again only when more came (or it closed): a
 * peek that finds nothing new means the client stopped.
 */
static int inspect_sni(struct worker *w, struct conn *c)
{
	struct listener *ln = conn_listener(w, c);
	struct pp_state *pp = c->pp;
	struct sni_info si;
	struct backend *be;
	const char *why;
	char a[ADDR_STRLEN];
	ssize_t n;
	int ret;

	if (!pp->peek) {
		pp->peek = malloc(SNI_PEEK_MAX);
		if (!pp->peek) {
			conn_set_end(c, "no-memory");
			return -ENOMEM;
		}
	}
	n = peek(c, pp->peek, SNI_PEEK_MAX);
	if (n < 0)
		return n == -EAGAIN ? 0 : (int)n;
	if (n == 0 || (pp->lowat && (uint32_t)n <= pp->peeked)) {
		conn_set_end(c, "client-closed");
		return -EPIPE;
	}
	pp->peeked = n;
	ret = sni_parse(pp->peek, n, &si, &why);
	if (ret < 0) {
		STAT_INC(w, conns_bad_tls);
		pr_warn("listener %s: bad TLS ClientHello from %s: %s: closed",
			ln->name,
			addr_format((struct sockaddr *)&c->client,
				    c->client_len, a, sizeof(a)), why);
		conn_set_end(c, "bad-tls");
		return -EPROTO;
	}
	if (!ret) {
		set_lowat(c, n + 1);
		return 0;
	}
	if (pp->lowat)
		set_lowat(c, 1);
	free(pp->peek);
	pp->peek = NULL;
	memcpy(pp->sni, si.name, sizeof(pp->sni));
	be = sni_route(ln, si.name);
	if (be)
		c->be = be;
	pr_debug("listener %s: server name '%s' alpn '%s': backend %s",
		 ln->name, si.name, si.alpn, conn_backend(w, c)->name);
	pp->sni_done = true;
	return 1;
}

int conn_inspect(struct worker *w, struct conn *c)
{
	struct listener *ln = conn_listener(w, c);
	int ret;

	if (c->state != CONN_INSPECT)
		return 1;
	if (!c->pp->pp_done) {
		ret = ln->accept_proxy ? inspect_proxy(w, c) : 1;
		if (ret <= 0)
			return ret;
		c->pp->pp_done = true;
	}
	if (!c->pp->sni_done) {
		ret = ln->nsni ? inspect_sni(w, c) : 1;
		if (ret <= 0)
			return ret;
	}
	/* allow, deny and the per-source limits see the real client */
	ret = conn_admit(w, c);
	if (ret) {
		conn_set_end(c, conn_admit_end(ret));
		return ret;
	}
	return 1;
}

bool conn_inspect_expired(struct worker *w, struct conn *c)
{
	int ms = conn_listener(w, c)->inspect_timeout_ms;

	if (c->state != CONN_INSPECT || w->now_ms - c->t_start < (uint64_t)ms)
		return false;
	STAT_INC(w, inspect_timeouts);
	return true;
}

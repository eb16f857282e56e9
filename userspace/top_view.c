// SPDX-License-Identifier: MIT
/*
 * One screen of `ringlbctl top`: a header of totals and rates, then the
 * listeners, the servers and the kernel's view of the rings, each under
 * a title line. In a window too small for every row, the servers come
 * first: listeners and rings are cut to a few rows, then the servers
 * get the rest, and every cut section ends with "+N more".
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "top.h"

/* rows a cut listener or ring section keeps, its title included */
#define SIDE_ROWS	3

static struct top_line *add(struct top_screen *sc, bool title,
			    const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static struct top_line *add(struct top_screen *sc, bool title,
			    const char *fmt, ...)
{
	struct top_line *l, *nl;
	va_list ap;
	int ncap;

	if (sc->n == sc->cap || !sc->lines) {
		ncap = sc->n ? sc->n * 2 : 32;
		nl = realloc(sc->lines, ncap * sizeof(*nl));
		if (!nl)
			return NULL;
		sc->lines = nl;
		sc->cap = ncap;
	}
	l = &sc->lines[sc->n++];
	l->title = title;
	va_start(ap, fmt);
	vsnprintf(l->text, sizeof(l->text), fmt, ap);
	va_end(ap);
	return l;
}

void top_screen_free(struct top_screen *sc)
{
	free(sc->lines);
	sc->lines = NULL;
	sc->n = sc->cap = 0;
}

/* 1.5K, 23M: bytes (or anything) in four characters or so, base 1024 */
static void human(char *buf, size_t len, double v)
{
	static const char units[] = " KMGTP";
	int u = 0;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (!u)
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, v < 10 ? "%.1f%c" : "%.0f%c", v, units[u]);
}

/* per second from @now and @before over @ms, or "-" when unknown */
static void rate(char *buf, size_t len, uint64_t now, uint64_t before,
		 uint64_t ms, bool have, bool bytes)
{
	double r;

	if (!have || !ms || now < before) {
		snprintf(buf, len, "-");
		return;
	}
	r = (double)(now - before) * 1000.0 / ms;
	if (bytes)
		human(buf, len, r);
	else if (r < 100)
		snprintf(buf, len, "%.1f", r);
	else
		human(buf, len, r);
}

static void uptime(char *buf, size_t len, uint64_t ms)
{
	uint64_t s = ms / 1000;

	if (s >= 86400)
		snprintf(buf, len, "%llud%02lluh",
			 (unsigned long long)(s / 86400),
			 (unsigned long long)(s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(buf, len, "%lluh%02llum",
			 (unsigned long long)(s / 3600),
			 (unsigned long long)(s % 3600 / 60));
	else
		snprintf(buf, len, "%llum%02llus",
			 (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
}

static int header(struct top_screen *sc, const struct top_view *v)
{
	const struct top_sample *c = v->cur, *p = v->prev;
	const struct top_stats *s = &c->stats, *ps = p ? &p->stats : NULL;
	uint64_t ms = p ? c->t_ms - p->t_ms : 0;
	char up[32], cr[16], bu[16], bd[16];
	bool have = ps && p->have_stats;

	uptime(up, sizeof(up), s->uptime_ms);
	rate(cr, sizeof(cr), s->conns_total, have ? ps->conns_total : 0, ms,
	     have, false);
	rate(bu, sizeof(bu), s->bytes_up, have ? ps->bytes_up : 0, ms, have,
	     true);
	rate(bd, sizeof(bd), s->bytes_down, have ? ps->bytes_down : 0, ms,
	     have, true);
	if (!add(sc, false, "ringlb %s  pid %s  %s/%s  up %s  reloads %llu (%llu failed)",
		 s->version, s->pid, s->engine, s->forward, up,
		 (unsigned long long)s->reloads,
		 (unsigned long long)s->reload_failures) ||
	    !add(sc, false, "conns %llu active, %llu total, %s/s  bytes/s up %s down %s",
		 (unsigned long long)s->conns_active,
		 (unsigned long long)s->conns_total, cr, bu, bd) ||
	    !add(sc, false, "errors connect %llu (timeout %llu)  no-server %llu  refused %llu  resets %llu  timeouts %llu",
		 (unsigned long long)s->connect_errors,
		 (unsigned long long)s->connect_timeouts,
		 (unsigned long long)s->no_server,
		 (unsigned long long)(s->conns_denied + s->conns_limited +
				      s->conns_rate_limited +
				      s->conns_bad_proxy + s->conns_bad_tls),
		 (unsigned long long)s->resets,
		 (unsigned long long)(s->idle_timeouts + s->client_timeouts +
				      s->server_timeouts + s->write_timeouts)))
		return -ENOMEM;
	return 0;
}

/*
 * A title and @n rows in at most @budget lines (< 0: no bound): all of
 * them, or as many as fit above a "+N more" line.
 */
static int section(struct top_screen *sc, const struct top_view *v,
		   int budget, const char *title, size_t n,
		   int (*row)(struct top_screen *sc, const struct top_view *v,
			      size_t i))
{
	size_t i, show = n;

	if (!budget)
		return 0;
	if (!add(sc, true, "%s", title))
		return -ENOMEM;
	if (budget > 0 && n + 1 > (size_t)budget)
		show = budget >= 2 ? budget - 2 : 0;
	for (i = 0; i < show; i++)
		if (row(sc, v, i))
			return -ENOMEM;
	if (show < n && budget >= 2 &&
	    !add(sc, false, "  +%zu more", n - show))
		return -ENOMEM;
	return 0;
}

static int listener_row(struct top_screen *sc, const struct top_view *v,
			size_t i)
{
	const struct top_listener *l = &v->cur->listeners[i];

	return add(sc, false, "%-16s %-16s %7s %s", l->name, l->backend,
		   l->max_conns, l->binds) ? 0 : -ENOMEM;
}

static const struct top_server *prev_server(const struct top_view *v,
					    size_t i)
{
	const struct top_server *s = &v->cur->servers[i], *p;
	size_t j;

	if (!v->prev || !v->prev->have_servers)
		return NULL;
	/* the same position first: the list rarely changes */
	for (j = 0; j < v->prev->nservers; j++) {
		p = &v->prev->servers[(i + j) % v->prev->nservers];
		if (!strcmp(p->backend, s->backend) &&
		    !strcmp(p->name, s->name))
			return p;
	}
	return NULL;
}

static int server_row(struct top_screen *sc, const struct top_view *v,
		      size_t i)
{
	const struct top_server *s = &v->cur->servers[i];
	const struct top_server *p = prev_server(v, i);
	char name[2 * TOP_NAME + 2], cr[16];

	snprintf(name, sizeof(name), "%s/%s", s->backend, s->name);
	/* a name longer than its column ends in '~' */
	if (strlen(name) > 20)
		strcpy(name + 19, "~");
	rate(cr, sizeof(cr), s->total, p ? p->total : 0,
	     v->prev ? v->cur->t_ms - v->prev->t_ms : 0, p, false);
	return add(sc, false, "%-20s %-8s %6s %6llu %7s %9llu %7llu %-9s %s%s",
		   name, s->state, s->weight,
		   (unsigned long long)s->active, cr,
		   (unsigned long long)s->total,
		   (unsigned long long)s->connect_errors, s->checks,
		   s->address, s->backup ? " backup" : "") ? 0 : -ENOMEM;
}

static const struct top_ring *prev_ring(const struct top_view *v, size_t i)
{
	size_t j;

	if (!v->prev || !v->prev->have_kernel)
		return NULL;
	for (j = 0; j < v->prev->nrings; j++)
		if (v->prev->rings[j].id == v->cur->rings[i].id)
			return &v->prev->rings[j];
	return NULL;
}

static int ring_row(struct top_screen *sc, const struct top_view *v,
		    size_t i)
{
	const struct top_ring *r = &v->cur->rings[i], *p = prev_ring(v, i);
	uint64_t ms = v->prev ? v->cur->t_ms - v->prev->t_ms : 0;
	char sub[16], comp[16];

	rate(sub, sizeof(sub), r->submitted, p ? p->submitted : 0, ms, p,
	     false);
	rate(comp, sizeof(comp), r->completed, p ? p->completed : 0, ms, p,
	     false);
	return add(sc, false, "%-6llu %-8s %6llu %9s %9s %12llu %12llu %9llu",
		   (unsigned long long)r->id, r->pid,
		   (unsigned long long)r->sq_entries, sub, comp,
		   (unsigned long long)r->submitted,
		   (unsigned long long)r->failed,
		   (unsigned long long)r->cq_overflow) ? 0 : -ENOMEM;
}

/* without uringstat: why, then ringlb's own count of its ring work */
static int kernel_absent(struct top_screen *sc, const struct top_view *v)
{
	const struct top_sample *c = v->cur, *p = v->prev;
	uint64_t ms = p ? c->t_ms - p->t_ms : 0;
	bool have = p && p->have_stats;
	char sq[16], cq[16], en[16];

	rate(sq, sizeof(sq), c->stats.uring_sqes,
	     have ? p->stats.uring_sqes : 0, ms, have, false);
	rate(cq, sizeof(cq), c->stats.uring_cqes,
	     have ? p->stats.uring_cqes : 0, ms, have, false);
	rate(en, sizeof(en), c->stats.uring_enter,
	     have ? p->stats.uring_enter : 0, ms, have, false);
	if (!add(sc, true, "KERNEL  uringstat not loaded (%s)",
		 c->kernel_note) ||
	    !add(sc, false, "ringlb's own count: sqes %s/s  cqes %s/s  enter %s/s",
		 sq, cq, en))
		return -ENOMEM;
	return 0;
}

int top_view(struct top_screen *sc, const struct top_view *v)
{
	const struct top_sample *c = v->cur;
	int left, lb = 0, kb = 0, sb, need_l = 0, need_k = 0, ret;

	sc->n = 0;
	if (!c || !c->have_stats) {
		if (!add(sc, false, "ringlb: no answer yet"))
			return -ENOMEM;
		goto footer;
	}
	ret = header(sc, v);
	if (ret)
		return ret;
	if (c->have_listeners)
		need_l = 1 + (int)c->nlisteners;
	if (c->have_kernel)
		need_k = c->uringstat ? 1 + (int)c->nrings : 2;
	if (v->rows) {
		/* what is left under the header and above the footer */
		left = v->rows - sc->n - (v->status ? 1 : 0);
		sb = c->have_servers ? 1 + (int)c->nservers : 0;
		lb = need_l;
		kb = need_k;
		if (lb + sb + kb > left) {
			lb = lb < SIDE_ROWS ? lb : SIDE_ROWS;
			kb = kb < SIDE_ROWS ? kb : SIDE_ROWS;
		}
		/* the servers keep a title, a row and "+N more" at least */
		if (left - lb - kb < 3 && kb)
			kb = 0;
		if (left - lb - kb < 3 && lb)
			lb = 0;
		sb = left - lb - kb;
		if (sb < 0)
			sb = 0;
	} else {
		lb = need_l ? -1 : 0;
		kb = need_k ? -1 : 0;
		sb = -1;
	}
	if (need_l && lb &&
	    section(sc, v, lb, "LISTENER         BACKEND          MAXCONN BINDS",
		    c->nlisteners, listener_row))
		return -ENOMEM;
	if (c->have_servers && sb &&
	    section(sc, v, sb, "SERVER               STATE    WEIGHT ACTIVE  CONN/S     TOTAL CONNERR CHECKS    ADDRESS",
		    c->nservers, server_row))
		return -ENOMEM;
	if (need_k && kb) {
		if (!c->uringstat)
			ret = kernel_absent(sc, v);
		else
			ret = section(sc, v, kb, "RING   PID          SQ  SUBMIT/S  COMPL/S    SUBMITTED       FAILED  OVERFLOW",
				      c->nrings, ring_row);
		if (ret)
			return -ENOMEM;
	}
footer:
	if (v->status) {
		/* the footer goes on the last row of a window */
		if (v->rows && sc->n > v->rows - 1)
			sc->n = v->rows > 1 ? v->rows - 1 : 0;
		while (v->rows && sc->n < v->rows - 1)
			if (!add(sc, false, "%s", ""))
				return -ENOMEM;
		if (!add(sc, v->status_alarm, "%s", v->status))
			return -ENOMEM;
	}
	return 0;
}

// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <string.h>

#include "health.h"
#include "log.h"
#include "worker.h"

/*
 * The one place a server's health state changes. Coming up starts its
 * slow start, when the backend has one; @now_ms is clock_ms().
 */
static void set_up(struct backend *be, struct server *srv, bool up,
		   uint64_t now_ms, const char *why)
{
	if (atomic_exchange(&srv->up, up) == up)
		return;
	if (up && be->slow_start_ms)
		atomic_store(&srv->ramp_start, now_ms ? now_ms : 1);
	atomic_fetch_add(&be->state_gen, 1);
	if (up)
		pr_warn("server %s/%s (%s) is UP: %s", be->name, srv->name,
			srv_at(srv)->str, why);
	else
		pr_warn("server %s/%s (%s) is DOWN: %s", be->name, srv->name,
			srv_at(srv)->str, why);
}

void health_result(struct worker *w, struct backend *be, struct server *srv,
		   bool ok, const char *why)
{
	char msg[192];

	atomic_fetch_add_explicit(&srv->hc_total[ok], 1, memory_order_relaxed);
	if (ok) {
		srv->hc_fail = 0;
		/* passive health's time out holds whatever the checks say */
		if (++srv->hc_ok >= (unsigned int)be->rise &&
		    !atomic_load(&srv->up) &&
		    w->now_ms >= atomic_load(&srv->passive_until)) {
			snprintf(msg, sizeof(msg), "%u checks passed",
				 srv->hc_ok);
			atomic_store(&srv->fails, 0);
			atomic_store(&srv->reset_run, 0);
			set_up(be, srv, true, w->now_ms, msg);
		}
	} else {
		srv->hc_ok = 0;
		if (++srv->hc_fail >= (unsigned int)be->fall &&
		    atomic_load(&srv->up)) {
			snprintf(msg, sizeof(msg), "%u checks failed, last: %s",
				 srv->hc_fail, why);
			set_up(be, srv, false, w->now_ms, msg);
		}
	}
}

/* passive health takes @srv out: for passive-down ms at least */
static void passive_down(struct worker *w, struct backend *be,
			 struct server *srv, const char *msg)
{
	if (!atomic_load(&srv->up))
		return;
	atomic_store(&srv->passive_until, w->now_ms + be->passive_down_ms);
	atomic_fetch_add_explicit(&srv->passive_downs, 1,
				  memory_order_relaxed);
	srv->hc_ok = 0;
	set_up(be, srv, false, w->now_ms, msg);
}

/*
 * Passive health, from live traffic on any worker: passive-fall connects
 * in a row that failed (a connect that works resets the run), or
 * passive-fall connections in a row that the server reset before it was
 * sent a byte (one that ended otherwise resets that run), take the server
 * out for passive-down ms. Then, without active checks it is simply
 * tried again; with them it needs rise good checks, counted meanwhile.
 */
void server_connect_result(struct worker *w, struct backend *be,
			   struct server *srv, bool ok)
{
	unsigned int fails;
	char msg[96];

	if (ok) {
		if (atomic_load_explicit(&srv->fails, memory_order_relaxed))
			atomic_store(&srv->fails, 0);
		return;
	}
	fails = atomic_fetch_add(&srv->fails, 1) + 1;
	if (be->passive_fall && fails >= (unsigned int)be->passive_fall) {
		snprintf(msg, sizeof(msg), "%u consecutive connect failures",
			 fails);
		passive_down(w, be, srv, msg);
	}
}

void server_conn_ended(struct worker *w, struct backend *be,
		       struct server *srv, bool reset, bool fed)
{
	unsigned int run;
	char msg[96];

	if (reset)
		atomic_fetch_add_explicit(&srv->resets, 1,
					  memory_order_relaxed);
	/*
	 * A reset after client bytes may be the client's doing: a server
	 * closes with unread input on a request it refuses, or on the data
	 * streams of an iperf3 test that ended. Counted, it would let any
	 * client take a server out for everyone with three bad requests.
	 * A server that resets what it was never sent (a dead application
	 * behind a live listener, an overflowing accept queue with
	 * tcp_abort_on_overflow) is failing on its own.
	 */
	if (!reset || fed) {
		if (atomic_load_explicit(&srv->reset_run, memory_order_relaxed))
			atomic_store(&srv->reset_run, 0);
		return;
	}
	run = atomic_fetch_add(&srv->reset_run, 1) + 1;
	if (be->passive_fall && run >= (unsigned int)be->passive_fall) {
		snprintf(msg, sizeof(msg),
			 "%u connections in a row reset by the server", run);
		passive_down(w, be, srv, msg);
	}
}

/*
 * Without active checks nothing else would bring it up; with them the
 * checks, which failed while it had no address, do.
 */
void server_found(struct backend *be, struct server *srv)
{
	if (be->health == HEALTH_NONE)
		set_up(be, srv, true, clock_ms(), "its name resolved");
}

void health_tick(struct worker *w,
		 int (*start)(struct worker *w, unsigned int be,
			      unsigned int srv))
{
	const struct config *cfg = w->cfg;
	unsigned int b, s;

	for (b = 0; b < cfg->nbackends; b++) {
		struct backend *be = &cfg->backends[b];

		for (s = 0; s < be->nservers; s++) {
			struct server *srv = &be->servers[s];

			/* a name not resolved yet has nowhere to go */
			if (srv->host[0] && !atomic_load(&srv->resolved))
				continue;
			if (be->health == HEALTH_NONE) {
				if (!atomic_load(&srv->up) &&
				    w->now_ms >= atomic_load(&srv->passive_until)) {
					atomic_store(&srv->fails, 0);
					atomic_store(&srv->reset_run, 0);
					set_up(be, srv, true, w->now_ms,
					       "retry after passive down");
				}
				continue;
			}
			if (srv->hc_next > w->now_ms)
				continue;
			srv->hc_next = w->now_ms + be->health_interval_ms;
			if (atomic_load(&srv->disabled))
				continue;
			if (start(w, b, s))
				health_result(w, be, srv, false, "no socket");
		}
	}
}

void server_set_admin(struct backend *be, struct server *srv, bool disabled)
{
	if (atomic_exchange(&srv->disabled, disabled) != disabled) {
		/* back from maintenance: as from down, it ramps up */
		if (!disabled && be->slow_start_ms)
			atomic_store(&srv->ramp_start, clock_ms());
		atomic_fetch_add(&be->state_gen, 1);
		pr_warn("server %s/%s %s by admin", be->name, srv->name,
			disabled ? "disabled" : "enabled");
	}
}

void server_set_weight(struct backend *be, struct server *srv,
		       unsigned int weight)
{
	if (atomic_exchange(&srv->weight, weight) != weight) {
		atomic_fetch_add(&be->state_gen, 1);
		pr_info("server %s/%s weight set to %u", be->name, srv->name,
			weight);
	}
}

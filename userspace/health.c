// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <string.h>

#include "health.h"
#include "log.h"
#include "worker.h"

static void set_up(struct backend *be, struct server *srv, bool up,
		   const char *why)
{
	if (atomic_exchange(&srv->up, up) == up)
		return;
	atomic_fetch_add(&be->state_gen, 1);
	if (up)
		pr_warn("server %s/%s (%s) is UP: %s", be->name, srv->name,
			srv->addr_str, why);
	else
		pr_warn("server %s/%s (%s) is DOWN: %s", be->name, srv->name,
			srv->addr_str, why);
}

void health_result(struct worker *w, struct backend *be, struct server *srv,
		   bool ok, const char *why)
{
	char msg[96];

	atomic_fetch_add_explicit(&srv->hc_total[ok], 1, memory_order_relaxed);
	if (ok) {
		srv->hc_fail = 0;
		if (++srv->hc_ok >= (unsigned int)be->rise &&
		    !atomic_load(&srv->up)) {
			snprintf(msg, sizeof(msg), "%u checks passed",
				 srv->hc_ok);
			atomic_store(&srv->fails, 0);
			set_up(be, srv, true, msg);
		}
	} else {
		srv->hc_ok = 0;
		if (++srv->hc_fail >= (unsigned int)be->fall &&
		    atomic_load(&srv->up)) {
			snprintf(msg, sizeof(msg), "%u checks failed, last: %s",
				 srv->hc_fail, why);
			set_up(be, srv, false, msg);
		}
	}
	(void)w;
}

/*
 * Passive health: fall consecutive connect failures from any worker mark
 * a server down. Without active checks it comes back after one health
 * interval (a timed retry); with them, after rise good checks.
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
	if (fails >= (unsigned int)be->fall && atomic_load(&srv->up)) {
		srv->down_since = w->now_ms;
		snprintf(msg, sizeof(msg), "%u consecutive connect failures",
			 fails);
		srv->hc_ok = 0;
		set_up(be, srv, false, msg);
	}
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

			if (be->health == HEALTH_NONE) {
				if (!atomic_load(&srv->up) &&
				    w->now_ms - srv->down_since >=
				    (uint64_t)be->health_interval_ms) {
					atomic_store(&srv->fails, 0);
					set_up(be, srv, true,
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

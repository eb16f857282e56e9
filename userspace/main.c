// SPDX-License-Identifier: MIT
/*
 * ringlb: start-up, engine choice, and the worker generations.
 *
 * The main thread never touches the data path. It owns the signals (via
 * signalfd) and runs one "generation" of workers per configuration: a
 * reload starts a new one on the new configuration (taking over the
 * listening sockets with dup(), so no connection is refused) and lets
 * the old one drain, bounded by hard-stop-after; a shutdown then bounds
 * every generation by the grace period, a second SIGTERM ends them now.
 * Its poll loop also serves the control plane (control_io.c), which
 * never blocks it: signals are handled whatever admin and metrics
 * clients do.
 */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "handover.h"
#include "inherit.h"
#include "log.h"
#include "notify.h"
#include "resolver.h"
#include "uring.h"
#include "version.h"
#include "worker.h"

/* longest a new generation waits for the old one's accepts to end */
#define HOLD_MAX_MS	1000

static struct runtime rt;
static int g_argc;
static char **g_argv;
static bool stopping;
static int term_signals;	/* SIGTERM/SIGINT received: 2 = stop now */

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int ret;

	w->tid = syscall(SYS_gettid);
	ret = w->engine->run(w);
	if (ret)
		pr_err("worker %u stopped: %s", w->id, strerror(-ret));
	w->exit_status = ret;
	atomic_store(&w->exited, true);
	/* tell the main thread, which reaps finished groups */
	kill(getpid(), SIGUSR2);
	return NULL;
}

/*
 * --engine auto: io_uring when a ring can be created here, else epoll,
 * saying why (ENOSYS: kernel without io_uring; EPERM: the
 * kernel.io_uring_disabled sysctl or a seccomp filter).
 */
static const struct engine *choose_engine(const struct config *cfg)
{
	int ret;

	if (cfg->engine == ENGINE_EPOLL)
		return &engine_epoll;
	ret = uring_probe();
	if (!ret) {
		uring_log_caps();
		return &engine_uring;
	}
	if (cfg->engine == ENGINE_URING) {
		pr_err("io_uring unavailable: %s", strerror(-ret));
		return NULL;
	}
	pr_warn("io_uring unavailable (%s%s): falling back to epoll",
		strerror(-ret),
		ret == -EPERM ? ", kernel.io_uring_disabled or seccomp" :
		ret == -ENOSYS ? ", kernel built without io_uring" : "");
	return &engine_epoll;
}

/*
 * --forward auto. Buffers where the kernel has buffer rings and multishot
 * recv (no io-wq handoff per chunk); splice otherwise. For epoll, plain
 * recv/send through pooled buffers.
 */
static enum forward_kind choose_forward(const struct config *cfg,
					const struct engine *e)
{
	if (e == &engine_epoll)
		return cfg->forward == FORWARD_AUTO ? FORWARD_BUFFERS :
						      cfg->forward;
	if (cfg->forward == FORWARD_SPLICE && !uring_caps.splice) {
		pr_warn("kernel lacks IORING_OP_SPLICE: using buffers");
		return FORWARD_BUFFERS;
	}
	if (cfg->forward == FORWARD_BUFFERS && !uring_caps.buf_ring) {
		pr_warn("kernel lacks provided buffer rings: using splice");
		return FORWARD_SPLICE;
	}
	if (cfg->forward != FORWARD_AUTO)
		return cfg->forward;
	return uring_caps.buf_ring && uring_caps.recv_multishot ?
	       FORWARD_BUFFERS : FORWARD_SPLICE;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* ---- worker groups ------------------------------------------------------ */

static void group_free(struct generation *g, unsigned int setup)
{
	unsigned int i;

	for (i = 0; i < setup; i++)
		worker_teardown(&g->workers[i]);
	free(g->workers);
	/* before the config it writes the addresses of */
	resolver_stop(g->res);
	config_free(g->cfg);
	free(g->cfg);
	free(g);
}

/*
 * Workers set up and listening, threads not started yet: on the sockets
 * of @old (a reload) or of @inh (start-up), else bound fresh.
 */
static struct generation *group_create(struct config *cfg,
				       struct generation *old,
				       struct inherit *inh)
{
	struct generation *g = calloc(1, sizeof(*g));
	unsigned int i, setup = 0;
	int ret;

	if (!g)
		return NULL;
	g->cfg = cfg;
	g->nworkers = cfg->threads;
	g->workers = calloc(g->nworkers, sizeof(*g->workers));
	if (!g->workers)
		goto out_free;
	for (i = 0; i < g->nworkers; i++) {
		struct worker *w = &g->workers[i];

		w->id = i;
		w->cfg = cfg;
		w->engine = rt.engine;
		w->forward = rt.forward;
		/* no accepts until group_release() */
		atomic_store(&w->hold, true);
		ret = worker_setup(w);
		if (ret) {
			pr_err("worker %u setup: %s", i, strerror(-ret));
			goto out_free;
		}
		setup++;
		ret = worker_listen(w, old && i < old->nworkers ?
				       &old->workers[i] : NULL, inh);
		if (ret)
			goto out_free;
	}
	return g;

out_free:
	g->cfg = NULL;	/* the caller still owns it */
	for (i = 0; i < setup; i++)
		worker_teardown(&g->workers[i]);
	free(g->workers);
	free(g);
	return NULL;
}

/*
 * Start @g's threads. When one cannot be started (pthread_create()
 * fails with EAGAIN under a task limit), the ones after it never run:
 * they are marked exited, and the caller stops those that did start.
 */
static int group_start(struct generation *g)
{
	unsigned int i, j;
	int ret;

	/* names first: a worker takes no client before they are known */
	g->res = resolver_start(g->cfg);
	for (i = 0; i < g->nworkers; i++) {
		ret = pthread_create(&g->workers[i].thread, NULL, worker_main,
				     &g->workers[i]);
		if (!ret)
			continue;
		pr_err("starting worker %u of %u: %s", i, g->nworkers,
		       strerror(ret));
		for (j = i; j < g->nworkers; j++) {
			/* glibc may have written a handle that is no thread */
			g->workers[j].thread = 0;
			atomic_store(&g->workers[j].exited, true);
		}
		return -ret;
	}
	return 0;
}

/*
 * Tell @g's workers to stop accepting and drain, for at most @ms from
 * now (< 0: no bound). Asked again, a worker keeps the earlier of the
 * two deadlines (worker_start_drain()), so each step of a shutdown can
 * only shorten it.
 */
static void group_stop(struct generation *g, int ms)
{
	uint64_t now = clock_ms(), until = ms < 0 ? UINT64_MAX : now + ms;
	unsigned int i;

	/*
	 * Never loosen a bound the workers may not have read yet: a
	 * SIGTERM right after a reload must not replace a shorter
	 * hard-stop-after before the workers saw it.
	 */
	if (g->draining && g->stop_until < until)
		until = g->stop_until;
	g->stop_until = until;
	ms = until == UINT64_MAX ? -1 : until > now ? (int)(until - now) : 0;
	g->draining = true;
	for (i = 0; i < g->nworkers; i++) {
		/* before stop: the worker reads it once it sees stop */
		atomic_store(&g->workers[i].drain_ms, ms);
		atomic_store(&g->workers[i].stop, 1);
		worker_wake(&g->workers[i]);
	}
}

/* hard-stop-after as group_stop() takes it: 0 means no bound */
static int hard_stop_ms(const struct config *cfg)
{
	return cfg->hard_stop_after_ms ? cfg->hard_stop_after_ms : -1;
}

static bool group_exited(struct generation *g)
{
	unsigned int i;

	for (i = 0; i < g->nworkers; i++)
		if (!atomic_load(&g->workers[i].exited))
			return false;
	return true;
}

static void generation_join(struct generation *g)
{
	unsigned int i;

	if (g->joined)
		return;
	for (i = 0; i < g->nworkers; i++)
		if (g->workers[i].thread)
			pthread_join(g->workers[i].thread, NULL);
	g->joined = true;
}

/*
 * Let @g's workers accept. A new generation is held until all of its
 * workers started (a half-started one never serves anybody) and until
 * the generation before it has no accept left (worker.c says why).
 */
static void group_release(struct generation *g)
{
	unsigned int i;

	g->held = false;
	for (i = 0; i < g->nworkers; i++) {
		atomic_store(&g->workers[i].hold, false);
		worker_wake(&g->workers[i]);
	}
}

/*
 * The newest generation, held behind one that stops accepting now.
 * Returns how long it may still wait (ms), -1 when none waits. An old
 * worker that never says its accepts are gone (it should within a
 * tick) does not keep the new generation from serving: after
 * HOLD_MAX_MS it is released anyway, and that is logged.
 */
static int release_held(void)
{
	struct generation *g = rt.groups, *old = g->next;
	uint64_t waited = clock_ms() - g->held_since;
	unsigned int i;

	if (!g->held || g->draining)
		return -1;
	for (i = 0; old && i < old->nworkers; i++) {
		if (atomic_load(&old->workers[i].accepts_gone) ||
		    atomic_load(&old->workers[i].exited))
			continue;
		if (waited < HOLD_MAX_MS)
			return HOLD_MAX_MS - waited;
		pr_warn("reload: previous worker %u still has accepts after %d ms: new workers accept anyway",
			i, HOLD_MAX_MS);
		break;
	}
	group_release(g);
	return -1;
}

/* Keep an exited generation's figures in the process totals. */
static void retire_stats(struct generation *g)
{
	unsigned int i;

	for (i = 0; i < g->nworkers; i++) {
#define X(name) rt.retired.name += STAT_GET(&g->workers[i], name);
		WORKER_STATS(X)
#undef X
	}
	rt.retired.conns_active = 0;
}

/*
 * A generation that could not start in full: its workers that did
 * start never accepted (held), so they stop at once and are joined
 * here, and it is freed without ever having served.
 */
static void group_discard(struct generation *g)
{
	group_stop(g, 0);
	generation_join(g);
	retire_stats(g);
	group_free(g, g->nworkers);
}

/*
 * Join generations whose workers all finished and keep their figures.
 * The newest one stays listed (the control plane reads its config) and
 * is never folded into the retired figures, so nothing counts twice.
 * Returns 1 when a worker of a generation still in service failed.
 */
static int reap_groups(void)
{
	struct generation **pp = &rt.groups, *g;
	int failed = 0;
	unsigned int i;

	while ((g = *pp)) {
		if (!group_exited(g)) {
			pp = &g->next;
			continue;
		}
		generation_join(g);
		for (i = 0; i < g->nworkers; i++)
			if (g->workers[i].exit_status && !g->draining)
				failed = 1;
		if (g == rt.groups && !g->next)
			return failed;
		retire_stats(g);
		*pp = g->next;
		group_free(g, g->nworkers);
	}
	return failed;
}

/*
 * A listener's counters go on under its name, so that its metrics do not
 * start from zero at each reload. As with the servers' counters, what the
 * previous generation's draining connections add afterwards is not
 * reported; the clients open now are each generation's own (the metrics
 * add them up).
 */
static void carry_listener_counters(struct config *to, struct config *from)
{
	unsigned int i, j;

	for (i = 0; i < to->nlisteners; i++) {
		struct listener *n = &to->listeners[i];

		for (j = 0; j < from->nlisteners; j++) {
			struct listener *o = &from->listeners[j];

			if (strcmp(n->name, o->name))
				continue;
			atomic_store(&n->sessions_total,
				     atomic_load(&o->sessions_total));
			atomic_store(&n->denied, atomic_load(&o->denied));
			atomic_store(&n->bytes_in, atomic_load(&o->bytes_in));
			atomic_store(&n->bytes_out, atomic_load(&o->bytes_out));
			break;
		}
	}
}

/*
 * Carry runtime state from the previous generation's servers by name.
 * A server the reload added (or moved to a new address) in a backend
 * that was there before starts its slow start, as one coming up does.
 */
static void carry_state(struct config *to, struct config *from)
{
	uint64_t now = clock_ms();
	unsigned int b, s;

	for (b = 0; b < to->nbackends; b++) {
		struct backend *be = &to->backends[b];
		struct backend *old = config_find_backend(from, be->name);

		for (s = 0; old && s < be->nservers; s++) {
			char spec[2 * NAME_MAX_LEN + 2];
			struct server *n = &be->servers[s], *o;

			snprintf(spec, sizeof(spec), "%s/%s", be->name, n->name);
			o = config_find_server(from, spec, NULL);
			/* the same name: the address it last resolved to */
			if (o && n->host[0] && !strcmp(n->host, o->host) &&
			    n->port == o->port && o->resolved) {
				server_set_addr(be, n, &n->slots[0],
						&srv_at(o)->addr);
				n->resolved = true;
			}
			if (!o || !addr_equal(&srv_at(o)->addr, &srv_at(n)->addr)) {
				if (be->slow_start_ms)
					atomic_store(&n->ramp_start, now);
				continue;
			}
			atomic_store(&n->ramp_start, atomic_load(&o->ramp_start));
			atomic_store(&n->passive_until,
				     atomic_load(&o->passive_until));
			atomic_store(&n->resets, atomic_load(&o->resets));
			atomic_store(&n->passive_downs,
				     atomic_load(&o->passive_downs));
			atomic_store(&n->up, atomic_load(&o->up));
			atomic_store(&n->conns_total,
				     atomic_load(&o->conns_total));
			atomic_store(&n->connect_errors,
				     atomic_load(&o->connect_errors));
			atomic_store(&n->hc_total[0], atomic_load(&o->hc_total[0]));
			atomic_store(&n->hc_total[1], atomic_load(&o->hc_total[1]));
			atomic_store(&n->bytes_in, atomic_load(&o->bytes_in));
			atomic_store(&n->bytes_out, atomic_load(&o->bytes_out));
			n->hc_ok = o->hc_ok;
			n->hc_fail = o->hc_fail;
		}
	}
	carry_listener_counters(to, from);
}

static void reload(void)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	struct generation *old = rt.groups, *g;
	bool check_only;

	if (!cfg)
		return;
	if (!old->cfg->file) {
		pr_warn("SIGHUP: nothing to reload without a config file (-c)");
		free(cfg);
		return;
	}
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
		   (unsigned long long)clock_ms() * 1000);
	pr_info("SIGHUP: reloading %s", old->cfg->file);
	if (config_from_args(cfg, g_argc, g_argv, &check_only)) {
		pr_err("reload: %s is not valid: keeping the running configuration",
		       old->cfg->file);
		goto out_fail;
	}
	if (cfg->threads != old->cfg->threads)
		pr_warn("reload: threads changed from %d to %d", old->cfg->threads,
			cfg->threads);
	if (strcmp(cfg->admin_path, old->cfg->admin_path) ||
	    cfg->metrics_on != old->cfg->metrics_on ||
	    (cfg->metrics_on && !addr_equal(&cfg->metrics, &old->cfg->metrics)))
		pr_warn("reload: admin and metrics endpoints change only on restart");
	g = group_create(cfg, old, NULL);
	if (!g) {
		pr_err("reload: cannot start the new configuration: keeping the running one");
		goto out_fail;
	}
	carry_state(cfg, old->cfg);
	if (group_start(g)) {
		/*
		 * Roll back. The old generation was never told anything and
		 * keeps serving; the new workers that did start were held
		 * from accepting, so they have nobody to drain.
		 */
		pr_err("reload: new workers could not start: keeping the running configuration");
		group_discard(g);
		rt.reload_failures++;
		sd_notify(0, "READY=1");
		return;
	}
	/* accepting once the old workers stopped: release_held() */
	g->held = true;
	g->held_since = clock_ms();
	group_stop(old, hard_stop_ms(cfg));
	g->next = rt.groups;
	rt.groups = g;
	rt.reloads++;
	pr_info("reload: %u listener%s, %u backend%s; previous workers drain their connections",
		cfg->nlisteners, cfg->nlisteners == 1 ? "" : "s",
		cfg->nbackends, cfg->nbackends == 1 ? "" : "s");
	if (cfg->hard_stop_after_ms)
		pr_info("reload: previous workers close what is left after %d ms (hard-stop-after)",
			cfg->hard_stop_after_ms);
	sd_notify(0, "READY=1");
	/* a listener the reload added is kept for the next start too */
	fdstore_push(g);
	return;

out_fail:
	rt.reload_failures++;
	config_free(cfg);
	free(cfg);
	sd_notify(0, "READY=1");
}

/* ---- stopping ------------------------------------------------------ */

/*
 * Stop every generation, bounded by @ms (< 0: no bound). Each call can
 * only bring the end closer: the first SIGTERM's grace shortens a
 * retired generation's hard-stop-after, a second SIGTERM's 0 ends all.
 */
static void stop_all(int ms)
{
	struct generation *g;

	if (!stopping)
		sd_notify(0, "STOPPING=1");
	stopping = true;
	rt.stopping = true;	/* the health answer: draining */
	for (g = rt.groups; g; g = g->next)
		group_stop(g, ms);
}

static void on_signal(const struct signalfd_siginfo *si)
{
	const struct config *cfg = rt.groups->cfg;
	const char *name = si->ssi_signo == SIGINT ? "SIGINT" : "SIGTERM";

	switch (si->ssi_signo) {
	case SIGUSR1:
		stats_log(&rt);
		break;
	case SIGHUP:
		if (!stopping)
			reload();
		break;
	case SIGINT:
	case SIGTERM:
		/* the first drains with the grace, the second means now */
		if (++term_signals == 1) {
			pr_info("%s: draining (grace %d ms)", name,
				cfg->drain_timeout_ms);
			stop_all(cfg->drain_timeout_ms);
		} else if (term_signals == 2) {
			pr_info("%s again: stopping now, closing every connection",
				name);
			stop_all(0);
		}
		break;
	case SIGQUIT:
		/* nginx's graceful stop: connections finish, hard-stop-after */
		if (cfg->hard_stop_after_ms)
			pr_info("SIGQUIT: graceful stop, draining until connections finish (hard-stop-after %d ms)",
				cfg->hard_stop_after_ms);
		else
			pr_info("SIGQUIT: graceful stop, draining until connections finish");
		stop_all(hard_stop_ms(cfg));
		break;
	case SIGUSR2:
		break;		/* a worker exited: reaped by the loop */
	}
}

static void read_signals(int sfd)
{
	struct signalfd_siginfo si;

	while (read(sfd, &si, sizeof(si)) == sizeof(si))
		on_signal(&si);
}

/* ---- privileges ------------------------------------------------------------------ */

/*
 * `user =` can only be honoured by a process that may change its user:
 * root, or one with CAP_SETUID and CAP_SETGID. Checked with --check too,
 * so a configuration that cannot work where it is checked is caught
 * before a start: the packaged unit runs ringlb (and its ExecStartPre
 * --check) as a DynamicUser with neither capability. Not at a reload:
 * the running daemon gave its privileges up on purpose.
 */
static int user_check(struct config *cfg)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2] = { { 0 } };
	const uint32_t need = 1u << CAP_SETUID | 1u << CAP_SETGID;
	bool able;

	unsigned int i;
	bool transparent = false;

	for (i = 0; i < cfg->nlisteners; i++)
		transparent |= cfg->listeners[i].transparent > 0;
	if (transparent) {
		/* every connect binds a foreign address: IP_TRANSPARENT */
		if (cfg->user[0]) {
			config_error(cfg, 0, "transparent = on: connects need CAP_NET_ADMIN for good, and user = %s gives it up: remove `user =` (a unit can keep the capability instead)",
				     cfg->user);
			return -EPERM;
		}
		if (syscall(SYS_capget, &hdr, data) ? geteuid() != 0 :
		    !(data[0].effective & 1u << CAP_NET_ADMIN)) {
			config_error(cfg, 0, "transparent = on: this process lacks CAP_NET_ADMIN (uid %u), which IP_TRANSPARENT needs",
				     (unsigned int)geteuid());
			return -EPERM;
		}
	}
	if (!cfg->user[0])
		return 0;
	if (syscall(SYS_capget, &hdr, data))
		able = !geteuid();
	else
		able = (data[0].effective & need) == need;
	if (able)
		return 0;
	config_error(cfg, 0, "user = %s: this process cannot change its user (uid %u, without CAP_SETUID and CAP_SETGID)%s",
		     cfg->user, (unsigned int)geteuid(),
		     getenv("INVOCATION_ID") ?
		     "; under systemd the unit chooses the user (the packaged ringlb.service runs it as a DynamicUser): remove `user =` from the configuration" :
		     "; start ringlb as root, or remove `user =`");
	return -EPERM;
}

/*
 * The admin socket is not handed to @user: it stays with the user that
 * made it (control_io.c says why), and the daemon keeps its descriptor.
 */
static int drop_privileges(const char *user)
{
	struct passwd *pw = getpwnam(user);

	if (!pw) {
		pr_err("--user %s: no such user", user);
		return -ENOENT;
	}
	if (setgroups(0, NULL) || setgid(pw->pw_gid) || setuid(pw->pw_uid)) {
		pr_err("dropping privileges to %s: %s", user, strerror(errno));
		return -errno;
	}
	if (setuid(0) == 0) {
		pr_err("dropping privileges to %s: still root", user);
		return -EPERM;
	}
	pr_info("running as %s (uid %u, gid %u)", user, pw->pw_uid,
		pw->pw_gid);
	return 0;
}

/* ---- main ---------------------------------------------------------------------------- */

static void serve(int sfd, struct control *ctl, int *status)
{
	struct generation *g;

	for (;;) {
		struct pollfd pfd[1 + CTL_POLL_MAX];
		int timeout = release_held();
		unsigned int n, i;

		pfd[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		n = control_poll_fds(ctl, pfd + 1, &timeout);
		if (poll(pfd, n + 1, timeout) < 0) {
			if (errno != EINTR) {
				pr_err("poll: %s", strerror(errno));
				*status = 1;
				return;
			}
			for (i = 0; i <= n; i++)
				pfd[i].revents = 0;
		}
		control_serve(ctl, pfd + 1, n);
		if (rt.drain_requested && !stopping) {
			pr_info("admin: drain (grace %d ms)",
				rt.groups->cfg->drain_timeout_ms);
			stop_all(rt.groups->cfg->drain_timeout_ms);
		}
		rt.drain_requested = false;
		if (rt.retire_requested && !stopping) {
			/* as a reload retires a generation: hard-stop-after */
			pr_info("admin: _retire: a new ringlb took the listeners over: draining%s",
				rt.groups->cfg->hard_stop_after_ms ?
				" (hard-stop-after)" : "");
			stop_all(hard_stop_ms(rt.groups->cfg));
		}
		rt.retire_requested = false;
		read_signals(sfd);
		/* a "show conns" in flight still holds workers of theirs */
		if (control_busy(ctl))
			continue;
		if (reap_groups() && !stopping) {
			/* a worker of the running generation died: stop */
			*status = 1;
			for (g = rt.groups; g; g = g->next)
				group_stop(g, rt.groups->cfg->drain_timeout_ms);
			stopping = true;
			rt.stopping = true;
		}
		if (stopping && group_exited(rt.groups) && !rt.groups->next) {
			/* a _retire the workers answered by exiting */
			control_serve(ctl, NULL, 0);
			return;
		}
	}
}

/*
 * Listening sockets from systemd and, with -x, from the running ringlb.
 * Called before the admin socket is bound: with -x, it is usually the
 * same path, and binding it cuts the old process off from that path.
 */
static int inherit_listeners(struct inherit *inh, const struct config *cfg)
{
	int ret = inherit_from_systemd(inh);

	if (!ret && cfg->takeover)
		ret = handover_fetch(inh, cfg->takeover);
	if (ret)
		inherit_finish(inh);
	return ret;
}

/* A start-up that failed: the old process was not told anything. */
static void inherit_abandon(struct inherit *inh)
{
	inherit_finish(inh);
	if (inh->retire_fd >= 0)
		close(inh->retire_fd);
	inh->retire_fd = -1;
	if (inh->metrics_fd >= 0)
		close(inh->metrics_fd);
	inh->metrics_fd = -1;
}

int main(int argc, char **argv)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	struct control *ctl = NULL;
	struct inherit inh;
	bool check_only;
	struct generation *g;
	int sfd, ret, status = 0;
	sigset_t set;

	if (!cfg)
		return 1;
	g_argc = argc;
	g_argv = argv;
	ret = config_from_args(cfg, argc, argv, &check_only);
	if (ret <= 0 && user_check(cfg))
		ret = -EINVAL;
	/*
	 * A configuration (file or command line) that is not valid exits
	 * EX_CONFIG: the unit lists it in RestartPreventExitStatus, since
	 * restarting cannot fix it; anything that fails later exits 1.
	 */
	if (check_only) {
		if (!ret)
			printf("%s: configuration is valid\n",
			       cfg->file ? cfg->file : "command line");
		status = ret ? EX_CONFIG : 0;
		goto out_free_cfg;
	}
	if (ret) {
		status = ret > 0 ? 0 : EX_CONFIG;
		goto out_free_cfg;
	}

	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	rt.started_ms = clock_ms();
	clock_gettime(CLOCK_REALTIME, &rt.started_wall);
	rt.engine = choose_engine(cfg);
	status = 1;
	if (!rt.engine)
		goto out_free_cfg;
	rt.forward = choose_forward(cfg, rt.engine);

	/* workers inherit this mask: only signalfd sees these signals */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		pr_err("signalfd: %s", strerror(errno));
		goto out_free_cfg;
	}

	inherit_init(&inh);
	if (inherit_listeners(&inh, cfg)) {
		close(sfd);
		goto out_free_cfg;
	}
	g = group_create(cfg, NULL, &inh);
	/* what no worker took is closed now, not kept open unseen */
	inherit_finish(&inh);
	if (!g) {
		inherit_abandon(&inh);
		close(sfd);
		goto out_free_cfg;
	}
	rt.groups = g;
	ctl = control_open(&rt, cfg, inherit_take_metrics(&inh,
				cfg->metrics_on ? &cfg->metrics : NULL));
	if (!ctl) {
		inherit_abandon(&inh);
		goto out_free;
	}
	if (cfg->user[0] && drop_privileges(cfg->user)) {
		inherit_abandon(&inh);
		goto out_free;
	}
	/* from here on, workers log through the writer thread */
	if (log_start())
		pr_warn("no log writer thread: workers write their own lines");
	if (group_start(g)) {
		inherit_abandon(&inh);
		group_stop(g, 0);
		goto out_join;
	}
	/* -x: accepting once the old process has no accept left */
	if (inh.retire_fd >= 0)
		handover_retire(&inh);
	group_release(g);
	status = 0;
	pr_info("ringlb %s: %u listener%s on %u address%s, %u backend%s, %u worker%s, engine %s, forward %s",
		RINGLB_VERSION, cfg->nlisteners,
		cfg->nlisteners == 1 ? "" : "s", cfg->nsocks,
		cfg->nsocks == 1 ? "" : "es", cfg->nbackends,
		cfg->nbackends == 1 ? "" : "s", cfg->threads,
		cfg->threads == 1 ? "" : "s", rt.engine->name,
		rt.forward == FORWARD_SPLICE ? "splice" : "buffers");
	sd_notify(0, "READY=1");
	fdstore_push(g);

	serve(sfd, ctl, &status);
out_join:
	/* no "show conns" outlives this: the generations can go */
	control_close(ctl);
	ctl = NULL;
	for (g = rt.groups; g; g = g->next) {
		unsigned int i;

		generation_join(g);
		for (i = 0; i < g->nworkers; i++)
			if (g->workers[i].exit_status)
				status = 1;
	}
	reap_groups();
	stats_log(&rt);
out_free:
	control_close(ctl);
	while ((g = rt.groups)) {
		rt.groups = g->next;
		group_free(g, g->nworkers);
	}
	close(sfd);
	if (!status)
		pr_info("exiting");
	log_stop();
	return status;

out_free_cfg:
	/* before any generation took ownership of it */
	config_free(cfg);
	free(cfg);
	return status;
}

// SPDX-License-Identifier: MIT
/*
 * ringlb: start-up, engine choice, worker threads, signals.
 *
 * The main thread owns no sockets once the workers run: it waits for
 * signals with sigwaitinfo() and tells workers what to do through each
 * worker's eventfd, so no signal handler ever runs inside an event loop.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "uring.h"
#include "worker.h"

static struct config cfg;
static struct worker *workers;

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int ret;

	ret = w->engine->run(w);
	if (ret)
		pr_err("worker %u stopped: %s", w->id, strerror(-ret));
	w->exit_status = ret;
	/* wake the main thread so a dead worker stops the process */
	kill(getpid(), SIGUSR2);
	return NULL;
}

static void log_stats(void)
{
	struct worker_stats t;
	unsigned int i;

	memset(&t, 0, sizeof(t));
	for (i = 0; i < cfg.threads; i++) {
#define X(name) t.name += STAT_GET(&workers[i], name);
		WORKER_STATS(X)
#undef X
	}
	pr_info("stats conns=%llu active=%llu established=%llu bytes_up=%llu bytes_down=%llu connect_errors=%llu connect_timeouts=%llu no_server=%llu idle_timeouts=%llu resets=%llu accept_errors=%llu uring_enter=%llu uring_sqes=%llu uring_cqes=%llu uring_sq_full=%llu uring_enobufs=%llu splice_eagain=%llu epoll_waits=%llu io_syscalls=%llu",
		(unsigned long long)t.conns_total,
		(unsigned long long)t.conns_active,
		(unsigned long long)t.conns_established,
		(unsigned long long)t.bytes_up,
		(unsigned long long)t.bytes_down,
		(unsigned long long)t.connect_errors,
		(unsigned long long)t.connect_timeouts,
		(unsigned long long)t.no_server,
		(unsigned long long)t.idle_timeouts,
		(unsigned long long)t.resets,
		(unsigned long long)t.accept_errors,
		(unsigned long long)t.uring_enter,
		(unsigned long long)t.uring_sqes,
		(unsigned long long)t.uring_cqes,
		(unsigned long long)t.uring_sq_full,
		(unsigned long long)t.uring_enobufs,
		(unsigned long long)t.splice_eagain,
		(unsigned long long)t.epoll_waits,
		(unsigned long long)t.syscalls_io);
}

/*
 * --engine auto: io_uring when a ring can be created here, else epoll,
 * saying why (ENOSYS: kernel without io_uring; EPERM: the
 * kernel.io_uring_disabled sysctl or a seccomp filter).
 */
static const struct engine *choose_engine(void)
{
	int ret;

	if (cfg.engine == ENGINE_EPOLL)
		return &engine_epoll;
	ret = uring_probe();
	if (!ret) {
		uring_log_caps();
		return &engine_uring;
	}
	if (cfg.engine == ENGINE_URING) {
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
static enum forward_kind choose_forward(const struct engine *e)
{
	if (e == &engine_epoll)
		return cfg.forward == FORWARD_AUTO ? FORWARD_BUFFERS :
						     cfg.forward;
	if (cfg.forward == FORWARD_SPLICE && !uring_caps.splice) {
		pr_warn("kernel lacks IORING_OP_SPLICE: using buffers");
		return FORWARD_BUFFERS;
	}
	if (cfg.forward == FORWARD_BUFFERS && !uring_caps.buf_ring) {
		pr_warn("kernel lacks provided buffer rings: using splice");
		return FORWARD_SPLICE;
	}
	if (cfg.forward != FORWARD_AUTO)
		return cfg.forward;
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

static void wake_all(void)
{
	uint64_t one = 1;
	unsigned int i;

	for (i = 0; i < cfg.threads; i++) {
		atomic_store(&workers[i].stop, 1);
		if (write(workers[i].wake_fd, &one, sizeof(one)) < 0)
			pr_warn("waking worker %u: %s", i, strerror(errno));
	}
}

int main(int argc, char **argv)
{
	const struct engine *engine;
	enum forward_kind forward;
	unsigned int i, started = 0;
	sigset_t set;
	int ret, status = 0;

	ret = config_from_args(&cfg, argc, argv);
	if (ret)
		return ret > 0 ? 0 : 1;

	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	engine = choose_engine();
	if (!engine)
		return 1;
	forward = choose_forward(engine);

	/* workers inherit this mask: only the main thread takes signals */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	workers = calloc(cfg.threads, sizeof(*workers));
	if (!workers)
		return 1;
	for (i = 0; i < cfg.threads; i++) {
		struct worker *w = &workers[i];

		w->id = i;
		w->cfg = &cfg;
		w->engine = engine;
		w->forward = forward;
		ret = worker_setup(w);
		if (ret) {
			pr_err("worker %u setup: %s", i, strerror(-ret));
			status = 1;
			goto out_teardown;
		}
		started++;
	}
	for (i = 0; i < cfg.threads; i++) {
		ret = pthread_create(&workers[i].thread, NULL, worker_main,
				     &workers[i]);
		if (ret) {
			pr_err("starting worker %u: %s", i, strerror(ret));
			cfg.threads = i;
			wake_all();
			status = 1;
			goto out_join;
		}
	}
	pr_info("ringlb %s: %u listener%s, %u server%s, %u worker%s, engine %s, forward %s",
		"0.1.0", cfg.nlisteners, cfg.nlisteners == 1 ? "" : "s",
		cfg.backends[0].nservers,
		cfg.backends[0].nservers == 1 ? "" : "s",
		cfg.threads, cfg.threads == 1 ? "" : "s", engine->name,
		forward == FORWARD_SPLICE ? "splice" : "buffers");

	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si);
		bool all_done = true;

		if (sig == SIGUSR1) {
			log_stats();
			continue;
		}
		if (sig == SIGHUP) {
			pr_info("SIGHUP: configuration reload needs a config file (-c); ignored");
			continue;
		}
		if (sig == SIGINT || sig == SIGTERM) {
			pr_info("%s: draining (grace %u ms)",
				sig == SIGINT ? "SIGINT" : "SIGTERM",
				cfg.drain_timeout_ms);
			wake_all();
			break;
		}
		if (sig == SIGUSR2) {
			/* a worker stopped on its own: fatal, drain the rest */
			for (i = 0; i < cfg.threads; i++)
				if (workers[i].exit_status)
					all_done = false;
			if (!all_done) {
				status = 1;
				wake_all();
				break;
			}
		}
	}
out_join:
	for (i = 0; i < cfg.threads; i++) {
		pthread_join(workers[i].thread, NULL);
		if (workers[i].exit_status)
			status = 1;
	}
	log_stats();
out_teardown:
	for (i = 0; i < started; i++)
		worker_teardown(&workers[i]);
	free(workers);
	config_free(&cfg);
	if (!status)
		pr_info("exiting");
	return status;
}

/* SPDX-License-Identifier: MIT */
/*
 * What every ringlb selftest fixture shares: the environment a test runs
 * in (its own network namespace when allowed, backends, the daemon), how
 * the daemon is started, and the checks every teardown makes. Include
 * after kselftest_harness.h: these helpers ASSERT and EXPECT.
 */
#ifndef RINGLB_SELFTEST_COMMON_H
#define RINGLB_SELFTEST_COMMON_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib.h"

#define MAX_BE		4

/* the variant axes of every data-path fixture */
struct rl_variant {
	const char *engine;
	const char *forward;
	int family;
};

#define RINGLB_VARIANT(fix, name, eng, fwd, fam)			\
	FIXTURE_VARIANT_ADD(fix, name) {				\
		.v = { .engine = eng, .forward = fwd, .family = fam },	\
	}

/* engine x data path x address family */
#define RINGLB_VARIANTS(fix)						\
	RINGLB_VARIANT(fix, uring_splice_ipv4, "uring", "splice", AF_INET); \
	RINGLB_VARIANT(fix, uring_splice_ipv6, "uring", "splice", AF_INET6); \
	RINGLB_VARIANT(fix, uring_buffers_ipv4, "uring", "buffers", AF_INET); \
	RINGLB_VARIANT(fix, uring_buffers_ipv6, "uring", "buffers", AF_INET6); \
	RINGLB_VARIANT(fix, epoll_splice_ipv4, "epoll", "splice", AF_INET); \
	RINGLB_VARIANT(fix, epoll_splice_ipv6, "epoll", "splice", AF_INET6); \
	RINGLB_VARIANT(fix, epoll_buffers_ipv4, "epoll", "buffers", AF_INET); \
	RINGLB_VARIANT(fix, epoll_buffers_ipv6, "epoll", "buffers", AF_INET6)

struct rl_env {
	struct rl_variant v;
	char skip[256];
	bool netns;
	uint64_t seed;

	struct results *res;
	struct backend be[MAX_BE];
	int nbe;

	struct rl_proc rl;
	bool rl_started;
	bool expect_fail_exit;	/* the test wants a non-zero exit */
	uint16_t lport;
	char laddr[64];
	int probes;		/* readiness connections made */

	int fds[16];		/* closed in teardown */
	int nfds;
	struct flow *flows;	/* closed and freed in teardown */
	int nflows;

	char nums[8][24];	/* argv storage for numbers */
	const char *argv[RL_MAX_ARGS];
};

struct rl_opts {
	const char *servers[8];
	int nservers;
	int threads;		/* 0: 2 workers, one per core here */
	int connect_timeout;	/* 0: leave the daemon's default */
	int idle_timeout;
	int max_conns;
	int drain_timeout;	/* 0: 3000, so teardown never waits long */
	const char *balance;
	const char *engine;	/* overrides the variant's */
	bool no_uring;		/* seccomp: io_uring_setup() fails EPERM */
	bool no_wait;		/* do not wait for the listener */
	const char *extra[12];	/* more arguments, passed as they are */
};

#define CHECK_SKIP(e)							\
	do {								\
		if ((e)->skip[0])					\
			SKIP(return, "%s", (e)->skip);			\
	} while (0)

static inline uint64_t flow_seed(struct rl_env *e, uint32_t id, int dir)
{
	return e->seed * 1000003ULL + id * 2ULL + dir;
}

static inline void env_setup(struct __test_metadata *_metadata,
			     struct rl_env *e, const struct rl_variant *v)
{
	struct rlimit rl;
	int ret;

	e->v = *v;
	e->seed = ((uint64_t)getpid() << 32) ^ now_ms();
	e->rl.pid = -1;

	/* 300 clients + 300 backend ends, and the daemon holds twice that */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/*
	 * A namespace of our own: nothing we do (ports, nft rules) is seen
	 * by the host, and tests cannot collide with anything listening
	 * there. Not being root only costs the nft-based blackhole.
	 */
	ret = enter_netns();
	e->netns = !ret;
	if (ret && ret != -EPERM)
		TH_LOG("no network namespace of our own (%s): using the host's",
		       strerror(-ret));

	e->res = mmap(NULL, sizeof(*e->res), PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, e->res);
	results_init(e->res);

	if (access(ringlb_path(), X_OK))
		snprintf(e->skip, sizeof(e->skip),
			 "ringlb binary %s not executable (set RINGLB)",
			 ringlb_path());
	else if (!family_supported(v->family))
		snprintf(e->skip, sizeof(e->skip), "%s loopback unavailable",
			 v->family == AF_INET6 ? "IPv6" : "IPv4");
	else if (v->engine && !strcmp(v->engine, "uring") &&
		 (ret = probe_io_uring()))
		snprintf(e->skip, sizeof(e->skip),
			 "io_uring unavailable: io_uring_setup: %s",
			 strerror(-ret));
}

static inline void env_backends(struct __test_metadata *_metadata,
				struct rl_env *e, int n)
{
	int i;

	ASSERT_LE(n, MAX_BE);
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, backend_start(&e->be[i], i, e->v.family, e->res));
		e->nbe++;
	}
}

static inline void env_keep_fd(struct rl_env *e, int fd)
{
	if (fd >= 0 && e->nfds < (int)(sizeof(e->fds) / sizeof(e->fds[0])))
		e->fds[e->nfds++] = fd;
}

static inline const char *env_num(struct rl_env *e, int slot, int v)
{
	snprintf(e->nums[slot], sizeof(e->nums[slot]), "%d", v);
	return e->nums[slot];
}

static inline void env_dump_log(struct __test_metadata *_metadata,
				struct rl_env *e)
{
	char *log, *line, *save = NULL;
	int n = 0, skip;

	if (!e->rl_started)
		return;
	log = rl_log(&e->rl);
	if (!log)
		return;
	for (line = log; (line = strchr(line, '\n')); line++)
		n++;
	skip = n > 60 ? n - 60 : 0;
	TH_LOG("ringlb stderr (%d lines%s), seed %llu:", n,
	       skip ? ", last 60" : "", (unsigned long long)e->seed);
	for (line = strtok_r(log, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		if (skip-- <= 0)
			fprintf(stderr, "#   | %s\n", line);
	free(log);
}

/* start ringlb in front of o->servers; waits for the listener */
static inline void env_spawn(struct __test_metadata *_metadata,
			     struct rl_env *e, const struct rl_opts *o)
{
	const char **a = e->argv;
	int n = 1, i, ret;

	ASSERT_EQ(0, free_port(e->v.family, &e->lport));
	fmt_addr(e->laddr, sizeof(e->laddr), e->v.family, e->lport);
	a[n++] = "-l";
	a[n++] = e->laddr;
	for (i = 0; i < o->nservers; i++) {
		a[n++] = "-b";
		a[n++] = o->servers[i];
	}
	a[n++] = "--engine";
	a[n++] = o->engine ? o->engine : e->v.engine;
	if (e->v.forward) {
		a[n++] = "--forward";
		a[n++] = e->v.forward;
	}
	a[n++] = "-t";
	a[n++] = env_num(e, 0, o->threads ? o->threads : 2);
	if (o->connect_timeout) {
		a[n++] = "--connect-timeout";
		a[n++] = env_num(e, 1, o->connect_timeout);
	}
	if (o->idle_timeout) {
		a[n++] = "--idle-timeout";
		a[n++] = env_num(e, 2, o->idle_timeout);
	}
	if (o->max_conns) {
		a[n++] = "--max-conns";
		a[n++] = env_num(e, 3, o->max_conns);
	}
	a[n++] = "--drain-timeout";
	a[n++] = env_num(e, 4, o->drain_timeout ? o->drain_timeout : 3000);
	if (o->balance) {
		a[n++] = "-a";
		a[n++] = o->balance;
	}
	for (i = 0; o->extra[i] && n < RL_MAX_ARGS - 1; i++)
		a[n++] = o->extra[i];
	a[n] = NULL;

	ret = rl_spawn(&e->rl, e->argv, o->no_uring);
	ASSERT_EQ(0, ret);
	e->rl_started = true;
	if (o->no_wait)
		return;
	ret = rl_wait_ready(&e->rl, e->v.family, e->lport,
			    10000 + slack_ms() * 2, &e->probes);
	if (ret) {
		TH_LOG("ringlb %s: %s", ret == -ECHILD ? "exited early" :
		       "never accepted on its listener", e->laddr);
		env_dump_log(_metadata, e);
	}
	ASSERT_EQ(0, ret);
}

/*
 * Wait until the readiness probes went through the daemon and left: a
 * test counting slots or picks must not see them.
 */
static inline void env_settle(struct __test_metadata *_metadata,
			      struct rl_env *e)
{
	int ret = rl_log_wait(&e->rl, "ringlb: info: access ", e->probes,
			      5000 + slack_ms());

	if (ret)
		TH_LOG("readiness probe never logged its access line");
	ASSERT_EQ(0, ret);
}

/* n client flows, connected, non-blocking, freed in teardown */
static inline struct flow *env_flows(struct __test_metadata *_metadata,
				     struct rl_env *e, int n)
{
	ASSERT_EQ(NULL, e->flows);
	e->flows = calloc(n, sizeof(*e->flows));
	ASSERT_NE(NULL, e->flows);
	e->nflows = n;
	for (int i = 0; i < n; i++)
		e->flows[i].fd = -1;
	return e->flows;
}

static inline int env_connect(struct __test_metadata *_metadata,
			      struct rl_env *e)
{
	int fd = tcp_connect(e->v.family, e->lport);

	if (fd < 0)
		TH_LOG("connect to ringlb %s: %s", e->laddr, strerror(-fd));
	ASSERT_LE(0, fd);
	return fd;
}

/* connect flow @f as client @id; seeds come from the test's seed */
static inline void env_client(struct __test_metadata *_metadata,
			      struct rl_env *e, struct flow *f, uint32_t id,
			      enum be_mode mode, uint64_t up, uint64_t dn)
{
	int fd = env_connect(_metadata, e);

	ASSERT_EQ(0, set_nonblock(fd));
	flow_init_client(f, fd, id, mode, flow_seed(e, id, 0), up,
			 flow_seed(e, id, 1), dn);
}

/*
 * Both directions of client @id arrived whole: the client got the down
 * stream, the backend the up stream. Returns the backend that served it.
 */
static inline int env_check(struct __test_metadata *_metadata,
			    struct rl_env *e, struct flow *f, uint32_t id,
			    uint64_t up, uint64_t dn)
{
	struct be_result r;
	int ret;

	EXPECT_EQ(0, f->err) TH_LOG("client %u: %s", id, strerror(-f->err));
	EXPECT_EQ(dn, f->rx_bytes) TH_LOG("client %u: down bytes", id);
	EXPECT_EQ(stream_hash(flow_seed(e, id, 1), dn), f->rx_hash)
		TH_LOG("client %u: down stream hash", id);
	ret = results_wait(e->res, id, 5000 + slack_ms(), &r);
	EXPECT_EQ(0, ret) TH_LOG("client %u: backend never finished", id);
	if (ret)
		return -1;
	EXPECT_EQ(0, r.err) TH_LOG("client %u: backend: %s", id,
				   strerror(-r.err));
	EXPECT_EQ(up, r.rx_bytes) TH_LOG("client %u: up bytes", id);
	EXPECT_EQ(stream_hash(flow_seed(e, id, 0), up), r.rx_hash)
		TH_LOG("client %u: up stream hash", id);
	return r.server;
}

/* one small request/response through the proxy; returns the server */
static inline int env_roundtrip(struct __test_metadata *_metadata,
				struct rl_env *e, uint32_t id, uint64_t len,
				int timeout_ms)
{
	struct flow f, *fp = &f;
	int ret, srv;

	env_client(_metadata, e, &f, id, BE_DUPLEX, len, len);
	ret = flows_run(&fp, 1, timeout_ms, NULL, NULL);
	EXPECT_EQ(0, ret) TH_LOG("client %u: %s (up %llu/%llu down %llu)",
				 id, strerror(-ret),
				 (unsigned long long)f.tx_sent,
				 (unsigned long long)len,
				 (unsigned long long)f.rx_bytes);
	srv = ret ? -1 : env_check(_metadata, e, &f, id, len, len);
	flow_close(&f);
	return srv;
}

static inline void env_teardown(struct __test_metadata *_metadata,
				struct rl_env *e)
{
	char *bad;
	int i, ret;

	/*
	 * A failed ASSERT longjmps out of its handler loop and leaves
	 * trigger set: without this, the first EXPECT below would print
	 * its message even when it holds.
	 */
	_metadata->trigger = 0;
	for (i = 0; i < e->nflows; i++)
		flow_close(&e->flows[i]);
	free(e->flows);
	e->flows = NULL;
	for (i = 0; i < e->nfds; i++)
		close(e->fds[i]);
	e->nfds = 0;

	/* never ASSERT here: a longjmp from teardown would loop */
	if (e->rl_started) {
		bool was_dead = e->rl.reaped || !rl_alive(&e->rl);

		ret = rl_stop(&e->rl, 5000 + slack_ms());
		EXPECT_EQ(0, ret)
			TH_LOG("ringlb did not exit within %u ms of SIGTERM",
			       5000 + slack_ms());
		if (!ret && !e->expect_fail_exit) {
			EXPECT_TRUE(WIFEXITED(e->rl.status) &&
				    WEXITSTATUS(e->rl.status) == 0)
				TH_LOG("ringlb %s: status 0x%x",
				       was_dead ? "had died" :
				       "exit after SIGTERM", e->rl.status);
		}
		bad = rl_log_trouble(&e->rl);
		EXPECT_EQ(NULL, bad) TH_LOG("ringlb stderr: %s", bad);
		free(bad);
		if (!_metadata->passed)
			env_dump_log(_metadata, e);
		rl_cleanup(&e->rl);
	}
	for (i = 0; i < e->nbe; i++)
		backend_stop(&e->be[i]);
	if (e->res)
		munmap(e->res, sizeof(*e->res));
}

#endif

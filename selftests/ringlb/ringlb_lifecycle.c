// SPDX-License-Identifier: MIT
/*
 * ringlb connection lifecycle: the idle timeout closes a silent
 * connection (and only a silent one), max-conns holds further clients
 * in the listen backlog until a slot frees, and SIGTERM stops accepting
 * but lets a transfer in flight finish, or ends it when the drain grace
 * runs out, exiting 0 either way, also for connections accepted before
 * a reload.
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"

#include "common.h"

FIXTURE(lifecycle) {
	struct rl_env e;
	char cfg[96];		/* config file of a test that reloads */
};

FIXTURE_VARIANT(lifecycle) {
	struct rl_variant v;
};

RINGLB_VARIANTS(lifecycle);

FIXTURE_SETUP(lifecycle)
{
	env_setup(_metadata, &self->e, &variant->v);
}

FIXTURE_TEARDOWN(lifecycle)
{
	env_teardown(_metadata, &self->e);
	if (self->cfg[0])
		unlink(self->cfg);
}

/* a client that holds: the backend answers only after our EOF */
static int hold_client(struct __test_metadata *_metadata, struct rl_env *e,
		       uint32_t id)
{
	struct wire_hdr h = {
		.magic = WIRE_MAGIC, .mode = BE_AFTER_EOF, .id = id,
		.seed = flow_seed(e, id, 1), .len = 0,
	};
	int fd = env_connect(_metadata, e);

	env_keep_fd(e, fd);
	ASSERT_EQ((ssize_t)sizeof(h), send(fd, &h, sizeof(h), MSG_NOSIGNAL));
	return fd;
}

/* the connection is still open: nothing to read, no EOF, no error */
static bool still_open(int fd)
{
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);

	return n < 0 && errno == EAGAIN;
}

/*
 * A byte every third of the idle timeout keeps the connection for more
 * than twice the timeout; once the client falls silent it is closed
 * one timeout after the last byte, both towards the client and the
 * backend.
 */
TEST_F_TIMEOUT(lifecycle, idle_timeout, 60)
{
	struct rl_env *e = &self->e;
	int it = test_quick() ? 1500 : 400;
	struct rl_opts o = { .idle_timeout = it };
	struct access_line a;
	struct be_result r;
	uint64_t t_last, dt, h = FNV_OFFSET;
	uint8_t b;
	int fd, i, ret, sent = 0;

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);

	fd = hold_client(_metadata, e, 3);
	t_last = now_ms();
	for (i = 0; i < 8; i++) {
		sleep_ms(it / 3);
		ASSERT_TRUE(still_open(fd))
			TH_LOG("closed %llu ms after a byte, idle timeout %d ms",
			       (unsigned long long)(now_ms() - t_last), it);
		b = (uint8_t)i;
		ASSERT_EQ(1, send(fd, &b, 1, MSG_NOSIGNAL));
		h = fnv1a(h, &b, 1);
		sent++;
		t_last = now_ms();
	}
	ret = wait_eof(fd, it + 5000 + slack_ms(), NULL);
	dt = now_ms() - t_last;
	/* a RST is acceptable here: the daemon closes on its own */
	EXPECT_TRUE(ret == 0 || ret == -ECONNRESET)
		TH_LOG("silent client not closed: %s", strerror(-ret));
	EXPECT_LE((uint64_t)(it - 20), dt)
		TH_LOG("closed %llu ms after the last byte, idle timeout %d ms",
		       (unsigned long long)dt, it);
	EXPECT_GE((uint64_t)(it + slack_ms()), dt)
		TH_LOG("closed %llu ms after the last byte, idle timeout %d ms",
		       (unsigned long long)dt, it);

	/* the backend side was closed too, with every keep-alive byte */
	ASSERT_EQ(0, results_wait(e->res, 3, 5000 + slack_ms(), &r))
		TH_LOG("backend connection never closed");
	EXPECT_EQ((uint64_t)sent, r.rx_bytes);
	EXPECT_EQ(h, r.rx_hash);

	ASSERT_EQ(0, rl_access(&e->rl, local_port(fd), 5000 + slack_ms(), &a));
	EXPECT_STREQ("idle-timeout", a.end);
	EXPECT_EQ(sizeof(struct wire_hdr) + sent, a.up);
}

static bool rx_eof_all(struct flow **fl, int n, void *arg)
{
	int i;

	for (i = 0; i < n; i++)
		if (!fl[i]->rx_eof)
			return false;
	return true;
}

/*
 * max-conns 2 on one worker: two clients are served, a third connects
 * (backlog) but reaches no backend until one of the first two leaves,
 * and is then served normally.
 */
TEST_F_TIMEOUT(lifecycle, max_conns, 60)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = { .threads = 1, .max_conns = 2 };
	struct flow *fl, *fp[3];
	int i, ret, base;

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);
	env_settle(_metadata, e);
	base = atomic_load(&e->be[0].accepted);

	/* each backend answers 16 bytes + FIN; the clients keep writing */
	fl = env_flows(_metadata, e, 3);
	for (i = 0; i < 3; i++) {
		env_client(_metadata, e, &fl[i], i, BE_DUPLEX, 0, 16);
		fl[i].no_shut = true;
		fp[i] = &fl[i];
	}
	ret = flows_run(fp, 2, 5000 + slack_ms(), rx_eof_all, NULL);
	ASSERT_EQ(0, ret) TH_LOG("first two clients: %s", strerror(-ret));
	ASSERT_TRUE(fl[0].rx_eof && fl[1].rx_eof)
		TH_LOG("first two clients not served within %u ms",
		       5000 + slack_ms());

	/* the third is connected but must get nothing */
	ret = flows_run(&fp[2], 1, test_quick() ? 2000 : 700, rx_eof_all, NULL);
	EXPECT_EQ(-ETIMEDOUT, ret);
	EXPECT_EQ(0ULL, fl[2].rx_bytes)
		TH_LOG("third client served beyond max-conns 2");
	EXPECT_EQ(2, atomic_load(&e->be[0].accepted) - base)
		TH_LOG("backend saw %d connections with max-conns 2",
		       atomic_load(&e->be[0].accepted) - base);

	/* the first leaves: its slot goes to the third */
	flow_close(&fl[0]);
	ret = flows_run(&fp[2], 1, 5000 + slack_ms(), rx_eof_all, NULL);
	EXPECT_EQ(0, ret) TH_LOG("third client after a slot freed: %s",
				 strerror(-ret));
	EXPECT_TRUE(fl[2].rx_eof);
	EXPECT_EQ(16ULL, fl[2].rx_bytes);
	EXPECT_EQ(stream_hash(flow_seed(e, 2, 1), 16), fl[2].rx_hash);
	EXPECT_EQ(3, atomic_load(&e->be[0].accepted) - base);
}

struct sent_at_least {
	uint64_t tx, rx;
};

static bool sent_at_least(struct flow **fl, int n, void *arg)
{
	struct sent_at_least *w = arg;

	return fl[0]->tx_sent >= w->tx && fl[0]->rx_bytes >= w->rx;
}

/*
 * SIGTERM in the middle of a transfer: the listener goes away at once,
 * the transfer still completes byte for byte, and the daemon exits 0
 * as soon as it is over, long before the 10 s grace.
 */
TEST_F_TIMEOUT(lifecycle, sigterm_drain, 120)
{
	struct rl_env *e = &self->e;
	uint64_t len = test_quick() ? 4 * MIB : 32 * MIB;
	struct rl_opts o = { .drain_timeout = 10000 };
	struct sent_at_least w = { .tx = len / 2, .rx = len / 8 };
	struct access_line a;
	struct stats_line st;
	uint64_t t0, t_done;
	struct flow *f;
	uint16_t cport;
	int fd, ret;

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);

	f = env_flows(_metadata, e, 1);
	env_client(_metadata, e, f, 5, BE_DUPLEX, len, len);
	cport = local_port(f->fd);
	f->tx_pause_at = len / 2;
	ret = flows_run(&f, 1, 20000 + slack_ms() * 4, sent_at_least, &w);
	ASSERT_EQ(0, ret) TH_LOG("first half: %s", strerror(-ret));
	ASSERT_FALSE(flow_done(f));

	ASSERT_EQ(0, kill(e->rl.pid, SIGTERM));
	/* the listener closes: new clients are refused */
	t0 = now_ms();
	for (;;) {
		fd = tcp_connect(e->v.family, e->lport);
		/*
		 * A connect that lands in the backlog just as the listener
		 * closes is reset, not refused: that is the closing itself,
		 * so try again until a connect is refused outright.
		 */
		if (fd < 0 && fd != -ECONNRESET)
			break;
		if (fd >= 0)
			close(fd);
		if (now_ms() - t0 > slack_ms())
			break;
		sleep_ms(20);
	}
	EXPECT_EQ(-ECONNREFUSED, fd)
		TH_LOG("listener still accepting %u ms after SIGTERM",
		       slack_ms());
	ASSERT_TRUE(rl_alive(&e->rl))
		TH_LOG("ringlb exited with a transfer in flight");

	f->tx_pause_at = UINT64_MAX;
	ret = flows_run(&f, 1, 60000 + slack_ms() * 4, NULL, NULL);
	ASSERT_EQ(0, ret) TH_LOG("second half after SIGTERM: %s (up %llu down %llu)",
				 strerror(-ret), (unsigned long long)f->tx_sent,
				 (unsigned long long)f->rx_bytes);
	ASSERT_EQ(0, env_check(_metadata, e, f, 5, len, len));
	flow_close(f);
	t_done = now_ms();

	ret = rl_wait_exit(&e->rl, 5000 + slack_ms());
	ASSERT_EQ(0, ret) TH_LOG("ringlb still running after its last connection");
	EXPECT_TRUE(WIFEXITED(e->rl.status) && !WEXITSTATUS(e->rl.status))
		TH_LOG("exit status 0x%x", e->rl.status);
	EXPECT_GT(5000ULL, now_ms() - t_done);

	ASSERT_EQ(0, rl_access(&e->rl, cport, 1000, &a));
	EXPECT_STREQ("done", a.end);
	EXPECT_EQ(len + sizeof(struct wire_hdr), a.up);
	EXPECT_EQ(len, a.down);
	ASSERT_EQ(0, rl_stats(&e->rl, 1000, &st))
		TH_LOG("no final stats line");
	EXPECT_LE(len + sizeof(struct wire_hdr), st.bytes_up);
	EXPECT_LE(len, st.bytes_down);
}

/*
 * SIGTERM with the client fd held open through the proxy: the daemon
 * must exit 0 once the grace is over (not before, not much after), the
 * client must see the end, and the access line must say "drain".
 */
static void sigterm_expect_drained(struct __test_metadata *_metadata,
				   struct rl_env *e, int fd, int grace,
				   const char *when)
{
	struct access_line a;
	uint64_t t0, dt;
	int ret;

	t0 = now_ms();
	ASSERT_EQ(0, kill(e->rl.pid, SIGTERM));
	ret = rl_wait_exit(&e->rl, grace + 5000 + slack_ms());
	dt = now_ms() - t0;
	ASSERT_EQ(0, ret)
		TH_LOG("ringlb ignored its %d ms drain grace %s", grace, when);
	EXPECT_TRUE(WIFEXITED(e->rl.status) && !WEXITSTATUS(e->rl.status))
		TH_LOG("exit status 0x%x", e->rl.status);
	EXPECT_LE((uint64_t)(grace - 20), dt)
		TH_LOG("exited %llu ms after SIGTERM, grace %d ms",
		       (unsigned long long)dt, grace);
	EXPECT_GE((uint64_t)(grace + slack_ms()), dt)
		TH_LOG("exited %llu ms after SIGTERM, grace %d ms",
		       (unsigned long long)dt, grace);

	ret = wait_eof(fd, 1000, NULL);
	EXPECT_TRUE(ret == 0 || ret == -ECONNRESET)
		TH_LOG("client still open after ringlb exited: %s",
		       strerror(-ret));
	ASSERT_EQ(0, rl_access(&e->rl, local_port(fd), 1000, &a))
		TH_LOG("no access line for the drained connection");
	EXPECT_STREQ("drain", a.end);
}

/*
 * SIGTERM with a connection that never ends: the daemon closes it when
 * the drain grace runs out and exits 0.
 */
TEST_F_TIMEOUT(lifecycle, drain_timeout, 60)
{
	struct rl_env *e = &self->e;
	int grace = test_quick() ? 2000 : 600;
	struct rl_opts o = { .drain_timeout = grace };
	int fd;

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);
	env_settle(_metadata, e);

	fd = hold_client(_metadata, e, 4);
	ASSERT_EQ(0, backend_wait_active(&e->be[0], 1, 5000 + slack_ms()));

	sigterm_expect_drained(_metadata, e, fd, grace, "");
}

/*
 * SIGTERM after a SIGHUP: the reload retired the generation holding the
 * connection, which then drains without a deadline of its own; the
 * shutdown must still bound it by the drain grace, close it and exit 0.
 */
TEST_F_TIMEOUT(lifecycle, drain_timeout_after_reload, 60)
{
	struct rl_env *e = &self->e;
	int grace = test_quick() ? 2000 : 1000;
	const char *tmp = getenv("TMPDIR");
	const char **argv = e->argv;
	char text[512];
	int fd, n = 1;
	FILE *f;

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	ASSERT_EQ(0, free_port(e->v.family, &e->lport));
	fmt_addr(e->laddr, sizeof(e->laddr), e->v.family, e->lport);

	/* SIGHUP reloads only from a file: -c, and no -l/-b */
	ASSERT_GT((int)sizeof(self->cfg),
		  snprintf(self->cfg, sizeof(self->cfg),
			   "%s/ringlb-lifecycle-%d.ini",
			   tmp && *tmp ? tmp : "/tmp", getpid()));
	ASSERT_GT((int)sizeof(text),
		  snprintf(text, sizeof(text),
			   "[global]\nthreads = 2\ndrain-timeout = %d\n"
			   "[listener web]\nbind = %s\nbackend = pool\n"
			   "[backend pool]\nserver = a %s\n",
			   grace, e->laddr, e->be[0].addr));
	f = fopen(self->cfg, "w");
	ASSERT_NE(NULL, f);
	ASSERT_EQ(strlen(text), fwrite(text, 1, strlen(text), f));
	ASSERT_EQ(0, fclose(f));

	argv[n++] = "-c";
	argv[n++] = self->cfg;
	argv[n++] = "--engine";
	argv[n++] = e->v.engine;
	if (e->v.forward) {
		argv[n++] = "--forward";
		argv[n++] = e->v.forward;
	}
	argv[n] = NULL;
	ASSERT_EQ(0, rl_spawn(&e->rl, e->argv, false));
	e->rl_started = true;
	ASSERT_EQ(0, rl_wait_ready(&e->rl, e->v.family, e->lport,
				   10000 + slack_ms() * 2, &e->probes));
	env_settle(_metadata, e);

	fd = hold_client(_metadata, e, 6);
	ASSERT_EQ(0, backend_wait_active(&e->be[0], 1, 5000 + slack_ms()));

	/* the same file again: the held connection stays on the old workers */
	ASSERT_EQ(0, kill(e->rl.pid, SIGHUP));
	ASSERT_EQ(0, rl_log_wait(&e->rl, "reload: 1 listener", 1,
				 3000 + slack_ms()));
	ASSERT_TRUE(still_open(fd))
		TH_LOG("the reload cut an established connection");

	sigterm_expect_drained(_metadata, e, fd, grace, "after a reload");
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: MIT
/*
 * ringlb server selection: round robin and smooth weighted round robin
 * hand out the expected shares; a server that refuses is skipped at
 * once; a blackholed one costs exactly the connect timeout before the
 * next server takes over; with every server down the client is closed
 * with a FIN and no data within the timeouts.
 *
 * The blackhole is a SYN-dropping nft rule inside a network namespace
 * that each test creates for itself, so the host's firewall is never
 * touched; without nft the same effect comes from a listener whose
 * accept queue is full.
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"

#include "common.h"

FIXTURE(failover) {
	struct rl_env e;
};

FIXTURE_VARIANT(failover) {
	struct rl_variant v;
};

RINGLB_VARIANTS(failover);

FIXTURE_SETUP(failover)
{
	env_setup(_metadata, &self->e, &variant->v);
}

FIXTURE_TEARDOWN(failover)
{
	env_teardown(_metadata, &self->e);
}

/* a dead server's address: bound, never listening, so connect gets RST */
static const char *refused_server(struct __test_metadata *_metadata,
				  struct rl_env *e, char *buf, size_t len)
{
	uint16_t port;
	int fd = reserve_port(e->v.family, &port);

	ASSERT_LE(0, fd);
	env_keep_fd(e, fd);
	fmt_addr(buf, len, e->v.family, port);
	return buf;
}

static const char *blackholed_server(struct __test_metadata *_metadata,
				     struct rl_env *e, char *buf, size_t len)
{
	const char *how = "?";
	uint16_t port;
	int fds[2], ret;

	ret = blackhole_port(e->v.family, &port, &how, fds);
	ASSERT_EQ(0, ret) TH_LOG("cannot blackhole a port: %s", strerror(-ret));
	env_keep_fd(e, fds[0]);
	env_keep_fd(e, fds[1]);
	/* prove it before blaming the daemon for what follows */
	ASSERT_TRUE(port_is_blackholed(e->v.family, port, 200))
		TH_LOG("port %u answers despite the blackhole (%s)", port, how);
	fmt_addr(buf, len, e->v.family, port);
	return buf;
}

/* rr over two servers with one worker: strictly alternating */
TEST_F_TIMEOUT(failover, rr_balance, 60)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = { .threads = 1, .balance = "rr" };
	int i, srv, per[MAX_BE] = { 0 };

	CHECK_SKIP(e);
	env_backends(_metadata, e, 2);
	o.servers[o.nservers++] = e->be[0].addr;
	o.servers[o.nservers++] = e->be[1].addr;
	env_spawn(_metadata, e, &o);
	env_settle(_metadata, e);

	for (i = 0; i < 8; i++) {
		srv = env_roundtrip(_metadata, e, i, 4096, 5000 + slack_ms());
		ASSERT_LE(0, srv);
		per[srv]++;
	}
	EXPECT_EQ(4, per[0]);
	EXPECT_EQ(4, per[1]);
}

/* weights 1 and 3: any 8 consecutive picks are 2 and 6 */
TEST_F_TIMEOUT(failover, wrr_balance, 60)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = { .threads = 1, .balance = "wrr" };
	char a0[80], a1[80];
	int i, srv, per[MAX_BE] = { 0 };

	CHECK_SKIP(e);
	env_backends(_metadata, e, 2);
	snprintf(a0, sizeof(a0), "%s@1", e->be[0].addr);
	snprintf(a1, sizeof(a1), "%s@3", e->be[1].addr);
	o.servers[o.nservers++] = a0;
	o.servers[o.nservers++] = a1;
	env_spawn(_metadata, e, &o);
	env_settle(_metadata, e);

	for (i = 0; i < 8; i++) {
		srv = env_roundtrip(_metadata, e, i, 4096, 5000 + slack_ms());
		ASSERT_LE(0, srv);
		per[srv]++;
	}
	EXPECT_EQ(2, per[0]);
	EXPECT_EQ(6, per[1]);
}

/*
 * A refusing server is skipped without waiting: with a 10 s connect
 * timeout, every client is still served at once by the live one.
 */
TEST_F_TIMEOUT(failover, refused_skipped, 60)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = { .threads = 1, .connect_timeout = 10000 };
	uint64_t t0, dt;
	char dead[64];
	int i, srv;

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = refused_server(_metadata, e, dead,
						 sizeof(dead));
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);

	for (i = 0; i < 6; i++) {
		t0 = now_ms();
		srv = env_roundtrip(_metadata, e, i, 64 * 1024, 5000 + slack_ms());
		dt = now_ms() - t0;
		ASSERT_EQ(0, srv) TH_LOG("client %d not served by the live server", i);
		EXPECT_GT(slack_ms(), dt)
			TH_LOG("client %d took %llu ms: refusal not skipped at once",
			       i, (unsigned long long)dt);
	}
}

/*
 * A blackholed server costs the connect timeout, then the next server
 * serves the client; nobody waits much longer than that.
 */
TEST_F_TIMEOUT(failover, blackhole_timeout, 60)
{
	struct rl_env *e = &self->e;
	int ct = test_quick() ? 1000 : 300;
	struct rl_opts o = { .threads = 1, .connect_timeout = ct };
	int i, srv, slow = 0;
	uint64_t t0, dt;
	char hole[64];

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = blackholed_server(_metadata, e, hole,
						    sizeof(hole));
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);

	for (i = 0; i < 4; i++) {
		t0 = now_ms();
		srv = env_roundtrip(_metadata, e, i, 16 * 1024,
				    ct * 2 + 5000 + slack_ms());
		dt = now_ms() - t0;
		ASSERT_EQ(0, srv) TH_LOG("client %d not served by the live server", i);
		EXPECT_GE(ct + slack_ms(), dt)
			TH_LOG("client %d took %llu ms with a %d ms connect timeout",
			       i, (unsigned long long)dt, ct);
		/* a few ms of timer granularity, no more */
		if (dt + 20 >= (uint64_t)ct)
			slow++;
	}
	/* round robin must have sent some client to the hole first */
	EXPECT_LE(1, slow) TH_LOG("no client waited for the connect timeout");
}

/* every server refuses: FIN to the client, no data, at once */
TEST_F_TIMEOUT(failover, all_down_refused, 60)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = { .threads = 1, .connect_timeout = 10000 };
	char d0[64], d1[64];
	struct access_line a;
	uint64_t t0, bytes = 0;
	uint16_t cport;
	int fd, ret;

	CHECK_SKIP(e);
	o.servers[o.nservers++] = refused_server(_metadata, e, d0, sizeof(d0));
	o.servers[o.nservers++] = refused_server(_metadata, e, d1, sizeof(d1));
	env_spawn(_metadata, e, &o);

	/* send nothing: unread data would turn the daemon's FIN into a RST */
	t0 = now_ms();
	fd = env_connect(_metadata, e);
	env_keep_fd(e, fd);
	cport = local_port(fd);
	ret = wait_eof(fd, slack_ms(), &bytes);
	EXPECT_EQ(0, ret) TH_LOG("client not closed with a FIN: %s",
				 strerror(-ret));
	EXPECT_EQ(0ULL, bytes);
	EXPECT_GT(slack_ms(), now_ms() - t0);

	ASSERT_EQ(0, rl_access(&e->rl, cport, 5000 + slack_ms(), &a));
	EXPECT_STREQ("no-server", a.end);
	EXPECT_EQ(0ULL, a.up);
	EXPECT_EQ(0ULL, a.down);
}

/* every server blackholed: each costs the timeout, then the FIN */
TEST_F_TIMEOUT(failover, all_down_blackhole, 60)
{
	struct rl_env *e = &self->e;
	int ct = test_quick() ? 1000 : 300;
	struct rl_opts o = { .threads = 1, .connect_timeout = ct };
	char h0[64], h1[64];
	struct access_line a;
	uint64_t t0, dt, bytes = 0;
	uint16_t cport;
	int fd, ret;

	CHECK_SKIP(e);
	o.servers[o.nservers++] = blackholed_server(_metadata, e, h0, sizeof(h0));
	o.servers[o.nservers++] = blackholed_server(_metadata, e, h1, sizeof(h1));
	env_spawn(_metadata, e, &o);

	t0 = now_ms();
	fd = env_connect(_metadata, e);
	env_keep_fd(e, fd);
	cport = local_port(fd);
	ret = wait_eof(fd, 2 * ct + 5000 + slack_ms(), &bytes);
	dt = now_ms() - t0;
	EXPECT_EQ(0, ret) TH_LOG("client not closed with a FIN: %s",
				 strerror(-ret));
	EXPECT_EQ(0ULL, bytes);
	/* two servers, each tried once with the full timeout */
	EXPECT_LE((uint64_t)(2 * ct - 40), dt)
		TH_LOG("closed after %llu ms, before two %d ms timeouts",
		       (unsigned long long)dt, ct);
	EXPECT_GE((uint64_t)(2 * ct + slack_ms()), dt)
		TH_LOG("closed after %llu ms, two timeouts are %d ms",
		       (unsigned long long)dt, 2 * ct);

	ASSERT_EQ(0, rl_access(&e->rl, cport, 5000 + slack_ms(), &a));
	EXPECT_STREQ("no-server", a.end);
}

TEST_HARNESS_MAIN

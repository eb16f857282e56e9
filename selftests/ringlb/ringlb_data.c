// SPDX-License-Identifier: MIT
/*
 * ringlb data path: bytes go through whole and in order, in both
 * directions at once, for one large stream and for many concurrent
 * connections, and a half-closed connection keeps forwarding the other
 * way. Every payload is seeded random data checked by FNV-1a hash at the
 * far end, so a lost, duplicated or reordered chunk fails the test.
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"

#include "common.h"

FIXTURE(data) {
	struct rl_env e;
};

FIXTURE_VARIANT(data) {
	struct rl_variant v;
};

RINGLB_VARIANTS(data);
/* the default data path: buffers, and splice for a bulk direction */
RINGLB_VARIANT(data, uring_auto_ipv4, "uring", "auto", AF_INET);

FIXTURE_SETUP(data)
{
	env_setup(_metadata, &self->e, &variant->v);
}

FIXTURE_TEARDOWN(data)
{
	env_teardown(_metadata, &self->e);
}

static bool rx_held(struct flow **fl, int n, void *arg)
{
	(void)n;
	(void)arg;
	return fl[0]->rx_bytes >= fl[0]->rx_pause_at;
}

/*
 * The client stops reading at @at until the proxy stopped moving bytes
 * towards it (its stats say so twice, a second apart), then reads on.
 * Meanwhile the proxy's socket from the server fills, so when reading
 * resumes every receive fills a whole buffer: bulk, whatever the speed
 * of the machine (under emulation the proxy otherwise keeps up with the
 * server and each receive takes a part of a buffer).
 */
static void hold_reads(struct __test_metadata *_metadata, struct rl_env *e,
		       struct flow *f, uint64_t at)
{
	uint64_t down = 0, prev = ~0ULL;
	int i, ret;

	f->rx_pause_at = at;
	ret = flows_run(&f, 1, 60000 + slack_ms(), rx_held, NULL);
	ASSERT_EQ(0, ret) TH_LOG("never got %llu bytes: %s",
				 (unsigned long long)at, strerror(-ret));
	for (i = 0; i < 60 && down != prev; i++) {
		prev = down;
		sleep_ms(1000);
		ASSERT_EQ(0, rl_stat(&e->rl, "bytes_down", &down,
				     5000 + slack_ms()));
	}
	f->rx_pause_at = UINT64_MAX;
}

/* one 64 MiB stream each way on one connection, then the accounting */
TEST_F_TIMEOUT(data, stream_64m, 240)
{
	struct rl_env *e = &self->e;
	uint64_t len = test_quick() ? 4 * MIB : 64 * MIB;
	struct rl_opts o = { 0 };
	struct access_line a;
	struct stats_line st;
	struct flow *f;
	uint16_t cport;
	int ret;

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);

	f = env_flows(_metadata, e, 1);
	env_client(_metadata, e, f, 1, BE_DUPLEX, len, len);
	cport = local_port(f->fd);
	if (!strcmp(e->v.forward, "auto"))
		hold_reads(_metadata, e, f, MIB);
	ret = flows_run(&f, 1, 120000, NULL, NULL);
	ASSERT_EQ(0, ret) TH_LOG("stream: %s after up %llu down %llu",
				 strerror(-ret),
				 (unsigned long long)f->tx_sent,
				 (unsigned long long)f->rx_bytes);
	ASSERT_EQ(0, env_check(_metadata, e, f, 1, len, len));
	flow_close(f);

	ret = rl_access(&e->rl, cport, 5000 + slack_ms(), &a);
	ASSERT_EQ(0, ret) TH_LOG("no access line for client port %u", cport);
	EXPECT_EQ(len + sizeof(struct wire_hdr), a.up);
	EXPECT_EQ(len, a.down);
	EXPECT_STREQ("done", a.end);
	EXPECT_STREQ(e->be[0].addr, a.server);

	/* the probes moved no byte, so the totals are exactly ours */
	ret = rl_stats(&e->rl, 5000 + slack_ms(), &st);
	ASSERT_EQ(0, ret) TH_LOG("no parsable stats line after SIGUSR1");
	EXPECT_LE(1ULL, st.conns);
	EXPECT_EQ(len + sizeof(struct wire_hdr), st.bytes_up);
	EXPECT_EQ(len, st.bytes_down);
	if (!strcmp(e->v.forward, "auto")) {
		uint64_t sw = 0;

		/*
		 * The held direction, at least, went to splice. Under
		 * emulation (the VMs run with RINGLB_TEST_QUICK) the proxy
		 * still catches up with the server between receives now and
		 * then (the 6.1 VM once saw no switch): said, not failed.
		 */
		ASSERT_EQ(0, rl_stat(&e->rl, "splice_switches", &sw,
				     5000 + slack_ms()));
		if (!test_quick()) {
			EXPECT_LE(1ULL, sw);
		} else if (!sw) {
			TH_LOG("no switch to splice under emulation");
		}
	}
}

struct conc_wait {
	struct rl_env *e;
	int want;
};

static bool all_at_backends(struct flow **fl, int n, void *arg)
{
	struct conc_wait *w = arg;
	int i, active = 0;

	for (i = 0; i < w->e->nbe; i++)
		active += atomic_load(&w->e->be[i].active);
	return active >= w->want;
}

/*
 * 300 clients that are all connected through the proxy at the same
 * time (the backends count them) before any payload moves; then every
 * one sends and receives its own stream.
 */
static void concurrent(struct __test_metadata *_metadata, struct rl_env *e,
		       struct rl_opts o)
{
	int n = test_quick() ? 50 : 300;
	uint64_t len = test_quick() ? 16 * 1024 : 128 * 1024;
	struct conc_wait w = { .e = e, .want = n };
	struct flow *fl, **fp;
	int i, ret, srv, per[MAX_BE] = { 0 };

	env_backends(_metadata, e, 2);
	o.servers[o.nservers++] = e->be[0].addr;
	o.servers[o.nservers++] = e->be[1].addr;
	env_spawn(_metadata, e, &o);
	env_settle(_metadata, e);

	fl = env_flows(_metadata, e, n);
	fp = calloc(n, sizeof(*fp));
	ASSERT_NE(NULL, fp);
	for (i = 0; i < n; i++) {
		env_client(_metadata, e, &fl[i], i, BE_DUPLEX, len, len);
		fl[i].tx_pause_at = 0;	/* header only, for now */
		fp[i] = &fl[i];
	}
	ret = flows_run(fp, n, 20000 + slack_ms() * 4, all_at_backends, &w);
	EXPECT_EQ(0, ret) TH_LOG("waiting for %d backend connections: %s", n,
				 strerror(-ret));
	EXPECT_EQ(n, atomic_load(&e->be[0].active) +
		     atomic_load(&e->be[1].active))
		TH_LOG("only %d of %d clients reached a backend at once",
		       atomic_load(&e->be[0].active) +
		       atomic_load(&e->be[1].active), n);

	for (i = 0; i < n; i++)
		fl[i].tx_pause_at = UINT64_MAX;
	ret = flows_run(fp, n, 60000 + slack_ms() * 10, NULL, NULL);
	ASSERT_EQ(0, ret) TH_LOG("concurrent transfer: %s", strerror(-ret));
	for (i = 0; i < n; i++) {
		srv = env_check(_metadata, e, &fl[i], i, len, len);
		if (srv >= 0 && srv < MAX_BE)
			per[srv]++;
	}
	free(fp);
	EXPECT_EQ(n, per[0] + per[1]);
	/* round robin over two servers: neither may be left out */
	EXPECT_LT(0, per[0]);
	EXPECT_LT(0, per[1]);
}

/*
 * One stream one way, as iperf3 sends it. The io_uring loop waits for one
 * completion more than the sends it just submitted, since a send to a
 * socket with room completes at once; a send that cannot (the stream
 * keeps its peer full) made that wait end on its 5 ms bound on every
 * turn, and held a stream under --forward buffers to 25 Mbit/s. Judged
 * by the wall time per loop turn, against half that bound, not by a
 * rate. Under emulation (the VMs) one host thread runs every vCPU, so a
 * turn's wall time is not the proxy's: said there, not failed.
 */
TEST_F_TIMEOUT(data, one_way_stream_turns_never_wait_out, 240)
{
	struct rl_env *e = &self->e;
	uint64_t len = test_quick() ? 16 * MIB : 64 * MIB;
	uint64_t enter0 = 0, enter1 = 0, t0, ms, turns;
	struct rl_opts o = { 0 };
	struct flow *f;
	int ret;

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);
	env_settle(_metadata, e);

	ASSERT_EQ(0, rl_stat(&e->rl, "uring_enter", &enter0,
			     5000 + slack_ms()));
	f = env_flows(_metadata, e, 1);
	env_client(_metadata, e, f, 1, BE_DUPLEX, 0, len);
	t0 = now_ms();
	ret = flows_run(&f, 1, 120000, NULL, NULL);
	ms = now_ms() - t0;
	ASSERT_EQ(0, ret) TH_LOG("stream: %s after %llu of %llu bytes",
				 strerror(-ret),
				 (unsigned long long)f->rx_bytes,
				 (unsigned long long)len);
	ASSERT_EQ(0, env_check(_metadata, e, f, 1, 0, len));
	flow_close(f);

	if (strcmp(e->v.engine, "uring"))
		return;
	ASSERT_EQ(0, rl_stat(&e->rl, "uring_enter", &enter1,
			     5000 + slack_ms()));
	ASSERT_LT(enter0, enter1);
	turns = enter1 - enter0;
	if (test_quick()) {
		if (ms * 1000 >= turns * 2500)
			TH_LOG("%llu ms for %llu turns under emulation",
			       (unsigned long long)ms,
			       (unsigned long long)turns);
		return;
	}
	EXPECT_LT(ms * 1000, turns * 2500)
		TH_LOG("%llu MiB took %llu ms over %llu loop turns: turns wait out the bound",
		       (unsigned long long)(len / MIB),
		       (unsigned long long)ms, (unsigned long long)turns);
}

TEST_F_TIMEOUT(data, concurrent_300, 240)
{
	CHECK_SKIP(&self->e);
	concurrent(_metadata, &self->e, (struct rl_opts){ 0 });
}

/*
 * The same with clients accepted into the ring's fixed file table
 * (--direct-descriptors on, off by default): that path ends connections
 * with IORING_OP_SHUTDOWN and fd-based cancels, and must lose nothing.
 */
TEST_F_TIMEOUT(data, concurrent_300_direct_descriptors, 240)
{
	struct rl_opts o = {
		.extra = { "--direct-descriptors", "on" },
	};

	CHECK_SKIP(&self->e);
	if (strcmp(self->e.v.engine, "uring"))
		SKIP(return, "direct descriptors are io_uring's");
	concurrent(_metadata, &self->e, o);
}

/*
 * The client sends and shuts down its write side first; only after the
 * backend saw that EOF does it answer. The proxy must pass the FIN on
 * and keep the other direction open.
 */
TEST_F_TIMEOUT(data, half_close_client_first, 60)
{
	struct rl_env *e = &self->e;
	uint64_t up = 1 * MIB, dn = 2 * MIB;
	struct rl_opts o = { 0 };
	struct access_line a;
	struct flow *f;
	uint16_t cport;
	int ret;

	CHECK_SKIP(e);
	if (test_quick())
		up = dn = 256 * 1024;
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);

	f = env_flows(_metadata, e, 1);
	env_client(_metadata, e, f, 7, BE_AFTER_EOF, up, dn);
	cport = local_port(f->fd);
	ret = flows_run(&f, 1, 20000 + slack_ms() * 4, NULL, NULL);
	ASSERT_EQ(0, ret) TH_LOG("%s: sent %llu%s, received %llu%s",
				 strerror(-ret),
				 (unsigned long long)f->tx_sent,
				 f->tx_shut ? " + FIN" : "",
				 (unsigned long long)f->rx_bytes,
				 f->rx_eof ? " + FIN" : "");
	ASSERT_EQ(0, env_check(_metadata, e, f, 7, up, dn));
	flow_close(f);

	ASSERT_EQ(0, rl_access(&e->rl, cport, 5000 + slack_ms(), &a));
	EXPECT_EQ(up + sizeof(struct wire_hdr), a.up);
	EXPECT_EQ(dn, a.down);
	EXPECT_STREQ("done", a.end);
}

/*
 * The backend answers and shuts down its write side first; the client
 * reads to EOF and only then sends its own data, which must still reach
 * the backend.
 */
TEST_F_TIMEOUT(data, half_close_server_first, 60)
{
	struct rl_env *e = &self->e;
	uint64_t up = 2 * MIB, dn = 1 * MIB;
	struct rl_opts o = { 0 };
	struct access_line a;
	struct flow *f;
	uint16_t cport;
	int ret;

	CHECK_SKIP(e);
	if (test_quick())
		up = dn = 256 * 1024;
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);

	f = env_flows(_metadata, e, 1);
	env_client(_metadata, e, f, 9, BE_DUPLEX, up, dn);
	f->tx_after_eof = true;
	cport = local_port(f->fd);
	ret = flows_run(&f, 1, 20000 + slack_ms() * 4, NULL, NULL);
	ASSERT_EQ(0, ret) TH_LOG("%s: received %llu%s, sent %llu%s",
				 strerror(-ret),
				 (unsigned long long)f->rx_bytes,
				 f->rx_eof ? " + FIN" : "",
				 (unsigned long long)f->tx_sent,
				 f->tx_shut ? " + FIN" : "");
	ASSERT_EQ(0, env_check(_metadata, e, f, 9, up, dn));
	flow_close(f);

	ASSERT_EQ(0, rl_access(&e->rl, cport, 5000 + slack_ms(), &a));
	EXPECT_EQ(up + sizeof(struct wire_hdr), a.up);
	EXPECT_EQ(dn, a.down);
	EXPECT_STREQ("done", a.end);
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: MIT
/*
 * ringlb under faults: a backend that resets mid-stream or dies under
 * load, clients that read slowly or never, more clients than max-conns,
 * no descriptors left at accept, and a provided-buffer ring that runs
 * dry. Each test checks that no byte is lost or reordered on the
 * connections that survive (stream hashes), that the broken ones carry
 * an intact prefix, and that the daemon goes on serving.
 *
 * Also the listener's gate: allow/deny blocks and the per-source cap,
 * with 127.0.0.2 as a second client address.
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>

#include "common.h"

FIXTURE(faults) {
	struct rl_env e;
};

FIXTURE_VARIANT(faults) {
	struct rl_variant v;
};

RINGLB_VARIANT(faults, uring_splice, "uring", "splice", AF_INET);
RINGLB_VARIANT(faults, uring_buffers, "uring", "buffers", AF_INET);
RINGLB_VARIANT(faults, epoll_splice, "epoll", "splice", AF_INET);
RINGLB_VARIANT(faults, epoll_buffers, "epoll", "buffers", AF_INET);

FIXTURE_SETUP(faults)
{
	env_setup(_metadata, &self->e, &variant->v);
}

FIXTURE_TEARDOWN(faults)
{
	env_teardown(_metadata, &self->e);
}

/*
 * Run flows to their end even when some of them fail: flows_run() stops
 * at the first error, so run it again on the ones still going.
 */
static int run_all(struct flow *f, int n, int timeout_ms)
{
	uint64_t deadline = now_ms() + timeout_ms;
	struct flow *live[64];
	int i, k, ret;

	for (;;) {
		for (i = 0, k = 0; i < n && k < 64; i++)
			if (!f[i].err && !flow_done(&f[i]))
				live[k++] = &f[i];
		if (!k)
			return 0;
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		ret = flows_run(live, k, deadline - now_ms(), NULL, NULL);
		if (ret == -ETIMEDOUT)
			return ret;
	}
}

/* what the client holds of stream @seed is a true prefix of it */
static bool intact_prefix(const struct flow *f, uint64_t seed)
{
	return f->rx_hash == stream_hash(seed, f->rx_bytes);
}

static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	fp = fopen(path, "r");
	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(fp);
	return kib;
}

/* user + system CPU of @pid, in clock ticks */
static long cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fp = fopen(path, "r");
	if (!fp)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	p = strrchr(buf, ')');	/* comm may hold spaces */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			 &ut, &st) != 2)
		return -1;
	return ut + st;
}

/*
 * A backend resets one connection mid-stream: that client sees the
 * reset after an intact prefix; the clients beside it lose nothing.
 */
TEST_F_TIMEOUT(faults, backend_reset_midstream, 120)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = { .threads = 2 };
	uint64_t len = test_quick() ? 256 * 1024 : 4 * MIB;
	struct flow *f;
	int i, n = 6, ret;

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);
	f = env_flows(_metadata, e, n);
	for (i = 0; i < n; i++)
		env_client(_metadata, e, &f[i], i, i == 0 ? BE_RESET : BE_DUPLEX,
			   len, len);
	ret = run_all(f, n, 60000 + slack_ms());
	ASSERT_EQ(0, ret);

	/*
	 * The reset one ends early: a reset, or an end of stream short of
	 * the length it was promised (the kernel reports a peer's RST to
	 * one reader only, so the daemon does not always see it as such),
	 * and what it got is a true prefix.
	 */
	TH_LOG("reset client: err %d, %llu of %llu bytes, eof %d",
	       f[0].err, (unsigned long long)f[0].rx_bytes,
	       (unsigned long long)len, f[0].rx_eof);
	EXPECT_TRUE(f[0].err == -ECONNRESET || f[0].err == -EPIPE ||
		    (f[0].rx_eof && f[0].rx_bytes <= len / 2));
	EXPECT_TRUE(intact_prefix(&f[0], flow_seed(e, 0, 1)));
	for (i = 1; i < n; i++)
		env_check(_metadata, e, &f[i], i, len, len);
	/* and the daemon goes on */
	EXPECT_LE(0, env_roundtrip(_metadata, e, 100, 4096, 5000 + slack_ms()));
}

/*
 * One of two backends is a process of its own, killed with SIGKILL in
 * the middle of long streams. Its clients get a broken stream with an
 * intact prefix; the other backend's clients finish whole; new clients
 * are all served.
 */
static bool all_paused(struct flow **fl, int n, void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < n; i++)
		if (fl[i]->rx_bytes < fl[i]->rx_pause_at && !fl[i]->err)
			return false;
	return true;
}

TEST_F_TIMEOUT(faults, backend_killed_under_load, 120)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = { .threads = 1, .balance = "rr" };
	/*
	 * Every client stops reading at 1 MiB until the kill, so no stream
	 * can end before it: a backend gets at most the socket buffers of
	 * two loopback hops ahead of its client (tcp_wmem and tcp_rmem
	 * maxima, 4 + 6 MiB each by default), far short of 32 MiB. Waiting
	 * for a first byte on every stream instead let one stream finish
	 * whole before the last one started, when the epoll worker served
	 * one connection at a time (QEMU, a busy machine).
	 */
	uint64_t len = 32 * MIB;
	struct backend child_be;
	struct flow *f, *fl[8];
	int i, n = 8, whole = 0, broken = 0, status, ret;
	int sync[2];
	pid_t pid;
	char addr[64];

	CHECK_SKIP(e);
	ASSERT_EQ(0, pipe(sync));
	/*
	 * Fork while this process has one thread: a child forked beside
	 * running backend threads can inherit a malloc lock one of them
	 * held (ASan's allocator most of all) and hang in its calloc; the
	 * sanitizer run of make check saw the doomed backend never serve.
	 */
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		/* the doomed backend: its results stay in this process */
		struct results *res = calloc(1, sizeof(*res));

		results_init(res);
		if (backend_start(&child_be, 1, e->v.family, res))
			_exit(1);
		if (write(sync[1], child_be.addr, sizeof(child_be.addr)) < 0)
			_exit(1);
		for (;;)
			pause();
	}
	close(sync[1]);
	ASSERT_EQ((ssize_t)sizeof(addr), read(sync[0], addr, sizeof(addr)));
	close(sync[0]);
	env_backends(_metadata, e, 1);

	o.servers[o.nservers++] = e->be[0].addr;
	o.servers[o.nservers++] = addr;
	o.connect_timeout = 1000;
	env_spawn(_metadata, e, &o);
	env_settle(_metadata, e);

	f = env_flows(_metadata, e, n);
	for (i = 0; i < n; i++) {
		/* the down stream waits for the up one: both stay open long */
		env_client(_metadata, e, &f[i], i, BE_DUPLEX, 4096, len);
		f[i].rx_pause_at = MIB;
		fl[i] = &f[i];
	}
	ret = flows_run(fl, n, 20000 + slack_ms(), all_paused, NULL);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	ASSERT_EQ(0, ret);
	for (i = 0; i < n; i++)
		f[i].rx_pause_at = UINT64_MAX;

	ret = run_all(f, n, 60000 + slack_ms());
	ASSERT_EQ(0, ret);
	for (i = 0; i < n; i++) {
		EXPECT_TRUE(intact_prefix(&f[i], flow_seed(e, i, 1)))
			TH_LOG("client %d: corrupt stream", i);
		if (!f[i].err && f[i].rx_bytes == len) {
			whole++;
			/* whole means served by the live backend */
			EXPECT_EQ(0, env_check(_metadata, e, &f[i], i, 4096, len));
		} else {
			broken++;
		}
	}
	/* rr over two servers, one worker: half and half */
	EXPECT_EQ(n / 2, whole);
	EXPECT_EQ(n / 2, broken);

	/* the dead one costs retries, never a client */
	for (i = 0; i < 8; i++)
		EXPECT_EQ(0, env_roundtrip(_metadata, e, 200 + i, 4096,
					   5000 + slack_ms()));
}

/*
 * A client that never reads while its backend pushes a long stream:
 * the daemon's memory stays bounded (backpressure, not buffering), and
 * other clients are served meanwhile.
 */
TEST_F_TIMEOUT(faults, client_never_reads, 120)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = {
		.threads = 1,
		.extra = { "--buffers", "64", "--buffer-size", "16384",
			   "--pipe-size", "65536" },
	};
	uint64_t len = test_quick() ? 16 * MIB : 128 * MIB;
	struct stats_line s0, s1;
	struct wire_hdr h = {
		.magic = WIRE_MAGIC, .mode = BE_DUPLEX, .id = 1,
	};
	long rss0, rss1;
	int fd, i;

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);
	env_settle(_metadata, e);
	/* warm the data path once, so its first-use memory is counted */
	ASSERT_LE(0, env_roundtrip(_metadata, e, 0, 256 * 1024,
				   5000 + slack_ms()));
	rss0 = rss_kib(e->rl.pid);
	ASSERT_LT(0, rss0);

	h.seed = flow_seed(e, 1, 1);
	h.len = len;
	fd = env_connect(_metadata, e);
	env_keep_fd(e, fd);
	ASSERT_EQ((ssize_t)sizeof(h), write(fd, &h, sizeof(h)));
	ASSERT_EQ(0, rl_stats(&e->rl, 5000, &s0));
	sleep_ms(1500);
	ASSERT_EQ(0, rl_stats(&e->rl, 5000, &s1));
	/* stalled: the proxy stopped moving bytes towards the client */
	sleep_ms(500);
	for (i = 0; i < 4; i++)
		EXPECT_LE(0, env_roundtrip(_metadata, e, 10 + i, 64 * 1024,
					   5000 + slack_ms()));
	rss1 = rss_kib(e->rl.pid);
	TH_LOG("rss %ld -> %ld KiB; down bytes %llu -> %llu of %llu",
	       rss0, rss1, (unsigned long long)s0.bytes_down,
	       (unsigned long long)s1.bytes_down, (unsigned long long)len);
	EXPECT_LT(s1.bytes_down, len / 2);
	/* a handful of buffers at most, nowhere near the stream */
	EXPECT_LT(rss1 - rss0, 8 * 1024);
}

/*
 * A slow reader gets every byte, in order, and the daemon's memory does
 * not grow with what the backend had ready.
 */
TEST_F_TIMEOUT(faults, slow_reader, 120)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = {
		.threads = 1,
		.extra = { "--buffers", "64", "--buffer-size", "16384",
			   "--pipe-size", "65536" },
	};
	uint64_t len = test_quick() ? 2 * MIB : 16 * MIB, got = 0, h = FNV_OFFSET;
	uint64_t t_end = now_ms() + 60000 + slack_ms();
	struct wire_hdr hdr = {
		.magic = WIRE_MAGIC, .mode = BE_DUPLEX, .id = 1,
	};
	static uint8_t buf[64 * 1024];
	long rss0, rss_max = 0, r;
	int fd, rounds = 0;
	ssize_t n;

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);
	env_settle(_metadata, e);
	ASSERT_LE(0, env_roundtrip(_metadata, e, 0, 256 * 1024,
				   5000 + slack_ms()));
	rss0 = rss_kib(e->rl.pid);

	hdr.seed = flow_seed(e, 1, 1);
	hdr.len = len;
	fd = env_connect(_metadata, e);
	env_keep_fd(e, fd);
	ASSERT_EQ((ssize_t)sizeof(hdr), write(fd, &hdr, sizeof(hdr)));
	shutdown(fd, SHUT_WR);
	/* the first half slowly: 64 KiB every 20 ms */
	while (got < len / 2 && now_ms() < t_end) {
		n = read(fd, buf, sizeof(buf));
		ASSERT_LT(0, n) TH_LOG("read: %s after %llu bytes",
				       n ? strerror(errno) : "EOF",
				       (unsigned long long)got);
		h = fnv1a(h, buf, n);
		got += n;
		if (!(++rounds % 8)) {
			r = rss_kib(e->rl.pid);
			if (r > rss_max)
				rss_max = r;
		}
		sleep_ms(20);
	}
	/* then the rest at full speed */
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		h = fnv1a(h, buf, n);
		got += n;
	}
	EXPECT_EQ(0, n);
	EXPECT_EQ(len, got);
	EXPECT_EQ(stream_hash(hdr.seed, len), h);
	TH_LOG("rss %ld KiB, at most %ld while reading slowly", rss0, rss_max);
	EXPECT_LT(rss_max - rss0, 8 * 1024);
}

/*
 * Three times max-conns clients at once: never more than max-conns
 * reach the backend together, the rest wait in the listen backlog, and
 * every one of them is served in the end.
 */
TEST_F_TIMEOUT(faults, connect_flood_beyond_max_conns, 120)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = { .threads = 1, .max_conns = 16 };
	int i, n = 48, ret;
	struct flow *f;
	struct flow *fl[48];

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);
	env_settle(_metadata, e);
	atomic_store(&e->be[0].max_active, 0);

	f = env_flows(_metadata, e, n);
	for (i = 0; i < n; i++) {
		env_client(_metadata, e, &f[i], i, BE_AFTER_EOF, 32 * 1024,
			   32 * 1024);
		fl[i] = &f[i];
	}
	ret = flows_run(fl, n, 60000 + slack_ms(), NULL, NULL);
	ASSERT_EQ(0, ret);
	for (i = 0; i < n; i++)
		env_check(_metadata, e, &f[i], i, 32 * 1024, 32 * 1024);
	EXPECT_GE(16, atomic_load(&e->be[0].max_active));
	EXPECT_TRUE(rl_alive(&e->rl));
}

/*
 * No descriptors left: the daemon pauses accepting (one log line, no
 * busy loop), keeps the connections it has, and serves the waiting
 * clients once descriptors free up. The epoll engine meets EMFILE at
 * accept; the io_uring one accepts into direct descriptors, which do
 * not count, and meets it at the server's socket(): that client waits,
 * parked, and accepts pause the same way.
 */
TEST_F_TIMEOUT(faults, fd_exhaustion, 120)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = { .threads = 1 };
	struct rlimit lim, old;
	int fds[40], i, n = 40, held, ret;
	long t0, t1, hz = sysconf(_SC_CLK_TCK);

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);
	env_settle(_metadata, e);

	/* room for a few connections beyond what it holds now */
	held = proc_fds(e->rl.pid);
	ASSERT_LT(0, held);
	ASSERT_EQ(0, prlimit(e->rl.pid, RLIMIT_NOFILE, NULL, &old));
	lim.rlim_cur = held + 12;
	lim.rlim_max = old.rlim_max;
	ASSERT_EQ(0, prlimit(e->rl.pid, RLIMIT_NOFILE, &lim, NULL));

	for (i = 0; i < n; i++) {
		fds[i] = tcp_connect(e->v.family, e->lport);
		ASSERT_LE(0, fds[i]);
	}
	/* some got in and reached the backend; the daemon ran dry */
	ret = rl_log_wait(&e->rl, "pausing accepts", 1, 5000 + slack_ms());
	if (ret)
		TH_LOG("no 'pausing accepts'; backend has %d of %d clients",
		       atomic_load(&e->be[0].active), n);
	ASSERT_EQ(0, ret);
	/* starved for a second: the daemon must not spin */
	t0 = cpu_ticks(e->rl.pid);
	sleep_ms(1000);
	t1 = cpu_ticks(e->rl.pid);
	TH_LOG("CPU while starved: %ld ticks of %ld", t1 - t0, hz);
	EXPECT_LT(t1 - t0, hz / 4);
	EXPECT_EQ(1, rl_log_count(&e->rl, "pausing accepts"));
	EXPECT_TRUE(rl_alive(&e->rl));

	/* free descriptors: the waiting clients get in */
	ASSERT_EQ(0, prlimit(e->rl.pid, RLIMIT_NOFILE, &old, NULL));
	for (i = 0; i < n; i++)
		close(fds[i]);
	EXPECT_EQ(0, rl_log_wait(&e->rl, "accepting again", 1,
				 5000 + slack_ms()));
	for (i = 0; i < 4; i++)
		EXPECT_LE(0, env_roundtrip(_metadata, e, 300 + i, 4096,
					   5000 + slack_ms()));
}

/*
 * 16 provided buffers for 16 concurrent streams: the ring runs dry
 * (ENOBUFS), the daemon re-arms as buffers come back, and no byte is
 * lost. Only the buffers data path has a buffer ring.
 */
TEST_F_TIMEOUT(faults, buffer_ring_exhaustion, 120)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = {
		.threads = 1,
		.extra = { "--buffers", "16", "--buffer-size", "4096" },
	};
	uint64_t len = test_quick() ? 256 * 1024 : 4 * MIB;
	struct flow *f, *fl[16];
	int i, n = 16, ret;
	char *line;
	uint64_t enobufs = 0;

	CHECK_SKIP(e);
	if (strcmp(e->v.forward, "buffers"))
		SKIP(return, "no buffer ring in the %s data path", e->v.forward);
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);

	f = env_flows(_metadata, e, n);
	for (i = 0; i < n; i++) {
		env_client(_metadata, e, &f[i], i, BE_DUPLEX, len, len);
		fl[i] = &f[i];
	}
	ret = flows_run(fl, n, 90000 + slack_ms(), NULL, NULL);
	ASSERT_EQ(0, ret);
	for (i = 0; i < n; i++)
		env_check(_metadata, e, &f[i], i, len, len);

	kill(e->rl.pid, SIGUSR1);
	ASSERT_EQ(0, rl_log_wait(&e->rl, "info: stats ", 1, 5000));
	sleep_ms(50);
	line = rl_log_line(&e->rl, "info: stats ");
	ASSERT_NE(NULL, line);
	if (!strcmp(e->v.engine, "uring")) {
		ASSERT_EQ(0, kv_u64(line, "uring_enobufs", &enobufs));
		EXPECT_LT(0ULL, enobufs) TH_LOG("the ring never ran dry: %s", line);
	}
	free(line);
}

/* ---- the listener's gate -------------------------------------------- */

/* connect from @src (an address of lo) to the daemon */
static int connect_from(struct rl_env *e, const char *src)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	inet_pton(AF_INET, src, &a.sin_addr);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)))
		goto fail;
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	a.sin_port = htons(e->lport);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)))
		goto fail;
	return fd;
fail:
	close(fd);
	return -errno;
}

/*
 * Served means the backend answers: a roundtrip of a wire header and a
 * short stream. Refused means closed by the daemon with no byte.
 */
static int served_from(struct __test_metadata *_metadata, struct rl_env *e,
		       const char *src, uint32_t id)
{
	int fd = connect_from(e, src), ret;
	struct flow f, *fp = &f;

	if (fd < 0)
		return fd;
	set_nonblock(fd);
	flow_init_client(&f, fd, id, BE_DUPLEX, flow_seed(e, id, 0), 1024,
			 flow_seed(e, id, 1), 1024);
	ret = flows_run(&fp, 1, 5000 + slack_ms(), NULL, NULL);
	if (!ret && f.rx_bytes != 1024)
		ret = -EPIPE;
	flow_close(&f);
	return ret;
}

FIXTURE(gate) {
	struct rl_env e;
};

FIXTURE_VARIANT(gate) {
	struct rl_variant v;
};

RINGLB_VARIANT(gate, uring, "uring", "buffers", AF_INET);
RINGLB_VARIANT(gate, epoll, "epoll", "splice", AF_INET);

FIXTURE_SETUP(gate)
{
	env_setup(_metadata, &self->e, &variant->v);
}

FIXTURE_TEARDOWN(gate)
{
	env_teardown(_metadata, &self->e);
}

TEST_F_TIMEOUT(gate, allow_and_deny, 60)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = {
		.threads = 1,
		/* allow lo's /8, but not 127.0.0.3 */
		.extra = { "--allow", "127.0.0.0/8", "--deny", "127.0.0.3",
			   "--allow", "10.0.0.0/8" },
	};
	char *line;
	uint64_t v;

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);
	env_settle(_metadata, e);

	EXPECT_EQ(0, served_from(_metadata, e, "127.0.0.1", 1));
	EXPECT_EQ(0, served_from(_metadata, e, "127.0.0.2", 2));
	EXPECT_NE(0, served_from(_metadata, e, "127.0.0.3", 3));
	EXPECT_EQ(0, served_from(_metadata, e, "127.0.0.4", 4));
	EXPECT_EQ(0, rl_log_wait(&e->rl, "end=denied", 1, 5000));
	line = rl_log_line(&e->rl, "end=denied");
	ASSERT_NE(NULL, line);
	EXPECT_NE(NULL, strstr(line, "client=127.0.0.3:")) TH_LOG("%s", line);
	free(line);
	kill(e->rl.pid, SIGUSR1);
	ASSERT_EQ(0, rl_log_wait(&e->rl, "info: stats ", 1, 5000));
	sleep_ms(50);
	line = rl_log_line(&e->rl, "info: stats ");
	ASSERT_NE(NULL, line);
	EXPECT_EQ(0, kv_u64(line, "conns_denied", &v));
	EXPECT_EQ(1ULL, v);
	free(line);
}

TEST_F_TIMEOUT(gate, allow_list_only, 60)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = {
		.threads = 1,
		.extra = { "--allow", "127.0.0.2/32" },
	};

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	/* its readiness probes come from 127.0.0.1: refused, but answered */
	env_spawn(_metadata, e, &o);
	EXPECT_NE(0, served_from(_metadata, e, "127.0.0.1", 1));
	EXPECT_EQ(0, served_from(_metadata, e, "127.0.0.2", 2));
	/* nothing from 127.0.0.1 ever reached the backend */
	EXPECT_EQ(1, atomic_load(&e->be[0].accepted));
}

TEST_F_TIMEOUT(gate, per_source_limit, 60)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = {
		.threads = 2,
		.extra = { "--max-conns-per-source", "3" },
	};
	int fds[4], i, fd, ret;
	uint64_t bytes = 0;

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);
	env_settle(_metadata, e);

	/* three idle connections from 127.0.0.2 reach the backend */
	for (i = 0; i < 3; i++) {
		fds[i] = connect_from(e, "127.0.0.2");
		ASSERT_LE(0, fds[i]);
	}
	ASSERT_EQ(0, backend_wait_active(&e->be[0], 3, 5000 + slack_ms()));
	/* the fourth is closed at once, with nothing */
	fds[3] = connect_from(e, "127.0.0.2");
	ASSERT_LE(0, fds[3]);
	ret = wait_eof(fds[3], 5000 + slack_ms(), &bytes);
	EXPECT_TRUE(ret == 0 || ret == -ECONNRESET) TH_LOG("%s", strerror(-ret));
	EXPECT_EQ(0ULL, bytes);
	close(fds[3]);
	/* another source is not affected */
	EXPECT_EQ(0, served_from(_metadata, e, "127.0.0.1", 1));
	/* one leaves, one more may come */
	close(fds[0]);
	ASSERT_EQ(0, backend_wait_active(&e->be[0], 2, 5000 + slack_ms()));
	sleep_ms(100);
	fd = connect_from(e, "127.0.0.2");
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, backend_wait_active(&e->be[0], 3, 5000 + slack_ms()));
	close(fd);
	close(fds[1]);
	close(fds[2]);
	/* lines reach the log a moment after the fact: wait, then count */
	EXPECT_EQ(0, rl_log_wait(&e->rl, "end=limited", 1, 5000 + slack_ms()));
	EXPECT_EQ(1, rl_log_count(&e->rl, "end=limited"));
}

TEST_HARNESS_MAIN

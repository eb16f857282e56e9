// SPDX-License-Identifier: MIT
/*
 * Hostile clients and unlucky servers against the data path: hundreds
 * of clients that never read, clients that dribble, reset or vanish,
 * no descriptor left for a pipe, downloads read slowly under a short
 * idle timeout, peers that stop reading, a SYN lost to a full backlog,
 * a unix socket's backlog full for a moment, a server that restarts,
 * and sources that try to walk around per-source limits.
 *
 * The contract each test checks: a well-behaved client on the same
 * worker keeps its latency (a bound stated in the test, with slack for
 * sanitizers and emulation) and loses no byte (stream hashes); a bad
 * peer costs its own connection and nobody else's.
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/un.h>

#include "common.h"

FIXTURE(hostile) {
	struct rl_env e;
};

FIXTURE_VARIANT(hostile) {
	struct rl_variant v;
};

RINGLB_VARIANT(hostile, uring_buffers, "uring", "buffers", AF_INET);
RINGLB_VARIANT(hostile, uring_auto, "uring", "auto", AF_INET);
RINGLB_VARIANT(hostile, uring_splice, "uring", "splice", AF_INET);
RINGLB_VARIANT(hostile, epoll_buffers, "epoll", "buffers", AF_INET);
RINGLB_VARIANT(hostile, epoll_splice, "epoll", "splice", AF_INET);

FIXTURE_SETUP(hostile)
{
	env_setup(_metadata, &self->e, &variant->v);
}

FIXTURE_TEARDOWN(hostile)
{
	env_teardown(_metadata, &self->e);
}

/* the bound on a well-behaved client's round trip while others attack */
#define GOOD_RTT_MS	500

/*
 * A client that sends its header, asking for a long stream, and never
 * reads a byte of it. A small receive buffer makes it stall sooner, so
 * the test does not have to push gigabytes through loopback first.
 */
static int never_reader(struct __test_metadata *_metadata, struct rl_env *e,
			uint32_t id, uint64_t len)
{
	struct wire_hdr h = {
		.magic = WIRE_MAGIC, .mode = BE_DUPLEX, .id = id,
		.seed = flow_seed(e, id, 1), .len = len,
	};
	int fd, rcv = 4096;

	fd = socket(e->v.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	{
		struct sockaddr_storage ss;
		socklen_t sl;

		loopback_sockaddr(e->v.family, e->lport, &ss, &sl);
		if (connect(fd, (struct sockaddr *)&ss, sl)) {
			close(fd);
			return -errno;
		}
	}
	if (send(fd, &h, sizeof(h), MSG_NOSIGNAL) != sizeof(h)) {
		close(fd);
		return -EIO;
	}
	return fd;
}

/*
 * Hundreds of stalled streams each fill socket buffers that the kernel
 * grows up to tcp_wmem/tcp_rmem's maximum (4 and 6 MiB): a 2 GiB test
 * VM runs out of TCP memory, and the kernel resets connections ("TCP:
 * out of memory -- consider tuning tcp_mem"), a good client's among
 * them. In a namespace of our own the limits are ours to set: 256 KiB
 * still stalls every never-reader, and in less time.
 */
static void small_tcp_buffers(struct __test_metadata *_metadata,
			      struct rl_env *e)
{
	static const char *const files[] = {
		"/proc/sys/net/ipv4/tcp_wmem", "/proc/sys/net/ipv4/tcp_rmem",
	};
	unsigned int i;
	FILE *f;

	if (!e->netns)
		return;
	for (i = 0; i < 2; i++) {
		f = fopen(files[i], "w");
		if (!f || fprintf(f, "4096 16384 262144\n") < 0)
			TH_LOG("cannot set %s: %s", files[i], strerror(errno));
		if (f)
			fclose(f);
	}
}

/*
 * Round trips of a well-behaved client, one after the other, each
 * bounded; returns the slowest in ms, or -1 when one failed.
 */
static int good_client(struct __test_metadata *_metadata, struct rl_env *e,
		       uint32_t id0, int n, uint64_t len)
{
	int i, worst = 0;

	for (i = 0; i < n; i++) {
		uint64_t t0 = now_ms();
		int ms;

		if (env_roundtrip(_metadata, e, id0 + i, len,
				  GOOD_RTT_MS * 4 + slack_ms()) < 0)
			return -1;
		ms = now_ms() - t0;
		if (ms > worst)
			worst = ms;
	}
	return worst;
}

static uint64_t stat_of(struct __test_metadata *_metadata, struct rl_env *e,
			const char *key)
{
	uint64_t v = 0;
	int ret = rl_stat(&e->rl, key, &v, 5000 + slack_ms());

	EXPECT_EQ(0, ret) TH_LOG("no %s in the stats line", key);
	return v;
}

/*
 * 300 clients that never read, each with a backend streaming at it,
 * all on one worker with the default buffer ring (1024 buffers): they
 * may take their share of it and no more. A well-behaved client on the
 * same worker is answered within GOOD_RTT_MS all along, while the
 * stalled ones pile up and after.
 */
TEST_F_TIMEOUT(hostile, non_readers_300, 240)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = { .threads = 1 };
	int i, n = test_quick() ? 100 : 300, worst, w, ret;
	uint64_t len = 64 * MIB, down0, down1, enobufs;
	int *fds;

	CHECK_SKIP(e);
	small_tcp_buffers(_metadata, e);
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);
	env_settle(_metadata, e);
	fds = calloc(n, sizeof(*fds));
	ASSERT_NE(NULL, fds);

	/*
	 * While they pile up, the worker moves hundreds of megabytes into
	 * their sockets' buffers (legitimate work, on two shared cores):
	 * a good client is served all along, within env_roundtrip()'s
	 * bound, and the tight bound applies once they are stalled.
	 */
	worst = 0;
	for (i = 0; i < n; i++) {
		fds[i] = never_reader(_metadata, e, 3000 + i, len);
		ASSERT_LE(0, fds[i]) TH_LOG("never-reader %d: %s", i,
					    strerror(-fds[i]));
		if (i % 25 == 24) {
			w = good_client(_metadata, e, 100 + i / 25, 1, 4096);
			ASSERT_LE(0, w) TH_LOG("after %d never-readers", i + 1);
			if (w > worst)
				worst = w;
		}
	}
	TH_LOG("slowest good round trip while they piled up: %d ms", worst);
	ret = backend_wait_active(&e->be[0], n, 20000 + slack_ms());
	ASSERT_EQ(0, ret) TH_LOG("backend has %d of %d never-readers",
				 atomic_load(&e->be[0].active), n);
	/*
	 * Stalled: what the proxy moved towards them stops growing, far
	 * short of what the backend offered. Asked until two answers
	 * agree, a second apart; the stall is what the rest measures under.
	 */
	down0 = stat_of(_metadata, e, "bytes_down");
	for (i = 0; i < 60; i++) {
		sleep_ms(1000);
		down1 = stat_of(_metadata, e, "bytes_down");
		if (down1 == down0)
			break;
		down0 = down1;
	}
	TH_LOG("%d never-readers stalled after %llu bytes down", n,
	       (unsigned long long)down1);
	EXPECT_LT(down1, (uint64_t)n * len / 8);

	worst = good_client(_metadata, e, 200, 20, 64 * 1024);
	ASSERT_LE(0, worst);
	TH_LOG("slowest good round trip once they stalled: %d ms (bound %d + %u)",
	       worst, GOOD_RTT_MS, slack_ms());
	EXPECT_LE(worst, GOOD_RTT_MS + (int)slack_ms());

	if (!strcmp(e->v.engine, "uring") &&
	    !strcmp(e->v.forward, "buffers")) {
		/* the ring did run dry: the reserve is what kept us going */
		enobufs = stat_of(_metadata, e, "uring_enobufs");
		TH_LOG("ENOBUFS %llu, reserve copies %llu",
		       (unsigned long long)enobufs,
		       (unsigned long long)stat_of(_metadata, e,
						   "reserve_copies"));
	}
	for (i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	EXPECT_TRUE(rl_alive(&e->rl));
}

/*
 * A crowd of bad clients at once: some send a byte a second, some
 * reset mid-stream, some vanish without a word, some connect and say
 * nothing. Meanwhile a good client's streams arrive whole and fast.
 */
TEST_F_TIMEOUT(hostile, mixed_crowd, 120)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = { .threads = 1 };
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int dribblers[40], quiet[40], i, k, worst = 0, w;
	uint64_t t_end;

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);
	env_settle(_metadata, e);

	for (i = 0; i < 40; i++) {
		struct wire_hdr h = {
			.magic = WIRE_MAGIC, .mode = BE_AFTER_EOF,
			.id = 100 + i, .seed = flow_seed(e, 100 + i, 1),
		};

		dribblers[i] = env_connect(_metadata, e);
		ASSERT_EQ((ssize_t)sizeof(h),
			  send(dribblers[i], &h, sizeof(h), MSG_NOSIGNAL));
		quiet[i] = env_connect(_metadata, e);
	}
	t_end = now_ms() + 4000;
	for (k = 0; now_ms() < t_end && k < 150; k++) {
		/* a byte from each dribbler (its up stream, unhashed) */
		for (i = 0; i < 40; i++)
			send(dribblers[i], "x", 1, MSG_NOSIGNAL);
		/* five resets and five vanishings mid-stream */
		for (i = 0; i < 10; i++) {
			int fd = env_connect(_metadata, e);
			struct wire_hdr h = {
				.magic = WIRE_MAGIC, .mode = BE_DUPLEX,
				.id = 1000 + k * 10 + i,
				.seed = flow_seed(e, 1000 + k * 10 + i, 1),
				.len = 4 * MIB,
			};

			send(fd, &h, sizeof(h), MSG_NOSIGNAL);
			if (i < 5)
				setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg,
					   sizeof(lg));
			close(fd);
		}
		w = good_client(_metadata, e, 3000 + k * 4, 4, 32 * 1024);
		ASSERT_LE(0, w);
		if (w > worst)
			worst = w;
	}
	TH_LOG("%d rounds; slowest good round trip %d ms (bound %d + %u)",
	       k, worst, GOOD_RTT_MS, slack_ms());
	EXPECT_LE(worst, GOOD_RTT_MS + (int)slack_ms());
	for (i = 0; i < 40; i++) {
		close(dribblers[i]);
		close(quiet[i]);
	}
	EXPECT_TRUE(rl_alive(&e->rl));
}

/* ---- descriptors ---------------------------------------------------- */

/*
 * No descriptor left for a pipe. Twenty connections are open and idle
 * (holding no pipe); then seventy clients that never read pin a pipe
 * each, which empties the pool of spare pipes; then the descriptor
 * limit drops to nothing. The twenty then move their streams both ways
 * and end with an EOF each: nothing is cut for want of a pipe, every
 * byte arrives. In the splice paths the bytes went through the reserve.
 */
TEST_F_TIMEOUT(hostile, no_fd_for_pipes, 180)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = { .threads = 1 };
	uint64_t len = test_quick() ? 256 * 1024 : 2 * MIB, end;
	int holders[70], i, n = 20, nh = 70, base, ret;
	struct rlimit lim, old;
	struct flow *f, *fl[20];
	uint64_t copies;

	CHECK_SKIP(e);
	small_tcp_buffers(_metadata, e);
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);
	env_settle(_metadata, e);

	f = env_flows(_metadata, e, n);
	for (i = 0; i < n; i++) {
		/* connected; not a byte sent until flows_run() */
		env_client(_metadata, e, &f[i], i, BE_DUPLEX, len, len);
		fl[i] = &f[i];
	}
	ASSERT_EQ(0, backend_wait_active(&e->be[0], n, 10000 + slack_ms()));
	base = proc_fds(e->rl.pid);
	for (i = 0; i < nh; i++) {
		holders[i] = never_reader(_metadata, e, 1000 + i, 64 * MIB);
		ASSERT_LE(0, holders[i]);
	}
	/* each holds its two sockets and, in the splice paths, a pipe */
	end = now_ms() + 20000 + slack_ms();
	while (proc_fds(e->rl.pid) < base + nh * (strcmp(e->v.forward,
					"splice") ? 2 : 4) &&
	       now_ms() < end)
		sleep_ms(20);
	TH_LOG("descriptors: %d before the holders, %d with them", base,
	       proc_fds(e->rl.pid));
	ASSERT_EQ(0, prlimit(e->rl.pid, RLIMIT_NOFILE, NULL, &old));
	lim.rlim_cur = 3;	/* stdin, stdout, stderr: nothing new */
	lim.rlim_max = old.rlim_max;
	ASSERT_EQ(0, prlimit(e->rl.pid, RLIMIT_NOFILE, &lim, NULL));

	ret = flows_run(fl, n, 60000 + slack_ms(), NULL, NULL);
	EXPECT_EQ(0, ret) TH_LOG("flows: %s", strerror(-ret));
	for (i = 0; i < n; i++)
		env_check(_metadata, e, &f[i], i, len, len);
	ASSERT_EQ(0, prlimit(e->rl.pid, RLIMIT_NOFILE, &old, NULL));
	for (i = 0; i < nh; i++)
		close(holders[i]);
	EXPECT_EQ(0, rl_log_count(&e->rl, "end=no-fd"));
	copies = stat_of(_metadata, e, "reserve_copies");
	TH_LOG("reserve copies: %llu", (unsigned long long)copies);
	if (!strcmp(e->v.forward, "splice"))
		EXPECT_LT(0ULL, copies);
}

/* ---- timeouts ------------------------------------------------------- */

/*
 * Start ringlb with @o in front of one duplex backend and ask it for a
 * download of @hdr->len bytes (seeded into @hdr): the client's socket,
 * its sending side already shut, or -EIO.
 */
static int download_start(struct __test_metadata *_metadata,
			  struct rl_env *e, struct rl_opts *o,
			  struct wire_hdr *hdr)
{
	int fd;

	env_backends(_metadata, e, 1);
	o->servers[o->nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, o);
	env_settle(_metadata, e);

	hdr->magic = WIRE_MAGIC;
	hdr->mode = BE_DUPLEX;
	hdr->id = 1;
	hdr->seed = flow_seed(e, 1, 1);
	fd = env_connect(_metadata, e);
	env_keep_fd(e, fd);
	if (write(fd, hdr, sizeof(*hdr)) != (ssize_t)sizeof(*hdr))
		return -EIO;
	shutdown(fd, SHUT_WR);
	return fd;
}

/*
 * A 4 MiB download read steadily at about 1 MB/s, under an idle timeout
 * of 400 ms: the proxy has the whole stream early and then only sends,
 * which is progress. It must not be cut.
 */
TEST_F_TIMEOUT(hostile, slow_download_is_progress, 120)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = {
		.threads = 1, .idle_timeout = 400,
		.extra = { "--client-timeout", "400",
			   "--server-timeout", "400" },
	};
	uint64_t len = 4 * MIB, got = 0, h = FNV_OFFSET;
	struct wire_hdr hdr = { .len = len };
	static uint8_t buf[32 * 1024];
	struct access_line a;
	uint16_t cport;
	ssize_t n;
	int fd;

	CHECK_SKIP(e);
	fd = download_start(_metadata, e, &o, &hdr);
	ASSERT_LE(0, fd);
	cport = local_port(fd);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		h = fnv1a(h, buf, n);
		got += n;
		sleep_ms(30);	/* the pace of the reader, not a wait */
	}
	EXPECT_EQ(0, n) TH_LOG("read: %s after %llu bytes", strerror(errno),
			       (unsigned long long)got);
	EXPECT_EQ(len, got);
	EXPECT_EQ(stream_hash(hdr.seed, len), h);
	ASSERT_EQ(0, rl_access(&e->rl, cport, 5000 + slack_ms(), &a));
	EXPECT_STREQ("done", a.end);
}

/*
 * A download through a one-page pipe: most splices from the server's
 * socket stop at a page boundary, short of the pipe's room, with bytes
 * still queued. The client reads slowly at first, so the proxy stops
 * reading and the server's window closes: from then on the server sends
 * nothing, and a direction that took a short splice for a dry socket
 * waited for a POLL_IN that never came. Every byte must arrive, with no
 * gap longer than the deadline, and no timeout configured to hide one.
 */
TEST_F_TIMEOUT(hostile, one_page_pipe_window_closed, 120)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = {
		.threads = 1,
		.extra = { "--pipe-size", "4096" },
	};
	uint64_t len = 16 * MIB, got = 0, h = FNV_OFFSET;
	struct wire_hdr hdr = { .len = len };
	static uint8_t buf[64 * 1024];
	struct pollfd p;
	ssize_t n = -1;
	int fd, r;

	CHECK_SKIP(e);
	fd = download_start(_metadata, e, &o, &hdr);
	ASSERT_LE(0, fd);
	/* 4 MiB slowly: the proxy's queues and the server's window fill */
	while (got < len) {
		p = (struct pollfd){ .fd = fd, .events = POLLIN };
		r = poll(&p, 1, 5000 + slack_ms());
		ASSERT_EQ(1, r) TH_LOG("no byte for %d ms after %llu of %llu",
				       5000 + slack_ms(),
				       (unsigned long long)got,
				       (unsigned long long)len);
		n = read(fd, buf, got < 4 * MIB ? 4096 : sizeof(buf));
		if (n <= 0)
			break;
		h = fnv1a(h, buf, n);
		got += n;
		if (got < 4 * MIB)
			sleep_ms(2);	/* the pace of the reader, not a wait */
	}
	EXPECT_LT(0, n) TH_LOG("read: %s after %llu bytes",
			       n ? strerror(errno) : "EOF",
			       (unsigned long long)got);
	EXPECT_EQ(len, got);
	EXPECT_EQ(stream_hash(hdr.seed, len), h);
}

/* A client that stops reading is closed by the write timeout. */
TEST_F_TIMEOUT(hostile, write_timeout, 60)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = {
		.threads = 1,
		.extra = { "--write-timeout", "800" },
	};
	struct access_line a;
	uint64_t t0;
	int fd, ret;

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);
	env_settle(_metadata, e);

	fd = never_reader(_metadata, e, 1, 256 * MIB);
	ASSERT_LE(0, fd);
	env_keep_fd(e, fd);
	t0 = now_ms();
	ret = rl_access(&e->rl, local_port(fd), 10000 + slack_ms(), &a);
	ASSERT_EQ(0, ret) TH_LOG("never closed");
	EXPECT_STREQ("write-timeout", a.end);
	TH_LOG("closed after %llu ms", (unsigned long long)(now_ms() - t0));
	/* not before its backlog stalled and the 800 ms ran out */
	EXPECT_LE(800ULL, now_ms() - t0);
	EXPECT_LE(1ULL, stat_of(_metadata, e, "write_timeouts"));
}

/* A client that connects and says nothing is closed by its timeout. */
TEST_F_TIMEOUT(hostile, client_timeout, 60)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = {
		.threads = 1,
		.extra = { "--client-timeout", "600", "--server-timeout",
			   "0" },
	};
	struct access_line a;
	uint64_t t0;
	int fd;

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);
	env_settle(_metadata, e);

	fd = env_connect(_metadata, e);
	env_keep_fd(e, fd);
	t0 = now_ms();
	ASSERT_EQ(0, rl_access(&e->rl, local_port(fd), 10000 + slack_ms(), &a));
	EXPECT_STREQ("client-timeout", a.end);
	EXPECT_LE(600ULL, now_ms() - t0);
	EXPECT_LE(1ULL, stat_of(_metadata, e, "client_timeouts"));
}

/*
 * A server that goes silent once the client said its piece (the client
 * has nothing more to send either) is closed by the server timeout.
 */
TEST_F_TIMEOUT(hostile, server_timeout, 60)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = {
		.threads = 1,
		.extra = { "--client-timeout", "0", "--server-timeout",
			   "600" },
	};
	struct wire_hdr h = {
		.magic = WIRE_MAGIC, .mode = BE_AFTER_EOF, .id = 1,
	};
	struct access_line a;
	uint64_t t0;
	int fd;

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);
	env_settle(_metadata, e);

	fd = env_connect(_metadata, e);
	env_keep_fd(e, fd);
	h.seed = flow_seed(e, 1, 1);
	ASSERT_EQ((ssize_t)sizeof(h), send(fd, &h, sizeof(h), MSG_NOSIGNAL));
	t0 = now_ms();
	ASSERT_EQ(0, rl_access(&e->rl, local_port(fd), 10000 + slack_ms(), &a));
	EXPECT_STREQ("server-timeout", a.end);
	EXPECT_LE(600ULL, now_ms() - t0);
	EXPECT_LE(1ULL, stat_of(_metadata, e, "server_timeouts"));
}

/*
 * Is a keepalive timer running on the TCP socket whose local port is
 * @lport and remote port @rport (either 0: any)? /proc/net/tcp's "tr" column
 * is 2 for it (ss -o prints it as timer:(keepalive,...), but the VMs
 * have no ss).
 */
static int keepalive_on(int family, uint16_t lport, uint16_t rport)
{
	const char *path = family == AF_INET6 ? "/proc/net/tcp6" :
						"/proc/net/tcp";
	char line[512], local[64], remote[64];
	unsigned int st, tr, lp, rp;
	int found = -ENOENT;
	FILE *f = fopen(path, "r");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, " %*u: %63s %63s %x %*s %x:", local, remote,
			   &st, &tr) != 4)
			continue;
		if (sscanf(strchr(local, ':') + 1, "%x", &lp) != 1 ||
		    sscanf(strchr(remote, ':') + 1, "%x", &rp) != 1)
			continue;
		/* 01: TCP_ESTABLISHED */
		if (st != 1 || (lport && lp != lport) || (rport && rp != rport))
			continue;
		found = tr == 2;
		if (found)
			break;
	}
	fclose(f);
	return found;
}

/*
 * Both sockets of a proxied connection carry TCP keepalive, so a peer
 * that vanishes without a word is found on an idle connection: the
 * client's from the start (accepted sockets inherit it from the
 * listener), the server's once the connection has lived that long
 * (short connections are spared the setsockopt calls).
 */
TEST_F_TIMEOUT(hostile, tcp_keepalive, 60)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = {
		.threads = 1,
		.extra = { "--tcp-keepalive", "1" },
	};
	uint16_t cport;
	uint64_t end;
	int fd, ret;

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);
	env_settle(_metadata, e);
	fd = env_connect(_metadata, e);
	env_keep_fd(e, fd);
	cport = local_port(fd);
	ASSERT_EQ(0, backend_wait_active(&e->be[0], 1, 5000 + slack_ms()));

	/* the proxy's client socket: the listener's port, towards us */
	ret = keepalive_on(e->v.family, e->lport, cport);
	EXPECT_EQ(1, ret) TH_LOG("client side: %d", ret);
	/* the proxy's server socket (towards the backend's port): soon */
	end = now_ms() + 5000 + slack_ms();
	while ((ret = keepalive_on(e->v.family, 0, e->be[0].port)) != 1 &&
	       now_ms() < end)
		sleep_ms(50);
	EXPECT_EQ(1, ret) TH_LOG("server side: %d", ret);
}

/* ---- connecting ----------------------------------------------------- */

/*
 * A TCP server whose accept queue holds @backlog and which accepts
 * nothing until told to: SYNs past the queue are dropped, as a busy
 * server's are. Once open, it echoes what it reads.
 */
struct slow_server {
	int lfd, family;
	uint16_t port;
	char addr[128];
	atomic_bool open;
	atomic_bool stop;
	atomic_int accepted;
	pthread_t thr;
};

static void *slow_server_thread(void *arg)
{
	struct slow_server *s = arg;
	int fds[256], n = 0, i;
	char buf[4096];

	while (!atomic_load(&s->stop)) {
		if (!atomic_load(&s->open)) {
			sleep_ms(5);
			continue;
		}
		for (;;) {
			int fd = accept4(s->lfd, NULL, NULL,
					 SOCK_NONBLOCK | SOCK_CLOEXEC);

			if (fd < 0)
				break;
			if (n < 256) {
				fds[n++] = fd;
				atomic_fetch_add(&s->accepted, 1);
			} else {
				close(fd);
			}
		}
		for (i = 0; i < n; i++) {
			ssize_t r = read(fds[i], buf, sizeof(buf));

			if (r > 0) {
				if (write(fds[i], buf, r) != r)
					r = 0;
			}
			if (r == 0) {
				close(fds[i]);
				fds[i--] = fds[--n];
			}
		}
		sleep_ms(1);
	}
	for (i = 0; i < n; i++)
		close(fds[i]);
	return NULL;
}

static int slow_server_start(struct slow_server *s, int family, int type,
			     const char *path, int backlog)
{
	memset(s, 0, sizeof(*s));
	s->family = family;
	s->lfd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->lfd < 0)
		return -errno;
	if (family == AF_UNIX) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };

		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
		unlink(path);
		if (bind(s->lfd, (struct sockaddr *)&sun, sizeof(sun)))
			return -errno;
		snprintf(s->addr, sizeof(s->addr), "unix:%s", path);
	} else {
		struct sockaddr_storage ss;
		socklen_t sl;

		loopback_sockaddr(family, 0, &ss, &sl);
		if (bind(s->lfd, (struct sockaddr *)&ss, sl))
			return -errno;
		s->port = local_port(s->lfd);
		fmt_addr(s->addr, sizeof(s->addr), family, s->port);
	}
	if (listen(s->lfd, backlog))
		return -errno;
	return -pthread_create(&s->thr, NULL, slow_server_thread, s);
}

static void slow_server_stop(struct slow_server *s)
{
	atomic_store(&s->stop, true);
	pthread_join(s->thr, NULL);
	close(s->lfd);
}

/* the server's accept queue is full: what the kernel does next is drop */
static bool queue_full(struct rl_env *e, struct slow_server *s)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	(void)e;
	/* on a listener, tcpi_unacked is the accept queue's length */
	return !getsockopt(s->lfd, IPPROTO_TCP, TCP_INFO, &ti, &len) &&
	       ti.tcpi_unacked >= ti.tcpi_sacked;
}

/* the proxy met a local error connecting (a full unix backlog) */
static bool local_error_seen(struct rl_env *e, struct slow_server *s)
{
	uint64_t v = 0;

	(void)s;
	return !rl_stat(&e->rl, "connect_local_errors", &v, 5000) && v;
}

/*
 * @n clients at once, each a short echo through the proxy; @s starts
 * accepting once @ready says the moment came (or after 10 s, and then
 * the test's own checks fail). Returns how many got their echo.
 */
static int echo_crowd(struct __test_metadata *_metadata, struct rl_env *e,
		      int n, struct slow_server *s,
		      bool (*ready)(struct rl_env *e, struct slow_server *s),
		      int timeout_ms)
{
	int fds[64], i, ok = 0;
	char msg[32], buf[32];
	uint64_t end = now_ms() + 10000 + slack_ms();

	for (i = 0; i < n; i++) {
		fds[i] = env_connect(_metadata, e);
		snprintf(msg, sizeof(msg), "hello %d", i);
		send(fds[i], msg, strlen(msg), MSG_NOSIGNAL);
	}
	while (!ready(e, s) && now_ms() < end)
		sleep_ms(10);
	if (!ready(e, s))
		TH_LOG("the moment never came: opening anyway");
	atomic_store(&s->open, true);
	end = now_ms() + timeout_ms;
	for (i = 0; i < n; i++) {
		struct timeval tv;
		ssize_t r;
		int left = end - now_ms();

		if (left < 1)
			left = 1;
		tv.tv_sec = left / 1000;
		tv.tv_usec = left % 1000 * 1000;
		setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		snprintf(msg, sizeof(msg), "hello %d", i);
		r = recv(fds[i], buf, strlen(msg), MSG_WAITALL);
		if (r == (ssize_t)strlen(msg) && !memcmp(buf, msg, r))
			ok++;
		else
			TH_LOG("client %d: %zd bytes (%s)", i, r,
			       r < 0 ? strerror(errno) : "short");
		close(fds[i]);
	}
	return ok;
}

/*
 * Twenty clients at once towards one server with a backlog of 10 that
 * is slow to accept: the SYNs that overflow are sent again by TCP after
 * 1 s. The default connect timeout outlives that, so every client is
 * served and the server stays up.
 */
TEST_F_TIMEOUT(hostile, syn_overflow_burst, 120)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = { .threads = 1 };
	struct slow_server s;
	int ok;

	CHECK_SKIP(e);
	ASSERT_EQ(0, slow_server_start(&s, e->v.family, SOCK_STREAM, NULL,
				       10));
	o.servers[o.nservers++] = s.addr;
	o.no_wait = true;
	env_spawn(_metadata, e, &o);
	ASSERT_EQ(0, rl_log_wait(&e->rl, "listener", 1, 10000 + slack_ms()));
	ok = echo_crowd(_metadata, e, 20, &s, queue_full, 20000 + slack_ms());
	slow_server_stop(&s);
	EXPECT_EQ(20, ok);
	EXPECT_LE(20ULL, stat_of(_metadata, e, "conns_established"));
	/* the stats line came after every line before it */
	EXPECT_EQ(0, rl_log_count(&e->rl, "timed out"));
	EXPECT_EQ(0, rl_log_count(&e->rl, "is DOWN"));
}

/*
 * A burst of 30 clients towards a healthy unix-socket server with a
 * backlog of 2: connect() fails with EAGAIN, which is this host's
 * moment, not the server's fault. Every client is served once it
 * accepts, and it is never marked down.
 */
TEST_F_TIMEOUT(hostile, unix_backlog_full, 120)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = { .threads = 1 };
	char path[64];
	struct slow_server s;
	int ok;

	CHECK_SKIP(e);
	snprintf(path, sizeof(path), "%s/ringlb-hostile-%d.sock",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", getpid());
	ASSERT_EQ(0, slow_server_start(&s, AF_UNIX, SOCK_STREAM, path, 2));
	o.servers[o.nservers++] = s.addr;
	o.no_wait = true;
	env_spawn(_metadata, e, &o);
	ASSERT_EQ(0, rl_log_wait(&e->rl, "listener", 1, 10000 + slack_ms()));
	ok = echo_crowd(_metadata, e, 30, &s, local_error_seen,
			20000 + slack_ms());
	slow_server_stop(&s);
	unlink(path);
	EXPECT_EQ(30, ok);
	EXPECT_LE(1ULL, stat_of(_metadata, e, "connect_local_errors"));
	/* the stats line came after every line before it */
	EXPECT_EQ(0, rl_log_count(&e->rl, "is DOWN"));
	EXPECT_EQ(0ULL, stat_of(_metadata, e, "connect_errors"));
}

/*
 * The only server refuses for a moment (it restarts): a client that
 * arrives then is not refused in turn, it is retried on the same server
 * after a pause, and served once the server is back.
 */
TEST_F_TIMEOUT(hostile, retry_same_server, 60)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = {
		.threads = 1,
		.extra = { "--retries", "5", "--fall", "20" },
	};
	struct slow_server s;
	char addr[64];
	uint16_t port;
	int keep, fd, ok;
	char buf[8];

	CHECK_SKIP(e);
	/* a port nobody listens on yet: connects are refused */
	keep = reserve_port(e->v.family, &port);
	ASSERT_LE(0, keep);
	fmt_addr(addr, sizeof(addr), e->v.family, port);
	o.servers[o.nservers++] = addr;
	o.no_wait = true;
	env_spawn(_metadata, e, &o);
	ASSERT_EQ(0, rl_log_wait(&e->rl, "listener", 1, 10000 + slack_ms()));
	fd = env_connect(_metadata, e);
	ASSERT_EQ(3, send(fd, "abc", 3, MSG_NOSIGNAL));
	ASSERT_EQ(0, rl_log_wait(&e->rl, "Connection refused", 1,
				 10000 + slack_ms()));
	/* the server comes back on its port */
	close(keep);
	{
		int one = 1;
		struct sockaddr_storage ss;
		socklen_t sl;

		memset(&s, 0, sizeof(s));
		s.lfd = socket(e->v.family, SOCK_STREAM | SOCK_NONBLOCK, 0);
		ASSERT_LE(0, s.lfd);
		setsockopt(s.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		loopback_sockaddr(e->v.family, port, &ss, &sl);
		ASSERT_EQ(0, bind(s.lfd, (struct sockaddr *)&ss, sl));
		ASSERT_EQ(0, listen(s.lfd, 16));
		atomic_store(&s.open, true);
		ASSERT_EQ(0, pthread_create(&s.thr, NULL, slow_server_thread,
					    &s));
	}
	{
		struct timeval tv = { .tv_sec = 10 + slack_ms() / 1000 };

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		ok = recv(fd, buf, 3, MSG_WAITALL);
	}
	EXPECT_EQ(3, ok);
	EXPECT_EQ(0, memcmp(buf, "abc", 3));
	close(fd);
	slow_server_stop(&s);
	EXPECT_LE(1ULL, stat_of(_metadata, e, "connect_retries"));
	/* the stats line came after every line before it */
	EXPECT_EQ(0, rl_log_count(&e->rl, "end=no-server"));
}

/* ---- the kernel says no ------------------------------------------- */

/*
 * The kernel refuses 16 submissions in every 20 (-EAGAIN, as when
 * it is short of memory for requests; a shim preloaded into the daemon
 * does the refusing), and the SQ is small: in the buffers path it fills
 * during a run of refusals. The daemon keeps what it could not submit,
 * in order, and every stream arrives whole.
 */
TEST_F_TIMEOUT(hostile, submit_refused, 120)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = {
		.threads = 1,
		.extra = { "--ring-entries", "64" },
	};
	uint64_t len = test_quick() ? 64 * 1024 : 512 * 1024;
	char shim[PATH_MAX], asan[512], *slash;
	const char *old_asan = getenv("ASAN_OPTIONS");
	struct flow *f, *fl[100];
	int i, n = 100, ret;
	ssize_t l;

	CHECK_SKIP(e);
	if (strcmp(e->v.engine, "uring"))
		SKIP(return, "io_uring's submissions only");
	l = readlink("/proc/self/exe", shim, sizeof(shim) - 32);
	ASSERT_LT(0, l);
	shim[l] = '\0';
	slash = strrchr(shim, '/');
	strcpy(slash + 1, "libfail_submit.so");
	if (access(shim, R_OK))
		SKIP(return, "no %.200s (a static build)", shim);
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	setenv("LD_PRELOAD", shim, 1);
	setenv("RINGLB_FAIL_SUBMIT_EVERY", "20", 1);
	setenv("RINGLB_FAIL_SUBMIT_RUN", "16", 1);
	/* an ASan daemon wants its runtime first: let the shim be */
	snprintf(asan, sizeof(asan), "%s%sverify_asan_link_order=0",
		 old_asan ? old_asan : "", old_asan ? ":" : "");
	setenv("ASAN_OPTIONS", asan, 1);
	env_spawn(_metadata, e, &o);
	unsetenv("LD_PRELOAD");
	if (!rl_log_has(&e->rl, "ringlb-test-shim"))
		SKIP(return, "the daemon did not load the shim (static?)");
	env_settle(_metadata, e);

	f = env_flows(_metadata, e, n);
	for (i = 0; i < n; i++) {
		env_client(_metadata, e, &f[i], i, BE_DUPLEX, len, len);
		fl[i] = &f[i];
	}
	ret = flows_run(fl, n, 90000 + slack_ms(), NULL, NULL);
	ASSERT_EQ(0, ret) TH_LOG("flows: %s", strerror(-ret));
	for (i = 0; i < n; i++)
		env_check(_metadata, e, &f[i], i, len, len);
	EXPECT_LT(0ULL, stat_of(_metadata, e, "uring_submit_errors"));
	/*
	 * The buffers path queues an SQE or two per chunk and fills the
	 * SQ during a run of refusals; the splice path splices inline and
	 * has too few SQEs to fill it.
	 */
	if (!strcmp(e->v.forward, "buffers"))
		EXPECT_LT(0ULL, stat_of(_metadata, e, "uring_sq_full"));
	EXPECT_TRUE(rl_alive(&e->rl));
}

/* ---- sources -------------------------------------------------------- */

static int connect_from6(struct rl_env *e, const char *src)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6 };
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	inet_pton(AF_INET6, src, &a.sin6_addr);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)))
		goto fail;
	inet_pton(AF_INET6, "::1", &a.sin6_addr);
	a.sin6_port = htons(e->lport);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)))
		goto fail;
	return fd;
fail:
	close(fd);
	return -errno;
}

/*
 * IPv6 clients are counted by /64: one client's many addresses share
 * one count, and the next /64 is somebody else.
 */
TEST_F_TIMEOUT(hostile, per_source_prefix_v6, 60)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = {
		.threads = 2,
		.extra = { "--max-conns-per-source", "2" },
	};
	static const char *const addrs[] = {
		"2001:db8:1:2::10", "2001:db8:1:2::11", "2001:db8:1:2::12",
		"2001:db8:1:3::10",
	};
	int fds[4], i, ret;
	uint64_t bytes = 0;
	char cmd[128];

	CHECK_SKIP(e);
	if (!e->netns)
		SKIP(return, "needs a network namespace of its own");
	if (!family_supported(AF_INET6))
		SKIP(return, "no IPv6");
	for (i = 0; i < 4; i++) {
		snprintf(cmd, sizeof(cmd),
			 "ip -6 addr add %s/64 dev lo 2>/dev/null",
			 addrs[i]);
		if (system(cmd))
			SKIP(return, "cannot add %s to lo", addrs[i]);
	}
	e->v.family = AF_INET6;
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);
	env_settle(_metadata, e);

	for (i = 0; i < 2; i++) {
		fds[i] = connect_from6(e, addrs[i]);
		ASSERT_LE(0, fds[i]);
	}
	ASSERT_EQ(0, backend_wait_active(&e->be[0], 2, 5000 + slack_ms()));
	/* a third address of the same /64: refused, with nothing */
	fds[2] = connect_from6(e, addrs[2]);
	ASSERT_LE(0, fds[2]);
	ret = wait_eof(fds[2], 5000 + slack_ms(), &bytes);
	EXPECT_TRUE(ret == 0 || ret == -ECONNRESET) TH_LOG("%s", strerror(-ret));
	EXPECT_EQ(0ULL, bytes);
	/* another /64 is served */
	fds[3] = connect_from6(e, addrs[3]);
	ASSERT_LE(0, fds[3]);
	ASSERT_EQ(0, backend_wait_active(&e->be[0], 3, 5000 + slack_ms()));
	for (i = 0; i < 4; i++)
		close(fds[i]);
	/* lines reach the log a moment after the fact: wait, then count */
	EXPECT_EQ(0, rl_log_wait(&e->rl, "end=limited", 1, 5000 + slack_ms()));
	EXPECT_EQ(1, rl_log_count(&e->rl, "end=limited"));
}

/*
 * New connections per second per source: a source opening and closing
 * connections fast is held to the rate, another source is not.
 */
TEST_F_TIMEOUT(hostile, per_source_rate, 60)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = {
		.threads = 2,
		.extra = { "--max-rate-per-source", "5" },
	};
	struct sockaddr_in a = { .sin_family = AF_INET };
	int i, limited_before, limited, allowed;
	uint64_t t0, span;

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);
	env_settle(_metadata, e);
	limited_before = rl_log_count(&e->rl, "end=rate-limited");

	/* 20 at once from 127.0.0.2: 5 pass, then the rate holds */
	t0 = now_ms();
	for (i = 0; i < 20; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		ASSERT_LE(0, fd);
		inet_pton(AF_INET, "127.0.0.2", &a.sin_addr);
		a.sin_port = 0;
		ASSERT_EQ(0, bind(fd, (struct sockaddr *)&a, sizeof(a)));
		inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
		a.sin_port = htons(e->lport);
		ASSERT_EQ(0, connect(fd, (struct sockaddr *)&a, sizeof(a)));
		close(fd);
	}
	ASSERT_EQ(0, rl_log_wait(&e->rl, "end=rate-limited",
				 limited_before + 1, 5000 + slack_ms()));
	/* another source is served meanwhile */
	EXPECT_LE(0, env_roundtrip(_metadata, e, 1, 1024, 5000 + slack_ms()));
	/*
	 * Every refusal is logged. The daemon accepted them all within
	 * @span ms, and a rate of 5 per second lets at most 5 through in
	 * any second (one more for the estimate's rounding): at most 6 of
	 * 20 when that took well under a second, more under emulation,
	 * where 20 accepts can take longer than the window.
	 */
	ASSERT_EQ(0, rl_log_wait(&e->rl, "client=127.0.0.2:", 20,
				 5000 + slack_ms()));
	span = now_ms() - t0;
	allowed = 5 + (int)((5 * span + 999) / 1000) + 1;
	limited = rl_log_count(&e->rl, "end=rate-limited") - limited_before;
	TH_LOG("%d of 20 refused by the rate, accepted within %llu ms",
	       limited, (unsigned long long)span);
	EXPECT_LE(20 - allowed, limited);
	EXPECT_LE((uint64_t)(20 - allowed),
		  stat_of(_metadata, e, "conns_rate_limited"));
}

TEST_HARNESS_MAIN

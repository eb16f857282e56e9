// SPDX-License-Identifier: MIT
/*
 * Binary upgrade: a new ringlb takes the listening sockets of the
 * running one (-x ADMIN_SOCKET) while clients keep connecting, and the
 * old one drains and exits. No client may be refused or reset, and
 * long-lived streams that started on the old process finish through it
 * with every byte. Also: -x against what is not a running ringlb, or
 * from a user who may not have its sockets, fails clearly and harms
 * nobody; a configuration with another listener binds that one fresh;
 * sockets passed by systemd (LISTEN_FDS) are used, and kept in its file
 * descriptor store (FDSTORE=1) so the next start serves clients that
 * connected while no ringlb ran.
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "common.h"

#define CHURN_THREADS	3
#define NSTREAMS	4
#define CHURN_LEN	256		/* bytes each way per connection */
#define CHURN_BURST	16		/* opened at once per thread */
#define CHUNK		16384
#define NOBODY		65534

/* ---- clients ------------------------------------------------------- */

static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		p += n;
		len -= n;
	}
	return 0;
}

static void set_timeouts(int fd, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000,
			      .tv_usec = (ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* read to EOF, hashing; 0, or -errno (-ETIMEDOUT past the bound) */
static int read_to_eof(int fd, uint64_t *bytes, uint64_t *hash)
{
	uint8_t buf[CHUNK];
	ssize_t n;

	for (;;) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (!n)
			return 0;
		*hash = fnv1a(*hash, buf, n);
		*bytes += n;
	}
}

/*
 * A short connection through the proxy, in two steps so that a churn
 * thread can keep several in flight: open (connect, a header, CHURN_LEN
 * bytes up, our FIN), then finish (the backend's CHURN_LEN bytes down,
 * checked, and its FIN). @id past MAX_IDS: the backend keeps no result,
 * the client checks what came back.
 */
static int churn_open(int family, uint16_t port, uint32_t id, uint64_t seed)
{
	struct wire_hdr h = {
		.magic = WIRE_MAGIC, .mode = BE_DUPLEX, .id = id,
		.seed = seed + 1, .len = CHURN_LEN,
	};
	uint8_t up[CHURN_LEN];
	struct prng p;
	int fd, ret;

	fd = tcp_connect(family, port);
	if (fd < 0)
		return fd;
	set_timeouts(fd, 20000 + slack_ms());
	prng_init(&p, seed);
	prng_fill(&p, up, sizeof(up));
	ret = send_all(fd, &h, sizeof(h));
	if (!ret)
		ret = send_all(fd, up, sizeof(up));
	if (!ret && shutdown(fd, SHUT_WR))
		ret = -errno;
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

static int churn_finish(int fd, uint64_t seed)
{
	uint64_t bytes = 0, hash = FNV_OFFSET;
	int ret = read_to_eof(fd, &bytes, &hash);

	close(fd);
	if (!ret && (bytes != CHURN_LEN ||
		     hash != stream_hash(seed + 1, CHURN_LEN)))
		ret = -EBADMSG;
	return ret;
}

static int churn_once(int family, uint16_t port, uint32_t id, uint64_t seed)
{
	int fd = churn_open(family, port, id, seed);

	return fd < 0 ? fd : churn_finish(fd, seed);
}

struct churn {
	int family;
	uint16_t port;
	uint64_t seed;
	atomic_bool stop;
	atomic_uint ok, refused, reset, other;
	atomic_int first_err;
	atomic_uint next_id;
	pthread_t thr[CHURN_THREADS];
};

static void churn_count(struct churn *c, int ret)
{
	int zero = 0;

	if (!ret) {
		atomic_fetch_add(&c->ok, 1);
		return;
	}
	if (ret == -ECONNREFUSED)
		atomic_fetch_add(&c->refused, 1);
	else if (ret == -ECONNRESET || ret == -EPIPE)
		atomic_fetch_add(&c->reset, 1);
	else
		atomic_fetch_add(&c->other, 1);
	atomic_compare_exchange_strong(&c->first_err, &zero, ret);
}

/*
 * CHURN_BURST connections opened, then each finished: at any moment
 * some wait in an accept queue, where a socket closed under them would
 * reset them.
 */
static void *churn_main(void *arg)
{
	struct churn *c = arg;
	uint64_t seeds[CHURN_BURST];
	int fds[CHURN_BURST], i, n;

	while (!atomic_load(&c->stop)) {
		for (n = 0; n < CHURN_BURST; n++) {
			uint32_t id = MAX_IDS + atomic_fetch_add(&c->next_id, 1);

			seeds[n] = c->seed + id * 4;
			fds[n] = churn_open(c->family, c->port, id, seeds[n]);
		}
		for (i = 0; i < n; i++)
			churn_count(c, fds[i] < 0 ? fds[i] :
				       churn_finish(fds[i], seeds[i]));
	}
	return NULL;
}

/*
 * A long-lived stream: paced until the upgrade is done, and held short
 * of its end meanwhile, so it surely spans the handover; then it runs
 * to its end through the process that accepted it, which drains.
 */
struct stream {
	int family;
	uint16_t port;
	uint32_t id;
	uint64_t seed_up, seed_dn, len;
	atomic_bool *upgraded;
	atomic_ullong sent;
	uint64_t rx_bytes, rx_hash;
	int err;
	pthread_t thr;
};

static void stream_drain_rx(struct stream *s, int fd)
{
	uint8_t buf[CHUNK];
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		s->rx_hash = fnv1a(s->rx_hash, buf, n);
		s->rx_bytes += n;
	}
}

static void *stream_main(void *arg)
{
	struct stream *s = arg;
	struct wire_hdr h = {
		.magic = WIRE_MAGIC, .mode = BE_DUPLEX, .id = s->id,
		.seed = s->seed_dn, .len = s->len,
	};
	uint8_t *buf = malloc(CHUNK);
	uint64_t sent = 0;
	struct prng p;
	int fd;

	s->rx_hash = FNV_OFFSET;
	if (!buf) {
		s->err = -ENOMEM;
		return NULL;
	}
	fd = tcp_connect(s->family, s->port);
	if (fd < 0) {
		s->err = fd;
		goto out_free;
	}
	set_timeouts(fd, 30000 + slack_ms());
	prng_init(&p, s->seed_up);
	s->err = send_all(fd, &h, sizeof(h));
	while (!s->err && sent < s->len) {
		bool up = atomic_load(s->upgraded);
		size_t n = s->len - sent < CHUNK ? s->len - sent : CHUNK;

		stream_drain_rx(s, fd);
		if (!up && sent + 2 * CHUNK >= s->len) {
			/* open, idle, until the new process serves */
			struct pollfd pfd = { .fd = fd, .events = POLLIN };

			poll(&pfd, 1, 10);
			continue;
		}
		prng_fill(&p, buf, n);
		s->err = send_all(fd, buf, n);
		sent += n;
		atomic_store(&s->sent, sent);
		if (!up)
			usleep(2000);	/* pace: not a wait for anything */
	}
	if (!s->err && shutdown(fd, SHUT_WR))
		s->err = -errno;
	if (!s->err)
		s->err = read_to_eof(fd, &s->rx_bytes, &s->rx_hash);
	close(fd);
out_free:
	free(buf);
	return NULL;
}

/* ---- processes ----------------------------------------------------- */

struct spawn_opts {
	uid_t uid;		/* 0: stay root */
	const int *fds;		/* passed as systemd does, from 3 on */
	int nfds;
	const char *fdnames;	/* LISTEN_FDNAMES */
	const char *notify;	/* NOTIFY_SOCKET */
	const char *fdstore;	/* FDSTORE */
};

/*
 * rl_spawn() with what it cannot do: another user, and the environment
 * of a service that systemd starts. The child is an rl_proc like any.
 */
static int spawn_with(struct rl_proc *p, const char **argv,
		      const struct spawn_opts *o)
{
	int fd, i;
	pid_t pid;

	fd = rl_log_open(p);
	if (fd < 0)
		return fd;
	/* a user we switch to must be able to write its log */
	if (o->uid)
		fchown(fd, o->uid, o->uid);
	argv[0] = ringlb_path();
	pid = fork();
	if (pid < 0) {
		close(fd);
		return -errno;
	}
	if (!pid) {
		int hi[64];
		char num[16];

		/* a test that crashes leaves no daemon behind */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fd, 1);
		dup2(fd, 2);
		/* out of the way of 3..: the passed ones may sit there */
		for (i = 0; i < o->nfds && i < 64; i++)
			hi[i] = fcntl(o->fds[i], F_DUPFD, 100);
		for (i = 0; i < o->nfds && i < 64; i++)
			dup2(hi[i], 3 + i);
		if (o->nfds) {
			snprintf(num, sizeof(num), "%d", (int)getpid());
			setenv("LISTEN_PID", num, 1);
			snprintf(num, sizeof(num), "%d", o->nfds);
			setenv("LISTEN_FDS", num, 1);
			if (o->fdnames)
				setenv("LISTEN_FDNAMES", o->fdnames, 1);
		}
		if (o->notify)
			setenv("NOTIFY_SOCKET", o->notify, 1);
		if (o->fdstore)
			setenv("FDSTORE", o->fdstore, 1);
		if (o->uid && (setgroups(0, NULL) || setgid(o->uid) ||
			       setuid(o->uid)))
			_exit(125);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fd);
	p->pid = pid;
	return 0;
}

/* @p exited by itself with @code within @ms */
static bool exited_with(struct rl_proc *p, int code, int ms)
{
	return !rl_wait_exit(p, ms) && WIFEXITED(p->status) &&
	       WEXITSTATUS(p->status) == code;
}

static void dump_log(struct rl_proc *p, const char *who)
{
	char *log = rl_log(p), *line, *save = NULL;

	if (!log)
		return;
	fprintf(stderr, "# %s stderr:\n", who);
	for (line = strtok_r(log, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		fprintf(stderr, "#   | %s\n", line);
	free(log);
}

/* ---- the fixture --------------------------------------------------- */

FIXTURE(upgrade) {
	struct rl_env e;
	struct rl_proc next;	/* the new process */
	bool next_started;
	char admin[80];
	const char *argv[RL_MAX_ARGS];
	struct churn churn;
	bool churning;
	struct stream st[NSTREAMS];
	int nst;
	atomic_bool upgraded;
};

FIXTURE_VARIANT(upgrade) {
	struct rl_variant v;
};

FIXTURE_VARIANT_ADD(upgrade, uring) {
	.v = { .engine = "uring", .forward = NULL, .family = AF_INET },
};

FIXTURE_VARIANT_ADD(upgrade, epoll) {
	.v = { .engine = "epoll", .forward = NULL, .family = AF_INET },
};

FIXTURE_VARIANT_ADD(upgrade, uring_ipv6) {
	.v = { .engine = "uring", .forward = NULL, .family = AF_INET6 },
};

FIXTURE_SETUP(upgrade)
{
	const char *tmp = getenv("TMPDIR");

	env_setup(_metadata, &self->e, &variant->v);
	snprintf(self->admin, sizeof(self->admin), "%s/ringlb-up-%d.sock",
		 tmp && *tmp ? tmp : "/tmp", (int)getpid());
}

static void churn_stop(struct churn *c, bool *churning)
{
	int i;

	if (!*churning)
		return;
	atomic_store(&c->stop, true);
	for (i = 0; i < CHURN_THREADS; i++)
		pthread_join(c->thr[i], NULL);
	*churning = false;
}

FIXTURE_TEARDOWN(upgrade)
{
	int i, ret;

	_metadata->trigger = 0;
	churn_stop(&self->churn, &self->churning);
	atomic_store(&self->upgraded, true);
	for (i = 0; i < self->nst; i++)
		pthread_join(self->st[i].thr, NULL);
	if (self->next_started) {
		char *bad;

		ret = rl_stop(&self->next, 5000 + slack_ms());
		EXPECT_EQ(0, ret) TH_LOG("the new ringlb ignored SIGTERM");
		EXPECT_TRUE(WIFEXITED(self->next.status) &&
			    WEXITSTATUS(self->next.status) == 0)
			TH_LOG("the new ringlb: status 0x%x", self->next.status);
		bad = rl_log_trouble(&self->next);
		EXPECT_EQ(NULL, bad) TH_LOG("new ringlb: %s", bad);
		free(bad);
		if (!_metadata->passed)
			dump_log(&self->next, "new ringlb");
		rl_cleanup(&self->next);
	}
	env_teardown(_metadata, &self->e);
	unlink(self->admin);
}

/* the old process, with an admin socket, two workers, @opt @arg */
static void spawn_old(struct __test_metadata *_metadata,
		      FIXTURE_DATA(upgrade) *self, const char *opt,
		      const char *arg)
{
	struct rl_opts o = {
		.threads = 2,
		.extra = { "--admin", self->admin, opt, arg },
	};

	o.servers[o.nservers++] = self->e.be[0].addr;
	env_spawn(_metadata, &self->e, &o);
}

/*
 * The new process: the old one's command line with -x, and @more after
 * it (NULL-terminated). Returns once its workers accept (or failed).
 */
static int spawn_next(struct __test_metadata *_metadata,
		      FIXTURE_DATA(upgrade) *self, const char **more)
{
	struct spawn_opts so = { 0 };
	int n = 1, i;

	for (i = 1; self->e.argv[i] && n < RL_MAX_ARGS - 8; i++)
		self->argv[n++] = self->e.argv[i];
	self->argv[n++] = "-x";
	self->argv[n++] = self->admin;
	for (i = 0; more && more[i] && n < RL_MAX_ARGS - 1; i++)
		self->argv[n++] = more[i];
	self->argv[n] = NULL;
	if (spawn_with(&self->next, self->argv, &so))
		return -1;
	self->next_started = true;
	return rl_log_wait(&self->next, "accepting here", 1,
			   15000 + slack_ms());
}

/*
 * The upgrade under load: churning clients and long-lived streams
 * across `ringlb -x`, the old process draining, exiting, and more
 * churn on the new one. Nobody refused, nobody reset, nothing lost.
 */
TEST_F_TIMEOUT(upgrade, under_churn, 240)
{
	struct rl_env *e = &self->e;
	struct churn *c = &self->churn;
	uint64_t len = test_quick() ? 512 * 1024 : 4 * MIB, deadline;
	/* the new process alone: this many clients served, at least */
	unsigned int after = test_quick() ? 50 : 200, ok_at_exit, i;
	struct be_result r;
	int ret;

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	spawn_old(_metadata, self, NULL, NULL);

	c->family = e->v.family;
	c->port = e->lport;
	c->seed = e->seed;
	for (i = 0; i < CHURN_THREADS; i++)
		ASSERT_EQ(0, pthread_create(&c->thr[i], NULL, churn_main, c));
	self->churning = true;
	for (i = 0; i < NSTREAMS; i++) {
		struct stream *s = &self->st[i];

		s->family = e->v.family;
		s->port = e->lport;
		s->id = i + 1;
		s->seed_up = flow_seed(e, s->id, 0);
		s->seed_dn = flow_seed(e, s->id, 1);
		s->len = len;
		s->upgraded = &self->upgraded;
		ASSERT_EQ(0, pthread_create(&s->thr, NULL, stream_main, s));
		self->nst++;
	}
	/* the old process is busy: streams moving, clients coming */
	deadline = now_ms() + 20000 + slack_ms();
	for (;;) {
		bool moving = atomic_load(&c->ok) >= 50;

		for (i = 0; i < NSTREAMS; i++)
			moving &= atomic_load(&self->st[i].sent) >= 4 * CHUNK;
		if (moving || now_ms() > deadline)
			break;
		sleep_ms(10);
	}
	ASSERT_LE(50U, atomic_load(&c->ok)) TH_LOG("churn never got going");

	ret = spawn_next(_metadata, self, NULL);
	if (ret)
		dump_log(&self->next, "new ringlb");
	ASSERT_EQ(0, ret) TH_LOG("the new ringlb never said it accepts");
	EXPECT_TRUE(rl_log_has(&self->next, "took 2 listening sockets"));
	atomic_store(&self->upgraded, true);
	EXPECT_EQ(0, rl_log_wait(&e->rl, "_retire", 1, 5000 + slack_ms()));

	/* the streams finish through the old process, which then exits */
	ret = rl_wait_exit(&e->rl, 60000 + slack_ms());
	ASSERT_EQ(0, ret) TH_LOG("the old ringlb never exited after draining");
	EXPECT_TRUE(WIFEXITED(e->rl.status) && WEXITSTATUS(e->rl.status) == 0)
		TH_LOG("old ringlb: status 0x%x", e->rl.status);

	/* and the new one alone serves a while */
	ok_at_exit = atomic_load(&c->ok);
	deadline = now_ms() + 20000 + slack_ms();
	while (atomic_load(&c->ok) < ok_at_exit + after && now_ms() < deadline &&
	       !atomic_load(&c->other) && !atomic_load(&c->refused) &&
	       !atomic_load(&c->reset))
		sleep_ms(10);
	churn_stop(c, &self->churning);

	TH_LOG("%u connections, %u after the old process exited",
	       atomic_load(&c->ok), atomic_load(&c->ok) - ok_at_exit);
	EXPECT_EQ(0U, atomic_load(&c->refused)) TH_LOG("refused connections");
	EXPECT_EQ(0U, atomic_load(&c->reset)) TH_LOG("reset connections");
	EXPECT_EQ(0U, atomic_load(&c->other))
		TH_LOG("failed connections, first: %s",
		       strerror(-atomic_load(&c->first_err)));
	EXPECT_LE(ok_at_exit + after, atomic_load(&c->ok))
		TH_LOG("the new process served too few clients");

	for (i = 0; i < NSTREAMS; i++) {
		struct stream *s = &self->st[i];

		pthread_join(s->thr, NULL);
		EXPECT_EQ(0, s->err) TH_LOG("stream %u: %s", s->id,
					    strerror(-s->err));
		EXPECT_EQ(len, s->rx_bytes) TH_LOG("stream %u: down bytes",
						   s->id);
		EXPECT_EQ(stream_hash(s->seed_dn, len), s->rx_hash)
			TH_LOG("stream %u: down stream corrupted", s->id);
		ret = results_wait(e->res, s->id, 10000 + slack_ms(), &r);
		EXPECT_EQ(0, ret) TH_LOG("stream %u: backend never finished",
					 s->id);
		EXPECT_EQ(len, r.rx_bytes) TH_LOG("stream %u: up bytes", s->id);
		EXPECT_EQ(stream_hash(s->seed_up, len), r.rx_hash)
			TH_LOG("stream %u: up stream corrupted", s->id);
	}
	self->nst = 0;
	if (!_metadata->passed)
		dump_log(&e->rl, "old ringlb");
}

/* GET /metrics on loopback:@port: 0 when it answers 200 */
static int metrics_get(int family, uint16_t port)
{
	static const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
	char buf[64] = "";
	int fd = tcp_connect(family, port), ret;
	size_t len = 0;
	ssize_t n;

	if (fd < 0)
		return fd;
	set_timeouts(fd, 10000 + slack_ms());
	ret = send_all(fd, req, sizeof(req) - 1);
	/* the status line, or what came before the end */
	while (!ret && len < 12) {
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			ret = errno == EAGAIN ? -ETIMEDOUT : -errno;
		else if (!n)
			break;
		else
			len += n;
	}
	close(fd);
	if (ret)
		return ret;
	return strncmp(buf, "HTTP/1.0 200", 12) ? -EPROTO : 0;
}

/*
 * The new configuration has one more listener: that one is bound
 * fresh, the one both have is taken over; both serve. The metrics
 * port, which cannot be bound twice, is taken over too.
 */
TEST_F_TIMEOUT(upgrade, config_differs, 90)
{
	struct rl_env *e = &self->e;
	char extra[64], maddr[64];
	const char *more[3] = { "-l", extra, NULL };
	uint16_t port2, mport;
	uint64_t deadline;
	int ret;

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	ASSERT_EQ(0, free_port(e->v.family, &mport));
	fmt_addr(maddr, sizeof(maddr), e->v.family, mport);
	spawn_old(_metadata, self, "--metrics", maddr);
	/* bound after the listeners: it may come a moment later */
	deadline = now_ms() + 10000 + slack_ms();
	while ((ret = metrics_get(e->v.family, mport)) == -ECONNREFUSED &&
	       now_ms() < deadline)
		sleep_ms(10);
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, free_port(e->v.family, &port2));
	fmt_addr(extra, sizeof(extra), e->v.family, port2);

	ret = spawn_next(_metadata, self, more);
	if (ret)
		dump_log(&self->next, "new ringlb");
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, rl_wait_exit(&e->rl, 30000 + slack_ms()))
		TH_LOG("the old ringlb did not exit");
	EXPECT_TRUE(rl_log_has(&self->next,
			       "took 2 listening sockets from pid"));
	EXPECT_TRUE(rl_log_has(&self->next, "and its metrics port"));
	EXPECT_EQ(0, metrics_get(e->v.family, mport))
		TH_LOG("the metrics port did not survive the upgrade");
	/* its start-up line follows "accepting here" */
	EXPECT_EQ(0, rl_log_wait(&self->next, "1 listener on 2 addresses", 1,
				 5000 + slack_ms()));
	EXPECT_EQ(0, churn_once(e->v.family, e->lport, MAX_IDS, e->seed))
		TH_LOG("the address taken over does not serve");
	EXPECT_EQ(0, churn_once(e->v.family, port2, MAX_IDS + 1, e->seed))
		TH_LOG("the address bound fresh does not serve");
}

/* what a socket that is not ringlb's might say to its first client */
static int answer_like_http(int lfd)
{
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	char buf[256];
	int cfd;

	if (poll(&pfd, 1, 15000 + slack_ms()) != 1)
		return -ETIMEDOUT;
	cfd = accept(lfd, NULL, NULL);
	if (cfd < 0)
		return -errno;
	/* the request first, as a server would */
	pfd.fd = cfd;
	if (poll(&pfd, 1, 5000 + slack_ms()) == 1)
		recv(cfd, buf, sizeof(buf), MSG_DONTWAIT);
	send(cfd, "HTTP/1.0 400 Bad Request\r\n\r\n", 28, MSG_NOSIGNAL);
	close(cfd);
	return 0;
}

/*
 * -x to what cannot give sockets: no such path, a socket that is not
 * ringlb's, a ringlb that refuses the user. Each exits 1 with a line
 * saying why, and the running ringlb serves on, untouched.
 */
TEST_F_TIMEOUT(upgrade, refused, 90)
{
	struct rl_env *e = &self->e;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct spawn_opts so = { 0 };
	char other[120];
	int lfd, n;

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	spawn_old(_metadata, self, NULL, NULL);
	for (n = 1; self->e.argv[n]; n++)
		self->argv[n] = self->e.argv[n];
	self->argv[n] = "-x";
	self->argv[n + 2] = NULL;

	/* no such socket */
	snprintf(other, sizeof(other), "%s.missing", self->admin);
	self->argv[n + 1] = other;
	ASSERT_EQ(0, spawn_with(&self->next, self->argv, &so));
	EXPECT_TRUE(exited_with(&self->next, 1, 15000 + slack_ms()));
	EXPECT_TRUE(rl_log_has(&self->next, "no such socket"))
		dump_log(&self->next, "new ringlb");
	rl_cleanup(&self->next);

	/* a socket that is not ringlb's: it says something else */
	snprintf(other, sizeof(other), "%s.other", self->admin);
	strcpy(sun.sun_path, other);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, lfd);
	unlink(other);
	ASSERT_EQ(0, bind(lfd, (struct sockaddr *)&sun, sizeof(sun)));
	ASSERT_EQ(0, listen(lfd, 4));
	ASSERT_EQ(0, spawn_with(&self->next, self->argv, &so));
	EXPECT_EQ(0, answer_like_http(lfd)) TH_LOG("ringlb -x never connected");
	EXPECT_TRUE(exited_with(&self->next, 1, 15000 + slack_ms()));
	EXPECT_TRUE(rl_log_has(&self->next, "not a ringlb admin socket"))
		dump_log(&self->next, "new ringlb");
	rl_cleanup(&self->next);
	close(lfd);
	unlink(other);

	/* another user: the socket's mode keeps it out */
	self->argv[n + 1] = self->admin;
	so.uid = NOBODY;
	ASSERT_EQ(0, spawn_with(&self->next, self->argv, &so));
	if (exited_with(&self->next, 127, 15000 + slack_ms()))
		SKIP(return, "user %d cannot run %s", NOBODY, ringlb_path());
	EXPECT_TRUE(WIFEXITED(self->next.status) &&
		    WEXITSTATUS(self->next.status) == 1);
	EXPECT_TRUE(rl_log_has(&self->next, "permission denied: the admin socket is mode 0600"))
		dump_log(&self->next, "new ringlb");
	rl_cleanup(&self->next);

	/* and where the mode lets it in, ringlb itself says no */
	ASSERT_EQ(0, chmod(self->admin, 0666));
	ASSERT_EQ(0, spawn_with(&self->next, self->argv, &so));
	EXPECT_TRUE(exited_with(&self->next, 1, 15000 + slack_ms()));
	EXPECT_TRUE(rl_log_has(&self->next, "only root or the admin socket's owner"))
		dump_log(&self->next, "new ringlb");
	rl_cleanup(&self->next);
	/* its log line is written by its log thread, maybe later */
	EXPECT_EQ(0, rl_log_wait(&e->rl, "_getsocks refused to uid 65534", 1,
				 5000 + slack_ms()));

	/* the running one never noticed */
	EXPECT_FALSE(rl_log_has(&e->rl, "_retire"));
	EXPECT_EQ(0, churn_once(e->v.family, e->lport, MAX_IDS, e->seed))
		TH_LOG("the running ringlb stopped serving");
}

/* ---- systemd -------------------------------------------------------- */

/* one FDSTORE=1 message: its name and descriptor */
struct stored {
	char name[128];
	int fd;
};

/* Read notify datagrams until @want FDSTORE=1 ones came, or -errno. */
static int read_fdstore(int nfd, struct stored *out, int want, int ms)
{
	uint64_t deadline = now_ms() + ms;
	int got = 0;

	while (got < want) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * 4)];
			struct cmsghdr align;
		} u;
		char text[512];
		struct iovec iov = { .iov_base = text,
				     .iov_len = sizeof(text) - 1 };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = u.buf,
				      .msg_controllen = sizeof(u.buf) };
		struct pollfd pfd = { .fd = nfd, .events = POLLIN };
		struct cmsghdr *cm;
		char *name;
		ssize_t n;
		int fd = -1;

		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)(deadline - now_ms())) != 1)
			continue;
		n = recvmsg(nfd, &msg, MSG_CMSG_CLOEXEC);
		if (n < 0)
			return -errno;
		text[n] = '\0';
		for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
			if (cm->cmsg_type == SCM_RIGHTS)
				memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
		if (!strstr(text, "FDSTORE=1")) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		name = strstr(text, "FDNAME=");
		if (!name || fd < 0)
			return -EBADMSG;
		snprintf(out[got].name, sizeof(out[got].name), "%.*s",
			 (int)strcspn(name + 7, "\n"), name + 7);
		out[got++].fd = fd;
	}
	return 0;
}

/* 0 once @p took what systemd passed; -ENOTSUP: it cannot */
static int wait_systemd(struct rl_proc *p, int ms)
{
	uint64_t deadline = now_ms() + ms;

	while (now_ms() < deadline) {
		if (rl_log_has(p, "systemd passed"))
			return 0;
		if (rl_log_has(p, "built without libsystemd"))
			return -ENOTSUP;
		if (!rl_alive(p))
			return -ECHILD;
		sleep_ms(10);
	}
	return -ETIMEDOUT;
}

static uint16_t bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return 0;
	return ntohs(ss.ss_family == AF_INET6 ?
		     ((struct sockaddr_in6 *)&ss)->sin6_port :
		     ((struct sockaddr_in *)&ss)->sin_port);
}

/*
 * As under systemd: a .socket unit's socket (LISTEN_FDS) serves its
 * address, the other address is bound by ringlb; each listening socket
 * goes to the file descriptor store, one per worker and address. The
 * next start gets exactly those back and uses every one; a client that
 * connected in between, while no ringlb ran, is served, not refused.
 */
TEST_F_TIMEOUT(upgrade, systemd_fds, 90)
{
	struct rl_env *e = &self->e;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct spawn_opts so = { 0 };
	struct stored st[4];
	char laddr1[64], laddr2[64], names[4 * 128 + 4] = "";
	int act, nfd, fds[4], i, n, gap, ret;
	uint16_t p1, p2;
	struct prng p;
	uint8_t up[CHURN_LEN];
	struct wire_hdr h = { .magic = WIRE_MAGIC, .mode = BE_DUPLEX,
			      .id = MAX_IDS + 7, .len = CHURN_LEN };
	uint64_t bytes = 0, hash = FNV_OFFSET;

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	/* the .socket unit's: bound and listening before ringlb runs */
	act = reserve_port(e->v.family, &p1);
	ASSERT_LE(0, act);
	ASSERT_EQ(0, listen(act, 128));
	ASSERT_EQ(0, free_port(e->v.family, &p2));
	fmt_addr(laddr1, sizeof(laddr1), e->v.family, p1);
	fmt_addr(laddr2, sizeof(laddr2), e->v.family, p2);

	nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, nfd);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s.notify", self->admin);
	unlink(sun.sun_path);
	ASSERT_EQ(0, bind(nfd, (struct sockaddr *)&sun, sizeof(sun)));

	n = 1;
	self->argv[n++] = "-l";
	self->argv[n++] = laddr1;
	self->argv[n++] = "-l";
	self->argv[n++] = laddr2;
	self->argv[n++] = "-b";
	self->argv[n++] = e->be[0].addr;
	self->argv[n++] = "--engine";
	self->argv[n++] = e->v.engine;
	self->argv[n++] = "-t";
	self->argv[n++] = "2";
	self->argv[n] = NULL;
	so.fds = &act;
	so.nfds = 1;
	so.fdnames = "ringlb.socket";
	so.notify = sun.sun_path;
	so.fdstore = "16";
	ASSERT_EQ(0, spawn_with(&self->next, self->argv, &so));
	self->next_started = true;
	ret = wait_systemd(&self->next, 15000 + slack_ms());
	if (ret == -ENOTSUP) {
		close(nfd);
		close(act);
		unlink(sun.sun_path);
		SKIP(return, "ringlb built without libsystemd (static)");
	}
	ASSERT_EQ(0, ret) TH_LOG("ringlb never said what systemd passed");
	ret = read_fdstore(nfd, st, 4, 15000 + slack_ms());
	if (ret)
		dump_log(&self->next, "ringlb");
	ASSERT_EQ(0, ret) TH_LOG("4 FDSTORE=1 messages: %s", strerror(-ret));
	EXPECT_TRUE(rl_log_has(&self->next, "systemd passed 1 socket"));
	for (i = 0; i < 4; i++) {
		char want[64];

		/* worker 0's addresses in order, then worker 1's */
		snprintf(want, sizeof(want), "ringlb.w%d.", i / 2);
		EXPECT_EQ(0, strncmp(st[i].name, want, strlen(want)))
			TH_LOG("FDNAME=%s", st[i].name);
		EXPECT_EQ(i % 2 ? p2 : p1, bound_port(st[i].fd))
			TH_LOG("FDNAME=%s", st[i].name);
		fds[i] = st[i].fd;
		strcat(names, i ? ":" : "");
		strcat(names, st[i].name);
	}
	EXPECT_EQ(0, churn_once(e->v.family, p1, MAX_IDS, e->seed));
	EXPECT_EQ(0, churn_once(e->v.family, p2, MAX_IDS + 1, e->seed));

	/* "systemctl restart": a gap with no ringlb at all */
	ASSERT_EQ(0, rl_stop(&self->next, 10000 + slack_ms()));
	EXPECT_TRUE(WIFEXITED(self->next.status) &&
		    WEXITSTATUS(self->next.status) == 0);
	rl_cleanup(&self->next);
	self->next_started = false;
	close(act);	/* the store alone keeps the addresses now */
	gap = tcp_connect(e->v.family, p2);
	ASSERT_LE(0, gap) TH_LOG("refused while the store holds the socket: %s",
				 strerror(-gap));
	set_timeouts(gap, 20000 + slack_ms());
	prng_init(&p, e->seed);
	prng_fill(&p, up, sizeof(up));
	h.seed = e->seed + 1;
	ASSERT_EQ(0, send_all(gap, &h, sizeof(h)));
	ASSERT_EQ(0, send_all(gap, up, sizeof(up)));
	shutdown(gap, SHUT_WR);

	so.fds = fds;
	so.nfds = 4;
	so.fdnames = names;
	ASSERT_EQ(0, spawn_with(&self->next, self->argv, &so));
	self->next_started = true;
	ret = read_to_eof(gap, &bytes, &hash);
	close(gap);
	EXPECT_EQ(0, ret) TH_LOG("the client of the gap: %s", strerror(-ret));
	EXPECT_EQ((uint64_t)CHURN_LEN, bytes);
	EXPECT_EQ(stream_hash(e->seed + 1, CHURN_LEN), hash);
	EXPECT_TRUE(rl_log_has(&self->next, "systemd passed 4 sockets"));
	EXPECT_FALSE(rl_log_has(&self->next, "not used"));
	EXPECT_EQ(0, churn_once(e->v.family, p1, MAX_IDS + 2, e->seed));
	for (i = 0; i < 4; i++)
		close(fds[i]);
	close(nfd);
	unlink(sun.sun_path);
}

TEST_HARNESS_MAIN

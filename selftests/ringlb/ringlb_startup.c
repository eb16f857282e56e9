// SPDX-License-Identifier: MIT
/*
 * ringlb start-up: --engine auto falls back to epoll (and says so) when
 * io_uring_setup() is refused, here by a seccomp filter installed in the
 * child before exec; --engine uring then exits 1 instead; bad arguments
 * exit 78 (EX_CONFIG) and a listener that cannot be bound exits 1, each
 * with a message.
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"

#include <sysexits.h>

#include "common.h"

#define FALLBACK_MSG	"falling back to epoll"

FIXTURE(fallback) {
	struct rl_env e;
};

/* only the data path varies: the engine is what is under test */
FIXTURE_VARIANT(fallback) {
	struct rl_variant v;
};

FIXTURE_VARIANT_ADD(fallback, splice_ipv4) {
	.v = { .engine = "auto", .forward = "splice", .family = AF_INET },
};

FIXTURE_VARIANT_ADD(fallback, buffers_ipv6) {
	.v = { .engine = "auto", .forward = "buffers", .family = AF_INET6 },
};

FIXTURE_SETUP(fallback)
{
	env_setup(_metadata, &self->e, &variant->v);
}

FIXTURE_TEARDOWN(fallback)
{
	env_teardown(_metadata, &self->e);
}

/* can this kernel filter syscalls at all? 0 when the filter works */
static int probe_seccomp(void)
{
	/* ringlb -V exits at once; 125 means the filter did not load */
	const char *argv[] = { NULL, "-V", NULL };
	struct rl_proc p;
	int ret;

	ret = rl_spawn(&p, argv, true);
	if (ret)
		return ret;
	ret = rl_wait_exit(&p, 5000 + slack_ms());
	if (!ret && WIFEXITED(p.status) && WEXITSTATUS(p.status) == 125)
		ret = -ENOSYS;
	rl_cleanup(&p);
	return ret;
}

/*
 * With io_uring_setup() failing EPERM, auto serves with epoll, logs
 * why, and the data still arrives whole both ways.
 */
TEST_F_TIMEOUT(fallback, auto_falls_back_to_epoll, 60)
{
	struct rl_env *e = &self->e;
	uint64_t len = test_quick() ? 1 * MIB : 8 * MIB;
	struct rl_opts o = { .no_uring = true };
	struct flow *f;
	int ret;

	CHECK_SKIP(e);
	if (probe_seccomp())
		SKIP(return, "seccomp filters unavailable");
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);

	EXPECT_TRUE(rl_log_has(&e->rl, FALLBACK_MSG))
		TH_LOG("no '%s' line on stderr", FALLBACK_MSG);

	f = env_flows(_metadata, e, 1);
	env_client(_metadata, e, f, 1, BE_DUPLEX, len, len);
	ret = flows_run(&f, 1, 30000 + slack_ms() * 4, NULL, NULL);
	ASSERT_EQ(0, ret) TH_LOG("transfer on the fallback engine: %s",
				 strerror(-ret));
	EXPECT_EQ(0, env_check(_metadata, e, f, 1, len, len));
}

/* io_uring refused and explicitly asked for: exit 1 with a reason */
TEST_F_TIMEOUT(fallback, uring_refused_exits_1, 60)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = { .no_uring = true, .engine = "uring",
			     .no_wait = true };
	char *log;
	int ret;

	CHECK_SKIP(e);
	if (probe_seccomp())
		SKIP(return, "seccomp filters unavailable");
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	e->expect_fail_exit = true;
	env_spawn(_metadata, e, &o);

	ret = rl_wait_exit(&e->rl, 5000 + slack_ms());
	ASSERT_EQ(0, ret) TH_LOG("--engine uring kept running without io_uring");
	EXPECT_TRUE(WIFEXITED(e->rl.status) && WEXITSTATUS(e->rl.status) == 1)
		TH_LOG("exit status 0x%x, want exit 1", e->rl.status);
	log = rl_log(&e->rl);
	ASSERT_NE(NULL, log);
	EXPECT_NE(NULL, strstr(log, "ringlb: "))
		TH_LOG("nothing on stderr saying why");
	free(log);
}

/* and when io_uring works, auto uses it: no fallback line */
TEST_F_TIMEOUT(fallback, auto_prefers_uring, 60)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = { 0 };
	int ret;

	CHECK_SKIP(e);
	ret = probe_io_uring();
	if (ret)
		SKIP(return, "io_uring unavailable: %s", strerror(-ret));
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);
	EXPECT_FALSE(rl_log_has(&e->rl, FALLBACK_MSG))
		TH_LOG("auto fell back to epoll although io_uring works");
	EXPECT_LE(0, env_roundtrip(_metadata, e, 1, 64 * 1024,
				   5000 + slack_ms()));
}

/* run ringlb with @args; its exit status, or -1 when it did not exit */
static int run_status(const char **args, char **log)
{
	struct rl_proc p;
	int ret;

	*log = NULL;
	if (rl_spawn(&p, args, false))
		return -1;
	ret = rl_wait_exit(&p, 5000 + slack_ms());
	*log = rl_log(&p);
	rl_cleanup(&p);
	if (ret)
		return -1;
	return WIFEXITED(p.status) ? WEXITSTATUS(p.status) : 128;
}

TEST(bad_arguments_exit_78)
{
	const char *cases[][8] = {
		{ NULL, NULL },					/* nothing */
		{ NULL, "-l", "127.0.0.1:1", NULL },		/* no -b */
		{ NULL, "-b", "127.0.0.1:1", NULL },		/* no -l */
		{ NULL, "-l", "127.0.0.1:x", "-b", "127.0.0.1:1", NULL },
		{ NULL, "-l", "127.0.0.1:1", "-b", "[::1:1", NULL },
		{ NULL, "-l", "127.0.0.1:1", "-b", "127.0.0.1:1",
		  "--engine", "bogus", NULL },
		{ NULL, "-l", "127.0.0.1:1", "-b", "127.0.0.1:1",
		  "--forward", "bogus", NULL },
		{ NULL, "-l", "127.0.0.1:1", "-b", "127.0.0.1:1",
		  "-a", "bogus", NULL },
		{ NULL, "-l", "127.0.0.1:1", "-b", "127.0.0.1:1",
		  "--connect-timeout", "-5", NULL },
		{ NULL, "-l", "127.0.0.1:1", "-b", "127.0.0.1:1",
		  "--no-such-option", NULL },
	};
	unsigned int i;
	char *log;
	int st;

	if (access(ringlb_path(), X_OK))
		SKIP(return, "ringlb binary %s not executable", ringlb_path());
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		st = run_status(cases[i], &log);
		EXPECT_EQ(EX_CONFIG, st) TH_LOG("case %u (%s %s ...): exit %d", i,
					cases[i][1] ?: "", cases[i][2] ?: "",
					st);
		EXPECT_TRUE(log && *log)
			TH_LOG("case %u: nothing on stderr", i);
		free(log);
	}
}

/* a listen address someone else holds (without SO_REUSEPORT) */
TEST(listen_in_use_exits_1)
{
	const char *args[] = { NULL, "-l", NULL, "-b", "127.0.0.1:1", NULL };
	struct sockaddr_storage ss;
	char addr[64], *log;
	uint16_t port;
	socklen_t sl;
	int fd, st;

	if (access(ringlb_path(), X_OK))
		SKIP(return, "ringlb binary %s not executable", ringlb_path());
	enter_netns();
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, fd);
	loopback_sockaddr(AF_INET, 0, &ss, &sl);
	ASSERT_EQ(0, bind(fd, (struct sockaddr *)&ss, sl));
	ASSERT_EQ(0, listen(fd, 1));
	port = local_port(fd);
	fmt_addr(addr, sizeof(addr), AF_INET, port);
	args[2] = addr;
	st = run_status(args, &log);
	EXPECT_EQ(1, st) TH_LOG("listening on a taken port: exit %d", st);
	EXPECT_TRUE(log && *log) TH_LOG("nothing on stderr saying why");
	free(log);
	close(fd);
}

/*
 * --admin in a directory that does not exist (/run/ringlb outside the
 * unit): exit 1, naming the directory to create, which is not created
 */
TEST(admin_dir_missing_exits_1)
{
	const char *args[] = { NULL, "-l", NULL, "-b", "127.0.0.1:1",
			       "--admin", NULL, NULL };
	char addr[64], dir[PATH_MAX], sock[PATH_MAX + 16], want[3 * PATH_MAX];
	const char *tmp = getenv("TMPDIR");
	uint16_t port;
	char *log;
	int st;

	if (access(ringlb_path(), X_OK))
		SKIP(return, "ringlb binary %s not executable", ringlb_path());
	ASSERT_EQ(0, free_port(AF_INET, &port));
	fmt_addr(addr, sizeof(addr), AF_INET, port);
	snprintf(dir, sizeof(dir), "%s/ringlb-nodir-%d",
		 tmp && *tmp ? tmp : "/tmp", getpid());
	snprintf(sock, sizeof(sock), "%s/admin.sock", dir);
	args[2] = addr;
	args[6] = sock;
	st = run_status(args, &log);
	EXPECT_EQ(1, st) TH_LOG("admin socket in a missing directory: exit %d",
				st);
	snprintf(want, sizeof(want),
		 "admin socket %s: directory %s does not exist", sock, dir);
	EXPECT_TRUE(log && strstr(log, want)) TH_LOG("want '%s' in: %s", want,
						     log ?: "");
	EXPECT_NE(0, access(dir, F_OK));
	free(log);
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: MIT
/*
 * The metrics endpoint as Prometheus' own tools see it:
 *
 *  - promtool_clean: a live scrape of a ringlb with two listeners, two
 *    backends, a DOWN server, a drained one (weight 0) and a disabled
 *    one, after traffic went through both listeners, passes
 *    `promtool check metrics` without a word of complaint; and the state
 *    gauges say what the config and the checks made of each server;
 *  - prometheus_rate: a real Prometheus server (its own TSDB in a temp
 *    directory, its own loopback port, scraping every second) answers a
 *    PromQL rate() over ringlb's counters with a positive value while
 *    traffic flows;
 *  - kernel_counters: where uringstat is loaded (the QEMU VMs), each
 *    worker's ring has its kernel counters in the scrape, and the kernel
 *    saw at least the SQEs the worker says it submitted;
 *  - no_module_no_series: where it is not, there are none, and the
 *    scrape is whole.
 *
 * A missing promtool, prometheus or module is a SKIP with the reason.
 * Everything runs in the test's own network namespace when it can, so
 * its ports collide with nothing else on the machine; every wait is a
 * poll with a generous deadline.
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"

#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <sys/stat.h>
#include <time.h>

#include "common.h"

#define URINGSTAT_RINGS	"/sys/kernel/debug/uringstat/rings"
#define BODY_MAX	(1 << 20)

/* ---- helpers -------------------------------------------------------- */

/* @name's full path in $PATH into @out, or false */
static bool find_tool(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH");
	char *copy, *dir, *save = NULL;
	bool found = false;

	copy = strdup(path && *path ? path :
		      "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	if (!copy)
		return false;
	for (dir = strtok_r(copy, ":", &save); dir && !found;
	     dir = strtok_r(NULL, ":", &save)) {
		snprintf(out, len, "%s/%s", dir, name);
		found = !access(out, X_OK);
	}
	free(copy);
	return found;
}

/* fork+exec @argv, stdin from @in (or /dev/null), stdout+stderr to @log */
static pid_t spawn_tool(char *const *argv, const char *in, const char *log)
{
	pid_t pid = fork();
	int fd;

	if (pid)
		return pid;
	fd = open(in ? in : "/dev/null", O_RDONLY);
	if (fd < 0 || dup2(fd, 0) < 0)
		_exit(126);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		_exit(126);
	execv(argv[0], argv);
	_exit(127);
}

/* 0 and *@status once @pid exited, -ETIMEDOUT after @timeout_ms */
static int wait_child(pid_t pid, int *status, int timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (now_ms() >= end)
			return -ETIMEDOUT;
		sleep_ms(20);
	}
}

/* a whole file, NUL-terminated, at most BODY_MAX bytes; free() it */
static char *slurp(const char *path)
{
	char *buf = malloc(BODY_MAX + 1);
	size_t len = 0;
	ssize_t n;
	int fd;

	if (!buf)
		return NULL;
	fd = open(path, O_RDONLY);
	while (fd >= 0 && len < BODY_MAX &&
	       (n = read(fd, buf + len, BODY_MAX - len)) > 0)
		len += n;
	if (fd >= 0)
		close(fd);
	buf[len] = '\0';
	return buf;
}

/*
 * The value of the series written exactly @series (name and labels as
 * ringlb writes them) in exposition text @body; -1 when absent.
 */
static double sample_of(const char *body, const char *series)
{
	size_t n = strlen(series);
	const char *p = body;

	while ((p = strstr(p, series))) {
		if ((p == body || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p += n;
	}
	return -1;
}

/* lines of @body that start with @prefix */
static int count_lines(const char *body, const char *prefix)
{
	size_t n = strlen(prefix);
	const char *p;
	int c = 0;

	for (p = body; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, prefix, n))
			c++;
	return c;
}

/* the lines of @body that hold @needle, as KTAP comments */
static void log_lines(struct __test_metadata *_metadata, const char *body,
		      const char *needle)
{
	const char *p = body, *eol;

	for (; *p; p = *eol ? eol + 1 : eol) {
		eol = strchrnul(p, '\n');
		if (memmem(p, eol - p, needle, strlen(needle)))
			TH_LOG("%.*s", (int)(eol - p), p);
	}
}

/* ---- the fixture ---------------------------------------------------- */

FIXTURE(metrics) {
	struct rl_env e;
	char dir[PATH_MAX - 64];
	char cfg[PATH_MAX];
	uint16_t lport2, mport, dead_port;
	int probes_web;		/* readiness connections to "web" */
	pid_t prom;
	char *body;
};

FIXTURE_VARIANT(metrics) {
	struct rl_variant v;
};

RINGLB_VARIANT(metrics, uring_ipv4, "uring", "buffers", AF_INET);
RINGLB_VARIANT(metrics, epoll_ipv4, "epoll", "splice", AF_INET);

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	return remove(path);
}

FIXTURE_SETUP(metrics)
{
	const char *tmp = getenv("TMPDIR");

	self->prom = -1;
	env_setup(_metadata, &self->e, &variant->v);
	snprintf(self->dir, sizeof(self->dir), "%s/ringlb_metrics.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->cfg, sizeof(self->cfg), "%s/ringlb.ini", self->dir);
	self->body = malloc(BODY_MAX);
	ASSERT_NE(NULL, self->body);
}

FIXTURE_TEARDOWN(metrics)
{
	int st;

	_metadata->trigger = 0;
	if (self->prom > 0) {
		kill(self->prom, SIGTERM);
		if (wait_child(self->prom, &st, 10000 + slack_ms())) {
			kill(self->prom, SIGKILL);
			waitpid(self->prom, &st, 0);
		}
	}
	env_teardown(_metadata, &self->e);
	free(self->body);
	if (self->dir[0])
		nftw(self->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * Two listeners: "web" on e.lport to backend "pool" (a, b drained by
 * weight 0, dead on a port nobody listens on, checked every 100 ms) and
 * "api" on lport2 to backend "spare" (c, and "off", disabled). Waits
 * for both listeners.
 */
static void start_ringlb(struct __test_metadata *_metadata,
			 FIXTURE_DATA(metrics) *self)
{
	struct rl_env *e = &self->e;
	const char **a = e->argv;
	int fd, n = 1, ret;
	FILE *f;

	env_backends(_metadata, e, 2);
	fd = reserve_port(AF_INET, &self->dead_port);
	ASSERT_LE(0, fd);
	env_keep_fd(e, fd);
	ASSERT_EQ(0, free_port(AF_INET, &e->lport));
	ASSERT_EQ(0, free_port(AF_INET, &self->lport2));
	ASSERT_EQ(0, free_port(AF_INET, &self->mport));
	fmt_addr(e->laddr, sizeof(e->laddr), AF_INET, e->lport);

	f = fopen(self->cfg, "w");
	ASSERT_NE(NULL, f);
	fprintf(f, "# written by ringlb_metrics\n"
		"[global]\nthreads = 2\nmetrics = 127.0.0.1:%u\n"
		"drain-timeout = 3000\n"
		"[listener web]\nbind = 127.0.0.1:%u\nbackend = pool\n"
		"[listener api]\nbind = 127.0.0.1:%u\nbackend = spare\n"
		"[backend pool]\nbalance = wrr\nhealth = tcp\nhealth-interval = 100\n"
		"server = a %s\nserver = b %s weight=0\n"
		"server = dead 127.0.0.1:%u\n"
		"[backend spare]\nserver = c %s\nserver = off %s disabled\n",
		self->mport, e->lport, self->lport2, e->be[0].addr,
		e->be[1].addr, self->dead_port, e->be[1].addr, e->be[0].addr);
	ASSERT_EQ(0, fclose(f));

	a[n++] = "-c";
	a[n++] = self->cfg;
	a[n++] = "--engine";
	a[n++] = e->v.engine;
	a[n++] = "--forward";
	a[n++] = e->v.forward;
	a[n] = NULL;
	ASSERT_EQ(0, rl_spawn(&e->rl, e->argv, false));
	e->rl_started = true;
	ret = rl_wait_ready(&e->rl, AF_INET, e->lport, 10000 + slack_ms() * 2,
			    &e->probes);
	self->probes_web = e->probes;
	if (!ret)
		ret = rl_wait_ready(&e->rl, AF_INET, self->lport2,
				    10000 + slack_ms() * 2, &e->probes);
	if (ret)
		env_dump_log(_metadata, e);
	ASSERT_EQ(0, ret);
	env_settle(_metadata, e);
}

/* @n round trips of @len bytes each way through listener @port */
static void traffic(struct __test_metadata *_metadata,
		    FIXTURE_DATA(metrics) *self, uint16_t port, uint32_t *id,
		    int n, uint64_t len)
{
	uint16_t keep = self->e.lport;
	int i;

	self->e.lport = port;
	for (i = 0; i < n && *id < MAX_IDS; i++)
		EXPECT_LE(0, env_roundtrip(_metadata, &self->e, (*id)++, len,
					   10000 + slack_ms()));
	self->e.lport = keep;
}

/* scrape into self->body until @series reads @want, or the deadline */
static int scrape_until(FIXTURE_DATA(metrics) *self, const char *series,
			double want, int timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;

	for (;;) {
		int st = rl_http_get(self->mport, "/metrics", self->body,
				  BODY_MAX, 5000 + slack_ms());

		if (st == 200 && (!series || sample_of(self->body, series) ==
				  want))
			return 0;
		if (now_ms() >= end)
			return st == 200 ? -ETIMEDOUT : st;
		sleep_ms(50);
	}
}

/* ---- the tests ------------------------------------------------------ */

TEST_F_TIMEOUT(metrics, promtool_clean, 120)
{
	char promtool[PATH_MAX], scrape[PATH_MAX + 16], log[PATH_MAX + 16];
	char *argv[] = { promtool, "check", "metrics", NULL };
	uint32_t id = 0;
	char *out;
	FILE *f;
	int st;

	CHECK_SKIP(&self->e);
	if (!find_tool("promtool", promtool, sizeof(promtool)))
		SKIP(return, "no promtool in PATH (Debian package prometheus)");
	start_ringlb(_metadata, self);
	traffic(_metadata, self, self->e.lport, &id, 5, 4096);
	traffic(_metadata, self, self->lport2, &id, 3, 1024);
	/* the checks have found "dead" down: 3 failures 100 ms apart */
	ASSERT_EQ(0, scrape_until(self,
		"ringlb_server_status{backend=\"pool\",server=\"dead\",state=\"DOWN\"}",
		1, 10000 + slack_ms()));

	/* what the gauges say of each server */
	EXPECT_EQ(1, sample_of(self->body,
		"ringlb_server_status{backend=\"pool\",server=\"a\",state=\"UP\"}"));
	EXPECT_EQ(1, sample_of(self->body,
		"ringlb_server_admin_state{backend=\"pool\",server=\"b\",state=\"DRAIN\"}"));
	EXPECT_EQ(0, sample_of(self->body,
		"ringlb_server_admin_state{backend=\"pool\",server=\"b\",state=\"READY\"}"));
	EXPECT_EQ(1, sample_of(self->body,
		"ringlb_server_admin_state{backend=\"spare\",server=\"off\",state=\"MAINT\"}"));
	EXPECT_EQ(1, sample_of(self->body,
		"ringlb_server_admin_state{backend=\"pool\",server=\"dead\",state=\"READY\"}"));
	EXPECT_EQ(1, sample_of(self->body,
		"ringlb_backend_active_servers{backend=\"pool\"}"));
	EXPECT_EQ(1, sample_of(self->body,
		"ringlb_backend_status{backend=\"spare\",state=\"UP\"}"));
	/* what went through each listener, counted once each way */
	EXPECT_EQ(5 + self->probes_web, sample_of(self->body,
		"ringlb_frontend_sessions_total{listener=\"web\"}"))
		TH_LOG("5 clients and %d readiness probes on web",
		       self->probes_web);
	EXPECT_EQ(5 * (4096 + sizeof(struct wire_hdr)), sample_of(self->body,
		"ringlb_frontend_bytes_in_total{listener=\"web\"}"));
	EXPECT_EQ(5 * 4096, sample_of(self->body,
		"ringlb_frontend_bytes_out_total{listener=\"web\"}"));
	EXPECT_EQ(5 * 4096, sample_of(self->body,
		"ringlb_server_bytes_out_total{backend=\"pool\",server=\"a\"}"));
	EXPECT_EQ(3 * 1024, sample_of(self->body,
		"ringlb_backend_bytes_out_total{backend=\"spare\"}"));
	EXPECT_EQ(3 + self->e.probes - self->probes_web, sample_of(self->body,
		"ringlb_server_sessions_total{backend=\"spare\",server=\"c\"}"));
	EXPECT_EQ(1, count_lines(self->body, "ringlb_build_info{version=\""));

	snprintf(scrape, sizeof(scrape), "%s/scrape.txt", self->dir);
	snprintf(log, sizeof(log), "%s/promtool.out", self->dir);
	f = fopen(scrape, "w");
	ASSERT_NE(NULL, f);
	fputs(self->body, f);
	ASSERT_EQ(0, fclose(f));
	ASSERT_EQ(0, wait_child(spawn_tool(argv, scrape, log), &st,
				60000 + slack_ms()));
	out = slurp(log);
	ASSERT_NE(NULL, out);
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
		TH_LOG("promtool check metrics: status 0x%x: %s", st, out);
	EXPECT_STREQ("", out);
	free(out);
}

/*
 * A value of the first result of a Prometheus instant query answer,
 * {"status":"success","data":{"resultType":"vector","result":[{"metric":
 * {...},"value":[T,"V"]}]}}; -1 when there is none (yet).
 */
static double query_value(const char *json)
{
	const char *p;

	if (!strstr(json, "\"status\":\"success\""))
		return -1;
	p = strstr(json, "\"value\":[");
	if (!p || !(p = strchr(p, ',')) || p[1] != '"')
		return -1;
	return strtod(p + 2, NULL);
}

TEST_F_TIMEOUT(metrics, prometheus_rate, 300)
{
	/* rate() of a per-backend counter, summed as a dashboard would */
	static const char query[] =
		"/api/v1/query?query=sum%20by%20(backend)%20"
		"(rate(ringlb_backend_sessions_total%7Bbackend%3D%22pool%22%7D%5B5s%5D))";
	char prom[PATH_MAX], yml[PATH_MAX + 16], data[PATH_MAX + 16];
	char log[PATH_MAX + 16], cfg_arg[PATH_MAX + 64];
	char data_arg[PATH_MAX + 64], listen_arg[64];
	char *argv[] = { prom, cfg_arg, data_arg, listen_arg,
			 "--log.level=warn", NULL };
	uint64_t end, next_query = 0;
	double rate = -1;
	uint32_t id = 0;
	uint16_t pport;
	int st = -1;
	FILE *f;

	CHECK_SKIP(&self->e);
	if (!find_tool("prometheus", prom, sizeof(prom)))
		SKIP(return, "no prometheus in PATH (Debian package prometheus)");
	start_ringlb(_metadata, self);
	ASSERT_EQ(0, free_port(AF_INET, &pport));

	snprintf(yml, sizeof(yml), "%s/prometheus.yml", self->dir);
	snprintf(data, sizeof(data), "%s/tsdb", self->dir);
	snprintf(log, sizeof(log), "%s/prometheus.log", self->dir);
	f = fopen(yml, "w");
	ASSERT_NE(NULL, f);
	/* a timeout above the interval is refused: both 1 s */
	fprintf(f, "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
		"  evaluation_interval: 1s\n"
		"scrape_configs:\n  - job_name: ringlb\n"
		"    static_configs:\n      - targets: ['127.0.0.1:%u']\n",
		self->mport);
	ASSERT_EQ(0, fclose(f));
	snprintf(cfg_arg, sizeof(cfg_arg), "--config.file=%s", yml);
	snprintf(data_arg, sizeof(data_arg), "--storage.tsdb.path=%s", data);
	snprintf(listen_arg, sizeof(listen_arg),
		 "--web.listen-address=127.0.0.1:%u", pport);
	self->prom = spawn_tool(argv, NULL, log);
	ASSERT_LT(0, self->prom);

	/* a busy machine can take many seconds to start it */
	end = now_ms() + 90000 + slack_ms() * 4;
	while ((st = rl_http_get(pport, "/-/ready", self->body, BODY_MAX,
			      5000 + slack_ms())) != 200 && now_ms() < end) {
		ASSERT_EQ(0, waitpid(self->prom, &st, WNOHANG))
			TH_LOG("prometheus exited: %s", slurp(log));
		sleep_ms(100);
	}
	ASSERT_EQ(200, st) TH_LOG("prometheus never ready: %s", slurp(log));

	/*
	 * Clients keep coming; the query is asked twice a second until
	 * the rate over the last 5 s (at least two scrapes) is positive.
	 */
	end = now_ms() + 90000 + slack_ms() * 4;
	while (now_ms() < end && id < MAX_IDS) {
		traffic(_metadata, self, self->e.lport, &id, 1, 512);
		if (now_ms() >= next_query) {
			next_query = now_ms() + 500;
			st = rl_http_get(pport, query, self->body, BODY_MAX,
				      5000 + slack_ms());
			rate = st == 200 ? query_value(self->body) : -1;
			if (rate > 0)
				break;
		}
		sleep_ms(20);
	}
	EXPECT_LT(0, rate) TH_LOG("last answer (HTTP %d): %s", st,
				  self->body);
	TH_LOG("rate of pool's sessions: %.2f/s after %u clients", rate, id);
	/* and the target was scraped without errors throughout */
	st = rl_http_get(pport, "/api/v1/query?query=up%7Bjob%3D%22ringlb%22%7D",
		      self->body, BODY_MAX, 5000 + slack_ms());
	EXPECT_EQ(200, st);
	EXPECT_EQ(1, query_value(self->body)) TH_LOG("%s", self->body);
}

/* uringstat's rings file is there and we may read it */
static bool uringstat_loaded(void)
{
	return !access(URINGSTAT_RINGS, R_OK);
}

TEST_F(metrics, kernel_counters)
{
	static const char *const fam[] = {
		"ringlb_uring_kernel_submitted_total",
		"ringlb_uring_kernel_completed_total",
		"ringlb_uring_kernel_failed_total",
		"ringlb_uring_kernel_poll_armed_total",
		"ringlb_uring_kernel_iowq_punts_total",
		"ringlb_uring_kernel_cq_overflows_total",
	};
	uint32_t id = 0;
	unsigned int i, w;

	CHECK_SKIP(&self->e);
	if (strcmp(self->e.v.engine, "uring"))
		SKIP(return, "the epoll engine has no rings");
	if (!uringstat_loaded())
		SKIP(return, "uringstat not loaded (%s: %s)", URINGSTAT_RINGS,
		     strerror(errno));
	start_ringlb(_metadata, self);
	traffic(_metadata, self, self->e.lport, &id, 4, 4096);
	ASSERT_EQ(0, scrape_until(self, NULL, 0, 5000 + slack_ms()));

	for (i = 0; i < sizeof(fam) / sizeof(fam[0]); i++) {
		char head[128], series[128];

		snprintf(head, sizeof(head), "# TYPE %s counter", fam[i]);
		EXPECT_EQ(1, count_lines(self->body, head)) TH_LOG("%s", fam[i]);
		/* one ring per worker, each named by its worker */
		snprintf(series, sizeof(series), "%s{ring=\"", fam[i]);
		EXPECT_EQ(2, count_lines(self->body, series))
			TH_LOG("%s: not one series per worker", fam[i]);
	}
	for (w = 0; w < 2; w++) {
		char own[64], tag[32];
		const char *p;
		double mine, kernel = -1;

		snprintf(own, sizeof(own),
			 "ringlb_uring_submissions_total{worker=\"%u\"}", w);
		snprintf(tag, sizeof(tag), ",worker=\"%u\"} ", w);
		mine = sample_of(self->body, own);
		/* ringlb_uring_kernel_submitted_total{ring="N",worker="w"} V */
		for (p = self->body; (p = strstr(p,
				"\nringlb_uring_kernel_submitted_total{ring=\""));
		     p++) {
			const char *eol = strchr(p + 1, '\n');
			const char *t = strstr(p, tag);

			if (t && (!eol || t < eol))
				kernel = strtod(t + strlen(tag), NULL);
		}
		EXPECT_LT(0, mine) TH_LOG("%s", own);
		/* its count was read first, and the kernel counts at submit */
		EXPECT_LE(mine, kernel)
			TH_LOG("worker %u: ringlb says %.0f SQEs, uringstat %.0f",
			       w, mine, kernel);
	}
	log_lines(_metadata, self->body, "ringlb_uring_kernel_");
}

TEST_F(metrics, no_module_no_series)
{
	uint32_t id = 0;

	CHECK_SKIP(&self->e);
	if (uringstat_loaded())
		SKIP(return, "uringstat is loaded here: kernel_counters checks it");
	start_ringlb(_metadata, self);
	traffic(_metadata, self, self->e.lport, &id, 2, 1024);
	ASSERT_EQ(0, scrape_until(self, NULL, 0, 5000 + slack_ms()));
	EXPECT_EQ(0, count_lines(self->body, "ringlb_uring_kernel_"));
	EXPECT_EQ(0, count_lines(self->body, "# HELP ringlb_uring_kernel_"));
	/* the scrape is whole: it ends with the last family of the workers */
	EXPECT_LT(0, count_lines(self->body,
				 strcmp(self->e.v.engine, "uring") ?
				 "ringlb_io_syscalls_total{worker=\"1\"}" :
				 "ringlb_splice_switches_total{worker=\"1\"}"));
}

TEST_HARNESS_MAIN

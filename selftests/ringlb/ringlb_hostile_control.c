// SPDX-License-Identifier: MIT
/*
 * Hostile clients against ringlb's control plane and its lifetimes:
 *
 * - admin and metrics clients that dribble a byte every 0.9 s, say
 *   nothing, or never read a large reply hold nothing: admin commands
 *   and /metrics answer promptly meanwhile, SIGHUP reloads and SIGTERM
 *   drains and exits; each is cut by the whole-exchange deadline;
 * - more control clients than the cap are told so at once, and one
 *   endpoint full does not stop the other;
 * - ringlbctl -T gives up on a daemon that never answers;
 * - a reload whose workers cannot all start (pthread_create() failing
 *   under a cgroup pids limit) rolls back: the old generation serves,
 *   the failure is logged and counted, READY=1 follows RELOADING=1;
 * - a second SIGTERM stops now, SIGQUIT drains gracefully bounded by
 *   hard-stop-after, and hard-stop-after ends what a reload left;
 * - the admin socket is never made through a symlink and stays root's
 *   with `user =`; --check catches `user =` where it cannot work.
 *
 * Every wait ends on an event (a reply, a log line, an exit, an EOF)
 * with a generous deadline; the bounds each check enforces are named
 * where they are checked.
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"

#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <sysexits.h>

#include "common.h"

/* the control plane's contract (userspace/control.h, admin-guide.rst) */
#define CTL_CLIENTS_MAX		16
#define CTL_DEADLINE_MS		5000

/*
 * How long an answer may take while hostile clients are connected. It
 * takes milliseconds; a control plane that serves one client at a time
 * takes as long as the hostile client stays, which here is longer than
 * this bound.
 */
static int prompt_ms(void)
{
	return 1000 + slack_ms();
}

/* ---- running programs ------------------------------------------------- */

static const char *ringlbctl_path(void)
{
	static char path[PATH_MAX];
	const char *env = getenv("RINGLBCTL");
	char tmp[PATH_MAX];

	if (env && *env)
		return env;
	snprintf(tmp, sizeof(tmp), "%s", ringlb_path());
	snprintf(path, sizeof(path), "%s/ringlbctl", dirname(tmp));
	return path;
}

struct run_as {
	uid_t uid;		/* 0: stay root */
	gid_t gid;
	const char *env;	/* "NAME=value" added, or NULL */
	const char *unset;	/* a variable removed, or NULL */
};

/*
 * Run @argv with stdout and stderr into @out, for at most @timeout_ms.
 * Returns the exit status (128 + signal when killed), or -ETIMEDOUT
 * after killing it; *@ms is how long it ran.
 */
static int run(const char *const *argv, const struct run_as *as,
	       int timeout_ms, char *out, size_t size, uint64_t *ms)
{
	uint64_t t0 = now_ms(), end = t0 + timeout_ms;
	int p[2], status, ret = -ETIMEDOUT;
	size_t len = 0;
	pid_t pid;
	ssize_t n;

	if (pipe2(p, O_CLOEXEC))
		return -errno;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		if (as && as->env)
			putenv((char *)as->env);
		if (as && as->unset)
			unsetenv(as->unset);
		if (as && as->uid &&
		    (setgroups(0, NULL) || setgid(as->gid) || setuid(as->uid)))
			_exit(126);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		struct pollfd pfd = { .fd = p[0], .events = POLLIN };
		int left = (int)(end - now_ms());

		if ((int64_t)(end - now_ms()) <= 0 ||
		    poll(&pfd, 1, left) == 0)
			break;
		n = read(p[0], out + len, size - 1 - len);
		if (n <= 0)
			break;
		len += n;
		if (len == size - 1)
			break;
	}
	out[len] = '\0';
	close(p[0]);
	for (;;) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			ret = WIFEXITED(status) ? WEXITSTATUS(status) :
						  128 + WTERMSIG(status);
			break;
		}
		if (now_ms() >= end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			break;
		}
		sleep_ms(5);
	}
	if (ms)
		*ms = now_ms() - t0;
	return ret;
}

/* ---- talking to the control plane without ringlbctl ---------------------- */

/* @path into @sun: 0, or -ENAMETOOLONG */
static int sun_set(struct sockaddr_un *sun, const char *path)
{
	size_t len = strlen(path);

	if (len >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	memcpy(sun->sun_path, path, len + 1);
	return 0;
}

static int unix_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, ret;

	if (sun_set(&sun, path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

/* read to EOF (or @size - 1 bytes): the length read, or -errno */
static int read_all(int fd, char *out, size_t size, int timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;
	size_t got = 0;
	ssize_t n;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int left = (int)(end - now_ms());

		if ((int64_t)(end - now_ms()) <= 0 ||
		    poll(&pfd, 1, left) == 0)
			return -ETIMEDOUT;
		n = recv(fd, out + got, size - 1 - got, MSG_DONTWAIT);
		if (n > 0)
			got += n;
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (n == 0 || got == size - 1)
			break;
	}
	out[got] = '\0';
	return (int)got;
}

/* send @req, half-close, read the answer to EOF: its length or -errno */
static int exchange(int fd, const char *req, char *out, size_t size,
		    int timeout_ms)
{
	size_t len = strlen(req);

	if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len)
		return -errno;
	shutdown(fd, SHUT_WR);
	return read_all(fd, out, size, timeout_ms);
}

/*
 * One admin command: the answer's length or -errno. The socket may not
 * exist yet right after start-up: that is retried until @timeout_ms.
 */
static int admin_ask(const char *path, const char *cmd, char *out,
		     size_t size, int timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;
	char req[256];
	int fd, ret;

	snprintf(req, sizeof(req), "%s\n", cmd);
	for (;;) {
		fd = unix_connect(path);
		if (fd >= 0)
			break;
		if ((fd != -ENOENT && fd != -ECONNREFUSED) || now_ms() > end)
			return fd;
		sleep_ms(20);
	}
	ret = exchange(fd, req, out, size, (int)(end - now_ms()) + 1);
	close(fd);
	return ret;
}

/* GET /metrics: the HTTP status, or -errno */
static int metrics_get(uint16_t port, char *out, size_t size, int timeout_ms)
{
	int fd = tcp_connect(AF_INET, port), ret;

	if (fd < 0)
		return fd;
	ret = exchange(fd, "GET /metrics HTTP/1.0\r\n\r\n", out, size,
		       timeout_ms);
	close(fd);
	if (ret < 0)
		return ret;
	if (strncmp(out, "HTTP/1.0 ", 9))
		return -EPROTO;
	return atoi(out + 9);
}

/* the value of @name in a "show stats" answer, or -1 */
static long long stat_of(const char *stats, const char *name)
{
	size_t len = strlen(name);
	const char *s;

	for (s = stats; s && *s; s = strchr(s, '\n'), s = s ? s + 1 : NULL)
		if (!strncmp(s, name, len) && s[len] == ' ')
			return atoll(s + len);
	return -1;
}

/* the value of a metric sample line starting with @series, or -1 */
static long long metric_of(const char *body, const char *series)
{
	const char *s = strstr(body, series);

	while (s && s != body && s[-1] != '\n')
		s = strstr(s + 1, series);
	return s ? atoll(s + strlen(series) + 1) : -1;
}

/* ---- hostile clients ------------------------------------------------------ */

enum hostile_kind {
	H_DRIBBLE,	/* one byte every 0.9 s, never a whole request */
	H_SILENT,	/* connects, says nothing */
	H_NO_READ,	/* asks for a large reply and never reads it */
	H_NO_READ_CONNS,	/* asks for show conns and never reads it */
};

struct hostile {
	int fd;
	enum hostile_kind kind;
	bool http;
	pthread_t thr;
	bool thr_running;
	atomic_bool stop;
	atomic_bool cut;	/* the daemon closed it */
	uint64_t t_open, t_cut;
};

/*
 * The dribbler: under a control plane that times out each read after
 * a second, a byte every 0.9 s holds it for ever. Its "request" never
 * ends (no newline, no blank line), so only a deadline on the whole
 * exchange gets rid of it. A silent client's thread only watches for
 * the daemon's end of it.
 */
static void *hostile_thread(void *arg)
{
	static const char http_head[] = "GET /metrics HTTP/1.0\r\nX-Slow: ";
	struct hostile *h = arg;
	size_t i = 0;
	char c;

	while (!atomic_load(&h->stop)) {
		struct pollfd pfd = { .fd = h->fd, .events = POLLIN };

		if (h->kind == H_DRIBBLE) {
			c = h->http && i < sizeof(http_head) - 1 ?
			    http_head[i] : 'a';
			if (send(h->fd, &c, 1, MSG_NOSIGNAL) != 1)
				break;
			i++;
		}
		if (poll(&pfd, 1, 900) > 0 &&
		    recv(h->fd, &c, 1, MSG_DONTWAIT) <= 0)
			break;
	}
	if (!atomic_load(&h->stop)) {
		h->t_cut = now_ms();
		atomic_store(&h->cut, true);
	}
	return NULL;
}

static int hostile_open(struct hostile *h, enum hostile_kind kind,
			const char *sock, uint16_t mport)
{
	static const char big_admin[] = "show servers --json\n";
	static const char conns_admin[] = "show conns --json\n";
	static const char big_http[] = "GET /metrics HTTP/1.0\r\n\r\n";
	int small = 4096, mss = 536;

	memset(h, 0, sizeof(*h));
	h->kind = kind;
	h->http = !sock;
	if (h->http) {
		struct sockaddr_in sin = {
			.sin_family = AF_INET,
			.sin_port = htons(mport),
			.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
		};

		h->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (h->fd < 0)
			return -errno;
		/*
		 * A small window, and a small MSS: the daemon's send buffer
		 * grows with its MSS (4 MB at loopback's 64 KB), so the reply
		 * hides neither in our buffers nor in its.
		 */
		setsockopt(h->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
		setsockopt(h->fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof(mss));
		if (connect(h->fd, (struct sockaddr *)&sin, sizeof(sin)))
			return -errno;
	} else {
		h->fd = unix_connect(sock);
		if (h->fd < 0)
			return h->fd;
	}
	h->t_open = now_ms();
	if (kind == H_NO_READ || kind == H_NO_READ_CONNS) {
		const char *req = h->http ? big_http :
				  kind == H_NO_READ ? big_admin : conns_admin;

		if (send(h->fd, req, strlen(req), MSG_NOSIGNAL) !=
		    (ssize_t)strlen(req))
			return -errno;
	}
	if (kind == H_DRIBBLE || kind == H_SILENT) {
		if (pthread_create(&h->thr, NULL, hostile_thread, h))
			return -EAGAIN;
		h->thr_running = true;
	}
	return 0;
}

/* cut by the daemon: EOF or a reset (not looked for on non-readers) */
static bool hostile_cut(struct hostile *h)
{
	return atomic_load(&h->cut);
}

static void hostile_close(struct hostile *h)
{
	atomic_store(&h->stop, true);
	if (h->fd >= 0)
		shutdown(h->fd, SHUT_RDWR);
	if (h->thr_running)
		pthread_join(h->thr, NULL);
	h->thr_running = false;
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
}

/* ---- cgroup pids limit ----------------------------------------------------- */

/*
 * A pids cgroup of our own: cgroup v2 where its root offers the pids
 * controller, else a v1 pids hierarchy. Returns 0 with its directory in
 * @dir, or -errno with why in @why.
 */
static int pids_cgroup_make(char *dir, size_t len, char *why, size_t wlen)
{
	char line[1024], root[PATH_MAX] = "", path[PATH_MAX + 64];
	bool v2 = false;
	FILE *f = fopen("/proc/self/mountinfo", "r");
	int fd;

	if (!f) {
		snprintf(why, wlen, "/proc/self/mountinfo: %s", strerror(errno));
		return -ENOENT;
	}
	while (fgets(line, sizeof(line), f)) {
		char mnt[PATH_MAX], fstype[64], opts[512], *dash;

		dash = strstr(line, " - ");
		if (!dash || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 ||
		    sscanf(dash + 3, "%63s %*s %511s", fstype, opts) != 2)
			continue;
		if (!strcmp(fstype, "cgroup2")) {
			char ctrl[256] = "";
			FILE *c;

			snprintf(path, sizeof(path), "%s/cgroup.controllers", mnt);
			c = fopen(path, "r");
			if (c) {
				if (!fgets(ctrl, sizeof(ctrl), c))
					ctrl[0] = '\0';
				fclose(c);
			}
			if (strstr(ctrl, "pids")) {
				snprintf(root, sizeof(root), "%s", mnt);
				v2 = true;
				break;
			}
		} else if (!strcmp(fstype, "cgroup") &&
			   (strstr(opts, ",pids") || !strncmp(opts, "pids", 4))) {
			snprintf(root, sizeof(root), "%s", mnt);
		}
	}
	fclose(f);
	if (!root[0]) {
		snprintf(why, wlen, "no cgroup hierarchy with the pids controller is mounted");
		return -ENOENT;
	}
	if (v2) {
		char sub[256] = "";

		/* the root's children get the controller once it is enabled */
		snprintf(path, sizeof(path), "%s/cgroup.subtree_control", root);
		f = fopen(path, "r");
		if (f) {
			if (!fgets(sub, sizeof(sub), f))
				sub[0] = '\0';
			fclose(f);
		}
		if (!strstr(sub, "pids")) {
			fd = open(path, O_WRONLY | O_CLOEXEC);
			if (fd < 0 || write(fd, "+pids", 5) != 5) {
				snprintf(why, wlen, "%.300s: cannot enable pids: %s",
					 path, strerror(errno));
				if (fd >= 0)
					close(fd);
				return -EPERM;
			}
			close(fd);
		}
	}
	snprintf(dir, len, "%s/ringlb-selftest-%d", root, getpid());
	if (mkdir(dir, 0755) && errno != EEXIST) {
		snprintf(why, wlen, "mkdir %.300s: %s", dir, strerror(errno));
		dir[0] = '\0';
		return -errno;
	}
	return 0;
}

static int cg_write(const char *dir, const char *file, const char *val)
{
	char path[PATH_MAX + 64];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		ret = -errno;
	close(fd);
	return ret;
}

static long cg_read(const char *dir, const char *file)
{
	char path[PATH_MAX + 64], buf[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return strtol(buf, NULL, 10);
}

static void cg_remove(char *dir)
{
	uint64_t end = now_ms() + 5000;

	if (!dir[0])
		return;
	/* empty once the daemon is reaped; the kernel may lag a little */
	while (rmdir(dir) && errno == EBUSY && now_ms() < end)
		sleep_ms(20);
	dir[0] = '\0';
}

/* ---- sd_notify, seen from the service manager's side ---------------------- */

static int notify_open(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	if (sun_set(&sun, path) || bind(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		close(fd);
		return -errno;
	}
	return fd;
}

/*
 * Collect datagrams into @log (each line of each message, "|"-joined)
 * until it holds @count "READY=1", or @timeout_ms passed.
 */
static int notify_wait_ready(int fd, char *log, size_t size, int count,
			     int timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;
	char msg[512];
	ssize_t n;
	int ready;

	for (;;) {
		const char *s;

		for (ready = 0, s = log; (s = strstr(s, "READY=1")); s++)
			ready++;
		if (ready >= count)
			return 0;
		if (now_ms() >= end)
			return -ETIMEDOUT;
		n = recv(fd, msg, sizeof(msg) - 1, 0);
		if (n < 0) {
			sleep_ms(10);
			continue;
		}
		msg[n] = '\0';
		for (char *c = msg; *c; c++)
			if (*c == '\n')
				*c = ' ';
		snprintf(log + strlen(log), size - strlen(log), "%s|", msg);
	}
}

/* ---- the fixture ------------------------------------------------------------ */

struct hc {
	struct rl_env e;
	char dir[PATH_MAX];	/* our files: config, admin and notify sockets */
	char cfg[PATH_MAX + 16];
	char sock[PATH_MAX + 16];
	char notify[PATH_MAX + 16];
	int notify_fd;
	uint16_t mport;
	char cgroup[PATH_MAX];
	struct hostile h[16];
	int nh;
};

static void hc_setup(struct __test_metadata *_metadata, struct hc *hc,
		     const struct rl_variant *v)
{
	const char *tmp = getenv("TMPDIR");

	env_setup(_metadata, &hc->e, v);
	hc->notify_fd = -1;
	snprintf(hc->dir, sizeof(hc->dir), "%s/rlhc-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	ASSERT_NE(NULL, mkdtemp(hc->dir));
	snprintf(hc->cfg, sizeof(hc->cfg), "%s/ringlb.ini", hc->dir);
	snprintf(hc->sock, sizeof(hc->sock), "%s/admin.sock", hc->dir);
	snprintf(hc->notify, sizeof(hc->notify), "%s/notify", hc->dir);
	ASSERT_GT(sizeof(((struct sockaddr_un *)0)->sun_path), strlen(hc->sock))
		TH_LOG("TMPDIR too long for a Unix socket path");
}

static void hc_teardown(struct __test_metadata *_metadata, struct hc *hc)
{
	int i;

	for (i = 0; i < hc->nh; i++)
		hostile_close(&hc->h[i]);
	env_teardown(_metadata, &hc->e);
	cg_remove(hc->cgroup);
	if (hc->notify_fd >= 0)
		close(hc->notify_fd);
	unsetenv("NOTIFY_SOCKET");
	unlink(hc->notify);
	unlink(hc->cfg);
	unlink(hc->sock);
	rmdir(hc->dir);
}

struct hc_opts {
	int threads;		/* 0: 2 */
	int drain_timeout;	/* 0: 3000 */
	int hard_stop_after;	/* 0: the default */
	int big_backends;	/* backends of 256 servers, for big replies */
	bool metrics;
	bool notify;
};

/*
 * Write a config file (listener web -> backend pool -> be[0], the admin
 * socket, metrics if asked) and start ringlb on it with -c, so SIGHUP
 * reloads it; waits for the listener and the admin socket.
 */
static void hc_spawn(struct __test_metadata *_metadata, struct hc *hc,
		     const struct hc_opts *o)
{
	struct rl_env *e = &hc->e;
	const char **argv = e->argv;
	char out[256];
	int n = 1, b, s, ret;
	FILE *f;

	ASSERT_EQ(0, free_port(e->v.family, &e->lport));
	fmt_addr(e->laddr, sizeof(e->laddr), e->v.family, e->lport);
	if (o->metrics)
		ASSERT_EQ(0, free_port(AF_INET, &hc->mport));
	f = fopen(hc->cfg, "w");
	ASSERT_NE(NULL, f);
	fprintf(f, "[global]\nthreads = %d\nadmin = %s\ndrain-timeout = %d\n",
		o->threads ? o->threads : 2, hc->sock,
		o->drain_timeout ? o->drain_timeout : 3000);
	if (o->hard_stop_after)
		fprintf(f, "hard-stop-after = %d\n", o->hard_stop_after);
	if (o->metrics)
		fprintf(f, "metrics = 127.0.0.1:%u\n", hc->mport);
	fprintf(f, "[listener web]\nbind = %s\nbackend = pool\n"
		"[backend pool]\nserver = a %s\n", e->laddr, e->be[0].addr);
	/* servers nobody connects to: no listener uses these backends */
	for (b = 0; b < o->big_backends; b++) {
		fprintf(f, "[backend big%d]\n", b);
		for (s = 0; s < 256; s++)
			fprintf(f, "server = server-with-a-long-name-%03d 127.0.0.1:%d\n",
				s, 1 + s);
	}
	ASSERT_EQ(0, fclose(f));

	if (o->notify) {
		hc->notify_fd = notify_open(hc->notify);
		ASSERT_LE(0, hc->notify_fd);
		setenv("NOTIFY_SOCKET", hc->notify, 1);
	}
	argv[n++] = "-c";
	argv[n++] = hc->cfg;
	argv[n++] = "--engine";
	argv[n++] = e->v.engine;
	if (e->v.forward) {
		argv[n++] = "--forward";
		argv[n++] = e->v.forward;
	}
	argv[n] = NULL;
	ASSERT_EQ(0, rl_spawn(&e->rl, e->argv, false));
	e->rl_started = true;
	unsetenv("NOTIFY_SOCKET");
	ret = rl_wait_ready(&e->rl, e->v.family, e->lport,
			    10000 + slack_ms() * 2, &e->probes);
	if (ret)
		env_dump_log(_metadata, e);
	ASSERT_EQ(0, ret);
	env_settle(_metadata, e);
	ret = admin_ask(hc->sock, "show stats", out, sizeof(out),
			10000 + slack_ms() * 2);
	ASSERT_LT(0, ret) TH_LOG("admin socket %s: %s", hc->sock,
				 ret ? strerror(-ret) : "empty answer");
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

/* ringlbctl -T @t COMMAND: its exit status; the answer in @out */
static int ctl_cmd(struct hc *hc, const char *t, const char *cmd,
		   const char *arg, char *out, size_t size, uint64_t *ms)
{
	const char *argv[] = { ringlbctl_path(), "-s", hc->sock, "-T", t,
			       "show", cmd, arg, NULL };

	return run(argv, NULL, 30000 + slack_ms(), out, size, ms);
}

/* wait until "show stats" says @name >= @want: 0, or -ETIMEDOUT */
static int wait_stat(struct hc *hc, const char *name, long long want,
		     int timeout_ms, long long *got)
{
	uint64_t end = now_ms() + timeout_ms;
	char out[8192];

	for (;;) {
		*got = -1;
		if (admin_ask(hc->sock, "show stats", out, sizeof(out),
			      prompt_ms()) > 0)
			*got = stat_of(out, name);
		if (*got >= want)
			return 0;
		if (now_ms() >= end)
			return -ETIMEDOUT;
		sleep_ms(50);
	}
}

/* ---- the control plane under hostile clients ------------------------------- */

FIXTURE(ctl) {
	struct hc hc;
};

FIXTURE_VARIANT(ctl) {
	struct rl_variant v;
};

/* the control plane does not depend on the engine: the one auto picks */
FIXTURE_VARIANT_ADD(ctl, auto_engine) {
	.v = { .engine = "auto", .family = AF_INET },
};

FIXTURE_SETUP(ctl)
{
	hc_setup(_metadata, &self->hc, &variant->v);
}

FIXTURE_TEARDOWN(ctl)
{
	hc_teardown(_metadata, &self->hc);
}

static long proc_long(const char *path, int field, long dflt)
{
	FILE *f = fopen(path, "r");
	long v = dflt;
	int i;

	if (!f)
		return dflt;
	for (i = 0; i <= field; i++)
		if (fscanf(f, "%ld", &v) != 1) {
			v = dflt;
			break;
		}
	fclose(f);
	return v;
}

/*
 * Backends of 256 servers that make the large replies larger than what
 * the daemon's socket can hold, so a client that never reads keeps the
 * reply waiting: "show servers --json" (about 220 bytes a server) three
 * times a Unix socket's send buffer, /metrics (about 1060 bytes a
 * server) three times what a TCP send buffer grows to for a peer with a
 * 536-byte MSS and a 4 KB window (about 150 KB here; 256 KB assumed).
 */
static int big_backends(void)
{
	long unix_buf = proc_long("/proc/sys/net/core/wmem_default", 0, 212992);
	long a = 3 * unix_buf / (256 * 220) + 1;
	long m = 3 * 256 * 1024 / (256 * 1060) + 1;
	long n = a > m ? a : m;

	return n > 64 ? 64 : n;
}

static void open_hostiles(struct __test_metadata *_metadata, struct hc *hc)
{
	static const enum hostile_kind kinds[] = {
		H_DRIBBLE, H_SILENT, H_NO_READ,
	};
	size_t k;
	int ret;

	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		ret = hostile_open(&hc->h[hc->nh++], kinds[k], hc->sock, 0);
		ASSERT_EQ(0, ret) TH_LOG("admin hostile %zu: %s", k,
					 strerror(-ret));
		ret = hostile_open(&hc->h[hc->nh++], kinds[k], NULL,
				   hc->mport);
		ASSERT_EQ(0, ret) TH_LOG("metrics hostile %zu: %s", k,
					 strerror(-ret));
	}
	/* show conns asked and never read: the workers' path too */
	ret = hostile_open(&hc->h[hc->nh++], H_NO_READ_CONNS, hc->sock, 0);
	ASSERT_EQ(0, ret);
}

/* admin (ringlbctl and raw), show conns and /metrics all answer promptly */
static void expect_prompt(struct __test_metadata *_metadata, struct hc *hc,
			  uint16_t held_port, const char *when)
{
	static char out[1 << 16];
	char want[64];
	uint64_t t0, ms;
	int st;

	st = ctl_cmd(hc, "10", "stats", NULL, out, sizeof(out), &ms);
	EXPECT_EQ(0, st) TH_LOG("%s: ringlbctl show stats: %s", when, out);
	EXPECT_GE((uint64_t)prompt_ms(), ms)
		TH_LOG("%s: ringlbctl show stats took %llu ms", when,
		       (unsigned long long)ms);
	EXPECT_NE(NULL, strstr(out, "conns_total")) TH_LOG("%s", out);

	st = ctl_cmd(hc, "10", "conns", NULL, out, sizeof(out), &ms);
	EXPECT_EQ(0, st) TH_LOG("%s: ringlbctl show conns: %s", when, out);
	EXPECT_GE((uint64_t)prompt_ms(), ms)
		TH_LOG("%s: show conns took %llu ms", when,
		       (unsigned long long)ms);
	snprintf(want, sizeof(want), "127.0.0.1:%u ", held_port);
	EXPECT_NE(NULL, strstr(out, want))
		TH_LOG("%s: show conns lacks the held client %s: %s", when,
		       want, out);

	t0 = now_ms();
	st = metrics_get(hc->mport, out, sizeof(out), prompt_ms());
	ms = now_ms() - t0;
	EXPECT_EQ(200, st) TH_LOG("%s: GET /metrics: %s", when,
				  st < 0 ? strerror(-st) : out);
	EXPECT_GE((uint64_t)prompt_ms(), ms)
		TH_LOG("%s: GET /metrics took %llu ms", when,
		       (unsigned long long)ms);
}

/*
 * Six hostile clients (a dribbler, a silent one and a non-reader of a
 * reply several socket buffers long, on each endpoint) plus a client
 * that asks for show conns and never reads: meanwhile admin commands,
 * show conns and /metrics answer within prompt_ms(), SIGHUP reloads
 * within prompt_ms(); every hostile client is cut within the
 * whole-exchange deadline (5 s) plus slack and counted; with a fresh
 * set of them connected, SIGTERM drains a held connection for the
 * grace (1 s) and exits 0 within the grace plus slack.
 */
TEST_F_TIMEOUT(ctl, hostile_clients_stall_nobody, 180)
{
	struct hc *hc = &self->hc;
	struct rl_env *e = &hc->e;
	struct hc_opts o = { .drain_timeout = 1000, .metrics = true };
	uint64_t t0, dt;
	long long got;
	int fd, i, ret;
	uint16_t held;

	CHECK_SKIP(e);
	o.big_backends = big_backends();
	if (access(ringlbctl_path(), X_OK))
		SKIP(return, "no ringlbctl beside ringlb: %s", ringlbctl_path());
	env_backends(_metadata, e, 1);
	hc_spawn(_metadata, hc, &o);
	fd = hold_client(_metadata, e, 1);
	held = local_port(fd);
	ASSERT_EQ(0, backend_wait_active(&e->be[0], 1, 5000 + slack_ms()));

	open_hostiles(_metadata, hc);
	for (i = 0; i < 3; i++)
		expect_prompt(_metadata, hc, held, "hostile clients connected");

	/*
	 * SIGHUP is taken at once; the reload itself parses thousands of
	 * servers, which takes its time under ASan and is not the point.
	 */
	t0 = now_ms();
	ASSERT_EQ(0, kill(e->rl.pid, SIGHUP));
	ret = rl_log_wait(&e->rl, "SIGHUP: reloading", 1, prompt_ms());
	EXPECT_EQ(0, ret) TH_LOG("SIGHUP not taken within %d ms",
				 prompt_ms());
	ret = rl_log_wait(&e->rl, "reload: 1 listener", 1,
			  10000 + 2 * slack_ms());
	EXPECT_EQ(0, ret) TH_LOG("no reload within %d ms of SIGHUP",
				 10000 + 2 * slack_ms());
	ASSERT_TRUE(still_open(fd));
	expect_prompt(_metadata, hc, held, "after the reload");

	/* each hostile client is cut by the deadline and counted */
	ret = wait_stat(hc, "admin_timeouts", 3,
			CTL_DEADLINE_MS + prompt_ms() * 2, &got);
	EXPECT_EQ(0, ret) TH_LOG("admin_timeouts %lld after %llu ms, want 3",
				 got, (unsigned long long)(now_ms() - t0));
	ret = wait_stat(hc, "metrics_timeouts", 3, prompt_ms(), &got);
	EXPECT_EQ(0, ret) TH_LOG("metrics_timeouts %lld, want 3", got);
	for (i = 0; i < hc->nh; i++) {
		struct hostile *h = &hc->h[i];

		if (h->kind != H_DRIBBLE && h->kind != H_SILENT)
			continue;
		EXPECT_TRUE(hostile_cut(h))
			TH_LOG("hostile client %d (kind %d, %s) still connected after %llu ms",
			       i, h->kind, h->http ? "metrics" : "admin",
			       (unsigned long long)(now_ms() - h->t_open));
		if (atomic_load(&h->cut))
			EXPECT_GE((uint64_t)(CTL_DEADLINE_MS + prompt_ms()),
				  h->t_cut - h->t_open);
	}
	for (i = 0; i < hc->nh; i++)
		hostile_close(&hc->h[i]);
	hc->nh = 0;

	/* a fresh set, and SIGTERM: the drain is not held up by them */
	open_hostiles(_metadata, hc);
	expect_prompt(_metadata, hc, held, "second set connected");
	t0 = now_ms();
	ASSERT_EQ(0, kill(e->rl.pid, SIGTERM));
	ret = rl_wait_exit(&e->rl, o.drain_timeout + slack_ms());
	dt = now_ms() - t0;
	ASSERT_EQ(0, ret) TH_LOG("still running %d ms after SIGTERM (grace %d ms)",
				 o.drain_timeout + slack_ms(), o.drain_timeout);
	EXPECT_TRUE(WIFEXITED(e->rl.status) && !WEXITSTATUS(e->rl.status))
		TH_LOG("exit status 0x%x", e->rl.status);
	EXPECT_LE((uint64_t)(o.drain_timeout - 20), dt)
		TH_LOG("exited %llu ms after SIGTERM: the held connection was not drained",
		       (unsigned long long)dt);
}

/*
 * CTL_CLIENTS_MAX silent clients fill an endpoint; the next one is told
 * so within prompt_ms() and closed, and counted. One endpoint full does
 * not stop the other; signals are served meanwhile.
 */
TEST_F_TIMEOUT(ctl, client_cap, 120)
{
	struct hc *hc = &self->hc;
	struct rl_env *e = &hc->e;
	struct hc_opts o = { .metrics = true };
	int fds[2][CTL_CLIENTS_MAX], extra, ep, i, ret, attempt;
	static char out[1 << 16];
	bool refused;
	uint64_t t0;

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	hc_spawn(_metadata, hc, &o);

	for (ep = 0; ep < 2; ep++) {
		const char *what = ep ? "metrics" : "admin";

		/*
		 * All of them inside the deadline: on a machine so slow
		 * that the first ones were cut before the last came, the
		 * round proves nothing and is tried again.
		 */
		for (attempt = 0; attempt < 3; attempt++) {
			t0 = now_ms();
			for (i = 0; i < CTL_CLIENTS_MAX; i++) {
				fds[ep][i] = ep ? tcp_connect(AF_INET, hc->mport) :
						  unix_connect(hc->sock);
				ASSERT_LE(0, fds[ep][i]);
			}
			/* accepted after them: the backlog is first come */
			extra = ep ? tcp_connect(AF_INET, hc->mport) :
				     unix_connect(hc->sock);
			ASSERT_LE(0, extra);
			ret = read_all(extra, out, sizeof(out), prompt_ms());
			close(extra);
			refused = ret > 0 &&
				  strstr(out, ep ? "HTTP/1.0 503 Service Unavailable" :
					 "error: too many admin clients");
			if (refused || now_ms() - t0 < CTL_DEADLINE_MS - 1000)
				break;
			for (i = 0; i < CTL_CLIENTS_MAX; i++)
				close(fds[ep][i]);
			TH_LOG("%s round %d took %llu ms: again", what,
			       attempt, (unsigned long long)(now_ms() - t0));
		}
		EXPECT_TRUE(refused)
			TH_LOG("%s: client %d got: %s", what,
			       CTL_CLIENTS_MAX + 1,
			       ret >= 0 ? out : strerror(-ret));
		/* the other endpoint and the signals are served meanwhile */
		if (!ep) {
			ret = metrics_get(hc->mport, out, sizeof(out),
					  prompt_ms());
			EXPECT_EQ(200, ret) TH_LOG("metrics with admin full");
			EXPECT_LE(1, metric_of(out,
				  "ringlb_control_refused_total{endpoint=\"admin\"}"))
				TH_LOG("admin refusals not counted");
		} else {
			ret = admin_ask(hc->sock, "show stats", out,
					sizeof(out), prompt_ms());
			EXPECT_LT(0, ret) TH_LOG("admin with metrics full");
			EXPECT_LE(1, stat_of(out, "metrics_refused"))
				TH_LOG("%s", out);
		}
		ret = rl_log_count(&e->rl, "ringlb: info: stats ");
		ASSERT_EQ(0, kill(e->rl.pid, SIGUSR1));
		EXPECT_EQ(0, rl_log_wait(&e->rl, "ringlb: info: stats ",
					 ret + 1, prompt_ms()))
			TH_LOG("SIGUSR1 not served with %s full", what);
		for (i = 0; i < CTL_CLIENTS_MAX; i++)
			close(fds[ep][i]);
	}
	/* served again once they left */
	ret = admin_ask(hc->sock, "show stats", out, sizeof(out),
			prompt_ms() * 2);
	ASSERT_LT(0, ret);
	EXPECT_LE(1, stat_of(out, "admin_refused")) TH_LOG("%s", out);
	EXPECT_LE(1, stat_of(out, "metrics_refused")) TH_LOG("%s", out);
}

/* ---- the admin socket and `user =` -------------------------------------------- */

/* ringlb -l -b --admin @path [@extra @arg], one epoll worker; no wait */
static void spawn_plain(struct __test_metadata *_metadata, struct rl_env *e,
			const char *path, const char *extra, const char *arg)
{
	const char **a = e->argv;
	int n = 1;

	ASSERT_EQ(0, free_port(AF_INET, &e->lport));
	fmt_addr(e->laddr, sizeof(e->laddr), AF_INET, e->lport);
	a[n++] = "-l";
	a[n++] = e->laddr;
	a[n++] = "-b";
	a[n++] = e->be[0].addr;
	a[n++] = "-t";
	a[n++] = "1";
	a[n++] = "--engine";
	a[n++] = "epoll";
	a[n++] = "--admin";
	a[n++] = path;
	if (extra) {
		a[n++] = extra;
		a[n++] = arg;
	}
	a[n] = NULL;
	ASSERT_EQ(0, rl_spawn(&e->rl, e->argv, false));
	e->rl_started = true;
}

FIXTURE(sock) {
	struct hc hc;
};

FIXTURE_VARIANT(sock) {
	struct rl_variant v;
};

FIXTURE_VARIANT_ADD(sock, epoll) {
	.v = { .engine = "epoll", .family = AF_INET },
};

FIXTURE_SETUP(sock)
{
	hc_setup(_metadata, &self->hc, &variant->v);
}

FIXTURE_TEARDOWN(sock)
{
	hc_teardown(_metadata, &self->hc);
}

/* ---- ringlbctl -T ------------------------------------------------------------- */

/*
 * A socket that accepts connections into its backlog and never answers:
 * ringlbctl -T 1 exits 2 within 1 s plus slack, saying it timed out;
 * the same when even connect() waits (full backlog); and without -T it
 * gives up after its default 5 s.
 */
TEST_F_TIMEOUT(sock, ringlbctl_timeout, 60)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	const char *tmp = getenv("TMPDIR");
	char dir[PATH_MAX], path[PATH_MAX + 16], out[4096];
	const char *argv[8];
	int lfd, fill[64], nfill = 0, st, i;
	uint64_t ms;

	if (access(ringlbctl_path(), X_OK))
		SKIP(return, "no ringlbctl beside ringlb: %s", ringlbctl_path());
	snprintf(dir, sizeof(dir), "%s/rlhc-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/mute.sock", dir);
	ASSERT_EQ(0, sun_set(&sun, path));
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, lfd);
	ASSERT_EQ(0, bind(lfd, (struct sockaddr *)&sun, sizeof(sun)));
	ASSERT_EQ(0, listen(lfd, 8));

	argv[0] = ringlbctl_path();
	argv[1] = "-s";
	argv[2] = path;
	argv[3] = "-T";
	argv[4] = "1";
	argv[5] = "show";
	argv[6] = "stats";
	argv[7] = NULL;
	st = run(argv, NULL, 10000 + slack_ms(), out, sizeof(out), &ms);
	EXPECT_EQ(2, st) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "timed out")) TH_LOG("%s", out);
	EXPECT_LE(900ULL, ms);
	EXPECT_GE(1000ULL + slack_ms(), ms) TH_LOG("-T 1 took %llu ms",
						   (unsigned long long)ms);

	/* a full backlog: connect() itself waits */
	close(lfd);
	unlink(path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, lfd);
	ASSERT_EQ(0, bind(lfd, (struct sockaddr *)&sun, sizeof(sun)));
	ASSERT_EQ(0, listen(lfd, 0));
	for (i = 0; i < 64; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
				SOCK_NONBLOCK, 0);

		ASSERT_LE(0, fd);
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
			close(fd);
			break;
		}
		fill[nfill++] = fd;
	}
	st = run(argv, NULL, 10000 + slack_ms(), out, sizeof(out), &ms);
	EXPECT_EQ(2, st) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "timed out")) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "connecting")) TH_LOG("%s", out);
	EXPECT_GE(1000ULL + slack_ms(), ms) TH_LOG("-T 1 took %llu ms",
						   (unsigned long long)ms);

	/* the default: a few seconds */
	argv[3] = "show";
	argv[4] = "stats";
	argv[5] = NULL;
	st = run(argv, NULL, 20000 + slack_ms(), out, sizeof(out), &ms);
	EXPECT_EQ(2, st) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "timed out")) TH_LOG("%s", out);
	EXPECT_LE(4900ULL, ms);
	EXPECT_GE(5000ULL + slack_ms(), ms);

	/* nonsense for -T is a usage error */
	argv[3] = "-T";
	argv[4] = "0";
	argv[5] = "show";
	argv[6] = "stats";
	st = run(argv, NULL, 5000 + slack_ms(), out, sizeof(out), &ms);
	EXPECT_EQ(2, st);
	EXPECT_NE(NULL, strstr(out, "-T 0")) TH_LOG("%s", out);

	for (i = 0; i < nfill; i++)
		close(fill[i]);
	close(lfd);
	unlink(path);
	rmdir(dir);
}

/*
 * A symlink (to a file that matters, or dangling) where the admin socket
 * goes: ringlb refuses to start, says why, and neither the link nor its
 * target is touched (no chmod, no chown through it, nothing created).
 */
TEST_F_TIMEOUT(sock, symlink_refused, 60)
{
	struct hc *hc = &self->hc;
	struct rl_env *e = &hc->e;
	char victim[PATH_MAX + 16], dangling[PATH_MAX + 16];
	struct stat st;
	int fd, round;

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	snprintf(victim, sizeof(victim), "%s/victim", hc->dir);
	snprintf(dangling, sizeof(dangling), "%s/nothing-here", hc->dir);
	fd = open(victim, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fchmod(fd, 0644));
	close(fd);

	for (round = 0; round < 2; round++) {
		const char *target = round ? dangling : victim;

		unlink(hc->sock);
		ASSERT_EQ(0, symlink(target, hc->sock));
		/* with --user, the old code chowned the link's target */
		spawn_plain(_metadata, e, hc->sock,
			    geteuid() ? NULL : "--user", "nobody");
		ASSERT_EQ(0, rl_wait_exit(&e->rl, 10000 + slack_ms()))
			TH_LOG("ringlb started over a symlink at %s", hc->sock);
		EXPECT_TRUE(WIFEXITED(e->rl.status) &&
			    WEXITSTATUS(e->rl.status) == 1)
			TH_LOG("status 0x%x", e->rl.status);
		EXPECT_TRUE(rl_log_has(&e->rl, "exists and is not a socket (a symlink)"))
			TH_LOG("no reason given");
		if (!_metadata->passed)
			env_dump_log(_metadata, e);
		rl_cleanup(&e->rl);
		e->rl_started = false;

		ASSERT_EQ(0, lstat(hc->sock, &st));
		EXPECT_TRUE(S_ISLNK(st.st_mode)) TH_LOG("the symlink was replaced");
		if (!round) {
			ASSERT_EQ(0, stat(victim, &st));
			EXPECT_EQ((mode_t)0644, st.st_mode & 07777);
			EXPECT_EQ(0u, st.st_uid);
		} else {
			EXPECT_NE(0, access(dangling, F_OK))
				TH_LOG("something was created through the link");
		}
	}
	unlink(hc->sock);
	unlink(victim);
}

/*
 * A stale socket of an earlier run is replaced; the new one is mode
 * 0600 and root's even with --user nobody, which cannot connect to it;
 * root (ringlbctl) can, and the daemon, now nobody, answers.
 */
TEST_F_TIMEOUT(sock, owner_and_mode, 60)
{
	struct hc *hc = &self->hc;
	struct rl_env *e = &hc->e;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct passwd *pw;
	char out[4096];
	struct stat st;
	int fd, status;
	pid_t pid;

	CHECK_SKIP(e);
	if (geteuid())
		SKIP(return, "needs root: --user, and a socket others cannot reach");
	pw = getpwnam("nobody");
	if (!pw)
		SKIP(return, "no user nobody");
	env_backends(_metadata, e, 1);

	/* the stale socket */
	ASSERT_EQ(0, sun_set(&sun, hc->sock));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, bind(fd, (struct sockaddr *)&sun, sizeof(sun)));
	close(fd);
	/* nobody must be able to reach the directory, not the socket */
	ASSERT_EQ(0, chmod(hc->dir, 0755));

	spawn_plain(_metadata, e, hc->sock, "--user", "nobody");
	ASSERT_EQ(0, rl_log_wait(&e->rl, "running as nobody", 1,
				 10000 + slack_ms()));
	ASSERT_LT(0, admin_ask(hc->sock, "show stats", out, sizeof(out),
			       5000 + slack_ms()));
	EXPECT_NE(NULL, strstr(out, "conns_total")) TH_LOG("%s", out);
	ASSERT_EQ(0, lstat(hc->sock, &st));
	EXPECT_TRUE(S_ISSOCK(st.st_mode));
	EXPECT_EQ((mode_t)0600, st.st_mode & 07777);
	EXPECT_EQ(0u, st.st_uid) TH_LOG("the admin socket was handed to uid %u",
					st.st_uid);
	EXPECT_EQ(0u, st.st_gid);

	/* nobody else, the daemon's own user included, may connect */
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		if (setgroups(0, NULL) || setgid(pw->pw_gid) ||
		    setuid(pw->pw_uid))
			_exit(3);
		fd = unix_connect(hc->sock);
		_exit(fd == -EACCES ? 0 : fd >= 0 ? 1 : 2);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("as nobody: status 0x%x (1: connected, 2: other error)",
		       status);
}

/*
 * `user =` under the packaged unit: ringlb runs as a DynamicUser, not
 * root, without CAP_SETUID/CAP_SETGID, with INVOCATION_ID set by
 * systemd. --check must fail there and say why; as root it passes.
 */
TEST_F_TIMEOUT(sock, check_user_under_unit, 60)
{
	struct hc *hc = &self->hc;
	struct rl_env *e = &hc->e;
	struct run_as unit = {
		.env = "INVOCATION_ID=0123456789abcdef0123456789abcdef",
	};
	struct run_as shell = { .unset = "INVOCATION_ID" };
	const char *argv[] = { ringlb_path(), "--check", "-c", hc->cfg, NULL };
	char out[4096];
	FILE *f;
	int st;

	CHECK_SKIP(e);
	if (geteuid())
		SKIP(return, "needs root to run the check as another user");
	f = fopen(hc->cfg, "w");
	ASSERT_NE(NULL, f);
	fprintf(f, "[global]\nuser = nobody\n[listener web]\nbind = 127.0.0.1:1\n"
		"backend = pool\n[backend pool]\nserver = a 127.0.0.1:2\n");
	ASSERT_EQ(0, fclose(f));
	ASSERT_EQ(0, chmod(hc->dir, 0755));
	ASSERT_EQ(0, chmod(hc->cfg, 0644));

	st = run(argv, &shell, 10000 + slack_ms(), out, sizeof(out), NULL);
	EXPECT_EQ(0, st) TH_LOG("as root: %s", out);

	/* a uid in systemd's DynamicUser range, no capabilities */
	unit.uid = 61184 + getpid() % 4000;
	unit.gid = unit.uid;
	st = run(argv, &unit, 10000 + slack_ms(), out, sizeof(out), NULL);
	ASSERT_NE(126, st) TH_LOG("could not become uid %u", unit.uid);
	if (st == 127 || strstr(out, "Permission denied"))
		SKIP(return, "uid %u cannot run ringlb --check on our config: %.200s",
		     unit.uid, out);
	EXPECT_EQ(EX_CONFIG, st) TH_LOG("under the unit: %s", out);
	EXPECT_NE(NULL, strstr(out, "user = nobody: this process cannot change its user"))
		TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "DynamicUser")) TH_LOG("%s", out);
	EXPECT_EQ(NULL, strstr(out, "configuration is valid")) TH_LOG("%s", out);

	/* the same user from a shell: same verdict, other advice */
	shell.uid = unit.uid;
	shell.gid = unit.gid;
	st = run(argv, &shell, 10000 + slack_ms(), out, sizeof(out), NULL);
	EXPECT_EQ(EX_CONFIG, st) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "start ringlb as root")) TH_LOG("%s", out);
}

/* ---- lifetimes: second SIGTERM, SIGQUIT, hard-stop-after, rollback ------------ */

FIXTURE(stop) {
	struct hc hc;
};

FIXTURE_VARIANT(stop) {
	struct rl_variant v;
};

FIXTURE_VARIANT_ADD(stop, uring) {
	.v = { .engine = "uring", .forward = "buffers", .family = AF_INET },
};

FIXTURE_VARIANT_ADD(stop, epoll) {
	.v = { .engine = "epoll", .forward = "buffers", .family = AF_INET },
};

FIXTURE_SETUP(stop)
{
	hc_setup(_metadata, &self->hc, &variant->v);
}

FIXTURE_TEARDOWN(stop)
{
	hc_teardown(_metadata, &self->hc);
}

/*
 * The held connection was closed by the daemon, with end=drain in its
 * access line.
 */
static void expect_drained(struct __test_metadata *_metadata,
			   struct rl_env *e, int fd)
{
	struct access_line a;
	int ret = wait_eof(fd, 1000 + slack_ms(), NULL);

	EXPECT_TRUE(ret == 0 || ret == -ECONNRESET)
		TH_LOG("held client still open: %s", strerror(-ret));
	ASSERT_EQ(0, rl_access(&e->rl, local_port(fd), 1000 + slack_ms(), &a))
		TH_LOG("no access line for the held connection");
	EXPECT_STREQ("drain", a.end);
}

/*
 * SIGTERM with a 60 s grace and a connection that never ends: the
 * daemon drains; a second SIGTERM closes it and exits 0 within 1 s
 * (two of the engines' ticks) plus slack.
 */
TEST_F_TIMEOUT(stop, second_sigterm, 60)
{
	struct rl_env *e = &self->hc.e;
	struct rl_opts o = { .drain_timeout = 60000 };
	uint64_t t0, dt;
	int fd;

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);
	env_settle(_metadata, e);
	fd = hold_client(_metadata, e, 2);
	ASSERT_EQ(0, backend_wait_active(&e->be[0], 1, 5000 + slack_ms()));

	ASSERT_EQ(0, kill(e->rl.pid, SIGTERM));
	ASSERT_EQ(0, rl_log_wait(&e->rl, "draining 1 connections", 1,
				 5000 + slack_ms()));
	ASSERT_TRUE(still_open(fd));
	ASSERT_TRUE(rl_alive(&e->rl));

	t0 = now_ms();
	ASSERT_EQ(0, kill(e->rl.pid, SIGTERM));
	ASSERT_EQ(0, rl_wait_exit(&e->rl, 1000 + slack_ms()))
		TH_LOG("still running %u ms after the second SIGTERM",
		       1000 + slack_ms());
	dt = now_ms() - t0;
	EXPECT_TRUE(WIFEXITED(e->rl.status) && !WEXITSTATUS(e->rl.status))
		TH_LOG("exit status 0x%x", e->rl.status);
	EXPECT_TRUE(rl_log_has(&e->rl, "SIGTERM again: stopping now"));
	expect_drained(_metadata, e, fd);
	TH_LOG("exited %llu ms after the second SIGTERM",
	       (unsigned long long)dt);
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
 * SIGQUIT is nginx's graceful stop: the listener closes, a transfer in
 * flight outlives drain-timeout (300 ms) by far and completes byte for
 * byte, and the daemon exits 0 once it is over.
 */
TEST_F_TIMEOUT(stop, sigquit_graceful, 120)
{
	struct rl_env *e = &self->hc.e;
	uint64_t len = test_quick() ? 4 * MIB : 16 * MIB;
	struct rl_opts o = {
		.drain_timeout = 300,
		.extra = { "--hard-stop-after", "60000" },
	};
	struct sent_at_least w = { .tx = len / 2, .rx = len / 8 };
	struct access_line a;
	struct flow *f;
	uint16_t cport;
	uint64_t t_done;
	int ret;

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

	ASSERT_EQ(0, kill(e->rl.pid, SIGQUIT));
	ASSERT_EQ(0, rl_log_wait(&e->rl, "SIGQUIT: graceful stop", 1,
				 5000 + slack_ms()));
	ASSERT_EQ(0, rl_log_wait(&e->rl, "draining 1 connections", 1,
				 5000 + slack_ms()));
	/* well past drain-timeout: SIGTERM's grace would have cut it */
	sleep_ms(o.drain_timeout + 1000);
	ASSERT_TRUE(rl_alive(&e->rl)) TH_LOG("SIGQUIT did not wait for the transfer");

	f->tx_pause_at = UINT64_MAX;
	ret = flows_run(&f, 1, 60000 + slack_ms() * 4, NULL, NULL);
	ASSERT_EQ(0, ret) TH_LOG("second half after SIGQUIT: %s",
				 strerror(-ret));
	ASSERT_EQ(0, env_check(_metadata, e, f, 5, len, len));
	flow_close(f);
	t_done = now_ms();
	ASSERT_EQ(0, rl_wait_exit(&e->rl, 5000 + slack_ms()))
		TH_LOG("still running after its last connection");
	EXPECT_TRUE(WIFEXITED(e->rl.status) && !WEXITSTATUS(e->rl.status))
		TH_LOG("exit status 0x%x", e->rl.status);
	EXPECT_GT(5000ULL + slack_ms(), now_ms() - t_done);
	ASSERT_EQ(0, rl_access(&e->rl, cport, 1000, &a));
	EXPECT_STREQ("done", a.end);
}

/*
 * SIGQUIT with a connection that never ends: hard-stop-after (1 s, the
 * drain-timeout being 60 s) closes it; the daemon exits 0 no sooner
 * and no later than 1 s plus slack.
 */
TEST_F_TIMEOUT(stop, sigquit_hard_stop, 60)
{
	struct rl_env *e = &self->hc.e;
	struct rl_opts o = {
		.drain_timeout = 60000,
		.extra = { "--hard-stop-after", "1000" },
	};
	uint64_t t0, dt;
	int fd;

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	o.servers[o.nservers++] = e->be[0].addr;
	env_spawn(_metadata, e, &o);
	env_settle(_metadata, e);
	fd = hold_client(_metadata, e, 3);
	ASSERT_EQ(0, backend_wait_active(&e->be[0], 1, 5000 + slack_ms()));

	t0 = now_ms();
	ASSERT_EQ(0, kill(e->rl.pid, SIGQUIT));
	ASSERT_EQ(0, rl_wait_exit(&e->rl, 1000 + slack_ms()))
		TH_LOG("still running %u ms after SIGQUIT, hard-stop-after 1000",
		       1000 + slack_ms());
	dt = now_ms() - t0;
	EXPECT_TRUE(WIFEXITED(e->rl.status) && !WEXITSTATUS(e->rl.status))
		TH_LOG("exit status 0x%x", e->rl.status);
	EXPECT_LE(980ULL, dt) TH_LOG("exited %llu ms after SIGQUIT",
				     (unsigned long long)dt);
	expect_drained(_metadata, e, fd);
}

/*
 * A connection left on the generation a reload retired is closed at
 * hard-stop-after (1 s; the drain-timeout is 60 s), no sooner and no
 * later than 1 s plus slack after the SIGHUP, while the new generation
 * serves on.
 */
TEST_F_TIMEOUT(stop, hard_stop_after_reload, 60)
{
	struct hc *hc = &self->hc;
	struct rl_env *e = &hc->e;
	struct hc_opts o = { .drain_timeout = 60000, .hard_stop_after = 1000 };
	struct access_line a;
	uint64_t t0, dt;
	int fd, ret;

	CHECK_SKIP(e);
	env_backends(_metadata, e, 1);
	hc_spawn(_metadata, hc, &o);
	fd = hold_client(_metadata, e, 4);
	ASSERT_EQ(0, backend_wait_active(&e->be[0], 1, 5000 + slack_ms()));

	t0 = now_ms();
	ASSERT_EQ(0, kill(e->rl.pid, SIGHUP));
	ASSERT_EQ(0, rl_log_wait(&e->rl, "reload: 1 listener", 1,
				 5000 + slack_ms()));
	ret = wait_eof(fd, o.hard_stop_after + slack_ms(), NULL);
	dt = now_ms() - t0;
	EXPECT_TRUE(ret == 0 || ret == -ECONNRESET)
		TH_LOG("not closed %d ms after the reload (hard-stop-after %d): %s",
		       o.hard_stop_after + slack_ms(), o.hard_stop_after,
		       strerror(-ret));
	EXPECT_LE((uint64_t)o.hard_stop_after - 20, dt)
		TH_LOG("closed %llu ms after the reload", (unsigned long long)dt);
	ASSERT_EQ(0, rl_access(&e->rl, local_port(fd), 1000 + slack_ms(), &a));
	EXPECT_STREQ("drain", a.end);

	/* the new generation is untouched */
	ASSERT_TRUE(rl_alive(&e->rl));
	EXPECT_LE(0, env_roundtrip(_metadata, e, 40, 4096, 5000 + slack_ms()));
}

/*
 * A reload whose second worker cannot start: the daemon sits in a pids
 * cgroup whose limit leaves room for one more thread, so
 * pthread_create() fails with EAGAIN as under systemd's TasksMax. The
 * reload is rolled back: logged, counted as failed, READY=1 follows
 * RELOADING=1, the old generation keeps serving (its held connection
 * too), the one new thread goes away; once the limit is lifted a reload
 * works, and SIGTERM exits 0 within the grace plus slack.
 */
TEST_F_TIMEOUT(stop, reload_rollback, 120)
{
	struct hc *hc = &self->hc;
	struct rl_env *e = &hc->e;
	struct hc_opts o = {
		.drain_timeout = 1000, .metrics = true, .notify = true,
	};
	static char out[1 << 16];
	char why[512], val[32], nlog[2048] = "";
	long base, cur;
	uint64_t t0, end;
	bool notify;
	int fd, i, ret;

	CHECK_SKIP(e);
	if (geteuid())
		SKIP(return, "needs root for a pids cgroup");
	ret = pids_cgroup_make(hc->cgroup, sizeof(hc->cgroup), why,
			       sizeof(why));
	if (ret)
		SKIP(return, "no pids cgroup to make reload fail: %s", why);
	env_backends(_metadata, e, 1);
	hc_spawn(_metadata, hc, &o);
	/* sd_notify is compiled out of static builds (no libsystemd) */
	notify = !notify_wait_ready(hc->notify_fd, nlog, sizeof(nlog), 1,
				    2000 + slack_ms());
	if (!notify)
		TH_LOG("no READY=1 on NOTIFY_SOCKET: built without sd_notify, not checking it");
	fd = hold_client(_metadata, e, 7);
	ASSERT_EQ(0, backend_wait_active(&e->be[0], 1, 5000 + slack_ms()));

	snprintf(val, sizeof(val), "%d", e->rl.pid);
	ASSERT_EQ(0, cg_write(hc->cgroup, "cgroup.procs", val));
	base = cg_read(hc->cgroup, "pids.current");
	ASSERT_LE(3, base) TH_LOG("pids.current %ld: main and 2 workers?", base);
	/* room for the first new worker, not the second */
	snprintf(val, sizeof(val), "%ld", base + 1);
	ASSERT_EQ(0, cg_write(hc->cgroup, "pids.max", val));

	ASSERT_EQ(0, kill(e->rl.pid, SIGHUP));
	ret = rl_log_wait(&e->rl, "reload: new workers could not start", 1,
			  5000 + slack_ms());
	ASSERT_EQ(0, ret) TH_LOG("no rollback logged");
	/* worker 1 normally; 0 if the old workers' io_uring took a thread */
	EXPECT_TRUE(rl_log_has(&e->rl, " of 2: Resource temporarily unavailable"))
		TH_LOG("pthread_create()'s EAGAIN not logged");
	EXPECT_FALSE(rl_log_has(&e->rl, "reload: 1 listener"));
	if (notify) {
		ret = notify_wait_ready(hc->notify_fd, nlog, sizeof(nlog), 2,
					5000 + slack_ms());
		EXPECT_EQ(0, ret) TH_LOG("notify: %s", nlog);
		EXPECT_NE(NULL, strstr(nlog, "READY=1|RELOADING=1"))
			TH_LOG("notify: %s", nlog);
		EXPECT_TRUE(strstr(nlog, "RELOADING=1") &&
			    strstr(strstr(nlog, "RELOADING=1"), "|READY=1|"))
			TH_LOG("no READY=1 after RELOADING=1: %s", nlog);
	}

	/* counted as failed, nothing counted as done */
	ret = metrics_get(hc->mport, out, sizeof(out), prompt_ms());
	ASSERT_EQ(200, ret);
	EXPECT_EQ(1, metric_of(out, "ringlb_reloads_total{result=\"failed\"}"));
	EXPECT_EQ(0, metric_of(out, "ringlb_reloads_total{result=\"ok\"}"));

	/* the old generation serves, old and new clients alike */
	ASSERT_TRUE(still_open(fd)) TH_LOG("the failed reload cut a connection");
	for (i = 0; i < 4; i++)
		EXPECT_LE(0, env_roundtrip(_metadata, e, 10 + i, 4096,
					   5000 + slack_ms()));
	/* the new worker that did start is stopped: back to the old count */
	end = now_ms() + 5000 + slack_ms();
	while ((cur = cg_read(hc->cgroup, "pids.current")) > base &&
	       now_ms() < end)
		sleep_ms(20);
	EXPECT_EQ(base, cur) TH_LOG("threads left by the failed reload");

	/* the limit lifted, a reload works */
	ASSERT_EQ(0, cg_write(hc->cgroup, "pids.max", "max"));
	ASSERT_EQ(0, kill(e->rl.pid, SIGHUP));
	ASSERT_EQ(0, rl_log_wait(&e->rl, "reload: 1 listener", 1,
				 5000 + slack_ms()));
	EXPECT_LE(0, env_roundtrip(_metadata, e, 20, 4096, 5000 + slack_ms()));
	ret = metrics_get(hc->mport, out, sizeof(out), prompt_ms());
	ASSERT_EQ(200, ret);
	EXPECT_EQ(1, metric_of(out, "ringlb_reloads_total{result=\"ok\"}"));

	/* and SIGTERM still ends it, the held connection with the grace */
	t0 = now_ms();
	ASSERT_EQ(0, kill(e->rl.pid, SIGTERM));
	ASSERT_EQ(0, rl_wait_exit(&e->rl, o.drain_timeout + slack_ms()))
		TH_LOG("still running %d ms after SIGTERM",
		       o.drain_timeout + slack_ms());
	EXPECT_TRUE(WIFEXITED(e->rl.status) && !WEXITSTATUS(e->rl.status))
		TH_LOG("exit status 0x%x", e->rl.status);
	TH_LOG("exited %llu ms after SIGTERM", (unsigned long long)(now_ms() - t0));
}

TEST_HARNESS_MAIN

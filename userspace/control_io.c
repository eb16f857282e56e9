// SPDX-License-Identifier: MIT
/*
 * The control plane's sockets: the admin socket and the metrics port,
 * served from the main thread's poll loop without ever blocking it.
 *
 * Why the main thread and not a thread of its own: the generations
 * (rt->groups) are created, retired and freed by the main thread, and
 * every answer reads them. Served from the same loop, nothing changes
 * under a reply and no lock is needed; a control thread would need one,
 * and would hold it across the workers' answers to "show conns". The
 * price is that nothing here may wait: every socket is non-blocking,
 * each client has one deadline for its whole exchange (the request in
 * and the reply out, so neither a client that dribbles its request nor
 * one that never reads its reply holds anything), each endpoint a cap
 * on clients, and "show conns" is posted to the workers and their
 * answers collected as they come, while signals and other clients are
 * served in between.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "handover.h"
#include "log.h"

/* how long "show conns" waits for the workers, all at once */
#define CONNS_WAIT_MS		1000
/* how often their answers are looked for meanwhile */
#define CONNS_POLL_MS		5
/* accepts per endpoint per turn of the loop: signals come first */
#define ACCEPT_BATCH		16
/* out of descriptors: the listener is left alone this long */
#define ACCEPT_PAUSE_MS		100

enum cc_state {
	CC_FREE,
	CC_READ,		/* the request is arriving */
	CC_CONNS,		/* waiting for the workers' lists */
	CC_WRITE,		/* the reply is leaving */
	CC_RETIRE,		/* _retire: until no accept is left */
};

struct ctl_client {
	int fd;
	enum ctl_endpoint ep;
	enum cc_state state;
	uint64_t deadline;	/* for the whole exchange */
	bool json;		/* CC_CONNS: reply in JSON */
	char *out;		/* the reply, malloc'd */
	size_t out_len, out_off;
	int *fds;		/* _getsocks: sent after the reply */
	unsigned int nfds, fds_sent;
	size_t req_len;
	char req[CTL_REQUEST_MAX];	/* NUL-terminated */
};

enum q_state {
	Q_POST,			/* not asked yet (its lock was busy) */
	Q_WAIT,			/* asked */
	Q_DONE,			/* answered, or gone */
};

/* One "show conns" at a time, over every worker of every generation. */
struct conns_query {
	struct ctl_client *c;	/* who asked; NULL when none runs */
	struct worker **w;
	enum q_state *st;
	char **dumps;
	unsigned int n;
	uint64_t deadline;
};

struct control {
	struct runtime *rt;
	int lfd[CTL_NENDPOINTS];
	uint64_t paused_until[CTL_NENDPOINTS];
	/* the admin socket we made: removed at exit if it is still ours */
	char admin_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t admin_dev;
	ino_t admin_ino;
	uid_t admin_uid;	/* its owner: who may take the listeners */
	struct ctl_client clients[CTL_NENDPOINTS][CTL_CLIENTS_MAX];
	struct conns_query q;
	/* what each entry of the last poll set stands for */
	struct ctl_client *polled[CTL_POLL_MAX];	/* NULL: a listener */
	enum ctl_endpoint polled_ep[CTL_POLL_MAX];
};

static const char *const ep_names[CTL_NENDPOINTS] = {
	[CTL_ADMIN] = "admin",
	[CTL_METRICS] = "metrics",
};

/* ---- listening ---------------------------------------------------- */

/*
 * The admin socket gets its mode from bind() itself, under umask 0177:
 * 0600 from the first instant, owned by the user ringlb starts as, and
 * no path operation follows the bind. chmod() or chown() by path would
 * follow a symlink swapped in by anyone who can write the directory.
 * It is not handed to `user =` either: the daemon keeps its listening
 * descriptor when it drops privileges, so it never needs to own the
 * file, and a socket owned by `nobody` would be every nobody's.
 *
 * What is in the way is removed only when it is a socket (a previous
 * run's); anything else, a symlink included, is refused. unlink() and
 * bind() never follow a final symlink: one planted after the check
 * makes bind() fail with EADDRINUSE, it is never written through.
 */
static int admin_listen(struct control *ctl, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int fd, err;

	if (!lstat(path, &st)) {
		if (!S_ISSOCK(st.st_mode)) {
			pr_err("admin socket %s: exists and is not a socket (%s): not replacing it",
			       path, S_ISLNK(st.st_mode) ? "a symlink" :
			       S_ISDIR(st.st_mode) ? "a directory" : "a file");
			return -EEXIST;
		}
		if (unlink(path) && errno != ENOENT)
			return -errno;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	/* no thread runs yet: the process-wide umask is ours alone */
	old = umask(0177);
	err = bind(fd, (struct sockaddr *)&sun, sizeof(sun)) ? -errno : 0;
	umask(old);
	if (!err && listen(fd, 64))
		err = -errno;
	if (err) {
		close(fd);
		return err;
	}
	if (!lstat(path, &st)) {
		ctl->admin_dev = st.st_dev;
		ctl->admin_ino = st.st_ino;
		ctl->admin_uid = st.st_uid;
	}
	snprintf(ctl->admin_path, sizeof(ctl->admin_path), "%s", path);
	return fd;
}

/*
 * ringlb makes the socket, never its directory: /run/ringlb/ comes from
 * the unit's RuntimeDirectory=, or from whoever runs ringlb by hand. A
 * missing one says so rather than a bare "No such file or directory".
 */
static void admin_listen_error(const char *path, int err)
{
	const char *slash = strrchr(path, '/');
	int dirlen = slash && slash != path ? (int)(slash - path) : 1;
	struct stat st;
	char dir[PATH_MAX];

	if (err == -EEXIST)
		return;		/* admin_listen() said why */
	snprintf(dir, sizeof(dir), "%.*s", dirlen, slash ? path : ".");
	if (err == -ENOENT && stat(dir, &st))
		pr_err("admin socket %s: directory %s does not exist: create it first (mkdir -m 0750 %s; the packaged unit's RuntimeDirectory= makes /run/ringlb)",
		       path, dir, dir);
	else
		pr_err("admin socket %s: %s", path, strerror(-err));
}

static void admin_unlink(struct control *ctl)
{
	struct stat st;

	if (!ctl->admin_path[0] || lstat(ctl->admin_path, &st))
		return;
	/* a socket made by someone else since (a new ringlb) stays */
	if (S_ISSOCK(st.st_mode) && st.st_dev == ctl->admin_dev &&
	    st.st_ino == ctl->admin_ino)
		unlink(ctl->admin_path);
}

static int metrics_listen(const struct addr *a)
{
	int fd, one = 1;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) ||
	    listen(fd, 64)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

struct control *control_open(struct runtime *rt, const struct config *cfg,
			     int metrics_fd)
{
	struct control *ctl = calloc(1, sizeof(*ctl));
	char buf[ADDR_STRLEN];
	unsigned int e, i;
	int fd;

	if (!ctl) {
		pr_err("control plane: %s", strerror(ENOMEM));
		if (metrics_fd >= 0)
			close(metrics_fd);
		return NULL;
	}
	ctl->rt = rt;
	for (e = 0; e < CTL_NENDPOINTS; e++) {
		ctl->lfd[e] = -1;
		for (i = 0; i < CTL_CLIENTS_MAX; i++)
			ctl->clients[e][i].fd = -1;
	}
	if (cfg->admin_path[0]) {
		fd = admin_listen(ctl, cfg->admin_path);
		if (fd < 0) {
			admin_listen_error(cfg->admin_path, fd);
			goto out_close;
		}
		ctl->lfd[CTL_ADMIN] = fd;
	}
	if (cfg->metrics_on && metrics_fd >= 0) {
		ctl->lfd[CTL_METRICS] = metrics_fd;
		metrics_fd = -1;
	} else if (cfg->metrics_on) {
		fd = metrics_listen(&cfg->metrics);
		if (fd < 0) {
			pr_err("metrics on %s: %s",
			       addr_format((struct sockaddr *)&cfg->metrics.ss,
					   cfg->metrics.len, buf, sizeof(buf)),
			       strerror(-fd));
			goto out_close;
		}
		ctl->lfd[CTL_METRICS] = fd;
	}
	return ctl;

out_close:
	if (metrics_fd >= 0)
		close(metrics_fd);
	control_close(ctl);
	return NULL;
}

/* ---- clients ------------------------------------------------------ */

static void query_abort(struct control *ctl);

/*
 * Unread input makes close() send a reset on TCP, which can overtake
 * the reply still on its way: swallow what is there first.
 */
static void discard_input(int fd)
{
	char scratch[4096];
	int i;

	for (i = 0; i < 16; i++)
		if (recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT) <= 0)
			break;
}

static void client_close(struct control *ctl, struct ctl_client *c)
{
	unsigned int i;

	if (ctl->q.c == c)
		query_abort(ctl);
	discard_input(c->fd);
	close(c->fd);
	free(c->out);
	c->out = NULL;
	for (i = 0; i < c->nfds; i++)
		close(c->fds[i]);
	free(c->fds);
	c->fds = NULL;
	c->nfds = c->fds_sent = 0;
	c->fd = -1;
	c->state = CC_FREE;
}

/* Over the cap: a short answer, best effort, and goodbye. */
static void client_refuse(struct control *ctl, enum ctl_endpoint ep, int fd)
{
	static const char admin_msg[] =
		"error: too many admin clients at once: try again\n";
	static const char metrics_msg[] =
		"HTTP/1.0 503 Service Unavailable\r\n"
		"Content-Type: text/plain\r\nContent-Length: 17\r\n"
		"Retry-After: 1\r\nConnection: close\r\n\r\n"
		"too many clients\n";
	const char *msg = ep == CTL_ADMIN ? admin_msg : metrics_msg;
	size_t len = ep == CTL_ADMIN ? sizeof(admin_msg) - 1 :
				       sizeof(metrics_msg) - 1;

	ctl->rt->ctl_refused[ep]++;
	if (send(fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		pr_debug("%s client refused: %s", ep_names[ep],
			 strerror(errno));
	discard_input(fd);
	close(fd);
}

static struct ctl_client *client_slot(struct control *ctl,
				      enum ctl_endpoint ep)
{
	unsigned int i;

	for (i = 0; i < CTL_CLIENTS_MAX; i++)
		if (ctl->clients[ep][i].state == CC_FREE)
			return &ctl->clients[ep][i];
	return NULL;
}

static void accept_clients(struct control *ctl, enum ctl_endpoint ep)
{
	struct ctl_client *c;
	int i, fd;

	for (i = 0; i < ACCEPT_BATCH; i++) {
		fd = accept4(ctl->lfd[ep], NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/* readable till a client leaves: no busy loop */
				pr_warn("%s: accept: %s: pausing %d ms",
					ep_names[ep], strerror(errno),
					ACCEPT_PAUSE_MS);
				ctl->paused_until[ep] = clock_ms() +
							ACCEPT_PAUSE_MS;
			}
			return;
		}
		c = client_slot(ctl, ep);
		if (!c) {
			client_refuse(ctl, ep, fd);
			continue;
		}
		c->fd = fd;
		c->ep = ep;
		c->state = CC_READ;
		c->deadline = clock_ms() + CTL_DEADLINE_MS;
		c->req_len = 0;
		c->req[0] = '\0';
		c->out = NULL;
		c->out_len = c->out_off = 0;
		c->fds = NULL;
		c->nfds = c->fds_sent = 0;
	}
}

static void client_write(struct control *ctl, struct ctl_client *c)
{
	ssize_t n;

	while (c->out_off < c->out_len) {
		n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;		/* the rest when it reads */
		if (n <= 0)
			break;		/* gone: nothing more to do */
		c->out_off += n;
	}
	/* _getsocks: the sockets follow the text that describes them */
	if (c->out_off == c->out_len && c->fds_sent < c->nfds &&
	    handover_send_fds(c->fd, c->fds, c->nfds, &c->fds_sent) == -EAGAIN)
		return;
	client_close(ctl, c);
}

/* The reply is made: send what fits now, the rest as the client reads. */
static void reply_ready(struct control *ctl, struct ctl_client *c)
{
	c->state = CC_WRITE;
	c->out_off = 0;
	client_write(ctl, c);
}

/* ---- requests ----------------------------------------------------- */

/*
 * The listening sockets are worth more than anything else the admin
 * socket gives: whoever holds them can accept our clients. Only root
 * and the socket's owner get them, even where an administrator opened
 * the socket's mode to others for monitoring.
 */
static bool peer_may_take(struct control *ctl, struct ctl_client *c,
			  const char *cmd, FILE *out)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len)) {
		fprintf(out, "error: %s: %s\n", cmd, strerror(errno));
		return false;
	}
	if (cred.uid == 0 || cred.uid == ctl->admin_uid)
		return true;
	pr_warn("admin: %s refused to uid %u (pid %d): only root or uid %u",
		cmd, (unsigned int)cred.uid, (int)cred.pid,
		(unsigned int)ctl->admin_uid);
	fprintf(out, "error: %s: permission denied: only root or the admin socket's owner (uid %u)\n",
		cmd, (unsigned int)ctl->admin_uid);
	return false;
}

/* The handover commands (handover.h); false when @line is none. */
static bool handover_request(struct control *ctl, struct ctl_client *c,
			     const char *line, FILE *f)
{
	if (!strcmp(line, "_getsocks")) {
		if (peer_may_take(ctl, c, line, f))
			handover_getsocks(ctl->rt, ctl->lfd[CTL_METRICS], f,
					  &c->fds, &c->nfds);
		return true;
	}
	if (strcmp(line, "_retire"))
		return false;
	if (peer_may_take(ctl, c, line, f)) {
		/* the main loop drains; the answer waits for its accepts */
		ctl->rt->retire_requested = true;
		c->state = CC_RETIRE;
	}
	return true;
}

/* _retire: answer once no worker waits on a listening socket */
static void retire_step(struct control *ctl, struct ctl_client *c)
{
	if (ctl->rt->retire_requested || !handover_accepts_gone(ctl->rt))
		return;
	c->out = strdup("ok: no accept left\n");
	if (!c->out) {
		client_close(ctl, c);
		return;
	}
	c->out_len = strlen(c->out);
	reply_ready(ctl, c);
}

static void admin_request(struct control *ctl, struct ctl_client *c,
			  bool too_long)
{
	char *nl = memchr(c->req, '\n', c->req_len);
	size_t len = nl ? (size_t)(nl - c->req) : c->req_len;
	FILE *f = open_memstream(&c->out, &c->out_len);
	int ret = 0;

	if (!f) {
		client_close(ctl, c);
		return;
	}
	/* the command is the first line; anything after it is ignored */
	c->req[len] = '\0';
	if (too_long)
		fprintf(f, "error: command longer than %d bytes\n",
			CTL_REQUEST_MAX - 1);
	else if (!c->req_len)
		fprintf(f, "error: empty command\n");
	else if (strlen(c->req) != len)
		fprintf(f, "error: NUL byte in command\n");
	else if (!handover_request(ctl, c, c->req, f))
		ret = admin_command(ctl->rt, c->req, f);
	fclose(f);
	if (c->state == CC_RETIRE) {
		free(c->out);
		c->out = NULL;
		c->out_len = 0;
		return;
	}
	if (ret) {
		/* the reply is written when the workers answered */
		free(c->out);
		c->out = NULL;
		c->out_len = 0;
		c->json = ret == ADMIN_CONNS_JSON;
		c->state = CC_CONNS;
		return;
	}
	reply_ready(ctl, c);
}

static bool metrics_path_ok(const char *req)
{
	return !strncmp(req, "GET /metrics ", 13) ||
	       !strncmp(req, "GET /metrics\r", 13) ||
	       !strncmp(req, "GET /metrics\n", 13);
}

static bool health_path_ok(const char *req)
{
	return !strncmp(req, "GET /health ", 12) ||
	       !strncmp(req, "GET /health\r", 12) ||
	       !strncmp(req, "GET /health\n", 12);
}

/*
 * GET /health: 200 while this node should receive new connections,
 * 503 with the reason otherwise; what a routing daemon's check gates
 * the node's announcement on (Documentation/deploy.rst).
 */
static void health_reply(struct control *ctl, struct ctl_client *c)
{
	char buf[128];
	const char *no = health_refusal(ctl->rt, buf, sizeof(buf));
	FILE *f = open_memstream(&c->out, &c->out_len);

	if (!f)
		return;
	fprintf(f, "HTTP/1.0 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
		no ? "503 Service Unavailable" : "200 OK",
		strlen(no ? no : "serving") + 1, no ? no : "serving");
	fclose(f);
}

static void metrics_request(struct control *ctl, struct ctl_client *c,
			    bool too_long)
{
	static const char not_found[] =
		"HTTP/1.0 404 Not Found\r\nContent-Length: 10\r\n"
		"Connection: close\r\n\r\nnot found\n";
	static const char too_large[] =
		"HTTP/1.0 431 Request Header Fields Too Large\r\n"
		"Content-Length: 18\r\nConnection: close\r\n\r\n"
		"request too large\n";
	char *body = NULL;
	size_t blen = 0;
	FILE *f;

	if (!too_long && health_path_ok(c->req)) {
		health_reply(ctl, c);
		goto out_write;
	}
	if (too_long || !metrics_path_ok(c->req)) {
		c->out = strdup(too_long ? too_large : not_found);
		c->out_len = c->out ? strlen(c->out) : 0;
		goto out_write;
	}
	f = open_memstream(&body, &blen);
	if (!f)
		goto out_write;
	metrics_write(ctl->rt, f);
	fclose(f);
	f = open_memstream(&c->out, &c->out_len);
	if (f) {
		fprintf(f, "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
			blen);
		fwrite(body, 1, blen, f);
		fclose(f);
	}
	free(body);
out_write:
	if (!c->out) {
		client_close(ctl, c);
		return;
	}
	reply_ready(ctl, c);
}

/* A request is whole at its first newline (admin) or blank line (HTTP). */
static bool request_whole(const struct ctl_client *c)
{
	if (c->ep == CTL_ADMIN)
		return memchr(c->req, '\n', c->req_len);
	return strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n");
}

static void client_read(struct control *ctl, struct ctl_client *c)
{
	size_t room = sizeof(c->req) - 1;
	bool eof = false;
	ssize_t n;

	while (c->req_len < room) {
		n = recv(c->fd, c->req + c->req_len, room - c->req_len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			client_close(ctl, c);
			return;
		}
		if (!n) {
			/* the EOF ends a request without its newline */
			eof = true;
			break;
		}
		c->req_len += n;
		c->req[c->req_len] = '\0';
		if (request_whole(c))
			break;
	}
	if (!eof && !request_whole(c) && c->req_len < room)
		return;		/* more to come, within the deadline */
	if (c->ep == CTL_ADMIN)
		admin_request(ctl, c, !request_whole(c) && !eof);
	else
		metrics_request(ctl, c, !request_whole(c) && !eof);
}

/* ---- show conns: asking the workers without waiting for them ------ */

static void query_free(struct conns_query *q)
{
	unsigned int i;

	for (i = 0; i < q->n; i++)
		free(q->dumps[i]);
	free(q->dumps);
	free(q->st);
	free(q->w);
	memset(q, 0, sizeof(*q));
}

static void query_abort(struct control *ctl)
{
	/* answers still on their way are freed by the next request */
	query_free(&ctl->q);
}

static void query_start(struct control *ctl, struct ctl_client *c)
{
	struct conns_query *q = &ctl->q;
	struct generation *g;
	unsigned int n = 0, i;

	for (g = ctl->rt->groups; g; g = g->next)
		n += g->nworkers;
	q->w = calloc(n ? n : 1, sizeof(*q->w));
	q->st = calloc(n ? n : 1, sizeof(*q->st));
	q->dumps = calloc(n ? n : 1, sizeof(*q->dumps));
	if (!q->w || !q->st || !q->dumps) {
		query_free(q);
		client_close(ctl, c);
		return;
	}
	for (g = ctl->rt->groups; g; g = g->next)
		for (i = 0; i < g->nworkers; i++)
			q->w[q->n++] = &g->workers[i];
	q->c = c;
	q->deadline = clock_ms() + CONNS_WAIT_MS;
}

/* Post what is not posted, collect what is answered; reply when done. */
static void query_step(struct control *ctl)
{
	struct conns_query *q = &ctl->q;
	struct ctl_client *c = q->c;
	unsigned int i, left = 0;
	size_t len;
	FILE *f;
	int ret;

	for (i = 0; i < q->n; i++) {
		if (q->st[i] == Q_POST) {
			ret = worker_request_post(q->w[i], WREQ_CONNS);
			if (!ret)
				q->st[i] = Q_WAIT;
			else if (ret == -ESRCH)
				q->st[i] = Q_DONE;
		}
		if (q->st[i] == Q_WAIT) {
			ret = worker_request_poll(q->w[i], &q->dumps[i], &len);
			if (ret != -EAGAIN)
				q->st[i] = Q_DONE;
		}
		left += q->st[i] != Q_DONE;
	}
	if (left && clock_ms() < q->deadline)
		return;
	if (left)
		pr_warn("show conns: %u worker%s did not answer within %d ms",
			left, left == 1 ? "" : "s", CONNS_WAIT_MS);
	f = open_memstream(&c->out, &c->out_len);
	if (f) {
		conns_show(f, c->json, q->dumps, q->n);
		fclose(f);
	}
	query_free(q);
	if (!f) {
		client_close(ctl, c);
		return;
	}
	reply_ready(ctl, c);
}

/* The next "show conns" waiting, the one with the nearest deadline. */
static void query_next(struct control *ctl)
{
	struct ctl_client *c, *best = NULL;
	unsigned int i;

	if (ctl->q.c)
		return;
	for (i = 0; i < CTL_CLIENTS_MAX; i++) {
		c = &ctl->clients[CTL_ADMIN][i];
		if (c->state == CC_CONNS &&
		    (!best || c->deadline < best->deadline))
			best = c;
	}
	if (best)
		query_start(ctl, best);
}

bool control_busy(const struct control *ctl)
{
	return ctl && ctl->q.c;
}

/* ---- the loop's side ----------------------------------------------- */

unsigned int control_poll_fds(struct control *ctl, struct pollfd *pfd,
			      int *timeout_ms)
{
	uint64_t now = clock_ms(), next = UINT64_MAX;
	unsigned int e, i, n = 0;

	if (!ctl)
		return 0;
	for (e = 0; e < CTL_NENDPOINTS; e++) {
		if (ctl->lfd[e] < 0)
			continue;
		if (now < ctl->paused_until[e]) {
			if (ctl->paused_until[e] < next)
				next = ctl->paused_until[e];
			continue;
		}
		pfd[n] = (struct pollfd){ .fd = ctl->lfd[e], .events = POLLIN };
		ctl->polled[n] = NULL;
		ctl->polled_ep[n++] = e;
	}
	for (e = 0; e < CTL_NENDPOINTS; e++) {
		for (i = 0; i < CTL_CLIENTS_MAX; i++) {
			struct ctl_client *c = &ctl->clients[e][i];

			if (c->state == CC_FREE)
				continue;
			if (c->deadline < next)
				next = c->deadline;
			if (c->state == CC_RETIRE && now + CONNS_POLL_MS < next)
				next = now + CONNS_POLL_MS;
			if (c->state == CC_CONNS || c->state == CC_RETIRE)
				continue;
			pfd[n] = (struct pollfd){
				.fd = c->fd,
				.events = c->state == CC_READ ? POLLIN :
								POLLOUT,
			};
			ctl->polled[n] = c;
			ctl->polled_ep[n++] = e;
		}
	}
	if (ctl->q.c && now + CONNS_POLL_MS < next)
		next = now + CONNS_POLL_MS;
	if (next != UINT64_MAX) {
		int ms = next > now ? (int)(next - now) : 0;

		if (*timeout_ms < 0 || ms < *timeout_ms)
			*timeout_ms = ms;
	}
	return n;
}

void control_serve(struct control *ctl, const struct pollfd *pfd,
		   unsigned int n)
{
	uint64_t now;
	unsigned int e, i;

	if (!ctl)
		return;
	for (i = 0; i < n; i++) {
		struct ctl_client *c = ctl->polled[i];

		if (!pfd[i].revents)
			continue;
		if (!c) {
			accept_clients(ctl, ctl->polled_ep[i]);
			continue;
		}
		/* a slot freed and reused since the poll set was made */
		if (c->fd != pfd[i].fd)
			continue;
		if (c->state == CC_READ)
			client_read(ctl, c);
		else if (c->state == CC_WRITE)
			client_write(ctl, c);
	}
	if (ctl->q.c)
		query_step(ctl);
	for (i = 0; i < CTL_CLIENTS_MAX; i++)
		if (ctl->clients[CTL_ADMIN][i].state == CC_RETIRE)
			retire_step(ctl, &ctl->clients[CTL_ADMIN][i]);
	now = clock_ms();
	for (e = 0; e < CTL_NENDPOINTS; e++) {
		for (i = 0; i < CTL_CLIENTS_MAX; i++) {
			struct ctl_client *c = &ctl->clients[e][i];

			if (c->state == CC_FREE || now < c->deadline)
				continue;
			pr_debug("%s client: no whole exchange within %d ms: closed",
				 ep_names[e], CTL_DEADLINE_MS);
			ctl->rt->ctl_timeouts[e]++;
			client_close(ctl, c);
		}
	}
	query_next(ctl);
}

void control_close(struct control *ctl)
{
	unsigned int e, i;

	if (!ctl)
		return;
	for (e = 0; e < CTL_NENDPOINTS; e++) {
		for (i = 0; i < CTL_CLIENTS_MAX; i++)
			if (ctl->clients[e][i].state != CC_FREE)
				client_close(ctl, &ctl->clients[e][i]);
		if (ctl->lfd[e] >= 0)
			close(ctl->lfd[e]);
	}
	query_free(&ctl->q);
	admin_unlink(ctl);
	free(ctl);
}

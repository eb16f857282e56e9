// SPDX-License-Identifier: MIT
/*
 * ringlb end to end, through the real daemon and real local servers:
 * configuration checking, every balancing algorithm, active health
 * checks and backups, PROXY protocol v1 and v2 as a strict server sees
 * them, the admin socket and ringlbctl, the Prometheus endpoint, reload
 * on SIGHUP, and dropping privileges with --user.
 *
 * The servers here say who they are: each sends its index as the first
 * byte of every connection, so a client knows where the daemon sent it.
 * Each can close and reopen its listener on the same port, which is
 * what a health check sees of a server going away and coming back.
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <glob.h>
#include <libgen.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sysexits.h>
#include <time.h>

#include "common.h"

#define NSRV		3
#define ID_MAXC		256
#define PP_MAXREC	128
#define SNI_BUF		4096	/* a ClientHello from openssl, and more */

/* ---- servers that say who they are ----------------------------------- */

enum { PP_NONE, PP_V1, PP_V2 };

/* what a PROXY-protocol server made of one header */
struct pp_rec {
	bool ok;
	char why[96];
	int family;
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	uint16_t sport, dport;
};

struct idconn {
	int fd;
	bool hdr_done;
	size_t hlen;
	uint8_t hdr[256];
};

struct idsrv {
	int idx;
	int pp;
	uint16_t port;
	int lfd;
	bool running;
	pthread_t thr;
	atomic_bool stop;
	atomic_bool want_listen;
	atomic_bool listening;
	/* a connection that sends a byte gets a reset (SO_LINGER 0) */
	atomic_bool reset;
	/* a connection is reset as it is accepted, before a byte either way */
	atomic_bool reset_at_accept;
	/* what a connection sends after its header comes back */
	atomic_bool echo;
	atomic_int accepted;
	atomic_int active;

	pthread_mutex_t lock;
	struct pp_rec recs[PP_MAXREC];
	int nrecs;
	struct idconn c[ID_MAXC];
	int nc;
};

static int idsrv_listen(uint16_t port, uint16_t *got)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	loopback_sockaddr(AF_INET, port, &ss, &sl);
	if (bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, 256)) {
		int err = -errno;

		close(fd);
		return err;
	}
	if (got)
		*got = local_port(fd);
	return fd;
}

static bool pp_port(const char *s, size_t n, uint16_t *out)
{
	unsigned long v = 0;
	size_t i;

	if (!n || n > 5 || (n > 1 && s[0] == '0'))
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v > 65535)
		return false;
	*out = (uint16_t)v;
	return true;
}

/* an address as inet_pton takes it, and written the way inet_ntop would */
static bool pp_addr(int family, const char *s, size_t n, char *out)
{
	unsigned char a[16];
	char tmp[INET6_ADDRSTRLEN];

	if (!n || n >= sizeof(tmp))
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (inet_pton(family, tmp, a) != 1 ||
	    !inet_ntop(family, a, out, INET6_ADDRSTRLEN))
		return false;
	return !strcmp(out, tmp);
}

/*
 * v1, strictly: "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n", single
 * spaces, at most 107 bytes. 1 complete, 0 want more, -1 malformed.
 */
static int pp_parse_v1(const uint8_t *b, size_t len, struct pp_rec *r)
{
	const char *s = (const char *)b, *f[4], *end;
	size_t fl[4];
	const uint8_t *crlf;
	int i;

	crlf = memmem(b, len, "\r\n", 2);
	if (!crlf) {
		if (len >= 107 || (len >= 6 && memcmp(b, "PROXY ", 6)))
			goto bad;
		return 0;
	}
	end = (const char *)crlf;
	if ((size_t)(end - s) + 2 > 107 || (size_t)(end - s) + 2 != len) {
		snprintf(r->why, sizeof(r->why), "header of %zu bytes, %zu read",
			 (size_t)(end - s) + 2, len);
		return -1;
	}
	if (end - s < 11 || memcmp(s, "PROXY TCP", 9) || s[10] != ' ')
		goto bad;
	if (s[9] == '4')
		r->family = AF_INET;
	else if (s[9] == '6')
		r->family = AF_INET6;
	else
		goto bad;
	s += 11;
	for (i = 0; i < 4; i++) {
		const char *sp = memchr(s, ' ', end - s);

		if (i == 3)
			sp = memchr(s, ' ', end - s) ? NULL : end;
		if (!sp)
			goto bad;
		f[i] = s;
		fl[i] = sp - s;
		s = sp + (i < 3);
	}
	if (!pp_addr(r->family, f[0], fl[0], r->src) ||
	    !pp_addr(r->family, f[1], fl[1], r->dst) ||
	    !pp_port(f[2], fl[2], &r->sport) ||
	    !pp_port(f[3], fl[3], &r->dport))
		goto bad;
	r->ok = true;
	return 1;
bad:
	snprintf(r->why, sizeof(r->why), "malformed v1 header: %.*s",
		 (int)(len < 60 ? len : 60), (const char *)b);
	return -1;
}

static const uint8_t v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

static int pp_parse_v2(const uint8_t *b, size_t len, struct pp_rec *r)
{
	size_t need;

	if (len < 16)
		return memcmp(b, v2_sig, len < 12 ? len : 12) ? -1 : 0;
	if (memcmp(b, v2_sig, 12)) {
		snprintf(r->why, sizeof(r->why), "bad v2 signature");
		return -1;
	}
	if (b[12] != 0x21) {
		snprintf(r->why, sizeof(r->why), "v2 version/command 0x%02x",
			 b[12]);
		return -1;
	}
	need = 16 + ((size_t)b[14] << 8 | b[15]);
	if (b[13] == 0x11 && need != 16 + 12) {
		snprintf(r->why, sizeof(r->why), "v2 TCP4 length %zu", need - 16);
		return -1;
	}
	if (b[13] == 0x21 && need != 16 + 36) {
		snprintf(r->why, sizeof(r->why), "v2 TCP6 length %zu", need - 16);
		return -1;
	}
	if (b[13] != 0x11 && b[13] != 0x21) {
		snprintf(r->why, sizeof(r->why), "v2 family 0x%02x", b[13]);
		return -1;
	}
	if (len < need)
		return 0;
	if (len > need) {
		snprintf(r->why, sizeof(r->why), "%zu bytes past the header",
			 len - need);
		return -1;
	}
	if (b[13] == 0x11) {
		r->family = AF_INET;
		inet_ntop(AF_INET, b + 16, r->src, sizeof(r->src));
		inet_ntop(AF_INET, b + 20, r->dst, sizeof(r->dst));
		r->sport = b[24] << 8 | b[25];
		r->dport = b[26] << 8 | b[27];
	} else {
		r->family = AF_INET6;
		inet_ntop(AF_INET6, b + 16, r->src, sizeof(r->src));
		inet_ntop(AF_INET6, b + 32, r->dst, sizeof(r->dst));
		r->sport = b[48] << 8 | b[49];
		r->dport = b[50] << 8 | b[51];
	}
	r->ok = true;
	return 1;
}

static void idsrv_drop(struct idsrv *s, int i)
{
	close(s->c[i].fd);
	s->c[i] = s->c[--s->nc];
	atomic_fetch_sub(&s->active, 1);
}

/* the header is in (or broken): record it, answer with our index */
static void idsrv_header(struct idsrv *s, struct idconn *c, int ret,
			 struct pp_rec *r)
{
	uint8_t id = ret > 0 ? (uint8_t)s->idx : 0xee;

	pthread_mutex_lock(&s->lock);
	if (s->nrecs < PP_MAXREC)
		s->recs[s->nrecs++] = *r;
	pthread_mutex_unlock(&s->lock);
	c->hdr_done = true;
	if (send(c->fd, &id, 1, MSG_NOSIGNAL) != 1)
		return;
}

static void idsrv_read(struct idsrv *s, int i)
{
	struct idconn *c = &s->c[i];
	uint8_t buf[4096];
	struct pp_rec r;
	ssize_t n;
	int ret;

	if (!c->hdr_done) {
		n = read(c->fd, c->hdr + c->hlen, sizeof(c->hdr) - c->hlen);
		if (n <= 0) {
			if (n < 0 && errno == EAGAIN)
				return;
			idsrv_drop(s, i);
			return;
		}
		c->hlen += n;
		memset(&r, 0, sizeof(r));
		ret = s->pp == PP_V1 ? pp_parse_v1(c->hdr, c->hlen, &r) :
				       pp_parse_v2(c->hdr, c->hlen, &r);
		if (ret)
			idsrv_header(s, c, ret, &r);
		return;
	}
	n = read(c->fd, buf, sizeof(buf));
	if (n > 0 && atomic_load(&s->reset)) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		idsrv_drop(s, i);
		return;
	}
	if (n > 0 && atomic_load(&s->echo) &&
	    send(c->fd, buf, n, MSG_NOSIGNAL) != n) {
		idsrv_drop(s, i);
		return;
	}
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		idsrv_drop(s, i);
}

static void *idsrv_thread(void *arg)
{
	struct idsrv *s = arg;
	struct pollfd pfd[ID_MAXC + 1];
	uint8_t id = (uint8_t)s->idx;
	int i, n, fd, np;

	while (!atomic_load(&s->stop)) {
		bool want = atomic_load(&s->want_listen);

		if (want && s->lfd < 0) {
			s->lfd = idsrv_listen(s->port, NULL);
			if (s->lfd >= 0)
				atomic_store(&s->listening, true);
		} else if (!want && s->lfd >= 0) {
			close(s->lfd);
			s->lfd = -1;
			atomic_store(&s->listening, false);
		}
		np = 0;
		for (i = 0; i < s->nc; i++)
			pfd[np++] = (struct pollfd){ .fd = s->c[i].fd,
						     .events = POLLIN };
		if (s->lfd >= 0)
			pfd[np++] = (struct pollfd){ .fd = s->lfd,
						     .events = POLLIN };
		n = poll(pfd, np, 10);
		if (n <= 0)
			continue;
		/* connections first: their indices are pfd's */
		for (i = s->nc - 1; i >= 0; i--)
			if (pfd[i].revents)
				idsrv_read(s, i);
		if (s->lfd < 0 || !pfd[np - 1].revents)
			continue;
		while (s->nc < ID_MAXC) {
			fd = accept4(s->lfd, NULL, NULL,
				     SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (fd < 0)
				break;
			atomic_fetch_add(&s->accepted, 1);
			if (atomic_load(&s->reset_at_accept)) {
				struct linger lg = { .l_onoff = 1 };

				setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg,
					   sizeof(lg));
				close(fd);
				continue;
			}
			atomic_fetch_add(&s->active, 1);
			memset(&s->c[s->nc], 0, sizeof(s->c[0]));
			s->c[s->nc].fd = fd;
			if (s->pp == PP_NONE) {
				s->c[s->nc].hdr_done = true;
				if (send(fd, &id, 1, MSG_NOSIGNAL) != 1) {
					close(fd);
					atomic_fetch_sub(&s->active, 1);
					continue;
				}
			}
			s->nc++;
		}
	}
	while (s->nc)
		idsrv_drop(s, 0);
	if (s->lfd >= 0)
		close(s->lfd);
	return NULL;
}

/* @ip:@port (NULL, 0: loopback, any port) */
static int idsrv_start_at(struct idsrv *s, int idx, int pp, const char *ip,
			  uint16_t port)
{
	int ret;

	memset(s, 0, sizeof(*s));
	s->idx = idx;
	s->pp = pp;
	pthread_mutex_init(&s->lock, NULL);
	if (ip) {
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_port = htons(port) };
		int one = 1;

		inet_pton(AF_INET, ip, &a.sin_addr);
		s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
				SOCK_CLOEXEC, 0);
		if (s->lfd < 0)
			return -errno;
		setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) ||
		    listen(s->lfd, 256)) {
			ret = -errno;
			close(s->lfd);
			return ret;
		}
		s->port = port;
	} else {
		s->lfd = idsrv_listen(0, &s->port);
	}
	if (s->lfd < 0)
		return s->lfd;
	atomic_store(&s->want_listen, true);
	atomic_store(&s->listening, true);
	ret = pthread_create(&s->thr, NULL, idsrv_thread, s);
	if (ret) {
		close(s->lfd);
		return -ret;
	}
	s->running = true;
	return 0;
}

static int idsrv_start(struct idsrv *s, int idx, int pp)
{
	return idsrv_start_at(s, idx, pp, NULL, 0);
}

static void idsrv_stop(struct idsrv *s)
{
	if (!s->running)
		return;
	atomic_store(&s->stop, true);
	pthread_join(s->thr, NULL);
	s->running = false;
}

/* close or reopen the listener on the same port; wait until it is so */
static int idsrv_set_listen(struct idsrv *s, bool on)
{
	uint64_t end = now_ms() + 2000;

	atomic_store(&s->want_listen, on);
	while (atomic_load(&s->listening) != on) {
		if (now_ms() > end)
			return -ETIMEDOUT;
		sleep_ms(2);
	}
	return 0;
}

static bool idsrv_find(struct idsrv *s, uint16_t sport, struct pp_rec *out)
{
	bool found = false;
	int i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->nrecs; i++)
		if (s->recs[i].ok && s->recs[i].sport == sport) {
			*out = s->recs[i];
			found = true;
		}
	pthread_mutex_unlock(&s->lock);
	return found;
}

/* ---- clients ----------------------------------------------------------- */

/* connect to loopback:@port, from @src (an address of lo) when given */
static int connect_from(int family, uint16_t port, const char *src)
{
	struct sockaddr_storage ss;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl;
	int fd, ret;

	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (src) {
		inet_pton(AF_INET, src, &sa.sin_addr);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)))
			goto err;
	}
	loopback_sockaddr(family, port, &ss, &sl);
	if (connect(fd, (struct sockaddr *)&ss, sl))
		goto err;
	return fd;
err:
	ret = -errno;
	close(fd);
	return ret;
}

/* the first byte: which server this client reached */
static int read_id(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint8_t b;
	ssize_t n;

	if (poll(&p, 1, ms) != 1)
		return -ETIMEDOUT;
	n = recv(fd, &b, 1, 0);
	if (n == 1)
		return b;
	return n == 0 ? -EPIPE : -errno;
}

/* ---- running things ------------------------------------------------------- */

/* run argv, its stdout+stderr into @out; the exit status or -errno */
static int run_capture(const char *const *argv, char *out, size_t size)
{
	int p[2], status;
	size_t len = 0;
	ssize_t n;
	pid_t pid;

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
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	while ((n = read(p[0], out + len, size - 1 - len)) > 0) {
		len += n;
		if (len == size - 1)
			break;
	}
	out[len] = '\0';
	close(p[0]);
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

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

/*
 * One request on the admin socket, without ringlbctl: write @len bytes
 * while reading the answer (the daemon may answer and close before it
 * read everything). Returns the answer's length or -errno.
 */
static int admin_raw(const char *path, const char *req, size_t len,
		     char *out, size_t size)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	uint64_t end = now_ms() + 5000 + slack_ms();
	size_t off = 0, got = 0;
	struct pollfd p;
	bool wr = true;
	ssize_t n;
	int fd;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	/*
	 * The daemon may not have made its socket yet (it listens first):
	 * under QEMU's emulation that takes a while.
	 */
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return -errno;
		if (!connect(fd, (struct sockaddr *)&sun, sizeof(sun)))
			break;
		n = -errno;
		close(fd);
		if ((n != -ENOENT && n != -ECONNREFUSED) || now_ms() > end)
			return n;
		usleep(20 * 1000);
	}
	for (;;) {
		if (now_ms() > end) {
			close(fd);
			return -ETIMEDOUT;
		}
		p.fd = fd;
		p.events = POLLIN | (wr ? POLLOUT : 0);
		if (poll(&p, 1, 50) <= 0)
			continue;
		if (wr && (p.revents & (POLLOUT | POLLERR | POLLHUP))) {
			n = send(fd, req + off, len - off, MSG_NOSIGNAL);
			if (n > 0)
				off += n;
			else if (n < 0 && errno != EAGAIN)
				wr = false;	/* it stopped reading */
			if (off == len) {
				shutdown(fd, SHUT_WR);
				wr = false;
			}
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			n = recv(fd, out + got, size - 1 - got, 0);
			if (n > 0) {
				got += n;
				if (got == size - 1)
					break;
			} else if (n == 0 || errno != EAGAIN) {
				break;
			}
		}
	}
	out[got] = '\0';
	close(fd);
	return (int)got;
}

static int admin(const char *path, const char *cmd, char *out, size_t size)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "%s\n", cmd);

	return admin_raw(path, line, n, out, size);
}

/* ---- a small strict JSON checker ------------------------------------------ */

static const char *json_ws(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	return s;
}

static const char *json_value(const char *s, int depth);

static const char *json_string(const char *s)
{
	if (*s++ != '"')
		return NULL;
	while (*s != '"') {
		if ((unsigned char)*s < 0x20)
			return NULL;
		if (*s == '\\') {
			s++;
			if (*s == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!isxdigit((unsigned char)s[i]))
						return NULL;
				s += 4;
			} else if (!strchr("\"\\/bfnrt", *s) || !*s) {
				return NULL;
			}
		}
		s++;
	}
	return s + 1;
}

static const char *json_number(const char *s)
{
	const char *d;

	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (isdigit((unsigned char)*s))
			s++;
	else
		return NULL;
	if (*s == '.') {
		d = ++s;
		while (isdigit((unsigned char)*s))
			s++;
		if (s == d)
			return NULL;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		d = s;
		while (isdigit((unsigned char)*s))
			s++;
		if (s == d)
			return NULL;
	}
	return s;
}

static const char *json_value(const char *s, int depth)
{
	if (depth > 32)
		return NULL;
	s = json_ws(s);
	if (*s == '{' || *s == '[') {
		char close = *s == '{' ? '}' : ']';
		bool obj = *s == '{';

		s = json_ws(s + 1);
		if (*s == close)
			return s + 1;
		for (;;) {
			if (obj) {
				s = json_string(json_ws(s));
				if (!s)
					return NULL;
				s = json_ws(s);
				if (*s++ != ':')
					return NULL;
			}
			s = json_value(s, depth + 1);
			if (!s)
				return NULL;
			s = json_ws(s);
			if (*s == close)
				return s + 1;
			if (*s++ != ',')
				return NULL;
		}
	}
	if (*s == '"')
		return json_string(s);
	if (!strncmp(s, "true", 4))
		return s + 4;
	if (!strncmp(s, "false", 5))
		return s + 5;
	if (!strncmp(s, "null", 4))
		return s + 4;
	return json_number(s);
}

/* one JSON document and nothing else but white space */
static bool json_valid(const char *s)
{
	s = json_value(s, 0);
	return s && !*json_ws(s);
}

/* the number after "key": in the object that has "server":"NAME" */
static long json_server_field(const char *doc, const char *name,
			      const char *key)
{
	char pat[64], kp[64];
	const char *at, *end;

	snprintf(pat, sizeof(pat), "\"server\":\"%s\"", name);
	at = strstr(doc, pat);
	if (!at)
		return -1;
	end = strchr(at, '}');
	snprintf(kp, sizeof(kp), "\"%s\":", key);
	at = strstr(at, kp);
	if (!at || (end && at > end))
		return -1;
	return strtol(at + strlen(kp), NULL, 10);
}

static bool json_server_state(const char *doc, const char *name,
			      const char *state)
{
	char pat[64], sp[64];
	const char *at, *end;

	snprintf(pat, sizeof(pat), "\"server\":\"%s\"", name);
	at = strstr(doc, pat);
	if (!at)
		return false;
	end = strchr(at, '}');
	snprintf(sp, sizeof(sp), "\"state\":\"%s\"", state);
	at = strstr(at, sp);
	return at && (!end || at < end);
}

/* ---- the fixture -------------------------------------------------------------- */

static const char *const srv_name[] = { "a", "b", "c", "d" };

FIXTURE(lb) {
	struct rl_env e;
	struct idsrv srv[NSRV];
	int nsrv;
	char dir[80];
	char cfg[96];
	char sock[96];
	int held[64];
	int nheld;
	char netns[2][32];	/* named namespaces a test made */
	char buf[256 * 1024];
};

FIXTURE_VARIANT(lb) {
	struct rl_variant v;
};

FIXTURE_VARIANT_ADD(lb, uring) {
	.v = { .engine = "uring", .family = AF_INET },
};

FIXTURE_VARIANT_ADD(lb, epoll) {
	.v = { .engine = "epoll", .family = AF_INET },
};

FIXTURE_SETUP(lb)
{
	const char *tmp = getenv("TMPDIR");

	env_setup(_metadata, &self->e, &variant->v);
	/* short: the admin socket's path must fit in sun_path */
	ASSERT_GT((int)sizeof(self->dir),
		  snprintf(self->dir, sizeof(self->dir), "%s/ringlb-lb-XXXXXX",
			   tmp && *tmp ? tmp : "/tmp"));
	ASSERT_NE(NULL, mkdtemp(self->dir));
	ASSERT_GT((int)sizeof(self->cfg),
		  snprintf(self->cfg, sizeof(self->cfg), "%s/ringlb.ini",
			   self->dir));
	ASSERT_GT((int)sizeof(self->sock),
		  snprintf(self->sock, sizeof(self->sock), "%s/admin.sock",
			   self->dir));
}

FIXTURE_TEARDOWN(lb)
{
	int i;

	for (i = 0; i < self->nheld; i++)
		close(self->held[i]);
	self->nheld = 0;
	env_teardown(_metadata, &self->e);
	for (i = 0; i < 2; i++) {
		char cmd[160];

		if (!self->netns[i][0])
			continue;
		snprintf(cmd, sizeof(cmd),
			 "ip netns pids %s | xargs -r kill 2>/dev/null; ip netns del %s",
			 self->netns[i], self->netns[i]);
		if (system(cmd))
			TH_LOG("could not remove namespace %s", self->netns[i]);
	}
	for (i = 0; i < self->nsrv; i++)
		idsrv_stop(&self->srv[i]);
	unlink(self->cfg);
	unlink(self->sock);
	rmdir(self->dir);
}

static void lb_servers(struct __test_metadata *_metadata,
		       FIXTURE_DATA(lb) *self, int n, int pp)
{
	int i;

	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, idsrv_start(&self->srv[i], i, pp));
		self->nsrv++;
	}
}

static void lb_write_cfg(struct __test_metadata *_metadata,
			 FIXTURE_DATA(lb) *self, const char *text)
{
	char tmp[128];
	FILE *f;

	/* whole or not at all: a reload must never read half a file */
	snprintf(tmp, sizeof(tmp), "%s.new", self->cfg);
	f = fopen(tmp, "w");
	ASSERT_NE(NULL, f);
	ASSERT_EQ(strlen(text), fwrite(text, 1, strlen(text), f));
	ASSERT_EQ(0, fclose(f));
	ASSERT_EQ(0, rename(tmp, self->cfg));
}

/*
 * A config for the fixture's servers: [global] with @threads workers
 * and the admin socket, one listener on e->lport, backend "pool" with
 * @balance and a server per weight (weights[i] < 0: "backup"), and
 * @more appended to the backend section.
 */
static void lb_config(FIXTURE_DATA(lb) *self, char *buf, size_t size,
		      int threads, const char *balance, const int *weights,
		      int n, const char *more)
{
	size_t len;
	int i;

	len = snprintf(buf, size,
		       "# written by ringlb_lb\n"
		       "[global]\n"
		       "threads = %d\n"
		       "admin = %s\n"
		       "drain-timeout = 3000\n"
		       "\n"
		       "[listener web]\n"
		       "bind = 127.0.0.1:%u\n"
		       "backend = pool\n"
		       "\n"
		       "[backend pool]\n"
		       "balance = %s\n",
		       threads, self->sock, self->e.lport, balance);
	for (i = 0; i < n; i++)
		len += snprintf(buf + len, size - len,
				"server = %s 127.0.0.1:%u weight=%d%s\n",
				srv_name[i], self->srv[i].port,
				weights[i] < 0 ? 1 : weights[i],
				weights[i] < 0 ? " backup" : "");
	if (more)
		snprintf(buf + len, size - len, "%s", more);
}

/* start ringlb -c on self->cfg (written), plus @extra arguments */
static void lb_spawn(struct __test_metadata *_metadata,
		     FIXTURE_DATA(lb) *self, const char *const *extra)
{
	struct rl_env *e = &self->e;
	const char **a = e->argv;
	int n = 1, ret;

	a[n++] = "-c";
	a[n++] = self->cfg;
	a[n++] = "--engine";
	a[n++] = e->v.engine;
	while (extra && *extra && n < RL_MAX_ARGS - 1)
		a[n++] = *extra++;
	a[n] = NULL;
	ASSERT_EQ(0, rl_spawn(&e->rl, e->argv, false));
	e->rl_started = true;
	ret = rl_wait_ready(&e->rl, AF_INET, e->lport, 10000 + slack_ms() * 2,
			    &e->probes);
	if (ret)
		env_dump_log(_metadata, e);
	ASSERT_EQ(0, ret);
}

/*
 * lb_spawn() waits for e->lport; a worker binds its other listeners
 * right after, so a test that uses them waits for each as well (the
 * probe is a connect closed at once)
 */
static void lb_wait_port(struct __test_metadata *_metadata,
			 FIXTURE_DATA(lb) *self, uint16_t port)
{
	ASSERT_EQ(0, rl_wait_ready(&self->e.rl, AF_INET, port,
				   10000 + slack_ms() * 2, NULL));
}

/* write the config and start the daemon on it */
static void lb_start(struct __test_metadata *_metadata,
		     FIXTURE_DATA(lb) *self, int threads, const char *balance,
		     const int *weights, int n, const char *more)
{
	static char text[8192];

	ASSERT_EQ(0, free_port(AF_INET, &self->e.lport));
	lb_config(self, text, sizeof(text), threads, balance, weights, n,
		  more);
	lb_write_cfg(_metadata, self, text);
	lb_spawn(_metadata, self, NULL);
}

/* one client from @src: the index of the server it reached */
static int lb_pick(struct __test_metadata *_metadata, FIXTURE_DATA(lb) *self,
		   const char *src, bool hold)
{
	int fd = connect_from(AF_INET, self->e.lport, src);
	int id;

	if (fd < 0)
		TH_LOG("connect from %s: %s", src ? src : "-", strerror(-fd));
	ASSERT_LE(0, fd);
	id = read_id(fd, 3000 + slack_ms());
	if (id < 0)
		TH_LOG("client from %s got no server byte: %s",
		       src ? src : "-", strerror(-id));
	if (hold && self->nheld < 64)
		self->held[self->nheld++] = fd;
	else
		close(fd);
	ASSERT_LE(0, id);
	ASSERT_GT(self->nsrv, id);
	return id;
}

/* @n clients one after the other; how many each server got */
static void lb_picks(struct __test_metadata *_metadata, FIXTURE_DATA(lb) *self,
		     int n, int *per)
{
	int i;

	memset(per, 0, sizeof(int) * NSRV);
	for (i = 0; i < n; i++)
		per[lb_pick(_metadata, self, NULL, false)]++;
}

static void lb_close_held(FIXTURE_DATA(lb) *self)
{
	while (self->nheld)
		close(self->held[--self->nheld]);
}

/* wait until the daemon counts @want active connections per server */
static void lb_wait_active(struct __test_metadata *_metadata,
			   FIXTURE_DATA(lb) *self, const int *want, int n)
{
	uint64_t end = now_ms() + 3000 + slack_ms();
	char out[8192];
	int i, ok;

	for (;;) {
		ASSERT_LT(0, admin(self->sock, "show servers --json", out,
				   sizeof(out)));
		for (ok = 1, i = 0; i < n; i++)
			if (json_server_field(out, srv_name[i], "active") !=
			    want[i])
				ok = 0;
		if (ok)
			return;
		if (now_ms() > end) {
			TH_LOG("active connections never settled: %s", out);
			ASSERT_TRUE(false);
		}
		sleep_ms(10);
	}
}

/* wait until the daemon has no client connection open */
static void lb_wait_idle(struct __test_metadata *_metadata,
			 FIXTURE_DATA(lb) *self)
{
	uint64_t end = now_ms() + 3000 + slack_ms();
	char out[4096];

	for (;;) {
		ASSERT_LT(0, admin(self->sock, "show stats --json", out,
				   sizeof(out)));
		if (strstr(out, "\"conns_active\":0,"))
			return;
		if (now_ms() > end) {
			TH_LOG("connections still open: %s", out);
			ASSERT_TRUE(false);
		}
		sleep_ms(10);
	}
}

/* poll show servers until @name is in @state; ms it took, or -1 */
static int lb_wait_state(FIXTURE_DATA(lb) *self, const char *name,
			 const char *state, int timeout_ms)
{
	uint64_t t0 = now_ms(), end = t0 + timeout_ms;
	char out[8192];

	for (;;) {
		if (admin(self->sock, "show servers --json", out,
			  sizeof(out)) > 0 &&
		    json_server_state(out, name, state))
			return (int)(now_ms() - t0);
		if (now_ms() > end)
			return -1;
		sleep_ms(5);
	}
}

static int ctl(FIXTURE_DATA(lb) *self, const char *const *args, char *out,
	       size_t size)
{
	const char *argv[16] = { ringlbctl_path(), "-s", self->sock };
	int n = 3;

	while (*args && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
	return run_capture(argv, out, size);
}

#define CTL(self, out, ...)						\
	ctl(self, (const char *const[]){ __VA_ARGS__, NULL }, out, sizeof(out))

/* ---- 1. configuration ------------------------------------------------------------ */

static int find_examples(char *dir, size_t len)
{
	const char *env = getenv("RINGLB_EXAMPLES");
	char base[PATH_MAX], exe[PATH_MAX];
	const char *rel[] = { "../deploy/examples", "../../deploy/examples",
			      "../../../deploy/examples" };
	struct stat st;
	ssize_t n;
	size_t i;
	int k;

	if (env && *env) {
		snprintf(dir, len, "%s", env);
		return 0;
	}
	for (k = 0; k < 2; k++) {
		if (k == 0) {
			snprintf(exe, sizeof(exe), "%s", ringlb_path());
		} else {
			n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
			if (n <= 0)
				continue;
			exe[n] = '\0';
		}
		snprintf(base, sizeof(base), "%s", dirname(exe));
		for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			if (snprintf(dir, len, "%s/%s", base, rel[i]) >= (int)len)
				continue;
			if (!stat(dir, &st) && S_ISDIR(st.st_mode))
				return 0;
		}
	}
	return -ENOENT;
}

/* every example configuration passes --check */
TEST(config_examples)
{
	char dir[PATH_MAX], pat[PATH_MAX + 8], out[4096];
	glob_t g;
	size_t i;
	int st;

	if (access(ringlb_path(), X_OK))
		SKIP(return, "no ringlb binary");
	if (find_examples(dir, sizeof(dir)))
		SKIP(return, "deploy/examples not found (set RINGLB_EXAMPLES)");
	snprintf(pat, sizeof(pat), "%s/*.ini", dir);
	ASSERT_EQ(0, glob(pat, 0, NULL, &g));
	ASSERT_LT((size_t)0, g.gl_pathc);
	for (i = 0; i < g.gl_pathc; i++) {
		const char *argv[] = { ringlb_path(), "--check", "-c",
				       g.gl_pathv[i], NULL };

		st = run_capture(argv, out, sizeof(out));
		EXPECT_EQ(0, st) TH_LOG("%s: %s", g.gl_pathv[i], out);
		EXPECT_NE(NULL, strstr(out, "configuration is valid"))
			TH_LOG("%s: %s", g.gl_pathv[i], out);
	}
	globfree(&g);
}

/*
 * One file with many mistakes: --check exits 78 (EX_CONFIG) and names each one as
 * FILE:LINE:, every line of its output is such a line, and nothing is
 * reported twice or at a line without a mistake.
 */
TEST(config_errors)
{
	static const char bad[] =
		"# every line below that has a mistake says so\n"	/* 1 */
		"[global]\n"						/* 2 */
		"threads = 1\n"						/* 3 */
		"no-such-key = 1            ; unknown key\n"		/* 4 */
		"\n"							/* 5 */
		"[listener web]\n"					/* 6 */
		"bind = 127.0.0.1:70000     ; port out of range\n"	/* 7 */
		"bind = 127.0.0.1:8080\n"				/* 8 */
		"backend = nope             ; no such backend\n"	/* 9 */
		"\n"							/* 10 */
		"[backend pool]\n"					/* 11 */
		"server = a 127.0.0.1:81 weight=1\n"			/* 12 */
		"server = b 127.0.0.1:82 weight=300  ; weight\n"	/* 13 */
		"server = c not-an-address  ; bad address\n"		/* 14 */
		"\n"							/* 15 */
		"[backend pool]             ; defined twice\n"		/* 16 */
		"server = d 127.0.0.1:84\n"				/* 17 */
		"server = a 127.0.0.1:85    ; server name twice\n"	/* 18 */
		"\n"							/* 19 */
		"[listener api]\n"					/* 20 */
		"bind = 127.0.0.1:8081\n"				/* 21 */
		"backend = pool\n"					/* 22 */
		"a line with no equals sign\n"				/* 23 */
		"[unclosed section\n"					/* 24 */
		"another bad line\n";					/* 25 */
	/* every error, the syntax errors libinih stops at included */
	static const int want[] = { 4, 7, 9, 13, 14, 16, 18, 23, 24, 25 };
	const char *tmp = getenv("TMPDIR");
	char path[PATH_MAX];
	const char *argv[] = { ringlb_path(), "--check", "-c", path, NULL };
	char out[8192], prefix[PATH_MAX + 16], *line, *save = NULL;
	int seen[32] = { 0 }, st, ln, fd;
	size_t i, plen;

	if (access(ringlb_path(), X_OK))
		SKIP(return, "no ringlb binary");
	snprintf(path, sizeof(path), "%s/ringlb-bad-XXXXXX.ini",
		 tmp && *tmp ? tmp : "/tmp");
	fd = mkstemps(path, 4);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)strlen(bad), write(fd, bad, strlen(bad)));
	close(fd);
	st = run_capture(argv, out, sizeof(out));
	EXPECT_EQ(EX_CONFIG, st) TH_LOG("exit %d: %s", st, out);
	snprintf(prefix, sizeof(prefix), "%s:", path);
	plen = strlen(prefix);
	for (line = strtok_r(out, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *colon;

		EXPECT_EQ(0, strncmp(line, prefix, plen))
			TH_LOG("not a FILE:LINE: line: %s", line);
		if (strncmp(line, prefix, plen))
			continue;
		ln = (int)strtol(line + plen, &colon, 10);
		EXPECT_TRUE(*colon == ':' && colon[1] == ' ')
			TH_LOG("no ': ' after the line number: %s", line);
		ASSERT_TRUE(ln > 0 && ln < 32) TH_LOG("%s", line);
		seen[ln]++;
	}
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		EXPECT_EQ(1, seen[want[i]])
			TH_LOG("line %d: reported %d times", want[i],
			       seen[want[i]]);
		seen[want[i]] = 0;
	}
	for (ln = 0; ln < 32; ln++)
		EXPECT_EQ(0, seen[ln]) TH_LOG("line %d has no mistake", ln);

	/* the same file without its mistakes is valid */
	{
		static const char good[] =
			"[global]\nthreads = 1\n"
			"[listener web]\nbind = 127.0.0.1:8080\nbackend = pool\n"
			"[backend pool]\nserver = a 127.0.0.1:81 weight=1\n"
			"server = b 127.0.0.1:82 weight=256\n"
			"server = c [::1]:83 backup\n";

		fd = open(path, O_WRONLY | O_TRUNC);
		ASSERT_LE(0, fd);
		ASSERT_EQ((ssize_t)strlen(good), write(fd, good, strlen(good)));
		close(fd);
		st = run_capture(argv, out, sizeof(out));
		EXPECT_EQ(0, st) TH_LOG("%s", out);
	}
	unlink(path);
}

/* ---- 2. balancing ------------------------------------------------------------------ */

/* rr: 30 clients, 10 each, with one worker and with two */
TEST_F(lb, rr)
{
	static const int w[] = { 1, 1, 1 };
	int per[NSRV];

	CHECK_SKIP(&self->e);
	lb_servers(_metadata, self, 3, PP_NONE);
	lb_start(_metadata, self, 1, "rr", w, 3, NULL);
	lb_picks(_metadata, self, 30, per);
	EXPECT_EQ(10, per[0]);
	EXPECT_EQ(10, per[1]);
	EXPECT_EQ(10, per[2]);
}

/* two workers, each its own rotation: even to within one per worker */
TEST_F(lb, rr_two_workers)
{
	static const int w[] = { 1, 1, 1 };
	int per[NSRV];

	CHECK_SKIP(&self->e);
	lb_servers(_metadata, self, 3, PP_NONE);
	lb_start(_metadata, self, 2, "rr", w, 3, NULL);
	lb_picks(_metadata, self, 60, per);
	EXPECT_LE(18, per[0]);
	EXPECT_LE(18, per[1]);
	EXPECT_LE(18, per[2]);
	EXPECT_GE(22, per[0]);
	EXPECT_GE(22, per[1]);
	EXPECT_GE(22, per[2]);
}

/*
 * wrr 1:3 (and a third server at 2): smooth WRR repeats every 6 picks,
 * so any 60 in a row hold exactly 10, 30 and 20.
 */
TEST_F(lb, wrr)
{
	static const int w[] = { 1, 3, 2 };
	int per[NSRV];

	CHECK_SKIP(&self->e);
	lb_servers(_metadata, self, 3, PP_NONE);
	lb_start(_metadata, self, 1, "wrr", w, 3, NULL);
	lb_picks(_metadata, self, 60, per);
	EXPECT_EQ(10, per[0]);
	EXPECT_EQ(30, per[1]);
	EXPECT_EQ(20, per[2]);
}

/*
 * leastconn: with two connections held on a and none elsewhere, the
 * next four go to b and c; once all are even it rotates again.
 */
TEST_F(lb, leastconn)
{
	static const int w[] = { 1, 1, 1 };
	int i, id, fds[6], ids[6], per[NSRV] = { 0 };
	int want[NSRV] = { 0 };

	CHECK_SKIP(&self->e);
	lb_servers(_metadata, self, 3, PP_NONE);
	lb_start(_metadata, self, 1, "leastconn", w, 3, NULL);
	lb_wait_active(_metadata, self, want, 3);

	/* six held: two on each */
	for (i = 0; i < 6; i++) {
		fds[i] = connect_from(AF_INET, self->e.lport, NULL);
		ASSERT_LE(0, fds[i]);
		ids[i] = read_id(fds[i], 3000 + slack_ms());
		ASSERT_LE(0, ids[i]);
		per[ids[i]]++;
	}
	EXPECT_EQ(2, per[0]);
	EXPECT_EQ(2, per[1]);
	EXPECT_EQ(2, per[2]);
	/* keep a's, close the others */
	for (i = 0; i < 6; i++) {
		if (ids[i] == 0)
			self->held[self->nheld++] = fds[i];
		else
			close(fds[i]);
	}
	want[0] = 2;
	lb_wait_active(_metadata, self, want, 3);

	memset(per, 0, sizeof(per));
	for (i = 0; i < 4; i++) {
		id = lb_pick(_metadata, self, NULL, true);
		per[id]++;
	}
	EXPECT_EQ(0, per[0]) TH_LOG("a has 2 open, yet got a new one");
	EXPECT_EQ(2, per[1]);
	EXPECT_EQ(2, per[2]);
	/* 2/2/2 open now: three more go one to each */
	memset(per, 0, sizeof(per));
	for (i = 0; i < 3; i++)
		per[lb_pick(_metadata, self, NULL, true)]++;
	EXPECT_EQ(1, per[0]);
	EXPECT_EQ(1, per[1]);
	EXPECT_EQ(1, per[2]);
	lb_close_held(self);
}

/*
 * srchash: every client address sticks to one server, whichever worker
 * takes it; 30 addresses use all three servers.
 */
TEST_F(lb, srchash)
{
	static const int w[] = { 1, 1, 1 };
	int i, k, first, id, per[NSRV] = { 0 };
	char src[32];

	CHECK_SKIP(&self->e);
	lb_servers(_metadata, self, 3, PP_NONE);
	lb_start(_metadata, self, 2, "srchash", w, 3, NULL);
	for (i = 1; i <= 30; i++) {
		snprintf(src, sizeof(src), "127.0.0.%d", i);
		first = lb_pick(_metadata, self, src, false);
		per[first]++;
		for (k = 0; k < 3; k++) {
			id = lb_pick(_metadata, self, src, false);
			EXPECT_EQ(first, id) TH_LOG("%s moved", src);
		}
	}
	EXPECT_LT(0, per[0]);
	EXPECT_LT(0, per[1]);
	EXPECT_LT(0, per[2]);
}

static void map_sources(struct __test_metadata *_metadata,
			FIXTURE_DATA(lb) *self, int *map, int n)
{
	char src[32];
	int i;

	for (i = 1; i <= n; i++) {
		snprintf(src, sizeof(src), "127.0.0.%d", i);
		map[i] = lb_pick(_metadata, self, src, false);
	}
}

/*
 * maglev: disabling b through ringlbctl moves exactly b's clients (of
 * 127.0.0.1..50); enabling it again brings back the first mapping.
 */
TEST_F(lb, maglev)
{
	static const int w[] = { 1, 1, 1 };
	int before[51], after[51], again[51], i, moved = 0, onb = 0;
	char out[4096];
	int st;

	CHECK_SKIP(&self->e);
	if (access(ringlbctl_path(), X_OK))
		SKIP(return, "no ringlbctl beside ringlb: %s", ringlbctl_path());
	lb_servers(_metadata, self, 3, PP_NONE);
	lb_start(_metadata, self, 2, "maglev", w, 3, NULL);
	map_sources(_metadata, self, before, 50);

	st = CTL(self, out, "disable", "server", "pool/b");
	ASSERT_EQ(0, st) TH_LOG("ringlbctl: %s", out);
	ASSERT_LE(0, lb_wait_state(self, "b", "disabled", 1000));
	map_sources(_metadata, self, after, 50);
	for (i = 1; i <= 50; i++) {
		if (before[i] == 1) {
			onb++;
			EXPECT_NE(1, after[i]);
			moved++;
		} else {
			EXPECT_EQ(before[i], after[i])
				TH_LOG("127.0.0.%d moved from %s to %s", i,
				       srv_name[before[i]], srv_name[after[i]]);
		}
	}
	EXPECT_LT(0, onb) TH_LOG("no client was on b: nothing was tested");
	EXPECT_GT(50, onb);

	st = CTL(self, out, "enable", "server", "pool/b");
	ASSERT_EQ(0, st) TH_LOG("ringlbctl: %s", out);
	ASSERT_LE(0, lb_wait_state(self, "b", "up", 1000));
	map_sources(_metadata, self, again, 50);
	for (i = 1; i <= 50; i++)
		EXPECT_EQ(before[i], again[i]) TH_LOG("127.0.0.%d", i);
	(void)moved;
}

/*
 * p2c: unloaded, all three get clients; with ten connections held on a
 * (put there while b and c were disabled), a gets none of 30 more.
 */
TEST_F(lb, p2c)
{
	static const int w[] = { 1, 1, 1 };
	int i, per[NSRV], want[NSRV] = { 0 };
	char out[1024];

	CHECK_SKIP(&self->e);
	lb_servers(_metadata, self, 3, PP_NONE);
	lb_start(_metadata, self, 1, "p2c", w, 3, NULL);
	lb_picks(_metadata, self, 30, per);
	EXPECT_LT(0, per[0]);
	EXPECT_LT(0, per[1]);
	EXPECT_LT(0, per[2]);

	ASSERT_LT(0, admin(self->sock, "disable server pool/b", out, sizeof(out)));
	ASSERT_STREQ("ok\n", out);
	ASSERT_LT(0, admin(self->sock, "disable server pool/c", out, sizeof(out)));
	ASSERT_STREQ("ok\n", out);
	for (i = 0; i < 10; i++)
		ASSERT_EQ(0, lb_pick(_metadata, self, NULL, true));
	ASSERT_LT(0, admin(self->sock, "enable server pool/b", out, sizeof(out)));
	ASSERT_LT(0, admin(self->sock, "enable server pool/c", out, sizeof(out)));
	want[0] = 10;
	lb_wait_active(_metadata, self, want, 3);

	lb_picks(_metadata, self, 30, per);
	EXPECT_EQ(0, per[0]) TH_LOG("the loaded server got %d of 30", per[0]);
	EXPECT_LT(0, per[1]);
	EXPECT_LT(0, per[2]);
	lb_close_held(self);
}

/* ---- 3. health ----------------------------------------------------------------------- */

#define HC_INTERVAL	100

/*
 * health = tcp every 100 ms, rise 2, fall 2: a server whose listener
 * closes is DOWN within fall intervals and gets no clients; reopened,
 * it is UP within rise intervals. The backup serves only when both
 * primaries are down.
 */
TEST_F(lb, health)
{
	static const int w[] = { 1, 1, -1 };	/* a, b, backup c */
	static const char more[] = "health = tcp\nhealth-interval = 100\n"
				   "rise = 2\nfall = 2\n";
	int per[NSRV], ms, limit = (2 + 1) * HC_INTERVAL + slack_ms();
	char out[8192];
	long errs;
	int st;

	CHECK_SKIP(&self->e);
	lb_servers(_metadata, self, 3, PP_NONE);
	lb_start(_metadata, self, 1, "rr", w, 3, more);
	/* checks pass: the spare is idle */
	sleep_ms(3 * HC_INTERVAL);
	lb_picks(_metadata, self, 10, per);
	EXPECT_EQ(5, per[0]);
	EXPECT_EQ(5, per[1]);
	EXPECT_EQ(0, per[2]);

	/* a goes away */
	ASSERT_EQ(0, idsrv_set_listen(&self->srv[0], false));
	ms = lb_wait_state(self, "a", "down", limit);
	ASSERT_LE(0, ms) TH_LOG("a not DOWN within %d ms", limit);
	if (access(ringlbctl_path(), X_OK) == 0) {
		char *line, *save = NULL, f[4][64];
		bool found = false;

		st = CTL(self, out, "show", "servers");
		EXPECT_EQ(0, st) TH_LOG("%s", out);
		for (line = strtok_r(out, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save))
			if (sscanf(line, "%63s %63s %63s %63s", f[0], f[1], f[2],
				   f[3]) == 4 && !strcmp(f[0], "pool") &&
			    !strcmp(f[1], "a")) {
				found = true;
				EXPECT_STREQ("down", f[3]) TH_LOG("%s", line);
			}
		EXPECT_TRUE(found) TH_LOG("no row for pool/a");
	}
	/* down means not even tried: no connect error for a meanwhile */
	ASSERT_LT(0, admin(self->sock, "show servers --json", out, sizeof(out)));
	errs = json_server_field(out, "a", "connect_errors");
	lb_picks(_metadata, self, 10, per);
	EXPECT_EQ(0, per[0]);
	EXPECT_EQ(10, per[1]);
	EXPECT_EQ(0, per[2]);
	ASSERT_LT(0, admin(self->sock, "show servers --json", out, sizeof(out)));
	EXPECT_EQ(errs, json_server_field(out, "a", "connect_errors"))
		TH_LOG("a was tried while DOWN");

	/* a comes back */
	ASSERT_EQ(0, idsrv_set_listen(&self->srv[0], true));
	ms = lb_wait_state(self, "a", "up", limit);
	ASSERT_LE(0, ms) TH_LOG("a not UP within %d ms", limit);
	/* rise 2: not before the second good check */
	EXPECT_LE(HC_INTERVAL / 2, ms);
	lb_picks(_metadata, self, 10, per);
	EXPECT_EQ(5, per[0]);
	EXPECT_EQ(5, per[1]);
	EXPECT_EQ(0, per[2]);

	/* both primaries down: the backup takes everything */
	ASSERT_EQ(0, idsrv_set_listen(&self->srv[0], false));
	ASSERT_EQ(0, idsrv_set_listen(&self->srv[1], false));
	ASSERT_LE(0, lb_wait_state(self, "a", "down", limit));
	ASSERT_LE(0, lb_wait_state(self, "b", "down", limit));
	lb_picks(_metadata, self, 6, per);
	EXPECT_EQ(6, per[2]);

	/* one primary back: the backup is idle again */
	ASSERT_EQ(0, idsrv_set_listen(&self->srv[1], true));
	ASSERT_LE(0, lb_wait_state(self, "b", "up", limit));
	lb_picks(_metadata, self, 6, per);
	EXPECT_EQ(6, per[1]);
	EXPECT_EQ(0, per[2]);
	ASSERT_LT(0, admin(self->sock, "show servers --json", out, sizeof(out)));
	EXPECT_LT(0, json_server_field(out, "c", "checks_ok"));
	EXPECT_LT(0, json_server_field(out, "a", "checks_failed"));
}

/*
 * One client that says a byte after the server's: the server's index,
 * and whether the connection then ended in a reset (true) or stayed
 * open until the client closed it.
 */
static int lb_poke(struct __test_metadata *_metadata, FIXTURE_DATA(lb) *self,
		   bool *was_reset)
{
	struct pollfd p;
	int fd, id, n;
	char b = 'x';

	fd = connect_from(AF_INET, self->e.lport, NULL);
	ASSERT_LE(0, fd) TH_LOG("connect: %s", strerror(-fd));
	id = read_id(fd, 3000 + slack_ms());
	if (id < 0)
		TH_LOG("no server byte: %s", strerror(-id));
	ASSERT_LE(0, id);
	ASSERT_EQ(1, send(fd, &b, 1, MSG_NOSIGNAL));
	/* a reset comes back at once; a server that keeps it open, never */
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	n = poll(&p, 1, id == 0 ? 3000 + slack_ms() : 50);
	*was_reset = n == 1 && recv(fd, &b, 1, 0) <= 0;
	close(fd);
	return id;
}

/*
 * Passive health on live traffic: a server that accepts and then resets
 * every connection before it is sent anything is taken out after
 * passive-fall resets in a row, for passive-down ms, with no active
 * check configured; then tried again.
 */
TEST_F(lb, passive_resets)
{
	static const int w[] = { 1, 1 };
	static const char more[] = "passive-fall = 3\npassive-down = 3000\n";
	int i, id, fd, resets = 0, per[NSRV], ms;
	uint64_t t_down;
	char out[8192];

	CHECK_SKIP(&self->e);
	lb_servers(_metadata, self, 2, PP_NONE);
	lb_start(_metadata, self, 1, "rr", w, 2, more);
	atomic_store(&self->srv[0].reset_at_accept, true);
	/*
	 * rr alternates. A reset that comes before the connect's end was
	 * seen fails the connect (counted as such, and the client goes on
	 * to b); after, it ends an established connection and the client
	 * gets no id. Either run takes a out at three; the start-up probe
	 * (a connect closed at once) may be one of them.
	 */
	for (i = 0; i < 10; i++) {
		if (lb_wait_state(self, "a", "down", 0) >= 0)
			break;
		fd = connect_from(AF_INET, self->e.lport, NULL);
		ASSERT_LE(0, fd) TH_LOG("connect: %s", strerror(-fd));
		id = read_id(fd, 3000 + slack_ms());
		close(fd);
		EXPECT_NE(-ETIMEDOUT, id) TH_LOG("client %d: no end", i);
		if (id < 0) {
			resets++;
			continue;
		}
		EXPECT_EQ(1, id);
	}
	ASSERT_LE(0, lb_wait_state(self, "a", "down", 2000 + slack_ms()))
		TH_LOG("a not DOWN after %d clients, %d reset", i, resets);
	t_down = now_ms();
	EXPECT_EQ(0, rl_log_wait(&self->e.rl, "is DOWN: ", 1,
				 3000 + slack_ms()));
	EXPECT_TRUE(rl_log_has(&self->e.rl,
			       "is DOWN: 3 connections in a row reset by the server") ||
		    rl_log_has(&self->e.rl,
			       "is DOWN: 3 consecutive connect failures"));
	ASSERT_LT(0, admin(self->sock, "show servers --json", out, sizeof(out)));
	EXPECT_LE(3, json_server_field(out, "a", "resets") +
		     json_server_field(out, "a", "connect_errors"))
		TH_LOG("%s", out);
	EXPECT_LE(resets, json_server_field(out, "a", "resets"));
	EXPECT_EQ(1, json_server_field(out, "a", "passive_downs"));
	EXPECT_EQ(0, json_server_field(out, "b", "resets"));
	/* out means not tried: everything to b meanwhile */
	atomic_store(&self->srv[0].reset_at_accept, false);
	lb_picks(_metadata, self, 6, per);
	if (now_ms() - t_down < 2500)
		EXPECT_EQ(6, per[1]);
	/* passive-down over: a is tried again and serves */
	ms = lb_wait_state(self, "a", "up", 3000 + 2 * slack_ms());
	ASSERT_LE(0, ms) TH_LOG("a still down long after passive-down");
	EXPECT_LE(2500ULL, now_ms() - t_down);
	EXPECT_EQ(0, rl_log_wait(&self->e.rl,
				 "is UP: retry after passive down", 1,
				 3000 + slack_ms()));
	lb_picks(_metadata, self, 6, per);
	EXPECT_EQ(3, per[0]);
	EXPECT_EQ(3, per[1]);
}

/*
 * A reset that follows the client's bytes may be the client's doing (a
 * request the server refuses by closing with unread input): counted, it
 * would let any client take a server out for everyone. Such resets are
 * counted in "resets" and the server stays in.
 */
TEST_F(lb, client_provoked_resets_keep_server_in)
{
	static const int w[] = { 1, 1 };
	static const char more[] = "passive-fall = 3\npassive-down = 3000\n";
	int i, id, resets = 0, per[NSRV];
	uint64_t end;
	char out[8192];
	bool rst;

	CHECK_SKIP(&self->e);
	lb_servers(_metadata, self, 2, PP_NONE);
	lb_start(_metadata, self, 1, "rr", w, 2, more);
	atomic_store(&self->srv[0].reset, true);
	/* twice passive-fall of them, in a row on a */
	for (i = 0; i < 12 && resets < 6; i++) {
		id = lb_poke(_metadata, self, &rst);
		EXPECT_EQ(id == 0, rst) TH_LOG("client %d of server %d", i, id);
		resets += rst;
	}
	ASSERT_EQ(6, resets);
	/* each is counted once its connection is released */
	end = now_ms() + 3000 + slack_ms();
	do {
		ASSERT_LT(0, admin(self->sock, "show servers --json", out,
				   sizeof(out)));
		if (json_server_field(out, "a", "resets") >= 6)
			break;
		sleep_ms(20);
	} while (now_ms() < end);
	EXPECT_EQ(6, json_server_field(out, "a", "resets")) TH_LOG("%s", out);
	EXPECT_EQ(0, json_server_field(out, "a", "passive_downs"));
	EXPECT_TRUE(json_server_state(out, "a", "up")) TH_LOG("%s", out);
	EXPECT_FALSE(rl_log_has(&self->e.rl, "is DOWN"));
	/* still in rotation: rr gives it its half */
	atomic_store(&self->srv[0].reset, false);
	lb_picks(_metadata, self, 6, per);
	EXPECT_EQ(3, per[0]);
	EXPECT_EQ(3, per[1]);
}

/*
 * Slow start: a server enabled again ramps from a weight of 1 to its
 * own over slow-start ms. Its share while ramping is bounded by the
 * weight it can have had by then (so a slow machine loosens the bound,
 * never breaks it), and it is even again once the ramp is over.
 */
TEST_F(lb, slow_start)
{
	static const int w[] = { 10, 10 };
	static const char more[] = "slow-start = 3000\n";
	int per[NSRV], i, bound, wmax;
	uint64_t t0, dt, end;
	char out[8192];
	long wnow;

	CHECK_SKIP(&self->e);
	lb_servers(_metadata, self, 2, PP_NONE);
	lb_start(_metadata, self, 1, "wrr", w, 2, more);
	/* starting is not coming up: full weight from the start */
	ASSERT_LT(0, admin(self->sock, "show servers --json", out, sizeof(out)));
	EXPECT_EQ(10, json_server_field(out, "a", "weight_now")) TH_LOG("%s", out);
	ASSERT_LT(0, admin(self->sock, "disable server pool/a", out,
			   sizeof(out)));
	ASSERT_LT(0, admin(self->sock, "enable server pool/a", out,
			   sizeof(out)));
	t0 = now_ms();
	ASSERT_LT(0, admin(self->sock, "show servers --json", out, sizeof(out)));
	wnow = json_server_field(out, "a", "weight_now");
	dt = now_ms() - t0;
	EXPECT_LE(1, wnow);
	EXPECT_GE((dt * 10 + 2999) / 3000 + 1, (uint64_t)wnow) TH_LOG("%s", out);
	EXPECT_EQ(10, json_server_field(out, "a", "weight"));

	lb_picks(_metadata, self, 20, per);
	dt = now_ms() - t0;
	wmax = dt >= 3000 ? 10 : (int)((dt * 10 + 2999) / 3000) + 1;
	if (wmax > 10)
		wmax = 10;
	/*
	 * smooth wrr: a's share is at most wmax/(wmax+10), give or take
	 * the running value a kept while it was disabled (within one
	 * round of the total weight), plus one for rounding
	 */
	bound = (20 * wmax + 31) / (wmax + 10) + 1;
	EXPECT_GE(bound, per[0]) TH_LOG("a got %d of 20 at weight <= %d after %llu ms",
				       per[0], wmax, (unsigned long long)dt);
	EXPECT_EQ(20, per[0] + per[1]);

	/* the ramp ends: full weight, even shares */
	end = now_ms() + 3000 + slack_ms();
	do {
		ASSERT_LT(0, admin(self->sock, "show servers --json", out,
				   sizeof(out)));
		wnow = json_server_field(out, "a", "weight_now");
		if (wnow == 10)
			break;
		sleep_ms(50);
	} while (now_ms() < end);
	ASSERT_EQ(10, wnow) TH_LOG("slow start never ended: %s", out);
	/* ceil(10 * t / 3000) is 10 from 2700 ms on */
	EXPECT_LE(2500ULL, now_ms() - t0);
	/* the smooth wrr state settles within a cycle */
	lb_picks(_metadata, self, 20, per);
	lb_picks(_metadata, self, 20, per);
	for (i = 0; i < 2; i++) {
		EXPECT_LE(9, per[i]);
		EXPECT_GE(11, per[i]);
	}
}

/*
 * A server for send-expect checks: answers what each check sends, as
 * its mode says, on a port of its own (health-port).
 */
enum { ANS_PONG, ANS_ERR, ANS_SILENT, ANS_HTTP_200, ANS_HTTP_503 };

struct ans_srv {
	int lfd;
	uint16_t port;
	pthread_t thr;
	atomic_int mode;
	atomic_bool stop;
	atomic_int asked;	/* checks that said PING or GET */
};

static void *ans_thread(void *arg)
{
	struct ans_srv *a = arg;
	int held[64], nheld = 0;

	while (!atomic_load(&a->stop)) {
		struct pollfd p = { .fd = a->lfd, .events = POLLIN };
		char buf[256];
		const char *ans = NULL;
		int fd, mode;
		ssize_t n;

		if (atomic_load(&a->mode) != ANS_SILENT)
			while (nheld)
				close(held[--nheld]);
		if (poll(&p, 1, 20) != 1)
			continue;
		fd = accept4(a->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		p = (struct pollfd){ .fd = fd, .events = POLLIN };
		n = poll(&p, 1, 2000) == 1 ? recv(fd, buf, sizeof(buf) - 1, 0) : -1;
		if (n > 0 && (!memcmp(buf, "PING", 4) || !memcmp(buf, "GET ", 4)))
			atomic_fetch_add(&a->asked, 1);
		mode = atomic_load(&a->mode);
		if (mode == ANS_SILENT && nheld < 64) {
			held[nheld++] = fd;
			continue;
		}
		ans = mode == ANS_PONG ? "+PONG\r\n" : mode == ANS_ERR ? "-ERR\r\n" :
		      mode == ANS_HTTP_200 ? "HTTP/1.1 200 OK\r\n\r\n" :
		      "HTTP/1.1 503 Service Unavailable\r\n\r\n";
		if (n > 0 && send(fd, ans, strlen(ans), MSG_NOSIGNAL) < 0)
			n = -1;
		close(fd);
	}
	while (nheld)
		close(held[--nheld]);
	return NULL;
}

static int ans_start(struct ans_srv *a, int mode)
{
	memset(a, 0, sizeof(*a));
	a->lfd = idsrv_listen(0, &a->port);
	if (a->lfd < 0)
		return a->lfd;
	atomic_store(&a->mode, mode);
	return -pthread_create(&a->thr, NULL, ans_thread, a);
}

static void ans_stop(struct ans_srv *a)
{
	atomic_store(&a->stop, true);
	pthread_join(a->thr, NULL);
	close(a->lfd);
}

/*
 * health = send-expect on a port of its own: Redis' PING and +PONG,
 * and an HTTP status line by regular expression. A wrong answer, a
 * silent server and a good answer again move the server down and up,
 * and the log says what the server answered.
 */
TEST_F(lb, health_send_expect)
{
	static char text[2048];
	struct ans_srv redis, web;
	int limit = (2 + 2) * HC_INTERVAL + 1000 + slack_ms(), n0;
	uint16_t lp2;

	CHECK_SKIP(&self->e);
	ASSERT_EQ(0, idsrv_start(&self->srv[0], 0, PP_NONE));
	ASSERT_EQ(0, idsrv_start(&self->srv[1], 1, PP_NONE));
	self->nsrv = 2;
	ASSERT_EQ(0, ans_start(&redis, ANS_PONG));
	ASSERT_EQ(0, ans_start(&web, ANS_HTTP_200));
	ASSERT_EQ(0, free_port(AF_INET, &self->e.lport));
	ASSERT_EQ(0, free_port(AF_INET, &lp2));
	snprintf(text, sizeof(text),
		 "[global]\nthreads = 1\nadmin = %s\n"
		 "health-interval = %d\nhealth-timeout = 500\nrise = 2\nfall = 2\n\n"
		 "[listener r]\nbind = 127.0.0.1:%u\nbackend = cache\n\n"
		 "[listener w]\nbind = 127.0.0.1:%u\nbackend = site\n\n"
		 "[backend cache]\nhealth = send-expect\nhealth-send = PING\\r\\n\n"
		 "health-expect = +PONG\nhealth-port = %u\nserver = a 127.0.0.1:%u\n\n"
		 "[backend site]\nhealth = send-expect\n"
		 "health-send = GET /health HTTP/1.0\\r\\n\\r\\n\n"
		 "health-expect = re:^HTTP/1\\.[01] 200\nhealth-port = %u\n"
		 "server = b 127.0.0.1:%u\n",
		 self->sock, HC_INTERVAL, self->e.lport, lp2, redis.port,
		 self->srv[0].port, web.port, self->srv[1].port);
	lb_write_cfg(_metadata, self, text);
	lb_spawn(_metadata, self, NULL);
	/* the readiness probe's connection reached a: count from there */
	env_settle(_metadata, &self->e);
	n0 = atomic_load(&self->srv[0].accepted);

	/* good answers: both up, and the checks went to the check ports */
	sleep_ms(3 * HC_INTERVAL);
	EXPECT_LE(0, lb_wait_state(self, "a", "up", limit));
	EXPECT_LE(0, lb_wait_state(self, "b", "up", limit));
	EXPECT_LT(0, atomic_load(&redis.asked));
	EXPECT_LT(0, atomic_load(&web.asked));
	/* the traffic port saw no check */
	EXPECT_EQ(n0, atomic_load(&self->srv[0].accepted));

	/* a wrong answer, each kind */
	atomic_store(&redis.mode, ANS_ERR);
	atomic_store(&web.mode, ANS_HTTP_503);
	ASSERT_LE(0, lb_wait_state(self, "a", "down", limit));
	ASSERT_LE(0, lb_wait_state(self, "b", "down", limit));
	EXPECT_EQ(0, rl_log_wait(&self->e.rl,
				 "is DOWN: 2 checks failed, last: closed before the expected answer (got '-ERR..')",
				 1, 3000 + slack_ms()));
	EXPECT_EQ(0, rl_log_wait(&self->e.rl, "(got 'HTTP/1.1 503 Service Unavailable...')",
				 1, 3000 + slack_ms()));
	/* back */
	atomic_store(&redis.mode, ANS_PONG);
	atomic_store(&web.mode, ANS_HTTP_200);
	ASSERT_LE(0, lb_wait_state(self, "a", "up", limit));
	ASSERT_LE(0, lb_wait_state(self, "b", "up", limit));
	/* silence: down by the timeout on the answer */
	atomic_store(&redis.mode, ANS_SILENT);
	ASSERT_LE(0, lb_wait_state(self, "a", "down", limit + 2 * 500));
	EXPECT_EQ(0, rl_log_wait(&self->e.rl, "last: timed out waiting for the answer",
				 1, 3000 + slack_ms()));
	atomic_store(&redis.mode, ANS_PONG);
	ASSERT_LE(0, lb_wait_state(self, "a", "up", limit));
	/* and it serves */
	EXPECT_EQ(0, lb_pick(_metadata, self, NULL, false));
	ans_stop(&redis);
	ans_stop(&web);
}

/* ---- 4. PROXY protocol ------------------------------------------------------------------ */

/*
 * One client through the PROXY-speaking listener on @family from @src:
 * the server parsed a valid header, and what it says is the client's
 * real address and port and the listener's.
 */
static void pp_client(struct __test_metadata *_metadata,
		      FIXTURE_DATA(lb) *self, int family, uint16_t lport,
		      const char *src)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char want_src[INET6_ADDRSTRLEN];
	const char *want_dst = family == AF_INET6 ? "::1" : "127.0.0.1";
	struct pp_rec r;
	uint16_t sport;
	uint64_t end;
	int fd, id;

	fd = family == AF_INET ? connect_from(AF_INET, lport, src) :
				 tcp_connect(AF_INET6, lport);
	ASSERT_LE(0, fd) TH_LOG("connect: %s", strerror(-fd));
	ASSERT_EQ(0, getsockname(fd, (struct sockaddr *)&ss, &sl));
	if (family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
			  want_src, sizeof(want_src));
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
			  want_src, sizeof(want_src));
	sport = local_port(fd);
	id = read_id(fd, 3000 + slack_ms());
	close(fd);
	ASSERT_EQ(0, id) TH_LOG("server answered 0x%x: header rejected", id);
	end = now_ms() + 1000;
	while (!idsrv_find(&self->srv[0], sport, &r) && now_ms() < end)
		sleep_ms(5);
	ASSERT_TRUE(idsrv_find(&self->srv[0], sport, &r))
		TH_LOG("no header with source port %u", sport);
	EXPECT_EQ(family, r.family);
	EXPECT_STREQ(want_src, r.src);
	EXPECT_STREQ(want_dst, r.dst);
	EXPECT_EQ(sport, r.sport);
	EXPECT_EQ(lport, r.dport);
}

/* no header failed to parse, probes and health checks included */
static void pp_no_bad(struct __test_metadata *_metadata, FIXTURE_DATA(lb) *self)
{
	int i;

	pthread_mutex_lock(&self->srv[0].lock);
	for (i = 0; i < self->srv[0].nrecs; i++)
		EXPECT_TRUE(self->srv[0].recs[i].ok)
			TH_LOG("bad header: %s", self->srv[0].recs[i].why);
	pthread_mutex_unlock(&self->srv[0].lock);
}

static void pp_run(struct __test_metadata *_metadata, FIXTURE_DATA(lb) *self,
		   uint16_t p6)
{
	char src[32];
	int i;

	for (i = 1; i <= 4; i++) {
		snprintf(src, sizeof(src), "127.0.0.%d", i * 3);
		pp_client(_metadata, self, AF_INET, self->e.lport, src);
	}
	if (p6)
		for (i = 0; i < 3; i++)
			pp_client(_metadata, self, AF_INET6, p6, NULL);
	pp_no_bad(_metadata, self);
}

/* v1 from the command line (--proxy-protocol), IPv4 and [::1] */
TEST_F(lb, proxy_v1)
{
	struct rl_env *e = &self->e;
	struct rl_opts o = { .threads = 2 };
	char l6[64], srv[64];
	uint16_t p6 = 0;

	CHECK_SKIP(e);
	lb_servers(_metadata, self, 1, PP_V1);
	if (family_supported(AF_INET6)) {
		ASSERT_EQ(0, free_port(AF_INET6, &p6));
		fmt_addr(l6, sizeof(l6), AF_INET6, p6);
		o.extra[0] = "-l";
		o.extra[1] = l6;
	}
	o.extra[2 * !!p6] = "--proxy-protocol";
	o.extra[2 * !!p6 + 1] = "v1";
	snprintf(srv, sizeof(srv), "127.0.0.1:%u", self->srv[0].port);
	o.servers[o.nservers++] = srv;
	env_spawn(_metadata, e, &o);
	pp_run(_metadata, self, p6);
}

/* v2 from the config file, a listener on both families */
TEST_F(lb, proxy_v2)
{
	char text[2048];
	uint16_t p6 = 0;
	int n;

	CHECK_SKIP(&self->e);
	lb_servers(_metadata, self, 1, PP_V2);
	ASSERT_EQ(0, free_port(AF_INET, &self->e.lport));
	n = snprintf(text, sizeof(text),
		     "[global]\nthreads = 2\n\n[listener pp]\n"
		     "bind = 127.0.0.1:%u\n", self->e.lport);
	if (family_supported(AF_INET6)) {
		ASSERT_EQ(0, free_port(AF_INET6, &p6));
		n += snprintf(text + n, sizeof(text) - n, "bind = [::1]:%u\n",
			      p6);
	}
	snprintf(text + n, sizeof(text) - n,
		 "backend = pool\nproxy-protocol = v2\n\n[backend pool]\n"
		 "server = a 127.0.0.1:%u\n", self->srv[0].port);
	lb_write_cfg(_metadata, self, text);
	lb_spawn(_metadata, self, NULL);
	pp_run(_metadata, self, p6);
}

/* ---- 4b. PROXY protocol received (accept-proxy) ---------------------------------- */

/* a v1 header for @family's addresses */
static size_t pp_v1_make(char *buf, size_t size, const char *proto,
			 const char *src, const char *dst, int sport,
			 int dport)
{
	return snprintf(buf, size, "PROXY %s %s %s %d %d\r\n", proto, src, dst,
			sport, dport);
}

/* a v2 PROXY (or LOCAL: @src NULL) header, with @tlv appended */
static size_t pp_v2_make(uint8_t *b, int family, const char *src,
			 const char *dst, int sport, int dport,
			 const uint8_t *tlv, size_t tlv_len)
{
	size_t alen = 0, al = family == AF_INET ? 4 : 16, len;

	memcpy(b, v2_sig, 12);
	if (!src) {
		b[12] = 0x20;
		b[13] = 0x00;
	} else {
		b[12] = 0x21;
		b[13] = family == AF_INET ? 0x11 : 0x21;
		inet_pton(family, src, b + 16);
		inet_pton(family, dst, b + 16 + al);
		b[16 + 2 * al] = sport >> 8;
		b[17 + 2 * al] = sport & 0xff;
		b[18 + 2 * al] = dport >> 8;
		b[19 + 2 * al] = dport & 0xff;
		alen = 2 * al + 4;
	}
	if (tlv_len)
		memcpy(b + 16 + alen, tlv, tlv_len);
	len = alen + tlv_len;
	b[14] = len >> 8;
	b[15] = len & 0xff;
	return 16 + len;
}

/* send @n bytes in @parts pieces, a pause between (segments of their own) */
static int send_split(int fd, const void *buf, size_t n, int parts)
{
	size_t off = 0, step = (n + parts - 1) / parts;

	while (off < n) {
		size_t k = n - off < step ? n - off : step;

		if (send(fd, (const char *)buf + off, k, MSG_NOSIGNAL) !=
		    (ssize_t)k)
			return -errno;
		off += k;
		if (off < n)
			sleep_ms(30);
	}
	return 0;
}

/*
 * One client of the accept-proxy listener that sends @hdr (in @parts
 * pieces): the server's id byte, or -errno when none came.
 */
static int pp_send(struct __test_metadata *_metadata, uint16_t port,
		   const void *hdr, size_t len, int parts, uint16_t *cport)
{
	int fd = tcp_connect(AF_INET, port), id;

	ASSERT_LE(0, fd) TH_LOG("connect: %s", strerror(-fd));
	if (cport)
		*cport = local_port(fd);
	ASSERT_EQ(0, send_split(fd, hdr, len, parts));
	id = read_id(fd, 3000 + slack_ms());
	close(fd);
	return id;
}

/* what the v1-speaking server made of the header for source port @sport */
static void pp_expect(struct __test_metadata *_metadata, struct idsrv *srv,
		      uint16_t sport, int family, const char *src,
		      const char *dst, uint16_t dport)
{
	uint64_t end = now_ms() + 2000 + slack_ms();
	struct pp_rec r;

	while (!idsrv_find(srv, sport, &r) && now_ms() < end)
		sleep_ms(5);
	ASSERT_TRUE(idsrv_find(srv, sport, &r))
		TH_LOG("the server saw no header with source port %u", sport);
	EXPECT_EQ(family, r.family);
	EXPECT_STREQ(src, r.src);
	EXPECT_STREQ(dst, r.dst);
	EXPECT_EQ(dport, r.dport);
}

/*
 * accept-proxy = any in front of a server that takes v1: the address in
 * a v1 or v2 header (IPv4 or IPv6, whole or in pieces) is the client's
 * for the server's header and the access log; LOCAL keeps the peer's
 * own; a header that is not one, or one that never comes, closes the
 * client before any server is tried.
 */
TEST_F(lb, accept_proxy)
{
	/* PP2_TYPE_AUTHORITY "abc" */
	static const uint8_t tlv_authority[] = { 0x02, 0x00, 0x03, 'a', 'b',
						 'c' };
	static char text[2048];
	uint8_t v2[256];
	char v1[128], out[8192], want[96];
	int id, accepted;
	uint64_t t0, dt;
	uint16_t cport;
	size_t n;

	CHECK_SKIP(&self->e);
	ASSERT_EQ(0, idsrv_start(&self->srv[0], 0, PP_V1));
	self->nsrv = 1;
	ASSERT_EQ(0, free_port(AF_INET, &self->e.lport));
	snprintf(text, sizeof(text),
		 "[global]\nthreads = 1\nadmin = %s\n\n"
		 "[listener front]\nbind = 127.0.0.1:%u\nbackend = pool\n"
		 "accept-proxy = any\ninspect-timeout = 600\n"
		 "proxy-protocol = v1\n\n"
		 "[backend pool]\nserver = a 127.0.0.1:%u\n",
		 self->sock, self->e.lport, self->srv[0].port);
	lb_write_cfg(_metadata, self, text);
	lb_spawn(_metadata, self, NULL);

	/* v1, IPv4, whole */
	n = pp_v1_make(v1, sizeof(v1), "TCP4", "203.0.113.7", "198.51.100.1",
		       5555, 443);
	EXPECT_EQ(0, pp_send(_metadata, self->e.lport, v1, n, 1, NULL));
	pp_expect(_metadata, &self->srv[0], 5555, AF_INET, "203.0.113.7",
		  "198.51.100.1", 443);
	EXPECT_EQ(0, rl_log_wait(&self->e.rl, "client=203.0.113.7:5555 ", 1,
				 3000 + slack_ms()));
	/* v2, IPv6, in three pieces */
	n = pp_v2_make(v2, AF_INET6, "2001:db8::7", "2001:db8::1", 6666, 8443,
		       NULL, 0);
	EXPECT_EQ(0, pp_send(_metadata, self->e.lport, v2, n, 3, NULL));
	pp_expect(_metadata, &self->srv[0], 6666, AF_INET6, "2001:db8::7",
		  "2001:db8::1", 8443);
	/* v2 with a TLV, dropped: the server's header is plain */
	n = pp_v2_make(v2, AF_INET, "192.0.2.9", "192.0.2.1", 7777, 80,
		       tlv_authority, sizeof(tlv_authority));
	EXPECT_EQ(0, pp_send(_metadata, self->e.lport, v2, n, 1, NULL));
	pp_expect(_metadata, &self->srv[0], 7777, AF_INET, "192.0.2.9",
		  "192.0.2.1", 80);
	/* v2 LOCAL: the peer's own address and port */
	n = pp_v2_make(v2, AF_INET, NULL, NULL, 0, 0, NULL, 0);
	EXPECT_EQ(0, pp_send(_metadata, self->e.lport, v2, n, 1, &cport));
	pp_expect(_metadata, &self->srv[0], cport, AF_INET, "127.0.0.1",
		  "127.0.0.1", self->e.lport);

	/* not a header: closed, logged, counted, no server tried */
	accepted = atomic_load(&self->srv[0].accepted);
	id = pp_send(_metadata, self->e.lport, "GET / HTTP/1.0\r\n\r\n", 18,
		     1, &cport);
	EXPECT_GT(0, id) TH_LOG("a client with no header reached server %d",
				id);
	snprintf(want, sizeof(want), "bad PROXY header from 127.0.0.1:%u: ",
		 cport);
	EXPECT_EQ(0, rl_log_wait(&self->e.rl, want, 1, 3000 + slack_ms()));
	/* v1 with an IPv6 address under TCP4 */
	n = pp_v1_make(v1, sizeof(v1), "TCP4", "2001:db8::7", "198.51.100.1",
		       1, 2);
	EXPECT_GT(0, pp_send(_metadata, self->e.lport, v1, n, 1, NULL));
	EXPECT_EQ(0, rl_log_wait(&self->e.rl, "v1: not an IPv4 address", 1,
				 3000 + slack_ms()));

	/* half a header, then silence: closed by inspect-timeout */
	{
		int fd = tcp_connect(AF_INET, self->e.lport);
		struct pollfd p = { .fd = fd, .events = POLLIN };

		ASSERT_LE(0, fd);
		ASSERT_EQ(6, send(fd, "PROXY ", 6, MSG_NOSIGNAL));
		t0 = now_ms();
		ASSERT_EQ(1, poll(&p, 1, 600 + 2000 + slack_ms()))
			TH_LOG("still open long after the inspect timeout");
		dt = now_ms() - t0;
		EXPECT_LE(500ULL, dt);
		close(fd);
	}
	EXPECT_EQ(accepted, atomic_load(&self->srv[0].accepted))
		TH_LOG("a client without a valid header reached the server");
	ASSERT_LT(0, admin(self->sock, "show stats --json", out, sizeof(out)));
	EXPECT_NE(NULL, strstr(out, "\"conns_bad_proxy\":2,")) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "\"inspect_timeouts\":1,")) TH_LOG("%s", out);
}

/*
 * The header's address is the client's for allow/deny too; peers
 * outside accept-proxy-from are refused; bytes sent right behind the
 * header reach the server, first; and with proxy-protocol = v2 and
 * accept-proxy-tlvs = pass the TLVs go on to the server.
 */
TEST_F(lb, accept_proxy_rules)
{
	static const uint8_t tlvs[] = { 0x02, 0x00, 0x03, 'a', 'b', 'c',
					0x01, 0x00, 0x02, 'h', '2' };
	static char text[2048];
	uint16_t lp2, lp3, lp4;
	char v1[128], buf[128];
	uint8_t want[128];
	uint8_t v2[256];
	struct pollfd p;
	int fd, id, got;
	size_t n;

	CHECK_SKIP(&self->e);
	ASSERT_EQ(0, idsrv_start(&self->srv[0], 0, PP_NONE));
	atomic_store(&self->srv[0].echo, true);
	self->nsrv = 1;
	ASSERT_EQ(0, free_port(AF_INET, &self->e.lport));
	ASSERT_EQ(0, free_port(AF_INET, &lp2));
	ASSERT_EQ(0, free_port(AF_INET, &lp3));
	ASSERT_EQ(0, free_port(AF_INET, &lp4));
	snprintf(text, sizeof(text),
		 "[global]\nthreads = 1\nadmin = %s\naccept-proxy = any\n\n"
		 "[listener front]\nbind = 127.0.0.1:%u\nbackend = pool\n"
		 "deny = 203.0.113.0/24\n\n"
		 "[listener lan]\nbind = 127.0.0.1:%u\nbackend = pool\n"
		 "accept-proxy-from = 10.0.0.0/8, 192.168.0.0/16\n\n"
		 "[listener open]\nbind = 127.0.0.1:%u\nbackend = pool\n"
		 "accept-proxy = off\n\n"
		 "[listener tlv]\nbind = 127.0.0.1:%u\nbackend = pool\n"
		 "proxy-protocol = v2\naccept-proxy-tlvs = pass\n\n"
		 "[backend pool]\nserver = a 127.0.0.1:%u\n",
		 self->sock, self->e.lport, lp2, lp3, lp4, self->srv[0].port);
	lb_write_cfg(_metadata, self, text);
	lb_spawn(_metadata, self, NULL);
	lb_wait_port(_metadata, self, lp2);
	lb_wait_port(_metadata, self, lp3);
	lb_wait_port(_metadata, self, lp4);

	/* deny sees the header's address, not loopback */
	n = pp_v1_make(v1, sizeof(v1), "TCP4", "203.0.113.9", "198.51.100.1",
		       1000, 443);
	EXPECT_GT(0, pp_send(_metadata, self->e.lport, v1, n, 1, NULL));
	EXPECT_EQ(0, rl_log_wait(&self->e.rl, "client=203.0.113.9:1000 ", 1,
				 3000 + slack_ms()));
	EXPECT_EQ(0, rl_log_wait(&self->e.rl, "end=denied", 1,
				 3000 + slack_ms()));
	/* loopback may not send headers to lan */
	EXPECT_GT(0, pp_send(_metadata, lp2, v1, n, 1, NULL));
	EXPECT_EQ(0, rl_log_wait(&self->e.rl, "end=proxy-untrusted", 1,
				 3000 + slack_ms()));
	/* the listener that turned it off forwards a header as data */
	fd = tcp_connect(AF_INET, lp3);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, read_id(fd, 3000 + slack_ms()));
	close(fd);

	/* bytes in the same segment as the header: the server's, in order */
	n = pp_v1_make(v1, sizeof(v1), "TCP4", "198.51.100.7", "198.51.100.1",
		       2000, 443);
	memcpy(v1 + n, "hello", 5);
	fd = tcp_connect(AF_INET, self->e.lport);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)n + 5, send(fd, v1, n + 5, MSG_NOSIGNAL));
	id = read_id(fd, 3000 + slack_ms());
	ASSERT_EQ(0, id) TH_LOG("header and data: %s", strerror(-id));
	for (got = 0; got < 5;) {
		p = (struct pollfd){ .fd = fd, .events = POLLIN };
		ASSERT_EQ(1, poll(&p, 1, 3000 + slack_ms()));
		n = recv(fd, buf + got, sizeof(buf) - got, 0);
		ASSERT_LT(0, (ssize_t)n);
		got += n;
	}
	EXPECT_EQ(0, memcmp(buf, "hello", 5));
	close(fd);
	/* the same from a v2 header, the data in a later segment */
	n = pp_v2_make(v2, AF_INET, "198.51.100.8", "198.51.100.1", 2001, 443,
		       NULL, 0);
	fd = tcp_connect(AF_INET, self->e.lport);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, send_split(fd, v2, n, 2));
	ASSERT_EQ(0, read_id(fd, 3000 + slack_ms()));
	ASSERT_EQ(5, send(fd, "world", 5, MSG_NOSIGNAL));
	for (got = 0; got < 5;) {
		p = (struct pollfd){ .fd = fd, .events = POLLIN };
		ASSERT_EQ(1, poll(&p, 1, 3000 + slack_ms()));
		n = recv(fd, buf + got, sizeof(buf) - got, 0);
		ASSERT_LT(0, (ssize_t)n);
		got += n;
	}
	EXPECT_EQ(0, memcmp(buf, "world", 5));
	close(fd);
	EXPECT_EQ(0, rl_log_wait(&self->e.rl, "client=198.51.100.8:2001 ", 1,
				 3000 + slack_ms()));

	/*
	 * TLVs passed on: the echoing server sends back the header ringlb
	 * sent it, which must be the one received, TLVs and all
	 */
	n = pp_v2_make(v2, AF_INET, "198.51.100.9", "198.51.100.1", 2002, 443,
		       tlvs, sizeof(tlvs));
	memcpy(want, v2, n);
	fd = tcp_connect(AF_INET, lp4);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)n, send(fd, v2, n, MSG_NOSIGNAL));
	ASSERT_EQ(0, read_id(fd, 3000 + slack_ms()));
	for (got = 0; got < (int)n;) {
		ssize_t k;

		p = (struct pollfd){ .fd = fd, .events = POLLIN };
		ASSERT_EQ(1, poll(&p, 1, 3000 + slack_ms()))
			TH_LOG("%d of %zu header bytes back", got, n);
		k = recv(fd, buf + got, sizeof(buf) - got, 0);
		ASSERT_LT(0, k);
		got += k;
	}
	EXPECT_EQ((int)n, got);
	EXPECT_EQ(0, memcmp(buf, want, n)) TH_LOG("the header sent on differs");
	close(fd);
}

/* ---- 4c. routing by TLS server name (sni-backend) --------------------------- */

static bool have_openssl(void)
{
	return !system("command -v openssl >/dev/null 2>&1");
}

/* openssl s_client towards @port naming @name (NULL: no SNI); its status */
static int s_client(uint16_t port, const char *name)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd),
		 "exec timeout 20 openssl s_client -connect 127.0.0.1:%u %s%s </dev/null >/dev/null 2>&1",
		 port, name ? "-servername " : "-noservername",
		 name ? name : "");
	return system(cmd);
}

/*
 * A real ClientHello: what `openssl s_client -servername @name` sends
 * first, read off a listener of our own. Its length, or -errno.
 */
static int capture_hello(const char *name, uint8_t *buf, size_t size)
{
	int lfd, fd = -1, len = 0, need = 5;
	uint16_t port;
	char cmd[256];
	pid_t pid;

	lfd = idsrv_listen(0, &port);
	if (lfd < 0)
		return lfd;
	snprintf(cmd, sizeof(cmd),
		 "exec timeout 20 openssl s_client -connect 127.0.0.1:%u -servername %s -alpn h2,http/1.1 </dev/null >/dev/null 2>&1",
		 port, name);
	pid = fork();
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	if (pid > 0) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };

		if (poll(&p, 1, 10000 + slack_ms()) == 1)
			fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	}
	while (fd >= 0 && len < need && (size_t)need <= size) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 10000 + slack_ms()) != 1)
			break;
		n = recv(fd, buf + len, need - len, 0);
		if (n <= 0)
			break;
		len += n;
		if (len == 5)
			need = 5 + (buf[3] << 8 | buf[4]);
	}
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	if (fd >= 0)
		close(fd);
	close(lfd);
	return len == need && len > 5 ? len : -EIO;
}

/* wait until server @i accepted @want connections in all */
static bool lb_accepted(FIXTURE_DATA(lb) *self, int i, int want)
{
	uint64_t end = now_ms() + 3000 + slack_ms();

	while (atomic_load(&self->srv[i].accepted) < want) {
		if (now_ms() > end)
			return false;
		sleep_ms(5);
	}
	return true;
}

/*
 * @len bytes to @port (@prefix first, in the same segment) in @parts
 * pieces: the id of the echoing server that answered, after checking
 * that it got exactly these bytes, the prefix excepted; or -errno.
 */
static int sni_replay(struct __test_metadata *_metadata, uint16_t port,
		      const char *prefix, const uint8_t *msg, size_t len,
		      int parts)
{
	static uint8_t out[SNI_BUF], back[SNI_BUF];
	size_t pl = prefix ? strlen(prefix) : 0, got = 0;
	int fd, id;

	ASSERT_GE(sizeof(out), pl + len);
	if (pl)
		memcpy(out, prefix, pl);
	memcpy(out + pl, msg, len);
	fd = tcp_connect(AF_INET, port);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, send_split(fd, out, pl + len, parts));
	id = read_id(fd, 3000 + slack_ms());
	while (id >= 0 && got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		ASSERT_EQ(1, poll(&p, 1, 3000 + slack_ms()))
			TH_LOG("%zu of %zu bytes came back", got, len);
		n = recv(fd, back + got, sizeof(back) - got, 0);
		ASSERT_LT(0, n);
		got += n;
	}
	close(fd);
	if (id >= 0)
		EXPECT_EQ(0, memcmp(back, msg, len))
			TH_LOG("the server did not get the ClientHello untouched");
	return id;
}

/*
 * sni-backend: real ClientHellos from openssl go by their server name
 * (exact names, then the longest *.suffix, then the listener's
 * backend), whole, in pieces or spread over two TLS records, and reach
 * the server untouched; behind a PROXY header too. A broken ClientHello
 * closes the client; bytes that are not TLS go to the default; one cut
 * short is closed by the deadline, or when the client closes.
 */
TEST_F(lb, sni_routing)
{
	static char text[2048];
	static uint8_t hello[SNI_BUF], frag[SNI_BUF];
	char want[96], pp[96];
	uint16_t lp2;
	int i, len, n0, half;
	uint64_t t0;

	CHECK_SKIP(&self->e);
	if (!have_openssl())
		SKIP(return, "no openssl for real ClientHellos");
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, idsrv_start(&self->srv[i], i, PP_NONE));
		atomic_store(&self->srv[i].echo, true);
		self->nsrv++;
	}
	ASSERT_EQ(0, free_port(AF_INET, &self->e.lport));
	ASSERT_EQ(0, free_port(AF_INET, &lp2));
	snprintf(text, sizeof(text),
		 "[global]\nthreads = 1\nadmin = %s\ninspect-timeout = 800\n\n"
		 "[listener tls]\nbind = 127.0.0.1:%u\nbackend = c\n"
		 "sni-backend = a.example.com a\n"
		 "sni-backend = *.example.org b\n"
		 "sni-backend = *.a.example.org a\n\n"
		 "[listener behind]\nbind = 127.0.0.1:%u\nbackend = c\n"
		 "accept-proxy = v1\nsni-backend = a.example.com a\n\n"
		 "[backend a]\nserver = a 127.0.0.1:%u\n"
		 "[backend b]\nserver = b 127.0.0.1:%u\n"
		 "[backend c]\nserver = c 127.0.0.1:%u\n",
		 self->sock, self->e.lport, lp2, self->srv[0].port,
		 self->srv[1].port, self->srv[2].port);
	lb_write_cfg(_metadata, self, text);
	lb_spawn(_metadata, self, NULL);
	lb_wait_port(_metadata, self, lp2);

	/* openssl itself, by name; case does not matter */
	{
		static const struct { const char *name; int srv; } cases[] = {
			{ "a.example.com", 0 }, { "A.Example.COM", 0 },
			{ "x.example.org", 1 }, { "y.a.example.org", 0 },
			{ "example.org", 2 }, { "other.net", 2 }, { NULL, 2 },
		};
		int acc[3];

		for (i = 0; i < 3; i++)
			acc[i] = atomic_load(&self->srv[i].accepted);
		for (i = 0; i < (int)(sizeof(cases) / sizeof(cases[0])); i++) {
			int s = cases[i].srv;

			s_client(self->e.lport, cases[i].name);
			EXPECT_TRUE(lb_accepted(self, s, ++acc[s]))
				TH_LOG("%s did not reach server %d",
				       cases[i].name ? cases[i].name : "(no name)",
				       s);
		}
		EXPECT_EQ(0, rl_log_wait(&self->e.rl,
					 "backend=b server=", 1, 3000 + slack_ms()));
		EXPECT_EQ(0, rl_log_wait(&self->e.rl, "sni=x.example.org", 1,
					 3000 + slack_ms()));
	}

	/* one captured ClientHello, replayed: whole, in pieces, in records */
	len = capture_hello("a.example.com", hello, sizeof(hello));
	ASSERT_LT(0, len) TH_LOG("could not capture a ClientHello");
	EXPECT_EQ(0, sni_replay(_metadata, self->e.lport, NULL, hello, len, 1));
	EXPECT_EQ(0, sni_replay(_metadata, self->e.lport, NULL, hello, len, 3));
	/* the handshake message over two records, each its own header */
	half = (len - 5) / 3;
	memcpy(frag, hello, 3);
	frag[3] = half >> 8;
	frag[4] = half & 0xff;
	memcpy(frag + 5, hello + 5, half);
	memcpy(frag + 5 + half, hello, 3);
	frag[8 + half] = (len - 5 - half) >> 8;
	frag[9 + half] = (len - 5 - half) & 0xff;
	memcpy(frag + 10 + half, hello + 5 + half, len - 5 - half);
	EXPECT_EQ(0, sni_replay(_metadata, self->e.lport, NULL, frag, len + 5,
				2));
	/* behind a PROXY header: the header is consumed, the hello is not */
	snprintf(pp, sizeof(pp), "PROXY TCP4 198.51.100.3 198.51.100.1 3333 443\r\n");
	EXPECT_EQ(0, sni_replay(_metadata, lp2, pp, hello, len, 2));
	EXPECT_EQ(0, rl_log_wait(&self->e.rl,
				 "client=198.51.100.3:3333 listener=behind backend=a",
				 1, 3000 + slack_ms()));
	/* not TLS: the default backend, bytes untouched */
	EXPECT_EQ(2, sni_replay(_metadata, self->e.lport, NULL,
				(const uint8_t *)"GET / HTTP/1.0\r\n\r\n", 18, 1));

	/* a broken ClientHello: closed, logged, no server tried */
	n0 = atomic_load(&self->srv[0].accepted) +
	     atomic_load(&self->srv[1].accepted) +
	     atomic_load(&self->srv[2].accepted);
	memcpy(frag, hello, len);
	frag[5] = 0x02;	/* a ServerHello's type */
	EXPECT_GT(0, sni_replay(_metadata, self->e.lport, NULL, frag, len, 1));
	EXPECT_EQ(0, rl_log_wait(&self->e.rl,
				 "bad TLS ClientHello from 127.0.0.1:", 1,
				 3000 + slack_ms()));
	/* cut short, then silent: the deadline; then closing: at once */
	{
		int fd = tcp_connect(AF_INET, self->e.lport);
		struct pollfd p = { .fd = fd, .events = POLLIN };

		ASSERT_LE(0, fd);
		ASSERT_EQ(20, send(fd, hello, 20, MSG_NOSIGNAL));
		t0 = now_ms();
		ASSERT_EQ(1, poll(&p, 1, 800 + 2000 + slack_ms()))
			TH_LOG("still open long after the inspect timeout");
		EXPECT_LE(700ULL, now_ms() - t0);
		close(fd);
		fd = tcp_connect(AF_INET, self->e.lport);
		ASSERT_LE(0, fd);
		ASSERT_EQ(20, send(fd, hello, 20, MSG_NOSIGNAL));
		sleep_ms(50);
		ASSERT_EQ(0, shutdown(fd, SHUT_WR));
		p = (struct pollfd){ .fd = fd, .events = POLLIN };
		t0 = now_ms();
		ASSERT_EQ(1, poll(&p, 1, 3000 + slack_ms()));
		EXPECT_GT(700ULL, now_ms() - t0)
			TH_LOG("a client that closed waited for the deadline");
		close(fd);
	}
	EXPECT_EQ(n0, atomic_load(&self->srv[0].accepted) +
		      atomic_load(&self->srv[1].accepted) +
		      atomic_load(&self->srv[2].accepted))
		TH_LOG("a client with no whole ClientHello reached a server");
	snprintf(want, sizeof(want), "end=inspect-timeout sni=-");
	EXPECT_EQ(0, rl_log_wait(&self->e.rl, want, 1, 3000 + slack_ms()));
	EXPECT_EQ(0, rl_log_wait(&self->e.rl, "end=client-closed sni=-", 1,
				 3000 + slack_ms()));
}

/* ---- 4d. the access line's format ------------------------------------------ */

/*
 * log-format from [global] reaches every listener; a listener's own
 * wins; access-log = off silences one; %Tc and %rc tell a connect that
 * went to a second server after the first refused.
 */
TEST_F(lb, log_format)
{
	static char text[2048];
	char want[256], dead[64];
	uint16_t lp2, lp3, cport, dport;
	int fd, rfd, id;

	CHECK_SKIP(&self->e);
	ASSERT_EQ(0, idsrv_start(&self->srv[0], 0, PP_NONE));
	self->nsrv = 1;
	rfd = reserve_port(AF_INET, &dport);
	ASSERT_LE(0, rfd);
	snprintf(dead, sizeof(dead), "127.0.0.1:%u", dport);
	ASSERT_EQ(0, free_port(AF_INET, &self->e.lport));
	ASSERT_EQ(0, free_port(AF_INET, &lp2));
	ASSERT_EQ(0, free_port(AF_INET, &lp3));
	snprintf(text, sizeof(text),
		 "[global]\nthreads = 1\nadmin = %s\n"
		 "log-format = tcp %%ci %%cp %%f %%fa %%b/%%s %%sa %%U %%B Tc=%%Tc rc=%%rc %%ts 100%%%%\n\n"
		 "[listener web]\nbind = 127.0.0.1:%u\nbackend = pool\n\n"
		 "[listener own]\nbind = 127.0.0.1:%u\nbackend = pool\n"
		 "log-format = own %%c via %%f\n\n"
		 "[listener quiet]\nbind = 127.0.0.1:%u\nbackend = pool\n"
		 "access-log = off\n\n"
		 "[backend pool]\nbalance = rr\nfall = 100\n"
		 "server = dead %s\nserver = a 127.0.0.1:%u\n",
		 self->sock, self->e.lport, lp2, lp3, dead, self->srv[0].port);
	lb_write_cfg(_metadata, self, text);
	lb_spawn(_metadata, self, NULL);
	lb_wait_port(_metadata, self, lp2);
	lb_wait_port(_metadata, self, lp3);

	/* the silenced listener first: its line would come before the rest */
	fd = tcp_connect(AF_INET, lp3);
	ASSERT_LE(0, fd);
	id = read_id(fd, 3000 + slack_ms());
	ASSERT_LE(0, id);
	close(fd);
	/* one client to each other listener, each reaching server a */
	fd = tcp_connect(AF_INET, self->e.lport);
	ASSERT_LE(0, fd);
	cport = local_port(fd);
	ASSERT_EQ(0, read_id(fd, 3000 + slack_ms()));
	ASSERT_EQ(4, send(fd, "ping", 4, MSG_NOSIGNAL));
	close(fd);
	snprintf(want, sizeof(want),
		 "ringlb: info: access tcp 127.0.0.1 %u web 127.0.0.1:%u pool/a 127.0.0.1:%u 4 1 Tc=",
		 cport, self->e.lport, self->srv[0].port);
	EXPECT_EQ(0, rl_log_wait(&self->e.rl, want, 1, 3000 + slack_ms()));
	fd = tcp_connect(AF_INET, lp2);
	ASSERT_LE(0, fd);
	cport = local_port(fd);
	ASSERT_LE(0, read_id(fd, 3000 + slack_ms()));
	close(fd);
	snprintf(want, sizeof(want), "ringlb: info: access own 127.0.0.1:%u via own\n",
		 cport);
	EXPECT_EQ(0, rl_log_wait(&self->e.rl, want, 1, 3000 + slack_ms()));
	/* rr over dead and a: every client tried dead first, then a */
	EXPECT_EQ(0, rl_log_wait(&self->e.rl, " rc=1 done 100%", 1,
				 3000 + slack_ms()));
	EXPECT_EQ(0, rl_log_count(&self->e.rl, " rc=0 "));
	snprintf(want, sizeof(want), " quiet 127.0.0.1:%u ", lp3);
	EXPECT_EQ(0, rl_log_count(&self->e.rl, want)) TH_LOG("access-log = off logged");
	close(rfd);
}

/* ---- 4e. transparent proxying ---------------------------------------------- */

/* run a shell command; its exit status */
static int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* the first line a command printed, or "" */
static void sh_line(char *out, size_t size, const char *cmd)
{
	FILE *f = popen(cmd, "r");

	out[0] = '\0';
	if (!f)
		return;
	if (fgets(out, size, f))
		out[strcspn(out, "\n")] = '\0';
	pclose(f);
}

/*
 * transparent = on, inside namespaces: a client namespace (10.71.1.2)
 * and a server namespace (10.71.2.2, routed through us), the daemon in
 * the test's own. The server prints the peer address it saw: through
 * the transparent listener the client's, through a plain one ours.
 * The routing is the documented one: what comes back from the servers'
 * side is delivered locally (ip rule iif ... lookup 100, a local
 * default route in table 100).
 */
TEST_F(lb, transparent)
{
	static char text[2048];
	char c_ns[32], s_ns[32], out[128], cmd[256];
	uint16_t tport;
	uint64_t end;

	CHECK_SKIP(&self->e);
	if (geteuid() || sh("ip netns list >/dev/null 2>&1") ||
	    sh("command -v socat >/dev/null 2>&1"))
		SKIP(return, "needs root, ip netns and socat");
	snprintf(c_ns, sizeof(c_ns), "rlbc%d", getpid());
	snprintf(s_ns, sizeof(s_ns), "rlbs%d", getpid());
	/* removed by the teardown, whatever happens here */
	strcpy(self->netns[0], c_ns);
	strcpy(self->netns[1], s_ns);
	ASSERT_EQ(0, sh("set -e; ip netns add %s; ip netns add %s\n"
			"ip link add rc0 type veth peer name rc1 netns %s\n"
			"ip link add rs0 type veth peer name rs1 netns %s\n"
			"ip addr add 10.71.1.1/24 dev rc0; ip link set rc0 up\n"
			"ip addr add 10.71.2.1/24 dev rs0; ip link set rs0 up\n"
			"ip -n %s addr add 10.71.1.2/24 dev rc1\n"
			"ip -n %s link set rc1 up; ip -n %s link set lo up\n"
			"ip -n %s route add default via 10.71.1.1\n"
			"ip -n %s addr add 10.71.2.2/24 dev rs1\n"
			"ip -n %s link set rs1 up; ip -n %s link set lo up\n"
			"ip -n %s route add default via 10.71.2.1\n"
			"ip rule add iif rs0 lookup 100 pref 100\n"
			"ip route add local 0.0.0.0/0 dev lo table 100\n",
			c_ns, s_ns, c_ns, s_ns, c_ns, c_ns, c_ns, c_ns, s_ns,
			s_ns, s_ns, s_ns))
		TH_LOG("could not set up the namespaces");
	/* the server says whom it sees */
	ASSERT_EQ(0, sh("ip netns exec %s socat TCP-LISTEN:8080,bind=10.71.2.2,reuseaddr,fork "
			"SYSTEM:'echo $SOCAT_PEERADDR' >/dev/null 2>&1 &", s_ns));
	ASSERT_EQ(0, free_port(AF_INET, &self->e.lport));
	ASSERT_EQ(0, free_port(AF_INET, &tport));
	snprintf(text, sizeof(text),
		 "[global]\nthreads = 1\nadmin = %s\n\n"
		 "[listener plain]\nbind = 127.0.0.1:%u\nbackend = app\n\n"
		 "[listener tp]\nbind = 10.71.1.1:%u\nbackend = app\n"
		 "transparent = on\n\n"
		 "[backend app]\nserver = s 10.71.2.2:8080\n",
		 self->sock, self->e.lport, tport);
	lb_write_cfg(_metadata, self, text);
	/* the server is listening once a plain connect gets its answer */
	end = now_ms() + 10000 + slack_ms();
	do {
		sh_line(out, sizeof(out),
			"socat -T2 - TCP:10.71.2.2:8080,connect-timeout=1 </dev/null 2>/dev/null");
	} while (!out[0] && now_ms() < end && (sleep_ms(50), 1));
	ASSERT_STREQ("10.71.2.1", out) TH_LOG("the server is not answering");
	lb_spawn(_metadata, self, NULL);

	/* through the transparent listener: the client's own address */
	snprintf(cmd, sizeof(cmd),
		 "ip netns exec %s socat -T5 - TCP:10.71.1.1:%u </dev/null 2>/dev/null",
		 c_ns, tport);
	end = now_ms() + 10000 + slack_ms();
	do {
		sh_line(out, sizeof(out), cmd);
	} while (!out[0] && now_ms() < end && (sleep_ms(50), 1));
	EXPECT_STREQ("10.71.1.2", out);
	EXPECT_EQ(0, rl_log_wait(&self->e.rl,
				 "client=10.71.1.2:", 1, 3000 + slack_ms()));
	/* through the plain one: ours */
	snprintf(cmd, sizeof(cmd),
		 "socat -T5 - TCP:127.0.0.1:%u </dev/null 2>/dev/null",
		 self->e.lport);
	sh_line(out, sizeof(out), cmd);
	EXPECT_STREQ("10.71.2.1", out);

}

/* ---- 4f. servers by DNS name -------------------------------------------------- */

/*
 * A DNS server for the test's names: A records from a table the test
 * changes as it goes, NXDOMAIN for any name not in it, an empty answer
 * for other types (AAAA).
 */
struct dns_srv {
	int fd;
	uint16_t port;
	pthread_t thr;
	atomic_bool stop;
	pthread_mutex_t lock;
	char name[4][64], ip[4][16];
	atomic_int asked;
};

static void dns_set(struct dns_srv *d, int i, const char *name, const char *ip)
{
	pthread_mutex_lock(&d->lock);
	snprintf(d->name[i], sizeof(d->name[i]), "%s", name ? name : "");
	snprintf(d->ip[i], sizeof(d->ip[i]), "%s", ip ? ip : "");
	pthread_mutex_unlock(&d->lock);
}

static void *dns_thread(void *arg)
{
	struct dns_srv *d = arg;

	while (!atomic_load(&d->stop)) {
		struct pollfd p = { .fd = d->fd, .events = POLLIN };
		uint8_t q[512], r[600];
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		char name[256] = "";
		size_t i = 12, nl = 0, qend;
		int k, found = -1, qtype;
		ssize_t n;

		if (poll(&p, 1, 20) != 1)
			continue;
		n = recvfrom(d->fd, q, sizeof(q), 0, (struct sockaddr *)&from,
			     &fl);
		if (n < 17)
			continue;
		while (i < (size_t)n && q[i] && q[i] < 64 &&
		       i + 1 + q[i] < (size_t)n && nl + q[i] + 2 < sizeof(name)) {
			if (nl)
				name[nl++] = '.';
			memcpy(name + nl, q + i + 1, q[i]);
			nl += q[i];
			i += 1 + q[i];
		}
		name[nl] = '\0';
		qend = i + 5;
		if (i >= (size_t)n || q[i] || qend > (size_t)n)
			continue;
		qtype = q[i + 1] << 8 | q[i + 2];
		atomic_fetch_add(&d->asked, 1);
		memcpy(r, q, qend);
		r[2] = 0x81;	/* response, recursion desired */
		r[3] = 0x80;	/* recursion available, NOERROR */
		r[6] = r[7] = r[8] = r[9] = r[10] = r[11] = 0;
		pthread_mutex_lock(&d->lock);
		for (k = 0; k < 4; k++)
			if (d->name[k][0] && !strcasecmp(d->name[k], name) &&
			    d->ip[k][0])
				found = k;
		if (found < 0) {
			r[3] = 0x83;	/* NXDOMAIN */
		} else if (qtype == 1) {
			static const uint8_t rr[] = { 0xc0, 0x0c, 0, 1, 0, 1,
						      0, 0, 0, 1, 0, 4 };

			r[7] = 1;
			memcpy(r + qend, rr, sizeof(rr));
			inet_pton(AF_INET, d->ip[found], r + qend + sizeof(rr));
			qend += sizeof(rr) + 4;
		}
		pthread_mutex_unlock(&d->lock);
		if (sendto(d->fd, r, qend, 0, (struct sockaddr *)&from, fl) < 0)
			continue;
	}
	return NULL;
}

static int dns_start(struct dns_srv *d)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);

	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	d->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (d->fd < 0 || bind(d->fd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(d->fd, (struct sockaddr *)&a, &al))
		return -errno;
	d->port = ntohs(a.sin_port);
	return -pthread_create(&d->thr, NULL, dns_thread, d);
}

static void dns_stop(struct dns_srv *d)
{
	atomic_store(&d->stop, true);
	pthread_join(d->thr, NULL);
	close(d->fd);
}

/*
 * server = NAME HOST:PORT: resolved at start through the configured
 * resolver, moved when the name points elsewhere, kept when the name
 * stops resolving; a name that never resolves leaves its server down.
 */
TEST_F(lb, dns_names)
{
	static char text[2048];
	struct dns_srv dns;
	char want[128], out[8192];
	int i, id = -1;
	uint64_t end;

	CHECK_SKIP(&self->e);
	ASSERT_EQ(0, idsrv_start(&self->srv[0], 0, PP_NONE));
	self->nsrv = 1;
	/* the second server: the same port on another loopback address */
	if (idsrv_start_at(&self->srv[1], 1, PP_NONE, "127.0.0.2",
			   self->srv[0].port))
		SKIP(return, "cannot listen on 127.0.0.2:%u", self->srv[0].port);
	self->nsrv = 2;
	ASSERT_EQ(0, dns_start(&dns));
	dns_set(&dns, 0, "app.test", "127.0.0.1");
	ASSERT_EQ(0, free_port(AF_INET, &self->e.lport));
	snprintf(text, sizeof(text),
		 "[global]\nthreads = 1\nadmin = %s\nresolver = 127.0.0.1:%u\n\n"
		 "[listener web]\nbind = 127.0.0.1:%u\nbackend = pool\n\n"
		 "[backend pool]\nresolve-every = 200ms\n"
		 "server = a app.test:%u\nserver = ghost nx.test:%u\n",
		 self->sock, dns.port, self->e.lport, self->srv[0].port,
		 self->srv[0].port);
	lb_write_cfg(_metadata, self, text);
	lb_spawn(_metadata, self, NULL);

	/* resolved before the first client; the unknown name stays down */
	snprintf(want, sizeof(want), "app.test at 127.0.0.1:%u",
		 self->srv[0].port);
	EXPECT_EQ(0, rl_log_wait(&self->e.rl, want, 1, 3000 + slack_ms()));
	EXPECT_EQ(0, rl_log_wait(&self->e.rl, "cannot resolve nx.test", 1,
				 3000 + slack_ms()));
	ASSERT_LT(0, admin(self->sock, "show servers --json", out, sizeof(out)));
	EXPECT_TRUE(json_server_state(out, "ghost", "down")) TH_LOG("%s", out);
	for (i = 0; i < 4; i++)
		EXPECT_EQ(0, lb_pick(_metadata, self, NULL, false));

	/* the name moves: new clients follow */
	dns_set(&dns, 0, "app.test", "127.0.0.2");
	snprintf(want, sizeof(want), "app.test now at 127.0.0.2:%u (was 127.0.0.1:%u)",
		 self->srv[0].port, self->srv[0].port);
	EXPECT_EQ(0, rl_log_wait(&self->e.rl, want, 1, 3000 + slack_ms()));
	end = now_ms() + 3000 + slack_ms();
	while (now_ms() < end && (id = lb_pick(_metadata, self, NULL, false)) != 1)
		sleep_ms(20);
	EXPECT_EQ(1, id);
	EXPECT_EQ(1, lb_pick(_metadata, self, NULL, false));

	/* the name is gone: the last address stays */
	dns_set(&dns, 0, NULL, NULL);
	EXPECT_EQ(0, rl_log_wait(&self->e.rl,
				 "cannot resolve app.test: Domain name not found: keeping its last address",
				 1, 3000 + slack_ms()));
	EXPECT_EQ(1, lb_pick(_metadata, self, NULL, false));
	EXPECT_LT(2, atomic_load(&dns.asked));
	ASSERT_LT(0, admin(self->sock, "show servers --json", out, sizeof(out)));
	EXPECT_TRUE(json_server_state(out, "a", "up")) TH_LOG("%s", out);
	dns_stop(&dns);
}

/* ---- 5. admin ------------------------------------------------------------------------------- */

/* what the completion offers for COMP_WORDS=(@words), COMP_CWORD=@cword */
static void complete(char *out, size_t size, const char *bin,
		     const char *file, const char *words, int cword)
{
	char cmd[3 * PATH_MAX];

	snprintf(cmd, sizeof(cmd),
		 "PATH='%s':$PATH bash -c 'source \"%s\"; "
		 "COMP_WORDS=(%s); COMP_CWORD=%d; _ringlbctl; "
		 "echo \"${COMPREPLY[*]}\"'", bin, file, words, cword);
	sh_line(out, size, cmd);
}

/*
 * ringlbctl's bash completion, sourced by a real bash: commands, then
 * the running daemon's BACKEND/SERVER names, asked of the socket the
 * command line names.
 */
TEST_F(lb, bash_completion)
{
	static const int w[] = { 1, 1 };
	char dir[PATH_MAX], file[PATH_MAX + 64], bin[PATH_MAX], out[512];
	char words[256];

	CHECK_SKIP(&self->e);
	if (system("command -v bash >/dev/null 2>&1") ||
	    access(ringlbctl_path(), X_OK) || find_examples(dir, sizeof(dir)))
		SKIP(return, "no bash, ringlbctl or deploy/ beside the binary");
	snprintf(file, sizeof(file), "%s/../bash-completion/ringlbctl", dir);
	if (access(file, R_OK))
		SKIP(return, "no deploy/bash-completion/ringlbctl");
	snprintf(bin, sizeof(bin), "%s", ringlbctl_path());
	*strrchr(bin, '/') = '\0';
	lb_servers(_metadata, self, 2, PP_NONE);
	lb_start(_metadata, self, 1, "rr", w, 2, NULL);

	complete(out, sizeof(out), bin, file, "ringlbctl \"\"", 1);
	EXPECT_STREQ("show disable enable set withdraw rejoin drain top", out);
	complete(out, sizeof(out), bin, file, "ringlbctl show s", 2);
	EXPECT_STREQ("stats servers", out);
	complete(out, sizeof(out), bin, file, "ringlbctl show l", 2);
	EXPECT_STREQ("listeners", out);
	complete(out, sizeof(out), bin, file, "ringlbctl show h", 2);
	EXPECT_STREQ("health", out);
	/* top's own option after it, nothing after its value */
	complete(out, sizeof(out), bin, file, "ringlbctl -T 2 top -", 4);
	EXPECT_STREQ("-d --delay -h --help", out);
	complete(out, sizeof(out), bin, file, "ringlbctl top -d 1 \"\"", 4);
	EXPECT_STREQ("", out);
	complete(out, sizeof(out), bin, file, "ringlbctl -", 1);
	EXPECT_STREQ("-s --socket -T --timeout -j --json -h --help -V --version",
		     out);
	/* the daemon's servers, from the socket the line names */
	snprintf(words, sizeof(words), "ringlbctl -s %s disable server \"\"",
		 self->sock);
	complete(out, sizeof(out), bin, file, words, 5);
	EXPECT_STREQ("pool/a pool/b", out);
	snprintf(words, sizeof(words), "ringlbctl --socket %s set weight pool/b",
		 self->sock);
	complete(out, sizeof(out), bin, file, words, 5);
	EXPECT_STREQ("pool/b", out);
}

TEST_F(lb, admin)
{
	static const int w[] = { 1, 1, 1 };
	static const char *const shows[] = { "stats", "servers", "conns",
					     "kernel" };
	char out[16384], *big;
	struct stat st;
	size_t i;
	int rc, fd, id;
	uint16_t cport;

	CHECK_SKIP(&self->e);
	if (access(ringlbctl_path(), X_OK))
		SKIP(return, "no ringlbctl beside ringlb: %s", ringlbctl_path());
	lb_servers(_metadata, self, 3, PP_NONE);
	lb_start(_metadata, self, 2, "rr", w, 3, NULL);
	lb_wait_idle(_metadata, self);

	ASSERT_EQ(0, stat(self->sock, &st));
	EXPECT_TRUE(S_ISSOCK(st.st_mode));
	EXPECT_EQ((mode_t)0600, st.st_mode & 07777);

	/* one client held open, for show conns */
	fd = connect_from(AF_INET, self->e.lport, NULL);
	ASSERT_LE(0, fd);
	self->held[self->nheld++] = fd;
	cport = local_port(fd);
	id = read_id(fd, 3000 + slack_ms());
	ASSERT_LE(0, id);

	for (i = 0; i < sizeof(shows) / sizeof(shows[0]); i++) {
		rc = CTL(self, out, "show", shows[i]);
		EXPECT_EQ(0, rc) TH_LOG("show %s: %s", shows[i], out);
		EXPECT_LT((size_t)0, strlen(out)) TH_LOG("show %s: no output", shows[i]);
		EXPECT_EQ(NULL, strstr(out, "error:")) TH_LOG("%s", out);
		rc = CTL(self, out, "--json", "show", shows[i]);
		EXPECT_EQ(0, rc) TH_LOG("show %s --json: %s", shows[i], out);
		EXPECT_TRUE(json_valid(out))
			TH_LOG("show %s --json: not JSON: %s", shows[i], out);
	}
	/* the figures mean something */
	rc = CTL(self, out, "--json", "show", "conns");
	{
		char want[64];

		snprintf(want, sizeof(want), "\"client\":\"127.0.0.1:%u\"",
			 cport);
		EXPECT_NE(NULL, strstr(out, want)) TH_LOG("%s", out);
	}
	rc = CTL(self, out, "show", "conns");
	{
		char want[64];

		snprintf(want, sizeof(want), "127.0.0.1:%u ", cport);
		EXPECT_NE(NULL, strstr(out, want)) TH_LOG("%s", out);
	}
	rc = CTL(self, out, "--json", "show", "stats");
	EXPECT_NE(NULL, strstr(out, "\"conns_active\":1"))
		TH_LOG("%s", out);
	rc = CTL(self, out, "--json", "show", "servers");
	EXPECT_EQ(1, json_server_field(out, srv_name[id], "active"))
		TH_LOG("%s", out);
	/* no uringstat here: still an answer, and says so */
	if (access("/sys/kernel/debug/uringstat/rings", R_OK)) {
		rc = CTL(self, out, "--json", "show", "kernel");
		EXPECT_NE(NULL, strstr(out, "\"module\":false")) TH_LOG("%s", out);
	} else if (!access("/sys/kernel/debug/uringstat/errors", R_OK)) {
		/* our rings' lines, then our rings' errors under their header */
		rc = CTL(self, out, "show", "kernel");
		EXPECT_NE(NULL, strstr(out, "\nid pid comm fd ")) TH_LOG("%s", out);
		EXPECT_NE(NULL, strstr(out, "\nid pid opcode errno count\n"))
			TH_LOG("%s", out);
		rc = CTL(self, out, "--json", "show", "kernel");
		EXPECT_NE(NULL, strstr(out, "\"module\":true")) TH_LOG("%s", out);
		EXPECT_NE(NULL, strstr(out, "],\"errors\":[")) TH_LOG("%s", out);
	}
	lb_close_held(self);

	/* disable, enable, weight */
	rc = CTL(self, out, "disable", "server", "pool/a");
	EXPECT_EQ(0, rc);
	EXPECT_STREQ("ok\n", out);
	rc = CTL(self, out, "show", "servers");
	EXPECT_NE(NULL, strstr(out, "disabled")) TH_LOG("%s", out);
	{
		int per[NSRV];

		lb_picks(_metadata, self, 8, per);
		EXPECT_EQ(0, per[0]);
	}
	rc = CTL(self, out, "enable", "server", "pool/a");
	EXPECT_EQ(0, rc);
	rc = CTL(self, out, "--json", "show", "servers");
	EXPECT_TRUE(json_server_state(out, "a", "up")) TH_LOG("%s", out);
	rc = CTL(self, out, "set", "weight", "pool/c", "7");
	EXPECT_EQ(0, rc) TH_LOG("%s", out);
	rc = CTL(self, out, "--json", "show", "servers");
	EXPECT_EQ(7, json_server_field(out, "c", "weight")) TH_LOG("%s", out);
	rc = CTL(self, out, "set", "weight", "pool/c", "0");
	EXPECT_EQ(0, rc) TH_LOG("%s", out);
	{
		int per[NSRV];

		lb_picks(_metadata, self, 6, per);
		EXPECT_EQ(0, per[2]) TH_LOG("weight 0 still gets clients");
	}

	/* mistakes: an error line, exit 1, and the daemon carries on */
	{
		static const char *const badcmds[][5] = {
			{ "frobnicate" },
			{ "show" },
			{ "show", "nothing" },
			{ "disable", "server", "pool/zz" },
			{ "disable", "server", "noslash" },
			{ "enable", "server" },
			{ "set", "weight", "pool/a", "257" },
			{ "set", "weight", "pool/a", "-1" },
			{ "set", "weight", "pool/a", "x" },
			{ "set", "weight", "pool/zz", "1" },
			{ "drain", "now" },
		};

		for (i = 0; i < sizeof(badcmds) / sizeof(badcmds[0]); i++) {
			const char *const *c = badcmds[i];

			rc = ctl(self, c, out, sizeof(out));
			EXPECT_EQ(1, rc) TH_LOG("%s %s: %s", c[0],
						c[1] ? c[1] : "", out);
			EXPECT_EQ(0, strncmp(out, "error:", 6))
				TH_LOG("%s: %s", c[0], out);
			EXPECT_NE(NULL, strchr(out, '\n'));
		}
	}
	/* raw: empty, NUL, no newline, 100 KB, many words */
	big = malloc(100 * 1024 + 1);
	ASSERT_NE(NULL, big);
	memset(big, 'x', 100 * 1024);
	big[100 * 1024 - 1] = '\n';
	EXPECT_LT(0, admin_raw(self->sock, big, 100 * 1024, out, sizeof(out)));
	EXPECT_EQ(0, strncmp(out, "error:", 6)) TH_LOG("100 KB: %s", out);
	memcpy(big, "show stats ", 11);
	EXPECT_LT(0, admin_raw(self->sock, big, 100 * 1024, out, sizeof(out)));
	EXPECT_EQ(0, strncmp(out, "error:", 6)) TH_LOG("100 KB: %s", out);
	free(big);
	EXPECT_LT(0, admin_raw(self->sock, "\n", 1, out, sizeof(out)));
	EXPECT_EQ(0, strncmp(out, "error:", 6)) TH_LOG("empty: %s", out);
	EXPECT_LT(0, admin_raw(self->sock, "show\0stats\n", 11, out, sizeof(out)));
	EXPECT_EQ(0, strncmp(out, "error:", 6)) TH_LOG("NUL: %s", out);
	EXPECT_LT(0, admin_raw(self->sock, "a b c d e f g h i j k\n", 22, out,
			       sizeof(out)));
	EXPECT_EQ(0, strncmp(out, "error:", 6)) TH_LOG("words: %s", out);
	/* without a newline, the EOF ends the command */
	EXPECT_LT(0, admin_raw(self->sock, "show stats", 10, out, sizeof(out)));
	EXPECT_NE(NULL, strstr(out, "conns_total")) TH_LOG("%s", out);

	/* still serving, on both sockets */
	rc = CTL(self, out, "--json", "show", "stats");
	EXPECT_EQ(0, rc);
	EXPECT_TRUE(json_valid(out)) TH_LOG("%s", out);
	EXPECT_LE(0, lb_pick(_metadata, self, NULL, false));

	/* drain: the daemon finishes by itself, with status 0 */
	rc = CTL(self, out, "drain");
	EXPECT_EQ(0, rc) TH_LOG("%s", out);
	EXPECT_EQ(0, strncmp(out, "ok", 2)) TH_LOG("%s", out);
	ASSERT_EQ(0, rl_wait_exit(&self->e.rl, 3000 + slack_ms()));
	EXPECT_TRUE(WIFEXITED(self->e.rl.status) &&
		    WEXITSTATUS(self->e.rl.status) == 0);
}

/* ---- 6. metrics ------------------------------------------------------------------------------ */

struct sample {
	char name[96];
	char labels[256];
	double value;
};

static bool metric_name_ok(const char *s, size_t n)
{
	size_t i;

	if (!n || isdigit((unsigned char)s[0]))
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != ':')
			return false;
	return true;
}

/*
 * Prometheus text format, every line: "# HELP name text", "# TYPE name
 * counter|gauge|...", or "name{l="v",...} value" with a TYPE given
 * before. Returns the number of samples, or -1 with @why set.
 */
static int prom_parse(char *text, struct sample *out, int max, char *why,
		      size_t wlen)
{
	char typed[128][96];
	int ntyped = 0, n = 0, i;
	char *line, *save = NULL;

	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#') {
			char kind[8], name[96], type[16];

			if (sscanf(line, "# %7s %95s", kind, name) != 2 ||
			    (strcmp(kind, "HELP") && strcmp(kind, "TYPE")) ||
			    !metric_name_ok(name, strlen(name)))
				goto bad;
			if (!strcmp(kind, "TYPE")) {
				if (sscanf(line, "# TYPE %*s %15s", type) != 1 ||
				    (strcmp(type, "counter") && strcmp(type, "gauge") &&
				     strcmp(type, "histogram") && strcmp(type, "summary") &&
				     strcmp(type, "untyped")))
					goto bad;
				for (i = 0; i < ntyped; i++)
					if (!strcmp(typed[i], name))
						goto bad;	/* TYPE twice */
				if (ntyped < 128)
					snprintf(typed[ntyped++], 96, "%s", name);
			}
			continue;
		}
		{
			struct sample s = { 0 };
			size_t nl = strcspn(line, "{ ");
			char *p = line + nl, *end;

			if (!metric_name_ok(line, nl) || nl >= sizeof(s.name))
				goto bad;
			memcpy(s.name, line, nl);
			if (*p == '{') {
				char *q = p + 1;

				/* name="value" pairs, comma separated */
				while (*q != '}') {
					size_t ln = strcspn(q, "=");

					if (!metric_name_ok(q, ln) || q[ln + 1] != '"')
						goto bad;
					q += ln + 2;
					while (*q && *q != '"') {
						if (*q == '\\' && q[1])
							q++;
						q++;
					}
					if (*q++ != '"')
						goto bad;
					if (*q == ',')
						q++;
					else if (*q != '}')
						goto bad;
				}
				if ((size_t)(q - p + 1) >= sizeof(s.labels))
					goto bad;
				memcpy(s.labels, p, q - p + 1);
				p = q + 1;
			}
			if (*p != ' ')
				goto bad;
			s.value = strtod(p + 1, &end);
			if (end == p + 1 || (*end && *end != ' '))
				goto bad;
			for (i = 0; i < ntyped; i++)
				if (!strcmp(typed[i], s.name))
					break;
			if (i == ntyped) {
				snprintf(why, wlen, "no TYPE before: %s", line);
				return -1;
			}
			if (n < max)
				out[n++] = s;
		}
	}
	return n;
bad:
	snprintf(why, wlen, "bad line: %s", line);
	return -1;
}

/* the value of @name with labels containing @labels ("" for none) */
static int prom_get(struct sample *s, int n, const char *name,
		    const char *labels, double *v)
{
	int i, hits = 0;

	for (i = 0; i < n; i++) {
		if (strcmp(s[i].name, name))
			continue;
		if (*labels ? !strstr(s[i].labels, labels) : !!s[i].labels[0])
			continue;
		*v = s[i].value;
		hits++;
	}
	return hits;
}

static int scrape(struct __test_metadata *_metadata, uint16_t port, char *buf,
		  size_t size, struct sample *s, int max)
{
	char why[512];
	int st, n;

	st = rl_http_get(port, "/metrics", buf, size, 60000);
	EXPECT_EQ(200, st);
	if (st != 200)
		return -1;
	n = prom_parse(buf, s, max, why, sizeof(why));
	EXPECT_LT(0, n) TH_LOG("%s", why);
	return n;
}

TEST_F(lb, metrics)
{
	static const int w[] = { 1, 1, 1 };
	static struct sample s[1024];
	const char *extra[] = { "--metrics", NULL, NULL };
	char maddr[64], body[512], lbl[64];
	double v0, v1, v, act;
	uint16_t mport;
	int n, i, per[NSRV];
	static char text[8192];

	CHECK_SKIP(&self->e);
	lb_servers(_metadata, self, 3, PP_NONE);
	ASSERT_EQ(0, free_port(AF_INET, &mport));
	snprintf(maddr, sizeof(maddr), "127.0.0.1:%u", mport);
	extra[1] = maddr;
	ASSERT_EQ(0, free_port(AF_INET, &self->e.lport));
	lb_config(self, text, sizeof(text), 2, "rr", w, 3,
		  "health = tcp\nhealth-interval = 100\n");
	lb_write_cfg(_metadata, self, text);
	lb_spawn(_metadata, self, extra);
	env_settle(_metadata, &self->e);
	sleep_ms(300);	/* a few health checks */

	n = scrape(_metadata, mport, self->buf, sizeof(self->buf), s, 1024);
	ASSERT_LT(0, n);
	ASSERT_EQ(1, prom_get(s, n, "ringlb_connections_total", "", &v0));
	ASSERT_EQ(1, prom_get(s, n, "ringlb_connections_active", "", &act));
	EXPECT_EQ(0, act);
	EXPECT_EQ(1, prom_get(s, n, "ringlb_bytes_total", "direction=\"up\"", &v));
	EXPECT_EQ(1, prom_get(s, n, "ringlb_bytes_total", "direction=\"down\"", &v));
	for (i = 0; i < NSRV; i++) {
		char l[64];

		snprintf(l, sizeof(l), "backend=\"pool\",server=\"%s\"",
			 srv_name[i]);
		EXPECT_EQ(1, prom_get(s, n, "ringlb_server_current_sessions", l, &v));
		EXPECT_EQ(1, prom_get(s, n, "ringlb_server_connection_errors_total", l, &v));
		EXPECT_EQ(0, v);
		EXPECT_EQ(1, prom_get(s, n, "ringlb_server_weight", l, &v));
		EXPECT_EQ(1, v);
		EXPECT_EQ(1, prom_get(s, n, "ringlb_server_resets_total", l, &v));
		EXPECT_EQ(0, v);
		EXPECT_EQ(1, prom_get(s, n, "ringlb_server_passive_downs_total",
				      l, &v));
		EXPECT_EQ(0, v);
		snprintf(l, sizeof(l), "backend=\"pool\",server=\"%s\",state=\"UP\"",
			 srv_name[i]);
		EXPECT_EQ(1, prom_get(s, n, "ringlb_server_status", l, &v)) TH_LOG("%s", l);
		EXPECT_EQ(1, v);
		snprintf(l, sizeof(l), "backend=\"pool\",server=\"%s\",state=\"READY\"",
			 srv_name[i]);
		EXPECT_EQ(1, prom_get(s, n, "ringlb_server_admin_state", l, &v)) TH_LOG("%s", l);
		EXPECT_EQ(1, v);
		snprintf(l, sizeof(l), "backend=\"pool\",server=\"%s\",result=\"ok\"",
			 srv_name[i]);
		EXPECT_EQ(1, prom_get(s, n, "ringlb_server_checks_total", l, &v));
		EXPECT_LT(0, v) TH_LOG("no health check counted for %s", l);
		snprintf(l, sizeof(l), "backend=\"pool\",server=\"%s\",result=\"failed\"",
			 srv_name[i]);
		EXPECT_EQ(1, prom_get(s, n, "ringlb_server_checks_total", l, &v));
	}
	EXPECT_EQ(1, prom_get(s, n, "ringlb_backend_active_servers",
			      "backend=\"pool\"", &v));
	EXPECT_EQ(NSRV, v);
	EXPECT_EQ(1, prom_get(s, n, "ringlb_build_info", "version=", &v));
	EXPECT_EQ(1, v);
	EXPECT_EQ(1, prom_get(s, n, "ringlb_process_start_time_seconds", "",
			      &v));
	EXPECT_LT(time(NULL) - 3600, v);
	EXPECT_GE(time(NULL) + 1, v);
	EXPECT_LE(1, prom_get(s, n, strcmp(self->e.v.engine, "uring") ?
			      "ringlb_epoll_waits_total" :
			      "ringlb_uring_submissions_total", "worker=", &v));

	/* exactly N more */
	lb_picks(_metadata, self, 7, per);
	EXPECT_EQ(0, rl_log_wait(&self->e.rl, "ringlb: info: access ",
				 self->e.probes + 7, 3000 + slack_ms()));
	n = scrape(_metadata, mport, self->buf, sizeof(self->buf), s, 1024);
	ASSERT_LT(0, n);
	ASSERT_EQ(1, prom_get(s, n, "ringlb_connections_total", "", &v1));
	EXPECT_EQ(v0 + 7, v1);
	/* every client came through the one listener */
	EXPECT_EQ(0, prom_get(s, n, "ringlb_frontend_sessions_total", "", &v));
	EXPECT_EQ(1, prom_get(s, n, "ringlb_frontend_sessions_total",
			      "listener=", &v));
	EXPECT_EQ(v1, v);
	lb_wait_idle(_metadata, self);
	/* one held open counts as active, on its server too */
	i = lb_pick(_metadata, self, NULL, true);
	n = scrape(_metadata, mport, self->buf, sizeof(self->buf), s, 1024);
	ASSERT_LT(0, n);
	ASSERT_EQ(1, prom_get(s, n, "ringlb_connections_active", "", &act));
	EXPECT_EQ(1, act);
	snprintf(lbl, sizeof(lbl), "server=\"%s\"", srv_name[i]);
	ASSERT_EQ(1, prom_get(s, n, "ringlb_server_current_sessions", lbl,
			      &v));
	EXPECT_EQ(1, v);
	lb_close_held(self);

	EXPECT_EQ(404, rl_http_get(mport, "/nope", body, sizeof(body), 60000));
}

/* GET /health on @port until it answers @want (bounded), its body in @body */
static int health_wait(uint16_t port, int want, char *body, size_t size)
{
	uint64_t end = now_ms() + 5000 + slack_ms();
	int st;

	do {
		st = rl_http_get(port, "/health", body, size, 60000);
		if (st == want)
			break;
		sleep_ms(20);
	} while (now_ms() < end);
	return st;
}

/*
 * The health answer a routing daemon gates the node's announcement on:
 * serving (200) unless withdrawn, without a usable server, or draining
 * (503, with the reason), and withdraw changes nothing else.
 */
TEST_F(lb, health_answer)
{
	static const int w[] = { 1, 1, 1 };
	const char *extra[] = { "--metrics", NULL, NULL };
	char maddr[64], body[256], out[512], srv[16];
	static char text[8192];
	uint16_t mport;
	int i;

	CHECK_SKIP(&self->e);
	if (access(ringlbctl_path(), X_OK))
		SKIP(return, "no ringlbctl beside ringlb: %s", ringlbctl_path());
	lb_servers(_metadata, self, 3, PP_NONE);
	ASSERT_EQ(0, free_port(AF_INET, &mport));
	snprintf(maddr, sizeof(maddr), "127.0.0.1:%u", mport);
	extra[1] = maddr;
	ASSERT_EQ(0, free_port(AF_INET, &self->e.lport));
	lb_config(self, text, sizeof(text), 2, "maglev", w, 3, NULL);
	lb_write_cfg(_metadata, self, text);
	lb_spawn(_metadata, self, extra);
	env_settle(_metadata, &self->e);

	EXPECT_EQ(200, health_wait(mport, 200, body, sizeof(body)));
	EXPECT_STREQ("serving\n", body);
	EXPECT_EQ(0, CTL(self, out, "show", "health"));
	EXPECT_STREQ("serving\n", out);
	EXPECT_EQ(0, CTL(self, out, "--json", "show", "health"));
	EXPECT_TRUE(json_valid(out)) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "\"serving\":true")) TH_LOG("%s", out);

	/* withdrawn: 503, and still serving */
	EXPECT_EQ(0, CTL(self, out, "withdraw"));
	EXPECT_STREQ("ok\n", out);
	EXPECT_EQ(503, rl_http_get(mport, "/health", body, sizeof(body), 60000));
	EXPECT_STREQ("withdrawn\n", body);
	EXPECT_EQ(0, CTL(self, out, "--json", "show", "health"));
	EXPECT_NE(NULL, strstr(out, "\"serving\":false")) TH_LOG("%s", out);
	lb_pick(_metadata, self, NULL, false);
	EXPECT_EQ(0, CTL(self, out, "rejoin"));
	EXPECT_EQ(200, rl_http_get(mport, "/health", body, sizeof(body), 60000));

	/* no usable server in the backend */
	for (i = 0; i < 3; i++) {
		snprintf(srv, sizeof(srv), "pool/%s", srv_name[i]);
		EXPECT_EQ(0, CTL(self, out, "disable", "server", srv));
	}
	EXPECT_EQ(503, rl_http_get(mport, "/health", body, sizeof(body), 60000));
	EXPECT_STREQ("no server up in backend pool\n", body);
	EXPECT_EQ(0, CTL(self, out, "enable", "server", "pool/b"));
	EXPECT_EQ(200, rl_http_get(mport, "/health", body, sizeof(body), 60000));

	/* draining, while a held connection keeps the daemon up */
	lb_pick(_metadata, self, NULL, true);
	EXPECT_EQ(0, CTL(self, out, "drain"));
	EXPECT_EQ(503, rl_http_get(mport, "/health", body, sizeof(body), 60000));
	EXPECT_STREQ("draining\n", body);
	lb_close_held(self);
}

/* ---- 7. reload ------------------------------------------------------------------------------------ */

static bool paused(struct flow **fl, int n, void *arg)
{
	return fl[0]->tx_sent >= fl[0]->tx_pause_at && fl[0]->rx_bytes > 0;
}

/*
 * A stream in flight across a SIGHUP that adds a server arrives whole;
 * new clients reach the new server; a broken file is refused, logged,
 * and the previous configuration goes on serving.
 */
TEST_F(lb, reload)
{
	struct rl_env *e = &self->e;
	uint64_t len = test_quick() ? 2 * MIB : 8 * MIB;
	char text[2048], out[512];
	struct flow f, *fp = &f;
	int i, srv, ret, per[MAX_BE] = { 0 };
	uint32_t id = 100;

	CHECK_SKIP(e);
	env_backends(_metadata, e, 2);
	ASSERT_EQ(0, free_port(AF_INET, &e->lport));
	snprintf(text, sizeof(text),
		 "[global]\nthreads = 2\nadmin = %s\ndrain-timeout = 3000\n"
		 "[listener web]\nbind = 127.0.0.1:%u\nbackend = pool\n"
		 "[backend pool]\nbalance = rr\nserver = a %s\n",
		 self->sock, e->lport, e->be[0].addr);
	lb_write_cfg(_metadata, self, text);
	lb_spawn(_metadata, self, NULL);
	env_settle(_metadata, e);

	/* a stream, stopped a quarter of the way up */
	env_client(_metadata, e, &f, id, BE_DUPLEX, len, len);
	f.tx_pause_at = len / 4;
	ret = flows_run(&fp, 1, 5000 + slack_ms(), paused, NULL);
	ASSERT_EQ(0, ret);
	ASSERT_EQ(len / 4, f.tx_sent);

	/* a second server, and reload */
	ASSERT_GT(sizeof(text) - strlen(text),
		  (size_t)snprintf(text + strlen(text), sizeof(text) - strlen(text),
				   "server = b %s\n", e->be[1].addr));
	lb_write_cfg(_metadata, self, text);
	ASSERT_EQ(0, kill(e->rl.pid, SIGHUP));
	ASSERT_EQ(0, rl_log_wait(&e->rl, "reload: 1 listener", 1,
				 3000 + slack_ms()));
	for (i = 0; i < 6; i++) {
		srv = env_roundtrip(_metadata, e, i, 4096, 5000 + slack_ms());
		ASSERT_LE(0, srv);
		per[srv]++;
	}
	EXPECT_LT(0, per[0]);
	EXPECT_LT(0, per[1]) TH_LOG("the new server got nobody");

	/* the stream goes on, the rest of the way */
	f.tx_pause_at = UINT64_MAX;
	ret = flows_run(&fp, 1, 10000 + slack_ms(), NULL, NULL);
	EXPECT_EQ(0, ret);
	EXPECT_EQ(0, env_check(_metadata, e, &f, id, len, len));
	flow_close(&f);

	/* a broken file: refused, logged, the old one keeps serving */
	lb_write_cfg(_metadata, self,
		     "[global]\nthreads = 2\n[listener web]\nbind = nowhere\n");
	ASSERT_EQ(0, kill(e->rl.pid, SIGHUP));
	ASSERT_EQ(0, rl_log_wait(&e->rl, "is not valid", 1, 3000 + slack_ms()));
	EXPECT_TRUE(rl_log_has(&e->rl, ":4: bind: bad address"));
	EXPECT_TRUE(rl_alive(&e->rl));
	memset(per, 0, sizeof(per));
	for (i = 10; i < 16; i++) {
		srv = env_roundtrip(_metadata, e, i, 4096, 5000 + slack_ms());
		ASSERT_LE(0, srv);
		per[srv]++;
	}
	/* two workers, each rotating on its own: both get some */
	EXPECT_LT(0, per[0]);
	EXPECT_LT(0, per[1]);
	ASSERT_LT(0, admin(self->sock, "show stats --json", out, sizeof(out)));
	EXPECT_NE(NULL, strstr(out, "\"reloads\":1,")) TH_LOG("%s", out);
}

/* ---- 8. privileges -------------------------------------------------------------------------------- */

static int status_field(pid_t pid, const char *key, char *val, size_t len)
{
	char path[64], line[256];
	FILE *f;
	int ret = -ENOENT;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ':') {
			snprintf(val, len, "%s", line + strlen(key) + 1);
			val[strcspn(val, "\n")] = '\0';
			ret = 0;
			break;
		}
	fclose(f);
	return ret;
}

TEST_F(lb, user_nobody)
{
	static const int w[] = { 1, 1, 1 };
	const char *extra[] = { "--user", "nobody", NULL };
	struct passwd *pw;
	char val[128], want[128], path[128], out[512];
	static char text[8192];
	struct stat st;
	glob_t g;
	size_t i;
	int per[NSRV];

	CHECK_SKIP(&self->e);
	if (geteuid())
		SKIP(return, "needs root to drop privileges");
	pw = getpwnam("nobody");
	if (!pw)
		SKIP(return, "no user nobody");
	lb_servers(_metadata, self, 3, PP_NONE);
	ASSERT_EQ(0, free_port(AF_INET, &self->e.lport));
	lb_config(self, text, sizeof(text), 2, "rr", w, 3, NULL);
	lb_write_cfg(_metadata, self, text);
	lb_spawn(_metadata, self, extra);
	ASSERT_EQ(0, rl_log_wait(&self->e.rl, "running as nobody", 1,
				 3000 + slack_ms()));
	/* two workers, each rotating on its own: everyone gets some */
	lb_picks(_metadata, self, 9, per);
	EXPECT_LT(0, per[0]);
	EXPECT_LT(0, per[1]);
	EXPECT_LT(0, per[2]);

	/* every thread: uid and gid nobody, no capability left */
	snprintf(path, sizeof(path), "/proc/%d/task/*/status", self->e.rl.pid);
	ASSERT_EQ(0, glob(path, 0, NULL, &g));
	EXPECT_LE((size_t)3, g.gl_pathc);	/* main + two workers */
	for (i = 0; i < g.gl_pathc; i++) {
		char *slash = strrchr(g.gl_pathv[i], '/');
		pid_t tid;

		*slash = '\0';
		tid = atoi(strrchr(g.gl_pathv[i], '/') + 1);
		snprintf(want, sizeof(want), "\t%u\t%u\t%u\t%u", pw->pw_uid,
			 pw->pw_uid, pw->pw_uid, pw->pw_uid);
		ASSERT_EQ(0, status_field(tid, "Uid", val, sizeof(val)));
		EXPECT_STREQ(want, val) TH_LOG("thread %d", tid);
		snprintf(want, sizeof(want), "\t%u\t%u\t%u\t%u", pw->pw_gid,
			 pw->pw_gid, pw->pw_gid, pw->pw_gid);
		ASSERT_EQ(0, status_field(tid, "Gid", val, sizeof(val)));
		EXPECT_STREQ(want, val) TH_LOG("thread %d", tid);
		ASSERT_EQ(0, status_field(tid, "CapEff", val, sizeof(val)));
		EXPECT_STREQ("\t0000000000000000", val) TH_LOG("thread %d", tid);
		ASSERT_EQ(0, status_field(tid, "CapPrm", val, sizeof(val)));
		EXPECT_STREQ("\t0000000000000000", val) TH_LOG("thread %d", tid);
	}
	globfree(&g);
	/* the admin socket stays root's (nobody else's), and still answers */
	ASSERT_EQ(0, stat(self->sock, &st));
	EXPECT_EQ(0u, st.st_uid);
	EXPECT_EQ((mode_t)0600, st.st_mode & 07777);
	EXPECT_LT(0, admin(self->sock, "show stats", out, sizeof(out)));
	EXPECT_NE(NULL, strstr(out, "conns_total")) TH_LOG("%s", out);
}

TEST_HARNESS_MAIN

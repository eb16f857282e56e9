// SPDX-License-Identifier: MIT
/*
 * pace: an open-loop HTTP/1.1 load generator for bench/bench.sh.
 *
 * wrk is closed-loop: each connection sends its next request when the
 * last response is back, so a slow proxy is offered less work and its
 * stalls hide from the latency figures (coordinated omission). pace
 * offers a fixed rate instead. Every request has a time on a timetable
 * fixed before the run starts, and its latency is measured from that
 * time, not from when it could be sent: a stall delays the requests
 * behind it, and they all count it.
 *
 *   --mode ka        keep-alive: --conns connections, request k of
 *                    connection c is due at t0 + (k * conns + c) / rate;
 *                    one request in flight per connection, a request
 *                    due while the last is still out goes when it is
 *                    back (latency still counts from its due time)
 *   --mode close     churn: connection i opens at t0 + i / rate, sends
 *                    one request with "Connection: close", reads the
 *                    response, then the server's EOF, and closes;
 *                    latency runs from the due time to the last byte of
 *                    the response (connect included)
 *   --mode pipeline  closed loop: --conns connections with --depth
 *                    requests in flight each, a new one sent for every
 *                    response; measures throughput, latency from the
 *                    send time
 *
 * The run is --warmup seconds at the rate (not recorded), then
 * --duration seconds measured: latency of the requests due in that
 * window, the responses completed in it (the achieved rate), and how
 * late the requests went out (the send lag, pace's own error). After the
 * window, up to --drain seconds for the requests still in flight; any
 * still out then counts as a timeout. One line of JSON on stdout.
 *
 * The latency histogram is log-linear (HDR-style): 64 linear
 * sub-buckets per power of two of nanoseconds, so a percentile is
 * within 1.6% of the true value at any scale.
 *
 * Each thread has its own epoll set, connections and histograms. Timers
 * are the epoll_pwait2() timeout with the thread's timer slack set to
 * 1 ns: the default 50 us of slack would be a systematic error in every
 * latency. A timer still fires late (about 40 us on the development VM,
 * where a wake-up from halt goes through the hypervisor); that lateness
 * is part of the latency from the due time, and is reported on its own
 * as the send lag (lag_*). svc_* is the latency from the actual send,
 * which leaves it out. Waking early and spinning would cut it, but
 * costs CPU that the proxy under test shares.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NSEC		1000000000ULL
#define HDR_MAX		2048
#define READ_BUF	65536
#define MAX_EVENTS	256
#define DEPTH_MAX	1024

enum mode { MODE_KA, MODE_CLOSE, MODE_PIPELINE };
static const char *const mode_names[] = { "ka", "close", "pipeline" };

/* options, with their defaults */
static const char *opt_host = "127.0.0.1";
static int opt_port;
static enum mode opt_mode = MODE_KA;
static double opt_rate = 10000;
static int opt_conns = 20;
static int opt_depth = 16;
static double opt_duration = 5;
static double opt_warmup = 1;
static double opt_drain = 2;
static int opt_threads = 1;
static int opt_max_inflight = 4096;
static const char *opt_path = "/";

/* the timetable, shared by every thread (read-only once they run) */
static uint64_t t0;		/* the first request is due */
static uint64_t win_start;	/* the measured window */
static uint64_t win_end;
static uint64_t drain_end;
static struct sockaddr_in dst;

/* the request, repeated DEPTH_MAX times so any run of them is one write */
static char *req_buf;
static size_t req_len;

/* ---- histogram ----------------------------------------------------------- */
#define HIST_SUB_BITS	7
#define HIST_SUB	(1U << HIST_SUB_BITS)
#define HIST_HALF	(HIST_SUB / 2)
#define HIST_BUCKETS	((64 - HIST_SUB_BITS) * HIST_HALF + HIST_SUB)

struct hist {
	uint64_t count[HIST_BUCKETS];
	uint64_t n;
	uint64_t max;
	long double sum;
};

static unsigned int hist_index(uint64_t v)
{
	unsigned int e;

	if (v < HIST_SUB)
		return v;
	e = 63 - __builtin_clzll(v) - (HIST_SUB_BITS - 1);
	return e * HIST_HALF + (unsigned int)(v >> e);
}

/* the middle of bucket i */
static uint64_t hist_value(unsigned int i)
{
	unsigned int e;

	if (i < HIST_SUB)
		return i;
	e = i / HIST_HALF - 1;
	return ((uint64_t)(i - e * HIST_HALF) << e) + (1ULL << e) / 2;
}

static void hist_add(struct hist *h, uint64_t v)
{
	h->count[hist_index(v)]++;
	h->n++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
}

static void hist_merge(struct hist *to, const struct hist *from)
{
	unsigned int i;

	for (i = 0; i < HIST_BUCKETS; i++)
		to->count[i] += from->count[i];
	to->n += from->n;
	to->sum += from->sum;
	if (from->max > to->max)
		to->max = from->max;
}

/* the q-quantile in microseconds (0 when empty) */
static double hist_quantile(const struct hist *h, double q)
{
	uint64_t want, seen = 0;
	unsigned int i;

	if (!h->n)
		return 0;
	want = (uint64_t)ceil(q * (double)h->n);
	if (want < 1)
		want = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->count[i];
		if (seen >= want) {
			uint64_t v = hist_value(i);

			return (v > h->max ? h->max : v) / 1e3;
		}
	}
	return h->max / 1e3;
}

/* ---- connections and threads --------------------------------------------- */
enum conn_state {
	CONN_IDLE,		/* connected, nothing to do (ka between requests) */
	CONN_CONNECTING,	/* close mode: waiting for the handshake */
	CONN_ACTIVE,		/* requests in flight */
	CONN_WAIT_EOF,		/* close mode: response complete, awaiting EOF */
};

struct conn {
	int fd;
	enum conn_state state;
	unsigned int idx;	/* ka: index among all connections */
	uint64_t seq;		/* ka: requests this connection has sent */
	uint64_t due;		/* ka, close: due time of the request out */
	uint64_t sent_at;	/* ka, close: when it went out */
	uint64_t retry_at;	/* ka: reconnect not before */
	bool want_out;		/* EPOLLOUT is in the interest set */
	/* bytes of requests not yet written (they all look the same) */
	uint64_t out_pending;
	uint32_t out_phase;
	/* response parser */
	bool in_body;
	uint32_t hdr_len;
	uint64_t body_left;
	int status;
	char hdr[HDR_MAX];
	/* pipeline: send times of the requests in flight, a ring */
	uint64_t *sent;
	uint32_t head, inflight;
	struct conn *next_free;
	struct conn *prev, *next;	/* close: the thread's open list */
};

struct counters {
	uint64_t sent;		/* requests written (any time) */
	uint64_t done;		/* responses complete (any time) */
	uint64_t done_window;	/* responses complete inside the window */
	uint64_t due_window;	/* requests due inside the window */
	uint64_t err_connect;
	uint64_t err_io;	/* reset, write error */
	uint64_t err_eof;	/* EOF before the response ended */
	uint64_t err_status;	/* a status other than 200 */
	uint64_t err_parse;
	uint64_t err_timeout;	/* still out at the end of the drain */
	uint64_t no_eof;	/* close: response complete, EOF never came */
	uint64_t inflight_max;	/* close: most connections open at once */
};

struct thread {
	pthread_t tid;
	unsigned int id;
	int epfd;
	struct conn *conns;	/* ka, pipeline */
	unsigned int nconns;
	uint64_t next_open;	/* close: next connection number */
	unsigned int open;	/* close: connections open now */
	struct conn *open_list;
	struct conn *free_list;
	struct counters c;
	struct hist lat;	/* from the due time */
	struct hist svc;	/* from the send time */
	struct hist lag;	/* send time - due time */
	char rbuf[READ_BUF];
};

static pthread_barrier_t start_barrier;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC + ts.tv_nsec;
}

static bool in_window(uint64_t t)
{
	return t >= win_start && t < win_end;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: pace [options] PORT   (or HOST:PORT)\n"
"  -m, --mode M         ka | close | pipeline (default ka)\n"
"  -r, --rate R         requests per second (ka), connections per second\n"
"                       (close), all threads together (default 10000)\n"
"  -c, --conns N        ka, pipeline: connections (default 20)\n"
"  -D, --depth N        pipeline: requests in flight per connection\n"
"                       (default 16, at most %d)\n"
"  -d, --duration S     seconds measured (default 5)\n"
"  -w, --warmup S       seconds at the rate before that (default 1)\n"
"      --drain S        seconds to wait for requests still out (default 2)\n"
"  -t, --threads N      threads, each with its share of connections and\n"
"                       rate (default 1; at most one per CPU)\n"
"      --max-inflight N close: connections open at once per thread\n"
"                       (default 4096; a due connection waits for a slot)\n"
"      --path P         request path (default /)\n"
"  -h, --help           this text\n"
"Prints one line of JSON: offered and achieved rate, latency percentiles\n"
"(microseconds, from the due time), send lag, errors.\n", DEPTH_MAX);
}

/* ---- sending ------------------------------------------------------------- */
static void conn_interest(struct thread *t, struct conn *c, bool out)
{
	struct epoll_event ev = { .data.ptr = c };

	if (opt_mode == MODE_CLOSE || c->want_out == out)
		return;	/* close mode is edge-triggered on both */
	ev.events = EPOLLIN | (out ? EPOLLOUT : 0);
	if (!epoll_ctl(t->epfd, EPOLL_CTL_MOD, c->fd, &ev))
		c->want_out = out;
}

/* write what is pending; -1 on a write error */
static int conn_flush(struct thread *t, struct conn *c)
{
	while (c->out_pending) {
		size_t n = c->out_pending;
		ssize_t w;

		if (n > (uint64_t)DEPTH_MAX * req_len - c->out_phase)
			n = (uint64_t)DEPTH_MAX * req_len - c->out_phase;
		w = send(c->fd, req_buf + c->out_phase, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				conn_interest(t, c, true);
				return 0;
			}
			if (errno == EINTR)
				continue;
			return -1;
		}
		c->out_pending -= w;
		c->out_phase = (c->out_phase + w) % req_len;
	}
	conn_interest(t, c, false);
	return 0;
}

static void queue_requests(struct thread *t, struct conn *c, unsigned int n)
{
	c->out_pending += (uint64_t)n * req_len;
	t->c.sent += n;
}

/* ---- the response parser ------------------------------------------------- */
static int parse_head(struct conn *c)
{
	char *p, *end = c->hdr + c->hdr_len;
	bool have_len = false;

	if (c->hdr_len < 12 || memcmp(c->hdr, "HTTP/1.", 7))
		return -1;
	c->status = atoi(c->hdr + 9);
	c->body_left = 0;
	for (p = memchr(c->hdr, '\n', c->hdr_len); p && p < end;
	     p = memchr(p, '\n', end - p)) {
		p++;
		if (end - p > 15 && !strncasecmp(p, "content-length:", 15)) {
			c->body_left = strtoull(p + 15, NULL, 10);
			have_len = true;
		} else if (end - p > 18 &&
			   !strncasecmp(p, "transfer-encoding:", 18)) {
			return -1;	/* the backend never chunks a 128-byte body */
		}
	}
	return have_len || c->status == 204 || c->status == 304 ? 0 : -1;
}

/*
 * Feed len bytes to c's parser; returns the number of responses they
 * completed, or -1 on a malformed response. Close mode ignores what
 * follows the first response.
 */
static int parse(struct thread *t, struct conn *c, const char *buf,
		 size_t len)
{
	int done = 0;

	while (len) {
		if (c->state == CONN_WAIT_EOF)
			return done;
		if (c->in_body) {
			size_t n = len < c->body_left ? len : c->body_left;

			c->body_left -= n;
			buf += n;
			len -= n;
		} else {
			size_t room = HDR_MAX - c->hdr_len, n = len < room ?
				len : room, scan = c->hdr_len > 3 ?
				c->hdr_len - 3 : 0;
			char *e;

			memcpy(c->hdr + c->hdr_len, buf, n);
			c->hdr_len += n;
			e = memmem(c->hdr + scan, c->hdr_len - scan,
				    "\r\n\r\n", 4);
			if (!e) {
				if (c->hdr_len == HDR_MAX)
					return -1;
				return done;
			}
			/* bytes past the head go back to the input */
			n -= (c->hdr + c->hdr_len) - (e + 4);
			c->hdr_len = e + 4 - c->hdr;
			buf += n;
			len -= n;
			if (parse_head(c))
				return -1;
			c->in_body = true;
		}
		if (c->in_body && !c->body_left) {
			c->in_body = false;
			c->hdr_len = 0;
			if (c->status != 200)
				t->c.err_status++;
			done++;
			if (opt_mode == MODE_CLOSE)
				c->state = CONN_WAIT_EOF;
		}
	}
	return done;
}

/* ---- connections --------------------------------------------------------- */
static int tcp_socket(bool nonblock)
{
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC |
		    (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -1;
	/* several requests may sit in the socket at once (pipeline) */
	if (opt_mode != MODE_CLOSE)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void conn_reset_parser(struct conn *c)
{
	c->in_body = false;
	c->hdr_len = 0;
	c->body_left = 0;
	c->out_pending = 0;
	c->out_phase = 0;
	c->head = 0;
	c->inflight = 0;
}

/* ka, pipeline: a blocking connect, then non-blocking for the run */
static int conn_open_persistent(struct thread *t, struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	int fd;

	fd = tcp_socket(false);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) ||
	    fcntl(fd, F_SETFL, O_NONBLOCK) ||
	    epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		close(fd);
		return -1;
	}
	c->fd = fd;
	c->state = CONN_IDLE;
	c->want_out = false;
	conn_reset_parser(c);
	return 0;
}

static void conn_close(struct thread *t, struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (opt_mode == MODE_CLOSE) {
		if (c->prev)
			c->prev->next = c->next;
		else
			t->open_list = c->next;
		if (c->next)
			c->next->prev = c->prev;
		c->next_free = t->free_list;
		t->free_list = c;
		t->open--;
	}
}

/* a connection broke: count it; ka reconnects on the next pass */
static void conn_fail(struct thread *t, struct conn *c, uint64_t *counter)
{
	if (c->state == CONN_ACTIVE || c->state == CONN_CONNECTING)
		(*counter)++;
	if (opt_mode == MODE_KA) {
		/* the request that was out is lost: the next one is due next */
		c->retry_at = now_ns() + NSEC / 100;
	}
	conn_close(t, c);
}

/* ---- the timetable ------------------------------------------------------- */
static uint64_t ka_due(const struct conn *c)
{
	return t0 + (uint64_t)((double)(c->seq * opt_conns + c->idx) *
			       (double)NSEC / opt_rate);
}

static uint64_t close_due(const struct thread *t, uint64_t i)
{
	return t0 + (uint64_t)((double)(i * opt_threads + t->id) *
			       (double)NSEC / opt_rate);
}

static void note_send(struct thread *t, uint64_t due, uint64_t now)
{
	if (in_window(due)) {
		t->c.due_window++;
		hist_add(&t->lag, now > due ? now - due : 0);
	}
}

static uint64_t ka_schedule(struct thread *t, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	unsigned int i;

	for (i = 0; i < t->nconns; i++) {
		struct conn *c = &t->conns[i];
		uint64_t due;

		if (c->fd < 0) {
			if (now < c->retry_at) {
				next = next < c->retry_at ? next : c->retry_at;
				continue;
			}
			if (conn_open_persistent(t, c)) {
				t->c.err_connect++;
				c->retry_at = now + NSEC / 100;
				continue;
			}
		}
		if (c->state != CONN_IDLE)
			continue;
		due = ka_due(c);
		if (due >= win_end)
			continue;
		if (due > now) {
			next = next < due ? next : due;
			continue;
		}
		c->due = due;
		c->sent_at = now;
		c->seq++;
		c->state = CONN_ACTIVE;
		note_send(t, due, now);
		queue_requests(t, c, 1);
		if (conn_flush(t, c))
			conn_fail(t, c, &t->c.err_io);
	}
	return next;
}

static struct conn *conn_alloc(struct thread *t)
{
	struct conn *c = t->free_list;

	if (c) {
		t->free_list = c->next_free;
	} else {
		c = calloc(1, sizeof(*c));
		if (!c)
			return NULL;
	}
	c->fd = -1;
	conn_reset_parser(c);
	return c;
}

static void close_open(struct thread *t, uint64_t due, uint64_t now)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
	};
	struct conn *c;
	int fd;

	note_send(t, due, now);
	c = conn_alloc(t);
	fd = tcp_socket(true);
	if (!c || fd < 0)
		goto fail;
	c->fd = fd;
	c->due = due;
	c->sent_at = now;
	c->state = CONN_CONNECTING;
	ev.data.ptr = c;
	if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) &&
	    errno != EINPROGRESS)
		goto fail_close;
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev))
		goto fail_close;
	c->prev = NULL;
	c->next = t->open_list;
	if (c->next)
		c->next->prev = c;
	t->open_list = c;
	t->open++;
	if (t->open > t->c.inflight_max)
		t->c.inflight_max = t->open;
	return;

fail_close:
	close(fd);
	c->fd = -1;
fail:
	t->c.err_connect++;
	if (c) {
		c->next_free = t->free_list;
		t->free_list = c;
	}
}

static uint64_t close_schedule(struct thread *t, uint64_t now)
{
	for (;;) {
		uint64_t due = close_due(t, t->next_open);

		if (due >= win_end)
			return UINT64_MAX;
		if (due > now)
			return due;
		if (t->open >= (unsigned int)opt_max_inflight)
			return UINT64_MAX;	/* a completion frees a slot */
		close_open(t, due, now);
		t->next_open++;
	}
}

/* ---- events -------------------------------------------------------------- */
static void complete(struct thread *t, struct conn *c, int n, uint64_t now)
{
	int i;

	t->c.done += n;
	if (in_window(now))
		t->c.done_window += n;
	switch (opt_mode) {
	case MODE_KA:
	case MODE_CLOSE:
		if (in_window(c->due)) {
			hist_add(&t->lat, now - c->due);
			hist_add(&t->svc, now - c->sent_at);
		}
		if (opt_mode == MODE_KA)
			c->state = CONN_IDLE;
		break;
	case MODE_PIPELINE:
		for (i = 0; i < n; i++) {
			if (in_window(now)) {
				hist_add(&t->lat, now - c->sent[c->head]);
				hist_add(&t->svc, now - c->sent[c->head]);
			}
			c->head = (c->head + 1) % opt_depth;
			c->inflight--;
		}
		if (now < win_end) {
			for (i = 0; i < n; i++) {
				c->sent[(c->head + c->inflight) % opt_depth] =
					now;
				c->inflight++;
			}
			queue_requests(t, c, n);
		}
		break;
	}
}

static void on_readable(struct thread *t, struct conn *c)
{
	for (;;) {
		ssize_t r = recv(c->fd, t->rbuf, READ_BUF, 0);
		int n;

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_fail(t, c, &t->c.err_io);
			return;
		}
		if (!r) {
			if (c->state == CONN_WAIT_EOF)
				conn_close(t, c);
			else
				conn_fail(t, c, &t->c.err_eof);
			return;
		}
		n = parse(t, c, t->rbuf, r);
		if (n < 0) {
			c->state = CONN_ACTIVE;	/* so that it counts */
			conn_fail(t, c, &t->c.err_parse);
			return;
		}
		if (n) {
			complete(t, c, n, now_ns());
			if (c->out_pending && conn_flush(t, c)) {
				conn_fail(t, c, &t->c.err_io);
				return;
			}
		}
		/* level-triggered: the next event brings the rest */
		if (opt_mode != MODE_CLOSE && r < READ_BUF)
			return;
	}
}

static void on_event(struct thread *t, struct conn *c, uint32_t ev)
{
	if (c->state == CONN_CONNECTING) {
		/* a refused or reset handshake reports EPOLLERR */
		if (ev & (EPOLLERR | EPOLLHUP)) {
			conn_fail(t, c, &t->c.err_connect);
			return;
		}
		if (!(ev & EPOLLOUT))
			return;
		c->state = CONN_ACTIVE;
		queue_requests(t, c, 1);
	}
	if ((ev & EPOLLOUT) && c->out_pending && conn_flush(t, c)) {
		conn_fail(t, c, &t->c.err_io);
		return;
	}
	if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
		on_readable(t, c);
}

/* anything still owed a response? */
static bool waiting(struct thread *t)
{
	unsigned int i;

	if (opt_mode == MODE_PIPELINE)
		return false;
	if (opt_mode == MODE_CLOSE)
		return t->open > 0;
	for (i = 0; i < t->nconns; i++)
		if (t->conns[i].fd >= 0 && t->conns[i].state == CONN_ACTIVE)
			return true;
	return false;
}

static void *thread_main(void *arg)
{
	struct thread *t = arg;
	struct epoll_event evs[MAX_EVENTS];
	unsigned int i;

	/* see the top: the default 50 us would delay every send */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	pthread_barrier_wait(&start_barrier);	/* connected, t0 set */
	if (opt_mode == MODE_PIPELINE) {
		for (i = 0; i < t->nconns; i++) {
			struct conn *c = &t->conns[i];
			unsigned int k;

			for (k = 0; k < (unsigned int)opt_depth; k++)
				c->sent[k] = t0;
			c->inflight = opt_depth;
			c->state = CONN_ACTIVE;
			queue_requests(t, c, opt_depth);
		}
	}
	for (;;) {
		uint64_t now = now_ns(), next = UINT64_MAX, limit;
		struct timespec ts;
		int n, k;

		if (now >= drain_end || (now >= win_end && !waiting(t)))
			break;
		if (opt_mode == MODE_KA)
			next = ka_schedule(t, now);
		else if (opt_mode == MODE_CLOSE)
			next = close_schedule(t, now);
		else if (now < t0)
			next = t0;
		if (opt_mode == MODE_PIPELINE && now >= t0) {
			for (i = 0; i < t->nconns; i++) {
				struct conn *c = &t->conns[i];

				if (c->fd >= 0 && c->out_pending &&
				    conn_flush(t, c))
					conn_fail(t, c, &t->c.err_io);
			}
		}
		limit = now < win_end ? win_end : drain_end;
		if (next > limit)
			next = limit;
		if (opt_mode != MODE_PIPELINE)
			now = now_ns();	/* sending took a while */
		next = next > now ? next - now : 0;
		ts.tv_sec = next / NSEC;
		ts.tv_nsec = next % NSEC;
		n = epoll_pwait2(t->epfd, evs, MAX_EVENTS, &ts, NULL);
		if (n < 0 && errno != EINTR) {
			perror("pace: epoll_pwait2");
			break;
		}
		for (k = 0; k < n; k++) {
			struct conn *c = evs[k].data.ptr;

			if (c->fd >= 0)
				on_event(t, c, evs[k].events);
		}
	}
	/* the end: whatever is still owed a response timed out */
	while (t->open_list) {
		struct conn *c = t->open_list;

		if (c->state == CONN_WAIT_EOF)
			t->c.no_eof++;
		else if (in_window(c->due))
			t->c.err_timeout++;
		conn_close(t, c);
	}
	for (i = 0; i < t->nconns; i++) {
		struct conn *c = &t->conns[i];

		if (c->fd >= 0 && c->state == CONN_ACTIVE &&
		    opt_mode == MODE_KA && in_window(c->due))
			t->c.err_timeout++;
		if (c->fd >= 0)
			close(c->fd);
	}
	return NULL;
}

/* ---- set-up and the report ----------------------------------------------- */
static int parse_target(const char *arg)
{
	const char *colon = strrchr(arg, ':');
	static char host[256];

	if (colon) {
		if ((size_t)(colon - arg) >= sizeof(host))
			return -1;
		memcpy(host, arg, colon - arg);
		host[colon - arg] = '\0';
		opt_host = host;
		arg = colon + 1;
	}
	opt_port = atoi(arg);
	if (opt_port <= 0 || opt_port > 65535)
		return -1;
	dst.sin_family = AF_INET;
	dst.sin_port = htons(opt_port);
	return inet_pton(AF_INET, opt_host, &dst.sin_addr) == 1 ? 0 : -1;
}

static int build_request(void)
{
	char one[512];
	int n, i;

	n = snprintf(one, sizeof(one),
		     "GET %s HTTP/1.1\r\nHost: %s:%d\r\n%s\r\n", opt_path,
		     opt_host, opt_port, opt_mode == MODE_CLOSE ?
		     "Connection: close\r\n" : "");
	if (n <= 0 || n >= (int)sizeof(one))
		return -1;
	req_len = n;
	req_buf = malloc(req_len * DEPTH_MAX);
	if (!req_buf)
		return -1;
	for (i = 0; i < DEPTH_MAX; i++)
		memcpy(req_buf + i * req_len, one, req_len);
	return 0;
}

static int setup_thread(struct thread *t, unsigned int id)
{
	unsigned int first, last, i;

	t->id = id;
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (t->epfd < 0)
		return -1;
	if (opt_mode == MODE_CLOSE)
		return 0;
	first = (uint64_t)opt_conns * id / opt_threads;
	last = (uint64_t)opt_conns * (id + 1) / opt_threads;
	t->nconns = last - first;
	t->conns = calloc(t->nconns ? t->nconns : 1, sizeof(*t->conns));
	if (!t->conns)
		return -1;
	for (i = 0; i < t->nconns; i++) {
		struct conn *c = &t->conns[i];

		c->idx = first + i;
		c->fd = -1;
		if (opt_mode == MODE_PIPELINE) {
			c->sent = calloc(opt_depth, sizeof(*c->sent));
			if (!c->sent)
				return -1;
		}
		if (conn_open_persistent(t, c)) {
			fprintf(stderr, "pace: connect %s:%d: %s\n", opt_host,
				opt_port, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void report(struct thread *ts, uint64_t cpu_us)
{
	struct counters c = { 0 };
	struct hist *lat = calloc(1, sizeof(*lat));
	struct hist *svc = calloc(1, sizeof(*svc));
	struct hist *lag = calloc(1, sizeof(*lag));
	double secs = opt_duration, achieved, offered;
	uint64_t errors;
	int i;

	if (!lat || !svc || !lag)
		exit(1);
	for (i = 0; i < opt_threads; i++) {
		struct counters *x = &ts[i].c;

		c.sent += x->sent;
		c.done += x->done;
		c.done_window += x->done_window;
		c.due_window += x->due_window;
		c.err_connect += x->err_connect;
		c.err_io += x->err_io;
		c.err_eof += x->err_eof;
		c.err_status += x->err_status;
		c.err_parse += x->err_parse;
		c.err_timeout += x->err_timeout;
		c.no_eof += x->no_eof;
		c.inflight_max += x->inflight_max;
		hist_merge(lat, &ts[i].lat);
		hist_merge(svc, &ts[i].svc);
		hist_merge(lag, &ts[i].lag);
	}
	errors = c.err_connect + c.err_io + c.err_eof + c.err_status +
		 c.err_parse + c.err_timeout;
	achieved = c.done_window / secs;
	offered = opt_mode == MODE_PIPELINE ? 0 : opt_rate;
	printf("{\"mode\":\"%s\",\"offered\":%.0f,\"achieved\":%.1f,"
	       "\"duration_s\":%g,\"warmup_s\":%g,\"conns\":%d,\"depth\":%d,"
	       "\"threads\":%d,\"sent\":%llu,\"completed\":%llu,"
	       "\"completed_window\":%llu,\"due_window\":%llu,"
	       "\"samples\":%llu,\"p50_us\":%.1f,\"p90_us\":%.1f,"
	       "\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,"
	       "\"mean_us\":%.1f,\"svc_p50_us\":%.1f,\"svc_p99_us\":%.1f,"
	       "\"svc_p999_us\":%.1f,\"lag_p50_us\":%.1f,"
	       "\"lag_p99_us\":%.1f,\"lag_max_us\":%.1f,"
	       "\"errors\":%llu,\"err_connect\":%llu,"
	       "\"err_io\":%llu,\"err_eof\":%llu,\"err_status\":%llu,"
	       "\"err_parse\":%llu,\"err_timeout\":%llu,"
	       "\"no_eof\":%llu,\"inflight_max\":%llu,"
	       "\"pace_cpu_us\":%llu}\n",
	       mode_names[opt_mode], offered, achieved, opt_duration,
	       opt_warmup, opt_mode == MODE_CLOSE ? 0 : opt_conns,
	       opt_mode == MODE_PIPELINE ? opt_depth : 1, opt_threads,
	       (unsigned long long)c.sent, (unsigned long long)c.done,
	       (unsigned long long)c.done_window,
	       (unsigned long long)c.due_window, (unsigned long long)lat->n,
	       hist_quantile(lat, 0.5), hist_quantile(lat, 0.9),
	       hist_quantile(lat, 0.99), hist_quantile(lat, 0.999),
	       lat->max / 1e3, lat->n ? (double)(lat->sum / lat->n) / 1e3 : 0,
	       hist_quantile(svc, 0.5), hist_quantile(svc, 0.99),
	       hist_quantile(svc, 0.999), hist_quantile(lag, 0.5),
	       hist_quantile(lag, 0.99), lag->max / 1e3,
	       (unsigned long long)errors,
	       (unsigned long long)c.err_connect,
	       (unsigned long long)c.err_io, (unsigned long long)c.err_eof,
	       (unsigned long long)c.err_status,
	       (unsigned long long)c.err_parse,
	       (unsigned long long)c.err_timeout,
	       (unsigned long long)c.no_eof,
	       (unsigned long long)c.inflight_max,
	       (unsigned long long)cpu_us);
	free(lat);
	free(svc);
	free(lag);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "rate", required_argument, NULL, 'r' },
		{ "conns", required_argument, NULL, 'c' },
		{ "depth", required_argument, NULL, 'D' },
		{ "duration", required_argument, NULL, 'd' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "drain", required_argument, NULL, 1 },
		{ "threads", required_argument, NULL, 't' },
		{ "max-inflight", required_argument, NULL, 2 },
		{ "path", required_argument, NULL, 3 },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct thread *ts;
	struct rusage ru;
	uint64_t start;
	int opt, i;

	while ((opt = getopt_long(argc, argv, "m:r:c:D:d:w:t:h", longopts,
				  NULL)) != -1) {
		switch (opt) {
		case 'm':
			for (i = 0; i < 3; i++)
				if (!strcmp(optarg, mode_names[i]))
					break;
			if (i == 3) {
				usage(stderr);
				return 2;
			}
			opt_mode = i;
			break;
		case 'r':
			opt_rate = atof(optarg);
			break;
		case 'c':
			opt_conns = atoi(optarg);
			break;
		case 'D':
			opt_depth = atoi(optarg);
			break;
		case 'd':
			opt_duration = atof(optarg);
			break;
		case 'w':
			opt_warmup = atof(optarg);
			break;
		case 1:
			opt_drain = atof(optarg);
			break;
		case 't':
			opt_threads = atoi(optarg);
			break;
		case 2:
			opt_max_inflight = atoi(optarg);
			break;
		case 3:
			opt_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1 || parse_target(argv[optind]) ||
	    !(opt_rate > 0) || opt_conns < 1 || opt_depth < 1 ||
	    opt_depth > DEPTH_MAX || !(opt_duration > 0) || opt_warmup < 0 ||
	    opt_drain < 0 || opt_threads < 1 || opt_max_inflight < 1 ||
	    (opt_mode != MODE_CLOSE && opt_threads > opt_conns)) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	if (build_request())
		return 1;
	ts = calloc(opt_threads, sizeof(*ts));
	if (!ts)
		return 1;
	for (i = 0; i < opt_threads; i++)
		if (setup_thread(&ts[i], i))
			return 1;
	pthread_barrier_init(&start_barrier, NULL, opt_threads + 1);
	for (i = 0; i < opt_threads; i++)
		if (pthread_create(&ts[i].tid, NULL, thread_main, &ts[i])) {
			perror("pace: pthread_create");
			return 1;
		}
	/* a moment for every thread to be scheduled before the first is due */
	start = now_ns();
	t0 = start + NSEC / 20;
	win_start = t0 + (uint64_t)(opt_warmup * NSEC);
	win_end = win_start + (uint64_t)(opt_duration * NSEC);
	drain_end = win_end + (uint64_t)(opt_drain * NSEC);
	pthread_barrier_wait(&start_barrier);
	for (i = 0; i < opt_threads; i++)
		pthread_join(ts[i].tid, NULL);
	getrusage(RUSAGE_SELF, &ru);
	report(ts, ru.ru_utime.tv_sec * 1000000ULL + ru.ru_utime.tv_usec +
		   ru.ru_stime.tv_sec * 1000000ULL + ru.ru_stime.tv_usec);
	return 0;
}

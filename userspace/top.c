// SPDX-License-Identifier: MIT
/*
 * `ringlbctl top`: sample the daemon through its admin socket every -d
 * seconds and redraw. On a terminal it takes the alternate screen with
 * echo and line editing off, and gives all of it back on every way out:
 * q, Ctrl-C (SIGINT), SIGTERM, SIGHUP, and around Ctrl-Z. Signals come
 * through a signalfd, so they are handled in the loop, never in a
 * handler, and a sample in flight is dropped at once for a key or a
 * signal: the daemon can delay the view, never the way out. A daemon
 * that stops answering is said so on the screen, and asked again every
 * interval. Without a terminal on stdout, one table and exit.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "ctl_request.h"
#include "top.h"

#define DEFAULT_INTERVAL	2.0	/* seconds */

struct top {
	const char *path;
	uint64_t timeout_ms, interval_ms;
	struct top_sample cur, prev;
	bool have_cur, have_prev;
	char err[256];			/* the last sample failed: why */
	char err_since[16];		/* wall clock of the first failure */
	int rows, cols;
	int sigfd;
	bool kbd;			/* stdin is a terminal we read keys from */
	bool raw;			/* the terminal is ours now */
	struct termios saved;
};

static void top_usage(FILE *f)
{
	fprintf(f,
"usage: ringlbctl [-s PATH] [-T SECONDS] top [-d SECONDS]\n"
"  -d, --delay SECS    refresh every SECS seconds, fractions allowed\n"
"                      (default 2, at least 0.1)\n"
"  On a terminal: a live view, q quits, any other key refreshes now.\n"
"  Otherwise: one table, without rates, then exit.\n");
}

/* ---- sampling ----------------------------------------------------------- */

/* a show command's answer, parsed into @s by @parse; -EINTR on a key */
static int ask(struct top *t, const char *cmd, uint64_t deadline,
	       const struct pollfd *watch, int nwatch, struct top_sample *s,
	       int (*parse)(struct top_sample *s, const char *text))
{
	struct ctl_answer a;
	int ret;

	ret = ctl_request(t->path, cmd, deadline, watch, nwatch, &a);
	if (ret == -EINTR)
		return ret;
	if (ret == -ETIMEDOUT) {
		snprintf(t->err, sizeof(t->err), "%s: no answer within %llu ms (-T) %s",
			 t->path, (unsigned long long)t->timeout_ms, a.what);
		return ret;
	}
	if (ret) {
		snprintf(t->err, sizeof(t->err), "%s: %s", t->path,
			 strerror(-ret));
		return ret;
	}
	ret = parse(s, a.text);
	if (ret && parse == top_parse_stats) {
		/* "error: too many admin clients": the daemon says why */
		top_copy(t->err, sizeof(t->err), a.text,
			 strcspn(a.text, "\n"));
		if (!t->err[0])
			snprintf(t->err, sizeof(t->err), "%s: empty answer",
				 t->path);
	} else {
		/* an older daemon without "show listeners" still shows */
		ret = 0;
	}
	ctl_answer_free(&a);
	return ret;
}

/*
 * One sample into t->cur, the one before kept for rates: 0, -EINTR
 * (a key or a signal came first) or the error, said in t->err.
 */
static int sample(struct top *t, const struct pollfd *watch, int nwatch)
{
	struct top_sample s = { 0 };
	uint64_t deadline = ctl_now_ms() + t->timeout_ms;
	int ret;

	s.t_ms = ctl_now_ms();
	ret = ask(t, "show stats\n", deadline, watch, nwatch, &s,
		  top_parse_stats);
	if (!ret)
		ret = ask(t, "show servers\n", deadline, watch, nwatch, &s,
			  top_parse_servers);
	if (!ret)
		ret = ask(t, "show listeners\n", deadline, watch, nwatch, &s,
			  top_parse_listeners);
	if (!ret)
		ret = ask(t, "show kernel\n", deadline, watch, nwatch, &s,
			  top_parse_kernel);
	if (ret) {
		top_sample_free(&s);
		return ret;
	}
	if (t->have_prev)
		top_sample_free(&t->prev);
	t->prev = t->cur;
	t->have_prev = t->have_cur;
	t->cur = s;
	t->have_cur = true;
	/* another daemon (a restart): its counters are not rates of ours */
	if (t->have_prev && strcmp(t->prev.stats.pid, t->cur.stats.pid)) {
		top_sample_free(&t->prev);
		t->have_prev = false;
	}
	t->err[0] = '\0';
	t->err_since[0] = '\0';
	return 0;
}

/* ---- the terminal ------------------------------------------------------ */

static void put(const char *s, size_t n)
{
	ssize_t w;

	while (n) {
		w = write(STDOUT_FILENO, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= w;
	}
}

static void term_size(struct top *t)
{
	struct winsize ws;

	t->rows = 24;
	t->cols = 80;
	if (!ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_row && ws.ws_col) {
		t->rows = ws.ws_row;
		t->cols = ws.ws_col;
	}
}

/* the alternate screen, no cursor, and keys one at a time without echo */
static void term_enter(struct top *t)
{
	static const char enter[] = "\033[?1049h\033[?25l\033[H\033[2J";
	struct termios raw;

	if (t->kbd && !tcgetattr(STDIN_FILENO, &t->saved)) {
		raw = t->saved;
		/* ISIG stays: Ctrl-C and Ctrl-Z arrive as signals */
		raw.c_lflag &= ~(ICANON | ECHO);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw);
	}
	t->raw = true;
	put(enter, sizeof(enter) - 1);
	term_size(t);
}

static void term_leave(struct top *t)
{
	static const char leave[] = "\033[m\033[?25h\033[?1049l";

	if (!t->raw)
		return;
	put(leave, sizeof(leave) - 1);
	if (t->kbd)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &t->saved);
	t->raw = false;
}

static void wall_clock(char *buf, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(buf, len, "%H:%M:%S", &tm);
}

/* every row in one write(), each cleared first and cut to the width */
static void draw(struct top *t)
{
	struct top_screen sc = { 0 };
	char status[TOP_LINE + 128], clock[16];
	struct top_view v = {
		.cur = t->have_cur ? &t->cur : NULL,
		.prev = t->have_prev ? &t->prev : NULL,
		.rows = t->rows,
		.status = status,
		.status_alarm = t->err[0],
	};
	size_t cap, n = 0, len;
	char *buf;
	int i;

	wall_clock(clock, sizeof(clock));
	if (t->err[0])
		snprintf(status, sizeof(status),
			 "NOT ANSWERING since %s, asking every %g s: %s",
			 t->err_since, t->interval_ms / 1000.0, t->err);
	else
		snprintf(status, sizeof(status), "%s  q quit  every %g s  %s",
			 clock, t->interval_ms / 1000.0, t->path);
	if (top_view(&sc, &v))
		goto out;
	cap = (size_t)sc.n * ((size_t)t->cols + 32) + 16;
	buf = malloc(cap);
	if (!buf)
		goto out;
	for (i = 0; i < sc.n && i < t->rows; i++) {
		len = strlen(sc.lines[i].text);
		if (len > (size_t)t->cols)
			len = t->cols;
		/*
		 * Never a newline: nothing scrolls, and a row as wide as the
		 * window cannot wrap onto the next.
		 */
		n += snprintf(buf + n, cap - n, "\033[%d;1H\033[2K%s", i + 1,
			      sc.lines[i].title ? "\033[7m" : "");
		memcpy(buf + n, sc.lines[i].text, len);
		n += len;
		if (sc.lines[i].title)
			n += snprintf(buf + n, cap - n, "\033[m");
	}
	/* rows below the last line drawn (at the bottom, \033[J would
	 * clear the last row itself: the cursor stops there) */
	if (i < t->rows)
		n += snprintf(buf + n, cap - n, "\033[%d;1H\033[J", i + 1);
	put(buf, n);
	free(buf);
out:
	top_screen_free(&sc);
}

/* ---- events ------------------------------------------------------------ */

enum { EV_NONE, EV_QUIT, EV_REDRAW, EV_REFRESH };

static int read_keys(struct top *t)
{
	char keys[64];
	ssize_t r, i;
	int ev = EV_NONE;

	r = read(STDIN_FILENO, keys, sizeof(keys));
	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
		/* the terminal is gone: nobody to show anything to */
		return EV_QUIT;
	}
	for (i = 0; i < r; i++) {
		if (keys[i] == 'q' || keys[i] == 'Q')
			return EV_QUIT;
		ev = EV_REFRESH;
	}
	(void)t;
	return ev;
}

/* Ctrl-Z: give the terminal back, stop, take it again on fg */
static void suspend(struct top *t)
{
	sigset_t tstp;

	term_leave(t);
	sigemptyset(&tstp);
	sigaddset(&tstp, SIGTSTP);
	sigprocmask(SIG_UNBLOCK, &tstp, NULL);
	raise(SIGTSTP);
	/* here again after SIGCONT */
	sigprocmask(SIG_BLOCK, &tstp, NULL);
	term_enter(t);
}

static int read_signals(struct top *t)
{
	struct signalfd_siginfo si;
	int ev = EV_NONE;

	while (read(t->sigfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGWINCH:
			term_size(t);
			ev = ev == EV_NONE ? EV_REDRAW : ev;
			break;
		case SIGTSTP:
			suspend(t);
			ev = ev == EV_NONE ? EV_REDRAW : ev;
			break;
		default:
			return EV_QUIT;
		}
	}
	return ev;
}

/* what came on the descriptors @p polled: the strongest event */
static int events(struct top *t, struct pollfd *p, int np)
{
	int ev = EV_NONE, e, i;

	for (i = 0; i < np; i++) {
		if (!p[i].revents)
			continue;
		e = p[i].fd == t->sigfd ? read_signals(t) : read_keys(t);
		if (e == EV_QUIT)
			return EV_QUIT;
		if (e > ev)
			ev = e;
	}
	return ev;
}

/* ---- the two modes ---------------------------------------------------- */

static void print_table(struct top *t)
{
	struct top_screen sc = { 0 };
	struct top_view v = { .cur = &t->cur };
	int i;

	if (top_view(&sc, &v))
		return;
	for (i = 0; i < sc.n; i++)
		printf("%s\n", sc.lines[i].text);
	top_screen_free(&sc);
}

static int one_shot(struct top *t)
{
	if (sample(t, NULL, 0)) {
		fprintf(stderr, "ringlbctl: %s\n", t->err);
		return 2;
	}
	print_table(t);
	return fflush(stdout) ? 2 : 0;
}

static int live(struct top *t)
{
	struct pollfd p[2];
	uint64_t next = 0, now;
	int np = 0, ev, ret;

	p[np++] = (struct pollfd){ .fd = t->sigfd, .events = POLLIN };
	if (t->kbd)
		p[np++] = (struct pollfd){ .fd = STDIN_FILENO,
					   .events = POLLIN };
	term_enter(t);
	draw(t);
	for (;;) {
		now = ctl_now_ms();
		if (now >= next) {
			ret = sample(t, p, np);
			if (ret == -EINTR) {
				poll(p, np, 0);
				ev = events(t, p, np);
				if (ev == EV_QUIT)
					break;
				if (ev == EV_REDRAW)
					draw(t);
				continue;
			}
			if (ret && !t->err_since[0])
				wall_clock(t->err_since, sizeof(t->err_since));
			next = ctl_now_ms() + t->interval_ms;
			draw(t);
			continue;
		}
		if (poll(p, np, (int)(next - now)) <= 0)
			continue;
		ev = events(t, p, np);
		if (ev == EV_QUIT)
			break;
		if (ev == EV_REFRESH)
			next = 0;
		else if (ev == EV_REDRAW)
			draw(t);
	}
	term_leave(t);
	return 0;
}

int top_main(const char *path, double timeout, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "delay", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct top t = { .path = path, .sigfd = -1 };
	double interval = DEFAULT_INTERVAL;
	sigset_t sigs;
	char *end;
	int opt, ret;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "+d:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			interval = strtod(optarg, &end);
			if (end == optarg || *end || !(interval >= 0.1) ||
			    interval > 3600) {
				fprintf(stderr, "ringlbctl: top -d %s: want seconds, at least 0.1 and at most 3600\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			top_usage(stdout);
			return 0;
		default:
			top_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ringlbctl: top: unexpected '%s'\n",
			argv[optind]);
		top_usage(stderr);
		return 2;
	}
	t.timeout_ms = (uint64_t)(timeout * 1000 + 0.5);
	t.interval_ms = (uint64_t)(interval * 1000 + 0.5);
	if (!isatty(STDOUT_FILENO)) {
		ret = one_shot(&t);
		goto out;
	}
	t.kbd = isatty(STDIN_FILENO);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGQUIT);
	sigaddset(&sigs, SIGWINCH);
	sigaddset(&sigs, SIGTSTP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	t.sigfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	if (t.sigfd < 0) {
		fprintf(stderr, "ringlbctl: top: signalfd: %s\n",
			strerror(errno));
		return 2;
	}
	ret = live(&t);
	close(t.sigfd);
out:
	if (t.have_cur)
		top_sample_free(&t.cur);
	if (t.have_prev)
		top_sample_free(&t.prev);
	return ret;
}

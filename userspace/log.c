// SPDX-License-Identifier: MIT
/*
 * Logging: one line per event on stderr.
 *
 * Once log_start() ran, lines are not written by the thread that makes
 * them: a worker appends its line to a buffer in memory (a mutex held
 * for a memcpy) and a writer thread writes what gathered, every
 * LOG_FLUSH_MS, in one write(). A connection's access line used to cost
 * its worker a write(2) on the event loop, and a slow journal could stall
 * the loop behind it. When the buffer is full (stderr far behind) lines
 * are dropped and counted, never waited for. Errors are written at once,
 * after whatever is buffered, so they are seen even if the process dies
 * next.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_FLUSH_MS	20
#define LOG_BUF_MAX	(1 << 20)

enum log_level log_level = LOG_INFO;

static const char *const level_names[] = {
	[LOG_ERROR] = "error",
	[LOG_WARN] = "warn",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t writer;
	bool running, stop;
	char *buf;
	size_t len;
	unsigned long dropped;
} lg = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

/* ringlb's names, and syslog's (emerg to debug) for the same levels */
static const struct {
	const char *name;
	enum log_level level;
} level_aliases[] = {
	{ "emerg", LOG_ERROR }, { "alert", LOG_ERROR }, { "crit", LOG_ERROR },
	{ "err", LOG_ERROR }, { "warning", LOG_WARN }, { "notice", LOG_INFO },
};

int log_parse_level(const char *s, enum log_level *out)
{
	unsigned int i;

	for (i = 0; i < sizeof(level_aliases) / sizeof(level_aliases[0]); i++)
		if (!strcmp(s, level_aliases[i].name)) {
			*out = level_aliases[i].level;
			return 0;
		}
	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (!strcmp(s, level_names[i])) {
			*out = i;
			return 0;
		}
	}
	return -1;
}

static void write_all(const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(STDERR_FILENO, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= w;
	}
}

/* Write out what is buffered; called with lg.lock held, drops it. */
static void flush_locked(void)
{
	char *buf = lg.buf, note[96];
	size_t len = lg.len;
	unsigned long dropped = lg.dropped;

	lg.buf = NULL;
	lg.len = 0;
	lg.dropped = 0;
	pthread_mutex_unlock(&lg.lock);
	if (len)
		write_all(buf, len);
	free(buf);
	if (dropped) {
		int n = snprintf(note, sizeof(note),
				 "ringlb: warn: log: %lu lines dropped: stderr is too slow\n",
				 dropped);

		write_all(note, n);
	}
}

static void *writer_main(void *arg)
{
	struct timespec ts;

	(void)arg;
	pthread_mutex_lock(&lg.lock);
	while (!lg.stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += LOG_FLUSH_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&lg.cond, &lg.lock, &ts);
		flush_locked();
		pthread_mutex_lock(&lg.lock);
	}
	pthread_mutex_unlock(&lg.lock);
	return NULL;
}

int log_start(void)
{
	int ret;

	pthread_mutex_lock(&lg.lock);
	lg.stop = false;
	ret = pthread_create(&lg.writer, NULL, writer_main, NULL);
	lg.running = !ret;
	pthread_mutex_unlock(&lg.lock);
	return -ret;
}

void log_stop(void)
{
	pthread_mutex_lock(&lg.lock);
	if (!lg.running) {
		pthread_mutex_unlock(&lg.lock);
		return;
	}
	lg.stop = true;
	lg.running = false;
	pthread_cond_signal(&lg.cond);
	pthread_mutex_unlock(&lg.lock);
	pthread_join(lg.writer, NULL);
	pthread_mutex_lock(&lg.lock);
	flush_locked();
}

/* Append a line for the writer; false when it is not running. */
static bool log_queue(const char *line, size_t n, bool now)
{
	pthread_mutex_lock(&lg.lock);
	if (!lg.running) {
		pthread_mutex_unlock(&lg.lock);
		return false;
	}
	if (lg.len + n > LOG_BUF_MAX) {
		lg.dropped++;
	} else {
		if (!lg.buf)
			lg.buf = malloc(LOG_BUF_MAX);
		if (lg.buf) {
			memcpy(lg.buf + lg.len, line, n);
			lg.len += n;
		} else {
			lg.dropped++;
		}
	}
	if (now) {
		flush_locked();
		return true;
	}
	pthread_mutex_unlock(&lg.lock);
	return true;
}

/*
 * Is stderr the journal (systemd sets JOURNAL_STREAM to its device and
 * inode)? Then each line starts with its syslog priority, <3> to <7>,
 * which journald takes off and keeps: `journalctl -p warning` shows a
 * server going DOWN. A terminal or a file gets the lines bare.
 */
static bool to_journal(void)
{
	static int journal = -1;
	unsigned long dev, ino;
	const char *e;
	struct stat st;

	if (journal >= 0)
		return journal;
	e = getenv("JOURNAL_STREAM");
	journal = e && sscanf(e, "%lu:%lu", &dev, &ino) == 2 &&
		  !fstat(STDERR_FILENO, &st) && st.st_dev == dev &&
		  st.st_ino == ino;
	return journal;
}

static const char syslog_prio[] = {
	[LOG_ERROR] = '3', [LOG_WARN] = '4', [LOG_INFO] = '6',
	[LOG_DEBUG] = '7',
};

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	if (lvl > log_level)
		return;
	if (to_journal())
		n = snprintf(line, sizeof(line), "<%c>ringlb: %s: ",
			     syslog_prio[lvl], level_names[lvl]);
	else
		n = snprintf(line, sizeof(line), "ringlb: %s: ",
			     level_names[lvl]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	n = strlen(line);
	line[n++] = '\n';
	/* one write per line otherwise: lines never interleave */
	if (!log_queue(line, n, lvl == LOG_ERROR))
		write_all(line, n);
}

// SPDX-License-Identifier: MIT
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "health_talk.h"

int hc_unescape(const char *s, char *out, size_t size)
{
	size_t n = 0;

	while (*s) {
		char ch = *s++;

		if (ch == '\\') {
			switch (*s++) {
			case 'r': ch = '\r'; break;
			case 'n': ch = '\n'; break;
			case 't': ch = '\t'; break;
			case '\\': ch = '\\'; break;
			case 'x': {
				char hex[3] = { s[0], s[0] ? s[1] : 0, 0 };
				char *end;
				long v = strtol(hex, &end, 16);

				if (!hex[0] || !hex[1] || *end)
					return -EINVAL;
				ch = (char)v;
				s += 2;
				break;
			}
			default:
				return -EINVAL;
			}
		}
		if (n + 1 >= size)
			return -EINVAL;
		out[n++] = ch;
	}
	out[n] = '\0';
	return (int)n;
}

static bool matched(const struct backend *be, const struct hc_talk *t)
{
	if (be->health_re)
		return !regexec(be->health_re, t->buf, 0, NULL, 0);
	return memmem(t->buf, t->got, be->health_expect,
		      be->health_expect_len) != NULL;
}

/* @what, and the start of the answer in printable ASCII */
static const char *said(struct hc_talk *t, const char *what)
{
	char ex[33];
	size_t i, n = t->got < 32 ? t->got : 32;

	if (!t->got)
		return what;
	for (i = 0; i < n; i++)
		ex[i] = t->buf[i] >= 0x20 && t->buf[i] < 0x7f ? t->buf[i] : '.';
	ex[n] = '\0';
	snprintf(t->why, sizeof(t->why), "%s (got '%s%s')", what, ex,
		 t->got > 32 ? "..." : "");
	return t->why;
}

int hc_talk_step(const struct backend *be, int fd, struct hc_talk **tp,
		 const char **why)
{
	struct hc_talk *t = *tp;
	ssize_t n;

	if (be->health != HEALTH_SEND_EXPECT)
		return 0;
	if (!t) {
		/* just connected: what is to be said fits a fresh socket */
		t = calloc(1, sizeof(*t));
		if (!t) {
			*why = "no memory";
			return -1;
		}
		*tp = t;
		if (be->health_send_len &&
		    send(fd, be->health_send, be->health_send_len,
			 MSG_NOSIGNAL | MSG_DONTWAIT) !=
		    (ssize_t)be->health_send_len) {
			*why = "could not send health-send";
			return -1;
		}
		if (!be->health_expect_len && !be->health_re)
			return 0;
	}
	for (;;) {
		n = recv(fd, t->buf + t->got, HC_ANSWER_MAX - t->got,
			 MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 1;
			*why = strerror(errno);
			return -1;
		}
		if (n == 0) {
			*why = said(t, "closed before the expected answer");
			return -1;
		}
		t->got += n;
		/* a regex sees the answer up to its first NUL */
		t->buf[t->got] = '\0';
		if (matched(be, t))
			return 0;
		if (t->got == HC_ANSWER_MAX) {
			*why = said(t, "the answer did not match health-expect");
			return -1;
		}
	}
}

void hc_talk_free(struct hc_talk **t)
{
	free(*t);
	*t = NULL;
}

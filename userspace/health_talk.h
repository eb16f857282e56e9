/* SPDX-License-Identifier: MIT */
/*
 * health = send-expect: after a check's connect, send a string and
 * expect a string or a regular expression in the answer (HAProxy's
 * tcp-check send/expect), e.g. Redis PING and +PONG, or an HTTP
 * request and its status line. Engine-neutral: an engine calls
 * hc_talk_step() once connected and again whenever the socket is
 * readable, and bounds the whole check by its health-timeout.
 */
#ifndef RINGLB_HEALTH_TALK_H
#define RINGLB_HEALTH_TALK_H

#include <stddef.h>

#include "config.h"

#define HC_ANSWER_MAX	1024	/* bytes of answer looked at */

struct hc_talk {
	size_t got;
	char why[128];		/* a failure, with what the server said */
	char buf[HC_ANSWER_MAX + 1];
};

/*
 * Returns 0 when the check passed, 1 while it waits for the socket to
 * be readable, or -1 with *@why saying why it failed (valid until
 * hc_talk_free()).
 */
int hc_talk_step(const struct backend *be, int fd, struct hc_talk **t,
		 const char **why);
/* the end of a check, passed or not: what it kept is freed */
void hc_talk_free(struct hc_talk **t);

/*
 * health-send and health-expect values: C escapes (\r \n \t \\ \xHH)
 * decoded into @out; "re:" before an expect makes it a POSIX extended
 * regular expression. Returns the length or -EINVAL.
 */
int hc_unescape(const char *s, char *out, size_t size);

#endif

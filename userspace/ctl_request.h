/* SPDX-License-Identifier: MIT */
/*
 * One command on ringlb's admin socket, from ringlbctl: connect, send
 * the command line, read the answer up to the daemon's EOF, all before
 * one deadline. Shared by the one-shot commands and `ringlbctl top`.
 */
#ifndef RINGLB_CTL_REQUEST_H
#define RINGLB_CTL_REQUEST_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

uint64_t ctl_now_ms(void);

struct ctl_answer {
	char *text;		/* malloc'd, NUL-terminated */
	size_t len;		/* without the NUL */
	const char *what;	/* the step that failed, for messages */
};

/*
 * Send @cmd (a line, with its newline) to the socket at @path and
 * collect the whole answer into @a before @deadline (ctl_now_ms()
 * milliseconds). 0, -ETIMEDOUT, -errno, or -EINTR when one of the
 * @nwatch descriptors in @watch became readable first (a key pressed,
 * a signal: `top` must never wait on the daemon before it listens).
 */
int ctl_request(const char *path, const char *cmd, uint64_t deadline,
		const struct pollfd *watch, int nwatch, struct ctl_answer *a);
void ctl_answer_free(struct ctl_answer *a);

#endif

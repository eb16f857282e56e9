/* SPDX-License-Identifier: MIT */
/*
 * Binary upgrade over the admin socket, both sides of it.
 *
 * The new process (`ringlb -x PATH`) sends `_getsocks`: the running one
 * answers with a description of its newest generation's listening
 * sockets (handover_parse.h) and the sockets themselves, with
 * SCM_RIGHTS. Being the same sockets, not new ones in the reuseport
 * group, no connection waiting in an accept queue is lost when the old
 * process closes its copies. Once the new workers are set up (and not
 * yet accepting), it sends `_retire` on a second connection: the old
 * process stops accepting and drains, as a retired generation does
 * after a reload, and answers once none of its workers has an accept
 * left; only then do the new workers accept, so the two never wait on
 * a socket at once (worker.c says why that matters for io_uring).
 */
#ifndef RINGLB_HANDOVER_H
#define RINGLB_HANDOVER_H

#include <stdbool.h>
#include <stdio.h>

#include "inherit.h"

struct runtime;

/* at most this many descriptors per message: the kernel's SCM_MAX_FD */
#define HANDOVER_FDS_PER_MSG	253

/* ---- the running process ------------------------------------------- */

/*
 * The `_getsocks` reply: its text to @out, and in *@fds (malloc'd) the
 * descriptors to send after it: every listening socket, and the
 * metrics port's @metrics_fd unless it is -1 (it cannot be bound
 * twice, and the old process keeps it while it drains), dup()ed so a worker closing its own
 * cannot pull one away. On refusal, an "error:" line and no
 * descriptor. Returns 0 or -errno.
 */
int handover_getsocks(struct runtime *rt, int metrics_fd, FILE *out,
		      int **fds, unsigned int *nfds);
/*
 * Send what is left of @fds (*@sent so far) on @sock without blocking.
 * 0 when all went, -EAGAIN to wait for POLLOUT, or -errno.
 */
int handover_send_fds(int sock, const int *fds, unsigned int nfds,
		      unsigned int *sent);
/* no worker of any generation has an accept left (or it exited) */
bool handover_accepts_gone(const struct runtime *rt);

/* ---- the new process ----------------------------------------------- */

/*
 * Take the listening sockets of the ringlb behind the admin socket
 * @path into @inh, and keep a second connection to it for
 * handover_retire() (the new process binds the same path later, after
 * which the old one cannot be reached by it). 0, or -errno after
 * saying what is wrong.
 */
int handover_fetch(struct inherit *inh, const char *path);
/*
 * Tell the old process to stop accepting and drain; wait (bounded) for
 * it to say it has no accept left. 0 when it confirmed, -errno when it
 * did not (logged): the caller accepts anyway.
 */
int handover_retire(struct inherit *inh);

#endif /* RINGLB_HANDOVER_H */

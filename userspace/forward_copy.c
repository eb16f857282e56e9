// SPDX-License-Identifier: MIT
/*
 * The reserve of both io_uring data paths. A direction whose shared
 * resource ran out - the provided buffer ring is empty, or no descriptor
 * is left for a pipe - still moves its bytes, one private buffer at a
 * time: recv into a buffer of the worker's own pool (buf_get), send it
 * on, give it back, and let its path take over again. Nothing another
 * connection holds can stop it, and a destination that never reads pins
 * only this one buffer, its own. It is also how a direction without a
 * pipe sees its source's EOF.
 *
 * One step is in flight per direction: COPY_IN, then COPY_OUT until the
 * buffer is empty. The buffer is freed only by copy_release(), once no
 * request can still write into it.
 */
#include <errno.h>

#include "log.h"
#include "uring.h"

void copy_start(struct uring_worker *u, struct conn *c, int d)
{
	struct dir *dir = &c->dir[d];
	int src = dir_src(d);
	struct io_uring_sqe *sqe;

	if (!dir->buf) {
		dir->buf = buf_get(u->w);
		if (!dir->buf) {
			uring_conn_close(u, c, "no-memory");
			return;
		}
	}
	dir->flags |= DIR_COPY;
	dir->buf_len = dir->buf_off = 0;
	STAT_INC(u->w, reserve_copies);
	sqe = uring_sqe(u, 1);
	io_uring_prep_recv(sqe, c->fd[src], dir->buf, u->w->cfg->buf_size, 0);
	uring_sqe_fd(u, sqe, c, src);
	uring_sqe_ud(sqe, c, UD_COPY_IN, d, 0);
}

static void copy_out(struct uring_worker *u, struct conn *c, int d)
{
	struct dir *dir = &c->dir[d];
	int dst = dir_dst(d);
	struct io_uring_sqe *sqe = uring_sqe(u, 1);

	io_uring_prep_send(sqe, c->fd[dst], dir->buf + dir->buf_off,
			   dir->buf_len - dir->buf_off, MSG_NOSIGNAL);
	uring_sqe_fd(u, sqe, c, dst);
	uring_sqe_ud(sqe, c, UD_COPY_OUT, d, 0);
	u->expect++;	/* completes at once where the peer has room */
}

/* The buffer is empty: back to the pool, and the path takes over. */
static void copy_done(struct uring_worker *u, struct conn *c, int d)
{
	struct dir *dir = &c->dir[d];

	buf_put(u->w, dir->buf);
	dir->buf = NULL;
	dir->buf_len = dir->buf_off = 0;
	dir->flags &= ~DIR_COPY;
	if (dir->flags & DIR_EOF)
		uring_dir_finish(u, c, d);
	else if (dir_spliced(u, c, d))
		splice_resume(u, c, d);
	else
		buffers_resume(u, c, d);
}

static void copy_failed(struct uring_worker *u, struct conn *c, int side,
			int res)
{
	bool reset = res == -ECONNRESET || res == -EPIPE;

	if (reset)
		STAT_INC(u->w, resets);
	uring_conn_close(u, c, reset ? conn_reset_reason(side) : "error");
}

void copy_cqe(struct uring_worker *u, struct conn *c, enum ud_op op,
	      int d, struct io_uring_cqe *cqe)
{
	struct dir *dir = &c->dir[d];
	int res = cqe->res;

	/* closing: the buffer goes back in copy_release() */
	if (c->state != CONN_FORWARDING)
		return;
	if (op == UD_COPY_IN) {
		if (res > 0) {
			dir->buf_len = res;
			conn_rx(u->w, c, d);
			copy_out(u, c, d);
		} else if (res == 0) {
			dir->flags |= DIR_EOF;
			copy_done(u, c, d);
		} else if (err_is_transient(res)) {
			copy_start(u, c, d);
		} else {
			copy_failed(u, c, dir_src(d), res);
		}
		return;
	}
	if (res < 0) {
		if (err_is_transient(res))
			copy_out(u, c, d);
		else
			copy_failed(u, c, dir_dst(d), res);
		return;
	}
	dir->buf_off += res;
	conn_tx(u->w, c, d, res, dir->buf_off < dir->buf_len);
	if (dir->buf_off < dir->buf_len)
		copy_out(u, c, d);	/* a short send: the rest first */
	else
		copy_done(u, c, d);
}

void copy_release(struct uring_worker *u, struct conn *c)
{
	int d;

	for (d = 0; d < 2; d++) {
		struct dir *dir = &c->dir[d];

		if (dir->buf)
			buf_put(u->w, dir->buf);
		dir->buf = NULL;
		dir->flags &= ~DIR_COPY;
	}
}

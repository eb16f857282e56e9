// SPDX-License-Identifier: MIT
/*
 * The splice data path on io_uring: socket -> pipe -> socket.
 *
 * IORING_OP_SPLICE always runs on an io-wq worker, and a splice from an
 * empty socket would park that worker; so each direction first waits for
 * readiness with a poll, and every splice carries SPLICE_F_NONBLOCK on
 * non-blocking sockets, turning "nothing yet" into -EAGAIN. Per direction
 * one step is in flight at a time:
 *
 *   POLL_IN -> SPLICE_IN (src -> pipe) -> SPLICE_OUT (pipe -> dst) ...
 *                    |  -EAGAIN: pipe back to the pool, POLL_IN again
 *                    |  0: EOF, shutdown(dst, SHUT_WR) once the pipe is empty
 *   SPLICE_OUT -EAGAIN -> POLL_OUT -> SPLICE_OUT
 *   SPLICE_OUT done: SPLICE_IN again if the last one filled the pipe,
 *                    else (the socket was read dry) pipe back, POLL_IN
 *
 * A direction holds a pipe only while bytes are in it, so one whose
 * destination stops reading holds one pipe, its own, and nothing else.
 * When no descriptor is left for a pipe, the direction moves its bytes
 * through a private buffer instead (forward_copy.c), which also sees
 * its source's EOF: it is never cut for want of a pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "uring.h"

static void poll_side(struct uring_worker *u, struct conn *c, int d,
		      int side, enum ud_op op, unsigned int mask)
{
	struct io_uring_sqe *sqe = uring_sqe(u, 1);

	io_uring_prep_poll_add(sqe, c->fd[side], mask);
	uring_sqe_fd(u, sqe, c, side);
	uring_sqe_ud(sqe, c, op, d, 0);
}

static void splice_in(struct uring_worker *u, struct conn *c, int d)
{
	struct dir *dir = &c->dir[d];
	int src = dir_src(d);
	struct io_uring_sqe *sqe;

	if (!dir->pipe) {
		dir->pipe = pipe_get(u->w, c);
		if (!dir->pipe) {
			copy_start(u, c, d);
			return;
		}
	}
	sqe = uring_sqe(u, 1);
	io_uring_prep_splice(sqe, c->fd[src], -1, dir->pipe->wr, -1,
			     u->w->cfg->pipe_size - dir->pipe_bytes,
			     SPLICE_F_NONBLOCK | SPLICE_F_MOVE |
			     (c->fixed[src] ? SPLICE_F_FD_IN_FIXED : 0));
	uring_sqe_ud(sqe, c, UD_SPLICE_IN, d, 0);
}

static void splice_out(struct uring_worker *u, struct conn *c, int d)
{
	struct dir *dir = &c->dir[d];
	int dst = dir_dst(d);
	struct io_uring_sqe *sqe = uring_sqe(u, 1);

	io_uring_prep_splice(sqe, dir->pipe->rd, -1, c->fd[dst], -1,
			     dir->pipe_bytes, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
	uring_sqe_fd(u, sqe, c, dst);
	uring_sqe_ud(sqe, c, UD_SPLICE_OUT, d, 0);
}

static void release_pipe(struct uring_worker *u, struct dir *dir)
{
	if (!dir->pipe)
		return;
	if (dir->pipe_bytes) {
		/* bytes nobody will read: the pipe cannot be reused */
		close(dir->pipe->rd);
		close(dir->pipe->wr);
		free(dir->pipe);
	} else {
		pipe_put(u->w, dir->pipe);
	}
	dir->pipe = NULL;
	dir->pipe_bytes = 0;
}

void splice_start(struct uring_worker *u, struct conn *c, int d)
{
	poll_side(u, c, d, dir_src(d), UD_POLL_IN, POLLIN | POLLRDHUP);
}

/* after the reserve moved a buffer: wait for the next bytes */
void splice_resume(struct uring_worker *u, struct conn *c, int d)
{
	splice_start(u, c, d);
}

void splice_release(struct uring_worker *u, struct conn *c)
{
	release_pipe(u, &c->dir[0]);
	release_pipe(u, &c->dir[1]);
}

static void in_done(struct uring_worker *u, struct conn *c, int d, int res)
{
	struct dir *dir = &c->dir[d];

	if (res > 0) {
		/*
		 * Less than the pipe had room for: the socket is empty for
		 * now. Request/response traffic always lands here, and its
		 * next bytes are a round trip away, so out_done() waits for
		 * them with a poll rather than spend an io-wq splice on a
		 * certain -EAGAIN.
		 */
		if ((uint32_t)res < u->w->cfg->pipe_size - dir->pipe_bytes)
			dir->flags |= DIR_DRAINED;
		else
			dir->flags &= ~DIR_DRAINED;
		dir->pipe_bytes += res;
		conn_rx(u->w, c, d);
		splice_out(u, c, d);
		return;
	}
	if (res == 0) {
		dir->flags |= DIR_EOF;
		if (!dir->pipe_bytes) {
			release_pipe(u, dir);
			uring_dir_finish(u, c, d);
		} else {
			splice_out(u, c, d);
		}
		return;
	}
	if (err_is_transient(res)) {
		STAT_INC(u->w, splice_eagain);
		if (dir->pipe_bytes) {
			splice_out(u, c, d);
		} else {
			release_pipe(u, dir);
			poll_side(u, c, d, dir_src(d), UD_POLL_IN,
				  POLLIN | POLLRDHUP);
		}
		return;
	}
	if (res == -ECONNRESET)
		STAT_INC(u->w, resets);
	uring_conn_close(u, c, res == -ECONNRESET ?
			 conn_reset_reason(dir_src(d)) : "error");
}

static void out_done(struct uring_worker *u, struct conn *c, int d, int res)
{
	struct dir *dir = &c->dir[d];

	if (res > 0) {
		dir->pipe_bytes -= res;
		conn_tx(u->w, c, d, res, dir->pipe_bytes);
		if (dir->pipe_bytes)
			splice_out(u, c, d);
		else if (dir->flags & DIR_EOF) {
			release_pipe(u, dir);
			uring_dir_finish(u, c, d);
		} else if (dir->flags & DIR_DRAINED) {
			/* the pipe goes back to the pool while we wait */
			release_pipe(u, dir);
			poll_side(u, c, d, dir_src(d), UD_POLL_IN,
				  POLLIN | POLLRDHUP);
		} else {
			/* bulk data is usually waiting: skip the poll */
			splice_in(u, c, d);
		}
		return;
	}
	if (err_is_transient(res) || res == 0) {
		poll_side(u, c, d, dir_dst(d), UD_POLL_OUT, POLLOUT);
		return;
	}
	if (res == -ECONNRESET || res == -EPIPE)
		STAT_INC(u->w, resets);
	uring_conn_close(u, c, res == -ECONNRESET || res == -EPIPE ?
			 conn_reset_reason(dir_dst(d)) : "error");
}

void splice_cqe(struct uring_worker *u, struct conn *c, enum ud_op op,
		int d, struct io_uring_cqe *cqe)
{
	int res = cqe->res;

	if (c->state != CONN_FORWARDING) {
		/*
		 * Closing, but a splice that was already running still
		 * moved bytes (the cancel cannot stop it, and the shutdown
		 * wakes it). Count them: release_pipe() must not hand a
		 * pipe holding this stream's leftovers to the next
		 * connection.
		 */
		if (op == UD_SPLICE_IN && res > 0)
			c->dir[d].pipe_bytes += res;
		else if (op == UD_SPLICE_OUT && res > 0)
			c->dir[d].pipe_bytes -= res;
		return;
	}
	switch (op) {
	case UD_POLL_IN:
		if (res < 0 && res != -EINTR) {
			uring_conn_close(u, c, "error");
			return;
		}
		splice_in(u, c, d);
		break;
	case UD_POLL_OUT:
		if (res < 0 && res != -EINTR) {
			uring_conn_close(u, c, "error");
			return;
		}
		splice_out(u, c, d);
		break;
	case UD_SPLICE_IN:
		in_done(u, c, d, res);
		break;
	case UD_SPLICE_OUT:
		out_done(u, c, d, res);
		break;
	default:
		break;
	}
}

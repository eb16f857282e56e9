// SPDX-License-Identifier: MIT
/*
 * The splice data path on io_uring: socket -> pipe -> socket.
 *
 * IORING_OP_SPLICE always runs on an io-wq worker: every splice is a
 * hand-off to a kernel thread and back, four per request/response, and
 * measured dearer than splice(2) from an epoll loop. So on plain
 * descriptors io_uring only says when a socket is ready (a multishot
 * poll per direction, armed once) and the worker splices at once, with
 * splice(2), non-blocking, where the result is known without a hand-off
 * (pump()):
 *
 *   POLL_IN ready -> splice src -> pipe -> splice pipe -> dst, again
 *                    while the last splice in filled the pipe
 *                    src dry: the pipe back to the pool, wait for POLL_IN
 *                    0: EOF, shutdown(dst, SHUT_WR) once the pipe is empty
 *   dst full      -> a POLL_OUT, then the pipe's bytes before new ones
 *
 * A direction gets PUMP_BUDGET pipe-fulls per turn; one that could go on
 * queues a NOP and has its next turn after the completions at hand, so
 * one fast transfer cannot hold the worker.
 *
 * Direct descriptors (--direct-descriptors) have no fd for splice(2), so
 * a connection with one keeps the io_uring splices: a POLL_IN first (a
 * splice from an empty socket would park its io-wq worker), then
 * SPLICE_IN and SPLICE_OUT ops, each with SPLICE_F_NONBLOCK.
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
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"
#include "uring.h"

#define PUMP_BUDGET	16

static void poll_side(struct uring_worker *u, struct conn *c, int d,
		      int side, enum ud_op op, unsigned int mask)
{
	struct io_uring_sqe *sqe = uring_sqe(u, 1);

	io_uring_prep_poll_add(sqe, c->fd[side], mask);
	uring_sqe_fd(u, sqe, c, side);
	uring_sqe_ud(sqe, c, op, d, 0);
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

static bool inline_path(struct conn *c)
{
	return !c->fixed[SIDE_CLIENT] && !c->fixed[SIDE_SERVER];
}

static void splice_failed(struct uring_worker *u, struct conn *c, int side,
			  int res)
{
	bool reset = res == -ECONNRESET || res == -EPIPE;

	if (reset)
		STAT_INC(u->w, resets);
	uring_conn_close(u, c, reset ? conn_reset_reason(side) : "error");
}

/* ---- inline: readiness from io_uring, splice(2) from here ------------ */

/*
 * Readiness of the source, armed once: multishot where the kernel has
 * it, so a request/response connection costs no SQE per message.
 */
static void arm_poll_in(struct uring_worker *u, struct conn *c, int d)
{
	struct dir *dir = &c->dir[d];
	struct io_uring_sqe *sqe;

	if (dir->flags & DIR_IN_BUSY)
		return;
	sqe = uring_sqe(u, 1);
	io_uring_prep_poll_add(sqe, c->fd[dir_src(d)], POLLIN | POLLRDHUP);
	if (uring_caps.poll_multishot)
		sqe->len = IORING_POLL_ADD_MULTI;
	uring_sqe_ud(sqe, c, UD_POLL_IN, d, 0);
	dir->flags |= DIR_IN_BUSY;
}

/* the destination is full: wait until it is writable again */
static void arm_poll_out(struct uring_worker *u, struct conn *c, int d)
{
	struct dir *dir = &c->dir[d];

	if (dir->flags & DIR_SEND_BUSY)
		return;
	poll_side(u, c, d, dir_dst(d), UD_POLL_OUT, POLLOUT);
	dir->flags |= DIR_SEND_BUSY;
}

/* its turn is over but it could go on: a NOP brings it back */
static void pump_later(struct uring_worker *u, struct conn *c, int d)
{
	struct io_uring_sqe *sqe = uring_sqe(u, 1);

	io_uring_prep_nop(sqe);
	uring_sqe_ud(sqe, c, UD_PUMP, d, 0);
	c->dir[d].flags |= DIR_PUMP_LATER;
}

/*
 * Is the source socket dry after a splice of @n bytes that did not fill
 * the pipe's @room? Not always: the pipe holds room / PAGE_SIZE buffers,
 * one run of bytes within one page each, and a socket's data in many
 * small pieces (a page's tail, packets from a NIC, pipelined requests)
 * uses them up before the bytes. Taken for dry then, the direction waits
 * for a POLL_IN that comes only with new data, and a sender that waits
 * for answers, or whose window the queued bytes closed, sends none: the
 * stream stalled until a timeout cut it. Fewer bytes than buffers cannot
 * have used them all up; after more, the socket is asked. That costs
 * --forward splice an ioctl per message, as the epoll engine pays a
 * splice that returns EAGAIN.
 */
static bool src_dry(int fd, unsigned int n, unsigned int room)
{
	static unsigned int page;
	int q;

	if (!page)
		page = (unsigned int)sysconf(_SC_PAGESIZE);
	if (n < room / page)
		return true;
	return !ioctl(fd, FIONREAD, &q) && !q;
}

/*
 * Move what can move now: the pipe's bytes out first, then from the
 * source while it has bytes (once it is dry, its next bytes come with
 * the next POLL_IN).
 */
static void pump(struct uring_worker *u, struct conn *c, int d)
{
	struct dir *dir = &c->dir[d];
	int src = c->fd[dir_src(d)], dst = c->fd[dir_dst(d)];
	unsigned int room, budget = PUMP_BUDGET;
	ssize_t n;

	if (dir->flags & (DIR_DONE | DIR_COPY | DIR_SEND_BUSY |
			  DIR_PUMP_LATER))
		return;
	for (;;) {
		while (dir->pipe_bytes) {
			n = splice(dir->pipe->rd, NULL, dst, NULL,
				   dir->pipe_bytes,
				   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
			if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
				arm_poll_out(u, c, d);
				return;
			}
			if (n <= 0) {
				splice_failed(u, c, dir_dst(d),
					      n < 0 ? -errno : -EPIPE);
				return;
			}
			dir->pipe_bytes -= n;
			conn_tx(u->w, c, d, n, dir->pipe_bytes);
		}
		if (dir->flags & DIR_EOF) {
			release_pipe(u, dir);
			uring_dir_finish(u, c, d);
			return;
		}
		if (dir->flags & DIR_DRAINED) {
			/* the pipe goes back to the pool while we wait */
			release_pipe(u, dir);
			arm_poll_in(u, c, d);
			return;
		}
		if (!budget--) {
			pump_later(u, c, d);
			return;
		}
		if (!dir->pipe) {
			dir->pipe = pipe_get(u->w, c);
			if (!dir->pipe) {
				copy_start(u, c, d);
				return;
			}
		}
		room = u->w->cfg->pipe_size;
		n = splice(src, NULL, dir->pipe->wr, NULL, room,
			   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (n > 0) {
			dir->pipe_bytes = n;
			if ((unsigned int)n < room &&
			    !(dir->flags & DIR_SRC_HUP) &&
			    src_dry(src, n, room))
				dir->flags |= DIR_DRAINED;
			conn_rx(u->w, c, d);
		} else if (n == 0) {
			dir->flags |= DIR_EOF;
		} else if (errno == EAGAIN || errno == EINTR) {
			STAT_INC(u->w, splice_eagain);
			dir->flags |= DIR_DRAINED;
		} else {
			splice_failed(u, c, dir_src(d), -errno);
			return;
		}
	}
}

static void inline_cqe(struct uring_worker *u, struct conn *c, enum ud_op op,
		       int d, struct io_uring_cqe *cqe)
{
	struct dir *dir = &c->dir[d];
	int res = cqe->res;

	switch (op) {
	case UD_POLL_IN:
		if (!(cqe->flags & IORING_CQE_F_MORE))
			dir->flags &= ~DIR_IN_BUSY;
		if (res < 0 && res != -EINTR && res != -ECANCELED) {
			uring_conn_close(u, c, "error");
			return;
		}
		/* the source has bytes (or an end) for us again */
		dir->flags &= ~DIR_DRAINED;
		/*
		 * The end came with it. The wake-ups of the last bytes and
		 * of the FIN can fold into this one completion, and none
		 * follows: read to the end, whatever a short splice says.
		 */
		if (res > 0 && (res & (POLLRDHUP | POLLHUP | POLLERR)))
			dir->flags |= DIR_SRC_HUP;
		if (!(dir->flags & DIR_IN_BUSY) &&
		    !(dir->flags & (DIR_EOF | DIR_DONE)))
			arm_poll_in(u, c, d);
		break;
	case UD_POLL_OUT:
		dir->flags &= ~DIR_SEND_BUSY;
		if (res < 0 && res != -EINTR) {
			uring_conn_close(u, c, "error");
			return;
		}
		break;
	case UD_PUMP:
		dir->flags &= ~DIR_PUMP_LATER;
		break;
	default:
		return;
	}
	pump(u, c, d);
}

/* ---- io_uring splices, for direct descriptors ------------------------ */

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
	splice_failed(u, c, dir_src(d), res);
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
	splice_failed(u, c, dir_dst(d), res);
}

static void ops_cqe(struct uring_worker *u, struct conn *c, enum ud_op op,
		    int d, struct io_uring_cqe *cqe)
{
	int res = cqe->res;

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

/* ---- both ------------------------------------------------------------ */

void splice_start(struct uring_worker *u, struct conn *c, int d)
{
	if (inline_path(c))
		arm_poll_in(u, c, d);
	else
		poll_side(u, c, d, dir_src(d), UD_POLL_IN, POLLIN | POLLRDHUP);
}

/* after the reserve moved a buffer: the pipe path takes over again */
void splice_resume(struct uring_worker *u, struct conn *c, int d)
{
	if (inline_path(c)) {
		/* it may be ready now: its poll fired during the copy */
		c->dir[d].flags &= ~DIR_DRAINED;
		pump(u, c, d);
	} else {
		splice_start(u, c, d);
	}
}

void splice_release(struct uring_worker *u, struct conn *c)
{
	release_pipe(u, &c->dir[0]);
	release_pipe(u, &c->dir[1]);
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
	if (inline_path(c))
		inline_cqe(u, c, op, d, cqe);
	else
		ops_cqe(u, c, op, d, cqe);
}

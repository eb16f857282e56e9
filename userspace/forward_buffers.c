// SPDX-License-Identifier: MIT
/*
 * The buffers data path on io_uring: a multishot recv per direction picks
 * buffers from the worker's provided buffer ring (so an idle connection
 * owns no buffer at all), and each received chunk is sent on in order,
 * from the same memory registered as a fixed buffer when zero-copy sends
 * are on. A buffer goes back to the ring once its bytes are sent (and,
 * for send_zc, once the kernel's notification says it let go of it).
 *
 * The ring is shared by every connection of the worker, and the kernel,
 * not we, picks which recv takes the next buffer. Three rules keep one
 * connection from starving the others:
 *
 * - A budget. A direction may hold a share of the ring (budget():
 *   half of it over the connections open, between BUDGET_MIN and
 *   QUEUE_HIGH buffers); at its budget its multishot recv is cancelled,
 *   and it is re-armed only once its destination has taken most of the
 *   queue. A multishot recv goes on taking buffers until the cancel
 *   lands, so while the ring runs low (under a quarter free) a direction
 *   that reached its budget is throttled: single-shot recvs, one buffer
 *   each, never past the budget, until its queue drains.
 * - A reserve. A direction that holds no buffer and meets an empty ring
 *   goes on through a private buffer of its own (forward_copy.c), one
 *   recv and send at a time, until the ring has room again. So bytes
 *   always move for every connection whose peer reads, whatever the
 *   others hold.
 * - Its own cost. A direction whose destination stops reading holds
 *   its budget (and whatever its last multishot took before the cancel
 *   landed) and waits: for its reader, or for the write timeout.
 */
#include <errno.h>
#include <stdlib.h>

#include "log.h"
#include "uring.h"

#define BGID		0
#define QUEUE_HIGH	16	/* the most a direction may queue */
#define BUDGET_MIN	2
/* full buffers in a row that make a direction bulk (auto: to splice) */
#define BULK_RUN	8

/*
 * A direction's share of the ring: half the buffers over the
 * connections open (the other half is slack for the recvs in flight),
 * so that all of them at their budget still leave buffers free.
 */
static unsigned int budget(struct uring_worker *u)
{
	unsigned int n = u->w->active ? u->w->active : 1;
	unsigned int b = u->nbufs / (2 * n);

	if (b < BUDGET_MIN)
		return BUDGET_MIN;
	return b > QUEUE_HIGH ? QUEUE_HIGH : b;
}

static bool ring_low(struct uring_worker *u)
{
	return u->bufs_free < u->nbufs / 4;
}

static void arm_recv(struct uring_worker *u, struct conn *c, int d)
{
	struct dir *dir = &c->dir[d];
	int src = dir_src(d);
	struct io_uring_sqe *sqe = uring_sqe(u, 1);

	if (uring_caps.recv_multishot && !(dir->flags & DIR_THROTTLED))
		io_uring_prep_recv_multishot(sqe, c->fd[src], NULL, 0, 0);
	else
		io_uring_prep_recv(sqe, c->fd[src], NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	uring_sqe_fd(u, sqe, c, src);
	uring_sqe_ud(sqe, c, UD_RECV, d, 0);
	dir->flags |= DIR_RECV_ARMED;
}

static void send_head(struct uring_worker *u, struct conn *c, int d)
{
	struct dir *dir = &c->dir[d];
	struct chunk *ch = &u->chunks[dir->qhead];
	int dst = dir_dst(d);
	char *p = u->slab + (size_t)dir->qhead * u->buf_size + ch->off;
	struct io_uring_sqe *sqe = uring_sqe(u, 1);

	if (u->slab_registered)
		io_uring_prep_send_zc_fixed(sqe, c->fd[dst], p,
					    ch->len - ch->off, MSG_NOSIGNAL,
					    0, 0);
	else
		io_uring_prep_send(sqe, c->fd[dst], p, ch->len - ch->off,
				   MSG_NOSIGNAL);
	uring_sqe_fd(u, sqe, c, dst);
	uring_sqe_ud(sqe, c, UD_SEND, d, (uint16_t)dir->qhead);
	dir->flags |= DIR_SEND_BUSY;
	/* a send to a socket with room completes at once (loop_wait()) */
	dir->send_turn = u->turn;
	if (!(dir->flags & DIR_SEND_SLOW))
		u->expect++;
}

static void chunk_put(struct uring_worker *u, unsigned int bid)
{
	struct chunk *ch = &u->chunks[bid];

	if (!ch->queued && !ch->zc_refs)
		bufring_recycle(u, bid);
}

static unsigned int dequeue(struct uring_worker *u, struct dir *dir)
{
	unsigned int bid = dir->qhead;

	dir->qhead = u->chunks[bid].next;
	if (dir->qhead < 0)
		dir->qtail = -1;
	dir->qlen--;
	u->chunks[bid].queued = 0;
	return bid;
}

/* stop the multishot recv of @d, the one that just completed */
static void cancel_recv(struct uring_worker *u, struct conn *c, int d,
			struct io_uring_cqe *cqe)
{
	struct dir *dir = &c->dir[d];
	struct io_uring_sqe *sqe;

	if (!(dir->flags & DIR_RECV_ARMED) ||
	    !(cqe->flags & IORING_CQE_F_MORE) ||
	    (dir->flags & DIR_CANCELING))
		return;
	sqe = uring_sqe(u, 1);
	io_uring_prep_cancel64(sqe, cqe->user_data, 0);
	uring_sqe_ud(sqe, c, UD_CANCEL, d, 0);
	dir->flags |= DIR_CANCELING;
}

/*
 * --forward auto: a direction whose receives fill whole buffers, again
 * and again, is moving bulk, where splice wins (no copy through
 * userspace). It stops receiving and, once its queue went out, the
 * splice path takes it over (dir_arm()). Direct descriptors have no fd
 * for splice(2): they stay.
 */
static void maybe_bulk(struct uring_worker *u, struct conn *c, int d,
		       int res, struct io_uring_cqe *cqe)
{
	struct dir *dir = &c->dir[d];

	if (!u->splice_bulk || c->fixed[SIDE_CLIENT] || c->fixed[SIDE_SERVER])
		return;
	if ((unsigned int)res < u->buf_size) {
		dir->full_run = 0;
		return;
	}
	if (++dir->full_run < BULK_RUN || (dir->flags & DIR_TO_SPLICE))
		return;
	dir->flags |= DIR_TO_SPLICE;
	cancel_recv(u, c, d, cqe);
}

/*
 * Give direction @d the recv it may have now, if any. Called whenever
 * its state moved: a recv or send completed, the reserve gave it back.
 */
static void dir_arm(struct uring_worker *u, struct conn *c, int d)
{
	struct dir *dir = &c->dir[d];
	unsigned int b;

	if (c->state != CONN_FORWARDING ||
	    (dir->flags & (DIR_EOF | DIR_RECV_ARMED | DIR_CANCELING |
			   DIR_COPY | DIR_SPLICE)))
		return;
	if (dir->flags & DIR_TO_SPLICE) {
		/* its queue went out: the splice path takes it from here */
		if (dir->qlen || (dir->flags & DIR_SEND_BUSY))
			return;
		dir->flags = (dir->flags & ~(DIR_TO_SPLICE | DIR_THROTTLED |
					     DIR_STARVED)) | DIR_SPLICE;
		STAT_INC(u->w, splice_switches);
		splice_start(u, c, d);
		return;
	}
	if (dir->flags & DIR_STARVED) {
		/*
		 * The ring ran dry under it. Holding buffers, it waits for
		 * its own queue to go out; holding none, it goes on through
		 * the reserve until the ring has an eighth free again.
		 */
		if (dir->qlen)
			return;
		if (u->bufs_free < u->nbufs / 8) {
			copy_start(u, c, d);
			return;
		}
		dir->flags &= ~DIR_STARVED;
	}
	b = budget(u);
	if (dir->qlen >= b)
		return;
	/* a cancelled multishot comes back once most of the queue went */
	if (!(dir->flags & DIR_THROTTLED) && dir->qlen > b / 4)
		return;
	arm_recv(u, c, d);
}

void buffers_start(struct uring_worker *u, struct conn *c, int d)
{
	dir_arm(u, c, d);
}

void buffers_resume(struct uring_worker *u, struct conn *c, int d)
{
	dir_arm(u, c, d);
}

void buffers_release(struct uring_worker *u, struct conn *c)
{
	int d;

	for (d = 0; d < 2; d++) {
		struct dir *dir = &c->dir[d];

		while (dir->qhead >= 0)
			chunk_put(u, dequeue(u, dir));
	}
}

static void enqueue(struct uring_worker *u, struct dir *dir,
		    unsigned int bid, int len)
{
	struct chunk *ch = &u->chunks[bid];

	ch->len = len;
	ch->off = 0;
	ch->next = -1;
	ch->queued = 1;
	ch->zc_refs = 0;
	if (dir->qtail >= 0)
		u->chunks[dir->qtail].next = bid;
	else
		dir->qhead = bid;
	dir->qtail = bid;
	dir->qlen++;
}

static void recv_done(struct uring_worker *u, struct conn *c, int d,
		      struct io_uring_cqe *cqe)
{
	struct dir *dir = &c->dir[d];
	int res = cqe->res;

	/*
	 * The recv is over (ENOBUFS, EOF, error, or cancelled): a cancel we
	 * asked for has nothing left to find, whatever the result says.
	 * Left set, DIR_CANCELING would stall the direction for ever.
	 */
	if (!(cqe->flags & IORING_CQE_F_MORE))
		dir->flags &= ~(DIR_RECV_ARMED | DIR_CANCELING);

	if (cqe->flags & IORING_CQE_F_BUFFER) {
		unsigned int bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;

		u->bufs_free--;
		if (c->state != CONN_FORWARDING || res <= 0)
			bufring_recycle(u, bid);
		else
			enqueue(u, dir, bid, res);
	}
	if (c->state != CONN_FORWARDING)
		return;

	if (res > 0) {
		unsigned int b = budget(u);

		conn_rx(u->w, c, d);
		if (!(dir->flags & DIR_SEND_BUSY))
			send_head(u, c, d);
		maybe_bulk(u, c, d, res, cqe);
		if (dir->qlen >= b) {
			/* hoarding while the ring runs low: one at a time */
			if (ring_low(u))
				dir->flags |= DIR_THROTTLED;
			cancel_recv(u, c, d, cqe);
		}
	} else if (res == 0) {
		dir->flags |= DIR_EOF;
		if (!dir->qlen && !(dir->flags & DIR_SEND_BUSY))
			uring_dir_finish(u, c, d);
		return;
	} else if (res == -ENOBUFS) {
		STAT_INC(u->w, uring_enobufs);
		dir->flags |= DIR_STARVED;
	} else if (res != -ECANCELED && !err_is_transient(res)) {
		if (res == -ECONNRESET)
			STAT_INC(u->w, resets);
		uring_conn_close(u, c, res == -ECONNRESET ?
				 conn_reset_reason(dir_src(d)) : "error");
		return;
	}
	dir_arm(u, c, d);
}

static void send_done(struct uring_worker *u, struct conn *c, int d,
		      struct io_uring_cqe *cqe)
{
	struct dir *dir = &c->dir[d];
	unsigned int bid = ud_aux(cqe->user_data);
	struct chunk *ch = &u->chunks[bid];
	int res = cqe->res;

	if (cqe->flags & IORING_CQE_F_NOTIF) {
		/* the kernel no longer references the buffer */
		ch->zc_refs--;
		chunk_put(u, bid);
		return;
	}
	dir->flags &= ~DIR_SEND_BUSY;
	/*
	 * Queued while turn T's CQEs were handled, submitted by the next
	 * wait: at once means handled in turn T + 1, with a full batch.
	 */
	if (u->short_wait || (uint8_t)(dir->send_turn + 1) != u->turn)
		dir->flags |= DIR_SEND_SLOW;
	if (cqe->flags & IORING_CQE_F_MORE)
		ch->zc_refs++;	/* a notification will follow */
	if (c->state != CONN_FORWARDING)
		return;

	if (res < 0) {
		if (err_is_transient(res)) {
			send_head(u, c, d);
			return;
		}
		if (res == -ECONNRESET || res == -EPIPE)
			STAT_INC(u->w, resets);
		uring_conn_close(u, c, res == -ECONNRESET || res == -EPIPE ?
				 conn_reset_reason(dir_dst(d)) : "error");
		return;
	}
	ch->off += res;
	if (ch->off >= ch->len)
		chunk_put(u, dequeue(u, dir));
	conn_tx(u->w, c, d, res, dir->qlen);

	if (dir->qlen) {
		/* a short send resumes where it stopped, before anything else */
		send_head(u, c, d);
	} else {
		/* the reader caught up: multishot again */
		dir->flags &= ~DIR_THROTTLED;
		if (dir->flags & DIR_EOF) {
			uring_dir_finish(u, c, d);
			return;
		}
	}
	dir_arm(u, c, d);
}

void buffers_cqe(struct uring_worker *u, struct conn *c, enum ud_op op,
		 int d, struct io_uring_cqe *cqe)
{
	if (op == UD_RECV)
		recv_done(u, c, d, cqe);
	else
		send_done(u, c, d, cqe);
}

// SPDX-License-Identifier: MIT
/*
 * The buffers data path on io_uring: a multishot recv per direction picks
 * buffers from the worker's provided buffer ring (so an idle connection
 * owns no buffer at all), and each received chunk is sent on in order,
 * from the same memory registered as a fixed buffer when zero-copy sends
 * are on. A buffer goes back to the ring once its bytes are sent (and,
 * for send_zc, once the kernel's notification says it let go of it).
 *
 * Backpressure: a direction that has QUEUE_HIGH chunks waiting cancels
 * its recv and re-arms it once the queue is down to QUEUE_LOW, so a slow
 * reader holds a bounded number of buffers. Bounded, but not tightly: a
 * multishot recv goes on taking buffers until the cancel lands, and on
 * loopback a burst can take most of the ring. So a direction that hits
 * QUEUE_HIGH while fewer than a quarter of the buffers are free is
 * throttled until its queue drains: it re-arms with single-shot recvs,
 * one buffer each, and a reader that never reads pins no more than it
 * already has. (Throttling every direction that reached QUEUE_HIGH cost
 * a third of bulk throughput: a fast stream reaches it all the time.)
 * Directions starved by ENOBUFS are fed again as soon as any buffer
 * comes back (oldest starved first), so one stuck connection cannot
 * stall the others for as long as it holds most of the ring.
 */
#include <errno.h>
#include <stdlib.h>

#include "log.h"
#include "uring.h"

#define BGID		0
#define QUEUE_HIGH	16
#define QUEUE_LOW	4

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

static void starve(struct uring_worker *u, struct dir *dir)
{
	if (dir->flags & DIR_STARVED)
		return;
	dir->flags |= DIR_STARVED;
	dir->starved_next = NULL;
	/* at the tail: the longest starved are fed first */
	*u->starved_tail = dir;
	u->starved_tail = &dir->starved_next;
}

static void unstarve(struct uring_worker *u, struct dir *dir)
{
	struct dir **pp;

	if (!(dir->flags & DIR_STARVED))
		return;
	for (pp = &u->starved; *pp; pp = &(*pp)->starved_next) {
		if (*pp == dir) {
			*pp = dir->starved_next;
			if (!*pp)
				u->starved_tail = pp;
			break;
		}
	}
	dir->flags &= ~DIR_STARVED;
	dir->starved_next = NULL;
}

static bool may_recv(struct dir *dir)
{
	return !(dir->flags & (DIR_EOF | DIR_RECV_ARMED | DIR_STARVED |
			       DIR_CANCELING)) &&
	       dir->qlen < QUEUE_HIGH;
}

/*
 * Re-arm directions that ran out of buffers, as buffers come back: one
 * direction per free buffer, so each re-armed recv can find one.
 */
void buffers_feed_starved(struct uring_worker *u)
{
	unsigned int budget = u->bufs_free;

	while (u->starved && budget) {
		struct dir *dir = u->starved;
		struct conn *c = dir_conn(dir);

		unstarve(u, dir);
		if (c->state == CONN_FORWARDING && may_recv(dir)) {
			arm_recv(u, c, dir->d);
			budget--;
		}
	}
}

void buffers_start(struct uring_worker *u, struct conn *c, int d)
{
	arm_recv(u, c, d);
}

void buffers_release(struct uring_worker *u, struct conn *c)
{
	int d;

	for (d = 0; d < 2; d++) {
		struct dir *dir = &c->dir[d];

		unstarve(u, dir);
		while (dir->qhead >= 0)
			chunk_put(u, dequeue(u, dir));
	}
}

static void recv_done(struct uring_worker *u, struct conn *c, int d,
		      struct io_uring_cqe *cqe)
{
	struct dir *dir = &c->dir[d];
	int res = cqe->res;

	/*
	 * The recv is over (ENOBUFS, EOF, error, or cancelled): a cancel we
	 * asked for has nothing left to find, whatever the result says.
	 * Left set, DIR_CANCELING would keep may_recv() false for good: a
	 * recv that ran out of buffers while its cancel was on the way
	 * stalled the direction for ever.
	 */
	if (!(cqe->flags & IORING_CQE_F_MORE))
		dir->flags &= ~(DIR_RECV_ARMED | DIR_CANCELING);

	if (cqe->flags & IORING_CQE_F_BUFFER) {
		unsigned int bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		struct chunk *ch = &u->chunks[bid];

		u->bufs_free--;
		if (c->state != CONN_FORWARDING || res <= 0) {
			bufring_recycle(u, bid);
		} else {
			ch->len = res;
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
	}
	if (c->state != CONN_FORWARDING)
		return;

	if (res > 0) {
		conn_touch(u->w, c);
		if (!(dir->flags & DIR_SEND_BUSY))
			send_head(u, c, d);
		/* hoarding while the ring runs low: one buffer per recv */
		if (dir->qlen >= QUEUE_HIGH && u->bufs_free < u->nbufs / 4)
			dir->flags |= DIR_THROTTLED;
		if (dir->qlen >= QUEUE_HIGH &&
		    (dir->flags & DIR_RECV_ARMED) &&
		    (cqe->flags & IORING_CQE_F_MORE) &&
		    !(dir->flags & DIR_CANCELING)) {
			struct io_uring_sqe *sqe = uring_sqe(u, 1);

			io_uring_prep_cancel64(sqe, cqe->user_data, 0);
			uring_sqe_ud(sqe, c, UD_CANCEL, d, 0);
			dir->flags |= DIR_CANCELING;
		}
	} else if (res == 0) {
		dir->flags |= DIR_EOF;
		if (!dir->qlen && !(dir->flags & DIR_SEND_BUSY))
			uring_dir_finish(u, c, d);
		return;
	} else if (res == -ENOBUFS) {
		STAT_INC(u->w, uring_enobufs);
		if (!(dir->flags & DIR_RECV_ARMED))
			starve(u, dir);
		return;
	} else if (res == -ECANCELED) {
		/* flags cleared above */
	} else if (!err_is_transient(res)) {
		if (res == -ECONNRESET)
			STAT_INC(u->w, resets);
		uring_conn_close(u, c, res == -ECONNRESET ?
				 conn_reset_reason(dir_src(d)) : "error");
		return;
	}
	if (may_recv(dir) && dir->qlen <= QUEUE_LOW)
		arm_recv(u, c, d);
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
	dir->bytes += res;
	if (d == DIR_UP)
		STAT_ADD(u->w, bytes_up, res);
	else
		STAT_ADD(u->w, bytes_down, res);
	ch->off += res;
	if (ch->off >= ch->len)
		chunk_put(u, dequeue(u, dir));

	if (dir->qlen) {
		/* a short send resumes where it stopped, before anything else */
		send_head(u, c, d);
	} else {
		/* the reader caught up: multishot again */
		dir->flags &= ~DIR_THROTTLED;
	}
	if (!dir->qlen && (dir->flags & DIR_EOF)) {
		uring_dir_finish(u, c, d);
		return;
	}
	if (may_recv(dir) && dir->qlen <= QUEUE_LOW)
		arm_recv(u, c, d);
}

void buffers_cqe(struct uring_worker *u, struct conn *c, enum ud_op op,
		 int d, struct io_uring_cqe *cqe)
{
	if (op == UD_RECV)
		recv_done(u, c, d, cqe);
	else
		send_done(u, c, d, cqe);
}

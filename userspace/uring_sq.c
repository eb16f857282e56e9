// SPDX-License-Identifier: MIT
/*
 * The submission side of a worker's ring: SQEs for the data paths, and a
 * backlog for when the kernel will not take them.
 *
 * io_uring_enter can refuse a submission for a while: -EAGAIN or
 * -ENOMEM when it cannot allocate requests, -EBUSY on older kernels
 * while completions wait in the overflow list. The SQEs stay in the SQ,
 * and a full SQ has no entry to give. Rather than fail the connection
 * that asked (or abort), the SQE is written to a backlog in memory, and
 * so is every SQE after it until the backlog is gone, so requests reach
 * the kernel in the order they were made: a send queued behind another
 * must not overtake it. uring_backlog_flush() moves the backlog into the
 * SQ, a linked chain always whole, at the top of each loop iteration,
 * after the CQEs that came meanwhile were reaped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "uring.h"

#define BACKLOG_MIN	64

/* room in the backlog for @need more entries, adjacent */
static struct io_uring_sqe *backlog_get(struct uring_worker *u,
					unsigned int need)
{
	struct io_uring_sqe *sqe;

	if (u->bl_len + need > u->bl_cap) {
		unsigned int cap = u->bl_cap ? u->bl_cap * 2 : BACKLOG_MIN;

		while (cap < u->bl_len + need)
			cap *= 2;
		sqe = realloc(u->bl, cap * sizeof(*sqe));
		if (!sqe)
			return NULL;
		u->bl = sqe;
		u->bl_cap = cap;
	}
	sqe = &u->bl[u->bl_len];
	memset(sqe, 0, need * sizeof(*sqe));
	u->bl_len += need;
	u->bl_next = need - 1;	/* uring_sqe_next() hands out the rest */
	return sqe;
}

static int submit(struct uring_worker *u)
{
	int n = io_uring_submit(&u->ring);

	STAT_INC(u->w, uring_enter);
	if (n > 0)
		STAT_ADD(u->w, uring_sqes, n);
	else if (n < 0 && n != -EINTR)
		STAT_INC(u->w, uring_submit_errors);
	return n;
}

/*
 * An SQE, submitting what is queued when the SQ is full. @need > 1 asks
 * for that many adjacent entries (uring_sqe_next() gives the others),
 * so a linked pair (connect + link timeout) is never split across two
 * submissions. Never NULL: when the SQ cannot be emptied, the entry
 * comes from the backlog; when even memory for that is gone, there is
 * nothing left to do but stop.
 */
struct io_uring_sqe *uring_sqe(struct uring_worker *u, unsigned int need)
{
	struct io_uring_sqe *sqe;

	if (!u->bl_len) {
		if (io_uring_sq_space_left(&u->ring) < need) {
			STAT_INC(u->w, uring_sq_full);
			submit(u);
		}
		if (io_uring_sq_space_left(&u->ring) >= need) {
			u->bl_next = 0;
			return io_uring_get_sqe(&u->ring);
		}
		pr_warn("worker %u: the kernel refuses submissions: queueing them until it takes them",
			u->w->id);
	}
	sqe = backlog_get(u, need);
	if (!sqe) {
		pr_err("worker %u: out of memory for the submission backlog",
		       u->w->id);
		abort();
	}
	return sqe;
}

/* The next entry of those uring_sqe(u, n) set aside. */
struct io_uring_sqe *uring_sqe_next(struct uring_worker *u)
{
	if (u->bl_len) {
		/* the backlog was grown for them already: no realloc */
		return &u->bl[u->bl_len - u->bl_next--];
	}
	return io_uring_get_sqe(&u->ring);
}

/* entries of the linked chain that starts at @i */
static unsigned int chain_len(const struct uring_worker *u, unsigned int i)
{
	unsigned int n = 1;

	while (i + n - 1 < u->bl_len &&
	       (u->bl[i + n - 1].flags & (IOSQE_IO_LINK | IOSQE_IO_HARDLINK)))
		n++;
	return n;
}

/* Move the backlog into the SQ, as far as the kernel takes it. */
void uring_backlog_flush(struct uring_worker *u)
{
	unsigned int i = 0, n;

	while (i < u->bl_len) {
		n = chain_len(u, i);
		if (io_uring_sq_space_left(&u->ring) < n) {
			if (submit(u) < 0 ||
			    io_uring_sq_space_left(&u->ring) < n)
				break;
		}
		while (n--)
			*io_uring_get_sqe(&u->ring) = u->bl[i++];
	}
	if (i && i < u->bl_len)
		memmove(u->bl, u->bl + i, (u->bl_len - i) * sizeof(*u->bl));
	u->bl_len -= i;
	if (i && !u->bl_len)
		pr_info("worker %u: the kernel takes submissions again",
			u->w->id);
}

void uring_backlog_free(struct uring_worker *u)
{
	free(u->bl);
	u->bl = NULL;
	u->bl_len = u->bl_cap = 0;
}

void uring_sqe_ud(struct io_uring_sqe *sqe, struct conn *c, enum ud_op op,
		  int d, uint16_t aux)
{
	io_uring_sqe_set_data64(sqe, ud_pack(op, d, c->idx, aux, c->gen));
	c->inflight++;
}

/* Mark the SQE's fd as a direct descriptor where it is one. */
void uring_sqe_fd(struct uring_worker *u, struct io_uring_sqe *sqe,
		  struct conn *c, int side)
{
	(void)u;
	if (c->fixed[side])
		sqe->flags |= IOSQE_FIXED_FILE;
}

/*
 * The SQEs written since the last submit become the kernel's (what
 * liburing's io_uring_submit() does first): the count to submit.
 */
static unsigned int sq_flush(struct io_uring *ring)
{
	struct io_uring_sq *sq = &ring->sq;

	if (sq->sqe_head != sq->sqe_tail) {
		sq->sqe_head = sq->sqe_tail;
		io_uring_smp_store_release(sq->ktail, sq->sqe_tail);
	}
	return sq->sqe_tail - io_uring_smp_load_acquire(sq->khead);
}

/*
 * Submit what is queued and wait, in one io_uring_enter, until @wait_nr
 * CQEs are there or @timeout_us passed (0: no timeout; the timeout needs
 * IORING_FEAT_EXT_ARG, 5.11, and is left out without it). liburing 2.3's
 * io_uring_submit_and_wait_timeout() does the same, but reaps a CQE it
 * does not need. Returns what io_uring_enter returns: SQEs submitted, or
 * -errno.
 */
int uring_submit_wait(struct uring_worker *u, unsigned int wait_nr,
		      unsigned int timeout_us)
{
	struct io_uring *ring = &u->ring;
	struct __kernel_timespec ts = {
		.tv_sec = timeout_us / 1000000,
		.tv_nsec = (timeout_us % 1000000) * 1000L,
	};
	struct io_uring_getevents_arg arg = {
		.sigmask_sz = _NSIG / 8,
		.ts = timeout_us ? (unsigned long)&ts : 0,
	};
	unsigned int flags = IORING_ENTER_GETEVENTS, submit = sq_flush(ring);
	int fd = ring->ring_fd, ret;

	if (u->ring_fd_registered) {
		fd = ring->enter_ring_fd;
		flags |= IORING_ENTER_REGISTERED_RING;
	}
	if (timeout_us && (ring->features & IORING_FEAT_EXT_ARG))
		flags |= IORING_ENTER_EXT_ARG;
	ret = syscall(__NR_io_uring_enter, fd, submit, wait_nr, flags,
		      (flags & IORING_ENTER_EXT_ARG) ? (void *)&arg : NULL,
		      (flags & IORING_ENTER_EXT_ARG) ? sizeof(arg) :
						       _NSIG / 8);
	return ret < 0 ? -errno : ret;
}

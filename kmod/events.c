// SPDX-License-Identifier: GPL-2.0
/*
 * What each io_uring event means for the counters, whatever the kernel
 * version: probes.c decodes the tracepoint arguments and calls these.
 *
 * Counting is per ring (atomic64 in the ring's struct) and per opcode and
 * poll mask (per-CPU, this_cpu_inc, summed when read). Nothing here takes a
 * global lock or allocates. Events for rings not in the table (another
 * process's rings under filter_pid, rings evicted by the cap) count
 * nowhere, so every figure in every file describes the same set of rings.
 */
#include <linux/kernel.h>
#include <linux/percpu.h>
#include <linux/log2.h>
#include <linux/poll.h>
#include <uapi/linux/io_uring.h>
#include "uringstat.h"
#include "inflight.h"

struct us_cpustat __percpu *us_stats;

/*
 * The request whose submit event this CPU saw last, until its CQE posts
 * here: on 6.1 a linked request whose async prep fails fires req_failed
 * right after its own submit event, and must not count twice.
 */
static DEFINE_PER_CPU(const void *, us_last_submit);

/*
 * The ring an event belongs to, if it is tracked and counted: with
 * filter_pid set, rings of other processes count nowhere, even those
 * created while the filter said otherwise.
 */
static struct us_ring *us_counted(struct us_ring *r)
{
	int want = READ_ONCE(us_filter_pid);

	if (r && want && r->pid != want)
		return NULL;
	return r;
}

static unsigned int us_op_slot(int opcode)
{
	return opcode < 0 || opcode >= US_OP_OTHER ? US_OP_OTHER : opcode;
}

static void us_ring_inc(struct us_ring *r, enum us_ring_counter c)
{
	atomic64_inc(&r->cnt[c]);
}

void us_ev_create(const void *ctx, int fd, u32 sq, u32 cq, u32 flags)
{
	us_ring_created(ctx, fd, sq, cq, flags);
}

/*
 * Opcodes whose requests can post CQEs without naming themselves
 * (multishot accept, receive, poll and timeout, read multishot); and on
 * kernels whose complete event never names the request, every opcode.
 */
static bool us_reqless_cqes(int opcode)
{
	if (!us_complete_has_req)
		return true;
	switch (opcode) {
	case IORING_OP_POLL_ADD:
	case IORING_OP_RECVMSG:
	case IORING_OP_TIMEOUT:
	case IORING_OP_ACCEPT:
	case IORING_OP_RECV:
	case 49:	/* IORING_OP_READ_MULTISHOT, 6.7+ */
		return true;
	}
	return false;
}

static __always_inline void us_count_submit(const void *ctx,
					    const void *req, u64 user_data,
					    u8 opcode, unsigned int how)
{
	struct us_ring *r = us_counted(us_ring_first_sight(ctx));

	if (!r)
		return;
	us_ring_inc(r, US_SUBMITTED);
	this_cpu_inc(us_stats->op[us_op_slot(opcode)].submitted);
	if (us_reqless_cqes(opcode))
		how |= US_IF_REQLESS;
	if (!us_complete_has_opcode)
		how |= US_IF_RECORD;
	us_inflight_submit(ctx, req, user_data, opcode, how);
}

void us_ev_submit(const void *ctx, const void *req, u64 user_data, u8 opcode)
{
	this_cpu_write(us_last_submit, req);
	us_count_submit(ctx, req, user_data, opcode, 0);
}

/*
 * An SQE rejected at submission (bad opcode, bad flags, prep failure):
 * the kernel took it, so it counts as submitted, and it completes with a
 * negative result like any other; its request is recorded, as the
 * kernel may have reset the opcode in it. A request that fails after its
 * own submit event was counted already: it is the last one this CPU saw
 * submitted, and its CQE has not posted here since. (Request structs are
 * reused: one whose CQE posted on another CPU, reused at once for an SQE
 * rejected here, would be taken for such a request and go uncounted;
 * that needs its earlier use to have completed elsewhere with nothing
 * submitted here in between.)
 */
void us_ev_submit_failed(const void *ctx, const void *req, u64 user_data,
			 u8 opcode)
{
	if (req && this_cpu_read(us_last_submit) == req) {
		this_cpu_write(us_last_submit, NULL);
		return;
	}
	us_count_submit(ctx, req, user_data, opcode, US_IF_RECORD);
}

static unsigned int us_lat_bucket(s64 ns)
{
	u64 us = (u64)ns / NSEC_PER_USEC;

	if (!us)
		return 0;
	return min_t(unsigned int, ilog2(us) + 1, US_LAT_BUCKETS - 1);
}

/*
 * The per-opcode side of a CQE, posted or overflowed; returns the opcode
 * it was filed under, -1 if none.
 */
static __always_inline int us_count_cqe(const void *ctx, const void *req,
					int opcode, u64 user_data, s32 res,
					u32 cflags)
{
	struct us_if_hit hit;
	unsigned int slot;

	hit = us_inflight_complete(ctx, req, user_data,
				   cflags & IORING_CQE_F_MORE,
				   us_reqless_cqes(opcode));
	/*
	 * The opcode as submitted, when the submission was recorded:
	 * kernels before 6.0 do not say which opcode completed,
	 * request-less CQEs cannot, and a rejected SQE's request no longer
	 * carries its (invalid) opcode.
	 */
	if (hit.opcode >= 0)
		opcode = hit.opcode;
	if (opcode < 0)
		return -1;	/* a CQE of no request we know (e.g. MSG_RING's) */
	slot = us_op_slot(opcode);
	this_cpu_inc(us_stats->op[slot].completed);
	if (res < 0)
		this_cpu_inc(us_stats->op[slot].failed);
	/* untimed CQEs are completed minus samples, when read */
	if (hit.lat >= 0)
		this_cpu_inc(us_stats->op[slot].lat[us_lat_bucket(hit.lat)]);
	return opcode;
}

/* a CQE of the ring: its counters, and its errno when it failed */
static __always_inline void us_ring_cqe(struct us_ring *r, const void *ctx,
					const void *req, int opcode,
					u64 user_data, s32 res, u32 cflags)
{
	us_ring_inc(r, US_COMPLETED);
	opcode = us_count_cqe(ctx, req, opcode, user_data, res, cflags);
	if (res < 0) {
		us_ring_inc(r, US_FAILED);
		us_err_count(&r->err, opcode, res);
	}
}

void us_ev_complete(const void *ctx, const void *req, int opcode,
		    u64 user_data, s32 res, u32 cflags)
{
	struct us_ring *r;

	if (req && this_cpu_read(us_last_submit) == req)
		this_cpu_write(us_last_submit, NULL);
	r = us_counted(us_ring_find(ctx));
	if (!r)
		return;
	us_ring_cqe(r, ctx, req, opcode, user_data, res, cflags);
}

/*
 * A CQE that did not fit in the CQ ring: it is posted later from the
 * overflow list, without another complete event, so it counts as
 * completed now.
 */
void us_ev_overflow(const void *ctx, u64 user_data, s32 res, u32 cflags)
{
	struct us_ring *r = us_counted(us_ring_find(ctx));

	if (!r)
		return;
	us_ring_inc(r, US_CQ_OVERFLOW);
	us_ring_cqe(r, ctx, NULL, -1, user_data, res, cflags);
}

void us_ev_cqring_wait(const void *ctx)
{
	struct us_ring *r = us_counted(us_ring_first_sight(ctx));

	if (r)
		us_ring_inc(r, US_CQRING_WAITS);
}

void us_ev_poll_arm(const void *ctx, u8 opcode, int events)
{
	struct us_ring *r = us_counted(us_ring_find(ctx));

	if (!r)
		return;
	us_ring_inc(r, US_POLL_ARMED);
	this_cpu_inc(us_stats->op[us_op_slot(opcode)].poll_armed);
	/* waiting for both directions, or for neither, is "other" */
	if ((events & (EPOLLIN | EPOLLOUT)) == EPOLLIN)
		this_cpu_inc(us_stats->poll_in);
	else if ((events & (EPOLLIN | EPOLLOUT)) == EPOLLOUT)
		this_cpu_inc(us_stats->poll_out);
	else
		this_cpu_inc(us_stats->poll_other);
}

void us_ev_task_add(const void *ctx, u8 opcode)
{
	struct us_ring *r = us_counted(us_ring_find(ctx));

	if (!r)
		return;
	us_ring_inc(r, US_TASK_WORK);
	this_cpu_inc(us_stats->task_work);
}

void us_ev_async(const void *ctx, u8 opcode)
{
	struct us_ring *r = us_counted(us_ring_find(ctx));

	if (!r)
		return;
	us_ring_inc(r, US_ASYNC);
	this_cpu_inc(us_stats->op[us_op_slot(opcode)].async);
}

void us_stats_reset(void)
{
	int cpu;

	for_each_possible_cpu(cpu)
		memset(per_cpu_ptr(us_stats, cpu), 0, sizeof(struct us_cpustat));
	us_rings_reset();
	us_inflight_reset();
}

// SPDX-License-Identifier: GPL-2.0
/*
 * Submission timestamps of requests in flight, for the latency histogram.
 *
 * A fixed table, allocated at load time, of buckets of US_IF_WAYS entries
 * keyed by the request's address. Locks are striped (one per group of
 * buckets), never global. A request that never posts a CQE (a
 * CQE_SKIP_SUCCESS one, a ring torn down) leaves a stale entry behind; it
 * is overwritten when its address is reused for a new request, or evicted
 * (oldest first within its bucket, and counted) when the bucket is full.
 *
 * Multishot requests post several CQEs (IORING_CQE_F_MORE on all but the
 * last): each CQE's latency is measured from the previous one, so the
 * histogram holds one sample per CQE and its counts add up to the
 * completions.
 */
#include <linux/kernel.h>
#include <linux/hash.h>
#include <linux/log2.h>
#include <linux/sched/clock.h>
#include <linux/spinlock.h>
#include <linux/vmalloc.h>
#include "uringstat.h"

#define US_IF_WAYS		8
#define US_IF_LOCK_BITS		6

struct us_inflight {
	const void	*req;
	u64		ts;
	u8		opcode;	/* for kernels whose complete event lacks it */
};

struct us_if_bucket {
	struct us_inflight e[US_IF_WAYS];
};

static struct us_if_bucket *us_if;
static unsigned int us_if_bits;
static spinlock_t us_if_locks[1 << US_IF_LOCK_BITS];
static atomic64_t us_if_evicted = ATOMIC64_INIT(0);

int us_inflight_init(void)
{
	unsigned int nb, i;

	nb = roundup_pow_of_two(max(us_max_inflight / US_IF_WAYS, 1U));
	us_if_bits = ilog2(nb);
	us_if = vzalloc(array_size(nb, sizeof(*us_if)));
	if (!us_if)
		return -ENOMEM;
	for (i = 0; i < ARRAY_SIZE(us_if_locks); i++)
		spin_lock_init(&us_if_locks[i]);
	return 0;
}

void us_inflight_exit(void)
{
	vfree(us_if);
	us_if = NULL;
}

static struct us_if_bucket *us_if_bucket(const void *req, spinlock_t **lock)
{
	u32 h = hash_ptr((void *)req, us_if_bits);

	*lock = &us_if_locks[h & (ARRAY_SIZE(us_if_locks) - 1)];
	return &us_if[h];
}

void us_inflight_submit(const void *req, u8 opcode)
{
	struct us_if_bucket *b;
	struct us_inflight *slot = NULL, *oldest = NULL;
	spinlock_t *lock;	/* the bucket's stripe */
	unsigned long flags;
	u64 now = local_clock();
	int i;

	b = us_if_bucket(req, &lock);
	spin_lock_irqsave(lock, flags);
	for (i = 0; i < US_IF_WAYS; i++) {
		struct us_inflight *e = &b->e[i];

		if (e->req == req) {
			slot = e;
			break;
		}
		if (!e->req && !slot)
			slot = e;
		if (e->req && (!oldest || e->ts < oldest->ts))
			oldest = e;
	}
	if (!slot) {
		slot = oldest;
		atomic64_inc(&us_if_evicted);
	}
	slot->req = req;
	slot->ts = now;
	slot->opcode = opcode;
	spin_unlock_irqrestore(lock, flags);
}

s64 us_inflight_complete(const void *req, bool more, int *opcode)
{
	struct us_if_bucket *b;
	spinlock_t *lock;	/* the bucket's stripe */
	unsigned long flags;
	u64 now = local_clock();
	s64 lat = -1;
	int i;

	b = us_if_bucket(req, &lock);
	spin_lock_irqsave(lock, flags);
	for (i = 0; i < US_IF_WAYS; i++) {
		struct us_inflight *e = &b->e[i];

		if (e->req != req)
			continue;
		/* local_clock() may step back a little across CPUs */
		lat = now > e->ts ? now - e->ts : 0;
		*opcode = e->opcode;
		if (more)
			e->ts = now;
		else
			e->req = NULL;
		break;
	}
	spin_unlock_irqrestore(lock, flags);
	return lat;
}

u64 us_inflight_evicted(void)
{
	return atomic64_read(&us_if_evicted);
}

void us_inflight_reset(void)
{
	atomic64_set(&us_if_evicted, 0);
}

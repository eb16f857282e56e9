// SPDX-License-Identifier: GPL-2.0
/*
 * Requests in flight, for the latency histogram and for the opcode of
 * completions that do not name their request.
 *
 * Two tables of the same shape. The first is keyed by (ring, request):
 * exact for every CQE posted with its request. The second is keyed by
 * (ring, user_data), for the CQEs that come without one: the
 * intermediate CQEs of multishot requests (posted as auxiliary CQEs),
 * overflowed CQEs, and every completion on kernels whose complete event
 * has no request (5.15). Only requests that can post such CQEs go into
 * the second table; several in flight with one user_data share a key,
 * and each such CQE takes the oldest.
 *
 * Each table is fixed, allocated at load time, in buckets of US_IF_WAYS
 * entries; locks are striped (one per group of buckets), never global.
 * A request that never posts a CQE we see (CQE_SKIP_SUCCESS, a ring torn
 * down, an overflowed CQE) leaves a stale entry behind: replaced when its
 * struct is submitted again, else evicted (oldest first in its bucket,
 * and counted) when the bucket fills.
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
	const void	*ctx;		/* NULL: free */
	u64		key;		/* the request's address, or user_data */
	u64		ts;
	u8		opcode;
};

struct us_if_bucket {
	struct us_inflight e[US_IF_WAYS];
};

struct us_if_table {
	struct us_if_bucket	*b;
	unsigned int		bits;
	spinlock_t		locks[1 << US_IF_LOCK_BITS];
};

static struct us_if_table us_by_req, us_by_ud;
static atomic64_t us_if_evicted = ATOMIC64_INIT(0);

static int us_if_table_init(struct us_if_table *t)
{
	unsigned int nb, i;

	nb = roundup_pow_of_two(max(us_max_inflight / US_IF_WAYS, 1U));
	t->bits = ilog2(nb);
	t->b = vzalloc(array_size(nb, sizeof(*t->b)));
	if (!t->b)
		return -ENOMEM;
	for (i = 0; i < ARRAY_SIZE(t->locks); i++)
		spin_lock_init(&t->locks[i]);
	return 0;
}

int us_inflight_init(void)
{
	int ret = us_if_table_init(&us_by_req);

	if (ret)
		return ret;
	ret = us_if_table_init(&us_by_ud);
	if (ret) {
		vfree(us_by_req.b);
		us_by_req.b = NULL;
	}
	return ret;
}

void us_inflight_exit(void)
{
	vfree(us_by_req.b);
	vfree(us_by_ud.b);
	us_by_req.b = NULL;
	us_by_ud.b = NULL;
}

static struct us_if_bucket *us_if_bucket(struct us_if_table *t,
					 const void *ctx, u64 key,
					 spinlock_t **lock)
{
	u32 h = hash_64((u64)(unsigned long)ctx ^ hash_64(key, 64), t->bits);

	*lock = &t->locks[h & (ARRAY_SIZE(t->locks) - 1)];
	return &t->b[h];
}

/*
 * replace: a request struct submitted again is done with its last use,
 * whatever became of that (no CQE, or one we did not see): its old entry
 * goes, or it would be taken for the new one. user_data keys are shared
 * by design and never replace.
 */
static void us_if_insert(struct us_if_table *t, const void *ctx, u64 key,
			 u8 opcode, u64 now, bool replace)
{
	struct us_inflight *slot = NULL, *oldest = NULL;
	struct us_if_bucket *b;
	spinlock_t *lock;	/* the bucket's stripe */
	unsigned long flags;
	int i;

	b = us_if_bucket(t, ctx, key, &lock);
	spin_lock_irqsave(lock, flags);
	for (i = 0; i < US_IF_WAYS; i++) {
		struct us_inflight *e = &b->e[i];

		if (replace && e->ctx == ctx && e->key == key) {
			slot = e;
			break;
		}
		if (!e->ctx) {
			if (!slot)
				slot = e;
		} else if (!oldest || e->ts < oldest->ts) {
			oldest = e;
		}
	}
	if (!slot) {
		slot = oldest;
		atomic64_inc(&us_if_evicted);
	}
	slot->ctx = ctx;
	slot->key = key;
	slot->ts = now;
	slot->opcode = opcode;
	spin_unlock_irqrestore(lock, flags);
}

/* the oldest entry with this key: its age in ns (or -1) and its opcode */
static s64 us_if_take(struct us_if_table *t, const void *ctx, u64 key,
		      bool more, u64 now, int *opcode)
{
	struct us_inflight *match = NULL;
	struct us_if_bucket *b;
	spinlock_t *lock;	/* the bucket's stripe */
	unsigned long flags;
	s64 lat = -1;
	int i;

	b = us_if_bucket(t, ctx, key, &lock);
	spin_lock_irqsave(lock, flags);
	for (i = 0; i < US_IF_WAYS; i++) {
		struct us_inflight *e = &b->e[i];

		if (e->ctx == ctx && e->key == key &&
		    (!match || e->ts < match->ts))
			match = e;
	}
	if (match) {
		/* local_clock() may step back a little across CPUs */
		lat = now > match->ts ? now - match->ts : 0;
		*opcode = match->opcode;
		if (more)
			match->ts = now;
		else
			match->ctx = NULL;
	}
	spin_unlock_irqrestore(lock, flags);
	return lat;
}

void us_inflight_submit(const void *ctx, const void *req, u64 user_data,
			u8 opcode, bool reqless_cqes)
{
	u64 now = local_clock();

	if (req)
		us_if_insert(&us_by_req, ctx, (u64)(unsigned long)req, opcode,
			     now, true);
	if (reqless_cqes || !req)
		us_if_insert(&us_by_ud, ctx, user_data, opcode, now, false);
}

bool us_inflight_has(const void *ctx, const void *req)
{
	u64 key = (u64)(unsigned long)req;
	struct us_if_bucket *b;
	spinlock_t *lock;	/* the bucket's stripe */
	unsigned long flags;
	bool found = false;
	int i;

	b = us_if_bucket(&us_by_req, ctx, key, &lock);
	spin_lock_irqsave(lock, flags);
	for (i = 0; i < US_IF_WAYS; i++)
		if (b->e[i].ctx == ctx && b->e[i].key == key)
			found = true;
	spin_unlock_irqrestore(lock, flags);
	return found;
}

s64 us_inflight_complete(const void *ctx, const void *req, u64 user_data,
			 bool more, bool reqless_cqes, int *opcode)
{
	u64 now = local_clock();
	int ignored;
	s64 lat;

	if (!req)
		return us_if_take(&us_by_ud, ctx, user_data, more, now, opcode);
	lat = us_if_take(&us_by_req, ctx, (u64)(unsigned long)req, more, now,
			 opcode);
	/* the last CQE of a multishot request ends its other entry too */
	if (reqless_cqes && !more)
		us_if_take(&us_by_ud, ctx, user_data, false, now, &ignored);
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

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The in-flight tables' hot path, inline in events.c: on every submission
 * and CQE it decides, from one tag word and without a call, that a
 * request has no entry and nothing is to be done. The locked and
 * lockless lookups it falls back to, and the tables, are in inflight.c,
 * which explains them.
 */
#ifndef URINGSTAT_INFLIGHT_H
#define URINGSTAT_INFLIGHT_H

#include <linux/hash.h>
#include <linux/percpu.h>
#include <linux/seqlock.h>
#include <linux/spinlock.h>
#include "uringstat.h"

#define US_IF_WAYS		8	/* one tag byte each in a u64 */
#define US_IF_LOCK_BITS		6
#define US_IF_BYTES		0x0101010101010101ULL
#define US_IF_LOW7		0x7f7f7f7f7f7f7f7fULL

struct us_inflight {
	const void	*ctx;
	u64		key;		/* the request's address, or user_data */
	u64		ts;		/* submission or last CQE: for "oldest" */
	u8		opcode;
	u8		timed;		/* sampled: its CQEs go in the histogram */
};

struct us_if_bucket {
	u64			tags;	/* byte i: entry i's tag, 0 when free */
	struct us_inflight	e[US_IF_WAYS];
};

struct us_if_table {
	struct us_if_bucket	*b;
	unsigned int		bits;
	spinlock_t		locks[1 << US_IF_LOCK_BITS];
	seqcount_spinlock_t	seq[1 << US_IF_LOCK_BITS];
};

/* keyed by (ring, request) and by (ring, user_data) */
extern struct us_if_table us_by_req, us_by_ud;

/*
 * Requests until this CPU times the next one; 0 or above the parameter:
 * time the next (see us_lat_sampled()).
 */
DECLARE_PER_CPU(int, us_lat_left);

/* where (ctx, key) lives: its bucket, its tag and its stripe */
struct us_if_slot {
	struct us_if_bucket	*b;
	u32			stripe;
	u8			tag;
};

static __always_inline struct us_if_slot
us_if_locate(struct us_if_table *t, const void *ctx, u64 key)
{
	u64 h = ((u64)(unsigned long)ctx ^ key) * GOLDEN_RATIO_64;
	u32 idx = h >> (64 - t->bits);

	h ^= h >> 29;
	return (struct us_if_slot){
		.b	= &t->b[idx],
		.stripe	= idx & (ARRAY_SIZE(t->locks) - 1),
		.tag	= 0x80 | (u8)h,		/* never 0 */
	};
}

/*
 * A bit (the top one of its byte) for every entry whose tag is @s's:
 * the bytes of tags ^ tag that are zero, found without a loop.
 */
static __always_inline u64 us_if_candidates(struct us_if_slot s)
{
	u64 x = READ_ONCE(s.b->tags) ^ (s.tag * US_IF_BYTES);

	return ~(((x & US_IF_LOW7) + US_IF_LOW7) | x | US_IF_LOW7);
}

/* inflight.c: the slow paths */
void us_inflight_record(const void *ctx, const void *req, u64 user_data,
			u8 opcode, unsigned int how, bool timed);
struct us_if_hit us_inflight_take(struct us_if_table *t, struct us_if_slot s,
				  const void *ctx, u64 key, bool more);
struct us_if_hit us_inflight_take_ud(const void *ctx, u64 user_data,
				     bool more);

/*
 * One request in latency_sample on each CPU, counted down; a CPU whose
 * count is above the parameter (it was lowered) times its next one.
 */
static __always_inline bool us_lat_sampled(void)
{
	int n = READ_ONCE(us_latency_sample);
	int left;

	if (n <= 1)
		return n == 1;
	left = this_cpu_dec_return(us_lat_left);
	if (likely(left > 0 && left < n))
		return false;
	this_cpu_write(us_lat_left, n);
	return true;
}

/*
 * A submission: recorded when it is timed, or when @how says its CQEs
 * will need it (US_IF_RECORD, US_IF_REQLESS); otherwise only a stale
 * entry of its struct's last use is dropped, if the tags show one may be
 * there.
 */
static __always_inline void us_inflight_submit(const void *ctx,
					       const void *req, u64 user_data,
					       u8 opcode, unsigned int how)
{
	bool timed = us_lat_sampled();
	struct us_if_slot s;

	if (unlikely(timed || how || !req)) {
		us_inflight_record(ctx, req, user_data, opcode, how, timed);
		return;
	}
	s = us_if_locate(&us_by_req, ctx, (u64)(unsigned long)req);
	if (unlikely(us_if_candidates(s)))
		us_inflight_take(&us_by_req, s, ctx, (u64)(unsigned long)req,
				 false);
}

/*
 * A CQE: what the tables knew of its request (by req when given, else
 * the oldest in flight with this user_data), and its entries gone unless
 * more CQEs follow.
 */
static __always_inline struct us_if_hit
us_inflight_complete(const void *ctx, const void *req, u64 user_data,
		     bool more, bool reqless_cqes)
{
	struct us_if_hit hit = { .lat = -1, .opcode = -1 };
	struct us_if_slot s;

	if (!req)
		return us_inflight_take_ud(ctx, user_data, more);
	s = us_if_locate(&us_by_req, ctx, (u64)(unsigned long)req);
	if (unlikely(us_if_candidates(s)))
		hit = us_inflight_take(&us_by_req, s, ctx,
				       (u64)(unsigned long)req, more);
	/* the last CQE of a multishot request ends its other entry too */
	if (unlikely(reqless_cqes && !more)) {
		s = us_if_locate(&us_by_ud, ctx, user_data);
		if (us_if_candidates(s))
			us_inflight_take(&us_by_ud, s, ctx, user_data, false);
	}
	return hit;
}

#endif /* URINGSTAT_INFLIGHT_H */

// SPDX-License-Identifier: GPL-2.0
/*
 * Requests in flight: the opcode of completions that do not name their
 * request, and the submission time of the requests sampled for the
 * latency histogram.
 *
 * Two tables of the same shape. The first is keyed by (ring, request)
 * and holds only what a CQE naming its request cannot tell by itself:
 * the requests sampled for latency (latency_sample), SQEs rejected at
 * submission (their request no longer carries the opcode they were
 * submitted with), and, before 6.0, every request (the complete event
 * has no opcode). Any other CQE that names its request takes its opcode
 * from the request and never looks here beyond one bit (below). The
 * second table is keyed by (ring, user_data), for the CQEs that come
 * without their request: the intermediate CQEs of multishot requests
 * (posted as auxiliary CQEs), overflowed CQEs, and every completion on
 * kernels whose complete event has no request (5.15). Only requests that
 * can post such CQEs go into it, sampled or not; several in flight with
 * one user_data share a key, and each such CQE takes the oldest.
 *
 * Each table is fixed, allocated at load time, in buckets of US_IF_WAYS
 * entries; locks are striped (one per group of buckets), never global.
 * The hot path takes no lock:
 *   - each bucket keeps a tag byte per entry (from the key's hash, 0 when
 *     free) in one word, so one load and a few ALU operations tell which
 *     entries may hold a key, and a request that is not in the table is
 *     known absent without touching an entry. A request is inserted
 *     before its CQE can be posted, and the kernel orders the two, so a
 *     missing tag is never stale.
 *   - an untimed entry of the second table is read under the stripe's
 *     seqcount; the lock is taken only to change the table: a sampled
 *     CQE, or the last CQE of a multishot request.
 * A request that never posts a CQE we see (CQE_SKIP_SUCCESS, a ring torn
 * down, an overflowed CQE) leaves a stale entry behind: dropped when its
 * struct is submitted again, else evicted (oldest first in its bucket,
 * and counted) when the bucket fills.
 *
 * Multishot requests post several CQEs (IORING_CQE_F_MORE on all but the
 * last): a sampled one's CQEs are each timed from the previous one, so
 * the histogram holds one sample per timed CQE.
 */
#include <linux/kernel.h>
#include <linux/hash.h>
#include <linux/log2.h>
#include <linux/percpu.h>
#include <linux/sched/clock.h>
#include <linux/seqlock.h>
#include <linux/spinlock.h>
#include <linux/vmalloc.h>
#include "uringstat.h"
#include "inflight.h"

struct us_if_table us_by_req, us_by_ud;
static atomic64_t us_if_evicted = ATOMIC64_INIT(0);

DEFINE_PER_CPU(int, us_lat_left);

static int us_if_table_init(struct us_if_table *t)
{
	unsigned int nb, i;

	nb = roundup_pow_of_two(max(us_max_inflight / US_IF_WAYS, 1U));
	t->bits = ilog2(nb);
	t->b = vzalloc(array_size(nb, sizeof(*t->b)));
	if (!t->b)
		return -ENOMEM;
	for (i = 0; i < ARRAY_SIZE(t->locks); i++) {
		spin_lock_init(&t->locks[i]);
		seqcount_spinlock_init(&t->seq[i], &t->locks[i]);
	}
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

static u64 us_if_set_tag(u64 tags, int i, u8 tag)
{
	return (tags & ~(0xffULL << (i * 8))) | (u64)tag << (i * 8);
}

/* the oldest entry with this key among the candidates */
static struct us_inflight *us_if_match(struct us_if_bucket *b, u64 cand,
				       const void *ctx, u64 key)
{
	struct us_inflight *match = NULL;

	while (cand) {
		struct us_inflight *e = &b->e[__ffs64(cand) / 8];

		cand &= cand - 1;
		if (READ_ONCE(e->ctx) == ctx && READ_ONCE(e->key) == key &&
		    (!match || READ_ONCE(e->ts) < READ_ONCE(match->ts)))
			match = e;
	}
	return match;
}

/*
 * replace: a request struct submitted again is done with its last use,
 * whatever became of that (no CQE, or one we did not see): its old entry
 * goes, or it would be taken for the new one. user_data keys are shared
 * by design and never replace.
 */
static void us_if_insert(struct us_if_table *t, const void *ctx, u64 key,
			 u8 opcode, bool timed, u64 now, bool replace)
{
	struct us_if_slot s = us_if_locate(t, ctx, key);
	struct us_inflight *e;
	unsigned long flags;
	int i, slot = -1, oldest = -1;
	u64 tags;

	spin_lock_irqsave(&t->locks[s.stripe], flags);
	tags = s.b->tags;
	for (i = 0; i < US_IF_WAYS; i++) {
		e = &s.b->e[i];
		if (!(tags >> (i * 8) & 0xff)) {
			if (slot < 0)
				slot = i;
		} else if (replace && e->ctx == ctx && e->key == key) {
			slot = i;
			break;
		} else if (oldest < 0 || e->ts < s.b->e[oldest].ts) {
			oldest = i;
		}
	}
	if (slot < 0) {
		slot = oldest;
		atomic64_inc(&us_if_evicted);
	}
	e = &s.b->e[slot];
	write_seqcount_begin(&t->seq[s.stripe]);
	WRITE_ONCE(e->ctx, ctx);
	WRITE_ONCE(e->key, key);
	WRITE_ONCE(e->ts, now);
	WRITE_ONCE(e->opcode, opcode);
	WRITE_ONCE(e->timed, timed);
	WRITE_ONCE(s.b->tags, us_if_set_tag(tags, slot, s.tag));
	write_seqcount_end(&t->seq[s.stripe]);
	spin_unlock_irqrestore(&t->locks[s.stripe], flags);
}

/*
 * The oldest entry with this key, under the lock: its opcode (-1: none)
 * and its age in ns if it was timed (else -1); kept with a new start
 * when more CQEs follow, else removed.
 */
struct us_if_hit us_inflight_take(struct us_if_table *t, struct us_if_slot s,
				  const void *ctx, u64 key, bool more)
{
	struct us_if_hit hit = { .lat = -1, .opcode = -1 };
	struct us_inflight *match;
	unsigned long flags;

	spin_lock_irqsave(&t->locks[s.stripe], flags);
	match = us_if_match(s.b, us_if_candidates(s), ctx, key);
	if (match) {
		u64 now = match->timed ? local_clock() : 0;

		hit.opcode = match->opcode;
		/* local_clock() may step back a little across CPUs */
		if (match->timed)
			hit.lat = now > match->ts ? now - match->ts : 0;
		write_seqcount_begin(&t->seq[s.stripe]);
		if (!more)
			WRITE_ONCE(s.b->tags,
				   us_if_set_tag(s.b->tags, match - s.b->e, 0));
		else if (match->timed)
			WRITE_ONCE(match->ts, now);
		write_seqcount_end(&t->seq[s.stripe]);
	}
	spin_unlock_irqrestore(&t->locks[s.stripe], flags);
	return hit;
}

/*
 * A submission that goes in a table: timed, or with US_IF_RECORD or
 * US_IF_REQLESS in @how (us_inflight_submit() in inflight.h).
 */
void us_inflight_record(const void *ctx, const void *req, u64 user_data,
			u8 opcode, unsigned int how, bool timed)
{
	u64 now = local_clock();

	if (req && (timed || (how & US_IF_RECORD)))
		us_if_insert(&us_by_req, ctx, (u64)(unsigned long)req, opcode,
			     timed, now, true);
	if ((how & US_IF_REQLESS) || !req)
		us_if_insert(&us_by_ud, ctx, user_data, opcode, timed, now,
			     false);
}

void us_inflight_sample_restart(void)
{
	int cpu;

	for_each_possible_cpu(cpu)
		per_cpu(us_lat_left, cpu) = 0;
}

/*
 * A CQE without its request: the oldest entry with its user_data, read
 * without the lock when that entry is untimed and more CQEs follow (the
 * intermediate CQEs of a multishot request).
 */
struct us_if_hit us_inflight_take_ud(const void *ctx, u64 user_data, bool more)
{
	struct us_if_hit hit = { .lat = -1, .opcode = -1 };
	struct us_if_table *t = &us_by_ud;
	struct us_if_slot s = us_if_locate(t, ctx, user_data);
	struct us_inflight *match;
	unsigned int seq;

	if (!us_if_candidates(s))
		return hit;
	if (more) {
		do {
			seq = read_seqcount_begin(&t->seq[s.stripe]);
			match = us_if_match(s.b, us_if_candidates(s), ctx,
					    user_data);
			hit.opcode = match && !READ_ONCE(match->timed) ?
				     READ_ONCE(match->opcode) : -1;
		} while (read_seqcount_retry(&t->seq[s.stripe], seq));
		if (hit.opcode >= 0)
			return hit;
	}
	return us_inflight_take(t, s, ctx, user_data, more);
}

u64 us_inflight_evicted(void)
{
	return atomic64_read(&us_if_evicted);
}

void us_inflight_reset(void)
{
	atomic64_set(&us_if_evicted, 0);
	us_inflight_sample_restart();
}

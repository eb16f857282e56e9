// SPDX-License-Identifier: GPL-2.0
/*
 * The ring table: one struct us_ring per io_uring context we have seen,
 * found by the context's address.
 *
 * Lookups happen on every event and take no lock (RCU; tracepoint probes
 * already run inside an RCU-sched read side). Insertions and removals are
 * rare (ring creation and teardown) and take us_ring_lock. Every struct
 * comes from a pool allocated at load time, so no event allocates memory
 * (io_uring_task_add can fire in interrupt context). When the table holds
 * us_max_rings rings, one is evicted to make room, and counted; evict.c
 * says which.
 *
 * us_ring_list is in the order rings were inserted, which is also the
 * order of their ids: ids are handed out under us_ring_lock, never reused,
 * and 64 bits wide so they cannot wrap. The rings file walks it under RCU
 * with the id as its position (us_rings_seek(), us_rings_after()).
 *
 * Teardown: io_uring has no teardown tracepoint. A kprobe on
 * io_uring_release() (the ring's file going away; the ctx is
 * file->private_data) removes the ring. Without kprobes, rings leave only
 * by eviction, and the version file says so.
 */
#include <linux/kernel.h>
#include <linux/hash.h>
#include <linux/log2.h>
#include <linux/kprobes.h>
#include <linux/fs.h>
#include <linux/slab.h>
#include <linux/sched/signal.h>
#include <linux/vmalloc.h>
#include <linux/string.h>
#include "uringstat.h"

/*
 * One hash bucket per tracked ring, within these bounds: lookups run on
 * every event, so a table of a million rings must not mean chains of a
 * thousand.
 */
#define US_RING_HASH_MIN_BITS	10
#define US_RING_HASH_MAX_BITS	20
/* slack beyond the cap: evicted structs wait out an RCU grace period */
#define US_RING_SLACK		64

/* by ctx; read by us_ring_find() in uringstat.h, on every event */
struct hlist_head *us_ring_hash;
/* the same rings by creating thread, for the io-wq worker events */
static struct hlist_head *us_tid_hash;
unsigned int us_ring_hash_bits;
static LIST_HEAD(us_ring_list);
static DEFINE_SPINLOCK(us_ring_lock);

static struct us_ring *us_pool;
static LIST_HEAD(us_free);		/* struct us_ring via lnode */
static unsigned int us_nr_tracked;
/* the last id handed out; written under us_ring_lock */
static atomic64_t us_last_id = ATOMIC64_INIT(0);
static atomic64_t us_evicted = ATOMIC64_INIT(0);

int us_rings_init(void)
{
	unsigned int i, n = us_max_rings + US_RING_SLACK;
	int ret;

	us_ring_hash_bits = clamp_t(unsigned int, order_base_2(us_max_rings),
				    US_RING_HASH_MIN_BITS,
				    US_RING_HASH_MAX_BITS);
	/* zeroed: every bucket an empty hlist */
	us_ring_hash = vzalloc(array_size(1U << us_ring_hash_bits,
					  sizeof(*us_ring_hash)));
	if (!us_ring_hash)
		return -ENOMEM;
	ret = -ENOMEM;
	us_tid_hash = vzalloc(array_size(1U << us_ring_hash_bits,
					 sizeof(*us_tid_hash)));
	if (!us_tid_hash)
		goto free_hash;
	us_pool = vzalloc(array_size(n, sizeof(*us_pool)));
	if (!us_pool)
		goto free_tid_hash;
	ret = us_evict_init();
	if (ret)
		goto free_pool;
	for (i = 0; i < n; i++)
		list_add_tail(&us_pool[i].lnode, &us_free);
	return 0;

free_pool:
	vfree(us_pool);
	us_pool = NULL;
free_tid_hash:
	vfree(us_tid_hash);
	us_tid_hash = NULL;
free_hash:
	vfree(us_ring_hash);
	us_ring_hash = NULL;
	return ret;
}

/* Called after the probes are gone and an RCU barrier: nothing races. */
void us_rings_exit(void)
{
	us_evict_exit();
	vfree(us_pool);
	us_pool = NULL;
	vfree(us_tid_hash);
	us_tid_hash = NULL;
	vfree(us_ring_hash);
	us_ring_hash = NULL;
}

static u32 us_tid_hashfn(pid_t tid)
{
	return hash_32(tid, us_ring_hash_bits);
}

void us_rings_for_tid(pid_t tid, pid_t tgid,
		      void (*fn)(struct us_ring *r, void *arg), void *arg)
{
	struct us_ring *r;

	hlist_for_each_entry_rcu(r, &us_tid_hash[us_tid_hashfn(tid)], tnode,
				 true) {
		if (r->tid == tid && r->pid == tgid)
			fn(r, arg);
	}
}

static void us_ring_free_rcu(struct rcu_head *head)
{
	struct us_ring *r = container_of(head, struct us_ring, rcu);
	unsigned long flags;

	spin_lock_irqsave(&us_ring_lock, flags);
	list_add_tail(&r->lnode, &us_free);
	spin_unlock_irqrestore(&us_ring_lock, flags);
}

/* us_ring_lock held */
static void us_ring_unlink(struct us_ring *r)
{
	/* before the unlink: see us_rings_seek() */
	WRITE_ONCE(r->listed, false);
	us_user_unlink(r);
	hlist_del_init_rcu(&r->hnode);
	hlist_del_init_rcu(&r->tnode);
	/* debugfs readers walk the list under RCU: no poisoning until then */
	list_del_rcu(&r->lnode);
	us_nr_tracked--;
	call_rcu(&r->rcu, us_ring_free_rcu);
}

/*
 * us_ring_lock held; NULL when the pool is (briefly) dry. A full table
 * gives up the row evict.c picks for a new ring of @uid.
 */
static struct us_ring *us_ring_alloc(kuid_t uid)
{
	struct us_ring *r;
	int i;

	if (us_nr_tracked >= us_max_rings) {
		r = us_evict_victim(uid);
		if (r) {
			us_ring_unlink(r);
			atomic64_inc(&us_evicted);
		}
	}
	r = list_first_entry_or_null(&us_free, struct us_ring, lnode);
	if (!r) {
		atomic64_inc(&us_evicted);
		return NULL;
	}
	list_del(&r->lnode);
	for (i = 0; i < US_NR_RING_COUNTERS; i++)
		atomic64_set(&r->cnt[i], 0);
	us_err_clear(&r->err);
	return r;
}

/*
 * The ring's owner: the thread group of whoever created (or first used)
 * it. SQPOLL and io-wq threads belong to that group, so the leader's comm
 * names the program rather than "iou-sqp-…".
 */
static void us_ring_fill_owner(struct us_ring *r)
{
	r->pid = task_tgid_nr(current);
	r->tid = task_pid_nr(current);
	strscpy(r->comm, current->group_leader->comm, sizeof(r->comm));
}

static struct us_ring *us_ring_insert(const void *ctx, int fd, u32 sq, u32 cq,
				      u32 flags, bool replace)
{
	kuid_t uid = us_current_owner();
	struct us_ring *r, *old;
	unsigned long irqflags;
	/* a walk of our threads: not with interrupts off */
	int workers = us_wrk_count_group(current, task_pid_nr(current));

	spin_lock_irqsave(&us_ring_lock, irqflags);
	old = us_ring_find(ctx);
	if (old) {
		if (!replace) {
			spin_unlock_irqrestore(&us_ring_lock, irqflags);
			return old;
		}
		/* the address was freed and reused: a new ring */
		us_ring_unlink(old);
	}
	r = us_ring_alloc(uid);
	if (!r)
		goto out;
	if (WARN_ON_ONCE(us_user_link(r, uid))) {
		/* the alloc made room for one more user: never here */
		list_add_tail(&r->lnode, &us_free);
		r = NULL;
		goto out;
	}
	r->ctx = ctx;
	/* a stale cursor may look at the struct: see us_rings_seek() */
	WRITE_ONCE(r->id, atomic64_inc_return(&us_last_id));
	r->fd = fd;
	r->sq_entries = sq;
	r->cq_entries = cq;
	r->flags = flags;
	us_ring_fill_owner(r);
	us_iowq_ring_init(r, workers);
	/* id and all before listed, as us_rings_seek() reads them */
	smp_store_release(&r->listed, true);
	list_add_tail_rcu(&r->lnode, &us_ring_list);
	hlist_add_head_rcu(&r->hnode, &us_ring_hash[us_ring_hashfn(ctx)]);
	hlist_add_head_rcu(&r->tnode, &us_tid_hash[us_tid_hashfn(r->tid)]);
	us_nr_tracked++;
out:
	spin_unlock_irqrestore(&us_ring_lock, irqflags);
	return r;
}

static bool us_filter_allows_current(void)
{
	int want = READ_ONCE(us_filter_pid);

	return !want || want == task_tgid_nr(current);
}

void us_ring_created(const void *ctx, int fd, u32 sq, u32 cq, u32 flags)
{
	if (!us_filter_allows_current())
		return;
	us_ring_insert(ctx, fd, sq, cq, flags, true);
}

/*
 * A ring that existed before the module loaded (or before filter_pid
 * allowed it): adopt it on the first event that runs in its owner's
 * context (submission, waiting). Events from other contexts (completions
 * from interrupts, task work) never create rings.
 */
struct us_ring *us_ring_adopt(const void *ctx)
{
	u32 sq, cq, flags;

	if (in_interrupt() || !us_filter_allows_current())
		return NULL;
	us_ctx_info(ctx, &sq, &cq, &flags);
	return us_ring_insert(ctx, -1, sq, cq, flags, false);
}

void us_ring_gone(const void *ctx)
{
	struct us_ring *r;
	unsigned long flags;

	spin_lock_irqsave(&us_ring_lock, flags);
	r = us_ring_find(ctx);
	if (r)
		us_ring_unlink(r);
	spin_unlock_irqrestore(&us_ring_lock, flags);
}

void us_rings_reset(void)
{
	struct us_ring *r;
	unsigned long flags;
	int i;

	spin_lock_irqsave(&us_ring_lock, flags);
	list_for_each_entry(r, &us_ring_list, lnode) {
		for (i = 0; i < US_NR_RING_COUNTERS; i++)
			atomic64_set(&r->cnt[i], 0);
		us_err_reset(&r->err);
		us_iowq_reset(r);
	}
	atomic64_set(&us_evicted, 0);
	spin_unlock_irqrestore(&us_ring_lock, flags);
}

/*
 * --- the rings file's walk ------------------------------------------------
 *
 * Both run under rcu_read_lock(). A position is a ring id: "the first
 * ring with an id at least this". As ids only grow along the list, a walk
 * resumed at a position never shows a row again and never skips a ring
 * that is still listed, whatever was inserted or removed in between.
 *
 * @cur keeps the ring a walk stopped at (seq_file calls stop() holding
 * the next record, and start() again at the next read()), so that the
 * next read() resumes there in O(1). Its struct is pool memory that
 * lives until unload, so looking at it is safe even if it has been
 * freed or reused since; it is taken only if it is still listed under
 * the same id. Else the walk starts from the head, O(rings).
 */
static struct us_ring *us_cursor_set(struct us_ring_cursor *cur,
				     struct us_ring *r, u64 end)
{
	cur->r = r;
	cur->id = r ? r->id : end;
	return r;
}

struct us_ring *us_rings_seek(struct us_ring_cursor *cur, u64 id)
{
	struct us_ring *r = cur->r;

	/*
	 * listed is cleared before the unlink and its call_rcu(): seen set
	 * here, the ring stays valid to walk from until rcu_read_unlock().
	 * Acquire pairs with the release in us_ring_insert(): a struct
	 * reused since carries a newer id.
	 */
	if (r && cur->id == id && smp_load_acquire(&r->listed) &&
	    READ_ONCE(r->id) == id)
		return r;
	/* past the last id handed out: nothing to walk through */
	if (id > atomic64_read(&us_last_id))
		return us_cursor_set(cur, NULL, id);
	list_for_each_entry_rcu(r, &us_ring_list, lnode)
		if (r->id >= id)
			return us_cursor_set(cur, r, 0);
	return us_cursor_set(cur, NULL, id);
}

/* the ring after @r (NULL: the first); cur->id is then its position */
struct us_ring *us_rings_after(struct us_ring_cursor *cur, struct us_ring *r)
{
	struct us_ring *next;

	/*
	 * @r may have been unlinked since it was reached: list_del_rcu()
	 * leaves its next pointer intact, and what follows it is newer.
	 */
	if (r)
		next = list_next_or_null_rcu(&us_ring_list, &r->lnode,
					     struct us_ring, lnode);
	else
		next = list_first_or_null_rcu(&us_ring_list, struct us_ring,
					      lnode);
	return us_cursor_set(cur, next, r ? r->id + 1 : 1);
}

u64 us_rings_evicted(void)
{
	return atomic64_read(&us_evicted);
}

unsigned int us_rings_tracked(void)
{
	return READ_ONCE(us_nr_tracked);
}

/* --- teardown hook ---------------------------------------------------- */

static int us_release_pre(struct kprobe *p, struct pt_regs *regs)
{
	/* int io_uring_release(struct inode *inode, struct file *file) */
	struct file *file = (struct file *)regs_get_kernel_argument(regs, 1);

	if (file)
		us_ring_gone(file->private_data);
	return 0;
}

static struct kprobe us_release_kp = {
	.symbol_name	= "io_uring_release",
	.pre_handler	= us_release_pre,
};

static bool us_release_kp_on;

int us_teardown_hook_init(void)
{
	int ret = register_kprobe(&us_release_kp);

	if (ret) {
		pr_warn("uringstat: no kprobe on io_uring_release (%d): closed rings stay listed until evicted\n",
			ret);
		return 0;
	}
	us_release_kp_on = true;
	return 0;
}

void us_teardown_hook_exit(void)
{
	if (us_release_kp_on)
		unregister_kprobe(&us_release_kp);
	us_release_kp_on = false;
}

const char *us_teardown_hook_name(void)
{
	return us_release_kp_on ? "kprobe:io_uring_release" :
				  "none (rings leave by eviction only)";
}

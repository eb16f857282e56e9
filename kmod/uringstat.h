/* SPDX-License-Identifier: GPL-2.0 */
/*
 * uringstat: per-ring, per-opcode, poll and latency statistics for every
 * io_uring ring on the machine, gathered from the kernel's io_uring
 * tracepoints and shown in debugfs.
 *
 * The probes (probes.c) know each kernel's tracepoint prototypes and turn
 * every event into one of the us_ev_*() calls below, which know nothing
 * about kernel versions. rings.c owns the ring table, inflight.c the
 * submit timestamps for latency, debugfs.c the files.
 */
#ifndef URINGSTAT_H
#define URINGSTAT_H

#include <linux/types.h>
#include <linux/atomic.h>
#include <linux/hash.h>
#include <linux/rculist.h>
#include <linux/sched.h>
#include <linux/uidgid.h>

struct seq_file;

#define US_VERSION		"1.2.0"

/* opcodes at or above US_MAX_OPS are counted together as the last slot */
#define US_MAX_OPS		64
#define US_OP_OTHER		(US_MAX_OPS - 1)
/*
 * Latency buckets, in microseconds: [0,1), [1,2), [2,4) … [2^21,2^22),
 * and everything from 2^22 us (about 4.2 s) up in the last one.
 */
#define US_LAT_BUCKETS		24

enum us_ring_counter {
	US_SUBMITTED,
	US_COMPLETED,
	US_FAILED,
	US_CQ_OVERFLOW,
	US_CQRING_WAITS,
	US_POLL_ARMED,
	US_TASK_WORK,
	US_ASYNC,
	US_NR_RING_COUNTERS,
};

/*
 * Failed CQEs of one ring by (opcode, errno), in the order each pair was
 * first seen (errors.c). A slot's key is set once and kept until the
 * ring leaves the table, so a counter is never filed under another pair.
 */
#define US_ERR_SLOTS		16

struct us_errtab {
	u32			key[US_ERR_SLOTS];	/* 0: free */
	atomic64_t		cnt[US_ERR_SLOTS];
	atomic64_t		dropped;	/* pairs that found no free slot */
};

struct us_user;

struct us_ring {
	struct hlist_node	hnode;		/* us_ring_hash, by ctx */
	struct list_head	lnode;		/* us_ring_list, oldest first */
	struct rcu_head		rcu;
	const void		*ctx;		/* key only: never printed */
	u64			id;
	bool			listed;		/* on us_ring_list */
	/* us_ring_lock: the user whose rows it counts in (evict.c) */
	struct us_user		*user;
	struct list_head	unode;		/* that user's rings */
	struct hlist_node	tnode;		/* us_tid_hash, by tid */
	pid_t			pid;
	/* the thread that created (or first used) it: its io-wq is counted */
	pid_t			tid;
	int			fd;		/* -1: created before we looked */
	u32			sq_entries;
	u32			cq_entries;
	u32			flags;
	char			comm[TASK_COMM_LEN];
	atomic64_t		cnt[US_NR_RING_COUNTERS];
	struct us_errtab	err;
	/* io-wq workers of tid: alive by start/exit events, and the most */
	atomic_t		wq_live;
	atomic_t		wq_max;
};

/* per-CPU, per-opcode figures */
struct us_opstat {
	u64	submitted;
	u64	completed;
	u64	failed;
	u64	poll_armed;
	u64	async;
	u64	lat[US_LAT_BUCKETS];
};

struct us_cpustat {
	struct us_opstat	op[US_MAX_OPS];
	u64			poll_in;
	u64			poll_out;
	u64			poll_other;
	u64			task_work;
};

extern struct us_cpustat __percpu *us_stats;
extern int us_filter_pid;
extern unsigned int us_max_rings;
extern unsigned int us_max_inflight;
/* time one request in this many per CPU; 0: none (main.c, latency_sample) */
extern unsigned int us_latency_sample;
#define US_LAT_SAMPLE_MAX	BIT(20)

/* where a walk of the rings stopped: a ring and its id, or one past the end */
struct us_ring_cursor {
	struct us_ring	*r;
	u64		id;
};

/* rings.c */
int us_rings_init(void);
void us_rings_exit(void);
/* the ring table's hash by ctx: here, as every event looks a ring up */
extern struct hlist_head *us_ring_hash;
extern unsigned int us_ring_hash_bits;

static inline u32 us_ring_hashfn(const void *ctx)
{
	return hash_ptr((void *)ctx, us_ring_hash_bits);
}

/* under RCU (a tracepoint probe, or rcu_read_lock()), or us_ring_lock */
static inline struct us_ring *us_ring_find(const void *ctx)
{
	struct us_ring *r;

	hlist_for_each_entry_rcu(r, &us_ring_hash[us_ring_hashfn(ctx)], hnode,
				 true) {
		if (r->ctx == ctx)
			return r;
	}
	return NULL;
}

/* a ring not in the table, seen in its owner's context: adopt it */
struct us_ring *us_ring_adopt(const void *ctx);

static inline struct us_ring *us_ring_first_sight(const void *ctx)
{
	struct us_ring *r = us_ring_find(ctx);

	return likely(r) ? r : us_ring_adopt(ctx);
}

void us_ring_created(const void *ctx, int fd, u32 sq, u32 cq, u32 flags);
void us_ring_gone(const void *ctx);
void us_rings_reset(void);
u64 us_rings_evicted(void);
unsigned int us_rings_tracked(void);
/* under rcu_read_lock(): the first ring with an id >= @id, or NULL */
struct us_ring *us_rings_seek(struct us_ring_cursor *cur, u64 id);
/* under rcu_read_lock(): the ring after @r, the first if @r is NULL */
struct us_ring *us_rings_after(struct us_ring_cursor *cur, struct us_ring *r);
/* under RCU: every ring of thread @tid of process @tgid */
void us_rings_for_tid(pid_t tid, pid_t tgid,
		      void (*fn)(struct us_ring *r, void *arg), void *arg);
int us_teardown_hook_init(void);
void us_teardown_hook_exit(void);
const char *us_teardown_hook_name(void);

/* evict.c: which ring leaves a full table; all but init/exit under us_ring_lock */
int us_evict_init(void);
void us_evict_exit(void);
kuid_t us_current_owner(void);
int us_user_link(struct us_ring *r, kuid_t uid);
void us_user_unlink(struct us_ring *r);
struct us_ring *us_evict_victim(kuid_t uid);

/* inflight.c; the hot path is inline in inflight.h */
int us_inflight_init(void);
void us_inflight_exit(void);
/* how a submission is recorded (us_inflight_submit) */
/* its CQEs may not name it (multishot opcodes; 5.15: every request) */
#define US_IF_REQLESS		BIT(0)
/* its CQEs cannot tell its opcode (rejected SQEs; before 6.0: all) */
#define US_IF_RECORD		BIT(1)

/* what the in-flight tables knew of a CQE's request */
struct us_if_hit {
	s64	lat;	/* ns since submission or the last CQE; -1: not timed */
	int	opcode;	/* as submitted; -1: submission not recorded */
};

/* every CPU samples its next request (the parameter changed, a reset) */
void us_inflight_sample_restart(void);
u64 us_inflight_evicted(void);
void us_inflight_reset(void);

/* probes.c */
/* false where the complete event does not name the request (5.15) */
extern const bool us_complete_has_req;
/* false where it does not give the request's opcode (before 6.0) */
extern const bool us_complete_has_opcode;
int us_probes_init(void);
void us_probes_exit(void);
/* the ring's sizes and flags from the kernel's ctx, where the types are visible */
void us_ctx_info(const void *ctx, u32 *sq, u32 *cq, u32 *flags);
void us_probes_show(struct seq_file *m);

/* events, in version-neutral form (events.c) */
void us_ev_create(const void *ctx, int fd, u32 sq, u32 cq, u32 flags);
void us_ev_submit(const void *ctx, const void *req, u64 user_data, u8 opcode);
void us_ev_submit_failed(const void *ctx, const void *req, u64 user_data,
			 u8 opcode);
/* req and its opcode when the event has them, else NULL and -1 */
void us_ev_complete(const void *ctx, const void *req, int opcode,
		    u64 user_data, s32 res, u32 cflags);
void us_ev_overflow(const void *ctx, u64 user_data, s32 res, u32 cflags);
void us_ev_cqring_wait(const void *ctx);
void us_ev_poll_arm(const void *ctx, u8 opcode, int events);
void us_ev_task_add(const void *ctx, u8 opcode);
void us_ev_async(const void *ctx, u8 opcode);
void us_stats_reset(void);

/* errors.c */
void us_err_clear(struct us_errtab *t);
void us_err_reset(struct us_errtab *t);
/* a CQE's negative @res; @opcode < 0: not known */
void us_err_count(struct us_errtab *t, int opcode, s32 res);
void us_err_show(struct seq_file *m, struct us_ring *r);

/* iowq.c */
/* "iou-wrk-TID": the thread whose io-wq the worker belongs to, or 0 */
pid_t us_wrk_owner(const char *comm);
/* io-wq workers of thread @tid alive now in @leader's thread group */
int us_wrk_count_group(struct task_struct *leader, pid_t tid);
/* the same for the process @tgid, by pid (0 when it is gone) */
int us_wrk_count(pid_t tgid, pid_t tid);
void us_iowq_ring_init(struct us_ring *r, int workers);
void us_iowq_reset(struct us_ring *r);
/* an io-wq worker of thread @owner (of process @tgid) started or exits */
void us_ev_worker_start(pid_t owner, pid_t tgid);
void us_ev_worker_exit(pid_t owner, pid_t tgid);

/* debugfs.c */
int us_debugfs_init(void);
void us_debugfs_exit(void);

/* opnames.c */
const char *us_op_name(unsigned int opcode);
/* errnames.c: "ECONNRESET" for 104, NULL for a number not in the table */
const char *us_errno_name(unsigned int err);

#endif /* URINGSTAT_H */

// SPDX-License-Identifier: GPL-2.0
/*
 * io-wq workers per ring: the iowq file's workers and workers_max.
 *
 * io-wq is per thread, not per ring: each thread that punts requests has
 * its own pool of worker threads, named "iou-wrk-TID" after it and
 * marked PF_IO_WORKER (SQPOLL threads, "iou-sqp-TID", carry the flag
 * too, and are not counted). No io_uring tracepoint tells when a worker
 * starts or exits, on any kernel, so:
 *
 * - workers (now) is counted when the file is read, by walking the
 *   ring's process's threads: exact at that moment, whatever happened
 *   before the module loaded;
 * - workers_max follows wq_live, counted up when a worker names itself
 *   (task_rename, the worker's first act) and down when it exits
 *   (sched_process_exit); wq_live starts from a walk when the ring is
 *   first seen. Both events are rare next to requests, and for every
 *   other thread on the machine their probe is a flag test.
 */
#include <linux/kernel.h>
#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/string.h>
#include "uringstat.h"

#define US_WRK_PREFIX		"iou-wrk-"

pid_t us_wrk_owner(const char *comm)
{
	char buf[TASK_COMM_LEN];
	int tid;

	if (strncmp(comm, US_WRK_PREFIX, sizeof(US_WRK_PREFIX) - 1))
		return 0;
	/* comm may be renamed under us: work on a stable, terminated copy */
	strscpy(buf, comm + sizeof(US_WRK_PREFIX) - 1, sizeof(buf));
	if (kstrtoint(buf, 10, &tid) || tid <= 0)
		return 0;
	return tid;
}

static bool us_is_wrk_of(struct task_struct *t, pid_t tid)
{
	return (READ_ONCE(t->flags) & PF_IO_WORKER) &&
	       us_wrk_owner(t->comm) == tid;
}

int us_wrk_count_group(struct task_struct *leader, pid_t tid)
{
	struct task_struct *t;
	int n = 0;

	rcu_read_lock();
	for_each_thread(leader, t)
		n += us_is_wrk_of(t, tid);
	rcu_read_unlock();
	return n;
}

int us_wrk_count(pid_t tgid, pid_t tid)
{
	struct task_struct *leader;
	int n = 0;

	rcu_read_lock();
	leader = pid_task(find_pid_ns(tgid, &init_pid_ns), PIDTYPE_PID);
	if (leader && leader->tgid == tgid)
		n = us_wrk_count_group(leader, tid);
	rcu_read_unlock();
	return n;
}

/* @workers: a walk of the owner's threads just before the ring was listed */
void us_iowq_ring_init(struct us_ring *r, int workers)
{
	atomic_set(&r->wq_live, workers);
	atomic_set(&r->wq_max, workers);
}

void us_iowq_reset(struct us_ring *r)
{
	atomic_set(&r->wq_max, atomic_read(&r->wq_live));
}

static void us_wrk_started(struct us_ring *r, void *arg)
{
	int n = atomic_inc_return(&r->wq_live);
	int max = atomic_read(&r->wq_max);

	while (n > max) {
		int old = atomic_cmpxchg(&r->wq_max, max, n);

		if (old == max)
			break;
		max = old;
	}
}

static void us_wrk_exited(struct us_ring *r, void *arg)
{
	/* a worker already running when the ring was first seen may race */
	atomic_dec_if_positive(&r->wq_live);
}

void us_ev_worker_start(pid_t owner, pid_t tgid)
{
	us_rings_for_tid(owner, tgid, us_wrk_started, NULL);
}

void us_ev_worker_exit(pid_t owner, pid_t tgid)
{
	us_rings_for_tid(owner, tgid, us_wrk_exited, NULL);
}

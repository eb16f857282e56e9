// SPDX-License-Identifier: GPL-2.0
/*
 * Tracepoint probes, one set per range of kernel versions.
 *
 * io_uring's tracepoints are not exported, so they are found by name with
 * for_each_kernel_tracepoint() and attached with
 * tracepoint_probe_register(). A probe's arguments must match the event's
 * TP_PROTO exactly, or it reads garbage; those prototypes changed several
 * times, so they are chosen here by LINUX_VERSION_CODE, and every probe is
 * passed to the header's check_trace_callback_type_<event>(), which turns
 * a mismatch into a build error instead of a wrong reading.
 *
 *   5.15        scalars; complete carries no request
 *   5.16-5.17   as 5.15, complete gains the request
 *   5.18        user_data moves before opcode
 *   5.19        as 5.18, complete gains the CQE32 extras
 *   6.0-6.3     struct io_kiocb is visible; events pass the request
 *   6.4-6.12    io_uring_submit_sqe renamed io_uring_submit_req
 *   6.13-       io_uring_complete passes the posted CQE
 *   7.x         io_uring_queue_async_work's int rw becomes bool hashed
 *               (told apart by the header's type, see us_tp_async)
 *
 * io-wq workers are seen through two scheduler events that every kernel
 * here has: task_rename (a worker names itself "iou-wrk-TID" as it
 * starts) and sched_process_exit, which gained a bool group_dead (7.3
 * has it, 6.12 not; told apart by type, see us_tp_exit).
 *
 * 6.1, 6.12 and the newest Debian kernel (7.3) are built and tested
 * (selftests/vm); the other ranges
 * follow those kernels' headers and are only as good as that reading,
 * with the type check as the safety net.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/tracepoint.h>
#include <linux/version.h>
#include <trace/events/io_uring.h>
#include <trace/events/sched.h>
#include <trace/events/task.h>
#include "uringstat.h"

/* the one comparison with the running version, so each #if reads plainly */
#define US_KV_GE(maj, min)	(KERNEL_VERSION(maj, min, 0) <= LINUX_VERSION_CODE)

#if US_KV_GE(6, 0)
#define US_HAVE_KIOCB 1
#include <linux/io_uring_types.h>
#endif

/* --- probes --------------------------------------------------------- */

static void us_tp_create(void *data, int fd, void *ctx, u32 sq_entries,
			 u32 cq_entries, u32 flags)
{
	us_ev_create(ctx, fd, sq_entries, cq_entries, flags);
}

static void us_tp_cqring_wait(void *data, void *ctx, int min_events)
{
	us_ev_cqring_wait(ctx);
}

#ifdef US_HAVE_KIOCB

void us_ctx_info(const void *ctx, u32 *sq, u32 *cq, u32 *flags)
{
	const struct io_ring_ctx *c = ctx;

	*sq = c->sq_entries;
	*cq = c->cq_entries;
	*flags = c->flags;
}

#if US_KV_GE(6, 4)
#define US_TP_SUBMIT	"io_uring_submit_req"
static void us_tp_submit(void *data, struct io_kiocb *req)
#else
#define US_TP_SUBMIT	"io_uring_submit_sqe"
static void us_tp_submit(void *data, struct io_kiocb *req, bool force_nonblock)
#endif
{
	us_ev_submit(req->ctx, req, req->cqe.user_data, req->opcode);
}

static int us_req_opcode(const void *req)
{
	return req ? ((const struct io_kiocb *)req)->opcode : -1;
}

#if US_KV_GE(6, 13)
static void us_tp_complete(void *data, struct io_ring_ctx *ctx, void *req,
			   struct io_uring_cqe *cqe)
{
	us_ev_complete(ctx, req, us_req_opcode(req), cqe->user_data, cqe->res,
		       cqe->flags);
}
#else
static void us_tp_complete(void *data, void *ctx, void *req, u64 user_data,
			   int res, unsigned int cflags, u64 extra1, u64 extra2)
{
	us_ev_complete(ctx, req, us_req_opcode(req), user_data, res, cflags);
}
#endif

static void us_tp_req_failed(void *data, const struct io_uring_sqe *sqe,
			     struct io_kiocb *req, int error)
{
	us_ev_submit_failed(req->ctx, req, sqe->user_data, sqe->opcode);
}

static void us_tp_poll_arm(void *data, struct io_kiocb *req, int mask,
			   int events)
{
	us_ev_poll_arm(req->ctx, req->opcode, events);
}

static void us_tp_task_add(void *data, struct io_kiocb *req, int mask)
{
	us_ev_task_add(req->ctx, req->opcode);
}

/*
 * io_uring_queue_async_work's second argument, unused here, was "int rw"
 * and became "bool hashed" (upstream "io_uring/trace: rename
 * io_uring_queue_async_work event "rw" field", Dec 2025; in 7.3). Its type
 * is read off the header's own check function rather than tied to a
 * guessed release.
 */
#define US_ASYNC_HASHED							\
	__builtin_types_compatible_p(					\
		typeof(check_trace_callback_type_io_uring_queue_async_work), \
		void (void (*)(void *, struct io_kiocb *, bool)))
#define US_ASYNC_ARG	typeof(__builtin_choose_expr(US_ASYNC_HASHED, (bool)0, 0))

static void us_tp_async(void *data, struct io_kiocb *req, US_ASYNC_ARG hashed)
{
	us_ev_async(req->ctx, req->opcode);
}

#else /* kernels before 6.0: the request is opaque, its fields are arguments */

void us_ctx_info(const void *ctx, u32 *sq, u32 *cq, u32 *flags)
{
	*sq = 0;
	*cq = 0;
	*flags = 0;
}

#define US_TP_SUBMIT	"io_uring_submit_sqe"

#if US_KV_GE(5, 18)
static void us_tp_submit(void *data, void *ctx, void *req,
			 unsigned long long user_data, u8 opcode, u32 flags,
			 bool force_nonblock, bool sq_thread)
{
	us_ev_submit(ctx, req, user_data, opcode);
}

static void us_tp_poll_arm(void *data, void *ctx, void *req, u64 user_data,
			   u8 opcode, int mask, int events)
{
	us_ev_poll_arm(ctx, opcode, events);
}

static void us_tp_task_add(void *data, void *ctx, void *req,
			   unsigned long long user_data, u8 opcode, int mask)
{
	us_ev_task_add(ctx, opcode);
}

static void us_tp_async(void *data, void *ctx, void *req,
			unsigned long long user_data, u8 opcode,
			unsigned int flags, struct io_wq_work *work, int rw)
{
	us_ev_async(ctx, opcode);
}

static void us_tp_req_failed(void *data, const struct io_uring_sqe *sqe,
			     void *ctx, void *req, int error)
{
	us_ev_submit_failed(ctx, req, sqe->user_data, sqe->opcode);
}
#else
static void us_tp_submit(void *data, void *ctx, void *req, u8 opcode,
			 u64 user_data, u32 flags, bool force_nonblock,
			 bool sq_thread)
{
	us_ev_submit(ctx, req, user_data, opcode);
}

static void us_tp_poll_arm(void *data, void *ctx, void *req, u8 opcode,
			   u64 user_data, int mask, int events)
{
	us_ev_poll_arm(ctx, opcode, events);
}

static void us_tp_task_add(void *data, void *ctx, u8 opcode, u64 user_data,
			   int mask)
{
	us_ev_task_add(ctx, opcode);
}

#define US_NO_ASYNC_PROBE	/* 5.15-5.17 prototype not verified */
#define US_NO_REQ_FAILED_PROBE	/* io_uring_req_failed came in 5.18 */
#endif

#if US_KV_GE(5, 19)
static void us_tp_complete(void *data, void *ctx, void *req, u64 user_data,
			   int res, unsigned int cflags, u64 extra1, u64 extra2)
{
	us_ev_complete(ctx, req, -1, user_data, res, cflags);
}
#elif US_KV_GE(5, 16)
static void us_tp_complete(void *data, void *ctx, void *req, u64 user_data,
			   int res, unsigned int cflags)
{
	us_ev_complete(ctx, req, -1, user_data, res, cflags);
}
#else
/* no request: the opcode comes from the in-flight table, by user_data */
static void us_tp_complete(void *data, void *ctx, u64 user_data, int res,
			   unsigned int cflags)
{
	us_ev_complete(ctx, NULL, -1, user_data, res, cflags);
}
#endif

#endif /* US_HAVE_KIOCB */

#if US_KV_GE(5, 19)
static void us_tp_overflow(void *data, void *ctx, unsigned long long user_data,
			   s32 res, u32 cflags, void *ocqe)
{
	us_ev_overflow(ctx, user_data, res, cflags);
}
#else
#define US_NO_OVERFLOW_PROBE	/* io_uring_cqe_overflow came in 5.19 */
#endif

#ifdef US_HAVE_KIOCB
const bool us_complete_has_opcode = true;
#else
const bool us_complete_has_opcode;
#endif

#if US_KV_GE(5, 16)
const bool us_complete_has_req = true;
#else
const bool us_complete_has_req;
#endif

/* --- io-wq workers, from the scheduler's events -------------------------- */

/* the worker names itself; anyone else renaming a thread is not counted */
static void us_tp_rename(void *data, struct task_struct *task,
			 const char *comm)
{
	pid_t owner;

	if (task != current || !(task->flags & PF_IO_WORKER))
		return;
	owner = us_wrk_owner(comm);
	if (owner)
		us_ev_worker_start(owner, task->tgid);
}

/*
 * An exiting worker has already dropped PF_IO_WORKER (io_worker_exit()
 * clears it before do_exit()), so only its name tells. A thread of the
 * process named so by the process itself can only lower that process's
 * own workers_max.
 */
static void us_exit(struct task_struct *p)
{
	pid_t owner;

	owner = us_wrk_owner(p->comm);
	if (owner)
		us_ev_worker_exit(owner, p->tgid);
}

static void __maybe_unused us_tp_exit_task(void *data, struct task_struct *p)
{
	us_exit(p);
}

static void __maybe_unused us_tp_exit_group(void *data, struct task_struct *p,
					    bool group_dead)
{
	us_exit(p);
}

#define US_EXIT_GROUP_DEAD						\
	__builtin_types_compatible_p(					\
		typeof(check_trace_callback_type_sched_process_exit),	\
		void (void (*)(void *, struct task_struct *, bool)))
#define us_tp_exit \
	__builtin_choose_expr(US_EXIT_GROUP_DEAD, us_tp_exit_group, us_tp_exit_task)

/* --- registration ------------------------------------------------------- */

struct us_probe {
	const char		*name;
	void			*func;
	struct tracepoint	*tp;	/* NULL: not found, or not registered */
};

static struct us_probe us_probes[] = {
	{ "io_uring_create",		us_tp_create },
	{ US_TP_SUBMIT,			us_tp_submit },
	{ "io_uring_complete",		us_tp_complete },
	{ "io_uring_cqring_wait",	us_tp_cqring_wait },
	{ "io_uring_poll_arm",		us_tp_poll_arm },
	{ "io_uring_task_add",		us_tp_task_add },
#ifndef US_NO_ASYNC_PROBE
	{ "io_uring_queue_async_work",	us_tp_async },
#endif
#ifndef US_NO_REQ_FAILED_PROBE
	{ "io_uring_req_failed",	us_tp_req_failed },
#endif
#ifndef US_NO_OVERFLOW_PROBE
	{ "io_uring_cqe_overflow",	us_tp_overflow },
#endif
	{ "task_rename",		us_tp_rename },
	{ "sched_process_exit",		us_tp_exit },
};

/* Never called: makes every probe above a build error if its type is wrong. */
static void __maybe_unused us_probes_typecheck(void)
{
	check_trace_callback_type_io_uring_create(us_tp_create);
#if defined(US_HAVE_KIOCB) && US_KV_GE(6, 4)
	check_trace_callback_type_io_uring_submit_req(us_tp_submit);
#else
	check_trace_callback_type_io_uring_submit_sqe(us_tp_submit);
#endif
	check_trace_callback_type_io_uring_complete(us_tp_complete);
	check_trace_callback_type_io_uring_cqring_wait(us_tp_cqring_wait);
	check_trace_callback_type_io_uring_poll_arm(us_tp_poll_arm);
	check_trace_callback_type_io_uring_task_add(us_tp_task_add);
#ifndef US_NO_ASYNC_PROBE
	check_trace_callback_type_io_uring_queue_async_work(us_tp_async);
#endif
#ifndef US_NO_REQ_FAILED_PROBE
	check_trace_callback_type_io_uring_req_failed(us_tp_req_failed);
#endif
#ifndef US_NO_OVERFLOW_PROBE
	check_trace_callback_type_io_uring_cqe_overflow(us_tp_overflow);
#endif
	check_trace_callback_type_task_rename(us_tp_rename);
	check_trace_callback_type_sched_process_exit(us_tp_exit);
}

static void us_find_tp(struct tracepoint *tp, void *priv)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(us_probes); i++)
		if (!strcmp(tp->name, us_probes[i].name))
			us_probes[i].tp = tp;
}

/*
 * A tracepoint that is missing (another kernel, a kernel built without
 * it) is logged and its columns read 0; the module works with the rest.
 */
int us_probes_init(void)
{
	int i, ret, nr = 0;

	for_each_kernel_tracepoint(us_find_tp, NULL);
	for (i = 0; i < ARRAY_SIZE(us_probes); i++) {
		struct us_probe *p = &us_probes[i];

		if (!p->tp) {
			pr_info("uringstat: tracepoint %s not found: its counters read 0\n",
				p->name);
			continue;
		}
		ret = tracepoint_probe_register(p->tp, p->func, NULL);
		if (ret) {
			pr_warn("uringstat: cannot attach to %s (%d): its counters read 0\n",
				p->name, ret);
			p->tp = NULL;
			continue;
		}
		/* the scheduler's events alone make no statistics */
		nr += !strncmp(p->name, "io_uring_", 9);
	}
	if (!nr) {
		pr_err("uringstat: no io_uring tracepoint found\n");
		return -ENOENT;
	}
	return 0;
}

void us_probes_exit(void)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(us_probes); i++) {
		if (!us_probes[i].tp)
			continue;
		tracepoint_probe_unregister(us_probes[i].tp, us_probes[i].func,
					    NULL);
		us_probes[i].tp = NULL;
	}
	/* no probe runs any more once this returns */
	tracepoint_synchronize_unregister();
}

void us_probes_show(struct seq_file *m)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(us_probes); i++)
		seq_printf(m, "tracepoint %s %s\n", us_probes[i].name,
			   us_probes[i].tp ? "attached" : "missing");
}

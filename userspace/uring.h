/* SPDX-License-Identifier: MIT */
/*
 * What the running kernel's io_uring offers, probed once at start-up,
 * and the per-worker ring state of the uring engine.
 */
#ifndef RINGLB_URING_H
#define RINGLB_URING_H

#include <liburing.h>
#include <stdbool.h>

#include "userdata.h"
#include "worker.h"

struct uring_caps {
	unsigned int setup_flags;	/* flags a test ring accepted */
	unsigned int features;		/* params.features */
	bool splice, send_zc, shutdown, cancel_fd, socket;
	bool buf_ring;			/* IORING_REGISTER_PBUF_RING, 5.19 */
	bool recv_multishot;		/* 6.0 */
	bool poll_multishot;		/* IORING_POLL_ADD_MULTI, 5.13 */
	bool cqe_skip;			/* IOSQE_CQE_SKIP_SUCCESS, 5.17 */
	bool accept_direct_alloc;	/* IORING_FILE_INDEX_ALLOC, 5.19 */
	bool ring_fd;			/* registered ring fd, 5.18 */
	unsigned int kver;		/* KVER(major, minor) */
};

#define KVER(a, b)	((a) << 8 | (b))

extern struct uring_caps uring_caps;

/* 0 when io_uring works here, else -errno (ENOSYS, EPERM, ...) */
int uring_probe(void);
void uring_log_caps(void);

/* A chunk of received bytes, one per provided buffer id. */
struct chunk {
	uint32_t len, off;
	int32_t next;
	uint16_t zc_refs;	/* zero-copy notifications outstanding */
	uint8_t queued;		/* still on a direction's queue */
};

struct accept_slot {
	struct sockaddr_storage ss;
	socklen_t len;
	bool busy;
	bool direct;		/* into the fixed file table */
};

#define ACCEPT_BATCH	8	/* accepts in flight per listener */

/*
 * Accept clients into direct descriptors (--direct-descriptors, off by
 * default)? They save an fd table entry and an fget/fput per request,
 * but a direct descriptor can be shut down only with IORING_OP_SHUTDOWN,
 * which the kernel always runs on io-wq, taking the ring's lock there:
 * every half-close (and, before 6.13, every close) becomes a hand-off to
 * another thread that contends with this one. Under connection churn
 * (bench.sh close workload) plain descriptors, shut down with the
 * syscall, cost about 20% less CPU per connection; under keep-alive the
 * two were within noise.
 */

struct hc_talk;

struct uring_worker {
	struct io_uring ring;
	struct worker *w;
	bool fixed_files;
	bool ring_fd_registered;	/* io_uring_register_ring_fd() */
	unsigned int expect;		/* CQEs the next submit will post at
					 * once (sends), see loop_wait() */
	uint8_t turn;			/* loop turns, counted at each wait */
	bool short_wait;		/* the last wait ended on its bound */
	unsigned int nfiles;

	struct accept_slot (*acc)[ACCEPT_BATCH];
	unsigned int *acc_armed;

	unsigned int min_connect_ms;	/* shortest connect timeout */
	struct __kernel_timespec *hc_ts;	/* check timeout per backend */
	struct __kernel_timespec tick_ts;
	int *hc_fd;			/* check socket, [be * MAX_SERVERS + srv] */
	struct hc_talk **hc_talk;	/* send-expect: past its connect */
	unsigned int tick_ms;
	uint64_t wake_val;

	/* buffers data path */
	bool bufs;
	bool splice_bulk;		/* auto: bulk directions go to splice */
	struct io_uring_buf_ring *br;
	size_t br_size;
	char *slab;
	size_t slab_size;
	bool slab_registered;		/* fixed buffer 0, for send_zc */
	unsigned int nbufs, buf_size, bufs_free;
	struct chunk *chunks;

	/* SQEs the kernel would not take yet, in order (uring_sq.c) */
	struct io_uring_sqe *bl;
	unsigned int bl_len, bl_cap, bl_next;

	bool stopping;
};

/* uring_sq.c */
struct io_uring_sqe *uring_sqe(struct uring_worker *u, unsigned int need);
struct io_uring_sqe *uring_sqe_next(struct uring_worker *u);
void uring_backlog_flush(struct uring_worker *u);
void uring_backlog_free(struct uring_worker *u);
int uring_submit_wait(struct uring_worker *u, unsigned int wait_nr,
		      unsigned int timeout_us);
int bufring_setup(struct uring_worker *u);
void bufring_teardown(struct uring_worker *u);
void bufring_recycle(struct uring_worker *u, unsigned int bid);

/* engine_uring.c: shared by the two data paths */
void uring_conn_close(struct uring_worker *u, struct conn *c, const char *why);
void uring_dir_finish(struct uring_worker *u, struct conn *c, int d);
void uring_sqe_fd(struct uring_worker *u, struct io_uring_sqe *sqe,
		  struct conn *c, int side);
void uring_sqe_ud(struct io_uring_sqe *sqe, struct conn *c, enum ud_op op,
		  int d, uint16_t aux);

/*
 * forward_copy.c: the reserve of both paths. A direction moves one
 * private buffer of bytes (recv, send, give it back), then the path
 * resumes it: splice_resume() / buffers_resume().
 */
void copy_start(struct uring_worker *u, struct conn *c, int d);
void copy_cqe(struct uring_worker *u, struct conn *c, enum ud_op op,
	      int d, struct io_uring_cqe *cqe);
void copy_release(struct uring_worker *u, struct conn *c);

/* forward_splice.c */
void splice_start(struct uring_worker *u, struct conn *c, int d);
void splice_resume(struct uring_worker *u, struct conn *c, int d);
/* does direction @d of @c move by splice (the worker's path, or auto)? */
static inline bool dir_spliced(struct uring_worker *u, struct conn *c, int d)
{
	return !u->bufs || (c->dir[d].flags & DIR_SPLICE);
}
void splice_cqe(struct uring_worker *u, struct conn *c, enum ud_op op,
		int d, struct io_uring_cqe *cqe);
void splice_release(struct uring_worker *u, struct conn *c);

/* forward_buffers.c */
void buffers_start(struct uring_worker *u, struct conn *c, int d);
void buffers_cqe(struct uring_worker *u, struct conn *c, enum ud_op op,
		 int d, struct io_uring_cqe *cqe);
void buffers_release(struct uring_worker *u, struct conn *c);
void buffers_resume(struct uring_worker *u, struct conn *c, int d);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The one place that owns the io_uring user_data encoding.
 *
 *   63        48 47        32 31                 8 7 6 5 4        0
 *  +------------+------------+--------------------+---+-+----------+
 *  | generation |    aux     |   index (24 bits)  | 0 |d|    op    |
 *  +------------+------------+--------------------+---+-+----------+
 *
 * op     what the SQE was (enum ud_op), so one switch dispatches CQEs
 * d      direction for per-direction ops (DIR_UP / DIR_DOWN)
 * index  connection index in the worker's table; for UD_ACCEPT the
 *        listener index; unused for worker-level ops
 * aux    UD_ACCEPT: accept slot; otherwise free
 * gen    the connection's generation when the SQE was queued; a CQE
 *        whose generation differs from the slot's is a bug, caught by
 *        an assertion rather than silently touching another connection
 *
 * Connections are never freed while they have SQEs in flight
 * (conn->inflight), so index + generation is always resolvable.
 */
#ifndef RINGLB_USERDATA_H
#define RINGLB_USERDATA_H

#include <stdint.h>

enum ud_op {
	UD_NONE,
	UD_ACCEPT,	/* listener accept, single shot per slot */
	UD_CONNECT,	/* backend connect; its timeout comes from the tick */
	UD_POLL_IN,	/* splice: wait until the source is readable */
	UD_POLL_OUT,	/* wait until the destination is writable */
	UD_SPLICE_IN,	/* splice: socket -> pipe */
	UD_SPLICE_OUT,	/* splice: pipe -> socket */
	UD_PUMP,	/* splice: a NOP, the direction's next turn */
	UD_RECV,	/* buffers: multishot recv into the buffer ring */
	UD_SEND,	/* buffers: send of one chunk (plain or zero-copy) */
	UD_COPY_IN,	/* reserve: recv into the direction's own buffer */
	UD_COPY_OUT,	/* reserve: send from it */
	UD_SHUTDOWN,	/* half-close towards the destination */
	UD_CLOSE,	/* close of a socket */
	UD_CANCEL,	/* async cancel of one of our own requests */
	UD_TICK,	/* periodic timer: idle timeouts, drain grace */
	UD_WAKE,	/* eventfd read: the main thread wants attention */
	UD_HEALTH,	/* health check connect; index = HC_IDX(be, srv) */
	UD_HEALTH_TIMEOUT,
	UD_HEALTH_IN,	/* send-expect: the check's answer is readable */
	UD_INSPECT,	/* accept-proxy: poll until the client is readable */
	UD_MAX,
};

#define UD_OP_BITS	5
#define UD_DIR_SHIFT	5
#define UD_IDX_SHIFT	8
#define UD_IDX_MASK	0xffffffu
#define UD_AUX_SHIFT	32
#define UD_GEN_SHIFT	48

static inline uint64_t ud_pack(enum ud_op op, unsigned int dir,
			       uint32_t idx, uint16_t aux, uint16_t gen)
{
	return (uint64_t)op | (uint64_t)(dir & 1) << UD_DIR_SHIFT |
	       (uint64_t)(idx & UD_IDX_MASK) << UD_IDX_SHIFT |
	       (uint64_t)aux << UD_AUX_SHIFT | (uint64_t)gen << UD_GEN_SHIFT;
}

static inline enum ud_op ud_op(uint64_t ud)
{
	return (enum ud_op)(ud & ((1u << UD_OP_BITS) - 1));
}

static inline unsigned int ud_dir(uint64_t ud)
{
	return (ud >> UD_DIR_SHIFT) & 1;
}

static inline uint32_t ud_idx(uint64_t ud)
{
	return (ud >> UD_IDX_SHIFT) & UD_IDX_MASK;
}

static inline uint16_t ud_aux(uint64_t ud)
{
	return (uint16_t)(ud >> UD_AUX_SHIFT);
}

static inline uint16_t ud_gen(uint64_t ud)
{
	return (uint16_t)(ud >> UD_GEN_SHIFT);
}

#endif

/* SPDX-License-Identifier: MIT */
/*
 * A proxied connection: a client socket, a server socket, and two
 * directions of bytes between them. Both engines share this struct; the
 * engine-specific parts are small and live in the per-direction state.
 *
 * Lifecycle (see Documentation/design.rst):
 *   CONN_INSPECT     client accepted on a listener that wants a PROXY
 *                    header or a TLS ClientHello read first
 *                    (inspect.c); then CONN_CONNECTING
 *   CONN_WAIT        client accepted, no connect in flight: parked until
 *                    c->retry_at, after a local error (no descriptor
 *                    left for the server socket: accepts pause
 *                    meanwhile; EAGAIN, EADDRNOTAVAIL, ENOBUFS...) or
 *                    between retries of failed servers; then
 *                    CONN_CONNECTING
 *   CONN_CONNECTING  client accepted, backend connect in flight
 *   CONN_FORWARDING  both directions move bytes; each ends on EOF with a
 *                    shutdown(SHUT_WR) of its destination
 *   CONN_CLOSING     both sockets closed or closing; the slot is freed
 *                    when the last SQE that names it has completed
 *   CONN_FREE        on the worker's free list
 */
#ifndef RINGLB_CONN_H
#define RINGLB_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "balance.h"

enum conn_state {
	CONN_FREE,
	CONN_INSPECT,
	CONN_WAIT,
	CONN_CONNECTING,
	CONN_FORWARDING,
	CONN_CLOSING,
};

/* Sides of a connection, and the two directions between them. */
enum { SIDE_CLIENT = 0, SIDE_SERVER = 1, SIDE_MAX = 2 };
enum { DIR_UP = 0, DIR_DOWN = 1 };	/* UP: client -> server */

static inline int dir_src(int d) { return d == DIR_UP ? SIDE_CLIENT : SIDE_SERVER; }
static inline int dir_dst(int d) { return d == DIR_UP ? SIDE_SERVER : SIDE_CLIENT; }

/* struct dir.flags */
#define DIR_EOF		0x01	/* the source sent EOF (or failed) */
#define DIR_DONE	0x02	/* destination shut down: direction over */
#define DIR_RECV_ARMED	0x04	/* uring buffers: multishot recv pending */
#define DIR_SEND_BUSY	0x08	/* a send/splice-out/poll-out is in flight */
#define DIR_IN_BUSY	0x10	/* uring splice: its poll-in is armed */
#define DIR_STARVED	0x20	/* uring buffers: the ring ran dry under it */
#define DIR_CANCELING	0x40	/* uring buffers: recv cancel in flight */
#define DIR_DRAINED	0x80	/* uring splice: last splice-in read the socket dry */
#define DIR_THROTTLED	0x100	/* uring buffers: hoarding while buffers ran low: single-shot recvs until drained */
#define DIR_COPY	0x200	/* uring: moving bytes through dir->buf (copy.c) */
#define DIR_PUMP_LATER	0x400	/* uring splice: a NOP brings its next turn */
#define DIR_SRC_HUP	0x800	/* uring splice: the source's poll saw its end */
#define DIR_SPLICE	0x1000	/* uring auto: this direction went to splice */
#define DIR_TO_SPLICE	0x2000	/* uring auto: going there, once drained */
#define DIR_SEND_SLOW	0x4000	/* uring buffers: a send outlived its enter: not in u->expect */

struct pipe_pair;
struct pp_state;

struct dir {
	uint64_t bytes;
	uint32_t flags;
	/* splice: a pipe from the worker's pool while bytes are in it */
	struct pipe_pair *pipe;
	uint32_t pipe_bytes;
	/* uring buffers: chunks received and not yet sent, by buffer id */
	int32_t qhead, qtail;
	uint32_t qlen;
	uint32_t zc_pending;	/* zero-copy notifications outstanding */
	/*
	 * A private buffer from the worker's pool while bytes are in it:
	 * the epoll buffers path, and the reserve of every other path
	 * (an empty buffer ring, no descriptor left for a pipe)
	 */
	char *buf;
	uint32_t buf_len, buf_off;
	uint8_t d;			/* DIR_UP or DIR_DOWN: index in conn */
	uint8_t full_run;		/* uring auto: full buffers in a row */
	uint8_t send_turn;		/* uring buffers: loop turn its send was queued in */
};

struct conn {
	uint32_t idx;
	uint16_t gen;
	uint8_t state;
	uint8_t closing_fds;
	int fd[2];		/* by side; -1 once closed */
	bool fixed[2];		/* io_uring direct descriptor */
	bool src_held;		/* counted in the listener's sources */
	bool wait_fd;		/* CONN_WAIT for a descriptor: accepts pause */
	bool ka_set;		/* keepalive on the server socket */
	bool established;	/* the server's connect completed */
	uint8_t retries;	/* rounds over the servers after the first */
	uint8_t local_retries;	/* after local connect errors */
	uint32_t inflight;	/* SQEs in flight that name this conn */
	uint32_t ev[2];		/* epoll: registered event masks by side */
	struct dir dir[2];

	unsigned int listener;
	int server;		/* index in the backend, -1 before a pick */
	struct server_set tried;
	struct sockaddr_storage client;
	socklen_t client_len;
	const char *end;	/* why it ended, for the access line */
	struct pp_state *pp;	/* accept-proxy, sni-backend: inspection */
	struct backend *be;	/* sni-backend's pick; NULL: the listener's */
	const struct srv_addr *sa;	/* the server's address it connects to */

	/* ms, worker clock: accepted, last byte moved either way */
	uint64_t t_start, t_last;
	uint64_t t_side[SIDE_MAX];	/* last byte from or to each side */
	uint64_t t_wait[2];		/* per direction: bytes wait for the
					 * destination, unmoved since (0: none) */
	uint64_t retry_at;		/* CONN_WAIT: connect again at */
	uint64_t t_connect;		/* the last connect started */
	int64_t t_connected;		/* ms that connect took; -1: none */
	uint8_t attempts;		/* connects started */
	uint32_t outq[SIDE_MAX];	/* kernel send queue when last seen */
	struct conn *lru_prev, *lru_next;
	struct conn *free_next;
};

static inline struct conn *dir_conn(struct dir *dir)
{
	return (struct conn *)((char *)(dir - dir->d) -
			       __builtin_offsetof(struct conn, dir));
}

#endif

/* SPDX-License-Identifier: MIT */
/*
 * A worker: one thread, one engine instance (one io_uring ring or one
 * epoll set, never shared), its own SO_REUSEPORT listening sockets, its
 * own connection table, pipe pool and balancer state. Workers share only
 * the configuration and the per-server atomics.
 */
#ifndef RINGLB_WORKER_H
#define RINGLB_WORKER_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "balance.h"
#include "config.h"
#include "conn.h"
#include "stats.h"

struct worker;

/* The engine interface: uring and epoll fill one each. */
struct engine {
	const char *name;
	int (*run)(struct worker *w);	/* until stopped; 0 or -errno */
};

extern const struct engine engine_uring;
extern const struct engine engine_epoll;

struct pipe_pair {
	int rd, wr;
	struct pipe_pair *next;
};

#define CONN_CHUNK	1024	/* connections allocated at a time */

struct worker {
	unsigned int id;
	unsigned int transparent_warned;	/* said once per worker */
	pthread_t thread;
	const struct config *cfg;
	const struct engine *engine;
	enum forward_kind forward;	/* resolved: splice or buffers */

	int wake_fd;			/* eventfd: main -> worker */
	atomic_int stop;		/* nonzero: stop accepting, drain */
	atomic_int drain_ms;		/* drain bound, set before stop;
					 * < 0: none (worker_start_drain) */
	atomic_bool hold;		/* main: no accepts yet */
	atomic_bool accepts_gone;	/* draining, no accept left */
	bool draining;
	uint64_t drain_deadline;

	int *lfd;			/* listening socket per config sock */
	unsigned int capacity;		/* max conns for this worker, 0 = any */
	unsigned int active;		/* conns not CONN_FREE */
	unsigned int accepting;		/* accepts in flight (uring) */
	uint64_t accept_pause_until;	/* out of fds: no accepts before */
	unsigned int accept_starved;	/* refused accepts this episode */
	uint64_t accept_refused_ms;	/* when the last one was refused */
	unsigned int fdwait;		/* in CONN_WAIT for a descriptor */
	unsigned int waiting;		/* in CONN_WAIT, for any reason */
	unsigned int *ln_used;		/* per listener: conns + accepts */
	unsigned int *ln_cap;		/* per listener share, 0 = any */
	bool health;			/* this worker runs health checks */
	unsigned int min_timeout_ms;	/* smallest client/server/write/idle
					 * timeout: how often to look */
	uint64_t next_expiry_scan;

	struct balancer *bal;		/* one per backend */

	struct conn **chunks;		/* connection table */
	unsigned int nchunks, max_chunks;
	struct conn *free_conns;
	struct conn lru;		/* sentinel: least recently active first */

	struct pipe_pair *free_pipes;
	unsigned int nfree_pipes;
	char **free_bufs;		/* private buffers kept for reuse */
	unsigned int nfree_bufs;

	uint64_t now_ms;
	struct worker_stats stats;
	int exit_status;
	atomic_bool exited;
	void *priv;			/* engine state */
	int tid;
	/*
	 * uring: the ring's descriptor while the worker runs, else -1. The
	 * metrics match it with the fd column of uringstat's rings file.
	 */
	atomic_int ring_fd;

	/*
	 * Requests from the control plane, answered at the worker's next
	 * wake-up (its eventfd): today "list your connections".
	 */
	pthread_mutex_t req_lock;
	atomic_int req;			/* WREQ_* */
	char *req_out;
	size_t req_len;
	bool req_done;
};

#define WREQ_NONE	0
#define WREQ_CONNS	1

void worker_serve_request(struct worker *w);
/*
 * From the control plane, which must never wait for a worker: post a
 * request (0, -EAGAIN to try again later, -ESRCH when the worker is
 * gone), then poll for the answer: 0 with a malloc'd *@out (the caller
 * frees it; NULL when the worker had no memory), -EAGAIN not yet,
 * -ESRCH when the worker exited without answering.
 */
int worker_request_post(struct worker *w, int req);
int worker_request_poll(struct worker *w, char **out, size_t *len);
void worker_wake(struct worker *w);

uint64_t clock_ms(void);

int worker_setup(struct worker *w);
void worker_teardown(struct worker *w);

struct conn *conn_alloc(struct worker *w, unsigned int sock);
/*
 * Out of descriptors or memory at accept (-EMFILE, -ENFILE, -ENOBUFS,
 * -ENOMEM): true when the engine should pause accepting until
 * w->accept_pause_until rather than retry at once.
 */
bool worker_accept_starved(struct worker *w, unsigned int sock, int err);
/*
 * Connecting, shared by the engines. conn_next_socket() picks the next
 * server for @c and makes its socket: the fd (c->server set), or
 * CONNECT_PARKED when @c now waits in CONN_WAIT (out of descriptors,
 * a local error, or a backoff before the next round over the servers:
 * worker_resume_waiting() calls the engine back), or CONNECT_GIVE_UP
 * (close it; c->end says why). After a failed connect,
 * conn_connect_failed() does the accounting and returns 0 (call
 * conn_next_socket() again now), CONNECT_PARKED or CONNECT_GIVE_UP.
 */
#define CONNECT_PARKED	(-EINPROGRESS)
#define CONNECT_GIVE_UP	(-ENOENT)
int conn_next_socket(struct worker *w, struct conn *c, bool nonblock);
int conn_connect_failed(struct worker *w, struct conn *c, int err);
void conn_connected(struct worker *w, struct conn *c);
/* @c leaves CONN_WAIT (being closed): no-op in any other state */
void conn_unpark(struct worker *w, struct conn *c);

/*
 * 0, or -EACCES (allow/deny), -EBUSY (per-source limit) or -EAGAIN
 * (per-source rate): close it with conn_admit_end(err)
 */
int conn_admit(struct worker *w, struct conn *c);
const char *conn_admit_end(int err);
void conn_free(struct worker *w, struct conn *c);
struct conn *conn_lookup(struct worker *w, uint32_t idx);
void conn_touch(struct worker *w, struct conn *c);
/* bytes of direction @d came in from its source */
void conn_rx(struct worker *w, struct conn *c, int d);
/* @n bytes of direction @d went out; @more: some still wait to go */
void conn_tx(struct worker *w, struct conn *c, int d, size_t n, bool more);
/*
 * The engines' tick, the part they share: @end every connection whose
 * timeouts ran out (client, server, write or idle; looked at every
 * min_timeout_ms / 8), @connect the parked ones whose time came
 * (oldest first), end an accept-refusal episode, sweep the per-source
 * tables.
 */
void worker_tick(struct worker *w,
		 void (*end)(struct worker *w, struct conn *c, const char *why),
		 void (*connect)(struct worker *w, struct conn *c));
/* private buffers of cfg->buf_size, from the worker's own pool */
char *buf_get(struct worker *w);
void buf_put(struct worker *w, char *b);
void conn_set_end(struct conn *c, const char *why);
void conn_log_access(struct worker *w, struct conn *c);
const char *conn_reset_reason(int side);
/*
 * When @why says one side reset the connection, make the close of the
 * other side send RST too (SO_LINGER 0), so its peer learns the stream
 * was cut rather than seeing a clean end. Plain descriptors only: a
 * direct one has no setsockopt before 6.7's uring_cmd, and gets a FIN.
 * Call before closing.
 */
void conn_pass_reset(struct conn *c, const char *why);
int conn_pick_server(struct worker *w, struct conn *c);
void conn_server_released(struct worker *w, struct conn *c);
struct backend *conn_backend(struct worker *w, struct conn *c);

/* a pipe for @c's splices; NULL when out of fds (accepts pause) */
struct pipe_pair *pipe_get(struct worker *w, struct conn *c);
void pipe_put(struct worker *w, struct pipe_pair *p);
void pipe_pool_drain(struct worker *w);

struct inherit;
int worker_listen(struct worker *w, const struct worker *old,
		  struct inherit *inh);
int listen_socket(const struct listen_sock *ls);
void worker_close_listeners(struct worker *w);
bool worker_start_drain(struct worker *w);
bool worker_can_accept(struct worker *w, unsigned int sock);
void worker_reserve(struct worker *w, unsigned int sock);
void worker_unreserve(struct worker *w, unsigned int sock);
struct listener *conn_listener(struct worker *w, struct conn *c);
int conn_proxy_header(struct worker *w, struct conn *c);
/* TCP keepalive probes after @idle_s seconds of silence; 0: off */
void sock_keepalive(int fd, int idle_s);

/* classify a negative result: true when the request should just retry */
static inline bool err_is_transient(int err)
{
	return err == -EAGAIN || err == -EINTR || err == -ENOBUFS;
}

#endif

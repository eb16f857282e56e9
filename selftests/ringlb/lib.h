/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the ringlb selftests: seeded random streams and their
 * FNV-1a hashes, a non-blocking "flow" that sends one stream and hashes
 * the other, in-process backend servers, and a wrapper that runs the
 * daemon under test with its stderr in a file.
 *
 * Nothing here knows about the kselftest harness: functions return 0 or
 * -errno and the tests turn that into ASSERT_/EXPECT_ with context.
 */
#ifndef RINGLB_SELFTEST_LIB_H
#define RINGLB_SELFTEST_LIB_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MIB		(1024ULL * 1024)

/* ---- time and environment ------------------------------------------ */

uint64_t now_ms(void);
void sleep_ms(unsigned int ms);
/* RINGLB_TEST_QUICK=1: small payloads, for QEMU TCG */
bool test_quick(void);
/*
 * Upper bounds on timings get this much slack on top of the contract's
 * figure: sanitizers and TCG make everything slower, never faster.
 */
unsigned int slack_ms(void);
/* the daemon under test: $RINGLB, else ./ringlb beside the test binary */
const char *ringlb_path(void);

/* ---- streams ------------------------------------------------------- */

/*
 * A stream is the output of splitmix64 seeded with @seed, taken 8 bytes
 * at a time: generated in any chunking, it is the same byte sequence, so
 * both ends can agree on its hash without ever exchanging it.
 */
struct prng {
	uint64_t s;
};

void prng_init(struct prng *p, uint64_t seed);
/* @len must be a multiple of 8 except for the last chunk of a stream */
void prng_fill(struct prng *p, uint8_t *buf, size_t len);

#define FNV_OFFSET	0xcbf29ce484222325ULL
#define FNV_PRIME	0x100000001b3ULL
uint64_t fnv1a(uint64_t h, const uint8_t *buf, size_t len);
uint64_t stream_hash(uint64_t seed, uint64_t len);

/* ---- what a client tells a backend --------------------------------- */

#define WIRE_MAGIC	0x524e4c42u	/* "RNLB" */

enum be_mode {
	/* send the down stream at once, hash the up stream until EOF */
	BE_DUPLEX = 1,
	/* hash the up stream until EOF, only then send the down stream */
	BE_AFTER_EOF = 2,
	/* send half the down stream, then reset the connection (no FIN) */
	BE_RESET = 3,
};

/* sent by the client before its up stream; not part of the hash */
struct wire_hdr {
	uint32_t magic;
	uint32_t mode;
	uint32_t id;
	uint32_t pad;
	uint64_t seed;		/* of the down stream */
	uint64_t len;		/* of the down stream */
};

/* ---- flows --------------------------------------------------------- */

#define FLOW_CHUNK	(32 * 1024)

/*
 * One end of a TCP connection: optionally a prefix (the wire header),
 * then @tx_len bytes of stream @tx_seed, then shutdown(SHUT_WR); and in
 * parallel every byte received is hashed until EOF.
 */
struct flow {
	int fd;
	uint32_t events;	/* what epoll watches now */
	bool registered;

	uint8_t pre[sizeof(struct wire_hdr)];
	size_t pre_len, pre_off;

	uint64_t tx_seed, tx_len, tx_sent;
	uint64_t tx_pause_at;	/* send nothing past this offset */
	bool tx_after_eof;	/* payload waits for the peer's EOF */
	bool no_shut;		/* keep the write side open when done */
	bool tx_shut;
	struct prng rng;
	uint8_t *txbuf;
	size_t tx_off, tx_fill;

	uint64_t rx_bytes, rx_hash;
	/* read nothing past this offset (nor see the peer's end) */
	uint64_t rx_pause_at;
	bool rx_eof;
	uint64_t t_rx_first, t_rx_eof;	/* now_ms() stamps */

	int err;		/* -errno that ended the flow, 0 if none */
	void *priv;
};

void flow_init(struct flow *f, int fd);
/* a client of backend mode @mode; the down stream is (@seed_dn, @len_dn) */
void flow_init_client(struct flow *f, int fd, uint32_t id, enum be_mode mode,
		      uint64_t seed_up, uint64_t len_up,
		      uint64_t seed_dn, uint64_t len_dn);
bool flow_tx_done(const struct flow *f);
bool flow_done(const struct flow *f);
void flow_close(struct flow *f);
/*
 * Do what can be done without blocking. Returns true when the flow has
 * nothing left to do (finished or failed: see f->err).
 */
bool flow_step(struct flow *f);

/*
 * Drive @n flows until all are done, @stop returns true, or @timeout_ms
 * passes. Returns 0 when all are done or @stop said so, -ETIMEDOUT, or
 * -errno of the first failing flow.
 */
int flows_run(struct flow **fl, int n, int timeout_ms,
	      bool (*stop)(struct flow **fl, int n, void *arg), void *arg);

/* ---- backends ------------------------------------------------------ */

#define MAX_IDS		4096

struct be_result {
	bool done;
	int server;		/* which backend served it */
	uint64_t rx_bytes, rx_hash;
	int err;
};

/* what every backend of one test reports into, indexed by wire_hdr.id */
struct results {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct be_result r[MAX_IDS];
};

void results_init(struct results *res);
/* 0 and *out filled, or -ETIMEDOUT */
int results_wait(struct results *res, uint32_t id, int timeout_ms,
		 struct be_result *out);

struct backend {
	int idx;
	int family;
	int lfd;
	int stopfd;
	uint16_t port;
	char addr[64];		/* ADDR:PORT as ringlb's -b wants it */
	pthread_t thr;
	bool running;
	struct results *res;

	atomic_int accepted;	/* connections accepted */
	atomic_int active;	/* open now */
	atomic_int max_active;
	atomic_int probes;	/* closed before sending a header */
	atomic_int served;	/* finished with a header */
};

int backend_start(struct backend *be, int idx, int family,
		  struct results *res);
void backend_stop(struct backend *be);
/* wait until @be has exactly @n open connections */
int backend_wait_active(struct backend *be, int n, int timeout_ms);

/* ---- sockets ------------------------------------------------------- */

/* the loopback address of @family as ringlb spells it, with @port */
void fmt_addr(char *buf, size_t len, int family, uint16_t port);
int loopback_sockaddr(int family, uint16_t port, void *ss, socklen_t *len);
/* a port of loopback nobody listens on; kept bound so it stays so */
int reserve_port(int family, uint16_t *port);
int free_port(int family, uint16_t *port);
/* blocking connect to loopback:@port, -errno on failure */
int tcp_connect(int family, uint16_t port);
/*
 * GET @path from 127.0.0.1:@port, the whole exchange bounded by
 * @timeout_ms: the HTTP status, the body (cut to @size) in @body; or
 * -errno (-EMSGSIZE: the body is not Content-Length long; -ETIMEDOUT:
 * no end in time or more than 1 MiB).
 */
int rl_http_get(uint16_t port, const char *path, char *body, size_t size,
		int timeout_ms);
int set_nonblock(int fd);
uint16_t local_port(int fd);
/* wait up to @timeout_ms for EOF; 0 on FIN, -ECONNRESET, -ETIMEDOUT... */
int wait_eof(int fd, int timeout_ms, uint64_t *bytes);

/* ---- namespaces and firewalls ------------------------------------- */

/* a network namespace of our own, with lo up; -errno when not allowed */
int enter_netns(void);
bool family_supported(int family);
/* 0 when io_uring_setup works here, else -errno */
int probe_io_uring(void);

/*
 * Make SYNs to loopback:@port vanish: with nft when it is installed,
 * else by listening with a full accept queue (the kernel then drops
 * SYNs silently, which is what a blackholed host looks like). @how
 * names the method used; @fds gets the sockets to close afterwards.
 */
int blackhole_port(int family, uint16_t *port, const char **how, int fds[2]);
/* check that a connect to @port neither completes nor fails in @ms */
bool port_is_blackholed(int family, uint16_t port, int ms);

/* ---- the daemon under test ----------------------------------------- */

#define RL_MAX_ARGS	64

struct rl_proc {
	pid_t pid;
	char logpath[PATH_MAX];
	bool reaped;
	int status;		/* from waitpid() once reaped */
};

/*
 * fork+exec ringlb with @argv (argv[0] is filled in), stderr and stdout
 * to a temporary file. @no_uring installs a seccomp filter that fails
 * io_uring_setup() with EPERM in the child before exec.
 */
/*
 * Reset @p and open its log file (mode 0600, $TMPDIR or /tmp, close on
 * exec), for a daemon about to be started: the fd, or -errno.
 */
int rl_log_open(struct rl_proc *p);
int rl_spawn(struct rl_proc *p, const char **argv, bool no_uring);
/* 0 when it exited (p->status set), -ETIMEDOUT when still running */
int rl_wait_exit(struct rl_proc *p, int timeout_ms);
bool rl_alive(struct rl_proc *p);
/*
 * SIGTERM, then SIGKILL if it is still there after @grace_ms. Returns 0
 * when it exited by itself after SIGTERM.
 */
int rl_stop(struct rl_proc *p, int grace_ms);
void rl_cleanup(struct rl_proc *p);
/* the whole stderr so far, NUL-terminated; free() it */
char *rl_log(struct rl_proc *p);
bool rl_log_has(struct rl_proc *p, const char *needle);
int rl_log_count(struct rl_proc *p, const char *needle);
int rl_log_wait(struct rl_proc *p, const char *needle, int count,
		int timeout_ms);
/*
 * Poll-connect to loopback:@port until it accepts. Each successful probe
 * is a real connection through the proxy, counted in *@probes.
 */
int rl_wait_ready(struct rl_proc *p, int family, uint16_t port,
		  int timeout_ms, int *probes);
/* the first line containing @needle, or NULL; free() it */
char *rl_log_line(struct rl_proc *p, const char *needle);

struct access_line {
	uint16_t client_port;
	char server[64];
	uint64_t up, down, ms;
	char end[32];
};

/* the access line of the client whose local port is @port */
int rl_access(struct rl_proc *p, uint16_t port, int timeout_ms,
	      struct access_line *out);

struct stats_line {
	uint64_t conns, bytes_up, bytes_down;
};

/* ask for a stats line with SIGUSR1 and parse it */
int rl_stats(struct rl_proc *p, int timeout_ms, struct stats_line *out);
/* descriptors @pid holds open now, or -errno */
int proc_fds(pid_t pid);
/* ask for a stats line with SIGUSR1: the counter @key of it */
int rl_stat(struct rl_proc *p, const char *key, uint64_t *out,
	    int timeout_ms);
/* value of key= in @line, -ENOENT when absent */
int kv_u64(const char *line, const char *key, uint64_t *out);
int kv_str(const char *line, const char *key, char *buf, size_t len);

/* sanitizer or crash reports in the log: the offending line, or NULL */
char *rl_log_trouble(struct rl_proc *p);

#endif

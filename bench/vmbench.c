// SPDX-License-Identifier: MIT
/*
 * vmbench: the cost of uringstat, inside a test VM.
 *
 * Starts an echo backend (threads), ringlb in front of it, then runs three
 * phases of a fixed amount of work each, timed:
 *   nop   NOPS io_uring NOPs, 64 per io_uring_enter (no ringlb): NOPs/s
 *   rr    CONNS connections through ringlb, each doing REQS 64-byte
 *         request/responses: requests/s
 *   bulk  one connection through ringlb streaming MIB MiB in 64 KiB
 *         writes, echoed back: MB/s
 * and prints one line
 *   vmbench nop=R rr=R bulk=R nops=N reqs=N bytes=N
 * The VM's init runs it with the module unloaded and loaded, alternately,
 * in the same boot (selftests/vm/init.sh, `make vmbench`).
 *
 * Each run starts with a marker and each phase is bracketed by two:
 * `nopl disp32(%rax)` instructions whose displacement 0x524c0000 | ID the
 * icount QEMU plugin (bench/icount-plugin.c) recognises (ID 0: a run
 * starts; PHASE << 1 | END). The plugin logs the guest's instruction
 * count at each, in the order they ran, so the report can give
 * instructions per NOP, per request and per MiB of the k-th run: a figure
 * that does not swing with the host's load as the rates do. Only the
 * phase's work lies between its markers (connections are made and
 * threads started before, and wait at a barrier). Static, no liburing.
 *
 * usage: vmbench [-c CONNS] [-n REQS] [-m MIB] [-o NOPS]
 *                RINGLB [ringlb args...]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int listen_any(unsigned short *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 512) ||
	    getsockname(fd, (struct sockaddr *)&a, &len)) {
		close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

static int connect_to(unsigned short port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

static void *echo_conn(void *arg)
{
	int fd = (int)(long)arg;
	char buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		ssize_t off = 0;

		while (off < n) {
			ssize_t w = write(fd, buf + off, n - off);

			if (w <= 0)
				goto out;
			off += w;
		}
	}
out:
	close(fd);
	return NULL;
}

static void *echo_server(void *arg)
{
	int lfd = (int)(long)arg;

	for (;;) {
		int fd = accept(lfd, NULL, NULL), one = 1;
		pthread_t t;

		if (fd < 0)
			continue;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (pthread_create(&t, NULL, echo_conn, (void *)(long)fd))
			close(fd);
		else
			pthread_detach(t);
	}
	return NULL;
}

static unsigned short proxy_port;

enum { MARK_RUN = 0, PHASE_NOP = 1, PHASE_RR = 2, PHASE_BULK = 3 };

/*
 * The icount plugin's marker: a NOP that carries its ID in the
 * displacement. The ID has to be an immediate, hence a macro.
 */
#define MARK_INSN(id) \
	asm volatile(".byte 0x0f, 0x1f, 0x80; .long %c0" :: "i"(id) : "memory")

static void mark(unsigned int phase, int end)
{
	/* one instruction per phase and edge: the ID is baked in */
	switch ((phase << 1 | end) & 7) {
	case MARK_RUN:			MARK_INSN(0x524c0000 | MARK_RUN); break;
	case PHASE_NOP << 1:		MARK_INSN(0x524c0000 | PHASE_NOP << 1); break;
	case PHASE_NOP << 1 | 1:	MARK_INSN(0x524c0000 | PHASE_NOP << 1 | 1); break;
	case PHASE_RR << 1:		MARK_INSN(0x524c0000 | PHASE_RR << 1); break;
	case PHASE_RR << 1 | 1:		MARK_INSN(0x524c0000 | PHASE_RR << 1 | 1); break;
	case PHASE_BULK << 1:		MARK_INSN(0x524c0000 | PHASE_BULK << 1); break;
	case PHASE_BULK << 1 | 1:	MARK_INSN(0x524c0000 | PHASE_BULK << 1 | 1); break;
	}
}

/* ---- nop: io_uring NOPs on a ring of our own, raw system calls ---- */

struct raw_ring {
	int fd;
	unsigned int *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
};

static int raw_ring_init(struct raw_ring *r, unsigned int entries)
{
	struct io_uring_params p;
	void *sq, *cq;

	memset(&p, 0, sizeof(p));
	r->fd = syscall(__NR_io_uring_setup, entries, &p);
	if (r->fd < 0)
		return -errno;
	sq = mmap(NULL, p.sq_off.array + p.sq_entries * sizeof(unsigned int),
		  PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
		  IORING_OFF_SQ_RING);
	cq = mmap(NULL, p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe),
		  PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
		  IORING_OFF_CQ_RING);
	r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe),
		       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
		       IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || r->sqes == MAP_FAILED)
		return -ENOMEM;
	r->sq_tail = (unsigned int *)((char *)sq + p.sq_off.tail);
	r->sq_mask = (unsigned int *)((char *)sq + p.sq_off.ring_mask);
	r->sq_array = (unsigned int *)((char *)sq + p.sq_off.array);
	r->cq_head = (unsigned int *)((char *)cq + p.cq_off.head);
	r->cq_tail = (unsigned int *)((char *)cq + p.cq_off.tail);
	r->cq_mask = (unsigned int *)((char *)cq + p.cq_off.ring_mask);
	return 0;
}

/* NOPS NOPs, up to BATCH per enter; returns the NOPs completed */
static long run_nops(long nops)
{
	enum { BATCH = 64 };
	struct raw_ring r = { .fd = -1 };
	long done = 0;

	if (raw_ring_init(&r, BATCH))
		return -1;
	mark(PHASE_NOP, 0);
	while (done < nops) {
		unsigned int tail = *r.sq_tail, head, i;
		unsigned int n = nops - done < BATCH ? nops - done : BATCH;

		for (i = 0; i < n; i++) {
			unsigned int idx = (tail + i) & *r.sq_mask;

			memset(&r.sqes[idx], 0, sizeof(r.sqes[idx]));
			r.sqes[idx].opcode = IORING_OP_NOP;
			r.sq_array[idx] = idx;
		}
		__atomic_store_n(r.sq_tail, tail + n, __ATOMIC_RELEASE);
		if (syscall(__NR_io_uring_enter, r.fd, n, n,
			    IORING_ENTER_GETEVENTS, NULL, 0) != (long)n)
			break;
		head = *r.cq_head;
		done += __atomic_load_n(r.cq_tail, __ATOMIC_ACQUIRE) - head;
		__atomic_store_n(r.cq_head, *r.cq_tail, __ATOMIC_RELEASE);
	}
	mark(PHASE_NOP, 1);
	close(r.fd);
	return done;
}

/* ---- rr: request/response over CONNS connections through ringlb ---- */

static pthread_barrier_t rr_ready, rr_go;
static long rr_reqs;
static atomic_long rr_done;

static void *rr_client(void *arg)
{
	char buf[64];
	long n = 0;
	int fd = connect_to(proxy_port);

	(void)arg;
	memset(buf, 'r', sizeof(buf));
	pthread_barrier_wait(&rr_ready);
	pthread_barrier_wait(&rr_go);
	if (fd < 0)
		return NULL;
	for (; n < rr_reqs; n++) {
		size_t got = 0;

		if (write(fd, buf, sizeof(buf)) != sizeof(buf))
			break;
		while (got < sizeof(buf)) {
			ssize_t r = read(fd, buf + got, sizeof(buf) - got);

			if (r <= 0)
				goto out;
			got += r;
		}
	}
out:
	atomic_fetch_add(&rr_done, n);
	close(fd);
	return NULL;
}

static double run_rr(int conns, long reqs)
{
	pthread_t *cl = calloc(conns, sizeof(*cl));
	double t0;
	int i;

	if (!cl)
		return -1;
	rr_reqs = reqs;
	pthread_barrier_init(&rr_ready, NULL, conns + 1);
	pthread_barrier_init(&rr_go, NULL, conns + 1);
	for (i = 0; i < conns; i++)
		pthread_create(&cl[i], NULL, rr_client, NULL);
	pthread_barrier_wait(&rr_ready);	/* every client connected */
	mark(PHASE_RR, 0);
	t0 = now();
	pthread_barrier_wait(&rr_go);
	for (i = 0; i < conns; i++)
		pthread_join(cl[i], NULL);
	mark(PHASE_RR, 1);
	free(cl);
	return now() - t0;
}

/* ---- bulk: one stream through ringlb, echoed back ---- */

static atomic_long bulk_bytes;

static void *bulk_reader(void *arg)
{
	int fd = (int)(long)arg;
	char buf[65536];
	ssize_t r;

	while ((r = read(fd, buf, sizeof(buf))) > 0)
		atomic_fetch_add(&bulk_bytes, r);
	return NULL;
}

static double run_bulk(long bytes)
{
	static char buf[65536];
	int fd = connect_to(proxy_port);
	long sent = 0;
	pthread_t t;
	double t0;

	if (fd < 0)
		return -1;
	atomic_store(&bulk_bytes, 0);
	pthread_create(&t, NULL, bulk_reader, (void *)(long)fd);
	mark(PHASE_BULK, 0);
	t0 = now();
	while (sent < bytes) {
		ssize_t w = write(fd, buf, sizeof(buf));

		if (w <= 0)
			break;
		sent += w;
	}
	shutdown(fd, SHUT_WR);
	pthread_join(t, NULL);
	mark(PHASE_BULK, 1);
	t0 = now() - t0;
	close(fd);
	return t0;
}

static int usage(void)
{
	fprintf(stderr, "usage: vmbench [-c CONNS] [-n REQS] [-m MIB] [-o NOPS] RINGLB [ringlb args...]\n");
	return 2;
}

int main(int argc, char **argv)
{
	long reqs = 2000, mib = 64, nops = 200000, got_nops;
	double t_nop, t_rr, t_bulk;
	unsigned short be_port, pport;
	char laddr[32], baddr[32];
	int lfd, pfd, i, fd, opt, conns = 1;
	pthread_t srv;
	pid_t pid;

	while ((opt = getopt(argc, argv, "+c:n:m:o:")) != -1) {
		switch (opt) {
		case 'c': conns = atoi(optarg); break;
		case 'n': reqs = atol(optarg); break;
		case 'm': mib = atol(optarg); break;
		case 'o': nops = atol(optarg); break;
		default: return usage();
		}
	}
	if (optind >= argc || conns < 1 || reqs < 1 || mib < 1 || nops < 1)
		return usage();
	signal(SIGPIPE, SIG_IGN);
	mark(MARK_RUN, 0);

	t_nop = now();
	got_nops = run_nops(nops);
	t_nop = now() - t_nop;
	if (got_nops != nops) {
		fprintf(stderr, "vmbench: %ld of %ld NOPs completed\n", got_nops, nops);
		return 1;
	}

	lfd = listen_any(&be_port);
	/* a free port for the proxy: bind, read it, close */
	pfd = listen_any(&pport);
	if (lfd < 0 || pfd < 0)
		return 1;
	close(pfd);
	pthread_create(&srv, NULL, echo_server, (void *)(long)lfd);
	snprintf(laddr, sizeof(laddr), "127.0.0.1:%u", pport);
	snprintf(baddr, sizeof(baddr), "127.0.0.1:%u", be_port);
	pid = fork();
	if (pid == 0) {
		char *args[32] = { argv[optind], "-l", laddr, "-b", baddr,
				   "--log-level", "warning" };
		int n = 7;

		for (i = optind + 1; i < argc && n < 31; i++)
			args[n++] = argv[i];
		args[n] = NULL;
		execv(argv[optind], args);
		_exit(127);
	}
	proxy_port = pport;
	for (i = 0; i < 400; i++) {
		fd = connect_to(pport);
		if (fd >= 0) {
			close(fd);
			break;
		}
		usleep(50 * 1000);
	}
	if (i == 400) {
		fprintf(stderr, "vmbench: ringlb did not come up in 20 s\n");
		kill(pid, SIGKILL);
		return 1;
	}

	t_rr = run_rr(conns, reqs);
	t_bulk = run_bulk(mib << 20);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	if (t_rr <= 0 || t_bulk <= 0 ||
	    atomic_load(&rr_done) != conns * reqs ||
	    atomic_load(&bulk_bytes) != mib << 20) {
		fprintf(stderr, "vmbench: short run: %ld of %ld requests, %ld of %ld bytes\n",
			atomic_load(&rr_done), conns * reqs,
			atomic_load(&bulk_bytes), mib << 20);
		return 1;
	}
	printf("vmbench nop=%.0f rr=%.0f bulk=%.1f nops=%ld reqs=%ld bytes=%ld\n",
	       nops / t_nop, conns * reqs / t_rr,
	       (mib << 20) / t_bulk / 1e6, nops, conns * reqs, mib << 20);
	fflush(stdout);
	return 0;
}

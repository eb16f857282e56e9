// SPDX-License-Identifier: MIT
/*
 * floor: the least a TCP proxy can do, as a contender for the fixed-rate
 * workloads. It has no features: one thread, one listener, one backend, no
 * balancing, health, timeouts, logs or limits. Every byte read from one
 * side is sent to the other, and an EOF is passed on as a shutdown.
 *
 * It moves bytes the way ringlb's default mode does for request/response
 * traffic: an io_uring with SINGLE_ISSUER, DEFER_TASKRUN and a registered
 * ring fd; multishot accept; multishot recv from a provided buffer ring;
 * a send per received buffer; one io_uring_enter per loop, waiting for
 * one completion more than the sends it just queued (on loopback those
 * complete while they are submitted). The connect is a blocking
 * connect(2): on loopback it finishes inside the call.
 *
 * Its CPU per request, measured in the same run as the proxies, is what
 * the kernel charges any proxy built this way for the same bytes and
 * wake-ups; the distance from it to a proxy is that proxy's own cost.
 * It is a measuring instrument, not a proxy to run: a peer that never
 * reads makes it queue sends without bound, and a send that goes out in
 * parts can be overtaken by the next one. Only request/response traffic,
 * one message in flight per direction, is safe through it.
 *
 *   floor LISTEN_ADDR:PORT BACKEND_ADDR:PORT
 */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define NBUFS		4096	/* provided buffers, a power of two */
#define BUFSZ		16384
#define BGID		1
#define MAXFD		20000

enum op { OP_ACCEPT = 1, OP_RECV, OP_SEND };

/* user_data: op in the top byte, then buffer id (16 bits), then fd (32) */
#define UD(op, bid, fd)	((__u64)(op) << 56 | (__u64)(bid) << 32 | (__u32)(fd))
#define UD_OP(u)	((int)((u) >> 56))
#define UD_BID(u)	((int)(((u) >> 32) & 0xffff))
#define UD_FD(u)	((int)((u) & 0xffffffff))

struct side {
	int peer;	/* fd of the other side, -1 when not in use */
	int sends;	/* sends in flight from this side's buffers */
	char eof;	/* this side sent FIN */
	char fin_out;	/* ... and it has been passed on to the peer */
	char dead;	/* recv failed or multishot ended for good */
};

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *bufs;
static struct side sides[MAXFD];
static unsigned short buf_off[NBUFS], buf_len[NBUFS];
static struct sockaddr_in backend;
static int lfd;
static unsigned int queued;	/* sends queued since the last enter */

static struct io_uring_sqe *sqe_get(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

	if (!sqe) {
		io_uring_submit(&ring);
		sqe = io_uring_get_sqe(&ring);
	}
	return sqe;
}

static void buf_put(int bid)
{
	io_uring_buf_ring_add(br, bufs + (size_t)bid * BUFSZ, BUFSZ, bid,
			      io_uring_buf_ring_mask(NBUFS), 0);
	io_uring_buf_ring_advance(br, 1);
}

static void arm_recv(int fd)
{
	struct io_uring_sqe *sqe = sqe_get();

	io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, UD(OP_RECV, 0, fd));
}

static void send_buf(int from, int bid, unsigned int off, unsigned int len)
{
	struct io_uring_sqe *sqe = sqe_get();

	io_uring_prep_send(sqe, sides[from].peer,
			   bufs + (size_t)bid * BUFSZ + off, len, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, UD(OP_SEND, bid, from));
	buf_off[bid] = off;
	buf_len[bid] = len;
	sides[from].sends++;
	queued++;
}

/* Pass a FIN on once the bytes before it have been sent. */
static void pass_fin(int fd)
{
	struct side *s = &sides[fd];

	if (s->eof && !s->fin_out && !s->sends) {
		s->fin_out = 1;
		shutdown(s->peer, SHUT_WR);
	}
}

/* Close both sides once neither has a send or a recv outstanding. */
static void maybe_close(int fd)
{
	int peer = sides[fd].peer;

	if (peer < 0)
		return;
	if (!(sides[fd].dead && sides[peer].dead))
		return;
	if (sides[fd].sends || sides[peer].sends)
		return;
	sides[fd].peer = sides[peer].peer = -1;
	close(fd);
	close(peer);
}

static void on_accept(int res, unsigned int flags)
{
	int one = 1, sfd;

	if (!(flags & IORING_CQE_F_MORE)) {
		struct io_uring_sqe *sqe = sqe_get();

		io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, 0);
		io_uring_sqe_set_data64(sqe, UD(OP_ACCEPT, 0, lfd));
	}
	if (res < 0)
		return;
	sfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sfd < 0 || sfd >= MAXFD || res >= MAXFD ||
	    connect(sfd, (struct sockaddr *)&backend, sizeof(backend))) {
		if (sfd >= 0)
			close(sfd);
		close(res);
		return;
	}
	setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	sides[res] = (struct side){ .peer = sfd };
	sides[sfd] = (struct side){ .peer = res };
	arm_recv(res);
	arm_recv(sfd);
}

static void on_recv(int fd, int res, unsigned int flags)
{
	struct side *s = &sides[fd];

	if (res > 0) {
		send_buf(fd, flags >> IORING_CQE_BUFFER_SHIFT, 0, res);
		if (!(flags & IORING_CQE_F_MORE))
			arm_recv(fd);
		return;
	}
	if (res == -ENOBUFS) {
		arm_recv(fd);
		return;
	}
	/* EOF or error: pass the FIN on, then wait for the other side */
	if (flags & IORING_CQE_F_MORE)
		return;
	s->dead = 1;
	if (res == 0) {
		s->eof = 1;
		pass_fin(fd);
	} else {
		sides[s->peer].dead = 1;
		shutdown(s->peer, SHUT_RDWR);
	}
	maybe_close(fd);
}

static void on_send(__u64 ud, int res)
{
	int from = UD_FD(ud), bid = UD_BID(ud);

	sides[from].sends--;
	if (res > 0 && res < buf_len[bid]) {
		send_buf(from, bid, buf_off[bid] + res, buf_len[bid] - res);
		return;
	}
	if (res < 0) {
		sides[from].dead = 1;
		shutdown(from, SHUT_RDWR);
	}
	buf_put(bid);
	pass_fin(from);
	maybe_close(from);
}

static int parse(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');

	if (!colon || colon - s >= (long)sizeof(host))
		return -EINVAL;
	memcpy(host, s, colon - s);
	host[colon - s] = 0;
	sa->sin_family = AF_INET;
	sa->sin_port = htons(atoi(colon + 1));
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -EINVAL;
}

int main(int argc, char **argv)
{
	struct io_uring_params p = {
		.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
			 IORING_SETUP_CQSIZE,
		.cq_entries = 8192,
	};
	struct io_uring_buf_reg reg = { .ring_entries = NBUFS, .bgid = BGID };
	struct __kernel_timespec ts = { .tv_nsec = 5000000 };
	struct sockaddr_in la;
	struct io_uring_sqe *sqe;
	int one = 1, i, ret;

	if (argc != 3 || parse(argv[1], &la) || parse(argv[2], &backend)) {
		fprintf(stderr, "usage: floor LISTEN_ADDR:PORT BACKEND_ADDR:PORT\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&la, sizeof(la)) ||
	    listen(lfd, 4096)) {
		perror("floor: listen");
		return 1;
	}
	ret = io_uring_queue_init_params(1024, &ring, &p);
	if (ret) {
		fprintf(stderr, "floor: io_uring: %s\n", strerror(-ret));
		return 1;
	}
	br = mmap(NULL, NBUFS * sizeof(struct io_uring_buf),
		  PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bufs = malloc((size_t)NBUFS * BUFSZ);
	if (br == MAP_FAILED || !bufs)
		return 1;
	reg.ring_addr = (unsigned long)br;
	ret = io_uring_register_buf_ring(&ring, &reg, 0);
	if (ret) {
		fprintf(stderr, "floor: buffer ring: %s\n", strerror(-ret));
		return 1;
	}
	/* as ringlb does: no fd lookup per io_uring_enter */
	io_uring_register_ring_fd(&ring);
	io_uring_buf_ring_init(br);
	for (i = 0; i < NBUFS; i++)
		buf_put(i);
	for (i = 0; i < MAXFD; i++)
		sides[i].peer = -1;

	sqe = sqe_get();
	io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, 0);
	io_uring_sqe_set_data64(sqe, UD(OP_ACCEPT, 0, lfd));

	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned int head, n = 0;

		/* sends complete while submitted: wait for one more */
		ret = io_uring_submit_and_wait_timeout(&ring, &cqe, queued + 1,
						       &ts, NULL);
		queued = 0;
		if (ret < 0 && ret != -ETIME && ret != -EINTR) {
			fprintf(stderr, "floor: wait: %s\n", strerror(-ret));
			return 1;
		}
		io_uring_for_each_cqe(&ring, head, cqe) {
			__u64 ud = cqe->user_data;

			switch (UD_OP(ud)) {
			case OP_ACCEPT:
				on_accept(cqe->res, cqe->flags);
				break;
			case OP_RECV:
				on_recv(UD_FD(ud), cqe->res, cqe->flags);
				break;
			case OP_SEND:
				on_send(ud, cqe->res);
				break;
			}
			n++;
		}
		io_uring_cq_advance(&ring, n);
	}
}

// SPDX-License-Identifier: MIT
/*
 * vmbench: the cost of uringstat on ringlb, inside a test VM.
 *
 * Starts an echo backend (threads), ringlb in front of it, then measures
 * through the proxy for SECONDS each:
 *   rr    CONNS connections doing 64-byte request/response: requests/s
 *   bulk  one connection streaming 64 KiB writes, echoed back: MB/s
 * and prints one line "vmbench rr=N bulk=N". The VM's init runs it with
 * the module unloaded and loaded, alternately, in the same boot
 * (selftests/vm/init.sh, `make vmbench`). Static, no liburing needed.
 *
 * usage: vmbench RINGLB [SECONDS] [CONNS] [extra ringlb args...]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
static double deadline;
static atomic_long rr_done;

static void *rr_client(void *arg)
{
	char buf[64];
	long n = 0;
	int fd = connect_to(proxy_port);

	(void)arg;
	if (fd < 0)
		return NULL;
	memset(buf, 'r', sizeof(buf));
	while (now() < deadline) {
		size_t got = 0;

		if (write(fd, buf, sizeof(buf)) != sizeof(buf))
			break;
		while (got < sizeof(buf)) {
			ssize_t r = read(fd, buf + got, sizeof(buf) - got);

			if (r <= 0)
				goto out;
			got += r;
		}
		n++;
	}
out:
	atomic_fetch_add(&rr_done, n);
	close(fd);
	return NULL;
}

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

static double run_bulk(double secs)
{
	static char buf[65536];
	int fd = connect_to(proxy_port);
	pthread_t t;
	double t0;

	if (fd < 0)
		return -1;
	atomic_store(&bulk_bytes, 0);
	pthread_create(&t, NULL, bulk_reader, (void *)(long)fd);
	t0 = now();
	while (now() < t0 + secs)
		if (write(fd, buf, sizeof(buf)) <= 0)
			break;
	shutdown(fd, SHUT_WR);
	pthread_join(t, NULL);
	close(fd);
	return atomic_load(&bulk_bytes) / (now() - t0) / 1e6;
}

int main(int argc, char **argv)
{
	double secs = argc > 2 ? atof(argv[2]) : 3;
	int conns = argc > 3 ? atoi(argv[3]) : 8;
	unsigned short be_port, pport;
	char laddr[32], baddr[32];
	pthread_t srv, *cl;
	int lfd, pfd, i, fd;
	pid_t pid;

	if (argc < 2) {
		fprintf(stderr, "usage: vmbench RINGLB [SECONDS] [CONNS] [ringlb args...]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
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
		char *args[32] = { argv[1], "-l", laddr, "-b", baddr,
				   "--log-level", "warn" };
		int n = 7;

		for (i = 4; i < argc && n < 31; i++)
			args[n++] = argv[i];
		args[n] = NULL;
		execv(argv[1], args);
		_exit(127);
	}
	proxy_port = pport;
	for (i = 0; i < 200; i++) {
		fd = connect_to(pport);
		if (fd >= 0) {
			close(fd);
			break;
		}
		usleep(50 * 1000);
	}
	if (i == 200) {
		fprintf(stderr, "vmbench: ringlb did not come up\n");
		kill(pid, SIGKILL);
		return 1;
	}

	cl = calloc(conns, sizeof(*cl));
	deadline = now() + secs;
	for (i = 0; i < conns; i++)
		pthread_create(&cl[i], NULL, rr_client, NULL);
	for (i = 0; i < conns; i++)
		pthread_join(cl[i], NULL);
	printf("vmbench rr=%.0f bulk=%.1f\n", atomic_load(&rr_done) / secs,
	       run_bulk(secs));
	fflush(stdout);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	return 0;
}

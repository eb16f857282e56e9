// SPDX-License-Identifier: MIT
/*
 * An LD_PRELOAD shim for ringlb's hostile selftests: of every
 * RINGLB_FAIL_SUBMIT_EVERY submissions, the last RINGLB_FAIL_SUBMIT_RUN
 * (default 1) fail with EAGAIN before entering the kernel, as they do
 * while a kernel is short of memory for requests. Submissions are
 * liburing's io_uring_submit() and io_uring_submit_and_wait(), and the
 * daemon's own io_uring_enter through syscall(2) when it submits. The SQEs stay in the SQ, and a
 * run of refusals fills it: that is what the daemon must cope with.
 * Built only for the tests; the host kernel has no fault injection to
 * do it for real.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>

struct io_uring;

static unsigned int every, run = 1;
static atomic_uint calls;

__attribute__((constructor)) static void shim_init(void)
{
	const char *s = getenv("RINGLB_FAIL_SUBMIT_EVERY");

	every = s ? strtoul(s, NULL, 10) : 0;
	s = getenv("RINGLB_FAIL_SUBMIT_RUN");
	if (s)
		run = strtoul(s, NULL, 10);
	fprintf(stderr, "ringlb-test-shim: refusing %u submits in %u\n", run,
		every);
}

static int refuse(void)
{
	return every && atomic_fetch_add(&calls, 1) % every >= every - run;
}

int io_uring_submit(struct io_uring *ring)
{
	static int (*real)(struct io_uring *);

	if (!real)
		real = (int (*)(struct io_uring *))dlsym(RTLD_NEXT,
							 "io_uring_submit");
	if (refuse())
		return -EAGAIN;
	return real(ring);
}

int io_uring_submit_and_wait(struct io_uring *ring, unsigned int wait_nr)
{
	static int (*real)(struct io_uring *, unsigned int);

	if (!real)
		real = (int (*)(struct io_uring *, unsigned int))
			dlsym(RTLD_NEXT, "io_uring_submit_and_wait");
	if (refuse())
		return -EAGAIN;
	return real(ring, wait_nr);
}

long syscall(long nr, ...)
{
	static long (*real)(long, ...);
	long a[6];
	va_list ap;
	int i;

	if (!real)
		real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	va_start(ap, nr);
	for (i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	/* io_uring_enter(fd, to_submit, ...): only a submission is refused */
	if (nr == SYS_io_uring_enter && a[1] > 0 && refuse()) {
		errno = EAGAIN;
		return -1;
	}
	return real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

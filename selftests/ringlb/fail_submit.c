// SPDX-License-Identifier: MIT
/*
 * An LD_PRELOAD shim for ringlb's hostile selftests: of every
 * RINGLB_FAIL_SUBMIT_EVERY calls to io_uring_submit() and
 * io_uring_submit_and_wait(), the last RINGLB_FAIL_SUBMIT_RUN (default
 * 1) fail with -EAGAIN before entering the kernel, as calls do while a
 * kernel is short of memory for requests. The SQEs stay in the SQ, and a
 * run of refusals fills it: that is what the daemon must cope with.
 * Built only for the tests; the host kernel has no fault injection to
 * do it for real.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

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

// SPDX-License-Identifier: MIT
/*
 * Probing the kernel's io_uring once, and the provided buffer ring that
 * liburing 2.3 has no helper for (io_uring_setup_buf_ring is 2.4).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "log.h"
#include "uring.h"

struct uring_caps uring_caps;

static unsigned int kernel_version(void)
{
	struct utsname u;
	unsigned int a = 0, b = 0;

	if (uname(&u) || sscanf(u.release, "%u.%u", &a, &b) != 2)
		return 0;
	return KVER(a, b);
}

/*
 * Ring flags, best first. SINGLE_ISSUER (6.0) lets the kernel skip
 * locking because only this worker thread ever submits; DEFER_TASKRUN
 * (6.1) runs completion work only when we wait for CQEs, in one batch,
 * instead of interrupting us with task work; COOP_TASKRUN (5.19) is the
 * fallback that at least avoids IPIs. SUBMIT_ALL keeps a bad SQE from
 * stopping the rest of a batch; CQSIZE gives the CQ room for bursts.
 */
static const unsigned int setup_flag_sets[] = {
	IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
	IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN,
	IORING_SETUP_COOP_TASKRUN,
	0,
};

int uring_ring_init(struct io_uring *ring, unsigned int entries,
		    unsigned int flags_mask);

int uring_ring_init(struct io_uring *ring, unsigned int entries,
		    unsigned int flags_mask)
{
	struct io_uring_params p;
	unsigned int i;
	int ret = -EINVAL;

	for (i = 0; i < sizeof(setup_flag_sets) / sizeof(setup_flag_sets[0]);
	     i++) {
		unsigned int base = IORING_SETUP_CQSIZE;

		if (setup_flag_sets[i] & ~flags_mask)
			continue;
		if (uring_caps.kver >= KVER(5, 18) || !uring_caps.kver)
			base |= IORING_SETUP_SUBMIT_ALL;
		memset(&p, 0, sizeof(p));
		p.flags = base | setup_flag_sets[i];
		p.cq_entries = entries * 4;
		ret = io_uring_queue_init_params(entries, ring, &p);
		if (ret == -EINVAL) {
			/* maybe SUBMIT_ALL is the unknown one */
			memset(&p, 0, sizeof(p));
			p.flags = IORING_SETUP_CQSIZE | setup_flag_sets[i];
			p.cq_entries = entries * 4;
			ret = io_uring_queue_init_params(entries, ring, &p);
		}
		if (!ret) {
			uring_caps.setup_flags = p.flags;
			uring_caps.features = p.features;
			return 0;
		}
		if (ret != -EINVAL)
			return ret;
	}
	return ret;
}

int uring_probe(void)
{
	struct io_uring_probe *probe;
	struct io_uring ring;
	unsigned int kv = kernel_version();
	int ret;

	memset(&uring_caps, 0, sizeof(uring_caps));
	uring_caps.kver = kv;
	ret = uring_ring_init(&ring, 8, ~0u);
	if (ret)
		return ret;
	probe = io_uring_get_probe_ring(&ring);
	if (probe) {
		uring_caps.splice = io_uring_opcode_supported(probe,
							      IORING_OP_SPLICE);
		uring_caps.send_zc = io_uring_opcode_supported(probe,
							       IORING_OP_SEND_ZC);
		uring_caps.shutdown = io_uring_opcode_supported(probe,
							IORING_OP_SHUTDOWN);
		uring_caps.socket = io_uring_opcode_supported(probe,
							      IORING_OP_SOCKET);
		io_uring_free_probe(probe);
	}
	/*
	 * Flag-level features have no probe; they arrived with these
	 * releases, and an op that rejects a flag fails with -EINVAL at
	 * run time, which the engine treats as "feature absent".
	 */
	uring_caps.buf_ring = kv >= KVER(5, 19);
	uring_caps.accept_direct_alloc = kv >= KVER(5, 19);
	uring_caps.cancel_fd = kv >= KVER(6, 0);
	uring_caps.recv_multishot = kv >= KVER(6, 0);
	uring_caps.poll_multishot = kv >= KVER(5, 13);
	uring_caps.cqe_skip = uring_caps.features & IORING_FEAT_CQE_SKIP;
	uring_caps.ring_fd = kv >= KVER(5, 18);
	io_uring_queue_exit(&ring);
	return 0;
}

void uring_log_caps(void)
{
	unsigned int f = uring_caps.setup_flags;

	pr_info("io_uring: kernel %u.%u, setup%s%s%s, ops%s%s%s, %s, %s, %s",
		uring_caps.kver >> 8, uring_caps.kver & 0xff,
		f & IORING_SETUP_SINGLE_ISSUER ? " SINGLE_ISSUER" : "",
		f & IORING_SETUP_DEFER_TASKRUN ? " DEFER_TASKRUN" : "",
		f & IORING_SETUP_COOP_TASKRUN ? " COOP_TASKRUN" : "",
		uring_caps.splice ? " splice" : "",
		uring_caps.send_zc ? " send_zc" : "",
		uring_caps.shutdown ? " shutdown" : "",
		uring_caps.buf_ring ? "buffer rings" : "no buffer rings",
		uring_caps.recv_multishot ? "multishot recv" :
					    "single-shot recv",
		uring_caps.accept_direct_alloc ? "direct descriptors" :
						 "plain descriptors");
}

/* ---- provided buffer ring -------------------------------------------- */

#define BGID	0

int bufring_setup(struct uring_worker *u)
{
	const struct config *cfg = u->w->cfg;
	struct io_uring_buf_reg reg;
	struct iovec iov;
	unsigned int i;
	int ret;

	u->nbufs = cfg->buf_count;
	u->buf_size = cfg->buf_size;
	u->br_size = u->nbufs * sizeof(struct io_uring_buf);
	u->br = mmap(NULL, u->br_size, PROT_READ | PROT_WRITE,
		     MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (u->br == MAP_FAILED)
		return -errno;
	u->slab_size = (size_t)u->nbufs * u->buf_size;
	/*
	 * Faulted in now: the kernel hands the buffers out in ring order,
	 * so sooner or later every page is touched anyway. Populated at
	 * start, the worker's RSS is its real footprint from the first
	 * second (a soak sees growth only where there is some), and no
	 * receive pays a page fault on the data path.
	 */
	u->slab = mmap(NULL, u->slab_size, PROT_READ | PROT_WRITE,
		       MAP_ANONYMOUS | MAP_PRIVATE | MAP_POPULATE, -1, 0);
	if (u->slab == MAP_FAILED) {
		ret = -errno;
		goto out_unmap_ring;
	}
	u->chunks = calloc(u->nbufs, sizeof(*u->chunks));
	if (!u->chunks) {
		ret = -ENOMEM;
		goto out_unmap_slab;
	}

	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (unsigned long)u->br;
	reg.ring_entries = u->nbufs;
	reg.bgid = BGID;
	ret = io_uring_register_buf_ring(&u->ring, &reg, 0);
	if (ret)
		goto out_free_chunks;

	io_uring_buf_ring_init(u->br);
	for (i = 0; i < u->nbufs; i++)
		io_uring_buf_ring_add(u->br, u->slab + (size_t)i * u->buf_size,
				      u->buf_size, i,
				      io_uring_buf_ring_mask(u->nbufs), i);
	io_uring_buf_ring_advance(u->br, u->nbufs);
	u->bufs_free = u->nbufs;

	/*
	 * The same memory registered as fixed buffer 0 lets send_zc skip
	 * pinning pages on every send. Failing (RLIMIT_MEMLOCK for a
	 * non-root user) only costs the zero-copy option.
	 */
	if (cfg->zerocopy && uring_caps.send_zc) {
		iov.iov_base = u->slab;
		iov.iov_len = u->slab_size;
		ret = io_uring_register_buffers(&u->ring, &iov, 1);
		if (ret)
			pr_warn("worker %u: registering buffers: %s: zero-copy sends off",
				u->w->id, strerror(-ret));
		else
			u->slab_registered = true;
	}
	return 0;

out_free_chunks:
	free(u->chunks);
	u->chunks = NULL;
out_unmap_slab:
	munmap(u->slab, u->slab_size);
out_unmap_ring:
	munmap(u->br, u->br_size);
	u->br = NULL;
	return ret;
}

void bufring_teardown(struct uring_worker *u)
{
	if (!u->br)
		return;
	if (u->slab_registered)
		io_uring_unregister_buffers(&u->ring);
	io_uring_unregister_buf_ring(&u->ring, BGID);
	free(u->chunks);
	munmap(u->slab, u->slab_size);
	munmap(u->br, u->br_size);
	u->br = NULL;
}

void bufring_recycle(struct uring_worker *u, unsigned int bid)
{
	io_uring_buf_ring_add(u->br, u->slab + (size_t)bid * u->buf_size,
			      u->buf_size, bid,
			      io_uring_buf_ring_mask(u->nbufs), 0);
	io_uring_buf_ring_advance(u->br, 1);
	u->bufs_free++;
}

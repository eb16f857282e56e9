// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * icount-plugin: a QEMU TCG plugin that counts the guest's instructions and
 * says how many had run each time the guest passes a marker, so `make
 * vmbench` can compare the work done per request with uringstat loaded and
 * unloaded. Wall-clock rates under TCG on a shared host swing by 2x
 * between rounds; an instruction count of the same workload does not.
 *
 * The marker is an instruction that changes nothing: `nopl disp32(%rax)`
 * (0f 1f 80 + disp32) whose displacement is 0x524c0000 | ID, "RL" in its
 * top bytes; compilers emit this NOP only with a zero displacement for
 * alignment. bench/vmbench.c executes it around each measured phase. Each
 * time one executes, the plugin logs
 *	icount: mark 0xID insns N host_ns T
 * (N: guest instructions since boot, every vCPU, kernel and user; T: the
 * host's CLOCK_MONOTONIC, for wall-clock rates when the guest's own clock
 * is virtual, under -icount) through qemu_plugin_outs(), i.e. QEMU's log:
 * run with `-d plugin -D FILE`.
 *
 * Counting is per translation block, inline (an add of the block's length
 * at its entry), so a block left early by an interrupt or a fault is
 * counted whole: an error of a few instructions per interrupt, against the
 * tens of thousands a request costs. With -accel tcg,thread=single every
 * vCPU runs on one host thread, so one plain counter is exact.
 *
 * Built at test time against qemu-plugin.h from Debian's qemu source
 * package of the installed version (bench/icount-build.sh); the header is
 * not in any binary package and is not kept in this tree.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

#define MARK_LEN	7
#define MARK_MAGIC	0x524c0000u	/* "RL" in the displacement's top half */

static uint64_t insns;

static void on_mark(unsigned int vcpu, void *udata)
{
	struct timespec ts;
	char line[96];

	(void)vcpu;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(line, sizeof(line), "icount: mark 0x%04x insns %" PRIu64 " host_ns %" PRIu64 "\n",
		 (unsigned int)(uintptr_t)udata, insns,
		 (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec);
	qemu_plugin_outs(line);
}

/* the ID of a marker instruction, or -1 */
static long mark_id(struct qemu_plugin_insn *insn)
{
	const unsigned char *b = qemu_plugin_insn_data(insn);
	uint32_t disp;

	if (qemu_plugin_insn_size(insn) != MARK_LEN ||
	    b[0] != 0x0f || b[1] != 0x1f || b[2] != 0x80)
		return -1;
	memcpy(&disp, b + 3, sizeof(disp));	/* x86: little-endian */
	if ((disp & 0xffff0000u) != MARK_MAGIC)
		return -1;
	return disp & 0xffff;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t i, n = qemu_plugin_tb_n_insns(tb);

	(void)id;
	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64,
						 &insns, n);
	for (i = 0; i < n; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
		long mark = mark_id(insn);

		if (mark >= 0)
			qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark,
				QEMU_PLUGIN_CB_NO_REGS, (void *)(uintptr_t)mark);
	}
}

static void on_exit(qemu_plugin_id_t id, void *p)
{
	char line[64];

	(void)id;
	(void)p;
	snprintf(line, sizeof(line), "icount: total insns %" PRIu64 "\n", insns);
	qemu_plugin_outs(line);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id,
					   const qemu_info_t *info,
					   int argc, char **argv)
{
	(void)argv;
	if (argc) {
		fprintf(stderr, "icount-plugin: takes no arguments\n");
		return -1;
	}
	if (!info->system_emulation) {
		fprintf(stderr, "icount-plugin: for system emulation only\n");
		return -1;
	}
	qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
	qemu_plugin_register_atexit_cb(id, on_exit, NULL);
	return 0;
}

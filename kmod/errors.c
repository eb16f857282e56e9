// SPDX-License-Identifier: GPL-2.0
/*
 * Failed CQEs per ring, by opcode and errno: the errors file.
 *
 * Only a CQE with a negative result comes here, so the successful path
 * costs nothing. Each ring has US_ERR_SLOTS slots keyed by (opcode,
 * errno); a new pair takes the first free slot with one cmpxchg, without
 * a lock, and keeps it until the ring leaves the table: a reset zeroes
 * the counts only, so a count racing with a reset can be lost but never
 * lands under another pair. A pair that finds every slot taken counts as
 * dropped.
 */
#include <linux/kernel.h>
#include <linux/seq_file.h>
#include "uringstat.h"

/* the opcode slot + 1 (0 for "not known") above, the errno below */
#define US_ERR_OP_SHIFT		16
#define US_ERR_MAX		0xffff
#define US_ERR_OP_UNKNOWN	(US_MAX_OPS + 1)

static u32 us_err_key(int opcode, int err)
{
	u32 op = opcode < 0 ? US_ERR_OP_UNKNOWN :
		 min_t(u32, opcode, US_OP_OTHER) + 1;

	return op << US_ERR_OP_SHIFT | err;
}

/* before the ring is visible: a struct reused from the pool */
void us_err_clear(struct us_errtab *t)
{
	int i;

	for (i = 0; i < US_ERR_SLOTS; i++) {
		t->key[i] = 0;
		atomic64_set(&t->cnt[i], 0);
	}
	atomic64_set(&t->dropped, 0);
}

void us_err_reset(struct us_errtab *t)
{
	int i;

	for (i = 0; i < US_ERR_SLOTS; i++)
		atomic64_set(&t->cnt[i], 0);
	atomic64_set(&t->dropped, 0);
}

void us_err_count(struct us_errtab *t, int opcode, s32 res)
{
	u32 key, cur;
	int i;

	/* not an errno (and -res would overflow for S32_MIN) */
	if (res >= 0 || res < -US_ERR_MAX) {
		atomic64_inc(&t->dropped);
		return;
	}
	key = us_err_key(opcode, -res);
	for (i = 0; i < US_ERR_SLOTS; i++) {
		cur = READ_ONCE(t->key[i]);
		/* a free slot: ours, unless another CPU took it first */
		if (!cur) {
			cur = cmpxchg(&t->key[i], 0, key);
			if (!cur)
				cur = key;
		}
		if (cur == key) {
			atomic64_inc(&t->cnt[i]);
			return;
		}
	}
	atomic64_inc(&t->dropped);
}

static void us_err_print(struct seq_file *m, struct us_ring *r, u32 key,
			 u64 n)
{
	u32 op = key >> US_ERR_OP_SHIFT, err = key & US_ERR_MAX;
	const char *name;

	seq_printf(m, "%llu %d ", r->id, r->pid);
	if (op == US_ERR_OP_UNKNOWN) {
		seq_putc(m, '-');
	} else {
		name = us_op_name(op - 1);
		if (name)
			seq_puts(m, name);
		else
			seq_printf(m, "op%u", op - 1);
	}
	name = us_errno_name(err);
	if (name)
		seq_printf(m, " %s %llu\n", name, n);
	else
		seq_printf(m, " %u %llu\n", err, n);
}

/*
 * One line per pair with a count, then, if any, the line of the pairs
 * that found no slot: opcode "-" (not known), errno "other".
 */
void us_err_show(struct seq_file *m, struct us_ring *r)
{
	struct us_errtab *t = &r->err;
	u64 n;
	u32 key;
	int i;

	for (i = 0; i < US_ERR_SLOTS; i++) {
		key = READ_ONCE(t->key[i]);
		if (!key)
			break;
		n = atomic64_read(&t->cnt[i]);
		if (n)
			us_err_print(m, r, key, n);
	}
	n = atomic64_read(&t->dropped);
	if (n)
		seq_printf(m, "%llu %d - other %llu\n", r->id, r->pid, n);
}

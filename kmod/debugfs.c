// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/kernel/debug/uringstat/: the files of the SPEC, root only.
 *
 * Readers sum the per-CPU figures at read time; they never stop the
 * counting. Writers parse strictly: anything but the documented values
 * returns -EINVAL and changes nothing.
 */
#include <linux/kernel.h>
#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include <linux/uaccess.h>
#include <linux/pid.h>
#include <linux/threads.h>
#include <generated/utsrelease.h>
#include "uringstat.h"

static struct dentry *us_dir;
int us_filter_pid;

static void us_op_sum(unsigned int op, struct us_opstat *sum)
{
	int cpu, i;

	memset(sum, 0, sizeof(*sum));
	for_each_possible_cpu(cpu) {
		const struct us_opstat *s = &per_cpu_ptr(us_stats, cpu)->op[op];

		sum->submitted += s->submitted;
		sum->completed += s->completed;
		sum->failed += s->failed;
		sum->poll_armed += s->poll_armed;
		sum->async += s->async;
		for (i = 0; i < US_LAT_BUCKETS; i++)
			sum->lat[i] += s->lat[i];
	}
}

static void us_print_opname(struct seq_file *m, unsigned int op)
{
	const char *name = us_op_name(op);

	if (name)
		seq_printf(m, "%-16s", name);
	else
		seq_printf(m, "op%-14u", op);
}

/* one column whatever the name: blanks and controls print as '_' */
static void us_print_comm(struct seq_file *m, const char *comm)
{
	int i;

	if (!comm[0]) {
		seq_putc(m, '-');
		return;
	}
	for (i = 0; comm[i] && i < TASK_COMM_LEN; i++)
		seq_putc(m, comm[i] > ' ' && comm[i] < 127 ? comm[i] : '_');
}

/*
 * rings: a seq_file walk of the ring list under RCU, one record per ring
 * after the header, so a read holds one page whatever max_rings is. The
 * position (m->index) is the header's 0 or the id of the next ring to
 * show (see us_rings_seek()): between two read() calls rings may come
 * and go, and the walk resumes at the first ring with that id or a newer
 * one. So within one pass from offset 0, no row is shown twice and a
 * ring listed for the whole pass is shown once; a ring inserted or
 * removed meanwhile may or may not be. A read at another offset
 * (lseek, pread) re-walks from the start, as for any seq_file.
 */
static void *us_rings_start(struct seq_file *m, loff_t *pos)
	__acquires(RCU)
{
	rcu_read_lock();
	if (!*pos)
		return SEQ_START_TOKEN;
	return us_rings_seek(m->private, *pos);
}

static void *us_rings_next(struct seq_file *m, void *v, loff_t *pos)
{
	struct us_ring_cursor *cur = m->private;
	struct us_ring *r;

	r = us_rings_after(cur, v == SEQ_START_TOKEN ? NULL : v);
	*pos = cur->id;
	return r;
}

static void us_rings_stop(struct seq_file *m, void *v)
	__releases(RCU)
{
	rcu_read_unlock();
}

static int us_rings_show(struct seq_file *m, void *v)
{
	int want = READ_ONCE(us_filter_pid);
	struct us_ring *r = v;
	int i;

	if (v == SEQ_START_TOKEN) {
		seq_puts(m, "id pid comm fd sq_entries cq_entries flags submitted completed failed cq_overflow cqring_waits poll_armed task_work async\n");
		return 0;
	}
	/* with filter_pid set, only that process's rings */
	if (want && r->pid != want)
		return SEQ_SKIP;
	seq_printf(m, "%llu %d ", r->id, r->pid);
	us_print_comm(m, r->comm);
	seq_printf(m, " %d %u %u 0x%x", r->fd, r->sq_entries, r->cq_entries,
		   r->flags);
	for (i = 0; i < US_NR_RING_COUNTERS; i++)
		seq_printf(m, " %lld", atomic64_read(&r->cnt[i]));
	seq_putc(m, '\n');
	return 0;
}

/*
 * errors: the same walk, each ring's lines of failed CQEs by opcode and
 * errno (errors.c), none for a ring without failures.
 */
static int us_errors_show(struct seq_file *m, void *v)
{
	int want = READ_ONCE(us_filter_pid);
	struct us_ring *r = v;

	if (v == SEQ_START_TOKEN) {
		seq_puts(m, "id pid opcode errno count\n");
		return 0;
	}
	if (want && r->pid != want)
		return SEQ_SKIP;
	us_err_show(m, r);
	return 0;
}

/*
 * iowq: the same walk, one line per ring: what it punted to io-wq, and
 * the io-wq workers of the thread that created it, now (counted here)
 * and at most (iowq.c).
 */
static int us_iowq_show(struct seq_file *m, void *v)
{
	int want = READ_ONCE(us_filter_pid);
	struct us_ring *r = v;
	int now, max;

	if (v == SEQ_START_TOKEN) {
		seq_puts(m, "id pid tid async workers workers_max\n");
		return 0;
	}
	if (want && r->pid != want)
		return SEQ_SKIP;
	now = us_wrk_count(r->pid, r->tid);
	/* a worker that started before its ring was listed may be missing */
	max = max(atomic_read(&r->wq_max), now);
	seq_printf(m, "%llu %d %d %lld %d %d\n", r->id, r->pid, r->tid,
		   atomic64_read(&r->cnt[US_ASYNC]), now, max);
	return 0;
}

#define US_RING_WALK(name)						\
static const struct seq_operations us_##name##_sops = {		\
	.start	= us_rings_start,					\
	.next	= us_rings_next,					\
	.stop	= us_rings_stop,					\
	.show	= us_##name##_show,					\
};									\
static int us_##name##_open(struct inode *inode, struct file *file)	\
{									\
	return seq_open_private(file, &us_##name##_sops,		\
				sizeof(struct us_ring_cursor));		\
}									\
static const struct file_operations us_##name##_fops = {		\
	.owner		= THIS_MODULE,					\
	.open		= us_##name##_open,				\
	.read		= seq_read,					\
	.llseek		= seq_lseek,					\
	.release	= seq_release_private,				\
}

US_RING_WALK(rings);
US_RING_WALK(errors);
US_RING_WALK(iowq);

static int us_opcodes_show(struct seq_file *m, void *v)
{
	struct us_opstat s;
	unsigned int op;

	seq_puts(m, "opcode name submitted completed failed poll_armed async\n");
	for (op = 0; op < US_MAX_OPS; op++) {
		us_op_sum(op, &s);
		if (!s.submitted && !s.completed && !s.poll_armed && !s.async)
			continue;
		seq_printf(m, "%u ", op);
		us_print_opname(m, op);
		seq_printf(m, " %llu %llu %llu %llu %llu\n", s.submitted,
			   s.completed, s.failed, s.poll_armed, s.async);
	}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(us_opcodes);

static int us_poll_show(struct seq_file *m, void *v)
{
	u64 in = 0, out = 0, other = 0, tw = 0, submitted = 0;
	struct us_opstat s;
	unsigned int op;
	int cpu;

	for_each_possible_cpu(cpu) {
		const struct us_cpustat *c = per_cpu_ptr(us_stats, cpu);

		in += c->poll_in;
		out += c->poll_out;
		other += c->poll_other;
		tw += c->task_work;
	}
	for (op = 0; op < US_MAX_OPS; op++) {
		us_op_sum(op, &s);
		submitted += s.submitted;
	}
	seq_printf(m, "poll_armed %llu\n", in + out + other);
	seq_printf(m, "poll_armed_pollin %llu\n", in);
	seq_printf(m, "poll_armed_pollout %llu\n", out);
	seq_printf(m, "poll_armed_other %llu\n", other);
	seq_printf(m, "task_work %llu\n", tw);
	seq_printf(m, "submitted %llu\n", submitted);
	/* per mille, printed as a percentage with one decimal */
	if (submitted) {
		u64 pm = div64_u64((in + out + other) * 1000, submitted);

		seq_printf(m, "poll_armed_share %llu.%llu%%\n", pm / 10, pm % 10);
	} else {
		seq_puts(m, "poll_armed_share 0.0%\n");
	}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(us_poll);

static void us_print_bucket(struct seq_file *m, int i, u64 n)
{
	if (i == 0)
		seq_printf(m, "  [0, 1) %llu\n", n);
	else if (i == US_LAT_BUCKETS - 1)
		seq_printf(m, "  [%lu, inf) %llu\n", 1UL << (i - 1), n);
	else
		seq_printf(m, "  [%lu, %lu) %llu\n", 1UL << (i - 1), 1UL << i, n);
}

/*
 * One block per opcode that completed something: a line
 * "opcode N NAME count C untimed U", then the buckets from the first to
 * the last non-empty one, "  [LO, HI) COUNT", in microseconds.
 */
static int us_latency_show(struct seq_file *m, void *v)
{
	struct us_opstat s;
	unsigned int op;
	int i, first, last;
	u64 total, untimed;

	for (op = 0; op < US_MAX_OPS; op++) {
		us_op_sum(op, &s);
		total = 0;
		first = -1;
		last = -1;
		for (i = 0; i < US_LAT_BUCKETS; i++) {
			total += s.lat[i];
			if (s.lat[i]) {
				if (first < 0)
					first = i;
				last = i;
			}
		}
		/*
		 * Every CQE filed under the opcode is either a sample or
		 * untimed; CQEs racing with this read may make the two sums
		 * disagree for a moment.
		 */
		untimed = s.completed > total ? s.completed - total : 0;
		if (!total && !untimed)
			continue;
		seq_printf(m, "opcode %u ", op);
		us_print_opname(m, op);
		seq_printf(m, " count %llu untimed %llu\n", total, untimed);
		for (i = first; first >= 0 && i <= last; i++)
			us_print_bucket(m, i, s.lat[i]);
	}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(us_latency);

static int us_version_show(struct seq_file *m, void *v)
{
	seq_printf(m, "uringstat %s\n", US_VERSION);
	seq_printf(m, "built_for %s\n", UTS_RELEASE);
	seq_printf(m, "teardown %s\n", us_teardown_hook_name());
	seq_printf(m, "max_rings %u tracked %u evicted %llu\n", us_max_rings,
		   us_rings_tracked(), us_rings_evicted());
	seq_printf(m, "max_inflight %u evicted %llu\n", us_max_inflight,
		   us_inflight_evicted());
	seq_printf(m, "latency_sample %u\n", READ_ONCE(us_latency_sample));
	us_probes_show(m);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(us_version);

/* --- writable files ------------------------------------------------------ */

/*
 * Parse one decimal integer, optionally followed by a newline, and nothing
 * else. Not kstrtouint_from_user(): it silently truncates a long write to
 * its buffer, so "1111…1" of 4 KiB would parse as a number.
 */
static int us_parse_uint(const char __user *ubuf, size_t count, unsigned int *val)
{
	char buf[16];

	if (!count || count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';
	/* kstrtouint accepts one trailing newline and rejects signs like "-1" */
	if (buf[0] == '+' || kstrtouint(buf, 10, val))
		return -EINVAL;
	return 0;
}

static int us_filter_pid_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%d\n", READ_ONCE(us_filter_pid));
	return 0;
}

static int us_filter_pid_open(struct inode *inode, struct file *file)
{
	return single_open(file, us_filter_pid_show, NULL);
}

static ssize_t us_filter_pid_write(struct file *file, const char __user *ubuf,
				   size_t count, loff_t *ppos)
{
	unsigned int pid;
	int ret;

	ret = us_parse_uint(ubuf, count, &pid);
	if (ret)
		return ret;
	if (pid > PID_MAX_LIMIT)
		return -EINVAL;
	WRITE_ONCE(us_filter_pid, pid);
	return count;
}

static const struct file_operations us_filter_pid_fops = {
	.owner		= THIS_MODULE,
	.open		= us_filter_pid_open,
	.read		= seq_read,
	.llseek		= seq_lseek,
	.release	= single_release,
	.write		= us_filter_pid_write,
};

static ssize_t us_reset_write(struct file *file, const char __user *ubuf,
			      size_t count, loff_t *ppos)
{
	unsigned int val;
	int ret;

	ret = us_parse_uint(ubuf, count, &val);
	if (ret)
		return ret;
	if (val != 1)
		return -EINVAL;
	us_stats_reset();
	return count;
}

static const struct file_operations us_reset_fops = {
	.owner		= THIS_MODULE,
	.open		= simple_open,
	.write		= us_reset_write,
	.llseek		= noop_llseek,
};

int us_debugfs_init(void)
{
	us_dir = debugfs_create_dir("uringstat", NULL);
	if (IS_ERR(us_dir))
		return PTR_ERR(us_dir);
	debugfs_create_file("rings", 0400, us_dir, NULL, &us_rings_fops);
	debugfs_create_file("errors", 0400, us_dir, NULL, &us_errors_fops);
	debugfs_create_file("iowq", 0400, us_dir, NULL, &us_iowq_fops);
	debugfs_create_file("opcodes", 0400, us_dir, NULL, &us_opcodes_fops);
	debugfs_create_file("poll", 0400, us_dir, NULL, &us_poll_fops);
	debugfs_create_file("latency", 0400, us_dir, NULL, &us_latency_fops);
	debugfs_create_file("filter_pid", 0600, us_dir, NULL,
			    &us_filter_pid_fops);
	debugfs_create_file("reset", 0200, us_dir, NULL, &us_reset_fops);
	debugfs_create_file("version", 0400, us_dir, NULL, &us_version_fops);
	return 0;
}

void us_debugfs_exit(void)
{
	debugfs_remove_recursive(us_dir);
	us_dir = NULL;
}

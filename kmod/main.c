// SPDX-License-Identifier: GPL-2.0
/*
 * uringstat: io_uring statistics for every ring on the machine, from the
 * kernel's tracepoints, in /sys/kernel/debug/uringstat/.
 * See Documentation/uringstat.rst and
 * Documentation/ABI/testing/debugfs-uringstat.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/percpu.h>
#include <linux/rcupdate.h>
#include "uringstat.h"

unsigned int us_max_rings = 1024;
module_param_named(max_rings, us_max_rings, uint, 0444);
MODULE_PARM_DESC(max_rings, "rings tracked at most; beyond, the user holding the most rows gives one up (default 1024)");

unsigned int us_max_inflight = 16384;
module_param_named(max_inflight, us_max_inflight, uint, 0444);
MODULE_PARM_DESC(max_inflight, "entries in each in-flight table, by request and by user_data (default 16384)");

/*
 * Timing every request costs a clock read and a locked table entry at
 * both ends, more than everything else the module does per request put
 * together: by default one request in 64 per CPU is timed.
 */
unsigned int us_latency_sample = 64;

static int us_set_latency_sample(const char *val, const struct kernel_param *kp)
{
	unsigned int n;
	int ret;

	ret = kstrtouint(val, 10, &n);
	if (ret)
		return ret;
	if (n > US_LAT_SAMPLE_MAX)
		return -EINVAL;
	WRITE_ONCE(us_latency_sample, n);
	us_inflight_sample_restart();
	return 0;
}

static const struct kernel_param_ops us_latency_sample_ops = {
	.set	= us_set_latency_sample,
	.get	= param_get_uint,
};
module_param_cb(latency_sample, &us_latency_sample_ops, &us_latency_sample,
		0644);
MODULE_PARM_DESC(latency_sample, "time one request in N per CPU for the latency histogram; 1: every request, 0: none (default 64)");

static int __init uringstat_init(void)
{
	int ret;

	if (!us_max_rings || us_max_rings > (1U << 20) ||
	    !us_max_inflight || us_max_inflight > (1U << 24)) {
		pr_err("uringstat: max_rings must be 1..1048576 and max_inflight 1..16777216\n");
		return -EINVAL;
	}
	us_stats = alloc_percpu(struct us_cpustat);
	if (!us_stats)
		return -ENOMEM;
	ret = us_rings_init();
	if (ret)
		goto free_stats;
	ret = us_inflight_init();
	if (ret)
		goto free_rings;
	ret = us_probes_init();
	if (ret)
		goto free_inflight;
	us_teardown_hook_init();
	ret = us_debugfs_init();
	if (ret)
		goto remove_hooks;
	pr_info("uringstat %s loaded (teardown: %s)\n", US_VERSION,
		us_teardown_hook_name());
	return 0;

remove_hooks:
	us_teardown_hook_exit();
	us_probes_exit();
	rcu_barrier();
free_inflight:
	us_inflight_exit();
free_rings:
	us_rings_exit();
free_stats:
	free_percpu(us_stats);
	return ret;
}

/*
 * Files first (no reader left), then the hooks; once
 * tracepoint_synchronize_unregister() has returned no probe is running,
 * and rcu_barrier() waits for the ring structs queued by call_rcu().
 */
static void __exit uringstat_exit(void)
{
	us_debugfs_exit();
	us_teardown_hook_exit();
	us_probes_exit();
	rcu_barrier();
	us_inflight_exit();
	us_rings_exit();
	free_percpu(us_stats);
	pr_info("uringstat unloaded\n");
}

module_init(uringstat_init);
module_exit(uringstat_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("io_uring per-ring, per-opcode, poll and latency statistics in debugfs");
MODULE_AUTHOR("ringlb developers");
MODULE_VERSION(US_VERSION);

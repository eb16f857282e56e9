#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
# /init of the test VM (busybox ash): load uringstat, run the module's
# selftests and ringlb's, unload, show dmesg, power off. Everything goes
# to the serial console, between markers that vmcheck.sh looks for.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
# the reload-rollback test puts the daemon in a pids cgroup
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
ip link set lo up
ulimit -n 8192
export TMPDIR=/tmp HOME=/tmp

what=$(cat /vmcheck.what 2>/dev/null)
echo "VMCHECK-BEGIN $(uname -r)"
n=0
result() {	# result OK|FAIL description
	n=$((n + 1))
	if [ "$1" = OK ]; then echo "ok $n vm: $2"; else echo "not ok $n vm: $2"; fi
}

if insmod /uringstat.ko; then
	result OK "insmod uringstat"
else
	result FAIL "insmod uringstat"
fi
echo "# uringstat version:"
sed 's/^/#   /' /sys/kernel/debug/uringstat/version

echo "# selftests: uringstat: uringstat_test"
URINGSTAT_KO=/uringstat.ko /tests/uringstat_test
echo "# exit: $?"

case " $what " in
*" ringlb "*)
	# the daemon and its own selftests on this kernel's io_uring, and
	# once more while uringstat watches every ring it makes
	echo "# selftests: ringlb (with uringstat loaded)"
	RINGLB_TEST_QUICK=1 RINGLB_EXAMPLES=/tests/examples \
		/tests/ringlb/run.sh /tests/ringlb /tests/ringlb
	echo "# exit: $?"
	if grep -q ringlb /sys/kernel/debug/uringstat/rings 2>/dev/null ||
	   [ "$(sed -n '2,$p' /sys/kernel/debug/uringstat/opcodes | wc -l)" -gt 0 ]; then
		result OK "uringstat saw ringlb's rings"
	else
		result FAIL "uringstat saw ringlb's rings"
	fi
	;;
esac

case " $what " in
*" bench "*)
	# the module's cost: the same boot, unloaded, loaded at its defaults
	# and loaded with every request timed (latency_sample=1), in turn
	# (the order rotates), vmbench's fixed amounts of work (NOPs, and
	# request/response and bulk through ringlb). Under `make vmbench`
	# QEMU's icount plugin logs the instruction count at vmbench's
	# markers: the k-th run's markers belong to the k-th result line, so
	# every run prints one, failed or not.
	for r in 1 2 3; do
		case $r in
		1) order="unloaded loaded timed" ;;
		2) order="loaded timed unloaded" ;;
		*) order="timed unloaded loaded" ;;
		esac
		for state in $order; do
			# loaded afresh each time: its defaults, or every request timed
			lsmod | grep -q '^uringstat' && rmmod uringstat
			case $state in
			loaded) insmod /uringstat.ko ;;
			timed) insmod /uringstat.ko latency_sample=1 ;;
			esac
			out=$(/tests/vmbench -c 1 -n 2000 -m 64 -o 200000 \
				/tests/ringlb/ringlb --engine uring) || out="vmbench failed"
			seen=$(sed -n '2,$p' /sys/kernel/debug/uringstat/opcodes 2>/dev/null |
				awk '{ s += $3 } END { print s + 0 }')
			echo "# vmbench-result round=$r state=$state $out sqes_seen=$seen"
		done
	done
	lsmod | grep -q '^uringstat' || insmod /uringstat.ko
	;;
esac

if rmmod uringstat; then
	result OK "rmmod uringstat"
else
	result FAIL "rmmod uringstat"
fi
[ -e /sys/kernel/debug/uringstat ] && result FAIL "debugfs directory gone after rmmod" ||
	result OK "debugfs directory gone after rmmod"
echo "VMCHECK-DMESG"
dmesg
echo "VMCHECK-END"
poweroff -f

# ringlb top-level Makefile. See README for the two commands that matter:
# `make run` and `make check`.

BUILD ?= $(CURDIR)/build
KDIR ?= /lib/modules/$(shell uname -r)/build
KERNELS ?= 6.1 6.12 newest
# ringlb's selftest binaries that `make check` also runs inside the VMs
VM_RINGLB_TESTS ?= data failover lb startup lifecycle faults hostile_data \
		   hostile_control metrics upgrade
export BUILD

KSFT_HDRS := $(BUILD)/kselftest/kselftest_harness.h

.PHONY: all userspace selftests modules deps check vmcheck run bench \
	install uninstall clean asan vm-payload fuzz fuzz-build soak vmbench \
	cluster-demo man deb bench-tools

all: userspace selftests modules-if-possible

deps:
	@scripts/deps.sh

$(KSFT_HDRS):
	@scripts/kselftest-headers.sh $(BUILD)/kselftest

userspace:
	$(MAKE) -C userspace

# Userspace built again with AddressSanitizer and UBSan, into $(BUILD)/asan.
asan:
	$(MAKE) -C userspace SAN=1 OUT=$(BUILD)/asan

selftests: $(KSFT_HDRS) userspace
	$(MAKE) -C selftests/ringlb

modules:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

# `make` builds the module only where a kernel build tree exists, and says
# so otherwise (the development hosts run a kernel without modules).
.PHONY: modules-if-possible
modules-if-possible:
	@if [ -d "$(KDIR)" ]; then $(MAKE) modules; \
	else echo "make: no kernel build tree at $(KDIR): not building kmod/uringstat.ko (use make modules KDIR=DIR)"; fi

# Man pages, from the reST in Documentation/man/: they include the same
# fragments (options, keys, signals...) as admin-guide.rst, so the two
# cannot say different things. rst2man stops at the first warning.
MAN_PAGES := ringlb.8 ringlbctl.8 ringlb.conf.5 uringstat.4
MAN_OUT := $(MAN_PAGES:%=$(BUILD)/man/%)
man: $(MAN_OUT)

$(BUILD)/man/%: Documentation/man/%.rst $(wildcard Documentation/man/*.rsti) \
		deploy/ringlb.conf deploy/examples/two-services.ini
	@command -v rst2man >/dev/null || scripts/deps.sh
	@mkdir -p $(dir $@)
	rst2man --halt=warning --exit-status=warning $< $@.tmp
	@mv $@.tmp $@

# Static binaries (ringlb + its selftests) for the VM initramfs.
vm-payload: $(KSFT_HDRS)
	$(MAKE) -C userspace STATIC=1 OUT=$(BUILD)/static
	$(MAKE) -C selftests/ringlb STATIC=1 OUT=$(BUILD)/static/selftests RINGLB_OUT=$(BUILD)/static

# libFuzzer targets (clang): `make fuzz FUZZ_SECONDS=N` fuzzes each for N
# seconds (default 60); `make check` gives each a short run.
FUZZ_SECONDS ?= 60
fuzz-build:
	@EXTRA_PKGS="clang libclang-rt-14-dev" scripts/deps.sh
	$(MAKE) -C userspace/fuzz CFLAGS_EXTRA=-Werror

fuzz: fuzz-build
	$(MAKE) -s -C userspace/fuzz run FUZZ_SECONDS=$(FUZZ_SECONDS)

# make bench's own programs (the paced load generator, the floor), built
# with -Werror by `make check` so they cannot rot between bench runs;
# bench.sh builds its own copies.
bench-tools:
	@mkdir -p $(BUILD)/bench-tools
	$(CC) -O2 -g -Wall -Wextra -Werror -o $(BUILD)/bench-tools/pace \
		bench/pace.c -lpthread -lm
	$(CC) -O2 -g -Wall -Wextra -Wno-missing-field-initializers -Werror \
		-o $(BUILD)/bench-tools/floor bench/floor.c -luring

# Mixed load through ringlb for SOAK_SECONDS (default 600): RSS and fds
# sampled every second into $(BUILD)/soak (CSV and a plot), must stay flat.
SOAK_SECONDS ?= 600
soak: deps userspace
	python3 scripts/soak.py --seconds $(SOAK_SECONDS) --out $(BUILD)/soak

# Three ringlb nodes behind ECMP, announcing the service address over BGP
# (BIRD) while healthy, in network namespaces: selftests/cluster, with a
# walk-through of what it does and shows (Documentation/deploy.rst)
cluster-demo: deps userspace
	python3 selftests/cluster/cluster.py $(CURDIR)/userspace --demo

# uringstat (and ringlb) inside QEMU on Debian's kernels; see
# Documentation/testing.rst for VMCHECK_RINGLB, VMCHECK_TESTS, VMCHECK_TIMEOUT
vmcheck: deps $(KSFT_HDRS)
	selftests/vm/vmcheck.sh $(KERNELS)

# uringstat's cost inside the VMs, module unloaded vs loaded in the same
# boot: guest instructions per unit of work (the icount QEMU plugin) and
# rates, per kernel: Documentation/benchmarks-uringstat.rst
VMBENCH_KERNELS ?= $(KERNELS)
vmbench: deps $(KSFT_HDRS)
	bench/icount-build.sh $(BUILD)/icount
	VMCHECK_SUFFIX=bench VMCHECK_BENCH=1 VMCHECK_RINGLB=0 VMCHECK_JOBS=1 VMCHECK_ICOUNT=1 \
		VMCHECK_PLUGIN=$(BUILD)/icount/libicount.so \
		selftests/vm/vmcheck.sh $(VMBENCH_KERNELS)
	bench/vmbench-report.py Documentation/benchmarks-uringstat.rst \
		$(foreach k,$(VMBENCH_KERNELS),$(k)=$(BUILD)/vm/$(k)-bench)

check: deps
	$(MAKE) $(KSFT_HDRS)
	$(MAKE) CFLAGS_EXTRA=-Werror userspace selftests asan
	$(MAKE) -C selftests/ringlb OUT=$(BUILD)/asan/selftests RINGLB_OUT=$(BUILD)/asan SAN=1
	$(MAKE) fuzz-build
	$(MAKE) bench-tools
	scripts/check.sh \
		"unit=$(MAKE) -s -C userspace CFLAGS_EXTRA=-Werror test" \
		"unit-asan=$(MAKE) -s -C userspace SAN=1 OUT=$(BUILD)/asan CFLAGS_EXTRA=-Werror test" \
		"ringlb=RINGLB_EXCLUDE='hostile_*' selftests/ringlb/run.sh $(CURDIR)/userspace $(BUILD)/selftests/ringlb" \
		"ringlb-asan=RINGLB_EXCLUDE='hostile_*' selftests/ringlb/run.sh $(BUILD)/asan $(BUILD)/asan/selftests" \
		"hostile=RINGLB_TESTS='hostile_*' selftests/ringlb/run.sh $(CURDIR)/userspace $(BUILD)/selftests/ringlb" \
		"hostile-asan=RINGLB_TESTS='hostile_*' selftests/ringlb/run.sh $(BUILD)/asan $(BUILD)/asan/selftests" \
		"top=selftests/ringlb/ctl_top.sh $(CURDIR)/userspace" \
		"top-asan=selftests/ringlb/ctl_top.sh $(BUILD)/asan" \
		"fuzz=$(MAKE) -s -C userspace/fuzz run FUZZ_SECONDS=10" \
		"deploy=scripts/deploy-check.sh" \
		"man=scripts/man-check.sh" \
		"kmod=scripts/kmod-check.sh" \
		"soak=python3 scripts/soak.py --seconds 60 --out $(BUILD)/soak" \
		"cluster=python3 selftests/cluster/cluster.py $(CURDIR)/userspace" \
		"&deb=scripts/deb-check.sh" \
		"&vm=VMCHECK_JOBS=1 VMCHECK_TESTS='$(VM_RINGLB_TESTS)' selftests/vm/vmcheck.sh $(KERNELS)"

run: deps userspace
	scripts/run-demo.sh

# ringlb against HAProxy, nginx and socat on loopback: fixed-rate CPU per
# request and latency (bench/pace.c, built into $(BUILD)/bench), then the
# closed-loop tables; regenerates Documentation/benchmarks.rst. About 50
# minutes; QUICK=1 is a smoke run of about a minute and a half (no
# documentation). Settings: the top of bench/bench.sh.
bench: userspace
	@scripts/deps.sh bench
	bench/bench.sh

# Debian packages ringlb and uringstat-dkms from debian/, built in a copy
# of the tree, into $(BUILD)/deb (scripts/make-deb.sh)
deb:
	@scripts/deps.sh deb
	scripts/make-deb.sh

# DESTDIR stages, PREFIX (default /usr/local) places; see scripts/install.sh
PREFIX ?= /usr/local
install: userspace man
	scripts/install.sh "$(DESTDIR)" "$(PREFIX)"

# what install put there, with the same DESTDIR and PREFIX (a changed
# /etc/ringlb/ringlb.conf stays)
uninstall:
	scripts/uninstall.sh "$(DESTDIR)" "$(PREFIX)"

clean:
	$(MAKE) -C userspace clean
	rm -rf $(BUILD)
	-[ -d "$(KDIR)" ] && $(MAKE) -C $(KDIR) M=$(CURDIR) clean

#!/bin/bash
# The "deb" suite of `make check` (KTAP): `make deb` builds ringlb and
# uringstat-dkms without touching the source tree; lintian finds no error
# and no warning in either; the packages hold what they should (binaries
# in /usr, the unit for /usr/sbin, a conffile, man pages, opt-in sysctl
# and modules-load examples, the module's sources with a versioned
# dkms.conf); then, in a fresh Debian 12 chroot, installing both builds
# uringstat.ko with DKMS for the chroot's 6.1 headers, systemd-analyze
# verify accepts the installed unit, ringlb --check accepts the installed
# config, and purging both leaves no file behind that was not there;
# last, the module DKMS built there is booted in the 6.1 VM of
# selftests/vm (the same Debian kernel: the chroot gets the headers of
# the release kernels.sh caches), where it loads and uringstat's own
# selftests find it counting exactly.
#
# The chroot is debootstrapped once into $BUILD/deb-chroot (with every
# package the two need, so later runs install offline) and each run works
# on an overlay over it, mounted with /proc and /dev in a private mount
# namespace (unshare --mount): nothing outlives the test, and the cached
# chroot never changes.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$top/build}
work=$BUILD/deb-check
cache=$BUILD/deb-chroot
# everything the packages need at install time, so dpkg -i needs no
# network: dkms and a compiler, bookworm's 6.1 headers, the libraries
# ringlb links, systemd-analyze, man
# (the headers: those of the VM's 6.1 kernel, see below)
CHROOT_BASE=dkms,systemd,liburing2,libinih1,libc-ares2,libsystemd0,kmod,man-db
MIRROR=${DEB_MIRROR:-http://deb.debian.org/debian}

# --- inside the private mount namespace: $1 = work dir, $2 = chroot -----
if [ "${1:-}" = __in_ns ]; then
	work=$2 base=$3
	root=$work/root
	mkdir -p "$work/upper" "$work/ovl" "$root"
	mount -t overlay overlay \
		-o "lowerdir=$base,upperdir=$work/upper,workdir=$work/ovl" "$root" || exit 1
	mount -t proc proc "$root/proc" || exit 1
	mount --bind /dev "$root/dev" || exit 1
	cp "$work"/pkgs/*.deb "$root/tmp/"
	# step NAME COMMAND...: run in the chroot, log and status per step
	step() {
		local name=$1
		shift
		chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
			/bin/sh -c "$*" > "$work/$name.log" 2>&1
		echo $? > "$work/$name.rc"
	}
	# what a purge must give back: every path but dpkg's own records,
	# logs and caches, /run (a tmpfs on a running system), and /tmp
	# where the packages wait
	snapshot() {
		(cd "$root" && find . -xdev \( -path ./tmp -o -path ./var/lib/dpkg \
			-o -path ./var/log -o -path ./var/cache -o -path ./run \) \
			-prune -o -print) | sort > "$work/$1.list"
	}
	kver=$(cd "$root/lib/modules" && ls -d 6.1.* | head -1)
	echo "$kver" > "$work/kver"
	# the chroot has the kernel's headers but not its image, whose
	# installation runs depmod: run it, so that the module indexes DKMS
	# has depmod write are there before as on a real system
	step depmod "depmod $kver"
	[ "$(cat "$work/depmod.rc")" = 0 ] || exit 0
	snapshot before
	step install "dpkg -i /tmp/*.deb"
	[ "$(cat "$work/install.rc")" = 0 ] || exit 0
	step dkms-built "dkms status uringstat; \
		ko=\$(find /lib/modules/$kver -name 'uringstat.ko*' | head -1); \
		[ -n \"\$ko\" ] || { echo 'no uringstat.ko under /lib/modules/$kver'; exit 1; }; \
		echo \"\$ko\"; modinfo -F vermagic \"\$ko\" | grep -q '^$kver ' && \
		dkms status uringstat -k $kver | grep -q ': installed'"
	# the module DKMS built, for the VM (uncompressed, as insmod wants it)
	ko=$(find "$root/lib/modules/$kver" -name 'uringstat.ko*' | head -1)
	case $ko in
	*.ko) cp "$ko" "$work/uringstat-dkms.ko" ;;
	*.ko.xz) xz -dc "$ko" > "$work/uringstat-dkms.ko" ;;
	*.ko.zst) zstd -qdc "$ko" > "$work/uringstat-dkms.ko" ;;
	esac
	step unit-verify "systemd-analyze verify /lib/systemd/system/ringlb.service && \
		grep '^ExecStart=/usr/sbin/ringlb ' /lib/systemd/system/ringlb.service"
	step config-check "ringlb --check -c /etc/ringlb/ringlb.conf && \
		for p in ringlb ringlbctl ringlb.conf uringstat; do man -w \$p || exit 1; done"
	step purge "dpkg --purge ringlb uringstat-dkms"
	snapshot after
	exit 0
fi

mkdir -p "$work"
# shellcheck source=scripts/ktap.sh
. "$top/scripts/ktap.sh"

echo "KTAP version 1"
echo "1..9"
version=$(sed -n 's/^#define RINGLB_VERSION "\(.*\)"/\1/p' "$top/userspace/version.h")
arch=$(dpkg --print-architecture)
deb=$BUILD/deb/ringlb_${version}_$arch.deb
dkmsdeb=$BUILD/deb/uringstat-dkms_${version}_all.deb

# 1. make deb: both packages, of ringlb's version, and a tree as clean as
#    it was
built() {
	local before after
	"$top/scripts/deps.sh" deb || return 1
	before=$(git -C "$top" status --porcelain --ignored)
	make -s -C "$top" deb || return 1
	after=$(git -C "$top" status --porcelain --ignored)
	[ "$before" = "$after" ] || { echo "the tree changed:"; diff <(echo "$before") <(echo "$after"); return 1; }
	[ -f "$deb" ] && [ -f "$dkmsdeb" ] ||
		{ echo "want $deb and $dkmsdeb (debian/changelog at $version?)"; ls "$BUILD/deb"; return 1; }
}
check make-deb built

# 2. lintian: no error, no warning (overrides only with their reason)
if [ -f "$deb" ] && [ -f "$dkmsdeb" ]; then
	check lintian lintian --fail-on error,warning "$deb" "$dkmsdeb"
else
	fail lintian "no packages"
fi

# 3. what the packages hold
contents() {
	local c u
	c=$(dpkg-deb -c "$deb" | awk '{ print $6 }') || return 1
	for f in ./usr/sbin/ringlb ./usr/bin/ringlbctl \
		 ./lib/systemd/system/ringlb.service ./etc/ringlb/ringlb.conf \
		 ./usr/share/man/man8/ringlb.8.gz ./usr/share/man/man8/ringlbctl.8.gz \
		 ./usr/share/man/man5/ringlb.conf.5.gz ./usr/share/man/man4/uringstat.4.gz \
		 ./usr/share/bash-completion/completions/ringlbctl \
		 ./usr/share/doc/ringlb/admin-guide.rst \
		 ./usr/share/doc/ringlb/examples/sysctl.d/60-ringlb.conf \
		 ./usr/share/doc/ringlb/examples/modules-load.d/uringstat.conf; do
		grep -qx "$f" <<<"$c" || { echo "ringlb lacks $f"; return 1; }
	done
	# opt-in: nothing that changes the host at boot by being installed
	! grep -E '^\./(usr/)?lib/(sysctl|modules-load)\.d/.|^\./etc/(sysctl|modules-load)\.d/.' <<<"$c" ||
		{ echo "installs boot-time settings"; return 1; }
	dpkg-deb -I "$deb" conffiles | grep -qx /etc/ringlb/ringlb.conf ||
		{ echo "/etc/ringlb/ringlb.conf is not a conffile"; return 1; }
	# its settings, not its comments (which tell of make install's PREFIX)
	u=$(dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ./lib/systemd/system/ringlb.service |
		grep -v '^#')
	grep -q '^ExecStart=/usr/sbin/ringlb -c /etc/ringlb/ringlb.conf ' <<<"$u" &&
		! grep -q /usr/local <<<"$u" || { echo "the unit's paths are not /usr's"; return 1; }
	c=$(dpkg-deb -c "$dkmsdeb" | awk '{ print $6 }') || return 1
	for f in dkms.conf Kbuild kmod/Kbuild kmod/main.c kmod/uringstat.h; do
		grep -qx "./usr/src/uringstat-$version/$f" <<<"$c" ||
			{ echo "uringstat-dkms lacks /usr/src/uringstat-$version/$f"; return 1; }
	done
	dpkg-deb --fsys-tarfile "$dkmsdeb" |
		tar -xOf - "./usr/src/uringstat-$version/dkms.conf" |
		grep -qx "PACKAGE_VERSION=\"$version\"" ||
		{ echo "dkms.conf is not for $version"; return 1; }
}
check contents contents

# 4-8. install, build, verify and purge in a fresh bookworm chroot
# The chroot's headers are those of the 6.1 kernel the VMs boot
# (selftests/vm/kernels.sh caches it, from bookworm; this waits while
# make check's vm suite prepares it), so that the module DKMS builds there
# is one that VM kernel loads (9.).
vmrel=""
if [ "$(id -u)" = 0 ] &&
   "$top/selftests/vm/kernels.sh" prepare 6.1 "$BUILD/vm" > "$work/kernel.log" 2>&1; then
	vmrel=$(cat "$BUILD/vm/6.1/release")
fi
CHROOT_PKGS=$CHROOT_BASE,linux-headers-${vmrel:-cloud-amd64}
chroot_ready() {
	[ -f "$cache/bookworm/.ringlb-chroot" ] &&
		[ "$(cat "$cache/bookworm/.ringlb-chroot")" = "$CHROOT_PKGS" ]
}
make_chroot() {
	rm -rf "$cache/bookworm.tmp"
	mkdir -p "$cache"
	debootstrap --variant=minbase --include="$CHROOT_PKGS" bookworm \
		"$cache/bookworm.tmp" "$MIRROR" > "$cache/debootstrap.log" 2>&1 ||
		{ tail -5 "$cache/debootstrap.log"; return 1; }
	rm -f "$cache"/bookworm.tmp/var/cache/apt/archives/*.deb
	echo "$CHROOT_PKGS" > "$cache/bookworm.tmp/.ringlb-chroot"
	rm -rf "$cache/bookworm"
	mv "$cache/bookworm.tmp" "$cache/bookworm"
}
steps="install dkms-built unit-verify config-check purge-clean vm-load-count"
why=""
if [ "$(id -u)" != 0 ]; then
	why="not root"
elif ! command -v debootstrap >/dev/null || ! command -v unshare >/dev/null; then
	why="no debootstrap or unshare"
elif [ ! -f "$deb" ] || [ ! -f "$dkmsdeb" ]; then
	why="no packages to install"
elif ! chroot_ready && ! make_chroot > "$work/chroot.log" 2>&1; then
	why="no bookworm chroot (debootstrap failed: $work/chroot.log)"
fi
if [ -n "$why" ]; then
	for s in $steps; do
		case $why in
		"no packages"*) fail "chroot-$s" "$why" ;;
		*) skip "chroot-$s" "$why" ;;
		esac
	done
	exit $rc
fi

ns=$work/ns
rm -rf "$ns"
mkdir -p "$ns/pkgs"
cp "$deb" "$dkmsdeb" "$ns/pkgs/"
unshare --mount --propagation private -- \
	bash "$0" __in_ns "$ns" "$cache/bookworm" > "$work/ns.log" 2>&1

# report NAME: the step's outcome, as the namespace left it
report() {
	local name=$1 log=$ns/$1.log
	if [ ! -f "$ns/$name.rc" ]; then
		fail "chroot-$name" "not reached: see $work/ns.log"
	elif [ "$(cat "$ns/$name.rc")" = 0 ]; then
		ok "chroot-$name"
	else
		fail "chroot-$name" "see $log"
		tail -8 "$log" | sed 's/^/# /'
	fi
}
report install
report dkms-built
report unit-verify
report config-check
# purge-clean: the purge worked, and the file list is the one before
if [ -f "$ns/purge.rc" ] && [ "$(cat "$ns/purge.rc")" = 0 ]; then
	if diff "$ns/before.list" "$ns/after.list" > "$ns/purge-clean.log"; then
		ok chroot-purge-clean
	else
		fail chroot-purge-clean "left behind or removed: see $ns/purge-clean.log"
		head -8 "$ns/purge-clean.log" | sed 's/^/# /'
	fi
else
	fail chroot-purge-clean "the purge failed or was not reached: see $ns/purge.log"
	tail -8 "$ns/purge.log" 2>/dev/null | sed 's/^/# /'
fi
rm -rf "$ns/upper" "$ns/ovl" "$ns/root"

# 9. the module DKMS built in the chroot, booted in the 6.1 VM: it loads,
#    and uringstat's selftests (selftests/uringstat) find it counting
#    exactly; ringlb's own selftests are the vm suite's
ko=$ns/uringstat-dkms.ko
if [ -z "$vmrel" ]; then
	skip chroot-vm-load-count "no 6.1 VM kernel: see $work/kernel.log"
elif [ ! -s "$ko" ]; then
	fail chroot-vm-load-count "DKMS left no uringstat.ko in the chroot"
elif [ "$(cat "$ns/kver" 2>/dev/null)" != "$vmrel" ]; then
	fail chroot-vm-load-count "DKMS built for $(cat "$ns/kver" 2>/dev/null), the VM boots $vmrel"
elif VMCHECK_SUFFIX=deb VMCHECK_RINGLB=0 VMCHECK_JOBS=1 VMCHECK_MODULE="$ko" \
	"$top/selftests/vm/vmcheck.sh" 6.1 > "$work/vm.log" 2>&1; then
	ok chroot-vm-load-count
else
	fail chroot-vm-load-count "see $work/vm.log"
	grep -E '^ *not ok' "$work/vm.log" | head -8 | sed 's/^/# /'
fi
exit $rc

#!/bin/bash
# kernels.sh - prepare Debian kernels (and matching kbuild trees) for the
# QEMU module tests of uringstat, and build out-of-tree modules for them.
#
# Usage:
#   kernels.sh prepare VER CACHE
#       Ensure CACHE/VER/vmlinuz (bootable bzImage) and CACHE/VER/build
#       (kbuild tree) exist.  Progress goes to stderr; stdout stays empty.
#   kernels.sh kbuild VER CACHE SRCDIR [make args...]
#       Build the out-of-tree module in SRCDIR for kernel VER, i.e.
#       `make -C CACHE/VER/build M=SRCDIR modules [make args...]`, with the
#       compiler that built that kernel.  Output (*.ko) lands in SRCDIR.
#       Implies `prepare`.
#
#   VER is 6.1 or 6.12.  Everything downloaded or generated lives in CACHE,
#   so a second run is a few seconds and needs no network.
#
# 6.1  = the host's own Debian 12 kernel: CACHE/6.1/{vmlinuz,build} are
#        symlinks into /boot and /lib/modules; modules build on the host with
#        gcc-12 (the compiler the headers' Makefile names).
# 6.12 = Debian 13 (trixie) kernel, flavour $KFLAVOUR (default cloud-amd64,
#        which has serial console, debugfs, kprobes, io_uring, devtmpfs and
#        initrd built in, and no forced module signing).  Its kbuild helpers
#        (fixdep, modpost) need trixie's glibc and its Makefile wants gcc-14,
#        so modules for it build inside a trixie chroot, CACHE/trixie-chroot,
#        into which the headers packages are unpacked at their real paths
#        (/usr/src/linux-headers-*, /usr/lib/linux-kbuild-*).
#        CACHE/6.12/build is a symlink to the headers inside that chroot: it
#        resolves on the host (read .config, Module.symvers, headers), but
#        `make -C` on it only works inside the chroot - use `kbuild`.
#        The image package is unpacked into CACHE/6.12/root (vmlinuz, config,
#        modules) and CACHE/6.12/vmlinuz is a copy of its bzImage.
#        Trixie packages are fetched with a private apt configuration under
#        CACHE and are never installed into the host system.
#
# Environment:
#   KFLAVOUR=amd64   use the generic trixie kernel instead of cloud-amd64
#                    (give it to `kbuild` as well as to `prepare`)
#   REFRESH=1        re-resolve the newest trixie 6.12 ABI (apt-get update)
#   DEBIAN_MIRROR    default http://deb.debian.org/debian
#
# Needs root (debootstrap, chroot, mounts).  Concurrent runs on one CACHE
# serialise `prepare` with a lock; builds run in parallel, each in its own
# mount namespace, so no mount outlives the script even if it is killed.

set -euo pipefail

MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
KFLAVOUR=${KFLAVOUR:-cloud-amd64}
REFRESH=${REFRESH:-0}
# Packages the 6.12 kbuild needs in the chroot: compiler named by the
# headers' Makefile, make, libc/libelf headers for the host tools, pahole
# for BTF of modules, bc for the kernel's Makefiles, kmod for modinfo.
CHROOT_PKGS=gcc-14,make,libc6-dev,libelf-dev,pahole,bc,kmod

log() { printf 'kernels.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
	sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2
	exit 2
}

# Serialise cache mutation between concurrent invocations.  fd 9 stays open
# (and locked) until unlock_cache or process exit.
lock_cache() {
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.lock"
	flock 9
}
unlock_cache() { flock -u 9; exec 9>&-; }

# ---------------------------------------------------------------- 6.1 (host)

# Newest installed 6.1 kernel that has both an image and a kbuild tree.
find_host_61() {
	local d rel best=
	for d in /lib/modules/6.1.*-amd64; do
		rel=${d##*/}
		if [ ! -f "/boot/vmlinuz-$rel" ] || [ ! -f "$d/build/Makefile" ]; then
			continue
		fi
		best=$(printf '%s\n%s\n' "$best" "$rel" | sed '/^$/d' | sort -V | tail -n1)
	done
	printf '%s' "$best"
}

prepare_61() {
	local rel vd=$CACHE/6.1
	rel=$(find_host_61)
	if [ -z "$rel" ]; then
		log "no 6.1 kernel with headers installed; installing from bookworm"
		apt-get update >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y \
			linux-image-amd64 linux-headers-amd64 >&2
		rel=$(find_host_61)
		[ -n "$rel" ] || die "linux-image-amd64 did not provide a 6.1 kernel"
	fi
	command -v gcc-12 >/dev/null || die "gcc-12 missing (apt-get install gcc-12)"
	mkdir -p "$vd"
	ln -sfn "/boot/vmlinuz-$rel" "$vd/vmlinuz"
	ln -sfn "/lib/modules/$rel/build" "$vd/build"
	echo "$rel" >"$vd/release"
	log "6.1: $rel"
}

kbuild_61() {
	# The headers' Makefile (.kernelvariables) already sets CC=gcc-12.
	make -C "$CACHE/6.1/build" M="$SRC" "$@"
}

# -------------------------------------------------------- trixie chroot

CHROOT_STAMP=.ringlb-debootstrap-done

ensure_chroot() {
	local root=$CACHE/trixie-chroot
	[ -f "$root/$CHROOT_STAMP" ] && return 0
	if [ -e "$root" ]; then
		# An interrupted debootstrap: start over.  Refuse if anything is
		# mounted inside (rm would descend into it); --one-file-system
		# is a second guard.
		if awk -v r="$root/" 'index($2 "/", r) == 1 { f = 1 } END { exit !f }' /proc/self/mounts; then
			die "$root is incomplete and has mounts inside; unmount them first"
		fi
		log "removing incomplete chroot $root"
		rm -rf --one-file-system "$root"
	fi
	command -v debootstrap >/dev/null || die "debootstrap missing (apt-get install debootstrap)"
	log "creating trixie chroot in $root (about a minute)"
	debootstrap --variant=minbase --include="$CHROOT_PKGS" \
		trixie "$root" "$MIRROR" >&2
	touch "$root/$CHROOT_STAMP"
}

# ------------------------------------------------------------ 6.12 (trixie)

# apt-get/apt-cache on a private trixie index under CACHE; the host's
# sources, lists and package cache are left alone.
apt_private() {
	local tool=$1
	shift
	"$tool" -o Dir::Etc::SourceList="$CACHE/apt/trixie.list" \
		-o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists="$CACHE/apt/lists" \
		-o Dir::Cache="$CACHE/apt/cache" \
		"$@"
}

apt_private_update() {
	mkdir -p "$CACHE/apt/lists/partial" "$CACHE/apt/cache/archives/partial"
	echo "deb $MIRROR trixie main" >"$CACHE/apt/trixie.list"
	log "apt-get update (private trixie index)"
	apt_private apt-get -q update >&2
}

# Newest 6.12 ABI (e.g. 6.12.117+deb13) of the flavour's meta package.
resolve_612_abi() {
	apt_private apt-cache depends "linux-image-$KFLAVOUR" |
		sed -n "s/^ *Depends: linux-image-\(6\.12\.[0-9][^ ]*\)-$KFLAVOUR\$/\1/p" |
		sort -V | tail -n1
}

# Download the image and the headers chain (flavour headers -> -common and
# linux-kbuild-<abi>, names taken from apt-cache depends so they follow
# Debian's renames) into $1.
download_612() {
	local abi=$1 dir=$2 hdr kb
	hdr=linux-headers-$abi-$KFLAVOUR
	kb=$(apt_private apt-cache depends "$hdr" |
		sed -n 's/^ *Depends: \(linux-kbuild-[^ ]*\)$/\1/p' | head -n1)
	[ -n "$kb" ] || die "cannot find the linux-kbuild dependency of $hdr"
	rm -rf "$dir"
	mkdir -p "$dir"
	log "downloading linux-image-$abi-$KFLAVOUR-unsigned $hdr linux-headers-$abi-common $kb"
	# Download as root: apt's _apt sandbox user may not write into $dir.
	(cd "$dir" && apt_private apt-get -q \
		-o APT::Sandbox::User=root download \
		"linux-image-$abi-$KFLAVOUR-unsigned" "$hdr" \
		"linux-headers-$abi-common" "$kb") >&2
}

prepare_612() {
	local vd=$CACHE/6.12 chroot=$CACHE/trixie-chroot rel='' abi stamp f
	mkdir -p "$vd"
	ensure_chroot

	# release is written last, so it marks a complete download+unpack;
	# flavour is checked separately (cloud-amd64 ends in -amd64 too).
	if [ "$REFRESH" != 1 ] && [ -f "$vd/vmlinuz" ] && [ -d "$vd/debs" ] &&
		[ "$(cat "$vd/flavour" 2>/dev/null)" = "$KFLAVOUR" ]; then
		rel=$(cat "$vd/release" 2>/dev/null || true)
	fi

	if [ -z "$rel" ]; then
		rm -f "$vd/release"
		apt_private_update
		abi=$(resolve_612_abi)
		[ -n "$abi" ] || die "no 6.12 kernel found for linux-image-$KFLAVOUR in trixie"
		rel=$abi-$KFLAVOUR
		if [ "$(cat "$vd/debs/.release" 2>/dev/null)" != "$rel" ]; then
			download_612 "$abi" "$vd/debs.tmp"
			echo "$rel" >"$vd/debs.tmp/.release"
			rm -rf "$vd/debs"
			mv "$vd/debs.tmp" "$vd/debs"
		fi
		log "unpacking linux-image-$rel into $vd/root"
		rm -rf "$vd/root" "$vd/root.tmp"
		dpkg-deb -x "$vd"/debs/linux-image-"$rel"-unsigned_*.deb "$vd/root.tmp"
		mv "$vd/root.tmp" "$vd/root"
		cp "$vd/root/boot/vmlinuz-$rel" "$vd/vmlinuz.tmp"
		mv "$vd/vmlinuz.tmp" "$vd/vmlinuz"
		echo "$KFLAVOUR" >"$vd/flavour"
		echo "$rel" >"$vd/release"
	fi

	# Headers go into the chroot at their packaged paths (all under ./usr,
	# so usrmerge symlinks like /lib are untouched).  Stamped per release
	# because a recreated chroot needs them again.
	stamp=$chroot/.ringlb-headers-$rel
	if [ ! -f "$stamp" ]; then
		log "unpacking headers for $rel into the chroot"
		for f in "$vd"/debs/linux-headers-*.deb "$vd"/debs/linux-kbuild-*.deb; do
			dpkg-deb -x "$f" "$chroot"
		done
		[ -f "$chroot/usr/src/linux-headers-$rel/Makefile" ] ||
			die "headers for $rel missing after unpacking"
		touch "$stamp"
	fi
	ln -sfn "../trixie-chroot/usr/src/linux-headers-$rel" "$vd/build"
	log "6.12: $rel"
}

# Run make inside the chroot with SRC bind-mounted there.  Runs in a new
# private mount namespace (see kbuild_612), so every mount vanishes with the
# process, whatever kills it; the trap still unmounts for tidiness.
kbuild_612_in_ns() {
	local chroot=$CACHE/trixie-chroot rel mnt
	rel=$(cat "$CACHE/6.12/release")
	# Same absolute path as on the host, so compiler messages name real
	# files and kbuild's .cmd files stay valid for incremental rebuilds.
	# A path that would shadow the chroot's own system falls back to a
	# scratch mount point.
	case $SRC in
	/ | /usr | /usr/* | /etc | /etc/* | /bin* | /sbin* | /lib* | /proc* | /dev* | /sys*)
		mnt=$(mktemp -d "$chroot/tmp/kbuild.XXXXXX") ;;
	*)
		mnt=$chroot$SRC
		mkdir -p "$mnt" ;;
	esac
	# shellcheck disable=SC2064 # expand now: paths are fixed
	trap "umount -l '$mnt' '$chroot/dev' '$chroot/proc' 2>/dev/null; rmdir '$mnt' 2>/dev/null || :" EXIT
	mount --bind "$SRC" "$mnt"
	mount -t proc proc "$chroot/proc"
	mount --bind /dev "$chroot/dev"
	chroot "$chroot" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
		make -C "/usr/src/linux-headers-$rel" M="${mnt#"$chroot"}" "$@"
}

kbuild_612() {
	unshare --mount --propagation private -- \
		bash "$SELF" __kbuild_612_in_ns 6.12 "$CACHE" "$SRC" "$@"
}

# ------------------------------------------------------------------- main

run_make() {
	case $VER in
	6.1) kbuild_61 "$@" ;;
	6.12) kbuild_612 "$@" ;;
	esac
}

# True if SRC has a .ko whose vermagic is not for CACHE/VER's release.
foreign_modules() {
	local rel ko
	rel=$(cat "$CACHE/$VER/release")
	for ko in "$SRC"/*.ko; do
		[ -f "$ko" ] || continue
		case $(modinfo -F vermagic "$ko" 2>/dev/null) in
		"$rel "*) ;;
		*) return 0 ;;
		esac
	done
	return 1
}

prepare() {
	lock_cache
	case $VER in
	6.1) prepare_61 ;;
	6.12) prepare_612 ;;
	*) die "unsupported kernel version '$VER' (want 6.1 or 6.12)" ;;
	esac
	unlock_cache
}

SELF=$(cd "$(dirname "$0")" && pwd -P)/${0##*/}
[ $# -ge 3 ] || usage
cmd=$1 VER=$2 CACHE=$3
shift 3
[ "$(id -u)" = 0 ] || die "must run as root"
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd -P)

case $cmd in
prepare)
	[ $# -eq 0 ] || usage
	prepare
	;;
kbuild | __kbuild_612_in_ns)
	[ $# -ge 1 ] || usage
	[ -d "$1" ] || die "no such directory: $1"
	SRC=$(cd "$1" && pwd -P)
	shift
	if [ "$cmd" = __kbuild_612_in_ns ]; then
		kbuild_612_in_ns "$@"
		exit
	fi
	prepare
	# kbuild does not notice that the kernel tree changed under an
	# existing build (e.g. 6.1 -> 6.12, or another 6.12 flavour) and
	# would keep the old .ko: clean first when a .ko is foreign.
	if foreign_modules; then
		log "$SRC holds modules built for another kernel: make clean"
		run_make clean
	fi
	run_make modules "$@"
	;;
*) usage ;;
esac

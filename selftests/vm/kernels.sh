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
#   VER is 6.1, 6.12, newest, or the X.Y (>= 6.13) of the kernel that
#   newest resolves to.  Everything downloaded or generated lives in CACHE,
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
# newest = the highest $KFLAVOUR kernel of $NEW_SUITES (sid and
#        trixie-backports), e.g. 7.3.4+deb13 from trixie-backports.  It is
#        kept in CACHE/X.Y like 6.12, and CACHE/newest is a symlink to X.Y
#        (VER=X.Y then works too); it is looked up again only with REFRESH=1
#        or when that link is missing.  Each suite has its own private apt
#        index (CACHE/apt/<suite>.list, lists-<suite>); modules build in the
#        chroot of the release the packages are built for (trixie-backports:
#        CACHE/trixie-chroot, sid: CACHE/sid-chroot, made on demand) with the
#        gcc-N its headers depend on.  Since 7.x the image comes split as
#        linux-binary-unsigned-* (vmlinuz), linux-base-* (config) and
#        linux-modules-*; all three are unpacked into CACHE/X.Y/root.
#        CACHE/X.Y/suite and CACHE/X.Y/chroot record where it came from.
#
# Environment:
#   KFLAVOUR=amd64   use the generic trixie kernel instead of cloud-amd64
#                    (give it to `kbuild` as well as to `prepare`)
#   REFRESH=1        re-resolve the newest ABI (apt-get update): 6.12 in
#                    trixie, newest/X.Y in $NEW_SUITES
#   NEW_SUITES       default "sid trixie-backports"
#   DEBIAN_MIRROR    default http://deb.debian.org/debian
#
# Needs root (debootstrap, chroot, mounts).  Concurrent runs on one CACHE
# serialise `prepare` with a lock; builds run in parallel, each in its own
# mount namespace, so no mount outlives the script even if it is killed.

set -euo pipefail

MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
KFLAVOUR=${KFLAVOUR:-cloud-amd64}
REFRESH=${REFRESH:-0}
# Packages every chroot kbuild needs: make, libc/libelf headers for the host tools, pahole
# for BTF of modules, bc for the kernel's Makefiles, kmod for modinfo.
# (The compiler, gcc-N, is added per kernel from its headers' Depends.)
CHROOT_PKGS=make,libc6-dev,libelf-dev,pahole,bc,kmod
# Where VER=newest (and X.Y above 6.12) is looked for: the highest
# linux-image-$KFLAVOUR of these suites wins.
NEW_SUITES=${NEW_SUITES:-sid trixie-backports}

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

# ------------------------------------------------------- suite chroots

CHROOT_STAMP=.ringlb-debootstrap-done

# The Debian release a suite's packages are built for, which is also the
# chroot their kbuild runs in: trixie-backports -> trixie, unstable -> sid.
chroot_base() {
	case $1 in
	*-backports) printf '%s' "${1%-backports}" ;;
	unstable) printf 'sid' ;;
	*) printf '%s' "$1" ;;
	esac
}

# ensure_chroot BASE GCC: CACHE/BASE-chroot, a minbase debootstrap of BASE
# with CHROOT_PKGS and the compiler package GCC (e.g. gcc-14).  A chroot
# that exists but lacks GCC gets it from its own suite.
ensure_chroot() {
	local base=$1 gcc=$2 root=$CACHE/$1-chroot
	if [ -f "$root/$CHROOT_STAMP" ]; then
		[ -x "$root/usr/bin/$gcc" ] && return 0
		log "installing $gcc into $root"
		# shellcheck disable=SC2016 # expanded by the inner bash
		unshare --mount --propagation private -- bash -c '
			set -e
			mount -t proc proc "$1/proc"
			mount --bind /dev "$1/dev"
			chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
				DEBIAN_FRONTEND=noninteractive \
				sh -c "apt-get -q update && apt-get -q install -y --no-install-recommends $2"
		' _ "$root" "$gcc" >&2
		[ -x "$root/usr/bin/$gcc" ] || die "$gcc not installed in $root"
		return 0
	fi
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
	log "creating $base chroot in $root (about a minute)"
	debootstrap --variant=minbase --include="$gcc,$CHROOT_PKGS" \
		"$base" "$root" "$MIRROR" >&2
	touch "$root/$CHROOT_STAMP"
}

# ------------------------------------------- Debian suites' own kernels

# apt-get/apt-cache on a private index of one suite under CACHE; the
# host's sources, lists and package cache are left alone.  (trixie keeps
# the unsuffixed lists/ and cache/ of the 6.12-only layout.)
apt_private() {
	local suite=$1 tool=$2 sfx=
	shift 2
	[ "$suite" = trixie ] || sfx=-$suite
	"$tool" -o Dir::Etc::SourceList="$CACHE/apt/$suite.list" \
		-o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists="$CACHE/apt/lists$sfx" \
		-o Dir::Cache="$CACHE/apt/cache$sfx" \
		"$@"
}

UPDATED=' '
apt_private_update() {
	local suite=$1 sfx=
	case $UPDATED in *" $suite "*) return 0 ;; esac
	[ "$suite" = trixie ] || sfx=-$suite
	mkdir -p "$CACHE/apt/lists$sfx/partial" "$CACHE/apt/cache$sfx/archives/partial"
	echo "deb $MIRROR $suite main" >"$CACHE/apt/$suite.list"
	log "apt-get update (private $suite index)"
	apt_private "$suite" apt-get -q update >&2
	UPDATED="$UPDATED$suite "
}

# resolve_abi SUITE: the ABI (e.g. 6.12.117+deb13, 7.3.4+deb13) that the
# flavour's meta package pulls in, in that suite.
resolve_abi() {
	apt_private "$1" apt-cache depends "linux-image-$KFLAVOUR" |
		sed -n "s/^ *Depends: linux-image-\([0-9][^ -]*\)-$KFLAVOUR\$/\1/p" |
		sort -V | tail -n1
}

majmin() { printf '%s' "$1" | sed -n 's/^\([0-9]*\.[0-9]*\)\..*/\1/p'; }

# The suite (of NEW_SUITES) with the highest kernel ABI; "suite abi".
resolve_newest() {
	local s abi best='' bs=''
	for s in $NEW_SUITES; do
		apt_private_update "$s"
		abi=$(resolve_abi "$s")
		[ -n "$abi" ] || continue
		if [ -z "$best" ] || [ "$(printf '%s\n%s\n' "$best" "$abi" | sort -V | tail -n1)" = "$abi" ]; then
			best=$abi bs=$s
		fi
	done
	[ -n "$best" ] || die "no linux-image-$KFLAVOUR in any of: $NEW_SUITES"
	printf '%s %s' "$bs" "$best"
}

# The binary packages that make up the bootable image of ABI in SUITE.
# Up to 6.x: linux-image-<abi>-<flavour>-unsigned (boot/vmlinuz-<rel> and
# the modules).  Since 7.x the image is split: linux-binary-unsigned-*
# (lib/modules/<rel>/vmlinuz.unsigned), linux-base-* (config, System.map)
# and linux-modules-*.
image_pkgs() {
	local suite=$1 abi=$2 rel=$2-$KFLAVOUR
	if apt_private "$suite" apt-cache show "linux-binary-unsigned-$rel" >/dev/null 2>&1; then
		printf '%s ' "linux-binary-unsigned-$rel" "linux-base-$rel" "linux-modules-$rel"
	else
		printf '%s ' "linux-image-$rel-unsigned"
	fi
}

# Download the image and the headers chain (flavour headers -> -common and
# linux-kbuild-<abi>, names taken from apt-cache depends so they follow
# Debian's renames) into $3.
download_kernel() {
	local suite=$1 abi=$2 dir=$3 hdr kb img
	hdr=linux-headers-$abi-$KFLAVOUR
	kb=$(apt_private "$suite" apt-cache depends "$hdr" |
		sed -n 's/^ *Depends: \(linux-kbuild-[^ ]*\)$/\1/p' | head -n1)
	[ -n "$kb" ] || die "cannot find the linux-kbuild dependency of $hdr"
	img=$(image_pkgs "$suite" "$abi")
	rm -rf "$dir"
	mkdir -p "$dir"
	log "downloading from $suite: $img$hdr linux-headers-$abi-common $kb"
	# Download as root: apt's _apt sandbox user may not write into $dir.
	# shellcheck disable=SC2086 # $img is a list of package names
	(cd "$dir" && apt_private "$suite" apt-get -q \
		-o APT::Sandbox::User=root download \
		$img "$hdr" "linux-headers-$abi-common" "$kb") >&2
}

# The compiler package the flavour headers depend on (gcc-N-for-host ->
# gcc-N), i.e. the one their Makefile's CC names.
headers_gcc() {
	dpkg-deb -f "$1"/debs/linux-headers-*-"$KFLAVOUR"_*.deb Depends |
		tr ',' '\n' | sed -n 's/^ *\(gcc-[0-9][0-9]*\)\(-for-host\)\{0,1\}\( .*\)\{0,1\}$/\1/p' |
		head -n1
}

# prepare_deb VER SUITE|'' ABI|'': CACHE/VER for a kernel from a Debian
# suite (6.12: trixie; newer: sid or trixie-backports).  With SUITE and ABI
# given that kernel is taken; otherwise the cache is used if complete, or
# VER is looked up (6.12 in trixie, X.Y in NEW_SUITES).
prepare_deb() {
	local ver=$1 suite=$2 abi=$3 vd=$CACHE/$1 rel='' s a gcc base chroot stamp f img

	# release is written last, so it marks a complete download+unpack;
	# flavour is checked separately (cloud-amd64 ends in -amd64 too).
	if [ -z "$abi" ] && [ "$REFRESH" != 1 ] && [ -f "$vd/vmlinuz" ] &&
		[ -d "$vd/debs" ] &&
		[ "$(cat "$vd/flavour" 2>/dev/null)" = "$KFLAVOUR" ]; then
		rel=$(cat "$vd/release" 2>/dev/null || true)
		suite=$(cat "$vd/suite" 2>/dev/null || echo trixie)
	fi

	if [ -z "$rel" ]; then
		rm -f "$vd/release"
		if [ -z "$abi" ] && [ "$ver" = 6.12 ]; then
			suite=trixie
			apt_private_update trixie
			abi=$(resolve_abi trixie)
			case $abi in 6.12.*) ;; *) abi= ;; esac
			[ -n "$abi" ] || die "no 6.12 kernel found for linux-image-$KFLAVOUR in trixie"
		elif [ -z "$abi" ]; then
			for s in $NEW_SUITES; do
				apt_private_update "$s"
				a=$(resolve_abi "$s")
				[ "$(majmin "$a")" = "$ver" ] || continue
				if [ -z "$abi" ] || [ "$(printf '%s\n%s\n' "$abi" "$a" | sort -V | tail -n1)" = "$a" ]; then
					abi=$a suite=$s
				fi
			done
			[ -n "$abi" ] || die "no $ver kernel for linux-image-$KFLAVOUR in $NEW_SUITES (try VER=newest)"
		fi
		rel=$abi-$KFLAVOUR
		mkdir -p "$vd"
		if [ "$(cat "$vd/debs/.release" 2>/dev/null)" != "$rel" ]; then
			download_kernel "$suite" "$abi" "$vd/debs.tmp"
			echo "$rel" >"$vd/debs.tmp/.release"
			rm -rf "$vd/debs"
			mv "$vd/debs.tmp" "$vd/debs"
		fi
		log "unpacking the $rel image into $vd/root"
		rm -rf "$vd/root" "$vd/root.tmp"
		for f in "$vd"/debs/*.deb; do
			case ${f##*/} in
			linux-headers-* | linux-kbuild-*) ;;
			*) dpkg-deb -x "$f" "$vd/root.tmp" ;;
			esac
		done
		mv "$vd/root.tmp" "$vd/root"
		img=$vd/root/boot/vmlinuz-$rel
		[ -f "$img" ] || img=$vd/root/usr/lib/modules/$rel/vmlinuz.unsigned
		[ -f "$img" ] || img=$vd/root/usr/lib/modules/$rel/vmlinuz
		[ -f "$img" ] || die "no kernel image for $rel in $vd/debs"
		cp "$img" "$vd/vmlinuz.tmp"
		mv "$vd/vmlinuz.tmp" "$vd/vmlinuz"
		echo "$KFLAVOUR" >"$vd/flavour"
		echo "$suite" >"$vd/suite"
		echo "$rel" >"$vd/release"
	fi

	base=$(chroot_base "$suite")
	gcc=$(headers_gcc "$vd")
	[ -n "$gcc" ] || die "cannot tell which gcc the $rel headers want"
	ensure_chroot "$base" "$gcc"
	chroot=$CACHE/$base-chroot
	echo "$base" >"$vd/chroot"

	# Headers go into the chroot at their packaged paths (all under ./usr,
	# so usrmerge symlinks like /lib are untouched).  Stamped per release
	# because a recreated chroot needs them again.
	stamp=$chroot/.ringlb-headers-$rel
	if [ ! -f "$stamp" ]; then
		log "unpacking headers for $rel into the $base chroot"
		for f in "$vd"/debs/linux-headers-*.deb "$vd"/debs/linux-kbuild-*.deb; do
			dpkg-deb -x "$f" "$chroot"
		done
		[ -f "$chroot/usr/src/linux-headers-$rel/Makefile" ] ||
			die "headers for $rel missing after unpacking"
		touch "$stamp"
	fi
	ln -sfn "../$base-chroot/usr/src/linux-headers-$rel" "$vd/build"
	log "$ver: $rel (from $suite, modules built in the $base chroot with $gcc)"
}

# VER=newest: the highest kernel of NEW_SUITES, kept as the symlink
# CACHE/newest -> X.Y; re-resolved (network) only when missing or REFRESH=1.
prepare_newest() {
	local link=$CACHE/newest cur suite abi ver
	cur=$(readlink "$link" 2>/dev/null || true)
	if [ "$REFRESH" != 1 ] && [ -n "$cur" ] && [ -f "$CACHE/$cur/release" ] &&
		[ "$(cat "$CACHE/$cur/flavour" 2>/dev/null)" = "$KFLAVOUR" ]; then
		VER=$cur
		prepare_deb "$VER" '' ''
		return
	fi
	read -r suite abi <<<"$(resolve_newest)"
	ver=$(majmin "$abi")
	case $ver in 6.1 | 6.12 | newest | '') die "newest kernel $abi has an unusable version" ;; esac
	VER=$ver
	if [ "$REFRESH" != 1 ] && [ "$(cat "$CACHE/$ver/release" 2>/dev/null)" = "$abi-$KFLAVOUR" ] &&
		[ "$(cat "$CACHE/$ver/flavour" 2>/dev/null)" = "$KFLAVOUR" ]; then
		prepare_deb "$ver" '' ''
	else
		prepare_deb "$ver" "$suite" "$abi"
	fi
	# vmcheck.sh makes CACHE/newest a directory before calling us: an
	# empty one gives way to the link.
	if [ -d "$link" ] && [ ! -L "$link" ]; then
		rmdir "$link" 2>/dev/null || die "$link is a non-empty directory, not a link"
	fi
	ln -sfn "$ver" "$link"
	log "newest: $ver"
}

# Run make inside the chroot with SRC bind-mounted there.  Runs in a new
# private mount namespace (see kbuild_chroot), so every mount vanishes with
# the process, whatever kills it; the trap still unmounts for tidiness.
kbuild_chroot_in_ns() {
	local chroot rel mnt
	chroot=$CACHE/$(cat "$CACHE/$VER/chroot" 2>/dev/null || echo trixie)-chroot
	rel=$(cat "$CACHE/$VER/release")
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

kbuild_chroot() {
	unshare --mount --propagation private -- \
		bash "$SELF" __kbuild_in_ns "$VER" "$CACHE" "$SRC" "$@"
}

# ------------------------------------------------------------------- main

run_make() {
	case $VER in
	6.1) kbuild_61 "$@" ;;
	*) kbuild_chroot "$@" ;;
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
	6.12) prepare_deb 6.12 '' '' ;;
	newest) prepare_newest ;;
	[6-9].[0-9]* | [1-9][0-9].[0-9]*)
		case $VER in *[!0-9.]* | *.*.*) die "unsupported kernel version '$VER'" ;; esac
		if [ "$(printf '6.13\n%s\n' "$VER" | sort -V | head -n1)" != 6.13 ]; then
			die "unsupported kernel version '$VER' (want 6.1, 6.12, newest or >= 6.13)"
		fi
		prepare_deb "$VER" '' '' ;;
	*) die "unsupported kernel version '$VER' (want 6.1, 6.12, newest or >= 6.13)" ;;
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
kbuild | __kbuild_in_ns)
	[ $# -ge 1 ] || usage
	[ -d "$1" ] || die "no such directory: $1"
	SRC=$(cd "$1" && pwd -P)
	shift
	if [ "$cmd" = __kbuild_in_ns ]; then
		kbuild_chroot_in_ns "$@"
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

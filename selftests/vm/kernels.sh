#!/bin/bash
# kernels.sh - prepare Debian kernels (and matching kbuild trees) for the
# QEMU module tests of uringstat, and build out-of-tree modules for them.
# Nothing is ever installed into the host: no kernel image in /boot, no
# headers in /usr/src, no modules in /lib/modules.
#
# Usage:
#   kernels.sh prepare VER CACHE [PKG...]
#       Ensure CACHE/VER/vmlinuz (bootable bzImage) and CACHE/VER/build
#       (kbuild tree) exist, and that the chroot VER's modules build in
#       has the Debian packages PKG (installed from the chroot's own
#       suite, e.g. dkms).  Progress goes to stderr; stdout stays empty.
#   kernels.sh kbuild VER CACHE SRCDIR [make args...]
#       Build the out-of-tree module in SRCDIR for kernel VER, i.e.
#       `make -C CACHE/VER/build M=SRCDIR modules [make args...]`, inside
#       VER's chroot with the compiler that built that kernel.  Output
#       (*.ko) lands in SRCDIR.  Implies `prepare`.
#   kernels.sh run VER CACHE DIR CMD [ARG...]
#       Run CMD inside VER's chroot, in DIR, which is bind-mounted there
#       at its own path (DIR must not be a system directory such as /usr
#       or /etc).  Implies `prepare`.  E.g. dkms against VER's headers.
#
#   VER is 6.1, 6.12, newest, or the X.Y (>= 6.13) of the kernel that
#   newest resolves to.  Everything downloaded or generated lives in CACHE,
#   so a second run is a few seconds and needs no network.
#
# Every kernel comes from a Debian suite, flavour $KFLAVOUR (default
# cloud-amd64, which has serial console, debugfs, kprobes, io_uring,
# devtmpfs and initrd built in, and no forced module signing):
#   6.1    = Debian 12 (bookworm), e.g. 6.1.0-50-cloud-amd64
#   6.12   = Debian 13 (trixie), e.g. 6.12.117+deb13-cloud-amd64
#   newest = the highest kernel of $NEW_SUITES (sid and trixie-backports),
#            e.g. 7.3.4+deb13 from trixie-backports.  It is kept in
#            CACHE/X.Y like the others, and CACHE/newest is a symlink to
#            X.Y (VER=X.Y then works too); it is looked up again only with
#            REFRESH=1 or when that link is missing.
# The packages are fetched with a private apt index per suite
# (CACHE/apt/<suite>.list, lists-<suite>; trixie: lists) and are never
# installed into the host system.  The image package is unpacked into
# CACHE/VER/root (vmlinuz, config, modules) and CACHE/VER/vmlinuz is a copy
# of its bzImage.  Since 7.x the image comes split as
# linux-binary-unsigned-* (vmlinuz), linux-base-* (config) and
# linux-modules-*; all three are unpacked.
#
# A kernel's kbuild helpers (fixdep, modpost) need the glibc of the
# release it was built for, and its Makefile names that release's gcc-N
# (gcc-12 for bookworm, gcc-14 for trixie).  So its modules build inside a
# minbase debootstrap chroot of that release, CACHE/<release>-chroot
# (bookworm-chroot for 6.1, trixie-chroot for 6.12 and trixie-backports,
# sid-chroot for sid, each made on demand), into which the headers
# packages are unpacked at their real paths (/usr/src/linux-headers-*,
# /usr/lib/linux-kbuild-*, /lib/modules/<rel>/build).  CACHE/VER/build is
# a symlink to the headers inside that chroot: it resolves on the host
# (read .config, Module.symvers, headers), but `make -C` on it only works
# inside the chroot - use `kbuild`.  CACHE/VER/suite and CACHE/VER/chroot
# record where a kernel came from and where it builds.
#
# In particular `kernels.sh prepare 6.1 CACHE` leaves CACHE/bookworm-chroot
# as a Debian 12 system with the 6.1 headers installed at their real paths
# (but not registered with dpkg), i.e. what a bookworm machine with
# linux-headers-$KFLAVOUR looks like to dkms or to a package build: use it
# with `kernels.sh run 6.1 CACHE DIR CMD`.  The cache is shared (the
# `deploy` suite of `make check` adds dkms to it): a test that changes
# the chroot's installed packages beyond `prepare ... PKG` should work on a
# copy.
#
# Environment:
#   KFLAVOUR=amd64   use Debian's generic kernels instead of cloud-amd64
#                    (give it to `kbuild` and `run` as well as to `prepare`)
#   REFRESH=1        re-resolve the ABI (apt-get update): 6.1 in bookworm,
#                    6.12 in trixie, newest/X.Y in $NEW_SUITES
#   NEW_SUITES       default "sid trixie-backports"
#   DEBIAN_MIRROR    default http://deb.debian.org/debian
#
# Needs root (debootstrap, chroot, mounts).  Concurrent runs on one CACHE
# serialise `prepare` with an exclusive lock on CACHE/.lock; builds and
# `run` hold it shared, so they run in parallel with each other but never
# while a `prepare` changes a chroot under them.  Each runs in its own
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

# Serialise cache mutation between concurrent invocations: `prepare`
# holds CACHE/.lock exclusively, builds and `run` hold it shared.  fd 9
# stays open (and locked) until unlock_cache or process exit; long-lived
# children (chroots, debootstrap) are started with it closed, so that the
# lock is this process's alone and no daemon that a package in a chroot
# might leave behind can hold it.  No one waits for the lock while
# holding it, so there is no deadlock: at worst a prepare waits for the
# builds under way to end.
lock_cache() {
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.lock"
	flock -x 9
}
# From `prepare` on to a build: lets other builds in, keeps prepares out.
# (flock converts by unlocking first, so a waiting prepare may run in
# between; it leaves the tree prepared.)
share_cache() { flock -s 9; }
unlock_cache() { flock -u 9; exec 9>&-; }

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

# The packages of PKG... that the chroot ROOT lacks, space-separated.
chroot_missing() {
	local root=$1 p miss=
	shift
	for p in "$@"; do
		dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'ok installed' || miss="$miss $p"
	done
	printf '%s' "${miss# }"
}

# ensure_chroot BASE GCC [PKG...]: CACHE/BASE-chroot, a minbase
# debootstrap of BASE with CHROOT_PKGS and the compiler package GCC (e.g.
# gcc-14), plus PKG... (what `prepare` was asked for).  A chroot that
# lacks some of them gets them from its own suite with apt-get, which
# (unlike debootstrap) resolves alternatives and pre-dependencies.
ensure_chroot() {
	local base=$1 gcc=$2 root=$CACHE/$1-chroot miss
	if [ ! -f "$root/$CHROOT_STAMP" ]; then
		make_chroot "$base" "$gcc"
	fi
	shift
	miss=$(chroot_missing "$root" "$@")
	[ -n "$miss" ] || return 0
	log "installing $miss into $root"
	# shellcheck disable=SC2016,SC2086 # expanded by the inner bash; a list
	unshare --mount --propagation private -- bash -c '
		set -e
		root=$1
		shift
		mount -t proc proc "$root/proc"
		mount --bind /dev "$root/dev"
		chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			DEBIAN_FRONTEND=noninteractive \
			sh -c "apt-get -q update && apt-get -q install -y --no-install-recommends \"\$@\"" _ "$@"
	' _ "$root" $miss >&2 9>&-
	miss=$(chroot_missing "$root" "$@")
	[ -z "$miss" ] || die "$miss not installed in $root"
}

make_chroot() {
	local base=$1 gcc=$2 root=$CACHE/$1-chroot
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
		"$base" "$root" "$MIRROR" >&2 9>&-
	touch "$root/$CHROOT_STAMP"
}

# ------------------------------------------- Debian suites' own kernels

# apt-get/apt-cache on a private index of one suite under CACHE; the
# host's sources, lists, pins and package cache are left alone.  (trixie
# keeps the unsuffixed lists/ and cache/ of the 6.12-only layout.)  The
# host's dpkg status is not read either: an empty one stands in for it,
# or a package the host has installed in another version (bookworm's
# linux-kbuild-6.1 from bookworm-security on a Debian 12 host) would be
# the "candidate" that `download` cannot find in the suite.
apt_private() {
	local suite=$1 tool=$2 sfx=
	shift 2
	[ "$suite" = trixie ] || sfx=-$suite
	if [ ! -f "$CACHE/apt/status" ]; then
		mkdir -p "$CACHE/apt"
		: >"$CACHE/apt/status"
	fi
	"$tool" -o Dir::Etc::SourceList="$CACHE/apt/$suite.list" \
		-o Dir::Etc::SourceParts=/dev/null \
		-o Dir::Etc::Preferences=/dev/null \
		-o Dir::Etc::PreferencesParts=/dev/null \
		-o Dir::State::status="$CACHE/apt/status" \
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

# resolve_abi SUITE: the ABI (e.g. 6.1.0-57, 6.12.117+deb13, 7.3.4+deb13)
# that the flavour's meta package pulls in, in that suite.  Bookworm's
# ABIs carry a -N of their own, which a flavour (cloud-amd64) never starts
# with: it begins with a digit.
resolve_abi() {
	apt_private "$1" apt-cache depends "linux-image-$KFLAVOUR" |
		sed -n "s/^ *Depends: linux-image-\([0-9][^ -]*\(-[0-9][^ -]*\)\{0,1\}\)-$KFLAVOUR\$/\1/p" |
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

# The compiler package the flavour headers depend on (trixie and later:
# gcc-N or gcc-N-for-host; bookworm: linux-compiler-gcc-N-x86), as gcc-N,
# i.e. the one their Makefile's CC names.
headers_gcc() {
	dpkg-deb -f "$1"/debs/linux-headers-*-"$KFLAVOUR"_*.deb Depends |
		tr ',' '\n' |
		sed -n 's/^ *\(linux-compiler-\)\{0,1\}\(gcc-[0-9][0-9]*\)\(-for-host\|-x86\)\{0,1\}\( .*\)\{0,1\}$/\2/p' |
		head -n1
}

# The suite of a VER that has a release of its own (empty for newer ones).
fixed_suite() {
	case $1 in
	6.1) printf bookworm ;;
	6.12) printf trixie ;;
	esac
}

# prepare_deb VER SUITE|'' ABI|'' [PKG...]: CACHE/VER for a kernel from a
# Debian suite (6.1: bookworm; 6.12: trixie; newer: sid or
# trixie-backports), and its chroot with PKG... installed.  With SUITE and
# ABI given that kernel is taken; otherwise the cache is used if complete,
# or VER is looked up (6.1 in bookworm, 6.12 in trixie, X.Y in NEW_SUITES).
prepare_deb() {
	local ver=$1 suite=$2 abi=$3 vd=$CACHE/$1 rel='' s a gcc base chroot stamp f img
	shift 3

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
		if [ -z "$abi" ] && [ -n "$(fixed_suite "$ver")" ]; then
			suite=$(fixed_suite "$ver")
			apt_private_update "$suite"
			abi=$(resolve_abi "$suite")
			[ "$(majmin "$abi")" = "$ver" ] || abi=
			[ -n "$abi" ] || die "no $ver kernel found for linux-image-$KFLAVOUR in $suite"
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
	ensure_chroot "$base" "$gcc" "$@"
	chroot=$CACHE/$base-chroot
	echo "$base" >"$vd/chroot"

	# Headers go into the chroot at their packaged paths.  Bookworm's
	# put the build link in ./lib/modules, and the chroot's /lib is the
	# usrmerge link to usr/lib: tar keeps it (dpkg-deb -x would turn it
	# into a directory and so break the chroot's dynamic loader).
	# Stamped per release because a recreated chroot needs them again.
	stamp=$chroot/.ringlb-headers-$rel
	if [ ! -f "$stamp" ]; then
		log "unpacking headers for $rel into the $base chroot"
		for f in "$vd"/debs/linux-headers-*.deb "$vd"/debs/linux-kbuild-*.deb; do
			dpkg-deb --fsys-tarfile "$f" |
				tar -C "$chroot" -x --keep-directory-symlink
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
		prepare_deb "$VER" '' '' "${PKGS[@]}"
		return
	fi
	read -r suite abi <<<"$(resolve_newest)"
	ver=$(majmin "$abi")
	case $ver in 6.1 | 6.12 | newest | '') die "newest kernel $abi has an unusable version" ;; esac
	VER=$ver
	if [ "$REFRESH" != 1 ] && [ "$(cat "$CACHE/$ver/release" 2>/dev/null)" = "$abi-$KFLAVOUR" ] &&
		[ "$(cat "$CACHE/$ver/flavour" 2>/dev/null)" = "$KFLAVOUR" ]; then
		prepare_deb "$ver" '' '' "${PKGS[@]}"
	else
		prepare_deb "$ver" "$suite" "$abi" "${PKGS[@]}"
	fi
	# vmcheck.sh makes CACHE/newest a directory before calling us: an
	# empty one gives way to the link.
	if [ -d "$link" ] && [ ! -L "$link" ]; then
		rmdir "$link" 2>/dev/null || die "$link is a non-empty directory, not a link"
	fi
	ln -sfn "$ver" "$link"
	log "newest: $ver"
}

# in_chroot MODE ARG...: inside VER's chroot with SRC bind-mounted there,
# MODE kbuild: make -C <headers> M=SRC ARG...; MODE run: ARG... in SRC.
# Runs in a new private mount namespace (see chroot_ns), so every mount
# vanishes with the process, whatever kills it; the trap still unmounts
# for tidiness.
in_chroot() {
	local mode=$1 chroot rel mnt
	shift
	chroot=$CACHE/$(cat "$CACHE/$VER/chroot" 2>/dev/null || echo trixie)-chroot
	rel=$(cat "$CACHE/$VER/release")
	# Same absolute path as on the host, so compiler messages name real
	# files, kbuild's .cmd files stay valid for incremental rebuilds, and
	# paths given to `run` mean the same inside.  A path that would shadow
	# the chroot's own system falls back to a scratch mount point for
	# kbuild, and is refused for `run`.
	case $SRC in
	/ | /usr | /usr/* | /etc | /etc/* | /bin* | /sbin* | /lib* | /proc* | /dev* | /sys* | /var | /var/lib*)
		[ "$mode" = kbuild ] || die "$SRC: a system directory cannot be bind-mounted into the chroot"
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
	local env=(/usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin
		HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}")
	if [ "$mode" = kbuild ]; then
		chroot "$chroot" "${env[@]}" \
			make -C "/usr/src/linux-headers-$rel" M="${mnt#"$chroot"}" "$@"
	else
		# shellcheck disable=SC2016 # expanded by the inner sh
		chroot "$chroot" "${env[@]}" /bin/sh -c 'cd "$1" && shift && exec "$@"' \
			_ "${mnt#"$chroot"}" "$@"
	fi
}

chroot_ns() {
	unshare --mount --propagation private -- \
		bash "$SELF" __in_ns "$VER" "$CACHE" "$SRC" "$@" 9>&-
}

# ------------------------------------------------------------------- main

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

# prepare: with the cache locked exclusively; it stays locked (fd 9) so
# that the caller decides whether to unlock or share it.
prepare() {
	local p
	for p in "${PKGS[@]}"; do
		case $p in
		[a-z0-9]*) ;;
		*) die "bad package name '$p'" ;;
		esac
		case $p in *[!a-z0-9+.-]*) die "bad package name '$p'" ;; esac
	done
	lock_cache
	case $VER in
	6.1 | 6.12) prepare_deb "$VER" '' '' "${PKGS[@]}" ;;
	newest) prepare_newest ;;
	[6-9].[0-9]* | [1-9][0-9].[0-9]*)
		case $VER in *[!0-9.]* | *.*.*) die "unsupported kernel version '$VER'" ;; esac
		if [ "$(printf '6.13\n%s\n' "$VER" | sort -V | head -n1)" != 6.13 ]; then
			die "unsupported kernel version '$VER' (want 6.1, 6.12, newest or >= 6.13)"
		fi
		prepare_deb "$VER" '' '' "${PKGS[@]}" ;;
	*) die "unsupported kernel version '$VER' (want 6.1, 6.12, newest or >= 6.13)" ;;
	esac
}

SELF=$(cd "$(dirname "$0")" && pwd -P)/${0##*/}
[ $# -ge 3 ] || usage
cmd=$1 VER=$2 CACHE=$3
shift 3
[ "$(id -u)" = 0 ] || die "must run as root"
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd -P)
PKGS=()

case $cmd in
prepare)
	PKGS=("$@")
	prepare
	unlock_cache
	;;
kbuild | run | __in_ns)
	[ $# -ge 1 ] || usage
	[ -d "$1" ] || die "no such directory: $1"
	SRC=$(cd "$1" && pwd -P)
	shift
	if [ "$cmd" = __in_ns ]; then
		in_chroot "$@"
		exit
	fi
	prepare
	share_cache
	if [ "$cmd" = run ]; then
		[ $# -ge 1 ] || usage
		chroot_ns run "$@"
		exit
	fi
	# kbuild does not notice that the kernel tree changed under an
	# existing build (e.g. 6.1 -> 6.12, or another 6.12 flavour) and
	# would keep the old .ko: clean first when a .ko is foreign.
	if foreign_modules; then
		log "$SRC holds modules built for another kernel: make clean"
		chroot_ns kbuild clean
	fi
	chroot_ns kbuild modules "$@"
	;;
*) usage ;;
esac

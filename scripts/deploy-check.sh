#!/bin/bash
# The "deploy" suite of `make check` (KTAP): what an operator installs
# works. make install with PREFIX and with DESTDIR; the unit passes
# systemd-analyze verify and its hardening scores low exposure; the
# installed config passes --check; the sysctl keys exist; sd_notify
# READY/RELOADING/STOPPING reach a NOTIFY_SOCKET; after --user no
# capability is left; dkms builds uringstat against Debian's 6.1 headers
# (in the VMs' bookworm chroot, never installed on the host); make
# uninstall leaves nothing but a config that was changed.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$top/build}
work=$BUILD/deploy
rm -rf "$work"
mkdir -p "$work"
# shellcheck source=scripts/ktap.sh
. "$top/scripts/ktap.sh"

echo "KTAP version 1"
echo "1..10"

# 1. a real PREFIX: everything lands where systemd and sysctl look
pfx=$work/prefix
installed() {
	SYSCONFDIR=$pfx/etc "$top/scripts/install.sh" "" "$pfx" || return 1
	for f in sbin/ringlb bin/ringlbctl lib/systemd/system/ringlb.service \
		 share/doc/ringlb/examples/sysctl.d/60-ringlb.conf \
		 share/doc/ringlb/examples/modules-load.d/uringstat.conf \
		 share/doc/ringlb/README share/doc/ringlb/examples/spec-example.ini \
		 share/bash-completion/completions/ringlbctl \
		 share/man/man8/ringlb.8 share/man/man8/ringlbctl.8 \
		 share/man/man5/ringlb.conf.5 share/man/man4/uringstat.4 \
		 etc/ringlb/ringlb.conf; do
		[ -f "$pfx/$f" ] || { echo "missing $pfx/$f"; return 1; }
	done
	# opt-in: nothing that changes the host at boot by being there
	for f in lib/sysctl.d lib/modules-load.d; do
		[ ! -e "$pfx/$f" ] || { echo "$pfx/$f installed"; return 1; }
	done
	# the template binds loopback only
	! grep -Eq '^bind *= *(0\.0\.0\.0|\[::\]|\*)' "$pfx/etc/ringlb/ringlb.conf"
	grep -q "^ExecStart=$pfx/sbin/ringlb " "$pfx/lib/systemd/system/ringlb.service"
}
check install-prefix installed

# 2. DESTDIR staging keeps PREFIX paths inside the files
staged() {
	local d=$work/stage
	"$top/scripts/install.sh" "$d" /usr || return 1
	[ -x "$d/usr/sbin/ringlb" ] && [ -f "$d/etc/ringlb/ringlb.conf" ] &&
	grep -q '^ExecStart=/usr/sbin/ringlb -c /etc/ringlb/ringlb.conf' \
		"$d/usr/lib/systemd/system/ringlb.service" &&
	! grep -rq "$d" "$d/usr/lib/systemd/system/ringlb.service"
}
check install-destdir staged

# 3. the unit as installed
unit=$pfx/lib/systemd/system/ringlb.service
if command -v systemd-analyze >/dev/null; then
	# its Documentation= names the man pages: verify asks man for them
	check unit-verify env MANPATH="$pfx/share/man" systemd-analyze verify "$unit"
	exposure() {
		systemd-analyze security --offline=true "$unit" > "$work/security.txt" 2>&1
		cat "$work/security.txt"
		awk '/Overall exposure level/ { x = $(NF - 1); exit !(x + 0 <= 2.5) }' \
			"$work/security.txt"
	}
	check unit-exposure exposure
else
	skip unit-verify "no systemd-analyze"
	skip unit-exposure "no systemd-analyze"
fi

# 4. the config it installs is valid
check installed-config "$pfx/sbin/ringlb" -c "$pfx/etc/ringlb/ringlb.conf" --check

# 5. every key of the sysctl file exists on this kernel
sysctl_keys() {
	local k
	for k in $(sed -n 's/^\([a-z][a-z0-9_.-]*\) *=.*/\1/p' "$top/deploy/sysctl.d/60-ringlb.conf"); do
		[ -e "/proc/sys/$(echo "$k" | tr . /)" ] || { echo "no $k"; return 1; }
	done
}
check sysctl-keys sysctl_keys

# 6. sd_notify, as systemd would see it, and 7. no capability after --user
check sd-notify python3 "$top/scripts/deploy-notify.py" "$pfx/sbin/ringlb" notify
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	check user-no-caps python3 "$top/scripts/deploy-notify.py" "$pfx/sbin/ringlb" caps
else
	skip user-no-caps "not root, or no user nobody"
fi

# 8. dkms builds the module against Debian's 6.1 headers: Debian 12's
# own dkms, run in the bookworm chroot that selftests/vm/kernels.sh keeps
# under $BUILD/vm with the 6.1 headers at their real paths (what a
# bookworm machine with linux-headers-cloud-amd64 installed looks like to
# dkms), so nothing lands in the host's /usr/src or /lib/modules. The
# sources and the dkms tree stay in $work, bind-mounted into the chroot.
kernels=$top/selftests/vm/kernels.sh
cache=$BUILD/vm
if [ "$(id -u)" != 0 ]; then
	skip dkms-build "not root (the 6.1 headers live in a chroot)"
elif [ ! -f "$top/deploy/dkms.conf" ]; then
	fail dkms-build "deploy/dkms.conf missing"
elif ! "$kernels" prepare 6.1 "$cache" dkms >"$work/dkms-prepare.log" 2>&1; then
	fail dkms-build "kernels.sh prepare 6.1 failed, see $work/dkms-prepare.log"
	tail -5 "$work/dkms-prepare.log" | sed 's/^/# /'
else
	dkms_build() {
		local src=$work/dkms-src tree=$work/dkms-tree kver ko
		kver=$(cat "$cache/6.1/release") || return 1
		DKMS_SRC=$src "$top/scripts/install.sh" "$work/dkms-stage" /usr >/dev/null || return 1
		src=$(ls -d "$work"/dkms-stage"$src"/uringstat-* | head -1)
		mkdir -p "$tree"
		ver=${src##*-}
		"$kernels" run 6.1 "$cache" "$work" sh -c '
			dkms add -m uringstat -v "$1" --sourcetree "$2" --dkmstree "$3" &&
			dkms build -m uringstat -v "$1" -k "$4" --sourcetree "$2" --dkmstree "$3"
		' _ "$ver" "$(dirname "$src")" "$tree" "$kver" || return 1
		ko=$(find "$tree" -name 'uringstat.ko*' | head -1)
		[ -n "$ko" ] || { echo "dkms built no uringstat.ko"; return 1; }
		# built for that kernel, not for whatever the host runs
		modinfo -F vermagic "$ko" | grep -q "^$kver " ||
			{ echo "$ko: vermagic $(modinfo -F vermagic "$ko"), want $kver"; return 1; }
	}
	check dkms-build dkms_build
fi

# 10. make uninstall takes back every file; a changed config stays
uninstalled() {
	local left
	echo "# changed by its operator" >> "$pfx/etc/ringlb/ringlb.conf"
	SYSCONFDIR=$pfx/etc "$top/scripts/uninstall.sh" "" "$pfx" || return 1
	[ -f "$pfx/etc/ringlb/ringlb.conf" ] || { echo "changed config removed"; return 1; }
	rm "$pfx/etc/ringlb/ringlb.conf"
	left=$(find "$pfx" -type f)
	[ -z "$left" ] || { echo "left behind: $left"; return 1; }
	# and an unchanged template goes too
	SYSCONFDIR=$pfx/etc "$top/scripts/install.sh" "" "$pfx" >/dev/null &&
	SYSCONFDIR=$pfx/etc "$top/scripts/uninstall.sh" "" "$pfx" &&
	left=$(find "$pfx" -type f) && [ -z "$left" ] || { echo "left behind: $left"; return 1; }
}
check uninstall uninstalled
exit $rc

#!/bin/sh
# Install every Debian package the build, the tests and the demo need.
# Idempotent and quiet when everything is already there, so `make check`
# can call it on every run; a fresh machine has empty package lists, hence
# the `apt-get update` before the first install.
set -e
# usage: deps.sh [bench|deb]   (bench adds the peers and tools of
# `make bench`, deb the packaging tools of `make deb`)
# No kernel image or headers: the module builds (make check's kmod,
# deploy and vm suites) use Debian kernels that selftests/vm/kernels.sh
# downloads and unpacks under build/vm, with their compilers and dkms in
# debootstrap chroots there. linux-source-6.1 is a source tarball only
# (kselftest headers, checkpatch).
PKGS="build-essential pkg-config liburing-dev libinih-dev libsystemd-dev
      libc-ares-dev linux-source-6.1 iperf3 socat openssl python3 iproute2
      procps nftables tmux prometheus bird2 curl
      systemd kmod python3-docutils man-db groff-base
      qemu-system-x86 busybox-static debootstrap cpio gzip"
[ "$1" = bench ] && PKGS="$PKGS haproxy nginx libnginx-mod-stream wrk
      gnuplot-nox linux-perf"
[ "$1" = deb ] && PKGS="$PKGS debhelper dh-dkms lintian fakeroot dpkg-dev"
[ -n "$EXTRA_PKGS" ] && PKGS="$PKGS $EXTRA_PKGS"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages:$missing (run as root to install)" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null

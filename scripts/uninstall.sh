#!/bin/sh
# `make uninstall`: take back what scripts/install.sh put in place, for
# the same DESTDIR and PREFIX. The config in /etc/ringlb stays when it was
# changed (as a package keeps a conffile); the template as installed goes.
# uringstat is removed from dkms first when dkms knows it.
#
#   uninstall.sh [DESTDIR] [PREFIX]
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
DESTDIR=${1:-$DESTDIR}
PREFIX=${2:-${PREFIX:-/usr/local}}
SYSCONFDIR=${SYSCONFDIR:-/etc}
DKMS_SRC=${DKMS_SRC:-/usr/src}
version=$(sed -n 's/^#define RINGLB_VERSION "\(.*\)"/\1/p' "$top/userspace/version.h")

rm -f "$DESTDIR$PREFIX/sbin/ringlb" "$DESTDIR$PREFIX/bin/ringlbctl" \
      "$DESTDIR$PREFIX/lib/systemd/system/ringlb.service"
rm -rf "$DESTDIR$PREFIX/share/doc/ringlb"
rm -f "$DESTDIR$PREFIX/share/bash-completion/completions/ringlbctl"
for page in ringlb.8 ringlbctl.8 ringlb.conf.5 uringstat.4; do
	rm -f "$DESTDIR$PREFIX/share/man/man${page##*.}/$page"
done
conf=$DESTDIR$SYSCONFDIR/ringlb/ringlb.conf
if [ -f "$conf" ] && cmp -s "$conf" "$top/deploy/ringlb.conf"; then
	rm -f "$conf"
	rmdir "$DESTDIR$SYSCONFDIR/ringlb" 2>/dev/null || true
elif [ -f "$conf" ]; then
	echo "kept $conf: it was changed"
fi
if [ -z "$DESTDIR" ] && command -v dkms >/dev/null &&
   dkms status "uringstat/$version" 2>/dev/null | grep -q .; then
	dkms remove "uringstat/$version" --all >/dev/null
fi
rm -rf "$DESTDIR$DKMS_SRC/uringstat-$version"
echo "uninstalled ringlb $version from ${DESTDIR:-/}$PREFIX"

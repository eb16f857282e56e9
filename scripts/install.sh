#!/bin/sh
# `make install`: the daemon and its client, the systemd unit, a template
# config, the man pages, the docs and example configs (the sysctl and
# modules-load files among them: opt-in, copied to /etc by whoever wants
# them), and the uringstat sources where dkms looks for them. Honours
# DESTDIR (staging) and PREFIX (default /usr/local); /etc and /usr/src
# stay where the tools that read them look, under DESTDIR.
# scripts/uninstall.sh undoes it.
#
#   install.sh [DESTDIR] [PREFIX]
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
DESTDIR=${1:-$DESTDIR}
PREFIX=${2:-${PREFIX:-/usr/local}}
SYSCONFDIR=${SYSCONFDIR:-/etc}
DKMS_SRC=${DKMS_SRC:-/usr/src}
version=$(sed -n 's/^#define RINGLB_VERSION "\(.*\)"/\1/p' "$top/userspace/version.h")
doc=$PREFIX/share/doc/ringlb

make -s -C "$top/userspace" install DESTDIR="$DESTDIR" PREFIX="$PREFIX"

# the unit names /usr/local paths: rewrite them for this PREFIX
install -d "$DESTDIR$PREFIX/lib/systemd/system"
sed -e "s|/usr/local/sbin|$PREFIX/sbin|g" \
    -e "s|/usr/local/share/doc/ringlb|$doc|g" \
    -e "s|/etc/ringlb|$SYSCONFDIR/ringlb|g" \
    "$top/deploy/ringlb.service" \
    > "$DESTDIR$PREFIX/lib/systemd/system/ringlb.service"
chmod 0644 "$DESTDIR$PREFIX/lib/systemd/system/ringlb.service"
# opt-in: in lib/sysctl.d they would change the host's TCP settings at
# the next boot, whether ringlb runs or not
install -D -m 0644 "$top/deploy/sysctl.d/60-ringlb.conf" \
	"$DESTDIR$doc/examples/sysctl.d/60-ringlb.conf"
install -D -m 0644 "$top/deploy/modules-load.d/uringstat.conf" \
	"$DESTDIR$doc/examples/modules-load.d/uringstat.conf"

# the man pages `make man` wrote (built here when they are missing)
mandir=${BUILD:-$top/build}/man
for page in ringlb.8 ringlbctl.8 ringlb.conf.5 uringstat.4; do
	[ -f "$mandir/$page" ] || make -s -C "$top" man BUILD="${BUILD:-$top/build}"
	install -D -m 0644 "$mandir/$page" \
		"$DESTDIR$PREFIX/share/man/man${page##*.}/$page"
done

install -D -m 0644 "$top/deploy/bash-completion/ringlbctl" \
	"$DESTDIR$PREFIX/share/bash-completion/completions/ringlbctl"

install -d "$DESTDIR$doc/examples"
install -m 0644 "$top/README" "$DESTDIR$doc/"
for f in "$top"/Documentation/*.rst; do
	install -m 0644 "$f" "$DESTDIR$doc/"
done
install -m 0644 "$top"/deploy/examples/*.ini "$DESTDIR$doc/examples/"
# a config to start from, never over one already there
install -m 0644 "$top/deploy/ringlb.conf" "$DESTDIR$doc/examples/ringlb.conf"
if [ ! -e "$DESTDIR$SYSCONFDIR/ringlb/ringlb.conf" ]; then
	install -D -m 0644 "$top/deploy/ringlb.conf" \
		"$DESTDIR$SYSCONFDIR/ringlb/ringlb.conf"
fi

# uringstat for dkms: `dkms install uringstat/$version` builds it for
# every installed kernel, and again after each kernel update
if [ -f "$top/deploy/dkms.conf" ] && [ -d "$top/kmod" ]; then
	src=$DESTDIR$DKMS_SRC/uringstat-$version
	rm -rf "$src"
	install -d "$src/kmod"
	# sources only: not the kbuild output of an in-tree build
	for f in "$top"/kmod/*.c "$top"/kmod/*.h "$top/kmod/Kbuild"; do
		case $f in *.mod.c) continue ;; esac
		cp "$f" "$src/kmod/"
	done
	[ -f "$top/kmod/Makefile" ] && cp "$top/kmod/Makefile" "$src/kmod/"
	cp "$top/Kbuild" "$src/"
	sed "s/^PACKAGE_VERSION=.*/PACKAGE_VERSION=\"$version\"/" \
		"$top/deploy/dkms.conf" > "$src/dkms.conf"
fi
echo "installed ringlb $version under ${DESTDIR:-/}$PREFIX"

#!/bin/bash
# icount-build.sh OUTDIR: build bench/icount-plugin.c into OUTDIR/libicount.so
# against qemu-plugin.h of the installed QEMU's own version, taken from
# Debian's qemu source package (no binary package ships the header). The
# source package is fetched once through a private apt index of deb-src
# lines under OUTDIR (the host's apt configuration is left alone) and
# kept there: a second run needs no network.
set -euo pipefail
out=$(mkdir -p "$1" && cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
log() { printf 'icount-build: %s\n' "$*" >&2; }

ver=$(dpkg-query -W -f='${source:Version}' qemu-system-x86 2>/dev/null) ||
	{ log "qemu-system-x86 is not installed"; exit 1; }
hdr=$out/include/$ver/qemu-plugin.h
if [ ! -f "$hdr" ]; then
	apt=$out/apt
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$out/src"
	suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
	{
		echo "deb-src $MIRROR $suite main"
		echo "deb-src $MIRROR $suite-updates main"
		echo "deb-src ${MIRROR%/debian}/debian-security $suite-security main"
	} >"$apt/src.list"
	opts=(-o Dir::Etc::SourceList="$apt/src.list" -o Dir::Etc::SourceParts=/dev/null
	      -o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache"
	      -o APT::Sandbox::User=root)
	log "fetching the qemu $ver source package (private deb-src index)"
	apt-get -q "${opts[@]}" update >&2
	(cd "$out/src" && apt-get -q "${opts[@]}" source --download-only "qemu=$ver") >&2
	# the header as the package ships it: upstream's, unless one of
	# Debian's patches touches it (then refuse rather than guess)
	up=${ver#*:}
	orig=$(ls "$out"/src/qemu_"${up%-*}".orig.tar.* | head -n1)
	deb=$(ls "$out"/src/qemu_"$up".debian.tar.* | head -n1)
	if tar -xOf "$deb" --wildcards 'debian/patches/*' 2>/dev/null |
	   grep -q '^+++ .*include/qemu/qemu-plugin.h'; then
		log "a Debian patch changes qemu-plugin.h: not supported"
		exit 1
	fi
	mkdir -p "${hdr%/*}"
	tar -xOf "$orig" --wildcards '*/include/qemu/qemu-plugin.h' >"$hdr.tmp"
	mv "$hdr.tmp" "$hdr"
	rm -f "$out"/src/*.orig.tar.* "$out"/src/*.debian.tar.*
fi
cc -O2 -Wall -Wextra -Werror -shared -fPIC -I"${hdr%/*}" \
	-o "$out/libicount.so" "$here/icount-plugin.c"
log "built $out/libicount.so against qemu $ver's qemu-plugin.h"

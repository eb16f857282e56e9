#!/bin/sh
# `make deb`: build the Debian packages ringlb and uringstat-dkms from
# debian/, in a copy of the source tree under $BUILD/deb/src (so the tree
# itself gains no build output), and leave the .deb files, with the
# .buildinfo and .changes, in $BUILD/deb.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$top/build}
out=$BUILD/deb
version=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
src=$out/src/ringlb-$version

rm -rf "$out/src" "$out"/*.deb "$out"/*.buildinfo "$out"/*.changes
mkdir -p "$src"
# the files git knows, new ones included, and nothing git ignores (build/)
git -C "$top" ls-files -z --cached --others --exclude-standard |
	(cd "$top" && tar --null -T - -cf -) | tar -C "$src" -xf -
# without the caller's BUILD: inside the copy, build output stays there
(cd "$src" && env -u BUILD DEB_BUILD_OPTIONS="noddebs ${DEB_BUILD_OPTIONS:-}" \
	dpkg-buildpackage -b -us -uc) > "$out/build.log" 2>&1 ||
	{ tail -30 "$out/build.log"; echo "make deb: see $out/build.log" >&2; exit 1; }
mv "$out"/src/*.deb "$out"/src/*.buildinfo "$out"/src/*.changes "$out/"
rm -rf "$out/src"
ls "$out"/*.deb

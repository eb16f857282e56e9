#!/bin/sh
# The module selftests in QEMU VMs, as `make check` runs them. The
# uringstat module and its VM runner (selftests/vm/vmcheck.sh) are not in
# the tree yet: until they are, this suite reports itself skipped, with
# the reason, rather than passing.
if [ -x selftests/vm/vmcheck.sh ]; then
	exec selftests/vm/vmcheck.sh "$@"
fi
echo "ok 1 vm-selftests # SKIP selftests/vm/vmcheck.sh (uringstat module VM runner) not in this tree yet"

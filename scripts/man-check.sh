#!/bin/bash
# The "man" suite of `make check` (KTAP): the man pages build, render
# without a single groff warning, and document what the programs really
# accept. Every option of `ringlb --help` and of ringlb's getopt table is
# an entry of ringlb(8) and the other way round; ringlbctl's usage and
# ringlbctl(8) list the same options and commands; every config key the
# parser takes is in ringlb.conf(5), in exactly the sections the parser
# takes it in (asked of `ringlb --check`, key by key); every debugfs file
# and parameter the module creates is in uringstat(4) and in the ABI
# file; the exit statuses seen are the documented ones; the pages carry
# the version the binaries print.
#
#   man-check.sh [DIR]    DIR holds ringlb and ringlbctl (userspace/)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$top/build}
bin=${1:-$top/userspace}
work=$BUILD/man-check
mandir=$BUILD/man
rm -rf "$work"
mkdir -p "$work"
# shellcheck source=scripts/ktap.sh
. "$top/scripts/ktap.sh"

pages="ringlb.8 ringlbctl.8 ringlb.conf.5 uringstat.4"
echo "KTAP version 1"
echo "1..11"

# 1. make man writes every page
built() {
	make -s -C "$top" man BUILD="$BUILD" || return 1
	for p in $pages; do
		[ -s "$mandir/$p" ] || { echo "no $mandir/$p"; return 1; }
	done
}
check build built

# 2. man renders each one at 80 columns with no warning at all, and
#    lexgrog (what mandb reads for whatis) finds its NAME line
rendered() {
	local p out bad=0
	for p in $pages; do
		out=$(MANWIDTH=80 man -l --warnings=all "$mandir/$p" 2>&1 >/dev/null)
		if [ -n "$out" ]; then
			echo "$p:"; echo "$out"; bad=1
		fi
		lexgrog "$mandir/$p" || bad=1
	done
	return $bad
}
check render rendered

# the terms of the list entries of one section of a page, as a reader
# sees them, wide enough that no word is hyphenated: each term (the line
# after .TP) is marked, and given a line of its own even when short
terms() {
	sed '/^\.TP/ { s/.*/.TP 1n/; n; s/^\.B /.B @T@/ }' "$mandir/$1" > "$work/$1.marked"
	MANWIDTH=250 LC_ALL=C man -l "$work/$1.marked" 2>/dev/null |
		awk -v s="$2" '/^[A-Z]/ { on = ($0 == s); next } on' |
		sed -n 's/^ *@T@\(.*[^ ]\) *$/\1/p'
}

# compare NAME A B: the sorted sets in files A and B are the same
same() {
	local d
	d=$(diff <(sort -u "$2") <(sort -u "$3")) && return 0
	echo "$1: < only in $(basename "$2"), > only in $(basename "$3")"
	echo "$d"
	return 1
}

# 3. ringlb's options: getopt table, --help, ringlb(8)
ringlb_options() {
	"$bin/ringlb" --help > "$work/help.txt" || return 1
	sed -n 's/^\t{ "\([a-z0-9-]*\)", .*/--\1/p' "$top/userspace/options.c" \
		> "$work/getopt.txt"
	[ -s "$work/getopt.txt" ] || { echo "no long options in options.c"; return 1; }
	grep -oE -- '(^| )--[a-z][a-z0-9-]*' "$work/help.txt" | tr -d ' ' > "$work/help-opts.txt"
	sed -n 's/^  \(-[a-zA-Z]\),.*/\1/p' "$work/help.txt" >> "$work/help-opts.txt"
	terms ringlb.8 OPTIONS | grep '^-' | tr ',' '\n' | tr -d ' ' > "$work/page-opts.txt"
	same "getopt vs --help" <(grep -- '^--' "$work/help-opts.txt") "$work/getopt.txt" &&
	same "--help vs ringlb(8)" "$work/help-opts.txt" "$work/page-opts.txt"
}
check ringlb-options ringlb_options

# 4. ringlbctl: usage vs ringlbctl(8), options and commands
ringlbctl_usage() {
	"$bin/ringlbctl" --help > "$work/ctl-help.txt" || return 1
	sed -n 's/^  \(-[a-zA-Z]\), \(--[a-z-]*\).*/\1\n\2/p' "$work/ctl-help.txt" > "$work/ctl-help-opts.txt"
	terms ringlbctl.8 OPTIONS | grep '^-' | sed 's/ [A-Z]*$//' | tr ',' '\n' | tr -d ' ' > "$work/ctl-page-opts.txt"
	sed -n '/^commands:/,/^exit status/p' "$work/ctl-help.txt" | sed '1d;$d' |
		tr '|' '\n' | sed 's/^ *//; s/ *$//' > "$work/ctl-help-cmds.txt"
	terms ringlbctl.8 COMMANDS > "$work/ctl-page-cmds.txt"
	[ -s "$work/ctl-help-cmds.txt" ] || { echo "no commands in the usage"; return 1; }
	same "usage vs ringlbctl(8) options" "$work/ctl-help-opts.txt" "$work/ctl-page-opts.txt" &&
	same "usage vs ringlbctl(8) commands" "$work/ctl-help-cmds.txt" "$work/ctl-page-cmds.txt"
}
check ringlbctl-usage ringlbctl_usage

# 5. the config keys: ringlb.conf(5) says for each key where it is
#    accepted (G, L, B); ringlb --check, given the key in each kind of
#    section, must refuse it as unknown exactly where the page says no.
#    The keys asked about are the page's and every key name config.c
#    compares with, so a key missing from the page is found too.
probe() {
	local key=$1 sec=$2 f=$work/probe.ini
	{
		echo "[global]"
		[ "$sec" = G ] && echo "$key = x"
		echo "[listener l]"
		echo "bind = 127.0.0.1:1"
		echo "backend = b"
		[ "$sec" = L ] && echo "$key = x"
		echo "[backend b]"
		echo "server = s 127.0.0.1:2"
		[ "$sec" = B ] && echo "$key = x"
	} > "$f"
	"$bin/ringlb" --check -c "$f" 2>&1 | grep -q "unknown key '$key'" && return 1
	return 0
}
config_keys() {
	local key secs s want got bad=0
	terms ringlb.conf.5 KEYS |
		sed -n 's/^\(.*\) (\([GLB, ]*\))$/\1|\2/p' > "$work/page-keys.txt"
	[ -s "$work/page-keys.txt" ] || { echo "no keys in ringlb.conf(5)"; return 1; }
	# "a, b (G, L)" stands for both keys
	while IFS='|' read -r names secs; do
		for key in ${names//,/ }; do
			echo "$key|${secs//[, ]/}"
		done
	done < "$work/page-keys.txt" > "$work/page-key-secs.txt"
	grep -o '!strcmp(k, "[a-z0-9-]*")' "$top/userspace/config.c" |
		sed 's/.*"\(.*\)")/\1/' | sort -u > "$work/source-keys.txt"
	cut -d'|' -f1 "$work/page-key-secs.txt" | sort -u > "$work/page-key-names.txt"
	comm -23 "$work/source-keys.txt" "$work/page-key-names.txt" | sed 's/$/|/' >> "$work/page-key-secs.txt"
	# the probe itself must see a refusal, or it proves nothing
	for s in G L B; do
		probe no-such-key "$s" && { echo "probe: no-such-key accepted in $s"; bad=1; }
	done
	while IFS='|' read -r key want; do
		got=""
		for s in G L B; do
			probe "$key" "$s" && got="$got$s"
		done
		if [ "$got" != "$want" ]; then
			echo "$key: ringlb.conf(5) says '${want:-nowhere}', ringlb --check accepts it in '${got:-nowhere}'"
			bad=1
		fi
	done < "$work/page-key-secs.txt"
	echo "$(wc -l < "$work/page-key-secs.txt") keys probed"
	return $bad
}
check config-keys config_keys

# 6. uringstat: the files and parameters the module creates
uringstat_files() {
	local f bad=0
	grep -ho 'debugfs_create_file("[a-z_]*"' "$top"/kmod/*.c |
		sed 's/.*("\(.*\)"/\1/' | sort -u > "$work/kmod-files.txt"
	grep -hoE 'module_param_(named|cb)\([a-z_]*' "$top"/kmod/*.c |
		sed 's/.*(//' | sort -u > "$work/kmod-params.txt"
	[ -s "$work/kmod-files.txt" ] && [ -s "$work/kmod-params.txt" ] ||
		{ echo "no files or parameters found in kmod/"; return 1; }
	terms uringstat.4 FILES | sed -n 's|^/sys/kernel/debug/uringstat/\([a-z_]*\) .*|\1|p' > "$work/page-files.txt"
	terms uringstat.4 PARAMETERS | sed -n 's/^\([a-z_]*\) (default.*/\1/p' > "$work/page-params.txt"
	same "kmod/ vs uringstat(4) files" "$work/kmod-files.txt" "$work/page-files.txt" || bad=1
	same "kmod/ vs uringstat(4) parameters" "$work/kmod-params.txt" "$work/page-params.txt" || bad=1
	for f in $(cat "$work/kmod-files.txt"); do
		grep -q "^What:[[:space:]]*/sys/kernel/debug/uringstat/$f\$" \
			"$top/Documentation/ABI/testing/debugfs-uringstat" ||
			{ echo "$f: not in Documentation/ABI/testing/debugfs-uringstat"; bad=1; }
	done
	return $bad
}
check uringstat-files uringstat_files

# 7. exit statuses: what the programs return is documented, and a
#    configuration error is 78 (the unit's RestartPreventExitStatus)
status_of() { "$@" >/dev/null 2>&1; echo $?; }
exit_statuses() {
	local doc s bad=0
	doc=$(terms ringlb.8 "EXIT STATUS" | tr '\n' ' ')
	for s in "$(status_of "$bin/ringlb" --bogus-option)" \
		 "$(status_of "$bin/ringlb" --check -c "$work/nonexistent.ini")" \
		 "$(status_of "$bin/ringlb" -l 127.0.0.1:1 -b 127.0.0.1:2 stray)"; do
		[ "$s" = 78 ] || { echo "a configuration error exited $s, not 78"; bad=1; }
	done
	for s in 0 1 78; do
		case " $doc" in *" $s "*) ;; *) echo "ringlb(8): no exit status $s"; bad=1 ;; esac
	done
	s=$(status_of "$bin/ringlb" --check -l 127.0.0.1:1 -b 127.0.0.1:2)
	[ "$s" = 0 ] || { echo "a valid --check exited $s"; bad=1; }
	doc=$(terms ringlbctl.8 "EXIT STATUS" | tr '\n' ' ')
	for s in "$(status_of "$bin/ringlbctl")" \
		 "$(status_of "$bin/ringlbctl" -s "$work/none.sock" show stats)" \
		 "$(status_of "$bin/ringlbctl" -T nonsense show stats)"; do
		case " $doc" in *" $s "*) ;; *) echo "ringlbctl(8): status $s not documented"; bad=1 ;; esac
		[ "$s" = 2 ] || { echo "ringlbctl: bad usage or no socket exited $s, not 2"; bad=1; }
	done
	return $bad
}
check exit-status exit_statuses

# 8. every page carries the version the binaries print
versions() {
	local v p bad=0
	v=$("$bin/ringlb" -V) || return 1
	[ "$v" = "$("$bin/ringlbctl" -V | sed 's/^ringlbctl/ringlb/')" ] ||
		{ echo "ringlb and ringlbctl disagree on the version"; bad=1; }
	for p in $pages; do
		grep -q "^\.TH \"[^\"]*\" [0-9] \"[^\"]*\" \"$v\"" "$mandir/$p" ||
			{ echo "$p: not '$v'"; bad=1; }
	done
	return $bad
}
check version versions

# 9. every option and key named in the shipped default config is one the
#    page lists (the config a package installs, explained by its page)
shipped_config() {
	local key bad=0
	sed -n 's/^#\{0,1\} *\([a-z][a-z0-9-]*\) *=.*/\1/p' "$top/deploy/ringlb.conf" | sort -u > "$work/shipped-keys.txt"
	for key in $(cat "$work/shipped-keys.txt"); do
		grep -qE "^$key(\||, )" "$work/page-key-secs.txt" "$work/page-keys.txt" ||
			{ echo "deploy/ringlb.conf names '$key', ringlb.conf(5) does not"; bad=1; }
	done
	"$bin/ringlb" --check -c "$top/deploy/ringlb.conf" || bad=1
	return $bad
}
check shipped-config shipped_config

# 10. the admin guide and the pages share their tables: each fragment is
#     included by the guide (or uringstat.rst) and by a page
fragments() {
	local f base bad=0
	for f in "$top"/Documentation/man/*.rsti; do
		base=$(basename "$f")
		grep -q "^\.\. include:: man/$base\$" "$top"/Documentation/*.rst ||
			{ echo "$base: not included by Documentation/*.rst"; bad=1; }
		grep -q "^\.\. include:: $base\$" "$top"/Documentation/man/*.rst ||
			{ echo "$base: not included by any man page"; bad=1; }
	done
	return $bad
}
check fragments fragments

# 11. make install puts the pages where man finds them, uninstall takes
#     them back
installed() {
	local d=$work/stage p
	"$top/scripts/install.sh" "$d" /usr >/dev/null || return 1
	for p in $pages; do
		MANPATH=$d/usr/share/man man -w "${p%.*}" 2>/dev/null | grep -q "^$d/usr/share/man/man${p##*.}/$p" ||
			{ echo "man -w ${p%.*}: not found under $d"; return 1; }
	done
	"$top/scripts/uninstall.sh" "$d" /usr >/dev/null || return 1
	[ -z "$(find "$d/usr/share/man" -type f 2>/dev/null)" ] ||
		{ echo "left behind:"; find "$d/usr/share/man" -type f; return 1; }
}
check install installed
exit $rc

/* SPDX-License-Identifier: MIT */
/*
 * A reader of uringstat's debugfs "rings" file (its format is
 * Documentation/ABI/testing/debugfs-uringstat): a header line naming the
 * columns, then one line per ring. Columns are found by their header
 * name, so a module that adds columns is still read; a row that does not
 * parse is skipped, never guessed at.
 */
#ifndef RINGLB_URINGSTAT_RINGS_H
#define RINGLB_URINGSTAT_RINGS_H

#include <stddef.h>
#include <stdint.h>

#define URINGSTAT_RINGS_PATH	"/sys/kernel/debug/uringstat/rings"
/* read at most this much of it, once per scrape */
#define URINGSTAT_RINGS_MAX	(256 * 1024)

struct uringstat_ring {
	uint64_t id;
	long long pid;
	long long fd;			/* -1: adopted on first sight */
	uint64_t submitted, completed, failed, cq_overflow, poll_armed;
	uint64_t async;			/* punted to io-wq */
};

/*
 * Call @fn for each well-formed row of the @len bytes at @buf; a last
 * line without its newline (a read cut short) is left out. Returns the
 * number of rows passed to @fn, or -EINVAL when the header lacks a
 * column we need. @fn returning non-zero stops the walk.
 */
int uringstat_rings_parse(const char *buf, size_t len,
			  int (*fn)(const struct uringstat_ring *r, void *arg),
			  void *arg);

#endif

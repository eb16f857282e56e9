/* SPDX-License-Identifier: MIT */
/*
 * `ringlbctl top`: a live view of a running ringlb, refreshed from the
 * admin socket's show commands. top.c samples and drives the terminal;
 * top_view.c lays one sample (and the one before, for rates) out in
 * lines that fit a window.
 */
#ifndef RINGLB_TOP_H
#define RINGLB_TOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "top_parse.h"

#define TOP_LINE	320

struct top_line {
	char text[TOP_LINE];
	bool title;			/* drawn in reverse video */
};

struct top_screen {
	struct top_line *lines;
	int n, cap;			/* cap < 0: grow without bound */
};

struct top_view {
	const struct top_sample *cur;	/* NULL: nothing yet */
	const struct top_sample *prev;	/* NULL: no rates yet */
	int rows;			/* 0: every row (the one-shot table) */
	const char *status;		/* the footer; NULL: none */
	bool status_alarm;		/* the footer is bad news */
};

/* lay @v out in @sc: at most @v->rows lines when it is set */
int top_view(struct top_screen *sc, const struct top_view *v);
void top_screen_free(struct top_screen *sc);

/* ringlbctl [-s PATH] [-T SECS] top [-d SECS]: the exit status */
int top_main(const char *path, double timeout, int argc, char **argv);

#endif

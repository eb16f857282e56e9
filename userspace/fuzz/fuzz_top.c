// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: `ringlbctl top`'s readers of the admin socket's
 * show answers (top_parse.c), and the screen laid out from what they
 * read (top_view.c). The input is four answers, separated by NUL
 * bytes: stats, servers, listeners, kernel; it is read twice, as two
 * samples a second apart, so that rates are computed too.
 *
 * Whatever the daemon sends, every string read holds printable ASCII
 * only (no escape sequence reaches the terminal), no table grows past
 * TOP_MAX_ROWS, and the screen keeps to the rows it was given.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "top.h"

static void check_str(const char *s, size_t size)
{
	size_t i;

	for (i = 0; i < size && s[i]; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			abort();
	if (i == size)
		abort();	/* not terminated */
}

#define CHECK(field) check_str(field, sizeof(field))

static void check(const struct top_sample *s)
{
	size_t i;

	if (s->nservers > TOP_MAX_ROWS || s->nlisteners > TOP_MAX_ROWS ||
	    s->nrings > TOP_MAX_ROWS)
		abort();
	CHECK(s->stats.version);
	CHECK(s->stats.engine);
	CHECK(s->stats.forward);
	CHECK(s->stats.pid);
	CHECK(s->kernel_note);
	for (i = 0; i < s->nservers; i++) {
		CHECK(s->servers[i].backend);
		CHECK(s->servers[i].name);
		CHECK(s->servers[i].address);
		CHECK(s->servers[i].state);
		CHECK(s->servers[i].weight);
		CHECK(s->servers[i].checks);
	}
	for (i = 0; i < s->nlisteners; i++) {
		CHECK(s->listeners[i].name);
		CHECK(s->listeners[i].backend);
		CHECK(s->listeners[i].max_conns);
		CHECK(s->listeners[i].binds);
	}
	for (i = 0; i < s->nrings; i++)
		CHECK(s->rings[i].pid);
}

static void parse(struct top_sample *s, const char *text, size_t size,
		  uint64_t t)
{
	int (*const readers[])(struct top_sample *, const char *) = {
		top_parse_stats, top_parse_servers, top_parse_listeners,
		top_parse_kernel,
	};
	const char *p = text, *end = text + size;
	size_t i;

	memset(s, 0, sizeof(*s));
	s->t_ms = t;
	for (i = 0; i < 4 && p <= end; i++) {
		readers[i](s, p);
		p += strlen(p) + 1;
	}
	check(s);
}

static void view(const struct top_sample *cur, const struct top_sample *prev,
		 int rows)
{
	struct top_screen sc = { 0 };
	struct top_view v = { .cur = cur, .prev = prev, .rows = rows,
			      .status = rows ? "footer" : NULL };
	int i;

	if (top_view(&sc, &v))
		abort();
	if (rows && sc.n > rows)
		abort();
	for (i = 0; i < sc.n; i++)
		check_str(sc.lines[i].text, sizeof(sc.lines[i].text));
	top_screen_free(&sc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct top_sample a, b;
	char *text;

	if (size > 1 << 20)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	parse(&a, text, size, 1000);
	parse(&b, text, size, 2000);
	view(&b, &a, 24);
	view(&b, &a, 7);
	view(&b, NULL, 1);
	view(&b, &a, 0);
	top_sample_free(&a);
	top_sample_free(&b);
	free(text);
	return 0;
}

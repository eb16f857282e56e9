// SPDX-License-Identifier: MIT
/*
 * Readers of the admin socket's show answers for `ringlbctl top`: see
 * top_parse.h for what they promise against a daemon that lies.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "top_parse.h"

#define MAX_TOKS	24

struct tok {
	const char *p;
	size_t n;
};

void top_copy(char *dst, size_t len, const char *src, size_t n)
{
	size_t i;

	if (!len)
		return;
	if (n > len - 1)
		n = len - 1;
	for (i = 0; i < n; i++)
		dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
	dst[n] = '\0';
}

/* the blank-separated words of one line, at most @max of them */
static int split(const char *line, size_t len, struct tok *t, int max)
{
	size_t i = 0, start;
	int n = 0;

	while (i < len && n < max) {
		while (i < len && (line[i] == ' ' || line[i] == '\t' ||
				   line[i] == '\r'))
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && line[i] != ' ' && line[i] != '\t' &&
		       line[i] != '\r')
			i++;
		t[n].p = line + start;
		t[n].n = i - start;
		n++;
	}
	return n;
}

static bool tok_is(const struct tok *t, const char *s)
{
	return t->n == strlen(s) && !memcmp(t->p, s, t->n);
}

/* decimal digits only, no overflow */
static bool tok_u64(const struct tok *t, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (!t->n || t->n > 20)
		return false;
	for (i = 0; i < t->n; i++) {
		if (t->p[i] < '0' || t->p[i] > '9')
			return false;
		if (v > (UINT64_MAX - (t->p[i] - '0')) / 10)
			return false;
		v = v * 10 + (t->p[i] - '0');
	}
	*out = v;
	return true;
}

#define TOK_COPY(dst, t) top_copy(dst, sizeof(dst), (t)->p, (t)->n)

/*
 * Call @fn on each line of @text. An answer that is an error, or empty,
 * is -EINVAL: the caller keeps what it had.
 */
static int each_line(const char *text, void *arg,
		     int (*fn)(void *arg, struct tok *t, int n,
			       const char *line, size_t len))
{
	struct tok t[MAX_TOKS];
	const char *p = text, *e;
	int n, ret;

	if (!*text || !strncmp(text, "error:", 6))
		return -EINVAL;
	while (*p) {
		e = strchr(p, '\n');
		if (!e)
			e = p + strlen(p);
		n = split(p, e - p, t, MAX_TOKS);
		ret = n ? fn(arg, t, n, p, e - p) : 0;
		if (ret)
			return ret;
		p = *e ? e + 1 : e;
	}
	return 0;
}

/* one more row of @size bytes in *@rows (*@n of them): NULL when full */
static void *grow(void *rows_p, size_t *n, size_t size)
{
	void **rows = rows_p;
	void *nr;

	if (*n >= TOP_MAX_ROWS)
		return NULL;
	/* doubling: room for 1, 2, 4, 8... rows, grown at each power of 2 */
	if (!(*n & (*n - 1))) {
		nr = realloc(*rows, (*n ? *n * 2 : 1) * size);
		if (!nr)
			return NULL;
		*rows = nr;
	}
	nr = (char *)*rows + (*n)++ * size;
	memset(nr, 0, size);
	return nr;
}

/* ---- show stats: "key value" lines ------------------------------------ */

static int stats_line(void *arg, struct tok *t, int n, const char *line,
		      size_t len)
{
	struct top_stats *st = arg;

	(void)line;
	(void)len;
	if (n < 2)
		return 0;
	if (tok_is(&t[0], "version"))
		TOK_COPY(st->version, &t[1]);
	else if (tok_is(&t[0], "engine"))
		TOK_COPY(st->engine, &t[1]);
	else if (tok_is(&t[0], "forward"))
		TOK_COPY(st->forward, &t[1]);
	else if (tok_is(&t[0], "pid"))
		TOK_COPY(st->pid, &t[1]);
#define X(name) else if (tok_is(&t[0], #name)) tok_u64(&t[1], &st->name);
	TOP_STATS(X)
#undef X
	return 0;
}

int top_parse_stats(struct top_sample *s, const char *text)
{
	struct top_stats st = { 0 };
	int ret = each_line(text, &st, stats_line);

	if (ret)
		return ret;
	if (!st.version[0])
		return -EINVAL;
	s->stats = st;
	s->have_stats = true;
	return 0;
}

/* ---- show servers ------------------------------------------------------ */

/*
 * BACKEND SERVER ADDRESS STATE WEIGHT BACKUP ACTIVE TOTAL CONNERR
 * CHECKS(ok/fail), then whatever a later version adds.
 */
static int server_line(void *arg, struct tok *t, int n, const char *line,
		       size_t len)
{
	struct top_sample *s = arg;
	struct top_server srv = { 0 }, *row;

	(void)line;
	(void)len;
	if (n < 10 || tok_is(&t[0], "BACKEND"))
		return 0;
	if (!tok_u64(&t[6], &srv.active) || !tok_u64(&t[7], &srv.total) ||
	    !tok_u64(&t[8], &srv.connect_errors))
		return 0;
	TOK_COPY(srv.backend, &t[0]);
	TOK_COPY(srv.name, &t[1]);
	TOK_COPY(srv.address, &t[2]);
	TOK_COPY(srv.state, &t[3]);
	TOK_COPY(srv.weight, &t[4]);
	srv.backup = tok_is(&t[5], "yes");
	TOK_COPY(srv.checks, &t[9]);
	row = grow(&s->servers, &s->nservers, sizeof(*row));
	if (!row)
		return -ENOMEM;
	*row = srv;
	return 0;
}

int top_parse_servers(struct top_sample *s, const char *text)
{
	free(s->servers);
	s->servers = NULL;
	s->nservers = 0;
	s->have_servers = !each_line(text, s, server_line);
	return s->have_servers ? 0 : -EINVAL;
}

/* ---- show listeners: LISTENER BACKEND MAXCONN BINDS ------------------ */

static int listener_line(void *arg, struct tok *t, int n, const char *line,
			 size_t len)
{
	struct top_sample *s = arg;
	struct top_listener *row;

	(void)line;
	(void)len;
	if (n < 4 || tok_is(&t[0], "LISTENER"))
		return 0;
	row = grow(&s->listeners, &s->nlisteners, sizeof(*row));
	if (!row)
		return -ENOMEM;
	TOK_COPY(row->name, &t[0]);
	TOK_COPY(row->backend, &t[1]);
	TOK_COPY(row->max_conns, &t[2]);
	TOK_COPY(row->binds, &t[3]);
	return 0;
}

int top_parse_listeners(struct top_sample *s, const char *text)
{
	free(s->listeners);
	s->listeners = NULL;
	s->nlisteners = 0;
	s->have_listeners = !each_line(text, s, listener_line);
	return s->have_listeners ? 0 : -EINVAL;
}

/* ---- show kernel -------------------------------------------------------- */

enum { K_ID, K_PID, K_SQ, K_SUB, K_COMP, K_FAILED, K_OVF, K_NCOLS };

static const char *const kernel_cols[K_NCOLS] = {
	[K_ID] = "id", [K_PID] = "pid", [K_SQ] = "sq_entries",
	[K_SUB] = "submitted", [K_COMP] = "completed", [K_FAILED] = "failed",
	[K_OVF] = "cq_overflow",
};

struct kernel_parse {
	struct top_sample *s;
	int col[K_NCOLS];		/* by the module's header line */
	bool header;
};

static int kernel_line(void *arg, struct tok *t, int n, const char *line,
		       size_t len)
{
	static const char na[] = "uringstat not available (";
	struct kernel_parse *k = arg;
	struct top_ring ring = { 0 }, *row;
	int c, i;

	if (len >= sizeof(na) - 1 && !memcmp(line, na, sizeof(na) - 1)) {
		k->s->uringstat = false;
		top_copy(k->s->kernel_note, sizeof(k->s->kernel_note),
			 line + sizeof(na) - 1, len - (sizeof(na) - 1) -
			 (line[len - 1] == ')'));
		return 0;
	}
	if (tok_is(&t[0], "id")) {
		for (c = 0; c < K_NCOLS; c++) {
			k->col[c] = -1;
			for (i = 0; i < n; i++)
				if (tok_is(&t[i], kernel_cols[c]))
					k->col[c] = i;
		}
		k->header = true;
		k->s->uringstat = true;
		return 0;
	}
	if (!k->header)
		return 0;
	for (c = 0; c < K_NCOLS; c++)
		if (k->col[c] < 0 || k->col[c] >= n)
			return 0;
	if (!tok_u64(&t[k->col[K_ID]], &ring.id) ||
	    !tok_u64(&t[k->col[K_SQ]], &ring.sq_entries) ||
	    !tok_u64(&t[k->col[K_SUB]], &ring.submitted) ||
	    !tok_u64(&t[k->col[K_COMP]], &ring.completed) ||
	    !tok_u64(&t[k->col[K_FAILED]], &ring.failed) ||
	    !tok_u64(&t[k->col[K_OVF]], &ring.cq_overflow))
		return 0;
	TOK_COPY(ring.pid, &t[k->col[K_PID]]);
	row = grow(&k->s->rings, &k->s->nrings, sizeof(*row));
	if (!row)
		return -ENOMEM;
	*row = ring;
	return 0;
}

int top_parse_kernel(struct top_sample *s, const char *text)
{
	struct kernel_parse k = { .s = s };

	free(s->rings);
	s->rings = NULL;
	s->nrings = 0;
	s->uringstat = false;
	s->kernel_note[0] = '\0';
	s->have_kernel = !each_line(text, &k, kernel_line);
	return s->have_kernel ? 0 : -EINVAL;
}

void top_sample_free(struct top_sample *s)
{
	free(s->servers);
	free(s->listeners);
	free(s->rings);
	s->servers = NULL;
	s->listeners = NULL;
	s->rings = NULL;
	s->nservers = s->nlisteners = s->nrings = 0;
}

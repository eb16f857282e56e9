// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logfmt.h"

/* longest names first: %sni before %s, %sa before %s */
static const struct {
	const char *name;
	enum lf_field field;
} fields[] = {
	{ "sni", LF_SNI }, { "ci", LF_CLIENT_IP }, { "cp", LF_CLIENT_PORT },
	{ "fa", LF_LISTEN_ADDR }, { "sa", LF_SERVER_ADDR },
	{ "Tc", LF_T_CONNECT }, { "Tt", LF_T_TOTAL }, { "ts", LF_END },
	{ "rc", LF_RETRIES }, { "c", LF_CLIENT }, { "f", LF_LISTENER },
	{ "b", LF_BACKEND }, { "s", LF_SERVER }, { "U", LF_UP },
	{ "B", LF_DOWN },
};

static int add(struct log_format *lf, enum lf_field f, size_t off, size_t len)
{
	struct lf_tok *t = realloc(lf->tok, (lf->ntok + 1) * sizeof(*t));

	if (!t)
		return -ENOMEM;
	lf->tok = t;
	t[lf->ntok++] = (struct lf_tok){ .field = f, .off = off, .len = len };
	return 0;
}

int log_format_parse(struct log_format *lf, const char *s, const char **err)
{
	size_t n = strlen(s), i = 0, lit = 0, k, l;
	int ret;

	memset(lf, 0, sizeof(*lf));
	*err = NULL;
	if (n > LOG_FORMAT_MAX) {
		*err = "longer than 1024 characters";
		return -EINVAL;
	}
	lf->text = strdup(s);
	if (!lf->text)
		return -ENOMEM;
	while (i < n) {
		if (s[i] != '%') {
			i++;
			continue;
		}
		if (i > lit && (ret = add(lf, LF_LIT, lit, i - lit)))
			goto fail;
		if (s[i + 1] == '%') {
			/* the second % stays as literal text */
			lit = i + 1;
			i += 2;
			continue;
		}
		for (k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
			l = strlen(fields[k].name);
			if (!strncmp(s + i + 1, fields[k].name, l))
				break;
		}
		if (k == sizeof(fields) / sizeof(fields[0])) {
			*err = s + i;
			ret = -EINVAL;
			goto fail;
		}
		if ((ret = add(lf, fields[k].field, 0, 0)))
			goto fail;
		i += 1 + l;
		lit = i;
	}
	if (n > lit && (ret = add(lf, LF_LIT, lit, n - lit)))
		goto fail;
	return 0;
fail:
	log_format_free(lf);
	return ret;
}

void log_format_free(struct log_format *lf)
{
	free(lf->text);
	free(lf->tok);
	memset(lf, 0, sizeof(*lf));
}

static size_t put(char *buf, size_t size, size_t at, const char *s, size_t n)
{
	if (at + 1 >= size)
		return at;
	if (n > size - 1 - at)
		n = size - 1 - at;
	memcpy(buf + at, s, n);
	return at + n;
}

static size_t put_str(char *buf, size_t size, size_t at, const char *s)
{
	if (!s || !*s)
		s = "-";
	return put(buf, size, at, s, strlen(s));
}

size_t log_format_render(const struct log_format *lf, const struct lf_vals *v,
			 char *buf, size_t size)
{
	char num[24];
	size_t at = 0;
	unsigned int i;

	if (!size)
		return 0;
	for (i = 0; i < lf->ntok; i++) {
		const struct lf_tok *t = &lf->tok[i];

		switch (t->field) {
		case LF_LIT:
			at = put(buf, size, at, lf->text + t->off, t->len);
			break;
		case LF_CLIENT:
			at = put_str(buf, size, at, v->client);
			break;
		case LF_CLIENT_IP:
			at = put_str(buf, size, at, v->client_ip);
			break;
		case LF_CLIENT_PORT:
			at = put_str(buf, size, at, v->client_port);
			break;
		case LF_LISTENER:
			at = put_str(buf, size, at, v->listener);
			break;
		case LF_LISTEN_ADDR:
			at = put_str(buf, size, at, v->listen_addr);
			break;
		case LF_BACKEND:
			at = put_str(buf, size, at, v->backend);
			break;
		case LF_SERVER:
			at = put_str(buf, size, at, v->server);
			break;
		case LF_SERVER_ADDR:
			at = put_str(buf, size, at, v->server_addr);
			break;
		case LF_END:
			at = put_str(buf, size, at, v->end);
			break;
		case LF_SNI:
			at = put_str(buf, size, at, v->sni);
			break;
		case LF_UP:
		case LF_DOWN:
			snprintf(num, sizeof(num), "%" PRIu64,
				 t->field == LF_UP ? v->up : v->down);
			at = put_str(buf, size, at, num);
			break;
		case LF_T_CONNECT:
		case LF_T_TOTAL:
			snprintf(num, sizeof(num), "%" PRId64,
				 t->field == LF_T_CONNECT ? v->t_connect :
				 v->t_total);
			at = put_str(buf, size, at, num);
			break;
		case LF_RETRIES:
			snprintf(num, sizeof(num), "%u", v->retries);
			at = put_str(buf, size, at, num);
			break;
		}
	}
	buf[at] = '\0';
	return at;
}

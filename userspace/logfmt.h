/* SPDX-License-Identifier: MIT */
/*
 * The access line's format (log-format): %-fields as HAProxy's tcplog
 * names them where it has one, parsed once at configuration time into
 * tokens, rendered per connection with no allocation.
 */
#ifndef RINGLB_LOGFMT_H
#define RINGLB_LOGFMT_H

#include <stddef.h>
#include <stdint.h>

#define LOG_FORMAT_MAX	1024	/* characters in a format */
/* the access line before log-format existed, and still by default */
#define LOG_FORMAT_DEFAULT						\
	"client=%c listener=%f backend=%b server=%sa up=%U down=%B ms=%Tt end=%ts"

enum lf_field {
	LF_LIT,		/* text of the format itself */
	LF_CLIENT,	/* %c   client address:port ([v6]:port) */
	LF_CLIENT_IP,	/* %ci  client address */
	LF_CLIENT_PORT,	/* %cp  client port */
	LF_LISTENER,	/* %f   listener name */
	LF_LISTEN_ADDR,	/* %fa  listener address:port the client reached */
	LF_BACKEND,	/* %b   backend name */
	LF_SERVER,	/* %s   server name */
	LF_SERVER_ADDR,	/* %sa  server address as configured */
	LF_UP,		/* %U   bytes client to server */
	LF_DOWN,	/* %B   bytes server to client */
	LF_T_CONNECT,	/* %Tc  ms from the connect to established, -1 */
	LF_T_TOTAL,	/* %Tt  ms from accept to close */
	LF_END,		/* %ts  how it ended */
	LF_SNI,		/* %sni TLS server name, - */
	LF_RETRIES,	/* %rc  servers tried after the first */
};

struct lf_tok {
	uint8_t field;
	uint16_t off, len;	/* LF_LIT: its text in the format */
};

struct log_format {
	char *text;
	struct lf_tok *tok;
	unsigned int ntok;
};

/* what one connection's line is made of; NULL strings print "-" */
struct lf_vals {
	const char *client, *client_ip, *client_port;
	const char *listener, *listen_addr, *backend, *server, *server_addr;
	const char *end, *sni;
	uint64_t up, down;
	int64_t t_connect, t_total;
	unsigned int retries;
};

/* Returns 0, or -EINVAL with *@err naming the bad field. */
int log_format_parse(struct log_format *lf, const char *s, const char **err);
void log_format_free(struct log_format *lf);
/* Render into @buf (always NUL-terminated); returns the length. */
size_t log_format_render(const struct log_format *lf, const struct lf_vals *v,
			 char *buf, size_t size);

#endif

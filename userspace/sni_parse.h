/* SPDX-License-Identifier: MIT */
/*
 * The server name (SNI) and first ALPN protocol of a TLS ClientHello,
 * read from the first bytes a client sent, without terminating TLS. The
 * bytes are untrusted: the parser is strict and bounded, and fuzzed
 * (fuzz/fuzz_sni.c).
 */
#ifndef RINGLB_SNI_PARSE_H
#define RINGLB_SNI_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* a ClientHello whose records take more than this is refused */
#define SNI_PEEK_MAX	16384
#define SNI_NAME_MAX	253

struct sni_info {
	int tls;			/* 0: the client does not speak TLS */
	char name[SNI_NAME_MAX + 1];	/* lower case; "" when none was sent */
	char alpn[64];			/* the first protocol offered, or "" */
};

/*
 * Parse the ClientHello at the start of @buf (@len bytes so far),
 * fragmented over any number of handshake records. Returns the number
 * of bytes its records take once it is whole (or 1 when the first byte
 * says this is not TLS: si->tls = 0), 0 while more are needed, or
 * -EINVAL with *@why saying what is wrong.
 */
int sni_parse(const uint8_t *buf, size_t len, struct sni_info *si,
	      const char **why);

#endif

// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the TLS ClientHello reader behind SNI routing. The
 * seeds are real ClientHellos from `openssl s_client` (one fragmented
 * over two records by hand).
 *
 * Besides never crashing or reading past its input, the reader must give
 * the same answer whatever the chunking: fed the bytes one at a time it
 * says "more" until exactly the byte that completes the ClientHello's
 * last record, then the same length, name and ALPN as when fed all at
 * once; an error stays an error. A name it returns is a lower-case host
 * name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sni_parse.h"

static void check_name(const char *n)
{
	size_t i;

	for (i = 0; n[i]; i++)
		if (!((n[i] >= 'a' && n[i] <= 'z') ||
		      (n[i] >= '0' && n[i] <= '9') || n[i] == '-' ||
		      n[i] == '_' || n[i] == '.'))
			abort();
	if (i > SNI_NAME_MAX)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sni_info whole, part;
	const char *why;
	uint8_t *copy;
	int r, rk;
	size_t k, step;

	if (size > SNI_PEEK_MAX + 64)
		return 0;
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	r = sni_parse(copy, size, &whole, &why);
	if (r > (int)size || (r < 0 && !why) || (r >= 0 && why))
		abort();
	if (r > 0)
		check_name(whole.name);
	/* one byte at a time for short inputs, coarser for long ones */
	step = size > 2048 ? size / 512 : 1;
	for (k = 1; k <= size; k += step) {
		rk = sni_parse(copy, k, &part, &why);
		if (rk == 0)
			continue;
		if (rk < 0) {
			if (r >= 0)
				abort();
			break;
		}
		if (rk != r || (step == 1 && rk != (int)k && whole.tls))
			abort();
		if (part.tls != whole.tls || strcmp(part.name, whole.name) ||
		    strcmp(part.alpn, whole.alpn))
			abort();
		break;
	}
	free(copy);
	return 0;
}

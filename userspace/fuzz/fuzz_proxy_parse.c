// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the parser of PROXY headers received from a peer.
 * The first byte picks the versions accepted, the rest is what arrives.
 *
 * Besides never crashing or reading past its input, the parser must
 * give the same answer whatever the chunking: fed the bytes one at a
 * time, it says "more" until exactly the byte that ends the header, and
 * then the same length and addresses as when fed all at once; an error
 * stays an error. That is what lets a caller consume every byte it
 * peeked while the answer is "more" without eating client data.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy_parse.h"

static void same(const struct pp_info *a, const struct pp_info *b)
{
	if (a->version != b->version || a->local != b->local ||
	    a->tlv_off != b->tlv_off || a->tlv_len != b->tlv_len)
		abort();
	if (!a->local && (a->addr_len != b->addr_len ||
			  memcmp(&a->src, &b->src, a->addr_len) ||
			  memcmp(&a->dst, &b->dst, a->addr_len)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pp_info whole, part;
	const char *why;
	int accept, r, rk;
	size_t k;

	if (size < 1 || size > PP_RECV_MAX + 64)
		return 0;
	accept = data[0] % 4;
	if (accept == PP_ACCEPT_OFF)
		accept = PP_ACCEPT_ANY;
	data++;
	size--;
	/* the exact length of the input, so ASan sees any overread */
	{
		uint8_t *copy = malloc(size ? size : 1);

		if (!copy)
			return 0;
		memcpy(copy, data, size);
		r = pp_parse(copy, size, accept, &whole, &why);
		if (r > (int)size || (r < 0 && !why) || (r >= 0 && why))
			abort();
		if (r > 0) {
			if (r < 16 && whole.version == 2)
				abort();
			if (whole.tlv_off + whole.tlv_len > r)
				abort();
			if (!whole.local &&
			    whole.src.ss_family != whole.dst.ss_family)
				abort();
		}
		for (k = 1; k <= size; k++) {
			rk = pp_parse(copy, k, accept, &part, &why);
			if (rk == 0)
				continue;
			if (rk < 0) {
				if (r >= 0)
					abort();
				break;
			}
			/* whole exactly at the byte that completes it */
			if (rk != (int)k || rk != r)
				abort();
			same(&part, &whole);
			break;
		}
		if (k > size && r != 0)
			abort();
		free(copy);
	}
	return 0;
}

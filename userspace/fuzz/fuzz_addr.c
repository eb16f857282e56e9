// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the address parser. Whatever it accepts must format
 * back to a string that parses to the same address, and the weighted
 * form must agree with the plain one on the address part.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[256], buf[ADDR_STRLEN];
	struct addr a, b, w;
	unsigned int weight;

	if (size >= sizeof(s))
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	if (addr_parse(s, &a) == 0) {
		if (a.len > sizeof(a.ss))
			abort();
		if (!addr_format((struct sockaddr *)&a.ss, a.len, buf,
				 sizeof(buf)))
			abort();
		if (addr_parse(buf, &b) || !addr_equal(&a, &b))
			abort();
	}
	if (addr_parse_weighted(s, &w, &weight) == 0) {
		if (w.len > sizeof(w.ss))
			abort();
		if (weight > 256)
			abort();
	}
	return 0;
}

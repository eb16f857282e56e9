// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the config parser (libinih plus our keys) and the
 * validation pass that resolves cross-references, on arbitrary text.
 * Errors are expected and counted; crashes, leaks and undefined
 * behaviour are what this looks for. run.sh closes stderr
 * (-close_fd_mask=2): every error prints "FILE:LINE: message".
 */
#include <stdint.h>
#include <stdio.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	FILE *f;

	f = fmemopen((void *)data, size, "r");
	if (!f)
		return 0;
	config_init(&cfg);
	if (config_load_stream(&cfg, f, "fuzz.ini") == 0)
		config_finish(&cfg);
	fclose(f);
	config_free(&cfg);
	return 0;
}

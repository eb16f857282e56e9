// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the admin command interpreter, on the line the admin
 * socket hands it (NUL-free, at most CTL_REQUEST_MAX - 1 bytes:
 * control_io.c rejects anything else before it gets here); "show conns"
 * is answered as with no worker answering. The runtime is a real
 * configuration with two backends and no workers. Every command must
 * answer with at least one complete line; --json answers must be JSON
 * (an object or an array). State changes are logged to stderr, which
 * run.sh closes (-close_fd_mask=2).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"

static const char ini[] =
	"[listener web]\n"
	"bind = 127.0.0.1:1\n"
	"backend = app\n"
	"[backend app]\n"
	"balance = maglev\n"
	"server = a 127.0.0.1:2 weight=3\n"
	"server = b [::1]:3\n"
	"server = c 127.0.0.1:4 backup\n"
	"[backend other]\n"
	"server = x 127.0.0.1:5\n";

static struct config cfg;
static struct generation gen;
static struct runtime rt;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	FILE *f = fmemopen((void *)ini, sizeof(ini) - 1, "r");

	(void)argc;
	(void)argv;
	config_init(&cfg);
	if (!f || config_load_stream(&cfg, f, "fuzz-admin.ini") ||
	    config_finish(&cfg))
		abort();
	fclose(f);
	gen.cfg = &cfg;
	rt.groups = &gen;
	rt.engine = &engine_uring;
	rt.forward = FORWARD_BUFFERS;
	return 0;
}

/* the interpreter's own reading: any whitespace-separated "--json" word */
static bool wants_json(const uint8_t *data, size_t size)
{
	size_t i = 0, start;

	while (i < size) {
		while (i < size && strchr(" \t\r\n", data[i]))
			i++;
		start = i;
		while (i < size && !strchr(" \t\r\n", data[i]))
			i++;
		if (i - start == 6 && !memcmp(data + start, "--json", 6))
			return true;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char line[4096], *out = NULL;
	size_t len = 0;
	FILE *f;
	int ret;

	if (size >= sizeof(line) || memchr(data, '\0', size))
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	f = open_memstream(&out, &len);
	if (!f)
		return 0;
	ret = admin_command(&rt, line, f);
	if (ret)
		conns_show(f, ret == ADMIN_CONNS_JSON, NULL, 0);
	fclose(f);
	if (!len || out[len - 1] != '\n')
		abort();
	if (wants_json(data, size) && strncmp(out, "error", 5) &&
	    strncmp(out, "ok", 2) && strncmp(out, "commands", 8) &&
	    out[0] != '{' && out[0] != '[')
		abort();
	free(out);
	return 0;
}

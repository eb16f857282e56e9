/* SPDX-License-Identifier: MIT */
/*
 * Socket addresses as users write them: `127.0.0.1:80`, `[::1]:80`,
 * `0.0.0.0:80`, `[::]:80`, `*:80`, and `unix:/path` (backends only).
 */
#ifndef RINGLB_ADDR_H
#define RINGLB_ADDR_H

#include <stdbool.h>
#include <sys/socket.h>

/* room for "unix:" and a full 108-byte sun_path, with the NUL */
#define ADDR_STRLEN 120

struct addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

int addr_parse(const char *s, struct addr *a);
int addr_parse_weighted(const char *s, struct addr *a, unsigned int *weight);
char *addr_format(const struct sockaddr *sa, socklen_t len, char *buf,
		  size_t size);
bool addr_equal(const struct addr *a, const struct addr *b);

#endif

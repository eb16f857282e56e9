/* SPDX-License-Identifier: MIT */
/*
 * PROXY protocol headers (HAProxy's proxy-protocol.txt) that tell a
 * server the real client and destination addresses.
 */
#ifndef RINGLB_PROXY_H
#define RINGLB_PROXY_H

#include <stddef.h>
#include <sys/socket.h>

#define PROXY_HDR_MAX	108	/* v1's maximum; v2 for IPv6 is 52 */

/* Returns the header length, or -EINVAL (bad version, buffer too small). */
int proxy_header(char *buf, size_t size, int version,
		 const struct sockaddr *src, const struct sockaddr *dst);

/*
 * Append v2 TLVs (type, length, value, as received) to the v2 header of
 * @n bytes in @buf, fixing its length. Returns the new length, or
 * -EINVAL when they do not fit (the header is then unchanged).
 */
int proxy_header_add_tlvs(char *buf, size_t size, int n, const void *tlv,
			  size_t tlv_len);

#endif

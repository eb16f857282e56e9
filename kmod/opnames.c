// SPDX-License-Identifier: GPL-2.0
/*
 * Opcode names. The kernel's own table (io_uring_get_opcode()) is not
 * exported; opcode numbers are ABI and never change, so a table by number
 * holds for every kernel. Opcodes newer than this table print as "op<N>".
 */
#include <linux/kernel.h>
#include "uringstat.h"

static const char * const us_op_names[] = {
	"NOP", "READV", "WRITEV", "FSYNC", "READ_FIXED", "WRITE_FIXED",
	"POLL_ADD", "POLL_REMOVE", "SYNC_FILE_RANGE", "SENDMSG", "RECVMSG",
	"TIMEOUT", "TIMEOUT_REMOVE", "ACCEPT", "ASYNC_CANCEL", "LINK_TIMEOUT",
	"CONNECT", "FALLOCATE", "OPENAT", "CLOSE", "FILES_UPDATE", "STATX",
	"READ", "WRITE", "FADVISE", "MADVISE", "SEND", "RECV", "OPENAT2",
	"EPOLL_CTL", "SPLICE", "PROVIDE_BUFFERS", "REMOVE_BUFFERS", "TEE",
	"SHUTDOWN", "RENAMEAT", "UNLINKAT", "MKDIRAT", "SYMLINKAT", "LINKAT",
	"MSG_RING", "FSETXATTR", "SETXATTR", "FGETXATTR", "GETXATTR", "SOCKET",
	"URING_CMD", "SEND_ZC", "SENDMSG_ZC", "READ_MULTISHOT", "WAITID",
	"FUTEX_WAIT", "FUTEX_WAKE", "FUTEX_WAITV", "FIXED_FD_INSTALL",
	"FTRUNCATE", "BIND", "LISTEN",
};

const char *us_op_name(unsigned int opcode)
{
	if (opcode == US_OP_OTHER)
		return "other";
	if (opcode < ARRAY_SIZE(us_op_names))
		return us_op_names[opcode];
	return NULL;
}

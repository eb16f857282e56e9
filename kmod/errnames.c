// SPDX-License-Identifier: GPL-2.0
/*
 * errno names for the errors file. The kernel's own table (errname(),
 * behind %pe) is not exported and depends on CONFIG_SYMBOLIC_ERRNAME, and
 * its names carry a sign. Built from the architecture's own E* constants,
 * so the numbers are right wherever the module is built; an errno not
 * listed prints as its number (ENOSYS is left out: the kernel keeps it
 * for unknown system calls).
 */
#include <linux/kernel.h>
#include <linux/errno.h>
#include "uringstat.h"

struct us_errno_name {
	unsigned short	err;
	const char	*name;
};

#define E(x)	{ x, #x }

static const struct us_errno_name us_errno_names[] = {
	E(EPERM), E(ENOENT), E(ESRCH), E(EINTR), E(EIO), E(ENXIO), E(E2BIG),
	E(ENOEXEC), E(EBADF), E(ECHILD), E(EAGAIN), E(ENOMEM), E(EACCES),
	E(EFAULT), E(EBUSY), E(EEXIST), E(EXDEV), E(ENODEV), E(ENOTDIR),
	E(EISDIR), E(EINVAL), E(ENFILE), E(EMFILE), E(ENOTTY), E(ETXTBSY),
	E(EFBIG), E(ENOSPC), E(ESPIPE), E(EROFS), E(EMLINK), E(EPIPE),
	E(EDOM), E(ERANGE), E(EDEADLK), E(ENAMETOOLONG), E(ENOLCK),
	E(ENOTEMPTY), E(ELOOP), E(ENOMSG), E(EIDRM), E(ENODATA),
	E(ETIME), E(ENOLINK), E(EPROTO), E(EBADMSG), E(EOVERFLOW), E(EBADFD),
	E(EILSEQ), E(EUSERS), E(ENOTSOCK), E(EDESTADDRREQ), E(EMSGSIZE),
	E(EPROTOTYPE), E(ENOPROTOOPT), E(EPROTONOSUPPORT),
	E(ESOCKTNOSUPPORT), E(EOPNOTSUPP), E(EPFNOSUPPORT), E(EAFNOSUPPORT),
	E(EADDRINUSE), E(EADDRNOTAVAIL), E(ENETDOWN), E(ENETUNREACH),
	E(ENETRESET), E(ECONNABORTED), E(ECONNRESET), E(ENOBUFS), E(EISCONN),
	E(ENOTCONN), E(ESHUTDOWN), E(ETOOMANYREFS), E(ETIMEDOUT),
	E(ECONNREFUSED), E(EHOSTDOWN), E(EHOSTUNREACH), E(EALREADY),
	E(EINPROGRESS), E(ESTALE), E(EDQUOT), E(ECANCELED), E(EOWNERDEAD),
	E(ENOTRECOVERABLE), E(ERFKILL), E(EHWPOISON),
	/* kernel-internal, but a CQE can carry them */
	E(ERESTARTSYS), E(ENOTSUPP), E(EIOCBQUEUED),
};

/* only when the errors file is read */
const char *us_errno_name(unsigned int err)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(us_errno_names); i++)
		if (us_errno_names[i].err == err)
			return us_errno_names[i].name;
	return NULL;
}

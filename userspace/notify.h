/* SPDX-License-Identifier: MIT */
/*
 * sd_notify() from libsystemd, or nothing: Debian ships no static
 * libsystemd, and the static build (for the VM initramfs, where no
 * systemd runs) is made with RINGLB_NO_SYSTEMD.
 */
#ifndef RINGLB_NOTIFY_H
#define RINGLB_NOTIFY_H

#ifdef RINGLB_NO_SYSTEMD
static inline int sd_notify(int unset_env, const char *state)
{
	(void)unset_env;
	(void)state;
	return 0;
}

static inline int __attribute__((format(printf, 2, 3)))
sd_notifyf(int unset_env, const char *format, ...)
{
	(void)unset_env;
	(void)format;
	return 0;
}
#else
#include <systemd/sd-daemon.h>
#endif

#endif /* RINGLB_NOTIFY_H */

/* SPDX-License-Identifier: MIT */
/*
 * Listening sockets a starting ringlb did not make itself: taken from
 * the running ringlb over its admin socket (-x, handover.c), or passed
 * by systemd (socket activation, and the file descriptor store this
 * process fills for the next start). Each is checked to be a listening
 * TCP socket and matched to the configuration by the address it is
 * bound to; what no listener wants is closed, and what is not
 * inherited is bound fresh (worker_listen()).
 */
#ifndef RINGLB_INHERIT_H
#define RINGLB_INHERIT_H

#include <stdbool.h>
#include <sys/types.h>

#include "addr.h"
#include "config.h"

struct generation;

enum inh_origin {
	INH_TAKEOVER,		/* from the old process, -x */
	INH_ACTIVATION,		/* a systemd .socket unit's */
	INH_FDSTORE,		/* stored by a previous run of ours */
};

struct inherited {
	int fd;			/* -1 once handed to a worker */
	struct addr addr;	/* getsockname() */
	char addr_str[ADDR_STRLEN];
	int worker;		/* whose it was; -1: for all workers */
	char name[256];		/* listener, or systemd's FDNAME */
	enum inh_origin from;
	bool used;
	unsigned int dups;	/* shared: workers that took a copy */
};

struct inherit {
	struct inherited *s;
	unsigned int n;
	pid_t old_pid;		/* -x: the process handing over, else 0 */
	int metrics_fd;		/* -x: its metrics port, else -1 */
	struct addr metrics_addr;
	int retire_fd;		/* -x: connected to its admin socket */
};

void inherit_init(struct inherit *inh);
/*
 * Add @fd from @from: checked (a listening TCP socket), made
 * non-blocking and close-on-exec. Takes @fd in any case: closed when
 * refused. 0, or -errno after logging why.
 */
int inherit_add(struct inherit *inh, int fd, enum inh_origin from,
		int worker, const char *name);
/* -x: the old process's metrics port, bound to @a (checked) */
int inherit_metrics(struct inherit *inh, int fd, const struct addr *a);
/*
 * The metrics port for control_open() when it is bound to @a (the
 * caller owns it then), else -1; anything else is closed.
 */
int inherit_take_metrics(struct inherit *inh, const struct addr *a);
/* systemd's LISTEN_FDS/LISTEN_FDNAMES, for this process only */
int inherit_from_systemd(struct inherit *inh);
/*
 * A socket bound to @a for worker @worker: its own from the old
 * process when there is one, else any of the same address; a socket
 * shared by all workers is dup()ed. The caller owns what is returned;
 * -1 when none.
 */
int inherit_take(struct inherit *inh, const struct addr *a,
		 unsigned int worker);
/* after every worker took its own: close the rest, saying which */
void inherit_finish(struct inherit *inh);
/*
 * With FileDescriptorStoreMax= (systemd sets $FDSTORE to it, or the
 * unit does): hand @g's listening sockets to systemd, so that the next
 * start of the service gets them back in LISTEN_FDS.
 */
void fdstore_push(const struct generation *g);

#endif /* RINGLB_INHERIT_H */

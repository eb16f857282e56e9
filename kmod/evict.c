// SPDX-License-Identifier: GPL-2.0
/*
 * Which ring gives up its row when the table is full.
 *
 * Evicting the oldest let any local user who opened max_rings rings push
 * every other ring out of the table, ringlb's included. So rows are shared
 * between users first, and by activity only within a user:
 *
 * - A ring's user is the account its creator acts as (the euid) or, for a
 *   process inside a user namespace, the account that made the namespace:
 *   the subordinate uids a user may map there do not multiply its share.
 * - A new ring takes its row from the user that holds the most rows, and
 *   from its own user when that user is one of them. A user can therefore
 *   take rows from another only while it holds fewer than that one; a
 *   flood from one account ends up evicting its own rings, and every other
 *   user keeps the rows it has (max-min fairness between users). Users
 *   sit in lists by how many rows they hold, so finding the one with the
 *   most is O(1) however many there are.
 * - Within that user the least active of its US_EVICT_SAMPLE oldest rings
 *   goes, the youngest of them on a tie. Activity is what the ring's
 *   counters say it did since it was first seen or since the last reset
 *   (SQEs submitted plus CQEs posted). Looking at a few rings, not all of
 *   the user's, bounds the time spent under the table's spinlock; looking
 *   at the oldest ones means that a ring which has been busy for long
 *   keeps its row against a crowd of idle newcomers of its own user.
 *
 * Everything here runs under us_ring_lock and allocates nothing: users
 * come from a pool sized for the worst case, one user per row.
 */
#include <linux/kernel.h>
#include <linux/cred.h>
#include <linux/hashtable.h>
#include <linux/user_namespace.h>
#include <linux/vmalloc.h>
#include "uringstat.h"

#define US_USER_HASH_BITS	8
#define US_EVICT_SAMPLE		8

struct us_user {
	struct hlist_node	hnode;	/* us_user_hash, or us_user_free */
	struct hlist_node	bnode;	/* us_by_rows[rows] */
	struct list_head	rings;	/* its rings via unode, oldest first */
	kuid_t			uid;
	unsigned int		rows;
};

static DEFINE_HASHTABLE(us_user_hash, US_USER_HASH_BITS);
static HLIST_HEAD(us_user_free);
static struct us_user *us_users;
/* users by the rows they hold: us_by_rows[1 .. us_max_rings] */
static struct hlist_head *us_by_rows;
static unsigned int us_max_rows;

int us_evict_init(void)
{
	unsigned int i;

	us_users = vzalloc(array_size(us_max_rings, sizeof(*us_users)));
	us_by_rows = vzalloc(array_size(us_max_rings + 1, sizeof(*us_by_rows)));
	if (!us_users || !us_by_rows) {
		us_evict_exit();
		return -ENOMEM;
	}
	for (i = 0; i < us_max_rings; i++)
		hlist_add_head(&us_users[i].hnode, &us_user_free);
	return 0;
}

void us_evict_exit(void)
{
	vfree(us_by_rows);
	us_by_rows = NULL;
	vfree(us_users);
	us_users = NULL;
}

kuid_t us_current_owner(void)
{
	const struct cred *cred = current_cred();
	struct user_namespace *ns = cred->user_ns;
	kuid_t uid = cred->euid;

	/* ends at the namespace made by an account of the initial one */
	for (; ns && ns != &init_user_ns; ns = ns->parent)
		uid = ns->owner;
	return uid;
}

static struct us_user *us_user_find(kuid_t uid)
{
	struct us_user *u;

	hash_for_each_possible(us_user_hash, u, hnode, __kuid_val(uid))
		if (uid_eq(u->uid, uid))
			return u;
	return NULL;
}

/* move @u to the list of its new row count; keep us_max_rows exact */
static void us_user_set_rows(struct us_user *u, unsigned int rows)
{
	if (u->rows)
		hlist_del(&u->bnode);
	u->rows = rows;
	if (rows) {
		hlist_add_head(&u->bnode, &us_by_rows[rows]);
		us_max_rows = max(us_max_rows, rows);
	}
	/* counts move by one, so this steps down at most once */
	while (us_max_rows && hlist_empty(&us_by_rows[us_max_rows]))
		us_max_rows--;
}

/*
 * Give @r a row under the user @uid. Fails only if more users than rows
 * were asked for, which the caller's eviction rules out.
 */
int us_user_link(struct us_ring *r, kuid_t uid)
{
	struct us_user *u = us_user_find(uid);

	if (!u) {
		u = hlist_entry_safe(us_user_free.first, struct us_user, hnode);
		if (!u)
			return -ENOSPC;
		hlist_del(&u->hnode);
		u->uid = uid;
		u->rows = 0;
		INIT_LIST_HEAD(&u->rings);
		hash_add(us_user_hash, &u->hnode, __kuid_val(uid));
	}
	r->user = u;
	list_add_tail(&r->unode, &u->rings);
	us_user_set_rows(u, u->rows + 1);
	return 0;
}

void us_user_unlink(struct us_ring *r)
{
	struct us_user *u = r->user;

	if (!u)
		return;
	list_del(&r->unode);
	r->user = NULL;
	us_user_set_rows(u, u->rows - 1);
	if (!u->rows) {
		hash_del(&u->hnode);
		hlist_add_head(&u->hnode, &us_user_free);
	}
}

static u64 us_ring_activity(struct us_ring *r)
{
	return atomic64_read(&r->cnt[US_SUBMITTED]) +
	       atomic64_read(&r->cnt[US_COMPLETED]);
}

/* the ring to evict for a new ring of @uid; NULL only when none is tracked */
struct us_ring *us_evict_victim(kuid_t uid)
{
	struct us_user *u = us_user_find(uid);
	struct us_ring *r, *victim = NULL;
	u64 least = U64_MAX;
	int n = 0;

	if (!us_max_rows)
		return NULL;
	if (!u || u->rows < us_max_rows)
		u = hlist_entry(us_by_rows[us_max_rows].first, struct us_user,
				bnode);
	list_for_each_entry(r, &u->rings, unode) {
		u64 a = us_ring_activity(r);

		/* "<=": on a tie the younger ring goes */
		if (a <= least) {
			least = a;
			victim = r;
		}
		if (++n == US_EVICT_SAMPLE)
			break;
	}
	return victim;
}

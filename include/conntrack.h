/* Cutting revoked flows: after a reload, every conntrack entry of the
 * caller's network namespace whose original direction explain_decide()
 * now denies is deleted (ctnetlink, libnetfilter_conntrack), so the next
 * packet of an established connection meets the rules as a new one and
 * is dropped. Entries bulkhead does not judge, or judges allowed or
 * audit, stay. */
#ifndef BULKHEAD_CONNTRACK_H
#define BULKHEAD_CONNTRACK_H

#include "inventory.h"
#include "policy.h"

struct conntrack_stats {
	unsigned seen;		/* entries looked at */
	unsigned cut;		/* deleted */
	unsigned failed;	/* delete refused (other than already gone) */
};

/* Returns 0 or -errno with *err (caller frees). */
int conntrack_cut(const struct policy *p, const struct inventory *inv,
		  struct conntrack_stats *st, char **err);

#endif

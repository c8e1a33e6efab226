/* (policy, inventory) -> the nftables objects of the `inet bulkhead` table,
 * and the element deltas that attach/detach/relabel need. Pure: no kernel,
 * no I/O but printing. The same model is printed in `nft -f` syntax
 * (bulkheadctl ruleset) and turned into netlink messages by nft.c. */
#ifndef BULKHEAD_RULESET_H
#define BULKHEAD_RULESET_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "inventory.h"
#include "policy.h"

#define RULESET_TABLE "bulkhead"		/* family inet */
#define RULESET_NFLOG_GROUP_DEFAULT 4200

/* NFLOG prefix of every logging rule, parsed by nflog.c to attribute a
 * packet even after its container is gone:
 *   "bh/<dir>/<group>/<action>"
 * dir: "in" (the group is the destination side), "out" (the group is the
 * source side and the destination is not a container), "spoof";
 * action: "deny" or "audit" (audit logs and lets the packet pass). */
#define RULESET_LOG_PREFIX_FMT "bh/%s/%s/%s"

struct ruleset_opts {
	uint16_t nflog_group;
	/* settings.log.rate per source address; 0 = no kernel-side limit */
	uint32_t log_rate;
};

/* The model itself (tables, sets, maps, chains, rules) is declared by the
 * ruleset module below; nft.c reads it, nothing else should need to. */
struct ruleset;

struct ruleset *ruleset_build(const struct policy *p,
			      const struct inventory *inv,
			      const struct ruleset_opts *o);
void ruleset_free(struct ruleset *rs);	/* NULL is fine */

/* `table inet bulkhead { ... }` accepted by `nft -c -f`. */
void ruleset_print(const struct ruleset *rs, FILE *out);

/* Element changes for one container: its addresses in its group's
 * membership sets and in the verdict maps. Applying a delta to the model
 * and committing it to the kernel (nft_commit_delta) keeps both equal. */
enum rs_op { RS_ELEM_ADD, RS_ELEM_DEL };

struct rs_delta;

struct rs_delta *rs_delta_new(void);
void rs_delta_free(struct rs_delta *d);
bool rs_delta_empty(const struct rs_delta *d);
/* Append the element ops that add (or remove) c, as classified, to d. */
void ruleset_container_delta(const struct ruleset *rs,
			     const struct container *c, enum rs_op op,
			     struct rs_delta *d);
/* Apply d to the in-memory model after the kernel accepted it. */
void ruleset_apply_delta(struct ruleset *rs, const struct rs_delta *d);

#endif

/* bulkheadctl verify and the daemon's periodic check: the kernel's
 * bulkhead tables (inet and bridge), read back through netlink, against
 * the model that policy × inventory compiles to. Both sides go through
 * one normalisation: the expected side is the batch nft.c would send for
 * the model, parsed back by the same code that parses the kernel's dumps,
 * so rules are compared as their expressions (not by handle) and set
 * elements as their keys. What is compared: the tables, chains (hook,
 * priority, policy), the rules of each chain in order (expressions and
 * comment), sets (key type and length, flags, object type, timeout; not
 * their size, a capacity), every set's elements (but those the kernel
 * adds itself to dynamic sets), and the named counters' existence (not
 * their counts). */
#ifndef BULKHEAD_VERIFY_H
#define BULKHEAD_VERIFY_H

#include <stdbool.h>
#include <stddef.h>

#include "inventory.h"
#include "policy.h"
#include "ruleset.h"

/* At most this many differences are listed; the rest are counted. */
#define VERIFY_MAX_LISTED 100000

struct verify_report {
	size_t containers;		/* as the caller says */
	size_t elements;		/* elements the model expects */
	char **diffs;			/* one line each, e.g. "missing
					 * element 10.0.0.5 in set inet
					 * bulkhead g_web_v4" */
	size_t n_diffs, cap_diffs;
	size_t n_unlisted;		/* past VERIFY_MAX_LISTED */
};

/* Differences in all, listed or not. */
size_t verify_count(const struct verify_report *r);
void verify_report_free(struct verify_report *r);	/* the contents */

/* {"match":bool,"containers":N,"elements":M,"differences":[...],
 * "unlisted":K}: the control reply's fields, and `verify --json`. */
struct json_t;
struct json_t *verify_report_json(const struct verify_report *r);

/* What the kernel has: read with one netlink socket of its own, read-only
 * (CAP_NET_ADMIN: nf_tables refuses dumps without it). A transaction that
 * commits while it reads (the dumps are several) makes it read again. */
struct verify_image;

int verify_read_kernel(struct verify_image **out, char **err);
void verify_image_free(struct verify_image *im);	/* NULL is fine */

/* Compare the kernel's tables (kernel: read by verify_read_kernel) with
 * rs; containers is what the report says. w builds rs's batch (never
 * sent): the daemon passes its own writer, whose buffer is already the
 * size of a full commit, so that a periodic verify does not allocate and
 * free one of megabytes each time; NULL opens one for the call. 0 or
 * -errno with *err (caller frees); r lists what differs (nothing: they
 * match). */
struct nft_writer;
int verify_compare(const struct ruleset *rs, struct nft_writer *w,
		   const struct verify_image *kernel, size_t containers,
		   struct verify_report *r, char **err);

/* verify_read_kernel + verify_compare. */
int verify_kernel(const struct ruleset *rs, struct nft_writer *w,
		  size_t containers, struct verify_report *r, char **err);

/* The model the daemon would have for p × inv (bulkheadctl verify
 * --policy, with no daemon to ask): inv classified as the daemon does
 * (quarantined containers in GROUP_QUARANTINE) and built with o. A daemon
 * that has kept its table since the last member of an address family
 * left a group still has that family's (now empty) sets and the rules
 * reading them, which a fresh build leaves out: for each such set that
 * kernel has, the build takes a stand-in member of that group and family
 * and removes it again, as the daemon's own model went. */
struct ruleset *verify_model(const struct policy *p, struct inventory *inv,
			     const struct ruleset_opts *o,
			     const struct verify_image *kernel);

/* bulkheadctl verify (enforcer/ctl_verify.c) */
int ctl_verify(int argc, char **argv);

#endif

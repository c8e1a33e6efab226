/* The one decision function: would the table that ruleset_build() makes
 * from (policy, inventory) let a new connection from src to dst pass, by
 * which rule, and why is each side in its group? `bulkheadctl explain`
 * prints it; the conntrack cut after a reload deletes what it denies. It
 * walks the policy in the same order as the kernel walks the chains
 * (forward/input/output hook, address vmaps, in_<group>/out_<group>,
 * intra rule first, then flows in file order, then the deny chain). */
#ifndef BULKHEAD_EXPLAIN_H
#define BULKHEAD_EXPLAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "inventory.h"
#include "policy.h"
#include "util.h"

enum explain_verdict {
	EXPLAIN_NOT_OURS,	/* neither side is a container: not judged */
	EXPLAIN_ALLOW,		/* a declared flow, intra-group, or
				 * settings.unassigned: allow */
	EXPLAIN_DENY,		/* default deny (or quarantine) */
	EXPLAIN_AUDIT,		/* denied, but the group is in audit mode:
				 * logged as would-deny and passed */
};

/* The host's own addresses: the `host` group (fib ... type local). */
struct explain_host {
	struct bh_addr *addrs;
	size_t n;
};

/* Reads the addresses of the caller's network namespace (getifaddrs). */
int explain_host_load(struct explain_host *h);
void explain_host_free(struct explain_host *h);
bool explain_host_has(const struct explain_host *h, const struct bh_addr *a);

struct explain_side {
	struct bh_addr addr;
	const struct container *c;	/* NULL when not a container */
	int group;			/* policy group index, -1 for none */
	char why[384];			/* how the side got its group */
};

struct explain_result {
	enum explain_verdict verdict;
	char chain[48];			/* in_db, out_web, "" */
	int chain_group;		/* the group of chain, -1 for none */
	const struct flow *flow;	/* the allowing flow, or NULL */
	const struct port_spec *port;	/* its matching port spec */
	bool intra;			/* allowed as intra-group traffic */
	char reason[384];
	struct explain_side src, dst;
};

/* proto: IPPROTO_TCP/UDP/SCTP/ICMP/ICMPV6 (dport ignored for ICMP). */
void explain_decide(const struct policy *p, const struct inventory *inv,
		    const struct explain_host *h, const struct bh_addr *src,
		    const struct bh_addr *dst, uint8_t proto, uint16_t dport,
		    struct explain_result *r);

/* {"verdict":"allow"|"deny"|"would-deny"|"not-ours","by":...,
 *  "flow":{"at","from","to","port"}|null,"chain",
 *  "src":{"addr","container":{"id","name"}|null,"group","why"}, "dst"} */
json_t *explain_result_json(const struct policy *p,
			    const struct explain_result *r);
const char *explain_verdict_str(enum explain_verdict v);
/* The rule that decided, named as denied-flow records name theirs
 * (flowlog_rule_name): the allowing flow's "file:line" (for intra-group
 * traffic, the group's), else "quarantine" or "unassigned" when the chain
 * of that group judged, else "default-deny" (audit mode included); ""
 * when not ours. buf holds at least 300 bytes. */
const char *explain_rule_name(const struct policy *p,
			      const struct explain_result *r, char *buf,
			      size_t len);

/* "tcp/8080", "udp/53", "icmp", "icmpv6", "sctp/N" -> proto, port. */
bool explain_parse_port(const char *s, uint8_t *proto, uint16_t *port);

#endif

/* (policy, inventory) -> the nftables objects of the `inet bulkhead` table
 * (and of `bridge bulkhead`, anti-spoofing), and the element deltas that
 * attach/detach/relabel need. docs/ruleset.md describes the tables. Pure: no kernel,
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
/* The group of the bridge table's spoofing drops: no group name can be
 * "*"; the reader names the group of the port the frame came in on. */
#define RULESET_PORT_GROUP "*"
/* The drops of a boundary (chain boundary_<name>, jumped to from the
 * chain boundaries ahead of the dispatch): "bh/boundary/<name>/deny". */
#define RULESET_BOUNDARY_PREFIX_FMT "bh/boundary/%s/deny"

struct ruleset_opts {
	uint16_t nflog_group;
	/* settings.log.rate per source address; 0 = no kernel-side limit */
	uint32_t log_rate;
	uint32_t log_rate_unit_s;	/* per this many seconds; 0 means 1 */
	/* Guard host-side ports against spoofed source addresses (table
	 * bridge bulkhead); containers without an ifname are not guarded. */
	bool antispoof;
	/* Prefixes of host-side port names (bulkheadd --guard-ports, e.g.
	 * "veth") whose ports must belong to an attached container: frames
	 * from any other such port are judged as from a container of group
	 * unassigned with no addresses (spoof_unassigned). Not owned. */
	const char *const *guard_ports;
	size_t n_guard_ports;
	/* Every group with single-port flows into it gets an allow set,
	 * however few (tests; see RS_ALLOW_RULES_MAX). */
	bool allow_sets_always;
	/* Number the groups with the fewest bits, no spare ones (tests that
	 * spell out a small dispatch; see RS_DISPATCH_SPARE_BITS). */
	bool fewest_bits;
};

/* A group with at most this many (source group, protocol, port) entries
 * of single-port flows into it judges them with a rule each (the source's
 * number in the bit sets, then the port): no allow set to create and no
 * element per source address to fill, which is what most groups of a
 * real policy look like. More entries go into its allow set, one lookup
 * whatever their number. */
#define RS_ALLOW_RULES_MAX 4

/* nflog_group = RULESET_NFLOG_GROUP_DEFAULT, the rate from p's
 * settings.log.rate, antispoof on. */
void ruleset_opts_from_policy(struct ruleset_opts *o, const struct policy *p);

/* ---- The model: what the printer and the netlink writer both consume ---- */

enum rs_table { RS_INET, RS_BRIDGE };	/* table inet bulkhead, bridge bulkhead */

enum rs_key {
	RS_KEY_IPV4,			/* ipv4_addr */
	RS_KEY_IPV6,			/* ipv6_addr */
	RS_KEY_IFNAME,			/* ifname (16 bytes, NUL padded) */
	RS_KEY_IFNAME_IPV4,		/* ifname . ipv4_addr */
	RS_KEY_IFNAME_IPV6,		/* ifname . ipv6_addr */
	/* ipv4_addr . inet_proto . inet_service: each field in its own
	 * 32-bit register (proto: 1 byte, port: 2 bytes big endian, zero
	 * padded) */
	RS_KEY_IPV4_PROTO_PORT,
	RS_KEY_IPV6_PROTO_PORT,		/* ipv6_addr . inet_proto . inet_service */
};
#define RS_KEY_MAX 32			/* bytes of the longest key */

/* A set. Elements are stored flat (keys back to back) with
 * a hash index (built on the first delta), so a delta costs O(1) whatever
 * the size. */
struct rs_set {
	char *name;
	enum rs_table table;
	enum rs_key key;
	uint8_t klen;			/* bytes per key */
	bool interval;			/* elements are ranges */
	/* key : counter (an objref map): objs[i] is element i's counter */
	bool counters;
	uint32_t *objs;
	bool dynamic;			/* flags dynamic,timeout (log limiter) */
	uint32_t timeout_ms;		/* dynamic sets */
	uint32_t size;			/* kernel cap on elements; 0 = none */
	uint8_t *keys;			/* n * klen */
	uint8_t *key_ends;		/* interval: last address of each range */
	size_t n, cap;
	uint32_t *heads, *next;		/* hash index (not for interval sets) */
	size_t nb;
};

/* Hook numbers as the kernel has them (NF_INET_*, NF_BR_PRE_ROUTING). */
enum rs_hook {
	RS_HOOK_NONE = -1,
	RS_HOOK_PREROUTING = 0,
	RS_HOOK_INPUT = 1,
	RS_HOOK_FORWARD = 2,
	RS_HOOK_OUTPUT = 3,
};

struct rs_chain {
	char *name;
	enum rs_table table;
	int hook;			/* enum rs_hook */
	int prio;
	size_t first, n;		/* its rules: rs->rules[first .. first+n) */
};

/* Matches of a rule, printed and encoded in array order. Matches on an
 * address imply their family (and L4 matches their protocol): nft adds
 * those dependencies itself, nft.c adds them the same way. */
enum rs_match_kind {
	RM_NFPROTO,			/* meta nfproto ipv4|ipv6 (a = 4|6) */
	RM_ND,				/* icmpv6 type 133-137: neighbour discovery */
	RM_CT_STATE,			/* ct state & a != 0 */
	RM_ADDR_SET,			/* ip[6] saddr|daddr [!=] @set */
	RM_FIB_LOCAL,			/* fib saddr|daddr type [!=] local */
	RM_L4PROTO,			/* meta l4proto a */
	RM_DPORT,			/* tcp|udp|sctp (a) dport lo[-hi] */
	RM_IIF_ADDR_SET,		/* bridge: iifname . ip[6] saddr [!=] @set */
	RM_ETHER_ARP,			/* bridge: ether type arp */
	RM_ADDR_LL,			/* bridge: ip6 saddr fe80::/10 or :: */
	RM_ARP_SPA_SET,			/* bridge: iifname . arp saddr ip @set */
	RM_ARP_PROBE,			/* bridge: arp saddr ip 0.0.0.0 */
	RM_ALLOW_SET,			/* ip[6] saddr . meta l4proto . th dport @set */
	RM_IIF_PREFIX,			/* bridge: iifname "<opts.guard_ports[a]>*" */
	/* ip[6] saddr|daddr of a container of the group numbered a: one
	 * lookup per bit N of the mask lo (the group's num_reads), @bitN
	 * where a has a 1 and != @bitN where it has a 0 (no set per group
	 * to create or fill) */
	RM_GROUP_NUM,
};

struct rs_match {
	uint8_t kind;			/* enum rs_match_kind */
	uint8_t family;			/* 4 or 6 where it applies */
	bool daddr;			/* daddr rather than saddr */
	bool neg;
	uint32_t a;			/* see the kinds */
	uint16_t lo, hi;		/* RM_DPORT; RM_GROUP_NUM: lo */
	uint32_t set;			/* set index */
};

enum rs_stmt_kind {
	RS_ST_COUNTER,			/* counter name "<obj>" */
	RS_ST_LIMIT,			/* update @set { ip[6] saddr limit rate over */
	RS_ST_LOG,			/* log prefix "<prefix>" group N */
	/* bridge: counter name iifname map @set (a counters map) */
	RS_ST_COUNTER_MAP,
};

struct rs_stmt {
	uint8_t kind;			/* enum rs_stmt_kind */
	uint8_t family;			/* RS_ST_LIMIT */
	uint32_t obj;			/* RS_ST_COUNTER: counter index */
	uint32_t set;			/* RS_ST_LIMIT, RS_ST_COUNTER_MAP */
	uint32_t rate, unit_s, burst;	/* RS_ST_LIMIT */
	char *prefix;			/* RS_ST_LOG */
	uint16_t group;			/* RS_ST_LOG */
};

enum rs_verdict { RV_NONE, RV_ACCEPT, RV_DROP, RV_GOTO, RV_JUMP };

#define RS_RULE_MATCHES 6
#define RS_RULE_STMTS 3

struct rs_rule {
	struct rs_match m[RS_RULE_MATCHES];
	size_t n_m;
	struct rs_stmt s[RS_RULE_STMTS];
	size_t n_s;
	enum rs_verdict verdict;
	uint32_t target;		/* RV_GOTO, RV_JUMP: chain index */
	char *comment;			/* NULL or e.g. "flow web->db x.yaml:31:5" */
	bool has_loc;
	struct src_loc loc;		/* the YAML it came from */
};

/* Named counter objects; the daemon reads them back (nft_read_counters). */
struct rs_counter {
	char *name;
	enum rs_table table;
};

/* The dispatch. No per-address state sits in a map whose data is a jump
 * or goto verdict: adding one such element makes the kernel walk every
 * element of every such map at commit (15-73 ms per attach at 100,000
 * addresses). Instead each container group has a number 1..2^bits-1 and
 * an address is an element of the plain set bitN_v4/_v6 for each 1-bit N
 * of its group's number; a tree reads the bits, one lookup per level: its
 * root chain sends an address on to a group's chain, whose first rules
 * send on the numbers that contain its own. An address in no bit set is
 * number 0: no container. The depth counts against the kernel's jump
 * stack (16): a base chain, the root and one goto per 1-bit, at most
 * RS_DISPATCH_BITS. */
#define RS_DISPATCH_BITS 13

/* Bits the numbering uses beyond the fewest that number every group (up
 * to RS_DISPATCH_BITS): with more numbers to choose from, the groups get
 * numbers with fewer 1-bits, so each container address is an element of
 * fewer bit sets (1,000 groups: 4.9 on average with 10 bits, 3.5 with 13;
 * 10 groups: 1.8 with 4 bits, 1.4 with 7). The price is a lookup per
 * spare bit in each tree a new connection walks and in each rule that
 * reads a group's number. */
#define RS_DISPATCH_SPARE_BITS 3

/* What each container group owns in the model (index: policy group). */
struct rs_group {
	bool has_chains;		/* container groups: in_/out_ chains */
	/* its number in the dispatch (1..2^n_bits-1): the numbers with the
	 * fewest 1-bits go to the first groups in policy order, so that
	 * their containers are an element of one or two bit sets each */
	uint32_t num;
	/* the bits a rule reads to tell num from every other group's
	 * number: num's 1-bits, and each 0-bit that some other group's
	 * number has on top of all of num's 1-bits (none for a number no
	 * other contains): the addresses in the bit sets only ever carry
	 * these numbers */
	uint32_t num_reads;
	uint32_t in_chain, out_chain;
	uint32_t spoofed;		/* counter spoofed_<group> */
	/* allow_in_<group>_v4/_v6 or -1: (source container address, proto,
	 * port) of every flow from a container group into this one with a
	 * single tcp/udp/sctp port, matched by one lookup in in_<group>;
	 * only past RS_ALLOW_RULES_MAX such (source group, proto, port)
	 * entries (allow_needed), fewer are rules */
	int32_t allow[2];
	bool allow_needed;
	/* as a source: where this group's containers go in those sets, one
	 * entry per (destination, proto, port) */
	struct rs_reach *reach;
	size_t n_reach, cap_reach;
	/* boundaries: the group's sensitivity and its risk profile (index
	 * in ruleset.risks, -1 when no boundary names it) */
	uint8_t sens;
	int32_t risk;
};

struct rs_reach {
	uint32_t dst;			/* destination group */
	uint8_t proto;
	uint16_t port;
};

struct ruleset {
	struct rs_set *sets;
	size_t n_sets;
	struct rs_chain *chains;
	size_t n_chains;
	struct rs_rule *rules;
	size_t n_rules;
	struct rs_counter *counters;
	size_t n_counters;
	struct rs_group *groups;	/* p->n_groups entries */
	size_t n_groups;
	char **files;			/* policy file names, for locations */
	size_t n_files;
	/* the dispatch: bit sets bitN_v4 ([0]) and bitN_v6 ([1]) */
	unsigned n_bits;
	int32_t bits[2][RS_DISPATCH_BITS];
	/* fixed sets, -1 when absent */
	int32_t containers[2];		/* every container address */
	bool containers_needed;		/* some flow comes from world */
	/* anti-spoofing (bridge table): "ports", each guarded port's
	 * spoofed_<group> counter, and the (port, address) pairs */
	int32_t ports, pairs[2];
	bool has_bridge;		/* table bridge bulkhead is part of it */
	/* Boundaries (docs/ruleset.md, "Boundaries"): per-container label
	 * facts. sens_<level>_v4/_v6 hold the addresses of the containers
	 * whose own sensitivity label or whose group says that level (unset:
	 * neither says one), risk_<word>_v4/_v6 those whose own risk label
	 * or group's risk profile is that word; only the levels and words
	 * some boundary names, -1 otherwise. */
	int32_t sens_set[SENS_RESTRICTED + 1][2];
	char **risks;
	int32_t (*risk_set)[2];
	size_t n_risks;
	char *label_prefix;		/* to read a container's own labels */
	struct ruleset_opts opts;
	/* the builder's bookkeeping */
	size_t cap_sets, cap_chains, cap_rules, cap_counters;
	uint32_t cur_chain;
};

struct ruleset *ruleset_build(const struct policy *p,
			      const struct inventory *inv,
			      const struct ruleset_opts *o);
void ruleset_free(struct ruleset *rs);	/* NULL is fine */

/* `table inet bulkhead { ... }` accepted by `nft -c -f`. */
void ruleset_print(const struct ruleset *rs, FILE *out);

/* Element changes for one container: its addresses in the bit sets of
 * its group's number and in the
 * allow sets of every group its group has port flows into (one element
 * per destination, protocol and port: proportional to the flows out of
 * its group, independent of the number of containers), and its port in
 * the ports map. Applying a delta to the model
 * and committing it to the kernel (nft_commit_delta) keeps both equal. */
enum rs_op { RS_ELEM_ADD, RS_ELEM_DEL };

struct rs_elem_op {
	uint8_t op;			/* enum rs_op */
	uint32_t set;
	uint8_t key[RS_KEY_MAX];
	uint32_t obj;			/* counters maps: the counter */
};

struct rs_delta {
	struct rs_elem_op *v;
	size_t n, cap;
	/* a container brings a family that a set (and its rules) does not
	 * exist for yet: only a full commit can add them */
	bool needs_full;
};

struct rs_delta *rs_delta_new(void);
void rs_delta_free(struct rs_delta *d);
bool rs_delta_empty(const struct rs_delta *d);
/* Append the element ops that add (or remove) c, as classified, to d. */
void ruleset_container_delta(const struct ruleset *rs,
			     const struct container *c, enum rs_op op,
			     struct rs_delta *d);
/* Whether a and b count the same under the boundaries (the label sets
 * sens_* and risk_* would hold them alike): a relabel that changes
 * only those labels is a delta too. */
bool ruleset_same_facts(const struct ruleset *rs, const struct container *a,
			const struct container *b);
/* Apply d to the in-memory model after the kernel accepted it. */
void ruleset_apply_delta(struct ruleset *rs, const struct rs_delta *d);
/* Build every set's hash index now. ruleset_apply_delta builds a set's
 * index when a delta first touches it (O(elements) once, ~20-40 ms at
 * 100,000 containers); a caller can pay that after a full commit, when
 * idle, instead of on the first attach. */
void ruleset_index(struct ruleset *rs);
/* True when d cannot be a delta: it would take a set past its size, which
 * the kernel enforces (ENFILE), or it needs a set that does not exist yet
 * (d->needs_full). Rebuild with ruleset_build (it sizes every set from its
 * contents plus headroom) and commit it with nft_commit_full. */
bool ruleset_delta_overflows(const struct ruleset *rs,
			     const struct rs_delta *d);

/* A full commit's memory at its peak (nft_commit_full): once a set's
 * elements are in the batch, ruleset_set_drop gives the model's copy back
 * (keys, index; the set is then empty in the model; only the sets filled
 * from the containers, others are left as they are), and
 * ruleset_refill puts every such set's elements back from the inventory
 * the model was built from, exactly as ruleset_build filled them. */
void ruleset_set_drop(struct ruleset *rs, size_t set);
void ruleset_refill(struct ruleset *rs, const struct inventory *inv);

/* Index of the element with this key in set s, or -1 (a scan while the
 * set has no index yet). */
long ruleset_set_find(const struct rs_set *s, const uint8_t *key);
/* The chain's name by index ("?" when out of range). */
const char *ruleset_chain_name(const struct ruleset *rs, uint32_t chain);
/* Where a rule came from, "groups/x.yaml:12:5", or "" when it has no
 * YAML location. */
const char *ruleset_rule_loc(const struct ruleset *rs,
			     const struct rs_rule *r, char *buf, size_t len);
/* Print one element key (for error messages and the printer). */
void ruleset_key_str(const struct rs_set *s, const uint8_t *key, char *buf,
		     size_t len);

#endif

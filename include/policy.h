/* The group policy: groups (by labels or by addresses), the flows declared
 * between them, and classification of a container into its group.
 * Loading from YAML lives in policy_yaml.c; this model has no I/O. */
#ifndef BULKHEAD_POLICY_H
#define BULKHEAD_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "util.h"

#define POLICY_NAME_MAX 31	/* [a-z][a-z0-9_-]{0,30} */
/* Label groups plus unassigned and quarantine: the kernel dispatch reads
 * a group number of at most 13 bits (ruleset.h, RS_DISPATCH_BITS), so
 * that its chains stay within the kernel's jump stack. */
#define POLICY_CONTAINER_GROUPS_MAX 8191
/* Groups the files name (label and cidrs groups), and entries under
 * flows: in all files together (docs/limits.md). */
#define POLICY_GROUPS_MAX 16384
#define POLICY_FLOWS_MAX 16384

/* Built-in groups sit at fixed indices before the admins' groups, which
 * follow in file order (classification order). */
enum {
	GROUP_UNASSIGNED = 0,	/* containers that match no group */
	GROUP_HOST = 1,		/* this host's own addresses */
	GROUP_WORLD = 2,	/* every address in no group */
	GROUP_QUARANTINE = 3,	/* seen, not yet classified: nothing passes */
	GROUP_FIRST_USER = 4,
};

/* Where something was written: index into policy->files, 1-based line and
 * column from libyaml's marks. */
struct src_loc {
	unsigned file;
	unsigned line;
	unsigned col;
};

struct kv {
	char *key;
	char *value;
};

enum group_kind { GK_BUILTIN, GK_LABELS, GK_CIDRS };
enum group_mode { MODE_ENFORCE, MODE_AUDIT };
enum sensitivity {
	SENS_UNSET, SENS_LOW, SENS_MODERATE, SENS_HIGH, SENS_RESTRICTED,
};

struct group {
	char *name;
	char *description;		/* may be NULL */
	enum group_kind kind;
	struct kv *match;		/* GK_LABELS: keys without the prefix */
	size_t n_match;
	struct bh_addr *cidrs;		/* GK_CIDRS */
	size_t n_cidrs;
	enum sensitivity sensitivity;
	enum group_mode mode;
	bool intra_allow;		/* default true */
	struct src_loc loc;		/* the group's key */
	/* mode: audit until this day (days since 1970-01-01, UTC), 0 when
	 * not given; the rollout's deadline (docs/policy.md) */
	int32_t until_day;
	struct src_loc until_loc;
	char *risk;			/* the group's risk profile: its `risk`
					 * key, NULL when not given (see
					 * policy_group_risk) */
};

/* One side of a boundary: the groups and containers whose sensitivity
 * is one of sens_mask's (bit 1 << enum sensitivity; 0: any) and whose
 * risk profile is one of risks (none listed: any), or `world`. */
enum boundary_end_kind { BE_LABELS, BE_WORLD };

struct boundary_end {
	enum boundary_end_kind kind;
	unsigned sens_mask;
	char **risks;
	size_t n_risks;
};

/* A boundary no declared flow may cross (docs/policy.md, "Boundaries"):
 * an error of check, and deny rules in the kernel ahead of the allows. */
struct boundary {
	char *name;
	char *description;		/* may be NULL */
	struct boundary_end from, to;
	struct src_loc loc;		/* the boundary's key */
};

/* proto 0 = any protocol. For tcp/udp/sctp, lo..hi is the destination
 * port range (0..65535 when no port was given). icmp/icmpv6 have none. */
struct port_spec {
	uint8_t proto;			/* IPPROTO_TCP, _UDP, _SCTP, _ICMP, _ICMPV6, 0 */
	uint16_t lo;
	uint16_t hi;
	struct src_loc loc;
};

struct flow {
	unsigned *from;			/* group indices */
	size_t n_from;
	unsigned *to;
	size_t n_to;
	struct port_spec *ports;	/* at least one */
	size_t n_ports;
	struct src_loc loc;		/* the flow's mapping in the YAML */
};

struct policy {
	int version;
	char *label_prefix;		/* default "bulkhead." */
	bool unassigned_deny;		/* settings.unassigned: deny (default) */
	uint32_t log_window_ms;		/* settings.log.window, default 10 s */
	uint32_t log_rate;		/* settings.log.rate: log_rate messages per */
	uint32_t log_rate_unit_s;	/* this many seconds (1, 60, 3600, 86400);
					 * default 20 per 1 */
	/* settings.colocation (NIST SP 800-190 §4.3.4): levels that may not
	 * share this host's kernel. colo_forbid[a] has bit b when a and b
	 * may not (symmetric; index SENS_UNSET for containers of no level). */
	enum colo_mode { COLO_OFF, COLO_WARN, COLO_ENFORCE } colo_mode;
	unsigned colo_forbid[SENS_RESTRICTED + 1];
	struct group *groups;		/* builtins first, see GROUP_* */
	size_t n_groups;
	struct flow *flows;
	size_t n_flows;
	struct boundary *boundaries;	/* in file order */
	size_t n_boundaries;
	char **files;			/* every file read, in load order */
	size_t n_files;
	/* SHA-256 over the SHA-256 of each file, in load order: names the
	 * policy text in records, status and `bulkheadctl check --hash` */
	uint8_t sha256[32];
	struct policy_index *index;	/* policy_seal(); private to policy.c */
};

/* Diagnostics: every finding of a load, in order. */
enum diag_severity { DIAG_ERROR, DIAG_WARNING };

struct diag {
	enum diag_severity severity;
	char *file;			/* as given on the command line */
	unsigned line, col;		/* 1-based; 0 when not known */
	char *msg;
};

struct diags {
	struct diag *v;
	size_t n, cap;
	size_t n_errors, n_warnings;
};

void diags_add(struct diags *d, enum diag_severity sev, const char *file,
	       unsigned line, unsigned col, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
void diags_vadd(struct diags *d, enum diag_severity sev, const char *file,
		unsigned line, unsigned col, const char *fmt, va_list ap)
	__attribute__((format(printf, 6, 0)));
/* "FILE:LINE:COL: error: message", one per line. */
void diags_print(const struct diags *d, FILE *out);
void diags_free(struct diags *d);

struct policy *policy_new(void);	/* with the built-in groups */
void policy_free(struct policy *p);	/* NULL is fine */

/* Build the lookup index that makes policy_group_find and policy_classify
 * independent of the number of groups. The loader does it; call it again
 * after adding groups by hand (without it both fall back to a scan). */
void policy_seal(struct policy *p);

/* Index of the group named name, or -1. */
int policy_group_find(const struct policy *p, const char *name);
const char *policy_file(const struct policy *p, unsigned file);
/* "low", "moderate", "high", "restricted"; NULL when unset. */
const char *policy_sensitivity_str(enum sensitivity s);
/* A port spec as the policy writes it: "tcp/80", "udp/1000-2000",
 * "icmp", "icmpv6", "any", "tcp" for every tcp port. */
void policy_port_str(const struct port_spec *s, char *buf, size_t len);
/* qsort order of port specs as `show` lists them: any, tcp, udp, sctp,
 * icmp, icmpv6, others; then by first and last port. */
int policy_port_cmp(const void *a, const void *b);
/* p->sha256 as 64 lowercase hex digits. */
#define POLICY_HASH_STRLEN 65
const char *policy_hash_hex(const struct policy *p,
			    char buf[POLICY_HASH_STRLEN]);

/* The first group, in order, whose match holds for the labels (full keys,
 * prefix included); GROUP_UNASSIGNED when none does. When why is not NULL
 * it gets a static or policy-owned explanation such as
 * "matches web (purpose=web, risk=exposed) at groups/demo.yaml:7:3". */
unsigned policy_classify(const struct policy *p, const struct kv *labels,
			 size_t n_labels, char **why);

/* Whether group g holds containers (label groups, unassigned, quarantine)
 * rather than addresses (cidrs) or a built-in side (host, world). */
bool policy_is_container_group(const struct policy *p, unsigned g);
/* Whether peer group q of a flow that names some group on its "in" side
 * (q on the source side) or its "out" side (q on the destination side)
 * is judged in that group's chain: quarantine never is, and a flow between
 * two container groups is judged on its destination side only. The
 * ruleset and explain both ask this, so they cannot disagree. */
bool policy_flow_peer_judged(const struct policy *p, unsigned q, bool in);

/* "2026-12-31" -> days since 1970-01-01; false when not a date. */
bool policy_parse_day(const char *s, int32_t *day);
/* days since 1970-01-01 -> "2026-12-31" (buf of 11 bytes at least) */
const char *policy_day_str(int32_t day, char *buf);
/* Today (UTC) in days since 1970-01-01. */
int32_t policy_today(void);

/* "low", "moderate", "high", "restricted", "unset". */
const char *policy_sens_str(enum sensitivity s);
/* A group's risk profile: its `risk` key, else the value of its match's
 * `risk` label (match: { risk: exposed }), else NULL. */
const char *policy_group_risk(const struct group *g);
/* Whether end e holds for a sensitivity and a risk profile (NULL: none). */
bool policy_boundary_end_holds(const struct boundary_end *e,
			       enum sensitivity s, const char *risk);
/* Whether end e holds for group g: label and cidrs groups and
 * unassigned by their sensitivity and risk, world for BE_WORLD; host and
 * quarantine never. */
bool policy_boundary_end_group(const struct policy *p,
			       const struct boundary_end *e, unsigned g);
/* What one side of a packet counts as under the boundaries. A
 * container: its own <prefix>sensitivity and <prefix>risk labels as well
 * as its group's sensitivity and risk profile (sens is a bit per level;
 * unset only when neither names one). An address of no container: world
 * or nothing (sens 0: no labelled end holds). The kernel's label sets
 * (ruleset.c, container_facts) hold the same. */
struct policy_facts {
	unsigned sens;
	const char *risk[2];		/* the group's, its own; NULL: none */
	bool world;
};

void policy_facts_container(const struct policy *p, unsigned g,
			    const struct kv *labels, size_t n_labels,
			    struct policy_facts *f);
/* The first boundary a packet from `from` to `to` crosses, or -1. */
int policy_boundary_crossed(const struct policy *p,
			    const struct policy_facts *from,
			    const struct policy_facts *to);

/* "risk=exposed", "sensitivity=low|unset", "world": what e says. */
void policy_boundary_end_str(const struct boundary_end *e, struct strbuf *sb);

/* The normalised policy, stable text (bulkheadctl show, golden tests). */
void policy_print(const struct policy *p, FILE *out);

/* Load a file, or a directory of *.yaml merged in name order. Every error
 * and warning goes to d. Returns NULL when there is any error: a policy
 * with errors is never half-applied. */
struct policy *policy_load(const char *path, struct diags *d);
/* path as policy_load does, then one more file from memory, named name
 * in diagnostics: a policy with a text merged in, as `check` would read
 * the directory with that file added (bulkheadctl recommend). */
struct policy *policy_load_extra(const char *path, const char *name,
				 const char *buf, size_t len, struct diags *d);
/* Load from memory (fuzzing, tests); name is used in diagnostics. */
struct policy *policy_load_buf(const char *name, const char *buf, size_t len,
			       struct diags *d);

#endif

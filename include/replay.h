/* Replay of observed traffic under a policy (issue 14, `bulkheadctl
 * diff`): the records of this host (allow, deny and would-deny) are
 * aggregated into observations, one per (source, destination, protocol,
 * destination port), and each observation is judged under a policy by
 * explain_decide(), the function `bulkheadctl explain` and the conntrack
 * cut use. Each container is reclassified by the labels it had when it was
 * seen (the records' source.labels / destination.labels), so a candidate
 * whose selectors move it to another group is judged as the kernel would
 * judge it, also for containers that are gone. A container whose records
 * carry no labels (records older than the labels, or a side of an allow
 * record whose containers had different labels) keeps its recorded
 * group, and the observation says so. No I/O: ctl_diff.c reads the
 * record files (ctl_records_each) into replay_add(). */
#ifndef BULKHEAD_REPLAY_H
#define BULKHEAD_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "explain.h"
#include "policy.h"

/* Two policies are compared: the one in force and a candidate. */
#define REPLAY_NOW 0
#define REPLAY_CANDIDATE 1

struct replay_side {
	char *group;		/* as recorded; "*" when the record had none */
	bool container;		/* a container (of this host or another) */
	char *name;		/* the least container name seen; NULL: none */
	char *ip;		/* a non-container side's address; NULL: none */
	json_t *labels;		/* the container's labels when seen; NULL:
				 * not known (judged by its recorded group) */
	char *key;		/* the side's identity (aggregation, order) */
};

struct replay_judgement {
	enum explain_verdict verdict;
	char rule[300];		/* "policy.yaml:12" (file base name),
				 * "default-deny", ..., "" when not ours */
	/* what decided, by content: "flow web -> api tcp/8080", "intra
	 * web", or the rule's name; two policies that differ in layout
	 * only (lines, files) give the same */
	char what[400];
	char from[POLICY_NAME_MAX + 1];		/* the sides' groups */
	char to[POLICY_NAME_MAX + 1];
};

struct replay_obs {
	struct replay_side src, dst;
	uint8_t family;		/* AF_INET, AF_INET6 */
	uint8_t proto;
	int port;		/* destination port; -1 for none (ICMP) */
	uint64_t records, packets, connections;
	uint64_t first_ms, last_ms;
	struct replay_judgement j[2];
};

struct replay {
	struct replay_obs *obs;	/* in replay_sort() order once sorted */
	size_t n, cap;
	uint64_t records;	/* records that made observations */
	uint64_t ignored;	/* records of no flow (unlogged, overflow,
				 * loss, spoof, quarantine, not ours) */
	struct replay_index *index;	/* private */
};

struct replay *replay_new(void);
void replay_free(struct replay *rp);		/* NULL is fine */

/* One record (borrowed), as the record files hold it. */
void replay_add(struct replay *rp, json_t *rec);

/* Judges every observation under p into j[slot]. */
void replay_judge(struct replay *rp, const struct policy *p, int slot);

/* Observations in a total order: source key, destination key, family,
 * protocol, port (so that ties of any shown column are broken the same
 * way in every run). */
void replay_sort(struct replay *rp);
/* That order, for a caller that sorts by other columns first. */
int replay_obs_cmp(const struct replay_obs *a, const struct replay_obs *b);

enum replay_change {
	REPLAY_SAME,
	REPLAY_NEWLY_DENIED,	/* passes now (allow, would-deny), denied by
				 * the candidate */
	REPLAY_NEWLY_ALLOWED,	/* denied now, passes under the candidate */
	REPLAY_CHANGED_RULE,	/* passes or is denied under both, by
				 * another rule or verdict */
};

enum replay_change replay_change_of(const struct replay_obs *o);
const char *replay_change_str(enum replay_change c);
/* "tcp/5432", "udp/53", "icmp", "ipv6-icmp" (buf of 32 bytes). */
const char *replay_service(const struct replay_obs *o, char *buf);

#endif

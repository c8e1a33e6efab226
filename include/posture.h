/* The host's posture against NIST SP 800-190 (bulkheadctl posture):
 * findings from the policy, the containers and the engines' host-network
 * containers, each with the section of SP 800-190, its words and what to
 * do. Pure: no I/O but printing; docs/posture.md lists the findings. */
#ifndef BULKHEAD_POSTURE_H
#define BULKHEAD_POSTURE_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "inventory.h"
#include "policy.h"

/* A container that shares the host's network namespace (the Engine
 * API's HostConfig.NetworkMode "host"): it has no address of its own. */
struct posture_hostnet {
	char *id;
	char *name;
	char *engine;		/* the engine's URL */
};

struct posture_input {
	const struct policy *p;
	const char *policy_path;	/* as shown */
	const struct inventory *inv;	/* classified by p */
	const struct posture_hostnet *hostnet;
	size_t n_hostnet;
	int32_t today;			/* days since 1970-01-01 */
};

enum posture_kind {
	PK_CROSS_SENSITIVITY,	/* 4.3.3 */
	PK_MIXING,		/* 4.3.4 */
	PK_WORLD_EGRESS,	/* 4.4.2 */
	PK_HOST_NETWORK,	/* 4.3.3 */
	PK_UNASSIGNED,		/* executive summary */
	PK_AUDIT_EXPIRED,	/* 4.3.3 */
	PK_HOST_MIXING,		/* 4.3.4, posture --cluster */
};

struct posture_finding {
	enum posture_kind kind;
	char *finding;		/* one line */
	char *at;		/* "file:line:col" or NULL */
	json_t *subjects;	/* array of names (groups, containers) */
};

struct posture {
	struct posture_finding *v;
	size_t n, cap;
	char *policy_path;
	size_t n_containers;
	int32_t today;
	/* posture --cluster */
	bool cluster;
	char *from;		/* the host asked */
	json_t *hosts;		/* [{name, levels|null, mixes}] by name */
	size_t n_unknown;	/* hosts whose levels are not known */
};

/* A port range wider than this many ports toward world is "wide". */
#define POSTURE_WIDE_PORTS 100

void posture_build(const struct posture_input *in, struct posture *out);
/* posture --cluster: one finding per host whose kernel runs containers
 * of two or more sensitivity levels. hosts is the daemon's `hosts` reply
 * (cluster_hosts_json): each host's own count per level, as its key in
 * etcd carries it. A host without valid levels (an older bulkheadd, or a
 * value not one bulkheadd writes) is counted in n_unknown. from: the
 * host that was asked. */
void posture_build_cluster(json_t *hosts, const char *from, int32_t today,
			   struct posture *out);
void posture_free(struct posture *ps);	/* NULL is fine */
/* Human text; stable. */
void posture_print(const struct posture *ps, FILE *out);
/* {"nist":"SP 800-190","date","policy","containers","findings":[{"kind",
 *  "section","quote","finding","at","subjects","what_to_do"}],
 *  "summary":{...}}: stable key order (golden test). */
json_t *posture_json(const struct posture *ps);

const char *posture_kind_str(enum posture_kind k);
const char *posture_section(enum posture_kind k);
const char *posture_quote(enum posture_kind k);
const char *posture_todo(enum posture_kind k);

#endif

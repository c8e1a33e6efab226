/* What bulkheadctl recommend and readiness share: the policy to judge
 * by, the per-edge summaries of both record files (ctl_records_summary,
 * the code behind `denials --summary`), which group's chain judged an
 * edge, and whether a declared flow admits it. Options as `bulkheadctl
 * map` takes them: --policy, --denied-file, --flows-file, and --records
 * DIR for a directory of record files (ctl_record_files, as diff reads
 * it). */
#ifndef BULKHEAD_CTL_OBSERVED_H
#define BULKHEAD_CTL_OBSERVED_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl.h"
#include "policy.h"

#define CTL_OBSERVED_OPTIONS \
	{ "policy", required_argument, NULL, 'P' }, \
	{ "denied-file", required_argument, NULL, 'D' }, \
	{ "flows-file", required_argument, NULL, 'L' }, \
	{ "records", required_argument, NULL, 'R' }

#define CTL_OBSERVED_USAGE \
"  --policy PATH     the policy to judge by (default: the running daemon's,\n" \
"                    else /etc/bulkhead/groups)\n" \
"  --denied-file, --flows-file PATH  the record files (default\n" \
"                    /var/log/bulkhead/denied.jsonl, flows.jsonl)\n" \
"  --records DIR     the record files in DIR (*.jsonl, rotated *.jsonl.N;\n" \
"                    flows* allowed, the others denied)\n"

struct ctl_observed {
	char *policy_path;
	char *denied_file, *flows_file;		/* NULL: the defaults */
	char *records_dir;	/* --records: its files where no file given */
	struct policy *p;
};

/* An option of CTL_OBSERVED_OPTIONS: true when c was one. */
bool ctl_observed_option(struct ctl_observed *o, int c, const char *arg);
/* Loads the policy (the daemon's path when none was given). 0, or 2
 * with the reason on stderr (prefixed "bulkheadctl VERB: "). */
int ctl_observed_policy(struct ctl_observed *o, const char *verb);
/* The summary of one record file over [since_ms, until_ms]; a missing
 * file is no records. 0, or 2 with the reason on stderr. */
int ctl_observed_edges(const struct ctl_observed *o, const char *verb,
		       enum ctl_rec_kind kind, uint64_t since_ms,
		       uint64_t until_ms, struct ctl_edge **e, size_t *n);
void ctl_observed_free(struct ctl_observed *o);

/* The group whose chain judged traffic from group `from` to group `to`
 * (names as records give them, "*" for none): the destination when it
 * holds containers (flows between container groups are judged there,
 * policy_flow_peer_judged), else the source when it does; -1 when
 * neither is a container group of p. */
int ctl_observed_judge(const struct policy *p, const char *from,
		       const char *to);
/* Whether p admits from -> to on svc (ports as portmerge_parse_service
 * gives them): a declared flow, or the group's own intra: allow; *where
 * is the place written. */
bool ctl_observed_admitted(const struct policy *p, const char *from,
			   const char *to, const struct port_spec *svc,
			   struct src_loc *where);

#endif

/* Prometheus metrics in node_exporter's textfile format: the daemon counts
 * here what only it sees (records per group pair, commit durations) and
 * hands the rest (gauges, its own counters) over at render time. The text
 * is written to a file in one atomic rename, so the textfile collector
 * never reads half of it. Names follow Prometheus' rules: the bulkhead_
 * prefix, base units (seconds), _total on counters, no timestamps, and no
 * address or port labels: the series are bounded by groups^2 x actions,
 * and by METRICS_PAIRS_MAX whatever the policy. */
#ifndef BULKHEAD_METRICS_H
#define BULKHEAD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Per metric family: (source group, destination group, action) series
 * beyond this fold into one series with both groups "_other" (counted in
 * bulkhead_metrics_folded_total), so that no policy, however large, can
 * make the file grow without bound. 8,192 series of ~90 bytes: < 1 MiB. */
#define METRICS_PAIRS_MAX 8192
#define METRICS_OTHER "_other"
#define METRICS_INTERVAL_DEFAULT_S 15

enum metrics_pair_kind {
	MP_DENIED,		/* bulkhead_denied_packets_total */
	MP_FLOWS,		/* bulkhead_flows_total */
	MP__N,
};

/* What the daemon knows at render time. */
struct metrics_snapshot {
	/* bulkhead_containers{group}: every container group, 0s included */
	const char *const *groups;
	const uint64_t *containers;
	size_t n_groups;
	uint64_t commits_full, commits_delta;	/* commits_total{kind} */
	uint64_t reloads_ok, reloads_failed;	/* policy_reloads_total */
	uint64_t restores;			/* table_restores_total */
	/* records_lost_total{source}: NFLOG messages the kernel could not
	 * deliver, records the denied-flow file could not take, conntrack
	 * events lost (ENOBUFS, found by a resync) */
	uint64_t lost_nflog, lost_denied_log, lost_conntrack;
	/* bulkhead_audit_expired{group}: audit groups with an until date,
	 * 1 past it (audit_expiry_snapshot) */
	const char *const *audit_groups;
	const uint64_t *audit_expired;
	size_t n_audit;
};

struct metrics;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);	/* NULL is fine */

/* Adds n to the series (src, dst, action) of kind k. NULL or empty
 * names count as "*" (a side the record does not name, as in
 * `bulkheadctl denials --summary`). */
void metrics_pair_add(struct metrics *m, enum metrics_pair_kind k,
		      const char *src, const char *dst, const char *action,
		      uint64_t n);
/* One commit to the kernel that took `seconds`, full or delta
 * (bulkhead_commit_duration_seconds). */
void metrics_commit(struct metrics *m, double seconds);

/* The whole file's text (caller frees), series sorted: byte-identical for
 * the same counts. */
char *metrics_render(const struct metrics *m,
		     const struct metrics_snapshot *s, size_t *len);

/* Writes text to path atomically (temp file in the same directory,
 * rename). 0 or -errno. */
int metrics_write(const char *path, const char *text, size_t len);
/* Start-up check of --metrics-file: its directory exists and we may
 * create files in it. 0, or -errno with *err (caller frees). */
int metrics_check_path(const char *path, char **err);

#endif

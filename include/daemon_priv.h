/* The daemon's insides, shared by its own two files only: enforcer/daemon.c
 * (the one writer of the kernel: start-up, attach, detach, reload, the
 * table put back) and enforcer/daemon_ops.c (the control socket's verbs,
 * which read this state and call back into daemon.c). Nothing else
 * includes it: the container sources reach the daemon through
 * include/source.h, main.c through include/daemon.h. */
#ifndef BULKHEAD_DAEMON_PRIV_H
#define BULKHEAD_DAEMON_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "colocation.h"
#include "conntrack.h"
#include "daemon.h"
#include "ruleset.h"
#include "source.h"

struct control;
struct control_peer;
struct denied;
struct docker;
struct links;
struct metrics;
struct nft_counts;
struct nft_writer;
struct nftmon;
struct observe;
struct policy_watch;
struct state;

struct retired {
	struct policy *p;
	uint64_t at;
};

struct reload_result {
	bool done;
	bool ok;
	const char *trigger;
	uint64_t wall_ms;
	uint64_t took_ms;
	json_t *errors;			/* array of strings */
	char *error;			/* kernel or I/O failure */
	struct conntrack_stats cut;
};

struct daemon {
	struct daemon_opts o;
	/* what every container source is handed (source.h): attach,
	 * detach, the cluster's swap, the policy and inventory */
	struct source_sink sink;
	struct state *state;
	struct ev_loop *loop;
	struct policy *policy;		/* NULL: the start-up policy had
					 * errors and the kernel keeps the
					 * table it had */
	uint64_t policy_wall_ms;
	struct inventory *inv;
	struct ruleset *rs;
	struct ruleset_opts rso;
	struct nft_writer *nft;
	/* The last counts read of our named counters (by a full commit,
	 * status, the denied-flow pipeline): a commit that finds the table
	 * gone (deleted by someone else) starts the counters from these. */
	struct nft_counts *counts;
	struct control *ctl;
	struct denied *denied;
	struct observe *observe;		/* NULL: --flow-log none */
	struct links *links;
	struct engine {
		char *url;
		struct docker *src;
	} *engines;			/* in --engine order */
	size_t n_engines, cap_engines;
	struct cluster *cluster;	/* --etcd; NULL: one host */

	struct policy_watch *pw;
	unsigned torn_reads;		/* in a row: see torn_read() */
	struct ev_timer *watchdog;
	struct ev_timer *gc_timer;
	struct retired *retired;
	size_t n_retired, cap_retired;

	uint64_t started_wall_ms;
	struct reload_result last;
	uint64_t n_reloads, n_reload_failed;
	uint64_t n_attach, n_detach, n_full, n_delta;
	uint64_t state_errors;
	uint64_t n_cut;			/* conntrack entries deleted, total */
	uint64_t n_colocation;		/* co-location conflicts reported */
	struct colo_index colo_idx;	/* co-location without a scan */
	uint64_t last_commit_us;

	/* someone else changed our tables: put them back */
	struct nftmon *mon;
	struct ev_timer *restore_timer;
	bool restore_pending;
	bool restore_sure;		/* a change was seen, not guessed */
	uint64_t last_guess_ms;		/* last restore on a guess */
	bool guess_deferred;		/* timer armed for the window's end */
	uint64_t last_restore_ms;
	unsigned restore_streak;	/* changes right after our restores */
	struct tamper {
		char by[128];
		uint64_t wall_ms;
		bool restored;
	} tamper;
	uint64_t n_tamper, n_restored;

	/* --metrics-file */
	struct metrics *metrics;
	struct ev_timer *metrics_timer;
	struct audit_expiry *ax;	/* expired audits: status, metrics, log */
	uint64_t metrics_wall_ms;	/* last written */
	uint64_t metrics_errors;
	bool metrics_warned;
	/* the kernel read back and compared with the model (verify.h):
	 * every --verify-interval, and on request */
	struct ev_timer *verify_timer;
	struct verify_last {
		bool done;
		const char *trigger;	/* "timer", "control" */
		uint64_t wall_ms, took_ms;
		char *error;		/* could not read the kernel */
		json_t *report;		/* verify_report_json() */
		size_t n_diffs;
	} verify;
	uint64_t n_verify, n_verify_diff;
};
/* The name of group g, "unassigned" when the policy has none such. */
const char *daemon_group_name(const struct daemon *d, unsigned g);
/* Compares the kernel with the model and puts the table back when they
 * differ; the outcome goes to d->verify. trigger: "timer", "control". */
void daemon_verify(struct daemon *d, const char *trigger);

/* ---- daemon_ops.c ---- */

/* The control socket's request handler (control.h, control_handler);
 * arg is the daemon. */
json_t *daemon_ops_request(void *arg, const char *op, json_t *req,
			   const struct control_peer *peer);

#endif

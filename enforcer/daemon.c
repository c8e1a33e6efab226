/* bulkheadd's core: owns the policy, the inventory, the ruleset model and
 * the nft writer, and is the only place that changes the kernel. Every
 * change is compiled, committed, and only then swapped into memory, so a
 * refused commit leaves both the kernel and the daemon as they were. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "audit_expiry.h"
#include "colocation.h"
#include "cluster.h"
#include "conntrack.h"
#include "control.h"
#include "daemon_priv.h"
#include "denied.h"
#include "docker.h"
#include "links.h"
#include "log.h"
#include "metrics.h"
#include "nft.h"
#include "nftmon.h"
#include "observe.h"
#include "policywatch.h"
#include "ruleset.h"
#include "source.h"
#include "state.h"
#include "util.h"
#include "verify.h"

/* The denied-flow pipeline notices a new policy pointer on its next tick
 * (every 250 ms); a replaced policy lives this long after the swap. */
#define RETIRE_MS 3000

/* ---- what the sources (source.h) and the record pipelines read ---- */

static const struct policy *sink_policy(void *arg)
{
	const struct daemon *d = arg;

	return d->policy;
}

static const struct inventory *sink_inventory(void *arg)
{
	const struct daemon *d = arg;

	return d->inv;
}

static int sink_swap_remote(void *arg, struct container **cs, size_t n,
			    char **err);

/* ---- small helpers ---- */

static void classify(const struct policy *p, struct container *c)
{
	container_classify(c, p);
	if (c->quarantined)
		c->group = GROUP_QUARANTINE;
}

static void classify_all(const struct policy *p, struct inventory *inv)
{
	size_t i;

	for (i = 0; i < inventory_count(inv); i++)
		classify(p, inventory_at(inv, i));
	/* before the full commit that follows: a held container never
	 * enters its group's chains */
	colocation_mark(p, inv);
}

const char *daemon_group_name(const struct daemon *d, unsigned g)
{
	if (!d->policy || g >= d->policy->n_groups)
		return "unassigned";
	return d->policy->groups[g].name;
}

static void notify_status(struct daemon *d)
{
	if (!getenv("NOTIFY_SOCKET"))
		return;
	if (!d->policy)
		sd_notifyf(0, "STATUS=policy has errors; enforcing the table "
			   "already in the kernel; %zu containers",
			   inventory_count(d->inv));
	else
		sd_notifyf(0, "STATUS=enforcing %zu groups, %zu containers",
			   d->policy->n_groups - GROUP_FIRST_USER,
			   inventory_count(d->inv));
}

/* The kernel change stands either way; a restart would not know it. */
static void record(struct daemon *d, const struct container *c,
		   const char *detached_id)
{
	int ret;

	ret = c ? state_attach(d->state, d->inv, c) :
		  state_detach(d->state, d->inv, detached_id);
	if (ret < 0) {
		d->state_errors++;
		log_err("cannot record the change in %s: %s (a restart would "
			"not know it)", state_path(d->state), strerror(-ret));
	}
}

static void retire_policy(struct daemon *d, struct policy *p)
{
	if (!p)
		return;
	xgrow(&d->retired, &d->cap_retired, d->n_retired + 1,
	      sizeof(*d->retired));
	d->retired[d->n_retired].p = p;
	d->retired[d->n_retired].at = bh_now_ms();
	d->n_retired++;
	ev_timer_arm(d->gc_timer, RETIRE_MS, 0);
}

static void gc_retired(struct ev_timer *t, void *arg)
{
	struct daemon *d = arg;
	uint64_t now = bh_now_ms();
	size_t i, k = 0;

	for (i = 0; i < d->n_retired; i++) {
		if (now - d->retired[i].at >= RETIRE_MS)
			policy_free(d->retired[i].p);
		else
			d->retired[k++] = d->retired[i];
	}
	d->n_retired = k;
	if (k)
		ev_timer_arm(d->gc_timer, RETIRE_MS, 0);
}

/* A commit that started at t0_us (bh_now_us) is done: its duration in
 * microseconds, also into the metrics' histogram. */
static uint64_t count_commit(struct daemon *d, uint64_t t0_us)
{
	uint64_t us = bh_now_us() - t0_us;

	if (d->metrics)
		metrics_commit(d->metrics, (double)us / 1e6);
	return us;
}

static int commit_full(struct daemon *d, const struct policy *p,
		       struct ruleset **out, char **err)
{
	struct ruleset *rs;
	struct nft_error ne = { 0 };
	uint64_t t0 = bh_now_ms(), t0_us = bh_now_us();
	int ret;

	rs = ruleset_build(p, d->inv, &d->rso);
	/* As late as possible: what the old counters count between this
	 * read and the commit is lost (docs/daemon.md). Counters the kernel
	 * no longer has keep their last known counts. */
	ret = nft_read_counters(d->nft, nft_counts_note, d->counts);
	if (ret < 0)
		log_warn("cannot read the kernel's counters (%s): the new "
			 "table starts them from the last counts read",
			 strerror(-ret));
	nftmon_pause(d->mon);
	ret = nft_commit_full(d->nft, rs, d->counts, d->inv, &ne);
	nftmon_resume(d->mon, ret == 0);
	if (ret < 0) {
		*err = xasprintf("the kernel refused the table: %s",
				 ne.msg[0] ? ne.msg : strerror(-ret));
		ruleset_free(rs);
		return ret;
	}
	nft_counts_keep(d->counts, rs);
	d->n_full++;
	count_commit(d, t0_us);
	log_debug("full commit: %zu containers in %llu ms",
		  inventory_count(d->inv),
		  (unsigned long long)(bh_now_ms() - t0));
	*out = rs;
	return 0;
}

static void cut_flows(struct daemon *d, struct conntrack_stats *st)
{
	char *err = NULL;
	int ret;

	ret = conntrack_cut(d->policy, d->inv, st, &err);
	if (ret < 0) {
		log_err("cutting revoked flows: %s", err);
		free(err);
		return;
	}
	d->n_cut += st->cut;
	if (st->cut || st->failed)
		log_info("cut %u connection%s that policy no longer allows%s",
			 st->cut, st->cut == 1 ? "" : "s",
			 st->failed ? " (some deletes failed)" : "");
}

/* ---- attach / detach ---- */

static bool same_addrs(const struct container *a, const struct container *b)
{
	size_t i, j;

	if (a->n_addrs != b->n_addrs)
		return false;
	for (i = 0; i < a->n_addrs; i++) {
		for (j = 0; j < b->n_addrs; j++)
			if (bh_addr_eq(&a->addrs[i], &b->addrs[j]))
				break;
		if (j == b->n_addrs)
			return false;
	}
	return true;
}

/* Same elements in the kernel: only the metadata changes. */
static bool same_enforcement(const struct container *a,
			     const struct container *b)
{
	return a->group == b->group && a->quarantined == b->quarantined &&
	       a->colo == b->colo &&
	       container_same_ports(a, b) && same_addrs(a, b);
}

/* The set would outgrow its kernel size: rebuild (sized with headroom)
 * and replace the table in one transaction. The inventory already holds
 * the change. */
static int attach_full(struct daemon *d, char **err)
{
	struct ruleset *rs;
	int ret;

	ret = commit_full(d, d->policy, &rs, err);
	if (ret < 0)
		return ret;
	ruleset_free(d->rs);
	d->rs = rs;
	return 0;
}

/* ---- someone else changed our tables ---- */

/* A guess (below) puts the table back at most this often, so that a busy
 * neighbour's transactions racing our own commits cannot keep us
 * committing. In between, a missing table is put back at once; a table
 * in place is put back when the window ends: what the unseen transaction
 * changed in it is not known, and nothing else would look again. */
#define GUESS_RESTORE_MS 10000
/* From the RESTORE_FIGHT-th change in a row that comes less than
 * RESTORE_CALM_MS after our last restore, each restore waits twice as long
 * as the one before (1 s up to RESTORE_MAX_MS): two programs that each put
 * back their own version of the table (a second bulkheadd) must not commit
 * in a loop. */
#define RESTORE_CALM_MS 2000
#define RESTORE_FIGHT 3
#define RESTORE_MAX_MS 60000

static uint64_t restore_delay_ms(unsigned streak)
{
	if (streak < RESTORE_FIGHT)
		return 0;
	if (streak - RESTORE_FIGHT >= 6)
		return RESTORE_MAX_MS;
	return 1000ULL << (streak - RESTORE_FIGHT);
}

static void on_restore_timer(struct ev_timer *t, void *arg)
{
	struct daemon *d = arg;
	char *err = NULL;
	uint64_t now = bh_now_ms();

	(void)t;
	d->restore_pending = false;
	d->guess_deferred = false;
	if (!d->restore_sure) {
		if (d->last_guess_ms && now - d->last_guess_ms <
					    GUESS_RESTORE_MS &&
		    nft_table_exists(d->nft) == 1) {
			uint64_t wait = d->last_guess_ms + GUESS_RESTORE_MS -
					now;

			log_info("nftables changed by %s: table inet %s is in "
				 "place; putting it back in %llu ms",
				 d->tamper.by, RULESET_TABLE,
				 (unsigned long long)wait);
			d->restore_pending = true;
			d->guess_deferred = true;
			ev_timer_arm(d->restore_timer, wait, 0);
			return;
		}
		d->last_guess_ms = now;
	}
	if (!d->policy) {
		log_err("table %s changed by %s; no policy in force to put it "
			"back with (fix the policy and reload)", RULESET_TABLE,
			d->tamper.by);
		return;
	}
	if (attach_full(d, &err) < 0) {
		log_err("table %s changed by %s; putting it back failed: %s",
			RULESET_TABLE, d->tamper.by, err);
		free(err);
		return;
	}
	d->last_restore_ms = bh_now_ms();
	d->tamper.restored = true;
	d->n_restored++;
	log_warn("table %s was changed by %s: put back (%zu containers)",
		 RULESET_TABLE, d->tamper.by, inventory_count(d->inv));
	notify_status(d);
}

/* Reports before the timer runs make one restore. When every one of them
 * was a guess (lost notifications, a transaction that ran while our own
 * commit had the watcher paused) it is rate-limited. */
static void on_tamper(const char *who, bool uncertain, void *arg)
{
	struct daemon *d = arg;

	if (!uncertain)
		d->n_tamper++;
	if (!d->restore_pending || (!uncertain && !d->restore_sure)) {
		snprintf(d->tamper.by, sizeof(d->tamper.by), "%s", who);
		d->tamper.wall_ms = bh_wall_ms();
		d->tamper.restored = false;
	}
	d->restore_sure = (d->restore_pending && d->restore_sure) ||
			  !uncertain;
	/* a change seen for sure does not wait for a deferred guess */
	if (!d->restore_pending || (!uncertain && d->guess_deferred)) {
		uint64_t delay;

		d->guess_deferred = false;
		if (d->last_restore_ms &&
		    bh_now_ms() - d->last_restore_ms < RESTORE_CALM_MS)
			d->restore_streak++;
		else
			d->restore_streak = 0;
		delay = restore_delay_ms(d->restore_streak);
		if (delay)
			log_err("table %s changed again by %s: putting it back "
				"in %llu ms (is another bulkheadd running in "
				"this network namespace?)", RULESET_TABLE, who,
				(unsigned long long)delay);
		ev_timer_arm(d->restore_timer, delay, 0);
	}
	d->restore_pending = true;
}

static void watch_tables(struct daemon *d)
{
	char *err = NULL;

	d->restore_timer = ev_timer_new(d->loop, on_restore_timer, d);
	if (nftmon_open(d->loop, d->nft, on_tamper, d, &d->mon, &err) < 0) {
		log_err("%s: a table changed by someone else will not be put "
			"back until the next reload", err);
		free(err);
	}
}

/* ---- co-location (colocation.h) ---- */

static void colo_report(struct daemon *d, const struct colo_change *x)
{
	char *msg = colocation_text(d->policy, x);

	if (x->why) {
		d->n_colocation++;
		log_warn("co-location: %s", msg);
	} else {
		log_info("co-location: %s", msg);
	}
	free(msg);
	denied_note(d->denied, colocation_record_json(d->policy, x,
						      bh_wall_ms()));
}

/* After a full commit (start-up, reload), whose classification decided
 * co-location silently (colocation_mark): say once who is held or mixes,
 * so that the log and journald tell it after a restart too. */
static void colo_log_state(struct daemon *d)
{
	struct colo_result r;
	size_t i;

	if (!d->policy || d->policy->colo_mode == COLO_OFF)
		return;
	colocation_decide(d->policy, d->inv, &r);
	for (i = 0; i < r.n; i++) {
		struct colo_change x = { (struct container *)r.v[i].c,
					 r.v[i].c->colo, &r.v[i] };
		char *msg = colocation_text(d->policy, &x);

		log_warn("co-location: %s", msg);
		free(msg);
	}
	colo_result_free(&r);
}

/* After an attach (added) or detaches (NULL): every container's
 * co-location state anew (colocation_update: without a scan of every
 * container when it can). Those that enter or leave quarantine do so in
 * one transaction; each change is logged and recorded. fresh: a
 * container whose state was set on arrival (colocation_arrival), to
 * report if it mixes. */
static void colo_update(struct daemon *d, const struct container *added,
			const struct container *fresh)
{
	struct rs_delta *delta = NULL;
	struct colo_change *ch = NULL;
	struct nft_error ne = { 0 };
	struct colo_result r;
	bool cut = false, *moves;
	size_t n, i;
	int ret;

	if (!d->policy || d->policy->colo_mode == COLO_OFF)
		return;
	n = colocation_update(&d->colo_idx, d->policy, d->inv, added, &r,
			      &ch);
	moves = xcalloc(n + 1, sizeof(*moves));
	if (n && d->rs) {
		delta = rs_delta_new();
		/* only a change in or out of quarantine changes the kernel;
		 * warn's mixing does not */
		for (i = 0; i < n; i++) {
			moves[i] = (ch[i].to == COLO_HELD) !=
				   (ch[i].c->colo == COLO_HELD);
			if (moves[i])
				ruleset_container_delta(d->rs, ch[i].c,
							RS_ELEM_DEL, delta);
		}
	}
	for (i = 0; i < n; i++) {
		if (ch[i].c == fresh)
			fresh = NULL;
		colo_report(d, &ch[i]);
		ch[i].c->colo = ch[i].to;
		cut |= ch[i].to == COLO_HELD;
	}
	if (fresh && fresh->colo != COLO_NONE) {
		struct colo_change x = { (struct container *)fresh, fresh->colo,
					 colocation_conflict(&r, fresh) };

		if (x.why)
			colo_report(d, &x);
	}
	if (delta) {
		for (i = 0; i < n; i++)
			if (moves[i])
				ruleset_container_delta(d->rs, ch[i].c,
							RS_ELEM_ADD, delta);
		if (rs_delta_empty(delta))
			ret = 0;
		else if (ruleset_delta_overflows(d->rs, delta))
			ret = -ENOSPC;
		else
			ret = nft_commit_delta(d->nft, d->rs, delta, &ne);
		if (ret == 0 && !rs_delta_empty(delta)) {
			d->n_delta++;
			ruleset_apply_delta(d->rs, delta);
		} else if (ret < 0) {
			char *err = NULL;

			if (attach_full(d, &err) < 0) {
				log_err("co-location: cannot move containers "
					"in or out of quarantine: %s", err);
				free(err);
			}
		}
	}
	if (cut) {
		struct conntrack_stats st;

		cut_flows(d, &st);
	}
	rs_delta_free(delta);
	free(moves);
	free(ch);
	colo_result_free(&r);
}

/* ---- the kernel read back (docs/daemon.md, "Verify") ---- */

/* Compares the kernel's tables with the model and, when they differ,
 * puts the table back as after any change by someone else: the
 * differences are a change the nftables monitor did not put back. */
void daemon_verify(struct daemon *d, const char *trigger)
{
	struct verify_last *v = &d->verify;
	struct verify_report r;
	uint64_t t0 = bh_now_ms();
	char who[128];
	int ret;

	free(v->error);
	v->error = NULL;
	json_decref(v->report);
	v->report = NULL;
	v->n_diffs = 0;
	v->done = true;
	v->trigger = trigger;
	v->wall_ms = bh_wall_ms();
	d->n_verify++;
	if (!d->rs) {
		v->error = xstrdup("no model to compare with: the start-up "
				   "policy had errors");
		goto out;
	}
	ret = verify_kernel(d->rs, d->nft, inventory_count(d->inv), &r,
			    &v->error);
	if (ret < 0) {
		log_err("verify: %s", v->error);
		goto out;
	}
	v->report = verify_report_json(&r);
	v->n_diffs = verify_count(&r);
	if (v->n_diffs) {
		size_t i;

		d->n_verify_diff++;
		for (i = 0; i < r.n_diffs && i < 20; i++)
			log_warn("verify: %s", r.diffs[i]);
		log_warn("verify (%s): the kernel differs from the model in "
			 "%zu place%s%s: putting the table back", trigger,
			 v->n_diffs, v->n_diffs == 1 ? "" : "s",
			 r.n_diffs > 20 ? " (the first 20 above)" : "");
		snprintf(who, sizeof(who), "verify (%zu difference%s)",
			 v->n_diffs, v->n_diffs == 1 ? "" : "s");
		on_tamper(who, false, d);
	} else {
		log_debug("verify (%s): kernel matches: %zu containers, %zu "
			  "elements", trigger, r.containers, r.elements);
	}
	verify_report_free(&r);
out:
	v->took_ms = bh_now_ms() - t0;
}

static void on_verify_timer(struct ev_timer *t, void *arg)
{
	(void)t;
	daemon_verify(arg, "timer");
}

static int daemon_attach(struct daemon *d, struct container *c,
			 char **err)
{
	struct container *old;
	struct rs_delta *delta = NULL;
	struct nft_error ne = { 0 };
	bool regroup = false, colo_fresh;
	uint64_t t0;
	int ret = 0;

	*err = NULL;
	if (!d->policy || !d->rs) {
		*err = xstrdup("no valid policy is in force (the start-up "
			       "policy had errors); fix it and reload");
		ret = -EAGAIN;
		goto fail;
	}
	/* limits, and addresses and ports of other containers */
	ret = inventory_check(d->inv, c, err);
	if (ret < 0)
		goto fail;
	classify(d->policy, c);
	old = inventory_find(d->inv, c->id);
	/* arrival order decides co-location, also after a restart */
	c->since_ms = old ? old->since_ms : bh_wall_ms();
	c->colo = colocation_arrival_index(&d->colo_idx, d->policy, d->inv,
					   c);
	/* old is freed below: whether c's state is news, now */
	colo_fresh = !old || old->colo != c->colo;
	if (old && same_enforcement(old, c) &&
	    ruleset_same_facts(d->rs, old, c)) {
		container_free(inventory_remove(d->inv, c->id));
		inventory_add(d->inv, c);
		goto done;
	}
	/* new boundary labels can revoke flows as a new group can */
	regroup = old && (old->group != c->group || old->colo != c->colo ||
			  !ruleset_same_facts(d->rs, old, c));
	delta = rs_delta_new();
	if (old)
		ruleset_container_delta(d->rs, old, RS_ELEM_DEL, delta);
	ruleset_container_delta(d->rs, c, RS_ELEM_ADD, delta);
	if (ruleset_delta_overflows(d->rs, delta))
		goto full;
	t0 = bh_now_us();
	ret = nft_commit_delta(d->nft, d->rs, delta, &ne);
	if (ret == -ENOSPC) /* the model's sizes and the kernel's disagree */
		goto full;
	if (ret < 0) {
		*err = xasprintf("the kernel refused the change: %s",
				 ne.msg[0] ? ne.msg : strerror(-ret));
		goto fail;
	}
	d->n_delta++;
	d->last_commit_us = count_commit(d, t0);
	ruleset_apply_delta(d->rs, delta);
	if (old)
		container_free(inventory_remove(d->inv, c->id));
	inventory_add(d->inv, c);
done:
	d->n_attach++;
	log_info("%s %s (%s) in group %s%s", old ? "updated" : "attached",
		 c->name, c->id, daemon_group_name(d, c->group),
		 c->colo == COLO_HELD ? ", held in quarantine (co-location)" :
		 "");
	record(d, c, NULL);
	colo_update(d, c, colo_fresh ? c : NULL);
	if (c->source != SRC_REMOTE)
		cluster_local_changed(d->cluster);
	notify_status(d);
	if (regroup) {
		struct conntrack_stats st;

		cut_flows(d, &st);
	}
	goto out;
full:
	/* a delta cannot carry this change: replace the whole table with
	 * the container in, and put the old one back if that fails */
	{
		struct container *prev = old ?
			inventory_remove(d->inv, c->id) : NULL;

		inventory_add(d->inv, c);
		ret = attach_full(d, err);
		if (ret < 0) {
			container_free(inventory_remove(d->inv, c->id));
			if (prev)
				inventory_add(d->inv, prev);
			goto out;
		}
		container_free(prev);
		goto done;
	}
fail:
	container_free(c);
out:
	rs_delta_free(delta);
	return ret;
}

static int daemon_detach_many(struct daemon *d, char *const *ids, size_t n,
			      char **err)
{
	struct rs_delta *delta = NULL;
	struct nft_error ne = { 0 };
	struct container *c;
	uint64_t t0_us;
	size_t i;
	int ret = 0;

	*err = NULL;
	for (i = 0; i < n; i++)
		if (!inventory_find(d->inv, ids[i])) {
			*err = xasprintf("no container with id %s", ids[i]);
			return -ENOENT;
		}
	/* one batch, one kernel transaction, however many containers */
	if (d->rs) {
		delta = rs_delta_new();
		for (i = 0; i < n; i++)
			ruleset_container_delta(d->rs,
						inventory_find(d->inv, ids[i]),
						RS_ELEM_DEL, delta);
		t0_us = bh_now_us();
		ret = nft_commit_delta(d->nft, d->rs, delta, &ne);
		if (ret < 0) {
			*err = xasprintf("the kernel refused the change: %s",
					 ne.msg[0] ? ne.msg : strerror(-ret));
			goto out;
		}
		d->n_delta++;
		count_commit(d, t0_us);
		ruleset_apply_delta(d->rs, delta);
	}
	for (i = 0; i < n; i++) {
		c = inventory_remove(d->inv, ids[i]);
		log_info("detached %s (%s)", c->name, c->id);
		if (c->source != SRC_REMOTE)
			cluster_local_changed(d->cluster);
		record(d, NULL, c->id);
		container_free(c);
		d->n_detach++;
	}
	colo_update(d, NULL, NULL);
	notify_status(d);
out:
	rs_delta_free(delta);
	return ret;
}

static int sink_attach(void *arg, struct container *c, char **err)
{
	return daemon_attach(arg, c, err);
}

static int sink_detach_many(void *arg, char *const *ids, size_t n,
			    char **err)
{
	return daemon_detach_many(arg, ids, n, err);
}

/* ---- reload ---- */

static json_t *diag_lines(const struct diags *dg, bool log_them)
{
	json_t *a = json_array();
	const char *sev;
	char *line;
	size_t i;

	for (i = 0; i < dg->n; i++) {
		const struct diag *x = &dg->v[i];

		sev = x->severity == DIAG_ERROR ? "error" : "warning";
		if (x->line)
			line = xasprintf("%s:%u:%u: %s: %s", x->file, x->line,
					 x->col, sev, x->msg);
		else
			line = xasprintf("%s: %s: %s", x->file, sev, x->msg);
		if (log_them) {
			if (x->severity == DIAG_ERROR)
				log_err("%s", line);
			else
				log_warn("%s", line);
		}
		if (x->severity == DIAG_ERROR)
			json_array_append_new(a, json_string(line));
		free(line);
	}
	return a;
}

static void set_ruleset_opts(struct daemon *d, const struct policy *p)
{
	ruleset_opts_from_policy(&d->rso, p);
	d->rso.nflog_group = d->o.nflog_group;
	d->rso.guard_ports = d->o.guard_ports;
	d->rso.n_guard_ports = d->o.n_guard_ports;
}

/* A reload the policy watcher asked for may read a file that a writer
 * truncated or rewrote after the watcher's last look (inotify cannot
 * close that race): an empty file is refused, half of one may be a valid
 * smaller policy. When the watcher has seen a change since, what was read
 * is not what the file will hold: nothing is applied or counted, and the
 * watcher calls back once the writer is done. A writer that never stops
 * gets its reload after TORN_RETRIES such reads (about 10 s). */
#define TORN_RETRIES 50

static bool torn_read(struct daemon *d, const char *trigger)
{
	if (strcmp(trigger, "inotify") || !d->pw ||
	    !policy_watch_pending(d->pw) || ++d->torn_reads > TORN_RETRIES) {
		d->torn_reads = 0;
		return false;
	}
	log_info("policy: %s changed while it was read; reading it again "
		 "once written", d->o.policy_path);
	return true;
}

int daemon_reload(struct daemon *d, const char *trigger, json_t **errors,
		  char **err)
{
	struct diags dg = { 0 };
	struct policy *np, *old = d->policy;
	struct ruleset_opts save = d->rso;
	struct ruleset *rs = NULL;
	struct reload_result *lr = &d->last;
	uint64_t t0 = bh_now_ms();
	bool notify_reload;
	int ret = 0;

	*err = NULL;
	if (errors)
		*errors = NULL;
	/* Only the reload systemd asked for (ExecReload= sends SIGHUP) is
	 * announced: systemd 252 without Type=notify-reload can be left
	 * "reloading" by a RELOADING=1 of the daemon's own that arrives
	 * while its reload job ends (an inotify reload right after). */
	notify_reload = !strcmp(trigger, "SIGHUP") && getenv("NOTIFY_SOCKET");
	if (notify_reload)
		sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
			   (unsigned long long)bh_now_ms() * 1000ULL);
	log_info("reloading %s (%s)", d->o.policy_path, trigger);
	np = policy_load(d->o.policy_path, &dg);
	if (torn_read(d, trigger)) {
		policy_free(np);
		diags_free(&dg);
		*err = xstrdup("the policy changed while it was read");
		return -EAGAIN;
	}
	json_decref(lr->errors);
	lr->errors = NULL;
	free(lr->error);
	lr->error = NULL;
	memset(&lr->cut, 0, sizeof(lr->cut));
	d->n_reloads++;
	lr->errors = diag_lines(&dg, true);
	if (!np) {
		*err = xasprintf("%s has %zu error%s, not reloading; the "
				 "previous policy stays in force",
				 d->o.policy_path, dg.n_errors,
				 dg.n_errors == 1 ? "" : "s");
		ret = -EINVAL;
		goto fail;
	}
	classify_all(np, d->inv);
	set_ruleset_opts(d, np);
	ret = commit_full(d, np, &rs, err);
	if (ret < 0) {
		d->rso = save;
		if (old)
			classify_all(old, d->inv);
		policy_free(np);
		goto fail;
	}
	ruleset_free(d->rs);
	d->rs = rs;
	d->policy = np;
	/* a policy may later sit where a freed one was: the index is
	 * never trusted by the address alone */
	colocation_index_reset(&d->colo_idx);
	d->policy_wall_ms = bh_wall_ms();
	retire_policy(d, old);
	cut_flows(d, &lr->cut);
	lr->ok = true;
	cluster_local_changed(d->cluster);	/* group names, policy hash */
	log_info("policy in force: %zu groups, %zu flows; %zu containers "
		 "(%llu ms)", np->n_groups - GROUP_FIRST_USER, np->n_flows,
		 inventory_count(d->inv),
		 (unsigned long long)(bh_now_ms() - t0));
	colo_log_state(d);
	audit_expiry_check(d->ax);
	goto out;
fail:
	d->n_reload_failed++;
	lr->ok = false;
	lr->error = xstrdup(*err);
	log_err("%s", *err);
out:
	lr->done = true;
	lr->trigger = trigger;
	lr->wall_ms = bh_wall_ms();
	lr->took_ms = bh_now_ms() - t0;
	if (errors)
		*errors = json_incref(lr->errors);
	diags_free(&dg);
	if (notify_reload)
		sd_notify(0, "READY=1");
	notify_status(d);
	return ret;
}

static void reload_quietly(struct daemon *d, const char *trigger)
{
	char *err = NULL;

	daemon_reload(d, trigger, NULL, &err);
	free(err);
}

static void on_policy_changed(void *arg)
{
	reload_quietly(arg, "inotify");
}

/* ---- signals, watchdog ---- */

static void on_term(int signo, void *arg)
{
	struct daemon *d = arg;

	log_info("%s: stopping", strsignal(signo));
	ev_stop(d->loop);
}

static void on_hup(int signo, void *arg)
{
	reload_quietly(arg, "SIGHUP");
}

static void on_usr1(int signo, void *arg)
{
	struct daemon *d = arg;

	if (d->denied)
		denied_reopen(d->denied);
	if (d->observe)
		observe_reopen(d->observe);
}

static void on_watchdog(struct ev_timer *t, void *arg)
{
	sd_notify(0, "WATCHDOG=1");
}

/* ---- --metrics-file ---- */

/* The container groups (labels, unassigned, quarantine) and how many
 * containers each has now; the counters as status reports them. */
static void metrics_snapshot(struct daemon *d, struct metrics_snapshot *s,
			     const char **names, uint64_t *counts)
{
	const struct policy *p = d->policy;
	size_t i, n = 0, *idx = NULL;

	memset(s, 0, sizeof(*s));
	if (p) {
		idx = xcalloc(p->n_groups, sizeof(*idx));
		for (i = 0; i < p->n_groups; i++) {
			if (i == GROUP_HOST || i == GROUP_WORLD ||
			    p->groups[i].kind == GK_CIDRS)
				continue;
			idx[i] = n + 1;
			names[n] = p->groups[i].name;
			counts[n++] = 0;
		}
		for (i = 0; i < inventory_count(d->inv); i++) {
			unsigned g = inventory_at(d->inv, i)->group;

			if (g < p->n_groups && idx[g])
				counts[idx[g] - 1]++;
		}
		free(idx);
	}
	s->groups = names;
	s->containers = counts;
	s->n_groups = n;
	s->commits_full = d->n_full;
	s->commits_delta = d->n_delta;
	s->reloads_ok = d->n_reloads - d->n_reload_failed;
	s->reloads_failed = d->n_reload_failed;
	s->restores = d->n_restored;
	if (d->denied)
		denied_losses(d->denied, &s->lost_nflog, &s->lost_denied_log);
	if (d->observe)
		s->lost_conntrack = observe_lost(d->observe);
	if (d->ax)
		audit_expiry_snapshot(d->ax, p, policy_today(), s);
}

static void write_metrics(struct daemon *d)
{
	size_t n = d->policy ? d->policy->n_groups : 0, len;
	const char **names = xcalloc(n + 1, sizeof(*names));
	uint64_t *counts = xcalloc(n + 1, sizeof(*counts));
	struct metrics_snapshot s;
	char *text;
	int ret;

	metrics_snapshot(d, &s, names, counts);
	text = metrics_render(d->metrics, &s, &len);
	ret = metrics_write(d->o.metrics_file, text, len);
	if (ret < 0) {
		d->metrics_errors++;
		if (!d->metrics_warned)
			log_warn("cannot write %s: %s (counted in status; "
				 "warned once)", d->o.metrics_file,
				 strerror(-ret));
		d->metrics_warned = true;
	} else {
		d->metrics_wall_ms = bh_wall_ms();
		d->metrics_warned = false;
	}
	free(text);
	free(names);
	free(counts);
}

static void on_metrics_timer(struct ev_timer *t, void *arg)
{
	write_metrics(arg);
}

/* ---- start-up ---- */

/* Bridged frames reach the inet forward hook only with these set; they
 * are per network namespace. */
static void bridge_sysctls(void)
{
	static const char *const keys[] = {
		"bridge-nf-call-iptables", "bridge-nf-call-ip6tables",
	};
	char path[128], *val;
	size_t i, len;
	int fd, ret;

	for (i = 0; i < ARRAY_SIZE(keys); i++) {
		snprintf(path, sizeof(path), "/proc/sys/net/bridge/%s",
			 keys[i]);
		ret = bh_read_file(path, 64, &val, &len);
		if (ret == -ENOENT) {
			log_err("%s is missing: br_netfilter is not loaded, so "
				"bridged container traffic bypasses the rules "
				"(modprobe br_netfilter; "
				"modules-load.d/bulkhead.conf)", path);
			continue;
		}
		if (ret == 0 && len && val[0] == '1') {
			log_info("net.bridge.%s is 1", keys[i]);
			free(val);
			continue;
		}
		if (ret == 0)
			free(val);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd >= 0 && write(fd, "1\n", 2) == 2) {
			log_info("set net.bridge.%s=1 in this network "
				 "namespace", keys[i]);
		} else {
			log_err("net.bridge.%s is not 1 and cannot be set "
				"(%s): bridged container traffic bypasses the "
				"rules; set it in sysctl.d (60-bulkhead.conf "
				"has net.bridge.%s = 1)", keys[i],
				strerror(errno), keys[i]);
		}
		if (fd >= 0)
			close(fd);
	}
}

static int start_denied(struct daemon *d)
{
	struct denied_opts o = {
		.path = d->o.denied_log,
		.ecs = d->o.record_ecs,
		.nflog_group = d->o.nflog_group,
		.journald = d->o.journald,
		.ring_size = 0,
		.counts = d->counts,
		.metrics = d->metrics,
		.policy = sink_policy,
		.inventory = sink_inventory,
		.arg = d,
	};

	return denied_start(d->loop, &o, &d->denied);
}

static int start_observe(struct daemon *d)
{
	struct observe_opts o = {
		.path = d->o.flow_log,
		.policy = sink_policy,
		.inventory = sink_inventory,
		.arg = d,
		.metrics = d->metrics,
		.ecs = d->o.record_ecs,
	};

	if (!d->o.flow_log) {
		log_info("allowed-flow observations are off (--flow-log none)");
		return 0;
	}
	return observe_start(d->loop, &o, &d->observe);
}

int daemon_new(const struct daemon_opts *o, struct daemon **out, char **err)
{
	struct daemon *d = xcalloc(1, sizeof(*d));
	struct diags dg = { 0 };
	struct policy *p;
	struct ruleset *rs = NULL;
	json_t *lines;
	char *e = NULL;
	uint64_t wd_usec = 0;
	size_t i;
	int ret, exists;

	*out = NULL;
	*err = NULL;
	d->o = *o;
	d->started_wall_ms = bh_wall_ms();
	d->counts = nft_counts_new();
	d->loop = ev_new();
	if (!d->loop) {
		ret = -errno;
		*err = xasprintf("epoll: %s", strerror(errno));
		goto fail;
	}
	/* every container source reaches the daemon through this */
	d->sink = (struct source_sink){
		.attach = sink_attach,
		.detach_many = sink_detach_many,
		.swap_remote = sink_swap_remote,
		.inventory = sink_inventory,
		.policy = sink_policy,
		.arg = d,
	};
	ev_add_signal(d->loop, SIGTERM, on_term, d);
	ev_add_signal(d->loop, SIGINT, on_term, d);
	ev_add_signal(d->loop, SIGHUP, on_hup, d);
	ev_add_signal(d->loop, SIGUSR1, on_usr1, d);
	d->gc_timer = ev_timer_new(d->loop, gc_retired, d);

	/* 0. the engines: a bad --engine stops us before the kernel is
	 * touched. Nothing is sent to them before the loop runs, after
	 * READY=1, so an absent or slow engine never holds start-up back. */
	for (i = 0; i < o->n_engines; i++) {
		ret = daemon_start_engine(d, o->engines[i]);
		if (ret < 0) {
			*err = xasprintf("--engine %s: %s", o->engines[i],
					 ret == -EEXIST ? "given twice" :
					 ret == -EINVAL ? "expected "
					 "unix:///PATH/TO/SOCKET" :
					 strerror(-ret));
			goto fail;
		}
	}

	/* the metrics file's directory takes files: a typo stops us here,
	 * before the kernel is touched, rather than 15 s later */
	if (o->metrics_file) {
		ret = metrics_check_path(o->metrics_file, err);
		if (ret < 0)
			goto fail;
		d->metrics = metrics_new();
	}
	/* the cluster's options are checked here too; it first talks to
	 * etcd once the loop runs */
	if (o->cluster) {
		ret = daemon_start_cluster(d, o->cluster, &e);
		if (ret < 0) {
			*err = e;
			goto fail;
		}
	}

	/* 1. the policy: every finding logged */
	p = policy_load(o->policy_path, &dg);
	lines = diag_lines(&dg, true);
	json_decref(lines);

	/* 2. the state (a corrupt one stops us: starting without it would
	 * drop the containers it names from enforcement) */
	ret = state_open(o->state_dir, &d->inv, &d->state, &e);
	if (ret < 0) {
		*err = xasprintf("state in %s: %s (the kernel keeps its table; "
				 "repair or remove the file)", o->state_dir,
				 e);
		free(e);
		policy_free(p);
		goto fail;
	}
	state_watch(d->state, d->loop, d->inv);
	if (inventory_count(d->inv))
		log_info("restored %zu containers from %s",
			 inventory_count(d->inv), o->state_dir);

	ret = nft_open(&d->nft);
	if (ret < 0) {
		*err = xasprintf("nftables netlink socket: %s", strerror(-ret));
		policy_free(p);
		goto fail;
	}
	if (!p) {
		exists = nft_table_exists(d->nft);
		if (exists <= 0) {
			ret = -EINVAL;
			*err = xasprintf("%s has %zu error%s and no table "
					 "inet %s is in the kernel: nothing "
					 "to enforce", o->policy_path,
					 dg.n_errors, dg.n_errors == 1 ? "" :
					 "s", RULESET_TABLE);
			goto fail;
		}
		log_err("%s has %zu error%s: keeping the table inet %s that "
			"is in the kernel enforcing; fix the policy and "
			"reload", o->policy_path, dg.n_errors,
			dg.n_errors == 1 ? "" : "s", RULESET_TABLE);
	}

	/* 3. br_netfilter's switches */
	bridge_sysctls();

	/* 4. one transaction replaces whatever table is there */
	if (p) {
		classify_all(p, d->inv);
		set_ruleset_opts(d, p);
		ret = commit_full(d, p, &rs, err);
		if (ret < 0) {
			policy_free(p);
			goto fail;
		}
		d->policy = p;
		d->policy_wall_ms = bh_wall_ms();
		d->rs = rs;
		log_info("enforcing %s: %zu groups, %zu flows, %zu containers",
			 o->policy_path, p->n_groups - GROUP_FIRST_USER,
			 p->n_flows, inventory_count(d->inv));
		colo_log_state(d);
	}

	/* 5. the outside world may talk to us (and change our table) */
	watch_tables(d);
	ret = start_denied(d);
	if (ret < 0)
		log_err("denied flows will not be reported: %s",
			strerror(-ret));
	ret = start_observe(d);
	if (ret < 0)
		log_err("allowed flows will not be observed: %s",
			strerror(-ret));
	ret = links_start(d->loop, &d->sink, &d->links);
	if (ret < 0)
		log_err("link watcher: %s (containers whose interface "
			"vanishes stay attached)", strerror(-ret));
	ret = policy_watch_start(d->loop, o->policy_path, on_policy_changed,
				 d, &d->pw);
	if (ret < 0)
		log_warn("cannot watch %s (%s): reload with SIGHUP or "
			 "bulkheadctl reload", o->policy_path,
			 strerror(-ret));
	ret = control_open(d->loop, o->socket_path, daemon_ops_request, d,
			   &d->ctl, &e);
	if (ret < 0) {
		*err = e;
		goto fail;
	}
	d->verify_timer = ev_timer_new(d->loop, on_verify_timer, d);
	if (o->verify_interval_s)
		ev_timer_arm(d->verify_timer, o->verify_interval_s * 1000ULL,
			     o->verify_interval_s * 1000ULL);
	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec) {
		d->watchdog = ev_timer_new(d->loop, on_watchdog, d);
		ev_timer_arm(d->watchdog, wd_usec / 2000, wd_usec / 2000);
	}
	d->ax = audit_expiry_new(d->loop, &d->policy);
	if (d->metrics) {
		uint64_t every = (uint64_t)(o->metrics_interval_s ?:
					    METRICS_INTERVAL_DEFAULT_S) * 1000;

		d->metrics_timer = ev_timer_new(d->loop, on_metrics_timer, d);
		write_metrics(d);
		ev_timer_arm(d->metrics_timer, every, every);
	}
	diags_free(&dg);
	sd_notify(0, "READY=1");
	notify_status(d);
	log_info("ready: control socket %s", o->socket_path);
	*out = d;
	return 0;
fail:
	diags_free(&dg);
	d->o.flush_on_exit = false;
	daemon_free(d);
	return ret;
}

/* ---- the cluster's membership swap (source.h, swap_remote) ---- */

/* A remote container may not take an id or an address of this host's. */
static bool remote_fits(const struct daemon *d, const struct container *c)
{
	size_t i;

	if (inventory_find(d->inv, c->id))
		return false;
	for (i = 0; i < c->n_addrs; i++)
		if (inventory_find_addr(d->inv, &c->addrs[i]))
			return false;
	return true;
}

/* Every remote container out, cs in, in one kernel transaction: a watch
 * that lost events (a compaction, a reconnect) must not leave a moment
 * where the kernel has half of the new membership. A re-read is mostly
 * what the kernel has already: only the elements of the containers that
 * differ change (one delta), or the whole table when a delta cannot
 * carry it (the first read). On failure the old membership is put back.
 * Local containers win any conflict. */
static int sink_swap_remote(void *arg, struct container **cs, size_t n,
			    char **err)
{
	struct daemon *d = arg;
	struct inventory *was = inventory_new();	/* the old ones, by id */
	struct rs_delta *delta = NULL;
	struct nft_error ne = { 0 };
	struct container *c, *o;
	bool regroup = false;
	size_t i;
	int ret = 0;

	*err = NULL;
	for (i = 0; i < inventory_count(d->inv);) {
		c = inventory_at(d->inv, i);
		if (c->source != SRC_REMOTE) {
			i++;
			continue;
		}
		/* they held their ids and addresses together: this fits */
		inventory_add(was, inventory_remove(d->inv, c->id));
	}
	for (i = 0; i < n; i++) {
		if (d->policy)
			classify(d->policy, cs[i]);
		if (!remote_fits(d, cs[i])) {
			log_warn("remote container %s of host %s: its id or an "
				 "address is this host's: left out", cs[i]->id,
				 cs[i]->host);
			container_free(cs[i]);
			continue;
		}
		inventory_add(d->inv, cs[i]);
	}
	if (!d->policy || !d->rs)
		goto done;
	/* every removal before any addition: an address may have moved
	 * from one container to another */
	delta = rs_delta_new();
	for (i = 0; i < inventory_count(was); i++) {
		o = inventory_at(was, i);
		c = inventory_find(d->inv, o->id);
		if (c && c->source == SRC_REMOTE && same_enforcement(o, c))
			continue;
		regroup |= c && c->group != o->group;
		ruleset_container_delta(d->rs, o, RS_ELEM_DEL, delta);
	}
	for (i = 0; i < inventory_count(d->inv); i++) {
		c = inventory_at(d->inv, i);
		if (c->source != SRC_REMOTE)
			continue;
		o = inventory_find(was, c->id);
		if (!o || !same_enforcement(o, c))
			ruleset_container_delta(d->rs, c, RS_ELEM_ADD, delta);
	}
	if (rs_delta_empty(delta))
		goto done;
	if (ruleset_delta_overflows(d->rs, delta))
		goto full;
	ret = nft_commit_delta(d->nft, d->rs, delta, &ne);
	if (ret == -ENOSPC)
		goto full;
	if (ret < 0) {
		*err = xasprintf("the kernel refused the change: %s",
				 ne.msg[0] ? ne.msg : strerror(-ret));
		goto undo;
	}
	d->n_delta++;
	ruleset_apply_delta(d->rs, delta);
	goto done;
full:
	ret = attach_full(d, err);
	if (ret == 0)
		goto done;
undo:
	for (i = 0; i < inventory_count(d->inv);) {
		c = inventory_at(d->inv, i);
		if (c->source == SRC_REMOTE)
			container_free(inventory_remove(d->inv, c->id));
		else
			i++;
	}
	while (inventory_count(was)) {
		o = inventory_at(was, 0);
		inventory_add(d->inv, inventory_remove(was, o->id));
	}
	goto out;
done:
	if (state_compact(d->state, d->inv) < 0)
		d->state_errors++;
	if (regroup) {
		struct conntrack_stats st;

		cut_flows(d, &st);
	}
out:
	rs_delta_free(delta);
	inventory_free(was);
	notify_status(d);
	return ret;
}

int daemon_start_cluster(struct daemon *d, const struct cluster_opts *o,
			 char **err)
{
	struct cluster_opts co = *o;

	co.state_dir = d->o.state_dir;
	return cluster_start(d->loop, &co, &d->sink, &d->cluster, err);
}

int daemon_start_engine(struct daemon *d, const char *url)
{
	struct docker *e;
	size_t i;
	int ret;

	/* two sources for one engine would detach each other's containers */
	for (i = 0; i < d->n_engines; i++)
		if (!strcmp(d->engines[i].url, url))
			return -EEXIST;
	ret = docker_start(d->loop, url, &d->sink, &e);
	if (ret < 0)
		return ret;
	xgrow(&d->engines, &d->cap_engines, d->n_engines + 1,
	      sizeof(*d->engines));
	d->engines[d->n_engines].url = xstrdup(url);
	d->engines[d->n_engines++].src = e;
	return 0;
}

int daemon_run(struct daemon *d)
{
	return ev_run(d->loop);
}

void daemon_free(struct daemon *d)
{
	struct nft_error ne = { 0 };
	size_t i;

	if (!d)
		return;
	sd_notify(0, "STOPPING=1");
	control_close(d->ctl);
	cluster_stop(d->cluster);
	for (i = 0; i < d->n_engines; i++) {
		docker_stop(d->engines[i].src);
		free(d->engines[i].url);
	}
	free(d->engines);
	links_stop(d->links);
	/* the file's last word before the counts go (they start from zero
	 * in the next run, as Prometheus expects of a restart) */
	if (d->metrics_timer)
		write_metrics(d);
	observe_stop(d->observe);
	denied_stop(d->denied);
	if (d->o.flush_on_exit && d->nft) {
		if (nft_delete_table(d->nft, &ne) < 0)
			log_err("--flush-on-exit: %s", ne.msg);
		else
			log_info("--flush-on-exit: table removed");
	} else if (d->rs) {
		log_info("leaving table inet %s enforcing", RULESET_TABLE);
	}
	nftmon_close(d->mon);
	ev_timer_free(d->restore_timer);
	ev_timer_free(d->verify_timer);
	free(d->verify.error);
	json_decref(d->verify.report);
	nft_close(d->nft);
	policy_watch_stop(d->pw);
	ev_timer_free(d->watchdog);
	ev_timer_free(d->gc_timer);
	ev_timer_free(d->metrics_timer);
	metrics_free(d->metrics);
	audit_expiry_free(d->ax);
	for (i = 0; i < d->n_retired; i++)
		policy_free(d->retired[i].p);
	free(d->retired);
	/* a clean stop leaves one complete snapshot */
	if (d->state && d->inv && state_compact(d->state, d->inv) < 0)
		log_warn("could not compact the state in %s", d->o.state_dir);
	state_close(d->state);
	ruleset_free(d->rs);
	nft_counts_free(d->counts);
	inventory_free(d->inv);
	policy_free(d->policy);
	json_decref(d->last.errors);
	free(d->last.error);
	ev_free(d->loop);
	free(d);
}

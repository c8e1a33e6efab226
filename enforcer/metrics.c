/* Prometheus textfile metrics: the daemon's per-pair counters, the commit
 * histogram, and the rendering of the whole file (metrics.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"
#include "util.h"

/* Upper bounds in seconds: a delta commit takes well under a millisecond,
 * a full commit of 100,000 containers about a second (docs/benchmarks.md). */
static const double commit_buckets[] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 5, 10,
};
#define N_BUCKETS ARRAY_SIZE(commit_buckets)

struct pair {
	char *src, *dst, *action;	/* NULL src: an empty slot */
	uint64_t n;
};

/* Open addressing, twice METRICS_PAIRS_MAX slots: never more than half
 * full, so a probe always ends. */
#define PAIR_SLOTS (2 * METRICS_PAIRS_MAX)

struct pairs {
	struct pair *slot;		/* PAIR_SLOTS, allocated on first use */
	size_t used;
	uint64_t folded;		/* increments that went to _other */
};

struct metrics {
	struct pairs pairs[MP__N];
	uint64_t buckets[N_BUCKETS];	/* per bucket, not cumulative */
	uint64_t n_commits;
	double commit_sum;
};

static const struct {
	const char *name, *help;
} pair_family[MP__N] = {
	[MP_DENIED] = { "bulkhead_denied_packets_total",
		"Packets dropped (deny, spoof, quarantine) or that would "
		"have been (would-deny), by the groups of their two ends." },
	[MP_FLOWS] = { "bulkhead_flows_total",
		"Connections observed, by the groups of their two ends." },
};

struct metrics *metrics_new(void)
{
	return xcalloc(1, sizeof(struct metrics));
}

void metrics_free(struct metrics *m)
{
	size_t k, i;

	if (!m)
		return;
	for (k = 0; k < MP__N; k++) {
		for (i = 0; m->pairs[k].slot && i < PAIR_SLOTS; i++) {
			free(m->pairs[k].slot[i].src);
			free(m->pairs[k].slot[i].dst);
			free(m->pairs[k].slot[i].action);
		}
		free(m->pairs[k].slot);
	}
	free(m);
}

static uint32_t pair_hash(const char *src, const char *dst,
			  const char *action)
{
	return bh_str_hash(src) * 31u * 31u + bh_str_hash(dst) * 31u +
	       bh_str_hash(action);
}

static struct pair *pair_slot(struct pairs *ps, const char *src,
			      const char *dst, const char *action)
{
	size_t i = pair_hash(src, dst, action) & (PAIR_SLOTS - 1);
	struct pair *p;

	if (!ps->slot)
		ps->slot = xcalloc(PAIR_SLOTS, sizeof(*ps->slot));
	for (;; i = (i + 1) & (PAIR_SLOTS - 1)) {
		p = &ps->slot[i];
		if (!p->src || (!strcmp(p->src, src) && !strcmp(p->dst, dst) &&
				!strcmp(p->action, action)))
			return p;
	}
}

void metrics_pair_add(struct metrics *m, enum metrics_pair_kind k,
		      const char *src, const char *dst, const char *action,
		      uint64_t n)
{
	struct pairs *ps = &m->pairs[k];
	struct pair *p;

	if (!n)
		return;
	src = src && *src ? src : "*";
	dst = dst && *dst ? dst : "*";
	action = action && *action ? action : "*";
	p = pair_slot(ps, src, dst, action);
	if (!p->src) {
		/* one slot is kept for the fold of each action past the cap */
		if (ps->used >= METRICS_PAIRS_MAX - 8) {
			ps->folded += n;
			p = pair_slot(ps, METRICS_OTHER, METRICS_OTHER, action);
			if (p->src) {
				p->n += n;
				return;
			}
			if (ps->used >= METRICS_PAIRS_MAX)
				return;		/* > 8 actions: counted only
						 * as folded */
			src = dst = METRICS_OTHER;
		}
		p->src = xstrdup(src);
		p->dst = xstrdup(dst);
		p->action = xstrdup(action);
		ps->used++;
	}
	p->n += n;
}

void metrics_commit(struct metrics *m, double seconds)
{
	size_t i;

	m->n_commits++;
	m->commit_sum += seconds;
	for (i = 0; i < N_BUCKETS; i++)
		if (seconds <= commit_buckets[i])
			break;
	if (i < N_BUCKETS)
		m->buckets[i]++;
}

/* ---- rendering ---- */

/* The exposition format's label-value escapes: \\, \" and \n. */
static void put_label(struct strbuf *sb, const char *name, const char *v,
		      bool more)
{
	sb_printf(sb, "%s=\"", name);
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			sb_putc(sb, '\\');
		if (*v == '\n') {
			sb_puts(sb, "\\n");
			continue;
		}
		sb_putc(sb, *v);
	}
	sb_puts(sb, more ? "\"," : "\"");
}

static void put_head(struct strbuf *sb, const char *name, const char *type,
		     const char *help)
{
	sb_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int pair_cmp(const void *x, const void *y)
{
	const struct pair *a = *(const struct pair *const *)x;
	const struct pair *b = *(const struct pair *const *)y;
	int c = strcmp(a->src, b->src);

	if (!c)
		c = strcmp(a->dst, b->dst);
	return c ? c : strcmp(a->action, b->action);
}

static void put_pairs(struct strbuf *sb, const struct pairs *ps,
		      enum metrics_pair_kind k)
{
	const struct pair **v = NULL;
	size_t i, n = 0;

	put_head(sb, pair_family[k].name, "counter", pair_family[k].help);
	if (ps->slot) {
		v = xcalloc(ps->used ? ps->used : 1, sizeof(*v));
		for (i = 0; i < PAIR_SLOTS; i++)
			if (ps->slot[i].src)
				v[n++] = &ps->slot[i];
		qsort(v, n, sizeof(*v), pair_cmp);
	}
	for (i = 0; i < n; i++) {
		sb_printf(sb, "%s{", pair_family[k].name);
		put_label(sb, "src_group", v[i]->src, true);
		put_label(sb, "dst_group", v[i]->dst, true);
		put_label(sb, "action", v[i]->action, false);
		sb_printf(sb, "} %llu\n", (unsigned long long)v[i]->n);
	}
	free(v);
}

/* One family: HELP, TYPE, then a series per label value (label NULL: one
 * series without labels, vals[0]). */
static void put_family(struct strbuf *sb, const char *name, const char *type,
		       const char *help, const char *label,
		       const char *const *lv, const uint64_t *vals, size_t n)
{
	size_t i;

	put_head(sb, name, type, help);
	for (i = 0; i < n; i++) {
		sb_puts(sb, name);
		if (label) {
			sb_putc(sb, '{');
			put_label(sb, label, lv[i], false);
			sb_putc(sb, '}');
		}
		sb_printf(sb, " %llu\n", (unsigned long long)vals[i]);
	}
}

static void put_histogram(struct strbuf *sb, const struct metrics *m)
{
	static const char *name = "bulkhead_commit_duration_seconds";
	uint64_t cum = 0;
	size_t i;

	put_head(sb, name, "histogram", "Time to commit a change to the "
		 "kernel's tables (full and delta transactions).");
	for (i = 0; i < N_BUCKETS; i++) {
		cum += m->buckets[i];
		sb_printf(sb, "%s_bucket{le=\"%g\"} %llu\n", name,
			  commit_buckets[i], (unsigned long long)cum);
	}
	sb_printf(sb, "%s_bucket{le=\"+Inf\"} %llu\n", name,
		  (unsigned long long)m->n_commits);
	sb_printf(sb, "%s_sum %.6f\n%s_count %llu\n", name, m->commit_sum,
		  name, (unsigned long long)m->n_commits);
}

char *metrics_render(const struct metrics *m,
		     const struct metrics_snapshot *s, size_t *len)
{
	struct strbuf sb = { 0 };
	uint64_t folded = 0;
	size_t k;

	for (k = 0; k < MP__N; k++) {
		put_pairs(&sb, &m->pairs[k], k);
		folded += m->pairs[k].folded;
	}
	put_family(&sb, "bulkhead_containers", "gauge",
		   "Containers on this host, by group.", "group", s->groups,
		   s->containers, s->n_groups);
	put_family(&sb, "bulkhead_commits_total", "counter",
		   "Transactions committed to the kernel: full (the whole "
		   "table) or delta (elements only).", "kind",
		   (const char *const[]){ "delta", "full" },
		   (const uint64_t[]){ s->commits_delta, s->commits_full }, 2);
	put_histogram(&sb, m);
	put_family(&sb, "bulkhead_records_lost_total", "counter",
		   "Records lost: NFLOG messages the kernel could not deliver "
		   "(nflog), records the denied-flow file could not take "
		   "(denied_log; they still reached the ring and journald), "
		   "conntrack events of allowed flows (conntrack).", "source",
		   (const char *const[]){ "conntrack", "denied_log", "nflog" },
		   (const uint64_t[]){ s->lost_conntrack, s->lost_denied_log,
				       s->lost_nflog }, 3);
	put_family(&sb, "bulkhead_table_restores_total", "counter",
		   "Times the daemon put its tables back after someone else "
		   "changed them.", NULL, NULL, &s->restores, 1);
	put_family(&sb, "bulkhead_policy_reloads_total", "counter",
		   "Policy reloads, by result (error: the old policy kept "
		   "enforcing).", "result",
		   (const char *const[]){ "error", "ok" },
		   (const uint64_t[]){ s->reloads_failed, s->reloads_ok }, 2);
	put_family(&sb, "bulkhead_audit_expired", "gauge",
		   "1 for an audit group past its until date (enforcement "
		   "unchanged), 0 before it; audit groups with an until "
		   "only.", "group", s->audit_groups, s->audit_expired,
		   s->n_audit);
	put_family(&sb, "bulkhead_metrics_folded_total", "counter",
		   "Increments that went to the _other series because a "
		   "family had reached its cap of series.", NULL, NULL,
		   &folded, 1);
	*len = sb.len;
	return sb_steal(&sb);
}

int metrics_write(const char *path, const char *text, size_t len)
{
	return bh_write_file_atomic(path, text, len, 0644);
}

int metrics_check_path(const char *path, char **err)
{
	char *probe = xasprintf("%s.tmp.%d", path, (int)getpid());
	int fd, ret = 0;

	*err = NULL;
	fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = -errno;
		*err = xasprintf("--metrics-file %s: cannot create files "
				 "beside it: %s", path, strerror(errno));
		goto out;
	}
	close(fd);
	unlink(probe);
out:
	free(probe);
	return ret;
}

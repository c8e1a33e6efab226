/* Expired audits (include/audit_expiry.h). */
#include <stdlib.h>
#include <string.h>

#include "audit_expiry.h"
#include "log.h"
#include "util.h"

#define AUDIT_EXPIRY_EVERY_MS (3600 * 1000ULL)

struct audit_expiry {
	struct ev_timer *timer;
	struct policy *const *policy;
	int32_t day;			/* the UTC day of `logged` */
	char **logged;			/* groups logged that day */
	size_t n_logged, cap_logged;
	/* the last snapshot's series */
	const char **names;
	uint64_t *vals;
};

static bool expired(const struct group *g, int32_t today)
{
	return g->mode == MODE_AUDIT && g->until_day && today > g->until_day;
}

static void forget(struct audit_expiry *ax)
{
	size_t i;

	for (i = 0; i < ax->n_logged; i++)
		free(ax->logged[i]);
	ax->n_logged = 0;
}

static bool logged(const struct audit_expiry *ax, const char *name)
{
	size_t i;

	for (i = 0; i < ax->n_logged; i++)
		if (!strcmp(ax->logged[i], name))
			return true;
	return false;
}

void audit_expiry_check(struct audit_expiry *ax)
{
	const struct policy *p = ax ? *ax->policy : NULL;
	int32_t today = policy_today();
	const struct group *g;
	char day[16];
	size_t i;

	if (!p)
		return;
	if (today != ax->day) {
		forget(ax);
		ax->day = today;
	}
	for (i = GROUP_FIRST_USER; i < p->n_groups; i++) {
		g = &p->groups[i];
		if (!expired(g, today) || logged(ax, g->name))
			continue;
		log_warn("audit expired: group %s is in mode: audit past its "
			 "until date %s (%d day%s ago); enforcement is "
			 "unchanged: switch it to mode: enforce when "
			 "`bulkheadctl readiness` says ready, or move the date",
			 g->name, policy_day_str(g->until_day, day),
			 (int)(today - g->until_day),
			 today - g->until_day == 1 ? "" : "s");
		xgrow(&ax->logged, &ax->cap_logged, ax->n_logged + 1,
		      sizeof(*ax->logged));
		ax->logged[ax->n_logged++] = xstrdup(g->name);
	}
}

static void on_timer(struct ev_timer *t, void *arg)
{
	audit_expiry_check(arg);
}

struct audit_expiry *audit_expiry_new(struct ev_loop *loop,
				      struct policy *const *policy)
{
	struct audit_expiry *ax = xcalloc(1, sizeof(*ax));

	ax->policy = policy;
	ax->timer = ev_timer_new(loop, on_timer, ax);
	audit_expiry_check(ax);
	ev_timer_arm(ax->timer, AUDIT_EXPIRY_EVERY_MS, AUDIT_EXPIRY_EVERY_MS);
	return ax;
}

void audit_expiry_free(struct audit_expiry *ax)
{
	if (!ax)
		return;
	ev_timer_free(ax->timer);
	forget(ax);
	free(ax->logged);
	free(ax->names);
	free(ax->vals);
	free(ax);
}

json_t *audit_expiry_json(const struct policy *p, int32_t today)
{
	json_t *a = json_array();
	const struct group *g;
	char day[16];
	size_t i;

	for (i = GROUP_FIRST_USER; p && i < p->n_groups; i++) {
		g = &p->groups[i];
		if (expired(g, today))
			json_array_append_new(a, json_pack(
				"{s:s, s:s, s:i}", "group", g->name, "until",
				policy_day_str(g->until_day, day), "days_past",
				(int)(today - g->until_day)));
	}
	return a;
}

void audit_expiry_snapshot(struct audit_expiry *ax, const struct policy *p,
			   int32_t today, struct metrics_snapshot *s)
{
	const struct group *g;
	size_t i, n = 0;

	free(ax->names);
	free(ax->vals);
	ax->names = xcalloc(p ? p->n_groups + 1 : 1, sizeof(*ax->names));
	ax->vals = xcalloc(p ? p->n_groups + 1 : 1, sizeof(*ax->vals));
	for (i = GROUP_FIRST_USER; p && i < p->n_groups; i++) {
		g = &p->groups[i];
		if (g->mode != MODE_AUDIT || !g->until_day)
			continue;
		ax->names[n] = g->name;
		ax->vals[n++] = expired(g, today);
	}
	s->audit_groups = ax->names;
	s->audit_expired = ax->vals;
	s->n_audit = n;
}

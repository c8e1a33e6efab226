/* Co-location of sensitivity levels on one kernel (colocation.h). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "colocation.h"

unsigned colocation_levels(const struct policy *p, const struct container *c)
{
	struct policy_facts f;

	/* another host's container shares our sets, not our kernel */
	if (c->quarantined || c->source == SRC_REMOTE)
		return 0;
	policy_facts_container(p, c->group, c->labels, c->n_labels, &f);
	return f.sens;
}

json_t *colocation_levels_json(const struct policy *p,
			       const struct inventory *inv)
{
	size_t cnt[SENS_RESTRICTED + 1] = { 0 }, i;
	json_t *o = json_object();
	unsigned lv;
	int l;

	for (i = 0; p && i < inventory_count(inv); i++) {
		lv = colocation_levels(p, inventory_at(inv, i));
		for (l = SENS_UNSET; l <= SENS_RESTRICTED; l++)
			cnt[l] += !!(lv & 1u << l);
	}
	for (l = SENS_UNSET; l <= SENS_RESTRICTED; l++)
		if (cnt[l])
			json_object_set_new(o, policy_sens_str(
				(enum sensitivity)l), json_integer(
				(json_int_t)cnt[l]));
	return o;
}

static int arrival_cmp(const void *x, const void *y)
{
	const struct container *a = *(const struct container *const *)x;
	const struct container *b = *(const struct container *const *)y;

	if (a->since_ms != b->since_ms)
		return a->since_ms < b->since_ms ? -1 : 1;
	return strcmp(a->id, b->id);
}

static void index_keep(struct colo_index *x, const struct policy *p,
		       const struct container *const *first,
		       const struct container *last);

/* colocation_decide, and what it leaves in x (NULL: nothing kept) */
static void decide(const struct policy *p, const struct inventory *inv,
		   struct colo_result *r, struct colo_index *keep)
{
	/* the first running container of each level */
	const struct container *first[SENS_RESTRICTED + 1] = { 0 };
	size_t n = inventory_count(inv), i, cap = 0;
	const struct container **order;
	unsigned lv, running = 0;
	int a, b;

	memset(r, 0, sizeof(*r));
	if (p->colo_mode == COLO_OFF || !n) {
		if (keep)
			index_keep(keep, p, first, NULL);
		return;
	}
	order = xmalloc(n * sizeof(*order));
	for (i = 0; i < n; i++)
		order[i] = inventory_at(inv, i);
	qsort(order, n, sizeof(*order), arrival_cmp);
	for (i = 0; i < n; i++) {
		const struct container *c = order[i];
		struct colo_conflict *x = NULL;

		lv = colocation_levels(p, c);
		for (a = SENS_RESTRICTED; a >= SENS_UNSET && !x; a--) {
			if (!(lv & 1u << a) || !(p->colo_forbid[a] & running))
				continue;
			for (b = SENS_RESTRICTED; b >= SENS_UNSET; b--) {
				if (!(p->colo_forbid[a] & running & 1u << b))
					continue;
				xgrow(&r->v, &cap, r->n + 1, sizeof(*r->v));
				x = &r->v[r->n++];
				x->c = c;
				x->level = (enum sensitivity)a;
				x->with = first[b];
				x->with_level = (enum sensitivity)b;
				break;
			}
		}
		if (x && p->colo_mode == COLO_ENFORCE)
			continue;
		for (a = SENS_UNSET; a <= SENS_RESTRICTED; a++)
			if (lv & 1u << a && !first[a])
				first[a] = c;
		running |= lv;
	}
	if (keep)
		index_keep(keep, p, first, order[n - 1]);
	free(order);
}

void colocation_decide(const struct policy *p, const struct inventory *inv,
		       struct colo_result *r)
{
	decide(p, inv, r, NULL);
}

uint8_t colocation_arrival(const struct policy *p, const struct inventory *inv,
			   const struct container *c)
{
	unsigned running = 0, lv = colocation_levels(p, c);
	size_t i;
	int a;

	if (p->colo_mode == COLO_OFF || !lv)
		return COLO_NONE;
	for (i = 0; i < inventory_count(inv); i++) {
		const struct container *e = inventory_at(inv, i);

		if (e->colo == COLO_HELD || !strcmp(e->id, c->id))
			continue;
		if (arrival_cmp(&e, &c) < 0)
			running |= colocation_levels(p, e);
	}
	for (a = SENS_UNSET; a <= SENS_RESTRICTED; a++)
		if (lv & 1u << a && p->colo_forbid[a] & running)
			return p->colo_mode == COLO_ENFORCE ? COLO_HELD :
							      COLO_MIXING;
	return COLO_NONE;
}

/* ---- the index: the common changes without a sort of every container */

static void index_keep(struct colo_index *x, const struct policy *p,
		       const struct container *const *first,
		       const struct container *last)
{
	int l;

	memset(x, 0, offsetof(struct colo_index, n_scans));
	x->p = p;
	for (l = SENS_UNSET; l <= SENS_RESTRICTED; l++)
		if (first[l]) {
			strcpy(x->first_id[l], first[l]->id);
			x->first_since[l] = first[l]->since_ms;
		}
	if (last) {
		strcpy(x->last_id, last->id);
		x->last_since = last->since_ms;
	}
}

void colocation_index_reset(struct colo_index *x)
{
	x->p = NULL;
}

/* c arrived after the latest the index has seen */
static bool after_last(const struct colo_index *x, const struct container *c)
{
	if (!x->last_id[0])
		return true;
	if (c->since_ms != x->last_since)
		return c->since_ms > x->last_since;
	return strcmp(c->id, x->last_id) > 0;
}

/* Each level's first running container is still there, running, with
 * that level and arrival: then the levels that run at any time are
 * those the index says. A container gone or changed that was no first
 * changed no one's state (a held one counts for nothing, a later one of
 * a level runs after its first). */
static bool index_holds(const struct colo_index *x, const struct policy *p,
			const struct inventory *inv)
{
	const struct container *c;
	int l;

	if (x->p != p)
		return false;
	for (l = SENS_UNSET; l <= SENS_RESTRICTED; l++) {
		if (!x->first_id[l][0])
			continue;
		c = inventory_find(inv, x->first_id[l]);
		if (!c || c->colo == COLO_HELD ||
		    c->since_ms != x->first_since[l] ||
		    !(colocation_levels(p, c) & 1u << l))
			return false;
	}
	return true;
}

static bool is_first(const struct colo_index *x, const char *id)
{
	int l;

	for (l = SENS_UNSET; l <= SENS_RESTRICTED; l++)
		if (!strcmp(x->first_id[l], id))
			return true;
	return false;
}

/* The levels that run when c arrives, from the firsts (c not one). */
static unsigned running_at(const struct colo_index *x,
			   const struct container *c)
{
	unsigned running = 0;
	int l;

	for (l = SENS_UNSET; l <= SENS_RESTRICTED; l++) {
		if (!x->first_id[l][0])
			continue;
		if (x->first_since[l] < c->since_ms ||
		    (x->first_since[l] == c->since_ms &&
		     strcmp(x->first_id[l], c->id) < 0))
			running |= 1u << l;
	}
	return running;
}

uint8_t colocation_arrival_index(const struct colo_index *x,
				 const struct policy *p,
				 const struct inventory *inv,
				 const struct container *c)
{
	unsigned lv, running;
	int a;

	if (p->colo_mode == COLO_OFF)
		return COLO_NONE;
	if (!index_holds(x, p, inv) || is_first(x, c->id))
		return colocation_arrival(p, inv, c);
	lv = colocation_levels(p, c);
	running = running_at(x, c);
	for (a = SENS_UNSET; a <= SENS_RESTRICTED; a++)
		if (lv & 1u << a && p->colo_forbid[a] & running)
			return p->colo_mode == COLO_ENFORCE ? COLO_HELD :
							      COLO_MIXING;
	return COLO_NONE;
}

/* c, new and the latest, against the levels that run: its conflict as
 * colocation_decide would give it (the same choice of levels), into r. */
static void latest_conflict(const struct colo_index *x, const struct policy *p,
			    const struct inventory *inv,
			    const struct container *c, struct colo_result *r)
{
	unsigned lv = colocation_levels(p, c), running = running_at(x, c);
	int a, b;

	for (a = SENS_RESTRICTED; a >= SENS_UNSET; a--) {
		if (!(lv & 1u << a) || !(p->colo_forbid[a] & running))
			continue;
		for (b = SENS_RESTRICTED; b >= SENS_UNSET; b--) {
			if (!(p->colo_forbid[a] & running & 1u << b))
				continue;
			r->v = xcalloc(1, sizeof(*r->v));
			r->n = 1;
			r->v[0].c = c;
			r->v[0].level = (enum sensitivity)a;
			r->v[0].with = inventory_find(inv, x->first_id[b]);
			r->v[0].with_level = (enum sensitivity)b;
			return;
		}
	}
}

size_t colocation_update(struct colo_index *x, const struct policy *p,
			 const struct inventory *inv,
			 const struct container *added,
			 struct colo_result *r, struct colo_change **out)
{
	uint8_t want;
	int l;

	memset(r, 0, sizeof(*r));
	*out = NULL;
	if (p->colo_mode == COLO_OFF) {
		colocation_index_reset(x);
		return 0;
	}
	if (!index_holds(x, p, inv))
		goto scan;
	/* an earlier arrival (or a relabel: it keeps its arrival) with a
	 * level may change the state of those after it */
	if (added && !after_last(x, added) && colocation_levels(p, added))
		goto scan;
	x->n_fast++;
	if (!added)
		return 0;	/* no first gone: no one's state changed */
	latest_conflict(x, p, inv, added, r);
	if (after_last(x, added)) {
		strcpy(x->last_id, added->id);
		x->last_since = added->since_ms;
	}
	want = !r->n ? COLO_NONE : p->colo_mode == COLO_ENFORCE ?
	       COLO_HELD : COLO_MIXING;
	if (want != COLO_HELD)
		for (l = SENS_UNSET; l <= SENS_RESTRICTED; l++)
			if (colocation_levels(p, added) & 1u << l &&
			    !x->first_id[l][0]) {
				strcpy(x->first_id[l], added->id);
				x->first_since[l] = added->since_ms;
			}
	if (want == added->colo)
		return 0;
	*out = xmalloc(sizeof(**out));
	(*out)[0].c = (struct container *)added;
	(*out)[0].to = want;
	(*out)[0].why = r->n ? &r->v[0] : NULL;
	return 1;
scan:
	x->n_scans++;
	decide(p, inv, r, x);
	return colocation_changes(p, inv, r, out);
}

void colo_result_free(struct colo_result *r)
{
	if (!r)
		return;
	free(r->v);
	memset(r, 0, sizeof(*r));
}

const struct colo_conflict *colocation_conflict(const struct colo_result *r,
						const struct container *c)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (r->v[i].c == c)
			return &r->v[i];
	return NULL;
}

static int by_container(const void *x, const void *y)
{
	const struct colo_conflict *a = *(const struct colo_conflict *const *)x;
	const struct colo_conflict *b = *(const struct colo_conflict *const *)y;

	return a->c < b->c ? -1 : a->c > b->c;
}

size_t colocation_changes(const struct policy *p, const struct inventory *inv,
			  const struct colo_result *r,
			  struct colo_change **out)
{
	uint8_t want = p->colo_mode == COLO_ENFORCE ? COLO_HELD : COLO_MIXING;
	const struct colo_conflict **idx, **hit, *key;
	struct colo_conflict key_c = { 0 };
	size_t n = 0, cap = 0, i;
	const struct colo_conflict *x;

	*out = NULL;
	/* by container, for a lookup per container: a scan of the
	 * conflicts per container was quadratic (2.3 s at 100,000) */
	idx = xmalloc((r->n + 1) * sizeof(*idx));
	for (i = 0; i < r->n; i++)
		idx[i] = &r->v[i];
	qsort(idx, r->n, sizeof(*idx), by_container);
	for (i = 0; i < inventory_count(inv); i++) {
		struct container *c = inventory_at(inv, i);
		uint8_t to;

		key_c.c = c;
		key = &key_c;
		hit = r->n ? bsearch(&key, idx, r->n, sizeof(*idx),
				     by_container) : NULL;
		x = hit ? *hit : NULL;
		to = x ? want : COLO_NONE;
		if (to == c->colo)
			continue;
		xgrow(out, &cap, n + 1, sizeof(**out));
		(*out)[n].c = c;
		(*out)[n].to = to;
		(*out)[n].why = x;
		n++;
	}
	free(idx);
	return n;
}

void colocation_mark(const struct policy *p, struct inventory *inv)
{
	struct colo_change *ch;
	struct colo_result r;
	size_t n, i;

	colocation_decide(p, inv, &r);
	n = colocation_changes(p, inv, &r, &ch);
	for (i = 0; i < n; i++)
		ch[i].c->colo = ch[i].to;
	free(ch);
	colo_result_free(&r);
}

char *colocation_text(const struct policy *p, const struct colo_change *x)
{
	const struct colo_conflict *w = x->why;

	(void)p;
	if (!w)
		return xasprintf("container %s (%s) no longer mixes sensitivity levels on this host%s",
				 x->c->name, x->c->id,
				 x->c->colo == COLO_HELD ?
				 ": it leaves quarantine" : "");
	return xasprintf("container %s (%s, %s) shares this host's kernel with %s (%s, %s): NIST SP 800-190 4.3.4 keeps these levels on separate hosts%s",
			 x->c->name, x->c->id, policy_sens_str(w->level),
			 w->with->name, w->with->id,
			 policy_sens_str(w->with_level),
			 x->to == COLO_HELD ?
			 "; it is held in quarantine until the conflict ends" :
			 "");
}

static json_t *side_json(const struct policy *p, const struct container *c,
			 enum sensitivity lvl)
{
	char buf[BH_ADDR_STRLEN];
	json_t *o = json_object();
	unsigned g = c->group;

	if (c->n_addrs)
		json_object_set_new(o, "ip", json_string(
			bh_addr_str(&c->addrs[0], buf)));
	json_object_set_new(o, "group", json_string(
		g < p->n_groups ? p->groups[g].name : "unassigned"));
	json_object_set_new(o, "container", json_pack("{s:s, s:s}", "id",
						      c->id, "name", c->name));
	json_object_set_new(o, "sensitivity",
			    json_string(policy_sens_str(lvl)));
	return o;
}

json_t *colocation_record_json(const struct policy *p,
			       const struct colo_change *x, uint64_t now_ms)
{
	const struct colo_conflict *w = x->why;
	json_t *o = json_object(), *ev, *bh;
	char t[32], *msg = colocation_text(p, x);
	const char *what = x->to == COLO_HELD ? "held" :
			   x->to == COLO_MIXING ? "mixing" : "released";

	json_object_set_new(o, "@timestamp", json_string(bh_rfc3339(now_ms, t)));
	json_object_set_new(o, "schema", json_integer(1));
	ev = json_pack("{s:s, s:[s], s:[s], s:s, s:s, s:s, s:s}", "kind",
		       "alert", "category", "host", "type", "info", "dataset",
		       "bulkhead.denied", "action", "colocation", "start", t,
		       "end", t);
	json_object_set_new(o, "event", ev);
	json_object_set_new(o, "message", json_string(msg));
	json_object_set_new(o, "source", side_json(p, x->c,
			    w ? w->level : SENS_UNSET));
	if (w)
		json_object_set_new(o, "destination",
				    side_json(p, w->with, w->with_level));
	bh = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "record",
		       "colocation", "colocation", what, "mode",
		       p->colo_mode == COLO_ENFORCE ? "enforce" : "warn",
		       "nist", "SP 800-190 4.3.4", "packets", (json_int_t)0,
		       "bytes", (json_int_t)0, "unlogged", (json_int_t)0,
		       "lost", (json_int_t)0);
	json_object_set_new(o, "bulkhead", bh);
	free(msg);
	return o;
}

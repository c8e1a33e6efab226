/* Allowed-flow aggregation (flowobs.h). Two tables:
 * - connections by conntrack id, filled at NEW: a DESTROY is counted
 *   under the groups its connection had when it opened, also when a
 *   container has gone or changed group since. Capped; a DESTROY whose
 *   NEW found no room (or came before the daemon) is attributed when it
 *   arrives.
 * - this window's aggregates by (source group, destination group,
 *   protocol, destination port), emitted and emptied at its end. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <unistd.h>

#include "explain.h"
#include "flowlog.h"
#include "flowobs.h"

#define FLOWOBS_LCACHE_BUCKETS 1024
#define FLOWOBS_LCACHE_SLACK 1024	/* entries beyond the inventory's */

struct lcache;

struct key {
	char sg[POLICY_NAME_MAX + 1], dg[POLICY_NAME_MAX + 1];
	uint8_t proto;
	bool has_port;
	uint16_t dport;
	/* each side's label set (lcache's hash; 0: no container): an allow
	 * record never merges containers whose labels differ, so that a
	 * replay can reclassify every record by them */
	uint32_t sl, dl;
};

struct who {			/* the container on one side, or none */
	char *id, *name;
	json_t *labels;			/* its labels at NEW */
	uint32_t lhash;			/* of labels; 0: none */
};

struct conn {
	struct conn *next;
	uint32_t id;
	uint32_t gen;			/* the resync that last saw it */
	struct key k;
	struct who s, d;
};

struct aside {
	bool any, one_addr;
	struct bh_addr addr;
	bool one_c, have_c;
	struct who c;			/* the one container, while one_c */
	/* the side's label set: what a replay needs to reclassify it
	 * (bulkheadctl diff). The key keeps sets apart, so it is lost only
	 * to a collision of their hashes (then the side has none). */
	bool one_labels;
	json_t *labels;
	char *names[FLOWOBS_NAMES_MAX];
	size_t n_names;
};

struct agg {
	struct agg *next;
	uint32_t hash;
	struct key k;
	uint8_t family;			/* 0 mixed */
	bool family_set;
	struct aside s, d;
	uint64_t first_ms, last_ms;
	uint64_t connections, ended, packets, bytes;
	char rule[POLICY_NAME_MAX + 64];	/* explain's, "" for none */
	bool ingress;
};

struct flowobs {
	struct flowobs_opts o;
	uint32_t window_ms;
	uint64_t window_start;
	struct flowlog *attr;		/* attribution only: never emits */
	/* the rule of a record (explain.h), its policy and this host */
	const struct policy *p;
	const struct inventory *inv;
	struct explain_host host;
	char policy_hash[POLICY_HASH_STRLEN];
	char host_name[256];
	struct conn **cb;
	size_t ncb, n_conns;
	struct agg **ab;
	size_t nab, n_aggs;
	uint32_t gen;
	bool resync_count;
	uint64_t seq, pending_lost;
	struct flowobs_stats st;
	struct lcache *lc[FLOWOBS_LCACHE_BUCKETS];
	size_t n_lc;
};

/* ---- helpers */

static uint32_t key_hash(const struct key *k)
{
	uint32_t h = bh_str_hash(k->sg);

	h = h * 0x9e3779b1u ^ bh_str_hash(k->dg);
	h = h * 0x9e3779b1u ^ k->sl;
	h = h * 0x9e3779b1u ^ k->dl;
	return h * 0x9e3779b1u ^ ((uint32_t)k->proto << 17 |
				  (uint32_t)k->has_port << 16 | k->dport);
}

static bool key_eq(const struct key *a, const struct key *b)
{
	return a->proto == b->proto && a->has_port == b->has_port &&
	       a->dport == b->dport && a->sl == b->sl && a->dl == b->dl &&
	       !strcmp(a->sg, b->sg) &&
	       !strcmp(a->dg, b->dg);
}

static void who_free(struct who *w)
{
	free(w->id);
	free(w->name);
	json_decref(w->labels);
	w->id = w->name = NULL;
	w->labels = NULL;
	w->lhash = 0;
}

/* ---- the containers' labels as the records carry them, built once per
 * container (and again when they change), not per connection: a hash
 * by id, each entry checked against the container's labels before use
 * (a compare, no allocation) */

struct lcache {
	struct lcache *next;
	char *id;
	json_t *labels;
	uint32_t lhash;		/* of the set, whoever carries it; never 0 */
};

static bool lcache_fresh(const struct lcache *e, const struct container *c)
{
	const char *v;
	size_t i;

	if (json_object_size(e->labels) != c->n_labels)
		return false;
	for (i = 0; i < c->n_labels; i++) {
		v = json_string_value(json_object_get(e->labels,
						      c->labels[i].key));
		if (!v || strcmp(v, c->labels[i].value))
			return false;
	}
	return true;
}

/* The set's text with sorted keys: equal sets, equal hashes. */
static uint32_t labels_hash(const json_t *labels)
{
	char *t = json_dumps(labels, JSON_COMPACT | JSON_SORT_KEYS);
	uint32_t h = bh_str_hash(t ? t : "") | 1;

	free(t);
	return h;
}

static json_t *labels_of(struct flowobs *fo, const struct container *c,
			 uint32_t *lhash)
{
	size_t b = bh_str_hash(c->id) & (FLOWOBS_LCACHE_BUCKETS - 1);
	struct lcache *e;

	for (e = fo->lc[b]; e; e = e->next)
		if (!strcmp(e->id, c->id))
			break;
	if (e && lcache_fresh(e, c)) {
		*lhash = e->lhash;
		return json_incref(e->labels);
	}
	if (!e) {
		e = xcalloc(1, sizeof(*e));
		e->id = xstrdup(c->id);
		e->next = fo->lc[b];
		fo->lc[b] = e;
		fo->n_lc++;
	}
	json_decref(e->labels);
	e->labels = flowlog_labels_json(c);
	e->lhash = labels_hash(e->labels);
	*lhash = e->lhash;
	return json_incref(e->labels);
}

/* Entries of gone containers go at a window's end once they could
 * outnumber the live ones: memory stays bounded by the inventory. */
static void lcache_clear(struct flowobs *fo)
{
	struct lcache *e, *next;
	size_t i;

	for (i = 0; i < FLOWOBS_LCACHE_BUCKETS; i++) {
		for (e = fo->lc[i]; e; e = next) {
			next = e->next;
			free(e->id);
			json_decref(e->labels);
			free(e);
		}
		fo->lc[i] = NULL;
	}
	fo->n_lc = 0;
}

/* The labels are taken at NEW: its DESTROY may come after the container
 * has gone. */
static void who_set(struct flowobs *fo, struct who *w,
		    const struct container *c)
{
	w->id = c ? xstrdup(c->id) : NULL;
	w->name = c && c->name ? xstrdup(c->name) : NULL;
	w->lhash = 0;
	w->labels = c ? labels_of(fo, c, &w->lhash) : NULL;
}

static void who_copy(struct who *to, const struct who *from)
{
	to->id = from->id ? xstrdup(from->id) : NULL;
	to->name = from->name ? xstrdup(from->name) : NULL;
	to->labels = json_incref(from->labels);
	to->lhash = from->lhash;
}

/* ---- connections by conntrack id */

static size_t conn_slot(const struct flowobs *fo, uint32_t id)
{
	return (id * 0x9e3779b1u) & (fo->ncb - 1);
}

static struct conn **conn_find(struct flowobs *fo, uint32_t id)
{
	struct conn **pp;

	for (pp = &fo->cb[conn_slot(fo, id)]; *pp; pp = &(*pp)->next)
		if ((*pp)->id == id)
			return pp;
	return NULL;
}

static void conn_grow(struct flowobs *fo)
{
	size_t nb = fo->ncb * 2, i;
	struct conn **b = xcalloc(nb, sizeof(*b)), *c, *next;

	for (i = 0; i < fo->ncb; i++)
		for (c = fo->cb[i]; c; c = next) {
			next = c->next;
			c->next = b[(c->id * 0x9e3779b1u) & (nb - 1)];
			b[(c->id * 0x9e3779b1u) & (nb - 1)] = c;
		}
	free(fo->cb);
	fo->cb = b;
	fo->ncb = nb;
}

static void conn_free(struct conn *c)
{
	who_free(&c->s);
	who_free(&c->d);
	free(c);
}

/* ---- attribution */

/* false: neither side is a container, not ours to observe */
static bool attribute(struct flowobs *fo, const struct flowobs_event *e,
		      struct key *k, const struct container **sc,
		      const struct container **dc)
{
	const char *sg = flowlog_attribute_addr(fo->attr, &e->src, sc);
	const char *dg = flowlog_attribute_addr(fo->attr, &e->dst, dc);

	if (!*sc && !*dc)
		return false;
	memset(k, 0, sizeof(*k));
	snprintf(k->sg, sizeof(k->sg), "%s", sg ? sg : "");
	snprintf(k->dg, sizeof(k->dg), "%s", dg ? dg : "");
	k->proto = e->proto;
	k->has_port = e->has_port;
	k->dport = e->has_port ? e->dport : 0;
	return true;
}

/* ---- aggregates */

static void aside_add(struct aside *a, const struct bh_addr *addr,
		      const struct who *w)
{
	size_t i;

	if (!a->any) {
		a->any = a->one_addr = true;
		a->addr = *addr;
		a->one_c = true;
		a->have_c = w->id != NULL;
		if (w->id)
			who_copy(&a->c, w);
		a->one_labels = w->labels != NULL;
		a->labels = json_incref(w->labels);
	} else {
		if (a->one_labels && (!w->labels ||
				      !json_equal(a->labels, w->labels))) {
			a->one_labels = false;
			json_decref(a->labels);
			a->labels = NULL;
		}
		if (a->one_addr && !bh_addr_eq(&a->addr, addr))
			a->one_addr = false;
		if (a->one_c && (a->have_c != (w->id != NULL) ||
				 (w->id && strcmp(a->c.id, w->id)))) {
			a->one_c = false;
			who_free(&a->c);
		}
	}
	if (!w->name)
		return;
	for (i = 0; i < a->n_names; i++)
		if (!strcmp(a->names[i], w->name))
			return;
	if (a->n_names < FLOWOBS_NAMES_MAX)
		a->names[a->n_names++] = xstrdup(w->name);
}

static void aside_free(struct aside *a)
{
	size_t i;

	who_free(&a->c);
	json_decref(a->labels);
	for (i = 0; i < a->n_names; i++)
		free(a->names[i]);
}

static struct agg *agg_get(struct flowobs *fo, const struct key *k)
{
	uint32_t h = key_hash(k);
	struct agg *a;

	for (a = fo->ab[h & (fo->nab - 1)]; a; a = a->next)
		if (a->hash == h && key_eq(&a->k, k))
			return a;
	if (fo->n_aggs + 1 > fo->nab) {
		size_t nb = fo->nab * 2, i;
		struct agg **b = xcalloc(nb, sizeof(*b)), *next;

		for (i = 0; i < fo->nab; i++)
			for (a = fo->ab[i]; a; a = next) {
				next = a->next;
				a->next = b[a->hash & (nb - 1)];
				b[a->hash & (nb - 1)] = a;
			}
		free(fo->ab);
		fo->ab = b;
		fo->nab = nb;
	}
	a = xcalloc(1, sizeof(*a));
	a->hash = h;
	a->k = *k;
	a->next = fo->ab[h & (fo->nab - 1)];
	fo->ab[h & (fo->nab - 1)] = a;
	fo->n_aggs++;
	return a;
}

/* What explain says of the aggregate's first connection: the rule that
 * let it through, the same name a denied record of it would carry. Once
 * per aggregate and window, not per connection. */
static void agg_rule(struct flowobs *fo, struct agg *a,
		     const struct flowobs_event *e, const struct who *d)
{
	struct explain_result r;

	a->ingress = d->id != NULL;
	a->rule[0] = '\0';
	if (!fo->p)
		return;
	explain_decide(fo->p, fo->inv, &fo->host, &e->src, &e->dst, e->proto,
		       e->has_port ? e->dport : 0, &r);
	explain_rule_name(fo->p, &r, a->rule, sizeof(a->rule));
}

static void agg_note(struct flowobs *fo, const struct key *k,
		     const struct flowobs_event *e, const struct who *s,
		     const struct who *d, bool opened)
{
	struct key kl = *k;
	struct agg *a;

	kl.sl = s->lhash;
	kl.dl = d->lhash;
	a = agg_get(fo, &kl);

	if (!a->connections && !a->ended) {
		a->first_ms = a->last_ms = e->wall_ms;
		agg_rule(fo, a, e, d);
	} else {
		if (e->wall_ms < a->first_ms)
			a->first_ms = e->wall_ms;
		if (e->wall_ms > a->last_ms)
			a->last_ms = e->wall_ms;
	}
	if (!a->family_set) {
		a->family_set = true;
		a->family = e->src.family;
	} else if (a->family != e->src.family) {
		a->family = 0;
	}
	aside_add(&a->s, &e->src, s);
	aside_add(&a->d, &e->dst, d);
	if (opened) {
		a->connections++;
		fo->st.connections++;
	} else {
		a->ended++;
		a->packets += e->packets;
		a->bytes += e->bytes;
		fo->st.ended++;
		fo->st.packets += e->packets;
		fo->st.bytes += e->bytes;
	}
}

/* ---- events */

/* true: a connection of ours that was not tracked yet */
static bool on_new(struct flowobs *fo, const struct flowobs_event *e,
		   bool count)
{
	const struct container *sc, *dc;
	struct conn *c, **pp = conn_find(fo, e->id);
	struct key k;

	if (pp) {
		/* seen again (a resync, or an id reused after a lost
		 * DESTROY): it is open, so keep what it has */
		(*pp)->gen = fo->gen;
		return false;
	}
	if (!attribute(fo, e, &k, &sc, &dc)) {
		fo->st.ignored++;
		return false;
	}
	if (fo->n_conns < fo->o.max_conns) {
		c = xcalloc(1, sizeof(*c));
		c->id = e->id;
		c->gen = fo->gen;
		c->k = k;
		who_set(fo, &c->s, sc);
		who_set(fo, &c->d, dc);
		if (fo->n_conns + 1 > fo->ncb)
			conn_grow(fo);
		c->next = fo->cb[conn_slot(fo, e->id)];
		fo->cb[conn_slot(fo, e->id)] = c;
		fo->n_conns++;
		if (count)
			agg_note(fo, &k, e, &c->s, &c->d, true);
		return true;
	}
	fo->st.untracked++;
	if (count) {
		struct who s, d;

		who_set(fo, &s, sc);
		who_set(fo, &d, dc);
		agg_note(fo, &k, e, &s, &d, true);
		who_free(&s);
		who_free(&d);
	}
	return true;
}

static void on_destroy(struct flowobs *fo, const struct flowobs_event *e)
{
	const struct container *sc, *dc;
	struct conn **pp = conn_find(fo, e->id), *c;
	struct who s, d;
	struct key k;

	if (pp) {
		c = *pp;
		*pp = c->next;
		fo->n_conns--;
		agg_note(fo, &c->k, e, &c->s, &c->d, false);
		conn_free(c);
		return;
	}
	if (!attribute(fo, e, &k, &sc, &dc)) {
		fo->st.ignored++;
		return;
	}
	who_set(fo, &s, sc);
	who_set(fo, &d, dc);
	agg_note(fo, &k, e, &s, &d, false);
	who_free(&s);
	who_free(&d);
}

void flowobs_event(struct flowobs *fo, const struct flowobs_event *e)
{
	fo->st.events++;
	if (!(fo->gen & 1)) {
		if (e->destroy)
			on_destroy(fo, e);
		else
			on_new(fo, e, true);
		return;
	}
	/* a resync's dump: a connection of ours not tracked opened while
	 * we could not see it (its NEW was lost) */
	if (!e->destroy && on_new(fo, e, fo->resync_count) &&
	    fo->resync_count) {
		fo->st.lost_new++;
		fo->pending_lost++;
	}
}

/* A resync runs with an odd generation: on_new marks what the dump
 * shows, resync_end drops what it did not. */
void flowobs_resync_begin(struct flowobs *fo, bool count)
{
	fo->gen++;
	fo->resync_count = count;
}

void flowobs_resync_end(struct flowobs *fo)
{
	struct conn **pp, *c;
	size_t i;

	for (i = 0; i < fo->ncb; i++)
		for (pp = &fo->cb[i]; (c = *pp);) {
			if (c->gen == fo->gen) {
				pp = &c->next;
				continue;
			}
			*pp = c->next;
			fo->n_conns--;
			if (fo->resync_count) {
				fo->st.lost_destroy++;
				fo->pending_lost++;
			}
			conn_free(c);
		}
	fo->gen++;	/* even again: live events */
	fo->resync_count = true;
}

/* ---- windows and records */

static void fill_side(struct flowobs_side *s, const char *group,
		      const struct aside *a)
{
	s->group = group[0] ? group : NULL;
	s->one_addr = a->one_addr;
	s->addr = a->addr;
	s->container_id = a->one_c && a->have_c ? a->c.id : NULL;
	s->container_name = a->one_c && a->have_c ? a->c.name : NULL;
	s->names = (const char *const *)a->names;
	s->n_names = a->n_names;
	s->labels = a->one_labels ? a->labels : NULL;
}

static void agg_free(struct agg *a)
{
	aside_free(&a->s);
	aside_free(&a->d);
	free(a);
}

static int agg_cmp(const void *x, const void *y)
{
	const struct agg *a = *(struct agg *const *)x;
	const struct agg *b = *(struct agg *const *)y;
	int c = strcmp(a->k.sg, b->k.sg);

	if (!c)
		c = strcmp(a->k.dg, b->k.dg);
	if (!c)
		c = a->k.proto - b->k.proto;
	return c ? c : a->k.dport - b->k.dport;
}

void flowobs_flush(struct flowobs *fo, uint64_t now_ms)
{
	struct agg **all = xcalloc(fo->n_aggs + 1, sizeof(*all)), *a, *next;
	size_t i, n = 0;

	for (i = 0; i < fo->nab; i++) {
		for (a = fo->ab[i]; a; a = next) {
			next = a->next;
			all[n++] = a;
		}
		fo->ab[i] = NULL;
	}
	fo->n_aggs = 0;
	if (fo->n_lc > FLOWOBS_LCACHE_SLACK +
	    (fo->inv ? inventory_count(fo->inv) : 0))
		lcache_clear(fo);
	/* a stable order: the same traffic gives the same file */
	qsort(all, n, sizeof(*all), agg_cmp);
	for (i = 0; i < n; i++) {
		struct flowobs_rec r = {
			.seq = ++fo->seq,
			.start_ms = all[i]->first_ms,
			.end_ms = all[i]->last_ms,
			.emit_ms = now_ms,
			.proto = all[i]->k.proto,
			.family = all[i]->family,
			.has_port = all[i]->k.has_port,
			.dport = all[i]->k.dport,
			.connections = all[i]->connections,
			.ended = all[i]->ended,
			.packets = all[i]->packets,
			.bytes = all[i]->bytes,
			.lost = fo->pending_lost,
			.rule = all[i]->rule[0] ? all[i]->rule : NULL,
			.policy_hash = fo->policy_hash[0] ? fo->policy_hash :
				       NULL,
			.host_name = fo->host_name[0] ? fo->host_name : NULL,
			.ingress = all[i]->ingress,
		};

		fo->pending_lost = 0;
		fill_side(&r.src, all[i]->k.sg, &all[i]->s);
		fill_side(&r.dst, all[i]->k.dg, &all[i]->d);
		fo->st.records++;
		if (fo->o.emit)
			fo->o.emit(&r, fo->o.arg);
		agg_free(all[i]);
	}
	free(all);
}

uint64_t flowobs_tick(struct flowobs *fo, uint64_t now_ms)
{
	if (bh_window_over(fo->window_start, fo->window_ms, now_ms)) {
		flowobs_flush(fo, now_ms);
		fo->window_start = bh_window_next(fo->window_start,
						  fo->window_ms, now_ms);
	}
	return bh_window_left(fo->window_start, fo->window_ms, now_ms);
}

/* ---- life cycle */

struct flowobs *flowobs_new(const struct flowobs_opts *o, uint64_t now_ms)
{
	struct flowobs *fo = xcalloc(1, sizeof(*fo));
	struct flowlog_opts lo = { .window_ms = o->window_ms };

	fo->o = *o;
	if (!fo->o.max_conns)
		fo->o.max_conns = FLOWOBS_MAX_CONNS_DEFAULT;
	fo->attr = flowlog_new(&lo, now_ms);
	fo->window_ms = flowlog_window_ms(fo->attr);
	fo->window_start = now_ms;
	fo->ncb = 1024;
	fo->cb = xcalloc(fo->ncb, sizeof(*fo->cb));
	fo->nab = 64;
	fo->ab = xcalloc(fo->nab, sizeof(*fo->ab));
	fo->resync_count = true;
	fo->st.max_conns = fo->o.max_conns;
	/* records say which host saw them; a SIEM gathers many */
	if (gethostname(fo->host_name, sizeof(fo->host_name)) < 0)
		fo->host_name[0] = '\0';
	fo->host_name[sizeof(fo->host_name) - 1] = '\0';
	return fo;
}

void flowobs_free(struct flowobs *fo)
{
	struct conn *c, *cn;
	struct agg *a, *an;
	size_t i;

	if (!fo)
		return;
	for (i = 0; i < fo->ncb; i++)
		for (c = fo->cb[i]; c; c = cn) {
			cn = c->next;
			conn_free(c);
		}
	for (i = 0; i < fo->nab; i++)
		for (a = fo->ab[i]; a; a = an) {
			an = a->next;
			agg_free(a);
		}
	free(fo->cb);
	free(fo->ab);
	lcache_clear(fo);
	flowlog_free(fo->attr);
	explain_host_free(&fo->host);
	free(fo);
}

void flowobs_set_context(struct flowobs *fo, const struct policy *p,
			 const struct inventory *inv)
{
	flowlog_set_context(fo->attr, p, inv);
	if (p != fo->p) {
		/* the host's addresses (the `host` group) as of this policy */
		explain_host_free(&fo->host);
		if (p && explain_host_load(&fo->host) < 0)
			memset(&fo->host, 0, sizeof(fo->host));
		if (p)
			policy_hash_hex(p, fo->policy_hash);
		else
			fo->policy_hash[0] = '\0';
	}
	fo->p = p;
	fo->inv = inv;
	if (!fo->o.window_ms)
		fo->window_ms = flowlog_window_ms(fo->attr);
}

void flowobs_get_stats(const struct flowobs *fo, struct flowobs_stats *s)
{
	*s = fo->st;
	s->tracked = fo->n_conns;
	s->aggregates = fo->n_aggs;
}

uint32_t flowobs_window_ms(const struct flowobs *fo)
{
	return fo->window_ms;
}

/* ---- JSON: the denied records' shape (docs/denied-flows.md), allow;
 * the head and the sides are flowlog's own writers */

static json_t *side_json(const struct flowobs_side *s, bool port,
			 uint16_t dport)
{
	const struct flowlog_side fs = {
		.has_addr = s->one_addr, .addr = s->addr,
		.has_port = port, .port = dport, .group = s->group,
		.container_id = s->container_id,
		.container_name = s->container_name, .labels = s->labels,
	};

	return flowlog_side_json(&fs);
}

static json_t *names_json(const struct flowobs_side *s)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < s->n_names; i++)
		json_array_append_new(a, json_string(s->names[i]));
	return a;
}

json_t *flowobs_rec_json(const struct flowobs_rec *r)
{
	char pb[8];
	json_t *o, *net, *bh;

	o = flowlog_head_json(r->emit_ms, json_pack("[s,s]", "connection",
						    "allowed"),
			      "bulkhead.flows", "allow", r->start_ms,
			      r->end_ms);
	net = json_object();
	if (r->family)
		json_object_set_new(net, "type", json_string(
			r->family == AF_INET6 ? "ipv6" : "ipv4"));
	json_object_set_new(net, "transport",
			    json_string(flowlog_proto_str(r->proto, pb)));
	json_object_set_new(net, "iana_number", json_sprintf("%u", r->proto));
	json_object_set_new(net, "direction", json_string(
		r->ingress ? "ingress" : "egress"));
	json_object_set_new(o, "network", net);
	json_object_set_new(o, "source", side_json(&r->src, false, 0));
	json_object_set_new(o, "destination",
			    side_json(&r->dst, r->has_port, r->dport));
	bh = json_object();
	json_object_set_new(bh, "record", json_string("flow"));
	json_object_set_new(bh, "seq", json_integer((json_int_t)r->seq));
	json_object_set_new(bh, "connections",
			    json_integer((json_int_t)r->connections));
	json_object_set_new(bh, "ended", json_integer((json_int_t)r->ended));
	json_object_set_new(bh, "packets", json_integer((json_int_t)r->packets));
	json_object_set_new(bh, "bytes", json_integer((json_int_t)r->bytes));
	json_object_set_new(bh, "lost", json_integer((json_int_t)r->lost));
	json_object_set_new(bh, "source_containers", names_json(&r->src));
	json_object_set_new(bh, "destination_containers",
			    names_json(&r->dst));
	json_object_set_new(o, "bulkhead", bh);
	flowlog_why_json(o, r->rule, r->policy_hash, r->host_name);
	return o;
}

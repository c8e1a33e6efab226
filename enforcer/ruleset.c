/* (policy, inventory) -> the objects of table inet bulkhead (and, for
 * anti-spoofing, table bridge bulkhead). Pure and deterministic: the same
 * inputs give the same model in the same order. Elements live in flat
 * arrays with a hash index so that a container's delta costs O(1). */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ruleset.h"

#define CT_INVALID 1u
#define CT_ESTABLISHED 2u
#define CT_RELATED 4u

static const uint8_t key_len[] = {
	[RS_KEY_IPV4] = 4, [RS_KEY_IPV6] = 16, [RS_KEY_IFNAME] = 16,
	[RS_KEY_IFNAME_IPV4] = 20, [RS_KEY_IFNAME_IPV6] = 32,
	[RS_KEY_IPV4_PROTO_PORT] = 12, [RS_KEY_IPV6_PROTO_PORT] = 24,
};

static int fam_idx(int family)
{
	return family == AF_INET6 ? 1 : 0;
}

static uint32_t key_hash(const uint8_t *k, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ k[i]) * 16777619u;
	return h;
}

/* ---- sets ---- */

static uint32_t set_new(struct ruleset *rs, enum rs_table t, const char *name,
			enum rs_key key)
{
	struct rs_set *s;

	xgrow(&rs->sets, &rs->cap_sets, rs->n_sets + 1, sizeof(*rs->sets));
	s = &rs->sets[rs->n_sets];
	memset(s, 0, sizeof(*s));
	s->name = xstrdup(name);
	s->table = t;
	s->key = key;
	s->klen = key_len[key];
	return rs->n_sets++;
}

static void set_rehash(struct rs_set *s, size_t nb)
{
	size_t i;

	free(s->heads);
	s->heads = xmalloc(nb * sizeof(*s->heads));
	memset(s->heads, 0xff, nb * sizeof(*s->heads));
	s->next = xrealloc(s->next, (s->cap ? s->cap : 1) * sizeof(*s->next));
	s->nb = nb;
	for (i = 0; i < s->n; i++) {
		uint32_t b = key_hash(s->keys + i * s->klen, s->klen) & (nb - 1);

		s->next[i] = s->heads[b];
		s->heads[b] = i;
	}
}

/* The hash index is built on first use by a delta, not by ruleset_build:
 * a full commit does not wait for half a million random writes it does
 * not need. */
static void set_index(struct rs_set *s)
{
	size_t nb = 64;

	if (s->nb || s->interval)
		return;
	while (nb < s->n)
		nb *= 2;
	set_rehash(s, nb);
}

static void set_reserve(struct rs_set *s, size_t want)
{
	size_t cap = s->cap;

	if (want <= cap)
		return;
	cap = cap ? cap : 16;
	while (cap < want)
		cap *= 2;
	s->keys = xrealloc(s->keys, cap * s->klen);
	if (s->counters)
		s->objs = xrealloc(s->objs, cap * sizeof(*s->objs));
	if (s->interval)
		s->key_ends = xrealloc(s->key_ends, cap * s->klen);
	if (s->nb)
		s->next = xrealloc(s->next, cap * sizeof(*s->next));
	s->cap = cap;
}

long ruleset_set_find(const struct rs_set *s, const uint8_t *key)
{
	uint32_t i;
	size_t k;

	if (!s->nb) {
		/* not indexed yet (no delta touched it): scan */
		for (k = 0; k < s->n; k++)
			if (!memcmp(s->keys + k * s->klen, key, s->klen))
				return (long)k;
		return -1;
	}
	for (i = s->heads[key_hash(key, s->klen) & (s->nb - 1)];
	     i != UINT32_MAX; i = s->next[i])
		if (!memcmp(s->keys + (size_t)i * s->klen, key, s->klen))
			return i;
	return -1;
}

/* Append without looking for a duplicate: the caller knows it is new. */
static void set_append(struct rs_set *s, const uint8_t *key, uint32_t obj)
{
	set_reserve(s, s->n + 1);
	memcpy(s->keys + s->n * s->klen, key, s->klen);
	if (s->counters)
		s->objs[s->n] = obj;
	s->n++;
}

/* Append and index (deltas). */
static void set_push(struct rs_set *s, const uint8_t *key, uint32_t obj)
{
	uint32_t b;

	set_index(s);
	set_append(s, key, obj);
	if (s->n > s->nb * 2) {
		set_rehash(s, s->nb * 4);
		return;
	}
	b = key_hash(key, s->klen) & (s->nb - 1);
	s->next[s->n - 1] = s->heads[b];
	s->heads[b] = s->n - 1;
}

/* Unlink element i from its bucket chain. */
static void set_unlink(struct rs_set *s, uint32_t i)
{
	uint32_t *pp = &s->heads[key_hash(s->keys + (size_t)i * s->klen,
					   s->klen) & (s->nb - 1)];

	while (*pp != i)
		pp = &s->next[*pp];
	*pp = s->next[i];
}

/* Remove element i; the last element takes its place. */
static void set_remove(struct rs_set *s, uint32_t i)
{
	uint32_t last = s->n - 1, b;

	set_unlink(s, i);
	if (i != last) {
		set_unlink(s, last);
		memcpy(s->keys + (size_t)i * s->klen,
		       s->keys + (size_t)last * s->klen, s->klen);
		if (s->counters)
			s->objs[i] = s->objs[last];
		b = key_hash(s->keys + (size_t)i * s->klen, s->klen) &
		    (s->nb - 1);
		s->next[i] = s->heads[b];
		s->heads[b] = i;
	}
	s->n--;
}

static void set_free(struct rs_set *s)
{
	free(s->name);
	free(s->keys);
	free(s->key_ends);
	free(s->objs);
	free(s->heads);
	free(s->next);
}

/* Headroom for deltas: a set's size caps its elements in the kernel. */
static uint32_t set_size_for(size_t n)
{
	return (uint32_t)(n + n / 2 + 64);
}

/* ---- chains, rules, counters ---- */

static uint32_t chain_new(struct ruleset *rs, enum rs_table t, int hook,
			  int prio, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static uint32_t chain_new(struct ruleset *rs, enum rs_table t, int hook,
			  int prio, const char *fmt, ...)
{
	struct rs_chain *c;
	va_list ap;

	xgrow(&rs->chains, &rs->cap_chains, rs->n_chains + 1,
	      sizeof(*rs->chains));
	c = &rs->chains[rs->n_chains];
	memset(c, 0, sizeof(*c));
	va_start(ap, fmt);
	if (vasprintf(&c->name, fmt, ap) < 0)
		c->name = NULL;
	va_end(ap);
	if (!c->name)
		c->name = xstrdup("?");
	c->table = t;
	c->hook = hook;
	c->prio = prio;
	return rs->n_chains++;
}

static uint32_t counter_new(struct ruleset *rs, enum rs_table t,
			    const char *prefix, const char *group)
{
	struct rs_counter *c;

	xgrow(&rs->counters, &rs->cap_counters, rs->n_counters + 1,
	      sizeof(*rs->counters));
	c = &rs->counters[rs->n_counters];
	c->name = xasprintf("%s%s", prefix, group);
	c->table = t;
	return rs->n_counters++;
}

/* Rules are appended chain after chain: chain_begin() marks where a
 * chain's rules start, every rule_new() lands in it. */
static void chain_begin(struct ruleset *rs, uint32_t chain)
{
	rs->cur_chain = chain;
	rs->chains[chain].first = rs->n_rules;
	rs->chains[chain].n = 0;
}

static struct rs_rule *rule_new(struct ruleset *rs)
{
	struct rs_rule *r;

	xgrow(&rs->rules, &rs->cap_rules, rs->n_rules + 1, sizeof(*rs->rules));
	r = &rs->rules[rs->n_rules++];
	memset(r, 0, sizeof(*r));
	rs->chains[rs->cur_chain].n++;
	return r;
}

static struct rs_match *match_add(struct rs_rule *r, enum rs_match_kind k)
{
	struct rs_match *m = &r->m[r->n_m++];

	memset(m, 0, sizeof(*m));
	m->kind = k;
	return m;
}

static struct rs_stmt *stmt_add(struct rs_rule *r, enum rs_stmt_kind k)
{
	struct rs_stmt *s = &r->s[r->n_s++];

	memset(s, 0, sizeof(*s));
	s->kind = k;
	return s;
}

static void match_set(struct rs_rule *r, int family, bool daddr, bool neg,
		      uint32_t set)
{
	struct rs_match *m = match_add(r, RM_ADDR_SET);

	m->family = family;
	m->daddr = daddr;
	m->neg = neg;
	m->set = set;
}

/* The address is of a container of group g: one lookup per bit of its
 * num_reads in the bit sets of family f (index), which exist. */
static void match_group(struct rs_rule *r, const struct ruleset *rs, int f,
			bool daddr, unsigned g)
{
	struct rs_match *m = match_add(r, RM_GROUP_NUM);

	m->family = f ? 6 : 4;
	m->daddr = daddr;
	m->a = rs->groups[g].num;
	m->lo = (uint16_t)rs->groups[g].num_reads;
}

static void match_fib_local(struct rs_rule *r, bool daddr, bool neg)
{
	struct rs_match *m = match_add(r, RM_FIB_LOCAL);

	m->daddr = daddr;
	m->neg = neg;
}

static void match_nfproto(struct rs_rule *r, int family)
{
	match_add(r, RM_NFPROTO)->family = family;
}

/* ---- the build ---- */

struct build {
	struct ruleset *rs;
	const struct policy *p;
	size_t (*cnt)[2];		/* containers per group and family */
	size_t ports;			/* host-side ports of containers */
	size_t guarded[2];		/* addresses on those ports */
	bool need_containers;		/* some flow comes from world */
	bool need_world;		/* some flow names world */
	int32_t cidr_set[2];		/* cidrs_v4/_v6: union of cidrs groups */
	int32_t *cset;			/* per group*2+fam: c_<group>_vN */
	int32_t logrl[2];
	struct incidence *inc;		/* per group x {to, from} */
	/* boundaries: containers per level / risk word and family */
	size_t sens_cnt[SENS_RESTRICTED + 1][2];
	size_t (*risk_cnt)[2];
};

/* A single tcp/udp/sctp port: its accept is an element of the
 * destination's allow set when the source is a container group. Port
 * ranges, a bare protocol, icmp and any keep their own rules: an
 * interval (pipapo) set would take them, but the kernel makes a new
 * pipapo set's elements visible only after the generation that
 * activates the rules reading it, so a full commit would drop a few
 * allowed packets; hash set elements are switched with the rules. */
static bool port_in_set(const struct port_spec *ps)
{
	return (ps->proto == IPPROTO_TCP || ps->proto == IPPROTO_UDP ||
		ps->proto == IPPROTO_SCTP) &&
	       ps->lo == ps->hi;
}

static const char *fam_sfx(int f)
{
	return f ? "v6" : "v4";
}

static int fam_num(int f)
{
	return f ? 6 : 4;
}

/* Ranges of a cidrs group (or of all of them), merged, as interval
 * elements of set s. */
struct range {
	uint8_t lo[16], hi[16];
};

static int range_cmp(const void *a, const void *b)
{
	return memcmp(((const struct range *)a)->lo,
		      ((const struct range *)b)->lo, 16);
}

static void cidr_range(const struct bh_addr *a, struct range *r)
{
	size_t len = bh_addr_len(a), i;
	unsigned bits;

	memset(r, 0, sizeof(*r));
	memcpy(r->lo, a->a, len);
	memcpy(r->hi, a->a, len);
	for (i = 0; i < len; i++) {
		bits = a->plen > i * 8 ? a->plen - i * 8 : 0;
		if (bits >= 8)
			continue;
		r->hi[i] |= (uint8_t)(0xff >> bits);
	}
}

/* a + 1 == b, on len bytes big endian */
static bool adjacent(const uint8_t *a, const uint8_t *b, size_t len)
{
	uint8_t t[16];
	int i;

	memcpy(t, a, len);
	for (i = (int)len - 1; i >= 0; i--)
		if (++t[i])
			break;
	return i >= 0 && !memcmp(t, b, len);
}

static void set_fill_ranges(struct rs_set *s, struct range *r, size_t n)
{
	size_t len = s->klen, i, k = 0;

	qsort(r, n, sizeof(*r), range_cmp);
	for (i = 0; i < n; i++) {
		if (k && (memcmp(r[i].lo, r[k - 1].hi, len) <= 0 ||
			  adjacent(r[k - 1].hi, r[i].lo, len))) {
			if (memcmp(r[i].hi, r[k - 1].hi, len) > 0)
				memcpy(r[k - 1].hi, r[i].hi, len);
			continue;
		}
		r[k++] = r[i];
	}
	set_reserve(s, k);
	for (i = 0; i < k; i++) {
		memcpy(s->keys + i * len, r[i].lo, len);
		memcpy(s->key_ends + i * len, r[i].hi, len);
	}
	s->n = k;
}

static int32_t cidr_set_new(struct build *b, const char *name, int f,
			    const struct group *only)
{
	const struct policy *p = b->p;
	struct range *r = NULL;
	size_t n = 0, g, i;
	uint32_t si;
	struct rs_set *s;

	for (g = GROUP_FIRST_USER; g < p->n_groups; g++) {
		const struct group *gr = &p->groups[g];

		if (gr->kind != GK_CIDRS || (only && gr != only))
			continue;
		for (i = 0; i < gr->n_cidrs; i++) {
			if (fam_idx(gr->cidrs[i].family) != f)
				continue;
			r = xrealloc(r, (n + 1) * sizeof(*r));
			cidr_range(&gr->cidrs[i], &r[n++]);
		}
	}
	if (!n)
		return -1;
	si = set_new(b->rs, RS_INET, name, f ? RS_KEY_IPV6 : RS_KEY_IPV4);
	s = &b->rs->sets[si];
	s->interval = true;
	set_fill_ranges(s, r, n);
	free(r);
	return si;
}

static void count_containers(struct build *b, const struct inventory *inv)
{
	size_t i, j;

	for (i = 0; i < inventory_count(inv); i++) {
		const struct container *c = inventory_at(inv, i);
		unsigned g = container_in_quarantine(c) ? GROUP_QUARANTINE :
					       c->group;

		/* as ruleset_container_delta() files it */
		if (g >= b->p->n_groups || !policy_is_container_group(b->p, g))
			g = GROUP_UNASSIGNED;
		b->ports += c->n_ports;
		for (j = 0; j < c->n_addrs; j++) {
			b->cnt[g][fam_idx(c->addrs[j].family)]++;
			if (container_addr_port(c, j))
				b->guarded[fam_idx(c->addrs[j].family)]++;
		}
	}
}

/* Which of the sets of every container address and of every cidrs
 * network some rule reads. */
static void find_needs(struct build *b)
{
	const struct policy *p = b->p;
	size_t f, i, j;

	for (f = 0; f < p->n_flows; f++) {
		const struct flow *fl = &p->flows[f];

		for (i = 0; i < fl->n_from; i++)
			for (j = 0; j < fl->n_to; j++) {
				unsigned src = fl->from[i], dst = fl->to[j];

				if (src >= p->n_groups || dst >= p->n_groups ||
				    src == GROUP_QUARANTINE)
					continue;
				if (dst == GROUP_WORLD &&
				    policy_is_container_group(p, src))
					b->need_world = true;
				if (!policy_is_container_group(p, dst))
					continue;
				if (src == GROUP_WORLD)
					b->need_containers = true;
				if (src == GROUP_WORLD || dst == GROUP_WORLD)
					b->need_world = true;
			}
	}
}

static int reach_cmp(const void *x, const void *y)
{
	const struct rs_reach *a = x, *b = y;

	if (a->dst != b->dst)
		return a->dst < b->dst ? -1 : 1;
	if (a->proto != b->proto)
		return a->proto < b->proto ? -1 : 1;
	return (int)a->port - (int)b->port;
}

/* The destinations with at most RS_ALLOW_RULES_MAX entries into them
 * lose their allow set: their entries leave the sources' lists, and
 * flow_rules() writes a rule for each instead. */
static void reach_few_as_rules(struct ruleset *rs)
{
	size_t *in = xcalloc(rs->n_groups, sizeof(*in));
	size_t g, i, k;

	for (g = 0; g < rs->n_groups; g++)
		for (i = 0; i < rs->groups[g].n_reach; i++)
			in[rs->groups[g].reach[i].dst]++;
	for (g = 0; g < rs->n_groups; g++) {
		struct rs_group *rg = &rs->groups[g];

		if (rg->allow_needed && in[g] <= RS_ALLOW_RULES_MAX)
			rg->allow_needed = false;
	}
	for (g = 0; g < rs->n_groups; g++) {
		struct rs_group *rg = &rs->groups[g];

		for (i = 0, k = 0; i < rg->n_reach; i++)
			if (rs->groups[rg->reach[i].dst].allow_needed)
				rg->reach[k++] = rg->reach[i];
		rg->n_reach = k;
	}
	free(in);
}

/* For each container source group, the (destination, proto, port) its
 * containers are allowed to, sorted, each once. */
static void build_reach(struct build *b)
{
	const struct policy *p = b->p;
	struct ruleset *rs = b->rs;
	size_t f, i, j, k, g;

	for (f = 0; f < p->n_flows; f++) {
		const struct flow *fl = &p->flows[f];

		for (i = 0; i < fl->n_from; i++)
			for (j = 0; j < fl->n_to; j++) {
				unsigned src = fl->from[i], dst = fl->to[j];
				struct rs_group *rg;

				if (src >= p->n_groups || dst >= p->n_groups ||
				    src == GROUP_QUARANTINE ||
				    dst == GROUP_QUARANTINE ||
				    !policy_is_container_group(p, src) ||
				    !policy_is_container_group(p, dst))
					continue;
				rg = &rs->groups[src];
				for (k = 0; k < fl->n_ports; k++) {
					const struct port_spec *ps =
						&fl->ports[k];

					if (!port_in_set(ps))
						continue;
					xgrow(&rg->reach, &rg->cap_reach,
					      rg->n_reach + 1,
					      sizeof(*rg->reach));
					rg->reach[rg->n_reach++] =
						(struct rs_reach){
							.dst = dst,
							.proto = ps->proto,
							.port = ps->lo };
					rs->groups[dst].allow_needed = true;
				}
			}
	}
	for (g = 0; g < p->n_groups; g++) {
		struct rs_group *rg = &rs->groups[g];

		if (!rg->n_reach)
			continue;
		qsort(rg->reach, rg->n_reach, sizeof(*rg->reach), reach_cmp);
		for (i = 0, k = 0; i < rg->n_reach; i++) {
			struct rs_reach *e = &rg->reach[i], *l;

			l = k ? &rg->reach[k - 1] : NULL;
			if (l && !reach_cmp(l, e))
				continue;
			rg->reach[k++] = *e;
		}
		rg->n_reach = k;
	}
	if (!rs->opts.allow_sets_always)
		reach_few_as_rules(rs);
}

/* allow_in_<group>_vN: a family exists when some source group could
 * bring it (as its membership set would); sized for every source
 * address times its ports into the group. */
static void build_allow_sets(struct build *b)
{
	struct ruleset *rs = b->rs;
	const struct policy *p = b->p;
	size_t (*elems)[2] = xcalloc(p->n_groups, sizeof(*elems));
	bool (*fam)[2] = xcalloc(p->n_groups, sizeof(*fam));
	char name[300];
	size_t g, i;
	int f;

	for (g = 0; g < p->n_groups; g++) {
		const struct rs_group *rg = &rs->groups[g];

		for (i = 0; i < rg->n_reach; i++)
			for (f = 0; f < 2; f++) {
				elems[rg->reach[i].dst][f] += b->cnt[g][f];
				if (b->cnt[g][f] || !b->cnt[g][!f])
					fam[rg->reach[i].dst][f] = true;
			}
	}
	for (g = 0; g < p->n_groups; g++) {
		struct rs_group *rg = &rs->groups[g];

		rg->allow[0] = rg->allow[1] = -1;
		if (!rg->allow_needed)
			continue;
		for (f = 0; f < 2; f++) {
			struct rs_set *s;

			if (!fam[g][f])
				continue;
			snprintf(name, sizeof(name), "allow_in_%s_%s",
				 p->groups[g].name, fam_sfx(f));
			rg->allow[f] = set_new(rs, RS_INET, name,
					       f ? RS_KEY_IPV6_PROTO_PORT :
						   RS_KEY_IPV4_PROTO_PORT);
			s = &rs->sets[rg->allow[f]];
			s->size = set_size_for(elems[g][f]);
		}
	}
	free(elems);
	free(fam);
}


/* ---- the dispatch: group numbers spread over bit sets ---- */

static int by_bits_cmp(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	int pa = __builtin_popcount(a), pb = __builtin_popcount(b);

	if (pa != pb)
		return pa - pb;
	return a < b ? -1 : a > b;
}

/* Each container group's num_reads. A rule that asks for group n's
 * members must refuse every other group's number u: one that lacks a
 * 1-bit of n fails on that bit; one that has all of them and more (u a
 * superset of n) must fail on a 0-bit of n, and reading every 0-bit b
 * of n for which some number is a superset of n | b does it. For the
 * most numerous numbers (the most 1-bits) no other is a superset: their
 * rules read their 1-bits only. sup[m]: some group's number is a superset
 * of m (sum over supersets, one pass per bit). */
static void number_reads(struct ruleset *rs, const struct policy *p)
{
	uint32_t size = 1u << rs->n_bits, m, bit;
	bool *sup = xcalloc(size, sizeof(*sup));
	size_t g;

	for (g = 0; g < p->n_groups; g++)
		if (policy_is_container_group(p, g))
			sup[rs->groups[g].num] = true;
	for (bit = 0; bit < rs->n_bits; bit++)
		for (m = 0; m < size; m++)
			if (!(m >> bit & 1) && sup[m | 1u << bit])
				sup[m] = true;
	for (g = 0; g < p->n_groups; g++) {
		uint32_t n = rs->groups[g].num, reads = n;

		if (!policy_is_container_group(p, g))
			continue;
		for (bit = 0; bit < rs->n_bits; bit++)
			if (!(n >> bit & 1) && sup[n | 1u << bit])
				reads |= 1u << bit;
		rs->groups[g].num_reads = reads;
	}
	free(sup);
}

/* The fewest bits that number every container group (the policy loader
 * refuses more than POLICY_CONTAINER_GROUPS_MAX of them) and
 * RS_DISPATCH_SPARE_BITS more, at most RS_DISPATCH_BITS; the numbers
 * with the fewest 1-bits first, in the policy's group order: unassigned,
 * quarantine, then the label groups as the files list them. A container
 * is an element of one bit set per 1-bit, so the first groups cost the
 * fewest elements. The numbers depend on the policy alone, never on the
 * inventory: an attach and a rebuild give the same table. */
static void number_groups(struct build *b)
{
	const struct policy *p = b->p;
	struct ruleset *rs = b->rs;
	uint32_t *nums, i, n_nums;
	size_t g, n = 0;
	unsigned k = 1;

	for (g = 0; g < p->n_groups; g++)
		n += policy_is_container_group(p, g);
	while (k < RS_DISPATCH_BITS && (1u << k) - 1 < n)
		k++;
	if (!rs->opts.fewest_bits)
		k = k + RS_DISPATCH_SPARE_BITS < RS_DISPATCH_BITS ?
			    k + RS_DISPATCH_SPARE_BITS : RS_DISPATCH_BITS;
	rs->n_bits = k;
	n_nums = (1u << k) - 1;
	nums = xmalloc(n_nums * sizeof(*nums));
	for (i = 0; i < n_nums; i++)
		nums[i] = i + 1;
	qsort(nums, n_nums, sizeof(*nums), by_bits_cmp);
	for (g = 0, i = 0; g < p->n_groups && i < n_nums; g++)
		if (policy_is_container_group(p, g))
			rs->groups[g].num = nums[i++];
	free(nums);
	number_reads(rs, p);
}

/* bitN_v4 and bitN_v6 for every bit of the numbers, sized for the
 * addresses of the groups whose number has that bit. A family no
 * container has while the other has some is left out, with the trees'
 * rules that would read it (a third of each tree): the first address of
 * that family needs a full commit (rs_delta.needs_full). */
static void bit_sets(struct build *b, const size_t *total)
{
	struct ruleset *rs = b->rs;
	char name[32];
	unsigned bit;
	size_t g, n;
	int f;

	for (f = 0; f < 2; f++)
		for (bit = 0; bit < rs->n_bits; bit++) {
			rs->bits[f][bit] = -1;
			if (!total[f] && total[!f])
				continue;
			for (g = 0, n = 0; g < rs->n_groups; g++)
				if (rs->groups[g].num >> bit & 1)
					n += b->cnt[g][f];
			snprintf(name, sizeof(name), "bit%u_%s", bit,
				 fam_sfx(f));
			rs->bits[f][bit] = (int32_t)set_new(rs, RS_INET, name,
					f ? RS_KEY_IPV6 : RS_KEY_IPV4);
			rs->sets[rs->bits[f][bit]].size = set_size_for(n);
		}
}

/* The trees that read the bit sets: "to" reads the destination address
 * (it leads to in_<group>), "from" the source (out_<group>). Each is a
 * root chain and the first rules of the groups' chains. */
enum tree_kind { TREE_TO, TREE_FROM };

static const struct {
	const char *name;
	bool daddr;
} tree_kinds[] = {
	[TREE_TO] = { "to", true },
	[TREE_FROM] = { "from", false },
};

/* leaf[num]: the chain of the group with that number; leaf[0] = -1: for
 * an address of no container the tree ends without a verdict and the base
 * chain that jumped to its root goes on. cand: 0 and every number in use,
 * sorted. below[num]: the numbers that the group's own chain sends on
 * before its rules, cand[below[num].at .. + n) (n = 0: none). */
struct tree {
	enum tree_kind kind;
	int32_t *leaf;
	uint32_t *cand;
	struct { uint32_t at, n; } *below;
	size_t n;
	uint32_t root;
};

static int u32_cmp(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return a < b ? -1 : a > b;
}

/* The numbers cand[0..n), sorted, share every bit above the highest one
 * in which the first and the last differ; that bit splits them in two.
 * tree_spine() writes, into the current chain, one rule per split: the
 * numbers with the bit go to the chain of the smallest of them, and the
 * chain goes on with the others, down to cand[0]. Each call of the
 * callback gets the numbers with the bit, so that the smallest one's
 * chain can read the rest the same way before its own rules.
 * Why no chains of their own for the splits: every commit, an attach's
 * too, walks every chain of the namespace, and a chain per split made as
 * many tree chains as groups (docs/ruleset.md). */
static void tree_split(const uint32_t *cand, size_t n,
		       void (*one)(void *arg, unsigned bit, size_t m, size_t n),
		       void *arg)
{
	unsigned bit;
	size_t m;

	while (n > 1) {
		bit = 31 - (unsigned)__builtin_clz(cand[0] ^ cand[n - 1]);
		for (m = 0; !(cand[m] >> bit & 1); m++)
			;
		one(arg, bit, m, n);
		n = m;
	}
}

struct tree_walk {
	struct ruleset *rs;
	struct tree *t;
	uint32_t at;
};

/* below[] of the smallest number with the split bit: the others with it */
static void plan_one(void *arg, unsigned bit, size_t m, size_t n)
{
	struct tree_walk *w = arg;
	struct tree *t = w->t;
	uint32_t at = w->at + (uint32_t)m;

	(void)bit;
	if (n - m < 2)
		return;
	t->below[t->cand[at]].at = at;
	t->below[t->cand[at]].n = (uint32_t)(n - m);
	tree_split(t->cand + at, n - m, plan_one,
		   &(struct tree_walk){ w->rs, t, at });
}

/* ip daddr @bitN_v4 goto in_<group> comment "group number <n>", per
 * family with bit sets */
static void spine_one(void *arg, unsigned bit, size_t m, size_t n)
{
	struct tree_walk *w = arg;
	uint32_t num = w->t->cand[w->at + m];
	struct rs_rule *r;
	int f;

	(void)n;
	for (f = 0; f < 2; f++) {
		if (w->rs->bits[f][bit] < 0)
			continue;
		r = rule_new(w->rs);
		match_set(r, fam_num(f), tree_kinds[w->t->kind].daddr, false,
			  (uint32_t)w->rs->bits[f][bit]);
		r->verdict = RV_GOTO;
		r->target = (uint32_t)w->t->leaf[num];
		r->comment = xasprintf("group number %u", num);
	}
}

/* The rules that send on the numbers below num (the root: below 0, all
 * of them), into the current chain. */
static void tree_spine(struct ruleset *rs, struct tree *t, uint32_t num)
{
	uint32_t at = num ? t->below[num].at : 0;
	size_t n = num ? t->below[num].n : t->n;

	tree_split(t->cand + at, n, spine_one,
		   &(struct tree_walk){ rs, t, at });
}

/* The tree's root chain, made now so that base chains can jump to it;
 * its rules come with tree_root_rules, the groups' with their chains. */
static void tree_init(struct ruleset *rs, struct tree *t,
		      enum tree_kind kind)
{
	size_t g;

	t->kind = kind;
	t->leaf = xmalloc(((size_t)1 << rs->n_bits) * sizeof(*t->leaf));
	t->below = xcalloc((size_t)1 << rs->n_bits, sizeof(*t->below));
	t->cand = xmalloc((rs->n_groups + 1) * sizeof(*t->cand));
	t->leaf[0] = -1;
	t->n = 0;
	t->cand[t->n++] = 0;
	for (g = 0; g < rs->n_groups; g++) {
		const struct rs_group *rg = &rs->groups[g];

		if (!rg->has_chains)
			continue;
		t->leaf[rg->num] = (int32_t)(kind == TREE_TO ? rg->in_chain :
							       rg->out_chain);
		t->cand[t->n++] = rg->num;
	}
	qsort(t->cand, t->n, sizeof(*t->cand), u32_cmp);
	tree_split(t->cand, t->n, plan_one, &(struct tree_walk){ rs, t, 0 });
	/* 0 and the two built-in container groups at least */
	t->root = (uint32_t)chain_new(rs, RS_INET, RS_HOOK_NONE, 0, "%s_%u_%u",
				      tree_kinds[kind].name, t->cand[0],
				      t->cand[t->n - 1]);
}

static void tree_root_rules(struct ruleset *rs, struct tree *t)
{
	chain_begin(rs, t->root);
	tree_spine(rs, t, 0);
}

static void tree_free(struct tree *t)
{
	free(t->leaf);
	free(t->below);
	free(t->cand);
}

static void build_sets(struct build *b)
{
	struct ruleset *rs = b->rs;
	const struct policy *p = b->p;
	size_t total[2] = { 0, 0 }, g;
	char name[64];
	int f;

	for (g = 0; g < p->n_groups; g++)
		for (f = 0; f < 2; f++)
			total[f] += b->cnt[g][f];
	/* The kernel finds a set by name walking the table's list in
	 * creation order, once per rule that reads it: the sets most rules
	 * read (the log limiters: every deny chain) come first. */
	for (f = 0; f < 2; f++) {
		struct rs_set *s;

		b->logrl[f] = -1;
		if (!rs->opts.log_rate)
			continue;
		snprintf(name, sizeof(name), "logrl_%s", fam_sfx(f));
		b->logrl[f] = set_new(rs, RS_INET, name,
				      f ? RS_KEY_IPV6 : RS_KEY_IPV4);
		s = &rs->sets[b->logrl[f]];
		s->dynamic = true;
		s->timeout_ms = 60000;
		s->size = 65535;
	}
	/* read by two rules in each of the dispatch's ~2 x groups chains */
	bit_sets(b, total);
	for (f = 0; f < 2; f++) {
		rs->containers[f] = -1;
		rs->containers_needed = b->need_containers;
		if (!b->need_containers || (!total[f] && total[!f]))
			continue;
		snprintf(name, sizeof(name), "containers_%s", fam_sfx(f));
		rs->containers[f] = set_new(rs, RS_INET, name,
					    f ? RS_KEY_IPV6 : RS_KEY_IPV4);
		rs->sets[rs->containers[f]].size = set_size_for(total[f]);
	}
	for (g = GROUP_FIRST_USER; g < p->n_groups; g++) {
		if (p->groups[g].kind != GK_CIDRS)
			continue;
		for (f = 0; f < 2; f++) {
			snprintf(name, sizeof(name), "c_%s_%s",
				 p->groups[g].name, fam_sfx(f));
			b->cset[g * 2 + f] = cidr_set_new(b, name, f,
							  &p->groups[g]);
		}
	}
	for (f = 0; f < 2; f++) {
		b->cidr_set[f] = -1;
		if (!b->need_world)
			continue;
		snprintf(name, sizeof(name), "cidrs_%s", fam_sfx(f));
		b->cidr_set[f] = cidr_set_new(b, name, f, NULL);
	}
	/* many, each read by one rule: last */
	build_allow_sets(b);
}

/* The sets whose elements come from the containers (fill_elements):
 * all but the cidrs networks (interval) and the log limiters (dynamic,
 * filled by the kernel). */
static bool set_of_containers(const struct rs_set *s)
{
	return !s->interval && !s->dynamic;
}

static void fill_elements(struct ruleset *rs, const struct inventory *inv)
{
	struct rs_delta d = { 0 };
	size_t i, j;

	/* room for the expected count up front: no copy while half a
	 * million elements go in */
	for (i = 0; i < rs->n_sets; i++) {
		struct rs_set *s = &rs->sets[i];

		if (set_of_containers(s) && s->size)
			set_reserve(s, s->size);
	}
	for (i = 0; i < inventory_count(inv); i++) {
		d.n = 0;
		ruleset_container_delta(rs, inventory_at(inv, i), RS_ELEM_ADD,
					&d);
		for (j = 0; j < d.n; j++)
			set_append(&rs->sets[d.v[j].set], d.v[j].key,
				   d.v[j].obj);
	}
	free(d.v);
}

static void loc_str(const struct ruleset *rs, const struct src_loc *l,
		    char *buf, size_t len)
{
	snprintf(buf, len, "%s:%u:%u",
		 l->file < rs->n_files ? rs->files[l->file] : "?", l->line,
		 l->col);
}

/* Whether packets of family f (0 IPv4, 1 IPv6) can reach a group's own
 * chains: only the trees lead there, and a family without bit sets (no
 * container has an address of it) has no rules in them. A group chain
 * then leaves that family's rules out, the first such address being a
 * full commit anyway (rs_delta.needs_full). */
static bool fam_dispatched(const struct ruleset *rs, int f)
{
	return rs->bits[f][0] >= 0;
}

/* One accept rule per (source, port spec, family) of a flow. */
static void flow_rules(struct build *b, unsigned self, bool in,
		       unsigned peer, const struct flow *fl,
		       const struct port_spec *ps)
{
	const struct policy *p = b->p;
	struct ruleset *rs = b->rs;
	char where[300];
	int f;

	loc_str(rs, &fl->loc, where, sizeof(where));
	for (f = 0; f < 2; f++) {
		struct rs_rule *r;
		int32_t set = -1;
		bool fam_implied = false, one_rule = false, grp = false;

		if (ps->proto == IPPROTO_ICMP && f == 1)
			continue;
		if (ps->proto == IPPROTO_ICMPV6 && f == 0)
			continue;
		if (peer == GROUP_HOST) {
			/* fib needs no family: one rule for both, unless
			 * the protocol pins the family */
			if (ps->proto != IPPROTO_ICMP &&
			    ps->proto != IPPROTO_ICMPV6) {
				if (f == 1)
					continue;
				one_rule = true;
			}
		} else if (peer == GROUP_WORLD) {
		} else if (p->groups[peer].kind == GK_CIDRS) {
			set = b->cset[peer * 2 + f];
			if (set < 0)
				continue;
		} else {
			/* an element of allow_in_<self>_vN instead */
			if (in && port_in_set(ps) &&
			    rs->groups[self].allow_needed)
				return;
			/* the peer's number in the bit sets */
			fam_implied = grp = true;
		}
		if (!one_rule && !fam_dispatched(rs, f))
			continue;
		if (set >= 0)
			fam_implied = true;
		else if (peer == GROUP_WORLD)
			fam_implied = (in && rs->containers[f] >= 0) ||
				      b->cidr_set[f] >= 0;
		r = rule_new(rs);
		if (!fam_implied && !one_rule)
			match_nfproto(r, fam_num(f));
		if (set >= 0) {
			match_set(r, fam_num(f), !in, false, set);
		} else if (grp) {
			match_group(r, rs, f, !in, peer);
		} else if (peer == GROUP_HOST) {
			match_fib_local(r, !in, false);
		} else {	/* world */
			if (in && rs->containers[f] >= 0)
				match_set(r, fam_num(f), false, true,
					  rs->containers[f]);
			if (b->cidr_set[f] >= 0)
				match_set(r, fam_num(f), !in, true,
					  b->cidr_set[f]);
			match_fib_local(r, !in, true);
		}
		if (ps->proto == IPPROTO_ICMP || ps->proto == IPPROTO_ICMPV6 ||
		    (ps->proto && ps->lo == 0 && ps->hi == 65535)) {
			match_add(r, RM_L4PROTO)->a = ps->proto;
		} else if (ps->proto) {
			struct rs_match *m = match_add(r, RM_DPORT);

			m->a = ps->proto;
			m->lo = ps->lo;
			m->hi = ps->hi;
		}
		r->verdict = RV_ACCEPT;
		r->has_loc = true;
		r->loc = fl->loc;
		r->comment = xasprintf("flow %s->%s %s",
				       in ? p->groups[peer].name :
					    p->groups[self].name,
				       in ? p->groups[self].name :
					    p->groups[peer].name,
				       where);
	}
}

/* in_<g> (in) or out_<g>: the flows that name g on that side. */
/* For each group, the flows naming it on each side, in file order: the
 * chains are built from these lists, not by rescanning every flow per
 * group (1,000 groups x 2,000 flows adds up). */
struct incidence {
	uint32_t *v;
	size_t n, cap;
};

static void index_flows(struct build *b)
{
	const struct policy *p = b->p;
	size_t f, i;
	int side;

	b->inc = xcalloc(p->n_groups * 2, sizeof(*b->inc));
	for (f = 0; f < p->n_flows; f++)
		for (side = 0; side < 2; side++) {
			const struct flow *fl = &p->flows[f];
			const unsigned *self = side ? fl->from : fl->to;
			size_t n_self = side ? fl->n_from : fl->n_to;

			for (i = 0; i < n_self; i++) {
				struct incidence *in;

				if (self[i] >= p->n_groups)
					continue;
				in = &b->inc[self[i] * 2 + side];
				/* a group named twice on one side counts once */
				if (in->n && in->v[in->n - 1] == f)
					continue;
				xgrow(&in->v, &in->cap, in->n + 1,
				      sizeof(*in->v));
				in->v[in->n++] = (uint32_t)f;
			}
		}
}

static void group_flow_rules(struct build *b, unsigned g, bool in)
{
	const struct policy *p = b->p;
	const struct incidence *inc = &b->inc[g * 2 + (in ? 0 : 1)];
	size_t x, j, k;

	for (x = 0; x < inc->n; x++) {
		const struct flow *fl = &p->flows[inc->v[x]];
		const unsigned *peer = in ? fl->from : fl->to;
		size_t n_peer = in ? fl->n_from : fl->n_to;

		for (j = 0; j < n_peer; j++) {
			unsigned q = peer[j];

			if (!policy_flow_peer_judged(p, q, in))
				continue;
			for (k = 0; k < fl->n_ports; k++)
				flow_rules(b, g, in, q, fl, &fl->ports[k]);
		}
	}
}

/* The end of in_<group> (in) or out_<group>: every packet that gets here
 * is counted in denied_<dir>_<group> exactly once; past the log rate per
 * source address it is also counted in unlogged_<dir>_<group> and not
 * logged, else logged; then dropped, or accepted in audit mode. At the
 * end of the group's own chain rather than in a chain of its own: two
 * chains and two rules fewer per group in every full commit. */
static void deny_rules(struct build *b, unsigned g, bool in)
{
	struct ruleset *rs = b->rs;
	const struct group *gr = &b->p->groups[g];
	bool audit = gr->mode == MODE_AUDIT && g != GROUP_QUARANTINE;
	const char *dir = in ? "in" : "out";
	uint32_t denied, unlogged = 0;
	struct rs_rule *r;
	struct rs_stmt *s;
	char name[64];
	int f;

	snprintf(name, sizeof(name), "denied_%s_", dir);
	denied = counter_new(rs, RS_INET, name, gr->name);
	if (rs->opts.log_rate) {
		snprintf(name, sizeof(name), "unlogged_%s_", dir);
		unlogged = counter_new(rs, RS_INET, name, gr->name);
	}
	for (f = 0; f < 2 && rs->opts.log_rate; f++) {
		if (!fam_dispatched(rs, f))
			continue;
		r = rule_new(rs);
		match_nfproto(r, fam_num(f));
		s = stmt_add(r, RS_ST_LIMIT);
		s->family = fam_num(f);
		s->set = b->logrl[f];
		s->rate = rs->opts.log_rate;
		s->unit_s = rs->opts.log_rate_unit_s ?
			    rs->opts.log_rate_unit_s : 1;
		s->burst = 5;
		stmt_add(r, RS_ST_COUNTER)->obj = denied;
		stmt_add(r, RS_ST_COUNTER)->obj = unlogged;
		r->verdict = audit ? RV_ACCEPT : RV_DROP;
	}
	r = rule_new(rs);
	stmt_add(r, RS_ST_COUNTER)->obj = denied;
	s = stmt_add(r, RS_ST_LOG);
	s->prefix = xasprintf(RULESET_LOG_PREFIX_FMT, dir, gr->name,
			      audit ? "audit" : "deny");
	s->group = rs->opts.nflog_group;
	r->verdict = audit ? RV_ACCEPT : RV_DROP;
}


/* ---- boundaries: per-container label facts, deny rules ahead of the
 * dispatch ---- */

static void delta_push(struct rs_delta *d, enum rs_op op, uint32_t set,
		       const uint8_t *key, size_t klen);

static int32_t risk_find(const struct ruleset *rs, const char *w)
{
	size_t i;

	for (i = 0; w && i < rs->n_risks; i++)
		if (!strcmp(rs->risks[i], w))
			return (int32_t)i;
	return -1;
}

static void risk_add(struct ruleset *rs, const char *w)
{
	if (risk_find(rs, w) >= 0)
		return;
	rs->risks = xrealloc(rs->risks, (rs->n_risks + 1) * sizeof(*rs->risks));
	rs->risks[rs->n_risks++] = xstrdup(w);
}

/* The levels and risk words the boundaries name, each group's own, and
 * what a world side needs: the sets of every container and cidrs
 * address. */
static void boundary_prepare(struct build *b)
{
	const struct policy *p = b->p;
	struct ruleset *rs = b->rs;
	unsigned mask = 0;
	size_t i, j, g;
	int lvl, f;

	for (i = 0; i < p->n_boundaries; i++) {
		const struct boundary_end *e[2] = { &p->boundaries[i].from,
						    &p->boundaries[i].to };

		for (j = 0; j < 2; j++) {
			size_t k;

			if (e[j]->kind == BE_WORLD) {
				b->need_containers = true;
				b->need_world = true;
				continue;
			}
			mask |= e[j]->sens_mask;
			for (k = 0; k < e[j]->n_risks; k++)
				risk_add(rs, e[j]->risks[k]);
		}
	}
	for (lvl = SENS_UNSET; lvl <= SENS_RESTRICTED; lvl++)
		for (f = 0; f < 2; f++)
			rs->sens_set[lvl][f] = -1;
	rs->risk_set = xcalloc(rs->n_risks + 1, sizeof(*rs->risk_set));
	for (i = 0; i < rs->n_risks; i++)
		rs->risk_set[i][0] = rs->risk_set[i][1] = -1;
	b->risk_cnt = xcalloc(rs->n_risks + 1, sizeof(*b->risk_cnt));
	for (g = 0; g < p->n_groups; g++) {
		rs->groups[g].sens = (uint8_t)p->groups[g].sensitivity;
		rs->groups[g].risk = risk_find(rs,
					       policy_group_risk(&p->groups[g]));
	}
	/* the sets exist (both families, whatever the inventory holds) for
	 * the levels named; their rules read them */
	for (lvl = SENS_UNSET; lvl <= SENS_RESTRICTED; lvl++)
		if (mask & 1u << lvl)
			rs->sens_set[lvl][0] = rs->sens_set[lvl][1] = -2;
}

static bool sens_of(const char *v, unsigned *lvl)
{
	unsigned i;

	for (i = SENS_LOW; i <= SENS_RESTRICTED; i++)
		if (!strcmp(v, policy_sens_str((enum sensitivity)i))) {
			*lvl = i;
			return true;
		}
	return false;
}

/* What container c counts as under the boundaries: its own
 * <prefix>sensitivity and <prefix>risk labels as well as its group's
 * sensitivity and risk profile. unset only when neither names a level. */
struct facts {
	unsigned sens;			/* bit per level */
	int32_t risk[2];		/* the group's, its own; -1 none */
};

static void container_facts(const struct ruleset *rs,
			    const struct container *c, unsigned g,
			    struct facts *fx)
{
	size_t plen = strlen(rs->label_prefix), i;
	const struct rs_group *rg = &rs->groups[g];
	unsigned lvl;
	int32_t r;

	fx->sens = rg->sens != SENS_UNSET ? 1u << rg->sens : 0;
	fx->risk[0] = rg->risk;
	fx->risk[1] = -1;
	for (i = 0; i < c->n_labels; i++) {
		const char *k = c->labels[i].key;

		if (strncmp(k, rs->label_prefix, plen))
			continue;
		k += plen;
		if (!strcmp(k, "sensitivity") &&
		    sens_of(c->labels[i].value, &lvl)) {
			fx->sens |= 1u << lvl;
		} else if (!strcmp(k, "risk")) {
			r = risk_find(rs, c->labels[i].value);
			if (r >= 0 && r != fx->risk[0])
				fx->risk[1] = r;
		}
	}
	if (!fx->sens)
		fx->sens = 1u << SENS_UNSET;
}

static void boundary_count(struct build *b, const struct inventory *inv)
{
	struct ruleset *rs = b->rs;
	struct facts fx;
	size_t i, j;
	int lvl, k;

	if (!b->p->n_boundaries)
		return;
	for (i = 0; i < inventory_count(inv); i++) {
		const struct container *c = inventory_at(inv, i);
		unsigned g = container_in_quarantine(c) ? GROUP_QUARANTINE :
					       c->group;

		/* as ruleset_container_delta() files it */
		if (g >= b->p->n_groups || !policy_is_container_group(b->p, g))
			g = GROUP_UNASSIGNED;
		container_facts(rs, c, g, &fx);
		for (j = 0; j < c->n_addrs; j++) {
			int f = fam_idx(c->addrs[j].family);

			for (lvl = SENS_UNSET; lvl <= SENS_RESTRICTED; lvl++)
				if (fx.sens & 1u << lvl)
					b->sens_cnt[lvl][f]++;
			for (k = 0; k < 2; k++)
				if (fx.risk[k] >= 0)
					b->risk_cnt[fx.risk[k]][f]++;
		}
	}
}

static void boundary_sets(struct build *b)
{
	struct ruleset *rs = b->rs;
	char name[64];
	size_t i;
	int lvl, f;

	for (lvl = SENS_UNSET; lvl <= SENS_RESTRICTED; lvl++)
		for (f = 0; f < 2; f++) {
			if (rs->sens_set[lvl][f] != -2)
				continue;
			snprintf(name, sizeof(name), "sens_%s_%s",
				 policy_sens_str((enum sensitivity)lvl),
				 fam_sfx(f));
			rs->sens_set[lvl][f] = (int32_t)set_new(rs, RS_INET,
				name, f ? RS_KEY_IPV6 : RS_KEY_IPV4);
			rs->sets[rs->sens_set[lvl][f]].size =
				set_size_for(b->sens_cnt[lvl][f]);
		}
	for (i = 0; i < rs->n_risks; i++)
		for (f = 0; f < 2; f++) {
			snprintf(name, sizeof(name), "risk_%s_%s",
				 rs->risks[i], fam_sfx(f));
			rs->risk_set[i][f] = (int32_t)set_new(rs, RS_INET,
				name, f ? RS_KEY_IPV6 : RS_KEY_IPV4);
			rs->sets[rs->risk_set[i][f]].size =
				set_size_for(b->risk_cnt[i][f]);
		}
}

static void boundary_delta(const struct ruleset *rs,
			   const struct container *c, unsigned g,
			   enum rs_op op, struct rs_delta *d)
{
	struct facts fx;
	size_t i;
	int lvl, k;

	if (!rs->label_prefix)
		return;
	container_facts(rs, c, g, &fx);
	for (i = 0; i < c->n_addrs; i++) {
		const struct bh_addr *a = &c->addrs[i];
		int f = fam_idx(a->family);
		size_t len = bh_addr_len(a);

		for (lvl = SENS_UNSET; lvl <= SENS_RESTRICTED; lvl++)
			if (fx.sens & 1u << lvl && rs->sens_set[lvl][f] >= 0)
				delta_push(d, op, (uint32_t)rs->sens_set[lvl][f],
					   a->a, len);
		for (k = 0; k < 2; k++)
			if (fx.risk[k] >= 0 && rs->risk_set[fx.risk[k]][f] >= 0)
				delta_push(d, op,
					   (uint32_t)rs->risk_set[fx.risk[k]][f],
					   a->a, len);
	}
}

/* One side of a boundary as matches on saddr (daddr): a level and a
 * risk word of the end (-1: the end does not say), or world. */
static void boundary_side(struct build *b, struct rs_rule *r,
			  const struct boundary_end *e, int lvl, int32_t risk,
			  int f, bool daddr)
{
	struct ruleset *rs = b->rs;

	if (e->kind == BE_WORLD) {
		if (rs->containers[f] >= 0)
			match_set(r, fam_num(f), daddr, true,
				  (uint32_t)rs->containers[f]);
		if (b->cidr_set[f] >= 0)
			match_set(r, fam_num(f), daddr, true,
				  (uint32_t)b->cidr_set[f]);
		match_fib_local(r, daddr, true);
		return;
	}
	if (lvl >= 0)
		match_set(r, fam_num(f), daddr, false,
			  (uint32_t)rs->sens_set[lvl][f]);
	if (risk >= 0)
		match_set(r, fam_num(f), daddr, false,
			  (uint32_t)rs->risk_set[risk][f]);
}

/* The alternatives of an end: every (level, risk word) pair it names,
 * -1 for a key it does not give; world is one alternative. */
static size_t end_alts(const struct ruleset *rs, const struct boundary_end *e,
		       int *lvls, int32_t *risks, size_t max)
{
	size_t n = 0, k;
	int lvl;

	if (e->kind == BE_WORLD) {
		lvls[0] = -1;
		risks[0] = -1;
		return 1;
	}
	for (lvl = e->sens_mask ? SENS_UNSET : -1; lvl <= SENS_RESTRICTED;
	     lvl++) {
		if (lvl >= 0 && !(e->sens_mask & 1u << lvl))
			continue;
		for (k = 0; k < (e->n_risks ? e->n_risks : 1) && n < max; k++) {
			lvls[n] = lvl;
			risks[n++] = e->n_risks ? risk_find(rs, e->risks[k]) :
						  -1;
		}
		if (lvl < 0)
			break;
	}
	return n;
}

#define BOUNDARY_ALTS_MAX 1024

/* chain boundaries: a goto boundary_<name> per (from, to) alternative and
 * family; chain boundary_<name>: counted, logged ("bh/boundary/<name>/
 * deny", per source rate-limited as the deny rules are), dropped. Jumped
 * to from the forward chain before the dispatch, so no flow's accept
 * comes first; a boundary holds in audit groups too. */
static void boundary_rules(struct build *b, uint32_t chain,
			   const uint32_t *deny)
{
	const struct policy *p = b->p;
	struct ruleset *rs = b->rs;
	int *fl = xcalloc(BOUNDARY_ALTS_MAX * 2, sizeof(*fl));
	int32_t *fr = xcalloc(BOUNDARY_ALTS_MAX * 2, sizeof(*fr));
	int *tl = fl + BOUNDARY_ALTS_MAX;
	int32_t *tr = fr + BOUNDARY_ALTS_MAX;
	char where[300];
	size_t i, x, y, nf, nt;
	int f;

	chain_begin(rs, chain);
	for (i = 0; i < p->n_boundaries; i++) {
		const struct boundary *bd = &p->boundaries[i];

		loc_str(rs, &bd->loc, where, sizeof(where));
		nf = end_alts(rs, &bd->from, fl, fr, BOUNDARY_ALTS_MAX);
		nt = end_alts(rs, &bd->to, tl, tr, BOUNDARY_ALTS_MAX);
		for (x = 0; x < nf; x++)
			for (y = 0; y < nt; y++)
				for (f = 0; f < 2; f++) {
					struct rs_rule *r = rule_new(rs);

					boundary_side(b, r, &bd->from, fl[x],
						      fr[x], f, false);
					boundary_side(b, r, &bd->to, tl[y],
						      tr[y], f, true);
					if (bd->from.kind == BE_WORLD &&
					    bd->to.kind == BE_WORLD)
						match_nfproto(r, fam_num(f));
					r->verdict = RV_GOTO;
					r->target = deny[i];
					r->has_loc = true;
					r->loc = bd->loc;
					r->comment = xasprintf("boundary %s %s",
							       bd->name, where);
				}
	}
	free(fl);
	free(fr);
	for (i = 0; i < p->n_boundaries; i++) {
		const char *name = p->boundaries[i].name;
		uint32_t ctr = counter_new(rs, RS_INET, "boundary_", name);
		/* over the log rate: an unlogged record, as deny_rules' */
		uint32_t unl = rs->opts.log_rate ? counter_new(rs, RS_INET,
				"unlogged_boundary_", name) : 0;
		struct rs_stmt *st;
		struct rs_rule *r;

		chain_begin(rs, deny[i]);
		for (f = 0; f < 2 && rs->opts.log_rate; f++) {
			r = rule_new(rs);
			match_nfproto(r, fam_num(f));
			st = stmt_add(r, RS_ST_LIMIT);
			st->family = fam_num(f);
			st->set = b->logrl[f];
			st->rate = rs->opts.log_rate;
			st->unit_s = rs->opts.log_rate_unit_s;
			st->burst = 5;
			stmt_add(r, RS_ST_COUNTER)->obj = ctr;
			stmt_add(r, RS_ST_COUNTER)->obj = unl;
			r->verdict = RV_DROP;
		}
		r = rule_new(rs);
		stmt_add(r, RS_ST_COUNTER)->obj = ctr;
		st = stmt_add(r, RS_ST_LOG);
		st->prefix = xasprintf(RULESET_BOUNDARY_PREFIX_FMT, name);
		st->group = rs->opts.nflog_group;
		r->verdict = RV_DROP;
	}
}

/* A jump, not a goto: a tree that finds no container returns here. */
static void jump_rule(struct ruleset *rs, uint32_t chain)
{
	struct rs_rule *r = rule_new(rs);

	r->verdict = RV_JUMP;
	r->target = chain;
}

static void ct_rule(struct ruleset *rs, uint32_t mask, enum rs_verdict v)
{
	struct rs_rule *r = rule_new(rs);

	match_add(r, RM_CT_STATE)->a = mask;
	r->verdict = v;
}

static void nd_rule(struct ruleset *rs)
{
	struct rs_rule *r = rule_new(rs);

	match_add(r, RM_ND)->family = 6;
	r->verdict = RV_ACCEPT;
	r->comment = xstrdup("neighbour discovery");
}

/* What any port may send, judged once for all ports: its own addresses
 * (the pairs the inventory gave), ARP for them, ARP probes and IPv6
 * neighbour discovery. */
static void spoof_accepts(struct ruleset *rs)
{
	struct rs_match *m;
	struct rs_rule *r;
	int f;

	for (f = 0; f < 2; f++) {
		if (rs->pairs[f] < 0)
			continue;
		r = rule_new(rs);
		m = match_add(r, RM_IIF_ADDR_SET);
		m->family = fam_num(f);
		m->set = rs->pairs[f];
		r->verdict = RV_ACCEPT;
	}
	/* ARP may only speak for the port's own addresses: a gratuitous
	 * reply for another's would steal its traffic */
	if (rs->pairs[0] >= 0) {
		r = rule_new(rs);
		match_add(r, RM_ARP_SPA_SET)->set = rs->pairs[0];
		r->verdict = RV_ACCEPT;
	}
	r = rule_new(rs);
	match_add(r, RM_ARP_PROBE);
	r->verdict = RV_ACCEPT;
	r->comment = xstrdup("ARP probe");
	r = rule_new(rs);
	match_add(r, RM_ADDR_LL)->family = 6;
	r->verdict = RV_ACCEPT;
	r->comment = xstrdup("link-local (neighbour discovery)");
	r = rule_new(rs);
	m = match_add(r, RM_ADDR_LL);
	m->family = 6;
	m->a = 1;
	r->verdict = RV_ACCEPT;
	r->comment = xstrdup("unspecified (duplicate address detection)");
}

/* IPv4, IPv6 and ARP that no accept took: counted, logged and dropped.
 * guard < 0: a container's port, counted in its group's counter through
 * the ports map (a port the map does not know matches nothing and
 * passes) and logged for the reader to name the port's group; else a
 * port no container was attached to whose name has the guarded prefix
 * opts.guard_ports[guard], judged like a container of group unassigned
 * with no address. Other frames (LLDP, STP) pass. */
static void spoof_drops(struct ruleset *rs, int guard)
{
	const struct rs_group *un = &rs->groups[GROUP_UNASSIGNED];
	struct rs_rule *r;
	struct rs_stmt *s;
	int k;

	for (k = 0; k < 3; k++) {
		r = rule_new(rs);
		if (guard >= 0)
			match_add(r, RM_IIF_PREFIX)->a = (uint32_t)guard;
		if (k < 2)
			match_nfproto(r, fam_num(k));
		else
			match_add(r, RM_ETHER_ARP);
		if (guard >= 0) {
			stmt_add(r, RS_ST_COUNTER)->obj = un->spoofed;
		} else {
			s = stmt_add(r, RS_ST_COUNTER_MAP);
			s->set = (uint32_t)rs->ports;
		}
		s = stmt_add(r, RS_ST_LOG);
		s->prefix = xasprintf(RULESET_LOG_PREFIX_FMT, "spoof",
				      guard >= 0 ? "unassigned" :
						   RULESET_PORT_GROUP, "deny");
		s->group = rs->opts.nflog_group;
		r->verdict = RV_DROP;
		if (guard >= 0)
			r->comment = xstrdup("a port no container was "
					     "attached to");
	}
}

/* table bridge bulkhead: one chain whatever the number of groups. A
 * port's group matters only for what it spoofs, so the group is not
 * dispatched: the ports map names the counter, the log reader the
 * group. */
static void build_bridge(struct build *b)
{
	struct ruleset *rs = b->rs;
	const struct policy *p = b->p;
	size_t g, total[2] = { 0, 0 };
	uint32_t pre;
	int f;

	for (g = 0; g < p->n_groups; g++)
		for (f = 0; f < 2; f++)
			total[f] += b->cnt[g][f];
	rs->has_bridge = true;
	for (g = 0; g < p->n_groups; g++)
		if (rs->groups[g].has_chains)
			rs->groups[g].spoofed = counter_new(rs, RS_BRIDGE,
					"spoofed_", p->groups[g].name);
	rs->ports = (int32_t)set_new(rs, RS_BRIDGE, "ports", RS_KEY_IFNAME);
	rs->sets[rs->ports].counters = true;
	rs->sets[rs->ports].size = set_size_for(b->ports);
	for (f = 0; f < 2; f++) {
		if (!b->guarded[f] && b->guarded[!f])
			continue;
		rs->pairs[f] = set_new(rs, RS_BRIDGE,
				       f ? "addrs_v6" : "addrs_v4",
				       f ? RS_KEY_IFNAME_IPV6 :
					   RS_KEY_IFNAME_IPV4);
		rs->sets[rs->pairs[f]].size = set_size_for(total[f]);
	}
	pre = chain_new(rs, RS_BRIDGE, RS_HOOK_PREROUTING, -200, "%s",
			"prerouting");
	chain_begin(rs, pre);
	spoof_accepts(rs);
	spoof_drops(rs, -1);
	for (g = 0; g < rs->opts.n_guard_ports &&
		    rs->groups[GROUP_UNASSIGNED].has_chains; g++)
		spoof_drops(rs, (int)g);
}

void ruleset_opts_from_policy(struct ruleset_opts *o, const struct policy *p)
{
	memset(o, 0, sizeof(*o));
	o->nflog_group = RULESET_NFLOG_GROUP_DEFAULT;
	o->log_rate = p->log_rate;
	o->log_rate_unit_s = p->log_rate_unit_s ? p->log_rate_unit_s : 1;
	o->antispoof = true;
}

struct ruleset *ruleset_build(const struct policy *p,
			      const struct inventory *inv,
			      const struct ruleset_opts *o)
{
	struct ruleset *rs = xcalloc(1, sizeof(*rs));
	struct build b = { .rs = rs, .p = p };
	uint32_t fwd, input, output, bchain = 0, *bdeny = NULL;
	struct tree to, from;
	size_t g, i;

	rs->opts = *o;
	if (!rs->opts.log_rate_unit_s)
		rs->opts.log_rate_unit_s = 1;
	rs->n_groups = p->n_groups;
	rs->groups = xcalloc(p->n_groups, sizeof(*rs->groups));
	rs->n_files = p->n_files;
	rs->files = xcalloc(p->n_files + 1, sizeof(*rs->files));
	for (i = 0; i < p->n_files; i++)
		rs->files[i] = xstrdup(p->files[i]);
	rs->ports = rs->pairs[0] = rs->pairs[1] = -1;
	b.cnt = xcalloc(p->n_groups, sizeof(*b.cnt));
	b.cset = xmalloc(p->n_groups * 2 * sizeof(*b.cset));
	for (g = 0; g < p->n_groups * 2; g++)
		b.cset[g] = -1;

	count_containers(&b, inv);
	number_groups(&b);
	find_needs(&b);
	boundary_prepare(&b);
	index_flows(&b);
	build_reach(&b);
	build_sets(&b);
	rs->label_prefix = xstrdup(p->label_prefix);
	boundary_count(&b, inv);
	boundary_sets(&b);

	/* Chains first (names and indices), rules after, in the same order. */
	fwd = chain_new(rs, RS_INET, RS_HOOK_FORWARD, -10, "%s", "forward");
	input = chain_new(rs, RS_INET, RS_HOOK_INPUT, -10, "%s", "input");
	output = chain_new(rs, RS_INET, RS_HOOK_OUTPUT, -10, "%s", "output");
	for (g = 0; g < p->n_groups; g++) {
		struct rs_group *rg = &rs->groups[g];

		if (!policy_is_container_group(p, g))
			continue;
		rg->has_chains = true;
		rg->in_chain = chain_new(rs, RS_INET, RS_HOOK_NONE, 0,
					 "in_%s", p->groups[g].name);
		rg->out_chain = chain_new(rs, RS_INET, RS_HOOK_NONE, 0,
					  "out_%s", p->groups[g].name);
	}

	if (p->n_boundaries) {
		bchain = chain_new(rs, RS_INET, RS_HOOK_NONE, 0, "%s",
				   "boundaries");
		bdeny = xcalloc(p->n_boundaries, sizeof(*bdeny));
		for (i = 0; i < p->n_boundaries; i++)
			bdeny[i] = chain_new(rs, RS_INET, RS_HOOK_NONE, 0,
					     "boundary_%s",
					     p->boundaries[i].name);
	}

	tree_init(rs, &to, TREE_TO);
	tree_init(rs, &from, TREE_FROM);

	chain_begin(rs, fwd);
	nd_rule(rs);
	ct_rule(rs, CT_ESTABLISHED | CT_RELATED, RV_ACCEPT);
	ct_rule(rs, CT_INVALID, RV_DROP);
	if (p->n_boundaries)
		jump_rule(rs, bchain);
	jump_rule(rs, to.root);
	jump_rule(rs, from.root);
	chain_begin(rs, input);
	nd_rule(rs);
	ct_rule(rs, CT_ESTABLISHED | CT_RELATED, RV_ACCEPT);
	ct_rule(rs, CT_INVALID, RV_DROP);
	jump_rule(rs, from.root);
	chain_begin(rs, output);
	/* the host answers a container's neighbour solicitation with a
	 * unicast advertisement to the container's address */
	nd_rule(rs);
	ct_rule(rs, CT_ESTABLISHED | CT_RELATED, RV_ACCEPT);
	jump_rule(rs, to.root);
	tree_root_rules(rs, &to);
	tree_root_rules(rs, &from);

	for (g = 0; g < p->n_groups; g++) {
		const struct group *gr = &p->groups[g];
		struct rs_group *rg = &rs->groups[g];
		bool deny_all = g == GROUP_QUARANTINE;
		bool pass = g == GROUP_UNASSIGNED && !p->unassigned_deny;
		struct rs_match *m;
		struct rs_rule *r;
		int dir, f;

		if (!rg->has_chains)
			continue;
		for (dir = 0; dir < 2; dir++) {
			uint32_t ch = dir ? rg->out_chain : rg->in_chain;

			chain_begin(rs, ch);
			/* first the groups whose numbers contain this one's */
			tree_spine(rs, dir ? &from : &to, rg->num);
			if (!deny_all) {
				if (!dir && gr->kind == GK_LABELS &&
				    gr->intra_allow)
					for (f = 0; f < 2; f++) {
						if (!fam_dispatched(rs, f))
							continue;
						r = rule_new(rs);
						match_group(r, rs, f, false, g);
						r->verdict = RV_ACCEPT;
						r->comment = xasprintf(
							"intra %s", gr->name);
					}
				for (f = 0; f < 2 && !dir; f++) {
					if (rg->allow[f] < 0)
						continue;
					r = rule_new(rs);
					m = match_add(r, RM_ALLOW_SET);
					m->family = fam_num(f);
					m->set = rg->allow[f];
					r->verdict = RV_ACCEPT;
					r->comment = xasprintf(
						"flows from container groups "
						"to %s", gr->name);
				}
				group_flow_rules(&b, g, !dir);
			}
			if (pass) {
				r = rule_new(rs);
				r->verdict = RV_ACCEPT;
				r->comment = xstrdup("settings.unassigned: allow");
			} else {
				deny_rules(&b, g, !dir);
			}
		}
	}
	tree_free(&to);
	tree_free(&from);
	if (p->n_boundaries)
		boundary_rules(&b, bchain, bdeny);
	free(bdeny);
	if (rs->opts.antispoof)
		build_bridge(&b);
	fill_elements(rs, inv);
	free(b.risk_cnt);

	for (g = 0; g < p->n_groups * 2; g++)
		free(b.inc[g].v);
	free(b.inc);
	free(b.cnt);
	free(b.cset);
	return rs;
}

void ruleset_set_drop(struct ruleset *rs, size_t i)
{
	struct rs_set *s = &rs->sets[i];

	if (!set_of_containers(s))
		return;
	free(s->keys);
	free(s->objs);
	free(s->heads);
	free(s->next);
	s->keys = NULL;
	s->objs = NULL;
	s->heads = s->next = NULL;
	s->n = s->cap = s->nb = 0;
}

void ruleset_refill(struct ruleset *rs, const struct inventory *inv)
{
	size_t i;

	for (i = 0; i < rs->n_sets; i++)
		ruleset_set_drop(rs, i);
	fill_elements(rs, inv);
}

void ruleset_free(struct ruleset *rs)
{
	size_t i, j;

	if (!rs)
		return;
	for (i = 0; i < rs->n_sets; i++)
		set_free(&rs->sets[i]);
	free(rs->sets);
	for (i = 0; i < rs->n_chains; i++)
		free(rs->chains[i].name);
	free(rs->chains);
	for (i = 0; i < rs->n_rules; i++) {
		for (j = 0; j < rs->rules[i].n_s; j++)
			free(rs->rules[i].s[j].prefix);
		free(rs->rules[i].comment);
	}
	free(rs->rules);
	for (i = 0; i < rs->n_counters; i++)
		free(rs->counters[i].name);
	free(rs->counters);
	for (i = 0; i < rs->n_files; i++)
		free(rs->files[i]);
	free(rs->files);
	for (i = 0; i < rs->n_groups; i++)
		free(rs->groups[i].reach);
	free(rs->groups);
	for (i = 0; i < rs->n_risks; i++)
		free(rs->risks[i]);
	free(rs->risks);
	free(rs->risk_set);
	free(rs->label_prefix);
	free(rs);
}

/* ---- deltas ---- */

struct rs_delta *rs_delta_new(void)
{
	return xcalloc(1, sizeof(struct rs_delta));
}

void rs_delta_free(struct rs_delta *d)
{
	if (!d)
		return;
	free(d->v);
	free(d);
}

bool rs_delta_empty(const struct rs_delta *d)
{
	return !d || !d->n;
}

static void delta_push(struct rs_delta *d, enum rs_op op, uint32_t set,
		       const uint8_t *key, size_t klen)
{
	struct rs_elem_op *e;

	xgrow(&d->v, &d->cap, d->n + 1, sizeof(*d->v));
	e = &d->v[d->n++];
	memset(e, 0, sizeof(*e));
	e->op = op;
	e->set = set;
	memcpy(e->key, key, klen);
}

/* addr . proto . port, each field in its own 32-bit register */
static void allow_key(uint8_t *k, const struct bh_addr *a, uint8_t proto,
		      uint16_t port)
{
	size_t len = bh_addr_len(a);

	memset(k, 0, len + 8);
	memcpy(k, a->a, len);
	k[len] = proto;
	k[len + 4] = (uint8_t)(port >> 8);
	k[len + 5] = (uint8_t)port;
}

/* One element per place the address's group may reach with ports. */
static void allow_delta(const struct ruleset *rs, const struct rs_group *rg,
			const struct bh_addr *a, enum rs_op op,
			struct rs_delta *d)
{
	int f = fam_idx(a->family);
	struct rs_elem_op *e;
	size_t i;

	for (i = 0; i < rg->n_reach; i++) {
		const struct rs_reach *x = &rg->reach[i];
		int32_t set = rs->groups[x->dst].allow[f];

		if (set < 0) {
			if (op == RS_ELEM_ADD)
				d->needs_full = true;
			continue;
		}
		xgrow(&d->v, &d->cap, d->n + 1, sizeof(*d->v));
		e = &d->v[d->n++];
		memset(e, 0, sizeof(*e));
		e->op = op;
		e->set = (uint32_t)set;
		allow_key(e->key, a, x->proto, x->port);
	}
}

/* Anti-spoofing: each port in the ports map (its group's counter), and
 * (port, address) for each address of that port only, so an address is
 * accepted on its own port and spoofed on the container's others. */
static void port_delta(const struct ruleset *rs, const struct rs_group *rg,
		       const struct container *c, enum rs_op op,
		       struct rs_delta *d)
{
	uint8_t key[RS_KEY_MAX];
	size_t k, i;
	int f;

	for (k = 0; k < c->n_ports; k++) {
		const struct container_port *p = &c->ports[k];

		memset(key, 0, sizeof(key));
		memcpy(key, p->ifname, strnlen(p->ifname, IF_NAMESIZE - 1));
		delta_push(d, op, (uint32_t)rs->ports, key, 16);
		d->v[d->n - 1].obj = rg->spoofed;
		for (i = p->first; i < (size_t)p->first + p->n; i++) {
			const struct bh_addr *a = &c->addrs[i];

			f = fam_idx(a->family);
			if (rs->pairs[f] >= 0) {
				memcpy(key + 16, a->a, bh_addr_len(a));
				delta_push(d, op, rs->pairs[f], key,
					   16 + bh_addr_len(a));
			} else if (op == RS_ELEM_ADD) {
				d->needs_full = true;
			}
		}
	}
}

void ruleset_container_delta(const struct ruleset *rs,
			     const struct container *c, enum rs_op op,
			     struct rs_delta *d)
{
	unsigned g = container_in_quarantine(c) ? GROUP_QUARANTINE :
					       c->group;
	const struct rs_group *rg;
	unsigned bit;
	size_t i;

	if (g >= rs->n_groups || !rs->groups[g].has_chains)
		g = GROUP_UNASSIGNED;
	rg = &rs->groups[g];
	if (rs->has_bridge)
		port_delta(rs, rg, c, op, d);
	for (i = 0; i < c->n_addrs; i++) {
		const struct bh_addr *a = &c->addrs[i];
		int f = fam_idx(a->family);
		size_t len = bh_addr_len(a);

		for (bit = 0; bit < rs->n_bits; bit++) {
			if (!(rg->num >> bit & 1))
				continue;
			if (rs->bits[f][bit] >= 0)
				delta_push(d, op, (uint32_t)rs->bits[f][bit],
					   a->a, len);
			else if (op == RS_ELEM_ADD)
				d->needs_full = true;
		}
		if (rs->containers[f] >= 0)
			delta_push(d, op, rs->containers[f], a->a, len);
		else if (rs->containers_needed && op == RS_ELEM_ADD)
			d->needs_full = true;
		allow_delta(rs, rg, a, op, d);
	}
	boundary_delta(rs, c, g, op, d);
}

static unsigned facts_group(const struct ruleset *rs,
			    const struct container *c)
{
	unsigned g = container_in_quarantine(c) ? GROUP_QUARANTINE :
					       c->group;

	if (g >= rs->n_groups || !rs->groups[g].has_chains)
		g = GROUP_UNASSIGNED;
	return g;
}

bool ruleset_same_facts(const struct ruleset *rs, const struct container *a,
			const struct container *b)
{
	struct facts x, y;

	if (!rs->label_prefix)
		return true;
	container_facts(rs, a, facts_group(rs, a), &x);
	container_facts(rs, b, facts_group(rs, b), &y);
	return x.sens == y.sens &&
	       ((x.risk[0] == y.risk[0] && x.risk[1] == y.risk[1]) ||
		(x.risk[0] == y.risk[1] && x.risk[1] == y.risk[0]));
}

void ruleset_apply_delta(struct ruleset *rs, const struct rs_delta *d)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		struct rs_set *s = &rs->sets[d->v[i].set];
		long at;

		set_index(s);
		at = ruleset_set_find(s, d->v[i].key);

		if (d->v[i].op == RS_ELEM_ADD) {
			if (at < 0)
				set_push(s, d->v[i].key, d->v[i].obj);
			else if (s->counters)
				s->objs[at] = d->v[i].obj;
		} else if (at >= 0) {
			set_remove(s, (uint32_t)at);
		}
	}
}

void ruleset_index(struct ruleset *rs)
{
	size_t i;

	for (i = 0; i < rs->n_sets; i++)
		if (!rs->sets[i].dynamic)
			set_index(&rs->sets[i]);
}

bool ruleset_delta_overflows(const struct ruleset *rs,
			     const struct rs_delta *d)
{
	struct seen {
		uint32_t set;
		long n;
	} *seen = NULL;
	size_t n_seen = 0, cap = 0, i, j;
	bool over = false;

	if (d->needs_full)
		return true;
	for (i = 0; i < d->n; i++) {
		const struct rs_set *s = &rs->sets[d->v[i].set];

		if (!s->size)
			continue;
		/* a delta touches few sets (one per destination group its
		 * container's group reaches, plus a handful) */
		for (j = 0; j < n_seen && seen[j].set != d->v[i].set; j++)
			;
		if (j == n_seen) {
			xgrow(&seen, &cap, n_seen + 1, sizeof(*seen));
			seen[j].set = d->v[i].set;
			seen[j].n = (long)s->n;
			n_seen++;
		}
		seen[j].n += d->v[i].op == RS_ELEM_ADD ? 1 : -1;
		if (seen[j].n > (long)s->size) {
			over = true;
			break;
		}
	}
	free(seen);
	return over;
}

const char *ruleset_chain_name(const struct ruleset *rs, uint32_t chain)
{
	return chain < rs->n_chains ? rs->chains[chain].name : "?";
}

const char *ruleset_rule_loc(const struct ruleset *rs,
			     const struct rs_rule *r, char *buf, size_t len)
{
	if (!r->has_loc) {
		buf[0] = 0;
		return buf;
	}
	loc_str(rs, &r->loc, buf, len);
	return buf;
}

void ruleset_key_str(const struct rs_set *s, const uint8_t *key, char *buf,
		     size_t len)
{
	struct bh_addr a = { 0 };
	char ab[BH_ADDR_STRLEN];

	switch (s->key) {
	case RS_KEY_IPV4:
	case RS_KEY_IPV6:
		a.family = s->key == RS_KEY_IPV4 ? AF_INET : AF_INET6;
		a.plen = s->key == RS_KEY_IPV4 ? 32 : 128;
		memcpy(a.a, key, s->klen);
		snprintf(buf, len, "%s", bh_addr_str(&a, ab));
		break;
	case RS_KEY_IFNAME:
		snprintf(buf, len, "\"%.16s\"", (const char *)key);
		break;
	case RS_KEY_IFNAME_IPV4:
	case RS_KEY_IFNAME_IPV6:
		a.family = s->key == RS_KEY_IFNAME_IPV4 ? AF_INET : AF_INET6;
		a.plen = a.family == AF_INET ? 32 : 128;
		memcpy(a.a, key + 16, s->klen - 16);
		snprintf(buf, len, "\"%.16s\" . %s", (const char *)key,
			 bh_addr_str(&a, ab));
		break;
	case RS_KEY_IPV4_PROTO_PORT:
	case RS_KEY_IPV6_PROTO_PORT:
		a.family = s->key == RS_KEY_IPV4_PROTO_PORT ? AF_INET :
							      AF_INET6;
		a.plen = a.family == AF_INET ? 32 : 128;
		memcpy(a.a, key, s->klen - 8);
		snprintf(buf, len, "%s . %s . %u", bh_addr_str(&a, ab),
			 key[s->klen - 8] == IPPROTO_TCP ? "tcp" :
			 key[s->klen - 8] == IPPROTO_UDP ? "udp" : "sctp",
			 (unsigned)(key[s->klen - 4] << 8 | key[s->klen - 3]));
		break;
	}
}

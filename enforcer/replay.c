/* Replay of observed traffic under a policy (replay.h). The policy is
 * judged against a made-up inventory: one container per distinct
 * (recorded group, labels) seen, each on addresses of its own in ranges no
 * real traffic uses (240.0.0.0/4, fd00:b1c::/64), so that containers that
 * shared an address over time stay apart. A container is therefore judged
 * by its labels and group, never by its address: a cidrs group that holds
 * a container's address does not match it in a replay (docs/rollout.md). */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "inventory.h"
#include "replay.h"
#include "util.h"

/* ---- a string -> index map (observations, containers) */

struct smap {
	size_t *head;		/* bucket -> 1 + entry, 0: empty */
	size_t nb;
	char **keys;
	size_t *next;		/* entry -> 1 + next entry */
	size_t n, cap;
};

struct replay_index {
	struct smap obs;
};

static void smap_free(struct smap *m)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		free(m->keys[i]);
	free(m->keys);
	free(m->next);
	free(m->head);
	memset(m, 0, sizeof(*m));
}

/* The index of key; *added says whether it is new (index m->n - 1). */
static size_t smap_get(struct smap *m, const char *key, bool *added)
{
	size_t b, i, cap;

	if (!m->nb) {
		m->nb = 256;
		m->head = xcalloc(m->nb, sizeof(*m->head));
	}
	b = bh_str_hash(key) & (m->nb - 1);
	for (i = m->head[b]; i; i = m->next[i - 1])
		if (!strcmp(m->keys[i - 1], key)) {
			*added = false;
			return i - 1;
		}
	cap = m->cap;
	xgrow(&m->keys, &cap, m->n + 1, sizeof(*m->keys));
	cap = m->cap;
	xgrow(&m->next, &cap, m->n + 1, sizeof(*m->next));
	m->cap = cap;
	m->keys[m->n] = xstrdup(key);
	m->next[m->n] = m->head[b];
	m->head[b] = ++m->n;
	*added = true;
	if (m->n > m->nb * 2) {
		/* rehash into four times the buckets */
		free(m->head);
		m->nb *= 4;
		m->head = xcalloc(m->nb, sizeof(*m->head));
		for (i = 0; i < m->n; i++) {
			b = bh_str_hash(m->keys[i]) & (m->nb - 1);
			m->next[i] = m->head[b];
			m->head[b] = i + 1;
		}
	}
	return m->n - 1;
}

/* ---- reading records */

static const char *sget(json_t *o, const char *a, const char *b)
{
	o = json_object_get(o, a);
	if (b)
		o = json_object_get(o, b);
	return json_string_value(o);
}

static uint64_t uget(json_t *o, const char *a, const char *b)
{
	json_int_t v = json_integer_value(json_object_get(
		json_object_get(o, a), b));

	return v > 0 ? (uint64_t)v : 0;
}

/* The records' times (RFC 3339, bh_parse_rfc3339) */
static bool rec_time(json_t *rec, const char *which, uint64_t *ms)
{
	const char *t = sget(rec, "event", which);

	return t && bh_parse_rfc3339(t, ms);
}

struct side_in {
	const char *group;
	bool container;
	const char *name;
	const char *ip;
	json_t *labels;
	char *canon;		/* labels as sorted compact JSON */
};

static void side_read(json_t *rec, const char *side, struct side_in *s)
{
	json_t *o = json_object_get(rec, side), *names, *v;
	char key[40];
	size_t i;

	memset(s, 0, sizeof(*s));
	s->group = json_string_value(json_object_get(o, "group"));
	if (!s->group)
		s->group = "*";
	s->ip = json_string_value(json_object_get(o, "ip"));
	s->name = sget(o, "container", "name");
	if (!s->name)
		s->name = sget(o, "container", "id");
	s->container = json_is_object(json_object_get(o, "container"));
	s->labels = json_object_get(o, "labels");
	if (!json_is_object(s->labels))
		s->labels = NULL;
	/* allow records list every container of a side by name */
	snprintf(key, sizeof(key), "%s_containers", side);
	names = json_object_get(json_object_get(rec, "bulkhead"), key);
	json_array_foreach(names, i, v) {
		const char *n = json_string_value(v);

		if (!n)
			continue;
		s->container = true;
		if (!s->name || strcmp(n, s->name) < 0)
			s->name = n;
	}
	if (s->labels) {
		s->container = true;
		s->canon = json_dumps(s->labels, JSON_COMPACT |
				      JSON_SORT_KEYS);
	}
}

/* The side's identity: a container by its group and labels (replicas
 * with the same labels are one side), else by group alone when its
 * labels are not known; an address by group and address. */
static void side_key(const struct side_in *s, struct strbuf *sb)
{
	if (s->container && s->canon)
		sb_printf(sb, "c %s %s", s->group, s->canon);
	else if (s->container)
		sb_printf(sb, "g %s", s->group);
	else
		sb_printf(sb, "a %s %s", s->group, s->ip ? s->ip : "");
}

static void side_init(struct replay_side *o, const struct side_in *s,
		      const char *key)
{
	o->group = xstrdup(s->group);
	o->container = s->container;
	o->name = s->name ? xstrdup(s->name) : NULL;
	o->ip = !s->container && s->ip ? xstrdup(s->ip) : NULL;
	o->labels = s->labels ? json_deep_copy(s->labels) : NULL;
	o->key = xstrdup(key);
}

/* the least name, so that the order records come in does not matter */
static void side_merge(struct replay_side *o, const struct side_in *s)
{
	if (s->name && (!o->name || strcmp(s->name, o->name) < 0)) {
		free(o->name);
		o->name = xstrdup(s->name);
	}
}

static void side_free(struct replay_side *s)
{
	free(s->group);
	free(s->name);
	free(s->ip);
	json_decref(s->labels);
	free(s->key);
}

static bool rec_proto(json_t *rec, uint8_t *proto)
{
	static const struct {
		const char *name;
		uint8_t proto;
	} names[] = {
		{ "tcp", IPPROTO_TCP }, { "udp", IPPROTO_UDP },
		{ "sctp", IPPROTO_SCTP }, { "udplite", IPPROTO_UDPLITE },
		{ "icmp", IPPROTO_ICMP }, { "ipv6-icmp", IPPROTO_ICMPV6 },
	};
	const char *t = sget(rec, "network", "iana_number");
	unsigned long v;
	char *end;
	size_t i;

	if (t && *t) {
		v = strtoul(t, &end, 10);
		if (!*end && v > 0 && v < 256) {
			*proto = (uint8_t)v;
			return true;
		}
	}
	t = sget(rec, "network", "transport");
	for (i = 0; t && i < ARRAY_SIZE(names); i++)
		if (!strcmp(t, names[i].name)) {
			*proto = names[i].proto;
			return true;
		}
	return false;
}

static uint8_t rec_family(json_t *rec, uint8_t proto)
{
	const char *t = sget(rec, "network", "type");
	const char *ip = sget(rec, "source", "ip");

	if (!ip)
		ip = sget(rec, "destination", "ip");
	if (proto == IPPROTO_ICMPV6 || (t && !strcmp(t, "ipv6")) ||
	    (!t && ip && strchr(ip, ':')))
		return AF_INET6;
	return AF_INET;
}

static bool has_ports(uint8_t proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP ||
	       proto == IPPROTO_SCTP || proto == IPPROTO_UDPLITE;
}

static void obs_key(const char *sk, const char *dk, uint8_t family,
		    uint8_t proto, int port, struct strbuf *sb)
{
	sb_printf(sb, "%s\n%s\n%u %u %d", sk, dk, family, proto, port);
}

void replay_add(struct replay *rp, json_t *rec)
{
	const char *kind = sget(rec, "bulkhead", "record");
	const char *act = sget(rec, "event", "action");
	struct strbuf key = { 0 }, sk = { 0 }, dk = { 0 };
	struct side_in s, d;
	struct replay_obs *o;
	uint64_t start, end;
	uint8_t proto, family;
	json_t *port;
	size_t i;
	bool added;
	int dport = -1;

	if (!kind || strcmp(kind, "flow") || !act ||
	    (strcmp(act, "allow") && strcmp(act, "deny") &&
	     strcmp(act, "would-deny")) || !rec_proto(rec, &proto) ||
	    !rec_time(rec, "end", &end)) {
		rp->ignored++;
		return;
	}
	if (!rec_time(rec, "start", &start))
		start = end;
	family = rec_family(rec, proto);
	port = json_object_get(json_object_get(rec, "destination"), "port");
	if (has_ports(proto) && json_is_integer(port) &&
	    json_integer_value(port) >= 0 && json_integer_value(port) <= 65535)
		dport = (int)json_integer_value(port);
	side_read(rec, "source", &s);
	side_read(rec, "destination", &d);
	if (!s.container && !d.container) {
		rp->ignored++;
		goto out;
	}
	side_key(&s, &sk);
	side_key(&d, &dk);
	obs_key(sk.buf, dk.buf, family, proto, dport, &key);
	i = smap_get(&rp->index->obs, key.buf, &added);
	if (added) {
		xgrow(&rp->obs, &rp->cap, rp->n + 1, sizeof(*rp->obs));
		o = &rp->obs[rp->n++];
		memset(o, 0, sizeof(*o));
		side_init(&o->src, &s, sk.buf);
		side_init(&o->dst, &d, dk.buf);
		o->family = family;
		o->proto = proto;
		o->port = dport;
		o->first_ms = start;
		o->last_ms = end;
	} else {
		o = &rp->obs[i];
		side_merge(&o->src, &s);
		side_merge(&o->dst, &d);
		if (start < o->first_ms)
			o->first_ms = start;
		if (end > o->last_ms)
			o->last_ms = end;
	}
	o->records++;
	o->packets += uget(rec, "bulkhead", "packets");
	o->connections += uget(rec, "bulkhead", "connections");
	rp->records++;
out:
	free(s.canon);
	free(d.canon);
	sb_free(&key);
	sb_free(&sk);
	sb_free(&dk);
}

/* ---- judging */

struct judge_ctx {
	const struct policy *p;
	struct inventory *inv;
	struct smap containers;		/* side key -> index */
	struct explain_host host;
	size_t host_cap;
};

static void synth_addr(size_t i, uint8_t family, struct bh_addr *a)
{
	uint32_t n = (uint32_t)i + 1;

	memset(a, 0, sizeof(*a));
	a->family = family;
	if (family == AF_INET) {
		a->plen = 32;
		a->a[0] = (uint8_t)(240 | ((n >> 24) & 0x0f));
		a->a[1] = (uint8_t)(n >> 16);
		a->a[2] = (uint8_t)(n >> 8);
		a->a[3] = (uint8_t)n;
	} else {
		a->plen = 128;
		a->a[0] = 0xfd;
		a->a[2] = 0x0b;
		a->a[3] = 0x1c;
		a->a[12] = (uint8_t)(n >> 24);
		a->a[13] = (uint8_t)(n >> 16);
		a->a[14] = (uint8_t)(n >> 8);
		a->a[15] = (uint8_t)n;
	}
}

static unsigned recorded_group(const struct policy *p, const char *name)
{
	int g = policy_group_find(p, name);

	if (g >= 0 && policy_is_container_group(p, (unsigned)g))
		return (unsigned)g;
	return GROUP_UNASSIGNED;
}

/* The container of a side, added to the made-up inventory once. */
static void container_of(struct judge_ctx *jc, const struct replay_side *s)
{
	struct container *c;
	struct bh_addr a;
	const char *k;
	json_t *v;
	bool added;
	size_t i = smap_get(&jc->containers, s->key, &added);
	char id[32];

	if (!added)
		return;
	snprintf(id, sizeof(id), "replay-%zu", i + 1);
	c = container_new(id, s->name ? s->name : id);
	json_object_foreach(s->labels, k, v)
		if (json_is_string(v))
			container_add_label(c, k, json_string_value(v));
	synth_addr(i, AF_INET, &a);
	container_add_addr(c, &a);
	synth_addr(i, AF_INET6, &a);
	container_add_addr(c, &a);
	if (s->labels)
		c->group = policy_classify(jc->p, c->labels, c->n_labels,
					   NULL);
	else
		c->group = recorded_group(jc->p, s->group);
	inventory_add(jc->inv, c);
}

static void host_add(struct judge_ctx *jc, const struct bh_addr *a)
{
	xgrow(&jc->host.addrs, &jc->host_cap, jc->host.n + 1,
	      sizeof(*jc->host.addrs));
	jc->host.addrs[jc->host.n++] = *a;
}

static bool in_prefix(const struct bh_addr *net, const struct bh_addr *a)
{
	unsigned full = net->plen / 8, rest = net->plen % 8;

	if (net->family != a->family || memcmp(net->a, a->a, full))
		return false;
	return !rest || ((net->a[full] ^ a->a[full]) &
			 (uint8_t)(0xff << (8 - rest))) == 0;
}

static bool in_any_cidrs(const struct policy *p, const struct bh_addr *a)
{
	size_t g, i;

	for (g = GROUP_FIRST_USER; g < p->n_groups; g++)
		for (i = 0; i < p->groups[g].n_cidrs; i++)
			if (in_prefix(&p->groups[g].cidrs[i], a))
				return true;
	return false;
}

/* The address a non-container side is judged by: the recorded one, else
 * one that stands for its recorded group under p (a record of many
 * addresses names only the group). */
static void address_of(struct judge_ctx *jc, const struct replay_side *s,
		       uint8_t family, struct bh_addr *a)
{
	static const char *const world4[] = { "203.0.113.77",
					      "198.51.100.77", "192.0.2.77" };
	static const char *const world6[] = { "2001:db8:b1c::77",
					      "2001:db8:ffff::77" };
	const char *const *w = family == AF_INET ? world4 : world6;
	size_t nw = family == AF_INET ? ARRAY_SIZE(world4) :
		    ARRAY_SIZE(world6), i;
	int g;

	if (s->ip && bh_addr_parse(s->ip, false, a)) {
		if (!strcmp(s->group, "host"))
			host_add(jc, a);
		return;
	}
	if (!strcmp(s->group, "host")) {
		bh_addr_parse(family == AF_INET ? "198.18.255.254" :
			      "2001:db8:b1c::fffe", false, a);
		host_add(jc, a);
		return;
	}
	g = policy_group_find(jc->p, s->group);
	if (g >= 0 && jc->p->groups[g].kind == GK_CIDRS)
		for (i = 0; i < jc->p->groups[g].n_cidrs; i++)
			if (jc->p->groups[g].cidrs[i].family == family) {
				*a = jc->p->groups[g].cidrs[i];
				a->plen = family == AF_INET ? 32 : 128;
				return;
			}
	for (i = 0; i < nw; i++) {
		bh_addr_parse(w[i], false, a);
		if (!in_any_cidrs(jc->p, a))
			return;
	}
	bh_addr_parse(w[0], false, a);
}

static void side_addr(struct judge_ctx *jc, const struct replay_side *s,
		      uint8_t family, struct bh_addr *a)
{
	bool added;

	if (s->container) {
		synth_addr(smap_get(&jc->containers, s->key, &added), family,
			   a);
		return;
	}
	address_of(jc, s, family, a);
}

static void names(const struct policy *p, const unsigned *v, size_t n,
		  struct strbuf *sb)
{
	size_t i;

	for (i = 0; i < n; i++)
		sb_printf(sb, "%s%s", i ? "," : "",
			  v[i] < p->n_groups ? p->groups[v[i]].name : "?");
}

static void what_of(const struct policy *p, const struct explain_result *r,
		    const char *rule, char *buf, size_t len)
{
	struct strbuf sb = { 0 };
	char port[32];

	if (r->verdict == EXPLAIN_ALLOW && r->flow) {
		sb_puts(&sb, "flow ");
		names(p, r->flow->from, r->flow->n_from, &sb);
		sb_puts(&sb, " -> ");
		names(p, r->flow->to, r->flow->n_to, &sb);
		policy_port_str(r->port, port, sizeof(port));
		sb_printf(&sb, " %s", port);
	} else if (r->verdict == EXPLAIN_ALLOW && r->intra) {
		sb_printf(&sb, "intra %s", p->groups[r->chain_group].name);
	} else if (r->verdict == EXPLAIN_ALLOW) {
		sb_puts(&sb, r->reason);
	} else {
		sb_puts(&sb, rule);
	}
	snprintf(buf, len, "%s", sb.buf ? sb.buf : "");
	sb_free(&sb);
}

static void group_name(const struct policy *p, int g, char *buf)
{
	snprintf(buf, POLICY_NAME_MAX + 1, "%s", g >= 0 &&
		 (size_t)g < p->n_groups ? p->groups[g].name : "-");
}

void replay_judge(struct replay *rp, const struct policy *p, int slot)
{
	struct judge_ctx jc = { .p = p, .inv = inventory_new() };
	struct bh_addr *sa, *da;
	struct explain_result *r = xmalloc(sizeof(*r));
	struct replay_judgement *j;
	struct replay_obs *o;
	char rule[300];
	const char *slash, *colon;
	size_t i;

	for (i = 0; i < rp->n; i++) {
		if (rp->obs[i].src.container)
			container_of(&jc, &rp->obs[i].src);
		if (rp->obs[i].dst.container)
			container_of(&jc, &rp->obs[i].dst);
	}
	sa = xcalloc(rp->n + 1, sizeof(*sa));
	da = xcalloc(rp->n + 1, sizeof(*da));
	/* every host address first: the host group is judged by them all */
	for (i = 0; i < rp->n; i++) {
		o = &rp->obs[i];
		side_addr(&jc, &o->src, o->family, &sa[i]);
		side_addr(&jc, &o->dst, o->family, &da[i]);
	}
	for (i = 0; i < rp->n; i++) {
		o = &rp->obs[i];
		j = &o->j[slot];
		explain_decide(p, jc.inv, &jc.host, &sa[i], &da[i], o->proto,
			       o->port < 0 ? 0 : (uint16_t)o->port, r);
		j->verdict = r->verdict;
		explain_rule_name(p, r, rule, sizeof(rule));
		/* a flow by its file's base name and line: the candidate is
		 * most often a copy of the policy under another path */
		slash = strrchr(rule, '/');
		colon = strrchr(rule, ':');
		snprintf(j->rule, sizeof(j->rule), "%s",
			 slash && colon && slash < colon ? slash + 1 : rule);
		what_of(p, r, rule, j->what, sizeof(j->what));
		group_name(p, r->src.group, j->from);
		group_name(p, r->dst.group, j->to);
	}
	free(sa);
	free(da);
	free(r);
	explain_host_free(&jc.host);
	smap_free(&jc.containers);
	inventory_free(jc.inv);
}

/* ---- order and changes */

int replay_obs_cmp(const struct replay_obs *a, const struct replay_obs *b)
{
	int c = strcmp(a->src.key, b->src.key);

	if (!c)
		c = strcmp(a->dst.key, b->dst.key);
	if (!c)
		c = (int)a->family - (int)b->family;
	if (!c)
		c = (int)a->proto - (int)b->proto;
	return c ? c : a->port - b->port;
}

static int obs_cmp(const void *x, const void *y)
{
	return replay_obs_cmp(x, y);
}

void replay_sort(struct replay *rp)
{
	struct strbuf key = { 0 };
	size_t i;
	bool added;

	if (rp->n)
		qsort(rp->obs, rp->n, sizeof(*rp->obs), obs_cmp);
	/* the index pointed at the old places: records may still come */
	smap_free(&rp->index->obs);
	for (i = 0; i < rp->n; i++) {
		sb_reset(&key);
		obs_key(rp->obs[i].src.key, rp->obs[i].dst.key,
			rp->obs[i].family, rp->obs[i].proto, rp->obs[i].port,
			&key);
		smap_get(&rp->index->obs, key.buf, &added);
	}
	sb_free(&key);
}

static bool denied(enum explain_verdict v)
{
	return v == EXPLAIN_DENY;
}

enum replay_change replay_change_of(const struct replay_obs *o)
{
	const struct replay_judgement *now = &o->j[REPLAY_NOW];
	const struct replay_judgement *cand = &o->j[REPLAY_CANDIDATE];

	if (!denied(now->verdict) && denied(cand->verdict))
		return REPLAY_NEWLY_DENIED;
	if (denied(now->verdict) && !denied(cand->verdict))
		return REPLAY_NEWLY_ALLOWED;
	if (now->verdict != cand->verdict || strcmp(now->what, cand->what))
		return REPLAY_CHANGED_RULE;
	return REPLAY_SAME;
}

const char *replay_change_str(enum replay_change c)
{
	switch (c) {
	case REPLAY_NEWLY_DENIED:
		return "newly denied";
	case REPLAY_NEWLY_ALLOWED:
		return "newly allowed";
	case REPLAY_CHANGED_RULE:
		return "changed rule";
	default:
		return "same";
	}
}

const char *replay_service(const struct replay_obs *o, char *buf)
{
	static const struct {
		uint8_t proto;
		const char *name;
	} names[] = {
		{ IPPROTO_TCP, "tcp" }, { IPPROTO_UDP, "udp" },
		{ IPPROTO_SCTP, "sctp" }, { IPPROTO_UDPLITE, "udplite" },
		{ IPPROTO_ICMP, "icmp" }, { IPPROTO_ICMPV6, "ipv6-icmp" },
	};
	const char *n = NULL;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (names[i].proto == o->proto)
			n = names[i].name;
	if (!n)
		snprintf(buf, 32, "proto%u", o->proto);
	else if (o->port >= 0)
		snprintf(buf, 32, "%s/%d", n, o->port);
	else
		snprintf(buf, 32, "%s", n);
	return buf;
}

/* ---- life cycle */

struct replay *replay_new(void)
{
	struct replay *rp = xcalloc(1, sizeof(*rp));

	rp->index = xcalloc(1, sizeof(*rp->index));
	return rp;
}

void replay_free(struct replay *rp)
{
	size_t i;

	if (!rp)
		return;
	for (i = 0; i < rp->n; i++) {
		side_free(&rp->obs[i].src);
		side_free(&rp->obs[i].dst);
	}
	free(rp->obs);
	smap_free(&rp->index->obs);
	free(rp->index);
	free(rp);
}

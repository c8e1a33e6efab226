/* The decision function shared by `bulkheadctl explain` and the conntrack
 * cut. It mirrors ruleset_build(): when the table there changes shape,
 * this walk must change with it (tests/e2e/daemon_explain.t compares the
 * two on real traffic). */
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "explain.h"

int explain_host_load(struct explain_host *h)
{
	struct ifaddrs *ifa, *i;
	size_t cap = 0;
	struct bh_addr a;

	h->addrs = NULL;
	h->n = 0;
	if (getifaddrs(&ifa) < 0)
		return -errno;
	for (i = ifa; i; i = i->ifa_next) {
		if (!i->ifa_addr)
			continue;
		memset(&a, 0, sizeof(a));
		if (i->ifa_addr->sa_family == AF_INET) {
			a.family = AF_INET;
			a.plen = 32;
			memcpy(a.a, &((struct sockaddr_in *)i->ifa_addr)->sin_addr,
			       4);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			a.family = AF_INET6;
			a.plen = 128;
			memcpy(a.a,
			       &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr,
			       16);
		} else {
			continue;
		}
		xgrow(&h->addrs, &cap, h->n + 1, sizeof(*h->addrs));
		h->addrs[h->n++] = a;
	}
	freeifaddrs(ifa);
	return 0;
}

void explain_host_free(struct explain_host *h)
{
	free(h->addrs);
	h->addrs = NULL;
	h->n = 0;
}

bool explain_host_has(const struct explain_host *h, const struct bh_addr *a)
{
	static const uint8_t v6_loop[16] = { [15] = 1 };
	size_t i;

	/* fib type local: all of 127/8 and ::1, not only what is listed */
	if (a->family == AF_INET && a->a[0] == 127)
		return true;
	if (a->family == AF_INET6 && !memcmp(a->a, v6_loop, 16))
		return true;
	for (i = 0; h && i < h->n; i++)
		if (h->addrs[i].family == a->family &&
		    !memcmp(h->addrs[i].a, a->a, bh_addr_len(a)))
			return true;
	return false;
}

static bool in_prefix(const struct bh_addr *net, const struct bh_addr *a)
{
	unsigned full = net->plen / 8, rest = net->plen % 8;
	uint8_t mask;

	if (net->family != a->family)
		return false;
	if (memcmp(net->a, a->a, full))
		return false;
	if (!rest)
		return true;
	mask = (uint8_t)(0xff << (8 - rest));
	return (net->a[full] & mask) == (a->a[full] & mask);
}

static bool in_cidrs_group(const struct group *g, const struct bh_addr *a)
{
	size_t i;

	for (i = 0; i < g->n_cidrs; i++)
		if (in_prefix(&g->cidrs[i], a))
			return true;
	return false;
}

static int first_cidrs_group(const struct policy *p, const struct bh_addr *a)
{
	size_t g;

	for (g = GROUP_FIRST_USER; g < p->n_groups; g++)
		if (p->groups[g].kind == GK_CIDRS &&
		    in_cidrs_group(&p->groups[g], a))
			return (int)g;
	return -1;
}

/* The group whose chains judge container c (ruleset_container_delta). */
static unsigned container_group(const struct policy *p,
				const struct container *c)
{
	unsigned g = container_in_quarantine(c) ? GROUP_QUARANTINE :
					       c->group;

	if (g >= p->n_groups || !policy_is_container_group(p, g))
		g = GROUP_UNASSIGNED;
	return g;
}

static void describe(const struct policy *p, const struct explain_host *h,
		     struct explain_side *s)
{
	char buf[BH_ADDR_STRLEN], *why = NULL;
	const struct group *g;
	size_t i;
	int n = 0;

	if (s->c) {
		s->group = (int)container_group(p, s->c);
		if (s->c->quarantined)
			snprintf(s->why, sizeof(s->why), "container %s is "
				 "quarantined (seen, its labels not yet known)",
				 s->c->name);
		else {
			policy_classify(p, s->c->labels, s->c->n_labels, &why);
			snprintf(s->why, sizeof(s->why), "container %s (%s)%s%s "
				 "%s", s->c->name, s->c->id,
				 s->c->host ? " of host " : "",
				 s->c->host ? s->c->host : "", why ? why : "");
		}
		return;
	}
	if (explain_host_has(h, &s->addr)) {
		s->group = GROUP_HOST;
		snprintf(s->why, sizeof(s->why), "an address of this host");
		return;
	}
	s->group = first_cidrs_group(p, &s->addr);
	if (s->group >= 0) {
		g = &p->groups[s->group];
		n = snprintf(s->why, sizeof(s->why), "in cidrs group %s (",
			     g->name);
		for (i = 0; i < g->n_cidrs && n < (int)sizeof(s->why); i++)
			n += snprintf(s->why + n, sizeof(s->why) - (size_t)n,
				      "%s%s", i ? ", " : "",
				      bh_addr_str(&g->cidrs[i], buf));
		if (n < (int)sizeof(s->why))
			snprintf(s->why + n, sizeof(s->why) - (size_t)n,
				 ") at %s:%u:%u", policy_file(p, g->loc.file),
				 g->loc.line, g->loc.col);
		return;
	}
	s->group = GROUP_WORLD;
	snprintf(s->why, sizeof(s->why), "neither a container, a cidrs group "
		 "nor this host: world");
}

/* Does address a belong to peer group q, as the rule for q tests it? */
static bool peer_holds(const struct policy *p, const struct inventory *inv,
		       const struct explain_host *h, unsigned q,
		       const struct bh_addr *a, bool a_is_src)
{
	const struct container *c;

	if (q == GROUP_HOST)
		return explain_host_has(h, a);
	if (q == GROUP_WORLD) {
		/* world excludes containers only on the source side of an
		 * in_ chain; destinations in out_ chains are never
		 * containers in the forward hook */
		if (a_is_src && inventory_find_addr(inv, a))
			return false;
		return first_cidrs_group(p, a) < 0 && !explain_host_has(h, a);
	}
	if (p->groups[q].kind == GK_CIDRS)
		return in_cidrs_group(&p->groups[q], a);
	c = inventory_find_addr(inv, a);
	return c && container_group(p, c) == q;
}

static bool port_holds(const struct port_spec *ps, int family, uint8_t proto,
		       uint16_t dport)
{
	if (ps->proto == IPPROTO_ICMP && family != AF_INET)
		return false;
	if (ps->proto == IPPROTO_ICMPV6 && family != AF_INET6)
		return false;
	if (!ps->proto)
		return true;
	if (ps->proto != proto)
		return false;
	if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6)
		return true;
	return dport >= ps->lo && dport <= ps->hi;
}

/* The accept rules of in_<g> (in) or out_<g>, in chain order. */
static bool match_flows(const struct policy *p, const struct inventory *inv,
			const struct explain_host *h, unsigned g, bool in,
			const struct bh_addr *peer_addr, uint8_t proto,
			uint16_t dport, struct explain_result *r)
{
	size_t f, i, j, k;

	for (f = 0; f < p->n_flows; f++) {
		const struct flow *fl = &p->flows[f];
		const unsigned *self = in ? fl->to : fl->from;
		const unsigned *peer = in ? fl->from : fl->to;
		size_t n_self = in ? fl->n_to : fl->n_from;
		size_t n_peer = in ? fl->n_from : fl->n_to;

		for (i = 0; i < n_self; i++) {
			if (self[i] != g)
				continue;
			for (j = 0; j < n_peer; j++) {
				unsigned q = peer[j];

				if (!policy_flow_peer_judged(p, q, in))
					continue;
				if (!peer_holds(p, inv, h, q, peer_addr, in))
					continue;
				for (k = 0; k < fl->n_ports; k++) {
					if (!port_holds(&fl->ports[k],
							peer_addr->family,
							proto, dport))
						continue;
					r->flow = fl;
					r->port = &fl->ports[k];
					return true;
				}
			}
		}
	}
	return false;
}

/* Judge by chain in_<g> (in: g is the destination's group) or out_<g>. */
static void judge(const struct policy *p, const struct inventory *inv,
		  const struct explain_host *h, unsigned g, bool in,
		  uint8_t proto, uint16_t dport, struct explain_result *r)
{
	const struct group *gr = &p->groups[g];
	const struct bh_addr *peer = in ? &r->src.addr : &r->dst.addr;
	char where[300];

	snprintf(r->chain, sizeof(r->chain), "%s_%s", in ? "in" : "out",
		 gr->name);
	r->chain_group = (int)g;
	if (g == GROUP_QUARANTINE) {
		r->verdict = EXPLAIN_DENY;
		snprintf(r->reason, sizeof(r->reason), "the %s side is "
			 "quarantined: nothing passes", in ? "destination" :
			 "source");
		return;
	}
	if (in && gr->kind == GK_LABELS && gr->intra_allow && r->src.c &&
	    container_group(p, r->src.c) == g) {
		r->verdict = EXPLAIN_ALLOW;
		r->intra = true;
		snprintf(r->reason, sizeof(r->reason), "intra-group traffic "
			 "of %s is allowed", gr->name);
		return;
	}
	if (match_flows(p, inv, h, g, in, peer, proto, dport, r)) {
		r->verdict = EXPLAIN_ALLOW;
		snprintf(where, sizeof(where), "%s:%u:%u",
			 policy_file(p, r->flow->loc.file), r->flow->loc.line,
			 r->flow->loc.col);
		snprintf(r->reason, sizeof(r->reason), "the flow at %s", where);
		return;
	}
	if (g == GROUP_UNASSIGNED && !p->unassigned_deny) {
		r->verdict = EXPLAIN_ALLOW;
		snprintf(r->reason, sizeof(r->reason),
			 "settings.unassigned: allow");
		return;
	}
	r->verdict = gr->mode == MODE_AUDIT ? EXPLAIN_AUDIT : EXPLAIN_DENY;
	snprintf(r->reason, sizeof(r->reason), "default deny: no flow "
		 "declared %s %s%s", in ? "into" : "out of", gr->name,
		 gr->mode == MODE_AUDIT ? " (audit mode: logged as would-deny "
		 "and passed)" : (g == GROUP_UNASSIGNED ? " (containers that "
		 "match no group have no lateral flows)" : ""));
}

static void side_facts(const struct policy *p, const struct explain_side *s,
		       struct policy_facts *f)
{
	if (s->c) {
		policy_facts_container(p, (unsigned)s->group, s->c->labels,
				       s->c->n_labels, f);
		return;
	}
	memset(f, 0, sizeof(*f));
	f->world = s->group == GROUP_WORLD;
}

/* The forward chain meets the boundaries (docs/ruleset.md, "Boundaries")
 * before the dispatch: a boundary's drop wins over any flow. */
static void judge_boundaries(const struct policy *p, struct explain_result *r)
{
	struct policy_facts from, to;
	const struct boundary *b;
	int i;

	side_facts(p, &r->src, &from);
	side_facts(p, &r->dst, &to);
	i = policy_boundary_crossed(p, &from, &to);
	if (i < 0)
		return;
	b = &p->boundaries[i];
	r->verdict = EXPLAIN_DENY;
	r->flow = NULL;
	r->port = NULL;
	r->intra = false;
	snprintf(r->chain, sizeof(r->chain), "boundary_%s", b->name);
	snprintf(r->reason, sizeof(r->reason),
		 "crosses boundary '%s' (%s:%u:%u), judged by each container's own sensitivity and risk labels as well as its group's",
		 b->name, policy_file(p, b->loc.file), b->loc.line,
		 b->loc.col);
}

void explain_decide(const struct policy *p, const struct inventory *inv,
		    const struct explain_host *h, const struct bh_addr *src,
		    const struct bh_addr *dst, uint8_t proto, uint16_t dport,
		    struct explain_result *r)
{
	bool src_local, dst_local;

	memset(r, 0, sizeof(*r));
	r->src.addr = *src;
	r->dst.addr = *dst;
	r->src.group = r->dst.group = -1;
	r->chain_group = -1;
	r->src.c = inventory_find_addr(inv, src);
	r->dst.c = inventory_find_addr(inv, dst);
	describe(p, h, &r->src);
	describe(p, h, &r->dst);
	src_local = !r->src.c && explain_host_has(h, src);
	dst_local = !r->dst.c && explain_host_has(h, dst);

	/* input hook: only the source tree (from_*); output hook: only
	 * the destination tree (to_*); forward: destination first, then
	 * source */
	if (dst_local) {
		if (r->src.c)
			judge(p, inv, h, container_group(p, r->src.c), false,
			      proto, dport, r);
	} else if (src_local) {
		if (r->dst.c)
			judge(p, inv, h, container_group(p, r->dst.c), true,
			      proto, dport, r);
	} else if (r->dst.c) {
		judge(p, inv, h, container_group(p, r->dst.c), true, proto,
		      dport, r);
	} else if (r->src.c) {
		judge(p, inv, h, container_group(p, r->src.c), false, proto,
		      dport, r);
	}
	if (r->chain[0] && !src_local && !dst_local && p->n_boundaries)
		judge_boundaries(p, r);
	if (!r->chain[0]) {
		r->verdict = EXPLAIN_NOT_OURS;
		snprintf(r->reason, sizeof(r->reason), "neither side is a "
			 "container: not bulkhead's to judge");
	}
}

const char *explain_verdict_str(enum explain_verdict v)
{
	switch (v) {
	case EXPLAIN_ALLOW:
		return "allow";
	case EXPLAIN_DENY:
		return "deny";
	case EXPLAIN_AUDIT:
		return "would-deny";
	default:
		return "not-ours";
	}
}

const char *explain_rule_name(const struct policy *p,
			      const struct explain_result *r, char *buf,
			      size_t len)
{
	const struct src_loc *loc = NULL;

	buf[0] = '\0';
	if (r->verdict == EXPLAIN_NOT_OURS || r->chain_group < 0)
		return buf;
	if (r->verdict == EXPLAIN_ALLOW) {
		if (r->flow)
			loc = &r->flow->loc;
		else if (r->intra)
			loc = &p->groups[r->chain_group].loc;
		if (loc)
			snprintf(buf, len, "%s:%u", policy_file(p, loc->file),
				 loc->line);
		return buf;
	}
	snprintf(buf, len, "%s", r->chain_group == GROUP_QUARANTINE ?
		 "quarantine" : r->chain_group == GROUP_UNASSIGNED ?
		 "unassigned" : "default-deny");
	return buf;
}

static json_t *group_names(const struct policy *p, const unsigned *v,
			   size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i] < p->n_groups)
			json_array_append_new(a,
				json_string(p->groups[v[i]].name));
	return a;
}

static json_t *side_json(const struct policy *p, const struct explain_side *s)
{
	char buf[BH_ADDR_STRLEN];
	json_t *c = json_null();

	if (s->c)
		c = json_pack("{s:s, s:s, s:s?}", "id", s->c->id, "name",
			      s->c->name, "host", s->c->host);
	return json_pack("{s:s, s:o, s:o, s:s}", "addr",
			 bh_addr_str(&s->addr, buf), "container", c, "group",
			 s->group >= 0 ? json_string(p->groups[s->group].name) :
			 json_null(), "why", s->why);
}

json_t *explain_result_json(const struct policy *p,
			    const struct explain_result *r)
{
	json_t *flow = json_null();
	char at[300], port[32], rule[300];

	if (r->flow) {
		snprintf(at, sizeof(at), "%s:%u:%u",
			 policy_file(p, r->flow->loc.file), r->flow->loc.line,
			 r->flow->loc.col);
		policy_port_str(r->port, port, sizeof(port));
		flow = json_pack("{s:s, s:o, s:o, s:s}", "at", at, "from",
				 group_names(p, r->flow->from,
					     r->flow->n_from),
				 "to", group_names(p, r->flow->to,
						   r->flow->n_to),
				 "port", port);
	}
	explain_rule_name(p, r, rule, sizeof(rule));
	return json_pack("{s:s, s:s, s:s, s:o, s:s, s:b, s:o, s:o}",
			 "verdict", explain_verdict_str(r->verdict),
			 "by", r->reason, "rule", rule, "flow", flow,
			 "chain", r->chain,
			 "intra", r->intra, "src", side_json(p, &r->src),
			 "dst", side_json(p, &r->dst));
}

bool explain_parse_port(const char *s, uint8_t *proto, uint16_t *port)
{
	static const struct {
		const char *name;
		uint8_t proto;
	} protos[] = {
		{ "tcp", IPPROTO_TCP }, { "udp", IPPROTO_UDP },
		{ "sctp", IPPROTO_SCTP },
	};
	const char *slash = strchr(s, '/');
	unsigned long v;
	char *end;
	size_t i;

	*port = 0;
	if (!strcmp(s, "icmp")) {
		*proto = IPPROTO_ICMP;
		return true;
	}
	if (!strcmp(s, "icmpv6")) {
		*proto = IPPROTO_ICMPV6;
		return true;
	}
	if (!slash)
		return false;
	for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
		if (strlen(protos[i].name) != (size_t)(slash - s) ||
		    strncmp(s, protos[i].name, (size_t)(slash - s)))
			continue;
		if (slash[1] < '0' || slash[1] > '9')
			return false;
		errno = 0;
		v = strtoul(slash + 1, &end, 10);
		if (errno || *end || v > 65535)
			return false;
		*proto = protos[i].proto;
		*port = (uint16_t)v;
		return true;
	}
	return false;
}

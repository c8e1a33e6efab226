/* Denied-flow aggregation. Every logged packet lands in an aggregate keyed
 * by (src, dst, proto, dst port or ICMP type, deny rule); a flow nobody saw
 * in this or the previous window is emitted at once, the rest at the
 * window's end. The table is capped: packets of flows that find no room
 * are summed into one overflow record per window, so memory stays bounded
 * and no packet goes uncounted. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "flowlog.h"
#include "ruleset.h"

struct agg {
	struct agg *next;
	uint32_t hash;
	/* key */
	struct bh_addr src, dst;
	uint8_t proto;
	uint16_t dkey;			/* dst port, or ICMP type */
	struct flowlog_rule rule;
	/* attribution, fixed at the flow's first packet */
	char src_group[POLICY_NAME_MAX + 1], dst_group[POLICY_NAME_MAX + 1];
	char *src_cid, *src_cname, *dst_cid, *dst_cname;
	char *src_chost, *dst_chost;	/* a remote container's host */
	json_t *src_labels, *dst_labels;	/* the containers' labels */
	bool has_ports, has_icmp, one_sport;
	bool active;			/* a packet in this window */
	uint16_t sport, dport;
	uint8_t icmp_type, icmp_code;
	/* this window's packets not yet emitted */
	uint64_t packets, bytes, first_ms, last_ms;
};

struct cidr_ent {
	struct bh_addr net;
	unsigned group;
};

struct cidr_seg {			/* entries of one (family, plen) */
	uint8_t family, plen;
	size_t lo, hi;
};

struct flowlog {
	struct flowlog_opts o;
	uint32_t window_ms;
	uint64_t window_start;
	struct agg **b;
	size_t nb, n;
	const struct policy *p;
	const struct inventory *inv;
	struct cidr_ent *cidrs;
	size_t n_cidrs;
	struct cidr_seg *segs;		/* longest prefix first */
	size_t n_segs;
	uint64_t seq;
	uint64_t pending_lost;
	char *host_name;
	char policy_hash[POLICY_HASH_STRLEN];	/* "" without a policy */
	/* the window's overflow aggregate */
	uint64_t ov_packets, ov_bytes, ov_first, ov_last;
	struct flowlog_stats st;
};

static const char *const action_names[] = {
	[FL_ACT_DENY] = "deny", [FL_ACT_WOULD_DENY] = "would-deny",
	[FL_ACT_QUARANTINE] = "quarantine", [FL_ACT_SPOOF] = "spoof",
};
static const char *const dir_names[] = {
	[FL_DIR_IN] = "in", [FL_DIR_OUT] = "out", [FL_DIR_SPOOF] = "spoof",
};
static const char *const kind_names[] = {
	[FL_REC_FLOW] = "flow", [FL_REC_UNLOGGED] = "unlogged",
	[FL_REC_OVERFLOW] = "overflow", [FL_REC_LOSS] = "loss",
};

const char *flowlog_action_str(enum flowlog_action a)
{
	return action_names[a];
}

const char *flowlog_dir_str(enum flowlog_dir d)
{
	return dir_names[d];
}

const char *flowlog_kind_str(enum flowlog_kind k)
{
	return kind_names[k];
}

const char *flowlog_rule_name(const struct flowlog_rule *r)
{
	if (r->boundary[0])
		return r->boundary_rule;
	if (r->dir == FL_DIR_SPOOF)
		return "spoofed";
	if (!strcmp(r->group, "quarantine"))
		return "quarantine";
	if (!strcmp(r->group, "unassigned"))
		return "unassigned";
	return "default-deny";
}

const char *flowlog_direction_str(enum flowlog_dir d)
{
	return d == FL_DIR_IN ? "ingress" : "egress";
}

const char *flowlog_proto_str(uint8_t proto, char buf[8])
{
	switch (proto) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_SCTP:
		return "sctp";
	case IPPROTO_UDPLITE:
		return "udplite";
	case IPPROTO_ICMP:
		return "icmp";
	case IPPROTO_ICMPV6:
		return "ipv6-icmp";
	}
	snprintf(buf, 8, "%u", proto);
	return buf;
}

static bool valid_group_name(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > POLICY_NAME_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '-'))
			return false;
	return true;
}

static bool parse_dir(const char *s, size_t n, enum flowlog_dir *d)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(dir_names); i++)
		if (strlen(dir_names[i]) == n && !memcmp(s, dir_names[i], n)) {
			*d = (enum flowlog_dir)i;
			return true;
		}
	return false;
}

bool flowlog_parse_prefix(const char *s, struct flowlog_rule *r)
{
	const char *dir, *grp, *act;

	if (strncmp(s, "bh/", 3))
		return false;
	r->boundary[0] = '\0';
	if (!strncmp(s + 3, "boundary/", 9)) {
		grp = s + 12;
		act = strchr(grp, '/');
		if (!act || strcmp(act, "/deny") ||
		    !valid_group_name(grp, (size_t)(act - grp)))
			return false;
		r->dir = FL_DIR_IN;
		r->audit = false;
		r->group[0] = '\0';
		memcpy(r->boundary, grp, (size_t)(act - grp));
		r->boundary[act - grp] = '\0';
		snprintf(r->boundary_rule, sizeof(r->boundary_rule),
			 "boundary/%s", r->boundary);
		return true;
	}
	dir = s + 3;
	grp = strchr(dir, '/');
	if (!grp || !parse_dir(dir, (size_t)(grp - dir), &r->dir))
		return false;
	grp++;
	act = strchr(grp, '/');
	if (!act)
		return false;
	/* the bridge table's spoofing drops leave the group to the port */
	if (!(r->dir == FL_DIR_SPOOF && act - grp == 1 &&
	      *grp == RULESET_PORT_GROUP[0]) &&
	    !valid_group_name(grp, (size_t)(act - grp)))
		return false;
	act++;
	if (!strcmp(act, "deny"))
		r->audit = false;
	else if (!strcmp(act, "audit"))
		r->audit = true;
	else
		return false;
	memcpy(r->group, grp, (size_t)(act - 1 - grp));
	r->group[act - 1 - grp] = '\0';
	return true;
}

bool flowlog_parse_counter(const char *name, struct flowlog_rule *r,
			   bool *unlogged)
{
	const char *rest, *grp;

	r->boundary[0] = '\0';
	/* a boundary's: boundary_<name>, and unlogged_boundary_<name> over
	 * the log rate ("boundary" is no direction: no clash) */
	rest = !strncmp(name, "unlogged_", 9) ? name + 9 : name;
	if (!strncmp(rest, "boundary_", 9)) {
		if (!valid_group_name(rest + 9, strlen(rest + 9)))
			return false;
		*unlogged = rest != name;
		r->dir = FL_DIR_IN;
		r->audit = false;
		r->group[0] = '\0';
		strcpy(r->boundary, rest + 9);
		snprintf(r->boundary_rule, sizeof(r->boundary_rule),
			 "boundary/%s", r->boundary);
		return true;
	}
	if (!strncmp(name, "spoofed_", 8)) {
		/* the bridge table's anti-spoofing chains: never rate
		 * limited, so there is no unlogged twin */
		if (!valid_group_name(name + 8, strlen(name + 8)))
			return false;
		*unlogged = false;
		r->dir = FL_DIR_SPOOF;
		r->audit = false;
		strcpy(r->group, name + 8);
		return true;
	}
	if (!strncmp(name, "denied_", 7)) {
		*unlogged = false;
		rest = name + 7;
	} else if (!strncmp(name, "unlogged_", 9)) {
		*unlogged = true;
		rest = name + 9;
	} else {
		return false;
	}
	grp = strchr(rest, '_');
	if (!grp || !parse_dir(rest, (size_t)(grp - rest), &r->dir))
		return false;
	grp++;
	if (!valid_group_name(grp, strlen(grp)))
		return false;
	strcpy(r->group, grp);
	/* The counter does not say deny or audit; the caller asks policy. */
	r->audit = false;
	return true;
}

/* ---- cidrs groups: longest prefix, then the first group in file order */

static int cidr_cmp(const void *x, const void *y)
{
	const struct cidr_ent *a = x, *b = y;
	int c;

	if (a->net.family != b->net.family)
		return a->net.family < b->net.family ? -1 : 1;
	if (a->net.plen != b->net.plen)
		return a->net.plen > b->net.plen ? -1 : 1;
	c = memcmp(a->net.a, b->net.a, 16);
	if (c)
		return c;
	return a->group < b->group ? -1 : a->group > b->group;
}

static void mask_addr(struct bh_addr *a, uint8_t plen)
{
	size_t i;

	for (i = 0; i < 16; i++) {
		if (plen >= 8) {
			plen -= 8;
			continue;
		}
		a->a[i] &= (uint8_t)(0xff00 >> plen);
		plen = 0;
	}
}

static void cidr_index_build(struct flowlog *fl)
{
	const struct policy *p = fl->p;
	size_t g, i, n = 0, cap = 0;

	free(fl->cidrs);
	free(fl->segs);
	fl->cidrs = NULL;
	fl->segs = NULL;
	fl->n_cidrs = fl->n_segs = 0;
	if (!p)
		return;
	for (g = 0; g < p->n_groups; g++)
		for (i = 0; i < p->groups[g].n_cidrs; i++) {
			xgrow(&fl->cidrs, &cap, n + 1, sizeof(*fl->cidrs));
			fl->cidrs[n].net = p->groups[g].cidrs[i];
			mask_addr(&fl->cidrs[n].net, fl->cidrs[n].net.plen);
			fl->cidrs[n].group = (unsigned)g;
			n++;
		}
	if (!n)
		return;
	qsort(fl->cidrs, n, sizeof(*fl->cidrs), cidr_cmp);
	/* Equal networks: the first group in file order keeps it. */
	fl->n_cidrs = 0;
	for (i = 0; i < n; i++) {
		struct cidr_ent *last = fl->n_cidrs ?
			&fl->cidrs[fl->n_cidrs - 1] : NULL;

		if (last && last->net.family == fl->cidrs[i].net.family &&
		    last->net.plen == fl->cidrs[i].net.plen &&
		    !memcmp(last->net.a, fl->cidrs[i].net.a, 16))
			continue;
		fl->cidrs[fl->n_cidrs++] = fl->cidrs[i];
	}
	cap = 0;
	for (i = 0; i < fl->n_cidrs; i++) {
		struct cidr_seg *s = fl->n_segs ?
			&fl->segs[fl->n_segs - 1] : NULL;

		if (s && s->family == fl->cidrs[i].net.family &&
		    s->plen == fl->cidrs[i].net.plen) {
			s->hi = i + 1;
			continue;
		}
		xgrow(&fl->segs, &cap, fl->n_segs + 1, sizeof(*fl->segs));
		fl->segs[fl->n_segs++] = (struct cidr_seg){
			.family = fl->cidrs[i].net.family,
			.plen = fl->cidrs[i].net.plen, .lo = i, .hi = i + 1,
		};
	}
}

/* Index of the cidrs group holding a, or -1. One binary search per prefix
 * length in use, independent of the number of containers. */
static int cidr_lookup(const struct flowlog *fl, const struct bh_addr *a)
{
	size_t s, lo, hi, mid;
	struct bh_addr m;
	int c;

	for (s = 0; s < fl->n_segs; s++) {
		if (fl->segs[s].family != a->family)
			continue;
		m = *a;
		memset(m.a + bh_addr_len(a), 0, 16 - bh_addr_len(a));
		mask_addr(&m, fl->segs[s].plen);
		lo = fl->segs[s].lo;
		hi = fl->segs[s].hi;
		while (lo < hi) {
			mid = lo + (hi - lo) / 2;
			c = memcmp(m.a, fl->cidrs[mid].net.a, 16);
			if (!c)
				return (int)fl->cidrs[mid].group;
			if (c < 0)
				hi = mid;
			else
				lo = mid + 1;
		}
	}
	return -1;
}

/* ---- the aggregate table */

static uint32_t agg_hash(const struct bh_addr *src, const struct bh_addr *dst,
			 uint8_t proto, uint16_t dkey,
			 const struct flowlog_rule *r)
{
	uint32_t h = bh_addr_hash(src);

	h = h * 0x9e3779b1u ^ bh_addr_hash(dst);
	h = h * 0x9e3779b1u ^ ((uint32_t)proto << 16 | dkey);
	h = h * 0x9e3779b1u ^ bh_str_hash(r->group);
	h = h * 0x9e3779b1u ^ bh_str_hash(r->boundary);
	return h ^ (uint32_t)r->dir << 1 ^ (uint32_t)r->audit;
}

static bool agg_match(const struct agg *a, const struct bh_addr *src,
		      const struct bh_addr *dst, uint8_t proto, uint16_t dkey,
		      const struct flowlog_rule *r)
{
	return a->proto == proto && a->dkey == dkey &&
	       bh_addr_eq(&a->src, src) && bh_addr_eq(&a->dst, dst) &&
	       a->rule.dir == r->dir && a->rule.audit == r->audit &&
	       !strcmp(a->rule.group, r->group) &&
	       !strcmp(a->rule.boundary, r->boundary);
}

static void agg_free(struct agg *a)
{
	if (!a)
		return;
	free(a->src_cid);
	free(a->src_cname);
	free(a->dst_cid);
	free(a->dst_cname);
	free(a->src_chost);
	free(a->dst_chost);
	json_decref(a->src_labels);
	json_decref(a->dst_labels);
	free(a);
}

static void table_grow(struct flowlog *fl)
{
	size_t nb = fl->nb * 2, i;
	struct agg **b = xcalloc(nb, sizeof(*b)), *a, *next;

	for (i = 0; i < fl->nb; i++)
		for (a = fl->b[i]; a; a = next) {
			next = a->next;
			a->next = b[a->hash & (nb - 1)];
			b[a->hash & (nb - 1)] = a;
		}
	free(fl->b);
	fl->b = b;
	fl->nb = nb;
}

struct flowlog *flowlog_new(const struct flowlog_opts *o, uint64_t now_ms)
{
	struct flowlog *fl = xcalloc(1, sizeof(*fl));

	fl->o = *o;
	if (!fl->o.window_ms)
		fl->o.window_ms = FLOWLOG_WINDOW_DEFAULT_MS;
	if (!fl->o.max_flows)
		fl->o.max_flows = FLOWLOG_MAX_FLOWS_DEFAULT;
	fl->window_ms = fl->o.window_ms;
	fl->window_start = now_ms;
	fl->nb = 256;
	fl->b = xcalloc(fl->nb, sizeof(*fl->b));
	fl->st.max_flows = fl->o.max_flows;
	fl->host_name = o->host_name ? xstrdup(o->host_name) : NULL;
	fl->o.host_name = NULL;
	return fl;
}

void flowlog_free(struct flowlog *fl)
{
	struct agg *a, *next;
	size_t i;

	if (!fl)
		return;
	for (i = 0; i < fl->nb; i++)
		for (a = fl->b[i]; a; a = next) {
			next = a->next;
			agg_free(a);
		}
	free(fl->b);
	free(fl->cidrs);
	free(fl->segs);
	free(fl->host_name);
	free(fl);
}

void flowlog_set_context(struct flowlog *fl, const struct policy *p,
			 const struct inventory *inv)
{
	fl->p = p;
	fl->inv = inv;
	if (p)
		policy_hash_hex(p, fl->policy_hash);
	if (p && p->log_window_ms)
		fl->window_ms = p->log_window_ms;
	cidr_index_build(fl);
}

uint32_t flowlog_window_ms(const struct flowlog *fl)
{
	return fl->window_ms;
}

static const char *group_name(const struct flowlog *fl, unsigned g)
{
	if (!fl->p || g >= fl->p->n_groups)
		return NULL;
	return fl->p->groups[g].name;
}

static void set_group(char *dst, const char *name)
{
	if (!name) {
		dst[0] = '\0';
		return;
	}
	snprintf(dst, POLICY_NAME_MAX + 1, "%s", name);
}

/* The group of the container whose host-side port is ifname: the sender
 * of a spoofed frame. "" when no container has that port (any more). */
static void port_group(const struct flowlog *fl, const char *ifname,
		       char *group)
{
	const struct container *c = fl->inv && ifname[0] ?
		inventory_find_ifname(fl->inv, ifname) : NULL;

	set_group(group, c ? group_name(fl, container_in_quarantine(c) ?
					GROUP_QUARANTINE : c->group) : NULL);
}

/* Container and group of one side, from the inventory and the cidrs
 * groups; an address in neither is "world". */
const char *flowlog_attribute_addr(const struct flowlog *fl,
				   const struct bh_addr *a,
				   const struct container **cp)
{
	const struct container *c = fl->inv ?
		inventory_find_addr(fl->inv, a) : NULL;
	int g;

	*cp = c;
	if (c)
		return group_name(fl, container_in_quarantine(c) ?
				  GROUP_QUARANTINE : c->group);
	g = cidr_lookup(fl, a);
	return group_name(fl, g >= 0 ? (unsigned)g : GROUP_WORLD);
}

json_t *flowlog_labels_json(const struct container *c)
{
	json_t *o = json_object();
	size_t i;

	for (i = 0; i < c->n_labels; i++)
		json_object_set_new(o, c->labels[i].key,
				    json_string(c->labels[i].value));
	return o;
}

static void attribute(const struct flowlog *fl, const struct bh_addr *a,
		      char *group, char **cid, char **cname, char **chost,
		      json_t **labels)
{
	const struct container *c;
	const char *g = flowlog_attribute_addr(fl, a, &c);

	if (c) {
		*cid = xstrdup(c->id);
		*cname = c->name ? xstrdup(c->name) : NULL;
		*chost = c->host ? xstrdup(c->host) : NULL;
		*labels = flowlog_labels_json(c);
		set_group(group, group_name(fl, container_in_quarantine(c) ?
					    GROUP_QUARANTINE : c->group));
		return;
	}
	set_group(group, g);
}

static enum flowlog_action rule_action(const struct flowlog_rule *r)
{
	if (r->dir == FL_DIR_SPOOF)
		return FL_ACT_SPOOF;
	if (!strcmp(r->group, "quarantine"))
		return FL_ACT_QUARANTINE;
	return r->audit ? FL_ACT_WOULD_DENY : FL_ACT_DENY;
}

static const char *sensitivity_of(const struct flowlog *fl, const char *group)
{
	int g = fl->p && group ? policy_group_find(fl->p, group) : -1;

	return g < 0 ? NULL :
	       policy_sensitivity_str(fl->p->groups[g].sensitivity);
}

static void emit(struct flowlog *fl, struct flowlog_rec *r, uint64_t now_ms)
{
	r->seq = ++fl->seq;
	r->host_name = fl->host_name;
	/* The policy in force when the record is written: a record that
	 * spans a reload (at most one window) names the new one. */
	r->policy_hash = fl->policy_hash[0] ? fl->policy_hash : NULL;
	r->src.sensitivity = sensitivity_of(fl, r->src.group);
	r->dst.sensitivity = sensitivity_of(fl, r->dst.group);
	r->emit_ms = now_ms;
	r->lost = fl->pending_lost;
	fl->pending_lost = 0;
	fl->st.records++;
	if (fl->o.emit)
		fl->o.emit(r, fl->o.arg);
}

static void side_of(struct flowlog_side *s, const struct bh_addr *addr,
		    const char *group, const char *cid, const char *cname)
{
	s->has_addr = true;
	s->addr = *addr;
	s->group = group[0] ? group : NULL;
	s->container_id = cid;
	s->container_name = cname;
}

static void emit_agg(struct flowlog *fl, const struct agg *a, bool first,
		     uint64_t now_ms)
{
	struct flowlog_rec r = {
		.kind = FL_REC_FLOW,
		.action = rule_action(&a->rule),
		.dir = a->rule.dir,
		.start_ms = a->first_ms,
		.end_ms = a->last_ms,
		.proto = a->proto,
		.has_icmp = a->has_icmp,
		.icmp_type = a->icmp_type,
		.icmp_code = a->icmp_code,
		.packets = a->packets,
		.bytes = a->bytes,
		.first = first,
		.rule = flowlog_rule_name(&a->rule),
	};

	side_of(&r.src, &a->src, a->src_group, a->src_cid, a->src_cname);
	side_of(&r.dst, &a->dst, a->dst_group, a->dst_cid, a->dst_cname);
	r.src.container_host = a->src_chost;
	r.dst.container_host = a->dst_chost;
	r.src.labels = a->src_labels;
	r.dst.labels = a->dst_labels;
	if (a->has_ports) {
		r.dst.has_port = true;
		r.dst.port = a->dport;
		/* A source port is reported only when all the record's
		 * packets share it (retries pick new ephemeral ports). */
		r.src.has_port = a->one_sport;
		r.src.port = a->sport;
	}
	emit(fl, &r, now_ms);
}

void flowlog_packet(struct flowlog *fl, const struct nflog_pkt *p)
{
	struct flowlog_rule rule;
	uint16_t dkey = p->has_ports ? p->dport :
			p->has_icmp ? p->icmp_type : 0;
	uint32_t h;
	struct agg *a;

	if (!flowlog_parse_prefix(p->prefix, &rule)) {
		fl->st.unparsed++;
		return;
	}
	if (rule.dir == FL_DIR_SPOOF && !strcmp(rule.group, RULESET_PORT_GROUP))
		port_group(fl, p->indev, rule.group);
	fl->st.packets++;
	fl->st.bytes += p->len;
	h = agg_hash(&p->src, &p->dst, p->proto, dkey, &rule);
	for (a = fl->b[h & (fl->nb - 1)]; a; a = a->next)
		if (a->hash == h &&
		    agg_match(a, &p->src, &p->dst, p->proto, dkey, &rule))
			break;
	if (a) {
		if (!a->packets) {
			a->first_ms = p->wall_ms;
			a->sport = p->sport;
			a->one_sport = true;
		} else if (a->sport != p->sport) {
			a->one_sport = false;
		}
		a->packets++;
		a->bytes += p->len;
		a->last_ms = p->wall_ms;
		a->active = true;
		return;
	}
	if (fl->n >= fl->o.max_flows) {
		if (!fl->ov_packets)
			fl->ov_first = p->wall_ms;
		fl->ov_packets++;
		fl->ov_bytes += p->len;
		fl->ov_last = p->wall_ms;
		fl->st.overflow++;
		return;
	}
	a = xcalloc(1, sizeof(*a));
	a->hash = h;
	a->src = p->src;
	a->dst = p->dst;
	a->proto = p->proto;
	a->dkey = dkey;
	a->rule = rule;
	a->has_ports = p->has_ports;
	a->sport = p->sport;
	a->one_sport = true;
	a->dport = p->dport;
	a->has_icmp = p->has_icmp;
	a->icmp_type = p->icmp_type;
	a->icmp_code = p->icmp_code;
	if (rule.dir == FL_DIR_SPOOF) {
		/* The source address is forged: whoever owns it did not
		 * send the packet. The rule names the sender's group. */
		set_group(a->src_group, rule.group);
	} else {
		attribute(fl, &p->src, a->src_group, &a->src_cid,
			  &a->src_cname, &a->src_chost, &a->src_labels);
	}
	attribute(fl, &p->dst, a->dst_group, &a->dst_cid, &a->dst_cname,
		  &a->dst_chost, &a->dst_labels);
	/* The rule that logged the packet is authoritative for its side,
	 * also when the container has gone since. A boundary's rule names
	 * no group: both sides are what their addresses say. */
	if (!rule.group[0])
		;
	else if (rule.dir == FL_DIR_IN)
		set_group(a->dst_group, rule.group);
	else
		set_group(a->src_group, rule.group);

	a->active = true;
	a->packets = 1;
	a->bytes = p->len;
	a->first_ms = a->last_ms = p->wall_ms;
	emit_agg(fl, a, true, p->wall_ms);
	a->packets = a->bytes = 0;

	if (fl->n + 1 > fl->nb)
		table_grow(fl);
	a->next = fl->b[h & (fl->nb - 1)];
	fl->b[h & (fl->nb - 1)] = a;
	fl->n++;
}

uint64_t flowlog_seq_next(struct flowlog *fl)
{
	fl->st.records++;
	return ++fl->seq;
}

void flowlog_lost(struct flowlog *fl, uint64_t n)
{
	fl->pending_lost += n;
	fl->st.lost += n;
}

void flowlog_unlogged(struct flowlog *fl, const struct flowlog_rule *r,
		      uint64_t n, uint64_t start_ms, uint64_t end_ms)
{
	struct flowlog_rec rec = {
		.kind = FL_REC_UNLOGGED,
		.action = rule_action(r),
		.dir = r->dir,
		.start_ms = start_ms,
		.end_ms = end_ms,
		.unlogged = n,
		.rule = flowlog_rule_name(r),
	};

	if (!n)
		return;
	fl->st.unlogged += n;
	if (!r->group[0])
		;	/* a boundary's: no one group, its rule names it */
	else if (r->dir == FL_DIR_IN)
		rec.dst.group = r->group;
	else
		rec.src.group = r->group;
	emit(fl, &rec, end_ms);
}

void flowlog_flush(struct flowlog *fl, uint64_t now_ms)
{
	struct agg **pp, *a;
	size_t i;

	for (i = 0; i < fl->nb; i++)
		for (pp = &fl->b[i]; (a = *pp);) {
			if (a->packets)
				emit_agg(fl, a, false, now_ms);
			if (a->active) {
				a->packets = a->bytes = 0;
				a->active = false;
				pp = &a->next;
				continue;
			}
			/* Idle for a whole window: a later packet is news. */
			*pp = a->next;
			agg_free(a);
			fl->n--;
		}
	if (fl->ov_packets) {
		struct flowlog_rec r = {
			.kind = FL_REC_OVERFLOW,
			.start_ms = fl->ov_first,
			.end_ms = fl->ov_last,
			.packets = fl->ov_packets,
			.bytes = fl->ov_bytes,
		};

		emit(fl, &r, now_ms);
		fl->ov_packets = fl->ov_bytes = 0;
	}
	if (fl->pending_lost) {
		struct flowlog_rec r = {
			.kind = FL_REC_LOSS,
			.start_ms = fl->window_start,
			.end_ms = now_ms,
		};

		emit(fl, &r, now_ms);
	}
}

uint64_t flowlog_tick(struct flowlog *fl, uint64_t now_ms)
{
	if (bh_window_over(fl->window_start, fl->window_ms, now_ms)) {
		flowlog_flush(fl, now_ms);
		fl->window_start = bh_window_next(fl->window_start,
						  fl->window_ms, now_ms);
	}
	return bh_window_left(fl->window_start, fl->window_ms, now_ms);
}

void flowlog_get_stats(const struct flowlog *fl, struct flowlog_stats *s)
{
	*s = fl->st;
	s->flows = fl->n;
}

/* ---- JSON (schema 1, docs/denied-flows.md) */

json_t *flowlog_side_json(const struct flowlog_side *s)
{
	char buf[BH_ADDR_STRLEN];
	json_t *o = json_object();

	if (s->has_addr)
		json_object_set_new(o, "ip",
				    json_string(bh_addr_str(&s->addr, buf)));
	if (s->has_port)
		json_object_set_new(o, "port", json_integer(s->port));
	if (s->group)
		json_object_set_new(o, "group", json_string(s->group));
	if (s->sensitivity)
		json_object_set_new(o, "sensitivity",
				    json_string(s->sensitivity));
	if (s->container_id) {
		json_t *c = json_object();

		json_object_set_new(c, "id", json_string(s->container_id));
		if (s->container_name)
			json_object_set_new(c, "name",
					    json_string(s->container_name));
		if (s->container_host)
			json_object_set_new(c, "host",
					    json_string(s->container_host));
		json_object_set_new(o, "container", c);
	}
	/* shared with the aggregate, which outlives the record */
	if (s->labels)
		json_object_set(o, "labels", s->labels);
	return o;
}

void flowlog_why_json(json_t *o, const char *rule, const char *policy_hash,
		      const char *host_name)
{
	if (rule || policy_hash) {
		json_t *r = json_object();

		if (rule)
			json_object_set_new(r, "name", json_string(rule));
		if (policy_hash)
			json_object_set_new(r, "ruleset",
					    json_string(policy_hash));
		json_object_set_new(o, "rule", r);
	}
	if (host_name)
		json_object_set_new(o, "host",
				    json_pack("{s:s}", "name", host_name));
}

json_t *flowlog_head_json(uint64_t emit_ms, json_t *type,
			  const char *dataset, const char *action,
			  uint64_t start_ms, uint64_t end_ms)
{
	char t[32];
	json_t *o = json_object(), *ev = json_object();

	json_object_set_new(o, "@timestamp",
			    json_string(bh_rfc3339(emit_ms, t)));
	json_object_set_new(o, "schema", json_integer(FLOWLOG_SCHEMA));
	json_object_set_new(ev, "kind", json_string("event"));
	json_object_set_new(ev, "category", json_pack("[s]", "network"));
	json_object_set_new(ev, "type", type);
	json_object_set_new(ev, "dataset", json_string(dataset));
	if (action)
		json_object_set_new(ev, "action", json_string(action));
	json_object_set_new(ev, "start", json_string(bh_rfc3339(start_ms, t)));
	json_object_set_new(ev, "end", json_string(bh_rfc3339(end_ms, t)));
	json_object_set_new(o, "event", ev);
	return o;
}

json_t *flowlog_rec_json(const struct flowlog_rec *r)
{
	char pb[8];
	json_t *o, *net, *bh;

	o = flowlog_head_json(r->emit_ms, json_pack("[s]", "denied"),
			      "bulkhead.denied",
			      r->kind != FL_REC_OVERFLOW &&
			      r->kind != FL_REC_LOSS ?
			      flowlog_action_str(r->action) : NULL,
			      r->start_ms, r->end_ms);
	if (r->kind == FL_REC_FLOW || r->kind == FL_REC_UNLOGGED) {
		net = json_object();
		if (r->kind == FL_REC_FLOW) {
			json_object_set_new(net, "type", json_string(
				r->src.addr.family == AF_INET6 ? "ipv6" :
				"ipv4"));
			json_object_set_new(net, "transport", json_string(
				flowlog_proto_str(r->proto, pb)));
			json_object_set_new(net, "iana_number",
					    json_sprintf("%u", r->proto));
		}
		json_object_set_new(net, "direction",
				    json_string(flowlog_direction_str(r->dir)));
		json_object_set_new(o, "network", net);
	}
	json_object_set_new(o, "source", flowlog_side_json(&r->src));
	json_object_set_new(o, "destination", flowlog_side_json(&r->dst));
	flowlog_why_json(o, r->rule, r->policy_hash, r->host_name);
	bh = json_object();
	json_object_set_new(bh, "record",
			    json_string(flowlog_kind_str(r->kind)));
	json_object_set_new(bh, "seq", json_integer((json_int_t)r->seq));
	if (r->kind == FL_REC_FLOW || r->kind == FL_REC_UNLOGGED)
		json_object_set_new(bh, "direction",
				    json_string(flowlog_dir_str(r->dir)));
	if (r->kind == FL_REC_FLOW)
		json_object_set_new(bh, "first", json_boolean(r->first));
	if (r->has_icmp) {
		json_object_set_new(bh, "icmp_type",
				    json_integer(r->icmp_type));
		json_object_set_new(bh, "icmp_code",
				    json_integer(r->icmp_code));
	}
	json_object_set_new(bh, "packets", json_integer((json_int_t)r->packets));
	json_object_set_new(bh, "bytes", json_integer((json_int_t)r->bytes));
	json_object_set_new(bh, "unlogged",
			    json_integer((json_int_t)r->unlogged));
	json_object_set_new(bh, "lost", json_integer((json_int_t)r->lost));
	json_object_set_new(o, "bulkhead", bh);
	return o;
}

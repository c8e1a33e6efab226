/* The ruleset model in `nft -f` syntax. Every construct printed here has
 * exactly one netlink encoding in nft.c; elements are sorted so the text
 * is the same however the model got its contents. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ruleset.h"

static const char *const key_type[] = {
	[RS_KEY_IPV4] = "ipv4_addr", [RS_KEY_IPV6] = "ipv6_addr",
	[RS_KEY_IFNAME] = "ifname",
	[RS_KEY_IFNAME_IPV4] = "ifname . ipv4_addr",
	[RS_KEY_IFNAME_IPV6] = "ifname . ipv6_addr",
	[RS_KEY_IPV4_PROTO_PORT] = "ipv4_addr . inet_proto . inet_service",
	[RS_KEY_IPV6_PROTO_PORT] = "ipv6_addr . inet_proto . inet_service",
};


static const char *l4_name(unsigned proto)
{
	switch (proto) {
	case IPPROTO_TCP: return "tcp";
	case IPPROTO_UDP: return "udp";
	case IPPROTO_SCTP: return "sctp";
	case IPPROTO_ICMP: return "icmp";
	case IPPROTO_ICMPV6: return "ipv6-icmp";
	}
	return "?";
}

static int key_cmp(const void *a, const void *b, void *arg)
{
	const struct rs_set *s = arg;
	int r = memcmp(s->keys + *(const size_t *)a * s->klen,
		       s->keys + *(const size_t *)b * s->klen, s->klen);

	return r;
}

/* "10.0.0.0/8" when the range is a prefix, else "lo-hi". */
static void range_str(const struct rs_set *s, size_t i, char *buf,
		      size_t len)
{
	const uint8_t *lo = s->keys + i * s->klen, *hi = s->key_ends + i * s->klen;
	struct bh_addr a = { 0 };
	char x[BH_ADDR_STRLEN], y[BH_ADDR_STRLEN];
	unsigned plen = 0, bit;
	bool prefix = true;

	a.family = s->key == RS_KEY_IPV4 ? AF_INET : AF_INET6;
	a.plen = s->klen * 8;
	/* the prefix length is where lo and hi start to differ; it is a
	 * prefix when lo has only zeros and hi only ones after it */
	while (plen < s->klen * 8u &&
	       !(((lo[plen / 8] ^ hi[plen / 8]) >> (7 - plen % 8)) & 1))
		plen++;
	for (bit = plen; bit < s->klen * 8u; bit++)
		if (((lo[bit / 8] >> (7 - bit % 8)) & 1) ||
		    !((hi[bit / 8] >> (7 - bit % 8)) & 1))
			prefix = false;
	memcpy(a.a, lo, s->klen);
	if (prefix) {
		a.plen = plen;
		snprintf(buf, len, "%s", bh_addr_str(&a, x));
		return;
	}
	bh_addr_str(&a, x);
	memcpy(a.a, hi, s->klen);
	snprintf(buf, len, "%s-%s", x, bh_addr_str(&a, y));
}

static void print_set(const struct ruleset *rs, const struct rs_set *s,
		      FILE *out)
{
	size_t *ord, i;
	char kb[128];

	fprintf(out, "\t%s %s {\n\t\ttype %s%s\n", s->counters ? "map" : "set",
		s->name, key_type[s->key], s->counters ? " : counter" : "");
	if (s->size)
		fprintf(out, "\t\tsize %u\n", s->size);
	if (s->interval)
		fprintf(out, "\t\tflags interval\n");
	if (s->dynamic)
		fprintf(out, "\t\tflags dynamic,timeout\n\t\ttimeout %us\n",
			s->timeout_ms / 1000);
	if (s->n) {
		ord = xmalloc((s->n + 1) * sizeof(*ord));
		for (i = 0; i < s->n; i++)
			ord[i] = i;
		if (!s->interval)
			qsort_r(ord, s->n, sizeof(*ord), key_cmp, (void *)s);
		fprintf(out, "\t\telements = {");
		for (i = 0; i < s->n; i++) {
			if (s->interval)
				range_str(s, ord[i], kb, sizeof(kb));
			else
				ruleset_key_str(s, s->keys + ord[i] * s->klen,
						kb, sizeof(kb));
			fprintf(out, "%s%s", i ? ",\n\t\t\t     " : " ", kb);
			if (s->counters)
				fprintf(out, " : \"%s\"",
					rs->counters[s->objs[ord[i]]].name);
		}
		fprintf(out, " }\n");
		free(ord);
	}
	fprintf(out, "\t}\n");
}

static const char *addr_kw(const struct rs_match *m)
{
	if (m->family == 6)
		return m->daddr ? "ip6 daddr" : "ip6 saddr";
	return m->daddr ? "ip daddr" : "ip saddr";
}

static void print_match(const struct ruleset *rs, const struct rs_chain *c,
			const struct rs_match *m, struct strbuf *sb)
{
	const char *neg = m->neg ? "!= " : "";
	unsigned bit;

	switch (m->kind) {
	case RM_NFPROTO:
		if (c->table == RS_BRIDGE)
			sb_printf(sb, "meta protocol %s ",
				m->family == 6 ? "ip6" : "ip");
		else
			sb_printf(sb, "meta nfproto %s ",
				m->family == 6 ? "ipv6" : "ipv4");
		break;
	case RM_ND:
		sb_printf(sb, "icmpv6 type 133-137 ");
		break;
	case RM_CT_STATE:
		sb_printf(sb, "ct state %s ",
			m->a == 1 ? "invalid" : "established,related");
		break;
	case RM_ADDR_SET:
		sb_printf(sb, "%s %s@%s ", addr_kw(m), neg,
			rs->sets[m->set].name);
		break;
	case RM_FIB_LOCAL:
		sb_printf(sb, "fib %s type %slocal ",
			m->daddr ? "daddr" : "saddr", neg);
		break;
	case RM_L4PROTO:
		sb_printf(sb, "meta l4proto %s ", l4_name(m->a));
		break;
	case RM_DPORT:
		if (m->lo == m->hi)
			sb_printf(sb, "%s dport %u ", l4_name(m->a), m->lo);
		else
			sb_printf(sb, "%s dport %u-%u ", l4_name(m->a), m->lo,
				m->hi);
		break;
	case RM_IIF_PREFIX:
		sb_printf(sb, "iifname \"%s*\" ", rs->opts.guard_ports[m->a]);
		break;
	case RM_IIF_ADDR_SET:
		sb_printf(sb, "iifname . %s %s@%s ", addr_kw(m), neg,
			rs->sets[m->set].name);
		break;
	case RM_ETHER_ARP:
		sb_printf(sb, "ether type arp ");
		break;
	case RM_ADDR_LL:
		sb_printf(sb, "ip6 saddr %s ", m->a ? "::" : "fe80::/10");
		break;
	case RM_ARP_SPA_SET:
		sb_printf(sb, "iifname . arp saddr ip @%s ",
			  rs->sets[m->set].name);
		break;
	case RM_ARP_PROBE:
		sb_puts(sb, "arp saddr ip 0.0.0.0 ");
		break;
	case RM_GROUP_NUM:
		for (bit = 0; bit < rs->n_bits; bit++)
			if (m->lo >> bit & 1)
				sb_printf(sb, "%s %s@%s ", addr_kw(m),
					  m->a >> bit & 1 ? "" : "!= ",
					  rs->sets[rs->bits[m->family == 6][bit]]
						  .name);
		break;
	case RM_ALLOW_SET:
		sb_printf(sb, "%s . meta l4proto . th dport @%s ", addr_kw(m),
			  rs->sets[m->set].name);
		break;
	}
}

static const char *unit_name(uint32_t unit_s)
{
	switch (unit_s) {
	case 60: return "minute";
	case 3600: return "hour";
	case 86400: return "day";
	}
	return "second";
}

static void print_stmt(const struct ruleset *rs, const struct rs_stmt *s,
		       struct strbuf *sb)
{
	switch (s->kind) {
	case RS_ST_COUNTER:
		sb_printf(sb, "counter name \"%s\" ",
			rs->counters[s->obj].name);
		break;
	case RS_ST_LIMIT:
		sb_printf(sb, "update @%s { %s saddr limit rate over %u/%s "
			"burst %u packets } ", rs->sets[s->set].name,
			s->family == 6 ? "ip6" : "ip", s->rate,
			unit_name(s->unit_s), s->burst);
		break;
	case RS_ST_LOG:
		sb_printf(sb, "log prefix \"%s\" group %u ", s->prefix,
			s->group);
		break;
	case RS_ST_COUNTER_MAP:
		sb_printf(sb, "counter name iifname map @%s ",
			  rs->sets[s->set].name);
		break;
	}
}

static void print_rule(const struct ruleset *rs, const struct rs_chain *c,
		       const struct rs_rule *r, struct strbuf *sb)
{
	size_t i;

	sb_puts(sb, "\t\t");
	for (i = 0; i < r->n_m; i++)
		print_match(rs, c, &r->m[i], sb);
	for (i = 0; i < r->n_s; i++)
		print_stmt(rs, &r->s[i], sb);
	switch (r->verdict) {
	case RV_NONE:
		break;
	case RV_ACCEPT:
		sb_puts(sb, "accept ");
		break;
	case RV_DROP:
		sb_puts(sb, "drop ");
		break;
	case RV_GOTO:
		sb_printf(sb, "goto %s ", ruleset_chain_name(rs, r->target));
		break;
	case RV_JUMP:
		sb_printf(sb, "jump %s ", ruleset_chain_name(rs, r->target));
		break;
	}
	if (r->comment)
		sb_printf(sb, "comment \"%s\" ", r->comment);
	/* every piece above ends in a blank: the last one goes */
	if (sb->len && sb->buf[sb->len - 1] == ' ')
		sb->buf[--sb->len] = 0;
	sb_putc(sb, '\n');
}

static const char *hook_name(enum rs_table t, int hook)
{
	if (t == RS_BRIDGE)
		return "prerouting";
	switch (hook) {
	case RS_HOOK_INPUT: return "input";
	case RS_HOOK_FORWARD: return "forward";
	case RS_HOOK_OUTPUT: return "output";
	}
	return "?";
}

static void print_chain(const struct ruleset *rs, const struct rs_chain *c,
			FILE *out)
{
	struct strbuf sb = { 0 };
	size_t i;

	fprintf(out, "\tchain %s {\n", c->name);
	if (c->hook != RS_HOOK_NONE) {
		if (c->table == RS_BRIDGE)
			fprintf(out, "\t\ttype filter hook %s priority "
				"filter; policy accept;\n",
				hook_name(c->table, c->hook));
		else
			fprintf(out, "\t\ttype filter hook %s priority "
				"filter - %d; policy accept;\n",
				hook_name(c->table, c->hook), -c->prio);
	}
	for (i = 0; i < c->n; i++) {
		print_rule(rs, c, &rs->rules[c->first + i], &sb);
		fputs(sb.buf, out);
		sb_reset(&sb);
	}
	sb_free(&sb);
	fprintf(out, "\t}\n");
}

static void print_table(const struct ruleset *rs, enum rs_table t,
			FILE *out)
{
	size_t i;

	fprintf(out, "table %s %s {\n", t == RS_BRIDGE ? "bridge" : "inet",
		RULESET_TABLE);
	for (i = 0; i < rs->n_counters; i++)
		if (rs->counters[i].table == t)
			fprintf(out, "\tcounter %s {\n\t}\n",
				rs->counters[i].name);
	for (i = 0; i < rs->n_sets; i++)
		if (rs->sets[i].table == t)
			print_set(rs, &rs->sets[i], out);
	for (i = 0; i < rs->n_chains; i++)
		if (rs->chains[i].table == t)
			print_chain(rs, &rs->chains[i], out);
	fprintf(out, "}\n");
}

void ruleset_print(const struct ruleset *rs, FILE *out)
{
	print_table(rs, RS_INET, out);
	if (rs->has_bridge)
		print_table(rs, RS_BRIDGE, out);
}

/* ruleset.c: the model from (policy, inventory), its determinism, and
 * deltas that keep it equal to a fresh build. No kernel involved. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "inventory.h"
#include "ruleset.h"

static const char policy_yaml[] =
	"version: 1\n"
	"settings: { log: { rate: 20/second } }\n"
	"groups:\n"
	"  web: { match: { purpose: web } }\n"
	"  api: { match: { purpose: api } }\n"
	"  db: { match: { purpose: db }, intra: deny, mode: audit }\n"
	"  dns: { cidrs: [10.9.0.53/32, 10.9.0.0/24, fd09::/64] }\n"
	"flows:\n"
	"  - { from: web, to: api, ports: [tcp/8080, icmp] }\n"
	"  - { from: api, to: db, ports: [tcp/5432-5433] }\n"
	"  - { from: [web, api], to: dns, ports: [udp/53] }\n"
	"  - { from: world, to: web, ports: [tcp/443] }\n"
	"  - { from: host, to: db, ports: [tcp/22] }\n";

static struct policy *load(void)
{
	struct diags d = { 0 };
	struct policy *p = policy_load_buf("t.yaml", policy_yaml,
					   strlen(policy_yaml), &d);

	if (!p)
		diags_print(&d, stderr);
	assert_non_null(p);
	diags_free(&d);
	return p;
}

static struct container *mk(const char *id, const char *purpose,
			    const char *ip4, const char *ip6, const char *ifn)
{
	struct container *c = container_new(id, id);
	struct bh_addr a;

	if (purpose)
		container_add_label(c, "bulkhead.purpose", purpose);
	if (ip4) {
		assert_true(bh_addr_parse(ip4, false, &a));
		container_add_addr(c, &a);
	}
	if (ip6) {
		assert_true(bh_addr_parse(ip6, false, &a));
		container_add_addr(c, &a);
	}
	if (ifn)
		container_set_port(c, ifn);
	return c;
}

static char *print(const struct ruleset *rs)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	ruleset_print(rs, f);
	fclose(f);
	return buf;
}

static struct ruleset *build_opts(const struct policy *p,
				  struct inventory *inv, bool sets_always,
				  bool fewest_bits)
{
	struct ruleset_opts o;

	inventory_classify(inv, p);
	ruleset_opts_from_policy(&o, p);
	o.allow_sets_always = sets_always;
	o.fewest_bits = fewest_bits;
	return ruleset_build(p, inv, &o);
}

/* The allow sets of every group with single-port flows into it, as a
 * group with many such flows has (the sample's have one or two): most
 * tests here are about them. The sample's dispatch with the fewest bits
 * (3), which the texts below spell out. */
static struct ruleset *build(const struct policy *p, struct inventory *inv)
{
	return build_opts(p, inv, true, true);
}

static int set_idx(const struct ruleset *rs, const char *name)
{
	size_t i;

	for (i = 0; i < rs->n_sets; i++)
		if (!strcmp(rs->sets[i].name, name))
			return (int)i;
	return -1;
}

static int chain_idx(const struct ruleset *rs, const char *name)
{
	size_t i;

	for (i = 0; i < rs->n_chains; i++)
		if (!strcmp(rs->chains[i].name, name))
			return (int)i;
	return -1;
}

static bool has(const struct ruleset *rs, const char *set, const char *addr)
{
	struct bh_addr a;
	int s = set_idx(rs, set);

	assert_true(s >= 0);
	assert_true(bh_addr_parse(addr, false, &a));
	return ruleset_set_find(&rs->sets[s], a.a) >= 0;
}

/* Rules that ask whether an address has group number num (RM_GROUP_NUM):
 * those of flows (with a YAML location) or the others (intra). */
static size_t group_rules(const struct ruleset *rs, uint32_t num,
			  bool flows)
{
	size_t i, j, n = 0;

	for (i = 0; i < rs->n_rules; i++)
		for (j = 0; j < rs->rules[i].n_m; j++)
			if (rs->rules[i].m[j].kind == RM_GROUP_NUM &&
			    rs->rules[i].m[j].a == num &&
			    rs->rules[i].has_loc == flows)
				n++;
	return n;
}

/* addr . proto . port in an allow_in_<group> set */
static bool has_allow(const struct ruleset *rs, const char *set,
		      const char *addr, uint8_t proto, uint16_t port)
{
	uint8_t k[RS_KEY_MAX] = { 0 };
	struct bh_addr a;
	int s = set_idx(rs, set);
	size_t len;

	assert_true(s >= 0);
	assert_true(bh_addr_parse(addr, false, &a));
	len = bh_addr_len(&a);
	memcpy(k, a.a, len);
	k[len] = proto;
	k[len + 4] = (uint8_t)(port >> 8);
	k[len + 5] = (uint8_t)port;
	return ruleset_set_find(&rs->sets[s], k) >= 0;
}

/* The dispatch as the kernel runs it: from a tree's root, each rule
 * tests the address against a bit set and goes to its target, a group's
 * chain; that chain's first rules (gotos, each reading one bit set) send
 * on the numbers that contain its own, and when none takes the address
 * it is the address's chain. The name of that chain, or "-" when the
 * root ended (no container). */
static const char *walk_from(const struct ruleset *rs, size_t root,
			     const char *tree, const char *key)
{
	uint8_t k[RS_KEY_MAX] = { 0 };
	size_t i, steps = 0;
	const struct rs_chain *c = &rs->chains[root];
	struct bh_addr a = { 0 };
	int fam;

	assert_true(bh_addr_parse(key, false, &a));
	memcpy(k, a.a, bh_addr_len(&a));
	fam = a.family == AF_INET6 ? 6 : 4;
	while (steps++ < RS_DISPATCH_BITS + 1) {
		const struct rs_rule *r = NULL;

		for (i = 0; i < c->n && !r; i++) {
			const struct rs_rule *x = &rs->rules[c->first + i];

			if (x->verdict != RV_GOTO) {
				/* a group's own rules: nothing after them */
				assert_true(c != &rs->chains[root]);
				break;
			}
			assert_int_equal(x->n_m, 1);
			assert_int_equal(x->m[0].kind, RM_ADDR_SET);
			assert_int_equal(x->m[0].daddr, !strcmp(tree, "to"));
			assert_non_null(strstr(rs->chains[x->target].name,
					       strcmp(tree, "to") ? "out_" :
								    "in_"));
			if (x->m[0].family != fam)
				continue;
			if (ruleset_set_find(&rs->sets[x->m[0].set], k) >= 0)
				r = x;
		}
		if (!r)
			return c == &rs->chains[root] ? "-" : c->name;
		c = &rs->chains[r->target];
	}
	fail_msg("the %s tree is deeper than %d", tree, RS_DISPATCH_BITS);
	return NULL;
}

/* The tree's root: what the forward chain jumps to ("to", then
 * "from"). */
static size_t tree_root(const struct ruleset *rs, const char *tree)
{
	size_t i, j, seen = 0;

	for (i = 0; i < rs->n_chains; i++) {
		const struct rs_chain *c = &rs->chains[i];

		if (c->hook != RS_HOOK_FORWARD || c->table != RS_INET)
			continue;
		for (j = 0; j < c->n; j++) {
			const struct rs_rule *r = &rs->rules[c->first + j];

			if (r->verdict == RV_JUMP &&
			    seen++ == (strcmp(tree, "from") ? 0u : 1u))
				return r->target;
		}
	}
	fail_msg("no jump to the %s tree", tree);
	return 0;
}

/* walk_from the root of tree "to" or "from". */
static const char *walk(const struct ruleset *rs, const char *tree,
			const char *key)
{
	return walk_from(rs, tree_root(rs, tree), tree, key);
}

/* The group-number match of the intra rule of a group's chain
 * (in_<group>, its first rule after the dispatch's gotos). */
static const struct rs_match *intra_match(const struct ruleset *rs,
					  const char *chain)
{
	const struct rs_match *m;
	int c = chain_idx(rs, chain);
	size_t i = 0;

	assert_true(c >= 0);
	while (i < rs->chains[c].n &&
	       rs->rules[rs->chains[c].first + i].verdict == RV_GOTO)
		i++;
	assert_true(i < rs->chains[c].n);
	m = &rs->rules[rs->chains[c].first + i].m[0];
	if (m->kind == RM_NFPROTO)
		m++;
	assert_int_equal(m->kind, RM_GROUP_NUM);
	assert_int_equal(m->family, 4);
	return m;
}

/* Whether that match takes the IPv4 address key, read in the model's bit
 * sets as the kernel reads them. */
static bool intra_takes(const struct ruleset *rs, const struct rs_match *m,
			const char *key)
{
	uint8_t k[RS_KEY_MAX] = { 0 };
	struct bh_addr a = { 0 };
	uint32_t in = 0;
	unsigned bit;

	assert_true(bh_addr_parse(key, false, &a));
	memcpy(k, a.a, bh_addr_len(&a));
	/* the bits the address is in, among those the rule reads, then one
	 * comparison of masks (gcc 12.2 -O2 got a bool-per-bit comparison
	 * in this loop wrong: it returned false for a bit that matched) */
	for (bit = 0; bit < rs->n_bits; bit++)
		if ((m->lo & (1u << bit)) &&
		    ruleset_set_find(&rs->sets[rs->bits[0][bit]], k) >= 0)
			in |= 1u << bit;
	return in == (m->a & m->lo);
}

/* The counter the bridge table's ports map names for a port, or "-". */
static const char *port_counter(const struct ruleset *rs, const char *port)
{
	uint8_t k[RS_KEY_MAX] = { 0 };
	const struct rs_set *s;
	long at;

	assert_true(rs->ports >= 0);
	s = &rs->sets[rs->ports];
	assert_true(s->counters);
	snprintf((char *)k, 16, "%s", port);
	at = ruleset_set_find(s, k);
	return at < 0 ? "-" : rs->counters[s->objs[at]].name;
}

static struct inventory *sample(void)
{
	struct inventory *inv = inventory_new();

	assert_int_equal(inventory_add(inv, mk("w1", "web", "10.1.0.2",
					       "fd01::2", "veth0")), 0);
	assert_int_equal(inventory_add(inv, mk("a1", "api", "10.1.0.3",
					       NULL, "veth1")), 0);
	assert_int_equal(inventory_add(inv, mk("d1", "db", "10.1.0.4",
					       "fd01::4", NULL)), 0);
	assert_int_equal(inventory_add(inv, mk("x1", "other", "10.1.0.5",
					       NULL, NULL)), 0);
	return inv;
}

static void test_model(void **state)
{
	struct policy *p = load();
	struct inventory *inv = sample();
	struct ruleset *rs = build(p, inv);
	int in_api, s;
	size_t i, n_flow = 0;
	char *t;

	(void)state;
	/* the trees send each address to its group's chains; numbers in
	 * policy order with the fewest 1-bits first: unassigned 1,
	 * quarantine 2, web 4, api 3, db 5 (dns is no container group) */
	assert_int_equal(rs->n_bits, 3);
	assert_int_equal(rs->groups[GROUP_FIRST_USER].num, 4);
	assert_int_equal(rs->groups[GROUP_FIRST_USER + 1].num, 3);
	in_api = chain_idx(rs, "in_api");
	assert_true(in_api >= 0);
	assert_string_equal(walk(rs, "to", "10.1.0.3"), "in_api");
	assert_string_equal(walk(rs, "from", "10.1.0.3"), "out_api");
	assert_string_equal(walk(rs, "to", "10.1.0.5"), "in_unassigned");
	assert_string_equal(walk(rs, "to", "fd01::4"), "in_db");
	assert_string_equal(walk(rs, "from", "fd01::2"), "out_web");
	assert_string_equal(walk(rs, "to", "10.9.0.53"), "-");
	assert_string_equal(walk(rs, "from", "fd01::3"), "-");
	assert_string_equal(port_counter(rs, "veth0"), "spoofed_web");
	assert_string_equal(port_counter(rs, "veth1"), "spoofed_api");
	assert_string_equal(port_counter(rs, "eth0"), "-");
	/* api (3 = bits 0 and 1): one element in each, no more */
	assert_true(has(rs, "bit0_v4", "10.1.0.3"));
	assert_true(has(rs, "bit1_v4", "10.1.0.3"));
	assert_false(has(rs, "bit2_v4", "10.1.0.3"));
	assert_int_equal(rs->sets[set_idx(rs, "bit2_v4")].n, 2);
	assert_true(rs->sets[set_idx(rs, "bit2_v4")].size >= 2 + 64);
	/* no element has a verdict for data: nothing makes a commit walk */
	t = print(rs);
	assert_null(strstr(t, "vmap"));
	assert_null(strstr(t, " : goto "));
	assert_null(strstr(t, " : jump "));
	free(t);
	/* no set per group: a rule that asks for a group's members (web's
	 * icmp to api, api's intra: allow) reads its number in the bit
	 * sets */
	assert_int_equal(set_idx(rs, "g_web_v4"), -1);
	assert_int_equal(set_idx(rs, "g_api_v4"), -1);
	assert_int_equal(group_rules(rs, 3, false), 2);	/* api: intra v4 v6 */
	assert_int_equal(group_rules(rs, 3, true), 2);	/* api->db range */
	assert_int_equal(group_rules(rs, 4, true), 1);	/* web->api icmp */
	/* container -> container single ports: one element per source
	 * address; port ranges keep their rules */
	assert_true(has_allow(rs, "allow_in_api_v4", "10.1.0.2", IPPROTO_TCP,
			      8080));
	assert_true(has_allow(rs, "allow_in_api_v6", "fd01::2", IPPROTO_TCP,
			      8080));
	assert_int_equal(rs->sets[set_idx(rs, "allow_in_api_v4")].n, 1);
	assert_int_equal(set_idx(rs, "allow_in_db_v4"), -1);	/* a range */
	assert_int_equal(set_idx(rs, "allow_in_web_v4"), -1);
	assert_true(has(rs, "containers_v4", "10.1.0.5"));	/* world src */
	/* cidrs merged: /32 inside the /24 */
	s = set_idx(rs, "c_dns_v4");
	assert_true(s >= 0 && rs->sets[s].interval);
	assert_int_equal(rs->sets[s].n, 1);
	/* one rule per flow x port x family that applies */
	for (i = 0; i < rs->n_rules; i++)
		if (rs->rules[i].has_loc)
			n_flow++;
	/* web->api: icmp 1 (tcp/8080 is in allow_in_api_*); api->db 2
	 * (the bit sets have both families, so api's first IPv6 member
	 * needs no new rule); web,api->dns: 2x2 (out_ chains read
	 * c_dns_*); world->web 2; host->db 1 */
	assert_int_equal(n_flow, 1 + 2 + 4 + 2 + 1);
	/* anti-spoofing: guarded ports only, one element each */
	assert_int_equal(rs->sets[rs->ports].n, 2);
	ruleset_free(rs);
	inventory_free(inv);
	policy_free(p);
}

static void test_text(void **state)
{
	struct policy *p = load();
	struct inventory *inv = sample();
	struct ruleset *rs = build(p, inv);
	char *t = print(rs);

	(void)state;
	assert_non_null(strstr(t, "table inet bulkhead {\n"));
	/* web is number 4, api 3, db 5 (of 1..5): web's rule reads bit0,
	 * which db has on top of bit2, and not bit1 (no number 6 or 7);
	 * api's reads its 1-bits only (no number 7) */
	assert_non_null(strstr(t, "\t\tip saddr != @bit0_v4 ip saddr "
			       "@bit2_v4 meta l4proto icmp "
			       "accept comment \"flow web->api t.yaml:9:5\"\n"));
	assert_non_null(strstr(t, "\t\tip saddr . meta l4proto . th dport "
			       "@allow_in_api_v4 accept"));
	assert_non_null(strstr(t, "\t\tip6 saddr . meta l4proto . th dport "
			       "@allow_in_api_v6 accept"));
	assert_non_null(strstr(t, "type ipv4_addr . inet_proto . "
			       "inet_service\n"));
	assert_non_null(strstr(t, "elements = { 10.1.0.2 . tcp . 8080 }"));
	assert_non_null(strstr(t, "\t\tip saddr @bit0_v4 ip saddr @bit1_v4 "
			       "tcp dport 5432-5433 accept"));
	assert_null(strstr(t, "tcp dport 8080"));
	assert_non_null(strstr(t, "ip saddr != @containers_v4 ip saddr != "
			       "@cidrs_v4 fib saddr type != local tcp dport "
			       "443 accept"));
	assert_non_null(strstr(t, "fib saddr type local tcp dport 22 "
			       "accept comment \"flow host->db t.yaml:13:5\""));
	assert_non_null(strstr(t, "log prefix \"bh/in/db/audit\" group 4200 "
			       "accept\n"));
	assert_non_null(strstr(t, "log prefix \"bh/in/web/deny\" group 4200 "
			       "drop\n"));
	assert_non_null(strstr(t, "\t\tjump to_0_5\n\t\tjump from_0_5\n"));
	/* the root sends 4 and 5 to web's chain (number 4), whose first
	 * rules send 5 on to db's */
	assert_non_null(strstr(t, "\t\tip daddr @bit2_v4 goto in_web "
			       "comment \"group number 4\"\n"));
	assert_non_null(strstr(t, "\tchain in_web {\n\t\tip daddr @bit0_v4 "
			       "goto in_db comment \"group number 5\"\n"));
	assert_null(strstr(t, "chain to_4_5"));
	assert_non_null(strstr(t, "\t\tip6 saddr @bit0_v6 goto out_db "
			       "comment \"group number 5\"\n"));
	/* the bridge table: one chain, the ports map names the counter */
	assert_non_null(strstr(t, "type ifname : counter\n"));
	assert_non_null(strstr(t, "\"veth1\" : \"spoofed_api\""));
	assert_non_null(strstr(t, "\t\tmeta protocol ip6 counter name iifname "
			       "map @ports log prefix \"bh/spoof/*/deny\" "
			       "group 4200 drop\n"));
	assert_null(strstr(t, "chain spoof_"));
	assert_non_null(strstr(t, "elements = { 10.9.0.0/24 }"));
	assert_non_null(strstr(t, "\"veth0\" . fd01::2"));
	/* db is in audit mode: its over-rate packets pass too */
	assert_non_null(strstr(t, "counter name \"unlogged_in_db\" accept"));
	free(t);
	ruleset_free(rs);
	inventory_free(inv);
	policy_free(p);
}

/* The same containers in another order give the same text. */
static void test_deterministic(void **state)
{
	struct policy *p = load();
	struct inventory *a = sample(), *b = inventory_new();
	struct ruleset *ra, *rb;
	const char *ids[] = { "x1", "d1", "w1", "a1" };
	char *ta, *tb;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(ids); i++)
		assert_int_equal(inventory_add(b, container_dup(
					inventory_find(a, ids[i]))), 0);
	ra = build(p, a);
	rb = build(p, b);
	ta = print(ra);
	tb = print(rb);
	assert_string_equal(ta, tb);
	free(ta);
	free(tb);
	ruleset_free(ra);
	ruleset_free(rb);
	inventory_free(a);
	inventory_free(b);
	policy_free(p);
}

/* A group with few single-port flows into it (api: web's tcp/8080) has no
 * allow set: a rule per flow and port reads the source's number, and an
 * attach of a source adds no element for it. Past RS_ALLOW_RULES_MAX
 * entries the set comes back. */
static void test_few_flows_as_rules(void **state)
{
	struct policy *p = load();
	struct inventory *inv = sample();
	struct ruleset *rs = build_opts(p, inv, false, true);
	struct rs_delta *d = rs_delta_new();
	struct strbuf sb = { 0 };
	struct diags dg = { 0 };
	struct container *c;
	char *t = print(rs);
	unsigned i;

	(void)state;
	assert_int_equal(set_idx(rs, "allow_in_api_v4"), -1);
	assert_int_equal(set_idx(rs, "allow_in_api_v6"), -1);
	assert_non_null(strstr(t, "\t\tip saddr != @bit0_v4 ip saddr "
			       "@bit2_v4 tcp dport 8080 "
			       "accept comment \"flow web->api t.yaml:9:5\"\n"));
	assert_non_null(strstr(t, "\t\tip6 saddr != @bit0_v6 ip6 saddr "
			       "@bit2_v6 tcp dport 8080 "
			       "accept comment \"flow web->api t.yaml:9:5\"\n"));
	free(t);
	/* web: one port bit, per address one bit, containers, addrs */
	c = mk("n", "web", "10.3.0.1", "fd03::1", "vethn");
	container_classify(c, p);
	ruleset_container_delta(rs, c, RS_ELEM_ADD, d);
	assert_int_equal(d->n, 1 + 2 * 3);
	container_free(c);
	rs_delta_free(d);
	ruleset_free(rs);
	inventory_free(inv);
	policy_free(p);

	/* five sources into one group: its set is back */
	sb_puts(&sb, "version: 1\ngroups:\n  dst: { match: { purpose: dst } }\n");
	for (i = 0; i <= RS_ALLOW_RULES_MAX; i++)
		sb_printf(&sb, "  s%u: { match: { purpose: s%u } }\n", i, i);
	sb_puts(&sb, "flows:\n");
	for (i = 0; i <= RS_ALLOW_RULES_MAX; i++)
		sb_printf(&sb, "  - { from: s%u, to: dst, ports: [tcp/80] }\n",
			  i);
	p = policy_load_buf("f.yaml", sb.buf, sb.len, &dg);
	assert_non_null(p);
	inv = inventory_new();
	assert_int_equal(inventory_add(inv, mk("a", "s0", "10.6.0.1", NULL,
					       NULL)), 0);
	rs = build_opts(p, inv, false, true);
	assert_true(has_allow(rs, "allow_in_dst_v4", "10.6.0.1", IPPROTO_TCP,
			      80));
	ruleset_free(rs);
	inventory_free(inv);
	policy_free(p);
	diags_free(&dg);
	sb_free(&sb);
}

/* What a full commit does to the model (nft_commit_full with an
 * inventory): each set's elements dropped once in the batch, then put back
 * from the inventory: the same table, and deltas work on it as before. */
static void test_drop_refill(void **state)
{
	struct policy *p = load();
	struct inventory *inv = sample();
	struct ruleset *rs = build(p, inv);
	struct rs_delta *d = rs_delta_new();
	struct container *c;
	char *before, *after;
	size_t i;
	int bit2;

	(void)state;
	before = print(rs);
	ruleset_index(rs);	/* an index goes with the keys */
	for (i = 0; i < rs->n_sets; i++)
		ruleset_set_drop(rs, i);
	bit2 = set_idx(rs, "bit2_v4");
	assert_int_equal(rs->sets[bit2].n, 0);
	assert_null(rs->sets[bit2].keys);
	assert_true(rs->sets[set_idx(rs, "c_dns_v4")].n > 0);	/* interval */
	ruleset_refill(rs, inv);
	after = print(rs);
	assert_string_equal(before, after);
	c = mk("w7", "web", "10.1.0.77", NULL, NULL);
	container_classify(c, p);
	ruleset_container_delta(rs, c, RS_ELEM_ADD, d);
	ruleset_apply_delta(rs, d);
	assert_true(has(rs, "bit2_v4", "10.1.0.77"));
	assert_true(has(rs, "bit2_v4", "10.1.0.2"));
	container_free(c);
	rs_delta_free(d);
	free(before);
	free(after);
	ruleset_free(rs);
	inventory_free(inv);
	policy_free(p);
}

/* Deltas applied to the model leave it equal to a fresh build of the
 * changed inventory (sizes aside, which a fresh build recomputes). */
static void test_delta_equals_rebuild(void **state)
{
	struct policy *p = load();
	struct inventory *inv = sample();
	struct ruleset *rs, *fresh;
	struct rs_delta *d = rs_delta_new();
	struct container *c;
	struct bh_addr a;
	char *t1, *t2;
	size_t i;

	(void)state;
	/* web keeps an IPv6 member when w1 goes: a set whose family empties
	 * stays (empty) in the model but a fresh build leaves it out */
	assert_int_equal(inventory_add(inv, mk("w9", "web", "10.1.0.99",
					       "fd01::99", "veth99")), 0);
	rs = build(p, inv);
	assert_true(rs_delta_empty(d));
	/* the first IPv6 member of api: its rules read the bit sets,
	 * which have IPv6 already, so a delta brings it */
	c = mk("a3", "api", "10.1.0.10", "fd01::10", NULL);
	container_classify(c, p);
	ruleset_container_delta(rs, c, RS_ELEM_ADD, d);
	assert_false(d->needs_full);
	assert_false(ruleset_delta_overflows(rs, d));
	container_free(c);
	rs_delta_free(d);
	d = rs_delta_new();
	/* attach, on two networks: each address on its own port */
	c = mk("a2", "api", "10.1.0.9", NULL, "veth9");
	assert_true(bh_addr_parse("10.2.0.9", false, &a));
	assert_int_equal(container_add_port_addr(c, "veth8", &a), 0);
	container_classify(c, p);
	ruleset_container_delta(rs, c, RS_ELEM_ADD, d);
	assert_false(rs_delta_empty(d));
	assert_int_equal(inventory_add(inv, c), 0);
	/* detach */
	c = inventory_remove(inv, "w1");
	ruleset_container_delta(rs, c, RS_ELEM_DEL, d);
	container_free(c);
	/* relabel: out of the old group, into the new one */
	c = inventory_find(inv, "x1");
	ruleset_container_delta(rs, c, RS_ELEM_DEL, d);
	container_add_label(c, "bulkhead.purpose", "web");
	container_classify(c, p);
	ruleset_container_delta(rs, c, RS_ELEM_ADD, d);
	/* quarantine */
	c = inventory_find(inv, "d1");
	ruleset_container_delta(rs, c, RS_ELEM_DEL, d);
	c->quarantined = true;
	ruleset_container_delta(rs, c, RS_ELEM_ADD, d);
	assert_false(ruleset_delta_overflows(rs, d));
	ruleset_index(rs);	/* the same result with the index made first */
	ruleset_apply_delta(rs, d);

	fresh = build(p, inv);
	for (i = 0; i < rs->n_sets; i++)
		rs->sets[i].size = fresh->sets[i].size;
	t1 = print(rs);
	t2 = print(fresh);
	assert_string_equal(t1, t2);
	assert_string_equal(walk(rs, "to", "10.1.0.4"), "in_quarantine");
	assert_string_equal(walk(rs, "to", "10.1.0.5"), "in_web");
	assert_string_equal(walk(rs, "to", "10.1.0.9"), "in_api");
	assert_string_equal(port_counter(rs, "veth9"), "spoofed_api");
	assert_string_equal(port_counter(rs, "veth8"), "spoofed_api");
	assert_string_equal(port_counter(rs, "veth0"), "-");
	assert_null(strstr(t1, "10.1.0.2 "));
	/* an address passes on its own port only, not on its container's
	 * other one */
	assert_non_null(strstr(t1, "\"veth9\" . 10.1.0.9"));
	assert_non_null(strstr(t1, "\"veth8\" . 10.2.0.9"));
	assert_null(strstr(t1, "\"veth8\" . 10.1.0.9"));
	assert_null(strstr(t1, "\"veth9\" . 10.2.0.9"));
	free(t1);
	free(t2);
	rs_delta_free(d);
	ruleset_free(rs);
	ruleset_free(fresh);
	inventory_free(inv);
	policy_free(p);
}

/* Boundaries: the label sets hold each container by its own labels and
 * its group's; a delta of attach, relabel and detach gives what a
 * rebuild gives. */
static void test_boundary_sets(void **state)
{
	static const char text[] =
		"version: 1\n"
		"groups:\n"
		"  edge: { match: { purpose: edge }, risk: exposed }\n"
		"  app: { match: { purpose: app } }\n"
		"  db: { match: { purpose: database }, sensitivity: restricted }\n"
		"boundaries:\n"
		"  er: { from: { risk: [exposed, untrusted] }, to: { sensitivity: restricted } }\n"
		"flows:\n"
		"  - { from: edge, to: app, ports: [tcp/80] }\n"
		"  - { from: app, to: db, ports: [tcp/5432] }\n";
	struct inventory *inv = inventory_new();
	struct rs_delta *d = rs_delta_new();
	struct ruleset *rs, *fresh;
	struct diags dg = { 0 };
	struct container *c, *old;
	struct policy *p;
	char *t1;
	size_t i;
	int x;

	(void)state;
	p = policy_load_buf("b.yaml", text, sizeof(text) - 1, &dg);
	assert_non_null(p);
	assert_int_equal(inventory_add(inv, mk("e1", "edge", "10.2.0.1",
					       NULL, NULL)), 0);
	c = mk("v1", "app", "10.2.0.2", "fd02::2", NULL);
	container_add_label(c, "bulkhead.sensitivity", "restricted");
	assert_int_equal(inventory_add(inv, c), 0);
	assert_int_equal(inventory_add(inv, mk("d1", "database", "10.2.0.3",
					       NULL, NULL)), 0);
	rs = build(p, inv);
	t1 = print(rs);
	assert_non_null(strstr(t1, "jump boundaries\n"));
	assert_non_null(strstr(t1, "set sens_restricted_v4 {"));
	assert_non_null(strstr(t1, "set risk_untrusted_v6 {"));
	assert_non_null(strstr(t1, "elements = { 10.2.0.2,\n\t\t\t     10.2.0.3 }"));
	/* two risks x one level x two families */
	assert_non_null(strstr(t1, "ip saddr @risk_untrusted_v4 ip daddr @sens_restricted_v4 goto boundary_er"));
	free(t1);
	assert_true(set_idx(rs, "sens_low_v4") < 0);

	/* attach a rogue app labelled untrusted; relabel v1 to no level */
	c = mk("r1", "app", "10.2.0.4", NULL, NULL);
	container_add_label(c, "bulkhead.risk", "untrusted");
	container_classify(c, p);
	ruleset_container_delta(rs, c, RS_ELEM_ADD, d);
	assert_int_equal(inventory_add(inv, c), 0);
	old = inventory_find(inv, "v1");
	c = container_dup(old);
	container_add_label(c, "bulkhead.sensitivity", "low");
	assert_false(ruleset_same_facts(rs, old, c));
	ruleset_container_delta(rs, old, RS_ELEM_DEL, d);
	ruleset_container_delta(rs, c, RS_ELEM_ADD, d);
	container_free(inventory_remove(inv, "v1"));
	assert_int_equal(inventory_add(inv, c), 0);
	/* the same labels again: nothing for the boundaries */
	assert_true(ruleset_same_facts(rs, c, c));
	/* detach edge */
	c = inventory_remove(inv, "e1");
	ruleset_container_delta(rs, c, RS_ELEM_DEL, d);
	container_free(c);
	assert_false(ruleset_delta_overflows(rs, d));
	ruleset_apply_delta(rs, d);
	/* the label sets as a rebuild fills them (the other sets differ
	 * by the families a rebuild leaves out: test_delta_equals_rebuild) */
	fresh = build(p, inv);
	for (i = 0; i < fresh->n_sets; i++) {
		const struct rs_set *b = &fresh->sets[i];
		const struct rs_set *a;
		char k[64];
		size_t j;
		int at;

		if (strncmp(b->name, "sens_", 5) && strncmp(b->name, "risk_", 5))
			continue;
		at = set_idx(rs, b->name);
		assert_true(at >= 0);
		a = &rs->sets[at];
		assert_int_equal(a->n, b->n);
		for (j = 0; j < b->n; j++) {
			ruleset_key_str(b, b->keys + j * b->klen, k, sizeof(k));
			if (ruleset_set_find(a, b->keys + j * b->klen) < 0)
				fail_msg("%s lacks %s after the delta", a->name, k);
		}
	}
	x = set_idx(rs, "sens_restricted_v4");
	assert_int_equal(rs->sets[x].n, 1);	/* d1 only: v1 is low now */
	x = set_idx(rs, "risk_untrusted_v4");
	assert_int_equal(rs->sets[x].n, 1);	/* r1 */
	x = set_idx(rs, "risk_exposed_v4");
	assert_int_equal(rs->sets[x].n, 0);	/* e1 is gone */
	rs_delta_free(d);
	ruleset_free(rs);
	ruleset_free(fresh);
	inventory_free(inv);
	policy_free(p);
	diags_free(&dg);
}

/* A container's delta has the same number of element ops whatever the
 * number of containers and groups. */
static void test_delta_cost_flat(void **state)
{
	struct policy *p = load();
	struct inventory *small = sample(), *big = sample();
	struct ruleset *rs1, *rs2;
	struct rs_delta *d1 = rs_delta_new(), *d2 = rs_delta_new();
	struct container *c;
	char id[32], ip[32];
	int i;

	(void)state;
	for (i = 0; i < 20000; i++) {
		snprintf(id, sizeof(id), "c%d", i);
		snprintf(ip, sizeof(ip), "10.2.%d.%d", i / 250, i % 250 + 1);
		assert_int_equal(inventory_add(big, mk(id, i % 2 ? "web" :
						       "api", ip, NULL, NULL)),
				 0);
	}
	rs1 = build(p, small);
	rs2 = build(p, big);
	c = mk("n", "web", "10.3.0.1", "fd03::1", "vethn");
	container_classify(c, p);
	ruleset_container_delta(rs1, c, RS_ELEM_ADD, d1);
	ruleset_container_delta(rs2, c, RS_ELEM_ADD, d2);
	assert_int_equal(d1->n, d2->n);
	/* web is number 4: one port bit, and per address one bit,
	 * containers, addrs and allow_in_api (web's one port flow into a
	 * container group) */
	assert_int_equal(d1->n, 1 + 2 * 4);
	container_free(c);
	rs_delta_free(d1);
	rs_delta_free(d2);
	ruleset_free(rs1);
	ruleset_free(rs2);
	inventory_free(small);
	inventory_free(big);
	policy_free(p);
}

/* Each (source address, proto, port) is one element however many flows
 * name it; ranges and bare protocols keep rules on membership sets. */
static const char allow_yaml[] =
	"version: 1\n"
	"groups:\n"
	"  a: { match: { purpose: a } }\n"
	"  b: { match: { purpose: b } }\n"
	"flows:\n"
	"  - { from: a, to: b, ports: [tcp/8000-8100, udp/53] }\n"
	"  - { from: a, to: b, ports: [tcp/8050, tcp/8101-8200, tcp/9000] }\n"
	"  - { from: [a, b], to: b, ports: [udp/53, tcp, sctp/7] }\n";

static void test_allow_elements(void **state)
{
	struct diags dg = { 0 };
	struct policy *p = policy_load_buf("m.yaml", allow_yaml,
					   strlen(allow_yaml), &dg);
	struct inventory *inv = inventory_new();
	struct ruleset *rs;
	struct rs_delta *d = rs_delta_new();
	struct container *c;
	int s;

	(void)state;
	if (!p)
		diags_print(&dg, stderr);
	assert_non_null(p);
	diags_free(&dg);
	assert_int_equal(inventory_add(inv, mk("a1", "a", "10.5.0.1", NULL,
					       NULL)), 0);
	assert_int_equal(inventory_add(inv, mk("b1", "b", "10.5.0.2", NULL,
					       NULL)), 0);
	rs = build(p, inv);
	s = set_idx(rs, "allow_in_b_v4");
	assert_true(s >= 0);
	/* a: tcp/8050, tcp/9000, udp/53 (twice), sctp/7; b: udp/53, sctp/7 */
	assert_true(has_allow(rs, "allow_in_b_v4", "10.5.0.1", IPPROTO_TCP,
			      8050));
	assert_true(has_allow(rs, "allow_in_b_v4", "10.5.0.1", IPPROTO_TCP,
			      9000));
	assert_true(has_allow(rs, "allow_in_b_v4", "10.5.0.1", IPPROTO_UDP,
			      53));
	assert_true(has_allow(rs, "allow_in_b_v4", "10.5.0.1", IPPROTO_SCTP,
			      7));
	assert_true(has_allow(rs, "allow_in_b_v4", "10.5.0.2", IPPROTO_UDP,
			      53));
	assert_false(has_allow(rs, "allow_in_b_v4", "10.5.0.1", IPPROTO_TCP,
			       8000));
	assert_int_equal(rs->sets[s].n, 4 + 2);
	/* ranges and a bare protocol keep rules, on a's number */
	assert_int_equal(set_idx(rs, "g_a_v4"), -1);
	assert_true(group_rules(rs, rs->groups[policy_group_find(p, "a")].num,
				true) > 0);
	/* an attach adds one element per (destination, proto, port) */
	c = mk("a2", "a", "10.5.0.3", NULL, NULL);
	container_classify(c, p);
	ruleset_container_delta(rs, c, RS_ELEM_ADD, d);
	assert_false(ruleset_delta_overflows(rs, d));
	ruleset_apply_delta(rs, d);
	assert_int_equal(rs->sets[s].n, 4 + 2 + 4);
	assert_true(has_allow(rs, "allow_in_b_v4", "10.5.0.3", IPPROTO_TCP,
			      9000));
	d->n = 0;
	ruleset_container_delta(rs, c, RS_ELEM_DEL, d);
	ruleset_apply_delta(rs, d);
	assert_int_equal(rs->sets[s].n, 4 + 2);
	assert_false(has_allow(rs, "allow_in_b_v4", "10.5.0.3", IPPROTO_TCP,
			       9000));
	assert_true(has_allow(rs, "allow_in_b_v4", "10.5.0.1", IPPROTO_SCTP,
			      7));
	container_free(c);
	rs_delta_free(d);
	ruleset_free(rs);
	inventory_free(inv);
	policy_free(p);
}

static void test_overflow(void **state)
{
	struct policy *p = load();
	struct inventory *inv = sample();
	struct ruleset *rs = build(p, inv);
	struct rs_delta *d = rs_delta_new();
	char id[32], ip[32];
	int i, s = set_idx(rs, "bit2_v4");
	bool over = false;

	(void)state;
	/* attach one by one until the set's size would be passed */
	for (i = 0; i < 10000 && !over; i++) {
		struct container *c;

		snprintf(id, sizeof(id), "o%d", i);
		snprintf(ip, sizeof(ip), "10.4.%d.%d", i / 250, i % 250 + 1);
		c = mk(id, "web", ip, NULL, NULL);
		container_classify(c, p);
		d->n = 0;
		ruleset_container_delta(rs, c, RS_ELEM_ADD, d);
		over = ruleset_delta_overflows(rs, d);
		if (!over)
			ruleset_apply_delta(rs, d);
		container_free(c);
	}
	assert_true(over);
	/* allow_in_api_v4 (web's tcp/8080) held 1 of 65 and fills first;
	 * bit2_v4 (web and db) still has room */
	assert_int_equal(rs->sets[set_idx(rs, "allow_in_api_v4")].n,
			 rs->sets[set_idx(rs, "allow_in_api_v4")].size);
	assert_true(rs->sets[s].n < rs->sets[s].size);
	rs_delta_free(d);
	ruleset_free(rs);
	inventory_free(inv);
	policy_free(p);
}

/* n label groups g0..g(n-1), each with one container (an IPv4 and an
 * IPv6 address and a port) */
static struct policy *many_groups(size_t n, struct diags *d)
{
	struct strbuf sb = { 0 };
	struct policy *p;
	size_t g;

	sb_puts(&sb, "version: 1\ngroups:\n");
	for (g = 0; g < n; g++)
		sb_printf(&sb, "  g%zu: { match: { purpose: g%zu } }\n", g, g);
	if (!n)
		sb_puts(&sb, "  {}\n");
	p = policy_load_buf("n.yaml", sb.buf, sb.len, d);
	sb_free(&sb);
	return p;
}

/* The bits a numbering of n label groups (and unassigned, quarantine)
 * takes, and the 1-bits of their numbers in all. */
static unsigned fewest_bits_for(size_t n)
{
	unsigned k = 1;

	while ((1u << k) - 1 < n + 2)
		k++;
	return k;
}

static size_t ones(const struct ruleset *rs)
{
	size_t g, sum = 0;

	for (g = 0; g < rs->n_groups; g++)
		if (rs->groups[g].has_chains)
			sum += (size_t)__builtin_popcount(rs->groups[g].num);
	return sum;
}

/* The chains of tree "to" or "from" (named to_<lo>_<hi>). */
static size_t tree_chains(const struct ruleset *rs, const char *tree)
{
	size_t plen = strlen(tree), i, n = 0;

	for (i = 0; i < rs->n_chains; i++)
		if (!strncmp(rs->chains[i].name, tree, plen) &&
		    rs->chains[i].name[plen] == '_')
			n++;
	return n;
}

/* Every container reaches its own group's chains through each tree, at
 * every size up to the limit, and never deeper than the kernel allows;
 * with RS_DISPATCH_SPARE_BITS more bits than the fewest (the default,
 * at most RS_DISPATCH_BITS) and with the fewest. The spare bits give
 * the groups numbers with fewer 1-bits: fewer elements per address. */
static void test_dispatch_scale(void **state)
{
	static const size_t sizes[] = { 0, 1, 2, 5, 6, 13, 14, 125, 126, 1000,
					POLICY_CONTAINER_GROUPS_MAX - 2 };
	char id[32], purpose[32], ip4[32], ip6[48], ifn[16], want[48];
	size_t k, g, n, to, from, ones_spare = 0;
	int fewest;

	(void)state;
	for (k = 0; k < ARRAY_SIZE(sizes) * 2; k++) {
		struct diags d = { 0 };
		struct policy *p;
		struct inventory *inv = inventory_new();
		struct ruleset *rs;
		unsigned bits;

		n = sizes[k / 2];
		fewest = k % 2;
		bits = fewest_bits_for(n);
		if (!fewest)
			bits = bits + RS_DISPATCH_SPARE_BITS < RS_DISPATCH_BITS ?
				       bits + RS_DISPATCH_SPARE_BITS :
				       RS_DISPATCH_BITS;
		p = many_groups(n, &d);
		if (!p)
			diags_print(&d, stderr);
		assert_non_null(p);
		diags_free(&d);
		for (g = 0; g <= n; g++) {
			/* g == n: a container no group matches */
			snprintf(id, sizeof(id), "c%zu", g);
			snprintf(purpose, sizeof(purpose), "g%zu", g);
			snprintf(ip4, sizeof(ip4), "10.%zu.%zu.1", g / 256,
				 g % 256);
			snprintf(ip6, sizeof(ip6), "fd00::%zx:1", g);
			snprintf(ifn, sizeof(ifn), "v%zu", g);
			assert_int_equal(inventory_add(inv, mk(id, purpose, ip4,
							       ip6, ifn)), 0);
		}
		rs = build_opts(p, inv, true, fewest);
		ruleset_index(rs);	/* the walks look up every element */
		assert_true(rs->n_bits <= RS_DISPATCH_BITS);
		assert_int_equal(rs->n_bits, bits);
		if (!fewest) {
			ones_spare = ones(rs);
		} else if (n >= 5 && bits < RS_DISPATCH_BITS) {
			/* spare bits: fewer 1-bits in all (1,000 groups:
			 * 3.5 per group against 4.9) */
			assert_true(ones_spare < ones(rs));
			if (n == 1000) {
				assert_true(ones_spare * 10 < 36 * 1002);
				assert_true(ones(rs) * 10 > 48 * 1002);
			}
		}
		to = tree_root(rs, "to");
		from = tree_root(rs, "from");
		/* the root is the tree's one chain: the rest of the dispatch
		 * lives in the groups' chains (a chain per split made 1,002
		 * chains per tree at 1,000 groups) */
		assert_int_equal(tree_chains(rs, "to"), 1);
		assert_int_equal(tree_chains(rs, "from"), 1);
		for (g = 0; g <= n; g++) {
			const char *grp = g == n ? "unassigned" : purpose;

			snprintf(ip4, sizeof(ip4), "10.%zu.%zu.1", g / 256,
				 g % 256);
			snprintf(ip6, sizeof(ip6), "fd00::%zx:1", g);
			snprintf(ifn, sizeof(ifn), "v%zu", g);
			if (g < n)
				snprintf(purpose, sizeof(purpose), "g%zu", g);
			snprintf(want, sizeof(want), "in_%s", grp);
			assert_string_equal(walk_from(rs, to, "to", ip4), want);
			assert_string_equal(walk_from(rs, to, "to", ip6), want);
			snprintf(want, sizeof(want), "out_%s", grp);
			assert_string_equal(walk_from(rs, from, "from", ip4),
					    want);
			snprintf(want, sizeof(want), "spoofed_%s", grp);
			assert_string_equal(port_counter(rs, ifn), want);
		}
		/* each group's intra rule takes its own members and no one
		 * else's, though it reads only the bits that tell its number
		 * from the others (all pairs up to 1,000 groups) */
		for (g = 0; g < n && n <= 1000; g++) {
			const struct rs_match *m;
			size_t h;


			snprintf(want, sizeof(want), "in_g%zu", g);
			m = intra_match(rs, want);
			for (h = 0; h <= n; h++) {
				snprintf(ip4, sizeof(ip4), "10.%zu.%zu.1",
					 h / 256, h % 256);
				assert_int_equal(intra_takes(rs, m, ip4), g == h);
			}
			assert_false(intra_takes(rs, m, "192.0.2.1"));
		}
		assert_string_equal(walk(rs, "to", "192.0.2.1"), "-");
		assert_string_equal(walk(rs, "from", "2001:db8::1"), "-");
		assert_string_equal(port_counter(rs, "eth0"), "-");
		ruleset_free(rs);
		inventory_free(inv);
		policy_free(p);
	}
}

/* Only IPv4 containers: no IPv6 bit sets and no tree rule that reads
 * one; the first IPv6 address needs a full commit, which brings them. */
static void test_one_family(void **state)
{
	struct policy *p = load();
	struct inventory *inv = inventory_new();
	struct rs_delta *d = rs_delta_new();
	struct container *c;
	struct ruleset *rs;
	char *t;

	(void)state;
	assert_int_equal(inventory_add(inv, mk("a1", "api", "10.1.0.3", NULL,
					       "veth1")), 0);
	rs = build(p, inv);
	assert_int_equal(set_idx(rs, "bit0_v6"), -1);
	assert_true(set_idx(rs, "bit0_v4") >= 0);
	t = print(rs);
	assert_null(strstr(t, "ip6 daddr @bit"));
	assert_null(strstr(t, "ip6 saddr @bit"));
	free(t);
	assert_string_equal(walk(rs, "to", "10.1.0.3"), "in_api");
	c = mk("w1", "web", "10.1.0.2", NULL, NULL);
	container_classify(c, p);
	ruleset_container_delta(rs, c, RS_ELEM_ADD, d);
	assert_false(d->needs_full);
	container_free(c);
	c = mk("w2", "web", NULL, "fd01::2", NULL);
	container_classify(c, p);
	ruleset_container_delta(rs, c, RS_ELEM_ADD, d);
	assert_true(d->needs_full);
	container_free(c);
	rs_delta_free(d);
	ruleset_free(rs);
	inventory_free(inv);
	policy_free(p);
}

/* One label group more than the dispatch can number is an error of the
 * policy, at that group. */
static void test_group_limit(void **state)
{
	struct diags d = { 0 };
	struct policy *p = many_groups(POLICY_CONTAINER_GROUPS_MAX - 1, &d);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_null(p);
	assert_int_equal(d.n_errors, 1);
	diags_print(&d, f);
	fclose(f);
	assert_non_null(strstr(buf, "n.yaml:8192:3: error: group 'g8189' is "
				    "one too many: at most 8189 label groups "
				    "fit"));
	free(buf);
	diags_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_dispatch_scale),
		cmocka_unit_test(test_group_limit),
		cmocka_unit_test(test_one_family),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_drop_refill),
		cmocka_unit_test(test_few_flows_as_rules),
		cmocka_unit_test(test_delta_equals_rebuild),
		cmocka_unit_test(test_delta_cost_flat),
		cmocka_unit_test(test_allow_elements),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_boundary_sets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

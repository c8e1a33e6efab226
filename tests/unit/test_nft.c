/* nft.c without a kernel: the last known counts (nft_counts), the full
 * batch's counter objects, which must start at those counts so that a
 * replaced table keeps its evidence, and what the group chains' rules
 * read. The batch is built, never sent. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libnftnl/expr.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>

#include "inventory.h"
#include "nft.h"
#include "ruleset.h"

static const char policy_yaml[] =
	"version: 1\n"
	"groups:\n"
	"  web: { match: { purpose: web } }\n"
	"  db: { match: { purpose: db } }\n"
	"flows:\n"
	"  - { from: web, to: db, ports: [tcp/5432] }\n";

static struct ruleset *build(struct policy **pp, struct inventory **ip)
{
	struct diags d = { 0 };
	struct policy *p = policy_load_buf("t.yaml", policy_yaml,
					   strlen(policy_yaml), &d);
	struct inventory *inv = inventory_new();
	struct container *c = container_new("w1", "w1");
	struct ruleset_opts o;
	struct bh_addr a;

	assert_non_null(p);
	diags_free(&d);
	container_add_label(c, "bulkhead.purpose", "web");
	assert_true(bh_addr_parse("10.1.0.2", false, &a));
	container_add_addr(c, &a);
	container_set_port(c, "veth0");
	assert_int_equal(inventory_add(inv, c), 0);
	inventory_classify(inv, p);
	ruleset_opts_from_policy(&o, p);
	*pp = p;
	*ip = inv;
	return ruleset_build(p, inv, &o);
}

static void test_counts(void **state)
{
	struct nft_counts *c = nft_counts_new();
	uint64_t pk, b;
	char name[32];
	int i;

	(void)state;
	assert_false(nft_counts_get(c, "denied_in_web", RS_INET, &pk, &b));
	assert_false(nft_counts_get(NULL, "denied_in_web", RS_INET, &pk, &b));
	nft_counts_note("denied_in_web", RS_INET, 5, 500, c);
	nft_counts_note("denied_in_web", RS_BRIDGE, 6, 600, c);
	/* enough to grow the table several times */
	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "denied_in_g%d", i);
		nft_counts_note(name, RS_INET, (uint64_t)i, (uint64_t)i * 10,
				c);
	}
	nft_counts_note("denied_in_web", RS_INET, 7, 700, c);
	assert_true(nft_counts_get(c, "denied_in_web", RS_INET, &pk, &b));
	assert_int_equal(pk, 7);
	assert_int_equal(b, 700);
	/* the same name in the other table is another counter */
	assert_true(nft_counts_get(c, "denied_in_web", RS_BRIDGE, &pk, &b));
	assert_int_equal(pk, 6);
	assert_int_equal(b, 600);
	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "denied_in_g%d", i);
		assert_true(nft_counts_get(c, name, RS_INET, &pk, &b));
		assert_int_equal(pk, i);
		assert_int_equal(b, i * 10);
	}
	nft_counts_free(c);
	nft_counts_free(NULL);
}

/* nft_counts_keep: only the model's counters stay, with their counts. */
static void test_keep(void **state)
{
	struct nft_counts *c = nft_counts_new();
	struct inventory *inv;
	struct policy *p;
	struct ruleset *rs = build(&p, &inv);
	uint64_t pk, b;

	(void)state;
	nft_counts_note("denied_in_web", RS_INET, 7, 700, c);
	nft_counts_note("denied_in_gone", RS_INET, 9, 900, c);
	nft_counts_keep(c, rs);
	assert_true(nft_counts_get(c, "denied_in_web", RS_INET, &pk, &b));
	assert_int_equal(pk, 7);
	assert_int_equal(b, 700);
	assert_false(nft_counts_get(c, "denied_in_gone", RS_INET, &pk, &b));
	assert_int_equal(pk, 0);
	/* a counter of the model without a count starts known at zero */
	assert_true(nft_counts_get(c, "denied_in_db", RS_INET, &pk, &b));
	assert_int_equal(pk, 0);
	nft_counts_free(c);
	ruleset_free(rs);
	inventory_free(inv);
	policy_free(p);
}

struct seen {
	char name[64];
	int family;
	bool has_counts;
	uint64_t packets, bytes;
};

/* fn for each message of type NFT_MSG_<msg> in the last batch built;
 * the batch ends exactly at its last message */
static void batch_each(struct nft_writer *w, uint16_t msg,
		       void (*fn)(const struct nlmsghdr *nlh, void *arg),
		       void *arg)
{
	size_t len;
	const struct nlmsghdr *nlh = nft_last_batch(w, &len);
	int rest = (int)len;

	for (; mnl_nlmsg_ok(nlh, rest); nlh = mnl_nlmsg_next(nlh, &rest))
		if (nlh->nlmsg_type == (NFNL_SUBSYS_NFTABLES << 8 | msg))
			fn(nlh, arg);
	assert_int_equal(rest, 0);
}

struct objs {
	struct seen *v;
	size_t n, max;
};

static void obj_seen(const struct nlmsghdr *nlh, void *arg)
{
	struct objs *os = arg;
	struct seen *v = os->v;
	size_t n = os->n;
	struct nftnl_obj *o;

	assert_true(n < os->max);
	o = nftnl_obj_alloc();
	assert_int_equal(nftnl_obj_nlmsg_parse(nlh, o), 0);
	assert_int_equal(nftnl_obj_get_u32(o, NFTNL_OBJ_TYPE),
			 NFT_OBJECT_COUNTER);
	snprintf(v[n].name, sizeof(v[n].name), "%s",
		 nftnl_obj_get_str(o, NFTNL_OBJ_NAME));
	v[n].family = (int)nftnl_obj_get_u32(o, NFTNL_OBJ_FAMILY);
	v[n].has_counts = nftnl_obj_is_set(o, NFTNL_OBJ_CTR_PKTS);
	v[n].packets = nftnl_obj_get_u64(o, NFTNL_OBJ_CTR_PKTS);
	v[n].bytes = nftnl_obj_get_u64(o, NFTNL_OBJ_CTR_BYTES);
	nftnl_obj_free(o);
	os->n++;
}

/* Every NEWOBJ of the last batch built. */
static size_t batch_objs(struct nft_writer *w, struct seen *v, size_t max)
{
	struct objs os = { v, 0, max };

	batch_each(w, NFT_MSG_NEWOBJ, obj_seen, &os);
	return os.n;
}

static const struct seen *find(const struct seen *v, size_t n,
			       const char *name, int family)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(v[i].name, name) && v[i].family == family)
			return &v[i];
	return NULL;
}

static void test_batch(void **state)
{
	struct nft_counts *c = nft_counts_new();
	struct nft_writer *w;
	struct inventory *inv;
	struct policy *p;
	struct ruleset *rs = build(&p, &inv);
	struct seen v[64];
	const struct seen *s;
	size_t n, i;

	(void)state;
	if (nft_open(&w) < 0)
		skip();
	nft_counts_note("denied_in_web", RS_INET, 7, 700, c);
	nft_counts_note("unlogged_out_db", RS_INET, 1ULL << 40, 3ULL << 40, c);
	nft_counts_note("spoofed_web", RS_BRIDGE, 3, 300, c);
	nft_counts_note("spoofed_web", RS_INET, 99, 9900, c);
	nft_counts_note("denied_in_gone", RS_INET, 9, 900, c);
	nft_build_full(w, rs, c);
	n = batch_objs(w, v, 64);
	assert_int_equal(n, rs->n_counters);

	s = find(v, n, "denied_in_web", NFPROTO_INET);
	assert_non_null(s);
	assert_true(s->has_counts);
	assert_int_equal(s->packets, 7);
	assert_int_equal(s->bytes, 700);
	s = find(v, n, "unlogged_out_db", NFPROTO_INET);
	assert_non_null(s);
	assert_int_equal(s->packets, 1ULL << 40);
	assert_int_equal(s->bytes, 3ULL << 40);
	/* by table: the inet count of that name is not the bridge's */
	s = find(v, n, "spoofed_web", NFPROTO_BRIDGE);
	assert_non_null(s);
	assert_int_equal(s->packets, 3);
	assert_int_equal(s->bytes, 300);
	assert_null(find(v, n, "denied_in_gone", NFPROTO_INET));
	for (i = 0; i < n; i++)
		if (strcmp(v[i].name, "denied_in_web") &&
		    strcmp(v[i].name, "unlogged_out_db") &&
		    strcmp(v[i].name, "spoofed_web"))
			assert_int_equal(v[i].packets, 0);

	/* without counts, and counts do not stick to the writer */
	nft_build_full(w, rs, NULL);
	n = batch_objs(w, v, 64);
	assert_int_equal(n, rs->n_counters);
	for (i = 0; i < n; i++)
		assert_false(v[i].has_counts);

	nft_close(w);
	nft_counts_free(c);
	ruleset_free(rs);
	inventory_free(inv);
	policy_free(p);
}

/* What the rules of one chain in the last batch read: lookups of the bit
 * sets, the address loads of the rules that make them, and any set of
 * the IPv6 family. */
struct chain_reads {
	unsigned rules, bit_lookups, addr_loads, v6_sets;
};

static void rule_reads(struct nftnl_rule *r, struct chain_reads *cr)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	unsigned bits = 0, loads = 0;
	struct nftnl_expr *e;

	assert_non_null(it);
	while ((e = nftnl_expr_iter_next(it))) {
		const char *kind = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
		const char *set = NULL;

		if (!strcmp(kind, "payload") &&
		    nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_BASE) ==
			    NFT_PAYLOAD_NETWORK_HEADER)
			loads++;
		else if (!strcmp(kind, "lookup"))
			set = nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET);
		else if (!strcmp(kind, "dynset"))
			set = nftnl_expr_get_str(e, NFTNL_EXPR_DYNSET_SET_NAME);
		if (set && !strncmp(set, "bit", 3))
			bits++;
		if (set && strstr(set, "_v6"))
			cr->v6_sets++;
	}
	nftnl_expr_iter_destroy(it);
	cr->bit_lookups += bits;
	if (bits)
		cr->addr_loads += loads;
}

struct chain_rules {
	const char *chain;
	struct chain_reads *cr;
};

static void rule_seen(const struct nlmsghdr *nlh, void *arg)
{
	struct chain_rules *c = arg;
	struct nftnl_rule *r = nftnl_rule_alloc();

	assert_int_equal(nftnl_rule_nlmsg_parse(nlh, r), 0);
	if (!strcmp(nftnl_rule_get_str(r, NFTNL_RULE_CHAIN), c->chain)) {
		c->cr->rules++;
		rule_reads(r, c->cr);
	}
	nftnl_rule_free(r);
}

static void chain_reads(struct nft_writer *w, const char *chain,
			struct chain_reads *cr)
{
	memset(cr, 0, sizeof(*cr));
	batch_each(w, NFT_MSG_NEWRULE, rule_seen,
		   &(struct chain_rules){ chain, cr });
}

/* in_db: the flow from web reads web's number (k lookups of the source
 * loaded once), db's intra rule db's; the inventory has IPv4 only, so no
 * rule of the group's chains reads an IPv6 set (the trees send no IPv6
 * packet there). */
static void test_group_rules(void **state)
{
	struct nft_writer *w;
	struct inventory *inv;
	struct policy *p;
	struct ruleset *rs = build(&p, &inv);
	struct chain_reads cr;
	unsigned reads = 0;
	size_t g;

	(void)state;
	if (nft_open(&w) < 0)
		skip();
	nft_build_full(w, rs, NULL);
	chain_reads(w, "in_db", &cr);
	assert_true(cr.rules >= 3);
	/* intra db and flow web->db: one load each, and one lookup per bit
	 * of the group's num_reads (numbers 8 and 4 of 1, 2, 4, 8: no
	 * number contains another, so each reads its one 1-bit) */
	for (g = 0; g < p->n_groups; g++)
		if (!strcmp(p->groups[g].name, "db") ||
		    !strcmp(p->groups[g].name, "web"))
			reads += (unsigned)__builtin_popcount(
				rs->groups[g].num_reads);
	assert_int_equal(reads, 2);
	assert_int_equal(cr.bit_lookups, reads);
	assert_int_equal(cr.addr_loads, 2);
	assert_int_equal(cr.v6_sets, 0);
	chain_reads(w, "out_web", &cr);
	assert_true(cr.rules >= 1);
	assert_int_equal(cr.v6_sets, 0);
	nft_close(w);
	ruleset_free(rs);
	inventory_free(inv);
	policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_keep),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_group_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

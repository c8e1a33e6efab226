/* explain.c without a kernel: every kind of side (container, cidrs, host,
 * world, quarantine, unassigned), intra allow/deny, audit, directions,
 * ports and families. daemon_flows.t checks the same function against
 * real traffic. */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "explain.h"
#include "flowlog.h"

static const char policy_text[] =
	"version: 1\n"
	"groups:\n"
	"  web: { match: { purpose: web } }\n"
	"  api: { match: { purpose: api } }\n"
	"  db: { match: { purpose: database }, intra: deny }\n"
	"  metrics: { match: { purpose: metrics }, mode: audit }\n"
	"  dns: { cidrs: [10.9.0.53/32, fd09::/64] }\n"
	"flows:\n"
	"  - { from: web, to: api, ports: [tcp/8080, udp/9000-9010, icmp] }\n"
	"  - { from: api, to: db, ports: [tcp/5432] }\n"
	"  - { from: [web, api], to: dns, ports: [udp/53] }\n"
	"  - { from: host, to: web, ports: [tcp/22] }\n"
	"  - { from: world, to: web, ports: [tcp/443] }\n"
	"  - { from: api, to: world, ports: [tcp/443] }\n";

struct fx {
	struct policy *p;
	struct inventory *inv;
	struct explain_host host;
};

static void add(struct fx *f, const char *id, const char *purpose,
		const char *ip4, const char *ip6, bool quarantined)
{
	struct container *c = container_new(id, id);
	struct bh_addr a;

	if (purpose)
		container_add_label(c, "bulkhead.purpose", purpose);
	assert_true(bh_addr_parse(ip4, false, &a));
	container_add_addr(c, &a);
	assert_true(bh_addr_parse(ip6, false, &a));
	container_add_addr(c, &a);
	c->quarantined = quarantined;
	container_classify(c, f->p);
	assert_int_equal(inventory_add(f->inv, c), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct diags d = { 0 };

	f->p = policy_load_buf("t.yaml", policy_text, sizeof(policy_text) - 1,
			       &d);
	if (!f->p) {
		diags_print(&d, stderr);
		return -1;
	}
	diags_free(&d);
	f->inv = inventory_new();
	add(f, "web1", "web", "10.9.0.11", "fd08::11", false);
	add(f, "web2", "web", "10.9.0.12", "fd08::12", false);
	add(f, "api", "api", "10.9.0.21", "fd08::21", false);
	add(f, "db1", "database", "10.9.0.31", "fd08::31", false);
	add(f, "db2", "database", "10.9.0.32", "fd08::32", false);
	add(f, "metrics", "metrics", "10.9.0.41", "fd08::41", false);
	add(f, "stray", "batch", "10.9.0.51", "fd08::51", false);
	add(f, "new", NULL, "10.9.0.61", "fd08::61", true);
	f->host.addrs = calloc(1, sizeof(*f->host.addrs));
	assert_true(bh_addr_parse("10.9.0.1", false, &f->host.addrs[0]));
	f->host.n = 1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	explain_host_free(&f->host);
	inventory_free(f->inv);
	policy_free(f->p);
	free(f);
	return 0;
}

static struct explain_result decide(struct fx *f, const char *src,
				    const char *dst, const char *port)
{
	struct explain_result r;
	struct bh_addr s, d;
	uint8_t proto;
	uint16_t dport;

	assert_true(bh_addr_parse(src, false, &s));
	assert_true(bh_addr_parse(dst, false, &d));
	assert_true(explain_parse_port(port, &proto, &dport));
	explain_decide(f->p, f->inv, &f->host, &s, &d, proto, dport, &r);
	return r;
}

#define EXPECT(src, dst, port, want_v, want_chain) do {		\
	struct explain_result r_ = decide(f, src, dst, port);		\
	assert_string_equal(explain_verdict_str(r_.verdict), want_v);	\
	assert_string_equal(r_.chain, want_chain);			\
} while (0)

static void test_declared_and_default(void **state)
{
	struct fx *f = *state;
	struct explain_result r;

	r = decide(f, "10.9.0.11", "10.9.0.21", "tcp/8080");
	assert_int_equal(r.verdict, EXPLAIN_ALLOW);
	assert_int_equal(r.flow->loc.line, 9);
	assert_non_null(strstr(r.reason, "t.yaml:9:"));
	assert_non_null(strstr(r.src.why, "matches web"));
	EXPECT("fd08::11", "fd08::21", "tcp/8080", "allow", "in_api");
	EXPECT("10.9.0.11", "10.9.0.21", "tcp/8081", "deny", "in_api");
	EXPECT("10.9.0.11", "10.9.0.21", "udp/9000", "allow", "in_api");
	EXPECT("10.9.0.11", "10.9.0.21", "udp/9010", "allow", "in_api");
	EXPECT("10.9.0.11", "10.9.0.21", "udp/9011", "deny", "in_api");
	EXPECT("10.9.0.21", "10.9.0.11", "tcp/8080", "deny", "in_web");
	/* icmp is IPv4 only; icmpv6 was not declared */
	EXPECT("10.9.0.11", "10.9.0.21", "icmp", "allow", "in_api");
	EXPECT("fd08::11", "fd08::21", "icmpv6", "deny", "in_api");
	EXPECT("10.9.0.21", "10.9.0.31", "tcp/5432", "allow", "in_db");
	EXPECT("10.9.0.11", "10.9.0.31", "tcp/5432", "deny", "in_db");
}

static void test_intra_audit_quarantine(void **state)
{
	struct fx *f = *state;
	struct explain_result r;

	r = decide(f, "10.9.0.11", "10.9.0.12", "tcp/1");
	assert_int_equal(r.verdict, EXPLAIN_ALLOW);
	assert_true(r.intra);
	EXPECT("10.9.0.31", "10.9.0.32", "tcp/5432", "deny", "in_db");
	EXPECT("10.9.0.11", "10.9.0.41", "tcp/9999", "would-deny",
	       "in_metrics");
	EXPECT("10.9.0.41", "fd09::1", "udp/53", "would-deny", "out_metrics");
	EXPECT("10.9.0.41", "10.9.0.11", "tcp/443", "deny", "in_web");
	EXPECT("10.9.0.11", "10.9.0.61", "tcp/8080", "deny", "in_quarantine");
	EXPECT("10.9.0.61", "10.9.0.53", "udp/53", "deny", "out_quarantine");
	EXPECT("10.9.0.51", "10.9.0.21", "tcp/8080", "deny", "in_api");
	EXPECT("10.9.0.21", "10.9.0.51", "tcp/8080", "deny", "in_unassigned");
	r = decide(f, "10.9.0.51", "10.9.0.21", "tcp/8080");
	assert_int_equal(r.src.group, GROUP_UNASSIGNED);
}

static void test_cidrs_host_world(void **state)
{
	struct fx *f = *state;
	struct explain_result r;

	EXPECT("10.9.0.11", "10.9.0.53", "udp/53", "allow", "out_web");
	EXPECT("fd08::21", "fd09::5", "udp/53", "allow", "out_api");
	EXPECT("10.9.0.31", "10.9.0.53", "udp/53", "deny", "out_db");
	/* world: neither a container, nor a cidrs group, nor the host */
	EXPECT("192.0.2.7", "10.9.0.11", "tcp/443", "allow", "in_web");
	EXPECT("10.9.0.21", "10.9.0.11", "tcp/443", "deny", "in_web");
	EXPECT("10.9.0.53", "10.9.0.11", "tcp/443", "deny", "in_web");
	EXPECT("10.9.0.21", "192.0.2.7", "tcp/443", "allow", "out_api");
	EXPECT("10.9.0.21", "10.9.0.53", "tcp/443", "deny", "out_api");
	EXPECT("10.9.0.11", "192.0.2.7", "tcp/443", "deny", "out_web");
	/* host: output hook towards containers, input hook from them */
	EXPECT("10.9.0.1", "10.9.0.11", "tcp/22", "allow", "in_web");
	EXPECT("127.0.0.1", "10.9.0.11", "tcp/22", "allow", "in_web");
	EXPECT("10.9.0.1", "10.9.0.21", "tcp/22", "deny", "in_api");
	EXPECT("10.9.0.11", "10.9.0.1", "tcp/22", "deny", "out_web");
	r = decide(f, "10.9.0.1", "10.9.0.11", "tcp/22");
	assert_int_equal(r.src.group, GROUP_HOST);
	/* nobody's business */
	r = decide(f, "192.0.2.1", "192.0.2.2", "tcp/80");
	assert_int_equal(r.verdict, EXPLAIN_NOT_OURS);
	r = decide(f, "10.9.0.1", "192.0.2.2", "tcp/80");
	assert_int_equal(r.verdict, EXPLAIN_NOT_OURS);
}

static void test_json_and_ports(void **state)
{
	struct fx *f = *state;
	struct explain_result r = decide(f, "10.9.0.11", "10.9.0.21",
					 "udp/9005");
	json_t *j = explain_result_json(f->p, &r);
	uint8_t proto;
	uint16_t port;

	assert_string_equal(json_string_value(json_object_get(j, "verdict")),
			    "allow");
	assert_string_equal(json_string_value(json_object_get(
		json_object_get(j, "flow"), "port")), "udp/9000-9010");
	assert_string_equal(json_string_value(json_object_get(
		json_object_get(json_object_get(j, "src"), "container"),
		"id")), "web1");
	json_decref(j);

	assert_true(explain_parse_port("sctp/1", &proto, &port));
	assert_int_equal(proto, IPPROTO_SCTP);
	assert_false(explain_parse_port("tcp/65536", &proto, &port));
	assert_false(explain_parse_port("tcp/", &proto, &port));
	assert_false(explain_parse_port("tcp/-1", &proto, &port));
	assert_false(explain_parse_port("tcp", &proto, &port));
	assert_false(explain_parse_port("gre/1", &proto, &port));
	assert_false(explain_parse_port("tcp/8080x", &proto, &port));
}

/* The rule explain names must be the one a record of the same packet
 * names: for a deny the record knows only its chain (the log prefix
 * bh/<in|out>/<group>/<deny|audit>), so both must derive it from that. */
#define RULE(src, dst, port, want) do {					\
	struct explain_result r_ = decide(f, src, dst, port);		\
	char b_[300];							\
	struct flowlog_rule fr_ = { 0 };				\
									\
	assert_string_equal(explain_rule_name(f->p, &r_, b_,		\
					      sizeof(b_)), want);	\
	if (r_.verdict == EXPLAIN_DENY || r_.verdict == EXPLAIN_AUDIT) {\
		fr_.dir = r_.chain[0] == 'i' ? FL_DIR_IN : FL_DIR_OUT;	\
		snprintf(fr_.group, sizeof(fr_.group), "%s",		\
			 strchr(r_.chain, '_') + 1);			\
		fr_.audit = r_.verdict == EXPLAIN_AUDIT;		\
		assert_string_equal(flowlog_rule_name(&fr_), want);	\
	}								\
} while (0)

static void test_rule_names(void **state)
{
	struct fx *f = *state;
	struct explain_result r;
	json_t *j;

	RULE("10.9.0.11", "10.9.0.21", "tcp/8080", "t.yaml:9");
	RULE("10.9.0.21", "10.9.0.31", "tcp/5432", "t.yaml:10");
	RULE("10.9.0.21", "192.0.2.7", "tcp/443", "t.yaml:14");
	/* intra-group traffic: the group's line */
	RULE("10.9.0.11", "10.9.0.12", "tcp/1", "t.yaml:3");
	RULE("10.9.0.11", "10.9.0.21", "tcp/8081", "default-deny");
	RULE("10.9.0.31", "10.9.0.32", "tcp/5432", "default-deny");
	RULE("10.9.0.11", "10.9.0.41", "tcp/9999", "default-deny");
	RULE("10.9.0.41", "fd09::1", "udp/53", "default-deny");
	RULE("10.9.0.11", "10.9.0.61", "tcp/8080", "quarantine");
	RULE("10.9.0.61", "10.9.0.53", "udp/53", "quarantine");
	RULE("10.9.0.21", "10.9.0.51", "tcp/8080", "unassigned");
	/* an unassigned source into a group: that group's default deny */
	RULE("10.9.0.51", "10.9.0.21", "tcp/8080", "default-deny");
	RULE("192.0.2.1", "192.0.2.2", "tcp/80", "");
	r = decide(f, "10.9.0.21", "10.9.0.51", "tcp/8080");
	j = explain_result_json(f->p, &r);
	assert_string_equal(json_string_value(json_object_get(j, "rule")),
			    "unassigned");
	json_decref(j);
}

/* Boundaries come before every flow and judge each container by its own
 * labels as well as its group's; world is what no group holds. */
static void test_boundaries(void **state)
{
	static const char text[] =
		"version: 1\n"
		"groups:\n"
		"  edge: { match: { purpose: edge }, risk: exposed }\n"
		"  app: { match: { purpose: app } }\n"
		"  db: { match: { purpose: database }, sensitivity: restricted }\n"
		"boundaries:\n"
		"  exposed-restricted: { from: { risk: exposed }, to: { sensitivity: restricted } }\n"
		"  restricted-world: { from: { sensitivity: restricted }, to: world }\n"
		"flows:\n"
		"  - { from: edge, to: app, ports: [tcp/8080] }\n"
		"  - { from: app, to: db, ports: [tcp/5432] }\n"
		"  - { from: app, to: world, ports: [tcp/443] }\n";
	struct fx *f = calloc(1, sizeof(*f));
	struct diags d = { 0 };
	struct container *c;
	struct explain_result r;

	(void)state;
	f->p = policy_load_buf("b.yaml", text, sizeof(text) - 1, &d);
	assert_non_null(f->p);
	diags_free(&d);
	f->inv = inventory_new();
	add(f, "edge", "edge", "10.9.0.11", "fd08::11", false);
	add(f, "app", "app", "10.9.0.21", "fd08::21", false);
	add(f, "vault", "app", "10.9.0.22", "fd08::22", false);
	add(f, "rogue", "app", "10.9.0.23", "fd08::23", false);
	add(f, "db", "database", "10.9.0.31", "fd08::31", false);
	c = inventory_find(f->inv, "vault");
	container_add_label(c, "bulkhead.sensitivity", "restricted");
	c = inventory_find(f->inv, "rogue");
	container_add_label(c, "bulkhead.risk", "exposed");
	f->host.addrs = calloc(1, sizeof(*f->host.addrs));
	assert_true(bh_addr_parse("10.9.0.1", false, &f->host.addrs[0]));
	f->host.n = 1;

	EXPECT("10.9.0.11", "10.9.0.21", "tcp/8080", "allow", "in_app");
	EXPECT("10.9.0.11", "10.9.0.22", "tcp/8080", "deny",
	       "boundary_exposed-restricted");
	r = decide(f, "fd08::11", "fd08::22", "tcp/8080");
	assert_null(r.flow);
	assert_non_null(strstr(r.reason, "boundary 'exposed-restricted' (b.yaml:7:3)"));
	EXPECT("10.9.0.21", "10.9.0.31", "tcp/5432", "allow", "in_db");
	EXPECT("10.9.0.23", "10.9.0.31", "tcp/5432", "deny",
	       "boundary_exposed-restricted");
	/* app may reach the world, vault (restricted by its label) not */
	EXPECT("10.9.0.21", "192.0.2.1", "tcp/443", "allow", "out_app");
	EXPECT("10.9.0.22", "192.0.2.1", "tcp/443", "deny",
	       "boundary_restricted-world");
	/* to the host: the boundaries are not in the input path */
	EXPECT("10.9.0.11", "10.9.0.1", "tcp/22", "deny", "out_edge");
	teardown((void **)&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_declared_and_default),
		cmocka_unit_test(test_intra_audit_quarantine),
		cmocka_unit_test(test_cidrs_host_world),
		cmocka_unit_test(test_json_and_ports),
		cmocka_unit_test(test_rule_names),
		cmocka_unit_test(test_boundaries),
	};

	return cmocka_run_group_tests_name("explain", tests, setup, teardown);
}

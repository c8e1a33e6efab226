/* policy.c and policy_yaml.c: loading, the model it builds, classification,
 * shadowing, directory merging and the findings of bad input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "policy.h"
#include "../bench/policy_texts.h"

static const char demo[] =
	"version: 1\n"
	"settings:\n"
	"  label_prefix: bulkhead.\n"
	"  log: { window: 500ms, rate: 100/minute }\n"
	"groups:\n"
	"  web:\n"
	"    description: public web tier\n"
	"    match: { purpose: web, risk: exposed }\n"
	"    sensitivity: low\n"
	"  web2:\n"
	"    match: { purpose: web }\n"
	"  db:\n"
	"    match: { purpose: database }\n"
	"    sensitivity: restricted\n"
	"    mode: audit\n"
	"    intra: deny\n"
	"  resolvers:\n"
	"    cidrs: [10.0.0.53/32, fd00::/64]\n"
	"flows:\n"
	"  - { from: web2, to: db, ports: [tcp/5432] }\n"
	"  - { from: [web, web2], to: resolvers, ports: [udp/53, tcp/1-1024] }\n"
	"  - { from: db, to: web, ports: [icmp, icmpv6, any, sctp] }\n"
	"  - { from: host, to: [web, db], ports: [tcp/22] }\n";

/* A hang guard for the large inputs, not a time limit: with the default
 * action SIGALRM ends the run, and the missing results fail it. Their
 * times are tests/bench/policy_scale's (docs/benchmarks.md, "policy"). */
#define WATCHDOG_S 300

static struct policy *load(const char *text, struct diags *d)
{
	return policy_load_buf("t.yaml", text, strlen(text), d);
}

/* The first error as printed by diags_print (warnings may come first). */
static char *first_line(const struct diags *d)
{
	char *buf = NULL, *line, *nl;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	diags_print(d, f);
	fclose(f);
	line = buf;
	while ((nl = strchr(line, '\n'))) {
		*nl = '\0';
		if (strstr(line, ": error: "))
			break;
		line = nl + 1;
	}
	line = xstrdup(line);
	free(buf);
	return line;
}

static void test_load_model(void **state)
{
	struct diags d = { 0 };
	struct policy *p = load(demo, &d);
	const struct group *g;
	const struct flow *f;
	char buf[BH_ADDR_STRLEN];

	(void)state;
	assert_non_null(p);
	assert_int_equal(d.n_errors, 0);
	assert_int_equal(d.n_warnings, 0);
	assert_int_equal(p->n_groups, GROUP_FIRST_USER + 4);
	assert_int_equal(policy_group_find(p, "unassigned"), GROUP_UNASSIGNED);
	assert_int_equal(policy_group_find(p, "host"), GROUP_HOST);
	assert_int_equal(policy_group_find(p, "world"), GROUP_WORLD);
	assert_int_equal(policy_group_find(p, "quarantine"), GROUP_QUARANTINE);
	assert_int_equal(policy_group_find(p, "web"), GROUP_FIRST_USER);
	assert_int_equal(policy_group_find(p, "resolvers"), GROUP_FIRST_USER + 3);
	assert_int_equal(policy_group_find(p, "nope"), -1);
	assert_false(p->groups[GROUP_QUARANTINE].intra_allow);

	assert_string_equal(p->label_prefix, "bulkhead.");
	assert_int_equal(p->log_window_ms, 500);
	assert_int_equal(p->log_rate, 100);
	assert_int_equal(p->log_rate_unit_s, 60);
	assert_true(p->unassigned_deny);

	g = &p->groups[GROUP_FIRST_USER];
	assert_int_equal(g->kind, GK_LABELS);
	assert_string_equal(g->description, "public web tier");
	assert_int_equal(g->n_match, 2);
	assert_string_equal(g->match[1].key, "risk");
	assert_int_equal(g->sensitivity, SENS_LOW);
	assert_int_equal(g->loc.line, 6);
	assert_int_equal(g->loc.col, 3);
	g = &p->groups[GROUP_FIRST_USER + 2];
	assert_int_equal(g->mode, MODE_AUDIT);
	assert_false(g->intra_allow);
	assert_int_equal(g->sensitivity, SENS_RESTRICTED);
	g = &p->groups[GROUP_FIRST_USER + 3];
	assert_int_equal(g->kind, GK_CIDRS);
	assert_int_equal(g->n_cidrs, 2);
	assert_string_equal(bh_addr_str(&g->cidrs[1], buf), "fd00::/64");
	assert_true(g->intra_allow);
	assert_int_equal(g->mode, MODE_ENFORCE);

	assert_int_equal(p->n_flows, 4);
	f = &p->flows[1];
	assert_int_equal(f->n_from, 2);
	assert_int_equal(f->from[1], GROUP_FIRST_USER + 1);
	assert_int_equal(f->n_to, 1);
	assert_int_equal(f->n_ports, 2);
	assert_int_equal(f->ports[0].proto, IPPROTO_UDP);
	assert_int_equal(f->ports[0].lo, 53);
	assert_int_equal(f->ports[0].hi, 53);
	assert_int_equal(f->ports[1].proto, IPPROTO_TCP);
	assert_int_equal(f->ports[1].lo, 1);
	assert_int_equal(f->ports[1].hi, 1024);
	assert_int_equal(f->loc.line, 21);
	f = &p->flows[2];
	assert_int_equal(f->ports[0].proto, IPPROTO_ICMP);
	assert_int_equal(f->ports[1].proto, IPPROTO_ICMPV6);
	assert_int_equal(f->ports[2].proto, 0);
	assert_int_equal(f->ports[3].proto, IPPROTO_SCTP);
	assert_int_equal(f->ports[3].lo, 0);
	assert_int_equal(f->ports[3].hi, 65535);
	assert_int_equal(p->flows[3].from[0], GROUP_HOST);
	assert_int_equal(p->n_files, 1);
	assert_string_equal(policy_file(p, 0), "t.yaml");
	policy_free(p);
	diags_free(&d);
}

static void test_classify(void **state)
{
	struct kv web[] = { { "bulkhead.purpose", "web" },
			    { "bulkhead.risk", "exposed" } };
	struct kv web2[] = { { "other", "x" }, { "bulkhead.purpose", "web" } };
	struct kv unprefixed[] = { { "purpose", "web" } };
	struct kv db[] = { { "bulkhead.purpose", "database" } };
	struct diags d = { 0 };
	struct policy *p = load(demo, &d);
	char *why;

	(void)state;
	assert_non_null(p);
	assert_int_equal(policy_classify(p, web, 2, &why), GROUP_FIRST_USER);
	assert_string_equal(why,
		"matches web (purpose=web, risk=exposed) at t.yaml:6:3");
	assert_int_equal(policy_classify(p, web2, 2, &why),
			 GROUP_FIRST_USER + 1);
	assert_string_equal(why, "matches web2 (purpose=web) at t.yaml:10:3");
	assert_int_equal(policy_classify(p, unprefixed, 1, &why),
			 GROUP_UNASSIGNED);
	assert_string_equal(why, "matches no group");
	assert_int_equal(policy_classify(p, db, 1, NULL), GROUP_FIRST_USER + 2);
	assert_int_equal(policy_classify(p, NULL, 0, &why), GROUP_UNASSIGNED);
	policy_free(p);
	diags_free(&d);
}

/* The first group in order wins even when a later one is filed under a
 * rarer label in the index. */
static void test_classify_order(void **state)
{
	static const char text[] =
		"version: 1\n"
		"settings: { label_prefix: '' }\n"
		"groups:\n"
		"  a: { match: { zone: x } }\n"
		"  b: { match: { zone: y, app: one } }\n"
		"  c: { match: { zone: y, app: two } }\n"
		"  d: { match: { app: one, rare: yes } }\n"
		"flows:\n"
		"  - { from: [a, b], to: [c, d], ports: [tcp/1] }\n";
	struct kv l1[] = { { "app", "one" }, { "rare", "yes" },
			   { "zone", "y" } };
	struct kv l2[] = { { "rare", "yes" }, { "app", "one" } };
	struct kv l3[] = { { "zone", "x" }, { "app", "two" } };
	struct diags d = { 0 };
	struct policy *p = load(text, &d);

	(void)state;
	assert_non_null(p);
	assert_int_equal(policy_classify(p, l1, 3, NULL), GROUP_FIRST_USER + 1);
	assert_int_equal(policy_classify(p, l2, 2, NULL), GROUP_FIRST_USER + 3);
	assert_int_equal(policy_classify(p, l3, 2, NULL), GROUP_FIRST_USER);
	policy_free(p);
	diags_free(&d);
}

/* A group added by hand before policy_seal is still found (by a scan),
 * and after sealing through the index. */
static void test_unsealed(void **state)
{
	struct policy *p = policy_new();
	struct kv l[] = { { "bulkhead.k", "v" } };
	struct group *g;
	char *why;

	(void)state;
	p->groups = xrealloc(p->groups, (p->n_groups + 1) * sizeof(*g));
	g = &p->groups[p->n_groups++];
	memset(g, 0, sizeof(*g));
	g->name = xstrdup("manual");
	g->kind = GK_LABELS;
	g->match = xcalloc(1, sizeof(*g->match));
	g->match[0].key = xstrdup("k");
	g->match[0].value = xstrdup("v");
	g->n_match = 1;
	assert_int_equal(policy_group_find(p, "manual"), GROUP_FIRST_USER);
	assert_int_equal(policy_classify(p, l, 1, &why), GROUP_FIRST_USER);
	assert_string_equal(why, "manual");
	policy_seal(p);
	assert_int_equal(policy_group_find(p, "manual"), GROUP_FIRST_USER);
	assert_int_equal(policy_classify(p, l, 1, &why), GROUP_FIRST_USER);
	assert_string_equal(why, "matches manual (k=v) at -:0:0");
	policy_free(p);
	policy_free(NULL);
}

static void test_shadowing(void **state)
{
	static const char text[] =
		"version: 1\n"
		"groups:\n"
		"  web: { match: { purpose: web } }\n"
		"  other: { match: { purpose: other } }\n"
		"  public: { match: { risk: exposed, purpose: web } }\n"
		"flows:\n"
		"  - { from: host, to: [web, other, public], ports: [tcp/22] }\n";
	struct diags d = { 0 };
	char *line;

	(void)state;
	assert_null(load(text, &d));
	assert_int_equal(d.n_errors, 1);
	line = first_line(&d);
	assert_string_equal(line, "t.yaml:5:3: error: group 'public' can never match: 'web' (t.yaml:3:3) comes first and matches every container it would");
	free(line);
	diags_free(&d);
}

static void test_warnings(void **state)
{
	static const char text[] =
		"version: 1\n"
		"groups:\n"
		"  web: { match: { purpose: web, risk: exposed } }\n"
		"  db: { match: { purpose: db }, sensitivity: restricted }\n"
		"  idle: { cidrs: [192.0.2.1] }\n"
		"flows:\n"
		"  - { from: web, to: db, ports: [any, udp] }\n";
	struct diags d = { 0 };
	struct policy *p = load(text, &d);

	(void)state;
	assert_non_null(p);
	assert_int_equal(d.n_errors, 0);
	/* exposed into restricted is a boundary the policy declares now
	 * (test_boundaries), no longer a warning of its own */
	assert_int_equal(d.n_warnings, 3);
	assert_int_equal(d.v[0].line, 5);
	assert_string_equal(d.v[0].msg, "no flow mentions group 'idle'");
	assert_int_equal(d.v[1].line, 7);
	assert_int_equal(d.v[1].col, 34);
	assert_int_equal(d.v[2].col, 39);
	policy_free(p);
	diags_free(&d);
}

static char *write_file(const char *dir, const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);

	assert_int_equal(bh_write_file_atomic(path, text, strlen(text), 0644),
			 0);
	return path;
}

static void test_directory(void **state)
{
	char dir[] = "/tmp/bh-test-policy.XXXXXX", *paths[4], *sub, *line;
	struct diags d = { 0 };
	struct policy *p;
	size_t i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	/* Name order, not creation order; other files and hidden ones are
	 * not part of the policy. */
	paths[0] = write_file(dir, "b.yaml",
		"version: 1\n"
		"groups: { db: { match: { purpose: db } } }\n"
		"flows: [ { from: web, to: db, ports: [tcp/5432] } ]\n");
	paths[1] = write_file(dir, "a.yaml",
		"version: 1\n"
		"settings: { log: { window: 1m } }\n"
		"groups: { web: { match: { purpose: web } } }\n");
	paths[2] = write_file(dir, "notes.txt", "not yaml: [");
	paths[3] = write_file(dir, ".hidden.yaml", "not yaml: [");
	p = policy_load(dir, &d);
	assert_non_null(p);
	assert_int_equal(d.n, 0);
	assert_int_equal(p->n_files, 2);
	assert_int_equal(policy_group_find(p, "web"), GROUP_FIRST_USER);
	assert_int_equal(policy_group_find(p, "db"), GROUP_FIRST_USER + 1);
	assert_int_equal(p->groups[GROUP_FIRST_USER + 1].loc.file, 1);
	assert_int_equal(p->log_window_ms, 60000);
	assert_int_equal(p->n_flows, 1);
	policy_free(p);

	/* The same group in two files, settings twice: both places named;
	 * every file's errors in one run. */
	sub = write_file(dir, "c.yaml",
		"version: 1\n"
		"settings: { unassigned: deny }\n"
		"groups: { web: { match: { purpose: www } } }\n"
		"flows: [ { from: web, to: db, ports: [tcp/0] } ]\n");
	p = policy_load(dir, &d);
	assert_null(p);
	assert_int_equal(d.n_errors, 3);
	line = xasprintf("settings given twice (first at %s/a.yaml:2:1); a policy has one settings block",
			 dir);
	assert_string_equal(d.v[0].msg, line);
	free(line);
	assert_string_equal(d.v[0].file, sub);
	line = xasprintf("duplicate group 'web' (first defined at %s/a.yaml:3:11)",
			 dir);
	assert_string_equal(d.v[1].msg, line);
	free(line);
	assert_int_equal(d.v[1].line, 3);
	assert_int_equal(d.v[2].line, 4);
	diags_free(&d);
	unlink(sub);
	free(sub);

	for (i = 0; i < 4; i++) {
		unlink(paths[i]);
		free(paths[i]);
	}
	/* An empty directory is an error, not an empty policy. */
	assert_null(policy_load(dir, &d));
	line = first_line(&d);
	assert_true(strstr(line, ": error: no *.yaml files in this directory"));
	free(line);
	diags_free(&d);
	rmdir(dir);
}

/* Every kind of finding the loader can give, with its position. */
static const struct {
	const char *text;
	const char *first;	/* the first line of diags_print */
} bad[] = {
	{ "", "t.yaml:1:1: error: empty file: a policy holds at least 'version: 1'" },
	{ "version: 1\nx: [\n", "t.yaml:3:1: error: YAML syntax: did not find expected node content (while parsing a flow node at line 3)" },
	{ "version: 1\nfoo: 1\n", "t.yaml:2:1: error: unknown key 'foo' in the top level (expected version, settings, groups, flows or boundaries)" },
	{ "groups: {}\n", "t.yaml:1:1: error: missing 'version: 1'" },
	{ "version: 2\n", "t.yaml:1:10: error: unsupported version '2' (this bulkhead reads version 1)" },
	{ "version:\n", "t.yaml:1:9: error: version needs a value (a string)" },
	{ "version: 1\nversion: 1\n", "t.yaml:2:1: error: duplicate key 'version' in the top level" },
	{ "version: 1\ngroups: { a: { match: { k: v } }, A: { match: { k: w } } }\n", "t.yaml:2:35: error: bad group name 'A': a name is a lowercase letter followed by up to 30 lowercase letters, digits, '_' or '-'" },
	{ "version: 1\ngroups: { host: { match: { k: v } } }\n", "t.yaml:2:11: error: 'host' is a built-in group; choose another name" },
	{ "version: 1\ngroups: { a: { match: { k: v }, cidrs: [10.0.0.1] } }\n", "t.yaml:2:11: error: group 'a' has both match and cidrs: a group holds either containers (match) or addresses (cidrs)" },
	{ "version: 1\ngroups: { a: { mode: audit } }\n", "t.yaml:2:11: error: group 'a' needs match (container labels) or cidrs (addresses)" },
	{ "version: 1\ngroups: { a: { match: {} } }\n", "t.yaml:2:23: error: empty match would hold for every container; list at least one label, such as { purpose: web }" },
	{ "version: 1\ngroups: { a: { match: { k: v, k: w } } }\n", "t.yaml:2:31: error: duplicate key 'k' in match" },
	{ "version: 1\ngroups: { a: { match: { k: ~ } } }\n", "t.yaml:2:28: error: the value of label 'k' must be a string, not empty" },
	{ "version: 1\ngroups: { a: { cidrs: [10.1.2.3/8] } }\n", "t.yaml:2:24: error: '10.1.2.3/8' has host bits set; the network is 10.0.0.0/8" },
	{ "version: 1\ngroups: { a: { cidrs: [10.1.2.3, 10.1.2.3/32] } }\n", "t.yaml:2:34: error: '10.1.2.3/32' is listed twice" },
	{ "version: 1\ngroups: { a: { cidrs: [fd00::1::2] } }\n", "t.yaml:2:24: error: bad address 'fd00::1::2': expected an IPv4 or IPv6 address, optionally with /prefix" },
	{ "version: 1\ngroups: { a: { cidrs: 10.0.0.1 } }\n", "t.yaml:2:23: error: cidrs must be a list, not a string" },
	{ "version: 1\ngroups: { a: { match: { k: v }, sensitivity: 3 } }\n", "t.yaml:2:46: error: sensitivity must be low, moderate, high or restricted, not '3'" },
	{ "version: 1\nflows: [ { from: nope, to: host, ports: [tcp/1] } ]\n", "t.yaml:2:18: error: unknown group 'nope' in from" },
	{ "version: 1\nflows: [ { from: host, to: [world, world], ports: [tcp/1] } ]\n", "t.yaml:2:36: error: group 'world' is listed twice in to" },
	{ "version: 1\nflows: [ { from: host, to: world, ports: [tcp/1-0] } ]\n", "t.yaml:2:43: error: port 0 in 'tcp/1-0' is not a port: ports are 1 to 65535" },
	{ "version: 1\nflows: [ { from: host, to: world, ports: [tcp/99999999] } ]\n", "t.yaml:2:43: error: port above 65535 in 'tcp/99999999'" },
	{ "version: 1\nflows: [ { from: host, to: world, ports: [tcp/1-2-3] } ]\n", "t.yaml:2:43: error: bad port 'tcp/1-2-3': expected tcp/N or tcp/N-M with N and M from 1 to 65535" },
	{ "version: 1\nflows: [ { from: host, to: world, ports: [any/80] } ]\n", "t.yaml:2:43: error: any takes no port: write 'any'" },
	{ "version: 1\nflows: [ { from: host, to: world, ports: [{ tcp: 80 }] } ]\n", "t.yaml:2:43: error: a port must be a string, not a mapping" },
	{ "version: 1\nflows: [ { to: world, ports: [tcp/1] } ]\n", "t.yaml:2:10: error: a flow needs 'from'" },
	{ "version: 1\nflows: [ host ]\n", "t.yaml:2:10: error: a flow must be a mapping, not a string" },
	{ "version: 1\nsettings: { log: { rate: 0/second } }\n", "t.yaml:2:26: error: log.rate '0/second' must be N/second, N/minute, N/hour or N/day with N from 1 to 100000" },
	{ "version: 1\nsettings: { log: { window: 50ms } }\n", "t.yaml:2:28: error: log.window '50ms' must be a duration from 100ms to 1h, such as 500ms, 10s or 1m" },
	{ "version: 1\nsettings: { log: [] }\n", "t.yaml:2:18: error: log must be a mapping, not a list" },
	{ "version: 1\nsettings: { unassigned: allow }\n", "t.yaml:2:25: error: unassigned must be deny (containers that match no group get no lateral flows), not 'allow'" },
	{ "version: 1\n? [a]\n: b\n", "t.yaml:2:3: error: keys in the top level must be words, not a list" },
	{ "version: 1\nx: &a 1\n", "t.yaml:2:4: error: anchors and aliases are not supported" },
	{ "version: 1\nx: *a\n", "t.yaml:2:4: error: anchors and aliases are not supported" },
	{ "version: !!int 1\n", "t.yaml:1:10: error: YAML tags are not supported" },
	{ "version: \"1\\0\"\n", "t.yaml:1:10: error: NUL character in a string" },
	{ "version: 1\n\x01\n", "t.yaml:2:1: error: YAML syntax: control characters are not allowed" },
	{ "version: 1\n# \xc3\x28\n", "t.yaml:2:3: error: not UTF-8: byte 0xc3 (a policy is UTF-8 text)" },
	{ "version: 1\n# \xed\xa0\x80 surrogate\n", "t.yaml:2:3: error: not UTF-8: byte 0xed (a policy is UTF-8 text)" },
	{ "version: 1\n---\nversion: 1\n", "t.yaml:2:1: error: a policy file holds one YAML document; this is a second one" },
	{ "[1]\n", "t.yaml:1:1: error: the top level must be a mapping (version, settings, groups, flows, boundaries), not a list" },
	{ "---\n", "t.yaml:2:1: error: empty file: a policy holds at least 'version: 1'" },
};

static void test_bad(void **state)
{
	struct diags d = { 0 };
	char *line;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_null(load(bad[i].text, &d));
		line = first_line(&d);
		if (strcmp(line, bad[i].first))
			fail_msg("case %zu:\n got  %s\n want %s", i, line,
				 bad[i].first);
		free(line);
		diags_free(&d);
	}
}

static void test_bounds(void **state)
{
	struct strbuf sb = { 0 };
	struct diags d = { 0 };
	char *line;
	size_t i;

	(void)state;
	/* Nesting is bounded... */
	sb_puts(&sb, "version: 1\nx: ");
	for (i = 0; i < 100000; i++)
		sb_putc(&sb, '[');
	assert_null(load(sb.buf, &d));
	line = first_line(&d);
	assert_string_equal(line, "t.yaml:2:19: error: nesting deeper than 16 levels");
	free(line);
	diags_free(&d);
	/* ...and so is the size. */
	sb_reset(&sb);
	sb_puts(&sb, "version: 1\n");
	while (sb.len <= 1024 * 1024)
		sb_puts(&sb, "# padding padding padding padding padding\n");
	assert_null(load(sb.buf, &d));
	line = first_line(&d);
	assert_string_equal(line, "t.yaml: error: file is larger than 1 MiB");
	free(line);
	diags_free(&d);
	sb_free(&sb);
	assert_null(policy_load("/nonexistent/p.yaml", &d));
	line = first_line(&d);
	assert_string_equal(line, "/nonexistent/p.yaml: error: cannot read: No such file or directory");
	free(line);
	diags_free(&d);
	diags_free(NULL);
}

/* Every finding of a file in one run, in the order of the text. */
static void test_all_errors(void **state)
{
	static const char text[] =
		"version: 1\n"
		"groups:\n"
		"  a: { match: { k: v }, mode: x }\n"
		"  b: { cidrs: [300.0.0.0/8] }\n"
		"flows:\n"
		"  - { from: a, to: zz, ports: [tcp/0] }\n";
	struct diags d = { 0 };

	(void)state;
	assert_null(load(text, &d));
	assert_int_equal(d.n_errors, 4);
	assert_int_equal(d.v[0].line, 3);
	assert_int_equal(d.v[1].line, 4);
	assert_int_equal(d.v[2].line, 6);
	assert_int_equal(d.v[2].col, 20);
	assert_int_equal(d.v[3].col, 32);
	diags_free(&d);
}

/* A message past 512 bytes ends in "..." at a character boundary; one
 * that ends within three bytes of it stays whole (the fuzzer found "..."
 * written past the end of a 514-byte message). Every length around the
 * cut, under ASan in make check. */
static void test_long_message(void **state)
{
	struct diags d = { 0 };
	char text[600];
	size_t len, got;

	(void)state;
	for (len = 505; len < 520; len++) {
		memset(text, 'x', len);
		text[len] = 0;
		diags_add(&d, DIAG_ERROR, "f", 1, 1, "%s", text);
		got = strlen(d.v[d.n - 1].msg);
		if (len <= 515)
			assert_int_equal(got, len);
		else
			assert_string_equal(d.v[d.n - 1].msg + 512, "...");
	}
	diags_free(&d);
}

static void test_print(void **state)
{
	struct diags d = { 0 };
	struct policy *p = load(demo, &d);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_non_null(p);
	policy_print(p, f);
	fclose(f);
	assert_non_null(strstr(buf, "  log.window   500ms\n  log.rate     100/minute\n"));
	assert_non_null(strstr(buf, "group db  # t.yaml:12:3\n  kind        labels\n  match       bulkhead.purpose=database\n  sensitivity restricted\n  mode        audit\n  intra       deny\n"));
	assert_non_null(strstr(buf, "  cidrs       10.0.0.53 fd00::/64\n"));
	assert_non_null(strstr(buf, "flow web -> resolvers: tcp/1-1024 udp/53  # t.yaml:21:5\n"));
	assert_non_null(strstr(buf, "flow db -> web: any sctp icmp icmpv6  # t.yaml:22:5\n"));
	free(buf);
	policy_free(p);
	diags_free(&d);
}

/* 1,000 groups with a flow each load clean and sealed, and 100,000
 * classifications each find their group. How long that takes is measured by
 * tests/bench/policy_scale (docs/benchmarks.md, "policy"); here only a
 * generous watchdog catches a hang. */
static void test_scale(void **state)
{
	struct strbuf sb = { 0 };
	struct diags d = { 0 };
	struct policy *p;
	struct kv l[2];
	char v[32];
	unsigned i, g;

	(void)state;
	alarm(WATCHDOG_S);
	pt_scale(&sb, 1000);
	p = load(sb.buf, &d);
	assert_non_null(p);
	assert_int_equal(d.n, 0);
	assert_int_equal(p->n_groups, GROUP_FIRST_USER + 1000);
	assert_int_equal(p->n_flows, 1000);
	/* what keeps classification from scanning every group */
	assert_non_null(p->index);
	l[0].key = (char *)"bulkhead.team";
	l[1].key = (char *)"bulkhead.app";
	l[1].value = v;
	for (i = 0; i < 100000; i++) {
		char t[16];

		snprintf(t, sizeof(t), "t%u", i % 1000 % 10);
		snprintf(v, sizeof(v), "a%u", i % 1000);
		l[0].value = t;
		g = policy_classify(p, l, 2, NULL);
		assert_int_equal(g, GROUP_FIRST_USER + i % 1000);
	}
	alarm(0);
	policy_free(p);
	sb_free(&sb);
}

/* A megabyte chosen to hurt (tests/bench/policy_texts.h): 8,000 groups
 * all named in one flow, a long address list with repeats, thousands of
 * identical groups. The findings stay few and exact;
 * tests/bench/policy_scale measures how long each load takes, the
 * watchdog only stops a hang. */
static void test_adversarial(void **state)
{
	struct strbuf sb = { 0 };
	struct diags d = { 0 };
	struct policy *p;

	(void)state;
	alarm(WATCHDOG_S);
	pt_hostile_flow(&sb);
	p = load(sb.buf, &d);
	assert_non_null(p);
	assert_int_equal(d.n_warnings, 1);
	assert_int_equal(p->n_flows, 1);
	assert_int_equal(p->flows[0].n_from, 4000);
	assert_int_equal(p->flows[0].n_to, 4000);
	policy_free(p);
	diags_free(&d);

	/* the same flow against a boundary: one error for 16 million
	 * crossing pairs, found in time linear in the lists */
	sb_puts(&sb, "boundaries:\n  x: { from: { risk: exposed }, "
		"to: { sensitivity: restricted } }\n");
	p = load(sb.buf, &d);
	assert_null(p);
	assert_int_equal(d.n_errors, 1);
	assert_string_equal(d.v[0].msg, "flow g0 -> g1 crosses boundary 'x' (t.yaml:8006:3: nothing from risk=exposed into sensitivity=restricted) (and 15999999 more such pairs)");
	diags_free(&d);

	pt_hostile_addrs(&sb);
	p = load(sb.buf, &d);
	assert_null(p);
	/* 70,000 addresses cycling through 65,536 networks: the repeats
	 * are those past the first lap, each reported where it stands. */
	assert_int_equal(d.n_errors, 70000 - 65536);
	assert_string_equal(d.v[0].msg, "'10.0.0.0' is listed twice");
	assert_int_equal(d.v[0].line, 4);
	diags_free(&d);

	pt_hostile_shadow(&sb);
	assert_null(load(sb.buf, &d));
	/* every group after the first is shadowed, and the 8,190th label
	 * group is one more than the dispatch can number */
	assert_int_equal(d.n_errors, 29999 + 1);
	diags_free(&d);
	alarm(0);
	sb_free(&sb);
}

/* The first error (warnings aside). */
static const struct diag *first_error(const struct diags *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (d->v[i].severity == DIAG_ERROR)
			return &d->v[i];
	fail_msg("no error");
	return NULL;
}

/* The group and flow limits: at the limit it loads; one more is an
 * error at the first one past it, naming the limit. */
static void test_limits(void **state)
{
	struct strbuf sb = { 0 };
	struct diags d = { 0 };
	struct policy *p;
	int i, extra;

	(void)state;
	alarm(WATCHDOG_S);
	for (extra = 0; extra < 2; extra++) {
		sb_reset(&sb);
		sb_puts(&sb, "version: 1\ngroups:\n");
		for (i = 0; i < POLICY_GROUPS_MAX + extra; i++)
			sb_printf(&sb, "  g%d: { cidrs: [10.%d.%d.0/24] }\n",
				  i, i >> 8, i & 255);
		p = load(sb.buf, &d);
		if (!extra) {
			assert_non_null(p);
			policy_free(p);
		} else {
			assert_null(p);
			assert_int_equal(d.n_errors, 1);
			assert_string_equal(first_error(&d)->msg, "group "
					    "'g16384' is one too many: over "
					    "the limit of 16384 groups");
			assert_int_equal(first_error(&d)->line,
					 2 + POLICY_GROUPS_MAX + 1);
		}
		diags_free(&d);

		sb_reset(&sb);
		sb_puts(&sb, "version: 1\ngroups:\n"
			"  a: { match: { purpose: a } }\n"
			"  b: { match: { purpose: b } }\nflows:\n");
		for (i = 0; i < POLICY_FLOWS_MAX + extra; i++)
			sb_printf(&sb, "  - { from: a, to: b, ports: "
				  "[tcp/%d] }\n", i + 1);
		p = load(sb.buf, &d);
		if (!extra) {
			assert_non_null(p);
			assert_int_equal(p->n_flows, POLICY_FLOWS_MAX);
			policy_free(p);
		} else {
			assert_null(p);
			assert_int_equal(d.n_errors, 1);
			assert_string_equal(first_error(&d)->msg, "flow is one "
					    "too many: over the limit of 16384 "
					    "flows");
			assert_int_equal(first_error(&d)->line,
					 5 + POLICY_FLOWS_MAX + 1);
		}
		diags_free(&d);
	}
	alarm(0);
	sb_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_model),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_classify_order),
		cmocka_unit_test(test_unsealed),
		cmocka_unit_test(test_shadowing),
		cmocka_unit_test(test_warnings),
		cmocka_unit_test(test_directory),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_all_errors),
		cmocka_unit_test(test_long_message),
		cmocka_unit_test(test_print),
		cmocka_unit_test(test_scale),
		cmocka_unit_test(test_adversarial),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}

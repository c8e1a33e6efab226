/* Records that say why (rule, policy hash, direction, host) and their ECS
 * form: flowlog.c makes records from packets of every kind of deny rule,
 * ecs.c turns them into ECS documents, and every field of those is
 * checked against tests/ecs/fields.txt (the ECS reference's types and
 * allowed values); ecs_to_record gives the record back. */
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "community_id.h"
#include "ecs.h"
#include "flowlog.h"

#define FIELDS_FILE "tests/ecs/fields.txt"
#define MAXREC 64

static const char policy_text[] =
	"version: 1\n"
	"groups:\n"
	"  web: { match: { purpose: web }, sensitivity: low }\n"
	"  db: { match: { purpose: db }, sensitivity: restricted }\n"
	"  met: { match: { purpose: met }, mode: audit }\n"
	"flows:\n"
	"  - { from: web, to: db, ports: [tcp/5432] }\n"
	"  - { from: web, to: met, ports: [tcp/9100] }\n";

struct field {
	char name[64], type[16], values[128];
};

static struct field fields[128];
static size_t n_fields;
static json_t *recs[MAXREC];
static size_t n_recs;

static void collect(const struct flowlog_rec *r, void *arg)
{
	assert_true(n_recs < MAXREC);
	recs[n_recs++] = flowlog_rec_json(r);
}

static void load_fields(void)
{
	FILE *f = fopen(FIELDS_FILE, "r");
	char line[512];

	if (!f)
		fail_msg("%s: cannot open (run from the source tree)",
			 FIELDS_FILE);
	n_fields = 0;
	while (fgets(line, sizeof(line), f)) {
		struct field *x = &fields[n_fields];
		char origin[16];
		int n;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		x->values[0] = '\0';
		n = sscanf(line, "%63s %15s %15s %127s", x->name, x->type,
			   origin, x->values);
		assert_true(n >= 3);
		assert_true(++n_fields < ARRAY_SIZE(fields));
	}
	fclose(f);
}

static const struct field *field_find(const char *name)
{
	size_t i;

	for (i = 0; i < n_fields; i++)
		if (!strcmp(fields[i].name, name))
			return &fields[i];
	return NULL;
}

static bool allowed(const struct field *f, const char *v)
{
	const char *p = f->values;
	size_t n = strlen(v);

	if (!*p)
		return true;
	while (p && *p) {
		if (!strncmp(p, v, n) && (p[n] == ',' || !p[n]))
			return true;
		p = strchr(p, ',');
		p = p ? p + 1 : NULL;
	}
	return false;
}

static bool is_date(const char *s)
{
	int y, mo, d, h, mi, sec, ms, n = 0;

	return sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &y, &mo, &d, &h,
		      &mi, &sec, &ms, &n) == 7 && n == (int)strlen(s) &&
	       mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 &&
	       mi < 60 && sec < 61;
}

static void check_scalar(const char *path, const struct field *f, json_t *v)
{
	struct bh_addr a;
	const char *s = json_string_value(v);

	if (!strcmp(f->type, "long")) {
		if (!json_is_integer(v))
			fail_msg("%s: ECS long, not an integer", path);
		return;
	}
	if (!strcmp(f->type, "boolean")) {
		if (!json_is_boolean(v))
			fail_msg("%s: ECS boolean, not true/false", path);
		return;
	}
	if (!s)
		fail_msg("%s: ECS %s, not a string", path, f->type);
	if (!strcmp(f->type, "date") && !is_date(s))
		fail_msg("%s: '%s' is not an RFC 3339 date", path, s);
	if (!strcmp(f->type, "ip") && !bh_addr_parse(s, false, &a))
		fail_msg("%s: '%s' is not an IP address", path, s);
	if (!allowed(f, s))
		fail_msg("%s: '%s' is not one of ECS's %s", path, s,
			 f->values);
}

/* Every leaf of doc is a listed field of the right JSON type. */
static void check_doc(json_t *o, const char *prefix)
{
	const char *k;
	json_t *v, *x;
	char path[160];
	const struct field *f;
	size_t i;

	json_object_foreach(o, k, v) {
		snprintf(path, sizeof(path), "%s%s%s", prefix,
			 *prefix ? "." : "", k);
		if (json_is_object(v)) {
			check_doc(v, path);
			continue;
		}
		f = field_find(path);
		if (!f)
			fail_msg("%s: not in %s", path, FIELDS_FILE);
		if (json_is_array(v)) {
			if (strcmp(f->type, "keyword"))
				fail_msg("%s: an array of %s", path, f->type);
			json_array_foreach(v, i, x)
				check_scalar(path, f, x);
			continue;
		}
		check_scalar(path, f, v);
	}
}

static const char *jpath(json_t *o, const char *a, const char *b,
			 const char *c)
{
	o = json_object_get(o, a);
	if (b)
		o = json_object_get(o, b);
	if (c)
		o = json_object_get(o, c);
	return json_string_value(o);
}

static struct nflog_pkt pkt(const char *src, const char *dst, uint8_t proto,
			    uint16_t sport, uint16_t dport, const char *prefix)
{
	struct nflog_pkt p = { .wall_ms = 1764333604651ULL, .proto = proto,
			       .len = 60 };

	assert_true(bh_addr_parse(src, false, &p.src));
	assert_true(bh_addr_parse(dst, false, &p.dst));
	if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		p.has_icmp = true;
		p.icmp_type = (uint8_t)sport;
		p.icmp_code = (uint8_t)dport;
	} else {
		p.has_ports = true;
		p.sport = sport;
		p.dport = dport;
	}
	snprintf(p.prefix, sizeof(p.prefix), "%s", prefix);
	return p;
}

static void add(struct inventory *inv, struct policy *pol, const char *id,
		const char *purpose, const char *ip)
{
	struct container *c = container_new(id, id);
	struct bh_addr a;

	container_add_label(c, "bulkhead.purpose", purpose);
	assert_true(bh_addr_parse(ip, false, &a));
	container_add_addr(c, &a);
	container_classify(c, pol);
	assert_int_equal(inventory_add(inv, c), 0);
}

struct want {
	const char *action, *rule, *direction, *type2;
};

/* One record of each kind of deny rule, plus unlogged, overflow, loss. */
static void make_records(struct policy **polp, struct inventory **invp)
{
	struct flowlog_opts o = { .emit = collect, .max_flows = 8,
				  .host_name = "node-7" };
	struct flowlog *fl;
	struct policy *pol;
	struct inventory *inv = inventory_new();
	struct diags d = { 0 };
	struct flowlog_rule r = { .dir = FL_DIR_IN, .audit = false };
	struct nflog_pkt p;
	int i;

	pol = policy_load_buf("t.yaml", policy_text, sizeof(policy_text) - 1,
			      &d);
	assert_non_null(pol);
	diags_free(&d);
	add(inv, pol, "web1", "web", "1.2.3.4");
	add(inv, pol, "db1", "db", "5.6.7.8");
	add(inv, pol, "met1", "met", "10.0.0.9");
	n_recs = 0;
	fl = flowlog_new(&o, 1764333604000ULL);
	flowlog_set_context(fl, pol, inv);
	/* 0: deny into db; its Community ID is the spec's first example */
	p = pkt("1.2.3.4", "5.6.7.8", IPPROTO_TCP, 1122, 3344, "bh/in/db/deny");
	flowlog_packet(fl, &p);
	/* 1: would-deny into an audit group */
	p = pkt("1.2.3.4", "10.0.0.9", IPPROTO_TCP, 40000, 7000,
		"bh/in/met/audit");
	flowlog_packet(fl, &p);
	/* 2: out of db, ICMP echo */
	p = pkt("5.6.7.8", "192.0.2.1", IPPROTO_ICMP, 8, 0, "bh/out/db/deny");
	flowlog_packet(fl, &p);
	/* 3, 4, 5: quarantine, unassigned, spoofed */
	p = pkt("1.2.3.4", "10.0.0.66", IPPROTO_UDP, 5353, 53,
		"bh/in/quarantine/deny");
	flowlog_packet(fl, &p);
	p = pkt("10.0.0.77", "1.2.3.4", IPPROTO_UDP, 5353, 53,
		"bh/out/unassigned/deny");
	flowlog_packet(fl, &p);
	p = pkt("fd00::1", "fd00::2", IPPROTO_ICMPV6, 128, 0,
		"bh/spoof/web/deny");
	flowlog_packet(fl, &p);
	/* 6: unlogged packets of db's in chain */
	snprintf(r.group, sizeof(r.group), "db");
	flowlog_unlogged(fl, &r, 5, 1764333604000ULL, 1764333605000ULL);
	/* two more flows fill the table (8); the rest overflow */
	for (i = 0; i < 4; i++) {
		p = pkt("1.2.3.4", "5.6.7.8", IPPROTO_TCP, 1000, (uint16_t)(8000 + i),
			"bh/in/db/deny");
		flowlog_packet(fl, &p);
	}
	flowlog_flush(fl, 1764333614000ULL);
	/* lost with no record left to carry it: a loss record */
	flowlog_lost(fl, 3);
	flowlog_flush(fl, 1764333615000ULL);
	flowlog_free(fl);
	*polp = pol;
	*invp = inv;
}

static void free_records(void)
{
	size_t i;

	for (i = 0; i < n_recs; i++)
		json_decref(recs[i]);
	n_recs = 0;
}

static void test_records_say_why(void **state)
{
	static const struct want want[] = {
		{ "deny", "default-deny", "ingress", "denied" },
		{ "would-deny", "default-deny", "ingress", "allowed" },
		{ "deny", "default-deny", "egress", "denied" },
		{ "quarantine", "quarantine", "ingress", "denied" },
		{ "deny", "unassigned", "egress", "denied" },
		{ "spoof", "spoofed", "egress", "denied" },
		{ "deny", "default-deny", "ingress", "denied" },
	};
	struct policy *pol;
	struct inventory *inv;
	char hash[POLICY_HASH_STRLEN];
	size_t i;

	make_records(&pol, &inv);
	policy_hash_hex(pol, hash);
	assert_int_equal(strlen(hash), 64);
	for (i = 0; i < ARRAY_SIZE(want); i++) {
		json_t *r = recs[i];

		assert_string_equal(jpath(r, "event", "action", NULL),
				    want[i].action);
		assert_string_equal(jpath(r, "rule", "name", NULL),
				    want[i].rule);
		assert_string_equal(jpath(r, "rule", "ruleset", NULL), hash);
		assert_string_equal(jpath(r, "network", "direction", NULL),
				    want[i].direction);
		assert_string_equal(jpath(r, "host", "name", NULL), "node-7");
	}
	assert_string_equal(jpath(recs[6], "bulkhead", "record", NULL),
			    "unlogged");
	assert_string_equal(jpath(recs[0], "source", "sensitivity", NULL),
			    "low");
	assert_string_equal(jpath(recs[0], "destination", "sensitivity",
				  NULL), "restricted");
	/* overflow and loss records carry no rule: many flows, or none */
	for (i = ARRAY_SIZE(want); i < n_recs; i++) {
		const char *k = jpath(recs[i], "bulkhead", "record", NULL);

		if (!strcmp(k, "overflow") || !strcmp(k, "loss"))
			assert_null(jpath(recs[i], "rule", "name", NULL));
		else
			assert_string_equal(jpath(recs[i], "rule", "name",
						  NULL), "default-deny");
	}
	assert_string_equal(jpath(recs[n_recs - 1], "bulkhead", "record",
				  NULL), "loss");
	free_records();
	inventory_free(inv);
	policy_free(pol);
}

static void test_ecs_documents(void **state)
{
	static const char *const type2[] = {
		"denied", "allowed", "denied", "denied", "denied", "denied",
		"denied",
	};
	struct policy *pol;
	struct inventory *inv;
	json_t *doc, *back, *t;
	size_t i;
	bool saw_overflow = false, saw_loss = false;

	load_fields();
	make_records(&pol, &inv);
	for (i = 0; i < n_recs; i++) {
		const char *rec_kind = jpath(recs[i], "bulkhead", "record",
					     NULL);

		doc = ecs_from_record(recs[i]);
		assert_non_null(doc);
		check_doc(doc, "");
		assert_true(ecs_is_doc(doc));
		assert_string_equal(jpath(doc, "event", "kind", NULL), "event");
		t = json_object_get(json_object_get(doc, "event"), "type");
		if (i < ARRAY_SIZE(type2)) {
			assert_int_equal(json_array_size(t), 2);
			assert_string_equal(json_string_value(
				json_array_get(t, 0)), "connection");
			assert_string_equal(json_string_value(
				json_array_get(t, 1)), type2[i]);
			assert_string_equal(jpath(doc, "host", "name", NULL),
					    "node-7");
		}
		if (!strcmp(rec_kind, "overflow"))
			saw_overflow = true;
		if (!strcmp(rec_kind, "loss")) {
			saw_loss = true;
			assert_string_equal(json_string_value(
				json_array_get(t, 0)), "info");
		}
		back = ecs_to_record(doc);
		if (!json_equal(back, recs[i])) {
			char *a = json_dumps(recs[i], JSON_SORT_KEYS);
			char *b = json_dumps(back, JSON_SORT_KEYS);

			fail_msg("round trip differs:\n %s\n %s", a, b);
		}
		json_decref(back);
		json_decref(doc);
	}
	assert_true(saw_overflow && saw_loss);

	doc = ecs_from_record(recs[0]);
	assert_string_equal(jpath(doc, "network", "community_id", NULL),
			    "1:wCb3OG7yAFWelaUydu0D+125CLM=");
	assert_string_equal(jpath(doc, "bulkhead", "source", "group"), "web");
	assert_string_equal(jpath(doc, "bulkhead", "destination",
				  "sensitivity"), "restricted");
	assert_string_equal(jpath(doc, "source", "container", "id"), "web1");
	assert_int_equal(json_integer_value(json_object_get(
		json_object_get(doc, "network"), "packets")), 1);
	/* the labels a replay needs: an object in the record, "key=value"
	 * keywords in ECS (arbitrary keys make no field names) */
	assert_string_equal(jpath(recs[0], "source", "labels",
				  "bulkhead.purpose"), "web");
	{
		json_t *l = json_object_get(json_object_get(json_object_get(
			doc, "bulkhead"), "source"), "labels");

		assert_int_equal(json_array_size(l), 1);
		assert_string_equal(json_string_value(json_array_get(l, 0)),
				    "bulkhead.purpose=web");
		assert_null(json_object_get(json_object_get(doc, "source"),
					    "labels"));
	}
	json_decref(doc);
	/* ICMP echo: type and code are the Community ID's ports */
	doc = ecs_from_record(recs[2]);
	{
		struct bh_addr s, d;
		char id[COMMUNITY_ID_STRLEN];

		assert_true(bh_addr_parse("5.6.7.8", false, &s));
		assert_true(bh_addr_parse("192.0.2.1", false, &d));
		assert_true(community_id_v1(&s, &d, IPPROTO_ICMP, true, 8, 0,
					    0, id));
		assert_string_equal(jpath(doc, "network", "community_id",
					  NULL), id);
	}
	json_decref(doc);
	/* unlogged: the kernel's count, no bytes */
	doc = ecs_from_record(recs[6]);
	assert_int_equal(json_integer_value(json_object_get(
		json_object_get(doc, "network"), "packets")), 5);
	assert_null(json_object_get(json_object_get(doc, "network"), "bytes"));
	json_decref(doc);
	free_records();
	inventory_free(inv);
	policy_free(pol);
}

/* An allow record (allowed-flow observations, as flowobs.c writes them)
 * passes through: its verdict becomes event.type allowed, fields ECS has
 * no place for stay ours, and it comes back unchanged. */
static void test_allow_passes(void **state)
{
	json_t *rec = json_loads(
		"{\"@timestamp\":\"2026-11-28T12:40:09.000Z\",\"schema\":1,"
		"\"event\":{\"kind\":\"event\",\"category\":[\"network\"],"
		"\"type\":[\"connection\",\"allowed\"],"
		"\"dataset\":\"bulkhead.flows\",\"action\":\"allow\","
		"\"start\":\"2026-11-28T12:40:04.651Z\","
		"\"end\":\"2026-11-28T12:40:09.000Z\"},"
		"\"network\":{\"type\":\"ipv4\",\"transport\":\"tcp\","
		"\"iana_number\":\"6\",\"direction\":\"ingress\"},"
		"\"source\":{\"ip\":\"10.0.0.1\",\"group\":\"web\","
		"\"container\":{\"id\":\"id-web\",\"name\":\"web\"}},"
		"\"destination\":{\"ip\":\"10.0.0.2\",\"port\":5432,"
		"\"group\":\"db\"},"
		"\"rule\":{\"name\":\"t.yaml:7\",\"ruleset\":\"ab\"},"
		"\"host\":{\"name\":\"node-7\"},"
		"\"bulkhead\":{\"record\":\"flow\",\"seq\":4,"
		"\"connections\":3,\"ended\":2,\"packets\":10,\"bytes\":900,"
		"\"lost\":0,\"source_containers\":[\"web\"],"
		"\"destination_containers\":[\"db1\",\"db2\"]}}", 0, NULL);
	json_t *doc = ecs_from_record(rec), *t, *back;

	assert_non_null(doc);
	load_fields();
	check_doc(doc, "");
	t = json_object_get(json_object_get(doc, "event"), "type");
	assert_string_equal(json_string_value(json_array_get(t, 1)),
			    "allowed");
	assert_string_equal(jpath(doc, "rule", "name", NULL), "t.yaml:7");
	assert_int_equal(json_integer_value(json_object_get(
		json_object_get(doc, "bulkhead"), "connections")), 3);
	assert_int_equal(json_integer_value(json_object_get(
		json_object_get(doc, "network"), "bytes")), 900);
	/* no source port: no Community ID for TCP */
	assert_null(json_object_get(json_object_get(doc, "network"),
				    "community_id"));
	back = ecs_to_record(doc);
	assert_true(json_equal(back, rec));
	json_decref(back);
	json_decref(doc);
	json_decref(rec);
	/* a transport in capitals is lowered */
	rec = json_loads("{\"event\":{},\"network\":{\"transport\":"
			 "\"UDP\"}}", 0, NULL);
	doc = ecs_from_record(rec);
	assert_string_equal(jpath(doc, "network", "transport", NULL), "udp");
	json_decref(doc);
	json_decref(rec);
	assert_null(ecs_from_record(NULL));
}

/* Whatever a file line holds, conversion neither crashes nor invents a
 * Community ID from values out of range (ASan/UBSan build: make check). */
static void test_hostile(void **state)
{
	static const char *const lines[] = {
		"{\"ecs\":{\"version\":\"x\"},\"bulkhead\":{}}",
		"{\"ecs\":{\"version\":\"x\"},\"bulkhead\":{\"source\":5},"
		"\"event\":[1],\"network\":{\"iana_number\":\"6\"},"
		"\"source\":{\"ip\":\"1.2.3.4\",\"port\":-5},"
		"\"destination\":{\"ip\":\"::1\",\"port\":70000}}",
		"{\"ecs\":{\"version\":\"x\"},\"bulkhead\":[]}",
		"{\"event\":{\"type\":\"s\",\"action\":7},"
		"\"network\":{\"iana_number\":\"1\",\"transport\":3},"
		"\"source\":{\"ip\":\"1.2.3.4\",\"container\":[]},"
		"\"destination\":{\"ip\":\"5.6.7.8\"},"
		"\"bulkhead\":{\"icmp_type\":8,\"icmp_code\":300}}",
		"{\"event\":{},\"network\":{\"iana_number\":\"999\"},"
		"\"source\":{\"ip\":\"1.2.3.4\",\"port\":1},"
		"\"destination\":{\"ip\":\"fd00::1\",\"port\":2}}",
		"[1, 2]", "7", "null",
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(lines); i++) {
		json_t *in = json_loads(lines[i], JSON_DECODE_ANY, NULL);
		json_t *doc = ecs_from_record(in), *back = ecs_to_record(in);

		assert_non_null(in);
		assert_null(jpath(doc, "network", "community_id", NULL));
		json_decref(back);
		back = ecs_to_record(doc);
		json_decref(back);
		json_decref(doc);
		json_decref(in);
	}
}

static void test_formats(void **state)
{
	enum record_format f;

	assert_true(ecs_parse_format("ecs", &f));
	assert_int_equal(f, RECORD_FORMAT_ECS);
	assert_true(ecs_parse_format("json", &f));
	assert_int_equal(f, RECORD_FORMAT_JSON);
	assert_false(ecs_parse_format("ECS", &f));
	assert_false(ecs_parse_format("", &f));
	assert_false(ecs_parse_format("cef", &f));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records_say_why),
		cmocka_unit_test(test_ecs_documents),
		cmocka_unit_test(test_allow_passes),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_formats),
	};

	return cmocka_run_group_tests_name("ecs", tests, NULL, NULL);
}

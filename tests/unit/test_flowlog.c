/* flowlog.c and nflog.c's decoders: prefixes, attribution, first-packet
 * records, windows, the flow cap, loss and unlogged accounting, JSON. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>

#include "flowlog.h"
#include "nflog.h"

#define MAXREC 256

struct sink {
	struct flowlog_rec r[MAXREC];
	json_t *j[MAXREC];
	size_t n;
};

static struct sink sink;

static void collect(const struct flowlog_rec *r, void *arg)
{
	struct sink *s = arg;

	assert_true(s->n < MAXREC);
	s->r[s->n] = *r;
	/* Strings in r live only during the callback: keep the JSON. */
	s->j[s->n] = flowlog_rec_json(r);
	s->r[s->n].src.group = s->r[s->n].dst.group = NULL;
	s->r[s->n].src.container_id = s->r[s->n].dst.container_id = NULL;
	s->r[s->n].src.container_name = s->r[s->n].dst.container_name = NULL;
	s->n++;
}

static void sink_reset(void)
{
	size_t i;

	for (i = 0; i < sink.n; i++)
		json_decref(sink.j[i]);
	memset(&sink, 0, sizeof(sink));
}

static struct flowlog *mkfl(uint32_t window, size_t max_flows)
{
	struct flowlog_opts o = {
		.window_ms = window, .max_flows = max_flows,
		.emit = collect, .arg = &sink,
	};

	sink_reset();
	return flowlog_new(&o, 1000000);
}

static struct nflog_pkt pkt(const char *src, const char *dst, uint8_t proto,
			    uint16_t sport, uint16_t dport, uint64_t t,
			    const char *prefix)
{
	struct nflog_pkt p = { .wall_ms = t, .proto = proto, .len = 60 };

	assert_true(bh_addr_parse(src, false, &p.src));
	assert_true(bh_addr_parse(dst, false, &p.dst));
	if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		p.has_icmp = true;
		p.icmp_type = (uint8_t)dport;
	} else {
		p.has_ports = true;
		p.sport = sport;
		p.dport = dport;
	}
	snprintf(p.prefix, sizeof(p.prefix), "%s", prefix);
	return p;
}

static const char *jstr(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);

	if (b)
		v = json_object_get(v, b);
	return json_string_value(v);
}

static json_int_t jint(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(json_object_get(o, a), b);

	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static void test_prefix(void **state)
{
	struct flowlog_rule r;
	bool unl;

	(void)state;
	assert_true(flowlog_parse_prefix("bh/in/db/deny", &r));
	assert_int_equal(r.dir, FL_DIR_IN);
	assert_false(r.audit);
	assert_string_equal(r.group, "db");
	assert_true(flowlog_parse_prefix("bh/out/web-1/audit", &r));
	assert_int_equal(r.dir, FL_DIR_OUT);
	assert_true(r.audit);
	assert_true(flowlog_parse_prefix("bh/spoof/a_b/deny", &r));
	assert_int_equal(r.dir, FL_DIR_SPOOF);
	/* the group of the port, for the bridge table's drops only */
	assert_true(flowlog_parse_prefix("bh/spoof/*/deny", &r));
	assert_string_equal(r.group, "*");
	assert_false(flowlog_parse_prefix("bh/in/*/deny", &r));
	assert_false(flowlog_parse_prefix("bh/spoof/**/deny", &r));
	assert_false(flowlog_parse_prefix("", &r));
	assert_false(flowlog_parse_prefix("bh/in/db", &r));
	assert_false(flowlog_parse_prefix("bh/up/db/deny", &r));
	assert_false(flowlog_parse_prefix("bh/in/DB/deny", &r));
	assert_false(flowlog_parse_prefix("bh/in//deny", &r));
	assert_false(flowlog_parse_prefix("bh/in/db/denyx", &r));
	assert_false(flowlog_parse_prefix(
		"bh/in/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/deny", &r));
	/* a boundary's drop: no group, both sides by address */
	assert_true(flowlog_parse_prefix("bh/boundary/exposed-restricted/deny",
					 &r));
	assert_int_equal(r.dir, FL_DIR_IN);
	assert_false(r.audit);
	assert_string_equal(r.group, "");
	assert_string_equal(r.boundary, "exposed-restricted");
	assert_true(flowlog_parse_prefix("bh/in/db/deny", &r));
	assert_string_equal(r.boundary, "");
	assert_false(flowlog_parse_prefix("bh/boundary/x/audit", &r));
	assert_false(flowlog_parse_prefix("bh/boundary/X/deny", &r));
	assert_false(flowlog_parse_prefix("bh/boundary//deny", &r));
	assert_false(flowlog_parse_prefix("bh/boundary/x", &r));
	assert_true(flowlog_parse_counter("unlogged_in_my_db", &r, &unl));
	assert_true(unl);
	assert_string_equal(r.group, "my_db");
	assert_true(flowlog_parse_counter("denied_out_web", &r, &unl));
	assert_false(unl);
	assert_int_equal(r.dir, FL_DIR_OUT);
	assert_true(flowlog_parse_counter("spoofed_web", &r, &unl));
	assert_false(unl);
	assert_int_equal(r.dir, FL_DIR_SPOOF);
	assert_string_equal(r.group, "web");
	assert_false(flowlog_parse_counter("spoofed_", &r, &unl));
	assert_false(flowlog_parse_counter("denied_web", &r, &unl));
	assert_false(flowlog_parse_counter("other_in_web", &r, &unl));
	/* a boundary's, as its log prefix: no group, direction in */
	assert_true(flowlog_parse_counter("boundary_low-restricted", &r, &unl));
	assert_false(unl);
	assert_int_equal(r.dir, FL_DIR_IN);
	assert_string_equal(r.group, "");
	assert_string_equal(r.boundary, "low-restricted");
	assert_string_equal(flowlog_rule_name(&r), "boundary/low-restricted");
	assert_true(flowlog_parse_counter("unlogged_boundary_low-restricted",
					  &r, &unl));
	assert_true(unl);
	assert_string_equal(r.boundary, "low-restricted");
	assert_true(flowlog_parse_counter("unlogged_in_web", &r, &unl));
	assert_string_equal(r.boundary, "");
	assert_false(flowlog_parse_counter("boundary_", &r, &unl));
	assert_false(flowlog_parse_counter("unlogged_boundary_X", &r, &unl));
}

static void test_first_then_window(void **state)
{
	struct flowlog *fl = mkfl(10000, 0);
	struct nflog_pkt p = pkt("10.0.0.2", "10.0.0.3", IPPROTO_TCP, 40000,
				 5432, 1000100, "bh/in/db/deny");
	int i;

	(void)state;
	flowlog_packet(fl, &p);
	assert_int_equal(sink.n, 1);
	assert_true(sink.r[0].first);
	assert_int_equal(sink.r[0].packets, 1);
	assert_int_equal(sink.r[0].start_ms, 1000100);
	for (i = 1; i <= 5; i++) {
		p.wall_ms = 1000100 + (uint64_t)i * 100;
		p.sport = (uint16_t)(40000 + i);
		flowlog_packet(fl, &p);
	}
	assert_int_equal(sink.n, 1);
	/* Not yet the window's end. */
	assert_int_equal(flowlog_tick(fl, 1005000), 5000);
	assert_int_equal(sink.n, 1);
	flowlog_tick(fl, 1010000);
	assert_int_equal(sink.n, 2);
	assert_false(sink.r[1].first);
	assert_int_equal(sink.r[1].packets, 5);
	assert_int_equal(sink.r[1].bytes, 300);
	assert_int_equal(sink.r[1].start_ms, 1000200);
	assert_int_equal(sink.r[1].end_ms, 1000600);
	assert_false(sink.r[1].src.has_port);	/* ports varied */
	assert_true(sink.r[1].dst.has_port);
	assert_int_equal(sink.r[1].seq, 2);

	/* Seen in the previous window: no at-once record. */
	p.wall_ms = 1012000;
	flowlog_packet(fl, &p);
	assert_int_equal(sink.n, 2);
	flowlog_tick(fl, 1020000);
	assert_int_equal(sink.n, 3);
	assert_int_equal(sink.r[2].packets, 1);
	assert_true(sink.r[2].src.has_port);
	/* A whole idle window forgets it; then it is news again. */
	flowlog_tick(fl, 1030000);
	assert_int_equal(sink.n, 3);
	p.wall_ms = 1031000;
	flowlog_packet(fl, &p);
	assert_int_equal(sink.n, 4);
	assert_true(sink.r[3].first);
	flowlog_packet(fl, &p);
	/* the clock steps back an hour: the window ends now, not later */
	assert_int_equal(flowlog_tick(fl, 1031000 - 3600000), 10000);
	assert_int_equal(sink.n, 5);
	assert_int_equal(sink.r[4].packets, 1);
	flowlog_free(fl);
	sink_reset();
}

static void test_distinct_flows(void **state)
{
	struct flowlog *fl = mkfl(10000, 0);
	struct nflog_pkt p;
	struct flowlog_stats st;

	(void)state;
	p = pkt("10.0.0.2", "10.0.0.3", IPPROTO_TCP, 1, 80, 1000001,
		"bh/in/db/deny");
	flowlog_packet(fl, &p);
	p.dport = 81;		/* other port */
	flowlog_packet(fl, &p);
	p.proto = IPPROTO_UDP;	/* other protocol */
	flowlog_packet(fl, &p);
	p = pkt("10.0.0.2", "10.0.0.3", IPPROTO_TCP, 1, 80, 1000001,
		"bh/in/db/audit");	/* other rule */
	flowlog_packet(fl, &p);
	p = pkt("fd00::2", "fd00::3", IPPROTO_ICMPV6, 0, 128, 1000001,
		"bh/in/db/deny");
	flowlog_packet(fl, &p);
	p.icmp_type = 129;	/* ICMP type is the "port" */
	flowlog_packet(fl, &p);
	flowlog_packet(fl, &p);
	assert_int_equal(sink.n, 6);
	assert_int_equal(sink.r[3].action, FL_ACT_WOULD_DENY);
	p = pkt("10.0.0.2", "10.0.0.3", IPPROTO_TCP, 1, 80, 1000001,
		"not ours");
	flowlog_packet(fl, &p);
	flowlog_get_stats(fl, &st);
	assert_int_equal(st.flows, 6);
	assert_int_equal(st.packets, 7);
	assert_int_equal(st.unparsed, 1);
	flowlog_flush(fl, 1000002);
	assert_int_equal(sink.n, 7);
	assert_int_equal(sink.r[6].packets, 1);
	assert_int_equal(sink.r[6].icmp_type, 129);
	flowlog_free(fl);
	sink_reset();
}

static void test_cap_and_accounting(void **state)
{
	struct flowlog *fl = mkfl(1000, 4);
	struct flowlog_stats st;
	struct nflog_pkt p;
	uint64_t sum = 0;
	char src[32];
	size_t i;
	int k;

	(void)state;
	/* 10 sources x 3 packets; only 4 flows fit. */
	for (k = 0; k < 3; k++)
		for (i = 0; i < 10; i++) {
			snprintf(src, sizeof(src), "10.1.0.%zu", i + 1);
			p = pkt(src, "10.0.0.3", IPPROTO_UDP, 5, 53, 1000010,
				"bh/in/dns/deny");
			flowlog_packet(fl, &p);
		}
	flowlog_get_stats(fl, &st);
	assert_int_equal(st.flows, 4);
	assert_int_equal(st.overflow, 18);
	flowlog_tick(fl, 1001000);
	for (i = 0; i < sink.n; i++)
		sum += sink.r[i].packets;
	assert_int_equal(sum, 30);
	assert_int_equal(sink.r[sink.n - 1].kind, FL_REC_OVERFLOW);
	assert_int_equal(sink.r[sink.n - 1].packets, 18);
	/* 4 first + 4 remainder + 1 overflow */
	assert_int_equal(sink.n, 9);
	flowlog_free(fl);
	sink_reset();
}

static void test_lost_and_unlogged(void **state)
{
	struct flowlog *fl = mkfl(1000, 0);
	struct flowlog_rule r = { .dir = FL_DIR_IN, .group = "db" };
	struct nflog_pkt p = pkt("10.0.0.2", "10.0.0.3", IPPROTO_TCP, 1, 80,
				 1000010, "bh/in/db/deny");

	(void)state;
	flowlog_lost(fl, 3);
	flowlog_packet(fl, &p);
	assert_int_equal(sink.n, 1);
	assert_int_equal(sink.r[0].lost, 3);
	flowlog_lost(fl, 2);
	flowlog_tick(fl, 1001000);
	/* no packets to carry it: a loss record */
	assert_int_equal(sink.n, 2);
	assert_int_equal(sink.r[1].kind, FL_REC_LOSS);
	assert_int_equal(sink.r[1].lost, 2);
	flowlog_unlogged(fl, &r, 0, 1000000, 1001000);
	assert_int_equal(sink.n, 2);
	flowlog_unlogged(fl, &r, 99, 1000000, 1001000);
	assert_int_equal(sink.n, 3);
	assert_int_equal(sink.r[2].kind, FL_REC_UNLOGGED);
	assert_int_equal(sink.r[2].unlogged, 99);
	assert_string_equal(jstr(sink.j[2], "destination", "group"), "db");
	assert_string_equal(jstr(sink.j[2], "event", "action"), "deny");
	assert_int_equal(jint(sink.j[2], "bulkhead", "unlogged"), 99);
	flowlog_free(fl);
	sink_reset();
}

static struct policy *mkpolicy(void)
{
	static const char *names[] = { "unassigned", "host", "world",
				       "quarantine", "web", "db", "dns",
				       "dns-wide" };
	struct policy *p = xcalloc(1, sizeof(*p));
	size_t i;

	p->n_groups = ARRAY_SIZE(names);
	p->groups = xcalloc(p->n_groups, sizeof(*p->groups));
	for (i = 0; i < p->n_groups; i++)
		p->groups[i].name = (char *)names[i];
	p->groups[5].mode = MODE_AUDIT;
	p->groups[6].kind = GK_CIDRS;
	p->groups[6].cidrs = xcalloc(1, sizeof(struct bh_addr));
	p->groups[6].n_cidrs = 1;
	assert_true(bh_addr_parse("10.9.0.53/32", true, p->groups[6].cidrs));
	p->groups[7].kind = GK_CIDRS;
	p->groups[7].cidrs = xcalloc(2, sizeof(struct bh_addr));
	p->groups[7].n_cidrs = 2;
	assert_true(bh_addr_parse("10.9.0.0/16", true, &p->groups[7].cidrs[0]));
	assert_true(bh_addr_parse("fd09::/32", true, &p->groups[7].cidrs[1]));
	p->log_window_ms = 5000;
	return p;
}

static void freepolicy(struct policy *p)
{
	free(p->groups[6].cidrs);
	free(p->groups[7].cidrs);
	free(p->groups);
	free(p);
}

static void test_attribution(void **state)
{
	struct flowlog *fl = mkfl(10000, 0);
	struct policy *pol = mkpolicy();
	struct inventory *inv = inventory_new();
	struct container *c = container_new("id-web1", "web1");
	struct nflog_pkt p;
	struct bh_addr a;

	(void)state;
	assert_true(bh_addr_parse("10.0.0.2", false, &a));
	container_add_addr(c, &a);
	container_add_label(c, "bulkhead.purpose", "web");
	container_add_label(c, "bulkhead.tier", "old");
	c->group = 4;
	container_set_port(c, "v-web1");
	assert_int_equal(inventory_add(inv, c), 0);
	flowlog_set_context(fl, pol, inv);
	assert_int_equal(flowlog_window_ms(fl), 5000);

	/* dir in: the destination's group comes from the rule, even for an
	 * address no container has (any more). */
	p = pkt("10.0.0.2", "10.0.0.77", IPPROTO_TCP, 1234, 5432, 1000001,
		"bh/in/db/deny");
	flowlog_packet(fl, &p);
	assert_string_equal(jstr(sink.j[0], "source", "group"), "web");
	assert_string_equal(jstr(json_object_get(sink.j[0], "source"),
				 "container", "id"), "id-web1");
	assert_string_equal(jstr(json_object_get(sink.j[0], "source"),
				 "container", "name"), "web1");
	assert_string_equal(jstr(sink.j[0], "destination", "group"), "db");
	assert_null(json_object_get(json_object_get(sink.j[0], "destination"),
				    "container"));
	/* the container's labels when seen, for a replay (bulkheadctl
	 * diff); an address of no container has none */
	assert_string_equal(jstr(json_object_get(sink.j[0], "source"),
				 "labels", "bulkhead.tier"), "old");
	assert_int_equal(json_object_size(json_object_get(json_object_get(
		sink.j[0], "source"), "labels")), 2);
	assert_null(json_object_get(json_object_get(sink.j[0], "destination"),
				    "labels"));
	/* dir out to a cidrs group: longest prefix wins */
	p = pkt("10.0.0.2", "10.9.0.53", IPPROTO_UDP, 999, 53, 1000002,
		"bh/out/web/deny");
	flowlog_packet(fl, &p);
	assert_string_equal(jstr(sink.j[1], "destination", "group"), "dns");
	p = pkt("10.0.0.2", "10.9.7.1", IPPROTO_UDP, 999, 53, 1000002,
		"bh/out/web/deny");
	flowlog_packet(fl, &p);
	assert_string_equal(jstr(sink.j[2], "destination", "group"),
			    "dns-wide");
	p = pkt("fd00::2", "fd09:0:1::1", IPPROTO_UDP, 999, 53, 1000002,
		"bh/out/web/deny");
	flowlog_packet(fl, &p);
	assert_string_equal(jstr(sink.j[3], "destination", "group"),
			    "dns-wide");
	p = pkt("10.0.0.2", "192.0.2.1", IPPROTO_UDP, 999, 53, 1000002,
		"bh/out/web/deny");
	flowlog_packet(fl, &p);
	assert_string_equal(jstr(sink.j[4], "destination", "group"), "world");
	/* spoof: the forged source is not attributed to its owner */
	p = pkt("10.0.0.2", "10.0.0.3", IPPROTO_TCP, 1, 80, 1000003,
		"bh/spoof/db/deny");
	flowlog_packet(fl, &p);
	assert_string_equal(jstr(sink.j[5], "event", "action"), "spoof");
	assert_string_equal(jstr(sink.j[5], "source", "group"), "db");
	assert_null(json_object_get(json_object_get(sink.j[5], "source"),
				    "container"));
	p = pkt("10.0.0.2", "10.0.0.3", IPPROTO_TCP, 1, 80, 1000003,
		"bh/in/quarantine/deny");
	flowlog_packet(fl, &p);
	assert_string_equal(jstr(sink.j[6], "event", "action"), "quarantine");
	/* the bridge table's drops: the group is that of the container
	 * whose port the frame came in on, not the forged address's */
	p = pkt("10.0.0.9", "10.0.0.3", IPPROTO_TCP, 1, 80, 1000004,
		"bh/spoof/*/deny");
	snprintf(p.indev, sizeof(p.indev), "v-web1");
	flowlog_packet(fl, &p);
	assert_string_equal(jstr(sink.j[7], "event", "action"), "spoof");
	assert_string_equal(jstr(sink.j[7], "source", "group"), "web");
	/* a port no container has (any more): no group is made up */
	snprintf(p.indev, sizeof(p.indev), "v-gone");
	flowlog_packet(fl, &p);
	assert_string_equal(jstr(sink.j[8], "event", "action"), "spoof");
	assert_null(json_object_get(json_object_get(sink.j[8], "source"),
				    "group"));
	flowlog_free(fl);
	inventory_free(inv);
	freepolicy(pol);
	sink_reset();
}

static void test_json_schema(void **state)
{
	struct flowlog *fl = mkfl(10000, 0);
	struct nflog_pkt p = pkt("fd00::2", "fd00::3", IPPROTO_UDP, 5353, 53,
				 1764331200123ull, "bh/in/db/audit");
	regex_t re;
	json_t *o;
	char *s;

	(void)state;
	assert_int_equal(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:"
				 "[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$",
				 REG_EXTENDED | REG_NOSUB), 0);
	flowlog_packet(fl, &p);
	o = sink.j[0];
	assert_int_equal(json_integer_value(json_object_get(o, "schema")),
			 FLOWLOG_SCHEMA);
	assert_string_equal(jstr(o, "@timestamp", NULL),
			    "2025-11-28T12:00:00.123Z");
	assert_int_equal(regexec(&re, jstr(o, "event", "start"), 0, NULL, 0), 0);
	assert_int_equal(regexec(&re, jstr(o, "event", "end"), 0, NULL, 0), 0);
	assert_string_equal(jstr(o, "event", "action"), "would-deny");
	assert_string_equal(jstr(o, "network", "transport"), "udp");
	assert_string_equal(jstr(o, "network", "type"), "ipv6");
	assert_string_equal(jstr(o, "source", "ip"), "fd00::2");
	assert_int_equal(jint(o, "source", "port"), 5353);
	assert_string_equal(jstr(o, "destination", "ip"), "fd00::3");
	assert_int_equal(jint(o, "destination", "port"), 53);
	assert_int_equal(jint(o, "bulkhead", "packets"), 1);
	assert_int_equal(jint(o, "bulkhead", "bytes"), 60);
	assert_int_equal(jint(o, "bulkhead", "unlogged"), 0);
	assert_int_equal(jint(o, "bulkhead", "lost"), 0);
	assert_int_equal(jint(o, "bulkhead", "seq"), 1);
	assert_string_equal(jstr(o, "bulkhead", "record"), "flow");
	assert_string_equal(jstr(o, "bulkhead", "direction"), "in");
	assert_true(json_is_true(json_object_get(json_object_get(o, "bulkhead"),
						 "first")));
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_non_null(strstr(s, "{\"@timestamp\":"));
	assert_null(strchr(s, '\n'));
	free(s);
	regfree(&re);
	flowlog_free(fl);
	sink_reset();
}

static void test_payload(void **state)
{
	uint8_t v4[28] = { 0x45, 0, 0, 28, 0, 0, 0, 0, 64, IPPROTO_UDP, 0, 0,
			   10, 0, 0, 2, 10, 0, 0, 3, 0x13, 0x88, 0, 53, 0, 8 };
	uint8_t v6[64] = { 0x60, 0, 0, 0, 0, 24, IPPROTO_DSTOPTS, 64 };
	struct nflog_pkt p;
	char b[BH_ADDR_STRLEN];

	(void)state;
	assert_true(nflog_parse_payload(v4, sizeof(v4), &p));
	assert_string_equal(bh_addr_str(&p.src, b), "10.0.0.2");
	assert_string_equal(bh_addr_str(&p.dst, b), "10.0.0.3");
	assert_int_equal(p.proto, IPPROTO_UDP);
	assert_true(p.has_ports);
	assert_int_equal(p.sport, 5000);
	assert_int_equal(p.dport, 53);
	assert_int_equal(p.len, 28);
	/* ICMP echo */
	v4[9] = IPPROTO_ICMP;
	v4[20] = 8;
	v4[21] = 0;
	assert_true(nflog_parse_payload(v4, sizeof(v4), &p));
	assert_true(p.has_icmp);
	assert_false(p.has_ports);
	assert_int_equal(p.icmp_type, 8);
	/* a non-first fragment has no transport header */
	v4[9] = IPPROTO_TCP;
	v4[6] = 0x00;
	v4[7] = 0x10;
	assert_true(nflog_parse_payload(v4, sizeof(v4), &p));
	assert_false(p.has_ports);
	/* truncated: no ports, but no overread either */
	v4[7] = 0;
	assert_true(nflog_parse_payload(v4, 22, &p));
	assert_false(p.has_ports);
	assert_false(nflog_parse_payload(v4, 19, &p));
	v4[0] = 0x44;	/* IHL below 20 bytes */
	assert_false(nflog_parse_payload(v4, sizeof(v4), &p));
	assert_false(nflog_parse_payload(v4, 0, &p));

	/* IPv6, destination options (8 bytes), then TCP */
	v6[8] = 0xfd;
	v6[23] = 2;
	v6[24] = 0xfd;
	v6[39] = 3;
	v6[40] = IPPROTO_TCP;
	v6[41] = 0;
	v6[48] = 0x9c;
	v6[49] = 0x40;
	v6[50] = 0x1f;
	v6[51] = 0x90;
	assert_true(nflog_parse_payload(v6, sizeof(v6), &p));
	assert_string_equal(bh_addr_str(&p.src, b), "fd00::2");
	assert_string_equal(bh_addr_str(&p.dst, b), "fd00::3");
	assert_int_equal(p.proto, IPPROTO_TCP);
	assert_int_equal(p.sport, 40000);
	assert_int_equal(p.dport, 8080);
	assert_int_equal(p.len, 64);
	/* the extension header runs past the copy */
	v6[41] = 40;
	assert_true(nflog_parse_payload(v6, sizeof(v6), &p));
	assert_false(p.has_ports);
	assert_false(nflog_parse_payload(v6, 39, &p));
}

/* A packet message as the kernel builds it; bad selects one defect. */
static struct nlmsghdr *mkmsg(char *buf, int bad)
{
	static const uint8_t v4[28] = {
		0x45, 0, 0, 28, 0, 0, 0, 0, 64, IPPROTO_UDP, 0, 0,
		10, 0, 0, 2, 10, 0, 0, 3, 0x13, 0x88, 0, 53, 0, 8 };
	struct nfulnl_msg_packet_hdr ph = { .hw_protocol = htons(0x0800) };
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;
	uint16_t two = 7;

	nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) |
			  (bad == 1 ? NFULNL_MSG_CONFIG : NFULNL_MSG_PACKET);
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_INET;
	mnl_attr_put(nlh, NFULA_PACKET_HDR, sizeof(ph), &ph);
	if (bad == 2)	/* a u32 attribute of two bytes */
		mnl_attr_put(nlh, NFULA_SEQ, sizeof(two), &two);
	else
		mnl_attr_put_u32(nlh, NFULA_SEQ, htonl(41));
	if (bad == 3)	/* a string without its NUL */
		mnl_attr_put(nlh, NFULA_PREFIX, 4, "bh/i");
	else
		mnl_attr_put_strz(nlh, NFULA_PREFIX, "bh/in/db/deny");
	if (bad != 4)
		mnl_attr_put(nlh, NFULA_PAYLOAD, sizeof(v4), v4);
	if (bad == 5)	/* the payload runs past the message's end */
		nlh->nlmsg_len -= 4;
	else
		mnl_attr_put_u32(nlh, NFULA_MAX + 5, 1); /* unknown: ignored */
	return nlh;
}

static void test_nflog_msg(void **state)
{
	char buf[512] __attribute__((aligned(4)));
	struct nflog_pkt p;
	uint32_t seq = 0;
	bool has_seq;
	char b[BH_ADDR_STRLEN];
	int bad;

	(void)state;
	assert_true(nflog_parse_msg(mkmsg(buf, 0), &p, &seq, &has_seq));
	assert_true(has_seq);
	assert_int_equal(seq, 41);
	assert_string_equal(p.prefix, "bh/in/db/deny");
	assert_string_equal(bh_addr_str(&p.dst, b), "10.0.0.3");
	assert_int_equal(p.dport, 53);
	for (bad = 1; bad <= 5; bad++)
		assert_false(nflog_parse_msg(mkmsg(buf, bad), &p, &seq,
					     &has_seq));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_first_then_window),
		cmocka_unit_test(test_distinct_flows),
		cmocka_unit_test(test_cap_and_accounting),
		cmocka_unit_test(test_lost_and_unlogged),
		cmocka_unit_test(test_attribution),
		cmocka_unit_test(test_json_schema),
		cmocka_unit_test(test_payload),
		cmocka_unit_test(test_nflog_msg),
	};

	return cmocka_run_group_tests_name("flowlog", tests, NULL, NULL);
}

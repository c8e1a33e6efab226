/* flowobs.c: allowed-flow aggregation per (source group, destination
 * group, protocol, port) per window; attribution at NEW kept for the
 * DESTROY; containers per side; the connection cap; resync after lost
 * events; the record's JSON. */
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "flowobs.h"

#define MAXREC 64
#define T0 1000000

static json_t *recs[MAXREC];
static size_t n_recs;

static void collect(const struct flowobs_rec *r, void *arg)
{
	assert_true(n_recs < MAXREC);
	recs[n_recs++] = flowobs_rec_json(r);
}

static void reset(void)
{
	size_t i;

	for (i = 0; i < n_recs; i++)
		json_decref(recs[i]);
	n_recs = 0;
}

static const char yaml[] =
	"version: 1\n"
	"settings: { log: { window: 1s } }\n"
	"groups:\n"
	"  web: { match: { purpose: web } }\n"
	"  api: { match: { purpose: api } }\n"
	"  dns: { cidrs: [10.9.0.53/32] }\n"
	"flows:\n"
	"  - { from: web, to: api, ports: [tcp/8080, udp/9000] }\n"
	"  - { from: web, to: dns, ports: [udp/53] }\n";

struct fixture {
	struct policy *p;
	struct inventory *inv;
	struct flowobs *fo;
};

static void add(struct fixture *f, const char *id, const char *purpose,
		const char *addr)
{
	struct container *c = container_new(id, id);
	struct bh_addr a;

	assert_true(bh_addr_parse(addr, false, &a));
	container_add_addr(c, &a);
	container_add_label(c, "bulkhead.purpose", purpose);
	container_classify(c, f->p);
	assert_int_equal(inventory_add(f->inv, c), 0);
}

static void setup(struct fixture *f, size_t max_conns)
{
	struct diags d = { 0 };
	struct flowobs_opts o = { .max_conns = max_conns, .emit = collect };

	f->p = policy_load_buf("t.yaml", yaml, sizeof(yaml) - 1, &d);
	assert_non_null(f->p);
	diags_free(&d);
	f->inv = inventory_new();
	add(f, "web1", "web", "10.0.0.11");
	add(f, "web2", "web", "10.0.0.12");
	add(f, "api", "api", "10.0.0.21");
	f->fo = flowobs_new(&o, T0);
	flowobs_set_context(f->fo, f->p, f->inv);
	reset();
}

static void teardown(struct fixture *f)
{
	flowobs_free(f->fo);
	inventory_free(f->inv);
	policy_free(f->p);
	reset();
}

static void ev(struct flowobs *fo, bool destroy, uint32_t id,
	       const char *src, const char *dst, uint8_t proto, uint16_t port,
	       uint64_t t, uint64_t packets, uint64_t bytes)
{
	struct flowobs_event e = {
		.destroy = destroy, .id = id, .wall_ms = t, .proto = proto,
		.has_port = proto == IPPROTO_TCP || proto == IPPROTO_UDP,
		.dport = port, .packets = packets, .bytes = bytes,
	};

	assert_true(bh_addr_parse(src, false, &e.src));
	assert_true(bh_addr_parse(dst, false, &e.dst));
	flowobs_event(fo, &e);
}

static const char *js(json_t *o, const char *a, const char *b)
{
	return json_string_value(json_object_get(json_object_get(o, a), b));
}

static json_int_t ji(json_t *o, const char *a, const char *b)
{
	return json_integer_value(json_object_get(json_object_get(o, a), b));
}

static void test_aggregate(void **state)
{
	struct fixture f;
	json_t *r, *names;

	(void)state;
	setup(&f, 0);
	assert_int_equal(flowobs_window_ms(f.fo), 1000);
	ev(f.fo, false, 1, "10.0.0.11", "10.0.0.21", IPPROTO_TCP, 8080,
	   T0 + 10, 0, 0);
	ev(f.fo, false, 2, "10.0.0.11", "10.0.0.21", IPPROTO_TCP, 8080,
	   T0 + 20, 0, 0);
	ev(f.fo, false, 3, "10.0.0.12", "10.0.0.21", IPPROTO_TCP, 8080,
	   T0 + 30, 0, 0);
	ev(f.fo, true, 1, "10.0.0.11", "10.0.0.21", IPPROTO_TCP, 8080,
	   T0 + 40, 10, 700);
	ev(f.fo, true, 3, "10.0.0.12", "10.0.0.21", IPPROTO_TCP, 8080,
	   T0 + 50, 6, 400);
	ev(f.fo, false, 4, "10.0.0.11", "10.0.0.21", IPPROTO_UDP, 9000,
	   T0 + 60, 0, 0);
	/* neither side a container: not ours */
	ev(f.fo, false, 5, "10.1.0.1", "10.1.0.2", IPPROTO_TCP, 22,
	   T0 + 70, 0, 0);
	assert_int_equal(flowobs_tick(f.fo, T0 + 500), 500);
	assert_int_equal(n_recs, 0);
	flowobs_tick(f.fo, T0 + 1000);
	assert_int_equal(n_recs, 2);
	r = recs[0];
	assert_string_equal(js(r, "network", "transport"), "tcp");
	assert_string_equal(js(r, "source", "group"), "web");
	assert_string_equal(js(r, "destination", "group"), "api");
	assert_int_equal(ji(r, "destination", "port"), 8080);
	assert_int_equal(ji(r, "bulkhead", "connections"), 3);
	assert_int_equal(ji(r, "bulkhead", "ended"), 2);
	assert_int_equal(ji(r, "bulkhead", "packets"), 16);
	assert_int_equal(ji(r, "bulkhead", "bytes"), 1100);
	assert_int_equal(ji(r, "bulkhead", "seq"), 1);
	assert_string_equal(js(r, "event", "start"), "1970-01-01T00:16:40.010Z");
	assert_string_equal(js(r, "event", "end"), "1970-01-01T00:16:40.050Z");
	/* two web containers: no single one, no single address; one api */
	assert_null(json_object_get(json_object_get(r, "source"), "container"));
	assert_null(json_object_get(json_object_get(r, "source"), "ip"));
	assert_string_equal(js(r, "destination", "ip"), "10.0.0.21");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
		json_object_get(r, "destination"), "container"), "name")),
		"api");
	/* ... but one label set, which a replay reclassifies by */
	assert_string_equal(json_string_value(json_object_get(json_object_get(
		json_object_get(r, "source"), "labels"), "bulkhead.purpose")),
		"web");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
		json_object_get(r, "destination"), "labels"),
		"bulkhead.purpose")), "api");
	names = json_object_get(json_object_get(r, "bulkhead"),
				"source_containers");
	assert_int_equal(json_array_size(names), 2);
	assert_string_equal(json_string_value(json_array_get(names, 0)),
			    "web1");
	assert_string_equal(json_string_value(json_array_get(names, 1)),
			    "web2");
	r = recs[1];
	assert_string_equal(js(r, "network", "transport"), "udp");
	assert_int_equal(ji(r, "bulkhead", "connections"), 1);
	assert_int_equal(ji(r, "bulkhead", "seq"), 2);
	/* the next window: the DESTROY of an earlier NEW, same groups */
	ev(f.fo, true, 2, "10.0.0.11", "10.0.0.21", IPPROTO_TCP, 8080,
	   T0 + 1100, 4, 300);
	flowobs_tick(f.fo, T0 + 2000);
	assert_int_equal(n_recs, 3);
	assert_int_equal(ji(recs[2], "bulkhead", "connections"), 0);
	assert_int_equal(ji(recs[2], "bulkhead", "ended"), 1);
	assert_int_equal(ji(recs[2], "bulkhead", "packets"), 4);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
		json_object_get(recs[2], "source"), "container"), "id")),
		"web1");
	/* a quiet window emits nothing */
	flowobs_tick(f.fo, T0 + 3000);
	assert_int_equal(n_recs, 3);
	teardown(&f);
}

/* The DESTROY counts under the groups of the NEW, also when the container
 * has gone; a cidrs group is a side as for denied records. */
static void test_attribution_kept(void **state)
{
	struct fixture f;
	struct flowobs_stats st;

	(void)state;
	setup(&f, 0);
	ev(f.fo, false, 7, "10.0.0.11", "10.9.0.53", IPPROTO_UDP, 53,
	   T0 + 1, 0, 0);
	container_free(inventory_remove(f.inv, "web1"));
	ev(f.fo, true, 7, "10.0.0.11", "10.9.0.53", IPPROTO_UDP, 53,
	   T0 + 2, 2, 120);
	flowobs_flush(f.fo, T0 + 3);
	assert_int_equal(n_recs, 1);
	assert_string_equal(js(recs[0], "source", "group"), "web");
	assert_string_equal(js(recs[0], "destination", "group"), "dns");
	/* the labels it had at NEW, though it is gone; dns has none */
	assert_string_equal(json_string_value(json_object_get(json_object_get(
		json_object_get(recs[0], "source"), "labels"),
		"bulkhead.purpose")), "web");
	assert_null(json_object_get(json_object_get(recs[0], "destination"),
				    "labels"));
	assert_int_equal(ji(recs[0], "bulkhead", "connections"), 1);
	assert_int_equal(ji(recs[0], "bulkhead", "packets"), 2);
	/* now web1 is gone and 10.0.0.11 is no container: ignored */
	ev(f.fo, false, 8, "10.0.0.11", "10.9.0.53", IPPROTO_UDP, 53,
	   T0 + 4, 0, 0);
	flowobs_get_stats(f.fo, &st);
	assert_int_equal(st.ignored, 1);
	assert_int_equal(st.tracked, 0);
	teardown(&f);
}

/* Containers of one side with different labels: an allow record never
 * merges them (its key has each side's label set), so every record
 * carries the labels a replay reclassifies by. */
static void test_labels_differ(void **state)
{
	struct fixture f;
	struct container *c;
	struct bh_addr a;
	json_t *l0, *l1;

	(void)state;
	setup(&f, 0);
	c = container_new("web3", "web3");
	assert_true(bh_addr_parse("10.0.0.13", false, &a));
	container_add_addr(c, &a);
	container_add_label(c, "bulkhead.purpose", "web");
	container_add_label(c, "bulkhead.tier", "old");
	container_classify(c, f.p);
	assert_int_equal(inventory_add(f.inv, c), 0);
	ev(f.fo, false, 1, "10.0.0.11", "10.0.0.21", IPPROTO_TCP, 8080,
	   T0 + 10, 0, 0);
	ev(f.fo, false, 2, "10.0.0.13", "10.0.0.21", IPPROTO_TCP, 8080,
	   T0 + 20, 0, 0);
	flowobs_flush(f.fo, T0 + 30);
	assert_int_equal(n_recs, 2);
	l0 = json_object_get(json_object_get(recs[0], "source"), "labels");
	l1 = json_object_get(json_object_get(recs[1], "source"), "labels");
	assert_non_null(l0);
	assert_non_null(l1);
	assert_string_equal(js(recs[0], "source", "group"), "web");
	assert_string_equal(js(recs[1], "source", "group"), "web");
	/* one record has web1's set, the other web3's (with its tier) */
	assert_int_equal(!!json_object_get(l0, "bulkhead.tier") +
			 !!json_object_get(l1, "bulkhead.tier"), 1);
	assert_non_null(json_object_get(json_object_get(recs[0],
				"destination"), "labels"));
	/* the next window has web3 alone: its labels */
	ev(f.fo, false, 3, "10.0.0.13", "10.0.0.21", IPPROTO_TCP, 8080,
	   T0 + 1010, 0, 0);
	flowobs_flush(f.fo, T0 + 1020);
	assert_int_equal(n_recs, 3);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
		json_object_get(recs[2], "source"), "labels"),
		"bulkhead.tier")), "old");
	/* its labels change (built once per container, but checked at
	 * each NEW): the next connection carries the new ones */
	container_add_label(inventory_find(f.inv, "web3"), "bulkhead.tier",
			    "new");
	ev(f.fo, false, 4, "10.0.0.13", "10.0.0.21", IPPROTO_TCP, 8080,
	   T0 + 2010, 0, 0);
	flowobs_flush(f.fo, T0 + 2020);
	assert_int_equal(n_recs, 4);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
		json_object_get(recs[3], "source"), "labels"),
		"bulkhead.tier")), "new");
	teardown(&f);
}

static void test_cap(void **state)
{
	struct fixture f;
	struct flowobs_stats st;

	(void)state;
	setup(&f, 1);
	ev(f.fo, false, 1, "10.0.0.11", "10.0.0.21", IPPROTO_TCP, 8080,
	   T0 + 1, 0, 0);
	ev(f.fo, false, 2, "10.0.0.12", "10.0.0.21", IPPROTO_TCP, 8080,
	   T0 + 2, 0, 0);
	flowobs_get_stats(f.fo, &st);
	assert_int_equal(st.tracked, 1);
	assert_int_equal(st.untracked, 1);
	/* the untracked one is attributed when it ends */
	ev(f.fo, true, 2, "10.0.0.12", "10.0.0.21", IPPROTO_TCP, 8080,
	   T0 + 3, 3, 200);
	flowobs_flush(f.fo, T0 + 4);
	assert_int_equal(n_recs, 1);
	assert_int_equal(ji(recs[0], "bulkhead", "connections"), 2);
	assert_int_equal(ji(recs[0], "bulkhead", "ended"), 1);
	assert_int_equal(ji(recs[0], "bulkhead", "packets"), 3);
	teardown(&f);
}

static void test_resync(void **state)
{
	struct fixture f;
	struct flowobs_stats st;

	(void)state;
	setup(&f, 0);
	/* the baseline at start: open connections tracked, none counted */
	flowobs_resync_begin(f.fo, false);
	ev(f.fo, false, 1, "10.0.0.11", "10.0.0.21", IPPROTO_TCP, 8080,
	   T0 + 1, 0, 0);
	ev(f.fo, false, 2, "10.0.0.12", "10.0.0.21", IPPROTO_TCP, 8080,
	   T0 + 1, 0, 0);
	flowobs_resync_end(f.fo);
	flowobs_flush(f.fo, T0 + 2);
	assert_int_equal(n_recs, 0);
	/* events lost: the dump shows 2 (still open) and 3 (opened unseen);
	 * 1 ended unseen */
	flowobs_resync_begin(f.fo, true);
	ev(f.fo, false, 2, "10.0.0.12", "10.0.0.21", IPPROTO_TCP, 8080,
	   T0 + 3, 0, 0);
	ev(f.fo, false, 3, "10.0.0.12", "10.0.0.21", IPPROTO_TCP, 8080,
	   T0 + 3, 0, 0);
	flowobs_resync_end(f.fo);
	flowobs_get_stats(f.fo, &st);
	assert_int_equal(st.tracked, 2);
	assert_int_equal(st.lost_new, 1);
	assert_int_equal(st.lost_destroy, 1);
	flowobs_flush(f.fo, T0 + 4);
	assert_int_equal(n_recs, 1);
	assert_int_equal(ji(recs[0], "bulkhead", "connections"), 1);
	assert_int_equal(ji(recs[0], "bulkhead", "lost"), 2);
	/* live events again: the tracked one ends normally */
	ev(f.fo, true, 2, "10.0.0.12", "10.0.0.21", IPPROTO_TCP, 8080,
	   T0 + 5, 5, 5);
	flowobs_flush(f.fo, T0 + 6);
	assert_int_equal(n_recs, 2);
	assert_int_equal(ji(recs[1], "bulkhead", "lost"), 0);
	assert_int_equal(ji(recs[1], "bulkhead", "ended"), 1);
	teardown(&f);
}

static void test_json(void **state)
{
	struct fixture f;
	json_t *r, *ev_o;

	(void)state;
	setup(&f, 0);
	ev(f.fo, false, 1, "10.0.0.11", "10.0.0.21", IPPROTO_TCP, 8080,
	   T0 + 1, 0, 0);
	flowobs_flush(f.fo, T0 + 2);
	r = recs[0];
	ev_o = json_object_get(r, "event");
	assert_string_equal(js(r, "event", "action"), "allow");
	assert_string_equal(js(r, "event", "dataset"), "bulkhead.flows");
	assert_string_equal(js(r, "event", "kind"), "event");
	assert_string_equal(json_string_value(json_array_get(
		json_object_get(ev_o, "type"), 0)), "connection");
	assert_string_equal(json_string_value(json_array_get(
		json_object_get(ev_o, "type"), 1)), "allowed");
	assert_string_equal(js(r, "bulkhead", "record"), "flow");
	assert_string_equal(js(r, "network", "type"), "ipv4");
	assert_string_equal(js(r, "network", "iana_number"), "6");
	assert_int_equal(json_integer_value(json_object_get(r, "schema")), 1);
	teardown(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aggregate),
		cmocka_unit_test(test_attribution_kept),
		cmocka_unit_test(test_labels_differ),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_resync),
		cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests_name("flowobs", tests, NULL, NULL);
}

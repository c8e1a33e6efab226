/* inventory.c: lookups by id and address, removal, JSON round trip. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include <jansson.h>

#include "inventory.h"

static struct container *mk(const char *id, const char *ip)
{
	struct container *c = container_new(id, id);
	struct bh_addr a;

	assert_true(bh_addr_parse(ip, false, &a));
	container_add_addr(c, &a);
	container_add_label(c, "bulkhead.purpose", "web");
	return c;
}

static void test_add_find_remove(void **state)
{
	struct inventory *inv = inventory_new();
	struct container *c;
	struct bh_addr a;
	char id[32], ip[32];
	int i;

	(void)state;
	for (i = 0; i < 1000; i++) {
		snprintf(id, sizeof(id), "c%d", i);
		snprintf(ip, sizeof(ip), "10.1.%d.%d", i / 256, i % 256);
		assert_int_equal(inventory_add(inv, mk(id, ip)), 0);
	}
	assert_int_equal(inventory_count(inv), 1000);
	assert_int_equal(inventory_add(inv, mk("c5", "10.9.9.9")), -EEXIST);
	assert_int_equal(inventory_add(inv, mk("new", "10.1.0.7")),
			 -EADDRINUSE);
	assert_true(bh_addr_parse("10.1.3.4", false, &a));
	c = inventory_find_addr(inv, &a);
	assert_non_null(c);
	assert_string_equal(c->id, "c772");
	c = inventory_remove(inv, "c0");
	assert_non_null(c);
	container_free(c);
	assert_null(inventory_find(inv, "c0"));
	assert_true(bh_addr_parse("10.1.0.0", false, &a));
	assert_null(inventory_find_addr(inv, &a));
	/* the last container moved into slot 0 and is still found */
	assert_non_null(inventory_find(inv, "c999"));
	assert_ptr_equal(inventory_at(inv, 0), inventory_find(inv, "c999"));
	assert_null(inventory_remove(inv, "c0"));
	/* a host-side interface has one owner, freed on removal */
	c = mk("port-a", "10.2.0.1");
	container_set_port(c, "veth7");
	assert_int_equal(inventory_add(inv, c), 0);
	c = mk("port-b", "10.2.0.2");
	container_set_port(c, "veth7");
	assert_int_equal(inventory_add(inv, c), -EADDRINUSE);
	assert_string_equal(inventory_find_ifname(inv, "veth7")->id, "port-a");
	assert_null(inventory_find_ifname(inv, ""));
	container_free(inventory_remove(inv, "port-a"));
	assert_null(inventory_find_ifname(inv, "veth7"));
	c = mk("port-b", "10.2.0.2");
	container_set_port(c, "veth7");
	assert_int_equal(inventory_add(inv, c), 0);
	container_free(inventory_remove(inv, "port-b"));
	assert_int_equal(inventory_count(inv), 999);
	inventory_free(inv);
}

static void test_json_roundtrip(void **state)
{
	const char *in = "[{\"id\":\"a\",\"name\":\"web-1\","
			 "\"labels\":{\"bulkhead.purpose\":\"web\"},"
			 "\"ips\":[\"10.0.0.2\",\"fd00::2\"],\"ifname\":\"veth1\"}]";
	struct inventory *inv, *again;
	char *err = NULL, *out;
	struct container *c;

	(void)state;
	inv = inventory_from_json(in, strlen(in), &err);
	assert_non_null(inv);
	c = inventory_find(inv, "a");
	assert_string_equal(c->name, "web-1");
	assert_string_equal(container_ifname(c), "veth1");
	assert_int_equal(c->n_ports, 1);
	assert_int_equal(c->ports[0].n, 2);
	assert_int_equal(c->n_addrs, 2);
	out = inventory_to_json(inv);
	again = inventory_from_json(out, strlen(out), &err);
	assert_non_null(again);
	assert_int_equal(inventory_find(again, "a")->n_addrs, 2);
	free(out);
	inventory_free(inv);
	inventory_free(again);
}

static void expect_error(const char *in, const char *want)
{
	char *err = NULL;

	assert_null(inventory_from_json(in, strlen(in), &err));
	assert_non_null(err);
	if (!strstr(err, want))
		fail_msg("error '%s' lacks '%s'", err, want);
	free(err);
}

static void test_json_errors(void **state)
{
	(void)state;
	expect_error("{", "1:");
	expect_error("{}", "expected an array");
	expect_error("[1]", "entry 0: not an object");
	expect_error("[{\"name\":\"x\"}]", "\"id\" must be");
	expect_error("[{\"id\":\"a\",\"ips\":[\"10.0.0.300\"]}]",
		     "ips[0] is not an IPv4 or IPv6 address");
	expect_error("[{\"id\":\"a\",\"ips\":[\"10.0.0.0/8\"]}]", "ips[0]");
	expect_error("[{\"id\":\"a\",\"labels\":{\"k\":1}}]",
		     "entry 0 (a): label \"k\" must have a non-empty key and "
		     "a string value");
	expect_error("[{\"id\":\"a\",\"ifname\":\"../x\"}]",
		     "interface name");
	expect_error("[{\"id\":\"a\"},{\"id\":\"a\"}]", "duplicate id");
	expect_error("[{\"id\":\"a\",\"ips\":[\"10.0.0.1\"]},"
		     "{\"id\":\"b\",\"ips\":[\"10.0.0.1\"]}]",
		     "another container");
	expect_error("[{\"id\":\"a\",\"ifname\":\"0123456789abcdefg\"}]",
		     "interface name");
}

/* p as JSON through container_from_json: the container or NULL and the
 * error, which must contain want. */
static struct container *cj(const char *text, enum container_json how,
			    const char *want)
{
	json_t *o = json_loads(text, 0, NULL);
	struct container *c;
	char *err = NULL;

	assert_non_null(o);
	c = container_from_json(o, how, &err);
	json_decref(o);
	if (want) {
		assert_null(c);
		if (!err || !strstr(err, want))
			fail_msg("error '%s' lacks '%s'", err, want);
	} else if (!c) {
		fail_msg("refused: %s", err);
	}
	free(err);
	return c;
}

/* One reader for inventory entries, journal lines and attach requests. */
static void test_container_from_json(void **state)
{
	struct container *c;
	char *err = NULL;
	json_t *o;

	(void)state;
	c = cj("{\"id\":\"a\",\"ips\":[\"10.0.0.2\",\"10.0.0.2\",\"fd00::2\"],"
	       "\"labels\":{\"k\":\"v\"},\"source\":\"cni\","
	       "\"quarantine\":true,\"op\":\"attach\",\"version\":1}",
	       CJ_ATTACH, NULL);
	assert_string_equal(c->name, "a");	/* the id when not given */
	assert_int_equal(c->n_addrs, 2);	/* twice given, once kept */
	assert_int_equal(c->source, SRC_CNI);
	assert_true(c->quarantined);
	assert_null(c->engine);
	container_free(c);
	/* an entry says "quarantined", keeps its engine, ignores extras */
	c = cj("{\"id\":\"b\",\"name\":null,\"quarantined\":true,"
	       "\"source\":\"engine\",\"engine\":\"unix:///run/p.sock\","
	       "\"group\":\"web\"}", CJ_ENTRY, NULL);
	assert_true(c->quarantined);
	assert_string_equal(c->engine, "unix:///run/p.sock");
	container_free(c);
	cj("{\"id\":\"a\",\"label\":{}}", CJ_ATTACH,
	   "unknown field \"label\"");
	cj("{\"id\":\"a\",\"quarantined\":true}", CJ_ATTACH,
	   "unknown field \"quarantined\"");
	cj("{\"id\":\"a\",\"quarantine\":1}", CJ_ATTACH,
	   "\"quarantine\" must be true or false");
	cj("{\"id\":\"a\",\"source\":\"docker\"}", CJ_ENTRY,
	   "\"source\" must be static, engine or cni");
	cj("{\"id\":\"a\",\"labels\":{\"\":\"v\"}}", CJ_ENTRY,
	   "non-empty key");
	cj("{\"id\":\"a\",\"name\":\"\"}", CJ_ENTRY, "\"name\" must be");
	{
		char long_name[400];

		memset(long_name, 'n', 256);
		long_name[256] = '\0';
		o = json_pack("{s:s, s:s}", "id", "a", "name", long_name);
		assert_null(container_from_json(o, CJ_ATTACH, &err));
		assert_non_null(strstr(err, "1 to 255 bytes"));
		free(err);
		json_decref(o);
		long_name[255] = '\0';
		o = json_pack("{s:s, s:s}", "id", "a", "name", long_name);
		c = container_from_json(o, CJ_ATTACH, &err);
		assert_non_null(c);
		container_free(c);
		json_decref(o);
	}
	cj("{\"id\":\"a\",\"ips\":\"10.0.0.1\"}", CJ_ENTRY,
	   "\"ips\" must be an array");
	cj("{\"id\":\"a\",\"engine\":7}", CJ_ENTRY, "must be a URL");
	cj("[]", CJ_ENTRY, "not an object");
}

static const char *port_of(const struct container *c, const char *ip)
{
	const struct container_port *p;
	struct bh_addr a;
	size_t i;

	assert_true(bh_addr_parse(ip, false, &a));
	for (i = 0; i < c->n_addrs; i++)
		if (bh_addr_eq(&c->addrs[i], &a)) {
			p = container_addr_port(c, i);
			return p ? p->ifname : "";
		}
	fail_msg("%s is not an address of %s", ip, c->id);
	return NULL;
}

/* Ports, each with its own addresses: built, changed, indexed. */
static void test_ports(void **state)
{
	struct inventory *inv = inventory_new();
	struct container *c, *d;
	struct bh_addr a;

	(void)state;
	c = mk("two", "10.0.0.9");		/* on no port yet */
	assert_true(bh_addr_parse("10.1.0.2", false, &a));
	assert_int_equal(container_add_port_addr(c, "vb", &a), 0);
	assert_true(bh_addr_parse("10.0.0.2", false, &a));
	assert_int_equal(container_add_port_addr(c, "va", &a), 0);
	assert_true(bh_addr_parse("fd01::2", false, &a));
	assert_int_equal(container_add_port_addr(c, "vb", &a), 0);
	/* an address is one port's: not another's too */
	assert_int_equal(container_add_port_addr(c, "va", &a), -EEXIST);
	assert_int_equal(container_add_port_addr(c, "vb", &a), 0);
	assert_int_equal(c->n_ports, 2);
	assert_int_equal(c->n_addrs, 4);
	assert_string_equal(port_of(c, "10.1.0.2"), "vb");
	assert_string_equal(port_of(c, "fd01::2"), "vb");
	assert_string_equal(port_of(c, "10.0.0.2"), "va");
	assert_string_equal(port_of(c, "10.0.0.9"), "");
	/* an address on no port moves to the port that claims it */
	assert_true(bh_addr_parse("10.0.0.9", false, &a));
	assert_int_equal(container_add_port_addr(c, "vb", &a), 0);
	assert_string_equal(port_of(c, "10.0.0.9"), "vb");
	assert_string_equal(port_of(c, "10.0.0.2"), "va");
	assert_int_equal(c->n_addrs, 4);

	/* both ports lead to it; neither may go to another container */
	d = container_dup(c);
	assert_true(container_same_ports(c, d));
	assert_int_equal(inventory_add(inv, c), 0);
	assert_ptr_equal(inventory_find_ifname(inv, "va"), c);
	assert_ptr_equal(inventory_find_ifname(inv, "vb"), c);
	c = mk("other", "10.9.0.1");
	container_set_port(c, "vb");
	assert_int_equal(inventory_add(inv, c), -EADDRINUSE);

	/* a network leaves: its port and its addresses, nothing else */
	assert_true(container_remove_port(d, "vb"));
	assert_false(container_remove_port(d, "vb"));
	assert_int_equal(d->n_ports, 1);
	assert_int_equal(d->n_addrs, 1);
	assert_string_equal(port_of(d, "10.0.0.2"), "va");
	assert_false(container_same_ports(d, inventory_find(inv, "two")));
	container_free(inventory_remove(inv, "two"));
	assert_null(inventory_find_ifname(inv, "vb"));
	assert_int_equal(inventory_add(inv, d), 0);
	assert_null(inventory_find_ifname(inv, "vb"));
	assert_ptr_equal(inventory_find_ifname(inv, "va"), d);

	/* the single-port form: every address on no port goes to it */
	c = mk("one", "10.3.0.1");
	assert_true(bh_addr_parse("10.3.0.2", false, &a));
	container_add_addr(c, &a);
	container_set_port(c, "vc");
	assert_int_equal(c->n_ports, 1);
	assert_int_equal(c->ports[0].n, 2);
	assert_true(container_remove_addr(c, &a));
	assert_int_equal(c->ports[0].n, 1);
	assert_string_equal(container_ifname(c), "vc");
	container_free(c);

	/* the address may be the container's own storage, which moves */
	c = mk("alias", "10.4.0.1");
	assert_true(bh_addr_parse("10.4.0.2", false, &a));
	container_add_addr(c, &a);
	assert_int_equal(container_add_port_addr(c, "vd", &c->addrs[1]), 0);
	assert_string_equal(port_of(c, "10.4.0.2"), "vd");
	assert_string_equal(port_of(c, "10.4.0.1"), "");
	assert_int_equal(container_add_port_addr(c, "ve", &c->addrs[1]), 0);
	assert_string_equal(port_of(c, "10.4.0.1"), "ve");
	assert_string_equal(port_of(c, "10.4.0.2"), "vd");
	container_free(c);
	inventory_free(inv);
}

/* inventory_to_json writes one container's tree at a time (a state
 * compaction's peak): its text is the one json_dumps gives for the whole
 * array, byte for byte, also for none and for one container. */
static void same_as_whole_tree(const struct inventory *inv)
{
	json_t *root = json_array();
	char *want, *got;
	size_t i;

	for (i = 0; i < inventory_count(inv); i++)
		json_array_append_new(root,
				      container_to_json(inventory_at(inv, i)));
	want = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	json_decref(root);
	got = inventory_to_json(inv);
	assert_string_equal(got, want);
	free(want);
	free(got);
}

static void test_json_text(void **state)
{
	const char *in = "[{\"id\":\"a\",\"name\":\"web-1\","
			 "\"labels\":{\"bulkhead.purpose\":\"web\","
			 "\"note\":\"two\\nlines\"},"
			 "\"ips\":[\"10.0.0.9\"],\"ports\":[{\"ifname\":\"va\","
			 "\"ips\":[\"10.0.0.2\",\"fd00::2\"]},{\"ifname\":"
			 "\"vb\",\"ips\":[\"10.1.0.2\"]}]},"
			 "{\"id\":\"b\",\"ips\":[\"10.2.0.2\"],\"ifname\":\"vc\"},"
			 "{\"id\":\"c\",\"ips\":[]}]";
	struct inventory *inv;
	char *err = NULL;

	(void)state;
	inv = inventory_new();
	same_as_whole_tree(inv);
	inventory_add(inv, mk("one", "10.9.0.1"));
	same_as_whole_tree(inv);
	inventory_free(inv);
	inv = inventory_from_json(in, strlen(in), &err);
	if (!inv)
		fail_msg("%s", err);
	assert_int_equal(inventory_count(inv), 3);
	same_as_whole_tree(inv);
	inventory_free(inv);
}

/* "ports" in JSON: read, written back, the single-port form kept. */
static void test_ports_json(void **state)
{
	const char *in = "[{\"id\":\"a\",\"ips\":[\"10.0.0.9\"],"
			 "\"ports\":[{\"ifname\":\"va\",\"ips\":[\"10.0.0.2\","
			 "\"fd00::2\"]},{\"ifname\":\"vb\",\"ips\":"
			 "[\"10.1.0.2\"]}]},"
			 "{\"id\":\"b\",\"ips\":[\"10.2.0.2\"],\"ifname\":\"vc\"}]";
	struct inventory *inv, *again;
	struct container *c;
	char *err = NULL, *out, *out2;
	json_t *o;

	(void)state;
	inv = inventory_from_json(in, strlen(in), &err);
	if (!inv)
		fail_msg("%s", err);
	c = inventory_find(inv, "a");
	assert_int_equal(c->n_ports, 2);
	assert_int_equal(c->n_addrs, 4);
	assert_string_equal(port_of(c, "fd00::2"), "va");
	assert_string_equal(port_of(c, "10.1.0.2"), "vb");
	assert_string_equal(port_of(c, "10.0.0.9"), "");
	/* several ports: "ports", and "ips" lists every address */
	o = container_to_json(c);
	out = json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT);
	json_decref(o);
	assert_string_equal(out, "{\"id\":\"a\",\"name\":\"a\",\"labels\":{},"
		"\"ips\":[\"10.0.0.2\",\"fd00::2\",\"10.1.0.2\",\"10.0.0.9\"],"
		"\"ports\":[{\"ifname\":\"va\",\"ips\":[\"10.0.0.2\",\"fd00::2\"]},"
		"{\"ifname\":\"vb\",\"ips\":[\"10.1.0.2\"]}],"
		"\"source\":\"static\"}");
	free(out);
	/* one port with all the addresses: the form older readers know */
	o = container_to_json(inventory_find(inv, "b"));
	out = json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT);
	json_decref(o);
	assert_non_null(strstr(out, "\"ips\":[\"10.2.0.2\"],\"ifname\":\"vc\","));
	free(out);
	out = inventory_to_json(inv);
	again = inventory_from_json(out, strlen(out), &err);
	if (!again)
		fail_msg("%s", err);
	assert_true(container_same_ports(inventory_find(again, "a"), c));
	out2 = inventory_to_json(again);
	assert_string_equal(out, out2);
	free(out);
	free(out2);
	inventory_free(again);
	inventory_free(inv);

	cj("{\"id\":\"a\",\"ifname\":\"va\",\"ports\":[]}", CJ_ATTACH,
	   "give \"ports\" or \"ifname\", not both");
	cj("{\"id\":\"a\",\"ports\":{}}", CJ_ATTACH, "must be an array");
	cj("{\"id\":\"a\",\"ports\":[{\"ips\":[]}]}", CJ_ATTACH,
	   "ports[0].ifname must be an interface name");
	cj("{\"id\":\"a\",\"ports\":[{\"ifname\":\"../x\"}]}", CJ_ATTACH,
	   "ports[0].ifname must be an interface name");
	cj("{\"id\":\"a\",\"ports\":[{\"ifname\":\"va\"},{\"ifname\":\"va\"}]}",
	   CJ_ATTACH, "ports[1]: interface va is given twice");
	cj("{\"id\":\"a\",\"ports\":[{\"ifname\":\"va\",\"ips\":[\"x\"]}]}",
	   CJ_ATTACH, "ports[0].ips[0] is not an IPv4 or IPv6 address");
	cj("{\"id\":\"a\",\"ports\":[{\"ifname\":\"va\",\"ips\":[\"10.0.0.1\"]},"
	   "{\"ifname\":\"vb\",\"ips\":[\"10.0.0.1\"]}]}", CJ_ATTACH,
	   "ports[1].ips[0]: 10.0.0.1 is another port's address");
	cj("{\"id\":\"a\",\"ports\":[{\"ifname\":\"va\",\"ip\":[]}]}",
	   CJ_ATTACH, "ports[0]: unknown field \"ip\"");
	/* two containers may not share a port */
	expect_error("[{\"id\":\"a\",\"ports\":[{\"ifname\":\"va\"},"
		     "{\"ifname\":\"vb\"}]},{\"id\":\"b\",\"ifname\":\"vb\"}]",
		     "another container");
}

static void want_check(const struct inventory *inv, const struct container *c,
		       int want, const char *msg)
{
	char *err = NULL;

	assert_int_equal(inventory_check(inv, c, &err), want);
	if (msg && (!err || !strstr(err, msg)))
		fail_msg("error '%s' lacks '%s'", err, msg);
	if (!msg)
		assert_null(err);
	free(err);
}

/* inventory_check: each limit and each conflict, named; nothing
 * changes. */
static void test_limits(void **state)
{
	struct inventory *inv = inventory_new();
	struct container *c;
	struct bh_addr a;
	char name[32];
	size_t i;

	(void)state;
	c = mk("a", "10.0.0.1");
	container_set_port(c, "va");
	assert_int_equal(inventory_add(inv, c), 0);

	c = mk("b", "10.1.0.1");
	for (i = 1; c->n_addrs < CONTAINER_ADDRS_MAX; i++) {
		a.family = AF_INET;
		a.plen = 32;
		memcpy(a.a, (uint8_t[]){ 10, 2, (uint8_t)(i >> 8),
					 (uint8_t)i }, 4);
		container_add_addr(c, &a);
	}
	want_check(inv, c, 0, NULL);
	assert_true(bh_addr_parse("10.3.0.1", false, &a));
	container_add_addr(c, &a);
	want_check(inv, c, -E2BIG,
		   "129 addresses: over the limit of 128 addresses per "
		   "container");
	container_free(c);

	c = mk("b", "10.1.0.1");
	for (i = 0; i < CONTAINER_PORTS_MAX + 1; i++) {
		snprintf(name, sizeof(name), "p%zu", i);
		container_add_port(c, name);
	}
	want_check(inv, c, -E2BIG,
		   "33 ports: over the limit of 32 ports per container");
	container_free(c);

	c = mk("b", "10.1.0.1");
	for (i = 1; c->n_labels < CONTAINER_LABELS_MAX + 1; i++) {
		snprintf(name, sizeof(name), "k%zu", i);
		container_add_label(c, name, "v");
	}
	want_check(inv, c, -E2BIG,
		   "1025 labels: over the limit of 1024 labels per container");
	container_free(c);

	/* another container's address or port; its own are fine */
	c = mk("b", "10.0.0.1");
	want_check(inv, c, -EADDRINUSE,
		   "address 10.0.0.1 belongs to container a (a)");
	container_free(c);
	c = mk("b", "10.1.0.1");
	container_set_port(c, "va");
	want_check(inv, c, -EADDRINUSE,
		   "interface va belongs to container a (a)");
	container_free(c);
	c = mk("a", "10.0.0.1");
	container_set_port(c, "va");
	want_check(inv, c, 0, NULL);
	container_free(c);
	assert_int_equal(inventory_count(inv), 1);

	/* the container count: a new id at the limit is refused, a known
	 * one may still change */
	for (i = 1; i < INVENTORY_CONTAINERS_MAX; i++) {
		snprintf(name, sizeof(name), "n%zu", i);
		assert_int_equal(inventory_add(inv, container_new(name, NULL)),
				 0);
	}
	c = container_new("one-more", NULL);
	want_check(inv, c, -ENOSPC,
		   "1000000 containers: at the limit of 1000000 containers");
	container_free(c);
	c = mk("a", "10.0.0.9");
	want_check(inv, c, 0, NULL);
	container_free(c);
	inventory_free(inv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_find_remove),
		cmocka_unit_test(test_json_roundtrip),
		cmocka_unit_test(test_json_text),
		cmocka_unit_test(test_json_errors),
		cmocka_unit_test(test_container_from_json),
		cmocka_unit_test(test_ports),
		cmocka_unit_test(test_ports_json),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests_name("inventory", tests, NULL, NULL);
}

/* state.c: journal replay across reopen, idempotent replay, torn last
 * line, corrupt lines, compaction. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "state.h"

static char dir[64];

static int setup(void **st)
{
	strcpy(dir, "/tmp/bh-state-test.XXXXXX");
	log_init("test_state", LOG_TO_STDERR, 0);
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **st)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) ? -1 : 0;
}

static struct container *mk(const char *id, const char *ip, const char *v)
{
	struct container *c = container_new(id, id);
	struct bh_addr a;

	assert_true(bh_addr_parse(ip, false, &a));
	container_add_addr(c, &a);
	container_add_label(c, "bulkhead.purpose", v);
	return c;
}

static void attach(struct state *s, struct inventory *inv,
		   struct container *c)
{
	container_free(inventory_remove(inv, c->id));
	assert_int_equal(inventory_add(inv, c), 0);
	assert_int_equal(state_attach(s, inv, c), 0);
}

static void put_file(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static off_t size_of(const char *name)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static void test_replay(void **st)
{
	struct inventory *inv, *again;
	struct state *s;
	char *err = NULL;

	assert_int_equal(state_open(dir, &inv, &s, &err), 0);
	assert_int_equal(inventory_count(inv), 0);
	attach(s, inv, mk("a", "10.0.0.1", "web"));
	attach(s, inv, mk("b", "10.0.0.2", "api"));
	attach(s, inv, mk("a", "fd00::1", "db"));	/* relabel, readdress */
	container_free(inventory_remove(inv, "b"));
	assert_int_equal(state_detach(s, inv, "b"), 0);
	assert_int_equal(size_of(STATE_SNAPSHOT), 2);	/* "[]": all in
							 * the journal */
	state_close(s);		/* as after kill -9: no compaction */

	assert_int_equal(state_open(dir, &again, &s, &err), 0);
	assert_int_equal(inventory_count(again), 1);
	assert_string_equal(inventory_at(again, 0)->id, "a");
	assert_int_equal(inventory_at(again, 0)->addrs[0].family, AF_INET6);
	assert_string_equal(inventory_at(again, 0)->labels[0].value, "db");
	/* compacted at open: the journal is empty, the snapshot complete */
	assert_int_equal(size_of(STATE_JOURNAL), 0);
	state_close(s);
	inventory_free(again);
	inventory_free(inv);
}

static void test_torn_and_corrupt(void **st)
{
	struct inventory *inv;
	struct state *s;
	char *err = NULL;

	put_file(STATE_SNAPSHOT, "[]");
	put_file(STATE_JOURNAL,
		 "{\"op\":\"attach\",\"c\":[{\"id\":\"x\",\"ips\":[\"10.1.1.1\"]}]}\n"
		 "{\"op\":\"detach\",\"id\":\"nosuch\"}\n"
		 "{\"op\":\"attach\",\"c\":[{\"id\":\"y\",\"ips\":[\"10.1");
	assert_int_equal(state_open(dir, &inv, &s, &err), 0);
	assert_int_equal(inventory_count(inv), 1);
	assert_non_null(inventory_find(inv, "x"));
	state_close(s);
	inventory_free(inv);

	put_file(STATE_JOURNAL, "{\"op\":\"detach\",\"id\":\"x\"}\n"
		 "{\"op\":\"format\"}\n{\"op\":\"detach\",\"id\":\"y\"}\n");
	assert_int_equal(state_open(dir, &inv, &s, &err), -EINVAL);
	assert_non_null(strstr(err, "inventory.journal:2:"));
	free(err);
	assert_null(s);

	put_file(STATE_JOURNAL, "");
	put_file(STATE_SNAPSHOT, "[{\"id\": 5}]");
	assert_int_equal(state_open(dir, &inv, &s, &err), -EINVAL);
	assert_non_null(strstr(err, "inventory.json"));
	free(err);
	put_file(STATE_SNAPSHOT, "[]");
}

static void test_compaction(void **st)
{
	struct inventory *inv;
	struct state *s;
	char *err = NULL, id[16];
	int i;

	put_file(STATE_SNAPSHOT, "[]");
	put_file(STATE_JOURNAL, "");
	assert_int_equal(state_open(dir, &inv, &s, &err), 0);
	attach(s, inv, mk("only", "10.2.0.1", "web"));
	/* relabels of one container: the journal outgrows the inventory */
	for (i = 0; i < 1100; i++) {
		snprintf(id, sizeof(id), "v%d", i % 7);
		attach(s, inv, mk("only", "10.2.0.1", id));
	}
	assert_true(size_of(STATE_JOURNAL) < 100 * 200);
	assert_true(size_of(STATE_SNAPSHOT) > 2);
	state_close(s);
	inventory_free(inv);
	assert_int_equal(state_open(dir, &inv, &s, &err), 0);
	assert_int_equal(inventory_count(inv), 1);
	assert_string_equal(inventory_at(inv, 0)->labels[0].value, "v0");
	state_close(s);
	inventory_free(inv);
}

/* A container on two networks keeps both ports, each with its own
 * addresses, through the journal and through compaction; a state file
 * of the single-port form (before ports) still loads. */
static void test_ports(void **st)
{
	const struct container *c;
	struct inventory *inv;
	struct container *n;
	struct bh_addr a;
	struct state *s;
	char *err = NULL;
	int round;

	put_file(STATE_SNAPSHOT,
		 "[{\"id\":\"old\",\"name\":\"old\",\"labels\":{},"
		 "\"ips\":[\"10.5.0.1\",\"fd05::1\"],\"ifname\":\"vold\","
		 "\"source\":\"static\"}]");
	put_file(STATE_JOURNAL, "");
	assert_int_equal(state_open(dir, &inv, &s, &err), 0);
	c = inventory_find(inv, "old");
	assert_non_null(c);
	assert_int_equal(c->n_ports, 1);
	assert_int_equal(c->ports[0].n, 2);
	assert_string_equal(c->ports[0].ifname, "vold");
	n = mk("two", "10.6.0.1", "web");
	container_set_port(n, "va");
	assert_true(bh_addr_parse("10.7.0.1", false, &a));
	assert_int_equal(container_add_port_addr(n, "vb", &a), 0);
	attach(s, inv, n);
	state_close(s);		/* from the journal, then compacted */
	for (round = 0; round < 2; round++) {
		inventory_free(inv);
		assert_int_equal(state_open(dir, &inv, &s, &err), 0);
		c = inventory_find(inv, "two");
		assert_non_null(c);
		assert_int_equal(c->n_ports, 2);
		assert_string_equal(c->ports[0].ifname, "va");
		assert_string_equal(c->ports[1].ifname, "vb");
		assert_int_equal(c->ports[1].n, 1);
		assert_true(bh_addr_eq(&c->addrs[c->ports[1].first], &a));
		assert_int_equal(c->ports[0].n, 1);
		assert_int_equal(inventory_find(inv, "old")->n_ports, 1);
		state_close(s);
	}
	inventory_free(inv);
	put_file(STATE_SNAPSHOT, "[]");
	put_file(STATE_JOURNAL, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_torn_and_corrupt),
		cmocka_unit_test(test_compaction),
		cmocka_unit_test(test_ports),
	};

	return cmocka_run_group_tests_name("state", tests, setup, teardown);
}

/* colocation.c: who mixes, who is held, and that the decision depends on
 * arrival times and labels, not on the inventory's order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>

#include "colocation.h"

static const char policy_text[] =
	"version: 1\n"
	"settings:\n"
	"  colocation: { mode: enforce, forbid: [[restricted, low], [restricted, unset]] }\n"
	"groups:\n"
	"  web: { match: { purpose: web }, sensitivity: low }\n"
	"  app: { match: { purpose: app } }\n"
	"  db: { match: { purpose: database }, sensitivity: restricted }\n"
	"flows:\n"
	"  - { from: [web, app], to: db, ports: [tcp/1] }\n";

static struct policy *load(void)
{
	struct diags d = { 0 };
	struct policy *p;

	p = policy_load_buf("t.yaml", policy_text, strlen(policy_text), &d);
	assert_non_null(p);
	diags_free(&d);
	return p;
}

static struct container *mk(const struct policy *p, const char *id,
			    const char *purpose, const char *sens,
			    uint64_t since)
{
	struct container *c = container_new(id, id);

	container_add_label(c, "bulkhead.purpose", purpose);
	if (sens)
		container_add_label(c, "bulkhead.sensitivity", sens);
	c->since_ms = since;
	container_classify(c, p);
	return c;
}

static const char *held(const struct policy *p, struct inventory *inv)
{
	static char buf[256];
	size_t i;

	colocation_mark(p, inv);
	buf[0] = '\0';
	for (i = 0; i < inventory_count(inv); i++) {
		const struct container *c = inventory_at(inv, i);

		if (c->colo == COLO_HELD) {
			strcat(buf, buf[0] ? "," : "");
			strcat(buf, c->id);
		}
	}
	return buf;
}

static void test_enforce(void **state)
{
	struct policy *p = load();
	struct inventory *inv = inventory_new();
	struct colo_result r;

	(void)state;
	/* inserted out of arrival order; web arrived after db */
	assert_int_equal(inventory_add(inv, mk(p, "web", "web", NULL, 30)), 0);
	assert_int_equal(inventory_add(inv, mk(p, "db", "database", NULL, 10)), 0);
	assert_int_equal(inventory_add(inv, mk(p, "web2", "web", NULL, 40)), 0);
	assert_string_equal(held(p, inv), "web,web2");
	colocation_decide(p, inv, &r);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.v[0].c->id, "web");
	assert_int_equal(r.v[0].level, SENS_LOW);
	assert_string_equal(r.v[0].with->id, "db");
	assert_int_equal(r.v[0].with_level, SENS_RESTRICTED);
	colo_result_free(&r);
	/* db gone: both leave quarantine */
	container_free(inventory_remove(inv, "db"));
	assert_string_equal(held(p, inv), "");
	/* db back, now the latest: it alone is held */
	assert_int_equal(inventory_add(inv, mk(p, "db", "database", NULL, 50)), 0);
	assert_string_equal(held(p, inv), "db");
	/* an app container of no level labelled restricted by itself, which
	 * arrived first, holds every later low one and the unset-level one */
	assert_int_equal(inventory_add(inv, mk(p, "a0", "app", "restricted", 1)), 0);
	assert_string_equal(held(p, inv), "web,web2");
	assert_int_equal(colocation_arrival(p, inv, inventory_find(inv, "web")),
			 COLO_HELD);
	inventory_free(inv);
	policy_free(p);
}

static void test_ties_and_warn(void **state)
{
	struct policy *p = load();
	struct inventory *inv = inventory_new();
	struct colo_change *ch;
	json_t *rec;
	size_t n;

	(void)state;
	/* the same time: the id decides, whatever the insertion order */
	assert_int_equal(inventory_add(inv, mk(p, "b", "web", NULL, 5)), 0);
	assert_int_equal(inventory_add(inv, mk(p, "a", "database", NULL, 5)), 0);
	assert_string_equal(held(p, inv), "b");
	p->colo_mode = COLO_WARN;
	{
		struct colo_result r;

		colocation_decide(p, inv, &r);
		n = colocation_changes(p, inv, &r, &ch);
		assert_int_equal(n, 1);
		assert_int_equal(ch[0].to, COLO_MIXING);
		rec = colocation_record_json(p, &ch[0], 1000);
		assert_string_equal(json_string_value(json_object_get(
			json_object_get(rec, "event"), "action")), "colocation");
		assert_string_equal(json_string_value(json_object_get(
			json_object_get(rec, "source"), "sensitivity")), "low");
		assert_string_equal(json_string_value(json_object_get(
			json_object_get(rec, "destination"), "sensitivity")),
			"restricted");
		json_decref(rec);
		free(ch);
		colo_result_free(&r);
	}
	p->colo_mode = COLO_OFF;
	assert_string_equal(held(p, inv), "");
	inventory_free(inv);
	policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_enforce),
		cmocka_unit_test(test_ties_and_warn),
	};

	return cmocka_run_group_tests_name("colocation", tests, NULL, NULL);
}

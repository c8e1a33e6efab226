/* colocation.c's index: after every attach, detach and relabel, driven
 * as the daemon drives it (arrival check, add, update, apply), every
 * container's state equals what colocation_decide gives from scratch,
 * in enforce and warn mode, in whatever order quarantine is entered and
 * left; the common changes (an attach of the latest, a detach of no
 * level's first) take the fast path; and a restart (the same containers
 * and arrival times, inserted in another order) decides the same. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "colocation.h"

static const char policy_text[] =
	"version: 1\n"
	"settings:\n"
	"  colocation: { mode: enforce, forbid: [[restricted, low], [restricted, unset], [high, low]] }\n"
	"groups:\n"
	"  web: { match: { purpose: web }, sensitivity: low }\n"
	"  app: { match: { purpose: app } }\n"
	"  api: { match: { purpose: api }, sensitivity: high }\n"
	"  db: { match: { purpose: database }, sensitivity: restricted }\n"
	"flows:\n"
	"  - { from: [web, app], to: db, ports: [tcp/1] }\n";

static const char *const purposes[] = { "web", "app", "api", "database",
					"web" };
static const char *const sens[] = { NULL, NULL, "restricted", "low",
				    "high" };

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
			    unsigned kind, uint64_t since)
{
	struct container *c = container_new(id, id);

	container_add_label(c, "bulkhead.purpose", purposes[kind % 5]);
	if (sens[kind / 5 % 5])
		container_add_label(c, "bulkhead.sensitivity",
				    sens[kind / 5 % 5]);
	c->since_ms = since;
	container_classify(c, p);
	return c;
}

/* what the daemon does for an attach (or relabel) of c */
static void attach(struct colo_index *x, const struct policy *p,
		   struct inventory *inv, struct container *c)
{
	struct colo_change *ch;
	struct colo_result r;
	size_t n, i;

	c->colo = colocation_arrival_index(x, p, inv, c);
	container_free(inventory_remove(inv, c->id));
	assert_int_equal(inventory_add(inv, c), 0);
	n = colocation_update(x, p, inv, c, &r, &ch);
	for (i = 0; i < n; i++)
		ch[i].c->colo = ch[i].to;
	free(ch);
	colo_result_free(&r);
}

static void detach(struct colo_index *x, const struct policy *p,
		   struct inventory *inv, const char *id)
{
	struct colo_change *ch;
	struct colo_result r;
	size_t n, i;

	container_free(inventory_remove(inv, id));
	n = colocation_update(x, p, inv, NULL, &r, &ch);
	for (i = 0; i < n; i++)
		ch[i].c->colo = ch[i].to;
	free(ch);
	colo_result_free(&r);
}

/* every state as a decision from scratch has it */
static void assert_decided(const struct policy *p, struct inventory *inv,
			   unsigned step)
{
	struct colo_change *ch;
	struct colo_result r;
	size_t n;

	colocation_decide(p, inv, &r);
	n = colocation_changes(p, inv, &r, &ch);
	if (n)
		fail_msg("step %u: %s would go to %u, index says %u", step,
			 ch[0].c->id, ch[0].to, ch[0].c->colo);
	free(ch);
	colo_result_free(&r);
}

static unsigned rnd(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 16;
}

static void run(enum colo_mode mode, unsigned seed)
{
	struct policy *p = load();
	struct inventory *inv = inventory_new(), *again;
	struct colo_index x = { 0 };
	uint64_t now = 1000;
	unsigned step, s = seed;
	char id[32];
	size_t i, held = 0, held_again = 0;

	p->colo_mode = mode;
	for (step = 0; step < 3000; step++) {
		unsigned op = rnd(&s) % 10, k = rnd(&s) % 25;
		size_t n = inventory_count(inv);

		if (op < 5 || n < 3) {
			/* new, mostly the latest; sometimes an earlier
			 * arrival (a restored one) */
			snprintf(id, sizeof(id), "c%u", step);
			attach(&x, p, inv, mk(p, id, k, op == 4 ?
					      now - rnd(&s) % 500 : ++now));
		} else if (op < 9) {
			detach(&x, p, inv,
			       inventory_at(inv, rnd(&s) % n)->id);
		} else {
			/* a relabel keeps the arrival */
			const struct container *o =
				inventory_at(inv, rnd(&s) % n);

			attach(&x, p, inv, mk(p, o->id, k, o->since_ms));
		}
		assert_decided(p, inv, step);
	}
	/* the common changes did not scan */
	assert_true(x.n_fast > x.n_scans);
	/* a restart: the same containers and arrivals in reverse order */
	again = inventory_new();
	for (i = inventory_count(inv); i-- > 0;) {
		const struct container *c = inventory_at(inv, i);
		struct container *d = container_dup(c);

		d->colo = COLO_NONE;
		assert_int_equal(inventory_add(again, d), 0);
	}
	colocation_mark(p, again);
	for (i = 0; i < inventory_count(inv); i++) {
		const struct container *c = inventory_at(inv, i);

		assert_int_equal(inventory_find(again, c->id)->colo, c->colo);
		held += c->colo != COLO_NONE;
	}
	for (i = 0; i < inventory_count(again); i++)
		held_again += inventory_at(again, i)->colo != COLO_NONE;
	assert_int_equal(held, held_again);
	inventory_free(again);
	inventory_free(inv);
	policy_free(p);
}

static void test_enforce_random(void **state)
{
	(void)state;
	run(COLO_ENFORCE, 1);
	run(COLO_ENFORCE, 77);
}

static void test_warn_random(void **state)
{
	(void)state;
	run(COLO_WARN, 5);
}

/* The order of entering and leaving quarantine, step by step: the first
 * restricted one goes, the low ones it held leave quarantine, and the
 * next restricted one, now a later arrival than they, is held. */
static void test_enter_leave(void **state)
{
	struct policy *p = load();
	struct inventory *inv = inventory_new();
	struct colo_index x = { 0 };
	uint64_t scans;

	(void)state;
	attach(&x, p, inv, mk(p, "db1", 3, 10));	/* restricted */
	attach(&x, p, inv, mk(p, "web1", 0, 20));	/* low: held */
	attach(&x, p, inv, mk(p, "db2", 3, 30));	/* restricted, runs */
	attach(&x, p, inv, mk(p, "web2", 0, 40));	/* low: held */
	assert_int_equal(inventory_find(inv, "web1")->colo, COLO_HELD);
	assert_int_equal(inventory_find(inv, "web2")->colo, COLO_HELD);
	assert_int_equal(inventory_find(inv, "db2")->colo, COLO_NONE);
	scans = x.n_scans;
	detach(&x, p, inv, "db2");	/* no level's first: no scan */
	assert_int_equal(x.n_scans, scans);
	assert_int_equal(inventory_find(inv, "web1")->colo, COLO_HELD);
	attach(&x, p, inv, mk(p, "db2", 3, 50));
	detach(&x, p, inv, "db1");	/* the first restricted: a scan */
	assert_int_equal(x.n_scans, scans + 1);
	/* web1, web2 leave; db2 (50) is now the later one and is held */
	assert_int_equal(inventory_find(inv, "web1")->colo, COLO_NONE);
	assert_int_equal(inventory_find(inv, "web2")->colo, COLO_NONE);
	assert_int_equal(inventory_find(inv, "db2")->colo, COLO_HELD);
	assert_decided(p, inv, 0);
	/* web1 and web2 go: db2 leaves quarantine */
	detach(&x, p, inv, "web1");
	detach(&x, p, inv, "web2");
	assert_int_equal(inventory_find(inv, "db2")->colo, COLO_NONE);
	assert_decided(p, inv, 1);
	inventory_free(inv);
	policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_enter_leave),
		cmocka_unit_test(test_enforce_random),
		cmocka_unit_test(test_warn_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

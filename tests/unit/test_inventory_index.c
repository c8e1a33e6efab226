/* inventory.c: the open-addressed indexes (full tables, removals in the
 * middle of probe runs, re-adds, refusals) against a plain model, and the
 * container storage (inline first address, id and name, shared label
 * strings). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "inventory.h"

static void ip(unsigned i, struct bh_addr *a)
{
	char s[32];

	snprintf(s, sizeof(s), "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255,
		 i & 255);
	assert_true(bh_addr_parse(s, false, a));
}

/* Container k: id "k<k>", addresses k*4+1 .. k*4+naddr, port "p<k>". */
static struct container *mk(unsigned k, unsigned naddr, bool port)
{
	struct container *c;
	struct bh_addr a;
	char id[32], name[IF_NAMESIZE];
	unsigned j;

	snprintf(id, sizeof(id), "k%u", k);
	c = container_new(id, NULL);
	container_add_label(c, "bulkhead.purpose", k % 2 ? "web" : "db");
	for (j = 0; j < naddr; j++) {
		ip(k * 4 + 1 + j, &a);
		container_add_addr(c, &a);
	}
	if (port) {
		snprintf(name, sizeof(name), "p%u", k);
		container_set_port(c, name);
	}
	return c;
}

/* Every container of the inventory is found by each of its keys. */
static void check_all_found(const struct inventory *inv)
{
	struct container *c;
	size_t i, j;

	for (i = 0; (c = inventory_at(inv, i)); i++) {
		assert_ptr_equal(inventory_find(inv, c->id), c);
		for (j = 0; j < c->n_addrs; j++)
			assert_ptr_equal(inventory_find_addr(inv, &c->addrs[j]),
					 c);
		for (j = 0; j < c->n_ports; j++)
			assert_ptr_equal(inventory_find_ifname(inv,
						c->ports[j].ifname), c);
	}
	assert_int_equal(i, inventory_count(inv));
}

/* Filled to the last entry before the tables grow (and past it), every
 * third removed — each a hole in some probe run — then put back. */
static void test_full_tables(void **state)
{
	static const unsigned sizes[] = { 1, 47, 48, 49, 96, 97, 1000 };
	struct inventory *inv;
	struct container *c;
	struct bh_addr a;
	char id[32];
	size_t s;
	unsigned k, n;

	(void)state;
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		n = sizes[s];
		inv = inventory_new();
		for (k = 0; k < n; k++)
			assert_int_equal(inventory_add(inv, mk(k, 1 + k % 3,
							     k % 2)), 0);
		check_all_found(inv);
		for (k = 0; k < n; k += 3) {
			snprintf(id, sizeof(id), "k%u", k);
			c = inventory_remove(inv, id);
			assert_non_null(c);
			assert_string_equal(c->id, id);
			container_free(c);
			assert_null(inventory_find(inv, id));
			ip(k * 4 + 1, &a);
			assert_null(inventory_find_addr(inv, &a));
			snprintf(id, sizeof(id), "p%u", k);
			assert_null(inventory_find_ifname(inv, id));
		}
		assert_int_equal(inventory_count(inv), n - (n + 2) / 3);
		check_all_found(inv);
		for (k = 0; k < n; k += 3)
			assert_int_equal(inventory_add(inv, mk(k, 1 + k % 3,
							     k % 2)), 0);
		assert_int_equal(inventory_count(inv), n);
		check_all_found(inv);
		inventory_free(inv);
	}
}

/* A deterministic walk of adds, removes and refused adds over a small key
 * space (so tables see every collision and removal pattern), compared
 * after each step with a list kept the documented way: appended on add,
 * the last one moved into the hole on removal. */
static void test_against_model(void **state)
{
	enum { KEYS = 200, STEPS = 20000 };
	struct container *model[KEYS], *c, *owner;
	struct inventory *inv = inventory_new();
	size_t n = 0, i, j;
	unsigned long x = 12345;
	unsigned step, k, naddr;
	struct bh_addr a;
	char id[32], name[IF_NAMESIZE];
	bool port, clash;
	int r;

	(void)state;
	for (step = 0; step < STEPS; step++) {
		x = x * 6364136223846793005ul + 1442695040888963407ul;
		k = (unsigned)(x >> 33) % KEYS;
		snprintf(id, sizeof(id), "k%u", k);
		for (i = 0; i < n && strcmp(model[i]->id, id); i++)
			;
		if (i < n && (x >> 20) % 2) {
			c = inventory_remove(inv, id);
			assert_ptr_equal(c, model[i]);
			model[i] = model[--n];
			container_free(c);
		} else if (i == n) {
			naddr = (unsigned)(x >> 40) % 4;
			port = (x >> 45) % 2;
			c = mk(k, naddr, port);
			/* now and then an address or a port of another key */
			if ((x >> 50) % 8 == 0) {
				ip(((unsigned)(x >> 24) % KEYS) * 4 + 1, &a);
				container_add_addr(c, &a);
			}
			if ((x >> 53) % 8 == 0) {
				/* a second port, another key's */
				snprintf(name, sizeof(name), "p%u",
					 (unsigned)(x >> 28) % KEYS);
				container_add_port(c, name);
			}
			clash = false;
			for (j = 0; j < c->n_addrs; j++)
				clash |= inventory_find_addr(inv,
							     &c->addrs[j]) !=
					 NULL;
			for (j = 0; j < c->n_ports; j++)
				clash |= inventory_find_ifname(inv,
						c->ports[j].ifname) != NULL;
			r = inventory_add(inv, c);
			assert_int_equal(r, clash ? -EADDRINUSE : 0);
			if (!r)
				model[n++] = c;
		} else {
			c = mk(k, 1, false);
			assert_int_equal(inventory_add(inv, c), -EEXIST);
		}
		assert_int_equal(inventory_count(inv), n);
		for (i = 0; i < n; i++)
			assert_ptr_equal(inventory_at(inv, i), model[i]);
		assert_null(inventory_at(inv, n));
		if (step % 16 == 0)
			check_all_found(inv);
		/* a free address and a free port are unknown */
		ip(KEYS * 4 + 7, &a);
		assert_null(inventory_find_addr(inv, &a));
		owner = inventory_find_ifname(inv, "p-none");
		assert_null(owner);
	}
	check_all_found(inv);
	inventory_free(inv);
}

/* Addresses that belong to others are refused however many ask, and the
 * refusals change nothing. */
static void test_shared_addresses_refused(void **state)
{
	struct inventory *inv = inventory_new();
	struct container *c;
	struct bh_addr a;
	char id[32];
	unsigned k;

	(void)state;
	for (k = 0; k < 500; k++)
		assert_int_equal(inventory_add(inv, mk(k, 2, true)), 0);
	for (k = 0; k < 2000; k++) {
		snprintf(id, sizeof(id), "other%u", k);
		c = container_new(id, "other");
		ip(k * 9 % 2000 + 5000 * 4, &a);	/* a free one first */
		container_add_addr(c, &a);
		ip((k % 500) * 4 + 1 + k % 2, &a);	/* then a taken one */
		container_add_addr(c, &a);
		assert_int_equal(inventory_add(inv, c), -EADDRINUSE);
		assert_null(inventory_find(inv, id));
	}
	assert_int_equal(inventory_count(inv), 500);
	for (k = 0; k < 2000; k++) {
		ip(k * 9 % 2000 + 5000 * 4, &a);
		assert_null(inventory_find_addr(inv, &a));
	}
	check_all_found(inv);
	inventory_free(inv);
}

static void test_container_storage(void **state)
{
	struct container *c, *d, *e;
	struct bh_addr a[3];
	size_t i;

	(void)state;
	c = container_new("abc", NULL);
	assert_string_equal(c->name, "abc");
	d = container_new("abc", "a name");
	assert_string_equal(d->id, "abc");
	assert_string_equal(d->name, "a name");
	container_free(d);
	for (i = 0; i < 3; i++) {
		ip(100 + (unsigned)i, &a[i]);
		container_add_addr(c, &a[i]);
		container_add_addr(c, &a[i]);	/* kept once */
		assert_int_equal(c->n_addrs, i + 1);
		assert_true(bh_addr_eq(&c->addrs[0], &a[0]));
		assert_true(bh_addr_eq(&c->addrs[i], &a[i]));
	}
	/* labels: a value is replaced, keys are kept in order */
	container_add_label(c, "bulkhead.purpose", "web");
	container_add_label(c, "team", "blue");
	container_add_label(c, "bulkhead.purpose", "db");
	assert_int_equal(c->n_labels, 2);
	assert_string_equal(c->labels[0].value, "db");
	assert_string_equal(c->labels[1].key, "team");
	d = container_dup(c);
	assert_string_equal(d->id, "abc");
	assert_int_equal(d->n_addrs, 3);
	assert_true(bh_addr_eq(&d->addrs[2], &a[2]));
	assert_int_equal(d->n_labels, 2);
	/* one copy of a string for every container that has it ... */
	assert_ptr_equal(d->labels[1].value, c->labels[1].value);
	/* ... but a change to one container is its own */
	container_add_label(d, "team", "red");
	assert_string_equal(c->labels[1].value, "blue");
	assert_string_equal(d->labels[1].value, "red");
	container_free(c);
	assert_string_equal(d->labels[0].key, "bulkhead.purpose");
	assert_string_equal(d->labels[1].value, "red");
	/* readdressing the way links.c does: rewrite in place, then add */
	d->n_addrs = 0;
	d->addrs[d->n_addrs++] = a[2];
	container_add_addr(d, &a[0]);
	assert_int_equal(d->n_addrs, 2);
	assert_true(bh_addr_eq(&d->addrs[0], &a[2]));
	assert_true(bh_addr_eq(&d->addrs[1], &a[0]));
	/* one address, dropped and another added */
	e = container_new("one", "one");
	container_add_addr(e, &a[0]);
	e->n_addrs = 0;
	container_add_addr(e, &a[1]);
	assert_int_equal(e->n_addrs, 1);
	assert_true(bh_addr_eq(&e->addrs[0], &a[1]));
	container_free(e);
	container_free(d);
	/* every string gone, then made again */
	c = container_new("x", NULL);
	container_add_label(c, "team", "blue");
	assert_string_equal(c->labels[0].value, "blue");
	container_free(c);
	container_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_tables),
		cmocka_unit_test(test_against_model),
		cmocka_unit_test(test_shared_addresses_refused),
		cmocka_unit_test(test_container_storage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

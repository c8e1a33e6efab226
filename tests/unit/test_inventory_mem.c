/* inventory.c at 100,000 containers of two shapes: every one is found
 * again by id, address and interface, a taken id, address or interface is
 * refused and changes nothing, and freeing the inventory gives back all
 * its heap (mallinfo2; the shared label strings too, which a leak checker
 * would not see). How many bytes a container takes is a figure of
 * tests/bench/inventory_mem (docs/benchmarks.md, "inventory memory"), not
 * a check here. Without glibc's allocator (ASan) the heap is not
 * checked. */
#include <errno.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "inventory.h"

#define N 100000

static size_t heap_used(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static void v4(unsigned long i, struct bh_addr *a)
{
	unsigned long x = i + 1;

	memset(a, 0, sizeof(*a));
	a->family = AF_INET;
	a->plen = 32;
	a->a[0] = 10;
	a->a[1] = (uint8_t)(x >> 16);
	a->a[2] = (uint8_t)(x >> 8);
	a->a[3] = (uint8_t)x;
}

/* The commit benchmark's container: short id = name, one label, one
 * address, a host-side interface. */
static struct container *bench_shape(unsigned long i)
{
	char id[32], label[32];
	struct container *c;
	struct bh_addr a;

	snprintf(id, sizeof(id), "c%lu", i);
	snprintf(label, sizeof(label), "g%lu", i % 10);
	c = container_new(id, id);
	container_add_label(c, "bulkhead.purpose", label);
	v4(i, &a);
	container_add_addr(c, &a);
	snprintf(c->ifname, sizeof(c->ifname), "v%lu", i);
	return c;
}

/* What an engine reports: a 64-hex id, a name, four labels (one unique),
 * an IPv4 and an IPv6 address, a host-side interface, the engine's URL. */
static struct container *engine_shape(unsigned long i)
{
	char id[CONTAINER_ID_MAX + 1], name[64], label[32];
	struct container *c;
	struct bh_addr a;

	snprintf(id, sizeof(id), "%016lx%016lx%016lx%016lx", i * 2654435761u,
		 i, ~i, i * 40503u);
	snprintf(name, sizeof(name), "project_service_%lu", i);
	snprintf(label, sizeof(label), "g%lu", i % 10);
	c = container_new(id, name);
	container_add_label(c, "bulkhead.purpose", label);
	container_add_label(c, "com.docker.compose.project", "project");
	container_add_label(c, "com.docker.compose.service", "service");
	/* one of a kind: a string shared by nobody */
	snprintf(label, sizeof(label), "%08lx", i * 2654435761u);
	container_add_label(c, "com.docker.compose.config-hash", label);
	v4(i, &a);
	container_add_addr(c, &a);
	a.family = AF_INET6;
	a.plen = 128;
	a.a[0] = 0xfd;
	container_add_addr(c, &a);
	snprintf(c->ifname, sizeof(c->ifname), "veth%lx", i);
	c->source = SRC_ENGINE;
	c->engine = strdup("unix:///run/podman/podman.sock");
	return c;
}

/* n containers of one shape, every one found again by id, address and
 * interface; taken ones refused; all the heap back after the free. */
static void fill_find_free(struct container *(*mk)(unsigned long))
{
	struct inventory *inv;
	struct container *c;
	size_t before, i;
	struct bh_addr a;
	char ifname[IF_NAMESIZE];

	before = heap_used();
	inv = inventory_new();
	for (i = 0; i < N; i++)
		assert_int_equal(inventory_add(inv, mk(i)), 0);
	assert_int_equal(inventory_count(inv), N);
	for (i = 0; i < N; i += 97) {
		c = inventory_at(inv, i);
		assert_ptr_equal(inventory_find(inv, c->id), c);
		assert_ptr_equal(inventory_find_ifname(inv, c->ifname), c);
		v4(i, &a);
		assert_ptr_equal(inventory_find_addr(inv, &a), c);
		/* taken: refused, and the inventory is unchanged */
		c = mk(i);
		assert_int_equal(inventory_add(inv, c), -EEXIST);
		c = mk(N + 1 + i);
		c->addrs[0] = a;
		snprintf(c->ifname, sizeof(c->ifname), "other");
		assert_int_equal(inventory_add(inv, c), -EADDRINUSE);
	}
	c = mk(N);
	snprintf(ifname, sizeof(ifname), "%s", inventory_at(inv, 5)->ifname);
	memcpy(c->ifname, ifname, sizeof(ifname));
	assert_int_equal(inventory_add(inv, c), -EADDRINUSE);
	assert_int_equal(inventory_count(inv), N);
	inventory_free(inv);
#ifndef __SANITIZE_ADDRESS__
	/* everything back, the shared label strings too (reachable from a
	 * static, so a leak checker would not tell): up to what glibc's
	 * per-thread cache holds (at most 7 chunks of each of 64 sizes,
	 * counted as in use); the unique strings alone are 3 MiB */
	assert_in_range(heap_used(), 0, before + (512 << 10));
#else
	(void)before;
#endif
}

static void test_full_inventory(void **state)
{
	(void)state;
	fill_find_free(bench_shape);
	fill_find_free(engine_shape);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_inventory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

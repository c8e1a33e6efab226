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
#include "../bench/shapes.h"

#define N 100000

/* the commit benchmark's shape at its 10 groups */
static struct container *shape_bench_10(unsigned long i)
{
	return shape_bench(i, 10);
}

static size_t heap_used(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
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
		assert_ptr_equal(inventory_find_ifname(inv,
						       container_ifname(c)), c);
		shape_v4(i, &a);
		assert_ptr_equal(inventory_find_addr(inv, &a), c);
		/* taken: refused, and the inventory is unchanged */
		c = mk(i);
		assert_int_equal(inventory_add(inv, c), -EEXIST);
		c = mk(N + 1 + i);
		c->addrs[0] = a;
		container_set_port(c, "other");
		assert_int_equal(inventory_add(inv, c), -EADDRINUSE);
	}
	c = mk(N);
	snprintf(ifname, sizeof(ifname), "%s",
		 container_ifname(inventory_at(inv, 5)));
	container_add_port(c, ifname);
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
	fill_find_free(shape_bench_10);
	fill_find_free(shape_engine);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_inventory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

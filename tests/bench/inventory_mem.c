/* Heap per container in the inventory (enforcer/inventory.c): the figure
 * that was a memory budget in tests/unit/test_inventory_mem.c, which now
 * checks lookups, refusals and that every byte comes back. glibc's
 * mallinfo2 around filling an inventory of N containers of two shapes
 * (the same as the test's):
 *   benchmark  tests/bench/commit.c's container: short id = name, one
 *              label, one IPv4 address, a host-side interface
 *   engine     what an engine reports: a 64-hex id, a name, four labels
 *              (one unique), an IPv4 and an IPv6 address, an interface,
 *              the engine's URL
 * and the time per inventory_add. Medians over R rounds, each a new
 * inventory (the heap figure hardly moves; the time does).
 *
 *   inventory_mem [--containers N] [--rounds R]
 *
 * Needs no privileges; needs glibc's allocator (not an ASan build). */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bench_util.h"
#include "inventory.h"
#include "shapes.h"

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

/* One round, as the test fills it: heap bytes per container (whatever
 * container_new and inventory_add keep) into *bytes, seconds per
 * container (make one, add it) into *add. */
static void fill(struct container *(*mk)(unsigned long), unsigned long n,
		 double *bytes, double *add)
{
	struct inventory *inv;
	size_t before, after;
	unsigned long i;
	double t0;

	before = heap_used();
	t0 = bench_now();
	inv = inventory_new();
	for (i = 0; i < n; i++)
		if (inventory_add(inv, mk(i)) < 0) {
			fprintf(stderr, "inventory_mem: add %lu refused\n", i);
			exit(2);
		}
	*add = (bench_now() - t0) / (double)n;
	after = heap_used();
	if (inventory_count(inv) != n) {
		fprintf(stderr, "inventory_mem: %zu containers, not %lu\n",
			inventory_count(inv), n);
		exit(2);
	}
	inventory_free(inv);
	*bytes = (double)(after - before) / (double)n;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		struct container *(*mk)(unsigned long);
	} shapes[] = {
		{ "benchmark shape", shape_bench_10 },
		{ "engine shape", shape_engine },
	};
	unsigned long n = 100000;
	int rounds = 5, i, r;
	double *bytes, *add, med_b[2], med_t[2];
	size_t s;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--containers") && i + 1 < argc)
			n = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: inventory_mem [--containers N]"
				" [--rounds R]\n");
			return 2;
		}
	}
#ifdef __SANITIZE_ADDRESS__
	fprintf(stderr, "inventory_mem: an ASan build; mallinfo2 does not see "
		"its heap, use the plain build\n");
	return 2;
#endif
	if (rounds < 1)
		rounds = 1;
	if (n < 1)
		n = 1;
	bytes = calloc((size_t)rounds, sizeof(double));
	add = calloc((size_t)rounds, sizeof(double));
	if (!bytes || !add)
		return 2;
	printf("inventory memory: %lu containers, %d rounds; medians\n", n,
	       rounds);
	printf("%-18s %14s %10s %14s\n", "", "heap B/cont.", "MiB",
	       "make+add ns");
	for (s = 0; s < 2; s++) {
		for (r = 0; r < rounds; r++)
			fill(shapes[s].mk, n, &bytes[r], &add[r]);
		med_b[s] = bench_pct(bytes, (size_t)rounds, 0.5);
		med_t[s] = bench_pct(add, (size_t)rounds, 0.5);
		printf("%-18s %14.0f %10.1f %14.0f\n", shapes[s].name,
		       med_b[s], med_b[s] * (double)n / (1 << 20),
		       med_t[s] * 1e9);
		fflush(stdout);
	}
	printf("inventory memory: %.0f bytes of heap per container "
	       "(benchmark shape), %.0f (engine shape), at %lu\n", med_b[0],
	       med_b[1], n);
	free(bytes);
	free(add);
	return 0;
}

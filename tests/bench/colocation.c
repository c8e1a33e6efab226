/* What co-location costs an attach and a detach (docs/benchmarks.md,
 * "co-location"): with settings.colocation, the daemon asks
 * colocation_arrival() before an attach and colocation_decide() plus
 * colocation_changes() after each attach and detach, each reading every
 * container's levels once. Pure: no kernel, no daemon.
 *   build/tests/bench/colocation [--rounds N]
 * prints, per inventory size, p50/p99 of one arrival check and of one
 * decision (with every level present, a quarter of them held). */
#include <stdio.h>
#include <string.h>

#include "bench_util.h"
#include "colocation.h"

static const char text[] =
	"version: 1\n"
	"settings:\n"
	"  colocation: { mode: enforce, forbid: [[restricted, low], [restricted, unset]] }\n"
	"groups:\n"
	"  web: { match: { purpose: web }, sensitivity: low }\n"
	"  api: { match: { purpose: api }, sensitivity: moderate }\n"
	"  db: { match: { purpose: database }, sensitivity: restricted }\n"
	"flows:\n"
	"  - { from: [web, api], to: db, ports: [tcp/1] }\n";

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 100, 1000, 10000, 100000 };
	static const char *const purposes[] = { "web", "api", "database",
						"other" };
	unsigned rounds = 50, r;
	struct diags d = { 0 };
	struct policy *p;
	size_t s, i;

	if (argc == 3 && !strcmp(argv[1], "--rounds"))
		rounds = (unsigned)atoi(argv[2]);
	if (!rounds)
		rounds = 1;
	p = policy_load_buf("bench.yaml", text, strlen(text), &d);
	if (!p) {
		diags_print(&d, stderr);
		return 2;
	}
	printf("%-10s %14s %14s %14s %14s\n", "containers", "arrival p50",
	       "arrival p99", "decide p50", "decide p99");
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		struct inventory *inv = inventory_new();
		double *ta = calloc(rounds, sizeof(double));
		double *td = calloc(rounds, sizeof(double));
		struct container *probe;
		char id[32];

		for (i = 0; i < sizes[s]; i++) {
			struct container *c;
			struct bh_addr a;

			snprintf(id, sizeof(id), "c%zu", i);
			c = container_new(id, id);
			container_add_label(c, "bulkhead.purpose",
					    purposes[i % 4]);
			a.family = AF_INET;
			a.plen = 32;
			a.a[0] = 10;
			a.a[1] = (uint8_t)(i >> 16);
			a.a[2] = (uint8_t)(i >> 8);
			a.a[3] = (uint8_t)i;
			container_add_addr(c, &a);
			c->since_ms = 1000 + i;
			container_classify(c, p);
			if (inventory_add(inv, c) < 0)
				return 2;
		}
		colocation_mark(p, inv);
		probe = container_new("probe", "probe");
		container_add_label(probe, "bulkhead.purpose", "web");
		probe->since_ms = 1000 + sizes[s];
		container_classify(probe, p);
		for (r = 0; r < rounds; r++) {
			struct colo_change *ch;
			struct colo_result res;
			double t0 = bench_now();

			colocation_arrival(p, inv, probe);
			ta[r] = bench_now() - t0;
			t0 = bench_now();
			colocation_decide(p, inv, &res);
			colocation_changes(p, inv, &res, &ch);
			td[r] = bench_now() - t0;
			free(ch);
			colo_result_free(&res);
		}
		printf("%-10zu %11.3f ms %11.3f ms %11.3f ms %11.3f ms\n",
		       sizes[s], bench_pct(ta, rounds, 0.5) * 1e3,
		       bench_pct(ta, rounds, 0.99) * 1e3,
		       bench_pct(td, rounds, 0.5) * 1e3,
		       bench_pct(td, rounds, 0.99) * 1e3);
		container_free(probe);
		inventory_free(inv);
		free(ta);
		free(td);
	}
	policy_free(p);
	diags_free(&d);
	return 0;
}

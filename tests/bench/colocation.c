/* What co-location costs an attach and a detach (docs/benchmarks.md,
 * "co-location"): with settings.colocation, the daemon asks
 * colocation_arrival() before an attach and colocation_decide() plus
 * colocation_changes() after each attach and detach, each reading every
 * container's levels once. Pure: no kernel, no daemon.
 *   build/tests/bench/colocation [--rounds N]
 * prints, per inventory size, p50/p99 of one arrival check and of one
 * decision (with every level present, a quarter of them held): the scan
 * the daemon ran on every attach and detach before the index, and what
 * it runs now (colocation_arrival_index + colocation_update) for an
 * attach of the latest container and its detach. */
#include <stdio.h>
#include <stdlib.h>
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

static void apply(struct colo_change *ch, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		ch[i].c->colo = ch[i].to;
	free(ch);
}

/* as daemon_attach: the arrival check, the add, the update; the
 * seconds spent in co-location (not in inventory_add) */
static double attach_latest(struct colo_index *x, const struct policy *p,
			    struct inventory *inv, struct container *c,
			    uint64_t since)
{
	struct colo_change *ch;
	struct colo_result res;
	double t0 = bench_now(), t;
	size_t n;

	c->since_ms = since;
	c->colo = colocation_arrival_index(x, p, inv, c);
	t = bench_now() - t0;
	if (inventory_add(inv, c) < 0)
		exit(2);
	t0 = bench_now();
	n = colocation_update(x, p, inv, c, &res, &ch);
	apply(ch, n);
	colo_result_free(&res);
	return t + bench_now() - t0;
}

/* as daemon_detach: the remove, the update; the container back */
static struct container *detach(struct colo_index *x, const struct policy *p,
				struct inventory *inv, const char *id,
				double *secs)
{
	struct container *c = inventory_remove(inv, id);
	struct colo_change *ch;
	struct colo_result res;
	double t0 = bench_now();
	size_t n;

	n = colocation_update(x, p, inv, NULL, &res, &ch);
	apply(ch, n);
	colo_result_free(&res);
	*secs = bench_now() - t0;
	c->colo = COLO_NONE;
	return c;
}

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
	printf("%-10s %14s %14s %14s %14s %14s %14s %14s %14s\n",
	       "containers", "arrival p50", "arrival p99", "decide p50",
	       "decide p99", "idx att p50", "idx att p99", "idx det p50",
	       "idx det p99");
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		struct inventory *inv = inventory_new();
		double *ta = calloc(rounds, sizeof(double));
		double *td = calloc(rounds, sizeof(double));
		double *tia = calloc(rounds, sizeof(double));
		double *tid = calloc(rounds, sizeof(double));
		struct colo_index x = { 0 };
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
		/* the daemon's index is built by the first change after a
		 * start or reload (one scan); time the changes after it */
		attach_latest(&x, p, inv, probe, 999 + sizes[s]);
		probe = detach(&x, p, inv, "probe", &tid[0]);
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
		/* the daemon's attach and detach with the index (a loop of
		 * their own: the scans above would empty the caches) */
		for (r = 0; r < rounds; r++) {
			tia[r] = attach_latest(&x, p, inv, probe,
					       1000 + sizes[s] + r);
			probe = detach(&x, p, inv, "probe", &tid[r]);
		}
		printf("%-10zu %11.3f ms %11.3f ms %11.3f ms %11.3f ms "
		       "%11.4f ms %11.4f ms %11.4f ms %11.4f ms\n",
		       sizes[s], bench_pct(ta, rounds, 0.5) * 1e3,
		       bench_pct(ta, rounds, 0.99) * 1e3,
		       bench_pct(td, rounds, 0.5) * 1e3,
		       bench_pct(td, rounds, 0.99) * 1e3,
		       bench_pct(tia, rounds, 0.5) * 1e3,
		       bench_pct(tia, rounds, 0.99) * 1e3,
		       bench_pct(tid, rounds, 0.5) * 1e3,
		       bench_pct(tid, rounds, 0.99) * 1e3);
		fprintf(stderr, "%zu: index %llu fast, %llu scans\n", sizes[s],
			(unsigned long long)x.n_fast,
			(unsigned long long)x.n_scans);
		free(tia);
		free(tid);
		container_free(probe);
		inventory_free(inv);
		free(ta);
		free(td);
	}
	policy_free(p);
	diags_free(&d);
	return 0;
}

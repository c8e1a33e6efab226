/* What the labels in the records cost, and what a replay costs
 * (docs/benchmarks.md, "labels in records and diff"). Pure: no kernel.
 *   build/tests/bench/record_labels [--rounds N]
 * 1. one container's labels as JSON (flowlog_labels_json), 8 labels: what
 *    a denied flow's aggregate pays once, and what flowobs's per-container
 *    copy saves per connection;
 * 2. flowobs NEW + DESTROY of one connection between two of 1,000
 *    containers, with no labels and with 8 labels each;
 * Times are the process's CPU time (the machine is shared).
 * 3. replay_add + two replay_judge of 100,000 allow records over 1,000
 *    containers (10,000 observations): bulkheadctl diff's work after
 *    reading the files. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "flowlog.h"
#include "flowobs.h"
#include "replay.h"

#define N_CONT 1000

/* CPU time, not wall time: the machine is shared, and this is pure CPU */
static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char text[] =
	"version: 1\n"
	"groups:\n"
	"  web: { match: { purpose: web } }\n"
	"  api: { match: { purpose: api } }\n"
	"flows:\n"
	"  - { from: web, to: api, ports: [tcp/8080] }\n";

static void sink(const struct flowobs_rec *r, void *arg)
{
	json_decref(flowobs_rec_json(r));
}

static struct inventory *mkinv(const struct policy *p, unsigned n_labels)
{
	struct inventory *inv = inventory_new();
	char id[32], k[32], v[32];
	struct container *c;
	struct bh_addr a;
	unsigned i, l;

	for (i = 0; i < N_CONT; i++) {
		snprintf(id, sizeof(id), "c%u", i);
		c = container_new(id, id);
		snprintf(v, sizeof(v), "10.%u.%u.1", i / 250, i % 250);
		bh_addr_parse(v, false, &a);
		container_add_addr(c, &a);
		if (n_labels)
			container_add_label(c, "bulkhead.purpose",
					    i % 2 ? "api" : "web");
		for (l = 1; l < n_labels; l++) {
			snprintf(k, sizeof(k), "com.example.key%u", l);
			snprintf(v, sizeof(v), "value-%u-%u", l, i % 7);
			container_add_label(c, k, v);
		}
		container_classify(c, p);
		inventory_add(inv, c);
	}
	return inv;
}

static double events(const struct policy *p, unsigned n_labels,
		     unsigned rounds)
{
	struct inventory *inv = mkinv(p, n_labels);
	struct flowobs_opts o = { .emit = sink };
	struct flowobs *fo = flowobs_new(&o, 1000);
	struct flowobs_event e = { .proto = IPPROTO_TCP, .has_port = true,
				   .dport = 8080, .wall_ms = 1000 };
	unsigned i, n = rounds * 2000;
	double t0, t;

	flowobs_set_context(fo, p, inv);
	t0 = cpu_now();
	for (i = 0; i < n; i++) {
		unsigned s = (i * 2) % N_CONT, d = (i * 2 + 1) % N_CONT;
		char buf[32];

		snprintf(buf, sizeof(buf), "10.%u.%u.1", s / 250, s % 250);
		bh_addr_parse(buf, false, &e.src);
		snprintf(buf, sizeof(buf), "10.%u.%u.1", d / 250, d % 250);
		bh_addr_parse(buf, false, &e.dst);
		e.id = i + 1;
		e.destroy = false;
		flowobs_event(fo, &e);
		e.destroy = true;
		flowobs_event(fo, &e);
		if (i % 10000 == 9999)
			flowobs_flush(fo, 1000 + i);
	}
	flowobs_flush(fo, 1000 + n);
	t = (cpu_now() - t0) / n;
	flowobs_free(fo);
	inventory_free(inv);
	return t;
}

static double replay_cost(const struct policy *p, size_t *n_obs)
{
	struct replay *rp = replay_new();
	char buf[1024];
	unsigned i;
	double t0, t;
	json_t *r;

	t0 = cpu_now();
	for (i = 0; i < 100000; i++) {
		unsigned s = i % N_CONT, d = (i / N_CONT) % 10;

		snprintf(buf, sizeof(buf),
			 "{\"event\":{\"action\":\"allow\",\"start\":"
			 "\"2026-11-20T10:00:00.000Z\",\"end\":"
			 "\"2026-11-20T10:00:01.000Z\"},\"network\":{"
			 "\"transport\":\"tcp\",\"iana_number\":\"6\"},"
			 "\"source\":{\"group\":\"web\",\"container\":{\"id\":"
			 "\"c%u\",\"name\":\"c%u\"},\"labels\":{"
			 "\"bulkhead.purpose\":\"web\",\"bulkhead.n\":\"%u\"}},"
			 "\"destination\":{\"group\":\"api\",\"port\":%u,"
			 "\"container\":{\"id\":\"d\",\"name\":\"d\"},"
			 "\"labels\":{\"bulkhead.purpose\":\"api\"}},"
			 "\"bulkhead\":{\"record\":\"flow\",\"connections\":1,"
			 "\"packets\":10}}", s, s, s, 8080 + d);
		r = json_loads(buf, 0, NULL);
		replay_add(rp, r);
		json_decref(r);
	}
	replay_sort(rp);
	replay_judge(rp, p, REPLAY_NOW);
	replay_judge(rp, p, REPLAY_CANDIDATE);
	t = cpu_now() - t0;
	*n_obs = rp->n;
	replay_free(rp);
	return t;
}

int main(int argc, char **argv)
{
	unsigned rounds = 50, r;
	struct diags d = { 0 };
	struct policy *p;
	struct inventory *inv;
	double t0, build;
	size_t n_obs;

	if (argc == 3 && !strcmp(argv[1], "--rounds"))
		rounds = (unsigned)atoi(argv[2]);
	if (!rounds)
		rounds = 1;
	p = policy_load_buf("bench.yaml", text, strlen(text), &d);
	diags_free(&d);
	if (!p)
		return 2;
	inv = mkinv(p, 8);
	t0 = cpu_now();
	for (r = 0; r < rounds * 2000; r++)
		json_decref(flowlog_labels_json(inventory_at(inv, r % N_CONT)));
	build = (cpu_now() - t0) / (rounds * 2000);
	inventory_free(inv);
	printf("labels as JSON, 8 labels:          %8.0f ns per container\n",
	       build * 1e9);
	printf("flowobs NEW+DESTROY, no labels:    %8.0f ns per connection\n",
	       events(p, 0, rounds) * 1e9);
	printf("flowobs NEW+DESTROY, 8 labels:     %8.0f ns per connection\n",
	       events(p, 8, rounds) * 1e9);
	t0 = replay_cost(p, &n_obs);
	printf("replay of 100,000 records:         %8.3f s (%zu observations, "
	       "judged twice)\n", t0, n_obs);
	policy_free(p);
	return 0;
}

/* dp_observe: bulkheadd's allowed-flow observer (observe.c, the same code
 * and settings the daemon runs) alone, for the data-plane benchmark's
 * "observations on" configurations: it follows the conntrack events of
 * the current network namespace, attributes them against POLICY and
 * INVENTORY (the benchmark's 1,000 groups / 10,000 containers) and writes
 * its records to OUT, until SIGTERM; then prints its status line.
 *
 *   dp_observe POLICY INVENTORY OUT
 * Prints "ready" once it listens. Exit 0, or 2 on bad input. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "ev.h"
#include "inventory.h"
#include "log.h"
#include "observe.h"
#include "policy.h"

static struct policy *pol;
static struct inventory *inv;

static const struct policy *get_policy(void *arg)
{
	return pol;
}

static const struct inventory *get_inventory(void *arg)
{
	return inv;
}

static void on_term(int signo, void *arg)
{
	ev_stop(arg);
}

int main(int argc, char **argv)
{
	struct observe_opts o = {
		.policy = get_policy, .inventory = get_inventory,
	};
	struct diags dg = { 0 };
	struct ev_loop *loop;
	struct observe *ob;
	char *err = NULL, *s;
	struct rusage ru;
	json_t *st;

	if (argc != 4) {
		fprintf(stderr, "usage: dp_observe POLICY INVENTORY OUT\n");
		return 2;
	}
	log_init("dp_observe", LOG_TO_STDERR, 0);
	pol = policy_load(argv[1], &dg);
	if (!pol || dg.n_errors) {
		diags_print(&dg, stderr);
		return 2;
	}
	diags_free(&dg);
	inv = inventory_load(argv[2], &err);
	if (!inv) {
		fprintf(stderr, "dp_observe: %s\n", err);
		return 2;
	}
	inventory_classify(inv, pol);
	loop = ev_new();
	ev_add_signal(loop, SIGTERM, on_term, loop);
	ev_add_signal(loop, SIGINT, on_term, loop);
	o.path = argv[3];
	if (observe_start(loop, &o, &ob) < 0)
		return 2;
	printf("ready\n");
	fflush(stdout);
	ev_run(loop);
	st = observe_status_json(ob);
	/* its own CPU, to set against the events it handled */
	getrusage(RUSAGE_SELF, &ru);
	json_object_set_new(st, "cpu_us", json_integer(
		(json_int_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
		ru.ru_utime.tv_usec + ru.ru_stime.tv_usec));
	s = json_dumps(st, JSON_COMPACT);
	printf("%s\n", s);
	free(s);
	json_decref(st);
	observe_stop(ob);
	ev_free(loop);
	inventory_free(inv);
	policy_free(pol);
	return 0;
}

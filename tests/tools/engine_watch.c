/* engine_watch: runs the Engine API source (and optionally the link
 * watcher) on a real event loop against a real engine, standing in for
 * bulkheadd's inventory: every attach and detach the sources ask for is
 * applied to an inventory and printed as one JSON line on stdout.
 *   engine_watch [--inventory FILE] [--links] [--engine unix:///PATH]...
 * SIGUSR1 prints {"status":[...],"lookups":N} (docker_status_json per
 * engine; N counts the sources' inventory calls: an inspect answer
 * the Engine API source acts on reads it even when it changes nothing, so
 * a test can tell that an answer was handled, not just asked for);
 * SIGUSR2 makes every engine list and reconcile (docker_resync);
 * SIGTERM/SIGINT stop. Lets the sources be tested before and apart from
 * the daemon: this is a struct source_sink (source.h) of its own. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "docker.h"
#include "ev.h"
#include "inventory.h"
#include "links.h"
#include "log.h"
#include "source.h"
#include "util.h"

struct watch {
	struct ev_loop *loop;
	struct inventory *inv;
};

static struct docker *engines[8];
static size_t n_engines;
static unsigned long n_lookups;

static void emit(json_t *o)
{
	json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	fflush(stdout);
	json_decref(o);
}

static int watch_attach(void *arg, struct container *c, char **err)
{
	struct watch *d = arg;
	struct container *old;
	int r;

	*err = NULL;
	old = inventory_remove(d->inv, c->id);
	r = inventory_add(d->inv, c);
	if (r < 0) {
		*err = xasprintf("inventory: %s", strerror(-r));
		if (old)
			inventory_add(d->inv, old);
		return r;
	}
	container_free(old);
	/* print the entry in the inventory's own JSON form */
	emit(json_pack("{s:s, s:o}", "event", "attach", "container",
		       container_to_json(inventory_find(d->inv, c->id))));
	return 0;
}

static int watch_detach_many(void *arg, char *const *ids, size_t n,
			     char **err)
{
	struct watch *d = arg;
	struct container *c;
	size_t i;

	*err = NULL;
	for (i = 0; i < n; i++)
		if (!inventory_find(d->inv, ids[i]))
			return -ENOENT;
	for (i = 0; i < n; i++) {
		c = inventory_remove(d->inv, ids[i]);
		emit(json_pack("{s:s, s:s}", "event", "detach", "id", ids[i]));
		container_free(c);
	}
	return 0;
}

static const struct inventory *watch_inventory(void *arg)
{
	const struct watch *d = arg;

	n_lookups++;
	return d->inv;
}

static const struct policy *watch_policy(void *arg)
{
	return NULL;
}

static void on_stop(int signo, void *arg)
{
	ev_stop(((struct watch *)arg)->loop);
}

static void on_status(int signo, void *arg)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < n_engines; i++)
		json_array_append_new(arr, docker_status_json(engines[i]));
	emit(json_pack("{s:o, s:I}", "status", arr, "lookups",
		       (json_int_t)n_lookups));
}

/* Containers known before the sources start (the daemon's state file). */
static bool seed(struct watch *d, const char *path)
{
	struct inventory *inv;
	struct container *c;
	char *err = NULL;

	inv = inventory_load(path, &err);
	if (!inv) {
		fprintf(stderr, "engine_watch: %s\n", err);
		free(err);
		return false;
	}
	while ((c = inventory_at(inv, 0)))
		inventory_add(d->inv, inventory_remove(inv, c->id));
	inventory_free(inv);
	return true;
}

static void on_resync(int signo, void *arg)
{
	size_t i;

	for (i = 0; i < n_engines; i++)
		docker_resync(engines[i]);
}

int main(int argc, char **argv)
{
	struct watch d = { 0 };
	struct source_sink sink = {
		.attach = watch_attach,
		.detach_many = watch_detach_many,
		.inventory = watch_inventory,
		.policy = watch_policy,
		.arg = &d,
	};
	struct links *links = NULL;
	bool want_links = false;
	int i, r, ret = 2;

	log_init("engine_watch", LOG_TO_STDERR, 1);
	signal(SIGPIPE, SIG_IGN);	/* as bulkheadd does */
	d.loop = ev_new();
	d.inv = inventory_new();
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--links")) {
			want_links = true;
		} else if (!strcmp(argv[i], "--inventory") && i + 1 < argc) {
			if (!seed(&d, argv[++i]))
				goto out;
		} else if (!strcmp(argv[i], "--engine") && i + 1 < argc &&
			   n_engines < ARRAY_SIZE(engines)) {
			r = docker_start(d.loop, argv[++i], &sink,
					 &engines[n_engines]);
			if (r < 0) {
				fprintf(stderr, "engine_watch: %s: %s\n",
					argv[i], strerror(-r));
				goto out;
			}
			n_engines++;
		} else {
			fprintf(stderr, "usage: engine_watch [--inventory FILE] "
				"[--links] [--engine unix:///PATH]...\n");
			goto out;
		}
	}
	if (want_links && (r = links_start(d.loop, &sink, &links)) < 0) {
		fprintf(stderr, "engine_watch: links: %s\n", strerror(-r));
		goto out;
	}
	ev_add_signal(d.loop, SIGTERM, on_stop, &d);
	ev_add_signal(d.loop, SIGINT, on_stop, &d);
	ev_add_signal(d.loop, SIGUSR1, on_status, &d);
	ev_add_signal(d.loop, SIGUSR2, on_resync, &d);
	emit(json_pack("{s:s}", "event", "ready"));
	ret = ev_run(d.loop) < 0 ? 1 : 0;
out:
	links_stop(links);
	while (n_engines)
		docker_stop(engines[--n_engines]);
	inventory_free(d.inv);
	ev_free(d.loop);
	return ret;
}

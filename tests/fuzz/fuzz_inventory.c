/* libFuzzer harness for inventory JSON (the state file, `--inventory`
 * files): any bytes give an inventory or an error naming the entry, and
 * what loads survives a dump and a reload unchanged (each container's
 * ports with the same addresses, its port ranges in order). Each element
 * is also read as a control-socket attach request (container_from_json,
 * CJ_ATTACH), the daemon's reading of `bulkheadctl attach`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "inventory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The ports' ranges tile the front of addrs, in port order. */
static void check_ports(const struct container *c)
{
	size_t k, end = 0;

	for (k = 0; k < c->n_ports; k++) {
		if (c->ports[k].first != end)
			abort();
		end += c->ports[k].n;
	}
	if (end > c->n_addrs || c->n_ports > CONTAINER_PORTS_MAX ||
	    c->n_addrs > CONTAINER_ADDRS_MAX)
		abort();
}

static void as_requests(const uint8_t *data, size_t size)
{
	json_t *root = json_loadb((const char *)data, size, 0, NULL), *o;
	struct container *c;
	char *err;
	size_t i;

	json_array_foreach(root, i, o) {
		c = container_from_json(o, CJ_ATTACH, &err);
		if (!c && !err)
			abort();	/* a refusal must say why */
		if (c && (!c->id[0] || !c->name[0]))
			abort();
		if (c)
			check_ports(c);
		container_free(c);
		free(err);
	}
	json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct inventory *inv, *again;
	const struct container *c, *d;
	char *err = NULL, *text;
	size_t i;

	as_requests(data, size);
	inv = inventory_from_json((const char *)data, size, &err);
	if (!inv) {
		if (!err)
			abort();	/* a refusal must say why */
		free(err);
		return 0;
	}
	text = inventory_to_json(inv);
	again = inventory_from_json(text, strlen(text), &err);
	if (!again || inventory_count(again) != inventory_count(inv))
		abort();	/* what we write we must read back */
	for (i = 0; (c = inventory_at(inv, i)); i++) {
		d = inventory_find(again, c->id);
		check_ports(c);
		if (!d || d->n_addrs != c->n_addrs ||
		    !container_same_ports(c, d))
			abort();
	}
	inventory_free(again);
	inventory_free(inv);
	free(text);
	return 0;
}

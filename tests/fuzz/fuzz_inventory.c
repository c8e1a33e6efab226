/* libFuzzer harness for inventory JSON (the state file, `--inventory`
 * files): any bytes give an inventory or an error naming the entry, and
 * what loads survives a dump and a reload unchanged in size. Each element
 * is also read as a control-socket attach request (container_from_json,
 * CJ_ATTACH), the daemon's reading of `bulkheadctl attach`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "inventory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
		container_free(c);
		free(err);
	}
	json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct inventory *inv, *again;
	char *err = NULL, *text;

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
	inventory_free(again);
	inventory_free(inv);
	free(text);
	return 0;
}

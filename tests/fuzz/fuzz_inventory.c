/* libFuzzer harness for inventory JSON (the state file, `--inventory`
 * files): any bytes give an inventory or an error naming the entry, and
 * what loads survives a dump and a reload unchanged in size. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inventory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct inventory *inv, *again;
	char *err = NULL, *text;

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

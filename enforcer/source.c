/* What every container source shares (source.h): the one-id detach. */

#include "source.h"

int source_detach(const struct source_sink *s, const char *id, char **err)
{
	char *ids[] = { (char *)id };

	return s->detach_many(s->arg, ids, 1, err);
}

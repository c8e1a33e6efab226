/* What every container source shares (source.h): the one-id detach and
 * the status's "last error". */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "source.h"

int source_detach(const struct source_sink *s, const char *id, char **err)
{
	char *ids[] = { (char *)id };

	return s->detach_many(s->arg, ids, 1, err);
}

const char *source_vset_error(char **last, const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) < 0)
		return NULL;
	free(*last);
	*last = s;
	return s;
}

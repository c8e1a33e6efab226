/* Elastic Common Schema output: one of our records (docs/denied-flows.md,
 * the JSON object the daemon writes) in, one ECS document out, so that a
 * SIEM ingests it without a pipeline. The same function serves
 * `bulkheadd --record-format ecs` (the daemon converts what it writes)
 * and `bulkheadctl denials --format ecs` (the tool converts what it reads
 * from the file). Pure: no I/O, no policy; every ECS field comes from the
 * record. Fields a record has that ECS has no place for stay under
 * `bulkhead.*`, so records of kinds added later pass through. */
#ifndef BULKHEAD_ECS_H
#define BULKHEAD_ECS_H

#include <stdbool.h>

#include <jansson.h>

/* The ECS release whose field reference the output was checked against
 * (tests/ecs/fields.txt). */
#define ECS_VERSION "8.11.0"

enum record_format { RECORD_FORMAT_JSON, RECORD_FORMAT_ECS };

/* "json" or "ecs"; false for anything else. */
bool ecs_parse_format(const char *s, enum record_format *f);

/* A new ECS document for record rec (not changed, not taken), or NULL
 * when rec is not an object with an "event" object. */
json_t *ecs_from_record(const json_t *rec);

/* Whether o is an ECS document of ours (it has ecs.version and a
 * bulkhead object), as a file written with --record-format ecs holds. */
bool ecs_is_doc(const json_t *o);
/* The record an ECS document of ours was made from (new reference), so
 * that the tool filters and prints such a file as it does ours; NULL when
 * doc is not one. ecs_to_record(ecs_from_record(r)) equals r. */
json_t *ecs_to_record(const json_t *doc);

#endif

/* One JSON-lines record file and the ring of its recent records, as both
 * of bulkheadd's record streams use them (denied.c: denied flows,
 * observe.c: allowed-flow observations): open O_APPEND 0640 (directory
 * 0750 when missing), reopen by name on SIGUSR1 for logrotate, a write
 * error counted and logged once while the record still reaches the ring,
 * and the ring read by the control socket's --follow ops. */
#ifndef BULKHEAD_RECFILE_H
#define BULKHEAD_RECFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* the ring of recent records, a limit of docs/limits.md */
#define RECFILE_RING_DEFAULT 1024

struct recfile_opts {
	const char *path;
	const char *what;	/* "denied flows": the log messages' subject */
	size_t ring_size;	/* 0 = RECFILE_RING_DEFAULT */
	bool journald;		/* the records also go to journald (said in
				 * the write-error message) */
	bool ecs;		/* the file gets each record as an Elastic
				 * Common Schema document (ecs.h); the ring
				 * keeps bulkhead's own */
};

struct recfile;

/* Returns 0 or -errno (the file cannot be opened; logged). */
int recfile_open(const struct recfile_opts *o, struct recfile **out);
void recfile_close(struct recfile *rf);		/* NULL is fine */
/* Opens the file by name again, then closes the old descriptor: records
 * are written synchronously, so none is lost across the swap. On failure
 * the old descriptor stays in use. */
int recfile_reopen(struct recfile *rf);
/* Takes rec: one line in the file, then into the ring as record seq.
 * packets: what the record counts, for the note of a gap when the file
 * could not take it (a full disk; docs/denied-flows.md). */
void recfile_put(struct recfile *rf, json_t *rec, uint64_t seq,
		 uint64_t packets);
/* Records the file could not take so far, and their packets. */
void recfile_unwritten(const struct recfile *rf, uint64_t *records,
		       uint64_t *packets);
/* {"seq": LAST, "records": [records with a seq above after_seq],
 *  "missed": N, "ring": SIZE}: missed counts those above after_seq that
 *  the ring no longer holds (a follower too slow; the file has them all,
 *  docs/limits.md) */
json_t *recfile_recent_json(const struct recfile *rf, uint64_t after_seq);
const char *recfile_path(const struct recfile *rf);
uint64_t recfile_last_seq(const struct recfile *rf);
uint64_t recfile_write_errors(const struct recfile *rf);

#endif

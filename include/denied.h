/* The daemon's denied-flow pipeline, as bulkheadd's main loop sees it:
 * NFLOG reader (nflog.c) -> attribution and aggregation (flowlog.c) ->
 * JSON lines + journald + a ring of recent records. Implemented in
 * enforcer/denied.c; only bulkheadd links it. */
#ifndef BULKHEAD_DENIED_H
#define BULKHEAD_DENIED_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

struct denied;
struct ev_loop;
struct inventory;
struct metrics;
struct nft_counts;
struct policy;

struct denied_opts {
	const char *path;	/* JSON-lines file, created 0640 */
	uint16_t nflog_group;	/* the group the deny chains log to */
	bool journald;		/* also send each record to journald */
	bool ecs;		/* the file gets ECS documents (ecs.h); the
				 * ring and journald keep our records */
	size_t ring_size;	/* recent records kept for --follow */
	/* not owned, may be NULL: every counter reading is noted there
	 * (the daemon's last known counts, see nft.h) */
	struct nft_counts *counts;
	/* not owned, may be NULL: every record's packets are counted there
	 * per (source group, destination group, action) */
	struct metrics *metrics;
	/* the daemon's policy (NULL: none in force) and inventory of the
	 * moment, asked at each use (no container source: it only reads) */
	const struct policy *(*policy)(void *arg);
	const struct inventory *(*inventory)(void *arg);
	void *arg;
};

/* Opens the file, binds the NFLOG group in the daemon's network namespace
 * and registers its fd and timers on loop. The aggregation window comes
 * from o->policy at each use. */
int denied_start(struct ev_loop *loop, const struct denied_opts *o,
		 struct denied **out);
/* Flushes every open aggregate as a record, then closes. NULL is fine. */
void denied_stop(struct denied *dn);
/* SIGUSR1 (logrotate): reopen the file by name; no record is lost. */
int denied_reopen(struct denied *dn);
/* Writes a record that is not a denied flow (co-location) into the same
 * stream: the next seq, the file, journald (its "message") and the ring.
 * Takes o. */
void denied_note(struct denied *dn, json_t *o);
/* Counters for `bulkheadctl status`: records, packets, unlogged, lost. */
json_t *denied_status_json(const struct denied *dn);
/* NFLOG messages lost and records the file could not take, so far. */
void denied_losses(const struct denied *dn, uint64_t *nflog,
		   uint64_t *file);
/* Records in the ring with a sequence number above after_seq:
 * {"seq": LAST, "records": [ ... ], "missed": N, "ring": SIZE} (bulkheadctl
 * denials --follow); missed counts those above after_seq that the ring no
 * longer holds. */
json_t *denied_recent_json(const struct denied *dn, uint64_t after_seq);

#endif

/* The daemon's durable inventory in --state-dir: a snapshot
 * (inventory.json, the format of inventory_to_json, replaced atomically)
 * plus a journal (inventory.journal, one JSON line per attach or detach,
 * appended and fdatasync'd before the change is acknowledged). A change
 * costs one short append whatever the number of containers; the snapshot
 * is rewritten when the journal has grown past the inventory's size, so
 * the total stays linear. Replay is idempotent (attach replaces by id,
 * detach of an unknown id is nothing), which makes a crash between the
 * snapshot's rename and the journal's truncation harmless. */
#ifndef BULKHEAD_STATE_H
#define BULKHEAD_STATE_H

#include <jansson.h>

#include "inventory.h"

struct ev_loop;

#define STATE_SNAPSHOT "inventory.json"
#define STATE_JOURNAL "inventory.journal"

struct state;

/* Creates dir (0750) when missing, loads the snapshot, replays the
 * journal (a torn last line, from a crash in mid-append, is dropped with
 * a warning; anything else that does not parse is an error naming the
 * file and line), then compacts. *inv gets the inventory (caller owns).
 * Returns 0 or -errno with *err (caller frees). */
int state_open(const char *dir, struct inventory **inv, struct state **out,
	       char **err);
/* The inventory dir's snapshot and journal describe, read-only: nothing
 * is created, compacted or locked (bulkheadctl verify --policy, beside a
 * daemon that may be writing). A torn last journal line is dropped as at
 * start-up. 0 or -errno with *err (caller frees); *inv (caller owns). */
int state_read(const char *dir, struct inventory **inv, char **err);
/* Record that c (as now in inv) was attached or updated / that id was
 * detached. Compacts from inv when the journal is long. 0 or -errno. */
int state_attach(struct state *s, const struct inventory *inv,
		 const struct container *c);
int state_detach(struct state *s, const struct inventory *inv,
		 const char *id);
/* Rewrite the snapshot from inv and empty the journal. 0 or -errno. */
int state_compact(struct state *s, const struct inventory *inv);
const char *state_path(const struct state *s);	/* the snapshot's path */
/* A write that fails (a full disk) leaves the state "not saved": the
 * journal is cut back to its last whole line, the next change writes a
 * snapshot instead of an append, and with state_watch a timer on loop
 * retries the snapshot of inv (which must outlive s) every 2 s until one
 * succeeds. 0 or -errno. */
int state_watch(struct state *s, struct ev_loop *loop,
		const struct inventory *inv);
/* {"saved", "error", "since", "failed_writes"} */
json_t *state_status_json(const struct state *s);
void state_close(struct state *s);	/* NULL is fine */

#endif

/* The one writer of the `inet bulkhead` table: libnftnl objects from the
 * ruleset model, sent with libmnl as one batch per transaction, with
 * NETLINK_EXT_ACK, a send buffer sized to the batch, and every ACK read.
 * A failing message is mapped back to the object it built (and, for rules,
 * the YAML location it came from). */
#ifndef BULKHEAD_NFT_H
#define BULKHEAD_NFT_H

#include <stdbool.h>
#include <stdint.h>

#include "ruleset.h"

struct nft_writer;

struct nft_error {
	int err;		/* -errno from the kernel or the socket */
	char msg[512];		/* what failed: "add rule in_db: ... (groups/x.yaml:12:5)" */
};

/* Opens a NETLINK_NETFILTER socket in the caller's network namespace. */
int nft_open(struct nft_writer **out);
void nft_close(struct nft_writer *w);	/* NULL is fine */

/* 1 when table inet bulkhead exists, 0 when not, -errno on error. */
int nft_table_exists(struct nft_writer *w);
/* The netlink port the writer sends from (its changes' notifications
 * carry it). */
uint32_t nft_portid(const struct nft_writer *w);
/* The ruleset's generation (one more per committed transaction). 0 or
 * -errno. */
int nft_generation(struct nft_writer *w, uint32_t *gen);

/* The last known counts of named counters, by table and name: what a
 * full commit creates them with, so that replacing the table (a reload, a
 * restore after tampering, a restart) does not reset the evidence. */
struct nft_counts;

struct nft_counts *nft_counts_new(void);
void nft_counts_free(struct nft_counts *c);	/* NULL is fine */
/* Remember one reading (an nft_counter_cb: arg is the nft_counts). */
void nft_counts_note(const char *name, enum rs_table table,
		     uint64_t packets, uint64_t bytes, void *arg);
/* False (and 0, 0) when c has no such counter. */
bool nft_counts_get(const struct nft_counts *c, const char *name,
		    enum rs_table table, uint64_t *packets, uint64_t *bytes);
/* After rs was committed with c: forget every counter rs does not have
 * (a group that is gone takes its counts with it). */
void nft_counts_keep(struct nft_counts *c, const struct ruleset *rs);

/* Replace the whole table in ONE transaction: delete the old table (when
 * present) and add every object of rs in the same batch, so no packet
 * ever meets an empty or half-built table. Each named counter starts at
 * its value in counts (0 when absent or counts is NULL). On error
 * nothing changed in the kernel.
 * inv, when not NULL, is the inventory rs was built from: the model's
 * copy of each set's elements is given back as soon as the batch holds
 * them and put back from inv once the batch is sent (ruleset_refill), so
 * the process never holds both at once (about 7 MiB at 100,000
 * containers in 1,000 groups). rs is whole again on return, whatever the
 * outcome. */
int nft_commit_full(struct nft_writer *w, struct ruleset *rs,
		    const struct nft_counts *counts,
		    const struct inventory *inv, struct nft_error *e);

/* Add/remove set and map elements in one batch. On error nothing changed. */
int nft_commit_delta(struct nft_writer *w, const struct ruleset *rs,
		     const struct rs_delta *d, struct nft_error *e);

/* Delete the table (bulkheadd --flush-on-exit). Absent is not an error. */
int nft_delete_table(struct nft_writer *w, struct nft_error *e);

/* Exact kernel counts of every named counter of our tables (denied_*,
 * unlogged_*, spoofed_*): cb once per counter. 0 or -errno. */
typedef void (*nft_counter_cb)(const char *name, enum rs_table table,
			       uint64_t packets, uint64_t bytes, void *arg);
int nft_read_counters(struct nft_writer *w, nft_counter_cb cb, void *arg);

/* nft_commit_delta returns -ENOSPC (and changes nothing) when a set would
 * outgrow the size it was created with: ruleset_build again (it sizes sets
 * from their contents with headroom) and nft_commit_full. */

/* For tests and the benchmark: build the full batch without sending it,
 * and the bytes of the last batch built (valid until the next call;
 * nft_commit_full gives its batch back once sent, so none after it). */
int nft_build_full(struct nft_writer *w, const struct ruleset *rs,
		   const struct nft_counts *counts);
const void *nft_last_batch(const struct nft_writer *w, size_t *len);

#endif

/* Watches the kernel's nftables notifications (NFNLGRP_NFTABLES) for
 * changes to bulkhead's own tables made by anyone but the daemon's writer:
 * `nft flush ruleset` from a firewall reload, an admin's `nft delete
 * table` or an inserted `accept`. Each such transaction is reported once,
 * when the kernel announces its generation, naming the process that made
 * it; the daemon then puts its table back. */
#ifndef BULKHEAD_NFTMON_H
#define BULKHEAD_NFTMON_H

#include <stdbool.h>
#include <stdint.h>

struct ev_loop;
struct nft_writer;
struct nftmon;

/* who: "pid 1234 (nft)" or what is known of the change. uncertain: the
 * change could not be seen (notifications were lost, or other
 * transactions ran while the monitor was paused); the caller checks
 * rather than assumes. */
typedef void (*nftmon_cb)(const char *who, bool uncertain, void *arg);

/* w: the writer whose changes are ours (it also reads the generation).
 * 0 or -errno with *err (caller frees). */
int nftmon_open(struct ev_loop *l, struct nft_writer *w, nftmon_cb cb,
		void *arg, struct nftmon **out, char **err);
void nftmon_close(struct nftmon *m);	/* NULL is fine */

/* Around the daemon's own full commits: while listening, the kernel would
 * build a notification for every element of the new table. pause() judges
 * what is queued, stops listening and reads the generation; resume()
 * listens again, reads it again and reports, as uncertain, any
 * transaction besides ours (committed: whether ours went in) that
 * happened in between. NULL is fine for both. */
void nftmon_pause(struct nftmon *m);
void nftmon_resume(struct nftmon *m, bool committed);

#endif

/* Allowed-flow observations: conntrack's NEW and DESTROY events of the
 * connections with a container at one end or both, aggregated per
 * (source group, destination group, protocol, destination port) per
 * window into records with connections, packets and bytes. Pure: events
 * and time come in as arguments, records go out through a callback, so
 * the unit tests drive it without a kernel. observe.c feeds it from
 * ctnetlink. Schema: docs/observability.md. */
#ifndef BULKHEAD_FLOWOBS_H
#define BULKHEAD_FLOWOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "inventory.h"
#include "policy.h"
#include "util.h"

#define FLOWOBS_MAX_CONNS_DEFAULT 65536
#define FLOWOBS_NAMES_MAX 16	/* container names listed per side */

/* One conntrack event. src is the original direction's source (who
 * opened the connection), dst the peer that answers (the reply
 * direction's source: the container behind a DNAT). */
struct flowobs_event {
	bool destroy;			/* false: NEW */
	uint32_t id;			/* conntrack id */
	uint64_t wall_ms;
	struct bh_addr src, dst;
	uint8_t proto;
	bool has_port;			/* tcp, udp, udplite, sctp */
	uint16_t dport;
	uint64_t packets, bytes;	/* DESTROY: both directions (needs
					 * nf_conntrack_acct=1), else 0 */
};

struct flowobs_side {
	const char *group;
	bool one_addr;			/* every connection had this address */
	struct bh_addr addr;
	const char *container_id;	/* when every connection had one and
					 * the same container on this side */
	const char *container_name;
	const char *const *names;	/* distinct container names, first
					 * FLOWOBS_NAMES_MAX */
	size_t n_names;
	/* the labels every container of this side had when its
	 * connections opened (flowlog_labels_json): one set, since the
	 * aggregate's key keeps sets apart; NULL when no container (or on
	 * a collision of two sets' hashes) */
	json_t *labels;
};

struct flowobs_rec {
	uint64_t seq;			/* 1, 2, ... per instance */
	uint64_t start_ms, end_ms;	/* first and last event */
	uint64_t emit_ms;
	uint8_t proto;
	uint8_t family;			/* AF_INET/AF_INET6; 0 when mixed */
	bool has_port;
	uint16_t dport;
	struct flowobs_side src, dst;
	uint64_t connections;		/* NEW events in the window */
	uint64_t ended;			/* DESTROY events in the window */
	uint64_t packets, bytes;	/* of the connections that ended */
	uint64_t lost;			/* events found lost by a resync since
					 * the last record that carried them */
	/* why, as denied records say it (docs/denied-flows.md, "The
	 * rule"): the allowing flow's "file:line" as explain names it for
	 * the window's first connection; NULL when it names none */
	const char *rule;
	const char *policy_hash;	/* of the policy in force; NULL: none */
	const char *host_name;		/* NULL when not known */
	bool ingress;			/* the destination is a container here */
};

typedef void (*flowobs_emit_cb)(const struct flowobs_rec *r, void *arg);

struct flowobs_opts {
	uint32_t window_ms;		/* 0: the policy's settings.log.window */
	size_t max_conns;		/* 0 = FLOWOBS_MAX_CONNS_DEFAULT */
	flowobs_emit_cb emit;
	void *arg;
};

struct flowobs_stats {
	uint64_t events;		/* NEW + DESTROY handed in */
	uint64_t ignored;		/* no container at either end */
	uint64_t connections, ended, packets, bytes;
	uint64_t records;
	uint64_t untracked;		/* NEW that found the table full */
	uint64_t lost_new;		/* resync: open, never seen NEW */
	uint64_t lost_destroy;		/* resync: gone, never seen DESTROY */
	size_t tracked, max_conns;
	size_t aggregates;
};

struct flowobs;

struct flowobs *flowobs_new(const struct flowobs_opts *o, uint64_t now_ms);
void flowobs_free(struct flowobs *fo);		/* NULL is fine */
/* The policy and inventory attribution uses from now on (may be NULL;
 * must stay valid until the next call). */
void flowobs_set_context(struct flowobs *fo, const struct policy *p,
			 const struct inventory *inv);
void flowobs_event(struct flowobs *fo, const struct flowobs_event *e);
/* Resync after lost events: begin, every entry of a conntrack dump as
 * a NEW event, end. Tracked connections the dump lacks ended unseen
 * (lost DESTROY); dumped ones not tracked began unseen (lost NEW) and
 * count as connections. count=false (the baseline at start) only starts
 * tracking what is open, as nothing was lost. */
void flowobs_resync_begin(struct flowobs *fo, bool count);
void flowobs_resync_end(struct flowobs *fo);
/* Ends the window when now_ms reached its end: one record per aggregate.
 * Returns the ms until the current window ends. */
uint64_t flowobs_tick(struct flowobs *fo, uint64_t now_ms);
void flowobs_flush(struct flowobs *fo, uint64_t now_ms);
void flowobs_get_stats(const struct flowobs *fo, struct flowobs_stats *s);
uint32_t flowobs_window_ms(const struct flowobs *fo);

/* The record as a JSON object (schema FLOWLOG_SCHEMA), new reference. */
json_t *flowobs_rec_json(const struct flowobs_rec *r);

#endif

/* bulkheadd's allowed-flow observations: conntrack's NEW and DESTROY
 * events of the daemon's network namespace (ctnetlink: subscribed and
 * dumped through libnetfilter_conntrack, each message read by
 * ctevent.c) -> flowobs.c (per group pair, protocol and
 * port, per window) -> JSON lines (recfile.c, --flow-log) and a ring of
 * recent records for `bulkheadctl flows --follow`. Turns conntrack
 * accounting on (net.netfilter.nf_conntrack_acct=1) in that namespace,
 * so the records carry packets and bytes. Lost events (ENOBUFS) are
 * counted, logged once, and followed by a resync from a conntrack dump.
 * It asks its owner for the policy and inventory through callbacks and
 * never calls the daemon by name: the data-plane benchmark runs it
 * without one. Docs: docs/observability.md. */
#ifndef BULKHEAD_OBSERVE_H
#define BULKHEAD_OBSERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ev.h"
#include "inventory.h"
#include "policy.h"

struct metrics;

#define OBSERVE_PATH_DEFAULT "/var/log/bulkhead/flows.jsonl"

struct observe_opts {
	const char *path;		/* JSON-lines file; NULL: the default */
	size_t ring_size;		/* 0: recfile's default */
	uint32_t rcvbuf;		/* 0: 8 MiB; grows on ENOBUFS */
	uint32_t rcvbuf_max;		/* 0: 64 MiB */
	/* the policy and inventory of the moment; both may return NULL,
	 * and what they return must stay valid for a few seconds after
	 * it is replaced (the daemon retires a policy after 3 s) */
	const struct policy *(*policy)(void *arg);
	const struct inventory *(*inventory)(void *arg);
	void *arg;
	/* not owned, may be NULL: each record's connections are counted
	 * there per (source group, destination group) */
	struct metrics *metrics;
	bool ecs;			/* the file holds ECS documents */
};

struct observe;

/* Opens the file, subscribes to conntrack's NEW and DESTROY events in
 * the caller's network namespace, tracks the connections already open
 * (a dump) and registers on loop. 0 or -errno (logged). */
int observe_start(struct ev_loop *loop, const struct observe_opts *o,
		  struct observe **out);
/* Emits every aggregate of the window as a record, then closes. NULL is
 * fine. */
void observe_stop(struct observe *ob);
/* SIGUSR1 (logrotate): reopen the file by name. */
int observe_reopen(struct observe *ob);
json_t *observe_status_json(const struct observe *ob);
/* conntrack events found lost by a resync, so far */
uint64_t observe_lost(const struct observe *ob);
/* {"seq": LAST, "records": [ ... ]} (bulkheadctl flows --follow). */
json_t *observe_recent_json(const struct observe *ob, uint64_t after_seq);

#endif

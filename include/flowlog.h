/* Denied-flow aggregation: attributes each logged packet to containers
 * and groups, aggregates per (src addr, dst addr, proto, dst port, deny
 * rule) per window, and turns the result into records (JSON lines). Pure:
 * time comes in as arguments, records go out through a callback, so the
 * unit tests drive it without a kernel. Schema: docs/denied-flows.md. */
#ifndef BULKHEAD_FLOWLOG_H
#define BULKHEAD_FLOWLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "inventory.h"
#include "nflog.h"
#include "policy.h"
#include "util.h"

#define FLOWLOG_SCHEMA 1
#define FLOWLOG_MAX_FLOWS_DEFAULT 65536
#define FLOWLOG_WINDOW_DEFAULT_MS 10000

enum flowlog_dir { FL_DIR_IN, FL_DIR_OUT, FL_DIR_SPOOF };
enum flowlog_action { FL_ACT_DENY, FL_ACT_WOULD_DENY, FL_ACT_QUARANTINE,
		      FL_ACT_SPOOF };

/* What the log prefix "bh/<dir>/<group>/<deny|audit>" says; a boundary's
 * drop, "bh/boundary/<name>/deny", is dir in with no group (both sides
 * are found by address) and the boundary's name. */
struct flowlog_rule {
	enum flowlog_dir dir;
	bool audit;
	char group[POLICY_NAME_MAX + 1];
	char boundary[POLICY_NAME_MAX + 1];	/* "" when not a boundary */
	/* "boundary/<name>": a boundary's rule.name (flowlog_rule_name) */
	char boundary_rule[POLICY_NAME_MAX + sizeof("boundary/")];
};

bool flowlog_parse_prefix(const char *s, struct flowlog_rule *r);
/* Same for the kernel's counter names "denied_<dir>_<group>",
 * "unlogged_<dir>_<group>", "spoofed_<group>" (the bridge table's),
 * "boundary_<name>" and "unlogged_boundary_<name>" (a boundary's, as its
 * log prefix): *unlogged says which kind it is. */
bool flowlog_parse_counter(const char *name, struct flowlog_rule *r,
			   bool *unlogged);

enum flowlog_kind {
	FL_REC_FLOW,		/* logged packets of one flow */
	FL_REC_UNLOGGED,	/* packets the kernel's rate limit did not log */
	FL_REC_OVERFLOW,	/* packets of flows that found no free aggregate */
	FL_REC_LOSS,		/* lost NFLOG messages and nothing else to carry
				 * them */
};

struct flowlog_side {
	bool has_addr;
	struct bh_addr addr;
	bool has_port;
	uint16_t port;
	const char *group;		/* NULL when not known */
	const char *container_id;	/* NULL when not a container */
	const char *container_name;
	const char *sensitivity;	/* the group's; NULL when unset */
	const char *container_host;	/* another host's container (etcd) */
	/* the container's labels when the flow was first seen, an object
	 * of full keys (flowlog_labels_json); NULL when not a container */
	json_t *labels;
};

struct flowlog_rec {
	uint64_t seq;			/* 1, 2, ... per flowlog instance */
	enum flowlog_kind kind;
	enum flowlog_action action;
	enum flowlog_dir dir;
	uint64_t start_ms, end_ms;	/* wall clock, first and last packet */
	uint64_t emit_ms;		/* @timestamp */
	uint8_t proto;			/* 0 for unlogged/overflow/loss */
	bool has_icmp;
	uint8_t icmp_type, icmp_code;
	struct flowlog_side src, dst;
	uint64_t packets, bytes;
	uint64_t unlogged;		/* FL_REC_UNLOGGED */
	uint64_t lost;			/* NFLOG messages lost since the last
					 * record that carried a loss */
	bool first;			/* the at-once record of a new flow */
	/* why: flowlog_rule_name(); NULL on overflow and loss records */
	const char *rule;
	const char *policy_hash;	/* of the policy in force; NULL: none */
	const char *host_name;		/* NULL when not known */
};

typedef void (*flowlog_emit_cb)(const struct flowlog_rec *r, void *arg);

struct flowlog_opts {
	uint32_t window_ms;		/* 0 = FLOWLOG_WINDOW_DEFAULT_MS */
	size_t max_flows;		/* 0 = FLOWLOG_MAX_FLOWS_DEFAULT */
	flowlog_emit_cb emit;
	void *arg;
	const char *host_name;		/* copied; NULL: records name no host */
};

struct flowlog_stats {
	uint64_t records;
	uint64_t packets;		/* logged packets seen */
	uint64_t bytes;
	uint64_t unlogged;		/* reported by flowlog_unlogged */
	uint64_t lost;			/* reported by flowlog_lost */
	uint64_t overflow;		/* packets that found no aggregate */
	uint64_t unparsed;		/* packets with a foreign log prefix */
	size_t flows;			/* open aggregates now */
	size_t max_flows;
};

struct flowlog;

/* now_ms: wall clock; the first window starts there. */
struct flowlog *flowlog_new(const struct flowlog_opts *o, uint64_t now_ms);
void flowlog_free(struct flowlog *fl);	/* NULL is fine; emits nothing */

/* The policy and inventory attribution uses from now on (both may be NULL
 * and must stay valid until the next call). Rebuilds the index of cidrs
 * groups; a NULL policy keeps window_ms as it is. */
void flowlog_set_context(struct flowlog *fl, const struct policy *p,
			 const struct inventory *inv);
/* The group of address a as the records attribute it: its container's
 * (then *c is that container), else the cidrs group of the longest
 * prefix holding it, else world. NULL without a policy. The allowed-flow
 * observations (flowobs.c) attribute through this too. */
const char *flowlog_attribute_addr(const struct flowlog *fl,
				   const struct bh_addr *a,
				   const struct container **c);

/* One logged packet. A flow not seen in this or the previous window is
 * emitted at once (first=true, packets=1); its later packets are summed
 * into the record emitted at the window's end. Packets whose prefix is
 * not ours are counted in stats.unparsed and otherwise ignored. */
void flowlog_packet(struct flowlog *fl, const struct nflog_pkt *p);
/* n NFLOG messages were lost: carried by the next record (or a loss
 * record at the window's end). */
void flowlog_lost(struct flowlog *fl, uint64_t n);
/* The next record sequence number, for a record another module writes
 * into the same stream (co-location records): no gaps either way. */
uint64_t flowlog_seq_next(struct flowlog *fl);
/* n packets of rule r were not logged because of the kernel's rate limit,
 * counted between start_ms and end_ms: emitted at once as one record. */
void flowlog_unlogged(struct flowlog *fl, const struct flowlog_rule *r,
		      uint64_t n, uint64_t start_ms, uint64_t end_ms);
/* Ends the window when now_ms reached its end: emits every aggregate with
 * packets, forgets flows idle for a whole window. Returns the ms until
 * the current window ends. */
uint64_t flowlog_tick(struct flowlog *fl, uint64_t now_ms);
/* Emits every aggregate with packets and any pending loss now. */
void flowlog_flush(struct flowlog *fl, uint64_t now_ms);
void flowlog_get_stats(const struct flowlog *fl, struct flowlog_stats *s);
uint32_t flowlog_window_ms(const struct flowlog *fl);

/* A container's labels as the records carry them ("labels": an object
 * of full keys, prefix included), so that a replay under another policy
 * (bulkheadctl diff) classifies it as it was when seen, also after it is
 * gone. New reference; built once per flow aggregate, not per packet. */
json_t *flowlog_labels_json(const struct container *c);
/* The record's "rule" {name, ruleset} and "host" {name}, which denied and
 * allow records (flowobs.c) share; NULLs are left out. */
void flowlog_why_json(json_t *o, const char *rule, const char *policy_hash,
		      const char *host_name);
/* The record as a JSON object (schema FLOWLOG_SCHEMA), new reference. */
/* What both record kinds open with (schema 1): @timestamp, schema and
 * event (kind, category, type — taken —, dataset, action unless NULL,
 * start, end); and one side's object (ip, port, group, sensitivity,
 * container, labels), for flowobs.c's allow records too. */
json_t *flowlog_head_json(uint64_t emit_ms, json_t *type,
			  const char *dataset, const char *action,
			  uint64_t start_ms, uint64_t end_ms);
json_t *flowlog_side_json(const struct flowlog_side *s);
json_t *flowlog_rec_json(const struct flowlog_rec *r);
const char *flowlog_action_str(enum flowlog_action a);
const char *flowlog_dir_str(enum flowlog_dir d);
/* The rule a deny chain judged by, as `bulkheadctl explain` names it
 * (explain_rule_name): "spoofed" for the bridge table's drops, then
 * "quarantine" and "unassigned" for those groups' chains, else
 * "default-deny" (no declared flow matched; audit mode included). */
const char *flowlog_rule_name(const struct flowlog_rule *r);
/* ECS network.direction as seen from this host: "ingress" for a
 * destination's chain (in), "egress" for a source's (out, spoof). */
const char *flowlog_direction_str(enum flowlog_dir d);
const char *flowlog_kind_str(enum flowlog_kind k);
/* "tcp", "udp", "sctp", "icmp", "ipv6-icmp", or the number as text. */
const char *flowlog_proto_str(uint8_t proto, char buf[8]);

#endif

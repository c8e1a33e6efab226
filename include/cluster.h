/* Several hosts through etcd (docs/cluster.md). Each daemon publishes its
 * own containers, one key per address, and one host key, all bound to one
 * lease per host that it keeps alive every TTL/3 (its id kept in the state
 * dir, so a restart within the TTL reuses it and changes nothing for the
 * other hosts). It watches the whole prefix and hands the other hosts'
 * containers (SRC_REMOTE, host set, no interface: no anti-spoofing port)
 * to the daemon, which puts them in the same sets as its own.
 *
 * Fail closed: when etcd cannot be reached the remote containers the
 * daemon has stay as they are, and the status says stale and since when;
 * a new remote container is then unknown to this host (its packets meet
 * the world rules). After a compaction (or a reconnect) the prefix is read
 * again at one revision and the whole remote membership swapped in one
 * kernel transaction.
 *
 * The cluster talks to the daemon only through struct source_sink
 * (source.h), as every container source does, never through daemon.h. */
#ifndef BULKHEAD_CLUSTER_H
#define BULKHEAD_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "etcd.h"
#include "source.h"

struct container;
struct cluster;
struct ev_loop;
struct inventory;
struct policy;

#define CLUSTER_PREFIX_DEFAULT "/bulkhead/v1/"
#define CLUSTER_TTL_DEFAULT 60
#define CLUSTER_TXN_MAX 128		/* operations per etcd transaction */

struct cluster_opts {
	struct etcd_opts etcd;
	const char *host_name;		/* NULL: gethostname() */
	const char *prefix;		/* NULL: CLUSTER_PREFIX_DEFAULT */
	unsigned ttl;			/* seconds; 0: CLUSTER_TTL_DEFAULT */
	const char *state_dir;		/* keeps the lease id; NULL: not kept */
};

/* Checks the options (-EINVAL with *err, caller frees) and starts from
 * the event loop: lease, read, watch, publish. etcd not reachable is not
 * an error here (it is retried). */
int cluster_start(struct ev_loop *l, const struct cluster_opts *o,
		  const struct source_sink *sink, struct cluster **out,
		  char **err);
/* Stops talking to etcd. The lease is left to its TTL (a restart within
 * it takes it back) and the remote containers stay. NULL is fine. */
void cluster_stop(struct cluster *c);

/* The local containers or the policy changed: publish what differs
 * (soon, from the loop, coalescing a burst). */
void cluster_local_changed(struct cluster *c);

/* The cluster part of `bulkheadctl status`: endpoints, state, stale
 * since, revision, lease, remote endpoints per group and per host,
 * warnings (a host with another policy hash). */
json_t *cluster_status_json(const struct cluster *c);
/* `bulkheadctl hosts`: [{name, containers, policy_hash, version,
 * lease_ttl_s, updated, self, policy_differs, levels}]; levels is the
 * host's own count of its containers per sensitivity level, null from
 * a host that does not publish it */
json_t *cluster_hosts_json(const struct cluster *c);

/* The hash of a policy the host key carries: FNV-1a 64 of its normalised
 * print (policy_print) without file names and locations, so the same
 * policy in other files, formatted otherwise, hashes the same. */
void cluster_policy_hash(const struct policy *p, char out[17]);

#endif

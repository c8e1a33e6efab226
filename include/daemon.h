/* What the daemon's container sources (control socket, Engine API, CNI
 * through the control socket, the link watcher) and the denied-flow reader
 * may ask of the daemon. One writer owns the netlink socket and the batch:
 * every change to the kernel goes through these calls. */
#ifndef BULKHEAD_DAEMON_H
#define BULKHEAD_DAEMON_H

#include "ev.h"
#include "inventory.h"
#include "policy.h"

#include <jansson.h>

struct daemon;

/* Takes ownership of c. Classifies it, commits only its set/map elements
 * in one batch, then records it in the state file. A known id is a
 * relabel/readdress: old elements out, new in, same batch.
 * Returns 0 or -errno with *err (caller frees) saying why. */
int daemon_attach(struct daemon *d, struct container *c, char **err);
/* Unknown id: -ENOENT. */
int daemon_detach(struct daemon *d, const char *id, char **err);
/* Detach several containers in one kernel transaction (the link watcher's
 * reconcile after a restart may find thousands gone). All ids must be
 * known (-ENOENT otherwise); on error nothing changed. */
int daemon_detach_many(struct daemon *d, char *const *ids, size_t n,
		       char **err);

const struct policy *daemon_policy(const struct daemon *d);
const struct inventory *daemon_inventory(const struct daemon *d);
struct ev_loop *daemon_loop(struct daemon *d);

/* ---- bulkheadd's own life cycle (main.c) ---- */
#include <stdint.h>

struct daemon_opts {
	const char *policy_path;	/* a file, or a directory of *.yaml */
	const char *socket_path;
	const char *state_dir;		/* state.h: snapshot + journal */
	const char *denied_log;
	const char *flow_log;		/* NULL: no allowed-flow observations */
	bool record_ecs;		/* --record-format ecs: both logs */
	uint16_t nflog_group;
	bool flush_on_exit;		/* delete the table at SIGTERM */
	bool journald;			/* log and records go to journald */
	const char *const *engines;	/* Engine API URLs to follow */
	size_t n_engines;
	/* --guard-ports: ruleset_opts.guard_ports */
	const char *const *guard_ports;
	size_t n_guard_ports;
	/* --metrics-file: Prometheus textfile (metrics.h), NULL: none;
	 * rewritten every metrics_interval_s seconds */
	const char *metrics_file;
	unsigned metrics_interval_s;
	/* --etcd and friends (cluster.h); NULL: one host */
	const struct cluster_opts *cluster;
	/* --verify-interval: compare the kernel with the model this often
	 * (seconds; 0: never), and put back what differs */
	unsigned verify_interval_s;
};

/* Start-up in the order of docs/daemon.md: the engines' URLs (a bad or
 * repeated one fails here; they are first contacted once the loop runs),
 * policy, state file, bridge sysctls, one full commit (atomic replace,
 * never a flush), control socket, denied-flow pipeline, link watcher,
 * READY=1. Returns 0, or -errno with *err (caller frees); the kernel keeps
 * whatever table it had when start-up fails. */
int daemon_new(const struct daemon_opts *o, struct daemon **out, char **err);
/* Follow one more Docker/Podman engine (docker.h) at url, e.g.
 * unix:///run/podman/podman.sock; each has its own connection, backoff
 * and stale flag. -EINVAL: not a unix:// URL; -EEXIST: already followed. */
int daemon_start_engine(struct daemon *d, const char *url);
/* Several hosts (cluster.h): publish this host's containers in etcd and
 * enforce the other hosts' as well. The lease id is kept in the state
 * dir. -EINVAL with *err (caller frees) for bad options. */
struct cluster_opts;
int daemon_start_cluster(struct daemon *d, const struct cluster_opts *o,
			 char **err);
/* The event loop until SIGTERM or SIGINT. 0 or -errno. */
int daemon_run(struct daemon *d);
/* Leaves the table enforcing unless flush_on_exit. NULL is fine. */
void daemon_free(struct daemon *d);

/* Loads the policy again and replaces the table in one transaction, then
 * cuts the flows it no longer allows. A policy with errors changes
 * nothing: *errors gets one "file:line:col: error: ..." string per
 * finding (new reference, may be NULL). trigger: "SIGHUP", "inotify",
 * "control". */
int daemon_reload(struct daemon *d, const char *trigger, json_t **errors,
		  char **err);

#endif

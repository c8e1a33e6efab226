/* bulkheadd's life cycle, as main.c drives it. The daemon's insides are
 * include/daemon_priv.h (daemon.c and daemon_ops.c only); the container
 * sources (Engine API, the control socket's attach and detach, the link
 * watcher, etcd) reach it through include/source.h, never through this
 * file. One writer owns the netlink socket and the batch: every change to
 * the kernel goes through daemon.c. */
#ifndef BULKHEAD_DAEMON_H
#define BULKHEAD_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct daemon;

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

/* How a container source tells the daemon what runs on the host (and on
 * the others). The sources are the Engine API (docker.c), the control
 * socket's attach and detach, which CNI's bulkhead-cni and bulkheadctl
 * send (daemon_ops.c), the link watcher (links.c) and the other hosts
 * through etcd (cluster.c). Each is handed a struct source_sink at its
 * start, and asks the daemon for nothing else: no source includes
 * daemon.h. The daemon implements the sink (daemon.c): one writer owns
 * the netlink socket and the batch, and every change a source reports
 * reaches the kernel through these calls. */
#ifndef BULKHEAD_SOURCE_H
#define BULKHEAD_SOURCE_H

#include <stdarg.h>
#include <stddef.h>

struct container;
struct inventory;
struct policy;

struct source_sink {
	/* Takes ownership of c (a remote one, the cluster's, has source
	 * SRC_REMOTE and host set). Classifies it, commits only its set/map
	 * elements in one batch, then records it in the state file. A
	 * known id is a relabel/readdress: old elements out, new in, same
	 * batch. 0, or -errno with *err (caller frees) saying why. */
	int (*attach)(void *arg, struct container *c, char **err);
	/* Several containers out in one kernel transaction (a reconcile
	 * may find thousands gone). All ids must be known (-ENOENT
	 * otherwise); on error nothing changed. */
	int (*detach_many)(void *arg, char *const *ids, size_t n,
			   char **err);
	/* The cluster's: every SRC_REMOTE container out, cs[0..n) in, in
	 * one kernel transaction; takes the containers (not the array). A
	 * container whose id or address a local one holds is left out and
	 * freed. */
	int (*swap_remote)(void *arg, struct container **cs, size_t n,
			   char **err);
	/* What the daemon knows now; valid until the next call that
	 * changes it (read it again after an attach or a detach). */
	const struct inventory *(*inventory)(void *arg);
	const struct policy *(*policy)(void *arg);	/* NULL: none yet */
	void *arg;
};

/* One container out: detach_many of one id (-ENOENT: unknown). */
int source_detach(const struct source_sink *s, const char *id, char **err);

/* A source's "last error" for its status, for the source's own printf-like
 * set_error: *last becomes the formatted text (the old one freed) and is
 * returned; out of memory: NULL, and *last stays as it was. */
const char *source_vset_error(char **last, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#endif

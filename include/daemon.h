/* What the daemon's container sources (control socket, Engine API, CNI
 * through the control socket, the link watcher) and the denied-flow reader
 * may ask of the daemon. One writer owns the netlink socket and the batch:
 * every change to the kernel goes through these calls. */
#ifndef BULKHEAD_DAEMON_H
#define BULKHEAD_DAEMON_H

#include "ev.h"
#include "inventory.h"
#include "policy.h"

struct daemon;

/* Takes ownership of c. Classifies it, commits only its set/map elements
 * in one batch, then records it in the state file. A known id is a
 * relabel/readdress: old elements out, new in, same batch.
 * Returns 0 or -errno with *err (caller frees) saying why. */
int daemon_attach(struct daemon *d, struct container *c, char **err);
/* Unknown id: -ENOENT. */
int daemon_detach(struct daemon *d, const char *id, char **err);

const struct policy *daemon_policy(const struct daemon *d);
const struct inventory *daemon_inventory(const struct daemon *d);
struct ev_loop *daemon_loop(struct daemon *d);

#endif

/* The link and address watcher: a libnl-route cache manager on the
 * daemon's event loop. A container whose host-side interface disappears
 * is detached (covers runtimes that die without telling anyone); global
 * addresses that come and go on such an interface join or leave the
 * container's addresses. */
#ifndef BULKHEAD_LINKS_H
#define BULKHEAD_LINKS_H

#include <net/if.h>

struct ev_loop;
struct links;
struct source_sink;

/* Fills the caches, then detaches every container whose interface is
 * already gone (the daemon was down while it went), through sink
 * (source.h, copied); its socket goes on the event loop. Returns 0 or
 * -errno. */
int links_start(struct ev_loop *loop, const struct source_sink *sink,
		struct links **out);
void links_stop(struct links *l);	/* NULL is fine */

/* The container's ports: the host-side veths (in the caller's network
 * namespace) whose peers live in the network namespace open at netns_fd,
 * its sandbox. Each of c's addresses that the kernel has on a peer goes on
 * that peer's port (a container on two networks has two); when the
 * sandbox's addresses cannot be read, a single veth takes them all. Asks
 * the kernel directly, so it needs no watcher. 0, -ENOENT when no port
 * holds an address, or -errno. */
struct container;
int links_peer_ports(int netns_fd, struct container *c);

#endif

/* The link and address watcher: a libnl-route cache manager on the
 * daemon's event loop. A container whose host-side interface disappears
 * is detached (covers runtimes that die without telling anyone); global
 * addresses that come and go on such an interface join or leave the
 * container's addresses. */
#ifndef BULKHEAD_LINKS_H
#define BULKHEAD_LINKS_H

#include <net/if.h>

struct daemon;
struct links;

/* Fills the caches, then detaches every container whose interface is
 * already gone (the daemon was down while it went). Returns 0 or -errno. */
int links_start(struct daemon *d, struct links **out);
void links_stop(struct links *l);	/* NULL is fine */

/* The host-side veth (in the caller's network namespace) whose peer lives
 * in the network namespace open at netns_fd, a container's sandbox. Asks
 * the kernel directly, so it needs no watcher. 0, -ENOENT when there is
 * none, or -errno. */
int links_peer_ifname(int netns_fd, char ifname[IF_NAMESIZE]);

#endif

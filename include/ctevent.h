/* One ctnetlink conntrack message (an IPCTNL_MSG_CT_NEW or
 * IPCTNL_MSG_CT_DELETE event, or an entry of a dump) -> the few fields
 * of a flowobs_event, read straight off the attributes:
 * CTA_ID, the original tuple's addresses and protocol, the reply tuple's
 * source address and port, CTA_COUNTERS_ORIG/REPLY. Everything else the
 * kernel sends is skipped unread. It replaces libnetfilter_conntrack's
 * full parse into an nf_conntrack on the observer's hot path
 * (docs/benchmarks.md, "Allowed-flow observations"). Reads nothing
 * outside the len bytes it is given, whatever they hold (buf aligned as
 * a netlink buffer is: to 4 bytes)
 * (tests/unit/test_ctevent.c, tests/fuzz/fuzz_ctevent.c). */
#ifndef BULKHEAD_CTEVENT_H
#define BULKHEAD_CTEVENT_H

#include <stddef.h>

#include "flowobs.h"

/* buf holds one netlink message of len bytes (len may be more than its
 * nlmsg_len: the rest is not read). Fills e, all of it but wall_ms (0),
 * which is the caller's clock. 0; -ENOENT when the message is not a
 * conntrack NEW/DELETE of ctnetlink (not an error: NLMSG_DONE, an
 * expectation, ...); -EINVAL when it is one but is truncated, malformed,
 * or lacks the id, the protocol or an address of either tuple. */
int ctevent_parse(const void *buf, size_t len, struct flowobs_event *e);

#endif

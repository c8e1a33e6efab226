/* Observed destination ports -> the port list an admin would write in a
 * flow: per protocol, overlapping and adjacent ports and ranges joined
 * into ranges, sorted the way `bulkheadctl show` sorts them (tcp, udp,
 * sctp, icmp, icmpv6). Exact: the result admits the same (protocol,
 * port) pairs as the input, never one more (icmp and icmpv6 admit every
 * type: the policy names no single one). Pure, no I/O (bulkheadctl
 * recommend; tests/unit/test_portmerge.c). */
#ifndef BULKHEAD_PORTMERGE_H
#define BULKHEAD_PORTMERGE_H

#include <stdbool.h>
#include <stddef.h>

#include "policy.h"

/* Merges v[0..n) in place and returns the new count. tcp, udp and sctp
 * entries are ranges lo..hi; icmp and icmpv6 ignore lo and hi (every
 * type) and keep one entry each; proto 0 (any) swallows everything. The
 * order of the input does not matter: the same set gives the same
 * output. */
size_t portmerge(struct port_spec *v, size_t n);

/* The merged list as a flow's ports: "tcp/80, tcp/81, tcp/8000-8002,
 * udp/53, icmp". A range of exactly two ports is written as the two
 * ports (what an admin writes; three and more stay a range). */
void portmerge_str(const struct port_spec *v, size_t n, struct strbuf *sb);

/* "tcp/5432" (records' service text) -> a spec; icmp/type8 -> icmp,
 * ipv6-icmp/typeN -> icmpv6. false for what no flow can name: a
 * transport without a port, udplite, a protocol number, port 0, "-". */
bool portmerge_parse_service(const char *svc, struct port_spec *out);

#endif

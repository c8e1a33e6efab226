/* Community ID flow hashing, version 1 (corelight/community-id-spec): a
 * string that Zeek, Suricata, Elastic and others compute identically for
 * the same flow, so a SIEM can join our records with theirs. SHA-1
 * through nettle. Pure, no I/O. */
#ifndef BULKHEAD_COMMUNITY_ID_H
#define BULKHEAD_COMMUNITY_ID_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

/* "1:" + base64 of a 20-byte digest + NUL */
#define COMMUNITY_ID_STRLEN 32

/* sport/dport: TCP, UDP and SCTP ports; for ICMP and ICMPv6 the message
 * type and code (the spec maps them to port equivalents, as Zeek does).
 * has_ports false: a port-less protocol (then sport/dport are ignored).
 * Both addresses must be of one family. Returns false (and writes "")
 * when the tuple cannot be hashed: mixed families, or a protocol that
 * needs ports without them. */
bool community_id_v1(const struct bh_addr *saddr, const struct bh_addr *daddr,
		     uint8_t proto, bool has_ports, uint16_t sport,
		     uint16_t dport, uint16_t seed,
		     char out[COMMUNITY_ID_STRLEN]);

#endif

/* Community ID v1. The hashed bytes, in order: the seed (2 bytes, network
 * order), the two addresses and ports ordered so that both directions of
 * a flow give the same ID, the protocol, one byte of padding, then the
 * ports. ICMP types are mapped to port equivalents with the table Zeek
 * uses, so an echo request and its reply share an ID; a type without a
 * counterpart keeps its code as "port" and the tuple is never flipped. */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <nettle/base64.h>
#include <nettle/sha1.h>

#include "community_id.h"

struct icmp_pair {
	uint8_t type, counterpart;
};

static const struct icmp_pair icmp4_pairs[] = {
	{ 8, 0 }, { 0, 8 },		/* echo */
	{ 13, 14 }, { 14, 13 },		/* timestamp */
	{ 15, 16 }, { 16, 15 },		/* information */
	{ 10, 9 }, { 9, 10 },		/* router solicitation/advert */
	{ 17, 18 }, { 18, 17 },		/* address mask */
};

static const struct icmp_pair icmp6_pairs[] = {
	{ 128, 129 }, { 129, 128 },	/* echo */
	{ 130, 131 }, { 131, 130 },	/* MLD query/report */
	{ 133, 134 }, { 134, 133 },	/* router solicitation/advert */
	{ 135, 136 }, { 136, 135 },	/* neighbor solicitation/advert */
	{ 139, 140 }, { 140, 139 },	/* who-are-you */
	{ 144, 145 }, { 145, 144 },	/* home agent address discovery */
};

/* Replaces *dport (the code) by the type's counterpart; false when the
 * type has none: the flow is one-way. */
static bool icmp_two_way(const struct icmp_pair *t, size_t n, uint16_t type,
			 uint16_t *dport)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (t[i].type == type) {
			*dport = t[i].counterpart;
			return true;
		}
	return false;
}

static bool needs_ports(uint8_t proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP ||
	       proto == IPPROTO_SCTP || proto == IPPROTO_ICMP ||
	       proto == IPPROTO_ICMPV6;
}

bool community_id_v1(const struct bh_addr *saddr, const struct bh_addr *daddr,
		     uint8_t proto, bool has_ports, uint16_t sport,
		     uint16_t dport, uint16_t seed,
		     char out[COMMUNITY_ID_STRLEN])
{
	const struct bh_addr *a = saddr, *b = daddr;
	uint8_t digest[SHA1_DIGEST_SIZE], buf[4];
	char enc[BASE64_ENCODE_LENGTH(SHA1_DIGEST_SIZE) +
		 BASE64_ENCODE_FINAL_LENGTH];
	struct base64_encode_ctx b64;
	struct sha1_ctx h;
	bool two_way = true;
	size_t alen, n;
	uint16_t pa, pb;
	int c;

	out[0] = '\0';
	if (saddr->family != daddr->family ||
	    (saddr->family != AF_INET && saddr->family != AF_INET6))
		return false;
	if (!has_ports && needs_ports(proto))
		return false;
	if (has_ports && proto == IPPROTO_ICMP)
		two_way = icmp_two_way(icmp4_pairs, ARRAY_SIZE(icmp4_pairs),
				       sport, &dport);
	else if (has_ports && proto == IPPROTO_ICMPV6)
		two_way = icmp_two_way(icmp6_pairs, ARRAY_SIZE(icmp6_pairs),
				       sport, &dport);
	alen = bh_addr_len(saddr);
	pa = sport;
	pb = dport;
	c = memcmp(saddr->a, daddr->a, alen);
	/* The smaller endpoint goes first, unless the flow is one-way. */
	if (two_way && (c > 0 || (c == 0 && has_ports && sport > dport))) {
		a = daddr;
		b = saddr;
		pa = dport;
		pb = sport;
	}
	sha1_init(&h);
	buf[0] = (uint8_t)(seed >> 8);
	buf[1] = (uint8_t)seed;
	sha1_update(&h, 2, buf);
	sha1_update(&h, alen, a->a);
	sha1_update(&h, alen, b->a);
	buf[0] = proto;
	buf[1] = 0;
	sha1_update(&h, 2, buf);
	if (has_ports) {
		buf[0] = (uint8_t)(pa >> 8);
		buf[1] = (uint8_t)pa;
		buf[2] = (uint8_t)(pb >> 8);
		buf[3] = (uint8_t)pb;
		sha1_update(&h, 4, buf);
	}
	sha1_digest(&h, sizeof(digest), digest);
	base64_encode_init(&b64);
	n = base64_encode_update(&b64, enc, sizeof(digest), digest);
	n += base64_encode_final(&b64, enc + n);
	/* 20 bytes are always 28 characters with their padding */
	snprintf(out, COMMUNITY_ID_STRLEN, "1:%.*s", (int)n, enc);
	return true;
}

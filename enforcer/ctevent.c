/* ctnetlink message -> flowobs_event (ctevent.h). The layout is the
 * kernel's (net/netfilter/nf_conntrack_netlink.c): after the nlmsghdr an
 * nfgenmsg (family = the entry's layer 3), then attributes, the tuples
 * nested twice:
 *   CTA_TUPLE_ORIG, CTA_TUPLE_REPLY
 *     CTA_TUPLE_IP     CTA_IP_V4_SRC/DST (4 bytes), CTA_IP_V6_SRC/DST (16)
 *     CTA_TUPLE_PROTO  CTA_PROTO_NUM (u8), CTA_PROTO_SRC/DST_PORT (be16)
 *   CTA_COUNTERS_ORIG, CTA_COUNTERS_REPLY (DESTROY events and dumps, with
 *     nf_conntrack_acct=1)
 *     CTA_COUNTERS_PACKETS/BYTES (be64), or CTA_COUNTERS32_* (be32)
 *   CTA_ID (be32)
 * Each attribute we read is checked for its exact length first; an
 * attribute of a type we do not know is skipped, so a newer kernel's
 * additions do not break us. Every walk stays inside the length of what
 * holds it (the message, then each nest), which the walk checks against
 * the bytes it was given. */
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "ctevent.h"

/* The attributes of [p, p + len) by type, into tb[0..max] (the last of
 * a type wins, as with mnl_attr_parse into a table; types above max and
 * the byte-order and nested flags are ignored). The same checks as
 * libmnl's mnl_attr_ok, but refusing what it would silently stop at: a
 * header that does not fit, or a length under the header's or past the
 * end. Inline, with no call per attribute: libmnl's walk
 * (mnl_attr_parse + mnl_attr_validate, one library call or more per
 * attribute) cost ~3,100 instructions per message, the parse with this
 * one ~900 (docs/benchmarks.md). -EINVAL or 0. */
static int walk(const uint8_t *p, size_t len, const struct nlattr **tb,
		unsigned max)
{
	while (len >= sizeof(struct nlattr)) {
		const struct nlattr *a = (const struct nlattr *)p;
		size_t alen = a->nla_len, step;
		unsigned type = a->nla_type & NLA_TYPE_MASK;

		if (alen < sizeof(struct nlattr) || alen > len)
			return -EINVAL;
		if (type <= max)
			tb[type] = a;
		step = MNL_ALIGN(alen);
		if (step >= len)
			return 0;
		p += step;
		len -= step;
	}
	/* 1-3 bytes left, too few for a header: the kernel's nests and
	 * messages end on an attribute's aligned end */
	return len ? -EINVAL : 0;
}

static size_t plen(const struct nlattr *a)
{
	return a->nla_len - sizeof(struct nlattr);
}

static const void *payload(const struct nlattr *a)
{
	return (const uint8_t *)a + sizeof(struct nlattr);
}

/* a nested attribute's attributes; a missing one is an empty nest */
static int walk_nested(const struct nlattr *a, const struct nlattr **tb,
		       unsigned max)
{
	return a ? walk(payload(a), plen(a), tb, max) : 0;
}

struct ct_tuple {
	const struct nlattr *addr;	/* of the message's family */
	const struct nlattr *proto, *sport;
};

/* CTA_TUPLE_ORIG or _REPLY: the source address of the family (4 or 16
 * bytes exactly), the protocol (1 byte) and the source port (2) */
static int tuple(const struct nlattr *a, uint8_t family, struct ct_tuple *t)
{
	const struct nlattr *tt[CTA_TUPLE_MAX + 1] = { 0 };
	const struct nlattr *ip[CTA_IP_MAX + 1] = { 0 };
	const struct nlattr *pr[CTA_PROTO_MAX + 1] = { 0 };
	size_t alen = family == AF_INET ? 4 : 16;

	if (!a || walk_nested(a, tt, CTA_TUPLE_MAX) < 0 ||
	    walk_nested(tt[CTA_TUPLE_IP], ip, CTA_IP_MAX) < 0 ||
	    walk_nested(tt[CTA_TUPLE_PROTO], pr, CTA_PROTO_MAX) < 0)
		return -EINVAL;
	t->addr = ip[family == AF_INET ? CTA_IP_V4_SRC : CTA_IP_V6_SRC];
	t->proto = pr[CTA_PROTO_NUM];
	t->sport = pr[CTA_PROTO_SRC_PORT];
	if (!t->addr || plen(t->addr) != alen ||
	    (t->proto && plen(t->proto) != 1) ||
	    (t->sport && plen(t->sport) != 2))
		return -EINVAL;
	return 0;
}

/* CTA_COUNTERS_ORIG or _REPLY, added to packets and bytes: 64-bit
 * counters, or the 32-bit ones of old kernels */
static int counters(const struct nlattr *a, uint64_t *packets,
		    uint64_t *bytes)
{
	const struct nlattr *tb[CTA_COUNTERS_MAX + 1] = { 0 };
	uint64_t *sum[] = { packets, bytes };
	static const unsigned t64[] = { CTA_COUNTERS_PACKETS,
					CTA_COUNTERS_BYTES };
	static const unsigned t32[] = { CTA_COUNTERS32_PACKETS,
					CTA_COUNTERS32_BYTES };
	uint64_t v64;
	uint32_t v32;
	int i;

	if (walk_nested(a, tb, CTA_COUNTERS_MAX) < 0)
		return -EINVAL;
	for (i = 0; i < 2; i++) {
		if (tb[t64[i]]) {
			if (plen(tb[t64[i]]) != 8)
				return -EINVAL;
			memcpy(&v64, payload(tb[t64[i]]), 8);
			*sum[i] += be64toh(v64);
		} else if (tb[t32[i]]) {
			if (plen(tb[t32[i]]) != 4)
				return -EINVAL;
			memcpy(&v32, payload(tb[t32[i]]), 4);
			*sum[i] += ntohl(v32);
		}
	}
	return 0;
}

static void get_addr(const struct nlattr *a, uint8_t family,
		     struct bh_addr *out)
{
	out->family = family;
	out->plen = family == AF_INET ? 32 : 128;
	memcpy(out->a, payload(a), family == AF_INET ? 4 : 16);
}

int ctevent_parse(const void *buf, size_t len, struct flowobs_event *e)
{
	const struct nlattr *tb[CTA_MAX + 1] = { 0 };
	const struct nlmsghdr *nlh = buf;
	struct ct_tuple orig, repl;
	const struct nfgenmsg *nfg;
	uint16_t type, port;
	uint8_t family;
	uint32_t id;

	memset(e, 0, sizeof(*e));
	if (len < sizeof(*nlh) || nlh->nlmsg_len < sizeof(*nlh) ||
	    nlh->nlmsg_len > len)
		return -EINVAL;
	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_CTNETLINK)
		return -ENOENT;
	type = NFNL_MSG_TYPE(nlh->nlmsg_type);
	if (type != IPCTNL_MSG_CT_NEW && type != IPCTNL_MSG_CT_DELETE)
		return -ENOENT;
	if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(*nfg))
		return -EINVAL;
	nfg = (const struct nfgenmsg *)((const uint8_t *)buf + NLMSG_HDRLEN);
	family = nfg->nfgen_family;
	if (family != AF_INET && family != AF_INET6)
		return -EINVAL;
	/* nfgenmsg is 4 bytes: the attributes start aligned */
	if (walk((const uint8_t *)buf + NLMSG_HDRLEN + sizeof(*nfg),
		 nlh->nlmsg_len - NLMSG_HDRLEN - sizeof(*nfg), tb,
		 CTA_MAX) < 0 ||
	    tuple(tb[CTA_TUPLE_ORIG], family, &orig) < 0 ||
	    tuple(tb[CTA_TUPLE_REPLY], family, &repl) < 0 ||
	    !orig.proto || !tb[CTA_ID] || plen(tb[CTA_ID]) != 4 ||
	    counters(tb[CTA_COUNTERS_ORIG], &e->packets, &e->bytes) < 0 ||
	    counters(tb[CTA_COUNTERS_REPLY], &e->packets, &e->bytes) < 0) {
		e->packets = e->bytes = 0;
		return -EINVAL;
	}
	e->destroy = type == IPCTNL_MSG_CT_DELETE;
	memcpy(&id, payload(tb[CTA_ID]), 4);
	e->id = ntohl(id);
	get_addr(orig.addr, family, &e->src);
	get_addr(repl.addr, family, &e->dst);
	e->proto = *(const uint8_t *)payload(orig.proto);
	switch (e->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
	case IPPROTO_SCTP:
		/* the answering side's port: behind a DNAT, the
		 * container's, not the published one */
		if (repl.sport) {
			memcpy(&port, payload(repl.sport), 2);
			e->has_port = true;
			e->dport = ntohs(port);
		}
		break;
	}
	return 0;
}

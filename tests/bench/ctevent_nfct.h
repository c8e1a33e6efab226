/* The observer's parse of a ctnetlink message before ctevent.c: the whole
 * message through libnetfilter_conntrack (nfct_nlmsg_parse into an
 * nf_conntrack), then the fields read back with nfct_get_attr*. Kept for
 * two jobs: the reference tests/unit/test_ctevent.c holds ctevent_parse
 * to on the kernel's own messages, and the "before" of
 * tests/bench/ctevent.c. Header-only (static), for those two. */
#ifndef BULKHEAD_CTEVENT_NFCT_H
#define BULKHEAD_CTEVENT_NFCT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "flowobs.h"

static void nfct_ref_addr(const struct nf_conntrack *ct, int attr4,
			  int attr6, uint8_t l3, struct bh_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->family = l3;
	a->plen = l3 == AF_INET ? 32 : 128;
	memcpy(a->a, nfct_get_attr(ct, l3 == AF_INET ? attr4 : attr6),
	       l3 == AF_INET ? 4 : 16);
}

/* ct: a parse buffer of the caller's (nfct_new), reused as observe.c
 * did. 0, -ENOENT (not a conntrack NEW/DELETE), -EINVAL. */
static inline int nfct_ref_parse(struct nf_conntrack *ct,
				 const struct nlmsghdr *nlh,
				 struct flowobs_event *e)
{
	uint16_t type = NFNL_MSG_TYPE(nlh->nlmsg_type);
	uint8_t l3;

	memset(e, 0, sizeof(*e));
	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_CTNETLINK ||
	    (type != IPCTNL_MSG_CT_NEW && type != IPCTNL_MSG_CT_DELETE))
		return -ENOENT;
	nfct_attr_unset(ct, ATTR_ID);
	nfct_attr_unset(ct, ATTR_ORIG_COUNTER_PACKETS);
	nfct_attr_unset(ct, ATTR_REPL_COUNTER_PACKETS);
	nfct_attr_unset(ct, ATTR_ORIG_COUNTER_BYTES);
	nfct_attr_unset(ct, ATTR_REPL_COUNTER_BYTES);
	if (nfct_nlmsg_parse(nlh, ct) < 0)
		return -EINVAL;
	l3 = nfct_get_attr_u8(ct, ATTR_L3PROTO);
	if ((l3 != AF_INET && l3 != AF_INET6) ||
	    !nfct_attr_is_set(ct, ATTR_ID) ||
	    !nfct_attr_is_set(ct, ATTR_L4PROTO) ||
	    !nfct_attr_is_set(ct, l3 == AF_INET ? ATTR_ORIG_IPV4_SRC :
			      ATTR_ORIG_IPV6_SRC) ||
	    !nfct_attr_is_set(ct, l3 == AF_INET ? ATTR_REPL_IPV4_SRC :
			      ATTR_REPL_IPV6_SRC))
		return -EINVAL;
	e->destroy = type == IPCTNL_MSG_CT_DELETE;
	e->id = nfct_get_attr_u32(ct, ATTR_ID);
	nfct_ref_addr(ct, ATTR_ORIG_IPV4_SRC, ATTR_ORIG_IPV6_SRC, l3, &e->src);
	nfct_ref_addr(ct, ATTR_REPL_IPV4_SRC, ATTR_REPL_IPV6_SRC, l3, &e->dst);
	e->proto = nfct_get_attr_u8(ct, ATTR_L4PROTO);
	switch (e->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
	case IPPROTO_SCTP:
		if (nfct_attr_is_set(ct, ATTR_REPL_PORT_SRC)) {
			e->has_port = true;
			e->dport = ntohs(nfct_get_attr_u16(ct,
							   ATTR_REPL_PORT_SRC));
		}
		break;
	}
	if (nfct_attr_is_set(ct, ATTR_ORIG_COUNTER_PACKETS))
		e->packets += nfct_get_attr_u64(ct, ATTR_ORIG_COUNTER_PACKETS);
	if (nfct_attr_is_set(ct, ATTR_REPL_COUNTER_PACKETS))
		e->packets += nfct_get_attr_u64(ct, ATTR_REPL_COUNTER_PACKETS);
	if (nfct_attr_is_set(ct, ATTR_ORIG_COUNTER_BYTES))
		e->bytes += nfct_get_attr_u64(ct, ATTR_ORIG_COUNTER_BYTES);
	if (nfct_attr_is_set(ct, ATTR_REPL_COUNTER_BYTES))
		e->bytes += nfct_get_attr_u64(ct, ATTR_REPL_COUNTER_BYTES);
	return 0;
}

#endif

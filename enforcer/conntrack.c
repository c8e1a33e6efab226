/* Deletes the conntrack entries of flows that policy no longer allows.
 * The dump and the deletes use one handle in turn: a handle cannot issue
 * a query while its own dump is being read, so the dump collects the
 * doomed entries first. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "conntrack.h"
#include "explain.h"
#include "util.h"

struct walk {
	const struct policy *p;
	const struct inventory *inv;
	const struct explain_host *h;
	struct nf_conntrack **doomed;
	size_t n, cap;
	unsigned seen;
};

static bool ct_addrs(const struct nf_conntrack *ct, struct bh_addr *src,
		     struct bh_addr *dst)
{
	uint8_t l3 = nfct_get_attr_u8(ct, ATTR_L3PROTO);

	memset(src, 0, sizeof(*src));
	memset(dst, 0, sizeof(*dst));
	if (l3 == AF_INET) {
		src->family = dst->family = AF_INET;
		src->plen = dst->plen = 32;
		memcpy(src->a, nfct_get_attr(ct, ATTR_ORIG_IPV4_SRC), 4);
		memcpy(dst->a, nfct_get_attr(ct, ATTR_ORIG_IPV4_DST), 4);
		return true;
	}
	if (l3 == AF_INET6) {
		src->family = dst->family = AF_INET6;
		src->plen = dst->plen = 128;
		memcpy(src->a, nfct_get_attr(ct, ATTR_ORIG_IPV6_SRC), 16);
		memcpy(dst->a, nfct_get_attr(ct, ATTR_ORIG_IPV6_DST), 16);
		return true;
	}
	return false;
}

static int on_entry(enum nf_conntrack_msg_type type, struct nf_conntrack *ct,
		    void *arg)
{
	struct walk *w = arg;
	struct explain_result r;
	struct bh_addr src, dst;
	uint8_t proto;
	uint16_t dport = 0;

	w->seen++;
	if (!ct_addrs(ct, &src, &dst))
		return NFCT_CB_CONTINUE;
	proto = nfct_get_attr_u8(ct, ATTR_L4PROTO);
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP ||
	    proto == IPPROTO_SCTP)
		dport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
	explain_decide(w->p, w->inv, w->h, &src, &dst, proto, dport, &r);
	if (r.verdict != EXPLAIN_DENY)
		return NFCT_CB_CONTINUE;
	xgrow(&w->doomed, &w->cap, w->n + 1, sizeof(*w->doomed));
	w->doomed[w->n++] = nfct_clone(ct);
	return NFCT_CB_CONTINUE;
}

int conntrack_cut(const struct policy *p, const struct inventory *inv,
		  struct conntrack_stats *st, char **err)
{
	struct explain_host host = { 0 };
	struct walk w = { .p = p, .inv = inv, .h = &host };
	struct nfct_handle *h = NULL;
	uint32_t family = AF_UNSPEC;
	size_t i;
	int ret;

	memset(st, 0, sizeof(*st));
	*err = NULL;
	ret = explain_host_load(&host);
	if (ret < 0) {
		*err = xasprintf("reading this host's addresses: %s",
				 strerror(-ret));
		goto out;
	}
	h = nfct_open(CONNTRACK, 0);
	if (!h) {
		ret = -errno;
		*err = xasprintf("ctnetlink: %s", strerror(errno));
		goto out;
	}
	nfct_callback_register(h, NFCT_T_ALL, on_entry, &w);
	if (nfct_query(h, NFCT_Q_DUMP, &family) < 0) {
		ret = -errno;
		*err = xasprintf("conntrack dump: %s", strerror(errno));
		goto out;
	}
	st->seen = w.seen;
	for (i = 0; i < w.n; i++) {
		if (nfct_query(h, NFCT_Q_DESTROY, w.doomed[i]) == 0)
			st->cut++;
		else if (errno != ENOENT)
			st->failed++;
	}
	ret = 0;
out:
	for (i = 0; i < w.n; i++)
		nfct_destroy(w.doomed[i]);
	free(w.doomed);
	if (h)
		nfct_close(h);
	explain_host_free(&host);
	return ret;
}

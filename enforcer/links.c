/* Link and address watcher: libnl-route caches kept current by a cache
 * manager whose socket sits on the daemon's event loop. */
#include <errno.h>
#include <string.h>

#include <linux/net_namespace.h>
#include <linux/rtnetlink.h>
#include <netlink/cache.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>

#include "ev.h"
#include "inventory.h"
#include "links.h"
#include "log.h"
#include "source.h"
#include "util.h"

/* Room for a burst of thousands of link and address events: losing them
 * costs a full resync. */
#define LINKS_RCVBUF (8 << 20)

/* The running watcher (one per process), whose link cache spares
 * links_peer_ports a full dump per container. */
static struct links *watcher;

struct links {
	struct ev_loop *loop;
	struct source_sink sink;	/* the daemon (source.h) */
	struct nl_sock *sk;
	struct nl_cache_mngr *mngr;
	struct nl_cache *link_cache;
	struct nl_cache *addr_cache;
	int fd;
	unsigned long overruns;
};

/* The container without the ports that are gone (its other networks
 * stay enforced, each on its own port). */
static void drop_ports(struct links *l, const struct container *c,
		       char *const *gone, size_t n)
{
	struct container *d = container_dup(c);
	char *err = NULL;
	size_t i;
	int r;

	for (i = 0; i < n; i++)
		container_remove_port(d, gone[i]);
	log_info("links: %s gone: container %s keeps %zu port%s", gone[0],
		 c->id, d->n_ports, d->n_ports == 1 ? "" : "s");
	r = l->sink.attach(l->sink.arg, d, &err);
	if (r < 0)
		log_warn("links: dropping the port of %s failed: %s", c->id,
			 err ? err : strerror(-r));
	free(err);
}

static void detach_gone(struct links *l, const char *ifname)
{
	struct container *c;
	char *err = NULL, *id;
	char *gone[1];
	int r;

	/* an interface has one owner (inventory_add enforces it) */
	c = inventory_find_ifname(l->sink.inventory(l->sink.arg), ifname);
	if (!c)
		return;
	if (c->n_ports > 1) {
		gone[0] = (char *)ifname;
		drop_ports(l, c, gone, 1);
		return;
	}
	id = xstrdup(c->id);
	r = source_detach(&l->sink, id, &err);
	if (r < 0)
		log_warn("links: %s gone, detaching %s failed: %s", ifname, id,
			 err ? err : strerror(-r));
	else
		log_info("links: %s gone: detached container %s", ifname, id);
	free(err);
	free(id);
}

/* Runtimes that reuse names (netavark's vethN) may have made the next
 * container's interface under the same name before this event is read:
 * then the container on record may be that one, and its engine's events
 * say when it goes. */
static bool name_back(const char *name)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct rtnl_link *link = NULL;
	bool back = false;

	if (sk && nl_connect(sk, NETLINK_ROUTE) >= 0 &&
	    rtnl_link_get_kernel(sk, 0, name, &link) >= 0) {
		back = true;
		rtnl_link_put(link);
	}
	nl_socket_free(sk);
	return back;
}

static void link_changed(struct nl_cache *cache, struct nl_object *obj,
			 int action, void *arg)
{
	const char *name = rtnl_link_get_name((struct rtnl_link *)obj);
	struct links *l = arg;

	if (action != NL_ACT_DEL ||
	    !inventory_find_ifname(l->sink.inventory(l->sink.arg), name))
		return;
	if (name_back(name)) {
		log_debug("links: %s gone and back already: left to its "
			  "runtime's events", name);
		return;
	}
	detach_gone(l, name);
}

static bool nl_to_bh(struct nl_addr *na, struct bh_addr *out)
{
	size_t n;

	if (!na)
		return false;
	n = nl_addr_get_len(na);
	memset(out, 0, sizeof(*out));
	out->family = nl_addr_get_family(na);
	if (!((out->family == AF_INET && n == 4) ||
	      (out->family == AF_INET6 && n == 16)))
		return false;
	memcpy(out->a, nl_addr_get_binary_addr(na), n);
	out->plen = n * 8;
	return true;
}

static void addr_changed(struct nl_cache *cache, struct nl_object *obj,
			 int action, void *arg)
{
	struct rtnl_addr *ra = (struct rtnl_addr *)obj;
	struct links *l = arg;
	const struct container_port *p;
	struct container *c, *n;
	char name[IF_NAMESIZE], buf[BH_ADDR_STRLEN], *err = NULL;
	struct bh_addr a;
	size_t i;
	bool had = false;
	int r;

	if (action != NL_ACT_NEW && action != NL_ACT_DEL)
		return;
	/* link-local and host scope addresses are no one's identity */
	if (rtnl_addr_get_scope(ra) != RT_SCOPE_UNIVERSE ||
	    !nl_to_bh(rtnl_addr_get_local(ra), &a))
		return;
	if (!rtnl_link_i2name(l->link_cache, rtnl_addr_get_ifindex(ra), name,
			      sizeof(name)))
		return;
	c = inventory_find_ifname(l->sink.inventory(l->sink.arg), name);
	if (!c)
		return;
	/* on this port; an address of another port of the container is
	 * that port's (the kernel reports each interface's own) */
	for (i = 0; i < c->n_addrs; i++)
		if (bh_addr_eq(&c->addrs[i], &a)) {
			p = container_addr_port(c, i);
			if (p && strcmp(p->ifname, name))
				return;
			had = p != NULL;
		}
	if ((action == NL_ACT_NEW) == had)
		return;
	n = container_dup(c);
	if (action == NL_ACT_NEW)
		container_add_port_addr(n, name, &a);
	else
		container_remove_addr(n, &a);
	log_info("links: %s %s %s: readdressing container %s", name,
		 action == NL_ACT_NEW ? "gained" : "lost", bh_addr_str(&a, buf),
		 n->id);
	r = l->sink.attach(l->sink.arg, n, &err);
	if (r < 0)
		log_warn("links: readdressing failed: %s",
			 err ? err : strerror(-r));
	free(err);
}

/* Containers whose interface is not there: the daemon was down (or lost
 * events) while it went. */
static void links_reconcile(struct links *l)
{
	const struct inventory *inv = l->sink.inventory(l->sink.arg);
	char **ids = NULL, *err = NULL, *gone[CONTAINER_PORTS_MAX];
	size_t i, k, n = 0, cap = 0, n_gone;
	struct container *c, **part = NULL;
	size_t n_part = 0, cap_part = 0;
	int r;

	for (i = 0; (c = inventory_at(inv, i)); i++) {
		for (k = 0, n_gone = 0; k < c->n_ports && n_gone <
		     ARRAY_SIZE(gone); k++)
			if (rtnl_link_name2i(l->link_cache,
					     c->ports[k].ifname) <= 0)
				n_gone++;
		if (!n_gone)
			continue;
		if (n_gone < c->n_ports) {
			/* some of its networks left: after the scan, as
			 * the attach reorders the inventory */
			xgrow(&part, &cap_part, n_part + 1, sizeof(*part));
			part[n_part++] = container_dup(c);
			continue;
		}
		xgrow(&ids, &cap, n + 1, sizeof(*ids));
		ids[n++] = xstrdup(c->id);
	}
	for (i = 0; i < n_part; i++) {
		for (k = 0, n_gone = 0; k < part[i]->n_ports; k++)
			if (rtnl_link_name2i(l->link_cache,
					     part[i]->ports[k].ifname) <= 0)
				gone[n_gone++] = part[i]->ports[k].ifname;
		drop_ports(l, part[i], gone, n_gone);
		container_free(part[i]);
	}
	free(part);
	if (!n)
		goto out;
	/* one transaction for all: after a restart thousands may be gone */
	r = l->sink.detach_many(l->sink.arg, ids, n, &err);
	if (r < 0)
		log_warn("links: detaching %zu containers whose interface is "
			 "gone failed: %s", n, err ? err : strerror(-r));
	else
		log_info("links: detached %zu containers whose interface is "
			 "gone", n);
out:
	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	free(err);
}

static void links_resync(struct links *l)
{
	struct nl_sock *sk = nl_socket_alloc();

	if (!sk || nl_connect(sk, NETLINK_ROUTE) < 0 ||
	    nl_cache_refill(sk, l->link_cache) < 0 ||
	    nl_cache_refill(sk, l->addr_cache) < 0)
		log_err("links: resync failed; interface removals may be "
			"missed until the next one");
	else
		links_reconcile(l);
	nl_socket_free(sk);
}

static void links_readable(int fd, uint32_t events, void *arg)
{
	struct links *l = arg;
	int r;

	r = nl_cache_mngr_data_ready(l->mngr);
	if (r >= 0 || r == -NLE_AGAIN)
		return;
	if (r == -NLE_NOMEM) {
		/* the kernel dropped messages (ENOBUFS): resync, count it */
		if (!l->overruns++)
			log_warn("links: netlink receive buffer overrun; "
				 "resyncing (counted, logged once)");
		links_resync(l);
		return;
	}
	log_warn("links: reading link events: %s", nl_geterror(r));
}

int links_start(struct ev_loop *loop, const struct source_sink *sink,
		struct links **out)
{
	struct links *l = xcalloc(1, sizeof(*l));
	int r;

	l->loop = loop;
	l->sink = *sink;
	l->fd = -1;
	l->sk = nl_socket_alloc();
	if (!l->sk) {
		r = -ENOMEM;
		goto fail;
	}
	r = nl_cache_mngr_alloc(l->sk, NETLINK_ROUTE, NL_AUTO_PROVIDE,
				&l->mngr);
	if (r < 0)
		goto nlfail;
	r = nl_socket_set_buffer_size(l->sk, LINKS_RCVBUF, 0);
	if (r < 0)
		log_warn("links: cannot grow the receive buffer: %s",
			 nl_geterror(r));
	r = nl_cache_mngr_add(l->mngr, "route/link", link_changed, l,
			      &l->link_cache);
	if (r < 0)
		goto nlfail;
	r = nl_cache_mngr_add(l->mngr, "route/addr", addr_changed, l,
			      &l->addr_cache);
	if (r < 0)
		goto nlfail;
	l->fd = nl_cache_mngr_get_fd(l->mngr);
	r = ev_add_fd(l->loop, l->fd, EPOLLIN, links_readable, l);
	if (r < 0) {
		l->fd = -1;
		goto fail;
	}
	links_reconcile(l);
	watcher = l;
	*out = l;
	return 0;
nlfail:
	log_err("links: %s", nl_geterror(r));
	r = -EIO;
fail:
	links_stop(l);
	*out = NULL;
	return r;
}

void links_stop(struct links *l)
{
	if (!l)
		return;
	if (watcher == l)
		watcher = NULL;
	if (l->fd >= 0)
		ev_del_fd(l->loop, l->fd);
	/* the manager frees its caches, closes but keeps the socket given */
	if (l->mngr)
		nl_cache_mngr_free(l->mngr);
	nl_socket_free(l->sk);
	free(l);
}

struct nsid_req {
	int32_t nsid;
	bool got;
};

static int nsid_reply(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *h = nlmsg_hdr(msg);
	struct nlattr *tb[NETNSA_MAX + 1];
	struct nsid_req *q = arg;

	if (h->nlmsg_type != RTM_NEWNSID ||
	    nlmsg_parse(h, sizeof(struct rtgenmsg), tb, NETNSA_MAX, NULL) < 0 ||
	    !tb[NETNSA_NSID] || nla_len(tb[NETNSA_NSID]) != 4)
		return NL_SKIP;
	q->nsid = (int32_t)nla_get_u32(tb[NETNSA_NSID]);
	q->got = true;
	return NL_OK;
}

/* A host-side veth whose peer lives in the sandbox: its name and the
 * peer's interface index there. */
struct peer {
	char ifname[IF_NAMESIZE];
	int ifindex;
};

static size_t find_peers(struct nl_cache *cache, int32_t nsid,
			 struct peer *out, size_t max)
{
	struct rtnl_link *link;
	struct nl_object *o;
	const char *type;
	int32_t peer;
	size_t n = 0;

	for (o = nl_cache_get_first(cache); o && n < max;
	     o = nl_cache_get_next(o)) {
		link = (struct rtnl_link *)o;
		type = rtnl_link_get_type(link);
		if (!type || strcmp(type, "veth") ||
		    rtnl_link_get_link_netnsid(link, &peer) < 0 ||
		    peer != nsid)
			continue;
		snprintf(out[n].ifname, IF_NAMESIZE, "%s",
			 rtnl_link_get_name(link));
		out[n].ifindex = rtnl_link_get_link(link);
		n++;
	}
	return n;
}

/* An address of the sandbox and the index of its interface there. */
struct sb_addr {
	int ifindex;
	struct bh_addr a;
};

struct sb_dump {
	struct sb_addr v[CONTAINER_ADDRS_MAX * 2];
	size_t n;
};

static int sb_addr_reply(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *h = nlmsg_hdr(msg);
	struct nlattr *tb[IFA_MAX + 1], *at;
	struct sb_dump *q = arg;
	struct ifaddrmsg *ifa;
	struct sb_addr *e;
	size_t len;

	if (h->nlmsg_type != RTM_NEWADDR ||
	    nlmsg_parse(h, sizeof(*ifa), tb, IFA_MAX, NULL) < 0)
		return NL_SKIP;
	ifa = nlmsg_data(h);
	at = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	len = ifa->ifa_family == AF_INET ? 4 : 16;
	if (!at || (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) ||
	    (size_t)nla_len(at) != len || q->n >= ARRAY_SIZE(q->v))
		return NL_SKIP;
	e = &q->v[q->n++];
	memset(e, 0, sizeof(*e));
	e->ifindex = (int)ifa->ifa_index;
	e->a.family = ifa->ifa_family;
	e->a.plen = (uint8_t)(len * 8);
	memcpy(e->a.a, nla_data(at), len);
	return NL_OK;
}

/* The sandbox's addresses, read through the kernel's id for it (a dump
 * with IFA_TARGET_NETNSID, which only strict checking reads): no setns,
 * so no capability beyond CAP_NET_ADMIN. */
static int sandbox_addrs(int32_t nsid, struct sb_dump *q)
{
	struct ifaddrmsg ifa = { .ifa_family = AF_UNSPEC };
	struct nl_sock *sk = nl_socket_alloc();
	struct nl_msg *m = NULL;
	int one = 1, r;

	if (!sk)
		return -ENOMEM;
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r < 0 ||
	    setsockopt(nl_socket_get_fd(sk), SOL_NETLINK,
		       NETLINK_GET_STRICT_CHK, &one, sizeof(one)) < 0) {
		r = -EIO;
		goto out;
	}
	m = nlmsg_alloc_simple(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP);
	if (!m || nlmsg_append(m, &ifa, sizeof(ifa), NLMSG_ALIGNTO) < 0 ||
	    nla_put_s32(m, IFA_TARGET_NETNSID, nsid) < 0) {
		r = -ENOMEM;
		goto out;
	}
	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, sb_addr_reply, q);
	r = nl_send_auto(sk, m);
	if (r >= 0)
		r = nl_recvmsgs_default(sk);
	r = r < 0 ? -EIO : 0;
out:
	nlmsg_free(m);
	nl_socket_free(sk);
	return r;
}

/* Is the address on the sandbox's interface ifindex? */
static bool on_peer(const struct sb_dump *q, int ifindex,
		    const struct bh_addr *a)
{
	size_t i;

	for (i = 0; i < q->n; i++)
		if (q->v[i].ifindex == ifindex && bh_addr_eq(&q->v[i].a, a))
			return true;
	return false;
}

/* How many of the sandbox's interfaces hold one of c's addresses. */
static size_t ifaces_with(const struct sb_dump *q, const struct container *c)
{
	int seen[CONTAINER_PORTS_MAX];
	size_t i, j, k, n = 0;

	for (i = 0; i < q->n; i++) {
		for (j = 0; j < c->n_addrs; j++)
			if (bh_addr_eq(&q->v[i].a, &c->addrs[j]))
				break;
		if (j == c->n_addrs)
			continue;
		for (k = 0; k < n && seen[k] != q->v[i].ifindex; k++)
			;
		if (k == n && n < ARRAY_SIZE(seen))
			seen[n++] = q->v[i].ifindex;
	}
	return n;
}

static int nsid_of(struct nl_sock *sk, int netns_fd, int32_t *nsid)
{
	struct rtgenmsg g = { .rtgen_family = AF_UNSPEC };
	struct nsid_req q = { .nsid = -1 };
	struct nl_msg *m;
	int r;

	m = nlmsg_alloc_simple(RTM_GETNSID, NLM_F_REQUEST);
	if (!m || nlmsg_append(m, &g, sizeof(g), NLMSG_ALIGNTO) < 0 ||
	    nla_put_u32(m, NETNSA_FD, netns_fd) < 0) {
		nlmsg_free(m);
		return -ENOMEM;
	}
	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, nsid_reply, &q);
	r = nl_send_auto(sk, m);
	if (r >= 0)
		r = nl_recvmsgs_default(sk);
	if (r >= 0)
		r = nl_wait_for_ack(sk);
	nlmsg_free(m);
	if (r < 0)
		return -EIO;
	if (!q.got || q.nsid < 0)
		return -ENOENT;
	*nsid = q.nsid;
	return 0;
}

int links_peer_ports(int netns_fd, struct container *c)
{
	struct peer peers[CONTAINER_PORTS_MAX];
	struct nl_cache *cache = NULL;
	struct sb_dump *q = NULL;
	struct bh_addr *addrs;
	size_t n = 0, i, j, want, n_addrs;
	struct nl_sock *sk;
	int32_t nsid;
	int r;

	sk = nl_socket_alloc();
	if (!sk)
		return -ENOMEM;
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r < 0) {
		r = -EIO;
		goto out;
	}
	/* the kernel numbers the peer namespace of every veth it made, so
	 * the sandbox's id here identifies the host side of its veths */
	r = nsid_of(sk, netns_fd, &nsid);
	if (r < 0)
		goto out;
	q = xcalloc(1, sizeof(*q));
	if (sandbox_addrs(nsid, q) < 0)
		q->n = 0;	/* then a single veth takes every address */
	want = q->n ? ifaces_with(q, c) : 1;
	/* the watcher's cache is current but for events not read yet (a
	 * veth made a moment ago, `network connect`): then ask the kernel */
	if (watcher)
		n = find_peers(watcher->link_cache, nsid, peers,
			       ARRAY_SIZE(peers));
	if (n < want || !n) {
		r = rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache);
		if (r < 0) {
			r = -EIO;
			goto out;
		}
		n = find_peers(cache, nsid, peers, ARRAY_SIZE(peers));
	}
	if (!n) {
		r = -ENOENT;
		goto out;
	}
	/* each address on the port whose peer holds it in the sandbox (a
	 * copy of the list: a move to a port reorders c->addrs) */
	addrs = xmalloc((c->n_addrs + 1) * sizeof(*addrs));
	memcpy(addrs, c->addrs, c->n_addrs * sizeof(*addrs));
	n_addrs = c->n_addrs;
	for (i = 0; i < n; i++)
		for (j = 0; j < n_addrs; j++)
			if (on_peer(q, peers[i].ifindex, &addrs[j]))
				container_add_port_addr(c, peers[i].ifname,
							&addrs[j]);
	free(addrs);
	/* the sandbox's addresses unknown: a single veth has them all */
	if (!c->n_ports && n == 1)
		container_set_port(c, peers[0].ifname);
	r = c->n_ports ? 0 : -ENOENT;
out:
	free(q);
	nl_cache_free(cache);
	nl_socket_free(sk);
	return r;
}

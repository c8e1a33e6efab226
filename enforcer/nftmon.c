/* The nftables notification watcher (see nftmon.h). Every nf_tables
 * object notification (table, chain, rule, set, element, object,
 * flowtable) carries its table's name as attribute 1 and the sender's
 * netlink port as nlmsg_pid; a transaction ends with NFT_MSG_NEWGEN from
 * the same port, with the committing process's pid and name. Changes the
 * kernel makes by itself (port 0: set element timeouts) are not
 * transactions of anyone's and are left alone. */
#include <errno.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "ev.h"
#include "log.h"
#include "nft.h"
#include "nftmon.h"
#include "ruleset.h"
#include "util.h"

#define NFTMON_RCVBUF (4u << 20)
#define NFTMON_BATCH 64			/* datagrams per wakeup */

struct nftmon {
	struct ev_loop *loop;
	struct mnl_socket *nl;
	struct nft_writer *w;
	uint32_t own;
	nftmon_cb cb;
	void *arg;
	/* a foreign port touched our tables; reported at its NEWGEN */
	uint32_t touched_by;
	uint32_t paused_gen;		/* generation when paused */
	bool gen_known;
};

static void report(struct nftmon *m, const char *who, bool uncertain)
{
	m->cb(who, uncertain, m->arg);
}

/* Attribute 1 of an object notification: the table's name. */
static bool ours(const struct nlmsghdr *nlh)
{
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*g)))
		return false;
	if (g->nfgen_family != NFPROTO_INET && g->nfgen_family != NFPROTO_BRIDGE)
		return false;
	mnl_attr_for_each(a, nlh, sizeof(*g))
		if (mnl_attr_get_type(a) == 1)
			return mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0 &&
			       !strcmp(mnl_attr_get_str(a), RULESET_TABLE);
	return false;
}

static void on_newgen(struct nftmon *m, const struct nlmsghdr *nlh)
{
	const struct nlattr *a;
	uint32_t pid = 0;
	char name[64] = "", who[96];

	if (!m->touched_by || nlh->nlmsg_pid != m->touched_by)
		return;
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(a) == NFTA_GEN_PROC_PID &&
		    mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			pid = ntohl(mnl_attr_get_u32(a));
		else if (mnl_attr_get_type(a) == NFTA_GEN_PROC_NAME &&
			 mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			snprintf(name, sizeof(name), "%s", mnl_attr_get_str(a));
	}
	m->touched_by = 0;
	if (pid)
		snprintf(who, sizeof(who), "pid %u (%s)", pid,
			 name[0] ? name : "?");
	else
		snprintf(who, sizeof(who), "netlink port %u",
			 (unsigned)nlh->nlmsg_pid);
	report(m, who, false);
}

static void on_msg(struct nftmon *m, const struct nlmsghdr *nlh)
{
	if (nlh->nlmsg_type >> 8 != NFNL_SUBSYS_NFTABLES)
		return;
	if ((nlh->nlmsg_type & 0xff) == NFT_MSG_NEWGEN) {
		on_newgen(m, nlh);
		return;
	}
	if (nlh->nlmsg_pid == m->own || nlh->nlmsg_pid == 0)
		return;
	if (!m->touched_by && ours(nlh))
		m->touched_by = nlh->nlmsg_pid;
}

/* Reads at most max datagrams, fewer when the socket runs empty. */
static void drain(struct nftmon *m, int fd, unsigned max)
{
	static char buf[64 * 1024];
	const struct nlmsghdr *nlh;
	unsigned i;
	int len;
	ssize_t n;

	for (i = 0; i < max; i++) {
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && errno == ENOBUFS) {
			/* what overflowed may have been a change of ours */
			m->touched_by = 0;
			report(m, "unknown (nftables notifications were lost)",
			       true);
			continue;
		}
		if (n <= 0)
			return;
		len = (int)n;
		for (nlh = (const void *)buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len))
			on_msg(m, nlh);
	}
}

static void readable(int fd, uint32_t events, void *arg)
{
	(void)events;
	drain(arg, fd, NFTMON_BATCH);
}

static int listen_on(struct nftmon *m, char **err)
{
	int grp = NFNLGRP_NFTABLES, size = NFTMON_RCVBUF, fd;

	m->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC |
						    SOCK_NONBLOCK);
	if (!m->nl || mnl_socket_bind(m->nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_setsockopt(m->nl, NETLINK_ADD_MEMBERSHIP, &grp,
				  sizeof(grp)) < 0) {
		*err = xasprintf("nftables notifications: %s", strerror(errno));
		goto fail;
	}
	fd = mnl_socket_get_fd(m->nl);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (ev_add_fd(m->loop, fd, EPOLLIN, readable, m) < 0) {
		*err = xasprintf("nftables notifications: %s", strerror(errno));
		goto fail;
	}
	return 0;
fail:
	if (m->nl)
		mnl_socket_close(m->nl);
	m->nl = NULL;
	return -EIO;
}

static void stop_listening(struct nftmon *m)
{
	if (!m->nl)
		return;
	ev_del_fd(m->loop, mnl_socket_get_fd(m->nl));
	mnl_socket_close(m->nl);
	m->nl = NULL;
	m->touched_by = 0;
}

int nftmon_open(struct ev_loop *l, struct nft_writer *w, nftmon_cb cb,
		void *arg, struct nftmon **out, char **err)
{
	struct nftmon *m = xcalloc(1, sizeof(*m));
	int ret;

	m->loop = l;
	m->w = w;
	m->own = nft_portid(w);
	m->cb = cb;
	m->arg = arg;
	ret = listen_on(m, err);
	if (ret < 0) {
		free(m);
		m = NULL;
	}
	*out = m;
	return ret;
}

void nftmon_close(struct nftmon *m)
{
	if (!m)
		return;
	stop_listening(m);
	free(m);
}

void nftmon_pause(struct nftmon *m)
{
	if (!m || !m->nl)
		return;
	/* what is queued was committed before the generation read below:
	 * judge all of it now (the socket holds at most NFTMON_RCVBUF) */
	drain(m, mnl_socket_get_fd(m->nl), 1u << 16);
	stop_listening(m);
	m->gen_known = nft_generation(m->w, &m->paused_gen) == 0;
}

void nftmon_resume(struct nftmon *m, bool committed)
{
	uint32_t gen, others;
	char *err = NULL, who[96];

	if (!m || m->nl)
		return;
	if (listen_on(m, &err) < 0) {
		log_err("%s: changes to the table will not be noticed", err);
		free(err);
		return;
	}
	if (!m->gen_known || nft_generation(m->w, &gen) < 0) {
		report(m, "unknown (the nftables generation could not be "
		       "read)", true);
		return;
	}
	others = gen - m->paused_gen - (committed ? 1u : 0u);
	if (others) {
		snprintf(who, sizeof(who), "unknown (%u other nftables "
			 "transaction%s while the table was replaced)",
			 others, others == 1 ? "" : "s");
		report(m, who, true);
	}
}

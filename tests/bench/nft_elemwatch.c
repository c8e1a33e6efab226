/* Bench helper of tests/bench/cluster.sh: prints one line per IPv4 set
 * element that nf_tables adds to or deletes from any set of table
 * inet bulkhead in this network namespace, as the kernel announces it on
 * NFNLGRP_NFTABLES, with CLOCK_MONOTONIC at reception:
 *     add 10.200.0.1 123456789012
 *     del 10.200.0.1 123456789099
 * `nft monitor` cannot stand in: it reads the whole ruleset (every
 * element) before it listens, which with 100,000 elements took longer
 * than the benchmark. Prints "ready" once subscribed. Runs until killed. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull +
	       (unsigned long long)ts.tv_nsec;
}

/* NFTA_SET_ELEM_KEY -> NFTA_DATA_VALUE of 4 bytes */
static void elem(const struct nlattr *e, const char *op, bool *ours,
		 unsigned long long t)
{
	const struct nlattr *a, *k;
	char buf[INET_ADDRSTRLEN];

	mnl_attr_for_each_nested(a, e) {
		if (mnl_attr_get_type(a) != NFTA_SET_ELEM_KEY)
			continue;
		mnl_attr_for_each_nested(k, a)
			if (mnl_attr_get_type(k) == NFTA_DATA_VALUE &&
			    mnl_attr_get_payload_len(k) == 4 && *ours &&
			    inet_ntop(AF_INET, mnl_attr_get_payload(k), buf,
				      sizeof(buf)))
				printf("%s %s %llu\n", op, buf, t);
	}
}

static int on_msg(const struct nlmsghdr *nlh, void *data)
{
	int type = NFNL_MSG_TYPE(nlh->nlmsg_type);
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);
	const char *op = type == NFT_MSG_NEWSETELEM ? "add" :
			 type == NFT_MSG_DELSETELEM ? "del" : NULL;
	unsigned long long t = now_ns();
	const struct nlattr *a, *l;
	bool ours = false;

	if (!op || g->nfgen_family != NFPROTO_INET)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*g)) {
		if (mnl_attr_get_type(a) == NFTA_SET_ELEM_LIST_TABLE)
			ours = !strcmp(mnl_attr_get_str(a), "bulkhead");
		if (mnl_attr_get_type(a) == NFTA_SET_ELEM_LIST_ELEMENTS)
			mnl_attr_for_each_nested(l, a)
				elem(l, op, &ours, t);
	}
	return MNL_CB_OK;
}

int main(void)
{
	static char buf[1 << 20];
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	int grp = NFNLGRP_NFTABLES, size = 16 << 20;
	ssize_t n;

	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_setsockopt(nl, NETLINK_ADD_MEMBERSHIP, &grp,
				  sizeof(grp)) < 0) {
		perror("nft_elemwatch: netlink");
		return 1;
	}
	setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &size,
		   sizeof(size));
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	for (;;) {
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0) {
			perror("nft_elemwatch: recv (lost events)");
			continue;
		}
		mnl_cb_run(buf, (size_t)n, 0, 0, on_msg, NULL);
	}
}

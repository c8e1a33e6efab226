/* What the two-step dispatch would buy, and why bulkhead does not use it
 * (docs/ruleset.md, "Known limit"). In a fresh network namespace:
 *
 *   one-step  map in_v4 { ipv4_addr : verdict }, N elements "goto cK";
 *             the rule `ip daddr vmap @in_v4` (what bulkhead programs)
 *   two-step  map gid_v4 { ipv4_addr : mark }, N elements, and a constant
 *             map grp { mark : verdict } of G "goto cK"; one rule loads
 *             ip daddr, looks it up in gid_v4 into register 1, and looks
 *             register 1 up in grp for the verdict
 *
 * then K single-element adds into each (one batch each, ACK read), and
 * finally whether `nft list ruleset` can print the two-step rule.
 *
 *   chained_lookup [--elements N] [--groups G] [--attaches K] [--nft PATH]
 *
 * Root; never touches the namespace it was started in. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "bench_util.h"

#define TABLE "bh_probe"

static void die(const char *what, int err)
{
	fprintf(stderr, "chained_lookup: %s: %s\n", what, strerror(err));
	exit(2);
}

/* 10.x.y.z for element i (never 0) */
static void addr_of(unsigned long i, uint8_t a[4])
{
	unsigned long x = i + 1;

	a[0] = 10;
	a[1] = (uint8_t)(x >> 16);
	a[2] = (uint8_t)(x >> 8);
	a[3] = (uint8_t)x;
}

/* The table with its N elements per map, in nft syntax (nft can say all
 * of it but the two-step rule). */
static void write_map(FILE *f, const char *name, const char *type,
		      unsigned long n, unsigned groups, bool verdict)
{
	unsigned long i;
	uint8_t a[4];

	fprintf(f, "  map %s { type ipv4_addr : %s; size %lu;", name, type,
		n * 2 + 64);
	for (i = 0; i < n; i++) {
		addr_of(i, a);
		fprintf(f, "%s%u.%u.%u.%u : ", i ? ",\n" : " elements = { ",
			a[0], a[1], a[2], a[3]);
		if (verdict)
			fprintf(f, "goto c%lu", i % groups);
		else
			fprintf(f, "%lu", i % groups + 1);
	}
	fprintf(f, "%s }\n", n ? " }" : "");
}

static void write_tables(FILE *f, unsigned long n, unsigned groups)
{
	unsigned g;

	fprintf(f, "table inet %s {\n", TABLE);
	for (g = 0; g < groups; g++)
		fprintf(f, "  chain c%u { counter accept; }\n", g);
	write_map(f, "in_v4", "verdict", n, groups, true);
	write_map(f, "gid_v4", "mark", n, groups, false);
	fprintf(f, "  map grp { type mark : verdict; elements = { ");
	for (g = 0; g < groups; g++)
		fprintf(f, "%s%u : goto c%u", g ? ", " : "", g + 1, g);
	fprintf(f, " }; }\n  chain dispatch { type filter hook forward priority 0;"
		" ip daddr vmap @in_v4; }\n}\n");
}

static int run(const char *nft, const char *arg1, const char *arg2)
{
	int st = bench_nft(nft, arg1, arg2, true);

	if (st < 0)
		die("running nft", -st);
	return st;
}

struct nl {
	struct mnl_socket *s;
	uint32_t seq;
	char buf[64 * 1024];
};

/* One batch around msg (built by fill), sent, every ACK read. */
static void transact(struct nl *nl,
		     void (*fill)(struct nlmsghdr *, uint32_t, void *),
		     uint16_t type, uint16_t flags, void *arg)
{
	struct mnl_nlmsg_batch *b = mnl_nlmsg_batch_start(nl->buf,
							  sizeof(nl->buf));
	struct nlmsghdr *nlh;
	char rbuf[8192];
	int acks = 0;

	nftnl_batch_begin(mnl_nlmsg_batch_current(b), nl->seq++);
	mnl_nlmsg_batch_next(b);
	nlh = nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(b), type,
				    NFPROTO_INET, flags | NLM_F_ACK, nl->seq++);
	fill(nlh, nl->seq, arg);
	mnl_nlmsg_batch_next(b);
	nftnl_batch_end(mnl_nlmsg_batch_current(b), nl->seq++);
	mnl_nlmsg_batch_next(b);
	if (mnl_socket_sendto(nl->s, mnl_nlmsg_batch_head(b),
			      mnl_nlmsg_batch_size(b)) < 0)
		die("send", errno);
	mnl_nlmsg_batch_stop(b);
	while (!acks) {
		int len = (int)mnl_socket_recvfrom(nl->s, rbuf, sizeof(rbuf));
		const struct nlmsghdr *r = (const void *)rbuf;

		if (len < 0)
			die("recv", errno);
		for (; mnl_nlmsg_ok(r, len); r = mnl_nlmsg_next(r, &len))
			if (r->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e =
					mnl_nlmsg_get_payload(r);

				if (e->error)
					die("kernel", -e->error);
				acks++;
			}
	}
}

static struct nftnl_expr *expr(const char *name)
{
	struct nftnl_expr *e = nftnl_expr_alloc(name);

	if (!e)
		die("nftnl_expr_alloc", ENOMEM);
	return e;
}

/* ip daddr -> gid_v4 -> register 1 -> grp -> verdict */
static void fill_rule(struct nlmsghdr *nlh, uint32_t seq, void *arg)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nftnl_expr *e;
	uint8_t v4 = NFPROTO_IPV4;

	(void)seq;
	(void)arg;
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, TABLE);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, "dispatch");
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	e = expr("meta");
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, NFT_META_NFPROTO);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
	nftnl_rule_add_expr(r, e);
	e = expr("cmp");
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, &v4, 1);
	nftnl_rule_add_expr(r, e);
	e = expr("payload");
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE,
			   NFT_PAYLOAD_NETWORK_HEADER);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, 16);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, 4);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	nftnl_rule_add_expr(r, e);
	e = expr("lookup");
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_1);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, "gid_v4");
	nftnl_rule_add_expr(r, e);
	e = expr("lookup");
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, "grp");
	nftnl_rule_add_expr(r, e);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
}

struct elem_arg {
	const char *set;
	unsigned long i;
	unsigned groups;
};

/* one element: address i -> goto c<i % G> (in_v4) or mark (gid_v4) */
static void fill_elem(struct nlmsghdr *nlh, uint32_t seq, void *arg)
{
	const struct elem_arg *x = arg;
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();
	uint8_t a[4];
	uint32_t mark = (uint32_t)(x->i % x->groups + 1);
	char chain[16];

	(void)seq;
	nftnl_set_set_str(s, NFTNL_SET_TABLE, TABLE);
	nftnl_set_set_str(s, NFTNL_SET_NAME, x->set);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	addr_of(x->i, a);
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, a, 4);
	if (!strcmp(x->set, "in_v4")) {
		snprintf(chain, sizeof(chain), "c%lu", x->i % x->groups);
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, NFT_GOTO);
		nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, chain);
	} else {
		/* nft keeps a mark in host byte order */
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, &mark, 4);
	}
	nftnl_set_elem_add(s, e);
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
}

static void attach_latency(struct nl *nl, const char *set, unsigned long n,
			   unsigned groups, int k, double *p50, double *p99)
{
	double *t = calloc((size_t)k, sizeof(*t));
	struct elem_arg x = { .set = set, .groups = groups };
	int j;

	if (!t)
		die("calloc", ENOMEM);
	for (j = 0; j < k; j++) {
		double t0;

		x.i = n + (unsigned long)j;
		t0 = bench_now();
		transact(nl, fill_elem, NFT_MSG_NEWSETELEM,
			 NLM_F_CREATE | NLM_F_EXCL, &x);
		t[j] = bench_now() - t0;
		transact(nl, fill_elem, NFT_MSG_DELSETELEM, 0, &x);
	}
	*p50 = bench_pct(t, (size_t)k, 0.5) * 1e3;
	*p99 = bench_pct(t, (size_t)k, 0.99) * 1e3;
	free(t);
}

int main(int argc, char **argv)
{
	unsigned long n = 100000;
	unsigned groups = 1000;
	int k = 50, i, st;
	const char *nft = "/usr/sbin/nft";
	char path[] = "/tmp/bh-chained-XXXXXX";
	double a50, a99, b50, b99;
	struct nl *nl = calloc(1, sizeof(*nl));
	FILE *f;
	int fd;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--elements") && i + 1 < argc)
			n = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--groups") && i + 1 < argc)
			groups = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--attaches") && i + 1 < argc)
			k = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--nft") && i + 1 < argc)
			nft = argv[++i];
		else {
			fprintf(stderr, "usage: chained_lookup [--elements N]"
				" [--groups G] [--attaches K] [--nft PATH]\n");
			return 2;
		}
	}
	if (!nl || !groups || k < 1 || n > 16000000)
		die("arguments", EINVAL);
	if (unshare(CLONE_NEWNET) < 0)
		die("unshare(CLONE_NEWNET)", errno);
	fd = mkstemp(path);
	if (fd < 0 || !(f = fdopen(fd, "w")))
		die(path, errno);
	write_tables(f, n, groups);
	if (fclose(f))
		die(path, errno);
	st = run(nft, "-f", path);
	unlink(path);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		die("nft -f of the tables", EIO);
	nl->s = mnl_socket_open(NETLINK_NETFILTER);
	if (!nl->s || mnl_socket_bind(nl->s, 0, MNL_SOCKET_AUTOPID) < 0)
		die("netlink", errno);
	nl->seq = (uint32_t)time(NULL);
	transact(nl, fill_rule, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND,
		 NULL);
	attach_latency(nl, "in_v4", n, groups, k, &a50, &a99);
	attach_latency(nl, "gid_v4", n, groups, k, &b50, &b99);
	printf("elements %lu, groups %u, attaches %d\n", n, groups, k);
	printf("one-step (address : goto chain)   attach p50 %.3f ms  "
	       "p99 %.3f ms\n", a50, a99);
	printf("two-step (address : mark, mark : goto chain) attach p50 "
	       "%.3f ms  p99 %.3f ms\n", b50, b99);
	fflush(stdout);
	st = run(nft, "list", "ruleset");
	if (WIFSIGNALED(st))
		printf("nft list ruleset with the two-step rule: killed by "
		       "signal %d (%s)\n", WTERMSIG(st),
		       strsignal(WTERMSIG(st)));
	else
		printf("nft list ruleset with the two-step rule: exit %d\n",
		       WEXITSTATUS(st));
	mnl_socket_close(nl->s);
	free(nl);
	return 0;
}

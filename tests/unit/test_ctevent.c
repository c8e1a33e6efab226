/* ctevent.c: the observer's ctnetlink attribute parser, on messages the
 * kernel sent (tests/fuzz/corpus-ctevent, captured by
 * tests/tools/ct_capture.sh: NEW and DESTROY events and dump entries of
 * TCP, UDP and ICMP over IPv4, TCP over IPv6, TCP through a DNAT), held
 * to libnetfilter_conntrack's full parse of the same bytes; then every
 * truncation, byte corruptions, and hand-built messages with a missing,
 * short, unknown or 32-bit attribute. Every input sits in a buffer of
 * exactly its size, so a read past it is an ASan error on the ASan
 * build. Run from the source tree's top (make check does). */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "../bench/ctevent_nfct.h"
#include "ctevent.h"
#include "util.h"

#define FIXDIR "tests/fuzz/corpus-ctevent/"

struct expect {
	const char *name;
	bool destroy;
	uint8_t proto;
	const char *src, *dst;
	int dport;		/* -1: none */
	bool counters;
};

/* what ct_capture.py did: ports 5001 (tcp), 5002 (udp), 5003 (tcp6),
 * 6000 DNATed to 6001, an echo */
static const struct expect fixtures[] = {
	{ "v4-tcp-new", false, IPPROTO_TCP, "127.0.0.1", "127.0.0.1", 5001, false },
	{ "v4-tcp-destroy", true, IPPROTO_TCP, "127.0.0.1", "127.0.0.1", 5001, true },
	{ "v4-udp-new", false, IPPROTO_UDP, "127.0.0.1", "127.0.0.1", 5002, false },
	{ "v4-udp-destroy", true, IPPROTO_UDP, "127.0.0.1", "127.0.0.1", 5002, true },
	{ "v6-tcp-new", false, IPPROTO_TCP, "::1", "::1", 5003, false },
	{ "v6-tcp-destroy", true, IPPROTO_TCP, "::1", "::1", 5003, true },
	{ "v4-tcp-dnat-new", false, IPPROTO_TCP, "127.0.0.1", "127.0.0.1", 6001, false },
	{ "v4-tcp-dnat-destroy", true, IPPROTO_TCP, "127.0.0.1", "127.0.0.1", 6001, true },
	{ "v4-icmp-new", false, IPPROTO_ICMP, "127.0.0.1", "127.0.0.1", -1, false },
	{ "v4-icmp-destroy", true, IPPROTO_ICMP, "127.0.0.1", "127.0.0.1", -1, true },
	{ "dump-v4-tcp", false, IPPROTO_TCP, "127.0.0.1", "127.0.0.1", 5001, true },
	{ "dump-v4-udp", false, IPPROTO_UDP, "127.0.0.1", "127.0.0.1", 5002, true },
	{ "dump-v6-tcp", false, IPPROTO_TCP, "::1", "::1", 5003, true },
	{ "dump-v4-tcp-dnat", false, IPPROTO_TCP, "127.0.0.1", "127.0.0.1", 6001, true },
	{ "dump-v4-icmp", false, IPPROTO_ICMP, "127.0.0.1", "127.0.0.1", -1, true },
};

static uint8_t *load(const char *name, size_t *len)
{
	char path[256];
	char *buf = NULL;
	uint8_t *exact;

	snprintf(path, sizeof(path), FIXDIR "%s", name);
	if (bh_read_file(path, 65536, &buf, len) < 0)
		fail_msg("cannot read the fixture %s (run from the source "
			 "tree's top)", path);
	/* exactly len bytes: one more read is ASan's to see */
	exact = malloc(*len);
	assert_non_null(exact);
	memcpy(exact, buf, *len);
	free(buf);
	return exact;
}

static void assert_addr(const struct bh_addr *a, const char *want)
{
	char s[BH_ADDR_STRLEN];

	assert_string_equal(bh_addr_str(a, s), want);
}

static void assert_same(const struct flowobs_event *x,
			const struct flowobs_event *y)
{
	assert_int_equal(x->destroy, y->destroy);
	assert_int_equal(x->id, y->id);
	assert_true(bh_addr_eq(&x->src, &y->src));
	assert_true(bh_addr_eq(&x->dst, &y->dst));
	assert_int_equal(x->proto, y->proto);
	assert_int_equal(x->has_port, y->has_port);
	assert_int_equal(x->dport, y->dport);
	assert_int_equal(x->packets, y->packets);
	assert_int_equal(x->bytes, y->bytes);
}

/* the kernel's messages: the fields we expect, and what
 * libnetfilter_conntrack reads from the same bytes */
static void test_fixtures(void **state)
{
	struct nf_conntrack *ct = nfct_new();
	uint32_t tcp_new_id = 0, tcp_destroy_id = 0;
	size_t i, len;

	for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		const struct expect *x = &fixtures[i];
		struct flowobs_event e, ref;
		uint8_t *m = load(x->name, &len);

		print_message("# %s\n", x->name);
		assert_int_equal(ctevent_parse(m, len, &e), 0);
		assert_int_equal(nfct_ref_parse(ct, (void *)m, &ref), 0);
		assert_same(&e, &ref);
		assert_int_equal(e.destroy, x->destroy);
		assert_int_equal(e.proto, x->proto);
		assert_addr(&e.src, x->src);
		assert_addr(&e.dst, x->dst);
		assert_int_equal(e.has_port, x->dport >= 0);
		if (x->dport >= 0)
			assert_int_equal(e.dport, x->dport);
		assert_int_not_equal(e.id, 0);
		assert_int_equal(e.wall_ms, 0);
		if (x->counters) {
			/* at least one packet each way */
			assert_true(e.packets >= 2);
			assert_true(e.bytes >= 2 * 20 * e.packets / 2);
		} else {
			assert_int_equal(e.packets, 0);
			assert_int_equal(e.bytes, 0);
		}
		if (!strcmp(x->name, "v4-tcp-new"))
			tcp_new_id = e.id;
		if (!strcmp(x->name, "v4-tcp-destroy"))
			tcp_destroy_id = e.id;
		free(m);
	}
	/* a connection's NEW and DESTROY carry the same id */
	assert_int_equal(tcp_new_id, tcp_destroy_id);
	nfct_destroy(ct);
}

/* every shorter buffer: with the header's length as sent (it claims
 * more than there is) always refused; with nlmsg_len cut to match, never
 * a read past the end, and a parse only when what is left holds every
 * attribute we need */
static void test_truncated(void **state)
{
	size_t i, n, len;

	for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		uint8_t *m = load(fixtures[i].name, &len);

		for (n = 0; n < len; n++) {
			struct flowobs_event e;
			uint8_t *t = malloc(n ? n : 1);

			assert_non_null(t);
			memcpy(t, m, n);
			assert_int_equal(ctevent_parse(t, n, &e), -EINVAL);
			if (n >= sizeof(struct nlmsghdr)) {
				((struct nlmsghdr *)t)->nlmsg_len = (uint32_t)n;
				if (ctevent_parse(t, n, &e) == 0) {
					assert_true(e.src.family == AF_INET ||
						    e.src.family == AF_INET6);
					assert_int_equal(e.src.family,
							 e.dst.family);
				}
			}
			free(t);
		}
		free(m);
	}
}

/* one byte at a time set to values that break lengths and types */
static void test_corrupted(void **state)
{
	static const uint8_t vals[] = { 0x00, 0x01, 0x03, 0x04, 0x05, 0x7f,
					0x80, 0xff };
	size_t i, k, v, len;
	unsigned parsed = 0, refused = 0;

	for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		uint8_t *m = load(fixtures[i].name, &len);

		for (k = 0; k < len; k++) {
			uint8_t orig = m[k];

			for (v = 0; v < sizeof(vals); v++) {
				struct flowobs_event e;
				int ret;

				m[k] = vals[v];
				ret = ctevent_parse(m, len, &e);
				assert_true(ret == 0 || ret == -EINVAL ||
					    ret == -ENOENT);
				if (ret == 0) {
					parsed++;
					assert_true(e.src.family == AF_INET ||
						    e.src.family == AF_INET6);
				} else {
					refused++;
				}
			}
			m[k] = orig;
		}
		free(m);
	}
	/* both outcomes happened: the loop did test something */
	assert_true(parsed > 0 && refused > 0);
}

/* ---- hand-built messages */

static char mbuf[1024];

static struct nlmsghdr *msg_new(uint16_t type, uint8_t family)
{
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfg;

	memset(mbuf, 0, sizeof(mbuf));
	nlh = mnl_nlmsg_put_header(mbuf);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = family;
	return nlh;
}

struct build {
	bool no_id, no_orig, no_repl, no_proto, short_id, short_addr;
	bool counters32, unknown, counters64;
};

static struct nlmsghdr *build(uint16_t type, const struct build *b)
{
	struct nlmsghdr *nlh = msg_new(type, AF_INET);
	struct nlattr *t, *n;
	int dir;

	if (b->unknown)
		mnl_attr_put_u32(nlh, 31, 7);	/* a type from the future */
	for (dir = 0; dir < 2; dir++) {
		if ((dir == 0 && b->no_orig) || (dir == 1 && b->no_repl))
			continue;
		t = mnl_attr_nest_start(nlh, dir == 0 ? CTA_TUPLE_ORIG :
					CTA_TUPLE_REPLY);
		n = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
		if (b->short_addr)
			mnl_attr_put_u16(nlh, CTA_IP_V4_SRC, 1);
		else
			mnl_attr_put_u32(nlh, CTA_IP_V4_SRC,
					 htonl(dir == 0 ? 0x0a000001 :
					       0x0a000002));
		mnl_attr_put_u32(nlh, CTA_IP_V4_DST, htonl(0x0a000009));
		mnl_attr_nest_end(nlh, n);
		n = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
		if (!b->no_proto)
			mnl_attr_put_u8(nlh, CTA_PROTO_NUM, IPPROTO_UDP);
		mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT,
				 htons(dir == 0 ? 33333 : 53));
		mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT,
				 htons(dir == 0 ? 53 : 33333));
		mnl_attr_nest_end(nlh, n);
		mnl_attr_nest_end(nlh, t);
		if (b->counters32 || b->counters64) {
			t = mnl_attr_nest_start(nlh, dir == 0 ?
						CTA_COUNTERS_ORIG :
						CTA_COUNTERS_REPLY);
			if (b->counters32) {
				mnl_attr_put_u32(nlh, CTA_COUNTERS32_PACKETS,
						 htonl(3));
				mnl_attr_put_u32(nlh, CTA_COUNTERS32_BYTES,
						 htonl(300));
			} else {
				mnl_attr_put_u64(nlh, CTA_COUNTERS_PACKETS,
						 htobe64(5ull << 32));
				mnl_attr_put_u64(nlh, CTA_COUNTERS_BYTES,
						 htobe64(1000));
			}
			mnl_attr_nest_end(nlh, t);
		}
	}
	if (b->short_id)
		mnl_attr_put_u16(nlh, CTA_ID, 1);
	else if (!b->no_id)
		mnl_attr_put_u32(nlh, CTA_ID, htonl(0xdeadbeef));
	return nlh;
}

static int parse_built(uint16_t type, const struct build *b,
		       struct flowobs_event *e)
{
	struct nlmsghdr *nlh = build(type, b);
	uint8_t *exact = malloc(nlh->nlmsg_len);
	int ret;

	assert_non_null(exact);
	memcpy(exact, nlh, nlh->nlmsg_len);
	ret = ctevent_parse(exact, nlh->nlmsg_len, e);
	free(exact);
	return ret;
}

static void test_built(void **state)
{
	struct flowobs_event e;
	struct build b;

	memset(&b, 0, sizeof(b));
	assert_int_equal(parse_built(IPCTNL_MSG_CT_DELETE, &b, &e), 0);
	assert_true(e.destroy);
	assert_int_equal(e.id, 0xdeadbeef);
	assert_addr(&e.src, "10.0.0.1");
	assert_addr(&e.dst, "10.0.0.2");
	assert_int_equal(e.proto, IPPROTO_UDP);
	assert_int_equal(e.dport, 53);
	assert_int_equal(e.packets, 0);

	b = (struct build){ .counters32 = true, .unknown = true };
	assert_int_equal(parse_built(IPCTNL_MSG_CT_DELETE, &b, &e), 0);
	assert_int_equal(e.packets, 6);
	assert_int_equal(e.bytes, 600);

	b = (struct build){ .counters64 = true };
	assert_int_equal(parse_built(IPCTNL_MSG_CT_NEW, &b, &e), 0);
	assert_false(e.destroy);
	assert_int_equal(e.packets, 10ull << 32);
	assert_int_equal(e.bytes, 2000);

	b = (struct build){ .no_id = true };
	assert_int_equal(parse_built(IPCTNL_MSG_CT_NEW, &b, &e), -EINVAL);
	b = (struct build){ .no_orig = true };
	assert_int_equal(parse_built(IPCTNL_MSG_CT_NEW, &b, &e), -EINVAL);
	b = (struct build){ .no_repl = true };
	assert_int_equal(parse_built(IPCTNL_MSG_CT_NEW, &b, &e), -EINVAL);
	b = (struct build){ .no_proto = true };
	assert_int_equal(parse_built(IPCTNL_MSG_CT_NEW, &b, &e), -EINVAL);
	b = (struct build){ .short_id = true };
	assert_int_equal(parse_built(IPCTNL_MSG_CT_NEW, &b, &e), -EINVAL);
	b = (struct build){ .short_addr = true };
	assert_int_equal(parse_built(IPCTNL_MSG_CT_NEW, &b, &e), -EINVAL);
	/* not a conntrack entry: skipped, not malformed */
	memset(&b, 0, sizeof(b));
	assert_int_equal(parse_built(IPCTNL_MSG_CT_GET, &b, &e), -ENOENT);
}

static void test_framing(void **state)
{
	struct flowobs_event e;
	struct build b = { 0 };
	struct nlmsghdr *nlh;

	/* another subsystem, NLMSG_DONE */
	nlh = build(IPCTNL_MSG_CT_NEW, &b);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK_EXP << 8) | 0;
	assert_int_equal(ctevent_parse(nlh, nlh->nlmsg_len, &e), -ENOENT);
	nlh->nlmsg_type = NLMSG_DONE;
	assert_int_equal(ctevent_parse(nlh, nlh->nlmsg_len, &e), -ENOENT);
	/* a family that is not IP */
	nlh = build(IPCTNL_MSG_CT_NEW, &b);
	((struct nfgenmsg *)mnl_nlmsg_get_payload(nlh))->nfgen_family =
		AF_BRIDGE;
	assert_int_equal(ctevent_parse(nlh, nlh->nlmsg_len, &e), -EINVAL);
	/* an unaligned length, a length past the buffer, a header only */
	nlh = build(IPCTNL_MSG_CT_NEW, &b);
	assert_int_equal(ctevent_parse(nlh, nlh->nlmsg_len, &e), 0);
	nlh->nlmsg_len -= 1;
	assert_int_equal(ctevent_parse(nlh, nlh->nlmsg_len, &e), -EINVAL);
	nlh->nlmsg_len += 1;
	assert_int_equal(ctevent_parse(nlh, nlh->nlmsg_len - 4, &e), -EINVAL);
	nlh->nlmsg_len = sizeof(*nlh);
	assert_int_equal(ctevent_parse(nlh, sizeof(mbuf), &e), -EINVAL);
	/* more buffer than message: the rest is not read */
	nlh = build(IPCTNL_MSG_CT_NEW, &b);
	assert_int_equal(ctevent_parse(nlh, sizeof(mbuf), &e), 0);
	/* an attribute whose length runs past the message */
	nlh = build(IPCTNL_MSG_CT_NEW, &b);
	((struct nlattr *)((char *)mnl_nlmsg_get_payload(nlh) + 4))->nla_len =
		0x7ff0;
	assert_int_equal(ctevent_parse(nlh, nlh->nlmsg_len, &e), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_corrupted),
		cmocka_unit_test(test_built),
		cmocka_unit_test(test_framing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* libFuzzer harness for what a container can put in front of the daemon:
 * the NFLOG messages of its denied packets. The input is the body of one
 * NFULNL_MSG_PACKET netlink message (nfgenmsg + attributes: prefix,
 * payload = the packet's IP and transport headers, sequence number), as
 * the kernel queues it. What parses goes through attribution and
 * aggregation (flowlog.c, against a small policy and inventory whose
 * addresses the fuzzer can reach) and out as a JSON record, the path of
 * every denied packet. The same bytes are also read as a log prefix and a
 * counter name. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>

#include "flowlog.h"
#include "inventory.h"
#include "nflog.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char policy_text[] =
	"version: 1\n"
	"groups:\n"
	"  web: { match: { purpose: web } }\n"
	"  db: { match: { purpose: db } }\n"
	"  office: { cidrs: [192.0.2.0/24, 2001:db8::/32] }\n"
	"flows:\n"
	"  - { from: web, to: db, ports: [tcp/5432] }\n";

static struct policy *pol;
static struct inventory *inv;

static void add(const char *id, const char *purpose, const char *addr)
{
	struct container *c = container_new(id, id);
	struct bh_addr a;

	if (!bh_addr_parse(addr, false, &a))
		abort();
	container_add_label(c, "bulkhead.purpose", purpose);
	container_add_addr(c, &a);
	if (inventory_add(inv, c) < 0)
		abort();
}

static void setup(void)
{
	struct diags d = { 0 };

	pol = policy_load_buf("fuzz.yaml", policy_text,
			      sizeof(policy_text) - 1, &d);
	if (!pol)
		abort();
	diags_free(&d);
	inv = inventory_new();
	add("c-web", "web", "10.0.0.2");
	add("c-db", "db", "10.0.0.3");
	add("c-web6", "web", "fd00::2");
	inventory_classify(inv, pol);
}

/* Every record must turn into JSON; nothing else to keep. */
static void emit(const struct flowlog_rec *r, void *arg)
{
	json_t *j = flowlog_rec_json(r);
	char *s;

	(void)arg;
	if (!j)
		abort();
	s = json_dumps(j, JSON_COMPACT);
	if (!s)
		abort();
	free(s);
	json_decref(j);
}

static void as_strings(const uint8_t *data, size_t size)
{
	char s[NFLOG_PREFIX_MAX + 8];
	struct flowlog_rule r;
	bool unlogged;
	size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;

	memcpy(s, data, n);
	s[n] = '\0';
	/* a rule names its group, or (a boundary's drop) its boundary */
	if (flowlog_parse_prefix(s, &r) && !r.group[0] && !r.boundary[0])
		abort();
	flowlog_parse_counter(s, &r, &unlogged);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct flowlog_opts o = { .emit = emit };
	struct nlmsghdr *nlh;
	struct nflog_pkt p;
	struct flowlog *fl;
	uint32_t seq;
	bool has_seq;

	if (!pol)
		setup();
	as_strings(data, size);
	if (size > 65536)
		return 0;
	/* the header the kernel would write; the body is the input. libmnl
	 * walks attributes up to the aligned end of the message, and the
	 * kernel pads every message to it: so does the harness. */
	nlh = calloc(1, MNL_ALIGN(MNL_NLMSG_HDRLEN + size));
	if (!nlh)
		abort();
	nlh->nlmsg_len = (uint32_t)(MNL_NLMSG_HDRLEN + size);
	nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET;
	memcpy((char *)nlh + MNL_NLMSG_HDRLEN, data, size);
	if (nflog_parse_msg(nlh, &p, &seq, &has_seq)) {
		if (p.src.family != p.dst.family ||
		    (p.src.plen != 32 && p.src.plen != 128) ||
		    memchr(p.prefix, '\0', sizeof(p.prefix)) == NULL)
			abort();
		p.wall_ms = 1000;
		fl = flowlog_new(&o, 0);
		flowlog_set_context(fl, pol, inv);
		flowlog_packet(fl, &p);
		flowlog_packet(fl, &p);	/* the second one aggregates */
		flowlog_lost(fl, 3);
		flowlog_tick(fl, 20000);
		flowlog_flush(fl, 20001);
		flowlog_free(fl);
	}
	free(nlh);
	return 0;
}

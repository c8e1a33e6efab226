/* The one writer of the bulkhead tables: the ruleset model becomes one
 * nfnetlink batch per transaction (libnftnl builds tables, sets, chains,
 * rules; element lists are written straight into the batch with libmnl
 * because they are most of the bytes). Every message asks for an ACK; the
 * kernel processes a batch inside sendmsg(), so once it returns every ACK
 * is queued and we read them all. A failing sequence number maps back to
 * the object (and the YAML location) that built the message. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "nft.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

#define MSG_ROOM (128 * 1024)		/* free space before each message */
#define ELEMS_MAX_BYTES 60000		/* a nested attribute holds < 64 KiB */
#define BATCH_KEEP_BYTES (4 * MSG_ROOM)	/* kept after a full commit */
#define DATATYPE_IPADDR 7		/* nftables' datatype ids */
#define DATATYPE_IP6ADDR 8
#define DATATYPE_IFNAME 41
#define DATATYPE_INET_PROTOCOL 12
#define DATATYPE_INET_SERVICE 13
#define DATATYPE_BITS 6
#define BYTEORDER_HOST_ENDIAN 1
#define BYTEORDER_BIG_ENDIAN 2
#define RTN_LOCAL_TYPE 2

enum tag_kind {
	T_TABLE_ADD, T_TABLE_DEL, T_COUNTER, T_SET, T_CHAIN, T_ELEMS, T_RULE,
};

/* What one message of the batch built, for error messages. */
struct tag {
	uint8_t kind;
	uint8_t table;			/* enum rs_table */
	uint8_t op;			/* T_ELEMS: enum rs_op */
	uint32_t idx;			/* set, chain, rule, counter, delta op */
	uint32_t first, count;		/* T_ELEMS: elements */
};

struct nft_writer {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq, base_seq;
	char *buf;			/* the batch being built, then sent */
	size_t len, cap;
	struct tag *tags;
	size_t n_tags, cap_tags;
	int sndbuf, rcvbuf;		/* what we set last */
	bool force;			/* SO_*BUFFORCE works (CAP_NET_ADMIN) */
	const struct ruleset *rs;	/* while building */
	/* a full commit that gives each set's element memory back once the
	 * batch has its elements (nft_commit_full with an inventory) */
	struct ruleset *drop;
	const struct rs_delta *delta;
	const struct nft_counts *counts;
};

static int family_of(enum rs_table t)
{
	return t == RS_BRIDGE ? NFPROTO_BRIDGE : NFPROTO_INET;
}

/* ---- the socket ---- */

int nft_open(struct nft_writer **out)
{
	struct nft_writer *w = xcalloc(1, sizeof(*w));
	int one = 1, ret;

	*out = NULL;
	w->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!w->nl) {
		ret = -errno;
		goto fail;
	}
	if (mnl_socket_bind(w->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto fail;
	}
	/* error messages from the kernel, not just an errno */
	mnl_socket_setsockopt(w->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	w->portid = mnl_socket_get_portid(w->nl);
	w->seq = (uint32_t)time(NULL);
	w->force = true;
	*out = w;
	return 0;
fail:
	nft_close(w);
	return ret;
}

static void batch_unmap(struct nft_writer *w);

void nft_close(struct nft_writer *w)
{
	if (!w)
		return;
	if (w->nl)
		mnl_socket_close(w->nl);
	batch_unmap(w);
	free(w->tags);
	free(w);
}

/* Grow a socket buffer to at least want bytes; FORCE lifts the sysctl
 * cap when we have CAP_NET_ADMIN, which a writer of rules has. */
static void sock_buf(struct nft_writer *w, int opt, int force_opt, int *cur,
		     size_t want)
{
	int fd = mnl_socket_get_fd(w->nl), v;

	if (want > (1u << 30))
		want = 1u << 30;
	v = (int)want;
	if (v <= *cur)
		return;
	if (w->force && setsockopt(fd, SOL_SOCKET, force_opt, &v, sizeof(v)))
		w->force = false;
	if (!w->force)
		setsockopt(fd, SOL_SOCKET, opt, &v, sizeof(v));
	*cur = v;
}

/* ---- the batch ---- */

static void batch_reset(struct nft_writer *w)
{
	w->len = 0;
	w->n_tags = 0;
}

/* The batch is a mapping of its own rather than malloc's: a full batch
 * is tens of MiB at many containers and is given back once sent
 * (batch_release). Freed through malloc, it would raise glibc's mmap
 * threshold to its size, the next one would come from the heap, and the
 * heap gives free pages back only from its top. */
static void batch_map(struct nft_writer *w, size_t cap)
{
	static const char msg[] = "bulkhead: out of memory\n";
	void *p;

	if (w->buf)
		p = mremap(w->buf, w->cap, cap, MREMAP_MAYMOVE);
	else
		p = mmap(NULL, cap, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		/* as xmalloc does */
		if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
			abort();
		abort();
	}
	w->buf = p;
	w->cap = cap;
}

static void batch_unmap(struct nft_writer *w)
{
	if (w->buf)
		munmap(w->buf, w->cap);
	w->buf = NULL;
	w->cap = 0;
}

static char *batch_room(struct nft_writer *w)
{
	if (w->cap - w->len < MSG_ROOM)
		batch_map(w, w->cap ? w->cap * 2 : 4 * MSG_ROOM);
	return w->buf + w->len;
}

static struct nlmsghdr *msg_begin(struct nft_writer *w, uint16_t type,
				  enum rs_table t, uint16_t flags,
				  const struct tag *tag)
{
	struct nlmsghdr *nlh;

	nlh = nftnl_nlmsg_build_hdr(batch_room(w), type, family_of(t),
				    flags | NLM_F_ACK, w->seq++);
	xgrow(&w->tags, &w->cap_tags, w->n_tags + 1, sizeof(*w->tags));
	w->tags[w->n_tags++] = *tag;
	return nlh;
}

static void msg_end(struct nft_writer *w, struct nlmsghdr *nlh)
{
	w->len += nlh->nlmsg_len;
}

static void batch_begin(struct nft_writer *w)
{
	batch_reset(w);
	nftnl_batch_begin(batch_room(w), w->seq++);
	w->len += NLMSG_ALIGN(sizeof(struct nlmsghdr)) +
		  NLMSG_ALIGN(sizeof(struct nfgenmsg));
	w->base_seq = w->seq;
}

static void batch_end(struct nft_writer *w)
{
	nftnl_batch_end(batch_room(w), w->seq++);
	w->len += NLMSG_ALIGN(sizeof(struct nlmsghdr)) +
		  NLMSG_ALIGN(sizeof(struct nfgenmsg));
}

/* ---- objects ---- */

static void put_table(struct nft_writer *w, enum rs_table t, uint16_t type,
		      uint16_t flags)
{
	struct tag tag = { .kind = type == NFT_MSG_DELTABLE ? T_TABLE_DEL :
							      T_TABLE_ADD,
			   .table = t };
	struct nftnl_table *tb = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	nftnl_table_set_str(tb, NFTNL_TABLE_NAME, RULESET_TABLE);
	nftnl_table_set_u32(tb, NFTNL_TABLE_FAMILY, family_of(t));
	nlh = msg_begin(w, type, t, flags, &tag);
	nftnl_table_nlmsg_build_payload(nlh, tb);
	msg_end(w, nlh);
	nftnl_table_free(tb);
}

static void put_counter(struct nft_writer *w, uint32_t i)
{
	const struct rs_counter *c = &w->rs->counters[i];
	struct tag tag = { .kind = T_COUNTER, .table = c->table, .idx = i };
	struct nftnl_obj *o = nftnl_obj_alloc();
	struct nlmsghdr *nlh;
	uint64_t packets, bytes;

	nftnl_obj_set_str(o, NFTNL_OBJ_TABLE, RULESET_TABLE);
	nftnl_obj_set_str(o, NFTNL_OBJ_NAME, c->name);
	nftnl_obj_set_u32(o, NFTNL_OBJ_FAMILY, family_of(c->table));
	nftnl_obj_set_u32(o, NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
	/* NFTA_COUNTER_PACKETS/BYTES: the kernel starts the counter there */
	if (nft_counts_get(w->counts, c->name, c->table, &packets, &bytes) &&
	    (packets || bytes)) {
		nftnl_obj_set_u64(o, NFTNL_OBJ_CTR_PKTS, packets);
		nftnl_obj_set_u64(o, NFTNL_OBJ_CTR_BYTES, bytes);
	}
	nlh = msg_begin(w, NFT_MSG_NEWOBJ, c->table, NLM_F_CREATE, &tag);
	nftnl_obj_nlmsg_build_payload(nlh, o);
	msg_end(w, nlh);
	nftnl_obj_free(o);
}

static uint32_t key_type(enum rs_key k)
{
	switch (k) {
	case RS_KEY_IPV4: return DATATYPE_IPADDR;
	case RS_KEY_IPV6: return DATATYPE_IP6ADDR;
	case RS_KEY_IFNAME: return DATATYPE_IFNAME;
	case RS_KEY_IFNAME_IPV4:
		return DATATYPE_IFNAME << DATATYPE_BITS | DATATYPE_IPADDR;
	case RS_KEY_IFNAME_IPV6:
		return DATATYPE_IFNAME << DATATYPE_BITS | DATATYPE_IP6ADDR;
	case RS_KEY_IPV4_PROTO_PORT:
	case RS_KEY_IPV6_PROTO_PORT:
		return ((k == RS_KEY_IPV4_PROTO_PORT ? DATATYPE_IPADDR :
						       DATATYPE_IP6ADDR)
			<< DATATYPE_BITS | DATATYPE_INET_PROTOCOL)
		       << DATATYPE_BITS | DATATYPE_INET_SERVICE;
	}
	return 0;
}

/* Set ids are the model's index + 1: unique within the batch. */
static void put_set(struct nft_writer *w, uint32_t i)
{
	const struct rs_set *s = &w->rs->sets[i];
	struct tag tag = { .kind = T_SET, .table = s->table, .idx = i };
	struct nftnl_set *ns = nftnl_set_alloc();
	struct nftnl_udata_buf *ud = NULL;
	struct nlmsghdr *nlh;
	uint32_t flags = 0;

	nftnl_set_set_str(ns, NFTNL_SET_TABLE, RULESET_TABLE);
	nftnl_set_set_str(ns, NFTNL_SET_NAME, s->name);
	nftnl_set_set_u32(ns, NFTNL_SET_FAMILY, family_of(s->table));
	nftnl_set_set_u32(ns, NFTNL_SET_ID, i + 1);
	nftnl_set_set_u32(ns, NFTNL_SET_KEY_TYPE, key_type(s->key));
	nftnl_set_set_u32(ns, NFTNL_SET_KEY_LEN, s->klen);
	if (s->interval)
		flags |= NFT_SET_INTERVAL;
	if (s->counters) {
		flags |= NFT_SET_OBJECT;
		nftnl_set_set_u32(ns, NFTNL_SET_OBJ_TYPE, NFT_OBJECT_COUNTER);
	}
	if (s->dynamic) {
		flags |= NFT_SET_EVAL | NFT_SET_TIMEOUT;
		nftnl_set_set_u64(ns, NFTNL_SET_TIMEOUT, s->timeout_ms);
	}
	nftnl_set_set_u32(ns, NFTNL_SET_FLAGS, flags);
	if (s->size)
		nftnl_set_set_u32(ns, NFTNL_SET_DESC_SIZE, s->size);
	if (s->key == RS_KEY_IPV4 || s->key == RS_KEY_IPV6 ||
	    s->key == RS_KEY_IFNAME) {
		/* tells `nft list` how to print the keys */
		ud = nftnl_udata_buf_alloc(64);
		nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER,
				    s->key == RS_KEY_IFNAME ?
					    BYTEORDER_HOST_ENDIAN :
					    BYTEORDER_BIG_ENDIAN);
		nftnl_set_set_data(ns, NFTNL_SET_USERDATA,
				   nftnl_udata_buf_data(ud),
				   nftnl_udata_buf_len(ud));
	}
	nlh = msg_begin(w, NFT_MSG_NEWSET, s->table, NLM_F_CREATE, &tag);
	nftnl_set_nlmsg_build_payload(nlh, ns);
	msg_end(w, nlh);
	nftnl_set_free(ns);
	if (ud)
		nftnl_udata_buf_free(ud);
}

static void put_chain(struct nft_writer *w, uint32_t i)
{
	const struct rs_chain *c = &w->rs->chains[i];
	struct tag tag = { .kind = T_CHAIN, .table = c->table, .idx = i };
	struct nftnl_chain *ch = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, RULESET_TABLE);
	nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, c->name);
	nftnl_chain_set_u32(ch, NFTNL_CHAIN_FAMILY, family_of(c->table));
	if (c->hook != RS_HOOK_NONE) {
		nftnl_chain_set_str(ch, NFTNL_CHAIN_TYPE, "filter");
		nftnl_chain_set_u32(ch, NFTNL_CHAIN_HOOKNUM, (uint32_t)c->hook);
		nftnl_chain_set_s32(ch, NFTNL_CHAIN_PRIO, c->prio);
		nftnl_chain_set_u32(ch, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	}
	nlh = msg_begin(w, NFT_MSG_NEWCHAIN, c->table, NLM_F_CREATE, &tag);
	nftnl_chain_nlmsg_build_payload(nlh, ch);
	msg_end(w, nlh);
	nftnl_chain_free(ch);
}

/* ---- set elements, written directly: they are most of the batch ---- */

struct elems {
	struct nlmsghdr *nlh;
	struct nlattr *list;
	uint32_t set;
	uint16_t type;
};

static void elems_open(struct nft_writer *w, struct elems *e, uint32_t set,
		       uint16_t type, uint32_t first, bool with_id)
{
	const struct rs_set *s = &w->rs->sets[set];
	struct tag tag = { .kind = T_ELEMS, .table = s->table, .idx = set,
			   .first = first,
			   .op = type == NFT_MSG_DELSETELEM ? RS_ELEM_DEL :
							      RS_ELEM_ADD };

	e->set = set;
	e->type = type;
	e->nlh = msg_begin(w, type, s->table,
			   type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0, &tag);
	mnl_attr_put_strz(e->nlh, NFTA_SET_ELEM_LIST_TABLE, RULESET_TABLE);
	mnl_attr_put_strz(e->nlh, NFTA_SET_ELEM_LIST_SET, s->name);
	if (with_id)
		mnl_attr_put_u32(e->nlh, NFTA_SET_ELEM_LIST_SET_ID,
				 htonl(set + 1));
	e->list = mnl_attr_nest_start(e->nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
}

static void elems_close(struct nft_writer *w, struct elems *e)
{
	if (!e->nlh)
		return;
	mnl_attr_nest_end(e->nlh, e->list);
	msg_end(w, e->nlh);
	e->nlh = NULL;
}

static void put_data(struct nlmsghdr *nlh, uint16_t type, const void *d,
		     size_t len)
{
	struct nlattr *n = mnl_attr_nest_start(nlh, type);

	mnl_attr_put(nlh, NFTA_DATA_VALUE, len, d);
	mnl_attr_nest_end(nlh, n);
}

/* obj: a counters map's element names its counter */
static void put_elem(struct nft_writer *w, struct elems *e,
		     const uint8_t *key, uint32_t flags, uint32_t obj)
{
	const struct rs_set *s = &w->rs->sets[e->set];
	struct nlattr *el;

	el = mnl_attr_nest_start(e->nlh, NFTA_LIST_ELEM);
	put_data(e->nlh, NFTA_SET_ELEM_KEY, key, s->klen);
	if (flags)
		mnl_attr_put_u32(e->nlh, NFTA_SET_ELEM_FLAGS, htonl(flags));
	if (s->counters)
		mnl_attr_put_strz(e->nlh, NFTA_SET_ELEM_OBJREF,
				  w->rs->counters[obj].name);
	mnl_attr_nest_end(e->nlh, el);
	w->tags[w->n_tags - 1].count++;
}

/* Room for one more element in the open message, else start another. */
static void elems_room(struct nft_writer *w, struct elems *e, uint32_t next,
		       bool with_id)
{
	if ((char *)mnl_nlmsg_get_payload_tail(e->nlh) - (char *)e->list <
	    ELEMS_MAX_BYTES)
		return;
	elems_close(w, e);
	elems_open(w, e, e->set, e->type, next, with_id);
}

static void be_add_one(uint8_t *x, size_t len, bool *wrapped)
{
	int i;

	for (i = (int)len - 1; i >= 0; i--)
		if (++x[i])
			break;
	*wrapped = i < 0;
}

/* Intervals the way the kernel's rbtree sets want them: a start element
 * per range and an end element (flagged) just past it; an end element at
 * zero first when the first range does not start there. */
static void put_set_elems(struct nft_writer *w, uint32_t set)
{
	const struct rs_set *s = &w->rs->sets[set];
	static const uint8_t zero[RS_KEY_MAX];
	struct elems e = { 0 };
	uint8_t end[RS_KEY_MAX];
	bool wrapped;
	size_t i;

	if (!s->n)
		return;
	elems_open(w, &e, set, NFT_MSG_NEWSETELEM, 0, true);
	if (s->interval && memcmp(s->keys, zero, s->klen))
		put_elem(w, &e, zero, NFT_SET_ELEM_INTERVAL_END, 0);
	for (i = 0; i < s->n; i++) {
		elems_room(w, &e, i, true);
		put_elem(w, &e, s->keys + i * s->klen, 0,
			 s->counters ? s->objs[i] : 0);
		if (!s->interval)
			continue;
		memcpy(end, s->key_ends + i * s->klen, s->klen);
		be_add_one(end, s->klen, &wrapped);
		if (!wrapped)
			put_elem(w, &e, end, NFT_SET_ELEM_INTERVAL_END, 0);
	}
	elems_close(w, &e);
}

/* ---- rules ---- */

struct rb {
	struct nftnl_rule *r;
	enum rs_table table;
	int fam;			/* family already checked: 4, 6, 0 */
	uint8_t l4;			/* l4proto already checked */
};

static void add(struct rb *b, struct nftnl_expr *e)
{
	nftnl_rule_add_expr(b->r, e);
}

static void e_meta(struct rb *b, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("meta");

	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
	add(b, e);
}

static void e_cmp(struct rb *b, uint32_t op, const void *d, size_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("cmp");

	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, d, (uint32_t)len);
	add(b, e);
}

static void e_payload(struct rb *b, uint32_t base, uint32_t off,
		      uint32_t len, uint32_t dreg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("payload");

	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
	add(b, e);
}

static void e_lookup(struct rb *b, const struct ruleset *rs, uint32_t set,
		     uint32_t sreg, bool verdict, bool neg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("lookup");

	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
	if (verdict)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, rs->sets[set].name);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set + 1);
	if (neg)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
	add(b, e);
}

static void e_verdict(struct rb *b, int code, const char *chain)
{
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");

	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)code);
	if (chain)
		nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
	add(b, e);
}

static void need_ethertype(struct rb *b, uint16_t type)
{
	uint16_t be = htons(type);

	e_payload(b, NFT_PAYLOAD_LL_HEADER, 12, 2, NFT_REG_1);
	e_cmp(b, NFT_CMP_EQ, &be, 2);
}

/* The family a match implies, checked once per rule as nft does. */
static void need_family(struct rb *b, int fam)
{
	uint8_t p = fam == 6 ? NFPROTO_IPV6 : NFPROTO_IPV4;

	if (b->fam == fam)
		return;
	b->fam = fam;
	if (b->table == RS_BRIDGE) {
		uint16_t be = htons(fam == 6 ? 0x86dd : 0x0800);

		e_meta(b, NFT_META_PROTOCOL, NFT_REG_1);
		e_cmp(b, NFT_CMP_EQ, &be, 2);
		return;
	}
	e_meta(b, NFT_META_NFPROTO, NFT_REG_1);
	e_cmp(b, NFT_CMP_EQ, &p, 1);
}

static void need_l4(struct rb *b, uint8_t proto)
{
	if (b->l4 == proto)
		return;
	b->l4 = proto;
	e_meta(b, NFT_META_L4PROTO, NFT_REG_1);
	e_cmp(b, NFT_CMP_EQ, &proto, 1);
}

static void load_addr(struct rb *b, int fam, bool daddr, uint32_t dreg)
{
	if (fam == 6)
		e_payload(b, NFT_PAYLOAD_NETWORK_HEADER, daddr ? 24 : 8, 16,
			  dreg);
	else
		e_payload(b, NFT_PAYLOAD_NETWORK_HEADER, daddr ? 16 : 12, 4,
			  dreg);
}

static void enc_match(struct rb *b, const struct ruleset *rs,
		      const struct rs_match *m)
{
	struct nftnl_expr *e;
	uint32_t v32;
	uint16_t lo, hi;
	uint8_t v8, a16[16];

	switch (m->kind) {
	case RM_NFPROTO:
		need_family(b, m->family);
		break;
	case RM_ND:
		need_family(b, 6);
		need_l4(b, IPPROTO_ICMPV6);
		e_payload(b, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1, NFT_REG_1);
		v8 = 133;
		e_cmp(b, NFT_CMP_GTE, &v8, 1);
		v8 = 137;
		e_cmp(b, NFT_CMP_LTE, &v8, 1);
		break;
	case RM_CT_STATE:
		e = nftnl_expr_alloc("ct");
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
		add(b, e);
		e = nftnl_expr_alloc("bitwise");
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, 4);
		v32 = m->a;
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &v32, 4);
		v32 = 0;
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &v32, 4);
		add(b, e);
		e_cmp(b, NFT_CMP_NEQ, &v32, 4);
		break;
	case RM_ADDR_SET:
		need_family(b, m->family);
		load_addr(b, m->family, m->daddr, NFT_REG_1);
		e_lookup(b, rs, m->set, NFT_REG_1, false, m->neg);
		break;
	case RM_GROUP_NUM:
		/* the address is loaded once: a lookup leaves its source
		 * register as it was, and nft reads each lookup back as
		 * `ip saddr @bitN` all the same */
		need_family(b, m->family);
		load_addr(b, m->family, m->daddr, NFT_REG_1);
		for (v32 = 0; v32 < rs->n_bits; v32++)
			if (m->lo >> v32 & 1)
				e_lookup(b, rs,
					 (uint32_t)rs->bits[m->family == 6][v32],
					 NFT_REG_1, false, !(m->a >> v32 & 1));
		break;
	case RM_ALLOW_SET:
		/* addr . l4proto . dport in consecutive 32-bit registers,
		 * registers and the (no-op) byteorder as nft 1.0.6 emits
		 * them, so `nft list` reads the rule back the same */
		need_family(b, m->family);
		load_addr(b, m->family, false, NFT_REG_1);
		v32 = m->family == 6 ? NFT_REG_2 : NFT_REG32_01;
		e_meta(b, NFT_META_L4PROTO, v32);
		e = nftnl_expr_alloc("byteorder");
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SREG, v32);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_DREG, v32);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_OP,
				   NFT_BYTEORDER_HTON);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_LEN, 1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SIZE, 2);
		add(b, e);
		e_payload(b, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2,
			  m->family == 6 ? NFT_REG32_05 : NFT_REG32_02);
		e_lookup(b, rs, m->set, NFT_REG_1, false, false);
		break;
	case RM_FIB_LOCAL:
		e = nftnl_expr_alloc("fib");
		nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS,
				   m->daddr ? NFTA_FIB_F_DADDR :
					      NFTA_FIB_F_SADDR);
		nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT,
				   NFT_FIB_RESULT_ADDRTYPE);
		nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, NFT_REG_1);
		add(b, e);
		v32 = RTN_LOCAL_TYPE;
		e_cmp(b, m->neg ? NFT_CMP_NEQ : NFT_CMP_EQ, &v32, 4);
		break;
	case RM_L4PROTO:
		need_l4(b, (uint8_t)m->a);
		break;
	case RM_DPORT:
		need_l4(b, (uint8_t)m->a);
		e_payload(b, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG_1);
		lo = htons(m->lo);
		hi = htons(m->hi);
		if (m->lo == m->hi) {
			e_cmp(b, NFT_CMP_EQ, &lo, 2);
		} else {
			e_cmp(b, NFT_CMP_GTE, &lo, 2);
			e_cmp(b, NFT_CMP_LTE, &hi, 2);
		}
		break;
	case RM_IIF_PREFIX:
		/* the first bytes of the name only: nft's "veth*" */
		e_meta(b, NFT_META_IIFNAME, NFT_REG_1);
		e_cmp(b, NFT_CMP_EQ, rs->opts.guard_ports[m->a],
		      strlen(rs->opts.guard_ports[m->a]));
		break;
	case RM_IIF_ADDR_SET:
		need_family(b, m->family);
		e_meta(b, NFT_META_IIFNAME, NFT_REG_1);
		load_addr(b, m->family, m->daddr, NFT_REG_2);
		e_lookup(b, rs, m->set, NFT_REG_1, false, m->neg);
		break;
	case RM_ETHER_ARP:
		need_ethertype(b, 0x0806);
		break;
	case RM_ARP_SPA_SET:
		/* the sender protocol address: 8 bytes of ARP header and
		 * a 6-byte hardware address precede it */
		need_ethertype(b, 0x0806);
		e_meta(b, NFT_META_IIFNAME, NFT_REG_1);
		e_payload(b, NFT_PAYLOAD_NETWORK_HEADER, 14, 4, NFT_REG_2);
		e_lookup(b, rs, m->set, NFT_REG_1, false, m->neg);
		break;
	case RM_ARP_PROBE:
		need_ethertype(b, 0x0806);
		e_payload(b, NFT_PAYLOAD_NETWORK_HEADER, 14, 4, NFT_REG_1);
		memset(a16, 0, 4);
		e_cmp(b, NFT_CMP_EQ, a16, 4);
		break;
	case RM_ADDR_LL:
		need_family(b, 6);
		memset(a16, 0, sizeof(a16));
		if (m->a) {
			e_payload(b, NFT_PAYLOAD_NETWORK_HEADER, 8, 16,
				  NFT_REG_1);
			e_cmp(b, NFT_CMP_EQ, a16, 16);
			break;
		}
		/* fe80::/10: the first 10 bits */
		e_payload(b, NFT_PAYLOAD_NETWORK_HEADER, 8, 16, NFT_REG_1);
		e = nftnl_expr_alloc("bitwise");
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, 16);
		a16[0] = 0xff;
		a16[1] = 0xc0;
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, a16, 16);
		memset(a16, 0, 16);
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, a16, 16);
		add(b, e);
		a16[0] = 0xfe;
		a16[1] = 0x80;
		e_cmp(b, NFT_CMP_EQ, a16, 16);
		break;
	}
}

static void enc_stmt(struct rb *b, const struct ruleset *rs,
		     const struct rs_stmt *s)
{
	struct nftnl_expr *e, *lim;

	switch (s->kind) {
	case RS_ST_COUNTER:
		e = nftnl_expr_alloc("objref");
		nftnl_expr_set_u32(e, NFTNL_EXPR_OBJREF_IMM_TYPE,
				   NFT_OBJECT_COUNTER);
		nftnl_expr_set_str(e, NFTNL_EXPR_OBJREF_IMM_NAME,
				   rs->counters[s->obj].name);
		add(b, e);
		break;
	case RS_ST_COUNTER_MAP:
		/* the counter the input port's element names */
		e_meta(b, NFT_META_IIFNAME, NFT_REG_1);
		e = nftnl_expr_alloc("objref");
		nftnl_expr_set_u32(e, NFTNL_EXPR_OBJREF_SET_SREG, NFT_REG_1);
		nftnl_expr_set_str(e, NFTNL_EXPR_OBJREF_SET_NAME,
				   rs->sets[s->set].name);
		nftnl_expr_set_u32(e, NFTNL_EXPR_OBJREF_SET_ID, s->set + 1);
		add(b, e);
		break;
	case RS_ST_LIMIT:
		need_family(b, s->family);
		load_addr(b, s->family, false, NFT_REG_1);
		lim = nftnl_expr_alloc("limit");
		nftnl_expr_set_u64(lim, NFTNL_EXPR_LIMIT_RATE, s->rate);
		nftnl_expr_set_u64(lim, NFTNL_EXPR_LIMIT_UNIT, s->unit_s);
		nftnl_expr_set_u32(lim, NFTNL_EXPR_LIMIT_BURST, s->burst);
		nftnl_expr_set_u32(lim, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
		nftnl_expr_set_u32(lim, NFTNL_EXPR_LIMIT_FLAGS, NFT_LIMIT_F_INV);
		e = nftnl_expr_alloc("dynset");
		nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP,
				   NFT_DYNSET_OP_UPDATE);
		nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME,
				   rs->sets[s->set].name);
		nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SET_ID, s->set + 1);
		nftnl_expr_add_expr(e, NFTNL_EXPR_DYNSET_EXPRESSIONS, lim);
		add(b, e);
		break;
	case RS_ST_LOG:
		e = nftnl_expr_alloc("log");
		nftnl_expr_set_str(e, NFTNL_EXPR_LOG_PREFIX, s->prefix);
		nftnl_expr_set_u16(e, NFTNL_EXPR_LOG_GROUP, s->group);
		add(b, e);
		break;
	}
}

static void put_rule(struct nft_writer *w, const struct rs_chain *c,
		     uint32_t i)
{
	const struct ruleset *rs = w->rs;
	const struct rs_rule *r = &rs->rules[i];
	struct tag tag = { .kind = T_RULE, .table = c->table, .idx = i };
	struct rb b = { .table = c->table };
	struct nftnl_udata_buf *ud;
	struct nlmsghdr *nlh;
	size_t k;

	b.r = nftnl_rule_alloc();
	nftnl_rule_set_str(b.r, NFTNL_RULE_TABLE, RULESET_TABLE);
	nftnl_rule_set_str(b.r, NFTNL_RULE_CHAIN, c->name);
	nftnl_rule_set_u32(b.r, NFTNL_RULE_FAMILY, family_of(c->table));
	for (k = 0; k < r->n_m; k++)
		enc_match(&b, rs, &r->m[k]);
	for (k = 0; k < r->n_s; k++)
		enc_stmt(&b, rs, &r->s[k]);
	switch (r->verdict) {
	case RV_NONE:
		break;
	case RV_ACCEPT:
		e_verdict(&b, NF_ACCEPT, NULL);
		break;
	case RV_DROP:
		e_verdict(&b, NF_DROP, NULL);
		break;
	case RV_GOTO:
		e_verdict(&b, NFT_GOTO, rs->chains[r->target].name);
		break;
	case RV_JUMP:
		e_verdict(&b, NFT_JUMP, rs->chains[r->target].name);
		break;
	}
	if (r->comment) {
		ud = nftnl_udata_buf_alloc(strlen(r->comment) + 16);
		nftnl_udata_put_strz(ud, NFTNL_UDATA_RULE_COMMENT, r->comment);
		nftnl_rule_set_data(b.r, NFTNL_RULE_USERDATA,
				    nftnl_udata_buf_data(ud),
				    nftnl_udata_buf_len(ud));
		nftnl_udata_buf_free(ud);
	}
	nlh = msg_begin(w, NFT_MSG_NEWRULE, c->table,
			NLM_F_CREATE | NLM_F_APPEND, &tag);
	nftnl_rule_nlmsg_build_payload(nlh, b.r);
	msg_end(w, nlh);
	nftnl_rule_free(b.r);
}

/* ---- sending and the ACKs ---- */

static const char *table_str(uint8_t t)
{
	return t == RS_BRIDGE ? "bridge" : "inet";
}

/* What message tag built, in words. */
static void describe(struct nft_writer *w, const struct tag *t, char *buf,
		     size_t len)
{
	const struct ruleset *rs = w->rs;
	char loc[300], key[128];

	switch (t->kind) {
	case T_TABLE_ADD:
	case T_TABLE_DEL:
		snprintf(buf, len, "%s table %s %s",
			 t->kind == T_TABLE_ADD ? "add" : "delete",
			 table_str(t->table), RULESET_TABLE);
		break;
	case T_COUNTER:
		snprintf(buf, len, "add counter %s",
			 rs->counters[t->idx].name);
		break;
	case T_SET:
		snprintf(buf, len, "add set %s", rs->sets[t->idx].name);
		break;
	case T_CHAIN:
		snprintf(buf, len, "add chain %s", rs->chains[t->idx].name);
		break;
	case T_ELEMS:
		if (w->delta) {
			const struct rs_elem_op *op = &w->delta->v[t->idx];

			ruleset_key_str(&rs->sets[op->set], op->key, key,
					sizeof(key));
			snprintf(buf, len, "%s element %s in %s",
				 op->op == RS_ELEM_ADD ? "add" : "delete", key,
				 rs->sets[op->set].name);
		} else {
			snprintf(buf, len, "add %u elements to %s (from #%u)",
				 t->count, rs->sets[t->idx].name, t->first);
		}
		break;
	case T_RULE: {
		const struct rs_rule *r = &rs->rules[t->idx];
		size_t c;

		for (c = 0; c < rs->n_chains; c++)
			if (t->idx >= rs->chains[c].first &&
			    t->idx < rs->chains[c].first + rs->chains[c].n)
				break;
		ruleset_rule_loc(rs, r, loc, sizeof(loc));
		snprintf(buf, len, "add rule to chain %s%s%s%s%s%s",
			 c < rs->n_chains ? rs->chains[c].name : "?",
			 r->comment ? " \"" : "",
			 r->comment ? r->comment : "",
			 r->comment ? "\"" : "",
			 loc[0] && !r->comment ? " at " : "",
			 r->comment ? "" : loc);
		break;
	}
	}
}

/* The kernel's own words from the extended ACK, if any. */
static const char *ext_msg(const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *attr;
	size_t off;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return NULL;
	off = sizeof(*err);
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += err->msg.nlmsg_len - sizeof(struct nlmsghdr);
	if (MNL_ALIGN(off) + sizeof(struct nlmsghdr) >= nlh->nlmsg_len)
		return NULL;
	mnl_attr_for_each_payload((const void *)((const char *)err +
						  MNL_ALIGN(off)),
				  nlh->nlmsg_len - sizeof(struct nlmsghdr) -
					  MNL_ALIGN(off)) {
		if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
		    !mnl_attr_validate(attr, MNL_TYPE_NUL_STRING))
			return mnl_attr_get_str(attr);
	}
	return NULL;
}

static void set_error(struct nft_writer *w, struct nft_error *e, int err,
		      uint32_t seq, const char *kmsg)
{
	char what[400];

	if (!e || e->err)
		return;
	e->err = err;
	if (seq >= w->base_seq && seq - w->base_seq < w->n_tags)
		describe(w, &w->tags[seq - w->base_seq], what, sizeof(what));
	else
		snprintf(what, sizeof(what), "batch");
	if (seq >= w->base_seq && seq - w->base_seq < w->n_tags &&
	    w->tags[seq - w->base_seq].kind == T_ELEMS) {
		/* the kernel's errno alone misleads here */
		if (err == -ENFILE)
			kmsg = "the set is full (its size caps the elements)";
		else if (err == -ENOENT && w->tags[seq - w->base_seq].op ==
					   RS_ELEM_DEL)
			kmsg = "the kernel has no such element";
		else if (err == -EEXIST || err == -EBUSY)
			kmsg = "the kernel has this key with another value";
	}
	snprintf(e->msg, sizeof(e->msg), "%s: %s%s%s", what, strerror(-err),
		 kmsg ? ": " : "", kmsg ? kmsg : "");
}

/* Send the batch and read every ACK. Returns 0 or the first error. */
static int batch_send(struct nft_writer *w, struct nft_error *e)
{
	static char rbuf[256 * 1024];
	int fd = mnl_socket_get_fd(w->nl), ret = 0, first = 0;
	size_t acks = 0, want = w->n_tags;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;

	sock_buf(w, SO_SNDBUF, SO_SNDBUFFORCE, &w->sndbuf, w->len + 4096);
	/* every ACK is queued before sendmsg returns: room for all */
	sock_buf(w, SO_RCVBUF, SO_RCVBUFFORCE, &w->rcvbuf,
		 want * 2048 + 256 * 1024);
	n = mnl_socket_sendto(w->nl, w->buf, w->len);
	if (n < 0) {
		ret = -errno;
		set_error(w, e, ret, 0, "sending the batch");
		return ret;
	}
	while (acks < want) {
		const struct nlmsghdr *nlh;
		int len;

		n = recv(fd, rbuf, sizeof(rbuf), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* all should be there; wait a little for stragglers */
			if (poll(&pfd, 1, 2000) <= 0) {
				ret = ret ? ret : -ETIMEDOUT;
				set_error(w, e, ret, 0, "ACKs missing");
				break;
			}
			continue;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* ENOBUFS: ACKs were lost, so the outcome of some
			 * messages is unknown; say so */
			ret = ret ? ret : -errno;
			set_error(w, e, -errno, 0, "reading ACKs");
			break;
		}
		len = (int)n;
		for (nlh = (const struct nlmsghdr *)rbuf;
		     mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
			const struct nlmsgerr *err;

			if (nlh->nlmsg_type != NLMSG_ERROR)
				continue;
			if (nlh->nlmsg_len < sizeof(*nlh) + sizeof(*err))
				continue;
			err = mnl_nlmsg_get_payload(nlh);
			acks++;
			if (err->error && !first) {
				first = err->error;
				ret = err->error;
				set_error(w, e, err->error, nlh->nlmsg_seq,
					  ext_msg(nlh));
			}
			/* refused as a whole (EPERM, a bad batch header):
			 * no per-message ACKs follow */
			if (err->error && (nlh->nlmsg_seq < w->base_seq ||
					   nlh->nlmsg_seq - w->base_seq >=
						   w->n_tags))
				goto out;
		}
	}
out:
	return ret;
}

/* ---- the transactions ---- */

static void put_tables(struct nft_writer *w, enum rs_table t, bool create)
{
	/* add (a no-op when present) then delete: the delete never fails,
	 * whether or not the table existed */
	put_table(w, t, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	put_table(w, t, NFT_MSG_DELTABLE, 0);
	if (create)
		put_table(w, t, NFT_MSG_NEWTABLE, NLM_F_CREATE);
}

static void put_objects(struct nft_writer *w, enum rs_table t)
{
	const struct ruleset *rs = w->rs;
	size_t i, j;

	for (i = 0; i < rs->n_counters; i++)
		if (rs->counters[i].table == t)
			put_counter(w, i);
	for (i = 0; i < rs->n_sets; i++)
		if (rs->sets[i].table == t)
			put_set(w, i);
	for (i = 0; i < rs->n_chains; i++)
		if (rs->chains[i].table == t)
			put_chain(w, i);
	for (i = 0; i < rs->n_sets; i++)
		if (rs->sets[i].table == t) {
			put_set_elems(w, i);
			if (w->drop)
				ruleset_set_drop(w->drop, i);
		}
	for (i = 0; i < rs->n_chains; i++)
		if (rs->chains[i].table == t)
			for (j = 0; j < rs->chains[i].n; j++)
				put_rule(w, &rs->chains[i],
					 rs->chains[i].first + j);
}

/* One allocation of about the right size: growing a 20 MB batch by
 * doubling would copy it several times over. */
static void batch_presize(struct nft_writer *w, const struct ruleset *rs)
{
	size_t want = 2 * MSG_ROOM, i;

	for (i = 0; i < rs->n_sets; i++)
		want += rs->sets[i].n * ((size_t)rs->sets[i].klen * 2 + 56) +
			256;
	want += rs->n_rules * 640 + rs->n_chains * 256 +
		rs->n_counters * 128;
	if (w->cap < want) {
		batch_unmap(w);
		batch_map(w, want);
	}
}

int nft_build_full(struct nft_writer *w, const struct ruleset *rs,
		   const struct nft_counts *counts)
{
	w->rs = rs;
	w->delta = NULL;
	w->counts = counts;
	batch_presize(w, rs);
	batch_begin(w);
	put_tables(w, RS_INET, true);
	/* a bridge table from an earlier ruleset goes too */
	put_tables(w, RS_BRIDGE, rs->has_bridge);
	put_objects(w, RS_INET);
	if (rs->has_bridge)
		put_objects(w, RS_BRIDGE);
	batch_end(w);
	w->counts = NULL;
	return 0;
}

/* A full batch is tens of MiB at many containers (25 MiB at 100,000
 * containers and 1,000 groups) and the kernel has its copy once sent:
 * holding it would keep it resident while the deltas that follow need a
 * few KiB, and the model's element index (ruleset_index, built by the
 * first delta) would come on top of it at the process's peak. */
static void batch_release(struct nft_writer *w)
{
	batch_reset(w);
	if (w->cap > BATCH_KEEP_BYTES)
		batch_unmap(w);
}

int nft_commit_full(struct nft_writer *w, struct ruleset *rs,
		    const struct nft_counts *counts,
		    const struct inventory *inv, struct nft_error *e)
{
	int ret;

	if (e)
		memset(e, 0, sizeof(*e));
	w->drop = inv ? rs : NULL;
	nft_build_full(w, rs, counts);
	w->drop = NULL;
	ret = batch_send(w, e);
	batch_release(w);
	/* the batch's memory is back: the model's elements can return */
	if (inv)
		ruleset_refill(rs, inv);
	return ret;
}

int nft_commit_delta(struct nft_writer *w, const struct ruleset *rs,
		     const struct rs_delta *d, struct nft_error *e)
{
	struct elems el = { 0 };
	size_t i;

	if (e)
		memset(e, 0, sizeof(*e));
	if (rs_delta_empty(d))
		return 0;
	if (ruleset_delta_overflows(rs, d)) {
		if (e) {
			e->err = -ENOSPC;
			snprintf(e->msg, sizeof(e->msg), "a set would outgrow "
				 "its size: rebuild and commit the whole "
				 "table");
		}
		return -ENOSPC;
	}
	w->rs = rs;
	w->delta = d;
	batch_begin(w);
	/* one element per message: an error names the exact element */
	for (i = 0; i < d->n; i++) {
		const struct rs_elem_op *op = &d->v[i];

		elems_open(w, &el, op->set,
			   op->op == RS_ELEM_ADD ? NFT_MSG_NEWSETELEM :
						   NFT_MSG_DELSETELEM,
			   0, false);
		w->tags[w->n_tags - 1].idx = (uint32_t)i;
		el.set = op->set;
		put_elem(w, &el, op->key, 0, op->obj);
		elems_close(w, &el);
	}
	batch_end(w);
	return batch_send(w, e);
}

int nft_delete_table(struct nft_writer *w, struct nft_error *e)
{
	static const struct ruleset empty;

	if (e)
		memset(e, 0, sizeof(*e));
	w->rs = &empty;
	w->delta = NULL;
	batch_begin(w);
	put_tables(w, RS_INET, false);
	put_tables(w, RS_BRIDGE, false);
	batch_end(w);
	return batch_send(w, e);
}

/* ---- queries ---- */

static int query(struct nft_writer *w, struct nlmsghdr *nlh,
		 mnl_cb_t cb, void *arg)
{
	static char rbuf[64 * 1024];
	uint32_t seq = nlh->nlmsg_seq;
	int ret;
	ssize_t n;

	if (mnl_socket_sendto(w->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		n = mnl_socket_recvfrom(w->nl, rbuf, sizeof(rbuf));
		if (n < 0)
			return -errno;
		ret = mnl_cb_run(rbuf, (size_t)n, seq, w->portid, cb, arg);
		if (ret < 0)
			return -errno;
		if (ret == MNL_CB_STOP)
			return 0;
	}
}

int nft_table_exists(struct nft_writer *w)
{
	char buf[8192];
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;
	int ret;

	nftnl_table_set_str(t, NFTNL_TABLE_NAME, RULESET_TABLE);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, NFPROTO_INET,
				    NLM_F_ACK, w->seq++);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	ret = query(w, nlh, NULL, NULL);
	if (ret == -ENOENT)
		return 0;
	return ret < 0 ? ret : 1;
}

uint32_t nft_portid(const struct nft_writer *w)
{
	return w->portid;
}

static int gen_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *a;

	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
		if (mnl_attr_get_type(a) == NFTA_GEN_ID &&
		    mnl_attr_validate(a, MNL_TYPE_U32) == 0) {
			*(uint32_t *)data = ntohl(mnl_attr_get_u32(a));
			return MNL_CB_OK;
		}
	return MNL_CB_ERROR;
}

int nft_generation(struct nft_writer *w, uint32_t *gen)
{
	char buf[256];
	struct nlmsghdr *nlh;

	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, NFPROTO_UNSPEC,
				    NLM_F_ACK,
				    w->seq++);
	return query(w, nlh, gen_cb, gen);
}

struct counters_arg {
	nft_counter_cb cb;
	void *arg;
};

static int counter_cb(const struct nlmsghdr *nlh, void *data)
{
	struct counters_arg *ca = data;
	struct nftnl_obj *o = nftnl_obj_alloc();
	const char *table, *name;

	if (nftnl_obj_nlmsg_parse(nlh, o) < 0)
		goto out;
	table = nftnl_obj_get_str(o, NFTNL_OBJ_TABLE);
	name = nftnl_obj_get_str(o, NFTNL_OBJ_NAME);
	if (!table || !name || strcmp(table, RULESET_TABLE) ||
	    nftnl_obj_get_u32(o, NFTNL_OBJ_TYPE) != NFT_OBJECT_COUNTER)
		goto out;
	ca->cb(name, nftnl_obj_get_u32(o, NFTNL_OBJ_FAMILY) == NFPROTO_BRIDGE ?
			     RS_BRIDGE : RS_INET,
	       nftnl_obj_get_u64(o, NFTNL_OBJ_CTR_PKTS),
	       nftnl_obj_get_u64(o, NFTNL_OBJ_CTR_BYTES), ca->arg);
out:
	nftnl_obj_free(o);
	return MNL_CB_OK;
}

int nft_read_counters(struct nft_writer *w, nft_counter_cb cb, void *arg)
{
	char buf[8192];
	struct counters_arg ca = { cb, arg };
	static const uint8_t fams[] = { NFPROTO_INET, NFPROTO_BRIDGE };
	struct nlmsghdr *nlh;
	size_t i;
	int ret = 0;

	for (i = 0; i < ARRAY_SIZE(fams) && !ret; i++) {
		struct nftnl_obj *o = nftnl_obj_alloc();

		nftnl_obj_set_str(o, NFTNL_OBJ_TABLE, RULESET_TABLE);
		nftnl_obj_set_u32(o, NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
		nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETOBJ, fams[i],
					    NLM_F_DUMP, w->seq++);
		nftnl_obj_nlmsg_build_payload(nlh, o);
		nftnl_obj_free(o);
		ret = query(w, nlh, counter_cb, &ca);
		if (ret == -ENOENT)
			ret = 0;
	}
	return ret;
}

/* ---- last known counts: open addressing on (table, name) ---- */

struct nft_count {
	char *name;			/* NULL: free slot */
	uint8_t table;			/* enum rs_table */
	uint64_t packets, bytes;
};

struct nft_counts {
	struct nft_count *v;
	size_t n, cap;			/* cap: a power of two, or 0 */
};

struct nft_counts *nft_counts_new(void)
{
	return xcalloc(1, sizeof(struct nft_counts));
}

static void counts_clear(struct nft_counts *c)
{
	size_t i;

	for (i = 0; i < c->cap; i++)
		free(c->v[i].name);
	free(c->v);
	c->v = NULL;
	c->n = c->cap = 0;
}

void nft_counts_free(struct nft_counts *c)
{
	if (!c)
		return;
	counts_clear(c);
	free(c);
}

/* The slot of (table, name), or the free slot where it would go. */
static struct nft_count *counts_slot(const struct nft_counts *c,
				     const char *name, enum rs_table table)
{
	uint32_t h = bh_str_hash(name) ^ (uint32_t)table;
	size_t i;

	for (i = h & (c->cap - 1);; i = (i + 1) & (c->cap - 1))
		if (!c->v[i].name || (c->v[i].table == table &&
				      !strcmp(c->v[i].name, name)))
			return &c->v[i];
}

static struct nft_count *counts_put(struct nft_counts *c, const char *name,
				    enum rs_table table)
{
	struct nft_counts old = *c;
	struct nft_count *s;
	size_t i;

	if ((c->n + 1) * 2 > c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->v = xcalloc(c->cap, sizeof(*c->v));
		c->n = 0;
		for (i = 0; i < old.cap; i++) {
			if (!old.v[i].name)
				continue;
			*counts_slot(c, old.v[i].name, old.v[i].table) =
				old.v[i];
			c->n++;
		}
		free(old.v);
	}
	s = counts_slot(c, name, table);
	if (!s->name) {
		s->name = xstrdup(name);
		s->table = (uint8_t)table;
		c->n++;
	}
	return s;
}

void nft_counts_note(const char *name, enum rs_table table,
		     uint64_t packets, uint64_t bytes, void *arg)
{
	struct nft_count *s = counts_put(arg, name, table);

	s->packets = packets;
	s->bytes = bytes;
}

bool nft_counts_get(const struct nft_counts *c, const char *name,
		    enum rs_table table, uint64_t *packets, uint64_t *bytes)
{
	const struct nft_count *s;

	*packets = *bytes = 0;
	if (!c || !c->n)
		return false;
	s = counts_slot(c, name, table);
	if (!s->name)
		return false;
	*packets = s->packets;
	*bytes = s->bytes;
	return true;
}

void nft_counts_keep(struct nft_counts *c, const struct ruleset *rs)
{
	struct nft_counts old = *c;
	uint64_t packets, bytes;
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < rs->n_counters; i++) {
		nft_counts_get(&old, rs->counters[i].name,
			       rs->counters[i].table, &packets, &bytes);
		nft_counts_note(rs->counters[i].name, rs->counters[i].table,
				packets, bytes, c);
	}
	counts_clear(&old);
}

const void *nft_last_batch(const struct nft_writer *w, size_t *len)
{
	*len = w->len;
	return w->buf;
}

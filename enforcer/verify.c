/* The kernel's bulkhead tables against the model (see verify.h). Each side
 * becomes an image: a list of items (table, chain, rule, set, element,
 * object), each one normalised text, made from nf_tables netlink
 * messages by one parser. The kernel's side comes from dumps; the model's
 * from the very batch nft_build_full makes of it (never sent), so there
 * is no second encoder of the model to disagree with the first. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <arpa/inet.h>

#include <jansson.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "nft.h"
#include "util.h"
#include "verify.h"

/* Tries before giving up when transactions keep committing while the
 * kernel's tables are read. */
#define READ_TRIES 8
#define RECV_BUF (256 * 1024)

enum vkind { VK_TABLE, VK_CHAIN, VK_RULE, VK_SET, VK_ELEM, VK_OBJ };

static const char *const kind_name[] = {
	[VK_TABLE] = "table", [VK_CHAIN] = "chain", [VK_RULE] = "rule",
	[VK_SET] = "set", [VK_ELEM] = "element", [VK_OBJ] = "counter",
};

struct vitem {
	uint8_t kind;			/* enum vkind */
	uint8_t table;			/* enum rs_table */
	char *owner;			/* chain/set/object name; a rule's
					 * chain; an element's set */
	char *text;			/* attributes; a rule's expressions;
					 * an element's key */
	uint64_t handle;		/* rules read from the kernel */
	size_t seq;			/* order of arrival (rules in a chain) */
};

/* What a set's elements need to be printed and compared. */
struct vset {
	uint8_t table;
	char *name;
	uint32_t key_type, key_len, flags;
};

struct verify_image {
	struct vitem *v;
	size_t n, cap;
	bool has_table[2];
	struct vset *sets;
	size_t n_sets, cap_sets, last_set;
};

static const char *table_str(uint8_t t)
{
	return t == RS_BRIDGE ? "bridge" : "inet";
}

static struct vitem *item_add(struct verify_image *im, enum vkind k,
			      uint8_t table, const char *owner, char *text)
{
	struct vitem *it;

	xgrow(&im->v, &im->cap, im->n + 1, sizeof(*im->v));
	it = &im->v[im->n];
	memset(it, 0, sizeof(*it));
	it->kind = k;
	it->table = table;
	it->owner = xstrdup(owner);
	it->text = text;
	it->seq = im->n++;
	return it;
}

void verify_image_free(struct verify_image *im)
{
	size_t i;

	if (!im)
		return;
	for (i = 0; i < im->n; i++) {
		free(im->v[i].owner);
		free(im->v[i].text);
	}
	for (i = 0; i < im->n_sets; i++)
		free(im->sets[i].name);
	free(im->v);
	free(im->sets);
	free(im);
}

static const struct vset *set_find(struct verify_image *im, uint8_t table,
				   const char *name)
{
	size_t i;

	/* a set's elements arrive together: the last one found first */
	if (im->last_set < im->n_sets &&
	    im->sets[im->last_set].table == table &&
	    !strcmp(im->sets[im->last_set].name, name))
		return &im->sets[im->last_set];
	for (i = 0; i < im->n_sets; i++)
		if (im->sets[i].table == table &&
		    !strcmp(im->sets[i].name, name)) {
			im->last_set = i;
			return &im->sets[i];
		}
	return NULL;
}

/* ---- one nf_tables message into the image ---- */

static void add_chain(struct verify_image *im, uint8_t table,
		      const struct nlmsghdr *nlh)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	const char *name, *tname;
	char *text;

	if (nftnl_chain_nlmsg_parse(nlh, c) < 0)
		goto out;
	name = nftnl_chain_get_str(c, NFTNL_CHAIN_NAME);
	tname = nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE);
	if (!name || !tname || strcmp(tname, RULESET_TABLE))
		goto out;
	if (nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM)) {
		const char *type = nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE);
		uint32_t pol = nftnl_chain_is_set(c, NFTNL_CHAIN_POLICY) ?
			       nftnl_chain_get_u32(c, NFTNL_CHAIN_POLICY) :
			       NF_ACCEPT;

		text = xasprintf("type %s hook %u priority %d policy %s",
				 type ? type : "?",
				 nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM),
				 nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO),
				 pol == NF_ACCEPT ? "accept" :
				 pol == NF_DROP ? "drop" : "?");
	} else {
		text = xstrdup("regular");
	}
	item_add(im, VK_CHAIN, table, name, text);
out:
	nftnl_chain_free(c);
}

static int comment_cb(const struct nftnl_udata *attr, void *data)
{
	const char **out = data;
	const char *v = nftnl_udata_get(attr);
	uint8_t len = nftnl_udata_len(attr);

	if (nftnl_udata_type(attr) == NFTNL_UDATA_RULE_COMMENT && len &&
	    v[len - 1] == '\0')
		*out = v;
	return 0;
}

/* The kernel reports some attributes with their defaults when it was
 * not given them: give the model's side the same defaults. */
static void expr_normalise(struct nftnl_expr *e)
{
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

	if (!name)
		return;
	if (!strcmp(name, "lookup") &&
	    !nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_FLAGS))
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, 0);
}

/* ... and some the other way round: a dynset's timeout 0 (none), which
 * only the kernel reports, goes from the text. */
static void text_normalise(char *buf)
{
	static const char t0[] = " timeout 0ms";
	char *p = strstr(buf, t0);

	if (p && !strncmp(buf, "update ", 7))
		memmove(p, p + sizeof(t0) - 1, strlen(p + sizeof(t0) - 1) + 1);
}

struct rule_text {
	struct strbuf sb;
};

static int expr_cb(struct nftnl_expr *e, void *data)
{
	struct rule_text *rt = data;
	char buf[4096];

	expr_normalise(e);
	nftnl_expr_snprintf(buf, sizeof(buf), e, NFTNL_OUTPUT_DEFAULT, 0);
	text_normalise(buf);
	if (rt->sb.len)
		sb_putc(&rt->sb, ' ');
	sb_printf(&rt->sb, "[ %s ]", buf);
	return 0;
}

static void add_rule(struct verify_image *im, uint8_t table,
		     const struct nlmsghdr *nlh)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct rule_text rt = { { 0 } };
	const char *chain, *tname, *comment = NULL;
	const void *ud;
	uint32_t udlen = 0;
	struct vitem *it;

	if (nftnl_rule_nlmsg_parse(nlh, r) < 0)
		goto out;
	chain = nftnl_rule_get_str(r, NFTNL_RULE_CHAIN);
	tname = nftnl_rule_get_str(r, NFTNL_RULE_TABLE);
	if (!chain || !tname || strcmp(tname, RULESET_TABLE))
		goto out;
	nftnl_expr_foreach(r, expr_cb, &rt);
	ud = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &udlen);
	if (ud && udlen)
		nftnl_udata_parse(ud, udlen, comment_cb, &comment);
	if (comment)
		sb_printf(&rt.sb, " comment \"%s\"", comment);
	it = item_add(im, VK_RULE, table, chain, rt.sb.buf ?
		      rt.sb.buf : xstrdup(""));
	if (nftnl_rule_is_set(r, NFTNL_RULE_HANDLE))
		it->handle = nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE);
out:
	nftnl_rule_free(r);
}

static void add_set(struct verify_image *im, uint8_t table,
		    const struct nlmsghdr *nlh)
{
	struct nftnl_set *s = nftnl_set_alloc();
	const char *name, *tname;
	struct strbuf sb = { 0 };
	struct vset *vs;
	uint32_t flags;

	if (nftnl_set_nlmsg_parse(nlh, s) < 0)
		goto out;
	name = nftnl_set_get_str(s, NFTNL_SET_NAME);
	tname = nftnl_set_get_str(s, NFTNL_SET_TABLE);
	if (!name || !tname || strcmp(tname, RULESET_TABLE))
		goto out;
	flags = nftnl_set_get_u32(s, NFTNL_SET_FLAGS);
	sb_printf(&sb, "key type %u len %u flags 0x%x",
		  nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE),
		  nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN), flags);
	if (flags & NFT_SET_OBJECT)
		sb_printf(&sb, " object type %u",
			  nftnl_set_get_u32(s, NFTNL_SET_OBJ_TYPE));
	if (flags & NFT_SET_MAP)
		sb_printf(&sb, " data type %u len %u",
			  nftnl_set_get_u32(s, NFTNL_SET_DATA_TYPE),
			  nftnl_set_get_u32(s, NFTNL_SET_DATA_LEN));
	if (flags & NFT_SET_TIMEOUT)
		sb_printf(&sb, " timeout %" PRIu64 "ms",
			  nftnl_set_get_u64(s, NFTNL_SET_TIMEOUT));
	item_add(im, VK_SET, table, name, sb.buf);
	xgrow(&im->sets, &im->cap_sets, im->n_sets + 1, sizeof(*im->sets));
	vs = &im->sets[im->n_sets++];
	vs->table = table;
	vs->name = xstrdup(name);
	vs->key_type = nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE);
	vs->key_len = nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN);
	vs->flags = flags;
out:
	nftnl_set_free(s);
}

static void add_obj(struct verify_image *im, uint8_t table,
		    const struct nlmsghdr *nlh)
{
	struct nftnl_obj *o = nftnl_obj_alloc();
	const char *name, *tname;

	if (nftnl_obj_nlmsg_parse(nlh, o) < 0)
		goto out;
	name = nftnl_obj_get_str(o, NFTNL_OBJ_NAME);
	tname = nftnl_obj_get_str(o, NFTNL_OBJ_TABLE);
	if (!name || !tname || strcmp(tname, RULESET_TABLE))
		goto out;
	item_add(im, VK_OBJ, table, name, xasprintf("type %u",
		 nftnl_obj_get_u32(o, NFTNL_OBJ_TYPE)));
out:
	nftnl_obj_free(o);
}

/* The set's key type, as nft.c declares it, back to the model's. */
static bool key_of(const struct vset *s, struct rs_set *out)
{
	static const struct {
		enum rs_key key;
		uint32_t type, len;
	} keys[] = {
		{ RS_KEY_IPV4, 7, 4 },
		{ RS_KEY_IPV6, 8, 16 },
		{ RS_KEY_IFNAME, 41, 16 },
		{ RS_KEY_IFNAME_IPV4, 41 << 6 | 7, 20 },
		{ RS_KEY_IFNAME_IPV6, 41 << 6 | 8, 32 },
		{ RS_KEY_IPV4_PROTO_PORT, (7 << 6 | 12) << 6 | 13, 12 },
		{ RS_KEY_IPV6_PROTO_PORT, (8 << 6 | 12) << 6 | 13, 24 },
	};
	size_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < ARRAY_SIZE(keys); i++)
		if (keys[i].type == s->key_type && keys[i].len == s->key_len) {
			out->key = keys[i].key;
			out->klen = (uint8_t)keys[i].len;
			return true;
		}
	return false;
}

static void key_text(const struct vset *s, const uint8_t *key, size_t len,
		     struct strbuf *sb)
{
	struct rs_set rs_s;
	char buf[128];
	size_t i;

	if (s && key_of(s, &rs_s) && len == rs_s.klen) {
		ruleset_key_str(&rs_s, key, buf, sizeof(buf));
		sb_puts(sb, buf);
		return;
	}
	sb_puts(sb, "0x");
	for (i = 0; i < len; i++)
		sb_printf(sb, "%02x", key[i]);
}

struct elem_attrs {
	const struct nlattr *a[NFTA_SET_ELEM_MAX + 1];
};

static int elem_attr_cb(const struct nlattr *attr, void *data)
{
	struct elem_attrs *ea = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (type <= NFTA_SET_ELEM_MAX)
		ea->a[type] = attr;
	return MNL_CB_OK;
}

/* NFTA_DATA_VALUE inside a nested NFTA_SET_ELEM_KEY(_END). */
static const uint8_t *data_value(const struct nlattr *nest, size_t *len)
{
	const struct nlattr *a;

	mnl_attr_for_each_nested(a, nest)
		if (mnl_attr_get_type(a) == NFTA_DATA_VALUE) {
			*len = mnl_attr_get_payload_len(a);
			return mnl_attr_get_payload(a);
		}
	return NULL;
}

static void add_elem(struct verify_image *im, uint8_t table,
		     const char *set, const struct nlattr *el)
{
	struct elem_attrs ea = { { 0 } };
	const struct vset *s = set_find(im, table, set);
	struct strbuf sb = { 0 };
	const uint8_t *key;
	size_t len = 0;
	uint32_t flags = 0;

	if (mnl_attr_parse_nested(el, elem_attr_cb, &ea) < 0 ||
	    !ea.a[NFTA_SET_ELEM_KEY])
		return;
	/* what the kernel adds to the log limiter itself */
	if (s && (s->flags & NFT_SET_EVAL))
		return;
	key = data_value(ea.a[NFTA_SET_ELEM_KEY], &len);
	if (!key)
		return;
	key_text(s, key, len, &sb);
	if (ea.a[NFTA_SET_ELEM_KEY_END]) {
		key = data_value(ea.a[NFTA_SET_ELEM_KEY_END], &len);
		if (key) {
			sb_puts(&sb, "-");
			key_text(s, key, len, &sb);
		}
	}
	if (ea.a[NFTA_SET_ELEM_FLAGS] &&
	    mnl_attr_get_payload_len(ea.a[NFTA_SET_ELEM_FLAGS]) == 4)
		flags = ntohl(mnl_attr_get_u32(ea.a[NFTA_SET_ELEM_FLAGS]));
	if (flags & NFT_SET_ELEM_INTERVAL_END)
		sb_puts(&sb, " (interval end)");
	if (ea.a[NFTA_SET_ELEM_OBJREF] &&
	    !mnl_attr_validate(ea.a[NFTA_SET_ELEM_OBJREF], MNL_TYPE_NUL_STRING))
		sb_printf(&sb, " : counter %s",
			  mnl_attr_get_str(ea.a[NFTA_SET_ELEM_OBJREF]));
	item_add(im, VK_ELEM, table, set, sb.buf);
}

static void add_elems(struct verify_image *im, uint8_t table,
		      const struct nlmsghdr *nlh)
{
	const struct nlattr *a, *list = NULL, *el;
	const char *tname = NULL, *set = NULL;

	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		switch (mnl_attr_get_type(a)) {
		case NFTA_SET_ELEM_LIST_TABLE:
			if (!mnl_attr_validate(a, MNL_TYPE_NUL_STRING))
				tname = mnl_attr_get_str(a);
			break;
		case NFTA_SET_ELEM_LIST_SET:
			if (!mnl_attr_validate(a, MNL_TYPE_NUL_STRING))
				set = mnl_attr_get_str(a);
			break;
		case NFTA_SET_ELEM_LIST_ELEMENTS:
			list = a;
			break;
		}
	}
	if (!tname || !set || !list || strcmp(tname, RULESET_TABLE))
		return;
	mnl_attr_for_each_nested(el, list)
		if (mnl_attr_get_type(el) == NFTA_LIST_ELEM)
			add_elem(im, table, set, el);
}

static void add_table(struct verify_image *im, uint8_t table,
		      const struct nlmsghdr *nlh, bool present)
{
	struct nftnl_table *t = nftnl_table_alloc();
	const char *name;

	if (nftnl_table_nlmsg_parse(nlh, t) == 0) {
		name = nftnl_table_get_str(t, NFTNL_TABLE_NAME);
		if (name && !strcmp(name, RULESET_TABLE))
			im->has_table[table] = present;
	}
	nftnl_table_free(t);
}

static void add_msg(struct verify_image *im, const struct nlmsghdr *nlh)
{
	const struct nfgenmsg *g;
	uint8_t table;

	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES ||
	    nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*g)))
		return;
	g = mnl_nlmsg_get_payload(nlh);
	if (g->nfgen_family == NFPROTO_INET)
		table = RS_INET;
	else if (g->nfgen_family == NFPROTO_BRIDGE)
		table = RS_BRIDGE;
	else
		return;
	switch (NFNL_MSG_TYPE(nlh->nlmsg_type)) {
	case NFT_MSG_NEWTABLE:
		add_table(im, table, nlh, true);
		break;
	case NFT_MSG_DELTABLE:
		add_table(im, table, nlh, false);
		break;
	case NFT_MSG_NEWCHAIN:
		add_chain(im, table, nlh);
		break;
	case NFT_MSG_NEWRULE:
		add_rule(im, table, nlh);
		break;
	case NFT_MSG_NEWSET:
		add_set(im, table, nlh);
		break;
	case NFT_MSG_NEWSETELEM:
		add_elems(im, table, nlh);
		break;
	case NFT_MSG_NEWOBJ:
		add_obj(im, table, nlh);
		break;
	}
}

/* ---- the model's side: the batch nft.c would send ---- */

static bool is_objref(const struct nlattr *el)
{
	const struct nlattr *x;

	mnl_attr_for_each_nested(x, el)
		if (mnl_attr_get_type(x) == NFTA_EXPR_NAME)
			return mnl_attr_get_payload_len(x) >= 6 &&
			       !memcmp(mnl_attr_get_payload(x), "objref", 6) &&
			       (mnl_attr_get_payload_len(x) == 6 ||
				!((char *)mnl_attr_get_payload(x))[6]);
	return false;
}

static void put_raw(struct nlmsghdr *out, const struct nlattr *a)
{
	mnl_attr_put(out, a->nla_type, mnl_attr_get_payload_len(a),
		     mnl_attr_get_payload(a));
}

/* libnftnl writes an objref's counter name without its NUL (the kernel
 * copies it bounded; its dumps carry one) and reads it back with
 * strdup(): a rule from the batch would read on past the attribute. A
 * copy of the message with those names terminated; out has room for
 * nlh plus 8 bytes per expression. */
static const struct nlmsghdr *terminate_names(const struct nlmsghdr *nlh,
					      char *buf)
{
	struct nlmsghdr *out = (struct nlmsghdr *)buf;
	const struct nlattr *a, *el, *x, *y;
	struct nlattr *n1, *n2, *n3;
	size_t hdr = MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct nfgenmsg));
	char name[NFT_OBJ_MAXNAMELEN];

	memcpy(out, nlh, hdr);
	out->nlmsg_len = (uint32_t)hdr;
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(a) != NFTA_RULE_EXPRESSIONS) {
			put_raw(out, a);
			continue;
		}
		n1 = mnl_attr_nest_start(out, NFTA_RULE_EXPRESSIONS);
		mnl_attr_for_each_nested(el, a) {
			if (!is_objref(el)) {
				put_raw(out, el);
				continue;
			}
			n2 = mnl_attr_nest_start(out, mnl_attr_get_type(el));
			mnl_attr_for_each_nested(x, el) {
				if (mnl_attr_get_type(x) != NFTA_EXPR_DATA) {
					put_raw(out, x);
					continue;
				}
				n3 = mnl_attr_nest_start(out, NFTA_EXPR_DATA);
				mnl_attr_for_each_nested(y, x) {
					uint16_t t = mnl_attr_get_type(y);
					size_t len = mnl_attr_get_payload_len(y);

					if ((t != NFTA_OBJREF_IMM_NAME &&
					     t != NFTA_OBJREF_SET_NAME) ||
					    len >= sizeof(name)) {
						put_raw(out, y);
						continue;
					}
					memcpy(name, mnl_attr_get_payload(y),
					       len);
					name[len] = '\0';
					mnl_attr_put_strz(out, t, name);
				}
				mnl_attr_nest_end(out, n3);
			}
			mnl_attr_nest_end(out, n2);
		}
		mnl_attr_nest_end(out, n1);
	}
	return out;
}

/* w: a writer to build the batch with, or NULL for one of our own. */
static int image_of_model(const struct ruleset *rs, struct nft_writer *w,
			  struct verify_image **out, char **err)
{
	struct verify_image *im;
	struct nft_writer *own = NULL;
	const struct nlmsghdr *nlh;
	const void *buf;
	char *fixed = NULL;
	size_t len, cap_fixed = 0;
	int ret, left;

	*out = NULL;
	if (!w) {
		ret = nft_open(&own);
		if (ret < 0) {
			*err = xasprintf("nftables netlink socket: %s",
					 strerror(-ret));
			return ret;
		}
		w = own;
	}
	nft_build_full(w, rs, NULL);
	buf = nft_last_batch(w, &len);
	im = xcalloc(1, sizeof(*im));
	left = (int)len;
	for (nlh = buf; mnl_nlmsg_ok(nlh, left);
	     nlh = mnl_nlmsg_next(nlh, &left)) {
		if (NFNL_MSG_TYPE(nlh->nlmsg_type) == NFT_MSG_NEWRULE &&
		    NFNL_SUBSYS_ID(nlh->nlmsg_type) == NFNL_SUBSYS_NFTABLES) {
			xgrow(&fixed, &cap_fixed, nlh->nlmsg_len * 2 + 256, 1);
			add_msg(im, terminate_names(nlh, fixed));
		} else {
			add_msg(im, nlh);
		}
	}
	free(fixed);
	nft_close(own);
	*out = im;
	return 0;
}

/* ---- the kernel's side: dumps ---- */

struct reader {
	struct mnl_socket *nl;
	uint32_t portid, seq;
	char *buf;
	struct verify_image *im;
	bool intr;			/* a dump was interrupted */
	uint32_t gen;			/* NFT_MSG_GETGEN's answer */
};

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct reader *r = data;

	if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
		r->intr = true;
	add_msg(r->im, nlh);
	return MNL_CB_OK;
}

/* Send nlh and read its answer up to the end (or the ACK) through cb. */
static int talk(struct reader *r, struct nlmsghdr *nlh, mnl_cb_t cb)
{
	uint32_t seq = nlh->nlmsg_seq;
	ssize_t n;
	int ret;

	if (mnl_socket_sendto(r->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		n = mnl_socket_recvfrom(r->nl, r->buf, RECV_BUF);
		if (n < 0)
			return -errno;
		ret = mnl_cb_run(r->buf, (size_t)n, seq, r->portid, cb, r);
		if (ret < 0)
			return -errno;
		if (ret == MNL_CB_STOP)
			return 0;
	}
}

static int gen_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *a;
	struct reader *r = data;

	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
		if (mnl_attr_get_type(a) == NFTA_GEN_ID &&
		    mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			r->gen = ntohl(mnl_attr_get_u32(a));
	return MNL_CB_OK;
}

static int read_gen(struct reader *r, uint32_t *gen)
{
	char buf[256];
	struct nlmsghdr *nlh;
	int ret;

	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, NFPROTO_UNSPEC,
				    NLM_F_ACK, r->seq++);
	ret = talk(r, nlh, gen_cb);
	*gen = r->gen;
	return ret;
}

static int dump(struct reader *r, uint16_t type, uint8_t fam,
		const char *set)
{
	char buf[1024];
	struct nlmsghdr *nlh;
	int ret;

	nlh = nftnl_nlmsg_build_hdr(buf, type, fam, NLM_F_DUMP, r->seq++);
	if (type == NFT_MSG_GETSETELEM) {
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, RULESET_TABLE);
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
	} else if (type == NFT_MSG_GETRULE) {
		mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, RULESET_TABLE);
	} else if (type == NFT_MSG_GETSET) {
		mnl_attr_put_strz(nlh, NFTA_SET_TABLE, RULESET_TABLE);
	} else if (type == NFT_MSG_GETOBJ) {
		mnl_attr_put_strz(nlh, NFTA_OBJ_TABLE, RULESET_TABLE);
	}
	ret = talk(r, nlh, dump_cb);
	/* a table that is not there has nothing to dump */
	return ret == -ENOENT ? 0 : ret;
}

static int table_exists(struct reader *r, uint8_t fam)
{
	char buf[1024];
	struct nlmsghdr *nlh;
	struct nftnl_table *t = nftnl_table_alloc();
	int ret;

	nftnl_table_set_str(t, NFTNL_TABLE_NAME, RULESET_TABLE);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, fam, NLM_F_ACK,
				    r->seq++);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	ret = talk(r, nlh, NULL);
	if (ret == -ENOENT)
		return 0;
	return ret < 0 ? ret : 1;
}

static int read_once(struct reader *r)
{
	static const uint8_t fams[2] = { NFPROTO_INET, NFPROTO_BRIDGE };
	struct verify_image *im = r->im;
	size_t i, n_sets;
	int t, ret;

	for (t = 0; t < 2; t++) {
		ret = table_exists(r, fams[t]);
		if (ret < 0)
			return ret;
		im->has_table[t] = ret == 1;
		if (!im->has_table[t])
			continue;
		if ((ret = dump(r, NFT_MSG_GETCHAIN, fams[t], NULL)) < 0 ||
		    (ret = dump(r, NFT_MSG_GETRULE, fams[t], NULL)) < 0 ||
		    (ret = dump(r, NFT_MSG_GETOBJ, fams[t], NULL)) < 0)
			return ret;
		n_sets = im->n_sets;
		if ((ret = dump(r, NFT_MSG_GETSET, fams[t], NULL)) < 0)
			return ret;
		for (i = n_sets; i < im->n_sets; i++) {
			/* the kernel fills the log limiters itself */
			if (im->sets[i].flags & NFT_SET_EVAL)
				continue;
			ret = dump(r, NFT_MSG_GETSETELEM, fams[t],
				   im->sets[i].name);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

int verify_read_kernel(struct verify_image **out, char **err)
{
	struct reader r = { 0 };
	uint32_t g0 = 0, g1 = 0;
	int ret, tries;

	*out = NULL;
	*err = NULL;
	r.nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!r.nl || mnl_socket_bind(r.nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		*err = xasprintf("nftables netlink socket: %s", strerror(errno));
		goto out;
	}
	r.portid = mnl_socket_get_portid(r.nl);
	r.seq = (uint32_t)time(NULL);
	r.buf = xmalloc(RECV_BUF);
	for (tries = 0; tries < READ_TRIES; tries++) {
		verify_image_free(r.im);
		r.im = xcalloc(1, sizeof(*r.im));
		r.intr = false;
		ret = read_gen(&r, &g0);
		if (!ret)
			ret = read_once(&r);
		if (!ret)
			ret = read_gen(&r, &g1);
		if (ret < 0) {
			*err = xasprintf("reading the nftables tables: %s%s",
					 strerror(-ret), ret == -EPERM ?
					 " (it needs CAP_NET_ADMIN: run it "
					 "as root)" : "");
			goto out;
		}
		/* one generation from start to end: one consistent state */
		if (g0 == g1 && !r.intr)
			break;
	}
	if (tries == READ_TRIES) {
		ret = -EAGAIN;
		*err = xasprintf("the nftables tables changed while being "
				 "read, %d times in a row", READ_TRIES);
		goto out;
	}
	*out = r.im;
	r.im = NULL;
	ret = 0;
out:
	verify_image_free(r.im);
	free(r.buf);
	if (r.nl)
		mnl_socket_close(r.nl);
	return ret;
}

/* ---- the comparison ---- */

static void diff(struct verify_report *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void diff(struct verify_report *r, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (r->n_diffs >= VERIFY_MAX_LISTED) {
		r->n_unlisted++;
		return;
	}
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	xgrow(&r->diffs, &r->cap_diffs, r->n_diffs + 1, sizeof(*r->diffs));
	r->diffs[r->n_diffs++] = s;
}

size_t verify_count(const struct verify_report *r)
{
	return r->n_diffs + r->n_unlisted;
}

void verify_report_free(struct verify_report *r)
{
	size_t i;

	for (i = 0; i < r->n_diffs; i++)
		free(r->diffs[i]);
	free(r->diffs);
	memset(r, 0, sizeof(*r));
}

/* Items of one kind, sorted by (table, owner, text) or, for rules, by
 * (table, chain, order of arrival). */
struct view {
	const struct vitem **v;
	size_t n;
};

/* arg: a bool, "by order of arrival" */
static int item_cmp(const void *x, const void *y, void *arg)
{
	const struct vitem *a = *(const struct vitem *const *)x;
	const struct vitem *b = *(const struct vitem *const *)y;
	bool by_seq = *(const bool *)arg;
	int c;

	if (a->table != b->table)
		return a->table < b->table ? -1 : 1;
	c = strcmp(a->owner, b->owner);
	if (c)
		return c;
	if (by_seq)
		return a->seq < b->seq ? -1 : a->seq > b->seq;
	return strcmp(a->text, b->text);
}

static void view_of(const struct verify_image *im, enum vkind k, bool seq,
		    struct view *out)
{
	size_t i;

	out->v = xmalloc((im->n + 1) * sizeof(*out->v));
	out->n = 0;
	for (i = 0; i < im->n; i++)
		if (im->v[i].kind == k)
			out->v[out->n++] = &im->v[i];
	qsort_r(out->v, out->n, sizeof(*out->v), item_cmp, &seq);
}

/* How many items of kind k the image has under (table, owner). */
static size_t count_under(const struct view *v, uint8_t table,
			  const char *owner)
{
	size_t i, n = 0;

	for (i = 0; i < v->n; i++)
		if (v->v[i]->table == table && !strcmp(v->v[i]->owner, owner))
			n++;
	return n;
}

static bool has(const struct view *v, uint8_t table, const char *owner)
{
	size_t lo = 0, hi = v->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct vitem *m = v->v[mid];
		int c = m->table != table ? (m->table < table ? -1 : 1) :
					    strcmp(m->owner, owner);

		if (!c)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int owner_cmp(const struct vitem *a, const struct vitem *b)
{
	if (a->table != b->table)
		return a->table < b->table ? -1 : 1;
	return strcmp(a->owner, b->owner);
}

/* Chains, sets, counters: by name; then their attributes. cont: the
 * kind of their contents (rules, elements), counted when the whole
 * container is missing or unexpected. */
static void compare_named(struct verify_report *r, enum vkind k,
			  const struct view *want, const struct view *got,
			  const struct view *want_in,
			  const struct view *got_in,
			  const struct verify_image *want_im,
			  const struct verify_image *kernel)
{
	size_t i = 0, j = 0;
	const char *what = kind_name[k];

	while (i < want->n || j < got->n) {
		const struct vitem *a = i < want->n ? want->v[i] : NULL;
		const struct vitem *b = j < got->n ? got->v[j] : NULL;
		int c = !a ? 1 : !b ? -1 : owner_cmp(a, b);

		if (c < 0) {
			/* a missing table says it for everything in it */
			if (kernel->has_table[a->table]) {
				if (want_in)
					diff(r, "missing %s %s %s %s (with %zu "
					     "%s%s)", what,
					     table_str(a->table),
					     RULESET_TABLE, a->owner,
					     count_under(want_in, a->table,
							 a->owner),
					     kind_name[k == VK_CHAIN ?
						       VK_RULE : VK_ELEM],
					     "s");
				else
					diff(r, "missing %s %s %s %s", what,
					     table_str(a->table),
					     RULESET_TABLE, a->owner);
			}
			i++;
		} else if (c > 0 && !want_im->has_table[b->table]) {
			j++;	/* said once: an unexpected table */
		} else if (c > 0) {
			if (got_in)
				diff(r, "unexpected %s %s %s %s (with %zu "
				     "%ss)", what, table_str(b->table),
				     RULESET_TABLE, b->owner,
				     count_under(got_in, b->table, b->owner),
				     kind_name[k == VK_CHAIN ? VK_RULE :
						VK_ELEM]);
			else
				diff(r, "unexpected %s %s %s %s", what,
				     table_str(b->table), RULESET_TABLE,
				     b->owner);
			j++;
		} else {
			if (strcmp(a->text, b->text))
				diff(r, "%s %s %s %s differs: the kernel has "
				     "\"%s\", expected \"%s\"", what,
				     table_str(a->table), RULESET_TABLE,
				     a->owner, b->text, a->text);
			i++;
			j++;
		}
	}
}

/* Elements of sets present on both sides: a merge of two sorted lists. */
static void compare_elems(struct verify_report *r, const struct view *want,
			  const struct view *got, const struct view *want_sets,
			  const struct view *got_sets)
{
	bool by_text = false;
	size_t i = 0, j = 0;

	while (i < want->n || j < got->n) {
		const struct vitem *a = i < want->n ? want->v[i] : NULL;
		const struct vitem *b = j < got->n ? got->v[j] : NULL;
		int c;

		c = !a ? 1 : !b ? -1 : item_cmp(&a, &b, &by_text);
		if (c < 0) {
			if (has(got_sets, a->table, a->owner))
				diff(r, "missing element %s in set %s %s %s",
				     a->text, table_str(a->table),
				     RULESET_TABLE, a->owner);
			i++;
		} else if (c > 0) {
			if (has(want_sets, b->table, b->owner))
				diff(r, "unexpected element %s in set %s %s "
				     "%s", b->text, table_str(b->table),
				     RULESET_TABLE, b->owner);
			j++;
		} else {
			i++;
			j++;
		}
	}
}

static int str_cmp(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* The rules of one chain present on both sides, a[0..na) expected and
 * b[0..nb) in the kernel, each in chain order. Equal sequences match;
 * otherwise every rule one side has more often than the other is named,
 * and same rules in another order say so. */
static void compare_chain_rules(struct verify_report *r,
				const struct vitem *const *a, size_t na,
				const struct vitem *const *b, size_t nb)
{
	const char **sa, **sb;
	size_t i, j, k, n_diff = 0;
	const struct vitem *c = na ? a[0] : b[0];

	for (i = 0; i < na && i < nb; i++)
		if (strcmp(a[i]->text, b[i]->text))
			break;
	if (i == na && i == nb)
		return;
	sa = xmalloc((na + 1) * sizeof(*sa));
	sb = xmalloc((nb + 1) * sizeof(*sb));
	for (i = 0; i < na; i++)
		sa[i] = a[i]->text;
	for (i = 0; i < nb; i++)
		sb[i] = b[i]->text;
	qsort(sa, na, sizeof(*sa), str_cmp);
	qsort(sb, nb, sizeof(*sb), str_cmp);
	for (i = 0, j = 0; i < na || j < nb;) {
		int cmp = i == na ? 1 : j == nb ? -1 : strcmp(sa[i], sb[j]);

		if (cmp < 0) {
			diff(r, "missing rule in chain %s %s %s: %s",
			     table_str(c->table), RULESET_TABLE, c->owner,
			     sa[i]);
			n_diff++;
			i++;
		} else if (cmp > 0) {
			/* name the kernel's handle: `nft delete rule` */
			for (k = 0; k < nb; k++)
				if (b[k]->text == sb[j])
					break;
			diff(r, "unexpected rule in chain %s %s %s (handle "
			     "%" PRIu64 "): %s", table_str(c->table),
			     RULESET_TABLE, c->owner,
			     k < nb ? b[k]->handle : 0, sb[j]);
			n_diff++;
			j++;
		} else {
			i++;
			j++;
		}
	}
	if (!n_diff)
		diff(r, "rules of chain %s %s %s are out of order",
		     table_str(c->table), RULESET_TABLE, c->owner);
	free(sa);
	free(sb);
}

static void compare_rules(struct verify_report *r, const struct view *want,
			  const struct view *got, const struct view *want_ch,
			  const struct view *got_ch)
{
	size_t i = 0, j = 0, i2, j2;

	while (i < want->n || j < got->n) {
		const struct vitem *a = i < want->n ? want->v[i] : NULL;
		const struct vitem *b = j < got->n ? got->v[j] : NULL;
		const struct vitem *o;
		int c = !a ? 1 : !b ? -1 : owner_cmp(a, b);

		o = c <= 0 ? a : b;
		for (i2 = i; i2 < want->n && !owner_cmp(want->v[i2], o); i2++)
			;
		for (j2 = j; j2 < got->n && !owner_cmp(got->v[j2], o); j2++)
			;
		/* a chain only one side has was named with its count */
		if (has(want_ch, o->table, o->owner) &&
		    has(got_ch, o->table, o->owner))
			compare_chain_rules(r, want->v + i, i2 - i,
					    got->v + j, j2 - j);
		i = i2;
		j = j2;
	}
}

int verify_compare(const struct ruleset *rs, struct nft_writer *wr,
		   const struct verify_image *kernel, size_t containers,
		   struct verify_report *r, char **err)
{
	struct verify_image *want;
	struct view w[VK_OBJ + 1], g[VK_OBJ + 1];
	int t, k, ret;

	memset(r, 0, sizeof(*r));
	*err = NULL;
	ret = image_of_model(rs, wr, &want, err);
	if (ret < 0)
		return ret;
	r->containers = containers;
	for (k = VK_CHAIN; k <= VK_OBJ; k++) {
		view_of(want, k, k == VK_RULE, &w[k]);
		view_of(kernel, k, k == VK_RULE, &g[k]);
	}
	r->elements = w[VK_ELEM].n;
	for (t = 0; t < 2; t++) {
		if (want->has_table[t] && !kernel->has_table[t])
			diff(r, "missing table %s %s", table_str((uint8_t)t),
			     RULESET_TABLE);
		else if (!want->has_table[t] && kernel->has_table[t])
			diff(r, "unexpected table %s %s",
			     table_str((uint8_t)t), RULESET_TABLE);
	}
	compare_named(r, VK_CHAIN, &w[VK_CHAIN], &g[VK_CHAIN], &w[VK_RULE],
		      &g[VK_RULE], want, kernel);
	compare_rules(r, &w[VK_RULE], &g[VK_RULE], &w[VK_CHAIN],
		      &g[VK_CHAIN]);
	compare_named(r, VK_SET, &w[VK_SET], &g[VK_SET], &w[VK_ELEM],
		      &g[VK_ELEM], want, kernel);
	compare_elems(r, &w[VK_ELEM], &g[VK_ELEM], &w[VK_SET], &g[VK_SET]);
	compare_named(r, VK_OBJ, &w[VK_OBJ], &g[VK_OBJ], NULL, NULL, want, kernel);
	for (k = VK_CHAIN; k <= VK_OBJ; k++) {
		free(w[k].v);
		free(g[k].v);
	}
	verify_image_free(want);
	return 0;
}

/* The report as the daemon sends it, and as --json prints it. */
json_t *verify_report_json(const struct verify_report *r)
{
	json_t *o = json_object(), *d = json_array();
	size_t i;

	for (i = 0; i < r->n_diffs; i++)
		json_array_append_new(d, json_string(r->diffs[i]));
	json_object_set_new(o, "match", json_boolean(!verify_count(r)));
	json_object_set_new(o, "containers",
			    json_integer((json_int_t)r->containers));
	json_object_set_new(o, "elements",
			    json_integer((json_int_t)r->elements));
	json_object_set_new(o, "differences", d);
	json_object_set_new(o, "unlisted",
			    json_integer((json_int_t)r->n_unlisted));
	return o;
}

int verify_kernel(const struct ruleset *rs, struct nft_writer *w,
		  size_t containers, struct verify_report *r, char **err)
{
	struct verify_image *kernel;
	int ret;

	memset(r, 0, sizeof(*r));
	ret = verify_read_kernel(&kernel, err);
	if (ret < 0)
		return ret;
	ret = verify_compare(rs, w, kernel, containers, r, err);
	verify_image_free(kernel);
	return ret;
}

/* ---- --policy: the model without the daemon ---- */

/* Whether a member of family f in group g would bring no set the build
 * lacks: every allow set its group's flows fill has that family. */
static bool adds_no_set(const struct ruleset *rs, size_t g, int f)
{
	size_t i;

	for (i = 0; i < rs->groups[g].n_reach; i++)
		if (rs->groups[rs->groups[g].reach[i].dst].allow[f] < 0)
			return false;
	return true;
}

/* The group and family a kernel set the fresh build lacks needs a member
 * of: allow_in_<dst>_<f> a group with flows into dst; any other (bit
 * sets, containers_<f>) the family alone. */
static int phantom_group(const struct policy *p, const struct ruleset *rs,
			 const char *name, size_t *g_out, int *f_out)
{
	size_t len = strlen(name), g, i;
	int f;

	if (len < 4 || name[len - 3] != '_' || name[len - 2] != 'v')
		return -1;
	if (name[len - 1] == '4')
		f = 0;
	else if (name[len - 1] == '6')
		f = 1;
	else
		return -1;
	*f_out = f;
	for (g = GROUP_FIRST_USER; g < p->n_groups; g++) {
		const char *gn = p->groups[g].name;
		size_t gl = strlen(gn);

		if (!rs->groups[g].has_chains)
			continue;
		if (!strncmp(name, "allow_in_", 9) && len == gl + 12 &&
		    !strncmp(name + 9, gn, gl)) {
			size_t src;

			for (src = 0; src < rs->n_groups; src++)
				for (i = 0; i < rs->groups[src].n_reach; i++)
					if (rs->groups[src].reach[i].dst == g) {
						*g_out = src;
						return 0;
					}
			return -1;
		}
	}
	/* the family alone: a group whose member brings no other set */
	for (g = GROUP_FIRST_USER; g < p->n_groups; g++)
		if (rs->groups[g].has_chains && adds_no_set(rs, g, f)) {
			*g_out = g;
			return 0;
		}
	return -1;
}

/* An address of family f that no container has. */
static void phantom_addr(const struct inventory *inv, int f, unsigned n,
			 struct bh_addr *a)
{
	unsigned k;

	for (k = 0; k < 1u << 16; k++) {
		memset(a, 0, sizeof(*a));
		a->family = f ? AF_INET6 : AF_INET;
		a->plen = f ? 128 : 32;
		if (f) {	/* 2001:db8::/32, documentation */
			a->a[0] = 0x20;
			a->a[1] = 0x01;
			a->a[2] = 0x0d;
			a->a[3] = 0xb8;
			a->a[14] = (uint8_t)((n + k) >> 8);
			a->a[15] = (uint8_t)(n + k);
		} else {	/* 192.0.2.0/24 and on: TEST-NET-1 */
			a->a[0] = 192;
			a->a[1] = 0;
			a->a[2] = (uint8_t)(2 + ((n + k) >> 8));
			a->a[3] = (uint8_t)(n + k);
		}
		if (!inventory_find_addr(inv, a))
			return;
	}
}

struct ruleset *verify_model(const struct policy *p, struct inventory *inv,
			     const struct ruleset_opts *o,
			     const struct verify_image *kernel)
{
	struct ruleset *rs;
	struct container **ph = NULL;
	struct rs_delta *d;
	bool *want;
	size_t i, g, n_ph = 0, cap_ph = 0;
	int f;

	for (i = 0; i < inventory_count(inv); i++) {
		struct container *c = inventory_at(inv, i);

		container_classify(c, p);
		if (c->quarantined)
			c->group = GROUP_QUARANTINE;
	}
	rs = ruleset_build(p, inv, o);
	if (!kernel)
		return rs;
	want = xcalloc(p->n_groups * 2, sizeof(*want));
	for (i = 0; i < kernel->n_sets; i++) {
		const struct vset *ks = &kernel->sets[i];
		size_t j;

		if (ks->table != RS_INET)
			continue;
		for (j = 0; j < rs->n_sets; j++)
			if (rs->sets[j].table == RS_INET &&
			    !strcmp(rs->sets[j].name, ks->name))
				break;
		if (j < rs->n_sets)
			continue;
		if (phantom_group(p, rs, ks->name, &g, &f) == 0)
			want[g * 2 + (size_t)f] = true;
	}
	for (g = 0; g < p->n_groups * 2; g++) {
		struct bh_addr a;
		struct container *c;
		char id[64];

		if (!want[g])
			continue;
		snprintf(id, sizeof(id), "verify-stand-in-%zu", g);
		c = container_new(id, id);
		phantom_addr(inv, (int)(g % 2), (unsigned)n_ph, &a);
		container_add_addr(c, &a);
		if (inventory_add(inv, c) < 0)
			continue;
		c->group = (unsigned)(g / 2);
		xgrow(&ph, &cap_ph, n_ph + 1, sizeof(*ph));
		ph[n_ph++] = c;
	}
	free(want);
	if (!n_ph)
		return rs;
	ruleset_free(rs);
	rs = ruleset_build(p, inv, o);
	/* out again, as the daemon's model went: the sets stay */
	d = rs_delta_new();
	for (i = 0; i < n_ph; i++)
		ruleset_container_delta(rs, ph[i], RS_ELEM_DEL, d);
	ruleset_apply_delta(rs, d);
	rs_delta_free(d);
	for (i = 0; i < n_ph; i++)
		container_free(inventory_remove(inv, ph[i]->id));
	free(ph);
	return rs;
}

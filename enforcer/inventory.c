/* The containers on this host, with O(1) lookup by id and by address.
 * Removal moves the last container into the freed slot, so attach and
 * detach cost the same whatever the number of containers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>

#include "inventory.h"

/* The three indexes and the label strings use open addressing with
 * linear probing: a slot is the key's hash and the position of its owner
 * in a dense array (plus one; 0 is empty), 8 bytes in one flat array
 * instead of a malloc'd node per entry. Keys are read through the
 * position, so a table stores no pointers; the owner that moves into a
 * freed position has its slots renumbered. */
struct oslot {
	uint32_t hash;
	uint32_t ref;
};

struct otab {
	struct oslot *s;
	unsigned bits;			/* 1 << bits slots; 0: none yet */
	size_t n;
};

/* Does the owner at position pos have this key? */
typedef bool otab_eq(const void *ctx, uint32_t pos, const void *key);

#define OTAB_MIN_BITS 6

/* Fibonacci hashing: the top bits of the product, so keys that differ
 * only in their hash's high bits still spread. */
static size_t otab_home(const struct otab *t, uint32_t hash)
{
	return (uint32_t)(hash * 0x9e3779b9u) >> (32 - t->bits);
}

static size_t otab_mask(const struct otab *t)
{
	return ((size_t)1 << t->bits) - 1;
}

static void otab_place(struct otab *t, struct oslot e)
{
	size_t i;

	for (i = otab_home(t, e.hash); t->s[i].ref; i = (i + 1) & otab_mask(t))
		;
	t->s[i] = e;
}

static void otab_resize(struct otab *t, unsigned bits)
{
	struct oslot *old = t->s;
	size_t i, n = t->bits ? otab_mask(t) + 1 : 0;

	t->s = xcalloc((size_t)1 << bits, sizeof(*t->s));
	t->bits = bits;
	for (i = 0; i < n; i++)
		if (old[i].ref)
			otab_place(t, old[i]);
	free(old);
}

static void otab_insert(struct otab *t, uint32_t hash, size_t pos)
{
	/* positions index arrays of pointers: never near 2^32 in memory */
	if (pos >= UINT32_MAX)
		abort();
	/* load at most 3/4: short probe runs, also for a missing key */
	if (!t->bits)
		otab_resize(t, OTAB_MIN_BITS);
	else if (t->n + 1 > (otab_mask(t) + 1) / 4 * 3)
		otab_resize(t, t->bits + 1);
	otab_place(t, (struct oslot){ hash, (uint32_t)pos + 1 });
	t->n++;
}

static struct oslot *otab_find(const struct otab *t, uint32_t hash,
			       otab_eq *eq, const void *ctx, const void *key)
{
	size_t i;

	if (!t->bits)
		return NULL;
	for (i = otab_home(t, hash); t->s[i].ref; i = (i + 1) & otab_mask(t))
		if (t->s[i].hash == hash && eq(ctx, t->s[i].ref - 1, key))
			return &t->s[i];
	return NULL;
}

static bool pos_eq(const void *ctx, uint32_t pos, const void *key)
{
	(void)ctx;
	return pos == *(const uint32_t *)key;
}

/* The slot of the owner at pos under this hash. */
static struct oslot *otab_find_pos(const struct otab *t, uint32_t hash,
				   size_t pos)
{
	uint32_t p = (uint32_t)pos;

	return otab_find(t, hash, pos_eq, NULL, &p);
}

/* Backward-shift deletion: the entries after the hole that may live in
 * it move up, so no tombstones and probe runs stay as short as when the
 * entry had never been there. */
static void otab_delete(struct otab *t, struct oslot *hole)
{
	size_t i = (size_t)(hole - t->s), j = i, home;

	for (;;) {
		j = (j + 1) & otab_mask(t);
		if (!t->s[j].ref)
			break;
		home = otab_home(t, t->s[j].hash);
		/* stays when its home lies cyclically in (i, j] */
		if (i <= j ? (home > i && home <= j) : (home > i || home <= j))
			continue;
		t->s[i] = t->s[j];
		i = j;
	}
	t->s[i].ref = 0;
	t->n--;
}

static void otab_free(struct otab *t)
{
	free(t->s);
	memset(t, 0, sizeof(*t));
}

struct inventory {
	struct container **v;
	size_t n, cap;
	struct otab by_id;
	struct otab by_addr;		/* one slot per address */
	struct otab by_ifname;		/* host-side ports: one owner each */
};

/* The label strings, shared by every container that has them (nearly
 * all have the same few keys and values): one copy with a count of its
 * users. The process has one set, which the inventory does not lock. */
struct istr {
	uint32_t refs;
	uint32_t hash;
	uint32_t pos;			/* in strs.v */
	char s[];
};

static struct {
	struct istr **v;
	size_t n, cap;
	struct otab ix;
} strs;

static struct istr *istr_of(const char *s)
{
	return (struct istr *)(s - offsetof(struct istr, s));
}

static bool istr_eq(const void *ctx, uint32_t pos, const void *key)
{
	(void)ctx;
	return !strcmp(strs.v[pos]->s, key);
}

static char *str_intern(const char *s)
{
	uint32_t h = bh_str_hash(s);
	struct oslot *e = otab_find(&strs.ix, h, istr_eq, NULL, s);
	struct istr *is;
	size_t len;

	if (e) {
		is = strs.v[e->ref - 1];
		is->refs++;
		return is->s;
	}
	len = strlen(s);
	is = xmalloc(offsetof(struct istr, s) + len + 1);
	memcpy(is->s, s, len + 1);
	is->refs = 1;
	is->hash = h;
	is->pos = (uint32_t)strs.n;
	xgrow(&strs.v, &strs.cap, strs.n + 1, sizeof(*strs.v));
	otab_insert(&strs.ix, h, strs.n);
	strs.v[strs.n++] = is;
	return is->s;
}

/* One more user of an interned string. */
static char *str_ref(char *s)
{
	istr_of(s)->refs++;
	return s;
}

static void str_drop(char *s)
{
	struct istr *is, *last;

	if (!s)
		return;
	is = istr_of(s);
	if (--is->refs)
		return;
	otab_delete(&strs.ix, otab_find_pos(&strs.ix, is->hash, is->pos));
	last = strs.v[--strs.n];
	if (last != is) {
		otab_find_pos(&strs.ix, last->hash, last->pos)->ref =
			is->pos + 1;
		last->pos = is->pos;
		strs.v[is->pos] = last;
	}
	free(is);
	if (!strs.n) {
		/* no container left: nothing to show as still reachable */
		free(strs.v);
		strs.v = NULL;
		strs.cap = 0;
		otab_free(&strs.ix);
	}
}

/* One allocation for the container and its id and name (the name is the
 * id's bytes when they are equal). */
struct container *container_new(const char *id, const char *name)
{
	size_t li = strlen(id) + 1, ln;
	struct container *c;
	char *text;

	if (!name)
		name = id;
	ln = strcmp(name, id) ? strlen(name) + 1 : 0;
	c = xcalloc(1, sizeof(*c) + li + ln);
	text = (char *)(c + 1);
	c->id = memcpy(text, id, li);
	c->name = ln ? memcpy(text + li, name, ln) : c->id;
	c->group = GROUP_UNASSIGNED;
	return c;
}

void container_free(struct container *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->n_labels; i++) {
		str_drop(c->labels[i].key);
		str_drop(c->labels[i].value);
	}
	free(c->labels);
	if (c->addrs != &c->addr1)
		free(c->addrs);
	if (c->ports != &c->port1)
		free(c->ports);
	free(c->engine);
	free(c->host);
	free(c);
}

void container_add_label(struct container *c, const char *k, const char *v)
{
	size_t i;

	for (i = 0; i < c->n_labels; i++)
		if (!strcmp(c->labels[i].key, k)) {
			str_drop(c->labels[i].value);
			c->labels[i].value = str_intern(v);
			return;
		}
	c->labels = xrealloc(c->labels, (c->n_labels + 1) * sizeof(*c->labels));
	c->labels[c->n_labels].key = str_intern(k);
	c->labels[c->n_labels].value = str_intern(v);
	c->n_labels++;
}

/* Room for one more address. The first lives in the container (most
 * have one); from the second on they are an array of exactly n_addrs. */
static void addrs_grow(struct container *c)
{
	if (!c->addrs || (c->addrs == &c->addr1 && !c->n_addrs)) {
		c->addrs = &c->addr1;
	} else if (c->addrs == &c->addr1) {
		c->addrs = xmalloc(2 * sizeof(*c->addrs));
		c->addrs[0] = c->addr1;
	} else {
		c->addrs = xrealloc(c->addrs,
				    (c->n_addrs + 1) * sizeof(*c->addrs));
	}
}

static long addr_index(const struct container *c, const struct bh_addr *a)
{
	size_t i;

	for (i = 0; i < c->n_addrs; i++)
		if (bh_addr_eq(&c->addrs[i], a))
			return (long)i;
	return -1;
}

void container_add_addr(struct container *c, const struct bh_addr *a)
{
	if (addr_index(c, a) >= 0)
		return;
	addrs_grow(c);
	c->addrs[c->n_addrs++] = *a;
}

const struct container_port *container_addr_port(const struct container *c,
						 size_t i)
{
	size_t k;

	for (k = 0; k < c->n_ports; k++)
		if (i >= c->ports[k].first &&
		    i < (size_t)c->ports[k].first + c->ports[k].n)
			return &c->ports[k];
	return NULL;
}

/* Drops addrs[i], keeping each port's range. */
static void addr_drop(struct container *c, size_t i)
{
	size_t k;

	for (k = 0; k < c->n_ports; k++) {
		struct container_port *p = &c->ports[k];

		if (p->first > i)
			p->first--;
		else if (i < (size_t)p->first + p->n)
			p->n--;
	}
	memmove(&c->addrs[i], &c->addrs[i + 1],
		(c->n_addrs - i - 1) * sizeof(*c->addrs));
	c->n_addrs--;
}

struct container_port *container_find_port(const struct container *c,
					   const char *ifname)
{
	size_t k;

	for (k = 0; k < c->n_ports; k++)
		if (!strcmp(c->ports[k].ifname, ifname))
			return &c->ports[k];
	return NULL;
}

struct container_port *container_add_port(struct container *c,
					  const char *ifname)
{
	struct container_port *p = container_find_port(c, ifname);
	size_t k, end = 0;

	if (p)
		return p;
	for (k = 0; k < c->n_ports; k++)
		end = c->ports[k].first + c->ports[k].n;
	if (!c->ports || (c->ports == &c->port1 && !c->n_ports)) {
		c->ports = &c->port1;
	} else if (c->ports == &c->port1) {
		c->ports = xmalloc(2 * sizeof(*c->ports));
		c->ports[0] = c->port1;
	} else {
		c->ports = xrealloc(c->ports,
				    (c->n_ports + 1) * sizeof(*c->ports));
	}
	p = &c->ports[c->n_ports++];
	memset(p, 0, sizeof(*p));
	snprintf(p->ifname, sizeof(p->ifname), "%s", ifname);
	/* after the last port's addresses, before those on no port */
	p->first = (uint32_t)end;
	return p;
}

int container_add_port_addr(struct container *c, const char *ifname,
			    const struct bh_addr *addr)
{
	/* a copy: addr may point into c->addrs, which moves below */
	const struct bh_addr copy = *addr, *a = &copy;
	long at = addr_index(c, a);
	const struct container_port *other;
	struct container_port *p;
	size_t k, pos;

	if (at >= 0) {
		other = container_addr_port(c, (size_t)at);
		if (other)
			return strcmp(other->ifname, ifname) ? -EEXIST : 0;
		addr_drop(c, (size_t)at);
	}
	p = container_add_port(c, ifname);
	pos = p->first + p->n;
	addrs_grow(c);
	memmove(&c->addrs[pos + 1], &c->addrs[pos],
		(c->n_addrs - pos) * sizeof(*c->addrs));
	c->addrs[pos] = *a;
	c->n_addrs++;
	for (k = 0; k < c->n_ports; k++)
		if (c->ports[k].first > p->first)
			c->ports[k].first++;
	p->n++;
	return 0;
}

void container_set_port(struct container *c, const char *ifname)
{
	struct container_port *p, *last;
	struct bh_addr a;

	if (!ifname[0])
		return;
	p = container_add_port(c, ifname);
	last = &c->ports[c->n_ports - 1];
	/* the addresses on no port follow the last port's */
	if (p == last) {
		p->n = (uint32_t)(c->n_addrs - p->first);
		return;
	}
	while (c->n_addrs > (size_t)last->first + last->n) {
		a = c->addrs[c->n_addrs - 1];
		container_add_port_addr(c, ifname, &a);
	}
}

bool container_remove_port(struct container *c, const char *ifname)
{
	struct container_port *p = container_find_port(c, ifname);
	size_t k;

	if (!p)
		return false;
	while (p->n)
		addr_drop(c, p->first + p->n - 1);
	k = (size_t)(p - c->ports);
	memmove(&c->ports[k], &c->ports[k + 1],
		(c->n_ports - k - 1) * sizeof(*c->ports));
	c->n_ports--;
	return true;
}

bool container_remove_addr(struct container *c, const struct bh_addr *a)
{
	long at = addr_index(c, a);

	if (at < 0)
		return false;
	addr_drop(c, (size_t)at);
	return true;
}

const char *container_ifname(const struct container *c)
{
	return c->n_ports ? c->ports[0].ifname : "";
}

bool container_same_ports(const struct container *a,
			  const struct container *b)
{
	const struct container_port *pb;
	size_t k, i;
	long at;

	if (a->n_ports != b->n_ports)
		return false;
	for (k = 0; k < a->n_ports; k++) {
		pb = container_find_port(b, a->ports[k].ifname);
		if (!pb || pb->n != a->ports[k].n)
			return false;
		for (i = a->ports[k].first;
		     i < (size_t)a->ports[k].first + a->ports[k].n; i++) {
			at = addr_index(b, &a->addrs[i]);
			if (at < 0 || container_addr_port(b, (size_t)at) != pb)
				return false;
		}
	}
	return true;
}

struct container *container_dup(const struct container *c)
{
	struct container *d = container_new(c->id, c->name);
	size_t i;

	if (c->n_labels)
		d->labels = xmalloc(c->n_labels * sizeof(*d->labels));
	for (i = 0; i < c->n_labels; i++) {
		d->labels[i].key = str_ref(c->labels[i].key);
		d->labels[i].value = str_ref(c->labels[i].value);
	}
	d->n_labels = c->n_labels;
	for (i = 0; i < c->n_addrs; i++) {
		addrs_grow(d);
		d->addrs[d->n_addrs++] = c->addrs[i];
	}
	for (i = 0; i < c->n_ports; i++)
		*container_add_port(d, c->ports[i].ifname) = c->ports[i];
	d->source = c->source;
	d->engine = c->engine ? xstrdup(c->engine) : NULL;
	d->host = c->host ? xstrdup(c->host) : NULL;
	d->quarantined = c->quarantined;
	d->colo = c->colo;
	d->since_ms = c->since_ms;
	d->group = c->group;
	return d;
}

struct inventory *inventory_new(void)
{
	return xcalloc(1, sizeof(struct inventory));
}

void inventory_free(struct inventory *inv)
{
	size_t i;

	if (!inv)
		return;
	for (i = 0; i < inv->n; i++)
		container_free(inv->v[i]);
	free(inv->v);
	otab_free(&inv->by_id);
	otab_free(&inv->by_addr);
	otab_free(&inv->by_ifname);
	free(inv);
}

size_t inventory_count(const struct inventory *inv)
{
	return inv->n;
}

struct container *inventory_at(const struct inventory *inv, size_t i)
{
	return i < inv->n ? inv->v[i] : NULL;
}

static bool id_eq(const void *ctx, uint32_t pos, const void *key)
{
	const struct inventory *inv = ctx;

	return !strcmp(inv->v[pos]->id, key);
}

/* One of the owner's ports. */
static bool ifname_eq(const void *ctx, uint32_t pos, const void *key)
{
	const struct inventory *inv = ctx;

	return container_find_port(inv->v[pos], key) != NULL;
}

/* One of the owner's addresses; the prefix length plays no part. */
static bool addr_eq(const void *ctx, uint32_t pos, const void *key)
{
	const struct container *c = ((const struct inventory *)ctx)->v[pos];
	const struct bh_addr *a = key;
	size_t i;

	for (i = 0; i < c->n_addrs; i++)
		if (c->addrs[i].family == a->family &&
		    !memcmp(c->addrs[i].a, a->a, bh_addr_len(a)))
			return true;
	return false;
}

static struct container *hit(const struct inventory *inv,
			     const struct oslot *e)
{
	return e ? inv->v[e->ref - 1] : NULL;
}

struct container *inventory_find(const struct inventory *inv, const char *id)
{
	return hit(inv, otab_find(&inv->by_id, bh_str_hash(id), id_eq, inv,
				  id));
}

struct container *inventory_find_addr(const struct inventory *inv,
				      const struct bh_addr *a)
{
	return hit(inv, otab_find(&inv->by_addr, bh_addr_hash(a), addr_eq,
				  inv, a));
}

struct container *inventory_find_ifname(const struct inventory *inv,
					const char *ifname)
{
	if (!ifname[0])
		return NULL;
	return hit(inv, otab_find(&inv->by_ifname, bh_str_hash(ifname),
				  ifname_eq, inv, ifname));
}

enum ix_op { IX_ADD, IX_DEL, IX_MOVE };

static void ix_key(struct otab *t, uint32_t hash, enum ix_op op, size_t pos,
		   size_t to)
{
	struct oslot *e;

	if (op == IX_ADD) {
		otab_insert(t, hash, pos);
		return;
	}
	/* An owner with two keys of one hash has two slots: each call
	 * takes the first still naming pos. */
	e = otab_find_pos(t, hash, pos);
	if (!e)
		return;		/* a key changed in place: not indexed */
	if (op == IX_DEL)
		otab_delete(t, e);
	else
		e->ref = (uint32_t)to + 1;
}

/* Index the container at pos under each of its keys, unindex it, or
 * renumber its slots to position to. */
static void ix_container(struct inventory *inv, const struct container *c,
			 enum ix_op op, size_t pos, size_t to)
{
	size_t i;

	ix_key(&inv->by_id, bh_str_hash(c->id), op, pos, to);
	for (i = 0; i < c->n_addrs; i++)
		ix_key(&inv->by_addr, bh_addr_hash(&c->addrs[i]), op, pos, to);
	for (i = 0; i < c->n_ports; i++)
		ix_key(&inv->by_ifname, bh_str_hash(c->ports[i].ifname), op,
		       pos, to);
}

int inventory_add(struct inventory *inv, struct container *c)
{
	size_t i;

	if (inventory_find(inv, c->id)) {
		container_free(c);
		return -EEXIST;
	}
	for (i = 0; i < c->n_addrs; i++)
		if (inventory_find_addr(inv, &c->addrs[i])) {
			container_free(c);
			return -EADDRINUSE;
		}
	/* anti-spoofing keys a port to one container's addresses */
	for (i = 0; i < c->n_ports; i++)
		if (inventory_find_ifname(inv, c->ports[i].ifname)) {
			container_free(c);
			return -EADDRINUSE;
		}
	xgrow(&inv->v, &inv->cap, inv->n + 1, sizeof(*inv->v));
	inv->v[inv->n] = c;
	ix_container(inv, c, IX_ADD, inv->n, 0);
	inv->n++;
	return 0;
}

struct container *inventory_remove(struct inventory *inv, const char *id)
{
	struct oslot *e = otab_find(&inv->by_id, bh_str_hash(id), id_eq, inv,
				    id);
	struct container *c, *last;
	size_t pos;

	if (!e)
		return NULL;
	pos = e->ref - 1;
	c = inv->v[pos];
	ix_container(inv, c, IX_DEL, pos, 0);
	last = inv->v[--inv->n];
	if (last != c) {
		ix_container(inv, last, IX_MOVE, inv->n, pos);
		inv->v[pos] = last;
	}
	return c;
}

bool container_limits_ok(const struct container *c, char **err)
{
	size_t i;

	if (c->n_labels > CONTAINER_LABELS_MAX) {
		*err = xasprintf("%zu labels: over the limit of %d labels per "
				 "container", c->n_labels, CONTAINER_LABELS_MAX);
		return false;
	}
	for (i = 0; i < c->n_labels; i++)
		if (!container_label_ok(c->labels[i].key, c->labels[i].value,
					err))
			return false;
	if (c->n_addrs > CONTAINER_ADDRS_MAX) {
		*err = xasprintf("%zu addresses: over the limit of %d "
				 "addresses per container", c->n_addrs,
				 CONTAINER_ADDRS_MAX);
		return false;
	}
	if (c->n_ports > CONTAINER_PORTS_MAX) {
		*err = xasprintf("%zu ports: over the limit of %d ports per "
				 "container", c->n_ports, CONTAINER_PORTS_MAX);
		return false;
	}
	return true;
}

int inventory_check(const struct inventory *inv, const struct container *c,
		    char **err)
{
	const struct container *other;
	char buf[BH_ADDR_STRLEN];
	size_t i;

	*err = NULL;
	if (!container_limits_ok(c, err))
		return -E2BIG;
	if (inv->n >= INVENTORY_CONTAINERS_MAX && !inventory_find(inv, c->id)) {
		*err = xasprintf("%zu containers: at the limit of %d "
				 "containers", inv->n,
				 INVENTORY_CONTAINERS_MAX);
		return -ENOSPC;
	}
	for (i = 0; i < c->n_addrs; i++) {
		other = inventory_find_addr(inv, &c->addrs[i]);
		if (other && strcmp(other->id, c->id)) {
			*err = xasprintf("address %s belongs to container %s "
					 "(%s)", bh_addr_str(&c->addrs[i], buf),
					 other->name, other->id);
			return -EADDRINUSE;
		}
	}
	/* anti-spoofing keys a port to one container's addresses */
	for (i = 0; i < c->n_ports; i++) {
		other = inventory_find_ifname(inv, c->ports[i].ifname);
		if (other && strcmp(other->id, c->id)) {
			*err = xasprintf("interface %s belongs to container "
					 "%s (%s)", c->ports[i].ifname,
					 other->name, other->id);
			return -EADDRINUSE;
		}
	}
	return 0;
}

void container_classify(struct container *c, const struct policy *p)
{
	c->group = policy_classify(p, c->labels, c->n_labels, NULL);
}

void inventory_classify(struct inventory *inv, const struct policy *p)
{
	size_t i;

	for (i = 0; i < inv->n; i++)
		container_classify(inv->v[i], p);
}

/* The fields of an attach request; anything else is a typo. */
static const char *const attach_fields[] = {
	"version", "op", "id", "name", "labels", "ips", "ifname", "ports",
	"source", "quarantine",
};

static bool known_field(const char *k)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(attach_fields); i++)
		if (!strcmp(k, attach_fields[i]))
			return true;
	return false;
}

bool container_label_ok(const char *k, const char *v, char **err)
{
	if (strlen(k) > CONTAINER_LABEL_KEY_MAX) {
		*err = xasprintf("label \"%.64s...\": a key of %zu bytes is "
				 "over the limit of %d bytes per label key",
				 k, strlen(k), CONTAINER_LABEL_KEY_MAX);
		return false;
	}
	if (strlen(v) > CONTAINER_LABEL_VALUE_MAX) {
		*err = xasprintf("label \"%.64s\": a value of %zu bytes is "
				 "over the limit of %d bytes per label value",
				 k, strlen(v), CONTAINER_LABEL_VALUE_MAX);
		return false;
	}
	return true;
}

static bool labels_from_json(struct container *c, const json_t *labels,
			     char **err)
{
	const char *k;
	json_t *v;

	if (labels && !json_is_object(labels)) {
		*err = xstrdup("\"labels\" must be an object of strings");
		return false;
	}
	if (json_object_size(labels) > CONTAINER_LABELS_MAX) {
		*err = xasprintf("%zu labels: over the limit of %d labels per "
				 "container", json_object_size(labels),
				 CONTAINER_LABELS_MAX);
		return false;
	}
	json_object_foreach((json_t *)labels, k, v) {
		if (!*k || !json_is_string(v)) {
			*err = xasprintf("label \"%.64s\" must have a non-empty "
					 "key and a string value", k);
			return false;
		}
		if (!container_label_ok(k, json_string_value(v), err))
			return false;
		container_add_label(c, k, json_string_value(v));
	}
	return true;
}

/* Addresses; one given twice is kept once. */
static bool ips_from_json(struct container *c, const json_t *ips,
			  char **err)
{
	struct bh_addr a;
	json_t *v;
	size_t i;

	if (ips && !json_is_array(ips)) {
		*err = xstrdup("\"ips\" must be an array of addresses");
		return false;
	}
	json_array_foreach(ips, i, v) {
		if (!json_is_string(v) ||
		    !bh_addr_parse(json_string_value(v), false, &a)) {
			*err = xasprintf("ips[%zu] is not an IPv4 or IPv6 "
					 "address", i);
			return false;
		}
		container_add_addr(c, &a);
	}
	return true;
}

static bool ifname_ok(const char *s)
{
	return s && *s && strlen(s) < IF_NAMESIZE && !strchr(s, '/');
}

/* [{"ifname", "ips"}]: each port's own addresses; one of "ips" moves to
 * its port. */
static bool ports_from_json(struct container *c, const json_t *ports,
			    enum container_json how, char **err)
{
	const char *ifname, *k;
	struct bh_addr a;
	json_t *p, *ips, *v;
	size_t i, j;

	if (!json_is_array(ports)) {
		*err = xstrdup("\"ports\" must be an array of "
			       "{\"ifname\", \"ips\"}");
		return false;
	}
	if (json_array_size(ports) > CONTAINER_PORTS_MAX) {
		*err = xasprintf("%zu ports: over the limit of %d ports per "
				 "container", json_array_size(ports),
				 CONTAINER_PORTS_MAX);
		return false;
	}
	json_array_foreach(ports, i, p) {
		if (!json_is_object(p)) {
			*err = xasprintf("ports[%zu] must be an object", i);
			return false;
		}
		json_object_foreach(p, k, v)
			if (how == CJ_ATTACH && strcmp(k, "ifname") &&
			    strcmp(k, "ips")) {
				*err = xasprintf("ports[%zu]: unknown field "
						 "\"%.64s\"", i, k);
				return false;
			}
		ifname = json_string_value(json_object_get(p, "ifname"));
		if (!ifname_ok(ifname)) {
			*err = xasprintf("ports[%zu].ifname must be an "
					 "interface name of 1 to %d bytes",
					 i, IF_NAMESIZE - 1);
			return false;
		}
		if (container_find_port(c, ifname)) {
			*err = xasprintf("ports[%zu]: interface %s is given "
					 "twice", i, ifname);
			return false;
		}
		container_add_port(c, ifname);
		ips = json_object_get(p, "ips");
		if (ips && !json_is_array(ips)) {
			*err = xasprintf("ports[%zu].ips must be an array of "
					 "addresses", i);
			return false;
		}
		json_array_foreach(ips, j, v) {
			if (!json_is_string(v) ||
			    !bh_addr_parse(json_string_value(v), false, &a)) {
				*err = xasprintf("ports[%zu].ips[%zu] is not "
						 "an IPv4 or IPv6 address",
						 i, j);
				return false;
			}
			if (container_add_port_addr(c, ifname, &a) < 0) {
				*err = xasprintf("ports[%zu].ips[%zu]: %s is "
						 "another port's address", i,
						 j, json_string_value(v));
				return false;
			}
		}
	}
	return true;
}

static bool source_from_json(struct container *c, const json_t *v,
			     char **err)
{
	const char *s = v && !json_is_null(v) ? json_string_value(v)
					     : "static";

	if (s && !strcmp(s, "static"))
		c->source = SRC_STATIC;
	else if (s && !strcmp(s, "engine"))
		c->source = SRC_ENGINE;
	else if (s && !strcmp(s, "cni"))
		c->source = SRC_CNI;
	else if (s && !strcmp(s, "remote"))
		c->source = SRC_REMOTE;
	else {
		*err = xstrdup("\"source\" must be static, engine or cni");
		return false;
	}
	return true;
}

struct container *container_from_json(const json_t *o,
				      enum container_json how, char **err)
{
	const char *id, *name, *ifname, *k, *qkey;
	json_t *ports;
	struct container *c = NULL;
	json_t *v;

	*err = NULL;
	if (!json_is_object(o)) {
		*err = xstrdup("not an object");
		return NULL;
	}
	json_object_foreach((json_t *)o, k, v)
		if (how == CJ_ATTACH && !known_field(k)) {
			*err = xasprintf("unknown field \"%s\"", k);
			return NULL;
		}
	id = json_string_value(json_object_get(o, "id"));
	if (!id || !*id || strlen(id) > CONTAINER_ID_MAX) {
		*err = xasprintf("\"id\" must be a string of 1 to %d bytes",
				 CONTAINER_ID_MAX);
		return NULL;
	}
	v = json_object_get(o, "name");
	name = v && !json_is_null(v) ? json_string_value(v) : id;
	if (!name || !*name || strlen(name) > CONTAINER_NAME_MAX) {
		*err = xasprintf("\"name\" must be a string of 1 to %d bytes",
				 CONTAINER_NAME_MAX);
		return NULL;
	}
	c = container_new(id, name);
	if (!labels_from_json(c, json_object_get(o, "labels"), err) ||
	    !ips_from_json(c, json_object_get(o, "ips"), err))
		goto fail;
	v = json_object_get(o, "ifname");
	ifname = v && !json_is_null(v) ? json_string_value(v) : "";
	if (!ifname || (*ifname && !ifname_ok(ifname))) {
		*err = xasprintf("\"ifname\" must be an interface name of at "
				 "most %d bytes", IF_NAMESIZE - 1);
		goto fail;
	}
	ports = json_object_get(o, "ports");
	if (ports && !json_is_null(ports) && *ifname) {
		*err = xstrdup("give \"ports\" or \"ifname\", not both");
		goto fail;
	}
	/* the single-port form: all of "ips" belong to "ifname" */
	container_set_port(c, ifname);
	if (ports && !json_is_null(ports) &&
	    !ports_from_json(c, ports, how, err))
		goto fail;
	if (!container_limits_ok(c, err))
		goto fail;
	if (!source_from_json(c, json_object_get(o, "source"), err))
		goto fail;
	/* an attach asks for quarantine; an entry says it is in it */
	qkey = how == CJ_ATTACH ? "quarantine" : "quarantined";
	v = json_object_get(o, qkey);
	if (v && !json_is_boolean(v)) {
		*err = xasprintf("\"%s\" must be true or false", qkey);
		goto fail;
	}
	c->quarantined = json_is_true(v);
	v = json_object_get(o, "engine");
	if (how == CJ_ENTRY && v && !json_is_null(v) &&
	    (!json_is_string(v) || strlen(json_string_value(v)) > 4096)) {
		*err = xstrdup("\"engine\" must be a URL");
		goto fail;
	}
	if (how == CJ_ENTRY && json_is_string(v) && c->source == SRC_ENGINE)
		c->engine = xstrdup(json_string_value(v));
	v = json_object_get(o, "since");
	if (how == CJ_ENTRY && v && (!json_is_integer(v) ||
				     json_integer_value(v) < 0)) {
		*err = xstrdup("\"since\" must be a time in ms since 1970");
		goto fail;
	}
	if (how == CJ_ENTRY && v)
		c->since_ms = (uint64_t)json_integer_value(v);
	/* only the cluster (an entry it recorded) speaks for another host */
	v = json_object_get(o, "host");
	if (c->source == SRC_REMOTE &&
	    (how != CJ_ENTRY || !json_is_string(v) ||
	     !*json_string_value(v) || strlen(json_string_value(v)) > 255)) {
		*err = xstrdup(how != CJ_ENTRY ?
			       "\"source\" must be static, engine or cni" :
			       "\"host\" must name the remote host");
		goto fail;
	}
	if (c->source == SRC_REMOTE)
		c->host = xstrdup(json_string_value(v));
	return c;
fail:
	container_free(c);
	return NULL;
}

/* One inventory entry; *err names the entry and the field on failure. */
static struct container *entry_from_json(json_t *o, size_t idx, char **err)
{
	struct container *c;
	const char *id;
	char *e;

	c = container_from_json(o, CJ_ENTRY, &e);
	if (c)
		return c;
	id = json_string_value(json_object_get(o, "id"));
	if (id && *id && strlen(id) <= CONTAINER_ID_MAX)
		*err = xasprintf("entry %zu (%s): %s", idx, id, e);
	else
		*err = xasprintf("entry %zu: %s", idx, e);
	free(e);
	return NULL;
}

struct inventory *inventory_from_json(const char *text, size_t len,
				      char **err)
{
	struct inventory *inv = NULL;
	struct container *c;
	json_error_t jerr;
	json_t *root, *o;
	size_t i;
	int r;

	*err = NULL;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		*err = xasprintf("%d:%d: %s", jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_array(root)) {
		*err = xstrdup("expected an array of containers");
		goto out;
	}
	if (json_array_size(root) > INVENTORY_CONTAINERS_MAX) {
		*err = xasprintf("%zu containers: over the limit of %d "
				 "containers", json_array_size(root),
				 INVENTORY_CONTAINERS_MAX);
		goto out;
	}
	inv = inventory_new();
	json_array_foreach(root, i, o) {
		c = entry_from_json(o, i, err);
		if (!c)
			goto fail;
		r = inventory_add(inv, c);
		if (r == -EEXIST) {
			*err = xasprintf("entry %zu: duplicate id", i);
			goto fail;
		}
		if (r == -EADDRINUSE) {
			*err = xasprintf("entry %zu: an address or the "
					 "interface belongs to another "
					 "container", i);
			goto fail;
		}
	}
	goto out;
fail:
	inventory_free(inv);
	inv = NULL;
out:
	json_decref(root);
	return inv;
}

struct inventory *inventory_load(const char *path, char **err)
{
	struct inventory *inv;
	char *text, *e = NULL;
	size_t len;
	int r;

	/* 256 MiB: room for a million containers, still a bound */
	r = bh_read_file(path, 256u << 20, &text, &len);
	if (r < 0) {
		*err = xasprintf("%s: %s", path, strerror(-r));
		return NULL;
	}
	inv = inventory_from_json(text, len, &e);
	if (!inv) {
		*err = xasprintf("%s: %s", path, e);
		free(e);
	}
	free(text);
	return inv;
}

static const char *source_name(enum container_source s)
{
	switch (s) {
	case SRC_ENGINE:
		return "engine";
	case SRC_CNI:
		return "cni";
	case SRC_REMOTE:
		return "remote";
	default:
		return "static";
	}
}

static json_t *addrs_json(const struct container *c, size_t from, size_t n)
{
	json_t *ips = json_array();
	char buf[BH_ADDR_STRLEN];
	size_t j;

	for (j = from; j < from + n; j++)
		json_array_append_new(ips, json_string(
			bh_addr_str(&c->addrs[j], buf)));
	return ips;
}

json_t *container_to_json(const struct container *c)
{
	json_t *labels = json_object(), *ports, *o;
	size_t j;

	for (j = 0; j < c->n_labels; j++)
		json_object_set_new(labels, c->labels[j].key,
				    json_string(c->labels[j].value));
	o = json_pack("{s:s, s:s, s:o, s:o}", "id", c->id, "name", c->name,
		      "labels", labels,
		      "ips", addrs_json(c, 0, c->n_addrs));
	/* the single-port form while it says all (older readers know it) */
	if (c->n_ports > 1 ||
	    (c->n_ports == 1 && c->ports[0].n != c->n_addrs)) {
		ports = json_array();
		for (j = 0; j < c->n_ports; j++)
			json_array_append_new(ports, json_pack("{s:s, s:o}",
				"ifname", c->ports[j].ifname,
				"ips", addrs_json(c, c->ports[j].first,
						  c->ports[j].n)));
		json_object_set_new(o, "ports", ports);
	} else {
		json_object_set_new(o, "ifname",
				    json_string(container_ifname(c)));
	}
	json_object_set_new(o, "source", json_string(source_name(c->source)));
	if (c->quarantined)
		json_object_set_new(o, "quarantined", json_true());
	if (c->engine)
		json_object_set_new(o, "engine", json_string(c->engine));
	if (c->since_ms)
		json_object_set_new(o, "since",
				    json_integer((json_int_t)c->since_ms));
	if (c->host)
		json_object_set_new(o, "host", json_string(c->host));
	return o;
}

/* The text json_dumps(JSON_INDENT(1)) gives for the array of every
 * container, built one container's tree at a time: the whole tree of
 * ~10,000 containers is ~12 MB of jansson objects for ~3 MB of text, and
 * a state compaction's peak of that size grows the heap for good when it
 * comes on top of a larger working set (docs/benchmarks.md, "churn
 * soak"). Each element's lines are indented one more, as the array's. */
char *inventory_to_json(const struct inventory *inv)
{
	struct strbuf sb = { 0 };
	json_t *o;
	size_t i;
	char *s, *p, *nl;

	sb_putc(&sb, '[');
	for (i = 0; i < inv->n; i++) {
		o = container_to_json(inv->v[i]);
		s = json_dumps(o, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
		json_decref(o);
		if (!s)
			abort();
		sb_puts(&sb, i ? ",\n " : "\n ");
		for (p = s; (nl = strchr(p, '\n')); p = nl + 1) {
			sb_putn(&sb, p, (size_t)(nl + 1 - p));
			sb_putc(&sb, ' ');
		}
		sb_puts(&sb, p);
		free(s);
	}
	sb_puts(&sb, inv->n ? "\n]" : "]");
	return sb_steal(&sb);
}

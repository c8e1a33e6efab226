/* The containers on this host, with O(1) lookup by id and by address.
 * Removal moves the last container into the freed slot, so attach and
 * detach cost the same whatever the number of containers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>

#include "inventory.h"

struct hent {
	struct hent *next;
	uint32_t hash;
	const struct bh_addr *addr;	/* address index: points into c */
	struct container *c;
};

struct htab {
	struct hent **b;
	size_t nb;			/* power of two */
	size_t n;
};

struct inventory {
	struct container **v;
	size_t n, cap;
	struct htab by_id;
	struct htab by_addr;
	struct htab by_ifname;		/* host-side ports: one owner each */
};

static void htab_resize(struct htab *t, size_t nb)
{
	struct hent **b = xcalloc(nb, sizeof(*b)), *e, *next;
	size_t i;

	for (i = 0; i < t->nb; i++)
		for (e = t->b[i]; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	free(t->b);
	t->b = b;
	t->nb = nb;
}

static void htab_insert(struct htab *t, uint32_t hash, struct container *c,
			const struct bh_addr *addr)
{
	struct hent *e = xmalloc(sizeof(*e));

	if (t->n + 1 > t->nb)
		htab_resize(t, t->nb ? t->nb * 2 : 64);
	e->hash = hash;
	e->c = c;
	e->addr = addr;
	e->next = t->b[hash & (t->nb - 1)];
	t->b[hash & (t->nb - 1)] = e;
	t->n++;
}

/* Unlink the entry that points at c (and addr, for the address index). */
static void htab_remove(struct htab *t, uint32_t hash, const struct container *c,
			const struct bh_addr *addr)
{
	struct hent **pp, *e;

	if (!t->nb)
		return;
	for (pp = &t->b[hash & (t->nb - 1)]; (e = *pp); pp = &e->next)
		if (e->c == c && e->addr == addr) {
			*pp = e->next;
			free(e);
			t->n--;
			return;
		}
}

static void htab_free(struct htab *t)
{
	struct hent *e, *next;
	size_t i;

	for (i = 0; i < t->nb; i++)
		for (e = t->b[i]; e; e = next) {
			next = e->next;
			free(e);
		}
	free(t->b);
	memset(t, 0, sizeof(*t));
}

struct container *container_new(const char *id, const char *name)
{
	struct container *c = xcalloc(1, sizeof(*c));

	c->id = xstrdup(id);
	c->name = xstrdup(name ? name : id);
	c->group = GROUP_UNASSIGNED;
	return c;
}

void container_free(struct container *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->n_labels; i++) {
		free(c->labels[i].key);
		free(c->labels[i].value);
	}
	free(c->labels);
	free(c->addrs);
	free(c->id);
	free(c->name);
	free(c->engine);
	free(c);
}

void container_add_label(struct container *c, const char *k, const char *v)
{
	size_t i;

	for (i = 0; i < c->n_labels; i++)
		if (!strcmp(c->labels[i].key, k)) {
			free(c->labels[i].value);
			c->labels[i].value = xstrdup(v);
			return;
		}
	c->labels = xrealloc(c->labels, (c->n_labels + 1) * sizeof(*c->labels));
	c->labels[c->n_labels].key = xstrdup(k);
	c->labels[c->n_labels].value = xstrdup(v);
	c->n_labels++;
}

void container_add_addr(struct container *c, const struct bh_addr *a)
{
	size_t i;

	for (i = 0; i < c->n_addrs; i++)
		if (bh_addr_eq(&c->addrs[i], a))
			return;
	c->addrs = xrealloc(c->addrs, (c->n_addrs + 1) * sizeof(*c->addrs));
	c->addrs[c->n_addrs++] = *a;
}

struct container *container_dup(const struct container *c)
{
	struct container *d = container_new(c->id, c->name);
	size_t i;

	for (i = 0; i < c->n_labels; i++)
		container_add_label(d, c->labels[i].key, c->labels[i].value);
	for (i = 0; i < c->n_addrs; i++)
		container_add_addr(d, &c->addrs[i]);
	memcpy(d->ifname, c->ifname, sizeof(d->ifname));
	d->source = c->source;
	d->engine = c->engine ? xstrdup(c->engine) : NULL;
	d->quarantined = c->quarantined;
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
	htab_free(&inv->by_id);
	htab_free(&inv->by_addr);
	htab_free(&inv->by_ifname);
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

struct container *inventory_find(const struct inventory *inv, const char *id)
{
	uint32_t h = bh_str_hash(id);
	struct hent *e;

	if (!inv->by_id.nb)
		return NULL;
	for (e = inv->by_id.b[h & (inv->by_id.nb - 1)]; e; e = e->next)
		if (e->hash == h && !strcmp(e->c->id, id))
			return e->c;
	return NULL;
}

struct container *inventory_find_addr(const struct inventory *inv,
				      const struct bh_addr *a)
{
	uint32_t h = bh_addr_hash(a);
	struct hent *e;

	if (!inv->by_addr.nb)
		return NULL;
	for (e = inv->by_addr.b[h & (inv->by_addr.nb - 1)]; e; e = e->next)
		if (e->hash == h && e->addr->family == a->family &&
		    !memcmp(e->addr->a, a->a, bh_addr_len(a)))
			return e->c;
	return NULL;
}

struct container *inventory_find_ifname(const struct inventory *inv,
					const char *ifname)
{
	uint32_t h;
	struct hent *e;

	if (!ifname[0] || !inv->by_ifname.nb)
		return NULL;
	h = bh_str_hash(ifname);
	for (e = inv->by_ifname.b[h & (inv->by_ifname.nb - 1)]; e; e = e->next)
		if (e->hash == h && !strcmp(e->c->ifname, ifname))
			return e->c;
	return NULL;
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
	if (inventory_find_ifname(inv, c->ifname)) {
		container_free(c);
		return -EADDRINUSE;
	}
	xgrow(&inv->v, &inv->cap, inv->n + 1, sizeof(*inv->v));
	c->slot = inv->n;
	inv->v[inv->n++] = c;
	htab_insert(&inv->by_id, bh_str_hash(c->id), c, NULL);
	for (i = 0; i < c->n_addrs; i++)
		htab_insert(&inv->by_addr, bh_addr_hash(&c->addrs[i]), c,
			    &c->addrs[i]);
	if (c->ifname[0])
		htab_insert(&inv->by_ifname, bh_str_hash(c->ifname), c, NULL);
	return 0;
}

struct container *inventory_remove(struct inventory *inv, const char *id)
{
	struct container *c = inventory_find(inv, id), *last;
	size_t i;

	if (!c)
		return NULL;
	htab_remove(&inv->by_id, bh_str_hash(c->id), c, NULL);
	for (i = 0; i < c->n_addrs; i++)
		htab_remove(&inv->by_addr, bh_addr_hash(&c->addrs[i]), c,
			    &c->addrs[i]);
	if (c->ifname[0])
		htab_remove(&inv->by_ifname, bh_str_hash(c->ifname), c, NULL);
	last = inv->v[--inv->n];
	inv->v[c->slot] = last;
	last->slot = c->slot;
	return c;
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
	"version", "op", "id", "name", "labels", "ips", "ifname", "source",
	"quarantine",
};

static bool known_field(const char *k)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(attach_fields); i++)
		if (!strcmp(k, attach_fields[i]))
			return true;
	return false;
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
	json_object_foreach((json_t *)labels, k, v) {
		if (!*k || !json_is_string(v)) {
			*err = xasprintf("label \"%s\" must have a non-empty "
					 "key and a string value", k);
			return false;
		}
		container_add_label(c, k, json_string_value(v));
	}
	return true;
}

/* Addresses; one given twice is kept once. */
static bool ips_from_json(struct container *c, const json_t *ips,
			  char **err)
{
	struct bh_addr a;
	size_t i, j;
	json_t *v;

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
		for (j = 0; j < c->n_addrs; j++)
			if (bh_addr_eq(&c->addrs[j], &a))
				break;
		if (j == c->n_addrs)
			container_add_addr(c, &a);
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
	if (!ifname || strlen(ifname) >= IF_NAMESIZE || strchr(ifname, '/')) {
		*err = xasprintf("\"ifname\" must be an interface name of at "
				 "most %d bytes", IF_NAMESIZE - 1);
		goto fail;
	}
	strcpy(c->ifname, ifname);
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
	default:
		return "static";
	}
}

json_t *container_to_json(const struct container *c)
{
	json_t *labels = json_object(), *ips = json_array(), *o;
	char buf[BH_ADDR_STRLEN];
	size_t j;

	for (j = 0; j < c->n_labels; j++)
		json_object_set_new(labels, c->labels[j].key,
				    json_string(c->labels[j].value));
	for (j = 0; j < c->n_addrs; j++)
		json_array_append_new(ips, json_string(
			bh_addr_str(&c->addrs[j], buf)));
	o = json_pack("{s:s, s:s, s:o, s:o, s:s, s:s}", "id", c->id,
		      "name", c->name, "labels", labels, "ips", ips,
		      "ifname", c->ifname, "source", source_name(c->source));
	if (c->quarantined)
		json_object_set_new(o, "quarantined", json_true());
	if (c->engine)
		json_object_set_new(o, "engine", json_string(c->engine));
	return o;
}

char *inventory_to_json(const struct inventory *inv)
{
	json_t *root = json_array();
	size_t i;
	char *s;

	for (i = 0; i < inv->n; i++)
		json_array_append_new(root, container_to_json(inv->v[i]));
	s = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (!s)
		abort();
	return s;
}

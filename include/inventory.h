/* The containers on this host: identity, labels, addresses, host-side
 * interface, and the group policy put them in. O(1) lookup by id and by
 * address (for attribution of denied packets). No I/O but JSON. */
#ifndef BULKHEAD_INVENTORY_H
#define BULKHEAD_INVENTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <net/if.h>

#include "policy.h"
#include "util.h"

#define CONTAINER_ID_MAX 128
#define CONTAINER_NAME_MAX 255

enum container_source {
	SRC_STATIC,		/* bulkheadctl attach, or an inventory file */
	SRC_ENGINE,		/* Docker / Podman Engine API */
	SRC_CNI,		/* the chained CNI plugin */
	SRC_REMOTE,		/* another host's, through etcd (cluster.h) */
};

struct container {
	char *id;
	char *name;
	struct kv *labels;		/* full keys, e.g. bulkhead.purpose */
	size_t n_labels;
	struct bh_addr *addrs;		/* host addresses (plen 32/128) */
	size_t n_addrs;
	char ifname[IF_NAMESIZE];	/* host-side interface, "" if unknown */
	enum container_source source;
	char *engine;			/* SRC_ENGINE: the URL of the engine
					 * that reported it; NULL if unknown
					 * (an older state file) */
	char *host;			/* SRC_REMOTE: the host that published
					 * it; NULL for this host's own */
	bool quarantined;		/* seen, group not yet known */
	unsigned group;			/* set by inventory_classify */
	struct bh_addr addr1;		/* the storage of a single address */
};
/* id and name share the container's allocation, and label strings are
 * shared between containers: change them only through the functions
 * below (container_add_label replaces a value). The label strings are
 * one set per process, used without a lock. */

struct container *container_new(const char *id, const char *name);
void container_free(struct container *c);	/* NULL is fine */
void container_add_label(struct container *c, const char *k, const char *v);
void container_add_addr(struct container *c, const struct bh_addr *a);
struct container *container_dup(const struct container *c);

struct inventory;

struct inventory *inventory_new(void);
void inventory_free(struct inventory *inv);	/* frees every container */

size_t inventory_count(const struct inventory *inv);
/* Iteration; NULL past the end. The order is insertion order until a
 * container is removed (the last one then takes its place), and stable
 * while the inventory is not changed. */
struct container *inventory_at(const struct inventory *inv, size_t i);

/* Takes ownership of c. -EEXIST when the id is present, -EADDRINUSE when
 * one of its addresses or its host-side interface belongs to another
 * container (c is then freed). */
int inventory_add(struct inventory *inv, struct container *c);
/* Removes and returns the container (caller frees), NULL when unknown. */
struct container *inventory_remove(struct inventory *inv, const char *id);
struct container *inventory_find(const struct inventory *inv, const char *id);
struct container *inventory_find_addr(const struct inventory *inv,
				      const struct bh_addr *a);
/* The container whose host-side interface is ifname; NULL for "". */
struct container *inventory_find_ifname(const struct inventory *inv,
					const char *ifname);

/* Put every container (or one) into its group under p. */
void inventory_classify(struct inventory *inv, const struct policy *p);
void container_classify(struct container *c, const struct policy *p);

/* JSON: [{"id","name","labels":{},"ips":[],"ifname","source","engine"?}]
 * — the format of
 * `bulkheadctl ruleset --inventory FILE` and of the daemon's state file.
 * Errors go to *err (caller frees) naming the entry. */
struct inventory *inventory_from_json(const char *text, size_t len,
				      char **err);
struct inventory *inventory_load(const char *path, char **err);
char *inventory_to_json(const struct inventory *inv);
struct json_t;

/* How container_from_json reads an object. */
enum container_json {
	/* an inventory or state entry: "quarantined" and "engine" as
	 * container_to_json writes them; other fields are ignored (callers
	 * add their own, such as the daemon's "group") */
	CJ_ENTRY,
	/* a control-socket attach: "quarantine" asks for it, and only its
	 * documented fields (plus "version" and "op") are accepted, so a
	 * typo cannot attach a container unlabelled */
	CJ_ATTACH,
};
/* One container from its JSON object (id, name, labels, ips, ifname,
 * source, ...). NULL with *err (caller frees) naming the field. */
struct container *container_from_json(const struct json_t *o,
				      enum container_json how, char **err);
/* One entry of that format ("quarantined" and "engine" only when set);
 * callers add their own fields (the daemon's "group", the CNI plugin's
 * "op"). A new reference. */
struct json_t *container_to_json(const struct container *c);

#endif

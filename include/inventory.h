/* The containers on this host: identity, labels, addresses, host-side
 * ports (each with the addresses that belong to it), and the group policy
 * put them in. O(1) lookup by id and by
 * address (for attribution of denied packets). No I/O but JSON. */
#ifndef BULKHEAD_INVENTORY_H
#define BULKHEAD_INVENTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <net/if.h>

#include "policy.h"
#include "util.h"

/* Limits (docs/limits.md): going over one is refused with a message
 * that names it, before anything changes. */
#define CONTAINER_ID_MAX 128		/* bytes */
#define CONTAINER_NAME_MAX 255		/* bytes */
#define CONTAINER_LABELS_MAX 1024	/* labels per container */
#define CONTAINER_LABEL_KEY_MAX 4096	/* bytes of a label key */
#define CONTAINER_LABEL_VALUE_MAX 4096	/* bytes of a label value */
#define CONTAINER_ADDRS_MAX 128		/* addresses per container */
#define CONTAINER_PORTS_MAX 32		/* host-side ports per container */
#define INVENTORY_CONTAINERS_MAX 1000000	/* containers per host */

enum container_source {
	SRC_STATIC,		/* bulkheadctl attach, or an inventory file */
	SRC_ENGINE,		/* Docker / Podman Engine API */
	SRC_CNI,		/* the chained CNI plugin */
	SRC_REMOTE,		/* another host's, through etcd (cluster.h) */
};

/* A host-side interface of the container (the host end of a veth) and
 * the addresses that belong to it: anti-spoofing accepts each of them
 * on this port only. */
struct container_port {
	char ifname[IF_NAMESIZE];
	uint32_t first;			/* its addresses: addrs[first ..] */
	uint32_t n;			/* ... up to addrs[first + n - 1] */
};

struct container {
	char *id;
	char *name;
	struct kv *labels;		/* full keys, e.g. bulkhead.purpose */
	size_t n_labels;
	/* host addresses (plen 32/128): those of ports[0], of ports[1],
	 * ..., then the addresses on no known port (not guarded) */
	struct bh_addr *addrs;
	size_t n_addrs;
	struct container_port *ports;	/* none when no port is known */
	size_t n_ports;
	enum container_source source;
	char *engine;			/* SRC_ENGINE: the URL of the engine
					 * that reported it; NULL if unknown
					 * (an older state file) */
	char *host;			/* SRC_REMOTE: the host that published
					 * it; NULL for this host's own */
	bool quarantined;		/* seen, group not yet known */
	/* co-location (colocation.h): the daemon holds it in quarantine
	 * (enforce) or has reported it mixing levels (warn); not in the
	 * state file, decided again from `since` after a restart */
	uint8_t colo;			/* COLO_NONE, _MIXING, _HELD */
	/* wall clock (ms) of its first attach; in the state file as
	 * "since", so that co-location decides the same after a restart */
	uint64_t since_ms;
	unsigned group;			/* set by inventory_classify */
	struct bh_addr addr1;		/* the storage of a single address */
	struct container_port port1;	/* and of a single port */
};
enum { COLO_NONE = 0, COLO_MIXING = 1, COLO_HELD = 2 };

/* Its packets meet the quarantine group's chains: its labels are not known
 * yet, or co-location holds it. */
static inline bool container_in_quarantine(const struct container *c)
{
	return c->quarantined || c->colo == COLO_HELD;
}

/* id and name share the container's allocation, and label strings are
 * shared between containers: change them only through the functions
 * below (container_add_label replaces a value). The label strings are
 * one set per process, used without a lock. */

struct container *container_new(const char *id, const char *name);
void container_free(struct container *c);	/* NULL is fine */
void container_add_label(struct container *c, const char *k, const char *v);
/* An address on no port (given twice: kept once). */
void container_add_addr(struct container *c, const struct bh_addr *a);
/* The port named ifname, added (with no address) when missing. */
struct container_port *container_add_port(struct container *c,
					  const char *ifname);
/* Puts a on port ifname (adding the port); an address on no port moves
 * to it. -EEXIST when a is another port's (nothing changes). */
int container_add_port_addr(struct container *c, const char *ifname,
			    const struct bh_addr *a);
/* The single-port form (attach with "ifname"): every address on no port
 * goes to port ifname, added when missing. "" does nothing. */
void container_set_port(struct container *c, const char *ifname);
/* Removes port ifname and its addresses; false when there is none. */
bool container_remove_port(struct container *c, const char *ifname);
/* Removes address a (from its port, if any); false when it has none. */
bool container_remove_addr(struct container *c, const struct bh_addr *a);
struct container_port *container_find_port(const struct container *c,
					   const char *ifname);
/* The port address addrs[i] belongs to, NULL when none. */
const struct container_port *container_addr_port(const struct container *c,
						 size_t i);
/* The first port's interface, "" when none (messages, fingerprints). */
const char *container_ifname(const struct container *c);
/* Same ports, each with the same addresses (in any order). */
bool container_same_ports(const struct container *a,
			  const struct container *b);
struct container *container_dup(const struct container *c);
/* Within the limits above (labels, their sizes, addresses, ports); else
 * false with *err (caller frees) naming the limit. */
bool container_label_ok(const char *k, const char *v, char **err);
bool container_limits_ok(const struct container *c, char **err);

struct inventory;

struct inventory *inventory_new(void);
void inventory_free(struct inventory *inv);	/* frees every container */

size_t inventory_count(const struct inventory *inv);
/* Iteration; NULL past the end. The order is insertion order until a
 * container is removed (the last one then takes its place), and stable
 * while the inventory is not changed. */
struct container *inventory_at(const struct inventory *inv, size_t i);

/* Takes ownership of c. -EEXIST when the id is present, -EADDRINUSE when
 * one of its addresses or one of its ports belongs to another container
 * (c is then freed). */
int inventory_add(struct inventory *inv, struct container *c);
/* Removes and returns the container (caller frees), NULL when unknown. */
struct container *inventory_remove(struct inventory *inv, const char *id);
/* May c be added, or replace the container of its id? 0, or with *err
 * (caller frees): -E2BIG over a per-container limit, -ENOSPC a new id at
 * INVENTORY_CONTAINERS_MAX, -EADDRINUSE an address or port of another
 * container. Changes nothing. */
int inventory_check(const struct inventory *inv, const struct container *c,
		    char **err);
struct container *inventory_find(const struct inventory *inv, const char *id);
struct container *inventory_find_addr(const struct inventory *inv,
				      const struct bh_addr *a);
/* The container one of whose ports is ifname; NULL for "". */
struct container *inventory_find_ifname(const struct inventory *inv,
					const char *ifname);

/* Put every container (or one) into its group under p. */
void inventory_classify(struct inventory *inv, const struct policy *p);
void container_classify(struct container *c, const struct policy *p);

/* JSON: [{"id","name","labels":{},"ips":[],"ifname","source","engine"?}]
 * with "ports":[{"ifname","ips":[]}] in place of "ifname" when the
 * container has more than one port, or addresses on none of them beside
 * a port's ("ips" then lists every address) — the format of
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

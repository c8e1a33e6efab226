/* Several hosts through etcd: publish this host's containers under one
 * lease, follow every other host's through a watch of the prefix. One
 * state machine on the daemon's loop:
 *
 *   DOWN --retry--> LEASE (take back the kept lease, or grant one)
 *        --> SYNC (read the prefix at one revision, swap every remote
 *                  container in one kernel transaction)
 *        --> UP (watch from revision + 1, publish, keepalive every TTL/3)
 *
 * Any failure (a call, the watch ending, a keepalive) is a dead
 * connection: back to DOWN, next URL, jittered backoff; the remote
 * containers stay as they are (stale). A compaction cancels the watch:
 * SYNC again. A lease found expired: grant a new one and republish. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "bh_version.h"
#include "cluster.h"
#include "colocation.h"
#include "etcd.h"
#include "ev.h"
#include "inventory.h"
#include "log.h"
#include "policy.h"
#include "util.h"

#define CLUSTER_LAYOUT 1		/* "version" of the host key */
/* keys per range page (about 1.8 MB of JSON): 100,000 keys read in
 * 1,000-key pages took 26 s on a loaded 2-core machine, in 10,000-key
 * pages 20 s (docs/benchmarks.md, "cluster") */
#define CLUSTER_PAGE 10000
#define CLUSTER_PUBLISH_MS 5		/* coalesce a burst of changes */
#define CLUSTER_LEASE_FILE "etcd-lease"
#define CLUSTER_MAX_VALUE (64u << 10)

enum cl_state { CL_DOWN, CL_LEASE, CL_SYNC, CL_UP };

static const char *const state_names[] = {
	[CL_DOWN] = "down", [CL_LEASE] = "lease", [CL_SYNC] = "sync",
	[CL_UP] = "up",
};

struct cluster {
	struct ev_loop *loop;
	struct etcd *etcd;
	struct source_sink sink;
	char **urls;
	size_t n_urls;
	char *host;
	char *prefix, *prefix_end;
	char *addrs_prefix, *hosts_prefix;
	unsigned ttl;
	char *lease_path;

	enum cl_state state;
	int64_t lease;			/* 0: none */
	int64_t revision;		/* of the last read or event */
	bool ever_up;
	uint64_t stale_since_ms;	/* wall clock; 0: not stale */
	uint64_t up_since_ms;
	char *last_error;

	struct etcd_req *call;		/* lease or publish call */
	struct etcd_req *watch;
	struct etcd_req *ka;		/* keepalive */
	struct etcd_req *ttl_q;		/* a host's lease time left */
	struct etcd_range_all *range;
	struct ev_timer *retry_timer, *ka_timer, *pub_timer;
	bool publishing, pub_again;

	json_t *raddrs;		/* remote address -> its container's id */
	json_t *rconts;		/* remote id -> {host,name,group,labels,addrs} */
	json_t *hosts;		/* host name -> its key's value (+ lease ...) */
	json_t *published;	/* our address -> value text, as etcd has it */
	char *published_host;	/* our host key's value text */
	json_t *pending;	/* the running txn's changes: addr -> text|null */
	json_t *ttl_round;	/* host names still to ask about */
	/* during a read: the maps as they were, put back if it fails */
	struct {
		json_t *raddrs, *rconts, *hosts, *published;
		char *published_host;
		bool on;
		uint64_t t0_ms;		/* when it started (monotonic) */
		size_t n_keys;
	} before;

	const struct policy *hashed;	/* the policy policy_hash is of */
	char policy_hash[17];

	unsigned long n_events, n_puts, n_deletes, n_syncs, n_compactions;
	unsigned long n_conflicts, n_lease_lost, n_failures;
};

static void cl_connect(struct cluster *c);
static void cl_sync(struct cluster *c);
static void cl_publish(struct cluster *c);
static void cl_grant(struct cluster *c);

static void set_error(struct cluster *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_error(struct cluster *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	source_vset_error(&c->last_error, fmt, ap);
	va_end(ap);
}

/* ---- what a key says ---- */

static uint64_t fnv64(uint64_t h, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define FNV64_INIT 0xcbf29ce484222325ULL

void cluster_policy_hash(const struct policy *p, char out[17])
{
	uint64_t h = FNV64_INIT;
	char *buf = NULL, *line, *next, *cut;
	size_t len = 0;
	FILE *f;

	strcpy(out, "0000000000000000");
	if (!p || !(f = open_memstream(&buf, &len)))
		return;
	policy_print(p, f);
	fclose(f);
	/* what the policy says, not where: without the "file" lines and the
	 * "# path:line:col" comments, two copies of a policy in other files
	 * or with other layout hash the same */
	for (line = buf; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (!strncmp(line, "file ", 5))
			continue;
		cut = strstr(line, "  #");
		h = fnv64(h, line, cut ? (size_t)(cut - line) : strlen(line));
		h = fnv64(h, "\n", 1);
	}
	snprintf(out, 17, "%016llx", (unsigned long long)h);
	free(buf);
}

static const char *policy_hash(struct cluster *c)
{
	const struct policy *p = c->sink.policy(c->sink.arg);

	if (p != c->hashed) {
		cluster_policy_hash(p, c->policy_hash);
		c->hashed = p;
	}
	return c->policy_hash;
}

static const char *group_of(const struct policy *p,
			    const struct container *ct)
{
	unsigned g = ct->quarantined ? GROUP_QUARANTINE : ct->group;

	if (!p || g >= p->n_groups)
		return "unassigned";
	return p->groups[g].name;
}

static int kv_cmp(const void *a, const void *b)
{
	const struct kv *x = a, *y = b;

	return strcmp(x->key, y->key);
}

/* One value per local address; the labels travel so that every host
 * classifies with its own policy, their digest so that a change shows. */
static char *addr_value(struct cluster *c, const struct policy *p,
			const struct container *ct)
{
	struct kv *kvs = NULL;
	json_t *labels = json_object(), *o;
	uint64_t h = FNV64_INIT;
	char digest[17], *s;
	size_t i;

	if (ct->n_labels) {
		kvs = xmalloc(ct->n_labels * sizeof(*kvs));
		memcpy(kvs, ct->labels, ct->n_labels * sizeof(*kvs));
		qsort(kvs, ct->n_labels, sizeof(*kvs), kv_cmp);
	}
	for (i = 0; i < ct->n_labels; i++) {
		json_object_set_new(labels, kvs[i].key,
				    json_string(kvs[i].value));
		h = fnv64(h, kvs[i].key, strlen(kvs[i].key) + 1);
		h = fnv64(h, kvs[i].value, strlen(kvs[i].value) + 1);
	}
	free(kvs);
	snprintf(digest, sizeof(digest), "%016llx", (unsigned long long)h);
	o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s}", "host", c->host,
		      "id", ct->id, "name", ct->name, "group",
		      group_of(p, ct), "labels", labels, "labels_digest",
		      digest);
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

static char *host_value(struct cluster *c, size_t n_containers)
{
	char lease[32];
	json_t *o;
	char *s;

	snprintf(lease, sizeof(lease), "%lld", (long long)c->lease);
	/* bulkhead_version: mixed versions show during a rollout */
	o = json_pack("{s:s, s:I, s:s, s:i, s:s, s:i, s:s}", "name", c->host,
		      "containers", (json_int_t)n_containers, "policy_hash",
		      policy_hash(c), "version", CLUSTER_LAYOUT, "lease",
		      lease, "ttl", (int)c->ttl, "bulkhead_version",
		      BH_VERSION);
	/* levels: which sensitivity levels share this kernel, judged here
	 * with this host's policy (posture --cluster) */
	json_object_set_new(o, "levels", colocation_levels_json(
		c->sink.policy(c->sink.arg), c->sink.inventory(c->sink.arg)));
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

/* ---- the remote containers ---- */

static void mark(json_t *dirty, const char *id)
{
	if (dirty)	/* NULL: a read, after which everything is new */
		json_object_set_new(dirty, id, json_true());
}

/* The address leaves whichever remote container had it. */
static void addr_drop(struct cluster *c, const char *addr, json_t *dirty)
{
	json_t *old = json_object_get(c->raddrs, addr), *rc;
	const char *id = json_string_value(old);

	if (!old)
		return;
	rc = id ? json_object_get(c->rconts, id) : NULL;
	if (rc) {
		json_object_del(json_object_get(rc, "addrs"), addr);
		if (!json_object_size(json_object_get(rc, "addrs")))
			json_object_del(c->rconts, id);
		mark(dirty, id);
	}
	json_object_del(c->raddrs, addr);
}

static bool valid_labels(const json_t *l)
{
	const char *k;
	json_t *v;

	if (!l)
		return true;
	if (!json_is_object(l))
		return false;
	json_object_foreach((json_t *)l, k, v)
		if (!*k || !json_is_string(v))
			return false;
	return true;
}

/* A put of an address key; false (and nothing changed) when its value is
 * not one we can read. *own: the key is this host's. */
static bool addr_put(struct cluster *c, const char *addr, const char *text,
		     json_t *dirty, bool *own)
{
	struct bh_addr a;
	json_t *v = json_loads(text, 0, NULL), *rc;
	const char *host, *id, *name, *group;

	host = json_string_value(json_object_get(v, "host"));
	id = json_string_value(json_object_get(v, "id"));
	name = json_string_value(json_object_get(v, "name")) ?: id;
	group = json_string_value(json_object_get(v, "group")) ?: "";
	if (!json_is_object(v) || !host || !*host || !id || !*id ||
	    strlen(id) > CONTAINER_ID_MAX || strlen(name) > CONTAINER_NAME_MAX ||
	    !*name || !valid_labels(json_object_get(v, "labels")) ||
	    !bh_addr_parse(addr, false, &a)) {
		log_warn("etcd: %s%s: a value that is not a container: "
			 "ignored", c->addrs_prefix, addr);
		json_decref(v);
		return false;
	}
	addr_drop(c, addr, dirty);
	if (!strcmp(host, c->host)) {	/* our own */
		*own = true;
		json_decref(v);
		return true;
	}
	rc = json_object_get(c->rconts, id);
	if (!rc) {
		rc = json_pack("{s:{}}", "addrs");
		json_object_set_new(c->rconts, id, rc);
	}
	json_object_set_new(rc, "host", json_string(host));
	json_object_set_new(rc, "name", json_string(name));
	json_object_set_new(rc, "group", json_string(group));
	json_object_set_new(rc, "labels", json_object_get(v, "labels") ?
			    json_incref(json_object_get(v, "labels")) :
			    json_object());
	json_object_set_new(json_object_get(rc, "addrs"), addr, json_true());
	json_object_set_new(c->raddrs, addr, json_string(id));
	mark(dirty, id);	/* before v goes: id is its string */
	json_decref(v);
	return true;
}

static struct container *build(const char *id, const json_t *rc)
{
	struct container *ct = container_new(id, json_string_value(
		json_object_get(rc, "name")));
	const char *k;
	json_t *v;
	struct bh_addr a;

	ct->source = SRC_REMOTE;
	ct->host = xstrdup(json_string_value(json_object_get(rc, "host")));
	json_object_foreach(json_object_get(rc, "labels"), k, v)
		container_add_label(ct, k, json_string_value(v));
	json_object_foreach(json_object_get(rc, "addrs"), k, v)
		if (bh_addr_parse(k, false, &a))
			container_add_addr(ct, &a);
	/* quarantined where it runs: its labels are not known there yet */
	ct->quarantined = !strcmp(json_string_value(json_object_get(
		rc, "group")) ?: "", "quarantine");
	return ct;
}

/* Does the container lose an address that another may take? */
static bool shrinks(const struct container *ct, const json_t *rc)
{
	char buf[BH_ADDR_STRLEN];
	size_t i;

	for (i = 0; i < ct->n_addrs; i++)
		if (!json_object_get(json_object_get(rc, "addrs"),
				     bh_addr_str(&ct->addrs[i], buf)))
			return true;
	return false;
}

static void attach_one(struct cluster *c, const char *id, const json_t *rc)
{
	const struct inventory *inv = c->sink.inventory(c->sink.arg);
	struct container *ct = inventory_find(inv, id);
	char *err = NULL;

	if (ct && ct->source != SRC_REMOTE) {
		c->n_conflicts++;
		log_warn("etcd: host %s publishes container %s, an id of this "
			 "host's: ignored",
			 json_string_value(json_object_get(rc, "host")), id);
		return;
	}
	if (c->sink.attach(c->sink.arg, build(id, rc), &err) < 0) {
		c->n_conflicts++;
		log_warn("etcd: remote container %s of host %s: %s", id,
			 json_string_value(json_object_get(rc, "host")), err);
	}
	free(err);
}

/* Bring the daemon to what rconts says for the changed ids: detach the
 * gone ones in one transaction, then the ones that lose an address (it
 * may move to another), then the rest. */
static void apply_dirty(struct cluster *c, json_t *dirty)
{
	const struct inventory *inv = c->sink.inventory(c->sink.arg);
	char **gone = NULL, *err = NULL;
	size_t n_gone = 0, cap = 0;
	const char *id;
	struct container *ct;
	json_t *v, *rc;
	int pass;

	json_object_foreach(dirty, id, v) {
		ct = inventory_find(inv, id);
		if (!json_object_get(c->rconts, id) && ct &&
		    ct->source == SRC_REMOTE) {
			xgrow(&gone, &cap, n_gone + 1, sizeof(*gone));
			gone[n_gone++] = (char *)id;
		}
	}
	if (n_gone && c->sink.detach_many(c->sink.arg, gone, n_gone,
					  &err) < 0) {
		log_warn("etcd: cannot remove %zu remote containers: %s",
			 n_gone, err);
		free(err);
		err = NULL;
	}
	free(gone);
	for (pass = 0; pass < 2; pass++)
		json_object_foreach(dirty, id, v) {
			rc = json_object_get(c->rconts, id);
			if (!rc || json_is_false(v))
				continue;
			ct = inventory_find(inv, id);
			if (pass == 0 && !(ct && shrinks(ct, rc)))
				continue;
			json_object_set_new(dirty, id, json_false());
			attach_one(c, id, rc);
		}
}

/* ---- the watch ---- */

static void cl_fail(struct cluster *c, const char *what, int ret,
		    const char *err);

/* One key as it now is (del: gone). Returns true for an address key of
 * this host's own. */
static bool apply_kv(struct cluster *c, const char *key, const char *val,
		     int64_t modrev, int64_t lease, bool del, json_t *dirty)
{
	const char *rest;
	bool own = false;
	json_t *o;

	if (!strncmp(key, c->addrs_prefix, strlen(c->addrs_prefix))) {
		rest = key + strlen(c->addrs_prefix);
		if (del)
			addr_drop(c, rest, dirty);
		else
			addr_put(c, rest, val, dirty, &own);
		return own;
	}
	if (strncmp(key, c->hosts_prefix, strlen(c->hosts_prefix)))
		return false;
	rest = key + strlen(c->hosts_prefix);
	if (del) {
		json_object_del(c->hosts, rest);
		return false;
	}
	o = json_loads(val, 0, NULL);
	if (!json_is_object(o)) {
		log_warn("etcd: %s: a value that is not a host: ignored", key);
		json_decref(o);
		return false;
	}
	json_object_set_new(o, "mod_revision", json_integer(modrev));
	json_object_set_new(o, "lease_id", json_integer(lease));
	json_object_set_new(o, "seen", json_integer((json_int_t)bh_wall_ms()));
	json_object_set_new(c->hosts, rest, o);
	return false;
}

/* One watch event: the key and value are base64, a PUT has no "type". */
static void apply_event(struct cluster *c, const json_t *ev, json_t *dirty)
{
	const json_t *kv = json_object_get(ev, "kv");
	const char *type = json_string_value(json_object_get(ev, "type"));
	const char *kb = json_string_value(json_object_get(kv, "key"));
	const char *vb = json_string_value(json_object_get(kv, "value"));
	struct strbuf k = { 0 }, v = { 0 };
	int64_t modrev = 0, lease = 0;

	c->n_events++;
	if (!kb || !etcd_unb64(kb, &k) || (vb && !etcd_unb64(vb, &v)) ||
	    !etcd_int64(kv, "mod_revision", &modrev) ||
	    !etcd_int64(kv, "lease", &lease) || !k.len ||
	    memchr(k.buf, 0, k.len) || (v.len && memchr(v.buf, 0, v.len)) ||
	    v.len > CLUSTER_MAX_VALUE)
		log_warn("etcd: an event that cannot be read: ignored");
	else
		apply_kv(c, k.buf, v.buf ?: "", modrev, lease,
			 type && !strcmp(type, "DELETE"), dirty);
	sb_free(&k);
	sb_free(&v);
}

static void on_watch_line(void *arg, json_t *r)
{
	struct cluster *c = arg;
	int64_t rev = 0, compact = 0;
	json_t *dirty, *ev;
	size_t i;

	if (json_is_true(json_object_get(r, "canceled"))) {
		etcd_int64(r, "compact_revision", &compact);
		etcd_cancel(c->watch);
		c->watch = NULL;
		if (compact > 0) {
			/* the events since our revision are gone: read it
			 * all again at one revision and swap */
			c->n_compactions++;
			log_warn("etcd: compacted at revision %lld: reading "
				 "the prefix again", (long long)compact);
			cl_sync(c);
			return;
		}
		cl_fail(c, "watch", -EIO, json_string_value(json_object_get(
			r, "cancel_reason")) ?: "cancelled by etcd");
		return;
	}
	if (etcd_int64(json_object_get(r, "header"), "revision", &rev) &&
	    rev > c->revision)
		c->revision = rev;
	if (!json_array_size(json_object_get(r, "events")))
		return;
	dirty = json_object();
	json_array_foreach(json_object_get(r, "events"), i, ev)
		apply_event(c, ev, dirty);
	apply_dirty(c, dirty);
	json_decref(dirty);
}

static void on_watch_end(void *arg, int ret, json_t *resp, const char *err)
{
	struct cluster *c = arg;

	c->watch = NULL;
	cl_fail(c, "watch", ret ?: -EPIPE, err ?: "closed by etcd");
}

/* ---- the read at one revision ---- */

/* Our own keys, as read: what etcd already has from us under our lease
 * is published; what it has from us that is no longer ours to say (a
 * container gone while we were away) goes, guarded by its lease. */
static void own_key(struct cluster *c, const char *addr, const char *text,
		    int64_t lease)
{
	if (lease == c->lease)
		json_object_set_new(c->published, addr, json_string(text));
	else	/* an older lease of ours: rewrite (or delete) it */
		json_object_set_new(c->published, addr, json_integer(lease));
}

/* A read starts from empty maps; the old ones stay until it is done. */
static void sync_begin(struct cluster *c)
{
	c->before.raddrs = c->raddrs;
	c->before.rconts = c->rconts;
	c->before.hosts = c->hosts;
	c->before.published = c->published;
	c->before.published_host = c->published_host;
	c->before.on = true;
	c->before.t0_ms = bh_now_ms();
	c->before.n_keys = 0;
	c->raddrs = json_object();
	c->rconts = json_object();
	c->hosts = json_object();
	c->published = json_object();
	c->published_host = NULL;
}

static void sync_end(struct cluster *c, bool keep_new)
{
	json_t **now[] = { &c->raddrs, &c->rconts, &c->hosts, &c->published };
	json_t *was[] = { c->before.raddrs, c->before.rconts, c->before.hosts,
			  c->before.published };
	size_t i;

	if (!c->before.on)
		return;
	c->before.on = false;
	for (i = 0; i < 4; i++) {
		if (keep_new) {
			json_decref(was[i]);
		} else {
			json_decref(*now[i]);
			*now[i] = was[i];
		}
	}
	if (keep_new) {
		free(c->before.published_host);
	} else {
		free(c->published_host);
		c->published_host = c->before.published_host;
	}
}

/* One page of the read, straight into the maps (no JSON per key). */
static void on_sync_page(void *arg, int64_t rev, const struct etcd_kv *kvs,
			 size_t n)
{
	struct cluster *c = arg;
	const struct etcd_kv *kv;
	uint64_t t = bh_now_ms();
	size_t i;

	c->before.n_keys += n;
	log_debug("etcd: read: %zu keys at %llu ms", c->before.n_keys,
		  (unsigned long long)(t - c->before.t0_ms));
	for (i = 0; i < n; i++) {
		kv = &kvs[i];
		if (kv->value_len > CLUSTER_MAX_VALUE ||
		    strlen(kv->key) != kv->key_len ||
		    strlen(kv->value) != kv->value_len) {
			log_warn("etcd: %s: a key that cannot be read: ignored",
				 kv->key);
			continue;
		}
		if (apply_kv(c, kv->key, kv->value, kv->mod_revision,
			     kv->lease, false, NULL))
			own_key(c, kv->key + strlen(c->addrs_prefix),
				kv->value, kv->lease);
		else if (!strncmp(kv->key, c->hosts_prefix,
				  strlen(c->hosts_prefix)) &&
			 !strcmp(kv->key + strlen(c->hosts_prefix), c->host) &&
			 kv->lease == c->lease) {
			free(c->published_host);
			c->published_host = xstrdup(kv->value);
		}
	}
}

static void on_sync(void *arg, int ret, json_t *resp, const char *err)
{
	struct cluster *c = arg;
	struct container **cs = NULL;
	json_t *rc;
	const char *id;
	size_t n = 0, cap = 0;
	char *serr = NULL;
	int64_t rev;
	uint64_t t0;

	c->range = NULL;
	if (ret < 0) {
		cl_fail(c, "read", ret, err);	/* the old maps come back */
		return;
	}
	t0 = c->before.t0_ms;
	rev = json_integer_value(json_object_get(resp, "revision"));
	log_debug("etcd: read: %zu keys in %llu ms", c->before.n_keys,
		  (unsigned long long)(bh_now_ms() - c->before.t0_ms));
	sync_end(c, true);
	/* one kernel transaction for the whole remote membership */
	json_object_foreach(c->rconts, id, rc) {
		xgrow(&cs, &cap, n + 1, sizeof(*cs));
		cs[n++] = build(id, rc);
	}
	log_debug("etcd: read: %zu remote containers built at %llu ms", n,
		  (unsigned long long)(bh_now_ms() - t0));
	if (c->sink.swap_remote(c->sink.arg, cs, n, &serr) < 0) {
		log_err("etcd: cannot put %zu remote containers in force: %s",
			n, serr);
		set_error(c, "swap: %s", serr);
		free(serr);
	}
	free(cs);
	/* the read's answer (every key of the prefix, as JSON) is gone: give
	 * its pages back rather than keep the peak for good */
	malloc_trim(0);
	c->revision = rev;
	c->n_syncs++;
	c->watch = etcd_watch(c->etcd, c->prefix, c->prefix_end, rev + 1,
			      on_watch_line, on_watch_end, c);
	if (!c->watch) {
		cl_fail(c, "watch", -ENOMEM, "cannot start the watch");
		return;
	}
	log_debug("etcd: read and swap: %llu ms",
		  (unsigned long long)(bh_now_ms() - t0));
	if (c->state != CL_UP)
		log_info("etcd: %s: in sync at revision %lld, %zu remote "
			 "containers, %zu hosts", etcd_endpoint(c->etcd),
			 (long long)rev, n, json_object_size(c->hosts));
	c->state = CL_UP;
	c->ever_up = true;
	c->stale_since_ms = 0;
	c->up_since_ms = bh_wall_ms();
	etcd_ok(c->etcd);
	cl_publish(c);
}

static void cl_sync(struct cluster *c)
{
	c->state = CL_SYNC;
	etcd_cancel(c->watch);
	c->watch = NULL;
	etcd_range_all_cancel(c->range);
	sync_end(c, false);	/* a read that was running */
	sync_begin(c);
	c->range = etcd_range_pages(c->etcd, c->prefix, c->prefix_end, 0,
				    CLUSTER_PAGE, on_sync_page, on_sync, c);
	if (!c->range)
		cl_fail(c, "read", -ENOMEM, "cannot start the read");
}

/* ---- the lease ---- */

static void save_lease(struct cluster *c)
{
	char buf[32];
	int ret, n;

	if (!c->lease_path)
		return;
	n = snprintf(buf, sizeof(buf), "%lld\n", (long long)c->lease);
	ret = bh_write_file_atomic(c->lease_path, buf, (size_t)n, 0600);
	if (ret < 0)
		log_warn("etcd: cannot keep the lease id in %s: %s (a restart "
			 "will grant a new one)", c->lease_path,
			 strerror(-ret));
}

static void load_lease(struct cluster *c)
{
	char *text = NULL, *end;
	long long v;
	size_t len;

	if (!c->lease_path || bh_read_file(c->lease_path, 64, &text,
					   &len) < 0)
		return;
	v = strtoll(text, &end, 10);
	if (v > 0 && (*end == '\n' || !*end))
		c->lease = v;
	free(text);
}

/* Every key of ours must be written again (a new lease). */
static void forget_published(struct cluster *c)
{
	json_object_clear(c->published);
	free(c->published_host);
	c->published_host = NULL;
}

static void on_grant(void *arg, int ret, json_t *resp, const char *err)
{
	struct cluster *c = arg;
	int64_t id = 0, ttl = 0;

	c->call = NULL;
	if (ret == 0 && (!etcd_int64(resp, "ID", &id) ||
			 !etcd_int64(resp, "TTL", &ttl) || id <= 0 ||
			 ttl <= 0))
		ret = -EIO, err = "lease grant: no ID or TTL in the answer";
	if (ret < 0) {
		cl_fail(c, "lease grant", ret, err);
		return;
	}
	c->lease = id;
	save_lease(c);
	forget_published(c);
	log_info("etcd: lease %lld granted, TTL %lld s", (long long)id,
		 (long long)ttl);
	ev_timer_arm(c->ka_timer, c->ttl * 1000 / 3, c->ttl * 1000 / 3);
	if (c->state == CL_LEASE)
		cl_sync(c);
	else
		cl_publish(c);
}

static void cl_grant(struct cluster *c)
{
	c->lease = 0;
	etcd_cancel(c->call);
	c->publishing = false;
	json_decref(c->pending);
	c->pending = NULL;
	c->call = etcd_call(c->etcd, "/v3/lease/grant", json_pack(
		"{s:I}", "TTL", (json_int_t)c->ttl), on_grant, c);
	if (!c->call)
		cl_fail(c, "lease grant", -ENOMEM, "cannot start the call");
}

/* A keepalive's answer: TTL present, the lease lives; 200 without TTL,
 * it expired (grant a new one, republish); an error, the connection is
 * dead. */
static int keepalive_result(json_t *resp, int64_t *ttl)
{
	json_t *r = json_object_get(resp, "result");

	*ttl = 0;
	if (!json_is_object(r) || !etcd_int64(r, "TTL", ttl))
		return -EIO;
	return *ttl > 0 ? 0 : -ENOENT;
}

static void on_lease_check(void *arg, int ret, json_t *resp, const char *err)
{
	struct cluster *c = arg;
	int64_t ttl;

	c->call = NULL;
	if (ret == 0)
		ret = keepalive_result(resp, &ttl);
	if (ret == -ENOENT) {
		log_info("etcd: lease %lld of the last run expired",
			 (long long)c->lease);
		cl_grant(c);
		return;
	}
	if (ret < 0) {
		cl_fail(c, "lease keepalive", ret, err ?: "no TTL");
		return;
	}
	log_info("etcd: lease %lld of the last run taken back, %lld s left",
		 (long long)c->lease, (long long)ttl);
	ev_timer_arm(c->ka_timer, c->ttl * 1000 / 3, c->ttl * 1000 / 3);
	cl_sync(c);
}

static json_t *lease_body(int64_t id)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", (long long)id);
	return json_pack("{s:s}", "ID", buf);
}

static void on_keepalive(void *arg, int ret, json_t *resp, const char *err)
{
	struct cluster *c = arg;
	int64_t ttl;

	c->ka = NULL;
	if (ret == 0)
		ret = keepalive_result(resp, &ttl);
	if (ret == -ENOENT && c->state == CL_UP) {
		c->n_lease_lost++;
		log_warn("etcd: lease %lld expired: granting a new one and "
			 "publishing again", (long long)c->lease);
		cl_grant(c);
		return;
	}
	if (ret < 0)	/* a member without a leader, a dead peer */
		cl_fail(c, "lease keepalive", ret, err ?: "no TTL");
}

static void on_ttl(void *arg, int ret, json_t *resp, const char *err);

/* One host's lease time left at a time (the answers are for `hosts`). */
static void next_ttl(struct cluster *c)
{
	json_t *h;
	const char *name;

	while (json_array_size(c->ttl_round)) {
		name = json_string_value(json_array_get(c->ttl_round, 0));
		h = json_object_get(c->hosts, name);
		if (h && json_integer_value(json_object_get(h, "lease_id"))) {
			c->ttl_q = etcd_call(c->etcd, "/v3/lease/timetolive",
				lease_body(json_integer_value(
					json_object_get(h, "lease_id"))),
				on_ttl, c);
			return;
		}
		json_array_remove(c->ttl_round, 0);
	}
}

static void on_ttl(void *arg, int ret, json_t *resp, const char *err)
{
	struct cluster *c = arg;
	const char *name = json_string_value(json_array_get(c->ttl_round, 0));
	json_t *h = name ? json_object_get(c->hosts, name) : NULL;
	int64_t ttl;

	c->ttl_q = NULL;
	if (ret == 0 && h && etcd_int64(resp, "TTL", &ttl)) {
		json_object_set_new(h, "ttl_left", json_integer(ttl));
		json_object_set_new(h, "ttl_at", json_integer(
			(json_int_t)bh_wall_ms()));
	}
	json_array_remove(c->ttl_round, 0);
	next_ttl(c);
}

static void on_ka_timer(struct ev_timer *t, void *arg)
{
	struct cluster *c = arg;
	const char *name;
	json_t *v;

	if (c->state != CL_UP || !c->lease || c->ka)
		return;
	c->ka = etcd_call(c->etcd, "/v3/lease/keepalive",
			  lease_body(c->lease), on_keepalive, c);
	if (!c->ttl_q) {
		/* at most 256 a round, those asked longest ago first: the
		 * ones answered in the last round wait for the next */
		uint64_t fresh = bh_wall_ms() - c->ttl * 1000 / 3;

		json_array_clear(c->ttl_round);
		json_object_foreach(c->hosts, name, v)
			if (json_array_size(c->ttl_round) < 256 &&
			    (uint64_t)json_integer_value(json_object_get(
				    v, "ttl_at")) < fresh)
				json_array_append_new(c->ttl_round,
						      json_string(name));
		next_ttl(c);
	}
}

/* ---- publishing ---- */

static void on_published(void *arg, int ret, json_t *resp, const char *err)
{
	struct cluster *c = arg;
	const char *addr;
	json_t *v;

	c->call = NULL;
	c->publishing = false;
	if (ret == -ENOENT) {	/* a put on a lease that is gone: 404 */
		c->n_lease_lost++;
		log_warn("etcd: lease %lld is gone: granting a new one and "
			 "publishing again", (long long)c->lease);
		json_decref(c->pending);
		c->pending = NULL;
		cl_grant(c);
		return;
	}
	if (ret < 0) {
		json_decref(c->pending);
		c->pending = NULL;
		cl_fail(c, "publish", ret, err);
		return;
	}
	if (c->before.on) {
		/* a read is running: what it finds is what etcd has from
		 * us, and its end publishes again */
		json_decref(c->pending);
		c->pending = NULL;
		return;
	}
	/* a guarded delete that did not succeed: the address is another
	 * host's now, which is what we wanted gone from us anyway */
	json_object_foreach(c->pending, addr, v) {
		if (!strcmp(addr, "")) {
			free(c->published_host);
			c->published_host = xstrdup(json_string_value(v));
		} else if (json_is_string(v)) {
			json_object_set(c->published, addr, v);
			c->n_puts++;
		} else {
			json_object_del(c->published, addr);
			c->n_deletes++;
		}
	}
	json_decref(c->pending);
	c->pending = NULL;
	cl_publish(c);
}

static void send_txn(struct cluster *c, json_t *cmp, json_t *ops)
{
	c->publishing = true;
	c->call = etcd_call(c->etcd, "/v3/kv/txn", etcd_txn(cmp, ops, NULL),
			    on_published, c);
	if (!c->call) {
		c->publishing = false;
		cl_fail(c, "publish", -ENOMEM, "cannot start the call");
	}
}

/* What differs between the local containers and what etcd has from us,
 * sent as one transaction of at most CLUSTER_TXN_MAX puts, or one delete
 * guarded by our lease; the next goes when it is answered. */
static void cl_publish(struct cluster *c)
{
	const struct inventory *inv = c->sink.inventory(c->sink.arg);
	const struct policy *p = c->sink.policy(c->sink.arg);
	json_t *want = json_object(), *ops = json_array(), *v;
	char buf[BH_ADDR_STRLEN], *key, *hv;
	const struct container *ct;
	const char *addr;
	size_t i, j, n_local = 0;

	if (c->state != CL_UP || !c->lease || c->publishing)
		goto out;
	json_decref(c->pending);
	c->pending = json_object();
	for (i = 0; i < inventory_count(inv); i++) {
		ct = inventory_at(inv, i);
		if (ct->source == SRC_REMOTE)
			continue;
		n_local++;
		for (j = 0; j < ct->n_addrs; j++)
			json_object_set_new(want, bh_addr_str(&ct->addrs[j],
							      buf),
					    json_true());
	}
	json_object_foreach(want, addr, v) {
		const struct bh_addr *a;
		struct bh_addr pa;
		char *text;

		if (json_array_size(ops) >= CLUSTER_TXN_MAX)
			break;
		bh_addr_parse(addr, false, &pa);
		a = &pa;
		ct = inventory_find_addr(inv, a);
		text = addr_value(c, p, ct);
		v = json_object_get(c->published, addr);
		if (!json_is_string(v) || strcmp(json_string_value(v), text)) {
			key = xasprintf("%s%s", c->addrs_prefix, addr);
			json_array_append_new(ops, etcd_op_put(key, text,
							       c->lease));
			json_object_set_new(c->pending, addr,
					    json_string(text));
			free(key);
		}
		free(text);
	}
	hv = host_value(c, n_local);
	if (json_array_size(ops) < CLUSTER_TXN_MAX &&
	    (!c->published_host || strcmp(c->published_host, hv))) {
		key = xasprintf("%s%s", c->hosts_prefix, c->host);
		json_array_append_new(ops, etcd_op_put(key, hv, c->lease));
		json_object_set_new(c->pending, "", json_string(hv));
		free(key);
	}
	free(hv);
	if (json_array_size(ops)) {
		send_txn(c, NULL, ops);
		ops = NULL;
		goto out;
	}
	/* nothing to put: one address of ours that is gone, if any */
	json_object_foreach(c->published, addr, v) {
		if (json_object_get(want, addr))
			continue;
		key = xasprintf("%s%s", c->addrs_prefix, addr);
		json_object_set_new(c->pending, addr, json_null());
		/* never another host's key: only while it still has the
		 * lease we wrote it with (ours, or an older one of ours the
		 * read found) */
		send_txn(c, json_pack("[o]", etcd_cmp_lease(key,
				json_is_integer(v) ? json_integer_value(v) :
				c->lease)),
			 json_pack("[o]", etcd_op_delete(key)));
		free(key);
		break;
	}
out:
	json_decref(want);
	json_decref(ops);
}

static void on_pub_timer(struct ev_timer *t, void *arg)
{
	cl_publish(arg);
}

void cluster_local_changed(struct cluster *c)
{
	if (c)
		ev_timer_arm(c->pub_timer, CLUSTER_PUBLISH_MS, 0);
}

/* ---- the connection ---- */

static void cancel_all(struct cluster *c)
{
	etcd_cancel(c->call);
	etcd_cancel(c->watch);
	etcd_cancel(c->ka);
	etcd_cancel(c->ttl_q);
	etcd_range_all_cancel(c->range);
	c->call = c->watch = c->ka = c->ttl_q = NULL;
	c->range = NULL;
	sync_end(c, false);
	c->publishing = false;
	json_decref(c->pending);
	c->pending = NULL;
	ev_timer_disarm(c->ka_timer);
}

static void cl_fail(struct cluster *c, const char *what, int ret,
		    const char *err)
{
	uint64_t delay;

	cancel_all(c);
	c->n_failures++;
	set_error(c, "%s: %s", what, err ? err : strerror(-ret));
	if (c->state == CL_UP || (!c->stale_since_ms && c->ever_up))
		log_warn("etcd: %s: %s: the remote containers stay as they "
			 "are (stale) until it is back", etcd_endpoint(c->etcd),
			 c->last_error);
	if (!c->stale_since_ms)
		c->stale_since_ms = bh_wall_ms();
	c->state = CL_DOWN;
	delay = etcd_fail_over(c->etcd);
	log_debug("etcd: trying %s in %llu ms", etcd_endpoint(c->etcd),
		  (unsigned long long)delay);
	ev_timer_arm(c->retry_timer, delay, 0);
}

static void cl_connect(struct cluster *c)
{
	cancel_all(c);
	c->state = CL_LEASE;
	if (!c->lease) {
		cl_grant(c);
		return;
	}
	c->call = etcd_call(c->etcd, "/v3/lease/keepalive",
			    lease_body(c->lease), on_lease_check, c);
	if (!c->call)
		cl_fail(c, "lease keepalive", -ENOMEM, "cannot start the call");
}

static void on_retry(struct ev_timer *t, void *arg)
{
	cl_connect(arg);
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s), i;

	if (!n || n > 253)
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("-_.", s[i])))
			return false;
	return true;
}

int cluster_start(struct ev_loop *l, const struct cluster_opts *o,
		  const struct source_sink *sink, struct cluster **out,
		  char **err)
{
	const char *prefix = o->prefix ? o->prefix : CLUSTER_PREFIX_DEFAULT;
	char hn[256] = "";
	struct cluster *c;
	int ret;

	*out = NULL;
	*err = NULL;
	if (o->host_name) {
		snprintf(hn, sizeof(hn), "%s", o->host_name);
	} else if (gethostname(hn, sizeof(hn) - 1) < 0) {
		*err = xasprintf("cannot read the host name: %s; give "
				 "--host-name", strerror(errno));
		return -EINVAL;
	}
	if (!valid_name(hn)) {
		*err = xasprintf("host name \"%s\": only letters, digits, "
				 "'-', '_' and '.', at most 253", hn);
		return -EINVAL;
	}
	if (prefix[0] != '/' || prefix[strlen(prefix) - 1] != '/' ||
	    strlen(prefix) > 512) {
		*err = xasprintf("--etcd-prefix %s: must start and end with /",
				 prefix);
		return -EINVAL;
	}
	if (o->ttl && (o->ttl < 5 || o->ttl > 3600)) {
		*err = xasprintf("--etcd-ttl %u: from 5 to 3600 seconds",
				 o->ttl);
		return -EINVAL;
	}
	c = xcalloc(1, sizeof(*c));
	ret = etcd_new(l, &o->etcd, &c->etcd, err);
	if (ret < 0) {
		free(c);
		return ret;
	}
	c->loop = l;
	c->sink = *sink;
	c->host = xstrdup(hn);
	c->prefix = xstrdup(prefix);
	c->prefix_end = etcd_prefix_end(prefix);
	c->addrs_prefix = xasprintf("%saddrs/", prefix);
	c->hosts_prefix = xasprintf("%shosts/", prefix);
	c->ttl = o->ttl ? o->ttl : CLUSTER_TTL_DEFAULT;
	if (o->state_dir)
		c->lease_path = xasprintf("%s/%s", o->state_dir,
					  CLUSTER_LEASE_FILE);
	c->raddrs = json_object();
	c->rconts = json_object();
	c->hosts = json_object();
	c->published = json_object();
	c->ttl_round = json_array();
	c->retry_timer = ev_timer_new(l, on_retry, c);
	c->ka_timer = ev_timer_new(l, on_ka_timer, c);
	c->pub_timer = ev_timer_new(l, on_pub_timer, c);
	c->n_urls = o->etcd.n_urls;
	c->urls = xcalloc(c->n_urls, sizeof(*c->urls));
	for (size_t i = 0; i < c->n_urls; i++)
		c->urls[i] = xstrdup(o->etcd.urls[i]);
	load_lease(c);
	c->stale_since_ms = 0;
	log_info("etcd: host %s, prefix %s, TTL %u s, %zu endpoint(s)",
		 c->host, c->prefix, c->ttl, c->n_urls);
	/* from the loop, once the daemon runs */
	ev_timer_arm(c->retry_timer, 1, 0);
	*out = c;
	return 0;
}

void cluster_stop(struct cluster *c)
{
	size_t i;

	if (!c)
		return;
	cancel_all(c);
	etcd_free(c->etcd);
	ev_timer_free(c->retry_timer);
	ev_timer_free(c->ka_timer);
	ev_timer_free(c->pub_timer);
	json_decref(c->raddrs);
	json_decref(c->rconts);
	json_decref(c->hosts);
	json_decref(c->published);
	json_decref(c->ttl_round);
	free(c->published_host);
	for (i = 0; i < c->n_urls; i++)
		free(c->urls[i]);
	free(c->urls);
	free(c->host);
	free(c->prefix);
	free(c->prefix_end);
	free(c->addrs_prefix);
	free(c->hosts_prefix);
	free(c->lease_path);
	free(c->last_error);
	free(c);
}

/* ---- status ---- */

/* While a read runs, the hosts as they were before it. */
static const json_t *shown_hosts(const struct cluster *c)
{
	return c->before.on ? c->before.hosts : c->hosts;
}

static json_int_t ttl_left(const json_t *h)
{
	json_int_t left = json_integer_value(json_object_get(h, "ttl_left"));
	json_int_t at = json_integer_value(json_object_get(h, "ttl_at"));

	if (!at)
		return -1;
	left -= (json_int_t)(bh_wall_ms() - (uint64_t)at) / 1000;
	return left > 0 ? left : 0;
}

json_t *cluster_hosts_json(const struct cluster *c)
{
	json_t *r = json_array(), *h, *v;
	const char *name, *ph;
	char t[32];
	json_int_t left;

	json_object_foreach((json_t *)shown_hosts(c), name, h) {
		ph = json_string_value(json_object_get(h, "policy_hash"));
		left = ttl_left(h);
		json_array_append_new(r, json_pack(
			"{s:s, s:I, s:s?, s:O?, s:O?, s:o, s:s, s:b, s:b}",
			"name", name, "containers",
			json_integer_value(json_object_get(h, "containers")),
			"policy_hash", ph, "version",
			json_object_get(h, "version"), "bulkhead_version",
			json_object_get(h, "bulkhead_version"), "lease_ttl_s",
			left >= 0 ? json_integer(left) : json_null(),
			"updated", bh_rfc3339((uint64_t)json_integer_value(
				json_object_get(h, "seen")), t),
			"self", !strcmp(name, c->host), "policy_differs",
			ph && strcmp(ph, c->policy_hash)));
		/* an older bulkheadd publishes none: null */
		v = json_object_get(h, "levels");
		json_object_set(json_array_get(r, json_array_size(r) - 1),
				"levels", json_is_object(v) ? v : json_null());
	}
	return r;
}

json_t *cluster_status_json(const struct cluster *c)
{
	const struct inventory *inv = c->sink.inventory(c->sink.arg);
	const struct policy *p = c->sink.policy(c->sink.arg);
	json_t *eps = json_array(), *per_group = json_object(),
	       *per_host = json_object(), *warn = json_array(), *h;
	const struct container *ct;
	const char *name, *ph;
	char t1[32], t2[32], lease[32];
	size_t i, n_remote = 0;

	for (i = 0; i < c->n_urls; i++)
		json_array_append_new(eps, json_string(c->urls[i]));
	for (i = 0; i < inventory_count(inv); i++) {
		const char *g;

		ct = inventory_at(inv, i);
		if (ct->source != SRC_REMOTE)
			continue;
		n_remote += ct->n_addrs;
		g = group_of(p, ct);
		json_object_set_new(per_group, g, json_integer(
			json_integer_value(json_object_get(per_group, g)) +
			(json_int_t)ct->n_addrs));
		json_object_set_new(per_host, ct->host, json_integer(
			json_integer_value(json_object_get(per_host,
							   ct->host)) +
			(json_int_t)ct->n_addrs));
	}
	json_object_foreach((json_t *)shown_hosts(c), name, h) {
		ph = json_string_value(json_object_get(h, "policy_hash"));
		if (ph && strcmp(name, c->host) &&
		    strcmp(ph, c->policy_hash)) {
			json_array_append_new(warn, json_sprintf(
				"host %s runs another policy (hash %s, this "
				"host %s)", name, ph, c->policy_hash));
		}
	}
	snprintf(lease, sizeof(lease), "%lld", (long long)c->lease);
	return json_pack("{s:s, s:s, s:o, s:s, s:s, s:b, s:s?, s:s?, s:I, "
			 "s:s, s:i, s:I, s:I, s:o, s:o, s:o, s:s?, s:{s:I, "
			 "s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
		"host", c->host, "prefix", c->prefix, "endpoints", eps,
		"endpoint", etcd_endpoint(c->etcd),
		"state", state_names[c->state],
		"stale", c->state != CL_UP,
		"stale_since", c->stale_since_ms ?
			bh_rfc3339(c->stale_since_ms, t1) : NULL,
		"up_since", c->state == CL_UP ?
			bh_rfc3339(c->up_since_ms, t2) : NULL,
		"revision", (json_int_t)c->revision,
		"lease", lease, "ttl", (int)c->ttl,
		"hosts", (json_int_t)json_object_size(shown_hosts(c)),
		"remote_endpoints", (json_int_t)n_remote,
		"remote_per_group", per_group, "remote_per_host", per_host,
		"warnings", warn, "last_error", c->last_error,
		"counters", "events", (json_int_t)c->n_events,
		"puts", (json_int_t)c->n_puts,
		"deletes", (json_int_t)c->n_deletes,
		"syncs", (json_int_t)c->n_syncs,
		"compactions", (json_int_t)c->n_compactions,
		"conflicts", (json_int_t)c->n_conflicts,
		"lease_lost", (json_int_t)c->n_lease_lost,
		"failures", (json_int_t)c->n_failures);
}

/* Engine API source (Docker, Podman's compatible API) over a unix socket.
 * Every transfer is a libcurl easy handle on one multi handle per engine,
 * driven by the daemon's event loop through the socket and timer
 * callbacks; nothing blocks the loop. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <sys/vfs.h>

#include <curl/curl.h>
#include <linux/magic.h>
#include <jansson.h>

#include "curlev.h"
#include "docker.h"
#include "ev.h"
#include "inventory.h"
#include "links.h"
#include "log.h"
#include "source.h"
#include "util.h"

/* all=1: Podman containers are "created" with their network up before
 * they start (see docker_parse_inspect) */
#define DOCKER_LIST "/containers/json?all=1"
#define DOCKER_MAX_LIST (32u << 20)
#define DOCKER_MAX_INSPECT (4u << 20)
#define DOCKER_MAX_EVENT (256u << 10)
#define DOCKER_BACKOFF_MIN_MS 200
#define DOCKER_BACKOFF_MAX_MS 5000
/* An engine can lose events (its own buffers, a restart of its event
 * backend); a periodic list and reconcile bounds how long that lasts. */
#define DOCKER_RESYNC_MS (300 * 1000)
#define DOCKER_RETRY_MS 2000

enum dreq_kind { DREQ_EVENTS, DREQ_LIST, DREQ_INSPECT };
enum engine_state { ENG_CONNECTING, ENG_UP, ENG_DOWN };

struct docker;

struct dreq {
	struct docker *e;
	enum dreq_kind kind;
	CURL *h;
	struct strbuf body;
	size_t max;
	bool too_big;
	bool skipping;		/* events: dropping an oversized line */
	bool refused;		/* events: the answer was not 200 */
	char *id;		/* inspect: the container */
	unsigned gen;		/* inspect: the track's gen when asked */
	struct dreq *next;
};

/* A container id this engine told us about, in a hash table by id. gen
 * counts events for it so that an inspect answered after a newer event is
 * not applied. */
struct track {
	char *id;
	unsigned gen;
	unsigned inflight;	/* inspects not answered yet */
	bool attached;
	bool retry;		/* the daemon refused it: inspect again */
	unsigned retries;
	char *fp;		/* what was attached last (skip no-op attaches) */
	struct track *next;	/* bucket chain */
};

struct docker {
	struct source_sink sink;	/* the daemon (source.h) */
	char *url;
	char *path;
	CURLM *multi;
	struct curlev *cev;		/* multi's sockets and timer */
	struct ev_timer *retry_timer;
	struct ev_timer *resync_timer;
	struct ev_timer *reinspect_timer;
	struct dreq *reqs;
	struct track **tb;	/* buckets, a power of two of them */
	size_t nb, n_tracks;
	enum engine_state state;
	bool ever_up;
	bool counted;		/* in n_engines */
	uint64_t backoff_ms;
	uint64_t since_ms;	/* wall clock of the last state change */
	/* event lines wait here until curl returns: its callbacks may not
	 * start transfers */
	struct strbuf *lines;
	size_t n_lines, cap_lines;
	unsigned long n_events, n_errors;
	unsigned long n_down;	/* failures since the engine was last up */
	char *last_error;
};

static void engine_down(struct docker *e, const char *why);
static void engine_connect(struct docker *e);

static void set_error(struct docker *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_error(struct docker *e, const char *fmt, ...)
{
	va_list ap;
	const char *s;

	va_start(ap, fmt);
	s = source_vset_error(&e->last_error, fmt, ap);
	va_end(ap);
	if (!s)
		return;
	e->n_errors++;
	log_warn("engine %s: %s", e->url, s);
}

#define TRACK_MIN_BUCKETS 64u

/* Iteration that survives dropping the current entry. */
#define for_each_track(e, b, t, nx)					\
	for ((b) = 0; (b) < (e)->nb; (b)++)				\
		for ((t) = (e)->tb[b]; (t) && ((nx) = (t)->next, 1);	\
		     (t) = (nx))

static struct track *track_find(struct docker *e, const char *id)
{
	struct track *t;

	if (!e->nb)
		return NULL;
	for (t = e->tb[bh_str_hash(id) & (e->nb - 1)]; t; t = t->next)
		if (!strcmp(t->id, id))
			return t;
	return NULL;
}

static void track_rehash(struct docker *e, size_t nb)
{
	struct track **tb = xcalloc(nb, sizeof(*tb)), *t, *nx;
	size_t b, h;

	for_each_track(e, b, t, nx) {
		h = bh_str_hash(t->id) & (nb - 1);
		t->next = tb[h];
		tb[h] = t;
	}
	free(e->tb);
	e->tb = tb;
	e->nb = nb;
}

static struct track *track_get(struct docker *e, const char *id)
{
	struct track *t = track_find(e, id);
	size_t h;

	if (t)
		return t;
	if (e->n_tracks >= e->nb)
		track_rehash(e, e->nb ? e->nb * 2 : TRACK_MIN_BUCKETS);
	t = xcalloc(1, sizeof(*t));
	t->id = xstrdup(id);
	h = bh_str_hash(id) & (e->nb - 1);
	t->next = e->tb[h];
	e->tb[h] = t;
	e->n_tracks++;
	return t;
}

static void track_drop(struct docker *e, struct track *t)
{
	struct track **pp = &e->tb[bh_str_hash(t->id) & (e->nb - 1)];

	while (*pp != t)
		pp = &(*pp)->next;
	*pp = t->next;
	e->n_tracks--;
	free(t->id);
	free(t->fp);
	free(t);
}

/* An id that is neither attached nor being inspected is forgotten, so
 * the table follows the engine's live containers. */
static void track_gc(struct docker *e, struct track *t)
{
	if (!t->attached && !t->inflight && !t->retry)
		track_drop(e, t);
}

static void engine_detach(struct docker *e, struct track *t, const char *why)
{
	char *err = NULL;
	int r;

	if (!t->attached)
		return;
	r = source_detach(&e->sink, t->id, &err);
	if (r < 0 && r != -ENOENT) {
		/* still attached: the next list reconciles it again */
		set_error(e, "detaching %.12s (%s): %s", t->id, why,
			  err ? err : strerror(-r));
		free(err);
		return;
	}
	if (!r)
		log_info("engine %s: detached %.12s (%s)", e->url, t->id, why);
	free(err);
	t->attached = false;
	free(t->fp);
	t->fp = NULL;
}

/* ---- curl on the event loop ---- */

static void check_done(struct docker *e);

/* curlev's done(): read what finished */
static void curl_done(void *arg)
{
	check_done(arg);
}

/* ---- requests ---- */

static void handle_event_line(struct docker *e, const char *line, size_t n);

static void queue_line(struct docker *e, struct strbuf *line)
{
	xgrow(&e->lines, &e->cap_lines, e->n_lines + 1, sizeof(*e->lines));
	e->lines[e->n_lines++] = *line;
	memset(line, 0, sizeof(*line));
}

static void drop_lines(struct docker *e)
{
	size_t i;

	for (i = 0; i < e->n_lines; i++)
		sb_free(&e->lines[i]);
	e->n_lines = 0;
}

static size_t write_cb(char *p, size_t sz, size_t nm, void *arg)
{
	struct dreq *q = arg;
	size_t n = sz * nm, i, start = 0;
	long code = 0;

	if (q->kind == DREQ_EVENTS) {
		curl_easy_getinfo(q->h, CURLINFO_RESPONSE_CODE, &code);
		if (code != 200) {
			q->refused = true;
			return 0;
		}
	} else {
		if (q->body.len + n > q->max) {
			q->too_big = true;
			return 0;	/* aborts the transfer */
		}
		sb_putn(&q->body, p, n);
		return n;
	}
	/* events: one JSON object per line; a line over the cap is reported
	 * and skipped, the stream goes on */
	while (start < n) {
		for (i = start; i < n && p[i] != '\n'; i++)
			;
		if (!q->skipping && q->body.len + (i - start) > q->max) {
			set_error(q->e, "event larger than %zu bytes: skipped",
				  q->max);
			q->skipping = true;
			sb_reset(&q->body);
		}
		if (!q->skipping)
			sb_putn(&q->body, p + start, i - start);
		if (i < n) {	/* end of line */
			if (!q->skipping && q->body.len)
				queue_line(q->e, &q->body);
			q->skipping = false;
			sb_reset(&q->body);
			i++;
		}
		start = i;
	}
	return n;
}

static void dreq_free(struct dreq *q)
{
	if (!q)
		return;
	if (q->h) {
		curl_multi_remove_handle(q->e->multi, q->h);
		curl_easy_cleanup(q->h);
	}
	sb_free(&q->body);
	free(q->id);
	free(q);
}

static void dreq_unlink(struct docker *e, struct dreq *q)
{
	struct dreq **pp;

	for (pp = &e->reqs; *pp; pp = &(*pp)->next)
		if (*pp == q) {
			*pp = q->next;
			return;
		}
}

static struct dreq *dreq_start(struct docker *e, enum dreq_kind kind,
			       const char *path, size_t max)
{
	struct dreq *q = xcalloc(1, sizeof(*q));
	/* unversioned paths get the engine's own API version: Docker drops
	 * old versions over time (29 refuses below 1.44) while Podman 4
	 * stops at 1.41; every field read here is stable across them */
	char *url = xasprintf("http://localhost%s", path);

	q->e = e;
	q->kind = kind;
	q->max = max;
	q->h = curl_easy_init();
	if (!q->h)
		goto fail;
	curl_easy_setopt(q->h, CURLOPT_UNIX_SOCKET_PATH, e->path);
	curl_easy_setopt(q->h, CURLOPT_URL, url);
	curl_easy_setopt(q->h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(q->h, CURLOPT_WRITEDATA, q);
	curl_easy_setopt(q->h, CURLOPT_PRIVATE, q);
	curl_easy_setopt(q->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(q->h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	if (kind != DREQ_EVENTS)
		curl_easy_setopt(q->h, CURLOPT_TIMEOUT_MS, 30000L);
	if (curl_multi_add_handle(e->multi, q->h) != CURLM_OK)
		goto fail;
	q->next = e->reqs;
	e->reqs = q;
	free(url);
	return q;
fail:
	set_error(e, "cannot start a request for %s", path);
	if (q->h)
		curl_easy_cleanup(q->h);
	q->h = NULL;
	dreq_free(q);
	free(url);
	return NULL;
}

static bool valid_id(const char *id)
{
	size_t n = id ? strlen(id) : 0, i;

	if (!n || n > CONTAINER_ID_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		      (id[i] >= 'a' && id[i] <= 'z') ||
		      (id[i] >= 'A' && id[i] <= 'Z') ||
		      id[i] == '-' || id[i] == '_' || id[i] == '.'))
			return false;
	return true;
}

static void inspect(struct docker *e, const char *id)
{
	struct track *t = track_get(e, id);
	char *path = xasprintf("/containers/%s/json", id);
	struct dreq *q;

	q = dreq_start(e, DREQ_INSPECT, path, DOCKER_MAX_INSPECT);
	if (q) {
		q->id = xstrdup(id);
		q->gen = t->gen;
		t->inflight++;
	} else {
		track_gc(e, t);
	}
	free(path);
}

/* ---- inspect → container ---- */

static bool add_ip(struct container *c, json_t *v, const char *what,
		   char **err)
{
	const char *s;
	struct bh_addr a;

	if (!v || json_is_null(v))
		return true;
	s = json_string_value(v);
	if (!s) {
		*err = xasprintf("%s is not a string", what);
		return false;
	}
	if (!*s)
		return true;
	if (!bh_addr_parse(s, false, &a)) {
		*err = xasprintf("%s \"%.64s\" is not an address", what, s);
		return false;
	}
	container_add_addr(c, &a);
	return true;
}

/* The path comes from the engine: never block on a FIFO or device, and
 * accept nothing but a namespace file. 0 or -errno. */
static int ports_at(const char *path, struct container *c)
{
	struct statfs sfs;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstatfs(fd, &sfs) < 0)
		r = -errno;
	else if (sfs.f_type != (typeof(sfs.f_type))NSFS_MAGIC)
		r = -ENOTTY;
	else
		r = links_peer_ports(fd, c);
	close(fd);
	return r;
}

/* The host ends of the container's veths (one per network), each with
 * the addresses its peer holds, from its network namespace: the sandbox,
 * else the process's. The sandbox is a bind mount in the engine's mount
 * namespace; when that is not ours (dockerd in a mount namespace of its
 * own, a daemon with a private /run) the path here is the empty file
 * under it, and the pid still leads to the namespace. */
static void find_ports(struct container *c, json_t *o)
{
	const char *sandbox;
	json_int_t pid;
	char *path;

	sandbox = json_string_value(json_object_get(
		json_object_get(o, "NetworkSettings"), "SandboxKey"));
	pid = json_integer_value(json_object_get(json_object_get(o, "State"),
						 "Pid"));
	if (sandbox && *sandbox == '/' && strlen(sandbox) < 4096 &&
	    ports_at(sandbox, c) == 0)
		return;
	if (pid <= 0)
		return;
	path = xasprintf("/proc/%lld/ns/net", (long long)pid);
	ports_at(path, c);
	free(path);
}

bool docker_parse_inspect(const char *id, const char *text, size_t len,
			  struct container **out, char **err)
{
	json_t *root, *st, *cfg, *labels, *ns, *nets, *v, *net;
	struct container *c = NULL;
	const char *k, *name, *rid, *status;
	json_error_t jerr;
	char *what;
	bool ok = false, added;

	*out = NULL;
	root = json_loadb(text, len, 0, &jerr);
	if (!root) {
		*err = xasprintf("malformed JSON at %d:%d: %s", jerr.line,
				 jerr.column, jerr.text);
		return false;
	}
	rid = json_string_value(json_object_get(root, "Id"));
	st = json_object_get(root, "State");
	cfg = json_object_get(root, "Config");
	ns = json_object_get(root, "NetworkSettings");
	if (!json_is_object(root) || !rid || !json_is_object(st) ||
	    (cfg && !json_is_null(cfg) && !json_is_object(cfg)) ||
	    (ns && !json_is_null(ns) && !json_is_object(ns))) {
		*err = xstrdup("expected an object with \"Id\", \"State\", "
			       "\"Config\" and \"NetworkSettings\"");
		goto out;
	}
	if (strcmp(rid, id)) {
		*err = xasprintf("answer is about %.64s", rid);
		goto out;
	}
	v = json_object_get(st, "Running");
	if (!json_is_boolean(v)) {
		*err = xstrdup("State.Running is not a boolean");
		goto out;
	}
	/* Podman sets the network up at "init", before the workload runs
	 * (State "created" with addresses): policy is in place before the
	 * first packet. Docker's created containers have no address yet. */
	status = json_string_value(json_object_get(st, "Status"));
	if (!json_is_true(v) && !(status && !strcmp(status, "created"))) {
		ok = true;
		goto out;
	}
	v = json_object_get(root, "Name");
	name = json_string_value(v);
	if ((v && !name) || (name && strlen(name) > CONTAINER_NAME_MAX)) {
		*err = xstrdup("\"Name\" is not a name");
		goto out;
	}
	if (name && *name == '/')
		name++;
	c = container_new(id, name && *name ? name : NULL);
	c->source = SRC_ENGINE;
	labels = json_object_get(cfg, "Labels");
	if (labels && !json_is_null(labels) && !json_is_object(labels)) {
		*err = xstrdup("Config.Labels is not an object");
		goto out;
	}
	/* the inventory's limits (docs/limits.md), checked here already so
	 * that an answer over them is refused whole, naming the limit */
	if (json_object_size(labels) > CONTAINER_LABELS_MAX) {
		*err = xasprintf("%zu labels: over the limit of %d labels per "
				 "container", json_object_size(labels),
				 CONTAINER_LABELS_MAX);
		goto out;
	}
	json_object_foreach(labels, k, v) {
		if (!json_is_string(v) || !*k) {
			*err = xasprintf("label \"%.64s\" is not a string", k);
			goto out;
		}
		if (!container_label_ok(k, json_string_value(v), err))
			goto out;
		container_add_label(c, k, json_string_value(v));
	}
	/* Docker's default bridge reports at the top level too */
	if (!add_ip(c, json_object_get(ns, "IPAddress"),
		    "NetworkSettings.IPAddress", err) ||
	    !add_ip(c, json_object_get(ns, "GlobalIPv6Address"),
		    "NetworkSettings.GlobalIPv6Address", err))
		goto out;
	nets = json_object_get(ns, "Networks");
	if (nets && !json_is_null(nets) && !json_is_object(nets)) {
		*err = xstrdup("NetworkSettings.Networks is not an object");
		goto out;
	}
	json_object_foreach(nets, k, net) {
		if (!json_is_object(net)) {
			*err = xasprintf("network \"%.64s\" is not an object",
					 k);
			goto out;
		}
		/* not ok itself: a later network that is not an object must
		 * not leave it true (a refusal read as "no address") */
		what = xasprintf("Networks.%.64s.IPAddress", k);
		added = add_ip(c, json_object_get(net, "IPAddress"), what,
			       err);
		free(what);
		if (!added)
			goto out;
		what = xasprintf("Networks.%.64s.GlobalIPv6Address", k);
		added = add_ip(c, json_object_get(net, "GlobalIPv6Address"),
			       what, err);
		free(what);
		if (!added)
			goto out;
	}
	ok = true;
	if (!c->n_addrs)
		goto out;
	find_ports(c, root);
	*out = c;
	c = NULL;
out:
	container_free(c);
	json_decref(root);
	return ok;
}

static char *fingerprint(const struct container *c)
{
	struct strbuf sb = { 0 };
	char buf[BH_ADDR_STRLEN];
	size_t i;

	const struct container_port *p;

	sb_printf(&sb, "%s\n", c->name);
	for (i = 0; i < c->n_labels; i++)
		sb_printf(&sb, "%s=%s\n", c->labels[i].key, c->labels[i].value);
	for (i = 0; i < c->n_addrs; i++) {
		p = container_addr_port(c, i);
		sb_printf(&sb, "%s %s\n", bh_addr_str(&c->addrs[i], buf),
			  p ? p->ifname : "");
	}
	for (i = 0; i < c->n_ports; i++)
		sb_printf(&sb, "port %s\n", c->ports[i].ifname);
	return sb_steal(&sb);
}

/* The ports another source gave: a single one takes every address (as
 * it did), several keep the addresses each had. */
static void inherit_ports(struct container *c, const struct container *old)
{
	const struct container_port *p;
	size_t k, i, j;

	if (old->n_ports == 1) {
		container_set_port(c, old->ports[0].ifname);
		return;
	}
	for (k = 0; k < old->n_ports; k++) {
		p = &old->ports[k];
		for (i = p->first; i < (size_t)p->first + p->n; i++)
			for (j = 0; j < c->n_addrs; j++)
				if (bh_addr_eq(&c->addrs[j], &old->addrs[i]))
					container_add_port_addr(c, p->ifname,
								&old->addrs[i]);
	}
}

static void apply_inspect(struct docker *e, struct dreq *q, long code)
{
	struct track *t = track_find(e, q->id);
	const struct container *old;
	struct container *c = NULL;
	char *err = NULL, *fp = NULL;
	int r;

	if (!t)
		return;
	/* a newer event for this id asked again, or detached it */
	if (t->gen != q->gen)
		goto out;
	if (code == 404) {
		engine_detach(e, t, "gone");
		goto out;
	}
	if (code != 200) {
		set_error(e, "inspect %.12s: HTTP %ld", q->id, code);
		goto out;
	}
	if (!docker_parse_inspect(q->id, q->body.buf ? q->body.buf : "",
				  q->body.len, &c, &err)) {
		set_error(e, "inspect %.12s: %s; nothing changed", q->id, err);
		goto out;
	}
	if (!c) {
		engine_detach(e, t, "not running or no address");
		goto out;
	}
	c->engine = xstrdup(e->url);
	/* another source (CNI) may know the host side when we do not */
	old = inventory_find(e->sink.inventory(e->sink.arg), c->id);
	if (!c->n_ports && old)
		inherit_ports(c, old);
	fp = fingerprint(c);
	if (t->attached && t->fp && !strcmp(t->fp, fp) && old &&
	    !old->quarantined)
		goto out;
	r = e->sink.attach(e->sink.arg, c, &err);
	c = NULL;
	if (r == -E2BIG) {
		/* over a per-container limit (docs/limits.md): asking again
		 * gives the same answer until the container changes */
		set_error(e, "attaching %.12s: %s; not retried", q->id,
			  err ? err : strerror(-r));
		goto out;
	}
	if (r < 0) {
		/* e.g. its address still held by a container whose stop is
		 * not processed yet: ask again soon, not at the next resync */
		if (!t->retries++)
			set_error(e, "attaching %.12s: %s; retrying every "
				  "%d ms", q->id, err ? err : strerror(-r),
				  DOCKER_RETRY_MS);
		else
			log_debug("engine %s: attaching %.12s: %s", e->url,
				  q->id, err ? err : strerror(-r));
		t->retry = true;
		ev_timer_arm(e->reinspect_timer, DOCKER_RETRY_MS, 0);
		goto out;
	}
	t->retries = 0;
	log_info("engine %s: attached %.12s", e->url, q->id);
	t->attached = true;
	free(t->fp);
	t->fp = fp;
	fp = NULL;
out:
	container_free(c);
	free(fp);
	free(err);
}

/* ---- list ---- */

/* Engines the daemon follows; with one, every engine-sourced container it
 * knows (from its state file) is this engine's. */
static unsigned n_engines;

/* At the first list after start, containers restored from the state file
 * are this engine's to reconcile: one that stopped while the daemon was
 * down is detached, not kept forever. Each names the engine that reported
 * it; one from an older state file that names none is adopted only when a
 * single engine is followed (with several its owner is unknown: the link
 * watcher still detaches it when its veth is gone). */
static void adopt(struct docker *e)
{
	const struct inventory *inv = e->sink.inventory(e->sink.arg);
	struct container *c;
	struct track *t;
	size_t i;

	for (i = 0; (c = inventory_at(inv, i)); i++) {
		if (c->source != SRC_ENGINE ||
		    (c->engine ? strcmp(c->engine, e->url) : n_engines != 1))
			continue;
		t = track_get(e, c->id);
		t->attached = true;
	}
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void apply_list(struct docker *e, struct dreq *q)
{
	struct track *t, *nx;
	json_t *root, *o;
	json_error_t jerr;
	const char **ids = NULL;
	const char *id, *st;
	size_t i, b, n, m;

	root = json_loadb(q->body.buf ? q->body.buf : "", q->body.len, 0,
			  &jerr);
	if (!root || !json_is_array(root)) {
		engine_down(e, root ? "container list is not an array"
				    : "container list is malformed JSON");
		if (!root)
			log_warn("engine %s: %d:%d: %s", e->url, jerr.line,
				 jerr.column, jerr.text);
		goto out;
	}
	n = json_array_size(root);
	ids = xcalloc(n + 1, sizeof(*ids));
	m = 0;
	json_array_foreach(root, i, o) {
		id = json_string_value(json_object_get(o, "Id"));
		if (!valid_id(id)) {
			engine_down(e, "container list has an entry without "
				       "a valid \"Id\"");
			goto out;
		}
		/* exited, dead, …: gone from the network */
		st = json_string_value(json_object_get(o, "State"));
		if (st && strcmp(st, "running") && strcmp(st, "created") &&
		    strcmp(st, "paused"))
			continue;
		ids[m++] = id;
	}
	n = m;
	if (!e->ever_up)
		adopt(e);
	/* reconcile: what we attached and the engine no longer runs went
	 * while we were not looking */
	qsort(ids, n, sizeof(*ids), cmp_id);
	for_each_track(e, b, t, nx) {
		if (t->attached && !bsearch(&t->id, ids, n, sizeof(*ids),
					    cmp_id)) {
			t->gen++;
			engine_detach(e, t, "no longer running");
		}
		track_gc(e, t);
	}
	for (i = 0; i < n; i++) {
		t = track_find(e, ids[i]);
		if (!t || !t->inflight)
			inspect(e, ids[i]);
	}
	if (e->state == ENG_UP) {
		log_debug("engine %s: resync, %zu running containers", e->url,
			  n);
	} else {
		log_info("engine %s: up, %zu running containers", e->url, n);
		e->since_ms = bh_wall_ms();
	}
	e->state = ENG_UP;
	e->ever_up = true;
	e->backoff_ms = DOCKER_BACKOFF_MIN_MS;
	e->n_down = 0;
	ev_timer_arm(e->resync_timer, DOCKER_RESYNC_MS, 0);
out:
	free(ids);
	json_decref(root);
}

/* ---- events ---- */

static void handle_event_line(struct docker *e, const char *line, size_t n)
{
	json_t *root, *actor, *attrs;
	const char *type, *action, *id;
	json_error_t jerr;
	struct track *t;

	root = json_loadb(line, n, 0, &jerr);
	if (!root || !json_is_object(root)) {
		set_error(e, "event is not a JSON object (%s): skipped",
			  root ? "wrong type" : jerr.text);
		goto out;
	}
	e->n_events++;
	type = json_string_value(json_object_get(root, "Type"));
	action = json_string_value(json_object_get(root, "Action"));
	actor = json_object_get(root, "Actor");
	attrs = json_object_get(actor, "Attributes");
	if (!type || !action || !json_is_object(actor)) {
		set_error(e, "event without Type, Action or Actor: skipped");
		goto out;
	}
	/* labels in Attributes are mixed with engine attributes: only the id
	 * is taken from an event, the rest comes from inspect */
	if (!strcmp(type, "container"))
		id = json_string_value(json_object_get(actor, "ID"));
	else if (!strcmp(type, "network"))
		/* Docker names the container in Attributes, Podman in ID */
		id = json_string_value(json_object_get(attrs, "container")) ?:
		     json_string_value(json_object_get(actor, "ID"));
	else
		goto out;
	if (!valid_id(id)) {
		if (!strcmp(type, "container"))
			set_error(e, "%s event without a valid container id: "
				  "skipped", action);
		goto out;
	}
	if (!strcmp(action, "die") || !strcmp(action, "destroy") ||
	    !strcmp(action, "stop") || !strcmp(action, "remove")) {
		t = track_find(e, id);
		if (t) {
			t->gen++;
			t->retry = false;
			engine_detach(e, t, action);
			track_gc(e, t);
		}
	} else if (!strcmp(action, "init") || !strcmp(action, "start") ||
		   !strcmp(action, "restart") ||
		   !strcmp(action, "unpause") || !strcmp(action, "update") ||
		   !strcmp(action, "rename") || !strcmp(action, "connect") ||
		   !strcmp(action, "disconnect")) {
		t = track_get(e, id);
		t->gen++;
		inspect(e, id);
	}
out:
	json_decref(root);
}

/* ---- connection life cycle ---- */

static void cancel_all(struct docker *e)
{
	struct track *t, *nx;
	struct dreq *q;
	size_t b;

	while ((q = e->reqs)) {
		e->reqs = q->next;
		dreq_free(q);
	}
	/* inspects in flight are gone: forget ids we never attached */
	for_each_track(e, b, t, nx) {
		t->inflight = 0;
		t->retry = false;
		track_gc(e, t);
	}
}

static void engine_down(struct docker *e, const char *why)
{
	bool again = e->state == ENG_DOWN ||
		     (e->state == ENG_CONNECTING && e->n_down);

	/* the first failure is a warning; while the engine stays away the
	 * retries are debug noise (last_error and the counter still count) */
	e->n_down++;
	if (again) {
		e->n_errors++;
		free(e->last_error);
		e->last_error = xasprintf("%s; containers keep their policy "
					  "(stale), retrying in %llu ms", why,
					  (unsigned long long)e->backoff_ms);
		log_debug("engine %s: %s", e->url, e->last_error);
	} else {
		set_error(e, "%s; containers keep their policy (stale), "
			  "retrying in %llu ms", why,
			  (unsigned long long)e->backoff_ms);
	}
	e->state = ENG_DOWN;
	e->since_ms = bh_wall_ms();
	cancel_all(e);
	ev_timer_arm(e->retry_timer, e->backoff_ms, 0);
	e->backoff_ms *= 2;
	if (e->backoff_ms > DOCKER_BACKOFF_MAX_MS)
		e->backoff_ms = DOCKER_BACKOFF_MAX_MS;
}

static void retry(struct ev_timer *t, void *arg)
{
	engine_connect(arg);
}

void docker_resync(struct docker *e)
{
	struct dreq *q;

	if (e->state != ENG_UP)
		return;
	for (q = e->reqs; q; q = q->next)
		if (q->kind == DREQ_LIST)
			return;
	if (!dreq_start(e, DREQ_LIST, DOCKER_LIST, DOCKER_MAX_LIST))
		ev_timer_arm(e->resync_timer, DOCKER_BACKOFF_MAX_MS, 0);
}

static void resync(struct ev_timer *t, void *arg)
{
	docker_resync(arg);
}

static void reinspect(struct ev_timer *timer, void *arg)
{
	struct docker *e = arg;
	struct track *t, *nx;
	size_t b;

	if (e->state != ENG_UP)
		return;
	for_each_track(e, b, t, nx) {
		if (!t->retry)
			continue;
		t->retry = false;
		if (!t->inflight)
			inspect(e, t->id);
	}
}

static void engine_connect(struct docker *e)
{
	char path[160];

	e->state = ENG_CONNECTING;
	/* a second of replay closes the gap between the list and the
	 * stream; replayed events are idempotent */
	snprintf(path, sizeof(path),
		 "/events?since=%llu&filters=%%7B%%22type%%22%%3A%%5B"
		 "%%22container%%22%%2C%%22network%%22%%5D%%7D",
		 (unsigned long long)(bh_wall_ms() / 1000 - 1));
	if (!dreq_start(e, DREQ_EVENTS, path, DOCKER_MAX_EVENT) ||
	    !dreq_start(e, DREQ_LIST, DOCKER_LIST, DOCKER_MAX_LIST))
		engine_down(e, "cannot start requests");
}

static void finish(struct docker *e, struct dreq *q, CURLcode res)
{
	long code = 0;
	char *why;

	curl_easy_getinfo(q->h, CURLINFO_RESPONSE_CODE, &code);
	if (q->refused) {
		why = xasprintf("event stream refused: HTTP %ld", code);
		engine_down(e, why);
		free(why);
		return;
	}
	if (q->too_big) {
		why = xasprintf("%s body larger than %zu bytes",
				q->kind == DREQ_LIST ? "container list"
						     : "inspect", q->max);
		if (q->kind == DREQ_LIST)
			engine_down(e, why);
		else
			set_error(e, "%.12s: %s; nothing changed", q->id, why);
		free(why);
		return;
	}
	if (res != CURLE_OK) {
		why = xasprintf("%s: %s",
				q->kind == DREQ_EVENTS ? "event stream" :
				q->kind == DREQ_LIST ? "container list" :
				"inspect", curl_easy_strerror(res));
		engine_down(e, why);
		free(why);
		return;
	}
	switch (q->kind) {
	case DREQ_EVENTS:
		engine_down(e, code == 200 ? "event stream ended"
					   : "event stream refused");
		break;
	case DREQ_LIST:
		if (code != 200) {
			why = xasprintf("container list: HTTP %ld", code);
			engine_down(e, why);
			free(why);
		} else {
			apply_list(e, q);
		}
		break;
	case DREQ_INSPECT:
		apply_inspect(e, q, code);
		break;
	}
}

static void check_done(struct docker *e)
{
	struct track *t;
	struct dreq *q;
	CURLMsg *m;
	size_t i;
	int left;

	for (i = 0; i < e->n_lines; i++)
		handle_event_line(e, e->lines[i].buf, e->lines[i].len);
	drop_lines(e);
	while ((m = curl_multi_info_read(e->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		q = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&q);
		if (!q)
			continue;
		dreq_unlink(e, q);
		t = q->kind == DREQ_INSPECT ? track_find(e, q->id) : NULL;
		if (t && t->inflight)
			t->inflight--;
		finish(e, q, m->data.result);
		/* finish may have dropped it (engine down): look again */
		t = q->kind == DREQ_INSPECT ? track_find(e, q->id) : NULL;
		if (t)
			track_gc(e, t);
		dreq_free(q);
		/* engine_down cancelled the rest: their messages are gone */
	}
}

int docker_start(struct ev_loop *l, const char *url,
		 const struct source_sink *sink, struct docker **out)
{
	static bool curl_ready;
	struct docker *e;

	*out = NULL;
	if (strncmp(url, "unix://", 7) || url[7] != '/' ||
	    strlen(url + 7) >= 108) {
		log_err("engine %s: expected unix:///PATH/TO/SOCKET", url);
		return -EINVAL;
	}
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_NOTHING) != CURLE_OK)
			return -ENOMEM;
		curl_ready = true;
	}
	e = xcalloc(1, sizeof(*e));
	e->sink = *sink;
	e->url = xstrdup(url);
	e->path = xstrdup(url + 7);
	e->backoff_ms = DOCKER_BACKOFF_MIN_MS;
	e->since_ms = bh_wall_ms();
	e->cev = curlev_new(l, url, curl_done, e);
	e->multi = e->cev ? curlev_multi(e->cev) : NULL;
	e->retry_timer = ev_timer_new(l, retry, e);
	e->resync_timer = ev_timer_new(l, resync, e);
	e->reinspect_timer = ev_timer_new(l, reinspect, e);
	if (!e->cev || !e->retry_timer ||
	    !e->resync_timer || !e->reinspect_timer) {
		docker_stop(e);
		return -ENOMEM;
	}
	n_engines++;
	e->counted = true;
	engine_connect(e);
	*out = e;
	return 0;
}

void docker_stop(struct docker *e)
{
	struct track *t, *nx;
	size_t b;

	if (!e)
		return;
	if (e->counted)
		n_engines--;
	cancel_all(e);
	curlev_free(e->cev);
	ev_timer_free(e->retry_timer);
	ev_timer_free(e->resync_timer);
	ev_timer_free(e->reinspect_timer);
	for_each_track(e, b, t, nx) {
		free(t->id);
		free(t->fp);
		free(t);
	}
	free(e->tb);
	drop_lines(e);
	free(e->lines);
	free(e->last_error);
	free(e->url);
	free(e->path);
	free(e);
}

json_t *docker_status_json(const struct docker *e)
{
	static const char *const names[] = { "connecting", "up", "down" };
	const struct track *t, *nx;
	char ts[32];
	size_t b, n = 0;

	for_each_track(e, b, t, nx)
		n += t->attached;
	return json_pack("{s:s, s:s, s:b, s:I, s:I, s:I, s:o, s:s}",
			 "url", e->url, "state", names[e->state],
			 "stale", e->state != ENG_UP, "containers",
			 (json_int_t)n, "events", (json_int_t)e->n_events,
			 "errors", (json_int_t)e->n_errors, "last_error",
			 e->last_error ? json_string(e->last_error)
				       : json_null(),
			 "since", bh_rfc3339(e->since_ms, ts));
}

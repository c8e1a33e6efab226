/* libFuzzer harness for what a Docker or Podman engine answers on its unix
 * socket, as enforcer/docker.c reads it:
 *   - the whole input as one inspect answer (GET /containers/ID/json,
 *     docker_parse_inspect), asked for the id the answer names when that
 *     is a valid id (else for "c0ffee"): a refusal must say why, a
 *     container must be what include/docker.h and inventory.h promise and
 *     what the state journal reads back, and what is read as an answer
 *     about that id is refused for any other;
 *   - each line of the input on a real engine (docker_start on an event
 *     loop, with a socket nobody serves): a line that starts with '[' as a
 *     container list (apply_list: reconcile, then an inspect request per
 *     running id), any other as one line of the event stream
 *     (handle_event_line); after each, every tracked id is valid and
 *     collectable only while an inspect of it is in flight.
 *
 * docker.c is compiled inside this file so that its static readers are
 * reachable, with the calls that would leave the harness renamed:
 *   - open/close: find_ifname opens the SandboxKey path (or /proc/PID/ns/
 *     net) the input names. fuzz_open refuses every path with ENOENT but
 *     one harmless device, /dev/null, which is really opened so that the
 *     "not a namespace" check runs; it also checks the flags (read-only,
 *     never blocking) and fuzz_close that no descriptor leaks.
 *   - the engine runs on the harness's own event loop, and its sink
 *     (source.h) is the harness's: an empty inventory (the daemon knows
 *     no container).
 *   - the sink's attach and detach and links_peer_ports cannot be
 *     reached: nothing is ever attached (apply_inspect is not called and
 *     adopt finds nothing), and no opened file is a network namespace.
 *     They abort if they are.
 * Logs go to stderr: run with -close_fd_mask=2 (mk/fuzz_docker.mk does);
 * reproduce a failure without it to see why the harness stopped. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/vfs.h>

#include <curl/curl.h>
#include <jansson.h>
#include <linux/magic.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int open_fds;

static int real_open(const char *path, int flags)
{
	return open(path, flags);
}

static int real_close(int fd)
{
	return close(fd);
}

#define open fuzz_open
#define close fuzz_close
#define links_peer_ports fuzz_links_peer_ports

static int fuzz_open(const char *path, int flags, ...);
static int fuzz_close(int fd);

#include "../../enforcer/docker.c"

#define FUZZ_ID "c0ffee"
#define FUZZ_URL "unix:///nonexistent/bulkhead-fuzz.sock"
#define FUZZ_DEVICE "/dev/null"

static struct ev_loop *loop;
static struct inventory *known;

static void fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fuzz_docker: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

static int fuzz_open(const char *path, int flags, ...)
{
	int fd;

	if (path[0] != '/' || strlen(path) >= 4096 ||
	    (flags & O_ACCMODE) != O_RDONLY || (flags & O_CREAT) ||
	    !(flags & O_NONBLOCK) || !(flags & O_CLOEXEC))
		fail("opens \"%.64s\" with flags %#x", path, (unsigned)flags);
	if (strcmp(path, FUZZ_DEVICE)) {
		errno = ENOENT;
		return -1;
	}
	fd = real_open(path, flags);
	if (fd < 0)
		fail("cannot open %s: %s", FUZZ_DEVICE, strerror(errno));
	open_fds++;
	return fd;
}

static int fuzz_close(int fd)
{
	open_fds--;
	return real_close(fd);
}

static const struct inventory *fuzz_inventory(void *arg)
{
	(void)arg;
	return known;
}

static int fuzz_attach(void *arg, struct container *c, char **err)
{
	(void)arg;
	(void)err;
	fail("attach of %s reached: the harness attaches nothing", c->id);
}

static int fuzz_detach_many(void *arg, char *const *ids, size_t n,
			    char **err)
{
	(void)arg;
	(void)err;
	fail("detach of %s (of %zu) reached: the harness attaches nothing",
	     n ? ids[0] : "", n);
}

static const struct source_sink fuzz_sink = {
	.attach = fuzz_attach,
	.detach_many = fuzz_detach_many,
	.inventory = fuzz_inventory,
};

int fuzz_links_peer_ports(int netns_fd, struct container *c)
{
	(void)c;
	fail("fd %d taken for a network namespace", netns_fd);
}

static bool same_container(const struct container *a,
			   const struct container *b)
{
	size_t i;

	if (strcmp(a->id, b->id) || strcmp(a->name, b->name) ||
	    !container_same_ports(a, b) || a->source != b->source ||
	    strcmp(a->engine ? a->engine : "", b->engine ? b->engine : "") ||
	    a->n_labels != b->n_labels || a->n_addrs != b->n_addrs)
		return false;
	for (i = 0; i < a->n_labels; i++)
		if (strcmp(a->labels[i].key, b->labels[i].key) ||
		    strcmp(a->labels[i].value, b->labels[i].value))
			return false;
	for (i = 0; i < a->n_addrs; i++)
		if (!bh_addr_eq(&a->addrs[i], &b->addrs[i]))
			return false;
	return true;
}

/* What an attachable answer gives: include/docker.h and inventory.h's
 * promises, and an entry that the state journal reads back the same
 * (the daemon records it, a restart reads it). */
static void check_container(struct container *c, const char *id)
{
	struct inventory *inv;
	struct container *back;
	json_t *j;
	char *err, *fp;
	size_t i, k;

	if (strcmp(c->id, id) || !c->name[0] ||
	    strlen(c->name) > CONTAINER_NAME_MAX || c->source != SRC_ENGINE ||
	    c->quarantined || c->engine || c->n_ports || !c->n_addrs ||
	    c->n_labels > CONTAINER_LABELS_MAX)
		fail("container %s (%s): bad identity, %zu addresses, "
		     "%zu labels, %zu ports", c->id, c->name, c->n_addrs,
		     c->n_labels, c->n_ports);
	for (i = 0; i < c->n_addrs; i++) {
		if (!(c->addrs[i].family == AF_INET &&
		      c->addrs[i].plen == 32) &&
		    !(c->addrs[i].family == AF_INET6 &&
		      c->addrs[i].plen == 128))
			fail("address %zu: family %u plen %u", i,
			     c->addrs[i].family, c->addrs[i].plen);
		for (k = 0; k < i; k++)
			if (bh_addr_eq(&c->addrs[k], &c->addrs[i]))
				fail("address %zu repeats %zu", i, k);
	}
	for (i = 0; i < c->n_labels; i++) {
		if (!c->labels[i].key[0] ||
		    strlen(c->labels[i].key) > CONTAINER_LABEL_KEY_MAX ||
		    strlen(c->labels[i].value) > CONTAINER_LABEL_VALUE_MAX)
			fail("label %zu: bad key or value", i);
		for (k = 0; k < i; k++)
			if (!strcmp(c->labels[k].key, c->labels[i].key))
				fail("label \"%s\" twice", c->labels[i].key);
	}
	c->engine = xstrdup(FUZZ_URL);	/* as apply_inspect does */
	fp = fingerprint(c);
	free(fp);
	j = container_to_json(c);
	back = container_from_json(j, CJ_ENTRY, &err);
	json_decref(j);
	if (!back)
		fail("the state journal refuses it: %s", err);
	if (!same_container(c, back))
		fail("the state journal reads back another container");
	container_free(back);
	inv = inventory_new();
	if (inventory_add(inv, container_dup(c)) < 0)
		fail("an empty inventory refuses it");
	inventory_free(inv);
}

static void as_inspect(const uint8_t *data, size_t size)
{
	json_t *root = json_loadb((const char *)data, size, 0, NULL);
	const char *rid = json_string_value(json_object_get(root, "Id"));
	char *id = xstrdup(valid_id(rid) ? rid : FUZZ_ID);
	struct container *c = NULL;
	char *err = NULL;
	bool ok;

	json_decref(root);
	ok = docker_parse_inspect(id, (const char *)data, size, &c, &err);
	if (ok == !!err || (!ok && c))
		fail("parse %s: error %s, container %p", ok ? "ok" : "failed",
		     err ? err : "(none)", (void *)c);
	if (open_fds)
		fail("%d descriptors left open", open_fds);
	if (c)
		check_container(c, id);
	container_free(c);
	free(err);
	/* what was read as an answer about id is refused for any other id
	 * (an answer about another container is never applied) */
	if (ok) {
		c = NULL;
		err = NULL;
		if (docker_parse_inspect(strcmp(id, FUZZ_ID) ? FUZZ_ID :
					 FUZZ_ID "2", (const char *)data, size,
					 &c, &err) || c ||
		    !err || !strstr(err, "answer is about"))
			fail("an answer about %s taken for another: %s", id,
			     err ? err : "(no error)");
		free(err);
	}
	free(id);
}

/* Every id tracked is valid and has a reason to be kept; inspects in
 * flight are those counted. */
static void check_tracks(struct docker *e)
{
	struct track *t, *nx;
	struct dreq *q;
	size_t b, n = 0, inflight = 0, inspects = 0;

	for_each_track(e, b, t, nx) {
		n++;
		inflight += t->inflight;
		if (!valid_id(t->id) || t->attached ||
		    (!t->inflight && !t->retry))
			fail("track %.64s: inflight %u attached %d retry %d",
			     t->id, t->inflight, t->attached, t->retry);
	}
	for (q = e->reqs; q; q = q->next) {
		if (q->kind != DREQ_INSPECT)
			continue;
		inspects++;
		t = track_find(e, q->id);
		if (!t || !t->inflight)
			fail("inspect of %.64s not tracked", q->id);
	}
	if (n != e->n_tracks || inflight != inspects)
		fail("%zu tracks, %zu counted; %zu in flight, %zu inspects",
		     n, e->n_tracks, inflight, inspects);
}

/* The engine as docker_start leaves it, less its event and list requests
 * (the list being answered was one; the stream's is not read here): each
 * input starts from it. One engine serves every input because starting
 * one (a curl multi handle, four timers, two transfers) costs more than
 * most inputs. */
static void reset_engine(struct docker *e)
{
	cancel_all(e);
	drop_lines(e);
	free(e->last_error);
	e->last_error = NULL;
	e->state = ENG_CONNECTING;
	e->ever_up = false;
	e->backoff_ms = DOCKER_BACKOFF_MIN_MS;
	e->n_down = 0;
	e->n_events = 0;
	e->n_errors = 0;
	if (e->n_tracks || e->reqs)
		fail("%zu tracks left after a reset", e->n_tracks);
}

static void as_stream(struct docker *e, const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;
	struct dreq list;
	json_t *st;
	char *s;

	reset_engine(e);
	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		if (nl == p)	/* write_cb drops empty lines */
			continue;
		if (*p == '[') {
			memset(&list, 0, sizeof(list));
			list.e = e;
			list.kind = DREQ_LIST;
			list.body.buf = (char *)p;
			list.body.len = (size_t)(nl - p);
			apply_list(e, &list);
		} else {
			handle_event_line(e, p, (size_t)(nl - p));
		}
		check_tracks(e);
	}
	st = docker_status_json(e);
	s = st ? json_dumps(st, JSON_COMPACT) : NULL;
	if (!s)
		fail("no status");
	free(s);
	json_decref(st);
	reset_engine(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct docker *engine;

	if (!engine) {
		loop = ev_new();
		known = inventory_new();
		if (!loop || docker_start(loop, FUZZ_URL, &fuzz_sink,
					  &engine) < 0)
			fail("no event loop or engine");
	}
	as_inspect(data, size);
	as_stream(engine, data, size);
	return 0;
}

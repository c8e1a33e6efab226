/* etcd.c against a real etcd (Debian's etcd-server 3.4): the test moves
 * itself into a network namespace of its own (unshare), brings up its
 * loopback and starts etcd there with a data dir in /tmp; the namespace
 * dies with the process, etcd is stopped in the teardown. Each trap of
 * the v3 JSON gateway that include/etcd.h names has a test here. Skips
 * (every test) when not root or when /usr/bin/etcd is missing. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "etcd.h"
#include "ev.h"
#include "util.h"

#define ETCD_BIN "/usr/bin/etcd"
#define URL "http://127.0.0.1:2379"
#define DEAD_URL "http://127.0.0.1:2399"	/* nothing listens */

static pid_t etcd_pid;
static char tmpdir[] = "/tmp/bh-test-etcd.XXXXXX";
static const char *skip_why;
static struct ev_loop *loop;
static struct etcd *cl;

/* ---- running the loop until an answer ---- */

struct answer {
	bool done;
	int ret;
	json_t *resp;
	char *err;
};

static void on_answer(void *arg, int ret, json_t *resp, const char *err)
{
	struct answer *a = arg;

	a->done = true;
	a->ret = ret;
	a->resp = resp ? json_deep_copy(resp) : NULL;
	a->err = err ? xstrdup(err) : NULL;
	ev_stop(loop);
}

static void answer_clear(struct answer *a)
{
	json_decref(a->resp);
	free(a->err);
	memset(a, 0, sizeof(*a));
}

static bool timed_out;

static void on_deadline(struct ev_timer *t, void *arg)
{
	timed_out = true;
	ev_stop(loop);
}

/* Runs the loop until *flag (bounded: 20 s, a loaded machine is slow) */
static void run_until(const bool *flag)
{
	struct ev_timer *t = ev_timer_new(loop, on_deadline, NULL);

	timed_out = false;
	ev_timer_arm(t, 20000, 0);
	while (!*flag && !timed_out)
		ev_run(loop);
	ev_timer_free(t);
	assert_false(timed_out);
}

static void call(const char *path, json_t *body, struct answer *a)
{
	memset(a, 0, sizeof(*a));
	assert_non_null(etcd_call(cl, path, body, on_answer, a));
	run_until(&a->done);
}

static int64_t field64(const json_t *o, const char *f)
{
	int64_t v;

	assert_true(etcd_int64(o, f, &v));
	return v;
}

static void put(const char *k, const char *v, int64_t lease)
{
	struct answer a;
	json_t *op = etcd_op_put(k, v, lease);

	call("/v3/kv/put", json_deep_copy(json_object_get(op, "request_put")),
	     &a);
	assert_int_equal(a.ret, 0);
	answer_clear(&a);
	json_decref(op);
}

static int64_t grant(int64_t ttl)
{
	struct answer a;
	int64_t id;

	call("/v3/lease/grant", json_pack("{s:I}", "TTL", (json_int_t)ttl),
	     &a);
	assert_int_equal(a.ret, 0);
	id = field64(a.resp, "ID");
	assert_true(id > 0);
	answer_clear(&a);
	return id;
}

/* ---- etcd in a namespace of our own ---- */

static int lo_up(void)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = 0;

	if (fd < 0)
		return -errno;
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0 ||
	    (ifr.ifr_flags |= IFF_UP, ioctl(fd, SIOCSIFFLAGS, &ifr) < 0))
		ret = -errno;
	close(fd);
	return ret;
}

static bool port_open(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = fd >= 0 && connect(fd, (void *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static int setup(void **state)
{
	char *data, *logf;
	int i, fd;

	if (geteuid()) {
		skip_why = "not root (needs a network namespace)";
		return 0;
	}
	if (access(ETCD_BIN, X_OK)) {
		skip_why = ETCD_BIN " is missing (apt-get install etcd-server)";
		return 0;
	}
	if (unshare(CLONE_NEWNET) < 0 || lo_up() < 0) {
		skip_why = "cannot make a network namespace";
		return 0;
	}
	if (!mkdtemp(tmpdir))
		return -1;
	data = xasprintf("%s/data", tmpdir);
	logf = xasprintf("%s/etcd.log", tmpdir);
	etcd_pid = fork();
	if (etcd_pid == 0) {
		fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(ETCD_BIN, "etcd", "--data-dir", data,
		      "--listen-client-urls", URL, "--advertise-client-urls",
		      URL, "--listen-peer-urls", "http://127.0.0.1:2380",
		      (char *)NULL);
		_exit(127);
	}
	free(data);
	free(logf);
	for (i = 0; i < 300 && !port_open(2379); i++)
		usleep(100 * 1000);
	if (i == 300)
		return -1;
	loop = ev_new();
	return 0;
}

static int teardown(void **state)
{
	char *cmd;

	etcd_free(cl);
	cl = NULL;
	ev_free(loop);
	if (etcd_pid > 0) {
		kill(etcd_pid, SIGTERM);
		waitpid(etcd_pid, NULL, 0);
	}
	if (tmpdir[strlen(tmpdir) - 1] != 'X') {
		cmd = xasprintf("rm -rf '%s'", tmpdir);
		if (system(cmd))
			fprintf(stderr, "# cannot remove %s\n", tmpdir);
		free(cmd);
	}
	return 0;
}

static int client(void **state)
{
	const char *urls[] = { URL };
	struct etcd_opts o = { .urls = urls, .n_urls = 1 };
	char *err = NULL;

	if (skip_why)
		return 0;
	etcd_free(cl);
	assert_int_equal(etcd_new(loop, &o, &cl, &err), 0);
	return 0;
}

#define NEED_ETCD()							\
	do {								\
		if (skip_why) {						\
			print_message("skip: %s\n", skip_why);		\
			skip();						\
		}							\
	} while (0)

/* ---- the gateway's JSON ---- */

static void test_b64(void **state)
{
	const char *in[] = { "", "a", "ab", "abc", "abcd", "/bulkhead/v1/" };
	const char *out[] = { "", "YQ==", "YWI=", "YWJj", "YWJjZA==",
			      "L2J1bGtoZWFkL3YxLw==" };
	struct strbuf sb = { 0 };
	size_t i;
	char *b;

	for (i = 0; i < ARRAY_SIZE(in); i++) {
		b = etcd_b64(in[i], strlen(in[i]));
		assert_string_equal(b, out[i]);
		sb_reset(&sb);
		assert_true(etcd_unb64(b, &sb));
		assert_int_equal(sb.len, strlen(in[i]));
		assert_memory_equal(sb.buf ?: "", in[i], sb.len);
		free(b);
	}
	assert_false(etcd_unb64("YQ=", &sb));
	assert_false(etcd_unb64("Y=Q=", &sb));
	assert_false(etcd_unb64("YQ==YQ==", &sb));
	assert_false(etcd_unb64("Y!Q=", &sb));
	sb_free(&sb);
}

static void test_int64(void **state)
{
	json_t *o = json_loads("{\"a\":\"9223372036854775807\",\"b\":7,"
			       "\"c\":\"x\",\"d\":\"\",\"e\":true}", 0, NULL);
	int64_t v;

	/* int64 values are strings: a lease id passes 2^53 */
	assert_true(etcd_int64(o, "a", &v));
	assert_true(v == INT64_MAX);
	assert_true(etcd_int64(o, "b", &v));
	assert_int_equal(v, 7);
	/* defaults are omitted: absent is 0 */
	assert_true(etcd_int64(o, "missing", &v));
	assert_int_equal(v, 0);
	assert_false(etcd_int64(o, "c", &v));
	assert_false(etcd_int64(o, "d", &v));
	assert_false(etcd_int64(o, "e", &v));
	json_decref(o);
}

static void test_prefix_end(void **state)
{
	char *e = etcd_prefix_end("/bulkhead/v1/");

	assert_string_equal(e, "/bulkhead/v10");
	free(e);
	e = etcd_prefix_end("a\xff");
	assert_string_equal(e, "b");
	free(e);
}

static void test_bad_opts(void **state)
{
	const char *bad[] = { "ftp://x" }, *none[] = { URL };
	struct etcd_opts o = { .urls = bad, .n_urls = 1 };
	struct etcd *e = NULL;
	char *err = NULL;

	assert_int_equal(etcd_new(loop, &o, &e, &err), -EINVAL);
	assert_non_null(strstr(err, "ftp://x"));
	assert_null(e);
	free(err);
	o.urls = none;
	o.ca = "/nonexistent/ca.pem";
	assert_int_equal(etcd_new(loop, &o, &e, &err), -EINVAL);
	assert_non_null(strstr(err, "--etcd-ca"));
	free(err);
}

/* ---- against etcd ---- */

/* An empty range has no "kvs"; the paged read gives [] all the same. */
static void test_empty_range(void **state)
{
	struct answer a = { 0 };

	NEED_ETCD();
	call("/v3/kv/range", json_pack("{s:s}", "key", "bm9uZQ=="), &a);
	assert_int_equal(a.ret, 0);
	assert_null(json_object_get(a.resp, "kvs"));
	answer_clear(&a);
	assert_non_null(etcd_range_all(cl, "none/", "none0", 0, 10,
				       on_answer, &a));
	run_until(&a.done);
	assert_int_equal(a.ret, 0);
	assert_int_equal(json_array_size(json_object_get(a.resp, "kvs")), 0);
	assert_true(json_integer_value(json_object_get(a.resp,
						       "revision")) > 0);
	answer_clear(&a);
}

/* 250 keys read in pages of 100 at the revision they were written at,
 * while later revisions deleted some and added others. */
static void test_range_paged_pinned(void **state)
{
	struct answer a = { 0 };
	char k[64], v[64];
	int64_t rev;
	json_t *kv;
	size_t i;

	NEED_ETCD();
	for (i = 0; i < 250; i++) {
		snprintf(k, sizeof(k), "pg/%03zu", i);
		snprintf(v, sizeof(v), "value %zu", i);
		put(k, v, 0);
	}
	call("/v3/kv/range", json_pack("{s:s}", "key", "eA=="), &a);
	rev = field64(json_object_get(a.resp, "header"), "revision");
	answer_clear(&a);
	call("/v3/kv/deleterange", json_pack("{s:s, s:s}", "key",
		"cGcvMDA=" /* pg/00 */, "range_end", "cGcvMDE=" /* pg/01 */),
	     &a);
	assert_int_equal(a.ret, 0);
	answer_clear(&a);
	put("pg/999", "later", 0);

	assert_non_null(etcd_range_all(cl, "pg/", "pg0", rev, 100,
				       on_answer, &a));
	run_until(&a.done);
	assert_int_equal(a.ret, 0);
	assert_int_equal(json_integer_value(json_object_get(a.resp,
							    "revision")), rev);
	assert_int_equal(json_array_size(json_object_get(a.resp, "kvs")),
			 250);
	json_array_foreach(json_object_get(a.resp, "kvs"), i, kv) {
		snprintf(k, sizeof(k), "pg/%03zu", i);
		snprintf(v, sizeof(v), "value %zu", i);
		assert_string_equal(json_string_value(json_object_get(kv,
							"key")), k);
		assert_string_equal(json_string_value(json_object_get(kv,
							"value")), v);
	}
	answer_clear(&a);
	/* unpinned: the current state, 250 - 10 + 1 */
	assert_non_null(etcd_range_all(cl, "pg/", "pg0", 0, 100,
				       on_answer, &a));
	run_until(&a.done);
	assert_int_equal(json_array_size(json_object_get(a.resp, "kvs")),
			 241);
	answer_clear(&a);
}

/* The page-wise read (the daemon's sync): the same keys as decoded
 * strings, page by page, pinned; a page callback that cancels gets no
 * more calls and no end. */
struct pages {
	struct answer end;	/* first: one arg for both callbacks */
	size_t n_pages, n_keys, cancel_after;
	struct etcd_range_all *r;
	int64_t rev;
	bool bad;
};

static void on_page(void *arg, int64_t rev, const struct etcd_kv *kvs,
		    size_t n)
{
	struct pages *p = arg;
	char k[64], v[64];
	size_t i;

	p->rev = rev;
	for (i = 0; i < n; i++, p->n_keys++) {
		snprintf(k, sizeof(k), "rp/%03zu", p->n_keys);
		snprintf(v, sizeof(v), "value %zu", p->n_keys);
		if (strcmp(kvs[i].key, k) || kvs[i].key_len != strlen(k) ||
		    strcmp(kvs[i].value, v) || kvs[i].value_len != strlen(v) ||
		    kvs[i].mod_revision <= 0 || kvs[i].lease)
			p->bad = true;
	}
	if (++p->n_pages == p->cancel_after) {
		etcd_range_all_cancel(p->r);
		ev_stop(loop);
	}
}

static void test_range_pages(void **state)
{
	struct ev_timer *t;
	struct pages p = { 0 };
	char k[64], v[64];
	size_t i;

	NEED_ETCD();
	for (i = 0; i < 250; i++) {
		snprintf(k, sizeof(k), "rp/%03zu", i);
		snprintf(v, sizeof(v), "value %zu", i);
		put(k, v, 0);
	}
	p.r = etcd_range_pages(cl, "rp/", "rp0", 0, 100, on_page, on_answer,
			       &p.end);
	assert_non_null(p.r);
	run_until(&p.end.done);
	assert_int_equal(p.end.ret, 0);
	assert_false(p.bad);
	assert_int_equal(p.n_pages, 3);
	assert_int_equal(p.n_keys, 250);
	assert_int_equal(json_integer_value(json_object_get(p.end.resp,
							    "revision")),
			 p.rev);
	answer_clear(&p.end);

	memset(&p, 0, sizeof(p));
	p.cancel_after = 1;
	p.r = etcd_range_pages(cl, "rp/", "rp0", 0, 100, on_page, on_answer,
			       &p.end);
	assert_non_null(p.r);
	t = ev_timer_new(loop, on_deadline, NULL);
	ev_timer_arm(t, 20000, 0);
	timed_out = false;
	while (!p.n_pages && !timed_out)
		ev_run(loop);		/* stopped by the first page */
	assert_int_equal(p.n_pages, 1);
	/* the second page was asked for already: it must not arrive */
	ev_timer_arm(t, 500, 0);
	timed_out = false;
	while (!timed_out)
		ev_run(loop);
	ev_timer_free(t);
	assert_int_equal(p.n_pages, 1);
	assert_false(p.end.done);
}

struct watch_log {
	json_t *lines;
	bool created, ended;
	size_t want_events, n_events;
	int ret;
	int64_t compact_rev;
	bool canceled;
};

static void on_line(void *arg, json_t *r)
{
	struct watch_log *w = arg;
	json_t *ev;
	size_t i;

	json_array_append(w->lines, r);
	if (json_is_true(json_object_get(r, "created")))
		w->created = true;
	if (json_is_true(json_object_get(r, "canceled"))) {
		w->canceled = true;
		assert_true(etcd_int64(r, "compact_revision",
				       &w->compact_rev));
	}
	json_array_foreach(json_object_get(r, "events"), i, ev)
		w->n_events++;
	if (w->created && (w->n_events >= w->want_events || w->canceled))
		ev_stop(loop);
}

static void on_end(void *arg, int ret, json_t *resp, const char *err)
{
	struct watch_log *w = arg;

	w->ended = true;
	w->ret = ret;
	ev_stop(loop);
}

static bool watch_wait(struct watch_log *w)
{
	/* stop when want_events arrived or the stream ended */
	struct ev_timer *t = ev_timer_new(loop, on_deadline, NULL);

	timed_out = false;
	ev_timer_arm(t, 20000, 0);
	while (!timed_out && !w->ended &&
	       !(w->created && (w->n_events >= w->want_events ||
				w->canceled)))
		ev_run(loop);
	ev_timer_free(t);
	return !timed_out;
}

/* One event per line whatever the chunks: a value of 300 KiB spans many
 * chunks, and small events share one; a PUT event has no "type", a
 * DELETE has "type":"DELETE". */
static void test_watch_lines(void **state)
{
	struct watch_log w = { .lines = json_array() };
	struct answer a;
	struct etcd_req *q;
	size_t big = 300 << 10, i, n_put = 0, n_del = 0, n_big = 0;
	char *val = xmalloc(big + 1);
	json_t *r, *ev;
	size_t j;

	NEED_ETCD();
	memset(val, 'v', big);
	val[big] = 0;
	q = etcd_watch(cl, "w/", "w0", 0, on_line, on_end, &w);
	assert_non_null(q);
	w.want_events = 0;
	assert_true(watch_wait(&w));
	assert_true(w.created);
	put("w/big", val, 0);
	put("w/a", "1", 0);
	put("w/b", "2", 0);
	call("/v3/kv/deleterange", json_pack("{s:s}", "key", "dy9h"), &a);
	answer_clear(&a);
	w.want_events = 4;
	assert_true(watch_wait(&w));
	assert_int_equal(w.n_events, 4);
	json_array_foreach(w.lines, i, r)
		json_array_foreach(json_object_get(r, "events"), j, ev) {
			const char *type = json_string_value(
				json_object_get(ev, "type"));
			struct strbuf v = { 0 };
			const char *vb = json_string_value(json_object_get(
				json_object_get(ev, "kv"), "value"));

			if (!type) {
				n_put++;
				assert_true(etcd_unb64(vb, &v));
				if (v.len == big)
					n_big++;
				sb_free(&v);
			} else {
				assert_string_equal(type, "DELETE");
				n_del++;
			}
		}
	assert_int_equal(n_put, 3);
	assert_int_equal(n_big, 1);
	assert_int_equal(n_del, 1);
	etcd_cancel(q);
	json_decref(w.lines);
	free(val);
}

/* After a compaction, a watch from before it is cancelled inline with
 * compact_revision (and the stream stays open); a range pinned to a
 * compacted revision is an error (-ERANGE) with etcd's message. */
static void test_compaction(void **state)
{
	struct watch_log w = { .lines = json_array() };
	struct answer a;
	struct etcd_req *q;
	int64_t first, now;

	NEED_ETCD();
	put("cp/x", "1", 0);
	call("/v3/kv/range", json_pack("{s:s}", "key", "Y3AveA=="), &a);
	first = field64(json_object_get(a.resp, "header"), "revision");
	answer_clear(&a);
	put("cp/x", "2", 0);
	put("cp/x", "3", 0);
	now = first + 2;
	call("/v3/kv/compaction", json_pack("{s:I}", "revision",
					    (json_int_t)now), &a);
	assert_int_equal(a.ret, 0);
	answer_clear(&a);

	q = etcd_watch(cl, "cp/", "cp0", first, on_line, on_end, &w);
	w.want_events = 1000;
	assert_true(watch_wait(&w));
	assert_true(w.canceled);
	assert_false(w.ended);		/* cancelled, not closed */
	assert_int_equal(w.compact_rev, now);
	etcd_cancel(q);

	assert_non_null(etcd_range_all(cl, "cp/", "cp0", first, 10,
				       on_answer, &a));
	run_until(&a.done);
	assert_int_equal(a.ret, -ERANGE);
	assert_non_null(strstr(a.err, "compacted"));
	answer_clear(&a);
	json_decref(w.lines);
}

/* A keepalive of a lease that is gone answers 200 without "TTL"; a put
 * on it answers 404 (-ENOENT). */
static void test_expired_lease(void **state)
{
	struct answer a;
	int64_t id;
	json_t *txn;

	NEED_ETCD();
	id = grant(30);
	call("/v3/lease/keepalive", json_pack("{s:I}", "ID", (json_int_t)id),
	     &a);
	assert_int_equal(a.ret, 0);
	assert_int_equal(field64(json_object_get(a.resp, "result"), "TTL"),
			 30);
	answer_clear(&a);
	call("/v3/lease/revoke", json_pack("{s:I}", "ID", (json_int_t)id),
	     &a);
	assert_int_equal(a.ret, 0);
	answer_clear(&a);

	call("/v3/lease/keepalive", json_pack("{s:I}", "ID", (json_int_t)id),
	     &a);
	assert_int_equal(a.ret, 0);
	assert_non_null(json_object_get(a.resp, "result"));
	assert_null(json_object_get(json_object_get(a.resp, "result"),
				    "TTL"));
	answer_clear(&a);

	txn = etcd_txn(NULL, json_pack("[o]", etcd_op_put("ex/k", "v", id)),
		       NULL);
	call("/v3/kv/txn", txn, &a);
	assert_int_equal(a.ret, -ENOENT);
	assert_non_null(strstr(a.err, "lease not found"));
	answer_clear(&a);
}

/* Delete only while the lease is still ours: another host's key (a newer
 * owner of the address) stays. */
static void test_txn_lease_guard(void **state)
{
	struct answer a;
	int64_t mine, theirs;
	json_t *txn;

	NEED_ETCD();
	mine = grant(60);
	theirs = grant(60);
	put("own/10.0.0.1", "theirs", theirs);
	txn = etcd_txn(json_pack("[o]", etcd_cmp_lease("own/10.0.0.1", mine)),
		       json_pack("[o]", etcd_op_delete("own/10.0.0.1")),
		       NULL);
	call("/v3/kv/txn", txn, &a);
	assert_int_equal(a.ret, 0);
	assert_false(json_is_true(json_object_get(a.resp, "succeeded")));
	answer_clear(&a);
	call("/v3/kv/range", json_pack("{s:s}", "key",
				       "b3duLzEwLjAuMC4x"), &a);
	assert_int_equal(json_array_size(json_object_get(a.resp, "kvs")), 1);
	answer_clear(&a);

	put("own/10.0.0.1", "mine", mine);
	txn = etcd_txn(json_pack("[o]", etcd_cmp_lease("own/10.0.0.1", mine)),
		       json_pack("[o]", etcd_op_delete("own/10.0.0.1")),
		       NULL);
	call("/v3/kv/txn", txn, &a);
	assert_true(json_is_true(json_object_get(a.resp, "succeeded")));
	answer_clear(&a);
}

/* The first member is down: the call fails with -EAGAIN, fail-over moves
 * to the next URL with a jittered backoff, and the call then works. */
static void test_fail_over(void **state)
{
	const char *urls[] = { DEAD_URL, URL };
	struct etcd_opts o = { .urls = urls, .n_urls = 2 };
	struct etcd *e;
	struct answer a = { 0 };
	uint64_t ms;
	char *err;
	int i;

	NEED_ETCD();
	assert_int_equal(etcd_new(loop, &o, &e, &err), 0);
	assert_string_equal(etcd_endpoint(e), DEAD_URL);
	assert_non_null(etcd_call(e, "/v3/kv/range", json_pack("{s:s}", "key",
				  "eA=="), on_answer, &a));
	run_until(&a.done);
	assert_int_equal(a.ret, -EAGAIN);
	assert_non_null(strstr(a.err, DEAD_URL));
	answer_clear(&a);
	ms = etcd_fail_over(e);
	assert_true(ms >= 150 && ms <= 250);
	assert_string_equal(etcd_endpoint(e), URL);
	assert_non_null(etcd_call(e, "/v3/kv/range", json_pack("{s:s}", "key",
				  "eA=="), on_answer, &a));
	run_until(&a.done);
	assert_int_equal(a.ret, 0);
	answer_clear(&a);
	/* the backoff grows to its cap and stays spread around it */
	for (i = 0; i < 20; i++)
		ms = etcd_fail_over(e);
	assert_true(ms >= 3750 && ms <= 6250);
	etcd_ok(e);
	assert_int_equal(etcd_failures(e), 0);
	etcd_free(e);
}

/* A watch cancelled by its owner from inside its own line callback, and
 * the client freed with requests under way: no callback after cancel. */
static int cancel_calls;

static void on_line_cancel(void *arg, json_t *r)
{
	struct etcd_req **q = arg;

	cancel_calls++;
	etcd_cancel(*q);
	*q = NULL;
	ev_stop(loop);
}

static void on_end_never(void *arg, int ret, json_t *resp, const char *err)
{
	fail_msg("a cancelled watch called back");
}

static void test_cancel(void **state)
{
	struct etcd_req *q;
	bool never = false;

	NEED_ETCD();
	q = etcd_watch(cl, "cn/", "cn0", 0, on_line_cancel, on_end_never, &q);
	assert_non_null(q);
	{
		struct ev_timer *t = ev_timer_new(loop, on_deadline, NULL);

		timed_out = false;
		ev_timer_arm(t, 20000, 0);
		while (q && !timed_out)
			ev_run(loop);
		ev_timer_free(t);
	}
	assert_null(q);
	assert_int_equal(cancel_calls, 1);
	/* requests in flight when the client goes */
	etcd_call(cl, "/v3/kv/range", json_pack("{s:s}", "key", "eA=="),
		  on_end_never, NULL);
	etcd_watch(cl, "cn/", "cn0", 0, on_line_cancel, on_end_never, &q);
	etcd_free(cl);
	cl = NULL;
	(void)never;
}

/* ---- a member that lost its leader ---- */

static pid_t start_member(const char *name, int client, int peer,
			  const char *cluster)
{
	char *data = xasprintf("%s/%s", tmpdir, name);
	char *logf = xasprintf("%s/%s.log", tmpdir, name);
	char *curl = xasprintf("http://127.0.0.1:%d", client);
	char *purl = xasprintf("http://127.0.0.1:%d", peer);
	pid_t pid = fork();
	int fd;

	if (pid == 0) {
		fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(ETCD_BIN, "etcd", "--name", name, "--data-dir", data,
		      "--listen-client-urls", curl, "--advertise-client-urls",
		      curl, "--listen-peer-urls", purl,
		      "--initial-advertise-peer-urls", purl,
		      "--initial-cluster", cluster,
		      "--initial-cluster-state", "new", (char *)NULL);
		_exit(127);
	}
	free(data);
	free(logf);
	free(curl);
	free(purl);
	return pid;
}

static bool port_open_n(int port, int tries)
{
	int i;

	for (i = 0; i < tries && !port_open(port); i++)
		usleep(100 * 1000);
	return i < tries;
}

/* Two members; the second is killed, so the first (without quorum) has no
 * leader. A watch on it with Grpc-Metadata-hasleader: true ends with an
 * error instead of hanging silently (without the header it hangs: seen
 * by taking the header out of etcd.c). */
static void test_no_leader(void **state)
{
	const char *cl2 = "m1=http://127.0.0.1:2480,m2=http://127.0.0.1:2580";
	const char *urls[] = { "http://127.0.0.1:2479" };
	struct etcd_opts o = { .urls = urls, .n_urls = 1, .timeout_ms = 3000 };
	struct watch_log w = { 0 };
	struct answer a = { 0 };
	struct etcd *e;
	struct etcd_req *q;
	pid_t m1, m2;
	char *err;
	int i;

	NEED_ETCD();
	m1 = start_member("m1", 2479, 2480, cl2);
	m2 = start_member("m2", 2579, 2580, cl2);
	assert_true(port_open_n(2479, 300) && port_open_n(2579, 300));
	assert_int_equal(etcd_new(loop, &o, &e, &err), 0);
	/* the two elect a leader: a put goes through */
	for (i = 0; i < 100; i++) {
		memset(&a, 0, sizeof(a));
		assert_non_null(etcd_call(e, "/v3/kv/put", json_pack(
			"{s:s, s:s}", "key", "bmw=", "value", "eA=="),
			on_answer, &a));
		run_until(&a.done);
		if (a.ret == 0)
			break;
		answer_clear(&a);
		usleep(200 * 1000);
	}
	assert_int_equal(a.ret, 0);
	answer_clear(&a);
	kill(m2, SIGKILL);
	waitpid(m2, NULL, 0);
	/* m1 steps down once it misses its peer (check quorum, ~1 s); each
	 * try waits up to 20 s for the watch to end */
	for (i = 0; i < 10; i++) {
		w.lines = json_array();
		w.ended = false;
		w.want_events = 1;
		q = etcd_watch(e, "nl/", "nl0", 0, on_line, on_end, &w);
		assert_non_null(q);
		watch_wait(&w);
		json_decref(w.lines);
		if (w.ended)
			break;
		etcd_cancel(q);
	}
	assert_true(w.ended);
	assert_true(w.ret < 0);
	etcd_free(e);
	kill(m1, SIGTERM);
	waitpid(m1, NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_int64),
		cmocka_unit_test(test_prefix_end),
		cmocka_unit_test(test_bad_opts),
		cmocka_unit_test_setup(test_empty_range, client),
		cmocka_unit_test_setup(test_range_paged_pinned, client),
		cmocka_unit_test_setup(test_range_pages, client),
		cmocka_unit_test_setup(test_watch_lines, client),
		cmocka_unit_test_setup(test_compaction, client),
		cmocka_unit_test_setup(test_expired_lease, client),
		cmocka_unit_test_setup(test_txn_lease_guard, client),
		cmocka_unit_test_setup(test_fail_over, client),
		cmocka_unit_test_setup(test_cancel, client),
		cmocka_unit_test(test_no_leader),
	};

	return cmocka_run_group_tests_name("etcd", tests, setup, teardown);
}

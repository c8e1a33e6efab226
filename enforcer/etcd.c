/* etcd v3 JSON gateway client: libcurl multi driven by the daemon's event
 * loop (as docker.c drives the Engine API), jansson for the bodies. See
 * include/etcd.h for the gateway's traps and how each is met. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "curlev.h"
#include "etcd.h"
#include "ev.h"
#include "log.h"
#include "util.h"

#define ETCD_MAX_BODY (64u << 20)
#define ETCD_MAX_LINE (64u << 20)
#define ETCD_BACKOFF_MIN_MS 200
#define ETCD_BACKOFF_MAX_MS 5000
#define ETCD_TIMEOUT_MS 10000L

struct etcd_req {
	struct etcd *e;
	CURL *h;
	char *body_out;			/* what we send */
	struct strbuf body;		/* what came back (unary), or the
					 * line being read (watch) */
	bool watch;
	bool too_big;
	bool dead;			/* cancelled: no callback */
	/* watch: complete lines wait here until curl returns, since curl's
	 * callbacks may not start or stop transfers (and ours do) */
	struct strbuf *lines;
	size_t n_lines, cap_lines;
	etcd_cb cb;
	etcd_line_cb line;
	/* a unary call's HTTP 200 body, unparsed; false: parse it as JSON
	 * and call cb as for any call */
	bool (*raw)(void *arg, const char *body, size_t len);
	void *arg;
	struct etcd_req *next;
};

struct etcd {
	struct ev_loop *loop;
	char **urls;
	size_t n_urls, cur;
	char *ca, *cert, *key;
	long timeout_ms;
	CURLM *multi;
	struct curl_slist *headers;
	struct curlev *cev;		/* multi's sockets and timer */
	struct etcd_req *reqs;
	struct etcd_req *dead;		/* freed once curl has returned */
	unsigned depth;			/* inside check_done */
	unsigned long failures;
	uint64_t rnd;
};

/* ---- base64, int64, keys ---- */

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *etcd_b64(const char *p, size_t n)
{
	const unsigned char *s = (const unsigned char *)p;
	char *out = xmalloc(4 * ((n + 2) / 3) + 1), *o = out;
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		*o++ = b64chars[s[i] >> 2];
		*o++ = b64chars[(s[i] & 3) << 4 | s[i + 1] >> 4];
		*o++ = b64chars[(s[i + 1] & 15) << 2 | s[i + 2] >> 6];
		*o++ = b64chars[s[i + 2] & 63];
	}
	if (i < n) {
		*o++ = b64chars[s[i] >> 2];
		if (i + 1 < n) {
			*o++ = b64chars[(s[i] & 3) << 4 | s[i + 1] >> 4];
			*o++ = b64chars[(s[i + 1] & 15) << 2];
		} else {
			*o++ = b64chars[(s[i] & 3) << 4];
			*o++ = '=';
		}
		*o++ = '=';
	}
	*o = 0;
	return out;
}

/* 0..63 for a base64 digit, 64 for '=', 255 for anything else: one
 * lookup a byte (a sync decodes every key and value of the prefix) */
static uint8_t b64dec[256];

static void b64dec_init(void)
{
	size_t i;

	if (b64dec['='] == 64)
		return;
	memset(b64dec, 255, sizeof(b64dec));
	for (i = 0; i < 64; i++)
		b64dec[(unsigned char)b64chars[i]] = (uint8_t)i;
	b64dec['='] = 64;
}

/* Decodes n characters of s into out (room for 3 * n / 4 bytes); false
 * on anything that is not padded base64. */
static bool unb64(const char *s, size_t n, char *out, size_t *out_len)
{
	const unsigned char *u = (const unsigned char *)s;
	char *o = out;
	unsigned v0, v1, v2, v3;
	size_t i;

	b64dec_init();
	if (n % 4)
		return false;
	for (i = 0; i < n; i += 4) {
		bool last = i + 4 == n;

		v0 = b64dec[u[i]];
		v1 = b64dec[u[i + 1]];
		v2 = b64dec[u[i + 2]];
		v3 = b64dec[u[i + 3]];
		if (v0 > 63 || v1 > 63 || v2 == 255 || v3 == 255)
			return false;
		/* padding only at the end: "xx==" or "xxx=" */
		if ((v2 == 64 || v3 == 64) && !last)
			return false;
		if (v2 == 64 && v3 != 64)
			return false;
		*o++ = (char)(v0 << 2 | v1 >> 4);
		if (v2 != 64)
			*o++ = (char)((v1 & 15) << 4 | v2 >> 2);
		if (v2 != 64 && v3 != 64)
			*o++ = (char)((v2 & 3) << 6 | v3);
	}
	*out_len = (size_t)(o - out);
	return true;
}

bool etcd_unb64(const char *s, struct strbuf *out)
{
	size_t n = strlen(s), len = out->len, got;

	xgrow(&out->buf, &out->cap, len + n / 4 * 3 + 1, 1);
	if (!unb64(s, n, out->buf + len, &got)) {
		out->buf[len] = 0;
		return false;
	}
	out->len = len + got;
	out->buf[out->len] = 0;
	return true;
}

bool etcd_int64(const json_t *o, const char *field, int64_t *out)
{
	const json_t *v = json_object_get(o, field);
	const char *s;
	char *end;
	long long x;

	*out = 0;
	if (!v)
		return true;
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return true;
	}
	if (!json_is_string(v))
		return false;
	s = json_string_value(v);
	if (!*s)
		return false;
	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*out = x;
	return true;
}

char *etcd_prefix_end(const char *prefix)
{
	char *end = xstrdup(prefix);
	size_t n = strlen(end);

	/* the last byte that is not 0xff, plus one, and nothing after it */
	while (n && (unsigned char)end[n - 1] == 0xff)
		end[--n] = 0;
	if (!n) {		/* every key: the gateway's "\0" */
		free(end);
		return xstrdup("");
	}
	end[n - 1]++;
	return end;
}

static json_t *b64_string(const char *s)
{
	char *b = etcd_b64(s, strlen(s));
	json_t *j = json_string(b);

	free(b);
	return j;
}

static json_t *int64_string(int64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", (long long)v);
	return json_string(buf);
}

json_t *etcd_op_put(const char *key, const char *value, int64_t lease)
{
	json_t *p = json_object();

	json_object_set_new(p, "key", b64_string(key));
	json_object_set_new(p, "value", b64_string(value));
	if (lease)
		json_object_set_new(p, "lease", int64_string(lease));
	return json_pack("{s:o}", "request_put", p);
}

json_t *etcd_op_delete(const char *key)
{
	return json_pack("{s:{s:o}}", "request_delete_range", "key",
			 b64_string(key));
}

json_t *etcd_cmp_lease(const char *key, int64_t lease)
{
	/* an absent lease (0) is omitted by the gateway's encoder; the
	 * server reads it as 0 all the same */
	return json_pack("{s:o, s:s, s:s, s:o}", "key", b64_string(key),
			 "target", "LEASE", "result", "EQUAL", "lease",
			 int64_string(lease));
}

json_t *etcd_txn(json_t *cmp, json_t *ok, json_t *ko)
{
	json_t *t = json_object();

	if (cmp)
		json_object_set_new(t, "compare", cmp);
	if (ok)
		json_object_set_new(t, "success", ok);
	if (ko)
		json_object_set_new(t, "failure", ko);
	return t;
}

/* ---- errors ---- */

/* gRPC status codes the gateway puts in "code" */
static int grpc_errno(int64_t code)
{
	switch (code) {
	case 5:		/* NotFound */
		return -ENOENT;
	case 11:	/* OutOfRange: compacted revision */
		return -ERANGE;
	case 14:	/* Unavailable: no leader, stopping */
	case 4:		/* DeadlineExceeded */
		return -EAGAIN;
	default:
		return -EIO;
	}
}

/* A unary error is {"error":"text","code":N,"message":"text"}; a watch
 * line's is {"error":{"grpc_code":N,"http_code":N,"message":"text",...}}. */
static int answer_error(json_t *o, const char **msg)
{
	json_t *er = json_object_get(o, "error");
	int64_t code = 0;

	if (!er)
		return 0;
	if (json_is_object(er)) {
		if (!etcd_int64(er, "grpc_code", &code))
			code = 0;
		*msg = json_string_value(json_object_get(er, "message"));
	} else {
		if (!etcd_int64(o, "code", &code))
			code = 0;
		*msg = json_string_value(json_object_get(o, "message")) ?:
		       json_string_value(er);
	}
	if (!*msg)
		*msg = "etcd answered an error without a message";
	return grpc_errno(code) ?: -EIO;
}

/* ---- curl on the event loop ---- */

static void check_done(struct etcd *e);

/* curlev's done(): read what finished */
static void curl_done(void *arg)
{
	check_done(arg);
}

static void queue_line(struct etcd_req *q)
{
	xgrow(&q->lines, &q->cap_lines, q->n_lines + 1, sizeof(*q->lines));
	q->lines[q->n_lines++] = q->body;
	memset(&q->body, 0, sizeof(q->body));
}

static size_t write_cb(char *p, size_t sz, size_t nm, void *arg)
{
	struct etcd_req *q = arg;
	size_t n = sz * nm, i, start = 0;

	if (!q->watch) {
		if (q->body.len + n > ETCD_MAX_BODY) {
			q->too_big = true;
			return 0;	/* aborts the transfer */
		}
		sb_putn(&q->body, p, n);
		return n;
	}
	/* a line may span chunks and a chunk may hold several lines */
	while (start < n) {
		for (i = start; i < n && p[i] != '\n'; i++)
			;
		if (q->body.len + (i - start) > ETCD_MAX_LINE) {
			q->too_big = true;
			return 0;
		}
		sb_putn(&q->body, p + start, i - start);
		if (i < n) {
			if (q->body.len)
				queue_line(q);
			i++;
		}
		start = i;
	}
	return n;
}

static void req_unlink(struct etcd_req *q)
{
	struct etcd_req **pp;

	for (pp = &q->e->reqs; *pp; pp = &(*pp)->next)
		if (*pp == q) {
			*pp = q->next;
			return;
		}
}

static void req_free(struct etcd_req *q)
{
	size_t i;

	if (q->h)
		curl_easy_cleanup(q->h);
	for (i = 0; i < q->n_lines; i++)
		sb_free(&q->lines[i]);
	free(q->lines);
	sb_free(&q->body);
	free(q->body_out);
	free(q);
}

/* Stops the transfer now; the memory goes once nothing on the stack can
 * hold it (a callback cancelling its own or another request). */
static void req_kill(struct etcd_req *q)
{
	if (q->dead)
		return;
	q->dead = true;
	req_unlink(q);
	if (q->h)
		curl_multi_remove_handle(q->e->multi, q->h);
	q->next = q->e->dead;
	q->e->dead = q;
}

void etcd_cancel(struct etcd_req *q)
{
	if (q)
		req_kill(q);
}

/* Hands a watch's complete lines to its owner; false when the owner
 * cancelled it meanwhile, or it ended on an error line. */
static bool deliver_lines(struct etcd_req *q)
{
	size_t i;

	for (i = 0; i < q->n_lines && !q->dead; i++) {
		json_error_t je;
		json_t *o = json_loadb(q->lines[i].buf, q->lines[i].len, 0,
				       &je);
		const char *msg = NULL;
		int ret;

		if (!o || !json_is_object(o)) {
			char *why = xasprintf("watch: a line that is not a "
					      "JSON object: %s", je.text);

			req_kill(q);
			q->cb(q->arg, -EIO, NULL, why);
			free(why);
		} else if ((ret = answer_error(o, &msg)) < 0) {
			req_kill(q);
			q->cb(q->arg, ret, NULL, msg);
		} else if (json_is_object(json_object_get(o, "result"))) {
			q->line(q->arg, json_object_get(o, "result"));
		}
		json_decref(o);
	}
	for (i = 0; i < q->n_lines; i++)
		sb_free(&q->lines[i]);
	q->n_lines = 0;
	return !q->dead;
}

static void finish(struct etcd_req *q, CURLcode res)
{
	struct etcd *e = q->e;
	long code = 0;
	json_t *o = NULL;
	json_error_t je;
	const char *msg = NULL;
	char *why = NULL;
	int ret = 0;

	curl_easy_getinfo(q->h, CURLINFO_RESPONSE_CODE, &code);
	if (q->watch) {
		if (q->body.len && res == CURLE_OK)
			queue_line(q);
		if (!deliver_lines(q))
			return;
	}
	if (q->raw && !q->too_big && res == CURLE_OK && code == 200) {
		/* the body stays until curl has returned (req_free) */
		req_kill(q);
		if (q->raw(q->arg, q->body.buf ?: "", q->body.len))
			return;
	}
	if (q->too_big) {
		ret = -EFBIG;
		why = xstrdup("answer too large");
	} else if (res != CURLE_OK) {
		ret = -EAGAIN;
		why = xasprintf("%s: %s", etcd_endpoint(e),
				curl_easy_strerror(res));
	} else if (!q->watch) {
		o = json_loadb(q->body.buf ?: "", q->body.len, 0, &je);
		if (o && json_is_object(o))
			ret = answer_error(o, &msg);
		if (ret < 0)
			why = xstrdup(msg);
		else if (code != 200 || !json_is_object(o))
			ret = -EIO, why = xasprintf(
				"%s: HTTP %ld, %s", etcd_endpoint(e), code,
				o ? "an answer that is not an object" : je.text);
	} else if (code != 200) {
		ret = -EIO;
		why = xasprintf("%s: watch: HTTP %ld", etcd_endpoint(e), code);
	}
	req_kill(q);
	q->cb(q->arg, ret, ret < 0 ? NULL : o, why);
	json_decref(o);
	free(why);
}

static void check_done(struct etcd *e)
{
	struct etcd_req *q, *nx;
	CURLMsg *m;
	int left;

	e->depth++;
	/* watch lines first, in stream order, then completions */
	for (q = e->reqs; q; q = nx) {
		nx = q->next;
		if (q->watch && q->n_lines) {
			deliver_lines(q);
			/* the owner may have cancelled any request: start
			 * over from the head (each pass empties one queue) */
			nx = e->reqs;
		}
	}
	while ((m = curl_multi_info_read(e->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &q);
		if (q && !q->dead)
			finish(q, m->data.result);
	}
	if (!--e->depth)
		while ((q = e->dead)) {
			e->dead = q->next;
			req_free(q);
		}
}

static struct etcd_req *req_start(struct etcd *e, const char *path,
				  json_t *body, bool watch, etcd_cb cb,
				  etcd_line_cb line, void *arg)
{
	struct etcd_req *q = xcalloc(1, sizeof(*q));
	char *url = xasprintf("%s%s", e->urls[e->cur], path);

	q->e = e;
	q->watch = watch;
	q->cb = cb;
	q->line = line;
	q->arg = arg;
	q->body_out = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	q->h = curl_easy_init();
	if (!q->h || !q->body_out)
		goto fail;
	curl_easy_setopt(q->h, CURLOPT_URL, url);
	curl_easy_setopt(q->h, CURLOPT_POSTFIELDS, q->body_out);
	curl_easy_setopt(q->h, CURLOPT_HTTPHEADER, e->headers);
	curl_easy_setopt(q->h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(q->h, CURLOPT_WRITEDATA, q);
	curl_easy_setopt(q->h, CURLOPT_PRIVATE, q);
	curl_easy_setopt(q->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(q->h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(q->h, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
	/* a peer that vanished without a FIN (a partition, a dead host) is
	 * found by the kernel's keepalive probes, not by waiting forever */
	curl_easy_setopt(q->h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(q->h, CURLOPT_TCP_KEEPIDLE, 5L);
	curl_easy_setopt(q->h, CURLOPT_TCP_KEEPINTVL, 5L);
	if (!watch)
		curl_easy_setopt(q->h, CURLOPT_TIMEOUT_MS, e->timeout_ms);
	if (e->ca)
		curl_easy_setopt(q->h, CURLOPT_CAINFO, e->ca);
	if (e->cert)
		curl_easy_setopt(q->h, CURLOPT_SSLCERT, e->cert);
	if (e->key)
		curl_easy_setopt(q->h, CURLOPT_SSLKEY, e->key);
	if (curl_multi_add_handle(e->multi, q->h) != CURLM_OK)
		goto fail;
	q->next = e->reqs;
	e->reqs = q;
	free(url);
	return q;
fail:
	log_err("etcd: cannot start a request for %s", path);
	free(url);
	req_free(q);
	return NULL;
}

struct etcd_req *etcd_call(struct etcd *e, const char *path, json_t *body,
			   etcd_cb cb, void *arg)
{
	return req_start(e, path, body, false, cb, NULL, arg);
}

struct etcd_req *etcd_watch(struct etcd *e, const char *key,
			    const char *range_end, int64_t start_rev,
			    etcd_line_cb line, etcd_cb end, void *arg)
{
	json_t *cr = json_pack("{s:o}", "key", b64_string(key));

	if (range_end)
		json_object_set_new(cr, "range_end", b64_string(range_end));
	if (start_rev)
		json_object_set_new(cr, "start_revision",
				    int64_string(start_rev));
	/* the previous value of a deleted key is not needed: its key names
	 * the address */
	return req_start(e, "/v3/watch", json_pack("{s:o}", "create_request",
						   cr), true, end, line, arg);
}

/* ---- a paged range pinned to one revision ---- */

struct etcd_range_all {
	struct etcd *e;
	char *end;
	size_t page;
	int64_t rev;
	json_t *kvs;			/* etcd_range_all: every page's */
	struct etcd_req *q;
	etcd_page_cb page_cb;
	etcd_cb cb;
	void *arg;
	/* one page decoded: keys and values, each NUL-terminated, in one
	 * buffer (offsets until the page is complete, as it may move) */
	struct strbuf text;
	struct etcd_kv *v;
	size_t cap_v;
	bool in_page, cancelled;
};

static void range_page(struct etcd_range_all *r, const char *key,
		       size_t key_len);

static void range_all_free(struct etcd_range_all *r)
{
	free(r->end);
	json_decref(r->kvs);
	sb_free(&r->text);
	free(r->v);
	free(r);
}

/* b64 (n characters) decoded onto the end of r->text, NUL after it;
 * *off: where it starts. */
static bool page_text(struct etcd_range_all *r, const char *b64, size_t n,
		      size_t *off, size_t *len)
{
	*off = r->text.len;
	xgrow(&r->text.buf, &r->text.cap, r->text.len + n / 4 * 3 + 1, 1);
	if (!unb64(b64, n, r->text.buf + r->text.len, len))
		return false;
	r->text.len += *len;
	r->text.buf[r->text.len++] = 0;
	return true;
}

/* The page's kvs into r->v; false on a key that cannot be read. */
static bool decode_page(struct etcd_range_all *r, json_t *kvs, size_t *n)
{
	size_t i, ko, kl, vo, vl;
	json_t *kv, *k, *v;

	sb_reset(&r->text);
	xgrow(&r->v, &r->cap_v, json_array_size(kvs) + 1, sizeof(*r->v));
	json_array_foreach(kvs, i, kv) {
		struct etcd_kv *o = &r->v[i];

		k = json_object_get(kv, "key");
		v = json_object_get(kv, "value");	/* absent: empty */
		if (!json_is_string(k) || (v && !json_is_string(v)) ||
		    !page_text(r, json_string_value(k),
			       json_string_length(k), &ko, &kl) ||
		    !page_text(r, v ? json_string_value(v) : "",
			       v ? json_string_length(v) : 0, &vo, &vl) ||
		    !etcd_int64(kv, "mod_revision", &o->mod_revision) ||
		    !etcd_int64(kv, "lease", &o->lease))
			return false;
		o->key = (const char *)(uintptr_t)ko;
		o->key_len = kl;
		o->value = (const char *)(uintptr_t)vo;
		o->value_len = vl;
	}
	*n = i;
	for (i = 0; i < *n; i++) {
		r->v[i].key = r->text.buf + (uintptr_t)r->v[i].key;
		r->v[i].value = r->text.buf + (uintptr_t)r->v[i].value;
	}
	return true;
}

/* ---- a range answer without jansson ----
 *
 * A 10,000-key page is ~1.8 MB of JSON; jansson builds an object with its
 * own hash table per key, which cost more than everything else the sync
 * does with the page. This reads just what a range answer has: strings
 * without escapes (base64 and digits need none), other values skipped.
 * Anything it does not expect makes it give up: the caller parses the
 * page with jansson instead, as before. */

struct jscan {
	const char *p, *e;
};

static void js_ws(struct jscan *j)
{
	while (j->p < j->e && (*j->p == ' ' || *j->p == '\n' ||
			       *j->p == '\t' || *j->p == '\r'))
		j->p++;
}

static bool js_lit(struct jscan *j, char c)
{
	js_ws(j);
	if (j->p >= j->e || *j->p != c)
		return false;
	j->p++;
	return true;
}

/* A string without escapes: its bytes, not NUL-terminated. */
static bool js_str(struct jscan *j, const char **s, size_t *n)
{
	const char *b, *q;

	js_ws(j);
	if (j->p >= j->e || *j->p != '"')
		return false;
	b = j->p + 1;
	q = memchr(b, '"', (size_t)(j->e - b));
	if (!q || memchr(b, '\\', (size_t)(q - b)))
		return false;
	*s = b;
	*n = (size_t)(q - b);
	j->p = q + 1;
	return true;
}

static bool js_is(const char *s, size_t n, const char *want)
{
	return n == strlen(want) && !memcmp(s, want, n);
}

static bool js_skip(struct jscan *j, int depth)
{
	const char *b;
	char close;

	js_ws(j);
	if (j->p >= j->e || depth > 16)
		return false;
	switch (*j->p) {
	case '"':
		for (j->p++; j->p < j->e && *j->p != '"'; j->p++)
			if (*j->p == '\\')
				j->p++;
		if (j->p >= j->e)
			return false;
		j->p++;
		return true;
	case '{':
	case '[':
		close = *j->p == '{' ? '}' : ']';
		j->p++;
		if (js_lit(j, close))
			return true;
		do {
			if (close == '}' && (!js_skip(j, depth + 1) ||
					     !js_lit(j, ':')))
				return false;
			if (!js_skip(j, depth + 1))
				return false;
		} while (js_lit(j, ','));
		return js_lit(j, close);
	default:	/* a number, true, false, null */
		for (b = j->p; j->p < j->e && *j->p != ',' && *j->p != '}' &&
		     *j->p != ']' && *j->p != ' ' && *j->p != '\n'; j->p++)
			;
		return j->p > b;
	}
}

/* An int64: a string of digits (the gateway's) or a number. */
static bool js_int64(struct jscan *j, int64_t *out)
{
	const char *b;
	char buf[24], *end;
	long long x;
	size_t n;

	js_ws(j);
	if (j->p < j->e && *j->p == '"') {
		if (!js_str(j, &b, &n))
			return false;
	} else {
		for (b = j->p; j->p < j->e && ((*j->p >= '0' && *j->p <= '9') ||
					       *j->p == '-'); j->p++)
			;
		n = (size_t)(j->p - b);
	}
	if (!n || n >= sizeof(buf))
		return false;
	memcpy(buf, b, n);
	buf[n] = 0;
	errno = 0;
	x = strtoll(buf, &end, 10);
	if (errno || *end)
		return false;
	*out = x;
	return true;
}

static bool page_text(struct etcd_range_all *r, const char *b64, size_t n,
		      size_t *off, size_t *len);

/* One {"key","value","mod_revision","lease",...} of "kvs" into r->v[i]
 * (offsets into r->text). */
static bool js_kv(struct etcd_range_all *r, struct jscan *j, size_t i)
{
	struct etcd_kv *o;
	const char *k, *v;
	size_t kn, vn, off, len;
	bool have_key = false, have_value = false;

	xgrow(&r->v, &r->cap_v, i + 1, sizeof(*r->v));
	o = &r->v[i];
	memset(o, 0, sizeof(*o));
	if (!js_lit(j, '{'))
		return false;
	if (js_lit(j, '}'))
		return false;	/* no key */
	do {
		if (!js_str(j, &k, &kn) || !js_lit(j, ':'))
			return false;
		if (js_is(k, kn, "key") || js_is(k, kn, "value")) {
			bool key = kn == 3;

			if ((key ? have_key : have_value) ||
			    !js_str(j, &v, &vn) ||
			    !page_text(r, v, vn, &off, &len))
				return false;
			if (key) {
				o->key = (const char *)(uintptr_t)off;
				o->key_len = len;
				have_key = true;
			} else {
				o->value = (const char *)(uintptr_t)off;
				o->value_len = len;
				have_value = true;
			}
		} else if (js_is(k, kn, "mod_revision")) {
			if (!js_int64(j, &o->mod_revision))
				return false;
		} else if (js_is(k, kn, "lease")) {
			if (!js_int64(j, &o->lease))
				return false;
		} else if (!js_skip(j, 1)) {
			return false;
		}
	} while (js_lit(j, ','));
	if (!have_key || !js_lit(j, '}'))
		return false;
	if (!have_value) {	/* an empty value is left out */
		page_text(r, "", 0, &off, &len);
		o->value = (const char *)(uintptr_t)off;
	}
	return true;
}

/* The whole answer: header.revision, kvs, more. false: not one we can
 * read this way (r->v and r->text are then to be ignored). */
static bool js_range(struct etcd_range_all *r, const char *body, size_t len,
		     int64_t *rev, bool *more, size_t *n)
{
	struct jscan j = { body, body + len };
	const char *k;
	size_t kn, i = 0;

	*rev = 0;
	*more = false;
	sb_reset(&r->text);
	if (!js_lit(&j, '{'))
		return false;
	if (js_lit(&j, '}'))
		goto end;
	do {
		if (!js_str(&j, &k, &kn) || !js_lit(&j, ':'))
			return false;
		if (js_is(k, kn, "header")) {
			if (!js_lit(&j, '{'))
				return false;
			if (js_lit(&j, '}'))
				continue;
			do {
				if (!js_str(&j, &k, &kn) || !js_lit(&j, ':'))
					return false;
				if (js_is(k, kn, "revision") ?
				    !js_int64(&j, rev) : !js_skip(&j, 2))
					return false;
			} while (js_lit(&j, ','));
			if (!js_lit(&j, '}'))
				return false;
		} else if (js_is(k, kn, "kvs")) {
			if (!js_lit(&j, '['))
				return false;
			if (js_lit(&j, ']'))
				continue;
			do {
				if (!js_kv(r, &j, i++))
					return false;
			} while (js_lit(&j, ','));
			if (!js_lit(&j, ']'))
				return false;
		} else if (js_is(k, kn, "more")) {
			js_ws(&j);
			*more = j.e - j.p >= 4 && !memcmp(j.p, "true", 4);
			if (!js_skip(&j, 1))
				return false;
		} else if (js_is(k, kn, "error")) {
			return false;	/* jansson's path says what */
		} else if (!js_skip(&j, 1)) {
			return false;
		}
	} while (js_lit(&j, ','));
	if (!js_lit(&j, '}'))
		return false;
end:
	js_ws(&j);
	if (j.p != j.e)
		return false;
	*n = i;
	for (i = 0; i < *n; i++) {
		r->v[i].key = r->text.buf + (uintptr_t)r->v[i].key;
		r->v[i].value = r->text.buf + (uintptr_t)r->v[i].value;
	}
	return true;
}

/* etcd_range_all's page callback: every page kept as JSON */
static void keep_page(void *arg, int64_t rev, const struct etcd_kv *kvs,
		      size_t n)
{
	struct etcd_range_all *r = arg;
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(r->kvs, json_pack(
			"{s:s%, s:s%, s:I, s:I}", "key", kvs[i].key,
			kvs[i].key_len, "value", kvs[i].value,
			kvs[i].value_len, "mod_revision",
			(json_int_t)kvs[i].mod_revision, "lease",
			(json_int_t)kvs[i].lease));
}

/* A page read (r->v, n keys; hdr_rev from its header): ask for the next,
 * hand this one over, end after the last. */
static void range_next(struct etcd_range_all *r, int64_t hdr_rev, bool more,
		       size_t n)
{
	const char *err;
	json_t *out;
	int ret;

	if (!r->rev) {
		if (hdr_rev <= 0) {
			ret = -EIO, err = "range: no revision in the header";
			goto fail;
		}
		r->rev = hdr_rev;
	}
	if (more && n) {
		/* the next page starts just after the last key (the key and
		 * a NUL: r->text has it so); asked for now, so that etcd
		 * reads it while this one is used */
		range_page(r, r->v[n - 1].key, r->v[n - 1].key_len + 1);
		if (!r->q) {
			ret = -ENOMEM, err = "range: cannot start a request";
			goto fail;
		}
	}
	if (n) {
		r->in_page = true;
		r->page_cb(r->page_cb == keep_page ? (void *)r : r->arg,
			   r->rev, r->v, n);
		r->in_page = false;
		if (r->cancelled)
			goto cancelled;
	}
	sb_free(&r->text);
	if (more && n)
		return;
	out = r->kvs ? json_pack("{s:I, s:O}", "revision", (json_int_t)r->rev,
				 "kvs", r->kvs) :
		       json_pack("{s:I}", "revision", (json_int_t)r->rev);
	r->cb(r->arg, 0, out, NULL);
	json_decref(out);
	range_all_free(r);
	return;
fail:
	etcd_cancel(r->q);
	r->q = NULL;
	r->cb(r->arg, ret, NULL, err);
cancelled:
	etcd_cancel(r->q);
	range_all_free(r);
}

/* A 200 answer, read without jansson; false: let jansson read it. */
static bool range_raw(void *arg, const char *body, size_t len)
{
	struct etcd_range_all *r = arg;
	int64_t rev;
	size_t n;
	bool more;

	if (!js_range(r, body, len, &rev, &more, &n))
		return false;
	r->q = NULL;
	range_next(r, rev, more, n);
	return true;
}

/* An error, or an answer js_range did not take. */
static void range_done(void *arg, int ret, json_t *resp, const char *err)
{
	struct etcd_range_all *r = arg;
	json_t *kvs;
	int64_t rev = 0;
	size_t n;

	r->q = NULL;
	if (ret < 0)
		goto fail;
	kvs = json_object_get(resp, "kvs");	/* absent when empty */
	if (!etcd_int64(json_object_get(resp, "header"), "revision", &rev)) {
		ret = -EIO, err = "range: no revision in the header";
		goto fail;
	}
	if (!decode_page(r, kvs, &n)) {
		ret = -EIO, err = "range: a key that cannot be read";
		goto fail;
	}
	range_next(r, rev, json_is_true(json_object_get(resp, "more")), n);
	return;
fail:
	r->cb(r->arg, ret, NULL, err);
	range_all_free(r);
}

static void range_page(struct etcd_range_all *r, const char *key,
		       size_t key_len)
{
	char *kb = etcd_b64(key, key_len);
	json_t *b = json_pack("{s:s, s:o, s:o}", "key", kb, "range_end",
			      b64_string(r->end), "limit",
			      int64_string((int64_t)r->page));

	if (r->rev)
		json_object_set_new(b, "revision", int64_string(r->rev));
	free(kb);
	r->q = etcd_call(r->e, "/v3/kv/range", b, range_done, r);
	if (r->q)
		r->q->raw = range_raw;
}

struct etcd_range_all *etcd_range_pages(struct etcd *e, const char *key,
					const char *range_end, int64_t rev,
					size_t page, etcd_page_cb page_cb,
					etcd_cb cb, void *arg)
{
	struct etcd_range_all *r = xcalloc(1, sizeof(*r));

	r->e = e;
	r->rev = rev;
	r->end = xstrdup(range_end);
	r->page = page ? page : 1000;
	r->page_cb = page_cb;
	r->cb = cb;
	r->arg = arg;
	range_page(r, key, strlen(key));
	if (!r->q) {
		range_all_free(r);
		return NULL;
	}
	return r;
}

struct etcd_range_all *etcd_range_all(struct etcd *e, const char *key,
				      const char *range_end, int64_t rev,
				      size_t page, etcd_cb cb, void *arg)
{
	struct etcd_range_all *r = etcd_range_pages(e, key, range_end, rev,
						    page, keep_page, cb, arg);

	if (r)
		r->kvs = json_array();
	return r;
}

void etcd_range_all_cancel(struct etcd_range_all *r)
{
	if (!r)
		return;
	if (r->in_page) {	/* range_done frees it once back */
		r->cancelled = true;
		return;
	}
	etcd_cancel(r->q);
	range_all_free(r);
}

/* ---- the client ---- */

const char *etcd_endpoint(const struct etcd *e)
{
	return e->urls[e->cur];
}

static uint64_t rnd(struct etcd *e)
{
	/* xorshift64: jitter, not secrets */
	e->rnd ^= e->rnd << 13;
	e->rnd ^= e->rnd >> 7;
	e->rnd ^= e->rnd << 17;
	return e->rnd;
}

uint64_t etcd_fail_over(struct etcd *e)
{
	uint64_t ms = ETCD_BACKOFF_MIN_MS;
	unsigned long i;

	e->cur = (e->cur + 1) % e->n_urls;
	for (i = 0; i < e->failures && ms < ETCD_BACKOFF_MAX_MS; i++)
		ms *= 2;
	if (ms > ETCD_BACKOFF_MAX_MS)
		ms = ETCD_BACKOFF_MAX_MS;
	e->failures++;
	return ms - ms / 4 + rnd(e) % (ms / 2 + 1);
}

void etcd_ok(struct etcd *e)
{
	e->failures = 0;
}

unsigned long etcd_failures(const struct etcd *e)
{
	return e->failures;
}

static bool url_ok(const char *u)
{
	return (!strncmp(u, "http://", 7) && u[7]) ||
	       (!strncmp(u, "https://", 8) && u[8]);
}

int etcd_new(struct ev_loop *l, const struct etcd_opts *o, struct etcd **out,
	     char **err)
{
	const char *files[3] = { o->ca, o->cert, o->key };
	const char *names[3] = { "--etcd-ca", "--etcd-cert", "--etcd-key" };
	struct etcd *e;
	size_t i, n;

	*out = NULL;
	*err = NULL;
	if (!o->n_urls) {
		*err = xstrdup("no etcd URL");
		return -EINVAL;
	}
	for (i = 0; i < o->n_urls; i++)
		if (!url_ok(o->urls[i])) {
			*err = xasprintf("%s: not an http:// or https:// URL",
					 o->urls[i]);
			return -EINVAL;
		}
	for (i = 0; i < 3; i++)
		if (files[i] && access(files[i], R_OK) < 0) {
			*err = xasprintf("%s %s: %s", names[i], files[i],
					 strerror(errno));
			return -EINVAL;
		}
	if (!o->cert != !o->key) {
		*err = xstrdup("--etcd-cert and --etcd-key go together");
		return -EINVAL;
	}
	e = xcalloc(1, sizeof(*e));
	e->loop = l;
	e->urls = xcalloc(o->n_urls, sizeof(*e->urls));
	for (i = 0; i < o->n_urls; i++) {
		e->urls[i] = xstrdup(o->urls[i]);
		n = strlen(e->urls[i]);
		while (n > 8 && e->urls[i][n - 1] == '/')
			e->urls[i][--n] = 0;
	}
	e->n_urls = o->n_urls;
	e->ca = o->ca ? xstrdup(o->ca) : NULL;
	e->cert = o->cert ? xstrdup(o->cert) : NULL;
	e->key = o->key ? xstrdup(o->key) : NULL;
	e->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : ETCD_TIMEOUT_MS;
	e->rnd = (uint64_t)time(NULL) << 20 ^ (uint64_t)getpid() ^
		 bh_now_ms() << 7;
	e->rnd |= 1;
	e->headers = curl_slist_append(NULL, "Content-Type: application/json");
	e->headers = curl_slist_append(e->headers,
				       "Grpc-Metadata-hasleader: true");
	e->headers = curl_slist_append(e->headers, "Expect:");
	e->cev = curlev_new(l, "etcd", curl_done, e);
	e->multi = e->cev ? curlev_multi(e->cev) : NULL;
	if (!e->cev || !e->headers) {
		*err = xstrdup("cannot set up libcurl");
		etcd_free(e);
		return -ENOMEM;
	}
	*out = e;
	return 0;
}

void etcd_free(struct etcd *e)
{
	struct etcd_req *q;
	size_t i;

	if (!e)
		return;
	while (e->reqs)
		req_kill(e->reqs);
	while ((q = e->dead)) {
		e->dead = q->next;
		req_free(q);
	}
	curlev_free(e->cev);
	curl_slist_free_all(e->headers);
	for (i = 0; i < e->n_urls; i++)
		free(e->urls[i]);
	free(e->urls);
	free(e->ca);
	free(e->cert);
	free(e->key);
	free(e);
}
